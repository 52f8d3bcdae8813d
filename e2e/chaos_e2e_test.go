//go:build e2e

package e2e

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/internal/testkit/fleet"
)

var debugLogs = []string{"DDBFLEET_LOG_LEVEL=debug"}

// startSlowExport starts an export whose reads are capped, so tests have
// time to interfere with it; it returns the export id.
func startSlowExport(t *testing.T, f *fleet.Fleet, table string, segments int, rcu string) string {
	t.Helper()
	res := f.Coordinator("export", "--table", table, "--bucket", f.Bucket, "--segments", fmt.Sprint(segments),
		"--scan-page-size", "100", "--part-size-bytes", "12000", "--read-capacity-cap", rcu)
	require.Equal(t, 0, res.Code, res.Stderr)
	return strings.TrimSpace(res.Stdout)
}

// requireExact checks the finished export against the table and runs verify.
func requireExact(t *testing.T, f *fleet.Fleet, table, id string) *fleet.Export {
	t.Helper()
	e := f.ReadExport(exportRoot("", id))
	fleet.RequireSameItems(t, f.ScanTable(table), e)
	v := f.Coordinator("verify", "--export-id", id)
	require.Equal(t, 0, v.Code, v.Stdout+v.Stderr)
	return e
}

// resumed returns the "segment done" events of attempts that continued
// from a checkpoint instead of rescanning the segment.
func resumed(procs []*fleet.Proc) []map[string]any {
	var out []map[string]any
	for _, p := range procs {
		for _, ev := range p.Events("segment done") {
			if ev["resumedFromPart"].(float64) > 0 && ev["pagesThisAttempt"].(float64) < ev["pagesTotal"].(float64) {
				out = append(out, ev)
			}
		}
	}
	return out
}

func TestKillNineWorkersRepeatedly(t *testing.T) {
	f := fleet.NewFleet(t, "--max-receive-count", "100")
	table := f.CreateTable(8000)
	id := startSlowExport(t, f, table, 8, "40")
	args := []string{"--lease-duration", "4s", "--concurrency", "3"}
	var procs, live []*fleet.Proc
	start := func() {
		p := f.StartWorkerEnv(debugLogs, args...)
		procs = append(procs, p)
		live = append(live, p)
	}
	for range 3 {
		start()
	}
	// The first kill hits a worker right after it committed a part, mid
	// segment, so a checkpoint is certainly left behind to resume from;
	// the rest are random.
	live[0].WaitEvent(t, "part committed", time.Minute, nil)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills := 0
	deadline := time.Now().Add(4 * time.Minute)
	for f.StatusJSON(id, "--no-rescue")["state"] != "COMPLETED" {
		require.True(t, time.Now().Before(deadline), "export did not complete under repeated kill -9")
		if kills < 6 {
			i := 0
			if kills > 0 {
				i = rng.IntN(len(live))
			}
			require.NoError(t, live[i].Signal(syscall.SIGKILL))
			live[i].Wait(t, 10*time.Second)
			live = append(live[:i], live[i+1:]...)
			kills++
			start()
		}
		time.Sleep(time.Duration(1500+rng.IntN(2500)) * time.Millisecond)
	}
	t.Logf("export completed after %d kill -9s across %d worker processes", kills, len(procs))
	require.GreaterOrEqual(t, kills, 3)
	requireExact(t, f, table, id)
	require.NotEmpty(t, resumed(procs), "some segment resumed from its checkpoint instead of rescanning")
}

func TestZombieWorkerWritesAreRejected(t *testing.T) {
	f := fleet.NewFleet(t)
	table := f.CreateTable(3000)
	id := startSlowExport(t, f, table, 1, "12")
	zombie := f.StartWorkerEnv(debugLogs, "--lease-duration", "4s", "--concurrency", "1")
	zombie.WaitEvent(t, "part committed", time.Minute, nil)
	require.NoError(t, zombie.Signal(syscall.SIGSTOP))
	heir := f.StartWorkerEnv(debugLogs, "--lease-duration", "4s", "--concurrency", "1")
	claim := heir.WaitEvent(t, "segment claimed", time.Minute, nil)
	require.Greater(t, claim["attempt"].(float64), 1.0, "the heir took the segment over")
	takeoverPart := int(claim["nextPart"].(float64))
	require.Positive(t, takeoverPart, "the zombie had committed parts before it froze")
	require.NoError(t, zombie.Signal(syscall.SIGCONT))
	zombie.WaitEvent(t, "lost the segment's lease; abandoning this attempt", time.Minute, nil)
	f.WaitState(id, "COMPLETED", 3*time.Minute)
	e := requireExact(t, f, table, id)
	for _, mf := range e.Files {
		m := partKey.FindStringSubmatch(mf["dataFileS3Key"].(string))
		require.NotNil(t, m)
		var part, attempt int
		fmt.Sscan(m[2], &part)
		fmt.Sscan(m[3], &attempt)
		if attempt == 1 {
			require.Less(t, part, takeoverPart, "the zombie's parts after the takeover were rejected: %s", mf["dataFileS3Key"])
		}
	}
	require.NotEmpty(t, resumed([]*fleet.Proc{heir}), "the heir continued from the zombie's checkpoint")
}

