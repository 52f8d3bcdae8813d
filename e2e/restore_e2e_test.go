//go:build e2e

package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/internal/testkit/fleet"
	"github.com/ddbfleet/ddbfleet/internal/testkit/sampledata"
)

// trickyItem is sampledata's item (38-digit numbers, 1E-130, binary with 0
// and 255, sets, nested maps and lists, empty strings and lists) plus
// binary of every byte, binary nested in maps and lists (what dynamodump
// double-encodes) and, for a few, an item near DynamoDB's 400 KB limit.
func trickyItem(i int) map[string]types.AttributeValue {
	item := sampledata.Item(i, 0)
	every := make([]byte, 256)
	for b := range every {
		every[b] = byte(b)
	}
	item["every"] = &types.AttributeValueMemberB{Value: every}
	item["nested"] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
		"bin":   &types.AttributeValueMemberB{Value: []byte{0, 1, 2, 255}},
		"list":  &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberB{Value: []byte{254, 0}}}},
		"empty": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}},
	}}
	if i%97 == 0 {
		item["big"] = &types.AttributeValueMemberS{Value: strings.Repeat("x", 390_000)}
	}
	return item
}

func startRestoreWorkers(f *fleet.Fleet, n int, env ...string) []*fleet.Proc {
	var ps []*fleet.Proc
	for range n {
		ps = append(ps, f.StartWorkerEnv(env, "--exit-when-idle", "8s", "--lease-duration", "5s", "--concurrency", "3"))
	}
	return ps
}

func exportTable(t *testing.T, f *fleet.Fleet, table string, args ...string) string {
	res := f.Coordinator(append([]string{"export", "--table", table, "--bucket", f.Bucket, "--prefix", "bk", "--wait"}, args...)...)
	require.Equal(t, 0, res.Code, res.Stderr)
	return "s3://" + f.Bucket + "/" + exportRoot("bk", strings.TrimSpace(res.Stdout))
}

func requireEmpty(t *testing.T, f *fleet.Fleet, table string) {
	out, err := f.Clients.DynamoDB.Scan(context.Background(), &dynamodb.ScanInput{TableName: &table, Limit: aws.Int32(1)})
	require.NoError(t, err)
	require.Empty(t, out.Items, "nothing may be written to %s", table)
}

func TestRestoreRoundTripOfEveryType(t *testing.T) {
	f := fleet.NewFleet(t)
	src := f.Name + "-src"
	ctx := context.Background()
	_, err := f.Clients.DynamoDB.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: &src, BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN},
			{AttributeName: aws.String("name"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{IndexName: aws.String("by-name"),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String("name"), KeyType: types.KeyTypeHash}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}}},
	})
	require.NoError(t, err)
	require.NoError(t, dynamodb.NewTableExistsWaiter(f.Clients.DynamoDB).Wait(ctx, &dynamodb.DescribeTableInput{TableName: &src}, time.Minute))
	require.NoError(t, sampledata.FillWith(ctx, f.Clients.DynamoDB, src, 600, 4, trickyItem, nil))
	startRestoreWorkers(f, 2)
	from := exportTable(t, f, src, "--segments", "4", "--part-size-bytes", "200000")

	dst := f.Name + "-dst"
	res := f.Coordinator("restore", "--from", from, "--table", dst, "--create-table-from-export", "--wait")
	require.Equal(t, 0, res.Code, res.Stderr)
	id := strings.TrimSpace(res.Stdout)
	require.NotContains(t, id, "\n")

	d, err := f.Clients.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &dst})
	require.NoError(t, err)
	require.Len(t, d.Table.GlobalSecondaryIndexes, 1, "the source's index is created too")
	require.Equal(t, "by-name", aws.ToString(d.Table.GlobalSecondaryIndexes[0].IndexName))

	want, got := f.ScanTable(src), f.ScanTable(dst)
	require.Len(t, got, 600)
	for k, v := range want {
		require.Equal(t, v, got[k], "item %s", k)
	}
	st := f.StatusJSON(id)
	require.Equal(t, "restore", st["kind"])
	require.Equal(t, "COMPLETED", st["state"])
	require.EqualValues(t, 600, st["itemsWritten"])
	require.EqualValues(t, 0, st["itemsKept"])

	v := f.Coordinator("verify", "--export-id", id, "--all-items")
	require.Equal(t, 0, v.Code, v.Stdout+v.Stderr)
	require.Contains(t, v.Stdout, "600 items re-read")
	_, err = f.Clients.DynamoDB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &dst,
		Key:              map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "user#00000005"}, "sk": &types.AttributeValueMemberN{Value: "5"}},
		UpdateExpression: aws.String("SET #n = :v"), ExpressionAttributeNames: map[string]string{"#n": "name"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberS{Value: "tampered"}}})
	require.NoError(t, err)
	v = f.Coordinator("verify", "--export-id", id, "--sample", "1000")
	require.Equal(t, 1, v.Code, v.Stdout+v.Stderr)
	require.Contains(t, v.Stdout, "user#00000005")
}

