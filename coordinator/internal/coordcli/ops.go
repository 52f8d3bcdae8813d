package coordcli

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/verify"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fleetcli"
	"github.com/ddbfleet/ddbfleet/shared/manifest"
)

// status is the JSON shape of `status --json` (the contract names the
// first fields; the rest help an operator see why).
type status struct {
	ExportID           string          `json:"exportId"`
	Kind               string          `json:"kind"`
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
	// Restores only: items written (ItemCount counts lines applied) and
	// items kept because the target held their key (--condition not-exists).
	ItemsWritten *int64 `json:"itemsWritten,omitempty"`
	ItemsKept    *int64 `json:"itemsKept,omitempty"`
	RestoreFrom  string `json:"restoreFrom,omitempty"`
}

type failedSegment struct {
	Segment   int    `json:"segment"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"lastError"`
}

func newStatus(e *export.Export, segs []*export.Segment) status {
	s := status{
		ExportID: e.ExportID, Kind: string(e.Kind.OrDefault()), Table: e.Table, State: string(e.State), SegmentsTotal: e.SegmentsTotal,
		SegmentsDone: e.SegmentsDone, SegmentsFailed: e.SegmentsFailed, ItemCount: e.ItemCount, Bytes: e.Bytes,
		ReadCapacityCap:    e.ReadCapacityCap,
		ManifestSummaryKey: e.ManifestSummaryKey, S3Bucket: e.Bucket, S3Prefix: e.Prefix,
		ExportRoot: fmt.Sprintf("s3://%s/%s", e.Bucket, e.Root()),
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
		case seg.State == export.SegmentRunning && seg.LeaseExpiry.After(now):
			s.SegmentsRunning++
		case seg.State == export.SegmentFailed:
			s.FailedSegments = append(s.FailedSegments, failedSegment{Segment: seg.Segment, Attempts: seg.Attempt, LastError: seg.LastError})
		}
	}
	if e.IsRestore() {
		kept, written := s.Bytes, s.ItemCount-s.Bytes
		s.ItemsKept, s.ItemsWritten = &kept, &written
		s.RestoreFrom = fmt.Sprintf("s3://%s/%s", e.Bucket, e.RestoreFrom)
		s.ExportRoot = s.RestoreFrom
	}
	return s
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show one export's state (and hand back work whose worker died)",
		Flags: []cli.Flag{exportIDFlag, jsonFlag, leaseFlag,
			&cli.BoolFlag{Name: "no-rescue", Usage: "only read; do not re-enqueue stuck segments"}},
		Action: withExport(func(c *cli.Context, e *env, exp *export.Export) error {
			if !c.Bool("no-rescue") && !exp.State.Terminal() {
				if life, err := e.lifecycle(c.Context); err == nil {
					if _, err := life.Rescue(c.Context, exp.ExportID, c.Duration("lease-duration")); err != nil {
						e.log.Warn("rescue pass failed", zap.Error(err))
					}
					if exp, err = e.store.GetExport(c.Context, exp.ExportID); err != nil {
						return fleetcli.Failed(err)
					}
				}
			}
			segs, err := e.store.ListSegments(c.Context, exp.ExportID)
			if err != nil {
				return fleetcli.Failed(err)
			}
			st := newStatus(exp, segs)
			if c.Bool("json") {
				return e.printJSON(st)
			}
			if exp.IsRestore() {
				fmt.Fprintf(e.stdout, "restore %s into table %s: %s\n", st.ExportID, st.Table, st.State)
				fmt.Fprintf(e.stdout, "  files     %d verified, %d done, %d running, %d failed\n", st.SegmentsTotal, st.SegmentsDone, st.SegmentsRunning, st.SegmentsFailed)
				fmt.Fprintf(e.stdout, "  items     %d written, %d kept (already in the table)\n", *st.ItemsWritten, *st.ItemsKept)
				fmt.Fprintf(e.stdout, "  from      %s\n", st.RestoreFrom)
				if st.LastError != "" {
					fmt.Fprintf(e.stdout, "  error     %s\n", st.LastError)
				}
				for _, f := range st.FailedSegments {
					fmt.Fprintf(e.stdout, "  file %d failed after %d attempts: %s\n", f.Segment, f.Attempts, f.LastError)
				}
				return nil
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
			&cli.IntFlag{Name: "concurrency", Value: 8, Usage: "files read at once"},
			&cli.IntFlag{Name: "sample", Value: 1000, Usage: "restores: random items per file re-read from the target table"},
			&cli.BoolFlag{Name: "all-items", Usage: "restores: re-read every item, not a sample"}},
		Action: withExport(func(c *cli.Context, e *env, exp *export.Export) error {
			if exp.State != export.Completed {
				return fleetcli.Failedf("export %s is %s; only a COMPLETED export can be verified", exp.ExportID, exp.State)
			}
			if exp.IsRestore() {
				return verifyRestore(c, e, exp)
			}
			parts, err := e.store.ListParts(c.Context, exp.ExportID)
			if err != nil {
				return fleetcli.Failed(err)
			}
			rep, err := verify.Run(c.Context, exp, parts, e.bucket(exp.Bucket), c.Int("concurrency"))
			if err != nil {
				return fleetcli.Failedf("verify %s: %w", exp.ExportID, err)
			}
			if c.Bool("json") {
				if err := e.printJSON(rep); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(e.stdout, "export %s: %d files, %d items, %d bytes re-read: %s\n", exp.ExportID, rep.Files, rep.Items, rep.Bytes, e.printProblems(rep.Problems))
			}
			if !rep.OK {
				return fleetcli.Failedf("export %s does not verify: %d problems", exp.ExportID, len(rep.Problems))
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
		Action: withExport(func(c *cli.Context, e *env, exp *export.Export) error {
			life, err := e.lifecycle(c.Context)
			if err != nil {
				return fleetcli.Failed(err)
			}
			reset, err := life.Retry(c.Context, exp.ExportID, c.Duration("lease-duration"))
			if err != nil {
				return fleetcli.Failed(err)
			}
			if exp.State == export.Completed {
				e.log.Info("export already COMPLETED; nothing to retry", zap.String("exportId", exp.ExportID))
				return nil
			}
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
		Action: withExport(func(c *cli.Context, e *env, exp *export.Export) error {
			life, err := e.lifecycle(c.Context)
			if err != nil {
				return fleetcli.Failed(err)
			}
			if _, err := life.Cancel(c.Context, exp.ExportID); err != nil {
				return fleetcli.Failedf("export %s: %w", exp.ExportID, err)
			}
			return nil
		}),
	}
}

func rescueCommand() *cli.Command {
	return &cli.Command{
		Name:  "rescue",
		Usage: "hand back segments whose worker died, mark dead-lettered ones FAILED, and finalize an export nobody finalized",
		Flags: []cli.Flag{exportIDFlag, jsonFlag, leaseFlag},
		Action: withExport(func(c *cli.Context, e *env, exp *export.Export) error {
			life, err := e.lifecycle(c.Context)
			if err != nil {
				return fleetcli.Failed(err)
			}
			rep, err := life.Rescue(c.Context, exp.ExportID, c.Duration("lease-duration"))
			if err != nil {
				return fleetcli.Failed(err)
			}
			if c.Bool("json") {
				return e.printJSON(rep)
			}
			fmt.Fprintf(e.stdout, "requeued %v parked %v\n", rep.Requeued, rep.Parked)
			return nil
		}),
	}
}

// printProblems prints each mismatch verify found, one line each, and
// returns the verdict for the summary line.
func (e *env) printProblems(problems []string) string {
	for _, p := range problems {
		fmt.Fprintf(e.stdout, "MISMATCH %s\n", p)
	}
	if len(problems) > 0 {
		return fmt.Sprintf("FAILED (%d problems)", len(problems))
	}
	return "OK"
}
