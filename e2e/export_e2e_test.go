//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/internal/testkit/fleet"
)

// exportRoot is where an export of the fleet's bucket lands for prefix p.
func exportRoot(prefix, id string) string {
	if prefix == "" {
		return "AWSDynamoDB/" + id + "/"
	}
	return prefix + "/AWSDynamoDB/" + id + "/"
}

func TestMultiSegmentExportWithTwoWorkers(t *testing.T) {
	f := fleet.NewFleet(t)
	table := f.CreateTable(3000)
	for range 2 {
		f.StartWorker("--exit-when-idle", "5s", "--lease-duration", "10s", "--concurrency", "3")
	}
	res := f.Coordinator("export", "--table", table, "--bucket", f.Bucket, "--prefix", "exports/{table}",
		"--segments", "8", "--part-size-bytes", "5000", "--scan-page-size", "50", "--wait")
	require.Equal(t, 0, res.Code, res.Stderr)
	id := strings.TrimSpace(res.Stdout)
	require.NotContains(t, id, "\n", "stdout holds only the export id")

	e := f.ReadExport(exportRoot("exports/"+table, id))
	fleet.RequireSameItems(t, f.ScanTable(table), e)
	require.Greater(t, len(e.Files), 8, "small parts split segments into several files")

	st := f.StatusJSON(id)
	require.Equal(t, "COMPLETED", st["state"])
	require.EqualValues(t, 8, st["segmentsTotal"])
	require.EqualValues(t, 8, st["segmentsDone"])
	require.EqualValues(t, 0, st["segmentsFailed"])
	require.EqualValues(t, 3000, st["itemCount"])
	require.Equal(t, table, st["table"])
	require.Equal(t, exportRoot("exports/"+table, id)+"manifest-summary.json", st["manifestSummaryKey"])
	require.Equal(t, "exports/"+table, st["s3Prefix"])

	v := f.Coordinator("verify", "--export-id", id)
	require.Equal(t, 0, v.Code, v.Stdout+v.Stderr)
	require.Contains(t, v.Stdout, "3000 items")
}

func TestEmptyTableExportsAnEmptyManifest(t *testing.T) {
	f := fleet.NewFleet(t)
	table := f.CreateTable(0)
	f.StartWorker("--exit-when-idle", "4s")
	res := f.Coordinator("export", "--table", table, "--bucket", f.Bucket, "--segments", "3", "--wait", "--json")
	require.Equal(t, 0, res.Code, res.Stderr)
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &st), res.Stdout)
	require.Equal(t, "COMPLETED", st["state"])
	id := st["exportId"].(string)
	e := f.ReadExport(exportRoot("", id))
	require.Empty(t, e.Files)
	require.EqualValues(t, 0, e.Summary["itemCount"])
	v := f.Coordinator("verify", "--export-id", id)
	require.Equal(t, 0, v.Code, v.Stdout+v.Stderr)
}

func TestExportIDIsIdempotent(t *testing.T) {
	f := fleet.NewFleet(t)
	table := f.CreateTable(50)
	args := []string{"export", "--table", table, "--bucket", f.Bucket, "--export-id", "nightly-1", "--segments", "2"}
	first := f.Coordinator(args...)
	require.Equal(t, 0, first.Code, first.Stderr)
	require.Equal(t, "nightly-1\n", first.Stdout)
	again := f.Coordinator(args...)
	require.Equal(t, 0, again.Code, again.Stderr)
	require.Equal(t, "nightly-1\n", again.Stdout)
	other := f.Coordinator("export", "--table", table, "--bucket", f.Bucket, "--export-id", "nightly-1", "--segments", "3")
	require.Equal(t, 2, other.Code, other.Stderr)
	require.Contains(t, other.Stderr, "different arguments")

	// Exactly one message per segment was sent, not two.
	q := f.QueueDepth()
	require.Equal(t, 2, q, "the second call enqueued nothing")
	f.StartWorker("--exit-when-idle", "4s")
	f.WaitState("nightly-1", "COMPLETED", time.Minute)
}

