package fault

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Policy bounds one retry loop. The zero value is not useful; start from
// DefaultPolicy.
type Policy struct {
	Initial     time.Duration // first delay
	Max         time.Duration // largest single delay
	MaxElapsed  time.Duration // total budget; 0 means only MaxAttempts bounds it
	MaxAttempts int           // 0 means only MaxElapsed bounds it
}

// DefaultPolicy suits a single AWS call inside a worker: quick first
// retries, jittered growth, and a budget short enough that a segment that
// cannot make progress fails visibly instead of hanging.
var DefaultPolicy = Policy{
	Initial:    100 * time.Millisecond,
	Max:        5 * time.Second,
	MaxElapsed: 2 * time.Minute,
}

// Instant returns p with every delay zeroed, for tests that exercise retry
// paths without waiting.
func (p Policy) Instant() Policy {
	p.Initial, p.Max = time.Nanosecond, time.Nanosecond
	return p
}

// honourRetryAfter waits at least the RetryAfter the last error asked for
// (up to the policy's largest delay, so Instant stays instant).
type honourRetryAfter struct {
	backoff.BackOff
	last *error
	max  time.Duration
}

func (h *honourRetryAfter) NextBackOff() time.Duration {
	next := h.BackOff.NextBackOff()
	if next == backoff.Stop {
		return next
	}
	return max(next, min(Delay(*h.last), h.max))
}

// Retry calls op until it succeeds, returns a non-retryable error, the
// budget runs out, or ctx ends. The last error is returned unchanged so
// callers can still classify it.
func Retry(ctx context.Context, p Policy, op func(context.Context) error) error {
	eb := backoff.NewExponentialBackOff()
	eb.InitialInterval = p.Initial
	eb.MaxInterval = p.Max
	eb.MaxElapsedTime = p.MaxElapsed
	eb.RandomizationFactor = 0.5
	var last error
	var b backoff.BackOff = &honourRetryAfter{BackOff: eb, last: &last, max: p.Max}
	if p.MaxAttempts > 0 {
		b = backoff.WithMaxRetries(b, uint64(p.MaxAttempts-1))
	}
	err := backoff.Retry(func() error {
		last = op(ctx)
		if last == nil {
			return nil
		}
		if ctx.Err() != nil || !IsRetryable(last) {
			return backoff.Permanent(last)
		}
		return last
	}, backoff.WithContext(b, ctx))
	if err != nil && last != nil {
		return last
	}
	return err
}
