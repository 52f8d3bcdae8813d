//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/internal/testkit/fleet"
)

// emfLine is one EMF line as CloudWatch Logs would read it: its timestamp,
// the dimension values and every metric's values, by name.
type emfLine struct {
	Timestamp time.Time
	ExportID  string // "" when the line has no ExportId dimension
	Values    map[string][]float64
	Units     map[string]string
	DimSets   [][]string
}

// parseEMF is a strict reader of one line of CloudWatch Embedded Metric
// Format, independent of the emitter: a lone JSON object; _aws.Timestamp
// integer epoch milliseconds; _aws.CloudWatchMetrics a non-empty array of
// directives, each with Namespace, Dimensions (non-empty array of arrays of
// names, each name a string member of the root) and Metrics (non-empty, each
// Name a member of the root that is a number or an array of numbers). It
// fails the test naming the rule a line breaks.
func parseEMF(t *testing.T, line string) emfLine {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	var root map[string]any
	require.NoError(t, dec.Decode(&root), "not a JSON object: %s", line)
	require.False(t, dec.More(), "data after the JSON object: %s", line)
	aws, ok := root["_aws"].(map[string]any)
	require.True(t, ok, "no _aws object: %s", line)
	ts, ok := aws["Timestamp"].(json.Number)
	require.True(t, ok, "_aws.Timestamp is not a number: %s", line)
	ms, err := ts.Int64()
	require.NoError(t, err, "_aws.Timestamp is not an integer: %s", line)
	out := emfLine{Timestamp: time.UnixMilli(ms), Values: map[string][]float64{}, Units: map[string]string{}}
	dirs, ok := aws["CloudWatchMetrics"].([]any)
	require.True(t, ok && len(dirs) > 0, "_aws.CloudWatchMetrics is not a non-empty array: %s", line)
	for i, d := range dirs {
		dir, ok := d.(map[string]any)
		require.True(t, ok, "directive %d is not an object", i)
		require.Equal(t, "ddbfleet", dir["Namespace"], "directive %d Namespace", i)
		sets, ok := dir["Dimensions"].([]any)
		require.True(t, ok && len(sets) > 0, "directive %d: Dimensions is not a non-empty array: %s", i, line)
		for _, s := range sets {
			set, ok := s.([]any)
			require.True(t, ok, "directive %d: a dimension set is not an array: %s", i, line)
			names := []string{}
			for _, n := range set {
				name, ok := n.(string)
				require.True(t, ok, "directive %d: dimension name %v is not a string", i, n)
				v, ok := root[name].(string)
				require.True(t, ok && v != "", "dimension %q has no string member on the root: %s", name, line)
				if name == "ExportId" {
					out.ExportID = v
				}
				names = append(names, name)
			}
			out.DimSets = append(out.DimSets, names)
		}
		defs, ok := dir["Metrics"].([]any)
		require.True(t, ok && len(defs) > 0, "directive %d: Metrics is not a non-empty array: %s", i, line)
		for _, m := range defs {
			def, ok := m.(map[string]any)
			require.True(t, ok, "directive %d: a metric definition is not an object", i)
			name, ok := def["Name"].(string)
			require.True(t, ok && name != "", "directive %d: metric without a Name", i)
			unit, _ := def["Unit"].(string)
			out.Units[name] = unit
			out.Values[name] = emfValues(t, name, root[name], line)
		}
	}
	return out
}

// emfValues is a metric's target member: a number, or an array of numbers.
func emfValues(t *testing.T, name string, v any, line string) []float64 {
	t.Helper()
	num := func(x any) float64 {
		n, ok := x.(json.Number)
		require.True(t, ok, "metric %s: value %v is not a number: %s", name, x, line)
		f, err := n.Float64()
		require.NoError(t, err)
		require.False(t, math.IsNaN(f) || math.IsInf(f, 0))
		return f
	}
	require.NotNil(t, v, "metric %s has no target member on the root: %s", name, line)
	if arr, ok := v.([]any); ok {
		require.NotEmpty(t, arr, "metric %s: empty value array", name)
		out := make([]float64, len(arr))
		for i, x := range arr {
			out[i] = num(x)
		}
		return out
	}
	return []float64{num(v)}
}

