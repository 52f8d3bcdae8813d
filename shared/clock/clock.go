// Package clock owns ddbfleet's one notion of time. Product code takes a
// Clock instead of calling time.Now, time.After or time.NewTicker, so every
// lease, heartbeat, rescue period and retry delay can be driven by a test
// (or a simulation running days of an export in virtual time) without
// sleeping.
package clock

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Clock is what time-dependent code needs.
type Clock interface {
	Now() time.Time
	// After fires once, d after now.
	After(d time.Duration) <-chan time.Time
	// NewTicker fires every d until stopped.
	NewTicker(d time.Duration) Ticker
}

// Ticker is a stoppable periodic timer.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// Real is the wall clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
func (realClock) NewTicker(d time.Duration) Ticker       { return realTicker{time.NewTicker(d)} }

type realTicker struct{ t *time.Ticker }

func (t realTicker) C() <-chan time.Time { return t.t.C }
func (t realTicker) Stop()               { t.t.Stop() }

// OrReal returns c, or the wall clock when c is nil, so a zero-valued
// config field means "real time".
func OrReal(c Clock) Clock {
	if c == nil {
		return Real()
	}
	return c
}

// Sleep waits d on c, or until ctx ends; it reports whether the full d
// passed.
func Sleep(ctx context.Context, c Clock, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-ctx.Done():
		return false
	case <-c.After(d):
		return true
	}
}

// Manual is a clock that moves only when told to: Advance fires every
// timer and ticker whose time has come, in time order. It is safe for
// concurrent use.
type Manual struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*waiter
	changed chan struct{} // closed and replaced whenever waiters change
}

type waiter struct {
	at      time.Time
	every   time.Duration // 0: one shot
	ch      chan time.Time
	stopped bool
}

// NewManual returns a manual clock reading start.
func NewManual(start time.Time) *Manual {
	return &Manual{now: start, changed: make(chan struct{})}
}

// Now reads the clock.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// After fires once the clock has been advanced by d.
func (m *Manual) After(d time.Duration) <-chan time.Time {
	return m.add(d, 0).ch
}

// NewTicker fires each time the clock passes another d.
func (m *Manual) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive ticker interval")
	}
	return &manualTicker{m: m, w: m.add(d, d)}
}

func (m *Manual) add(d, every time.Duration) *waiter {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := &waiter{at: m.now.Add(d), every: every, ch: make(chan time.Time, 1)}
	if d <= 0 && every == 0 {
		w.ch <- m.now
		return w
	}
	m.waiters = append(m.waiters, w)
	m.notify()
	return w
}

func (m *Manual) notify() {
	close(m.changed)
	m.changed = make(chan struct{})
}

type manualTicker struct {
	m *Manual
	w *waiter
}

func (t *manualTicker) C() <-chan time.Time { return t.w.ch }
func (t *manualTicker) Stop() {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	t.w.stopped = true
}

// Set moves the clock to t (forward only) and fires what is due.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t.Before(m.now) {
		return
	}
	m.now = t
	m.fire()
}

// Advance moves the clock forward by d and fires what is due.
func (m *Manual) Advance(d time.Duration) { m.Set(m.Now().Add(d)) }

// fire delivers every due waiter; a ticker that is not read drops ticks
// like time.Ticker does. Called with mu held.
func (m *Manual) fire() {
	sort.Slice(m.waiters, func(i, j int) bool { return m.waiters[i].at.Before(m.waiters[j].at) })
	keep := m.waiters[:0]
	for _, w := range m.waiters {
		if w.stopped {
			continue
		}
		if w.at.After(m.now) {
			keep = append(keep, w)
			continue
		}
		select {
		case w.ch <- w.at:
		default:
		}
		if w.every > 0 {
			for !w.at.After(m.now) {
				w.at = w.at.Add(w.every)
			}
			keep = append(keep, w)
		}
	}
	for i := len(keep); i < len(m.waiters); i++ {
		m.waiters[i] = nil
	}
	m.waiters = keep
	m.notify()
}

// Next is the time of the earliest pending timer or tick, and whether
// there is one: a simulation advances straight to it.
func (m *Manual) Next() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	found := false
	for _, w := range m.waiters {
		if w.stopped {
			continue
		}
		if !found || w.at.Before(next) {
			next, found = w.at, true
		}
	}
	return next, found
}

// BlockUntil waits until at least n timers or tickers are pending, so a
// test can advance the clock only once the code under test is waiting on
// it. It returns false if ctx ends first.
func (m *Manual) BlockUntil(ctx context.Context, n int) bool {
	for {
		m.mu.Lock()
		live := 0
		for _, w := range m.waiters {
			if !w.stopped {
				live++
			}
		}
		ch := m.changed
		m.mu.Unlock()
		if live >= n {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-ch:
		}
	}
}