func TestRestoreConditionNotExistsKeepsItems(t *testing.T) {
	f := fleet.NewFleet(t)
	src := f.CreateTable(300)
	startRestoreWorkers(f, 1)
	from := exportTable(t, f, src, "--segments", "2")

	dst := f.Name + "-dst"
	ctx := context.Background()
	require.NoError(t, sampledata.CreateTable(ctx, f.Clients.DynamoDB, dst))
	// 50 items already in the target, with changed values.
	require.NoError(t, sampledata.FillWith(ctx, f.Clients.DynamoDB, dst, 50, 2, func(i int) map[string]types.AttributeValue {
		it := sampledata.Item(i, 0)
		it["name"] = &types.AttributeValueMemberS{Value: "changed"}
		return it
	}, nil))
	res := f.Coordinator("restore", "--from", from, "--table", dst, "--condition", "not-exists", "--wait")
	require.Equal(t, 0, res.Code, res.Stderr)
	id := strings.TrimSpace(res.Stdout)
	got := f.ScanTable(dst)
	require.Len(t, got, 300)
	changed := 0
	for _, v := range got {
		if strings.Contains(v, `"changed"`) {
			changed++
		}
	}
	require.Equal(t, 50, changed, "existing items stay as they were")
	st := f.StatusJSON(id)
	require.EqualValues(t, 50, st["itemsKept"])
	require.EqualValues(t, 250, st["itemsWritten"])
	v := f.Coordinator("verify", "--export-id", id)
	require.Equal(t, 0, v.Code, v.Stdout+v.Stderr)
	require.Contains(t, v.Stdout, "(50 kept as they were)")

	// Again: the items the first run wrote are the file's images, not
	// kept ones; only the 50 changed items are kept.
	res = f.Coordinator("restore", "--from", from, "--table", dst, "--condition", "not-exists", "--wait")
	require.Equal(t, 0, res.Code, res.Stderr)
	st = f.StatusJSON(strings.TrimSpace(res.Stdout))
	require.EqualValues(t, 50, st["itemsKept"])
	require.EqualValues(t, 250, st["itemsWritten"])
}

func TestRestoreResumesAfterKill(t *testing.T) {
	f := fleet.NewFleet(t)
	src := f.CreateTable(4000)
	exporters := startRestoreWorkers(f, 1)
	from := exportTable(t, f, src, "--segments", "4", "--compression", "zstd")
	dst := f.Name + "-dst"
	// Only the worker about to be killed may take the restore's files.
	exporters[0].Wait(t, time.Minute)

	env := []string{"DDBFLEET_RESTORE_CHECKPOINT_ITEMS=50"}
	w := f.StartWorkerEnv(env, "--lease-duration", "4s", "--concurrency", "4", "--log-level", "debug")
	res := f.Coordinator("restore", "--from", from, "--table", dst, "--create-table-from-export")
	require.Equal(t, 0, res.Code, res.Stderr)
	id := strings.TrimSpace(res.Stdout)
	w.WaitEvent(t, "restore checkpoint", time.Minute, nil)
	require.NoError(t, w.Signal(syscall.SIGKILL))
	w.Wait(t, 10*time.Second)

	w2 := f.StartWorkerEnv(env, "--exit-when-idle", "10s", "--lease-duration", "4s", "--concurrency", "4")
	st := f.WaitState(id, "COMPLETED", 3*time.Minute)
	require.EqualValues(t, 4000, st["itemsWritten"])
	want, got := f.ScanTable(src), f.ScanTable(dst)
	require.Equal(t, want, got)
	require.NotEmpty(t, w2.Events("resuming file from checkpoint"), "a file resumed mid-file")
}

