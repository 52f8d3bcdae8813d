package fleettest

import (
	"fmt"
	"sync"
	"time"
)

// Clock is a manual clock for code that takes a `now func() time.Time`:
// leases expire when a test says so, not after a real wait.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Unique returns a name no other test of this run uses, for tables, queues
// and buckets on the shared local servers.
func Unique(prefix string) string {
	return fmt.Sprintf("%s%d-%d", prefix, time.Now().UnixNano()%1_000_000_000, seq.Add(1))
}