func TestBadInputExitsTwoAndWritesNothing(t *testing.T) {
	f := fleet.NewFleet(t)
	table := f.CreateTable(10)
	f.Coordinator("export", "--table", table, "--bucket", f.Bucket, "--export-id", "taken", "--segments", "1")
	cases := []struct {
		name string
		bin  string
		args []string
		want string
	}{
		{"unknown flag", "coordinator", []string{"export", "--table", table, "--bucket", f.Bucket, "--bogus"}, "--bogus"},
		{"unknown command", "coordinator", []string{"explode"}, "explode"},
		{"missing table flag", "coordinator", []string{"export", "--bucket", f.Bucket}, "--table"},
		{"missing bucket flag", "coordinator", []string{"export", "--table", table}, "--bucket"},
		{"table does not exist", "coordinator", []string{"export", "--table", "no-such-table", "--bucket", f.Bucket}, "no-such-table"},
		{"bucket does not exist", "coordinator", []string{"export", "--table", table, "--bucket", "no-such-bucket-xyz"}, "no-such-bucket-xyz"},
		{"segments zero", "coordinator", []string{"export", "--table", table, "--bucket", f.Bucket, "--segments", "0"}, "--segments"},
		{"segments not a number", "coordinator", []string{"export", "--table", table, "--bucket", f.Bucket, "--segments", "lots"}, "--segments"},
		{"segments too many", "coordinator", []string{"export", "--table", table, "--bucket", f.Bucket, "--segments", "100001"}, "--segments"},
		{"unknown prefix placeholder", "coordinator", []string{"export", "--table", table, "--bucket", f.Bucket, "--prefix", "x/{month}"}, "{month}"},
		{"absolute prefix", "coordinator", []string{"export", "--table", table, "--bucket", f.Bucket, "--prefix", "/x"}, "--prefix"},
		{"bad export id", "coordinator", []string{"export", "--table", table, "--bucket", f.Bucket, "--export-id", "a/b"}, "--export-id"},
		{"negative capacity cap", "coordinator", []string{"export", "--table", table, "--bucket", f.Bucket, "--read-capacity-cap", "-5"}, "--read-capacity-cap"},
		{"capacity cap not a number", "coordinator", []string{"export", "--table", table, "--bucket", f.Bucket, "--read-capacity-cap", "fast"}, "read-capacity-cap"},
		{"export id reused with other arguments", "coordinator", []string{"export", "--table", table, "--bucket", f.Bucket, "--export-id", "taken", "--segments", "4"}, "different arguments"},
		{"status of unknown export", "coordinator", []string{"status", "--export-id", "nope"}, "nope"},
		{"status without id", "coordinator", []string{"status"}, "--export-id"},
		{"verify of unknown export", "coordinator", []string{"verify", "--export-id", "nope"}, "nope"},
		{"retry of unknown export", "coordinator", []string{"retry", "--export-id", "nope"}, "nope"},
		{"cancel of unknown export", "coordinator", []string{"cancel", "--export-id", "nope"}, "nope"},
		{"init bad max receive count", "coordinator", []string{"init", "--max-receive-count", "0"}, "--max-receive-count"},
		{"bad log level", "coordinator", []string{"status", "--export-id", "taken", "--log-level", "loud"}, "--log-level"},
		{"worker unknown flag", "worker", []string{"run", "--bogus"}, "--bogus"},
		{"worker zero concurrency", "worker", []string{"run", "--concurrency", "0"}, "--concurrency"},
		{"worker bad duration", "worker", []string{"run", "--lease-duration", "soon"}, "lease-duration"},
		{"worker lease too short", "worker", []string{"run", "--lease-duration", "1s"}, "--lease-duration"},
		{"worker stray argument", "worker", []string{"run", "extra"}, "extra"},
	}
	before := f.ControlRows()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var res fleet.Result
			if tc.bin == "worker" {
				res = f.Worker(tc.args...)
			} else {
				res = f.Coordinator(tc.args...)
			}
			require.Equal(t, 2, res.Code, "stdout %q stderr %q", res.Stdout, res.Stderr)
			require.Contains(t, res.Stderr, tc.want, "the message names what is wrong")
			require.Empty(t, res.Stdout, "nothing on stdout")
			for _, bad := range []string{"goroutine ", "panic", ".go:"} {
				require.NotContains(t, res.Stderr, bad, "no stack trace")
			}
		})
	}
	require.Equal(t, before, f.ControlRows(), "no control rows written by invalid calls")
	objs, err := f.Clients.S3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &f.Bucket})
	require.NoError(t, err)
	for _, o := range objs.Contents {
		require.True(t, strings.HasPrefix(aws.ToString(o.Key), "AWSDynamoDB/taken/"), "unexpected object %s", aws.ToString(o.Key))
	}
}