// nativeExport writes an export as DynamoDB's native Export to S3 lays it
// out: gzip'd {"Item":…} lines, manifest-files.json, manifest-summary.json.
func nativeExport(t *testing.T, f *fleet.Fleet, id, format string, files [][]string) string {
	ctx := context.Background()
	root := "native/AWSDynamoDB/" + id + "/"
	put := func(key string, body []byte) {
		_, err := f.Clients.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &f.Bucket, Key: aws.String(key), Body: bytes.NewReader(body)})
		require.NoError(t, err)
	}
	var manifestLines bytes.Buffer
	total := 0
	for i, lines := range files {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		for _, l := range lines {
			_, _ = io.WriteString(zw, l+"\n")
		}
		require.NoError(t, zw.Close())
		sum := md5.Sum(buf.Bytes())
		key := fmt.Sprintf("%sdata/file%d.json.gz", root, i)
		put(key, buf.Bytes())
		line, _ := json.Marshal(map[string]any{"itemCount": len(lines), "md5Checksum": base64.StdEncoding.EncodeToString(sum[:]), "etag": "x", "dataFileS3Key": key})
		manifestLines.Write(append(line, '\n'))
		total += len(lines)
	}
	put(root+"manifest-files.json", manifestLines.Bytes())
	summary, _ := json.Marshal(map[string]any{"version": "2020-06-30", "exportArn": "arn:aws:dynamodb:us-east-1:000000000000:table/gone/export/" + id,
		"tableArn": "arn:aws:dynamodb:us-east-1:000000000000:table/gone", "s3Bucket": f.Bucket, "s3Prefix": "native",
		"manifestFilesS3Key": root + "manifest-files.json", "itemCount": total, "outputFormat": format})
	put(root+"manifest-summary.json", summary)
	return "s3://" + f.Bucket + "/" + root
}

func nativeLines(from, n int) []string {
	var out []string
	for i := from; i < from+n; i++ {
		out = append(out, fmt.Sprintf(`{"Item":{"pk":{"S":"user#%08d"},"sk":{"N":"%d"},"b":{"B":"AP8="},"m":{"M":{"x":{"B":"AQI="}}},"n":{"N":"12345678901234567890123456789012345678"}}}`, i, i%7))
	}
	return out
}

func TestRestoreOfNativeLayoutExport(t *testing.T) {
	f := fleet.NewFleet(t)
	// A key twice in one file (BatchWriteItem refuses it twice in a batch).
	first := append(nativeLines(0, 40), nativeLines(3, 1)...)
	from := nativeExport(t, f, "01700000000000-abcdef01", "DYNAMODB_JSON", [][]string{first, nativeLines(40, 25)})
	dst := f.Name + "-dst"
	require.NoError(t, sampledata.CreateTable(context.Background(), f.Clients.DynamoDB, dst))
	startRestoreWorkers(f, 1)
	res := f.Coordinator("restore", "--from", from, "--table", dst, "--wait")
	require.Equal(t, 0, res.Code, res.Stderr)
	got := f.ScanTable(dst)
	require.Len(t, got, 65)
	require.Contains(t, got["user#00000003|3"], `"AP8="`)
	require.Contains(t, got["user#00000003|3"], `"AQI="`)

	// An export of an empty table: no files, COMPLETED at once.
	empty := nativeExport(t, f, "01700000000009-empty001", "DYNAMODB_JSON", nil)
	res = f.Coordinator("restore", "--from", empty, "--table", dst, "--wait", "--json")
	require.Equal(t, 0, res.Code, res.Stderr)
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &st))
	require.Equal(t, "COMPLETED", st["state"])
	require.Equal(t, "restore", st["kind"])
}