var partKey = regexp.MustCompile(`/data/s(\d+)-(\d+)-a(\d+)\.json\.gz$`)

func TestDuplicateDeliveryMakesOneSetOfParts(t *testing.T) {
	f := fleet.NewFleet(t)
	table := f.CreateTable(2000)
	res := f.Coordinator("export", "--table", table, "--bucket", f.Bucket, "--segments", "6", "--scan-page-size", "100", "--part-size-bytes", "8000")
	require.Equal(t, 0, res.Code, res.Stderr)
	id := strings.TrimSpace(res.Stdout)
	for seg := range 6 {
		f.SendRaw(fmt.Sprintf(`{"exportId":%q,"segment":%d,"totalSegments":6}`, id, seg))
	}
	require.Equal(t, 12, f.QueueDepth(), "every segment message is in the queue twice")
	a := f.StartWorker("--exit-when-idle", "4s", "--concurrency", "4")
	b := f.StartWorker("--exit-when-idle", "4s", "--concurrency", "4")
	require.Equal(t, 0, a.Wait(t, 2*time.Minute))
	require.Equal(t, 0, b.Wait(t, 2*time.Minute))
	require.Equal(t, "COMPLETED", f.StatusJSON(id)["state"])
	e := requireExact(t, f, table, id)
	seen := map[string]bool{}
	for _, mf := range e.Files {
		m := partKey.FindStringSubmatch(mf["dataFileS3Key"].(string))
		require.NotNil(t, m, mf["dataFileS3Key"])
		require.False(t, seen[m[1]+"/"+m[2]], "segment %s part %s written twice", m[1], m[2])
		seen[m[1]+"/"+m[2]] = true
	}
	dropped := 0
	for _, p := range []*fleet.Proc{a, b} {
		dropped += len(p.Events("segment already settled; dropping duplicate message")) + len(p.Events("export no longer running; dropping message"))
	}
	require.GreaterOrEqual(t, dropped, 6, "each duplicate was recognised and dropped")
	require.Equal(t, 0, f.QueueDepth())
}

func TestSigtermDrainsWithinBudgetAndExportCompletes(t *testing.T) {
	f := fleet.NewFleet(t)
	table := f.CreateTable(3000)
	id := startSlowExport(t, f, table, 2, "20")
	// A long lease: only the explicit hand-back lets the next worker start
	// at once.
	w := f.StartWorkerEnv(debugLogs, "--lease-duration", "120s", "--drain-timeout", "5s")
	w.WaitEvent(t, "part committed", time.Minute, nil)
	t0 := time.Now()
	require.NoError(t, w.Signal(syscall.SIGTERM))
	require.Equal(t, 0, w.Wait(t, 10*time.Second), "drained worker exits 0")
	took := time.Since(t0)
	require.Less(t, took, 5*time.Second+time.Second, "exit within --drain-timeout")
	require.NotEmpty(t, w.Events("segment handed back at its last checkpoint"))
	t.Logf("SIGTERM to exit: %s", took)

	next := f.StartWorkerEnv(debugLogs, "--lease-duration", "120s", "--exit-when-idle", "4s")
	f.WaitState(id, "COMPLETED", 2*time.Minute)
	require.Equal(t, 0, next.Wait(t, time.Minute))
	requireExact(t, f, table, id)
	require.NotEmpty(t, resumed([]*fleet.Proc{next}), "the next worker continued from the drained checkpoint")
}

func TestTenPercentFaultsOnEveryService(t *testing.T) {
	f := fleet.NewFleet(t)
	table := f.CreateTable(3000)
	// From here on every binary — coordinator included — sees faults.
	f.ExtraEnv = []string{"DDBFLEET_TEST_FAULT_RATE=0.1"}
	for range 2 {
		f.StartWorker("--exit-when-idle", "6s", "--lease-duration", "10s")
	}
	res := f.Coordinator("export", "--table", table, "--bucket", f.Bucket, "--segments", "6",
		"--scan-page-size", "100", "--part-size-bytes", "8000", "--wait", "--lease-duration", "10s")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Contains(t, res.Stderr, "fault injection on")
	id := strings.TrimSpace(res.Stdout)
	f.ExtraEnv = nil
	requireExact(t, f, table, id)
}

