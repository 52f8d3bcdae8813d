//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/internal/testkit/fleet"
)

// The scale test's shape: many segments of a few items each, so the cost
// it measures is the control plane's (claims, heartbeats, commits, rescue
// passes, settling), not the scan's.
const (
	scaleSegments    = 3000
	scaleItems       = 9000
	scaleWorkers     = 6
	scaleConcurrency = 8
	scaleLease       = "6s"
	// One segment in scaleSlowEvery has its Scan held scaleSlowDelay by
	// the proxy, like a large segment on a real table: it lives through
	// several heartbeats (one every lease/3), so what a heartbeat costs
	// shows in the counts.
	scaleSlowEvery = 25
	scaleSlowDelay = 10500 * time.Millisecond
)

// Bounds on what one export of scaleSegments segments may cost the
// control table, per segment, with the kills below. They are set from
// the measurements after the control plane became linear in segments
// (docs/performance.md, "Scale — real stack": 4.4 calls and 12 rows read
// per segment), with headroom for a loaded machine; before, the same run
// read 119–208 rows per segment.
const (
	// maxControlCallsPerSegment bounds every request to the control table
	// (all operations, all processes) divided by the segments.
	maxControlCallsPerSegment = 6.0
	// maxControlQueryScannedPerSegment bounds the rows the control table's
	// Queries read (ScannedCount: before any filter) divided by the
	// segments, plus maxControlQueryScannedPerSegmentSecond for each second
	// the export ran: the export's steward reads every segment row once a
	// lease (6 s here: 1/6 row per segment per second), and nothing else
	// reads them while the export runs. A heartbeat that read every segment
	// row would add one row per segment per heartbeat of the run; the test
	// checks there are more heartbeats than the headroom left.
	maxControlQueryScannedPerSegment       = 10.0
	maxControlQueryScannedPerSegmentSecond = 0.25
)

// maxControlOpCallsPerSegment bounds each control-table operation's calls
// per segment; an operation not listed here may not be called at all.
var maxControlOpCallsPerSegment = map[string]float64{
	"BatchWriteItem":     0.1,
	"DeleteItem":         0.01,
	"GetItem":            3,
	"PutItem":            0.1,
	"Query":              0.15,
	"TransactWriteItems": 1.5,
	"UpdateItem":         2,
}

// TestScaleThreeThousandSegmentsUnderKillNine exports a 3,000-segment table
// with six workers of concurrency 8 while four of them are killed with
// SIGKILL (two replaced, two not), checks the export item for item, and
// counts every call the fleet makes to the control table through a proxy,
// per operation and per segment, against the bounds above.
func TestScaleThreeThousandSegmentsUnderKillNine(t *testing.T) {
	f := fleet.NewFleet(t)
	t0 := time.Now()
	table := f.CreateTable(scaleItems)
	seeded := time.Since(t0)
	calls := f.CountCalls()
	calls.DynamoDB.Delay(fleet.SlowSegments(table, scaleSlowEvery, scaleSlowEvery/2, scaleSlowDelay))
	args := []string{"--concurrency", fmt.Sprint(scaleConcurrency), "--lease-duration", scaleLease}
	var live, all []*fleet.Proc
	start := func() {
		p := f.StartWorkerEnv(calls.Env("worker"), args...)
		live = append(live, p)
		all = append(all, p)
	}
	for range scaleWorkers {
		start()
	}
	exportStart := time.Now()
	exp := f.StartCoordinatorEnv(calls.Env("coordinator"), "export", "--table", table, "--bucket", f.Bucket,
		"--segments", fmt.Sprint(scaleSegments), "--wait", "--lease-duration", scaleLease)

	// Kill -9 at fixed points of progress (messages deleted ≈ segments
	// done): a replaced worker is ECS starting a new task, one not
	// replaced is the fleet shrinking; the rest must pick up the orphans.
	kills := []struct {
		at      float64 // fraction of segments done
		n       int     // workers killed at once
		replace int     // of those, how many are started again
	}{{0.2, 1, 1}, {0.45, 2, 1}, {0.7, 1, 0}}
	killed := 0
	for _, k := range kills {
		for float64(calls.SQS.Calls("DeleteMessage")) < k.at*scaleSegments {
			require.False(t, exp.Exited(), "export ended before %.0f%% of its segments were done:\n%s", k.at*100, exp.Log())
			time.Sleep(200 * time.Millisecond)
		}
		for range k.n {
			require.NoError(t, live[0].Signal(syscall.SIGKILL))
			live[0].Wait(t, 10*time.Second)
			live = live[1:]
			killed++
		}
		for range k.replace {
			start()
		}
	}
	code := exp.Wait(t, 5*time.Minute)
	exportTook := time.Since(exportStart)
	counts := calls.DynamoDB.Counts()
	queue := calls.SQS.Counts()
	require.Equal(t, 0, code, "export --wait: %s", tail(exp.Log(), 3000))
	id := strings.TrimSpace(exp.Stdout())

	st := f.StatusJSON(id)
	require.EqualValues(t, scaleSegments, st["segmentsDone"])
	require.EqualValues(t, scaleItems, st["itemCount"])
	e := requireExact(t, f, table, id)
	require.EqualValues(t, scaleItems, e.Summary["itemCount"])

	taken := 0
	for _, p := range all {
		for _, ev := range p.Events("segment claimed") {
			if ev["attempt"].(float64) > 1 {
				taken++
			}
		}
	}
	require.Positive(t, taken, "segments of killed workers were taken over by others")

	t.Logf("%d segments, %d items (seeded in %s), %d workers × %d, lease %s, %d killed with SIGKILL, %d segment attempts taken over; export %s, checks %s",
		scaleSegments, scaleItems, seeded.Round(100*time.Millisecond), scaleWorkers, scaleConcurrency, scaleLease, killed, taken,
		exportTook.Round(100*time.Millisecond), time.Since(exportStart.Add(exportTook)).Round(100*time.Millisecond))
	t.Log("\n" + callTable(counts, queue, f.ControlTable, table))

	isControl := func(k fleet.CallKey) bool { return k.Resource == f.ControlTable }
	control := counts.Where(isControl)
	byOp := counts.ByOp(isControl)
	perSeg := func(n int64) float64 { return float64(n) / scaleSegments }
	// Every bound is checked, so one run shows all that are broken.
	for _, op := range fleet.Ops(byOp) {
		bound, ok := maxControlOpCallsPerSegment[op]
		assert.True(t, ok, "the control table was sent %s, which no bound allows", op)
		assert.LessOrEqual(t, perSeg(byOp[op].Calls), bound, "control-table %s calls per segment", op)
	}
	assert.LessOrEqual(t, perSeg(control.Calls), maxControlCallsPerSegment, "control-table calls per segment")
	scanned := perSeg(byOp["Query"].ScannedCount)
	secs := exportTook.Seconds()
	bound := maxControlQueryScannedPerSegment + maxControlQueryScannedPerSegmentSecond*secs
	roleScanned := func(role string) float64 {
		return perSeg(counts.Where(func(k fleet.CallKey) bool { return isControl(k) && k.Role == role }).ScannedCount)
	}
	t.Logf("control table: %.2f requests per segment; Query read %.1f rows per segment (coordinator %.1f, workers %.1f), %.2f per segment per second of the export's %.0f s; bound %.0f",
		perSeg(control.Calls), scanned, roleScanned("coordinator"), roleScanned("worker"), scanned/secs, secs, bound)
	assert.LessOrEqual(t, scanned, bound, "control-table Query rows read per segment, in a %.0f s export", secs)
	// The bound must be able to catch a heartbeat that reads every segment
	// row: that would add one row per segment per heartbeat (each a
	// ChangeMessageVisibility), which must be more than the headroom left.
	heartbeats := queue.Where(func(k fleet.CallKey) bool { return k.Op == "ChangeMessageVisibility" && k.Role == "worker" }).Calls
	t.Logf("heartbeats ≈ %d: one full read of the segment rows each would add %d rows per segment; headroom under the bound %.0f",
		heartbeats, heartbeats, bound-scanned)
	require.Greater(t, float64(heartbeats), bound-scanned,
		"enough heartbeats that one full read of the segment rows each would break the bound on rows read")
}

