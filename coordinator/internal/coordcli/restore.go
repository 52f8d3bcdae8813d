package coordcli

// restore: load an export (ddbfleet's or DynamoDB's native, DYNAMODB_JSON)
// into a table with the same fleet of workers. Everything is validated
// before anything is written: the layout, the manifests, every data file's
// MD5 and item count, and every item's key against the target's key schema.
//
// Key schema: neither native exports nor ddbfleet's record it, so
// --create-table-from-export describes the source table named by the
// summary's tableArn; when that table cannot be described (deleted, other
// account) the command refuses and asks for the table to be created first.

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/plan"
	"github.com/ddbfleet/ddbfleet/coordinator/internal/verify"
	"github.com/ddbfleet/ddbfleet/shared/datafile"
	"github.com/ddbfleet/ddbfleet/shared/ddbjson"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/fleetcli"
	"github.com/ddbfleet/ddbfleet/shared/manifest"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
	"github.com/ddbfleet/ddbfleet/shared/source"
)

func restoreCommand() *cli.Command {
	return &cli.Command{
		Name:  "restore",
		Usage: "load an export (ddbfleet's or DynamoDB's native, DYNAMODB_JSON) into a table with the worker fleet",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "the export's folder: s3://BUCKET/PREFIX/AWSDynamoDB/ID/"},
			&cli.StringFlag{Name: "table", Usage: "the target table"},
			&cli.BoolFlag{Name: "create-table-from-export", Usage: "create the target table with the source table's key schema, secondary indexes and billing mode, and wait until ACTIVE"},
			&cli.Float64Flag{Name: "write-capacity-cap", Usage: "fleet-wide write capacity units per second (0: no cap)"},
			&cli.StringFlag{Name: "condition", Value: string(export.Overwrite), Usage: "overwrite: replace items whose key exists; not-exists: keep them"},
			&cli.IntFlag{Name: "verify-concurrency", Value: 4, Usage: "data files checked at once before the restore starts"},
			&cli.BoolFlag{Name: "wait", Usage: "stay until the restore ends; exit 0 only if every item was written"},
			jsonFlag, leaseFlag,
		},
		Action: runRestore,
	}
}

var fromPattern = regexp.MustCompile(`^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/((?:[^/]+/)*?)AWSDynamoDB/([A-Za-z0-9._-]+)/?$`)

// ParseFrom splits --from into bucket and the export's root key prefix.
func ParseFrom(from string) (bucket, root string, err error) {
	m := fromPattern.FindStringSubmatch(from)
	if m == nil {
		return "", "", fault.Invalidf("--from %q: want s3://BUCKET/PREFIX/AWSDynamoDB/EXPORT_ID/ (the folder holding manifest-summary.json)", from)
	}
	return m[1], m[2] + "AWSDynamoDB/" + m[3] + "/", nil
}

// CheckSummary says whether an export's summary can be restored exactly.
func CheckSummary(s manifest.Summary, where string) error {
	if s.Version != manifest.Version {
		if s.Version == "2023-08-01" {
			return fault.Invalidf("%s is an incremental export (version %s); only full exports can be restored", where, s.Version)
		}
		return fault.Invalidf("%s: manifest version %q is not a full export (want %s)", where, s.Version, manifest.Version)
	}
	switch s.OutputFormat {
	case "DYNAMODB_JSON":
		return nil
	case "JSON":
		return fault.Invalidf("%s is a plain-JSON export: DynamoDB types are lost (numbers, binary and sets cannot be told from strings and lists), so it cannot be restored exactly; export again with the default format (DYNAMODB_JSON)", where)
	case "PARQUET":
		return fault.Invalidf("%s is a Parquet export: restoring Parquet is not supported yet; export with the default format (DYNAMODB_JSON)", where)
	}
	return fault.Invalidf("%s: output format %q cannot be restored (want DYNAMODB_JSON)", where, s.OutputFormat)
}

// keyAttr is one key attribute and its scalar type (S, N or B).
type keyAttr struct{ Name, Type string }

// keySchemaOf is the table's key attributes, hash key first (source.Keys).
func keySchemaOf(td *types.TableDescription) []keyAttr {
	var ks []keyAttr
	for _, k := range source.Keys(td) {
		ks = append(ks, keyAttr{Name: aws.ToString(k.AttributeName), Type: string(k.AttributeType)})
	}
	return ks
}

