package coordcli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/plan"
	"github.com/ddbfleet/ddbfleet/coordinator/internal/progress"
	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/fleetcli"
	"github.com/ddbfleet/ddbfleet/shared/manifest"
	"github.com/ddbfleet/ddbfleet/shared/queue"
)

// DefaultPartSizeMiB is the target compressed size of a data file: large
// enough that ImportTable's 50,000-object limit covers a 6 TiB export,
// small enough that a crash loses little work.
const DefaultPartSizeMiB = 128

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:  "export",
		Usage: "plan an export, record it and enqueue one message per scan segment",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "table", Usage: "source DynamoDB table (required)"},
			&cli.StringFlag{Name: "bucket", Usage: "destination S3 bucket (required)"},
			&cli.StringFlag{Name: "prefix", Usage: "key prefix; may hold {table} {exportId} {yyyy} {mm} {dd} {hh}, resolved in UTC at start"},
			exportIDFlag,
			&cli.StringFlag{Name: "segments", Value: "auto", Usage: fmt.Sprintf("parallel scan segments: auto (one per GiB, at least %d) or 1 to %d", plan.MinAutoSegments, plan.MaxSegments)},
			&cli.Float64Flag{Name: "read-capacity-cap", Usage: "fleet-wide read capacity units per second for this export (0: no cap)"},
			&cli.IntFlag{Name: "part-size-mib", Value: DefaultPartSizeMiB, Usage: "target compressed size of each data file"},
			&cli.Int64Flag{Name: "part-size-bytes", Hidden: true, Usage: "target data file size in bytes (tests); overrides --part-size-mib"},
			&cli.IntFlag{Name: "scan-page-size", Usage: "Scan Limit per page (0: the workers' --scan-page-size)"},
			&cli.BoolFlag{Name: "wait", Usage: "stay until the export ends, showing progress; exit 0 only if it COMPLETED"},
			jsonFlag,
			leaseFlag,
		},
		Action: runExport,
	}
}

type exportArgs struct {
	table, bucket, prefixTmpl, exportID, segments string
	rcuCap                                        float64
	partSize                                      int64
	pageSize                                      int
}

func parseExportArgs(c *cli.Context) (exportArgs, error) {
	a := exportArgs{
		table: c.String("table"), bucket: c.String("bucket"), prefixTmpl: c.String("prefix"),
		exportID: c.String("export-id"), segments: c.String("segments"),
		rcuCap: c.Float64("read-capacity-cap"), pageSize: c.Int("scan-page-size"),
		partSize: int64(c.Int("part-size-mib")) << 20,
	}
	if c.IsSet("part-size-bytes") {
		a.partSize = c.Int64("part-size-bytes")
	}
	switch {
	case a.table == "":
		return a, fault.Invalidf("--table is required")
	case len(a.table) < 3 || len(a.table) > 255:
		return a, fault.Invalidf("--table %q: DynamoDB table names have 3 to 255 characters", a.table)
	case a.bucket == "":
		return a, fault.Invalidf("--bucket is required")
	case a.rcuCap < 0:
		return a, fault.Invalidf("--read-capacity-cap %v: must not be negative", a.rcuCap)
	case a.partSize < 1 || a.partSize > 5<<40:
		return a, fault.Invalidf("--part-size-mib %d: want 1 to 5242880", c.Int("part-size-mib"))
	case a.pageSize < 0:
		return a, fault.Invalidf("--scan-page-size %d: must not be negative", a.pageSize)
	}
	if a.segments != "auto" {
		if _, err := plan.Segments(a.segments, 0); err != nil {
			return a, err
		}
	}
	if c.Duration("lease-duration") < time.Second {
		return a, fault.Invalidf("--lease-duration %s: want at least 1s", c.Duration("lease-duration"))
	}
	// Validate the prefix template now, before any AWS call.
	if _, err := plan.Prefix(a.prefixTmpl, a.table, "x", time.Now()); err != nil {
		return a, err
	}
	if _, err := plan.ExportID(a.exportID, time.Now()); err != nil {
		return a, err
	}
	return a, nil
}

