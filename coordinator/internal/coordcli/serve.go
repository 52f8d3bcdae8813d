package coordcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/dashboard"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/fleetcli"
	"github.com/ddbfleet/ddbfleet/shared/manifest"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "serve a read-only web dashboard of the jobs (HTML at /, JSON under /api/); loopback only unless --allow-remote",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: dashboard.DefaultAddr, Usage: "host:port to listen on"},
			&cli.BoolFlag{Name: "allow-remote", Usage: "listen on a non-loopback address (the dashboard has no login: put it behind something that has)"},
		},
		Action: func(c *cli.Context) error {
			e, err := newEnv(c)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			src := dashboard.Cached(&jobSource{e: e}, 2*time.Second, nil)
			if err := dashboard.Serve(ctx, c.String("addr"), dashboard.New(src, e.log, nil), e.log, c.Bool("allow-remote")); err != nil {
				if errors.Is(err, dashboard.ErrAddress) {
					return fault.Invalidf("--addr: %w", err) // exit 2, as for any bad flag value
				}
				return fleetcli.Failed(err)
			}
			return nil
		},
	}
}

// jobSource is the dashboard's view of the control table: read only.
type jobSource struct{ e *env }

var _ dashboard.Source = (*jobSource)(nil)

func (s *jobSource) Jobs(ctx context.Context) ([]dashboard.Job, error) {
	exps, err := s.e.store.ListExports(ctx)
	if err != nil {
		return nil, err
	}
	jobs := make([]dashboard.Job, len(exps))
	for i, x := range exps {
		jobs[i] = dashboardJob(x, nil, time.Now())
	}
	return jobs, nil
}

func (s *jobSource) Job(ctx context.Context, id string) (dashboard.JobDetail, error) {
	x, err := s.e.store.GetExport(ctx, id)
	if errors.Is(err, export.ErrNotFound) {
		return dashboard.JobDetail{}, fmt.Errorf("%w: %s", dashboard.ErrNotFound, id)
	}
	if err != nil {
		return dashboard.JobDetail{}, err
	}
	segs, err := s.e.store.ListSegments(ctx, id)
	if err != nil {
		return dashboard.JobDetail{}, err
	}
	hist, err := s.e.store.ListSamples(ctx, id)
	if err != nil {
		return dashboard.JobDetail{}, err
	}
	now := time.Now()
	d := dashboard.JobDetail{Job: dashboardJob(x, segs, now)}
	for _, seg := range segs {
		items := seg.ItemCount
		if seg.LeaseLive(now) && seg.LiveItems > items {
			items = seg.LiveItems
		}
		d.Segments = append(d.Segments, dashboard.Segment{Segment: seg.Segment, State: string(seg.State), Items: items,
			Attempts: seg.Attempt, LastError: seg.LastError, LeaseLive: seg.LeaseLive(now)})
	}
	for _, h := range hist {
		d.History = append(d.History, dashboard.Sample{Time: h.At, Items: h.Items, ReadUnits: h.ReadUnits})
	}
	if !x.State.Terminal() {
		// The live point: charts reach now, not the last whole minute.
		m := export.Measure(segs, now)
		d.History = append(d.History, dashboard.Sample{Time: m.At, Items: m.Items, ReadUnits: m.ReadUnits})
	}
	if x.State == export.Completed {
		if r, err := s.e.bucket(x.Bucket).Get(ctx, x.Root()+manifest.SummaryName); err == nil {
			d.ManifestSummary, _ = io.ReadAll(io.LimitReader(r, 1<<20))
			r.Close()
		}
	}
	return d, nil
}

func dashboardJob(x *export.Export, segs []*export.Segment, now time.Time) dashboard.Job {
	st := newStatus(x, segs)
	j := dashboard.Job{
		ExportID: x.ExportID, Kind: st.Kind, Table: x.Table, State: string(x.State), StartTime: x.StartTime, EndTime: x.EndTime,
		SegmentsTotal: x.SegmentsTotal, SegmentsDone: x.SegmentsDone, SegmentsFailed: x.SegmentsFailed, SegmentsRunning: st.SegmentsRunning,
		ItemCount: st.ItemCount, Bytes: st.Bytes, ReadCapacityCap: x.ReadCapacityCap, ManifestSummaryKey: x.ManifestSummaryKey,
		S3Bucket: x.Bucket, S3Prefix: x.Prefix, LastError: x.LastError, EstimatedItems: x.EstimatedItems,
	}
	if segs != nil && !x.State.Terminal() {
		j.ItemCount = export.Measure(segs, now).Items
	}
	return j
}
