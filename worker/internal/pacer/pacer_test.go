package pacer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fleet simulates segments scanning one table, each with its own Pacer at
// its share of a fleet-wide cap, on a shared fake clock: no real sleeps,
// so a minute of pacing runs in microseconds and the result is exact.
//
// A segment's loop is the worker's: Wait, send the page (it lands after
// latency), then Consumed with what the page cost. The simulator always
// advances the segment whose next step is earliest, so the pacers
// interleave as real goroutines would.
type fleet struct {
	now     time.Time
	start   time.Time
	segs    []*simSeg
	pages   []page // every page sent, in time order
	latency time.Duration
	// throttled says whether a page sent at t is throttled; a throttled
	// page still completes (the worker retries it) and is still charged.
	throttled func(t time.Duration) bool
}

type simSeg struct {
	p     *Pacer
	ready time.Time // when this segment calls Wait next
	slept time.Duration
	n     int
}

type page struct {
	at    time.Duration // since start
	units float64
}

func newFleet(capacity float64, segments int) *fleet {
	f := &fleet{start: time.Unix(1_700_000_000, 0), latency: 30 * time.Millisecond}
	f.now = f.start
	for range segments {
		s := &simSeg{ready: f.start}
		s.p = New(capacity / float64(segments))
		s.p.now = func() time.Time { return f.now }
		// The fake sleep only records how long the segment would block;
		// the simulator moves that segment's clock on by it.
		s.p.sleep = func(_ context.Context, d time.Duration) error { s.slept += d; return nil }
		f.segs = append(f.segs, s)
	}
	return f
}

// cost is what a page reports: about 125 RCU (1,000 items of ~1 KB,
// eventually consistent), varying like real pages do.
func cost(n int) float64 { return 100 + float64(n%6)*10 }

func (f *fleet) run(t *testing.T, d time.Duration) {
	end := f.start.Add(d)
	for {
		s := f.segs[0]
		for _, o := range f.segs[1:] {
			if o.ready.Before(s.ready) {
				s = o
			}
		}
		if !s.ready.Before(end) {
			return
		}
		f.now = s.ready
		s.slept = 0
		require.NoError(t, s.p.Wait(context.Background()))
		sent := f.now.Add(s.slept)
		f.now = sent
		at := sent.Sub(f.start)
		if f.throttled != nil && f.throttled(at) {
			s.p.Throttled()
		}
		u := cost(s.n)
		s.n++
		s.p.Consumed(u)
		f.pages = append(f.pages, page{at: at, units: u})
		s.ready = sent.Add(f.latency)
	}
}

// rate is the consumption in [from, from+window) in units per second.
func (f *fleet) rate(from, window time.Duration) float64 {
	var sum float64
	for _, p := range f.pages {
		if p.at >= from && p.at < from+window {
			sum += p.units
		}
	}
	return sum / window.Seconds()
}

// slidingWindows returns the lowest and highest rate over every window of
// the given length starting in [from, to], stepped by 100 ms.
func (f *fleet) slidingWindows(from, to, window time.Duration) (lo, hi float64) {
	lo, hi = 1e18, 0
	for w := from; w <= to; w += 100 * time.Millisecond {
		r := f.rate(w, window)
		lo, hi = min(lo, r), max(hi, r)
	}
	return lo, hi
}

func TestCapHoldsOverAnyTenSecondWindow(t *testing.T) {
	for _, tc := range []struct {
		capacity float64
		segments int
	}{
		{1000, 4}, // ~2 pages/s per segment
		{1000, 8},
		{5000, 16},
		{20000, 64},
	} {
		t.Run(fmt.Sprintf("cap%.0f_segments%d", tc.capacity, tc.segments), func(t *testing.T) {
			f := newFleet(tc.capacity, tc.segments)
			f.run(t, 70*time.Second)
			// Warm-up: every bucket starts with one second of budget
			// (burst), spent in the first seconds.
			lo, hi := f.slidingWindows(5*time.Second, 60*time.Second, 10*time.Second)
			t.Logf("cap %.0f RCU/s over %d segments: 10 s windows after warm-up between %.1f and %.1f RCU/s", tc.capacity, tc.segments, lo, hi)
			require.LessOrEqual(t, hi, tc.capacity*1.10, "consumption above cap+10%%")
			// And the cap is used, not merely respected.
			require.GreaterOrEqual(t, lo, tc.capacity*0.90, "consumption far below the cap")
		})
	}
}