// indexKeysOf lists the attributes a table's secondary indexes are keyed
// on (its own keys aside): an item may lack them, but one that has them
// must give each its type and, for S and B, a non-empty value.
func indexKeysOf(td *types.TableDescription) []keyAttr {
	if td == nil {
		return nil
	}
	own := map[string]bool{}
	for _, k := range td.KeySchema {
		own[aws.ToString(k.AttributeName)] = true
	}
	var out []keyAttr
	for _, d := range td.AttributeDefinitions {
		if name := aws.ToString(d.AttributeName); !own[name] {
			out = append(out, keyAttr{Name: name, Type: string(d.AttributeType)})
		}
	}
	return out
}

// CheckIndexKeys reports whether item can be written to a table whose
// indexes are keyed on idx.
func CheckIndexKeys(item map[string]types.AttributeValue, idx []keyAttr) error {
	for _, k := range idx {
		v, ok := item[k.Name]
		if !ok {
			continue
		}
		if err := CheckItemKey(map[string]types.AttributeValue{k.Name: v}, []keyAttr{k}); err != nil {
			return fmt.Errorf("index key attribute %s: %v", k.Name, err)
		}
		switch t := v.(type) {
		case *types.AttributeValueMemberS:
			if t.Value == "" {
				return fmt.Errorf("index key attribute %s is an empty string, which an index key cannot be", k.Name)
			}
		case *types.AttributeValueMemberB:
			if len(t.Value) == 0 {
				return fmt.Errorf("index key attribute %s is empty binary, which an index key cannot be", k.Name)
			}
		}
	}
	return nil
}

func describeKeys(ks []keyAttr) string {
	var parts []string
	for _, k := range ks {
		parts = append(parts, k.Name+" ("+k.Type+")")
	}
	return strings.Join(parts, " + ")
}

// CheckItemKey reports whether item has every key attribute with its type.
func CheckItemKey(item map[string]types.AttributeValue, ks []keyAttr) error {
	for _, k := range ks {
		v, ok := item[k.Name]
		if !ok {
			return fmt.Errorf("has no key attribute %s", k.Name)
		}
		var t string
		switch v.(type) {
		case *types.AttributeValueMemberS:
			t = "S"
		case *types.AttributeValueMemberN:
			t = "N"
		case *types.AttributeValueMemberB:
			t = "B"
		default:
			t = "non-scalar"
		}
		if t != k.Type {
			return fmt.Errorf("key attribute %s is %s, the table wants %s", k.Name, t, k.Type)
		}
	}
	return nil
}

func describe(ctx context.Context, api *dynamodb.Client, table string) (*types.TableDescription, error) {
	out, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &table})
	var rnf *types.ResourceNotFoundException
	if errors.As(err, &rnf) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return out.Table, nil
}

func readSmall(ctx context.Context, obj *objstore.Store, key string) ([]byte, bool, error) {
	ok, err := obj.Exists(ctx, key)
	if err != nil || !ok {
		return nil, ok, err
	}
	r, err := obj.Get(ctx, key)
	if err != nil {
		return nil, true, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 256<<20))
	return b, true, err
}

