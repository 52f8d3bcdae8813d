package sim

import (
	"time"

	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/lifecycle"
)

// watcher is `coordinator export --wait` (coordcli's wait): once a second
// it reads the export and its segments for the progress line, and every
// half lease it rescues the export, until the export ends.
type watcher struct {
	w          *world
	life       *lifecycle.Lifecycle
	lastRescue time.Time
	final      *export.Export
	items      int64 // the progress line's items
}

// tick is one turn of wait's loop.
func (wt *watcher) tick() {
	w := wt.w
	id := w.exp.ExportID
	rescueEvery := max(time.Second, w.sc.Lease/2)
	exp, err := w.store.GetExport(w.ctx, id)
	if err == nil {
		segs, _ := w.store.ListSegments(w.ctx, id)
		wt.items = export.Measure(segs, w.loop.Now()).Items
		if exp.State.Terminal() {
			wt.final = exp
			return
		}
		if w.loop.Now().Sub(wt.lastRescue) >= rescueEvery {
			wt.lastRescue = w.loop.Now()
			if _, err := wt.life.Rescue(w.ctx, id, w.sc.Lease); err != nil {
				w.unexpectedf("watcher's rescue: %v", err)
			}
		}
	}
	w.loop.after(time.Second, wt.tick)
}