// TestCoarsePagesBoundTheWindowError pins down the pacer's limit: it charges
// whole pages, so when one page from every segment costs more than about a
// second of the fleet's cap (here 8 × ~125 RCU against 400 RCU/s), a 10 s
// window can hold one page per segment more or less than its share. The
// long-run rate still holds; the window error is bounded by
// segments × page cost / window. docs/performance.md says to lower
// --scan-page-size for small caps.
func TestCoarsePagesBoundTheWindowError(t *testing.T) {
	const capacity, segments, window = 400.0, 8, 10 * time.Second
	f := newFleet(capacity, segments)
	f.run(t, 120*time.Second)
	lo, hi := f.slidingWindows(5*time.Second, 110*time.Second, window)
	long := f.rate(5*time.Second, 110*time.Second)
	maxPage := cost(5)
	slack := segments * maxPage / window.Seconds()
	t.Logf("cap %.0f: 10 s windows %.0f–%.0f RCU/s, 110 s average %.1f, bound ±%.0f", capacity, lo, hi, long, slack)
	require.InDelta(t, capacity, long, capacity*0.03, "long-run rate off the cap")
	require.LessOrEqual(t, hi, capacity+slack)
	require.GreaterOrEqual(t, lo, capacity-slack)
}

func TestThrottlesSlowTheFleetAndItRecovers(t *testing.T) {
	const capacity, segments = 1000.0, 4
	f := newFleet(capacity, segments)
	// Production traffic arrives at 20 s and leaves at 30 s: every page
	// in between is throttled once before it succeeds.
	f.throttled = func(at time.Duration) bool { return at >= 20*time.Second && at < 30*time.Second }
	f.run(t, 70*time.Second)

	before := f.rate(10*time.Second, 10*time.Second)
	during := f.rate(22*time.Second, 8*time.Second)
	after := f.rate(50*time.Second, 10*time.Second)
	t.Logf("RCU/s before %.0f, while throttled %.0f, after recovery %.0f (cap %.0f)", before, during, after, capacity)

	require.InDelta(t, capacity, before, capacity*0.10)
	// Halving on every throttle and adding 0.05 per page settles the
	// factor near 0.1: the fleet yields most of the table.
	require.Less(t, during, capacity*0.25, "throttles did not slow the fleet")
	require.Greater(t, during, 0.0, "throttles stopped the fleet instead of slowing it")
	require.InDelta(t, capacity, after, capacity*0.10, "the fleet did not recover after throttling stopped")

	// Recovery is additive: it takes some pages, not one.
	firstAfter := f.rate(30*time.Second, 2*time.Second)
	require.Less(t, firstAfter, capacity*0.9, "recovery was not gradual")
	for _, s := range f.segs {
		require.InDelta(t, capacity/segments, s.p.Rate(), 1e-9, "factor not back to 1")
	}
}

func TestUncappedPacerBacksOffOnlyAfterThrottles(t *testing.T) {
	p := New(0)
	var slept time.Duration
	p.sleep = func(_ context.Context, d time.Duration) error { slept += d; return nil }
	p.now = func() time.Time { return time.Unix(0, 0) }

	require.NoError(t, p.Wait(context.Background()))
	require.Zero(t, slept, "no cap and no throttle must never wait")

	p.Throttled()
	p.Throttled()
	require.NoError(t, p.Wait(context.Background()))
	require.Equal(t, 60*time.Millisecond, slept, "factor 1/4 waits (4-1) × 20 ms")

	for range 20 {
		p.Consumed(1)
	}
	slept = 0
	require.NoError(t, p.Wait(context.Background()))
	require.Zero(t, slept, "recovered pacer still waits")
}

func TestFactorHasAFloor(t *testing.T) {
	p := New(100)
	for range 100 {
		p.Throttled()
	}
	require.InDelta(t, 100*minFactor, p.Rate(), 1e-12, "a throttle storm must slow the fleet, not stop it")
}

func TestWaitHonoursContext(t *testing.T) {
	p := New(1)
	require.NoError(t, p.Wait(context.Background()))
	p.Consumed(1000) // deep in debt: the next Wait would block ~1000 s
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, p.Wait(ctx), context.Canceled)
}