func runRestore(c *cli.Context) error {
	bucket, root, err := ParseFrom(c.String("from"))
	if err != nil {
		return err
	}
	target := c.String("table")
	if target == "" {
		return fault.Invalidf("--table is required: the table to restore into")
	}
	cond, err := export.ParseCondition(c.String("condition"))
	if err != nil {
		return fault.Invalidf("%v", err)
	}
	wcu := c.Float64("write-capacity-cap")
	if wcu < 0 {
		return fault.Invalidf("--write-capacity-cap %g: must not be negative", wcu)
	}
	conc := c.Int("verify-concurrency")
	if conc < 1 || conc > 64 {
		return fault.Invalidf("--verify-concurrency %d: want 1 to 64", conc)
	}
	e, err := newEnv(c)
	if err != nil {
		return err
	}
	ctx := c.Context
	if err := e.checkBucket(ctx, bucket, root); err != nil {
		return err
	}
	obj := e.bucket(bucket)
	from := fmt.Sprintf("s3://%s/%s", bucket, root)

	raw, ok, err := readSmall(ctx, obj, root+manifest.SummaryName)
	if err != nil {
		return fleetcli.Failedf("read %s%s: %w", from, manifest.SummaryName, err)
	}
	if !ok {
		return fault.Invalidf("%s is not an export: no %s there (an unfinished or cancelled export has none)", from, manifest.SummaryName)
	}
	var sum manifest.Summary
	if err := json.Unmarshal(raw, &sum); err != nil {
		return fault.Invalidf("%s%s is not an export summary: %v", from, manifest.SummaryName, err)
	}
	if err := CheckSummary(sum, from); err != nil {
		return err
	}
	// An export copied to another bucket or prefix still names its
	// original keys: read everything relative to --from.
	filesKey := root + manifest.FilesName
	raw, ok, err = readSmall(ctx, obj, filesKey)
	if err != nil {
		return fleetcli.Failedf("read s3://%s/%s: %w", bucket, filesKey, err)
	}
	if !ok {
		return fault.Invalidf("%s is not a complete export: s3://%s/%s is missing", from, bucket, filesKey)
	}
	mfiles, err := manifest.ParseFiles(raw)
	if err != nil {
		return fault.Invalidf("s3://%s/%s: %v", bucket, filesKey, err)
	}
	for i := range mfiles {
		mfiles[i].DataFileS3Key = Rebase(mfiles[i].DataFileS3Key, root)
	}

	// The key schema: the target's, or (to create it) the source's.
	td, err := describe(ctx, e.clients.DynamoDB, target)
	if err != nil {
		return fleetcli.Failedf("describe table %s: %w", target, err)
	}
	create := c.Bool("create-table-from-export")
	var keys []keyAttr
	var source *types.TableDescription // what --create-table-from-export copies
	switch {
	case td != nil && create:
		return fault.Invalidf("table %s already exists: drop --create-table-from-export to restore into it (its key schema must match the export's)", target)
	case td == nil && !create:
		return fault.Invalidf("table %s does not exist: create it with the export's key schema, or pass --create-table-from-export", target)
	case td != nil:
		keys = keySchemaOf(td)
		if st, _ := describe(ctx, e.clients.DynamoDB, tableName(sum.TableARN)); st != nil && tableName(sum.TableARN) != target {
			if src := keySchemaOf(st); describeKeys(src) != describeKeys(keys) {
				return fault.Invalidf("key schema mismatch: table %s has key %s, the export's source %s has %s", target, describeKeys(keys), tableName(sum.TableARN), describeKeys(src))
			}
		}
	default:
		src := tableName(sum.TableARN)
		st, err := describe(ctx, e.clients.DynamoDB, src)
		if err != nil || st == nil {
			why := "it does not exist here"
			if err != nil {
				why = err.Error()
			}
			return fault.Invalidf("--create-table-from-export: the export does not record its key schema and its source table %q cannot be described (%s); create table %s with the source's key schema first, then restore without the flag", src, why, target)
		}
		keys, source = keySchemaOf(st), st
	}

	if err := fitsOneRow(mfiles); err != nil {
		return err
	}
	idx := indexKeysOf(td)
	if create {
		idx = indexKeysOf(source)
	}
	files, err := checkFiles(ctx, obj, bucket, mfiles, keys, idx, conc)
	if err != nil {
		return err
	}
	var items int64
	for _, f := range files {
		items += f.Items
	}
	e.log.Info("restore input verified", zap.String("from", from), zap.Int("files", len(files)), zap.Int64("items", items), zap.String("key", describeKeys(keys)))

	if create {
		in := createInput(target, source)
		if err := createTable(ctx, e.clients.DynamoDB, in); err != nil {
			return err
		}
		e.log.Info("table created", zap.String("table", target), zap.String("key", describeKeys(keys)), zap.String("billing", string(in.BillingMode)),
			zap.Int("globalIndexes", len(in.GlobalSecondaryIndexes)), zap.Int("localIndexes", len(in.LocalSecondaryIndexes)))
	}

	life, err := e.lifecycle(ctx)
	if err != nil {
		return fleetcli.Failed(err)
	}
	now := time.Now().UTC()
	id, _ := plan.ExportID("", now)
	job := &export.Export{
		ExportID: id, Kind: export.KindRestore, Table: target, Bucket: bucket, Prefix: strings.TrimSuffix(root, "/"),
		SegmentsTotal: len(files), StartTime: now, State: export.Pending, EstimatedItems: items,
		ArgsHash:    plan.ArgsHash("restore", from, target, string(cond), strconv.FormatFloat(wcu, 'g', -1, 64)),
		RestoreFrom: root, RestoreFiles: files, RestoreCondition: cond, WriteCapacityCap: wcu, HashKey: keys[0].Name, SortKey: sortKey(keys),
	}
	job, _, err = life.Start(ctx, job)
	if err != nil {
		return fleetcli.Failed(err)
	}
	return report(c, e, life, job)
}

func tableName(arn string) string {
	if i := strings.LastIndex(arn, ":table/"); i >= 0 {
		return arn[i+len(":table/"):]
	}
	return arn
}

