//go:build e2e

package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/internal/testkit/fleet"
	"go.uber.org/zap/zaptest"
)

// advancingJob is a fake Source whose one export moves forward a step each
// time the test calls advance: segments go PENDING → RUNNING → DONE in
// waves of eight, one fails and is retried, one loses its worker for a
// while, and the history grows by three minutes of samples per step. The
// last step is COMPLETED with a manifest summary. Its clock is simulated,
// so every run shows the same numbers.
type advancingJob struct {
	mu       sync.Mutex
	step     int
	requests int // Job calls: the page's refreshes
}

const (
	e2eID          = "orders-2026-03-01"
	e2eSegments    = 64
	e2eConcurrency = 8
	e2eFinalStep   = e2eSegments / e2eConcurrency // every segment done
	e2eCap         = 1500.0
	e2eScreenshot  = 4 // the step a person sees in the README: half done, every state on screen
)

var e2eStart = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)

func (a *advancingJob) advance() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.step++
}

func (a *advancingJob) requestCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.requests
}

func (a *advancingJob) now() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return clockAt(a.step)
}

func samplesAt(step int) int { return 24 + 6*step }

func clockAt(step int) time.Time {
	return e2eStart.Add(time.Duration(samplesAt(step)-1)*30*time.Second + 5*time.Second)
}

// history is a throughput that wobbles like a real scan: items/s around
// 9,000, read units at 0.15 per item, held just under the cap by pacing.
func history(n int) []Sample {
	h := make([]Sample, n)
	var items, units float64
	for i := range n {
		if i > 0 {
			r := 9000 + 1800*math.Sin(float64(i)/4) + 600*math.Sin(float64(i)/1.7)
			items += r * 30
			units += math.Min(e2eCap*0.99, r*0.15) * 30
		}
		h[i] = Sample{Time: e2eStart.Add(time.Duration(i) * 30 * time.Second), Items: int64(items), ReadUnits: units}
	}
	return h
}

func detailAt(step int) JobDetail {
	hist := history(samplesAt(step))
	total := hist[len(hist)-1].Items
	final := history(samplesAt(e2eFinalStep))
	estimated := final[len(final)-1].Items
	done := min(e2eConcurrency*step, e2eSegments)
	running := min(e2eConcurrency, e2eSegments-done)

	d := JobDetail{Job: Job{
		ExportID: e2eID, Kind: "export", Table: "orders", State: StateRunning, StartTime: e2eStart,
		SegmentsTotal: e2eSegments, ItemCount: total, Bytes: total * 212, ReadCapacityCap: e2eCap,
		S3Bucket: "acme-exports", S3Prefix: "exports/orders/dt=2026-03-01", EstimatedItems: estimated,
	}, History: hist}
	for i := range e2eSegments {
		s := Segment{Segment: i, State: SegmentPending}
		per := estimated / e2eSegments
		switch {
		case i < done:
			s.State, s.Items, s.Attempts = SegmentDone, per+int64(i*7919%20000), 1
		case i < done+running:
			s.State, s.Items, s.Attempts, s.LeaseLive = SegmentRunning, per*int64(i%5+1)/6, 1, true
		}
		// Segment 13 is throttled to failure, then retried and done.
		if i == 13 && step >= 2 && step <= 5 {
			s.State, s.Attempts, s.LeaseLive = SegmentFailed, 5, false
			s.LastError = "scan segment 13/64 of table orders: ProvisionedThroughputExceededException: rate of requests exceeds the allowed throughput"
		}
		if i == 13 && step > 5 {
			s.Attempts = 6
		}
		// One worker died mid-segment: its lease runs out until a rescuer
		// hands the segment on.
		if (step == 3 || step == 4) && i == done+2 {
			s.LeaseLive = false
			s.Attempts = 1
		}
		d.Segments = append(d.Segments, s)
	}
	for _, s := range d.Segments {
		switch s.State {
		case SegmentDone:
			d.SegmentsDone++
		case SegmentFailed:
			d.SegmentsFailed++
		case SegmentRunning:
			if s.LeaseLive {
				d.SegmentsRunning++
			}
		}
	}
	if step >= e2eFinalStep {
		d.State, d.EndTime = StateCompleted, clockAt(step)
		d.ManifestSummaryKey = d.S3Prefix + "/AWSDynamoDB/" + e2eID + "/manifest-summary.json"
		summary, _ := json.Marshal(map[string]any{
			"version": "2020-06-30", "exportArn": "arn:aws:dynamodb:eu-west-1:123456789012:table/orders/export/" + e2eID,
			"startTime": e2eStart.Format("2006-01-02T15:04:05.000Z"), "endTime": d.EndTime.Format("2006-01-02T15:04:05.000Z"),
			"s3Bucket": d.S3Bucket, "s3Prefix": d.S3Prefix, "itemCount": d.ItemCount, "outputFormat": "DYNAMODB_JSON",
		})
		d.ManifestSummary = summary
	}
	return d
}

func (a *advancingJob) Jobs(context.Context) ([]Job, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return []Job{detailAt(a.step).Job}, nil
}

func (a *advancingJob) Job(_ context.Context, id string) (JobDetail, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests++
	if id != e2eID {
		return JobDetail{}, ErrNotFound
	}
	return detailAt(a.step), nil
}

// gridState is what the test reads back from the page.
const gridState = `(() => {
  const g = document.getElementById("segment-grid");
  const n = s => g.querySelectorAll('.cell[data-state="' + s + '"]').length;
  const line = document.querySelector("#chart-items polyline.series");
  const rcu = document.querySelector("#chart-rcu polyline.series");
  return JSON.stringify({
    done: n("DONE"), running: n("RUNNING"), failed: n("FAILED"), pending: n("PENDING"),
    expired: g.querySelectorAll('.cell[data-lease="expired"]').length,
    itemPoints: line ? +line.getAttribute("data-points") : 0,
    rcuPoints: rcu ? +rcu.getAttribute("data-points") : 0,
    countDone: document.getElementById("count-done").textContent,
    state: document.getElementById("state").getAttribute("data-state"),
  });
})()`

