package ecsprotect_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/shared/clock"
	"github.com/ddbfleet/ddbfleet/worker/internal/ecsprotect"
)

// agent stands in for the ECS agent's task-protection endpoint.
type agent struct {
	mu    sync.Mutex
	clock clock.Clock // when set, each call's time is recorded
	calls []bool
	at    []time.Time
	fail  int // answer this many calls with 500 first
}

func (a *agent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ProtectionEnabled bool
		ExpiresInMinutes  int
	}
	if r.Method != http.MethodPut || r.URL.Path != "/task-protection/v1/state" || json.NewDecoder(r.Body).Decode(&body) != nil || body.ExpiresInMinutes <= 0 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail > 0 {
		a.fail--
		http.Error(w, "agent busy", http.StatusInternalServerError)
		return
	}
	a.calls = append(a.calls, body.ProtectionEnabled)
	if a.clock != nil {
		a.at = append(a.at, a.clock.Now())
	}
}

func (a *agent) seen() ([]bool, []time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]bool(nil), a.calls...), append([]time.Time(nil), a.at...)
}

func start(t *testing.T, a *agent, clk clock.Clock) *ecsprotect.Protector {
	t.Helper()
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	t.Setenv("ECS_AGENT_URI", srv.URL)
	p := ecsprotect.FromEnv(zap.NewNop(), clk)
	require.NotNil(t, p)
	return p
}

func TestProtectionFollowsSegmentsInHand(t *testing.T) {
	a := &agent{}
	p := start(t, a, nil)
	ctx := context.Background()

	p.Acquire(ctx) // first segment: protect
	p.Acquire(ctx) // second: already protected, no call
	p.Release(ctx) // one still in hand: stay protected
	p.Release(ctx) // idle: unprotect
	p.Acquire(ctx) // busy again
	calls, _ := a.seen()
	require.Equal(t, []bool{true, false, true}, calls)
}

// round advances the manual clock by d and waits until the renewal loop
// has finished the round it started (its next timer is pending).
func round(t *testing.T, ctx context.Context, m *clock.Manual, d time.Duration) {
	t.Helper()
	m.Advance(d)
	require.True(t, m.BlockUntil(ctx, 1), "the renewal loop waits again")
}

func TestProtectionIsRenewedBeforeItExpiresWhileHeldAndNotAfterRelease(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a := &agent{clock: m}
	p := start(t, a, m)
	p.Start(ctx)
	defer p.Stop()
	require.True(t, m.BlockUntil(ctx, 1))

	p.Acquire(ctx)
	// One segment held for three grants' worth: every grant is renewed
	// before it lapses.
	for m.Now().Before(time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)) {
		round(t, ctx, m, 10*time.Minute)
	}
	calls, at := a.seen()
	require.Greater(t, len(calls), 3)
	for i, on := range calls {
		require.True(t, on, "call %d", i)
		if i > 0 {
			require.Less(t, at[i].Sub(at[i-1]), ecsprotect.DefaultExpires, "grant %d renewed before it expired", i-1)
		}
	}
	require.Less(t, m.Now().Sub(at[len(at)-1]), ecsprotect.DefaultExpires, "still protected")

	p.Release(ctx)
	held := len(calls) + 1
	for range 6 { // two hours idle
		round(t, ctx, m, 20*time.Minute)
	}
	calls, _ = a.seen()
	require.Len(t, calls, held, "nothing after release but the release")
	require.False(t, calls[held-1])
}

func TestRenewalRetriesAGrantTheAgentRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a := &agent{clock: m, fail: 1}
	p := start(t, a, m)
	p.Start(ctx)
	defer p.Stop()
	require.True(t, m.BlockUntil(ctx, 1))

	p.Acquire(ctx) // refused: not protected yet
	calls, _ := a.seen()
	require.Empty(t, calls)
	round(t, ctx, m, ecsprotect.DefaultExpires/3)
	p.Release(ctx) // the renewal's grant is cleared on release
	calls, _ = a.seen()
	require.Equal(t, []bool{true, false}, calls)
}

func TestStopEndsRenewal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a := &agent{clock: m}
	p := start(t, a, m)
	p.Start(ctx)
	require.True(t, m.BlockUntil(ctx, 1))
	p.Acquire(ctx)
	p.Stop()
	m.Advance(3 * ecsprotect.DefaultExpires)
	calls, _ := a.seen()
	require.Equal(t, []bool{true}, calls)
}

func TestNoAgentMeansNoProtector(t *testing.T) {
	t.Setenv("ECS_AGENT_URI", "")
	p := ecsprotect.FromEnv(zap.NewNop(), nil)
	require.Nil(t, p)
	// A nil protector is safe to use: outside ECS nothing happens.
	p.Start(context.Background())
	p.Acquire(context.Background())
	p.Release(context.Background())
	p.Stop()
}