func TestRestoreRefusesBadInput(t *testing.T) {
	f := fleet.NewFleet(t)
	ctx := context.Background()
	dst := f.Name + "-dst"
	require.NoError(t, sampledata.CreateTable(ctx, f.Clients.DynamoDB, dst))

	// A corrupted data file: valid gzip, one item changed.
	good := nativeExport(t, f, "01700000000001-corrupt1", "DYNAMODB_JSON", [][]string{nativeLines(0, 10), nativeLines(10, 10)})
	key := strings.TrimPrefix(good, "s3://"+f.Bucket+"/") + "data/file1.json.gz"
	lines := nativeLines(10, 10)
	lines[3] = strings.Replace(lines[3], "AP8=", "AP4=", 1)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = io.WriteString(zw, strings.Join(lines, "\n")+"\n")
	require.NoError(t, zw.Close())
	_, err := f.Clients.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &f.Bucket, Key: &key, Body: bytes.NewReader(buf.Bytes())})
	require.NoError(t, err)

	plain := nativeExport(t, f, "01700000000002-plainjs1", "JSON", [][]string{{`{"pk":"a","sk":1}`}})
	parquet := nativeExport(t, f, "01700000000003-parquet1", "PARQUET", nil)
	native := nativeExport(t, f, "01700000000004-okexport", "DYNAMODB_JSON", [][]string{nativeLines(0, 5)})
	oversized := nativeLines(0, 3)
	oversized[1] = strings.Replace(oversized[1], `"b":{"B":"AP8="}`, `"b":{"S":"`+strings.Repeat("y", 420<<10)+`"}`, 1)
	tooBig := nativeExport(t, f, "01700000000005-toobig01", "DYNAMODB_JSON", [][]string{oversized})

	otherKey := f.Name + "-other"
	_, err = f.Clients.DynamoDB.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: &otherKey, BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}}})
	require.NoError(t, err)
	require.NoError(t, dynamodb.NewTableExistsWaiter(f.Clients.DynamoDB).Wait(ctx, &dynamodb.DescribeTableInput{TableName: &otherKey}, time.Minute))

	// A target whose index is keyed on "n" as a string: the items' n is a number.
	indexed := f.Name + "-indexed"
	_, err = f.Clients.DynamoDB.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: &indexed, BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN},
			{AttributeName: aws.String("n"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{IndexName: aws.String("by-n"),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String("n"), KeyType: types.KeyTypeHash}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}}},
	})
	require.NoError(t, err)
	require.NoError(t, dynamodb.NewTableExistsWaiter(f.Clients.DynamoDB).Wait(ctx, &dynamodb.DescribeTableInput{TableName: &indexed}, time.Minute))

	for _, tc := range []struct {
		name, table, want string
		args              []string
	}{
		{"corrupt file", dst, "file1.json.gz is corrupt", []string{"--from", good}},
		{"plain JSON", dst, "types are lost", []string{"--from", plain}},
		{"parquet", dst, "not supported yet", []string{"--from", parquet}},
		{"not an export", dst, "is not an export", []string{"--from", "s3://" + f.Bucket + "/nothing/AWSDynamoDB/x/"}},
		{"bad --from", dst, "--from", []string{"--from", "s3://" + f.Bucket + "/nothing/"}},
		{"item over 400 KB", dst, "file0.json.gz: line 2 holds an item of", []string{"--from", tooBig}},
		{"missing table", f.Name + "-missing", "does not exist", []string{"--from", native}},
		{"key schema mismatch", otherKey, "key schema mismatch", []string{"--from", native}},
		{"index key type", indexed, "index key attribute n: key attribute n is N, the table wants S", []string{"--from", native}},
		{"table exists with --create-table-from-export", dst, "already exists", []string{"--from", native, "--create-table-from-export"}},
		{"bad --condition", dst, "--condition", []string{"--from", native, "--condition", "keep"}},
		{"source not describable", f.Name + "-missing", `source table "gone" cannot be described`, []string{"--from", native, "--create-table-from-export"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := f.Coordinator(append([]string{"restore", "--table", tc.table}, tc.args...)...)
			require.Equal(t, 2, res.Code, res.Stderr)
			require.Contains(t, res.Stderr, tc.want)
			require.Empty(t, strings.TrimSpace(res.Stdout))
		})
	}
	requireEmpty(t, f, dst)
	requireEmpty(t, f, otherKey)
	requireEmpty(t, f, indexed)
	_, err = f.Clients.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(f.Name + "-missing")})
	require.Error(t, err, "no table is created")
	require.Zero(t, f.QueueDepth(), "no work is enqueued")
}

