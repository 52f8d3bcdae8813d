package ecsprotect_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/worker/internal/ecsprotect"
)

// agent stands in for the ECS agent's task-protection endpoint.
type agent struct {
	mu    sync.Mutex
	calls []bool
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
	a.calls = append(a.calls, body.ProtectionEnabled)
	a.mu.Unlock()
}

func TestProtectionFollowsSegmentsInHand(t *testing.T) {
	a := &agent{}
	srv := httptest.NewServer(a)
	defer srv.Close()
	t.Setenv("ECS_AGENT_URI", srv.URL)
	p := ecsprotect.FromEnv(zap.NewNop())
	require.NotNil(t, p)
	ctx := context.Background()

	p.Acquire(ctx) // first segment: protect
	p.Acquire(ctx) // second: already protected, no call
	p.Release(ctx) // one still in hand: stay protected
	p.Release(ctx) // idle: unprotect
	p.Acquire(ctx) // busy again
	require.Equal(t, []bool{true, false, true}, a.calls)
}

func TestNoAgentMeansNoProtector(t *testing.T) {
	t.Setenv("ECS_AGENT_URI", "")
	p := ecsprotect.FromEnv(zap.NewNop())
	require.Nil(t, p)
	// A nil protector is safe to use: outside ECS nothing happens.
	p.Acquire(context.Background())
	p.Release(context.Background())
}
