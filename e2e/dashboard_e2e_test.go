//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/internal/testkit/fleet"
)

// pageGrid reads back what the job page shows.
const pageGrid = `(() => {
  const g = document.getElementById("segment-grid");
  const n = s => g.querySelectorAll('.cell[data-state="' + s + '"]').length;
  const man = document.getElementById("manifest");
  const line = document.querySelector("#chart-items polyline.series");
  return JSON.stringify({
    cells: g.querySelectorAll(".cell").length,
    done: n("DONE"), running: n("RUNNING"), failed: n("FAILED"), pending: n("PENDING"),
    expired: g.querySelectorAll('.cell[data-lease="expired"]').length,
    state: document.getElementById("state").getAttribute("data-state"),
    terminal: document.getElementById("job").getAttribute("data-terminal") === "true",
    live: document.getElementById("live").textContent,
    manifest: !man.hidden,
    manifestFields: Object.fromEntries([...document.querySelectorAll("#manifest-fields dt")].map(e => [e.textContent, e.nextElementSibling.textContent])),
    itemPoints: line ? +line.getAttribute("data-points") : 0,
    lineVertices: line ? line.getAttribute("points").trim().split(/\s+/).length : 0,
    observed: document.getElementById("observed").textContent,
  });
})()`

type jobPage struct {
	Cells, Done, Running, Failed, Pending, Expired int
	State                                          string
	Terminal                                       bool
	Live                                           string
	Manifest                                       bool
	ManifestFields                                 map[string]string
	ItemPoints, LineVertices                       int
	Observed                                       string
}

// liveRunning is what status --json calls segmentsRunning: RUNNING with a
// live lease.
func (p jobPage) liveRunning() int { return p.Running - p.Expired }

func readPage(t *testing.T, b *fleet.Browser) jobPage {
	t.Helper()
	raw, err := chromedp.Run(b.Tab, chromedp.Evaluate[string](pageGrid))
	require.NoError(t, err)
	var p jobPage
	require.NoError(t, json.Unmarshal([]byte(raw), &p), raw)
	return p
}

// getJSON fetches one of the dashboard's API answers.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", url, body)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"), url)
	require.NoError(t, json.Unmarshal(body, v), "%s: %s", url, body)
}

// apiJob is the part of /api/jobs/{id} this test reads.
type apiJob struct {
	ExportID, Kind, State string
	SegmentsTotal         int
	Segments              []struct {
		Segment int
		State   string
		Items   int64
	}
	History         []struct{ Items int64 }
	Counts          struct{ Done, Running, LeaseExpired, Failed, Pending int }
	Terminal        bool
	ItemCount       int64
	ManifestSummary map[string]any
}

// statusAt is one `status --json` reading.
type statusAt struct {
	at            time.Time
	done, running int
	state         string
}

