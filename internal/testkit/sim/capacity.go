package sim

// The read cap, as the fleet spends it. Each segment costs a planned
// number of read units to scan (of the source table, not the control
// table); a slot scans at the lesser of its unpaced rate and the read
// share it holds, as the worker's pacer (worker/internal/pacer) lets it:
// a new claim holds the cap over the unfinished segments, and after each
// heartbeat the share on the row the heartbeat returned, if any. Scan
// progress is that rate integrated over time; a part ends when the
// segment has read its slice of the segment's units.
//
// The world keeps the sum of the shares in hand and of the rates they
// allow, integrated exactly over virtual time, and cuts the read units
// consumed into windows of capWindow: whether the fleet holds the cap
// (the shares in hand never add up to much more than it) and uses it.

import (
	"math"
	"time"
)

// capWindow is the window over which read units consumed are measured.
const capWindow = 10 * time.Second

// flow is the fleet's use of the read cap.
type flow struct {
	at       int64   // unix nanoseconds the integrals run to
	shares   float64 // sum of the shares in hand
	rate     float64 // sum of the rates scanning (RCU/s)
	read     float64 // read units consumed so far
	held     float64 // integral of shares over time (RCU)
	peak     float64 // the most shares has been, in RCU/s
	peakAt   time.Duration
	windows  []capSample // one per capWindow since the start
	winRead  float64     // read at the current window's start
	winHeld  float64     // held at the current window's start
	winStart int64
}

// capSample is one window: the read units consumed in it, and the mean of
// the shares held over it, both per second.
type capSample struct {
	Read, Held float64
}

// integrate runs the integrals to now.
func (w *world) integrate() {
	f := &w.flow
	now := w.loop.now
	dt := float64(now-f.at) / 1e9
	f.read += f.rate * dt
	f.held += f.shares * dt
	f.at = now
}

// addShare changes the shares in hand by d.
func (w *world) addShare(d float64) {
	if d == 0 {
		return
	}
	w.integrate()
	w.flow.shares += d
	if w.flow.shares > w.flow.peak {
		w.flow.peak, w.flow.peakAt = w.flow.shares, w.loop.Now().Sub(simStart)
	}
}

// addRate changes the rate the fleet scans at by d.
func (w *world) addRate(d float64) {
	w.integrate()
	w.flow.rate += d
}

// sampleCap closes a window and schedules the next.
func (w *world) sampleCap() {
	w.integrate()
	f := &w.flow
	secs := float64(w.loop.now-f.winStart) / 1e9
	f.windows = append(f.windows, capSample{Read: (f.read - f.winRead) / secs, Held: (f.held - f.winHeld) / secs})
	f.winRead, f.winHeld, f.winStart = f.read, f.held, w.loop.now
	w.loop.after(capWindow, w.sampleCap)
}

// CapUse is how the fleet spent the read cap, as fractions of it.
type CapUse struct {
	// PeakHeld is the most the shares in hand added up to at any instant,
	// and when (a new claim's share and the shares heartbeats bring back
	// are the only ways in).
	PeakHeld   float64
	PeakHeldAt time.Duration
	// PeakRead is the most read units consumed in one window after the
	// warm-up (the first two leases: until the steward's first pass with
	// every claim in and the heartbeats after it), per second.
	PeakRead float64
	// Over is how long the read units consumed ran above the cap (by
	// more than 0.1 %, in whole windows), and OverRead how many units
	// past it they read.
	Over     time.Duration
	OverRead float64
	// MeanRead and MeanHeld are the mean consumption and shares in hand
	// over the steady middle: the windows after the warm-up, from 10 %
	// to 90 % of the run.
	MeanRead, MeanHeld float64
	// Overall is the read units of every attempt over the cap × the
	// run's duration.
	Overall float64
	// Windows is the consumption of each window, for plots.
	Windows []capSample
}

func (w *world) capUse(d time.Duration) CapUse {
	w.integrate()
	f := &w.flow
	c := w.sc.ReadCap
	u := CapUse{PeakHeld: f.peak / c, PeakHeldAt: f.peakAt, Overall: f.read / c / d.Seconds(), Windows: f.windows}
	warm := int(2 * w.sc.Lease / capWindow)
	from, to := max(warm, int(0.1*float64(d)/float64(capWindow))), int(math.Ceil(0.9*float64(d)/float64(capWindow)))
	var n int
	for i, s := range f.windows {
		if i >= warm {
			u.PeakRead = max(u.PeakRead, s.Read/c)
		}
		if s.Read > c*1.001 { // past float noise of a fleet at the cap
			u.Over += capWindow
			u.OverRead += (s.Read - c) * capWindow.Seconds()
		}
		if i >= from && i < to {
			u.MeanRead += s.Read / c
			u.MeanHeld += s.Held / c
			n++
		}
	}
	if n > 0 {
		u.MeanRead /= float64(n)
		u.MeanHeld /= float64(n)
	}
	return u
}