// checkFiles reads every data file once (bounded concurrency), checking
// its MD5 and item count against the manifest and every item's key against
// the key schema. A bad file is named, exit 2.
func checkFiles(ctx context.Context, obj *objstore.Store, bucket string, mfiles []manifest.File, keys, idx []keyAttr, conc int) ([]export.RestoreFile, error) {
	files := make([]export.RestoreFile, len(mfiles))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for i, mf := range mfiles {
		g.Go(func() error {
			// A read cut short is retried; a bad file is not (Invalid).
			return fault.Retry(gctx, fault.DefaultPolicy, func(ctx context.Context) error {
				f, err := checkFile(ctx, obj, bucket, mf, keys, idx)
				files[i] = f
				return err
			})
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return files, nil
}

func checkFile(ctx context.Context, obj *objstore.Store, bucket string, mf manifest.File, keys, idx []keyAttr) (export.RestoreFile, error) {
	name := fmt.Sprintf("s3://%s/%s", bucket, mf.DataFileS3Key)
	f := export.RestoreFile{Key: mf.DataFileS3Key, Items: mf.ItemCount, MD5: mf.MD5Checksum, Compression: datafile.CompressionOf(mf.DataFileS3Key)}
	body, etag, err := obj.Open(ctx, mf.DataFileS3Key, "")
	f.ETag = etag
	if err != nil {
		if fault.Classify(err) == fault.KindPermanent {
			return f, fault.Invalidf("data file %s listed in the manifest cannot be read: %v", name, err)
		}
		return f, fleetcli.Failedf("read %s: %w", name, err)
	}
	defer body.Close()
	h := md5.New()
	cr := &countReader{r: io.TeeReader(body, h)}
	zr, err := datafile.NewReader(mf.DataFileS3Key, bufio.NewReader(cr))
	if err != nil {
		return f, fault.Invalidf("data file %s is corrupt: %v", name, err)
	}
	defer zr.Close()
	sc := datafile.NewLineScanner(zr)
	var n int64
	var bad error
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		n++
		if bad != nil {
			continue
		}
		item, err := ddbjson.DecodeItemLine(line)
		if err != nil {
			bad = fmt.Errorf("line %d is not a DynamoDB JSON item: %v", n, err)
			continue
		}
		if err := CheckItemKey(item, keys); err != nil {
			bad = fmt.Errorf("key schema mismatch: line %d %v (key %s)", n, err, describeKeys(keys))
		} else if err := CheckIndexKeys(item, idx); err != nil {
			bad = fmt.Errorf("line %d cannot be written to the table: %v", n, err)
		} else if size := ddbjson.ItemSize(item); size > 400<<10 {
			bad = fmt.Errorf("line %d holds an item of %d bytes, over DynamoDB's 400 KB limit", n, size)
		}
	}
	if cr.err != nil {
		// The connection failed, not the file.
		return f, fault.Retryable(fmt.Errorf("read %s: %w", name, cr.err))
	}
	if err := sc.Err(); err != nil {
		bad = errors.Join(bad, fmt.Errorf("cannot be decompressed: %v", err))
	}
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return f, fault.Retryable(fmt.Errorf("read %s: %w", name, err))
	}
	f.Bytes = cr.n
	if got := base64.StdEncoding.EncodeToString(h.Sum(nil)); got != mf.MD5Checksum {
		return f, fault.Invalidf("data file %s is corrupt: its MD5 is %s, the manifest says %s; nothing was written", name, got, mf.MD5Checksum)
	}
	if bad != nil {
		return f, fault.Invalidf("data file %s: %v; nothing was written", name, bad)
	}
	if n != mf.ItemCount {
		return f, fault.Invalidf("data file %s holds %d items, the manifest says %d; nothing was written", name, n, mf.ItemCount)
	}
	return f, nil
}

// countReader counts the bytes read and remembers a read error of the
// object itself, as opposed to one of its decompression.
type countReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// createInput copies the source's key schema, secondary indexes and
// billing mode (provisioned capacity included) to a new table.
func createInput(table string, src *types.TableDescription) *dynamodb.CreateTableInput {
	in := &dynamodb.CreateTableInput{TableName: &table, BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: src.AttributeDefinitions, KeySchema: src.KeySchema}
	provisioned := src.BillingModeSummary == nil || src.BillingModeSummary.BillingMode == types.BillingModeProvisioned
	throughput := func(d *types.ProvisionedThroughputDescription) *types.ProvisionedThroughput {
		if d == nil || aws.ToInt64(d.ReadCapacityUnits) == 0 {
			return nil
		}
		return &types.ProvisionedThroughput{ReadCapacityUnits: d.ReadCapacityUnits, WriteCapacityUnits: d.WriteCapacityUnits}
	}
	if provisioned && throughput(src.ProvisionedThroughput) != nil {
		in.BillingMode = types.BillingModeProvisioned
		in.ProvisionedThroughput = throughput(src.ProvisionedThroughput)
	}
	for _, g := range src.GlobalSecondaryIndexes {
		gi := types.GlobalSecondaryIndex{IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection}
		if in.BillingMode == types.BillingModeProvisioned {
			gi.ProvisionedThroughput = throughput(g.ProvisionedThroughput)
			if gi.ProvisionedThroughput == nil {
				gi.ProvisionedThroughput = in.ProvisionedThroughput
			}
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, gi)
	}
	for _, l := range src.LocalSecondaryIndexes {
		in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, types.LocalSecondaryIndex{IndexName: l.IndexName, KeySchema: l.KeySchema, Projection: l.Projection})
	}
	return in
}

