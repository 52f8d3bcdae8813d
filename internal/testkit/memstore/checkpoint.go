package memstore

import (
	"context"
	"time"

	"github.com/ddbfleet/ddbfleet/shared/export"
)

// Checkpoint implements controltable.Segments: cp without a part, fenced
// by the lease, extending it.
func (s *Store) Checkpoint(ctx context.Context, l export.Lease, cp export.Checkpoint, lease time.Duration) error {
	unlock, err := s.call("Checkpoint")
	if err != nil {
		return err
	}
	defer unlock()
	x := s.held(l)
	if x == nil {
		return leaseLost("checkpoint", l)
	}
	now := s.now()
	s.checkpoint(x, cp)
	x.LeaseExpiry, x.UpdatedAt = now.Add(lease), now
	return s.after("Checkpoint", nil)
}
