package dashboard

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestServeRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{":8080", "0.0.0.0:8080", "[::]:8080", "10.0.0.5:8080", "dashboard.example.com:80"} {
		err := Serve(context.Background(), addr, http.NotFoundHandler(), nil, false)
		require.Error(t, err, addr)
		require.Contains(t, err.Error(), "not a loopback address", addr)
		require.ErrorIs(t, err, ErrAddress, "the operator's input: %s", addr)
	}
	err := Serve(context.Background(), "8080", http.NotFoundHandler(), nil, false)
	require.ErrorContains(t, err, "want host:port")
	require.ErrorIs(t, err, ErrAddress)
}

func TestLoopbackAddresses(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.0.0.2:1": true, "[::1]:8080": true, "localhost:8080": true, "LOCALHOST:1": true,
		":8080": false, "0.0.0.0:1": false, "192.168.1.2:80": false, "example.com:80": false,
	} {
		got, err := isLoopbackAddr(addr)
		require.NoError(t, err, addr)
		require.Equal(t, want, got, addr)
	}
}

// TestServeLifecycle binds a free loopback port, finds it in the log line,
// serves a request, and stops cleanly when the context ends.
func TestServeLifecycle(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, "127.0.0.1:0", New(fixture(), nil, nil), zap.New(core), false) }()

	var url string
	require.Eventually(t, func() bool {
		for _, e := range logs.FilterMessage("dashboard listening").All() {
			url = e.ContextMap()["url"].(string)
			return true
		}
		return false
	}, 5*time.Second, 10*time.Millisecond)
	require.True(t, strings.HasPrefix(url, "http://127.0.0.1:"), url)

	resp, err := http.Get(url + "healthz")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "ok\n", string(body))

	// A DNS-rebinding page would arrive with its own host name.
	req, _ := http.NewRequest("GET", url+"api/jobs", nil)
	req.Host = "attacker.example:8080"
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode)

	req.Host = "localhost:8080"
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	require.Equal(t, 1, logs.FilterMessage("dashboard stopped").Len())
}

func TestServeReportsListenError(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = Serve(ctx, "127.0.0.1:0", http.NotFoundHandler(), zap.New(core), false) }()
	var addr string
	require.Eventually(t, func() bool {
		for _, e := range logs.FilterMessage("dashboard listening").All() {
			addr = strings.TrimSuffix(strings.TrimPrefix(e.ContextMap()["url"].(string), "http://"), "/")
			return true
		}
		return false
	}, 5*time.Second, 10*time.Millisecond)
	err := Serve(ctx, addr, http.NotFoundHandler(), nil, false)
	require.ErrorContains(t, err, "listen on "+addr)
	require.NotErrorIs(t, err, ErrAddress, "a port in use is not a bad address")
}
