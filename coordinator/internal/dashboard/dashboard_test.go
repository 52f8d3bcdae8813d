package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeSource serves fixed jobs; err, when set, fails every call.
type fakeSource struct {
	mu    sync.Mutex
	jobs  map[string]JobDetail
	err   error
	calls int
}

var _ Source = (*fakeSource)(nil)

func (f *fakeSource) Jobs(context.Context) ([]Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	var out []Job
	for _, d := range f.jobs {
		out = append(out, d.Job)
	}
	// Deliberately not newest first: the dashboard must sort.
	sort.Slice(out, func(i, j int) bool { return out[i].ExportID < out[j].ExportID })
	return out, nil
}

func (f *fakeSource) Job(_ context.Context, id string) (JobDetail, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return JobDetail{}, f.err
	}
	d, ok := f.jobs[id]
	if !ok {
		return JobDetail{}, fmt.Errorf("get export %s: %w", id, ErrNotFound)
	}
	return d, nil
}

// running is an export half way: 2 done, 1 running, 1 with a dead
// worker, 1 failed, 3 pending of 8.
func running() JobDetail {
	return JobDetail{
		Job: Job{
			ExportID: "orders-20260301", Kind: "export", Table: "orders", State: StateRunning,
			StartTime: t0, SegmentsTotal: 8, SegmentsDone: 2, SegmentsFailed: 1, SegmentsRunning: 1,
			ItemCount: 5000, Bytes: 1_250_000, ReadCapacityCap: 400, S3Bucket: "acme-exports", S3Prefix: "exports/orders",
		},
		Segments: []Segment{
			{Segment: 4, State: SegmentFailed, Items: 10, Attempts: 5, LastError: "scan segment 4/8 of table orders: AccessDenied <b>"},
			{Segment: 0, State: SegmentDone, Items: 2000, Attempts: 1},
			{Segment: 1, State: SegmentDone, Items: 2500, Attempts: 2},
			{Segment: 2, State: SegmentRunning, Items: 400, Attempts: 1, LeaseLive: true},
			{Segment: 3, State: SegmentRunning, Items: 90, Attempts: 1, LeaseLive: false},
			{Segment: 5, State: SegmentPending},
			{Segment: 6, State: SegmentPending},
			{Segment: 7, State: SegmentPending},
		},
		History: []Sample{
			{Time: t0, Items: 0, ReadUnits: 0},
			{Time: t0.Add(2 * time.Minute), Items: 3000, ReadUnits: 24000},
			{Time: t0.Add(1 * time.Minute), Items: 1200, ReadUnits: 12000}, // out of order on purpose
			{Time: t0.Add(3 * time.Minute), Items: 5000, ReadUnits: 48000},
		},
	}
}

func completed() JobDetail {
	return JobDetail{
		Job: Job{
			ExportID: "customers-1", Kind: "export", Table: "customers", State: StateCompleted,
			StartTime: t0.Add(-2 * time.Hour), EndTime: t0.Add(-time.Hour), SegmentsTotal: 2, SegmentsDone: 2,
			ItemCount: 42, Bytes: 4096, S3Bucket: "acme-exports", S3Prefix: "p",
			ManifestSummaryKey: "p/AWSDynamoDB/customers-1/manifest-summary.json",
		},
		Segments: []Segment{{Segment: 0, State: SegmentDone, Items: 20, Attempts: 1}, {Segment: 1, State: SegmentDone, Items: 22, Attempts: 1}},
		History:  []Sample{{Time: t0.Add(-2 * time.Hour)}, {Time: t0.Add(-time.Hour), Items: 42, ReadUnits: 10}},
		ManifestSummary: json.RawMessage(`{"version":"2020-06-30","exportArn":"arn:aws:dynamodb:us-east-1:123456789012:table/customers/export/customers-1",` +
			`"itemCount":42,"outputFormat":"DYNAMODB_JSON","billedSizeBytes":9000}`),
	}
}

