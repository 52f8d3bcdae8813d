package sim

import (
	"context"
	"time"
)

// ExtendRetention implements controltable.Store. A simulated export runs
// hours, never half a Retention, so this is never due; it is priced
// roughly, for completeness: the claim and the release of the export row
// and one write per segment row (parts and samples are not sized here).
func (m *meter) ExtendRetention(ctx context.Context, id string, seen, until time.Time) (bool, error) {
	ok, err := m.next.ExtendRetention(ctx, id, seen, until)
	m.mu.Lock()
	defer m.mu.Unlock()
	wcu := 2 * writeUnits(m.exportRow(id), false)
	for seg := range m.segSize[id] {
		wcu += writeUnits(m.segRow(id, seg), false)
	}
	m.bill("ExtendRetention", 0, wcu)
	return ok, err
}

// RetainedUntil implements controltable.Store: priced as a consistent read
// of the export row and its segment rows.
func (m *meter) RetainedUntil(ctx context.Context, id string) (time.Time, error) {
	t, err := m.next.RetainedUntil(ctx, id)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bill("RetainedUntil", readUnits(m.exportRow(id), true)+m.segmentQuery(id, true), 0)
	return t, err
}
