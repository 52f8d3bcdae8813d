package coordcli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/plan"
	"github.com/ddbfleet/ddbfleet/coordinator/internal/progress"
	"github.com/ddbfleet/ddbfleet/shared/datafile"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/fleetcli"
	"github.com/ddbfleet/ddbfleet/shared/lifecycle"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
	"github.com/ddbfleet/ddbfleet/shared/parquetfile"
	"github.com/ddbfleet/ddbfleet/shared/source"
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
			&cli.StringFlag{Name: "segments", Value: "auto", Usage: fmt.Sprintf("parallel scan segments: auto (one per GiB, at least %d and at least 2 × --fleet-slots) or 1 to %d", plan.MinAutoSegments, plan.MaxSegments)},
			fleetSlotsFlag,
			&cli.Float64Flag{Name: "read-capacity-cap", Usage: "fleet-wide read capacity units per second for this export (0: no cap)"},
			&cli.Float64Flag{Name: "read-capacity-fraction", Usage: "cap reads at this fraction (0–1] of a provisioned table's read capacity; with --read-capacity-cap too, the lower wins"},
			&cli.IntFlag{Name: "part-size-mib", Value: DefaultPartSizeMiB, Usage: "target compressed size of each data file"},
			&cli.Int64Flag{Name: "part-size-bytes", Hidden: true, Usage: "target data file size in bytes (tests); overrides --part-size-mib"},
			&cli.IntFlag{Name: "scan-page-size", Usage: "Scan Limit per page (0: the workers' --scan-page-size)"},
			&cli.StringFlag{Name: "format", Value: string(datafile.DynamoDBJSON), Usage: "data files: dynamodb-json ({\"Item\":…} lines, as the native export), json (plain objects) or parquet (a column per attribute, docs/parquet.md)"},
			&cli.StringFlag{Name: "compression", Usage: "data file compression: gzip (default), zstd or none; for parquet: snappy (default), zstd or none"},
			&cli.StringFlag{Name: "filter-expression", Usage: "Scan FilterExpression: export only the items it matches"},
			&cli.StringFlag{Name: "projection-expression", Usage: "Scan ProjectionExpression: export only these attributes"},
			&cli.StringFlag{Name: "expression-attribute-names", Usage: `JSON object of name placeholders, e.g. {"#s":"status"}`},
			&cli.StringFlag{Name: "expression-attribute-values", Usage: `JSON object of value placeholders in DynamoDB JSON, e.g. {":v":{"S":"paid"}}`},
			&cli.StringFlag{Name: "sse", Usage: "server-side encryption of every object: AES256 or aws:kms (default: the bucket's)"},
			&cli.StringFlag{Name: "sse-kms-key-id", Usage: "KMS key ARN or id for --sse aws:kms (default: the account's aws/s3 key)"},
			&cli.StringFlag{Name: "storage-class", Usage: "S3 storage class of every object (default STANDARD): " + strings.Join(objstore.StorageClasses(), ", ")},
			&cli.BoolFlag{Name: "wait", Usage: "stay until the export ends, showing progress; exit 0 only if it COMPLETED"},
			jsonFlag,
			leaseFlag,
		},
		Action: runExport,
	}
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
	td, err := source.Describe(ctx, e.clients.DynamoDB, args.table, e.clients.Region)
	if err != nil {
		return fleetcli.Failed(err)
	}
	now := time.Now().UTC()
	id, _ := plan.ExportID(args.exportID, now)
	prefix, err := plan.Prefix(args.prefixTmpl, args.table, id, now)
	if err != nil {
		return err
	}
	if err := e.checkBucket(ctx, args.bucket, (&export.Export{ExportID: id, Prefix: prefix}).Root()); err != nil {
		return err
	}
	life, err := e.lifecycle(ctx)
	if err != nil {
		return fleetcli.Failed(err)
	}
	rcuCap, err := readCap(args, td)
	if err != nil {
		return err
	}
	segments, err := plan.Segments(args.segments, aws.ToInt64(td.TableSizeBytes), c.Int("fleet-slots"))
	if err != nil {
		return err
	}
	exp := &export.Export{
		ExportID: id, Table: args.table, TableARN: aws.ToString(td.TableArn), TableID: aws.ToString(td.TableId),
		Bucket: args.bucket, Prefix: prefix, PrefixTemplate: args.prefixTmpl, SegmentsTotal: segments, StartTime: now, State: export.Pending,
		ArgsHash: plan.ArgsHash(append([]string{args.table, args.bucket, args.prefixTmpl, args.segments,
			strconv.FormatFloat(args.rcuCap, 'g', -1, 64), strconv.FormatInt(args.partSize, 10), strconv.Itoa(args.pageSize)},
			append(append(args.opts.fingerprint(), args.fractionFingerprint()...), slotsFingerprint(c.Int("fleet-slots"))...)...)...),
		ReadCapacityCap: rcuCap, ScanPageSize: args.pageSize, PartSizeBytes: args.partSize,
		BilledSizeBytes: aws.ToInt64(td.TableSizeBytes), EstimatedItems: aws.ToInt64(td.ItemCount),
		Format: args.opts.format, Compression: args.opts.compression,
		FilterExpression: args.opts.filter, ProjectionExpression: args.opts.projection,
		ExpressionAttributeNames: args.opts.names, ExpressionAttributeValues: args.opts.values,
		Objects: args.opts.objects,
	}
	if args.opts.scans() {
		if err := checkExpressions(ctx, e.clients.DynamoDB, exp); err != nil {
			return err
		}
	}
	if exp.Format == datafile.Parquet {
		if exp.ParquetSchema, err = parquetSchema(ctx, e.clients.DynamoDB, exp, td); err != nil {
			return fleetcli.Failed(err)
		}
	}
	exp, created, err := life.Start(ctx, exp)
	var conflict *lifecycle.ConflictError
	if errors.As(err, &conflict) {
		return fault.Invalidf("%s; choose another --export-id", conflict)
	}
	if err != nil {
		return fleetcli.Failed(err)
	}
	if !created {
		e.log.Info("export already recorded with the same arguments", zap.String("exportId", id), zap.String("state", string(exp.State)))
	}
	return report(c, e, life, exp)
}

