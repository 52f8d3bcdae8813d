package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestScanAndOtherCallsGetTheirOwnDelayAndPassThroughUnchanged(t *testing.T) {
	type seen struct{ host, target, body string }
	got := make(chan seen, 2)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Host, r.Header.Get("X-Amz-Target"), string(b)}
		_, _ = io.WriteString(w, `{"Count":0}`)
	}))
	t.Cleanup(backend.Close)
	to, err := url.Parse(backend.URL)
	require.NoError(t, err)
	d := &delayer{scan: 200 * time.Millisecond, other: time.Millisecond}
	proxy := httptest.NewServer(d.wrap(forwarder(to)))
	t.Cleanup(proxy.Close)

	call := func(target string) (time.Duration, string) {
		req, err := http.NewRequest(http.MethodPost, proxy.URL, strings.NewReader(`{"TableName":"t"}`))
		require.NoError(t, err)
		req.Host = "dynamodb.signed.example"
		req.Header.Set("X-Amz-Target", target)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return time.Since(start), string(body)
	}
	el, body := call(scanTarget)
	require.GreaterOrEqual(t, el, 200*time.Millisecond, "a Scan waits its delay")
	require.Equal(t, `{"Count":0}`, body)
	require.Equal(t, seen{"dynamodb.signed.example", scanTarget, `{"TableName":"t"}`}, <-got, "forwarded unchanged, Host included")

	el, _ = call("DynamoDB_20120810.GetItem")
	require.Less(t, el, 200*time.Millisecond, "other calls wait their own, shorter delay")
	require.Equal(t, "DynamoDB_20120810.GetItem", (<-got).target)
	require.Equal(t, int64(1), d.scans.Load())
	require.Equal(t, int64(1), d.others.Load())

	resp, err := http.Get(proxy.URL + statsPath)
	require.NoError(t, err)
	defer resp.Body.Close()
	var st Stats
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	require.Equal(t, int64(1), st.Scans)
	require.Equal(t, int64(1), st.Others)
	require.Positive(t, st.ScanServerNs, "the server's own time is kept apart from the added delay")
	require.Less(t, st.ScanServerNs, int64(200*time.Millisecond))
	require.Empty(t, got, "stats are not forwarded")
}

func TestJitterStaysWithinItsBounds(t *testing.T) {
	d := &delayer{scan: 30 * time.Millisecond, other: 3 * time.Millisecond, jitter: 2 * time.Millisecond}
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	req.Header.Set("X-Amz-Target", scanTarget)
	seen := map[time.Duration]bool{}
	for range 200 {
		got := d.delay(req)
		require.GreaterOrEqual(t, got, 28*time.Millisecond)
		require.LessOrEqual(t, got, 32*time.Millisecond)
		seen[got] = true
	}
	require.Greater(t, len(seen), 10, "jitter varies the delay")
	// Jitter larger than the delay never makes it negative.
	d = &delayer{other: time.Millisecond, jitter: 10 * time.Millisecond}
	for range 100 {
		require.GreaterOrEqual(t, d.delay(httptest.NewRequest(http.MethodPost, "/", nil)), time.Duration(0))
	}
}
