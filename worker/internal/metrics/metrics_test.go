package metrics

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.jsonl from the current encoder")

// fixedClock returns t0 plus however far the test has advanced it.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fixedClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// script is a known sequence of calls over three intervals: two exports
// interleaved, a cap that persists, an idle export that prints nothing
// and is forgotten, and more commit latencies than one EMF array holds.
func script(e *Emitter, clock *fixedClock) {
	e.Cap("orders-1", 500)
	e.SegmentClaimed("orders-1")
	e.SegmentClaimed("orders-1")
	e.Items("orders-1", 1000)
	e.Items("orders-1", 234)
	e.Bytes("orders-1", 65536)
	e.ReadUnits("orders-1", 128.5)
	e.ReadUnits("orders-1", 0.5)
	e.Throttle("orders-1")
	e.CommitLatency("orders-1", 42*time.Millisecond)
	e.CommitLatency("orders-1", 1500*time.Microsecond)
	e.SegmentClaimed("customers 2") // a space is a valid dimension character
	e.Items("customers 2", 7)
	e.SegmentFailed("customers 2")
	clock.Advance(time.Minute)
	_ = e.Flush()

	// Interval 2: customers is idle; orders finishes a segment and loses
	// another's lease. The cap set in interval 1 is still published.
	e.Items("orders-1", 10)
	e.SegmentDone("orders-1")
	e.LeaseLost("orders-1")
	for i := range 150 {
		e.CommitLatency("orders-1", time.Duration(i+1)*time.Millisecond)
	}
	clock.Advance(time.Minute)
	_ = e.Flush()

	// Interval 3: nothing happens at all.
	clock.Advance(time.Minute)
	_ = e.Flush()
}

func TestGolden(t *testing.T) {
	var out bytes.Buffer
	clock := &fixedClock{t: t0}
	e := New(&out, clock.Now, time.Minute)
	script(e, clock)

	golden := filepath.Join("testdata", "golden.jsonl")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(golden, out.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), out.String(), "EMF output changed; if on purpose, run go test -run TestGolden -update and review the diff")
}

// TestOutputFollowsEMF runs every line the script prints through the
// specification validator, then checks the numbers mean what the calls
// said (so the golden file cannot freeze a wrong total).
func TestOutputFollowsEMF(t *testing.T) {
	var out bytes.Buffer
	clock := &fixedClock{t: t0}
	script(New(&out, clock.Now, time.Minute), clock)

	lines := splitLines(t, out.Bytes())
	require.Len(t, lines, 4, "interval 1: two exports; interval 2: orders plus one continuation line; interval 3: nothing")
	for i, l := range lines {
		require.Empty(t, validateEMF(l), "line %d: %s", i, l)
	}

	byID := map[string][]map[string]any{}
	for _, l := range lines {
		m := decode(t, l)
		byID[m["ExportId"].(string)] = append(byID[m["ExportId"].(string)], m)
	}
	o := byID["orders-1"]
	require.Len(t, o, 3)
	require.EqualValues(t, t0.Add(time.Minute).UnixMilli(), ts(o[0]))
	require.EqualValues(t, 1234, o[0][ItemsExported])
	require.EqualValues(t, 65536, o[0][BytesExported])
	require.EqualValues(t, 129, o[0][ReadUnitsConsumed])
	require.EqualValues(t, 1, o[0][Throttles])
	require.EqualValues(t, 2, o[0][SegmentsClaimed])
	require.Equal(t, []any{42.0, 1.5}, o[0][PartCommitLatency])
	require.EqualValues(t, 500, o[0][ReadCapacityCap])

	require.EqualValues(t, 10, o[1][ItemsExported])
	require.EqualValues(t, 1, o[1][SegmentsDone])
	require.EqualValues(t, 1, o[1][LeaseLosses])
	require.EqualValues(t, 500, o[1][ReadCapacityCap], "the cap is a gauge: it stays until the export goes idle")
	// The 150 latencies of interval 2 are all there, split 100 + 50.
	var lat []any
	for _, m := range o[1:] {
		lat = append(lat, m[PartCommitLatency].([]any)...)
	}
	require.Len(t, lat, 150)
	require.Len(t, o[1][PartCommitLatency], 100)
	require.Equal(t, ts(o[1]), ts(o[2]), "a continuation line belongs to the same interval")
	require.Nil(t, o[2][ItemsExported], "a continuation line carries latencies only, so counters are not counted twice")

	c := byID["customers 2"]
	require.Len(t, c, 1, "an idle interval prints nothing")
	require.EqualValues(t, 7, c[0][ItemsExported])
	require.EqualValues(t, 1, c[0][SegmentsFailed])
	require.Nil(t, c[0][ReadCapacityCap], "no cap recorded: none published")
	require.Nil(t, c[0][PartCommitLatency], "no commit: no empty latency array")
}