// report is how a command that started a job ends: the job's id on
// stdout (or its status with --json), and with --wait the job followed to
// its end, exiting 0 only if it COMPLETED.
func report(c *cli.Context, e *env, life *lifecycle.Lifecycle, job *export.Export) error {
	id := job.ExportID
	if !c.Bool("wait") {
		if c.Bool("json") {
			return e.printJSON(newStatus(job, nil))
		}
		fmt.Fprintln(e.stdout, id)
		return nil
	}
	if !c.Bool("json") {
		fmt.Fprintln(e.stdout, id)
	}
	final, err := wait(c.Context, e, life, id, c.Duration("lease-duration"))
	if err != nil {
		return err
	}
	if c.Bool("json") {
		segs, _ := e.store.ListSegments(c.Context, id)
		if err := e.printJSON(newStatus(final, segs)); err != nil {
			return err
		}
	}
	if final.State != export.Completed {
		return fleetcli.Failedf("%s %s ended %s: %s", final.Kind.OrDefault(), id, final.State, final.LastError)
	}
	return nil
}

// checkExpressions lets DynamoDB judge the export's expressions before
// anything is recorded: one Scan of at most one item of segment 0, with
// exactly the input every worker will use. DynamoDB rejects a bad
// expression only when it is used, and a worker finding out would fail
// every segment instead of refusing the command.
func checkExpressions(ctx context.Context, api *dynamodb.Client, exp *export.Export) error {
	in := source.ScanInput(exp)
	in.Limit = aws.Int32(1)
	in.Segment, in.TotalSegments = aws.Int32(0), aws.Int32(int32(exp.SegmentsTotal))
	_, err := api.Scan(ctx, in)
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" {
		return fleetcli.Failedf("check the scan expressions on table %s: %w", exp.Table, err)
	}
	return fault.Invalidf("%s: DynamoDB rejected the scan expressions: %s", expressionFlag(ae.ErrorMessage()), ae.ErrorMessage())
}

// expressionFlag names the flag a DynamoDB validation message is about.
func expressionFlag(msg string) string {
	for _, f := range []struct{ word, flag string }{
		// "An expression attribute value used in expression is not
		// defined" blames a placeholder, whichever expression used it.
		{"expression attribute value", "--expression-attribute-values"},
		{"expression attribute name", "--expression-attribute-names"},
		{"FilterExpression", "--filter-expression"},
		{"ProjectionExpression", "--projection-expression"},
		{"ExpressionAttributeNames", "--expression-attribute-names"},
		{"ExpressionAttributeValues", "--expression-attribute-values"},
	} {
		if strings.Contains(msg, f.word) {
			return f.flag
		}
	}
	return "--filter-expression/--projection-expression"
}

