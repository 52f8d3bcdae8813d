package lifecycle

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/shared/clock"
)

// Rescuer is the background service every worker runs, so the fleet heals
// itself when no coordinator waits. Each active export has one steward at
// a time, the process holding a lease on its row of the active index: only
// the steward rescues it (Lifecycle.Rescue) once a Period. The others only
// look, every few periods, for exports whose steward died. The cost of
// rescue is then one pass over an export's segments per period, however
// many workers there are.
type Rescuer struct {
	Life *Lifecycle
	// ID names this process as a steward: unique among live processes.
	ID     string
	Period time.Duration // how often a steward rescues its exports
	Grace  time.Duration // how long a lease must have expired before its segment is re-enqueued
	Log    *zap.Logger
	Clock  clock.Clock

	cancel context.CancelFunc
	done   chan struct{}
	ticks  int
	// stewarding is whether the last pass held any stewardship.
	stewarding bool
}

// lookEvery is how many periods a process that stewards nothing waits
// between looks at the active index. With a steward's lease of
// StewardLeases periods, a dead steward's exports are picked up within
// lookEvery + StewardLeases periods; the looks of a thousand idle
// candidates (half a read unit each) cost a fifth of what they would every
// period.
const lookEvery = 5

// StewardLeases is how many periods a stewardship lasts unless renewed.
const StewardLeases = 2

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
			r.Tick(ctx)
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

// Tick is one period: a pass if this process stewards something or it is
// time to look for exports without a live steward.
func (r *Rescuer) Tick(ctx context.Context) {
	r.ticks++
	if r.stewarding || (r.ticks-1)%lookEvery == 0 {
		r.Pass(ctx)
	}
}

// Pass rescues once every active export this process stewards, or can
// become the steward of; failures are logged, not returned, since the
// next pass tries again.
func (r *Rescuer) Pass(ctx context.Context) {
	if r.ID == "" {
		r.ID = fmt.Sprintf("rescuer@%d", time.Now().UnixNano())
	}
	active, err := r.Life.Store.ListActive(ctx)
	if err != nil {
		r.Log.Warn("cannot list active exports for rescue", zap.Error(err))
		return
	}
	now := clock.OrReal(r.Clock).Now()
	r.stewarding = false
	for _, a := range active {
		if a.StewardLive(r.ID, now) {
			continue
		}
		won, err := r.Life.Steward(ctx, a.ExportID, r.ID, r.Period, r.Grace)
		if err != nil && ctx.Err() == nil {
			r.Log.Warn("rescue pass failed", zap.String("exportId", a.ExportID), zap.Error(err))
		}
		r.stewarding = r.stewarding || won
	}
}

// Steward makes owner the steward of the export for StewardLeases periods
// if nobody else is, and then rescues it. It reports whether owner is the
// steward. A process following one export (`export --wait`) calls it once
// a period, and so rescues the export only while no worker does.
func (l *Lifecycle) Steward(ctx context.Context, exportID, owner string, period, grace time.Duration) (bool, error) {
	won, err := l.Store.ClaimSteward(ctx, exportID, owner, StewardLeases*period)
	if err != nil || !won {
		return false, err
	}
	_, err = l.Rescue(ctx, exportID, grace)
	return true, err
}
