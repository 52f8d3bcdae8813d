// Package pacer owns read pacing for one segment: a token bucket refilled
// at the segment's share of the export's read-capacity cap, charged with the
// ConsumedCapacity each Scan page actually reports, and an AIMD factor that
// halves the rate on every throttle and recovers it a little on every
// successful page, so an export yields to production traffic.
package pacer

import (
	"context"
	"sync"
	"time"
)

// Pacer is safe for concurrent use.
type Pacer struct {
	mu     sync.Mutex
	rate   float64 // capacity units per second; 0 means no cap
	factor float64 // AIMD multiplier in [minFactor, 1]
	tokens float64
	last   time.Time
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
}

const (
	minFactor = 1.0 / 64
	// recovery is added to the factor per successful page: from the floor
	// back to full speed takes about 20 pages.
	recovery = 0.05
	// burst is how many seconds of budget may accumulate while idle.
	burst = 1.0
)

// New returns a pacer for rate capacity units per second (0: unlimited).
func New(rate float64) *Pacer {
	return &Pacer{rate: rate, factor: 1, now: time.Now, sleep: sleepCtx}
}

// SetRate changes the budget, e.g. when the fleet-wide share changes.
func (p *Pacer) SetRate(rate float64) {
	p.mu.Lock()
	p.rate = rate
	p.mu.Unlock()
}

// Rate is the current effective rate (cap × AIMD factor); 0 means unlimited.
func (p *Pacer) Rate() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rate * p.factor
}

// Wait blocks until the bucket is not in debt. Without a cap it still
// slows down after throttles, in proportion to how far the factor fell.
func (p *Pacer) Wait(ctx context.Context) error {
	p.mu.Lock()
	now := p.now()
	var delay time.Duration
	if p.rate > 0 {
		eff := p.rate * p.factor
		if !p.last.IsZero() {
			p.tokens += now.Sub(p.last).Seconds() * eff
		} else {
			p.tokens = eff * burst
		}
		p.tokens = min(p.tokens, eff*burst)
		if p.tokens < 0 {
			delay = time.Duration(-p.tokens / eff * float64(time.Second))
		}
		p.last = now
	} else if p.factor < 1 {
		delay = time.Duration((1/p.factor - 1) * float64(20*time.Millisecond))
	}
	p.mu.Unlock()
	if delay <= 0 {
		return nil
	}
	return p.sleep(ctx, delay)
}

// Consumed charges the bucket with what a page cost and recovers the
// factor additively.
func (p *Pacer) Consumed(units float64) {
	p.mu.Lock()
	p.tokens -= units
	p.factor = min(1, p.factor+recovery)
	p.mu.Unlock()
}

// Throttled halves the rate.
func (p *Pacer) Throttled() {
	p.mu.Lock()
	p.factor = max(minFactor, p.factor/2)
	p.mu.Unlock()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