func newTestServer(t *testing.T, src Source) (*httptest.Server, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	srv := httptest.NewServer(New(src, zap.New(core), func() time.Time { return t0.Add(4 * time.Minute) }))
	t.Cleanup(srv.Close)
	return srv, logs
}

func fixture() *fakeSource {
	return &fakeSource{jobs: map[string]JobDetail{"orders-20260301": running(), "customers-1": completed()}}
}

func get(t *testing.T, srv *httptest.Server, method, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestHealthz(t *testing.T) {
	src := fixture()
	srv, _ := newTestServer(t, src)
	resp, body := get(t, srv, "GET", "/healthz")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "ok\n", body)
	require.Zero(t, src.calls, "a health check must not read the control table")
}

func TestListAPI(t *testing.T) {
	srv, _ := newTestServer(t, fixture())
	resp, body := get(t, srv, "GET", "/api/jobs")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))

	var raw []map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &raw))
	require.Len(t, raw, 2)
	require.Equal(t, "orders-20260301", raw[0]["exportId"], "newest first, like coordinator list")
	// The status --json field names, so scripts can read either.
	for _, k := range []string{"exportId", "kind", "table", "state", "startTime", "segmentsTotal", "segmentsDone",
		"segmentsFailed", "segmentsRunning", "itemCount", "bytes", "readCapacityCap", "manifestSummaryKey", "s3Bucket", "s3Prefix"} {
		require.Contains(t, raw[0], k)
	}
	require.NotContains(t, raw[0], "endTime", "a running job has no end time")
	require.Contains(t, raw[1], "endTime")
	require.NotContains(t, raw[0], "lastError")

	var jobs []Job
	require.NoError(t, json.Unmarshal([]byte(body), &jobs))
	require.Equal(t, running().Job, jobs[0], "the JSON round-trips to what the Source said")
}

func TestJobAPI(t *testing.T) {
	srv, _ := newTestServer(t, fixture())
	resp, body := get(t, srv, "GET", "/api/jobs/orders-20260301")
	require.Equal(t, 200, resp.StatusCode)

	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &raw))
	for _, k := range []string{"exportId", "segments", "history", "terminal", "counts", "elapsedSeconds", "etaSeconds", "rates", "observedAt"} {
		require.Contains(t, raw, k)
	}
	seg := raw["segments"].([]any)[4].(map[string]any) // the failed one: lastError is omitted when empty
	for _, k := range []string{"segment", "state", "items", "attempts", "lastError", "leaseLive"} {
		require.Contains(t, seg, k)
	}
	require.NotContains(t, raw, "manifestSummary", "only a COMPLETED job has one")

	var v JobView
	require.NoError(t, json.Unmarshal([]byte(body), &v))
	require.False(t, v.Terminal)
	require.Equal(t, Counts{Done: 2, Running: 1, LeaseExpired: 1, Failed: 1, Pending: 3}, v.Counts)
	for i, s := range v.Segments {
		require.Equal(t, i, s.Segment, "segments in order")
	}
	require.Equal(t, 240.0, v.ElapsedSeconds)
	// 3 of 8 segments settled... the ETA follows done segments: 240s for 2/8.
	require.NotNil(t, v.ETASeconds)
	require.InDelta(t, 720, *v.ETASeconds, 0.001)
	require.Len(t, v.Rates, 3, "four samples, three intervals, sorted by time")
	require.InDelta(t, 20, v.Rates[0].ItemsPerSecond, 1e-9)
	require.InDelta(t, 200, v.Rates[0].ReadUnitsPerSecond, 1e-9)
	require.InDelta(t, 30, v.Rates[1].ItemsPerSecond, 1e-9)
	require.InDelta(t, 400, v.Rates[2].ReadUnitsPerSecond, 1e-9)
}