func TestDashboardFollowsALiveExportInABrowser(t *testing.T) {
	const items, segments, concurrency = 4000, 16, 2
	b := fleet.NewBrowser(t, context.Background()) // first: without a browser, nothing else is worth starting
	f := fleet.NewFleet(t)
	table := f.CreateTable(items)

	srv := f.StartCoordinator("serve", "--addr", "127.0.0.1:0")
	base := strings.TrimSuffix(srv.WaitEvent(t, "dashboard listening", time.Minute, nil)["url"].(string), "/")
	require.True(t, strings.HasPrefix(base, "http://127.0.0.1:"), "loopback by default: %s", base)
	t.Logf("dashboard at %s", base)

	// 16 segments of ~250 items held to 8 RCU/s in all: each takes a few
	// seconds, two at a time, so the grid fills in over half a minute.
	const id = "watched"
	res := f.Coordinator("export", "--table", table, "--bucket", f.Bucket, "--export-id", id,
		"--segments", fmt.Sprint(segments), "--read-capacity-cap", "8", "--scan-page-size", "25")
	require.Equal(t, 0, res.Code, res.Stderr)

	// Before any worker: the list links to the job, whose cells all wait.
	ctx, cancel := context.WithTimeout(b.Tab, 4*time.Minute)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#jobs tr[data-job-id="`+id+`"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/jobs/`+id+`"]`)),
		chromedp.WaitVisible(chromedp.ID("segment-grid")),
	))
	p := readPage(t, b)
	require.Equal(t, segments, p.Cells)
	require.Equal(t, segments, p.Pending, "no worker yet: %+v", p)
	require.Equal(t, "RUNNING", p.State)

	f.StartWorker("--concurrency", fmt.Sprint(concurrency), "--lease-duration", "9s", "--exit-when-idle", "5s")
	artifacts := fleet.ArtifactsDir(t)

	// Follow the run: each round waits for the page's next refresh (its
	// "as of" time changes), reads it, then reads status. The page shows
	// what the server read at most one refresh (2 s) plus one cache period
	// (2 s) ago, so it is compared with what status said within a window
	// of that age and a margin for a loaded machine.
	const window = 10 * time.Second
	var seen []statusAt
	status := func() statusAt {
		st := f.StatusJSON(id, "--no-rescue")
		s := statusAt{at: time.Now(), done: int(st["segmentsDone"].(float64)), running: int(st["segmentsRunning"].(float64)),
			state: st["state"].(string)}
		seen = append(seen, s)
		return s
	}
	status()
	doneSeen := map[int]bool{}
	lastDone, rounds, runningMatched, apiChecked, shotTaken := 0, 0, 0, false, false
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("export not COMPLETED on the page within 3 minutes; page %+v, status %+v", p, seen[len(seen)-1])
		}
		windowStart := time.Now().Add(-window)
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](
			fmt.Sprintf(`document.getElementById("observed").textContent !== %q`, p.Observed),
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
		require.NoError(t, err, "the page refreshes every 2 s")
		p = readPage(t, b)
		after := status()
		if p.State == "COMPLETED" {
			break
		}
		rounds++
		require.Equal(t, segments, p.Cells, "one cell per segment")
		require.Equal(t, segments, p.Done+p.Running+p.Failed+p.Pending, "every cell has a state: %+v", p)
		require.Zero(t, p.Failed, "nothing fails: %+v", p)
		require.LessOrEqual(t, p.Running, concurrency, "one worker runs at most --concurrency segments: %+v", p)
		require.GreaterOrEqual(t, p.Done, lastDone, "done cells never go back")
		lastDone = p.Done
		doneSeen[p.Done] = true
		// Done: between the least status said within the window and what
		// it says now; the page is never ahead of the control table.
		lo, hiRun, loRun := p.Done, 0, concurrency
		var prev statusAt
		for _, s := range seen {
			if s.at.After(windowStart) {
				lo, hiRun, loRun = min(lo, s.done), max(hiRun, s.running), min(loRun, s.running)
			}
		}
		if len(seen) >= 2 {
			prev = seen[len(seen)-2]
		}
		require.LessOrEqual(t, p.Done, after.done, "page ahead of status: %+v vs %+v", p, after)
		require.GreaterOrEqual(t, p.Done, lo, "page older than %s: %+v vs %+v", window, p, seen)
		// Running: one segment ends and the next is claimed within
		// moments, so a refresh may catch one fewer than status did.
		if p.Done < segments {
			require.True(t, p.liveRunning() >= loRun-1 && p.liveRunning() <= hiRun+1,
				"running cells %d, status said %d..%d within %s: %+v", p.liveRunning(), loRun, hiRun, window, p)
			if p.liveRunning() == prev.running || p.liveRunning() == after.running {
				runningMatched++
			}
		}
		if p.ItemPoints > 0 {
			require.GreaterOrEqual(t, p.LineVertices, 2, "the throughput line is drawn, even from one rate: %+v", p)
		}
		if !apiChecked && p.Done >= 1 && after.state == "RUNNING" {
			apiChecked = true
			var list []map[string]any
			getJSON(t, base+"/api/jobs", &list)
			require.Len(t, list, 1)
			require.Equal(t, id, list[0]["exportId"])
			require.Equal(t, "export", list[0]["kind"])
			require.Equal(t, table, list[0]["table"])
			require.EqualValues(t, segments, list[0]["segmentsTotal"])
			var j apiJob
			getJSON(t, base+"/api/jobs/"+id, &j)
			require.Equal(t, "RUNNING", j.State)
			require.False(t, j.Terminal)
			require.Len(t, j.Segments, segments)
			require.Equal(t, segments, j.Counts.Done+j.Counts.Running+j.Counts.LeaseExpired+j.Counts.Failed+j.Counts.Pending)
			// Samples are recorded once a minute; the live point makes
			// the chart reach now before the first one.
			require.NotEmpty(t, j.History, "a running job has at least the live point")
			require.Positive(t, j.History[len(j.History)-1].Items, "the live point counts what is read")
		}
		if !shotTaken && p.Done >= segments/2 {
			shotTaken = true
			b.Screenshot(t, artifacts, "dashboard-live-running.png")
		}
	}
	t.Logf("%d rounds; the page showed %d distinct done counts; running matched status in %d", rounds, len(doneSeen), runningMatched)
	require.True(t, apiChecked, "the API was read while the export ran")
	var partial int
	for n := range doneSeen {
		if n > 0 && n < segments {
			partial++
		}
	}
	require.GreaterOrEqual(t, partial, 4, "the grid filled in step by step, not at once: %v", doneSeen)
	require.Greater(t, runningMatched, rounds/2, "running cells agreed with status most of the time")

	// COMPLETED: the page says it is final and shows the manifest summary.
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](
		`document.getElementById("job").getAttribute("data-terminal") === "true" && !document.getElementById("manifest").hidden && document.getElementById("live").textContent === "final"`,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
	require.NoError(t, err, "completed job: manifest and final marker")
	p = readPage(t, b)
	require.Equal(t, segments, p.Done, "%+v", p)
	require.Equal(t, fmt.Sprint(items), strings.ReplaceAll(p.ManifestFields["itemCount"], ",", ""), "manifest summary itemCount: %v", p.ManifestFields)
	require.Equal(t, "DYNAMODB_JSON", p.ManifestFields["outputFormat"])
	require.Equal(t, f.Bucket, p.ManifestFields["s3Bucket"])
	require.Equal(t, "COMPLETED", f.StatusJSON(id)["state"])
	b.Screenshot(t, artifacts, "dashboard-live-completed.png")

	var j apiJob
	getJSON(t, base+"/api/jobs/"+id, &j)
	require.Equal(t, "COMPLETED", j.State)
	require.True(t, j.Terminal)
	require.Equal(t, segments, j.Counts.Done)
	require.EqualValues(t, items, j.ItemCount)
	require.EqualValues(t, items, j.ManifestSummary["itemCount"])
	var sum int64
	for _, s := range j.Segments {
		require.Equal(t, "DONE", s.State)
		sum += s.Items
	}
	require.EqualValues(t, items, sum, "the segments' items add up")

	// Served on loopback, it answers only to loopback names (DNS rebinding).
	req, err := http.NewRequest(http.MethodGet, base+"/api/jobs", nil)
	require.NoError(t, err)
	req.Host = "dashboard.attacker.example"
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode, "a foreign Host header is refused")

	require.Empty(t, b.Problems(), "the browser reported errors")

	// serve stops cleanly on SIGTERM.
	require.NoError(t, srv.Signal(syscall.SIGTERM))
	require.Equal(t, 0, srv.Wait(t, 15*time.Second), "serve exits 0 on SIGTERM")
}

func TestServeRefusesAddressesItMustNotListenOn(t *testing.T) {
	f := fleet.NewFleet(t)
	// The operator's input: exit 2, naming the flag and what to do.
	for addr, want := range map[string]string{"0.0.0.0:0": "--allow-remote", ":0": "--allow-remote", "[::]:0": "--allow-remote", "8080": "host:port"} {
		res := f.Coordinator("serve", "--addr", addr)
		require.Equal(t, 2, res.Code, "%s: %s", addr, res.Stderr)
		require.Contains(t, res.Stderr, "--addr", addr)
		require.Contains(t, res.Stderr, want, addr)
		require.Empty(t, res.Stdout, addr)
	}
	// A port someone else holds is a run-time failure: exit 1.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	res := f.Coordinator("serve", "--addr", ln.Addr().String())
	require.Equal(t, 1, res.Code, res.Stderr)
	require.Contains(t, res.Stderr, ln.Addr().String())
}