func TestRestoreKeepsToItsWriteCapacityCap(t *testing.T) {
	f := fleet.NewFleet(t)
	src := f.CreateTable(1200)
	startRestoreWorkers(f, 1)
	from := exportTable(t, f, src, "--segments", "2")
	dst := f.Name + "-dst"
	start := time.Now()
	res := f.Coordinator("restore", "--from", from, "--table", dst, "--create-table-from-export", "--write-capacity-cap", "200", "--wait")
	require.Equal(t, 0, res.Code, res.Stderr)
	took := time.Since(start)
	// 1,200 items of about 1 WCU at 200 WCU/s: at least ~5 s, less the
	// one-second burst each pacer may start with.
	t.Logf("took %s", took)
	require.Greater(t, took, 3500*time.Millisecond, "the restore is paced")
	require.Len(t, f.ScanTable(dst), 1200)
}

func TestRestoreThatFailedIsRetried(t *testing.T) {
	f := fleet.NewFleet(t)
	ctx := context.Background()
	from := nativeExport(t, f, "01700000000010-retry001", "DYNAMODB_JSON", [][]string{nativeLines(0, 30), nativeLines(30, 30)})
	dst := f.Name + "-dst"
	require.NoError(t, sampledata.CreateTable(ctx, f.Clients.DynamoDB, dst))
	res := f.Coordinator("restore", "--from", from, "--table", dst)
	require.Equal(t, 0, res.Code, res.Stderr)
	id := strings.TrimSpace(res.Stdout)

	// The target disappears before any worker runs: every file fails.
	_, err := f.Clients.DynamoDB.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: &dst})
	require.NoError(t, err)
	startRestoreWorkers(f, 1)
	st := f.WaitState(id, "FAILED", 2*time.Minute)
	require.EqualValues(t, 2, st["segmentsFailed"])
	out := f.Coordinator("status", "--export-id", id)
	require.Contains(t, out.Stdout, "restore "+id+" into table "+dst+": FAILED")
	require.Contains(t, out.Stdout, "target table missing")

	require.NoError(t, sampledata.CreateTable(ctx, f.Clients.DynamoDB, dst))
	r := f.Coordinator("retry", "--export-id", id)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "2", strings.TrimSpace(r.Stdout))
	startRestoreWorkers(f, 1)
	st = f.WaitState(id, "COMPLETED", 2*time.Minute)
	require.EqualValues(t, 60, st["itemsWritten"])
	require.Len(t, f.ScanTable(dst), 60)

	l := f.Coordinator("list", "--json")
	require.Equal(t, 0, l.Code, l.Stderr)
	var jobs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(l.Stdout), &jobs))
	require.Len(t, jobs, 1)
	require.Equal(t, "restore", jobs[0]["kind"])
	require.Equal(t, id, jobs[0]["exportId"])
}

func TestCancelledRestoreLeavesItsSourceAlone(t *testing.T) {
	f := fleet.NewFleet(t)
	ctx := context.Background()
	from := nativeExport(t, f, "01700000000011-cancel01", "DYNAMODB_JSON", [][]string{nativeLines(0, 10), nativeLines(10, 10)})
	dst := f.Name + "-dst"
	require.NoError(t, sampledata.CreateTable(ctx, f.Clients.DynamoDB, dst))
	list := func() int {
		out, err := f.Clients.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &f.Bucket})
		require.NoError(t, err)
		return len(out.Contents)
	}
	before := list()
	res := f.Coordinator("restore", "--from", from, "--table", dst)
	require.Equal(t, 0, res.Code, res.Stderr)
	id := strings.TrimSpace(res.Stdout)
	require.Equal(t, before, list(), "a restore writes nothing to S3")
	c := f.Coordinator("cancel", "--export-id", id)
	require.Equal(t, 0, c.Code, c.Stderr)
	require.Equal(t, "CANCELLED", f.StatusJSON(id)["state"])
	require.Equal(t, before, list(), "cancelling a restore deletes nothing from its source")
	w := f.StartWorker("--exit-when-idle", "3s", "--lease-duration", "5s")
	require.Equal(t, 0, w.Wait(t, time.Minute))
	requireEmpty(t, f, dst)
}

