// Package sim is a deterministic discrete-event simulation of a whole
// ddbfleet export: a coordinator, a fleet of workers with several slots
// each, their rescuers and an `export --wait` watcher, run in virtual time
// over the in-memory control table (memstore), the in-memory SQS
// (sqsfake, through shared/queue) and an in-process S3 (fakes3), with the
// real shared/lifecycle code doing every export-level transition.
//
// There is one goroutine: a loop over a priority queue of (virtual time,
// action) sets a clock.Manual to each event's time and runs its action.
// Workers are state machines that make the same control-table and queue
// calls, in the same order and at the same cadence, as
// worker/internal/consumer and worker/internal/segexport; each step of
// theirs is one small function in worker.go, so a change of the real call
// pattern is followed in one place. A segment's scan costs read units of
// the source table, and a slot reads them no faster than the read share it
// holds of the export's cap (capacity.go), so a capped export takes as
// long as its cap makes it, whatever the fleet.
//
// Every control-table call goes through a metering decorator (meter.go)
// that counts it, prices it in DynamoDB read and write units by a row-size
// model (size.go), and records which items it writes, for the hottest
// item's writes per second.
package sim

import (
	"time"

	"github.com/ddbfleet/ddbfleet/shared/clock"
)

// event is one action at a virtual time; seq orders events of the same
// time by when they were scheduled, which keeps the run deterministic.
type event struct {
	at  int64 // unix nanoseconds
	seq uint64
	fn  func()
}

// loop is the event loop: a binary min-heap of events over a manual clock.
type loop struct {
	clk    *clock.Manual
	heap   []event
	seq    uint64
	now    int64
	events int // events run
}

func newLoop(start time.Time) *loop {
	return &loop{clk: clock.NewManual(start), now: start.UnixNano()}
}

// Now is the virtual time.
func (l *loop) Now() time.Time { return time.Unix(0, l.now).UTC() }

// at schedules fn at t (never before now).
func (l *loop) at(t time.Time, fn func()) { l.atNanos(t.UnixNano(), fn) }

// after schedules fn d from now.
func (l *loop) after(d time.Duration, fn func()) { l.atNanos(l.now+int64(d), fn) }

func (l *loop) atNanos(at int64, fn func()) {
	if at < l.now {
		at = l.now
	}
	l.seq++
	l.heap = append(l.heap, event{at: at, seq: l.seq, fn: fn})
	l.up(len(l.heap) - 1)
}

func (l *loop) less(i, j int) bool {
	a, b := &l.heap[i], &l.heap[j]
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

func (l *loop) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !l.less(i, p) {
			return
		}
		l.heap[i], l.heap[p] = l.heap[p], l.heap[i]
		i = p
	}
}

func (l *loop) down(i int) {
	n := len(l.heap)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && l.less(c+1, c) {
			c++
		}
		if !l.less(c, i) {
			return
		}
		l.heap[i], l.heap[c] = l.heap[c], l.heap[i]
		i = c
	}
}

func (l *loop) pop() event {
	e := l.heap[0]
	n := len(l.heap) - 1
	l.heap[0] = l.heap[n]
	l.heap[n] = event{}
	l.heap = l.heap[:n]
	if n > 0 {
		l.down(0)
	}
	return e
}

// run runs events in time order until done reports true, the queue is
// empty, or the next event is past limit. It reports whether done.
func (l *loop) run(limit time.Time, done func() bool) bool {
	end := limit.UnixNano()
	for len(l.heap) > 0 {
		if done() {
			return true
		}
		if l.heap[0].at > end {
			return false
		}
		e := l.pop()
		if e.at > l.now {
			l.now = e.at
			l.clk.Set(time.Unix(0, e.at).UTC())
		}
		l.events++
		e.fn()
	}
	return done()
}
