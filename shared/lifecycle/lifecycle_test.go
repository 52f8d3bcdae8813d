package lifecycle_test

// Unit tests of the export state machine on the in-memory control table,
// an in-process S3 and the in-memory SQS: every rule of docs/states.md in
// milliseconds, with time driven by a manual clock. The same transitions
// run against DynamoDB Local, versitygw and fauxqs in lifecycle_e2e_test.go.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ddbfleet/ddbfleet/internal/testkit/fakes3"
	"github.com/ddbfleet/ddbfleet/internal/testkit/memstore"
	"github.com/ddbfleet/ddbfleet/internal/testkit/sqsfake"
	"github.com/ddbfleet/ddbfleet/shared/clock"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/lifecycle"
	"github.com/ddbfleet/ddbfleet/shared/manifest"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
	"github.com/ddbfleet/ddbfleet/shared/queue"
)

type unit struct {
	t      *testing.T
	ctx    context.Context
	clock  *clock.Manual
	store  *memstore.Store
	obj    *objstore.Store
	bucket string
	work   *queue.Queue
	dlq    *queue.Queue
	life   *lifecycle.Lifecycle
	seq    int // names the next export
}

func newUnit(t *testing.T) *unit {
	ctx := context.Background()
	clk := clock.NewManual(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	s3c, bucket := fakes3.New(t)
	sqs := sqsfake.New(clk.Now)
	require.NoError(t, queue.Ensure(ctx, sqs, "work", 3, time.Minute))
	work, err := queue.Open(ctx, sqs, "work")
	require.NoError(t, err)
	dlq, err := queue.Open(ctx, sqs, queue.DLQName("work"))
	require.NoError(t, err)
	store := memstore.New(clk)
	u := &unit{t: t, ctx: ctx, clock: clk, store: store, bucket: bucket, work: work, dlq: dlq,
		obj: objstore.New(s3c, bucket, objstore.DefaultOptions)}
	u.life = &lifecycle.Lifecycle{
		Store:   store,
		Buckets: func(string) *objstore.Store { return u.obj },
		Queue:   work, DLQ: dlq, Log: zaptest.NewLogger(t), Clock: clk,
	}
	return u
}

func (u *unit) newExport(n int) *export.Export {
	return &export.Export{ExportID: fmt.Sprintf("exp-%d-of-%d", u.seq, n), Table: "orders", Bucket: u.bucket, Prefix: "p",
		SegmentsTotal: n, StartTime: u.clock.Now(), ArgsHash: "h1"}
}

func (u *unit) start(n int) *export.Export {
	u.t.Helper()
	e, created, err := u.life.Start(u.ctx, u.newExport(n))
	require.NoError(u.t, err)
	require.True(u.t, created)
	u.seq++
	return e
}

func (u *unit) receive(q *queue.Queue) []queue.Message {
	u.t.Helper()
	var all []queue.Message
	for {
		msgs, err := q.Receive(u.ctx, 10, 0, time.Minute)
		require.NoError(u.t, err)
		if len(msgs) == 0 {
			return all
		}
		all = append(all, msgs...)
	}
}

// drop receives and deletes every message now in q, and returns them.
func (u *unit) drop(q *queue.Queue) []queue.Message {
	u.t.Helper()
	msgs := u.receive(q)
	for _, m := range msgs {
		require.NoError(u.t, q.Delete(u.ctx, m.ReceiptHandle))
	}
	return msgs
}

func gzLines(t *testing.T, n int) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	for i := range n {
		fmt.Fprintf(zw, "{\"Item\":{\"pk\":{\"S\":\"%d\"}}}\n", i)
	}
	require.NoError(t, zw.Close())
	return b.Bytes()
}