func TestWorkerMetricsMatchTheExport(t *testing.T) {
	const items, segments = 2000, 6
	f := fleet.NewFleet(t)
	table := f.CreateTable(items)
	started := time.Now()
	// A read cap makes the export last several metric intervals, so the
	// sums cross line boundaries; heartbeats every 2 s (lease 6 s) report
	// items while segments run.
	w := f.StartWorker("--metrics", "--metrics-interval", "1s", "--exit-when-idle", "4s", "--lease-duration", "6s", "--concurrency", "2")
	res := f.Coordinator("export", "--table", table, "--bucket", f.Bucket, "--segments", fmt.Sprint(segments),
		"--scan-page-size", "50", "--part-size-bytes", "20000", "--read-capacity-cap", "20", "--wait", "--json")
	require.Equal(t, 0, res.Code, res.Stderr)
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &st), res.Stdout)
	require.Equal(t, "COMPLETED", st["state"])
	id := st["exportId"].(string)
	require.EqualValues(t, items, st["itemCount"])
	// The last interval is printed when the worker stops.
	require.Equal(t, 0, w.Wait(t, time.Minute), "worker exits 0 once idle")
	ended := time.Now()

	out := w.Stdout()
	require.NotEmpty(t, out, "the worker printed no metrics")
	require.True(t, strings.HasSuffix(out, "\n"), "stdout ends with a whole line")
	sum := map[string]float64{}
	var lines, latencies int
	var caps []float64
	for _, raw := range bytes.Split([]byte(strings.TrimSuffix(out, "\n")), []byte("\n")) {
		// stdout carries only results: every line must be EMF.
		l := parseEMF(t, string(raw))
		require.Equal(t, id, l.ExportID, "one export ran, so every line is about it: %s", raw)
		require.False(t, l.Timestamp.Before(started.Add(-time.Second)) || l.Timestamp.After(ended.Add(time.Second)),
			"timestamp %s outside the run [%s, %s]", l.Timestamp, started, ended)
		if _, ok := l.Values["ItemsExported"]; !ok {
			// A continuation line: only PartCommitLatency.
			require.Equal(t, []string{"PartCommitLatency"}, keys(l.Values), "continuation line: %s", raw)
			latencies += len(l.Values["PartCommitLatency"])
			continue
		}
		lines++
		require.Contains(t, l.DimSets, []string{"ExportId"}, "published per export")
		require.Contains(t, l.DimSets, []string{}, "and fleet-wide")
		for _, m := range []string{"ItemsExported", "BytesExported", "ReadUnitsConsumed", "Throttles", "SegmentsClaimed", "SegmentsDone", "SegmentsFailed", "LeaseLosses"} {
			v, ok := l.Values[m]
			require.True(t, ok, "%s missing: %s", m, raw)
			require.Len(t, v, 1, "%s is one number", m)
			require.GreaterOrEqual(t, v[0], 0.0, "%s is a count", m)
			sum[m] += v[0]
		}
		require.Equal(t, "Count", l.Units["ItemsExported"])
		require.Equal(t, "Bytes", l.Units["BytesExported"])
		latencies += len(l.Values["PartCommitLatency"])
		if c, ok := l.Values["ReadCapacityCap"]; ok {
			require.Equal(t, "Count/Second", l.Units["ReadCapacityCap"])
			caps = append(caps, c...)
		}
	}
	t.Logf("%d EMF lines (and %d commit latencies) over %s: %v", lines, latencies, ended.Sub(started).Round(time.Second), sum)
	require.Greater(t, lines, 1, "a 1 s interval over a run of several seconds prints more than one line")
	require.EqualValues(t, items, sum["ItemsExported"], "ItemsExported sums to the table's items (no retries here)")
	require.EqualValues(t, st["bytes"], sum["BytesExported"], "BytesExported sums to the bytes the export committed")
	require.GreaterOrEqual(t, latencies, segments, "a commit latency for every commit, at least one per segment")
	require.GreaterOrEqual(t, sum["SegmentsClaimed"], float64(segments))
	require.EqualValues(t, segments, sum["SegmentsDone"])
	require.EqualValues(t, 0, sum["SegmentsFailed"])
	require.EqualValues(t, 0, sum["LeaseLosses"])
	require.Greater(t, sum["ReadUnitsConsumed"], 0.0)
	require.NotEmpty(t, caps, "a capped export publishes its cap")
	for _, c := range caps {
		require.EqualValues(t, 20, c)
	}
}

func keys(m map[string][]float64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