func TestJobAPICompleted(t *testing.T) {
	srv, _ := newTestServer(t, fixture())
	_, body := get(t, srv, "GET", "/api/jobs/customers-1")
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &raw))
	require.Equal(t, true, raw["terminal"])
	require.NotContains(t, raw, "etaSeconds", "a finished job has no ETA")
	require.Equal(t, 3600.0, raw["elapsedSeconds"], "elapsed stops at the end time")
	ms := raw["manifestSummary"].(map[string]any)
	require.Equal(t, "DYNAMODB_JSON", ms["outputFormat"])
	require.Equal(t, 42.0, ms["itemCount"])
}

func TestUnknownID(t *testing.T) {
	srv, logs := newTestServer(t, fixture())
	resp, body := get(t, srv, "GET", "/api/jobs/nope-42")
	require.Equal(t, 404, resp.StatusCode)
	var e map[string]string
	require.NoError(t, json.Unmarshal([]byte(body), &e))
	require.Contains(t, e["error"], `no export or restore with id "nope-42"`)

	resp, body = get(t, srv, "GET", "/jobs/nope-42")
	require.Equal(t, 404, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	require.Contains(t, body, `no export or restore with id &#34;nope-42&#34;`)
	require.Zero(t, logs.FilterLevelExact(zap.ErrorLevel).Len(), "an unknown id is not a server error")
}

func TestSourceErrorIs500(t *testing.T) {
	src := fixture()
	src.err = errors.New("ResourceNotFoundException: control table missing")
	srv, logs := newTestServer(t, src)
	for _, path := range []string{"/", "/jobs/x", "/api/jobs", "/api/jobs/x"} {
		resp, body := get(t, srv, "GET", path)
		require.Equal(t, 500, resp.StatusCode, path)
		require.Contains(t, body, "control table missing", path)
	}
	require.Equal(t, 4, logs.FilterMessage("dashboard request failed").Len())
}

func TestOnlyGetAndHead(t *testing.T) {
	srv, _ := newTestServer(t, fixture())
	for _, path := range []string{"/", "/jobs/orders-20260301", "/api/jobs", "/api/jobs/orders-20260301", "/healthz", "/static/dashboard.js", "/nowhere"} {
		for _, m := range []string{"POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
			resp, body := get(t, srv, m, path)
			require.Equal(t, 405, resp.StatusCode, "%s %s", m, path)
			require.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
			require.Contains(t, body, "read-only")
		}
		resp, body := get(t, srv, "HEAD", path)
		if path == "/nowhere" {
			require.Equal(t, 404, resp.StatusCode)
			continue
		}
		require.Equal(t, 200, resp.StatusCode, "HEAD %s", path)
		require.Empty(t, body)
	}
}

func TestUnknownPathIs404(t *testing.T) {
	srv, _ := newTestServer(t, fixture())
	for _, p := range []string{"/nowhere", "/jobs/", "/api/jobs/a/b", "/static/missing.js"} {
		resp, _ := get(t, srv, "GET", p)
		require.Equal(t, 404, resp.StatusCode, p)
	}
}

func TestSecurityHeaders(t *testing.T) {
	srv, _ := newTestServer(t, fixture())
	resp, _ := get(t, srv, "GET", "/jobs/orders-20260301")
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
}

var cellRE = regexp.MustCompile(`<div class="cell"[^>]*data-segment="(\d+)" data-state="([A-Z]+)"(?: data-lease="(\w+)")? title="([^"]*)"`)

func TestJobPage(t *testing.T) {
	srv, _ := newTestServer(t, fixture())
	resp, body := get(t, srv, "GET", "/jobs/orders-20260301")
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, body, `id="segment-grid"`)
	require.Contains(t, body, `data-terminal="false"`)

	cells := cellRE.FindAllStringSubmatch(body, -1)
	require.Len(t, cells, 8)
	states := map[string]int{}
	for _, c := range cells {
		states[c[2]]++
	}
	require.Equal(t, map[string]int{"DONE": 2, "RUNNING": 2, "FAILED": 1, "PENDING": 3}, states)
	require.Equal(t, "expired", cells[3][3])
	require.Equal(t, "live", cells[2][3])
	require.Contains(t, cells[4][4], "5 attempts")
	require.Contains(t, cells[4][4], "last error: scan segment 4/8 of table orders: AccessDenied &lt;b&gt;", "errors are escaped")
	require.Contains(t, cells[1][4], "2,500 items")

	// The page shows what the API says.
	var v JobView
	_, api := get(t, srv, "GET", "/api/jobs/orders-20260301")
	require.NoError(t, json.Unmarshal([]byte(api), &v))
	for id, want := range map[string]string{
		"count-done": fmt.Sprint(v.Counts.Done), "count-running": fmt.Sprint(v.Counts.Running),
		"count-failed": fmt.Sprint(v.Counts.Failed), "count-pending": fmt.Sprint(v.Counts.Pending),
		"items": formatCount(v.ItemCount), "bytes": formatBytes(v.Bytes), "eta": formatDuration(*v.ETASeconds),
		"elapsed": formatDuration(v.ElapsedSeconds), "cap": "400 RCU/s",
	} {
		require.Contains(t, body, fmt.Sprintf(`id="%s">%s<`, id, want), id)
	}
	require.NotRegexp(t, `id="failures"[^>]*hidden`, body, "a failed segment shows the failures table")
	require.Regexp(t, `id="manifest"[^>]*hidden`, body, "no manifest while running")
	require.Contains(t, body, `<script src="/static/dashboard.js" defer></script>`)
	require.NotContains(t, body, "http://", "nothing loaded from elsewhere")
	require.NotContains(t, body, "https://")
}