// finish claims segment seg, uploads one part of items items and
// completes it, as a worker would; reported is what the segment claims.
func (u *unit) finish(e *export.Export, seg, items int, reported int64) export.Part {
	u.t.Helper()
	_, l, err := u.store.ClaimSegment(u.ctx, e.ExportID, seg, "w", time.Minute)
	require.NoError(u.t, err)
	key := e.PartKey(seg, 0, l.Attempt)
	info, err := u.obj.Put(u.ctx, key, gzLines(u.t, items), "")
	require.NoError(u.t, err)
	p := export.Part{Segment: seg, Part: 0, Attempt: l.Attempt, Key: key, ItemCount: int64(items), MD5: info.MD5Base64(), ETag: info.ETag, Bytes: info.Bytes}
	require.NoError(u.t, u.store.CompleteSegment(u.ctx, l, &p, export.Checkpoint{NextPart: 1, ItemCount: reported, Bytes: info.Bytes, Pages: 1}))
	return p
}

func (u *unit) get(id string) *export.Export {
	u.t.Helper()
	e, err := u.store.GetExport(u.ctx, id)
	require.NoError(u.t, err)
	return e
}

func (u *unit) exists(key string) bool {
	u.t.Helper()
	ok, err := u.obj.Exists(u.ctx, key)
	require.NoError(u.t, err)
	return ok
}

func TestStartRecordsEnqueuesAndRuns(t *testing.T) {
	u := newUnit(t)
	e := u.start(3)
	require.Equal(t, export.Running, e.State)
	require.Equal(t, export.Running, u.get(e.ExportID).State)
	require.True(t, u.exists(e.Root()+manifest.StartedName), "_started is written first")
	msgs := u.receive(u.work)
	require.Len(t, msgs, 3)

	u.seq--
	again, created, err := u.life.Start(u.ctx, u.newExport(3))
	require.NoError(t, err)
	require.False(t, created, "the same export again is found, not recorded")
	require.Equal(t, export.Running, again.State)
	require.Empty(t, u.receive(u.work), "a RUNNING export is not enqueued twice")

	other := u.newExport(3) // same id, other arguments
	other.ArgsHash = "h2"
	_, _, err = u.life.Start(u.ctx, other)
	var conflict *lifecycle.ConflictError
	require.ErrorAs(t, err, &conflict)
}

func TestStartFinishesAnExportLeftPending(t *testing.T) {
	u := newUnit(t)
	e := u.newExport(2)
	require.NoError(t, u.store.CreateExport(u.ctx, e), "a coordinator recorded it, then died before enqueueing")
	got, created, err := u.life.Start(u.ctx, u.newExport(2))
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, export.Running, got.State)
	require.Len(t, u.receive(u.work), 2)
}

func TestSettleFinalizesRemovesOrphansAndWritesSummaryLast(t *testing.T) {
	u := newUnit(t)
	e := u.start(2)
	p0 := u.finish(e, 0, 5, 5)
	orphan := e.PartKey(1, 0, 9)
	_, err := u.obj.Put(u.ctx, orphan, gzLines(t, 1), "")
	require.NoError(t, err)
	require.NoError(t, u.life.Settle(u.ctx, e.ExportID))
	require.Equal(t, export.Running, u.get(e.ExportID).State, "one segment left: not settled")

	p1 := u.finish(e, 1, 7, 7)
	require.NoError(t, u.life.Settle(u.ctx, e.ExportID))
	done := u.get(e.ExportID)
	require.Equal(t, export.Completed, done.State)
	require.Equal(t, e.Root()+manifest.SummaryName, done.ManifestSummaryKey)
	require.Equal(t, int64(12), done.ItemCount)
	require.False(t, u.exists(orphan), "the abandoned attempt's file is removed")
	require.True(t, u.exists(p0.Key))
	require.True(t, u.exists(p1.Key))
	for _, k := range []string{manifest.FilesName, manifest.FilesChecksumName, manifest.SummaryName, manifest.SummaryChecksumName} {
		require.True(t, u.exists(e.Root()+k), k)
	}
	active, err := u.store.ListActive(u.ctx)
	require.NoError(t, err)
	require.NotContains(t, active, e.ExportID)
}