func runExport(c *cli.Context) error {
	args, err := parseExportArgs(c)
	if err != nil {
		return err
	}
	e, err := newEnv(c)
	if err != nil {
		return err
	}
	ctx := c.Context
	desc, err := e.clients.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &args.table})
	if err != nil {
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) {
			return fault.Invalidf("table %q not found in region %s", args.table, e.clients.Region)
		}
		return fleetcli.Failed("describe table %s: %s", args.table, err)
	}
	if err := e.checkBucket(ctx, args.bucket); err != nil {
		return err
	}
	work, _, err := e.queues(ctx)
	if err != nil {
		return fleetcli.Failed("%s", err)
	}
	td := desc.Table
	segments, err := plan.Segments(args.segments, aws.ToInt64(td.TableSizeBytes))
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	id, _ := plan.ExportID(args.exportID, now)
	prefix, err := plan.Prefix(args.prefixTmpl, args.table, id, now)
	if err != nil {
		return err
	}
	exp := &controltable.Export{
		ExportID: id, Table: args.table, TableARN: aws.ToString(td.TableArn), TableID: aws.ToString(td.TableId),
		Bucket: args.bucket, Prefix: prefix, SegmentsTotal: segments, StartTime: now, State: controltable.ExportPending,
		ArgsHash: plan.ArgsHash(args.table, args.bucket, args.prefixTmpl, args.segments,
			strconv.FormatFloat(args.rcuCap, 'g', -1, 64), strconv.FormatInt(args.partSize, 10), strconv.Itoa(args.pageSize)),
		ReadCapacityCap: args.rcuCap, ScanPageSize: args.pageSize, PartSizeBytes: args.partSize,
		BilledSizeBytes: aws.ToInt64(td.TableSizeBytes), EstimatedItems: aws.ToInt64(td.ItemCount),
	}
	log := e.log.With(zap.String("exportId", id))
	err = e.store.CreateExport(ctx, exp)
	if errors.Is(err, controltable.ErrExists) {
		prev, gerr := e.store.GetExport(ctx, id)
		if gerr != nil {
			return fleetcli.Failed("%s", gerr)
		}
		if prev.ArgsHash != exp.ArgsHash {
			return fault.Invalidf("export %q already exists with different arguments (table %s, bucket %s); choose another --export-id", id, prev.Table, prev.Bucket)
		}
		log.Info("export already recorded with the same arguments", zap.String("state", string(prev.State)))
		exp = prev
	} else if err != nil {
		return fleetcli.Failed("%s", err)
	}
	if exp.State == controltable.ExportPending {
		if err := start(ctx, e, work, exp, log); err != nil {
			return fleetcli.Failed("%s", err)
		}
		exp.State = controltable.ExportRunning
	}
	if !c.Bool("wait") {
		if c.Bool("json") {
			return e.printJSON(newStatus(exp, nil))
		}
		fmt.Fprintln(e.stdout, id)
		return nil
	}
	if !c.Bool("json") {
		fmt.Fprintln(e.stdout, id)
	}
	final, err := wait(ctx, e, work, id, c.Duration("lease-duration"))
	if err != nil {
		return err
	}
	if c.Bool("json") {
		segs, _ := e.store.ListSegments(ctx, id)
		if err := e.printJSON(newStatus(final, segs)); err != nil {
			return err
		}
	}
	if final.State != controltable.ExportCompleted {
		return fleetcli.Failed("export %s ended %s: %s", id, final.State, final.LastError)
	}
	return nil
}

// start writes _started, enqueues every segment and marks the export
// RUNNING. A crash half-way leaves it PENDING, and a re-run with the same
// --export-id finishes the job: duplicate messages are harmless because
// the control table decides who works on what.
func start(ctx context.Context, e *env, work *queue.Queue, exp *controltable.Export, log *zap.Logger) error {
	if _, err := e.bucket(exp.Bucket).Put(ctx, exp.ExportRoot()+manifest.StartedName, nil, ""); err != nil {
		return err
	}
	tasks := make([]queue.Task, exp.SegmentsTotal)
	for i := range tasks {
		tasks[i] = queue.Task{ExportID: exp.ExportID, Segment: i, TotalSegments: exp.SegmentsTotal}
	}
	if err := work.Send(ctx, tasks); err != nil {
		return err
	}
	if _, err := e.store.SetExportState(ctx, exp.ExportID, []controltable.ExportState{controltable.ExportPending}, controltable.ExportRunning, nil); err != nil {
		return err
	}
	log.Info("export started", zap.String("table", exp.Table), zap.Int("segments", exp.SegmentsTotal),
		zap.String("destination", fmt.Sprintf("s3://%s/%s", exp.Bucket, exp.ExportRoot())))
	// A tiny table may have finished while we were still PENDING.
	return e.lifecycle(work).Settle(ctx, exp.ExportID)
}

// wait follows an export to its end, rescuing stuck work on the way.
func wait(ctx context.Context, e *env, work *queue.Queue, id string, lease time.Duration) (*controltable.Export, error) {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	_, dlq, err := e.queues(ctx)
	if err != nil {
		return nil, fleetcli.Failed("%s", err)
	}
	life := e.lifecycle(work)
	rep := progress.New(os.Stderr, isTerminal(os.Stderr), e.log, 10*time.Second)
	rescueEvery := max(time.Second, lease/2)
	lastRescue := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		exp, err := e.store.GetExport(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fleetcli.Failed("stopped waiting; export %s goes on (see `coordinator status --export-id %s`)", id, id)
			}
			e.log.Warn("cannot read export; still waiting", zap.Error(err))
		} else {
			segs, _ := e.store.ListSegments(ctx, id)
			snap := snapshot(exp, segs)
			if exp.State.Terminal() {
				rep.Done(snap)
				return exp, nil
			}
			rep.Update(snap)
			if time.Since(lastRescue) >= rescueEvery {
				lastRescue = time.Now()
				if _, err := life.Rescue(ctx, id, lease, dlq); err != nil && ctx.Err() == nil {
					e.log.Warn("rescue pass failed", zap.Error(err))
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil, fleetcli.Failed("stopped waiting; export %s goes on (see `coordinator status --export-id %s`)", id, id)
		case <-tick.C:
		}
	}
}

func snapshot(exp *controltable.Export, segs []*controltable.Segment) progress.Snapshot {
	s := progress.Snapshot{
		State: string(exp.State), SegmentsDone: exp.SegmentsDone, SegmentsFailed: exp.SegmentsFailed,
		SegmentsTotal: exp.SegmentsTotal, EstimatedItems: exp.EstimatedItems,
	}
	for _, seg := range segs {
		s.Items += seg.ItemCount
		s.Bytes += seg.Bytes
	}
	return s
}