func TestJobPageCompletedShowsManifest(t *testing.T) {
	srv, _ := newTestServer(t, fixture())
	_, body := get(t, srv, "GET", "/jobs/customers-1")
	require.Contains(t, body, `data-terminal="true"`)
	require.NotRegexp(t, `id="manifest"[^>]*hidden`, body)
	require.Contains(t, body, "<dt>outputFormat</dt><dd>DYNAMODB_JSON</dd>")
	require.Contains(t, body, "<dt>itemCount</dt><dd>42</dd>")
	// File order, not alphabetical.
	require.Less(t, strings.Index(body, "<dt>version</dt>"), strings.Index(body, "<dt>billedSizeBytes</dt>"))
	require.Contains(t, body, `id="eta">—<`)
}

func TestInvalidManifestSummaryIsDropped(t *testing.T) {
	d := completed()
	d.ManifestSummary = json.RawMessage(`{"version":`)
	srv, logs := newTestServer(t, &fakeSource{jobs: map[string]JobDetail{"customers-1": d}})
	resp, body := get(t, srv, "GET", "/api/jobs/customers-1")
	require.Equal(t, 200, resp.StatusCode)
	require.NotContains(t, body, `"manifestSummary":`)
	require.Equal(t, 1, logs.FilterMessage("manifest summary is not valid JSON; not shown").Len())
}

func TestListPage(t *testing.T) {
	src := fixture()
	evil := running()
	evil.ExportID, evil.Table, evil.StartTime = "x1", `<script>alert(1)</script>`, t0.Add(-time.Hour)
	src.jobs["x1"] = evil
	srv, _ := newTestServer(t, src)
	resp, body := get(t, srv, "GET", "/")
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, body, `data-running="true"`)
	require.Contains(t, body, `<a href="/jobs/orders-20260301">orders-20260301</a>`)
	require.NotContains(t, body, "<script>alert")
	rows := regexp.MustCompile(`<tr data-job-id="([^"]+)"`).FindAllStringSubmatch(body, -1)
	require.Len(t, rows, 3)
	require.Equal(t, []string{"orders-20260301", "x1", "customers-1"}, []string{rows[0][1], rows[1][1], rows[2][1]})
	require.Contains(t, body, "1h 00m", "a finished job's duration")
	require.Contains(t, body, "4m 00s", "a running job's elapsed time")
}