func TestFinalizeFailsWhenCountsDoNotReconcile(t *testing.T) {
	u := newUnit(t)
	e := u.start(1)
	u.finish(e, 0, 5, 6)
	err := u.life.Settle(u.ctx, e.ExportID)
	require.ErrorContains(t, err, "counts do not reconcile")
	got := u.get(e.ExportID)
	require.Equal(t, export.Failed, got.State)
	require.False(t, u.exists(e.Root()+manifest.SummaryName), "no manifest for a failed export")
}

func TestFinalizeFailsWhenARecordedPartIsMissing(t *testing.T) {
	u := newUnit(t)
	e := u.start(1)
	p := u.finish(e, 0, 5, 5)
	require.NoError(t, u.obj.Delete(u.ctx, p.Key))
	require.ErrorContains(t, u.life.Settle(u.ctx, e.ExportID), "recorded but missing")
	require.Equal(t, export.Failed, u.get(e.ExportID).State)
}

func TestSettleFailsAnExportWithAFailedSegment(t *testing.T) {
	u := newUnit(t)
	e := u.start(2)
	u.finish(e, 0, 1, 1)
	_, l, err := u.store.ClaimSegment(u.ctx, e.ExportID, 1, "w", time.Minute)
	require.NoError(t, err)
	require.NoError(t, u.store.FailSegment(u.ctx, l, "access denied", true))
	require.NoError(t, u.life.Settle(u.ctx, e.ExportID))
	got := u.get(e.ExportID)
	require.Equal(t, export.Failed, got.State)
	require.Contains(t, got.LastError, "access denied")
	require.False(t, got.EndTime.IsZero())
}

func TestFinalizeTakesOverAnExpiredFinalizer(t *testing.T) {
	u := newUnit(t)
	e := u.start(1)
	u.finish(e, 0, 2, 2)
	_, won, err := u.store.ClaimFinalize(u.ctx, e.ExportID, 1, "dead-finalizer", lifecycle.FinalizeLease)
	require.NoError(t, err)
	require.True(t, won, "a finalizer claimed it, then died")
	require.NoError(t, u.life.Settle(u.ctx, e.ExportID))
	require.Equal(t, export.Finalizing, u.get(e.ExportID).State, "its claim is live")
	u.clock.Advance(lifecycle.FinalizeLease + time.Second)
	require.NoError(t, u.life.Settle(u.ctx, e.ExportID))
	require.Equal(t, export.Completed, u.get(e.ExportID).State)
}

func TestRescueRequeuesAnExpiredLease(t *testing.T) {
	u := newUnit(t)
	e := u.start(2)
	u.drop(u.work)
	_, l, err := u.store.ClaimSegment(u.ctx, e.ExportID, 1, "dead", 10*time.Second)
	require.NoError(t, err)
	rep, err := u.life.Rescue(u.ctx, e.ExportID, time.Minute)
	require.NoError(t, err)
	require.Empty(t, rep.Requeued, "a live lease is left alone")

	u.clock.Advance(10*time.Second + time.Minute)
	rep, err = u.life.Rescue(u.ctx, e.ExportID, time.Minute)
	require.NoError(t, err)
	require.Equal(t, []int{1}, rep.Requeued)
	require.Equal(t, []int{0}, rep.Resent, "segment 0 waited with no message anywhere (the test dropped it)")
	msgs := u.receive(u.work)
	require.Len(t, msgs, 2)
	require.ElementsMatch(t, []int{0, 1}, []int{msgs[0].Segment, msgs[1].Segment})
	seg, err := u.store.GetSegment(u.ctx, e.ExportID, 1)
	require.NoError(t, err)
	require.Equal(t, export.SegmentPending, seg.State)
	_, err = u.store.Heartbeat(u.ctx, l, time.Minute, export.Progress{})
	require.ErrorIs(t, err, export.ErrLeaseLost, "the dead owner is fenced off")
}

