package lifecycle

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/shared/clock"
)

// Rescuer is the background service every worker runs: once a Period it
// rescues every active export (Lifecycle.Rescue), so the fleet heals itself
// when no coordinator waits. Concurrent rescuers are harmless: every write
// underneath is conditional.
type Rescuer struct {
	Life   *Lifecycle
	Period time.Duration // how often a pass runs
	Grace  time.Duration // how long a lease must have expired before its segment is re-enqueued
	Log    *zap.Logger
	Clock  clock.Clock

	cancel context.CancelFunc
	done   chan struct{}
}

// Start runs passes in the background until Stop or ctx ends.
func (r *Rescuer) Start(ctx context.Context) {
	ctx, r.cancel = context.WithCancel(ctx)
	r.done = make(chan struct{})
	t := clock.OrReal(r.Clock).NewTicker(r.Period)
	go func() {
		defer close(r.done)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C():
			}
			r.Pass(ctx)
		}
	}()
}

// Stop ends the service and waits for a pass in progress.
func (r *Rescuer) Stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
}

// Pass rescues every active export once; failures are logged, not
// returned, since the next pass tries again.
func (r *Rescuer) Pass(ctx context.Context) {
	ids, err := r.Life.Store.ListActive(ctx)
	if err != nil {
		r.Log.Warn("cannot list active exports for rescue", zap.Error(err))
		return
	}
	for _, id := range ids {
		if _, err := r.Life.Rescue(ctx, id, r.Grace); err != nil && ctx.Err() == nil {
			r.Log.Warn("rescue pass failed", zap.String("exportId", id), zap.Error(err))
		}
	}
}
