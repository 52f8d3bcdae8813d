package consumer_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/lifecycle"
	"github.com/ddbfleet/ddbfleet/worker/internal/segexport"
)

// ctxSettler records the context Settle is given; hold, when set, keeps
// Settle running until it is closed.
type ctxSettler struct {
	settling chan struct{}
	hold     chan struct{}

	mu       sync.Mutex
	deadline time.Time // zero: none
	at       time.Time // when Settle was called
	err      error     // the context's error when Settle returned
}

func (s *ctxSettler) Settle(ctx context.Context, _ string) error {
	s.mu.Lock()
	s.at = time.Now()
	s.deadline, _ = ctx.Deadline()
	s.mu.Unlock()
	close(s.settling)
	if s.hold != nil {
		<-s.hold
	}
	s.mu.Lock()
	s.err = ctx.Err()
	s.mu.Unlock()
	return nil
}

// Settling after the last segment may finalize an export of tens of
// thousands of parts: that takes longer than the 10 s hand-back budget,
// so Settle gets a context of its own, with room for the finalizer's
// claim to be renewed many times over.
func TestSettleIsNotHeldToTheHandBackBudget(t *testing.T) {
	l := newLoop(t, func(context.Context, segexport.Job) error { return nil })
	s := &ctxSettler{settling: make(chan struct{})}
	l.cons.Settler = s
	l.export(1)
	require.NoError(t, l.cons.Run(l.ctx))
	<-s.settling
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.deadline.IsZero() {
		require.Greater(t, s.deadline.Sub(s.at), 3*lifecycle.FinalizeLease, "Settle has time for a finalize that renews its claim")
	}
	require.NoError(t, s.err)
}

// A worker told to stop (SIGTERM) while it finalizes does not cut the
// finalize short when its drain budget is spent: the finalize context is
// not the work context.
func TestSettleOutlivesTheDrainBudget(t *testing.T) {
	l := newLoop(t, func(context.Context, segexport.Job) error { return nil })
	l.cons.Config.ExitWhenIdle = 0
	l.cons.Config.DrainTimeout = 400 * time.Millisecond
	s := &ctxSettler{settling: make(chan struct{}), hold: make(chan struct{})}
	l.cons.Settler = s
	l.export(1)
	ctx, cancel := context.WithCancel(l.ctx)
	done := make(chan error, 1)
	go func() { done <- l.cons.Run(ctx) }()
	<-s.settling
	cancel() // SIGTERM
	time.Sleep(3 * l.cons.Config.DrainTimeout)
	close(s.hold)
	require.NoError(t, <-done)
	s.mu.Lock()
	defer s.mu.Unlock()
	require.NoError(t, s.err, "the drain's abort does not reach Settle")
}