func TestRescueParksDeadLettersAndRetryResumes(t *testing.T) {
	u := newUnit(t)
	e := u.start(2)
	u.finish(e, 0, 3, 3)
	// Segment 1's message was delivered past maxReceiveCount: SQS moved
	// it to the dead-letter queue.
	for range 4 {
		msgs, err := u.work.Receive(u.ctx, 10, 0, 0)
		require.NoError(t, err)
		if len(msgs) == 0 {
			break
		}
	}
	require.NoError(t, u.dlq.Send(u.ctx, []queue.Task{{ExportID: e.ExportID, Segment: 1, TotalSegments: 2}}))
	rep, err := u.life.Rescue(u.ctx, e.ExportID, time.Minute)
	require.NoError(t, err)
	require.Equal(t, []int{1}, rep.Parked)
	require.Equal(t, export.Failed, u.get(e.ExportID).State, "all settled, one failed")

	reset, err := u.life.Retry(u.ctx, e.ExportID, time.Minute)
	require.NoError(t, err)
	require.Equal(t, []int{1}, reset)
	got := u.get(e.ExportID)
	require.Equal(t, export.Running, got.State)
	require.Zero(t, got.SegmentsFailed)
	msgs := u.receive(u.work)
	require.Len(t, msgs, 1)
	require.Equal(t, 1, msgs[0].Segment)
	u.finish(e, 1, 4, 4)
	require.NoError(t, u.life.Settle(u.ctx, e.ExportID))
	require.Equal(t, export.Completed, u.get(e.ExportID).State)
}

func TestRetryOfFinishedExports(t *testing.T) {
	u := newUnit(t)
	e := u.start(1)
	u.finish(e, 0, 1, 1)
	require.NoError(t, u.life.Settle(u.ctx, e.ExportID))
	reset, err := u.life.Retry(u.ctx, e.ExportID, time.Minute)
	require.NoError(t, err)
	require.Empty(t, reset, "nothing to retry in a COMPLETED export")

	c := u.start(2)
	_, err = u.life.Cancel(u.ctx, c.ExportID)
	require.NoError(t, err)
	_, err = u.life.Retry(u.ctx, c.ExportID, time.Minute)
	require.ErrorIs(t, err, lifecycle.ErrCancelled)
}

func TestCancelDeletesDataAndWritesTheMarker(t *testing.T) {
	u := newUnit(t)
	e := u.start(2)
	p := u.finish(e, 0, 2, 2)
	_, l, err := u.store.ClaimSegment(u.ctx, e.ExportID, 1, "w", time.Minute)
	require.NoError(t, err)
	n, err := u.life.Cancel(u.ctx, e.ExportID)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.False(t, u.exists(p.Key))
	require.True(t, u.exists(e.Root()+manifest.CancelledName))
	require.Equal(t, export.Cancelled, u.get(e.ExportID).State)
	err = u.store.CommitPart(u.ctx, l, export.Part{Segment: 1}, export.Checkpoint{NextPart: 1}, time.Minute)
	require.ErrorIs(t, err, export.ErrLeaseLost, "a cancelled export rejects commits")

	done := u.start(1)
	u.finish(done, 0, 1, 1)
	require.NoError(t, u.life.Settle(u.ctx, done.ExportID))
	_, err = u.life.Cancel(u.ctx, done.ExportID)
	var nc *lifecycle.NotCancellableError
	require.ErrorAs(t, err, &nc)
	require.Equal(t, export.Completed, nc.State)
}

func TestRescuerServiceRescuesEveryActiveExport(t *testing.T) {
	u := newUnit(t)
	e := u.start(1)
	u.drop(u.work)
	_, _, err := u.store.ClaimSegment(u.ctx, e.ExportID, 0, "dead", time.Second)
	require.NoError(t, err)
	r := &lifecycle.Rescuer{Life: u.life, Period: time.Minute, Grace: time.Minute, Log: zaptest.NewLogger(t), Clock: u.clock}
	ctx, cancel := context.WithTimeout(u.ctx, 10*time.Second)
	defer cancel()
	r.Start(ctx)
	defer r.Stop()
	require.True(t, u.clock.BlockUntil(ctx, 1), "the rescuer waits on its ticker")
	u.clock.Advance(2 * time.Minute)
	require.Eventually(t, func() bool {
		seg, err := u.store.GetSegment(u.ctx, e.ExportID, 0)
		return err == nil && seg.State == export.SegmentPending
	}, 5*time.Second, 10*time.Millisecond, "the expired lease is handed back")
	r.Stop()
	require.Len(t, u.receive(u.work), 1)
}

