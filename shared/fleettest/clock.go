package fleettest

import (
	"fmt"
	"time"

	"github.com/ddbfleet/ddbfleet/shared/queue/queuefake"
)

// Clock is a manual clock for code that takes a `now func() time.Time`:
// leases expire when a test says so, not after a real wait. It is the
// queue fake's clock, so one clock can drive a fake queue and a store.
type Clock = queuefake.Clock

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return queuefake.NewClock(t) }

// Unique returns a name no other test of this run uses, for tables, queues
// and buckets on the shared local servers.
func Unique(prefix string) string {
	return fmt.Sprintf("%s%d-%d", prefix, time.Now().UnixNano()%1_000_000_000, seq.Add(1))
}
