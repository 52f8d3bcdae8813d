//go:build e2e

// Lifecycle is tested against the real local stack only: it is the glue of
// the three seams (control-table transitions, S3 listings and puts, SQS
// redrive), and its guarantees are the conditional writes the control
// table has no fake for.

package lifecycle_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ddbfleet/ddbfleet/internal/testkit/fleet"
	"github.com/ddbfleet/ddbfleet/shared/awsclient"
	"github.com/ddbfleet/ddbfleet/shared/clock"
	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/lifecycle"
	"github.com/ddbfleet/ddbfleet/shared/manifest"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
	"github.com/ddbfleet/ddbfleet/shared/queue"
)

const lease = 30 * time.Second

// env is one test's control table, bucket and queue pair on the stack.
type env struct {
	t      *testing.T
	ctx    context.Context
	clock  *clock.Manual
	store  controltable.Store
	s3     *s3.Client
	bucket string
	obj    *objstore.Store
	work   *queue.Queue
	dlq    *queue.Queue
	life   *lifecycle.Lifecycle
}

func newEnv(t *testing.T) *env {
	t.Helper()
	for _, v := range []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_S3"} {
		require.NotEmpty(t, os.Getenv(v), "%s is not set: run with `make test`, or `bash scripts/stack.sh up DIR && . DIR/env`", v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	c, err := awsclient.Load(ctx, awsclient.Options{S3ForcePathStyle: true})
	require.NoError(t, err)
	name := fleet.Unique("lc")
	require.NoError(t, controltable.EnsureTable(ctx, c.DynamoDB, name+"-control"))
	bucket := name + "-bucket"
	_, err = c.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket})
	require.NoError(t, err)
	require.NoError(t, queue.Ensure(ctx, c.SQS, name+"-q", 3, 30*time.Second))
	work, err := queue.Open(ctx, c.SQS, name+"-q")
	require.NoError(t, err)
	dlq, err := queue.Open(ctx, c.SQS, queue.DLQName(name+"-q"))
	require.NoError(t, err)

	clk := clock.NewManual(time.Now().Truncate(time.Millisecond))
	store := controltable.WithRetry(controltable.NewDynamo(c.DynamoDB, name+"-control", clk), fault.DefaultPolicy.Instant())
	e := &env{
		t: t, ctx: ctx, clock: clk, store: store, s3: c.S3, bucket: bucket,
		obj: objstore.New(c.S3, bucket, objstore.DefaultOptions), work: work, dlq: dlq,
	}
	e.life = &lifecycle.Lifecycle{
		Store:   store,
		Buckets: func(b string) *objstore.Store { return objstore.New(c.S3, b, objstore.DefaultOptions) },
		Queue:   work,
		Log:     zaptest.NewLogger(t),
		Clock:   clk,
	}
	return e
}

// export records a RUNNING export of n segments in the test's bucket.
func (e *env) export(n int) *export.Export {
	e.t.Helper()
	x := &export.Export{
		ExportID: fleet.Unique("exp-"), Table: "orders", TableARN: "arn:aws:dynamodb:us-east-1:000000000000:table/orders",
		Bucket: e.bucket, Prefix: "backups", SegmentsTotal: n, StartTime: e.clock.Now(),
	}
	require.NoError(e.t, e.store.CreateExport(e.ctx, x))
	ok, err := e.store.SetExportState(e.ctx, x.ExportID, []export.State{export.Pending}, export.Running, controltable.ExportUpdate{})
	require.NoError(e.t, err)
	require.True(e.t, ok)
	return x
}

func gz(t *testing.T, n int) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	for i := range n {
		fmt.Fprintf(w, `{"Item":{"pk":{"S":"%d"}}}`+"\n", i)
	}
	require.NoError(t, w.Close())
	return buf.Bytes()
}

// upload writes a part file of items as a worker would, data first.
func (e *env) upload(x *export.Export, l export.Lease, part, items int) export.Part {
	e.t.Helper()
	key := x.PartKey(l.Segment, part, l.Attempt)
	info, err := e.obj.Put(e.ctx, key, gz(e.t, items), "")
	require.NoError(e.t, err)
	return export.Part{
		Segment: l.Segment, Part: part, Attempt: l.Attempt, Key: key, ItemCount: int64(items),
		MD5: info.MD5Base64(), ETag: info.ETag, Bytes: info.Bytes,
	}
}