func TestSettleReportsStoreErrors(t *testing.T) {
	u := newUnit(t)
	e := u.start(1)
	boom := errors.New("control table unreachable")
	u.store.Fault = func(method string, after bool) error {
		if method == "GetExport" && !after {
			return boom
		}
		return nil
	}
	require.ErrorIs(t, u.life.Settle(u.ctx, e.ExportID), boom)
	_, err := u.life.Rescue(u.ctx, e.ExportID, time.Minute)
	require.ErrorIs(t, err, boom)
}

// A retry that reopens the export between Settle's read and its RUNNING →
// FAILED write must win: the write is conditional on the counters read,
// or the export ends FAILED with PENDING segments retry cannot reopen.
func TestSettleDoesNotFailAnExportARetryReopened(t *testing.T) {
	u := newUnit(t)
	e := u.start(2)
	u.finish(e, 0, 1, 1)
	_, l, err := u.store.ClaimSegment(u.ctx, e.ExportID, 1, "w", time.Minute)
	require.NoError(t, err)
	require.NoError(t, u.store.FailSegment(u.ctx, l, "throttled for too long", true))
	raced := false
	u.store.Fault = func(method string, after bool) error {
		if method == "SetExportState" && !after && !raced {
			raced = true
			_, err := u.store.ResetFailed(u.ctx, e.ExportID) // coordinator retry, meanwhile
			return err
		}
		return nil
	}
	require.NoError(t, u.life.Settle(u.ctx, e.ExportID))
	require.True(t, raced)
	got := u.get(e.ExportID)
	require.Equal(t, export.Running, got.State, "the reopened export stays RUNNING")
	require.Zero(t, got.SegmentsFailed)
}

// A segment that kills its worker every time is not re-enqueued forever
// (with no coordinator, nothing sweeps the dead-letter queue): past
// MaxAttempts claims since its last reset the rescuer fails it, with why.
func TestRescueFailsASegmentThatKeepsKillingItsWorker(t *testing.T) {
	u := newUnit(t)
	u.life.MaxAttempts = 3
	e := u.start(1)
	for i := range 3 {
		u.drop(u.work)
		_, _, err := u.store.ClaimSegment(u.ctx, e.ExportID, 0, fmt.Sprintf("crashing-%d", i), time.Second)
		require.NoError(t, err)
		u.clock.Advance(2 * time.Minute)
		rep, err := u.life.Rescue(u.ctx, e.ExportID, time.Minute)
		require.NoError(t, err)
		if i < 2 {
			require.Equal(t, []int{0}, rep.Requeued, "attempt %d is handed back", i+1)
		}
	}
	seg, err := u.store.GetSegment(u.ctx, e.ExportID, 0)
	require.NoError(t, err)
	require.Equal(t, export.SegmentFailed, seg.State, "the third dead attempt fails it")
	require.Contains(t, seg.LastError, "3 attempts")
	got := u.get(e.ExportID)
	require.Equal(t, export.Failed, got.State)

	// retry resets the count: the segment gets MaxAttempts more.
	reset, err := u.life.Retry(u.ctx, e.ExportID, time.Minute)
	require.NoError(t, err)
	require.Equal(t, []int{0}, reset)
	u.drop(u.work)
	_, _, err = u.store.ClaimSegment(u.ctx, e.ExportID, 0, "after-retry", time.Second)
	require.NoError(t, err)
	u.clock.Advance(2 * time.Minute)
	rep, err := u.life.Rescue(u.ctx, e.ExportID, time.Minute)
	require.NoError(t, err)
	require.Equal(t, []int{0}, rep.Requeued)
}