func TestNothingPrintedWithoutActivity(t *testing.T) {
	var out bytes.Buffer
	e := New(&out, (&fixedClock{t: t0}).Now, 0)
	require.NoError(t, e.Flush())
	e.Items("a", 1)
	require.NoError(t, e.Flush())
	require.NotZero(t, out.Len())
	out.Reset()
	require.NoError(t, e.Flush())
	require.Zero(t, out.Len(), "second interval had no activity")
}

func TestCapForgottenAfterIdleInterval(t *testing.T) {
	var out bytes.Buffer
	e := New(&out, (&fixedClock{t: t0}).Now, 0)
	e.Cap("a", 100)
	_ = e.Flush()
	_ = e.Flush() // idle: "a" is forgotten
	out.Reset()
	e.Items("a", 1)
	_ = e.Flush()
	require.Nil(t, decode(t, splitLines(t, out.Bytes())[0])[ReadCapacityCap])
}

func TestConcurrentUse(t *testing.T) {
	var out bytes.Buffer
	e := New(&out, (&fixedClock{t: t0}).Now, 0)
	const workers, calls = 8, 1000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := []string{"a", "b"}[w%2]
			for range calls {
				e.Items(id, 1)
				e.ReadUnits(id, 0.5)
				e.CommitLatency(id, time.Millisecond)
			}
		}()
	}
	// Flushing while others count must neither lose nor double anything.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			_ = e.Flush()
		}
	}()
	wg.Wait()
	<-done
	_ = e.Flush()

	items := map[string]float64{}
	units := map[string]float64{}
	lat := map[string]int{}
	for _, l := range splitLines(t, out.Bytes()) {
		require.Empty(t, validateEMF(l))
		m := decode(t, l)
		id := m["ExportId"].(string)
		if v, ok := m[ItemsExported].(float64); ok {
			items[id] += v
			units[id] += m[ReadUnitsConsumed].(float64)
		}
		if v, ok := m[PartCommitLatency].([]any); ok {
			lat[id] += len(v)
		}
	}
	for _, id := range []string{"a", "b"} {
		require.EqualValues(t, workers/2*calls, items[id], id)
		require.EqualValues(t, workers/2*calls/2, units[id], id)
		require.Equal(t, workers/2*calls, lat[id], id)
	}
}

// signalWriter tells the test each time a line lands, so the loop test
// waits on writes instead of sleeping.
type signalWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (w *signalWriter) String() string { w.mu.Lock(); defer w.mu.Unlock(); return w.buf.String() }

func TestStartStop(t *testing.T) {
	w := &signalWriter{wrote: make(chan struct{}, 1)}
	e := New(w, (&fixedClock{t: t0}).Now, time.Hour)
	ticks := make(chan time.Time)
	stopped := make(chan struct{})
	e.tick = func(d time.Duration) (<-chan time.Time, func()) {
		require.Equal(t, time.Hour, d)
		return ticks, func() { close(stopped) }
	}
	require.NoError(t, e.Start(context.Background()))
	require.NoError(t, e.Start(context.Background()), "second Start is a no-op")

	e.Items("x", 3)
	ticks <- t0
	waitWrite(t, w)
	require.Contains(t, w.String(), `"ItemsExported":3`)

	// Stop prints the partial interval before returning.
	e.Items("x", 4)
	e.Stop()
	require.Contains(t, w.String(), `"ItemsExported":4`)
	<-stopped
	e.Stop() // idempotent
}