func TestVerifyFailsOnCorruptedExport(t *testing.T) {
	f := fleet.NewFleet(t)
	table := f.CreateTable(400)
	f.StartWorker("--exit-when-idle", "4s")
	res := f.Coordinator("export", "--table", table, "--bucket", f.Bucket, "--segments", "2", "--part-size-bytes", "5000", "--scan-page-size", "50", "--wait")
	require.Equal(t, 0, res.Code, res.Stderr)
	id := strings.TrimSpace(res.Stdout)
	e := f.ReadExport(exportRoot("", id))
	require.GreaterOrEqual(t, len(e.Files), 2)
	ctx := context.Background()
	require.Equal(t, 0, f.Coordinator("verify", "--export-id", id).Code)

	// A stray object under data/.
	stray := exportRoot("", id) + "data/stray.json.gz"
	_, err := f.Clients.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &f.Bucket, Key: &stray, Body: strings.NewReader("x")})
	require.NoError(t, err)
	v := f.Coordinator("verify", "--export-id", id)
	require.Equal(t, 1, v.Code, v.Stdout)
	require.Contains(t, v.Stdout, "stray object")
	_, err = f.Clients.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &f.Bucket, Key: &stray})
	require.NoError(t, err)
	require.Equal(t, 0, f.Coordinator("verify", "--export-id", id).Code)

	// A data file replaced by other valid gzip content.
	victim := e.Files[0]["dataFileS3Key"].(string)
	_, err = f.Clients.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &f.Bucket, Key: &victim, Body: strings.NewReader(fleet.Gzip(`{"Item":{"pk":{"S":"forged"}}}` + "\n"))})
	require.NoError(t, err)
	v = f.Coordinator("verify", "--export-id", id)
	require.Equal(t, 1, v.Code, v.Stdout)
	require.Contains(t, v.Stdout, "MD5")
	require.Contains(t, v.Stdout, "items")

	// A data file gone.
	_, err = f.Clients.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &f.Bucket, Key: &victim})
	require.NoError(t, err)
	v = f.Coordinator("verify", "--export-id", id)
	require.Equal(t, 1, v.Code, v.Stdout)
	require.Contains(t, v.Stdout, victim)
}

func TestCancelStopsTheExport(t *testing.T) {
	f := fleet.NewFleet(t)
	table := f.CreateTable(200)
	res := f.Coordinator("export", "--table", table, "--bucket", f.Bucket, "--segments", "4")
	require.Equal(t, 0, res.Code, res.Stderr)
	id := strings.TrimSpace(res.Stdout)
	c := f.Coordinator("cancel", "--export-id", id)
	require.Equal(t, 0, c.Code, c.Stderr)
	w := f.StartWorker("--exit-when-idle", "3s")
	require.Equal(t, 0, w.Wait(t, time.Minute))
	require.Equal(t, "CANCELLED", f.StatusJSON(id)["state"])
	require.Equal(t, 0, f.QueueDepth(), "the worker dropped the cancelled export's messages")
	ctx := context.Background()
	objs, err := f.Clients.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &f.Bucket, Prefix: aws.String(exportRoot("", id))})
	require.NoError(t, err)
	var keys []string
	for _, o := range objs.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	require.ElementsMatch(t, []string{exportRoot("", id) + "_started", exportRoot("", id) + "_cancelled"}, keys)
	// --wait on a cancelled export exits 1.
	res = f.Coordinator("export", "--table", table, "--bucket", f.Bucket, "--export-id", "c2", "--segments", "1")
	require.Equal(t, 0, res.Code)
	require.Equal(t, 0, f.Coordinator("cancel", "--export-id", "c2").Code)
	res = f.Coordinator("export", "--table", table, "--bucket", f.Bucket, "--export-id", "c2", "--segments", "1", "--wait")
	require.Equal(t, 1, res.Code, res.Stderr)
	require.Contains(t, res.Stderr, "CANCELLED")
}

var _ = dynamodb.ScanInput{}

func TestAutoSegmentsPlanTwoWavesForTheFleet(t *testing.T) {
	f := fleet.NewFleet(t)
	table := f.CreateTable(100)
	res := f.Coordinator("export", "--table", table, "--bucket", f.Bucket, "--json")
	require.Equal(t, 0, res.Code, res.Stderr)
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &st))
	require.EqualValues(t, 16, st["segmentsTotal"], "a small table still gets the floor")

	res = f.Coordinator("export", "--table", table, "--bucket", f.Bucket, "--fleet-slots", "20", "--json")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &st))
	require.EqualValues(t, 40, st["segmentsTotal"], "twice the fleet's slots")

	res = f.Coordinator("export", "--table", table, "--bucket", f.Bucket, "--fleet-slots", "-1")
	require.Equal(t, 2, res.Code)
	require.Contains(t, res.Stderr, "--fleet-slots")
}
