package coordcli

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/verify"
	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/fleetcli"
	"github.com/ddbfleet/ddbfleet/shared/manifest"
	"github.com/ddbfleet/ddbfleet/shared/queue"
)

// status is the JSON shape of `status --json` (the contract names the
// first fields; the rest help an operator see why).
type status struct {
	ExportID           string          `json:"exportId"`
	Table              string          `json:"table"`
	State              string          `json:"state"`
	SegmentsTotal      int             `json:"segmentsTotal"`
	SegmentsDone       int             `json:"segmentsDone"`
	SegmentsFailed     int             `json:"segmentsFailed"`
	SegmentsRunning    int             `json:"segmentsRunning"`
	ItemCount          int64           `json:"itemCount"`
	Bytes              int64           `json:"bytes"`
	ReadCapacityCap    float64         `json:"readCapacityCap"`
	ManifestSummaryKey string          `json:"manifestSummaryKey"`
	S3Bucket           string          `json:"s3Bucket"`
	S3Prefix           string          `json:"s3Prefix"`
	ExportRoot         string          `json:"exportRoot"`
	StartTime          string          `json:"startTime"`
	EndTime            string          `json:"endTime,omitempty"`
	LastError          string          `json:"lastError,omitempty"`
	FailedSegments     []failedSegment `json:"failedSegments,omitempty"`
}

type failedSegment struct {
	Segment   int    `json:"segment"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"lastError"`
}