func createTable(ctx context.Context, api *dynamodb.Client, in *dynamodb.CreateTableInput) error {
	table := aws.ToString(in.TableName)
	if _, err := api.CreateTable(ctx, in); err != nil {
		return fleetcli.Failedf("create table %s: %w", table, err)
	}
	w := dynamodb.NewTableExistsWaiter(api)
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: &table}, 5*time.Minute); err != nil {
		return fleetcli.Failedf("wait for table %s to be ACTIVE: %w", table, err)
	}
	return nil
}

// verifyRestore re-reads the target table for a sample of every file's
// items (or all, --all-items) and compares them exactly.
func verifyRestore(c *cli.Context, e *env, exp *export.Export) error {
	if c.Int("sample") < 1 && !c.Bool("all-items") {
		return fault.Invalidf("--sample %d: want at least 1 (or --all-items)", c.Int("sample"))
	}
	td, err := describe(c.Context, e.clients.DynamoDB, exp.Table)
	if err != nil {
		return fleetcli.Failed(err)
	}
	if td == nil {
		return fleetcli.Failedf("restore %s: target table %s no longer exists", exp.ExportID, exp.Table)
	}
	var keys []string
	for _, k := range keySchemaOf(td) {
		keys = append(keys, k.Name)
	}
	rep, err := verify.RunRestore(c.Context, exp, e.bucket(exp.Bucket), e.clients.DynamoDB, verify.RestoreOptions{
		Keys: keys, PerFile: c.Int("sample"), All: c.Bool("all-items"), Concurrency: c.Int("concurrency")})
	if err != nil {
		return fleetcli.Failedf("verify restore %s: %w", exp.ExportID, err)
	}
	if c.Bool("json") {
		if err := e.printJSON(rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "restore %s into %s: %d files, %d items re-read from the table (%d kept as they were): %s\n",
			exp.ExportID, exp.Table, rep.Files, rep.Checked, rep.Kept, e.printProblems(rep.Problems))
	}
	if !rep.OK {
		return fleetcli.Failedf("restore %s does not verify: %d problems", exp.ExportID, len(rep.Problems))
	}
	return nil
}

func sortKey(ks []keyAttr) string {
	if len(ks) > 1 {
		return ks[1].Name
	}
	return ""
}

// maxRowFiles is about how much of the job row (DynamoDB's 400 KB item
// limit) the list of files may take.
const maxRowFiles = 300 << 10

// fitsOneRow refuses an export whose file list does not fit the job row,
// before any file is read.
func fitsOneRow(files []manifest.File) error {
	size := 0
	for _, f := range files {
		size += len(f.DataFileS3Key) + len(f.MD5Checksum) + 60
	}
	if size > maxRowFiles {
		return fault.Invalidf("the export has %d data files; a restore holds at most about %d today (its list of files lives in one control-table row)", len(files), len(files)*maxRowFiles/size)
	}
	return nil
}

// Rebase moves a key the manifest names under the export's folder as it is
// now (root): an export copied elsewhere keeps its original keys inside.
func Rebase(key, root string) string {
	if strings.HasPrefix(key, root) {
		return key
	}
	marker := root
	if i := strings.LastIndex(strings.TrimSuffix(root, "/"), "AWSDynamoDB/"); i >= 0 {
		marker = root[i:]
	}
	if i := strings.Index(key, marker); i >= 0 {
		return root + key[i+len(marker):]
	}
	return key
}
