package plan_test

import (
	"fmt"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/plan"
)

// The numbers come from DescribeTable; everything else takes its default.
func ExampleEstimateCost() {
	p, err := plan.EstimateCost(plan.CostInput{
		Table: "orders", TableSizeBytes: 100 << 30, ItemCount: 100_000_000,
		BillingMode: plan.BillingPayPerRequest, Segments: 100, ReadCapacityCap: 2000,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("reads $%.4f, %.0f s at the cap; native export $%.2f + PITR $%.2f/month\n",
		p.ScanOnDemand.CostUSD, *p.Duration.Seconds, p.NativeExport.ExportUSD, p.NativeExport.PITRPerMonthUSD)
	// Output:
	// reads $1.6384, 6554 s at the cap; native export $10.00 + PITR $20.00/month
}