func TestListPageEmpty(t *testing.T) {
	srv, _ := newTestServer(t, &fakeSource{})
	_, body := get(t, srv, "GET", "/")
	require.Contains(t, body, "No exports or restores in the control table yet.")
	require.Contains(t, body, `data-running="false"`)
	_, api := get(t, srv, "GET", "/api/jobs")
	require.Equal(t, "[]\n", api, "an empty list is [], not null")
}

func TestStaticAssets(t *testing.T) {
	srv, _ := newTestServer(t, fixture())
	for path, ctype := range map[string]string{
		"/static/dashboard.js": "javascript", "/static/dashboard.css": "text/css", "/static/favicon.svg": "image/svg+xml",
	} {
		resp, body := get(t, srv, "GET", path)
		require.Equal(t, 200, resp.StatusCode, path)
		require.Contains(t, resp.Header.Get("Content-Type"), ctype, path)
		require.NotEmpty(t, body)
		require.NotContains(t, body, "https://", "%s must not load anything from the internet", path)
	}
}

func TestRates(t *testing.T) {
	require.Empty(t, rates(nil, 10))
	require.Empty(t, rates([]Sample{{Time: t0}}, 10))
	// A counter going down (a lost lease's uncommitted items) is 0, and two
	// samples at the same instant are skipped.
	r := rates([]Sample{{Time: t0, Items: 100}, {Time: t0.Add(10 * time.Second), Items: 50}, {Time: t0.Add(10 * time.Second), Items: 60}, {Time: t0.Add(20 * time.Second), Items: 160}}, 10)
	require.Len(t, r, 2)
	require.Equal(t, 0.0, r[0].ItemsPerSecond)
	require.Equal(t, 10.0, r[1].ItemsPerSecond)

	// A long history is thinned to the limit without losing the total.
	var h []Sample
	for i := range 1001 {
		h = append(h, Sample{Time: t0.Add(time.Duration(i) * time.Minute), Items: int64(i * 600), ReadUnits: float64(i) * 60})
	}
	for _, limit := range []int{2, 3, 240, 999, 1000, 5000} {
		r := rates(h, limit)
		require.LessOrEqual(t, len(r), limit, "limit %d", limit)
		require.Equal(t, h[len(h)-1].Time, r[len(r)-1].Time, "the last sample is always drawn")
		for _, x := range r {
			require.InDelta(t, 10, x.ItemsPerSecond, 1e-9)
			require.InDelta(t, 1, x.ReadUnitsPerSecond, 1e-9)
		}
	}
}

func TestCountsWithoutSegmentRows(t *testing.T) {
	// A job being planned has a total but no rows yet: all pending.
	require.Equal(t, Counts{Pending: 16}, countSegments(nil, 16))
}

func TestETAFromItemsWhenTableSizeKnown(t *testing.T) {
	d := running()
	d.EstimatedItems = 20000 // 5,000 of 20,000 in 240s: 720s to go
	d.Segments = d.Segments[1:3]
	v := newView(d, t0.Add(4*time.Minute))
	require.NotNil(t, v.ETASeconds)
	require.InDelta(t, 720, *v.ETASeconds, 0.001)

	d.EstimatedItems, d.ItemCount, d.Segments = 0, 0, nil
	require.Nil(t, newView(d, t0.Add(time.Minute)).ETASeconds, "nothing done yet: no ETA")
}

func TestFormatters(t *testing.T) {
	require.Equal(t, "0", formatCount(0))
	require.Equal(t, "999", formatCount(999))
	require.Equal(t, "1,000", formatCount(1000))
	require.Equal(t, "-1,234,567", formatCount(-1234567))
	require.Equal(t, "999 B", formatBytes(999))
	require.Equal(t, "1.2 MB", formatBytes(1_250_000))
	require.Equal(t, "3.0 TB", formatBytes(3e12))
	require.Equal(t, "59s", formatDuration(59.4))
	require.Equal(t, "3m 05s", formatDuration(185))
	require.Equal(t, "2h 07m", formatDuration(7620))
	require.Equal(t, "3d 04h", formatDuration(3*86400+4*3600+59))
	require.Equal(t, "uncapped", formatRCU(0))
}