// callTable prints the calls per operation, DynamoDB's split into the
// control table and the source table, then SQS: in all, per segment, by
// which process (the waiting coordinator, the workers), failed (status ≥
// 400), and what Query and Scan responses said they returned (items) and
// read (scanned), and the ConsumedCapacity of those that asked for it.
func callTable(ddb, sqs fleet.CallCounts, control, source string) string {
	var b strings.Builder
	perSeg := func(n int64) float64 { return float64(n) / scaleSegments }
	row := func(name string, v fleet.CallTally, coord, work int64) {
		fmt.Fprintf(&b, "  %-24s %7d %8.2f %7d %7d %6d %8d %8d %8.1f %7.1f\n",
			name, v.Calls, perSeg(v.Calls), coord, work, v.Errors, v.Count, v.ScannedCount, perSeg(v.ScannedCount), v.Capacity)
	}
	section := func(title string, counts fleet.CallCounts, keep func(fleet.CallKey) bool) {
		fmt.Fprintf(&b, "%s\n  %-24s %7s %8s %7s %7s %6s %8s %8s %8s %7s\n", title,
			"operation", "calls", "/segment", "coord", "workers", "errors", "items", "scanned", "scan/seg", "RCU")
		byOp := counts.ByOp(keep)
		role := func(r string) map[string]fleet.CallTally {
			return counts.ByOp(func(k fleet.CallKey) bool { return keep(k) && k.Role == r })
		}
		coord, work := role("coordinator"), role("worker")
		for _, op := range fleet.Ops(byOp) {
			row(op, byOp[op], coord[op].Calls, work[op].Calls)
		}
		all := func(r string) int64 {
			return counts.Where(func(k fleet.CallKey) bool { return keep(k) && k.Role == r }).Calls
		}
		row("total", counts.Where(keep), all("coordinator"), all("worker"))
	}
	section("control table "+control, ddb, func(k fleet.CallKey) bool { return k.Resource == control })
	section("source table "+source, ddb, func(k fleet.CallKey) bool { return k.Resource == source })
	if other := ddb.Where(func(k fleet.CallKey) bool { return k.Resource != control && k.Resource != source }); other.Calls > 0 {
		section("other DynamoDB calls", ddb, func(k fleet.CallKey) bool { return k.Resource != control && k.Resource != source })
	}
	section("SQS", sqs, func(fleet.CallKey) bool { return true })
	return b.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
