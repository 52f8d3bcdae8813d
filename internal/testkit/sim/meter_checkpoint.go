package sim

import (
	"context"
	"time"

	"github.com/ddbfleet/ddbfleet/shared/export"
)

// Checkpoint implements controltable.Store: one conditional update of the
// segment row (the sim's workers scan no filter, so they never call it).
func (m *meter) Checkpoint(ctx context.Context, l export.Lease, cp export.Checkpoint, lease time.Duration) error {
	err := m.next.Checkpoint(ctx, l, cp, lease)
	m.mu.Lock()
	if applied(err) {
		m.seeCheckpoint(l, cp, export.SegmentRunning)
	}
	m.mu.Unlock()
	m.leasedWrite("Checkpoint", l.ExportID, l.Segment)
	return err
}