func newStatus(e *controltable.Export, segs []*controltable.Segment) status {
	s := status{
		ExportID: e.ExportID, Table: e.Table, State: string(e.State), SegmentsTotal: e.SegmentsTotal,
		SegmentsDone: e.SegmentsDone, SegmentsFailed: e.SegmentsFailed, ItemCount: e.ItemCount, Bytes: e.Bytes,
		ReadCapacityCap:    e.ReadCapacityCap,
		ManifestSummaryKey: e.ManifestSummaryKey, S3Bucket: e.Bucket, S3Prefix: e.Prefix,
		ExportRoot: fmt.Sprintf("s3://%s/%s", e.Bucket, e.ExportRoot()),
		StartTime:  manifest.FormatTime(e.StartTime), LastError: e.LastError,
	}
	if !e.EndTime.IsZero() {
		s.EndTime = manifest.FormatTime(e.EndTime)
	}
	if segs != nil && !e.State.Terminal() {
		// While running, count what is committed so far, not only what
		// finished segments reported.
		s.ItemCount, s.Bytes = 0, 0
	}
	now := time.Now()
	for _, seg := range segs {
		if !e.State.Terminal() {
			s.ItemCount += seg.ItemCount
			s.Bytes += seg.Bytes
		}
		switch {
		case seg.State == controltable.SegmentRunning && seg.LeaseExpiry.After(now):
			s.SegmentsRunning++
		case seg.State == controltable.SegmentFailed:
			s.FailedSegments = append(s.FailedSegments, failedSegment{Segment: seg.Segment, Attempts: seg.Attempt, LastError: seg.LastError})
		}
	}
	return s
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show one export's state (and hand back work whose worker died)",
		Flags: []cli.Flag{exportIDFlag, jsonFlag, leaseFlag,
			&cli.BoolFlag{Name: "no-rescue", Usage: "only read; do not re-enqueue stuck segments"}},
		Action: withExport(func(c *cli.Context, e *env, exp *controltable.Export) error {
			if !c.Bool("no-rescue") && !exp.State.Terminal() {
				if work, dlq, err := e.queues(c.Context); err == nil {
					if _, err := e.lifecycle(work).Rescue(c.Context, exp.ExportID, c.Duration("lease-duration"), dlq); err != nil {
						e.log.Warn("rescue pass failed", zap.Error(err))
					}
					if exp, err = e.store.GetExport(c.Context, exp.ExportID); err != nil {
						return fleetcli.Failed("%s", err)
					}
				}
			}
			segs, err := e.store.ListSegments(c.Context, exp.ExportID)
			if err != nil {
				return fleetcli.Failed("%s", err)
			}
			st := newStatus(exp, segs)
			if c.Bool("json") {
				return e.printJSON(st)
			}
			fmt.Fprintf(e.stdout, "export %s of table %s: %s\n", st.ExportID, st.Table, st.State)
			fmt.Fprintf(e.stdout, "  segments  %d done, %d running, %d failed, %d total\n", st.SegmentsDone, st.SegmentsRunning, st.SegmentsFailed, st.SegmentsTotal)
			fmt.Fprintf(e.stdout, "  items     %d (%d bytes compressed)\n", st.ItemCount, st.Bytes)
			fmt.Fprintf(e.stdout, "  location  %s\n", st.ExportRoot)
			if st.ManifestSummaryKey != "" {
				fmt.Fprintf(e.stdout, "  manifest  s3://%s/%s\n", st.S3Bucket, st.ManifestSummaryKey)
			}
			if st.LastError != "" {
				fmt.Fprintf(e.stdout, "  error     %s\n", st.LastError)
			}
			for _, f := range st.FailedSegments {
				fmt.Fprintf(e.stdout, "  segment %d failed after %d attempts: %s\n", f.Segment, f.Attempts, f.LastError)
			}
			return nil
		}),
	}
}

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "re-read every data file of a completed export and check it against the manifest and the control table",
		Flags: []cli.Flag{exportIDFlag, jsonFlag,
			&cli.IntFlag{Name: "concurrency", Value: 8, Usage: "files read at once"}},
		Action: withExport(func(c *cli.Context, e *env, exp *controltable.Export) error {
			if exp.State != controltable.ExportCompleted {
				return fleetcli.Failed("export %s is %s; only a COMPLETED export can be verified", exp.ExportID, exp.State)
			}
			parts, err := e.store.ListParts(c.Context, exp.ExportID)
			if err != nil {
				return fleetcli.Failed("%s", err)
			}
			rep, err := verify.Run(c.Context, exp, parts, e.bucket(exp.Bucket), c.Int("concurrency"))
			if err != nil {
				return fleetcli.Failed("verify %s: %s", exp.ExportID, err)
			}
			if c.Bool("json") {
				if err := e.printJSON(rep); err != nil {
					return err
				}
			} else {
				for _, p := range rep.Problems {
					fmt.Fprintf(e.stdout, "MISMATCH %s\n", p)
				}
				verdict := "OK"
				if !rep.OK {
					verdict = fmt.Sprintf("FAILED (%d problems)", len(rep.Problems))
				}
				fmt.Fprintf(e.stdout, "export %s: %d files, %d items, %d bytes re-read: %s\n", exp.ExportID, rep.Files, rep.Items, rep.Bytes, verdict)
			}
			if !rep.OK {
				return fleetcli.Failed("export %s does not verify: %d problems", exp.ExportID, len(rep.Problems))
			}
			return nil
		}),
	}
}

func retryCommand() *cli.Command {
	return &cli.Command{
		Name:  "retry",
		Usage: "re-enqueue the segments that failed (including those parked in the dead-letter queue); the export resumes",
		Flags: []cli.Flag{exportIDFlag, jsonFlag, leaseFlag},
		Action: withExport(func(c *cli.Context, e *env, exp *controltable.Export) error {
			ctx := c.Context
			switch exp.State {
			case controltable.ExportCompleted:
				e.log.Info("export already COMPLETED; nothing to retry", zap.String("exportId", exp.ExportID))
				return nil
			case controltable.ExportCancelled:
				return fleetcli.Failed("export %s was CANCELLED; start a new export instead", exp.ExportID)
			}
			work, dlq, err := e.queues(ctx)
			if err != nil {
				return fleetcli.Failed("%s", err)
			}
			life := e.lifecycle(work)
			// First turn dead-lettered work into FAILED segments (and drop
			// stale copies of segments already FAILED), so the reset below
			// picks them all up and the DLQ is left clean.
			if _, err := life.SweepDLQ(ctx, exp, dlq); err != nil {
				return fleetcli.Failed("%s", err)
			}
			if exp.State == controltable.ExportRunning {
				if _, err := life.Rescue(ctx, exp.ExportID, c.Duration("lease-duration"), dlq); err != nil {
					return fleetcli.Failed("%s", err)
				}
			}
			reset, err := e.store.ResetFailed(ctx, exp.ExportID)
			if err != nil {
				return fleetcli.Failed("%s", err)
			}
			tasks := make([]queue.Task, len(reset))
			for i, s := range reset {
				tasks[i] = queue.Task{ExportID: exp.ExportID, Segment: s, TotalSegments: exp.SegmentsTotal}
			}
			if err := work.Send(ctx, tasks); err != nil {
				return fleetcli.Failed("%s", err)
			}
			e.log.Info("re-enqueued failed segments", zap.String("exportId", exp.ExportID), zap.Ints("segments", reset))
			if c.Bool("json") {
				return e.printJSON(map[string]any{"exportId": exp.ExportID, "segmentsRequeued": reset})
			}
			fmt.Fprintf(e.stdout, "%d\n", len(reset))
			return nil
		}),
	}
}

