//go:build e2e

package e2e

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/internal/testkit/fleet"
)

// listJSON runs `list --json args...` and decodes the array.
func listJSON(t *testing.T, f *fleet.Fleet, args ...string) []map[string]any {
	t.Helper()
	res := f.Coordinator(append([]string{"list", "--json"}, args...)...)
	require.Equal(t, 0, res.Code, res.Stderr)
	var jobs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &jobs), res.Stdout)
	require.NotNil(t, jobs, "an empty list is [], not null: %s", res.Stdout)
	return jobs
}

func ids(jobs []map[string]any) []string {
	out := []string{}
	for _, j := range jobs {
		out = append(out, j["exportId"].(string))
	}
	return out
}

func TestListShowsExportsInEveryState(t *testing.T) {
	f := fleet.NewFleet(t, "--max-receive-count", "2")
	orders := f.CreateTableNamed("orders", 300)
	users := f.CreateTableNamed("users", 200)

	// COMPLETED, by a worker that then leaves.
	w := f.StartWorker("--exit-when-idle", "3s", "--lease-duration", "4s")
	res := f.Coordinator("export", "--table", orders, "--bucket", f.Bucket, "--export-id", "l-completed", "--segments", "2", "--wait")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Equal(t, 0, w.Wait(t, time.Minute))

	// FAILED: segment 1 of every scan fails, for good after two deliveries.
	faulty := []string{"DDBFLEET_TEST_FAULT_SCAN_SEGMENT=1", "AWS_MAX_ATTEMPTS=2"}
	w = f.StartWorkerEnv(faulty, "--retry-budget", "1s", "--lease-duration", "4s")
	res = f.Coordinator("export", "--table", users, "--bucket", f.Bucket, "--export-id", "l-failed", "--segments", "2", "--wait", "--lease-duration", "4s")
	require.Equal(t, 1, res.Code, "--wait exits 1 on FAILED: %s", res.Stderr)
	require.NoError(t, w.Signal(syscall.SIGKILL))
	w.Wait(t, time.Minute)

	// CANCELLED, and RUNNING: no worker is left to take them up.
	res = f.Coordinator("export", "--table", orders, "--bucket", f.Bucket, "--export-id", "l-cancelled", "--segments", "3")
	require.Equal(t, 0, res.Code, res.Stderr)
	res = f.Coordinator("cancel", "--export-id", "l-cancelled")
	require.Equal(t, 0, res.Code, res.Stderr)
	res = f.Coordinator("export", "--table", users, "--bucket", f.Bucket, "--export-id", "l-running", "--segments", "4")
	require.Equal(t, 0, res.Code, res.Stderr)

	all := listJSON(t, f)
	require.Equal(t, []string{"l-running", "l-cancelled", "l-failed", "l-completed"}, ids(all), "newest first")
	wantState := map[string]string{"l-running": "RUNNING", "l-cancelled": "CANCELLED", "l-failed": "FAILED", "l-completed": "COMPLETED"}
	for _, j := range all {
		id := j["exportId"].(string)
		require.Equal(t, wantState[id], j["state"], id)
		require.Equal(t, "export", j["kind"], id)
		// Each entry is what `status --json` says of that export (read
		// only, so neither command changes what the other sees).
		require.Equal(t, f.StatusJSON(id, "--no-rescue"), j, "list entry of %s vs status --json", id)
	}
	require.EqualValues(t, 300, all[3]["itemCount"])
	require.EqualValues(t, 1, all[2]["segmentsFailed"])
	require.NotEmpty(t, all[2]["failedSegments"], "a failed export lists its failed segments")
	require.EqualValues(t, 4, all[0]["segmentsTotal"])
	require.EqualValues(t, 0, all[0]["segmentsDone"])

	// Filters, alone and together; the state in any case.
	require.Equal(t, []string{"l-completed"}, ids(listJSON(t, f, "--state", "COMPLETED")))
	require.Equal(t, []string{"l-failed"}, ids(listJSON(t, f, "--state", "failed")))
	require.Equal(t, []string{"l-running"}, ids(listJSON(t, f, "--state", "RUNNING")))
	require.Equal(t, []string{"l-cancelled", "l-completed"}, ids(listJSON(t, f, "--table", orders)))
	require.Equal(t, []string{"l-running", "l-failed"}, ids(listJSON(t, f, "--table", users)))
	require.Equal(t, []string{"l-cancelled"}, ids(listJSON(t, f, "--table", orders, "--state", "CANCELLED")))
	require.Empty(t, listJSON(t, f, "--table", users, "--state", "COMPLETED"))
	require.Empty(t, listJSON(t, f, "--table", "no-such-table"))
	require.Empty(t, listJSON(t, f, "--state", "PENDING"))

	// The text table: a header, then one row per job in the same order.
	res = f.Coordinator("list")
	require.Equal(t, 0, res.Code, res.Stderr)
	rows := strings.Split(strings.TrimSuffix(res.Stdout, "\n"), "\n")
	require.Len(t, rows, 5, res.Stdout)
	require.Equal(t, []string{"ID", "KIND", "TABLE", "STATE", "STARTED", "ENDED", "SEGMENTS", "FAILED", "ITEMS", "BYTES"}, strings.Fields(rows[0]))
	want := [][]string{
		{"l-running", "export", users, "RUNNING", "-", "0/4", "0", "0"},
		{"l-cancelled", "export", orders, "CANCELLED", "", "0/3", "0", "0"},
		{"l-failed", "export", users, "FAILED", "", "1/2", "1", ""},
		{"l-completed", "export", orders, "COMPLETED", "", "2/2", "0", "300"},
	}
	for i, w := range want {
		got := strings.Fields(rows[i+1])
		require.Len(t, got, 10, rows[i+1])
		require.Equal(t, w[:4], got[:4], rows[i+1])
		require.Equal(t, all[i]["startTime"], got[4], "STARTED")
		if w[4] == "-" {
			require.Equal(t, "-", got[5], "a running job has no end")
		} else {
			require.Equal(t, all[i]["endTime"], got[5], "ENDED")
		}
		require.Equal(t, w[5], got[6], "SEGMENTS done/total")
		require.Equal(t, w[6], got[7], "FAILED")
		if w[7] != "" {
			require.Equal(t, w[7], got[8], "ITEMS")
		}
	}
	res = f.Coordinator("list", "--table", orders, "--state", "COMPLETED")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Len(t, strings.Split(strings.TrimSuffix(res.Stdout, "\n"), "\n"), 2, "header and one row: %s", res.Stdout)

	// A state that does not exist is invalid input.
	res = f.Coordinator("list", "--state", "bogus")
	require.Equal(t, 2, res.Code, res.Stderr)
	require.Contains(t, res.Stderr, "--state")
	require.Contains(t, res.Stderr, "bogus")
	require.Empty(t, res.Stdout)
}