// finishSegment claims segment seg and completes it with one part file of
// items; reported overrides the item count the segment reports (to make
// counts disagree), and -1 keeps it honest.
func (e *env) finishSegment(x *export.Export, seg, items int, reported int64) export.Part {
	e.t.Helper()
	_, l, err := e.store.ClaimSegment(e.ctx, x.ExportID, seg, fmt.Sprintf("w%d/%s", seg, fleet.Unique("")), lease)
	require.NoError(e.t, err)
	p := e.upload(x, l, 0, items)
	if reported < 0 {
		reported = p.ItemCount
	}
	require.NoError(e.t, e.store.CompleteSegment(e.ctx, l, &p, export.Checkpoint{NextPart: 1, ItemCount: reported, Bytes: p.Bytes, Pages: 1}))
	return p
}

func (e *env) get(key string) []byte {
	e.t.Helper()
	r, err := e.obj.Get(e.ctx, key)
	require.NoError(e.t, err)
	defer r.Close()
	b, err := io.ReadAll(r)
	require.NoError(e.t, err)
	return b
}

func (e *env) exists(key string) bool {
	e.t.Helper()
	ok, err := e.obj.Exists(e.ctx, key)
	require.NoError(e.t, err)
	return ok
}

func (e *env) state(id string) *export.Export {
	e.t.Helper()
	x, err := e.store.GetExport(e.ctx, id)
	require.NoError(e.t, err)
	return x
}

func TestLocalStackSettleFinalizesAndRemovesOrphans(t *testing.T) {
	e := newEnv(t)
	x := e.export(2)
	p0 := e.finishSegment(x, 0, 3, -1)
	// Attempt 1 of segment 1 uploads a part and dies before committing it;
	// attempt 2 takes over once its lease has expired.
	_, dead, err := e.store.ClaimSegment(e.ctx, x.ExportID, 1, "dead-worker", lease)
	require.NoError(t, err)
	orphan := e.upload(x, dead, 0, 2).Key
	e.clock.Advance(lease + time.Second)
	p1 := e.finishSegment(x, 1, 4, -1)
	require.Equal(t, 2, p1.Attempt)
	require.NotEqual(t, orphan, p1.Key, "the live attempt wrote its own key")

	require.NoError(t, e.life.Settle(e.ctx, x.ExportID))
	got := e.state(x.ExportID)
	require.Equal(t, export.Completed, got.State)
	root := x.Root()
	require.Equal(t, root+manifest.SummaryName, got.ManifestSummaryKey)
	require.False(t, got.EndTime.IsZero())
	ids, err := e.store.ListActive(e.ctx)
	require.NoError(t, err)
	require.NotContains(t, ids, x.ExportID, "a completed export leaves the active index")

	require.False(t, e.exists(orphan), "the orphan is removed before the manifest is written")
	require.True(t, e.exists(p0.Key))
	require.True(t, e.exists(p1.Key))
	objs, err := e.obj.List(e.ctx, x.DataPrefix())
	require.NoError(t, err)
	require.Len(t, objs, 2, "data/ holds exactly the recorded parts")

	filesJSON := e.get(root + manifest.FilesName)
	require.Equal(t, objstore.HexMD5(filesJSON), string(e.get(root+manifest.FilesChecksumName)))
	files, err := manifest.ParseFiles(filesJSON)
	require.NoError(t, err)
	require.Equal(t, []manifest.File{
		{ItemCount: 3, MD5Checksum: p0.MD5, ETag: p0.ETag, DataFileS3Key: p0.Key},
		{ItemCount: 4, MD5Checksum: p1.MD5, ETag: p1.ETag, DataFileS3Key: p1.Key},
	}, files)
	summaryJSON := e.get(root + manifest.SummaryName)
	require.Equal(t, objstore.HexMD5(summaryJSON), string(e.get(root+manifest.SummaryChecksumName)))
	var summary manifest.Summary
	require.NoError(t, json.Unmarshal(summaryJSON, &summary))
	require.EqualValues(t, 7, summary.ItemCount)
	require.Equal(t, root+manifest.FilesName, summary.ManifestFilesS3Key)
	require.Equal(t, e.bucket, summary.S3Bucket)
	require.Equal(t, x.TableARN+"/export/"+x.ExportID, summary.ExportARN)

	// Settling a settled export does nothing.
	require.NoError(t, e.life.Settle(e.ctx, x.ExportID))
	require.Equal(t, export.Completed, e.state(x.ExportID).State)
}

func TestLocalStackSettleWaitsForEverySegment(t *testing.T) {
	e := newEnv(t)
	x := e.export(2)
	e.finishSegment(x, 0, 1, -1)
	require.NoError(t, e.life.Settle(e.ctx, x.ExportID))
	require.Equal(t, export.Running, e.state(x.ExportID).State)
	require.False(t, e.exists(x.Root()+manifest.SummaryName), "no manifest before the last segment")
}