func TestContextEndStopsLoop(t *testing.T) {
	w := &signalWriter{wrote: make(chan struct{}, 1)}
	e := New(w, (&fixedClock{t: t0}).Now, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, e.Start(ctx))
	e.Items("x", 9)
	cancel()
	waitWrite(t, w)
	require.Contains(t, w.String(), `"ItemsExported":9`)
	e.Stop()
}

func TestStopWithoutStartFlushes(t *testing.T) {
	var out bytes.Buffer
	e := New(&out, (&fixedClock{t: t0}).Now, 0)
	e.SegmentDone("x")
	e.Stop()
	require.Contains(t, out.String(), `"SegmentsDone":1`)
}

func TestNilEmitterIsANoOp(t *testing.T) {
	var e *Emitter
	e.Items("x", 1)
	e.Cap("x", 1)
	e.CommitLatency("x", time.Second)
	require.NoError(t, e.Start(context.Background()))
	require.NoError(t, e.Flush())
	e.Stop()
	inner := &fakePacer{}
	require.Same(t, inner, e.Pacer("x", inner).(*fakePacer))
}

type fakePacer struct {
	waits, throttles int
	units            float64
}

func (p *fakePacer) Wait(context.Context) error { p.waits++; return nil }
func (p *fakePacer) Consumed(u float64)         { p.units += u }
func (p *fakePacer) Throttled()                 { p.throttles++ }

func TestPacerDecoratorCountsAndForwards(t *testing.T) {
	var out bytes.Buffer
	e := New(&out, (&fixedClock{t: t0}).Now, 0)
	inner := &fakePacer{}
	p := e.Pacer("x", inner)
	require.NoError(t, p.Wait(context.Background()))
	p.Consumed(2.5)
	p.Consumed(1)
	p.Throttled()
	require.Equal(t, fakePacer{waits: 1, units: 3.5, throttles: 1}, *inner)
	_ = e.Flush()
	m := decode(t, splitLines(t, out.Bytes())[0])
	require.EqualValues(t, 3.5, m[ReadUnitsConsumed])
	require.EqualValues(t, 1, m[Throttles])
}

func TestBadInputsKeepLinesValid(t *testing.T) {
	var out bytes.Buffer
	e := New(&out, (&fixedClock{t: t0}).Now, 0)
	nan := 0.0
	nan /= nan
	e.ReadUnits("ünïcode\x00id", nan)
	e.Cap("ünïcode\x00id", nan)
	e.Items("ünïcode\x00id", 1)
	e.Items("   ", 1)
	e.Items(strings.Repeat("x", 2000), 1)
	_ = e.Flush()
	lines := splitLines(t, out.Bytes())
	require.Len(t, lines, 3)
	for _, l := range lines {
		require.Empty(t, validateEMF(l), "%s", l)
	}
}

func TestEnabledByDefault(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	require.False(t, EnabledByDefault(env(nil)))
	require.True(t, EnabledByDefault(env(map[string]string{"ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/abc"})))
}

func waitWrite(t *testing.T, w *signalWriter) {
	t.Helper()
	select {
	case <-w.wrote:
	case <-time.After(5 * time.Second):
		t.Fatal("no line written within 5s")
	}
}

func splitLines(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, append(append([]byte{}, sc.Bytes()...), '\n'))
	}
	require.NoError(t, sc.Err())
	return out
}

func decode(t *testing.T, line []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(line, &m))
	return m
}

func ts(m map[string]any) float64 { return m["_aws"].(map[string]any)["Timestamp"].(float64) }