func cancelCommand() *cli.Command {
	return &cli.Command{
		Name:  "cancel",
		Usage: "stop an export: workers abandon its segments, its data files are deleted and no manifest is written",
		Flags: []cli.Flag{exportIDFlag},
		Action: withExport(func(c *cli.Context, e *env, exp *controltable.Export) error {
			ctx := c.Context
			if exp.State == controltable.ExportCompleted || exp.State == controltable.ExportFinalizing {
				return fleetcli.Failed("export %s is %s; a finished export cannot be cancelled", exp.ExportID, exp.State)
			}
			if exp.State != controltable.ExportCancelled {
				ok, err := e.store.SetExportState(ctx, exp.ExportID,
					[]controltable.ExportState{controltable.ExportPending, controltable.ExportRunning, controltable.ExportFailed},
					controltable.ExportCancelled, nil)
				if err != nil {
					return fleetcli.Failed("%s", err)
				}
				if !ok {
					return fleetcli.Failed("export %s changed state while cancelling; run cancel again", exp.ExportID)
				}
			}
			// Workers' commits now fail the export-state check, and each
			// deletes its own rejected upload; this removes the rest.
			obj := e.bucket(exp.Bucket).With(exp.Objects)
			objs, err := obj.List(ctx, exp.DataPrefix())
			if err != nil {
				return fleetcli.Failed("%s", err)
			}
			keys := make([]string, len(objs))
			for i, o := range objs {
				keys[i] = o.Key
			}
			if err := obj.Delete(ctx, keys...); err != nil {
				return fleetcli.Failed("%s", err)
			}
			marker := fmt.Sprintf("cancelled at %s\n", manifest.FormatTime(time.Now()))
			if _, err := obj.Put(ctx, exp.ExportRoot()+manifest.CancelledName, []byte(marker), "text/plain"); err != nil {
				return fleetcli.Failed("%s", err)
			}
			e.log.Info("export cancelled", zap.String("exportId", exp.ExportID), zap.Int("dataFilesDeleted", len(keys)))
			return nil
		}),
	}
}

func rescueCommand() *cli.Command {
	return &cli.Command{
		Name:  "rescue",
		Usage: "hand back segments whose worker died, mark dead-lettered ones FAILED, and finalize an export nobody finalized",
		Flags: []cli.Flag{exportIDFlag, jsonFlag, leaseFlag},
		Action: withExport(func(c *cli.Context, e *env, exp *controltable.Export) error {
			work, dlq, err := e.queues(c.Context)
			if err != nil {
				return fleetcli.Failed("%s", err)
			}
			rep, err := e.lifecycle(work).Rescue(c.Context, exp.ExportID, c.Duration("lease-duration"), dlq)
			if err != nil {
				return fleetcli.Failed("%s", err)
			}
			if c.Bool("json") {
				return e.printJSON(rep)
			}
			fmt.Fprintf(e.stdout, "requeued %v parked %v\n", rep.Requeued, rep.Parked)
			return nil
		}),
	}
}