func TestFailingSegmentFailsThenRetryCompletes(t *testing.T) {
	f := fleet.NewFleet(t, "--max-receive-count", "2")
	table := f.CreateTable(600)
	faulty := []string{"DDBFLEET_TEST_FAULT_SCAN_SEGMENT=2", "AWS_MAX_ATTEMPTS=2"}
	w := f.StartWorkerEnv(faulty, "--retry-budget", "1s", "--lease-duration", "4s")
	res := f.Coordinator("export", "--table", table, "--bucket", f.Bucket, "--segments", "4", "--wait", "--lease-duration", "4s")
	require.Equal(t, 1, res.Code, "--wait exits 1 on FAILED: %s", res.Stderr)
	require.Contains(t, res.Stderr, "FAILED")
	id := strings.TrimSpace(res.Stdout)
	st := f.StatusJSON(id)
	require.Equal(t, "FAILED", st["state"])
	require.EqualValues(t, 1, st["segmentsFailed"])
	require.EqualValues(t, 3, st["segmentsDone"])
	failed := st["failedSegments"].([]any)
	require.Len(t, failed, 1)
	require.EqualValues(t, 2, failed[0].(map[string]any)["segment"])
	require.Contains(t, failed[0].(map[string]any)["lastError"], "InternalServerError")
	require.Contains(t, st["lastError"], "segment 2")
	require.NoError(t, w.Signal(syscall.SIGKILL))

	// The fault is gone: retry resumes exactly the failed segment.
	f.StartWorker("--exit-when-idle", "5s", "--lease-duration", "4s")
	r := f.Coordinator("retry", "--export-id", id)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "1\n", r.Stdout, "one segment re-enqueued")
	f.WaitState(id, "COMPLETED", 2*time.Minute)
	requireExact(t, f, table, id)
}

func TestPoisonSegmentIsDeadLetteredThenRetried(t *testing.T) {
	f := fleet.NewFleet(t, "--max-receive-count", "2")
	table := f.CreateTable(600)
	res := f.Coordinator("export", "--table", table, "--bucket", f.Bucket, "--segments", "4")
	require.Equal(t, 0, res.Code, res.Stderr)
	id := strings.TrimSpace(res.Stdout)
	waiting := f.Background("export", "--table", table, "--bucket", f.Bucket, "--segments", "4", "--export-id", id, "--wait", "--lease-duration", "3s")
	_ = waiting
	crashy := []string{"DDBFLEET_TEST_FAULT_SCAN_SEGMENT=1", "DDBFLEET_TEST_FAULT_SCAN_MODE=crash"}
	// Like ECS, restart the worker whenever the poison segment kills it.
	var result fleet.Result
	crashes := 0
	var w *fleet.Proc
	for done := false; !done; {
		w = f.StartWorkerEnv(crashy, "--lease-duration", "3s", "--concurrency", "1")
		for !w.Exited() && !done {
			select {
			case result = <-waiting:
				done = true
			case <-time.After(200 * time.Millisecond):
			}
		}
		if w.Exited() {
			crashes++
		}
		require.Less(t, crashes, 20, "the poison segment never left the queue")
	}
	require.Equal(t, 1, result.Code, "--wait exits 1: %s", result.Stderr)
	require.GreaterOrEqual(t, crashes, 2)
	st := f.StatusJSON(id)
	require.Equal(t, "FAILED", st["state"])
	failed := st["failedSegments"].([]any)
	require.Len(t, failed, 1)
	require.EqualValues(t, 1, failed[0].(map[string]any)["segment"])
	require.Contains(t, failed[0].(map[string]any)["lastError"], "dead-letter queue")

	// Like ECS replacing a crashing task with a fixed one: the last
	// crash-injected worker must not take the retried segment.
	if !w.Exited() {
		require.NoError(t, w.Signal(syscall.SIGKILL))
		require.Eventually(t, w.Exited, 10*time.Second, 50*time.Millisecond)
	}
	f.StartWorker("--exit-when-idle", "5s", "--lease-duration", "3s")
	r := f.Coordinator("retry", "--export-id", id)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "1\n", r.Stdout)
	f.WaitState(id, "COMPLETED", 2*time.Minute)
	requireExact(t, f, table, id)
}
