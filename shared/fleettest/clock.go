package fleettest

import (
	"fmt"
	"time"

	"github.com/ddbfleet/ddbfleet/shared/clock"
)

// Clock is the manual clock of shared/clock: leases expire when a test says
// so, not after a real wait, and one clock drives a fake queue and a store.
type Clock = clock.Manual

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return clock.NewManual(t) }

// Unique returns a name no other test of this run uses, for tables, queues
// and buckets on the shared local servers.
func Unique(prefix string) string {
	return fmt.Sprintf("%s%d-%d", prefix, time.Now().UnixNano()%1_000_000_000, seq.Add(1))
}