func TestLocalStackFinalizeFailsWhenCountsDoNotReconcile(t *testing.T) {
	e := newEnv(t)
	x := e.export(1)
	// The segment reports 10 items, its only part row holds 9.
	e.finishSegment(x, 0, 9, 10)
	err := e.life.Settle(e.ctx, x.ExportID)
	require.Error(t, err)
	require.Contains(t, err.Error(), "counts do not reconcile")
	got := e.state(x.ExportID)
	require.Equal(t, export.Failed, got.State)
	require.Contains(t, got.LastError, "counts do not reconcile")
	require.False(t, e.exists(x.Root()+manifest.SummaryName), "a failed export has no manifest")
	require.False(t, e.exists(x.Root()+manifest.FilesName))
}

func TestLocalStackFinalizeFailsWhenARecordedPartIsMissing(t *testing.T) {
	e := newEnv(t)
	x := e.export(1)
	p := e.finishSegment(x, 0, 2, -1)
	require.NoError(t, e.obj.Delete(e.ctx, p.Key))
	err := e.life.Settle(e.ctx, x.ExportID)
	require.Error(t, err)
	got := e.state(x.ExportID)
	require.Equal(t, export.Failed, got.State)
	require.Contains(t, got.LastError, "is recorded but missing")
	require.False(t, e.exists(x.Root()+manifest.SummaryName))
}

func TestLocalStackSettleFailsAnExportWithAFailedSegment(t *testing.T) {
	e := newEnv(t)
	x := e.export(2)
	e.finishSegment(x, 0, 1, -1)
	_, l, err := e.store.ClaimSegment(e.ctx, x.ExportID, 1, "w1", lease)
	require.NoError(t, err)
	require.NoError(t, e.store.FailSegment(e.ctx, l, "poison item", true))
	require.NoError(t, e.life.Settle(e.ctx, x.ExportID))
	got := e.state(x.ExportID)
	require.Equal(t, export.Failed, got.State)
	require.Equal(t, 1, got.SegmentsFailed)
	require.False(t, got.EndTime.IsZero())
}

// receiveAll drains up to want messages from q, polling until they arrive.
func receiveAll(t *testing.T, ctx context.Context, q *queue.Queue, want int) []queue.Message {
	t.Helper()
	var got []queue.Message
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		msgs, err := q.Receive(ctx, 10, time.Second, 30*time.Second)
		require.NoError(t, err)
		got = append(got, msgs...)
	}
	return got
}

func TestLocalStackRescueRequeuesAnExpiredLease(t *testing.T) {
	e := newEnv(t)
	x := e.export(3)
	_, dead, err := e.store.ClaimSegment(e.ctx, x.ExportID, 0, "dead-worker", lease)
	require.NoError(t, err)
	cp := export.Checkpoint{NextPart: 1, ItemCount: 5, Pages: 1}
	require.NoError(t, e.store.CommitPart(e.ctx, dead, e.upload(x, dead, 0, 5), cp, lease))

	// Within the grace period nothing happens.
	e.clock.Advance(lease + time.Second)
	rep, err := e.rescue(x.ExportID, time.Minute, nil)
	require.NoError(t, err)
	require.Empty(t, rep.Requeued)

	// A live worker on another segment keeps it.
	_, _, err = e.store.ClaimSegment(e.ctx, x.ExportID, 1, "live-worker", 10*time.Minute)
	require.NoError(t, err)
	e.clock.Advance(time.Minute)
	rep, err = e.rescue(x.ExportID, time.Minute, nil)
	require.NoError(t, err)
	require.Equal(t, []int{0}, rep.Requeued)
	require.Equal(t, []int{2}, rep.Resent, "segment 2 waited with no message anywhere (this test never enqueued it)")
	seg, err := e.store.GetSegment(e.ctx, x.ExportID, 0)
	require.NoError(t, err)
	require.Equal(t, export.SegmentPending, seg.State)
	require.Equal(t, 1, seg.NextPart, "the checkpoint is kept for the next attempt")
	live, err := e.store.GetSegment(e.ctx, x.ExportID, 1)
	require.NoError(t, err)
	require.Equal(t, export.SegmentRunning, live.State)

	msgs := receiveAll(t, e.ctx, e.work, 2)
	require.Len(t, msgs, 2, "a fresh message for the abandoned segment and one for the never-sent one")
	tasks := []queue.Task{msgs[0].Task, msgs[1].Task}
	require.Contains(t, tasks, queue.Task{ExportID: x.ExportID, Segment: 0, TotalSegments: 3})
	require.Contains(t, tasks, queue.Task{ExportID: x.ExportID, Segment: 2, TotalSegments: 3})

	// The next worker resumes where the dead one stopped.
	seg2, l2, err := e.store.ClaimSegment(e.ctx, x.ExportID, 0, "next-worker", lease)
	require.NoError(t, err)
	require.Equal(t, 2, l2.Attempt)
	require.EqualValues(t, 5, seg2.ItemCount)
	_, err = e.store.Heartbeat(e.ctx, dead, lease, export.Progress{})
	require.ErrorIs(t, err, export.ErrLeaseLost)
}