// wait follows an export to its end. It reads the export's row each
// second (its counters) and, once a rescue period, the latest progress
// sample the export's steward recorded (items read but not yet committed),
// and it stands in as the steward while no worker is one, so stuck work is
// rescued even with no worker left. It never reads the segment rows while
// the export runs: at 10,000 segments, doing so every second would cost
// more than all the workers' heartbeats together.
func wait(ctx context.Context, e *env, life *lifecycle.Lifecycle, id string, lease time.Duration) (*export.Export, error) {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep := progress.New(os.Stderr, isTerminal(os.Stderr), e.log, 10*time.Second)
	// A steward's pass once a lease, like a worker's; progress samples
	// (one a minute) are looked at twice as often.
	period := max(time.Second, lease/2)
	owner := export.NewOwner(export.Process())
	var live export.Sample
	var lastLook, lastRescue time.Time
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		exp, err := e.store.GetExport(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fleetcli.Failedf("stopped waiting; export %s goes on (see `coordinator status --export-id %s`)", id, id)
			}
			e.log.Warn("cannot read export; still waiting", zap.Error(err))
		} else {
			if exp.State.Terminal() {
				rep.Done(snapshot(exp, export.Sample{})) // the counters are final
				return exp, nil
			}
			if time.Since(lastLook) >= period {
				lastLook = time.Now()
				if stewardDue := time.Since(lastRescue) >= lease; stewardDue {
					lastRescue = time.Now()
					if _, err := life.Steward(ctx, id, owner, lease, lease); err != nil && ctx.Err() == nil {
						e.log.Warn("rescue pass failed", zap.Error(err))
					}
				}
				if samples, err := e.store.ListSamples(ctx, id); err == nil && len(samples) > 0 {
					live = samples[len(samples)-1]
				}
			}
			rep.Update(snapshot(exp, live))
		}
		select {
		case <-ctx.Done():
			return nil, fleetcli.Failedf("stopped waiting; export %s goes on (see `coordinator status --export-id %s`)", id, id)
		case <-tick.C:
		}
	}
}

// snapshot is the progress line's view of an export: its counters (every
// finished segment), and the items the last sample saw read, committed or
// not (with large parts, commits are minutes apart).
func snapshot(exp *export.Export, live export.Sample) progress.Snapshot {
	return progress.Snapshot{
		State: string(exp.State), SegmentsDone: exp.SegmentsDone, SegmentsFailed: exp.SegmentsFailed,
		SegmentsTotal: exp.SegmentsTotal, EstimatedItems: exp.EstimatedItems,
		Items: max(exp.ItemCount, live.Items), Bytes: exp.Bytes,
	}
}

// readCap turns --read-capacity-cap and --read-capacity-fraction into the
// export's fleet-wide cap. A fraction needs a provisioned table: an
// on-demand table has no read capacity to take a fraction of.
func readCap(a exportArgs, td *types.TableDescription) (float64, error) {
	if a.rcuFraction == 0 {
		return a.rcuCap, nil
	}
	var provisioned int64
	if td.ProvisionedThroughput != nil {
		provisioned = aws.ToInt64(td.ProvisionedThroughput.ReadCapacityUnits)
	}
	onDemand := td.BillingModeSummary != nil && td.BillingModeSummary.BillingMode == types.BillingModePayPerRequest
	if onDemand || provisioned <= 0 {
		return 0, fault.Invalidf("--read-capacity-fraction: table %q is on-demand and has no provisioned read capacity; use --read-capacity-cap", a.table)
	}
	capacity := a.rcuFraction * float64(provisioned)
	if a.rcuCap > 0 {
		capacity = min(capacity, a.rcuCap)
	}
	return capacity, nil
}

// fractionFingerprint keeps the fingerprint of exports without a fraction
// unchanged.
func (a exportArgs) fractionFingerprint() []string {
	if a.rcuFraction == 0 {
		return nil
	}
	return []string{"fraction=" + strconv.FormatFloat(a.rcuFraction, 'g', -1, 64)}
}

// fleetSlotsFlag lets --segments auto plan for the fleet that will run the
// export: workers × --concurrency.
var fleetSlotsFlag = &cli.IntFlag{Name: "fleet-slots", Usage: "segments the fleet works on at once (workers × --concurrency), so --segments auto plans two waves (0: unknown)"}

// slotsFingerprint keeps the fingerprint of exports without --fleet-slots
// unchanged.
func slotsFingerprint(slots int) []string {
	if slots == 0 {
		return nil
	}
	return []string{"slots=" + strconv.Itoa(slots)}
}

// parquetSampleItems is how many items the Parquet schema is inferred from.
const parquetSampleItems = 1000

// parquetSchema infers the schema every worker of a Parquet export writes,
// from a sample of the table, once, before the export is recorded. Key
// attributes are typed columns unless the projection leaves them out of
// the sample; whatever does not fit later goes to _extra, so no value is
// lost.
func parquetSchema(ctx context.Context, api *dynamodb.Client, exp *export.Export, td *types.TableDescription) ([]byte, error) {
	sample, err := source.Sample(ctx, api, exp, parquetSampleItems)
	if err != nil {
		return nil, err
	}
	var keys []parquetfile.Key
	for _, k := range source.Keys(td) {
		name := aws.ToString(k.AttributeName)
		inAll := true
		for _, item := range sample {
			if _, ok := item[name]; !ok {
				inAll = false
				break
			}
		}
		if inAll && (len(sample) > 0 || exp.ProjectionExpression == "") {
			keys = append(keys, parquetfile.Key{Name: name, Type: k.AttributeType})
		}
	}
	schema, err := parquetfile.InferSchema(keys, sample, parquetfile.InferOptions{})
	if err != nil {
		return nil, fmt.Errorf("infer the Parquet schema of table %s: %w", exp.Table, err)
	}
	return schema.MarshalJSON()
}
