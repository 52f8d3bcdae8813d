package progress

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestETA(t *testing.T) {
	cases := []struct {
		name    string
		s       Snapshot
		elapsed time.Duration
		want    time.Duration
		ok      bool
	}{
		{"from items: a quarter in 10s", Snapshot{Items: 250, EstimatedItems: 1000, SegmentsTotal: 4}, 10 * time.Second, 30 * time.Second, true},
		{"items win over segments", Snapshot{Items: 500, EstimatedItems: 1000, SegmentsDone: 1, SegmentsTotal: 4}, 10 * time.Second, 10 * time.Second, true},
		{"more items than estimated: done", Snapshot{Items: 1200, EstimatedItems: 1000}, time.Minute, 0, true},
		{"from segments without a table size", Snapshot{Items: 999, SegmentsDone: 1, SegmentsTotal: 4}, 10 * time.Second, 30 * time.Second, true},
		{"from segments before any item", Snapshot{EstimatedItems: 1000, SegmentsDone: 2, SegmentsTotal: 4}, 10 * time.Second, 10 * time.Second, true},
		{"all segments done", Snapshot{SegmentsDone: 4, SegmentsTotal: 4}, 10 * time.Second, 0, true},
		{"nothing to go on", Snapshot{EstimatedItems: 1000, SegmentsTotal: 4}, 10 * time.Second, 0, false},
		{"no segments at all", Snapshot{}, 10 * time.Second, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := ETA(c.s, c.elapsed)
			require.Equal(t, c.ok, ok)
			require.Equal(t, c.want, got)
		})
	}
}

// fixed returns a reporter whose clock reads start+elapsed.
func fixed(out *bytes.Buffer, tty bool, log *zap.Logger, elapsed *time.Duration) *Reporter {
	r := New(out, tty, log, time.Minute)
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	r.start = start
	r.now = func() time.Time { return start.Add(*elapsed) }
	return r
}

func TestLine(t *testing.T) {
	elapsed := 10 * time.Second
	r := fixed(&bytes.Buffer{}, true, zap.NewNop(), &elapsed)
	s := Snapshot{State: "RUNNING", SegmentsDone: 1, SegmentsTotal: 4, Items: 500, Bytes: 2_500_000, EstimatedItems: 1000}
	require.Equal(t, "RUNNING  segments 1/4  items 500  2.5 MB  50 items/s  elapsed 10s  ETA 10s", r.Line(s))

	s.SegmentsFailed = 1
	require.Equal(t, "RUNNING  segments 1/4 (1 failed)  items 500  2.5 MB  50 items/s  elapsed 10s  ETA 10s", r.Line(s))

	// No estimate yet: no ETA, and no division by zero at the start.
	elapsed = 0
	require.Equal(t, "PENDING  segments 0/8  items 0  0.0 MB  0 items/s  elapsed 0s", r.Line(Snapshot{State: "PENDING", SegmentsTotal: 8}))
}

func TestUpdateOnTerminalRewritesOneLine(t *testing.T) {
	elapsed := 5 * time.Second
	var out bytes.Buffer
	r := fixed(&out, true, zap.NewNop(), &elapsed)
	s := Snapshot{State: "RUNNING", SegmentsTotal: 2}
	r.Update(s)
	r.Update(s)
	line := r.Line(s)
	require.Equal(t, "\r\033[K"+line+"\r\033[K"+line, out.String(), "each update redraws the same line")
	s.State, s.SegmentsDone = "COMPLETED", 2
	r.Done(s)
	require.Contains(t, out.String(), "\r\033[K"+r.Line(s)+"\n", "Done ends the line")
}

func TestUpdateWithoutTerminalLogsEveryInterval(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	elapsed := time.Second
	var out bytes.Buffer
	r := fixed(&out, false, zap.New(core), &elapsed)
	s := Snapshot{State: "RUNNING", SegmentsDone: 1, SegmentsTotal: 4, Items: 10}
	r.Update(s) // first update logs at once
	elapsed += 30 * time.Second
	r.Update(s) // within the interval: quiet
	elapsed += 31 * time.Second
	r.Update(s) // interval passed
	require.Empty(t, out.String(), "nothing written to a non-terminal")
	entries := logs.FilterMessage("progress").All()
	require.Len(t, entries, 2)
	f := entries[1].ContextMap()
	require.Equal(t, "RUNNING", f["state"])
	require.EqualValues(t, 1, f["segmentsDone"])
	require.EqualValues(t, 4, f["segmentsTotal"])
	require.EqualValues(t, 10, f["items"])
	require.Equal(t, r.Line(s), f["summary"])

	r.Done(Snapshot{State: "COMPLETED", SegmentsDone: 4, SegmentsTotal: 4, Items: 40})
	done := logs.FilterMessage("finished").All()
	require.Len(t, done, 1)
	require.Equal(t, "COMPLETED", done[0].ContextMap()["state"])
}
