// Package ecsprotect owns ECS task scale-in protection: while a worker holds
// segments it asks the ECS agent not to pick its task for scale-in, so
// autoscaling on a shrinking queue does not kill tasks that are mid-part.
// Outside ECS (no ECS_AGENT_URI) it does nothing.
package ecsprotect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/shared/clock"
)

// DefaultExpires is how long the agent keeps one grant of protection.
// It bounds protection in case the worker dies without clearing it; while
// busy the worker renews it (Start), so holding a segment longer keeps it.
const DefaultExpires = 60 * time.Minute

// Protector toggles protection as the worker becomes busy or idle, and
// renews it while busy.
type Protector struct {
	endpoint string
	client   *http.Client
	log      *zap.Logger
	clock    clock.Clock
	expires  time.Duration

	mu   sync.Mutex // held across each call, so the agent sees them in order
	busy int
	on   bool

	cancel context.CancelFunc
	done   chan struct{}
}

// FromEnv returns a Protector using ECS_AGENT_URI, or nil outside ECS. A
// nil clk is the wall clock.
func FromEnv(log *zap.Logger, clk clock.Clock) *Protector {
	uri := os.Getenv("ECS_AGENT_URI")
	if uri == "" {
		return nil
	}
	return &Protector{
		endpoint: uri + "/task-protection/v1/state", client: &http.Client{Timeout: 5 * time.Second},
		log: log, clock: clock.OrReal(clk), expires: DefaultExpires,
	}
}

// renewEvery is how often protection is renewed while busy: a third of
// its lifetime, so one failed renewal still leaves another try before it
// lapses.
func (p *Protector) renewEvery() time.Duration { return p.expires / 3 }

// Start renews protection in the background while segments are in hand,
// until Stop or ctx ends; nil-safe.
func (p *Protector) Start(ctx context.Context) {
	if p == nil {
		return
	}
	ctx, p.cancel = context.WithCancel(ctx)
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		// One timer per round, not a ticker: a test's manual clock then
		// shows when a round is over (the next timer is pending).
		for clock.Sleep(ctx, p.clock, p.renewEvery()) {
			p.renew(ctx)
		}
	}()
}

// Stop ends renewal and waits for a call in progress; nil-safe.
func (p *Protector) Stop() {
	if p == nil || p.cancel == nil {
		return
	}
	p.cancel()
	<-p.done
}

// renew grants protection again for another expires while busy; it also
// retries a grant that failed when the worker became busy.
func (p *Protector) renew(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.busy > 0 && p.set(ctx, true) == nil {
		p.on = true
	}
}

// Acquire marks one more segment in hand; nil-safe.
func (p *Protector) Acquire(ctx context.Context) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.busy++
	if !p.on {
		p.on = p.set(ctx, true) == nil
	}
}

// Release marks one segment finished; protection drops at zero.
func (p *Protector) Release(ctx context.Context) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.busy--
	if p.busy == 0 && p.on {
		p.on = p.set(ctx, false) != nil
	}
}

func (p *Protector) set(ctx context.Context, enabled bool) error {
	body, _ := json.Marshal(map[string]any{"ProtectionEnabled": enabled, "ExpiresInMinutes": int(p.expires.Minutes())})
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, p.endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			err = fmt.Errorf("ECS agent answered %s", resp.Status)
		}
	}
	if err != nil {
		p.log.Warn("could not change task scale-in protection", zap.Bool("enabled", enabled), zap.Error(err))
	}
	return err
}
