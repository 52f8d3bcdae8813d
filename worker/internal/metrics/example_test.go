package metrics_test

import (
	"os"
	"time"

	"github.com/ddbfleet/ddbfleet/worker/internal/metrics"
)

// The worker counts as it goes; every interval (and at Stop) one EMF line
// per active export goes to stdout, which ECS ships to CloudWatch Logs.
func ExampleEmitter() {
	clock := func() time.Time { return time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC) }
	m := metrics.New(os.Stdout, clock, time.Minute)

	m.SegmentClaimed("orders-1")
	m.Items("orders-1", 500)
	m.Bytes("orders-1", 1<<20)
	m.CommitLatency("orders-1", 35*time.Millisecond)
	m.Stop()
	// Output:
	// {"_aws":{"Timestamp":1767225660000,"CloudWatchMetrics":[{"Namespace":"ddbfleet","Dimensions":[["ExportId"],[]],"Metrics":[{"Name":"ItemsExported","Unit":"Count"},{"Name":"BytesExported","Unit":"Bytes"},{"Name":"ReadUnitsConsumed","Unit":"Count"},{"Name":"Throttles","Unit":"Count"},{"Name":"SegmentsClaimed","Unit":"Count"},{"Name":"SegmentsDone","Unit":"Count"},{"Name":"SegmentsFailed","Unit":"Count"},{"Name":"LeaseLosses","Unit":"Count"},{"Name":"PartCommitLatency","Unit":"Milliseconds"}]}]},"ExportId":"orders-1","ItemsExported":500,"BytesExported":1048576,"ReadUnitsConsumed":0,"Throttles":0,"SegmentsClaimed":1,"SegmentsDone":0,"SegmentsFailed":0,"LeaseLosses":0,"PartCommitLatency":[35]}
}
