package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"time"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/dashboard"
)

// oneJob is the smallest Source: the coordinator's reads the control table.
type oneJob struct{ d dashboard.JobDetail }

func (s oneJob) Jobs(context.Context) ([]dashboard.Job, error) { return []dashboard.Job{s.d.Job}, nil }
func (s oneJob) Job(_ context.Context, id string) (dashboard.JobDetail, error) {
	if id != s.d.ExportID {
		return dashboard.JobDetail{}, dashboard.ErrNotFound
	}
	return s.d, nil
}

// The handler serves HTML pages and the JSON they refresh from; a job's
// JSON adds what the dashboard derives: counts by state, rates between
// history samples, elapsed time and the ETA.
func ExampleNew() {
	start := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	src := oneJob{dashboard.JobDetail{
		Job: dashboard.Job{ExportID: "orders-1", Kind: "export", Table: "orders", State: dashboard.StateRunning,
			StartTime: start, SegmentsTotal: 4, SegmentsDone: 1, ItemCount: 6000},
		Segments: []dashboard.Segment{
			{Segment: 0, State: dashboard.SegmentDone, Items: 3000, Attempts: 1},
			{Segment: 1, State: dashboard.SegmentRunning, Items: 3000, Attempts: 1, LeaseLive: true},
		},
		History: []dashboard.Sample{
			{Time: start, Items: 0, ReadUnits: 0},
			{Time: start.Add(time.Minute), Items: 6000, ReadUnits: 750},
		},
	}}
	// Cached shares one control-table read among every open page.
	h := dashboard.New(dashboard.Cached(src, 2*time.Second, nil), nil, func() time.Time { return start.Add(time.Minute) })
	srv := httptest.NewServer(h)
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/api/jobs/orders-1")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var v dashboard.JobView
	if err := json.Unmarshal(body, &v); err != nil {
		panic(err)
	}
	fmt.Printf("%s %s: %+v\n", v.ExportID, v.State, v.Counts)
	fmt.Printf("%.0f items/s, %.1f RCU/s, ETA %.0fs\n", v.Rates[0].ItemsPerSecond, v.Rates[0].ReadUnitsPerSecond, *v.ETASeconds)
	// Output:
	// orders-1 RUNNING: {Done:1 Running:1 LeaseExpired:0 Failed:0 Pending:2}
	// 100 items/s, 12.5 RCU/s, ETA 180s
}