// Work whose message is gone (a coordinator killed mid-enqueue, a retry
// killed before re-sending, a message past SQS's retention) is re-sent
// once the queue holds nothing at all: a PENDING export is started again
// and PENDING segments get a message.
func TestRescueResendsPendingWorkWhoseMessagesAreGone(t *testing.T) {
	u := newUnit(t)
	x := u.newExport(3)
	x.State = export.Pending
	require.NoError(t, u.store.CreateExport(u.ctx, x), "recorded, then the coordinator died before enqueueing")
	u.clock.Advance(3 * time.Minute)
	_, err := u.life.Rescue(u.ctx, x.ExportID, time.Minute)
	require.NoError(t, err)
	require.Equal(t, export.Running, u.get(x.ExportID).State, "the rescuer finishes the start")
	require.Len(t, u.drop(u.work), 3, "and enqueues every segment")

	// All three messages were lost (deleted without work): the segments
	// are PENDING with no message anywhere.
	u.clock.Advance(3 * time.Minute)
	rep, err := u.life.Rescue(u.ctx, x.ExportID, time.Minute)
	require.NoError(t, err)
	require.ElementsMatch(t, []int{0, 1, 2}, rep.Resent)
	require.Len(t, u.receive(u.work), 3)

	// While the queue holds messages, PENDING segments are waiting their
	// turn, not lost: nothing is re-sent.
	u.clock.Advance(3 * time.Minute)
	rep, err = u.life.Rescue(u.ctx, x.ExportID, time.Minute)
	require.NoError(t, err)
	require.Empty(t, rep.Resent)
}

func TestOneStewardRescuesAnExportHoweverManyWorkers(t *testing.T) {
	u := newUnit(t)
	e := u.start(4)
	period := time.Minute
	rescuers := make([]*lifecycle.Rescuer, 50)
	for i := range rescuers {
		rescuers[i] = &lifecycle.Rescuer{Life: u.life, ID: fmt.Sprintf("w%d", i), Period: period, Grace: period, Log: zaptest.NewLogger(t), Clock: u.clock}
	}
	tick := func() {
		for _, r := range rescuers {
			r.Tick(u.ctx)
		}
	}
	base := u.store.Calls()
	tick()
	calls := u.store.Calls()
	require.Equal(t, 1, calls["ListSegments"]-base["ListSegments"], "one pass over the segments, by the steward")
	require.Equal(t, 1, calls["RecordSample"]-base["RecordSample"])

	for range 2 {
		u.clock.Advance(period)
		tick()
	}
	after := u.store.Calls()
	require.Equal(t, 3, after["ListSegments"]-base["ListSegments"], "the steward, once a period")
	require.Equal(t, 50+2, after["ListActive"]-base["ListActive"], "the others look only every few periods")

	// The steward dies: after its stewardship lapses, a candidate that
	// looks takes the export over.
	rescuers = rescuers[1:]
	for range 5 {
		u.clock.Advance(period)
		tick()
	}
	active, err := u.store.ListActive(u.ctx)
	require.NoError(t, err)
	require.Len(t, active, 1)
	require.Equal(t, e.ExportID, active[0].ExportID)
	require.NotEqual(t, "w0", active[0].Steward, "taken over")
	require.True(t, active[0].StewardExpiry.After(u.clock.Now()))
}

func TestRescuePublishesReadSharesOnlyWhenTheyDrift(t *testing.T) {
	u := newUnit(t)
	want := u.newExport(8)
	want.ReadCapacityCap = 120
	e, _, err := u.life.Start(u.ctx, want)
	require.NoError(t, err)
	var leases []export.Lease
	for seg := range 4 {
		_, l, err := u.store.ClaimSegment(u.ctx, e.ExportID, seg, fmt.Sprintf("w%d", seg), time.Hour)
		require.NoError(t, err)
		leases = append(leases, l)
	}
	share := func(seg int) float64 {
		s, err := u.store.GetSegment(u.ctx, e.ExportID, seg)
		require.NoError(t, err)
		return s.Share
	}
	_, err = u.life.Rescue(u.ctx, e.ExportID, time.Minute)
	require.NoError(t, err)
	for seg := range 4 {
		require.Equal(t, 30.0, share(seg), "the cap divided among the 4 live leases")
	}
	require.Zero(t, share(5), "no share for a segment nobody holds")
	writes := u.store.Calls()["PublishShare"]
	require.Equal(t, 4, writes)

	_, err = u.life.Rescue(u.ctx, e.ExportID, time.Minute)
	require.NoError(t, err)
	require.Equal(t, writes, u.store.Calls()["PublishShare"], "nothing changed, nothing written")

	require.NoError(t, u.store.CompleteSegment(u.ctx, leases[3], nil, export.Checkpoint{}))
	_, err = u.life.Rescue(u.ctx, e.ExportID, time.Minute)
	require.NoError(t, err)
	for seg := range 3 {
		require.Equal(t, 40.0, share(seg), "one lease fewer: 30 is a third off the fair 40")
	}
}