type pageState struct {
	Done, Running, Failed, Pending, Expired int
	ItemPoints, RcuPoints                   int
	CountDone, State                        string
}

func wantState(d JobDetail, now time.Time) pageState {
	v := newView(d, now)
	w := pageState{ItemPoints: len(v.Rates), RcuPoints: len(v.Rates), State: d.State, CountDone: fmt.Sprint(v.Counts.Done)}
	for _, s := range d.Segments {
		switch s.State {
		case SegmentDone:
			w.Done++
		case SegmentRunning:
			w.Running++
			if !s.LeaseLive {
				w.Expired++
			}
		case SegmentFailed:
			w.Failed++
		case SegmentPending:
			w.Pending++
		}
	}
	return w
}

func TestDashboardInBrowser(t *testing.T) {
	src := &advancingJob{}
	srv := httptest.NewServer(New(src, zaptest.NewLogger(t), src.now))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := fleet.NewBrowser(t, ctx)
	tab := b.Tab

	// The list page links to the job.
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#jobs tr[data-job-id="`+e2eID+`"]`)),
	))
	artifacts := fleet.ArtifactsDir(t)
	shot(t, tab, artifacts, "dashboard-list.png", false)
	require.NoError(t, chromedp.Do(tab,
		chromedp.Click(chromedp.CSS(`a[href="/jobs/`+e2eID+`"]`)),
		chromedp.WaitVisible(chromedp.ID("segment-grid")),
	))

	for step := 0; step <= e2eFinalStep; step++ {
		if step > 0 {
			src.advance()
		}
		want := wantState(detailAt(step), clockAt(step))
		// The page refreshes itself every 2 s; wait (bounded) until it
		// shows this step.
		_, err := chromedp.Run(tab, chromedp.Poll[chromedp.Void](fmt.Sprintf(
			`(() => { const s = JSON.parse(%s); return s.done === %d && s.running === %d && s.failed === %d && s.pending === %d && s.expired === %d && s.itemPoints === %d && s.rcuPoints === %d && s.countDone === %q && s.state === %q; })()`,
			strings.ReplaceAll(gridState, "\n", " "), want.Done, want.Running, want.Failed, want.Pending, want.Expired, want.ItemPoints, want.RcuPoints, want.CountDone, want.State),
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
		if err != nil {
			got, _ := chromedp.Run(tab, chromedp.Evaluate[string](gridState))
			t.Fatalf("step %d: page did not reach %+v within 15s; it shows %s (%v)", step, want, got, err)
		}
		if step == e2eScreenshot {
			shot(t, tab, artifacts, "dashboard-running.png", os.Getenv("DDBFLEET_UPDATE_SCREENSHOT") == "1")
		}
	}

	// COMPLETED: the manifest summary is shown and the page says it is final.
	_, err := chromedp.Run(tab, chromedp.Poll[chromedp.Void](
		`document.getElementById("job").getAttribute("data-terminal") === "true" && !document.getElementById("manifest").hidden && document.querySelectorAll("#manifest-fields dt").length >= 5 && document.getElementById("live").textContent === "final"`,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
	require.NoError(t, err, "completed job: manifest and final marker")
	outputFormat, err := chromedp.Run(tab, chromedp.Evaluate[string](
		`[...document.querySelectorAll("#manifest-fields dt")].find(e => e.textContent === "outputFormat").nextElementSibling.textContent`))
	require.NoError(t, err)
	require.Equal(t, "DYNAMODB_JSON", outputFormat)
	capLine, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.querySelector("#chart-rcu line.cap").getAttribute("data-cap")`))
	require.NoError(t, err)
	require.Equal(t, fmt.Sprint(e2eCap), capLine, "the read-units chart draws the cap")
	ended, err := chromedp.Run(tab, chromedp.Text(chromedp.ID("ended")))
	require.NoError(t, err)
	require.Equal(t, formatTime(clockAt(e2eFinalStep)), ended, "the refresh fills in the end time")
	shot(t, tab, artifacts, "dashboard-completed.png", false)

	// The page stops refreshing once the job is terminal. Something not
	// happening can only be watched for a bounded time: two refresh
	// periods and a margin.
	before := src.requestCount()
	select {
	case <-time.After(2*time.Second*2 + 500*time.Millisecond):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	require.Equal(t, before, src.requestCount(), "the page kept polling a finished job")

	// An unknown id in the browser is a readable 404, not a blank page.
	resp, err := http.Get(srv.URL + "/jobs/no-such-job")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 404, resp.StatusCode)

	require.Empty(t, b.Problems(), "the browser reported errors")
}

// shot saves a full-page PNG in dir and, with updateDocs, as the README's
// docs/img/dashboard.png.
func shot(t *testing.T, tab context.Context, dir, name string, updateDocs bool) {
	t.Helper()
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
	if updateDocs {
		root, err := filepath.Abs("../../..")
		require.NoError(t, err)
		_, err = os.Stat(filepath.Join(root, "go.mod"))
		require.NoError(t, err, "repository root not found from the package directory")
		docs := filepath.Join(root, "docs", "img", "dashboard.png")
		require.NoError(t, os.MkdirAll(filepath.Dir(docs), 0o755))
		require.NoError(t, os.WriteFile(docs, png, 0o644))
		t.Logf("README screenshot updated: %s", docs)
	}
}