func TestRestoreOfAnExportCopiedElsewhere(t *testing.T) {
	f := fleet.NewFleet(t)
	ctx := context.Background()
	orig := nativeExport(t, f, "01700000000012-copied01", "DYNAMODB_JSON", [][]string{nativeLines(0, 12), nativeLines(12, 8)})
	origRoot := strings.TrimPrefix(orig, "s3://"+f.Bucket+"/")
	out, err := f.Clients.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &f.Bucket, Prefix: &origRoot})
	require.NoError(t, err)
	for _, o := range out.Contents {
		moved := "moved/here/" + strings.TrimPrefix(aws.ToString(o.Key), "native/")
		_, err := f.Clients.S3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &f.Bucket, Key: &moved, CopySource: aws.String(f.Bucket + "/" + aws.ToString(o.Key))})
		require.NoError(t, err)
		_, err = f.Clients.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &f.Bucket, Key: o.Key})
		require.NoError(t, err)
	}
	dst := f.Name + "-dst"
	require.NoError(t, sampledata.CreateTable(ctx, f.Clients.DynamoDB, dst))
	startRestoreWorkers(f, 1)
	res := f.Coordinator("restore", "--from", "s3://"+f.Bucket+"/moved/here/AWSDynamoDB/01700000000012-copied01/", "--table", dst, "--wait")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Len(t, f.ScanTable(dst), 20)
}

func TestRestoreRefusesAFileReplacedAfterItWasVerified(t *testing.T) {
	f := fleet.NewFleet(t)
	ctx := context.Background()
	from := nativeExport(t, f, "01700000000013-replace1", "DYNAMODB_JSON", [][]string{nativeLines(0, 10)})
	dst := f.Name + "-dst"
	require.NoError(t, sampledata.CreateTable(ctx, f.Clients.DynamoDB, dst))
	res := f.Coordinator("restore", "--from", from, "--table", dst)
	require.Equal(t, 0, res.Code, res.Stderr)
	id := strings.TrimSpace(res.Stdout)

	// Before any worker runs, the file is replaced by another valid one.
	key := strings.TrimPrefix(from, "s3://"+f.Bucket+"/") + "data/file0.json.gz"
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = io.WriteString(zw, strings.Join(nativeLines(100, 10), "\n")+"\n")
	require.NoError(t, zw.Close())
	_, err := f.Clients.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &f.Bucket, Key: &key, Body: bytes.NewReader(buf.Bytes())})
	require.NoError(t, err)

	startRestoreWorkers(f, 1)
	f.WaitState(id, "FAILED", 2*time.Minute)
	out := f.Coordinator("status", "--export-id", id)
	require.Contains(t, out.Stdout, "changed since it was verified")
	requireEmpty(t, f, dst)
}

func TestRestoreUnderTenPercentFaultsOnEveryService(t *testing.T) {
	f := fleet.NewFleet(t)
	src := f.CreateTable(2000)
	startRestoreWorkers(f, 1)
	from := exportTable(t, f, src, "--segments", "4")
	dst := f.Name + "-dst"
	ctx := context.Background()
	require.NoError(t, sampledata.CreateTable(ctx, f.Clients.DynamoDB, dst))
	// Half the items already there, changed: not-exists keeps them.
	require.NoError(t, sampledata.FillWith(ctx, f.Clients.DynamoDB, dst, 1000, 2, func(i int) map[string]types.AttributeValue {
		it := sampledata.Item(i, 100)
		it["name"] = &types.AttributeValueMemberS{Value: "changed"}
		return it
	}, nil))
	// From here on every binary — coordinator included — sees faults.
	f.ExtraEnv = []string{"DDBFLEET_TEST_FAULT_RATE=0.1", "DDBFLEET_RESTORE_CHECKPOINT_ITEMS=100"}
	for range 2 {
		f.StartWorker("--exit-when-idle", "6s", "--lease-duration", "10s")
	}
	res := f.Coordinator("restore", "--from", from, "--table", dst, "--condition", "not-exists", "--wait", "--lease-duration", "10s")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Contains(t, res.Stderr, "fault injection on")
	id := strings.TrimSpace(res.Stdout)
	f.ExtraEnv = nil
	st := f.StatusJSON(id)
	require.EqualValues(t, 1000, st["itemsKept"], "counts stay exact through lost answers and retries")
	require.EqualValues(t, 1000, st["itemsWritten"])
	want, got := f.ScanTable(src), f.ScanTable(dst)
	require.Len(t, got, 2000)
	for k, v := range want {
		if !strings.Contains(got[k], `"changed"`) {
			require.Equal(t, v, got[k], "item %s", k)
		}
	}
}