func TestCancelFencesHoldersAndTheStewardSweepsLateFiles(t *testing.T) {
	u := newUnit(t)
	e := u.start(3)
	u.finish(e, 0, 2, 2)
	_, l, err := u.store.ClaimSegment(u.ctx, e.ExportID, 1, "w", time.Minute)
	require.NoError(t, err)
	_, err = u.life.Cancel(u.ctx, e.ExportID)
	require.NoError(t, err)
	for seg, want := range []export.SegmentState{export.SegmentDone, export.SegmentCancelled, export.SegmentCancelled} {
		s, err := u.store.GetSegment(u.ctx, e.ExportID, seg)
		require.NoError(t, err)
		require.Equal(t, want, s.State, "segment %d", seg)
	}
	_, err = u.store.Heartbeat(u.ctx, l, time.Minute, export.Progress{})
	require.ErrorIs(t, err, export.ErrLeaseLost, "the holder stops at its next heartbeat")

	// A holder that could not hear of the cancel finishes an upload.
	late := e.PartKey(1, 0, l.Attempt)
	_, err = u.obj.Put(u.ctx, late, gzLines(t, 1), "")
	require.NoError(t, err)
	grace := time.Minute
	_, err = u.life.Rescue(u.ctx, e.ExportID, grace)
	require.NoError(t, err)
	require.True(t, u.exists(late), "not while a lease could still be live")
	active, err := u.store.ListActive(u.ctx)
	require.NoError(t, err)
	require.Len(t, active, 1, "kept in the index for the last sweep")

	u.clock.Advance(2*grace + time.Second)
	_, err = u.life.Rescue(u.ctx, e.ExportID, grace)
	require.NoError(t, err)
	require.False(t, u.exists(late), "swept once no lease can be live")
	require.True(t, u.exists(e.Root()+manifest.CancelledName))
	active, err = u.store.ListActive(u.ctx)
	require.NoError(t, err)
	require.Empty(t, active)
}

func TestCandidatesSpreadTheirLooksOverTheFleet(t *testing.T) {
	u := newUnit(t)
	const workers = 400
	e := u.start(workers)
	for i := range workers {
		_, _, err := u.store.ClaimSegment(u.ctx, e.ExportID, i, fmt.Sprintf("w%d/nonce", i), 24*time.Hour)
		require.NoError(t, err)
	}
	period := time.Minute
	rescuers := make([]*lifecycle.Rescuer, workers)
	for i := range rescuers {
		rescuers[i] = &lifecycle.Rescuer{Life: u.life, ID: fmt.Sprintf("w%d", i), Period: period, Grace: period, Log: zaptest.NewLogger(t), Clock: u.clock}
	}
	base := u.store.Calls()["ListActive"]
	const periods = 100
	for range periods {
		for _, r := range rescuers {
			r.Tick(u.ctx)
		}
		u.clock.Advance(period)
	}
	active, err := u.store.ListActive(u.ctx)
	require.NoError(t, err)
	require.Equal(t, workers, active[0].Fleet, "the steward publishes how many processes hold leases")
	// Everyone looks once at start; then, however many candidates, about
	// looksPerPeriod (4) a period, the steward's own passes included.
	looks := u.store.Calls()["ListActive"] - base - workers
	require.InDelta(t, 5*periods, looks, 2.0*periods, "looks after the first, fleet-wide, in %d periods", periods)
}
