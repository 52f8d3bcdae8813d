package sim

import (
	"fmt"
	"time"

	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/lifecycle"
)

// watcher is `coordinator export --wait` (coordcli's wait): once a second
// it reads the export row for the progress line; once a period (half a
// lease) it reads the history samples, for the items the last one saw
// read; and once a lease it stands in as the export's steward if no one
// else is (which rescues the export), for StewardLeases leases. It never
// reads the segment rows itself.
type watcher struct {
	w        *world
	life     *lifecycle.Lifecycle
	owner    string
	lastLook time.Time // zero: look at once
	// lastRescue is when it last tried to steward; zero: at its first look.
	lastRescue time.Time
	live       export.Sample
	final      *export.Export
	items      int64 // the progress line's items
}

func (w *world) newWatcher(life *lifecycle.Lifecycle) *watcher {
	return &watcher{w: w, life: life, owner: fmt.Sprintf("coordinator/4242@%d", w.loop.Now().UnixNano())}
}

// tick is one turn of wait's loop.
func (wt *watcher) tick() {
	w := wt.w
	w.meter.as(roleWatcher)
	id := w.exp.ExportID
	period := max(time.Second, w.sc.Lease/2)
	exp, err := w.store.GetExport(w.ctx, id)
	if err == nil {
		if exp.State.Terminal() {
			wt.items = exp.ItemCount // the counters are final
			wt.final = exp
			return
		}
		if wt.lastLook.IsZero() || w.loop.Now().Sub(wt.lastLook) >= period {
			wt.lastLook = w.loop.Now()
			if wt.lastRescue.IsZero() || w.loop.Now().Sub(wt.lastRescue) >= w.sc.Lease {
				wt.lastRescue = w.loop.Now()
				if _, err := wt.life.Steward(w.ctx, id, wt.owner, w.sc.Lease, w.sc.Lease); err != nil {
					w.unexpectedf("watcher's rescue: %v", err)
				}
			}
			if samples, err := w.store.ListSamples(w.ctx, id); err == nil && len(samples) > 0 {
				wt.live = samples[len(samples)-1]
			}
		}
		wt.items = max(exp.ItemCount, wt.live.Items)
	}
	w.loop.after(time.Second, wt.tick)
}
