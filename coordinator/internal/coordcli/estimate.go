package coordcli

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/urfave/cli/v2"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/plan"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/fleetcli"
	"github.com/ddbfleet/ddbfleet/shared/source"
)

func estimateCommand() *cli.Command {
	return &cli.Command{
		Name:  "estimate",
		Usage: "print the read units, cost and time an export of a table would take (reads only DescribeTable)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "table", Usage: "source DynamoDB table (required)"},
			&cli.StringFlag{Name: "segments", Value: "auto", Usage: "parallel scan segments, as for export"},
			fleetSlotsFlag,
			&cli.Float64Flag{Name: "read-capacity-cap", Usage: "fleet-wide read capacity units per second (0: no cap, time not estimated)"},
			&cli.Float64Flag{Name: "price-per-million-reads", Value: plan.DefaultPricePerMillionReads,
				Usage: "USD per million on-demand read request units (default: us-east-1 since November 2024)"},
			&cli.IntFlag{Name: "part-size-mib", Value: DefaultPartSizeMiB, Usage: "data file size, as for export (S3 PUT count)"},
			&cli.StringFlag{Name: "storage-class", Usage: "storage class the files will be written in (default STANDARD)"},
			&cli.Float64Flag{Name: "compression-ratio", Usage: "table bytes per stored byte (default: the measured gzip ratio of text items, see docs/cost.md)"},
			&cli.Float64Flag{Name: "cpu-seconds-per-gib", Usage: "worker CPU seconds per GiB of table (default: the bench's figure, see docs/cost.md)"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			if err := checkEstimateFlags(c); err != nil {
				return err
			}
			table, rcuCap, price := c.String("table"), c.Float64("read-capacity-cap"), c.Float64("price-per-million-reads")
			switch {
			case table == "":
				return fault.Invalidf("--table is required")
			case rcuCap < 0:
				return fault.Invalidf("--read-capacity-cap %v: must not be negative", rcuCap)
			case price < 0:
				return fault.Invalidf("--price-per-million-reads %v: must not be negative", price)
			}
			if _, err := plan.Segments(c.String("segments"), 0, 0); err != nil {
				return err
			}
			e, err := newEnv(c)
			if err != nil {
				return err
			}
			td, err := source.Describe(c.Context, e.clients.DynamoDB, table, e.clients.Region)
			if err != nil {
				return fleetcli.Failed(err)
			}
			size, items := aws.ToInt64(td.TableSizeBytes), aws.ToInt64(td.ItemCount)
			segments, err := plan.Segments(c.String("segments"), size, c.Int("fleet-slots"))
			if err != nil {
				return err
			}
			est := plan.EstimateExport(table, size, items, segments, rcuCap, price)
			prices := plan.USEast1
			prices.OnDemandReadPerMillion = price
			in := plan.CostInput{
				Table: table, TableSizeBytes: size, ItemCount: items, Segments: segments,
				ReadCapacityCap: rcuCap, StorageClass: c.String("storage-class"),
				PartFileBytes: int64(c.Int("part-size-mib")) << 20, FleetSlots: c.Int("fleet-slots"),
				CompressionRatio: c.Float64("compression-ratio"), CPUSecondsPerGiB: c.Float64("cpu-seconds-per-gib"),
				Prices: &prices,
			}
			if td.BillingModeSummary != nil {
				in.BillingMode = string(td.BillingModeSummary.BillingMode)
			}
			if td.ProvisionedThroughput != nil {
				in.ProvisionedRCU = aws.ToInt64(td.ProvisionedThroughput.ReadCapacityUnits)
			}
			in.PITREnabled = pitrEnabled(c, e, table)
			cost, err := plan.EstimateCost(in)
			if err != nil {
				return fault.Invalidf("%s", err)
			}
			if c.Bool("json") {
				// The first fields are the ones estimate always printed;
				// the cost plan of every path rides beside them.
				return e.printJSON(struct {
					plan.Estimate
					Plan plan.CostPlan `json:"plan"`
				}{est, cost})
			}
			w := e.stdout
			fmt.Fprintf(w, "table %s: %d items, %d bytes (DynamoDB refreshes these about every 6 hours)\n", table, items, size)
			fmt.Fprintf(w, "  segments    %d\n", est.Segments)
			fmt.Fprintf(w, "  read units  %.0f (eventually consistent Scan: %g per 4 KiB)\n", est.ReadUnits, plan.ReadUnitsPer4KiB)
			fmt.Fprintf(w, "  cost        $%.6f on demand at $%g per million read request units (provisioned tables pay in capacity instead)\n", est.CostUSD, price)
			fmt.Fprintf(w, "  time        %s\n\n", est.Time)
			return cost.WriteText(w)
		},
	}
}

// pitrEnabled asks whether the table has point-in-time recovery on (native
// export needs it). Not knowing (no permission, a local server) counts as
// off: the plan then shows what turning it on would cost.
func pitrEnabled(c *cli.Context, e *env, table string) bool {
	out, err := e.clients.DynamoDB.DescribeContinuousBackups(c.Context, &dynamodb.DescribeContinuousBackupsInput{TableName: &table})
	if err != nil || out.ContinuousBackupsDescription == nil || out.ContinuousBackupsDescription.PointInTimeRecoveryDescription == nil {
		return false
	}
	return out.ContinuousBackupsDescription.PointInTimeRecoveryDescription.PointInTimeRecoveryStatus == types.PointInTimeRecoveryStatusEnabled
}
