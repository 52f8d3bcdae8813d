package lifecycle

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/shared/clock"
	"github.com/ddbfleet/ddbfleet/shared/export"
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
	// nextLook is the tick of the next look when stewarding nothing.
	nextLook int
	// stewarding is whether the last pass held any stewardship.
	stewarding bool
}

// lookEvery is the fewest periods a process that stewards nothing waits
// between looks at the active index. With a steward's lease of
// StewardLeases periods, a small fleet picks up a dead steward's exports
// within lookEvery + StewardLeases periods.
const lookEvery = 5

// looksPerPeriod is how many looks at the active index the whole fleet
// makes per period, however large it is: each candidate looks every
// fleet/looksPerPeriod periods (at least lookEvery), at a spread of
// times, so a thousand candidates cost what four would looking every
// period, and one of them still looks within about a quarter of a period
// after a stewardship lapses.
const looksPerPeriod = 4

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
	if r.stewarding || r.ticks >= r.nextLook {
		r.Pass(ctx)
	}
}

// lookAgain schedules the next look for a fleet of the size stewards
// published, at a point spread by the process's id so candidates that
// started together do not look together (and a simulation stays
// deterministic).
func (r *Rescuer) lookAgain(fleet int) {
	every := max(lookEvery, fleet/looksPerPeriod)
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", r.ID, r.ticks)
	spread := 0.5 + float64(h.Sum32()%1000)/1000 // 0.5 to 1.5 times every
	r.nextLook = r.ticks + max(1, int(float64(every)*spread+0.5))
}

// Pass rescues once every active export this process stewards, or can
// become the steward of; failures are logged, not returned, since the
// next pass tries again.
func (r *Rescuer) Pass(ctx context.Context) {
	if r.ID == "" {
		r.ID = export.NewOwner(export.Process())
	}
	active, err := r.Life.Store.ListActive(ctx)
	if err != nil {
		r.Log.Warn("cannot list active exports for rescue", zap.Error(err))
		return
	}
	now := clock.OrReal(r.Clock).Now()
	r.stewarding = false
	fleet := 0
	for _, a := range active {
		fleet = max(fleet, a.Fleet)
		if a.StewardLive(r.ID, now) {
			continue
		}
		won, err := r.Life.Steward(ctx, a.ExportID, r.ID, r.Period, r.Grace)
		if err != nil && ctx.Err() == nil {
			r.Log.Warn("rescue pass failed", zap.String("exportId", a.ExportID), zap.Error(err))
		}
		r.stewarding = r.stewarding || won
	}
	r.lookAgain(fleet)
}

// Steward makes owner the steward of the export for StewardLeases periods
// if nobody else is, and then rescues it. It reports whether owner is the
// steward. A process following one export (`export --wait`) calls it once
// a period, and so rescues the export only while no worker does.
func (l *Lifecycle) Steward(ctx context.Context, exportID, owner string, period, grace time.Duration) (bool, error) {
	won, err := l.Store.ClaimSteward(ctx, exportID, owner, StewardLeases*period, l.fleet(exportID))
	if err != nil || !won {
		return false, err
	}
	rep, err := l.Rescue(ctx, exportID, grace)
	if err == nil {
		l.setFleet(exportID, rep.Fleet)
	}
	return true, err
}

// fleet is the number of lease holders this process's last pass over the
// export saw, published with its next claim of the stewardship.
func (l *Lifecycle) fleet(exportID string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fleets[exportID]
}

func (l *Lifecycle) setFleet(exportID string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fleets == nil {
		l.fleets = map[string]int{}
	}
	l.fleets[exportID] = n
}
