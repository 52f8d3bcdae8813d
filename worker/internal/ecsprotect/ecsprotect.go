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
)

// Protector toggles protection as the worker becomes busy or idle.
type Protector struct {
	endpoint string
	client   *http.Client
	log      *zap.Logger
	mu       sync.Mutex
	busy     int
	on       bool
	// expires bounds protection in case the worker dies without clearing
	// it; the worker renews it while busy.
	expires time.Duration
}

// FromEnv returns a Protector using ECS_AGENT_URI, or nil outside ECS.
func FromEnv(log *zap.Logger) *Protector {
	uri := os.Getenv("ECS_AGENT_URI")
	if uri == "" {
		return nil
	}
	return &Protector{endpoint: uri + "/task-protection/v1/state", client: &http.Client{Timeout: 5 * time.Second}, log: log, expires: 60 * time.Minute}
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