func TestLocalStackRescueSweepsTheDeadLetterQueue(t *testing.T) {
	e := newEnv(t)
	x := e.export(2)
	e.finishSegment(x, 0, 2, -1)
	// Segment 1 poisons every worker that claims it; its message ends up
	// in the DLQ with its last lease expired.
	_, l, err := e.store.ClaimSegment(e.ctx, x.ExportID, 1, "crashing-worker", lease)
	require.NoError(t, err)
	require.NoError(t, e.store.FailSegment(e.ctx, l, "worker crashed on item 42", false))
	require.NoError(t, e.dlq.Send(e.ctx, []queue.Task{
		{ExportID: x.ExportID, Segment: 1, TotalSegments: 2},
		{ExportID: "someone-else", Segment: 4, TotalSegments: 8},
	}))
	e.clock.Advance(time.Second)

	rep, err := e.rescue(x.ExportID, time.Hour, e.dlq)
	require.NoError(t, err)
	require.Equal(t, []int{1}, rep.Parked)
	seg, err := e.store.GetSegment(e.ctx, x.ExportID, 1)
	require.NoError(t, err)
	require.Equal(t, export.SegmentFailed, seg.State)
	require.Contains(t, seg.LastError, "moved to dead-letter queue")
	require.Contains(t, seg.LastError, "worker crashed on item 42", "the reason keeps the last error")

	// Every segment settled, one failed: Rescue settles the export too.
	got := e.state(x.ExportID)
	require.Equal(t, export.Failed, got.State)
	require.Equal(t, 1, got.SegmentsFailed)
	ids, err := e.store.ListActive(e.ctx)
	require.NoError(t, err)
	require.NotContains(t, ids, x.ExportID)

	// Our message is gone from the DLQ; another export's is left there.
	left := receiveAll(t, e.ctx, e.dlq, 1)
	require.Len(t, left, 1)
	require.Equal(t, "someone-else", left[0].ExportID)

	// A terminal export is only tidied from the index.
	rep, err = e.rescue(x.ExportID, time.Hour, e.dlq)
	require.NoError(t, err)
	require.Empty(t, rep.Parked)
	require.Empty(t, rep.Requeued)
	require.True(t, strings.HasPrefix(got.LastError, "segment 1: "), got.LastError)
}

// A message can reach the DLQ before any worker claimed its segment (a run
// of failed claims, say): the segment must still be marked FAILED, not left
// PENDING with no message anywhere.
func TestLocalStackRescueParksANeverClaimedSegment(t *testing.T) {
	e := newEnv(t)
	x := e.export(1)
	require.NoError(t, e.dlq.Send(e.ctx, []queue.Task{{ExportID: x.ExportID, Segment: 0, TotalSegments: 1}}))
	e.clock.Advance(time.Second)
	rep, err := e.rescue(x.ExportID, time.Hour, e.dlq)
	require.NoError(t, err)
	require.Equal(t, []int{0}, rep.Parked)
	seg, err := e.store.GetSegment(e.ctx, x.ExportID, 0)
	require.NoError(t, err)
	require.Equal(t, export.SegmentFailed, seg.State)
	require.Equal(t, export.Failed, e.state(x.ExportID).State)
}

// rescue runs one Rescue pass, sweeping dlq when it is not nil.
func (e *env) rescue(id string, grace time.Duration, dlq *queue.Queue) (lifecycle.RescueReport, error) {
	l := &lifecycle.Lifecycle{Store: e.life.Store, Buckets: e.life.Buckets, Queue: e.life.Queue, Log: e.life.Log,
		Clock: e.life.Clock, MaxAttempts: e.life.MaxAttempts}
	if dlq != nil {
		l.DLQ = dlq
	}
	return l.Rescue(e.ctx, id, grace)
}
