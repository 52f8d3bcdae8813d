//go:build e2e

// The control table's contract is proven against DynamoDB Local only. There
// is no fake: the store's guarantees live in condition expressions, update
// expressions (SET/ADD/REMOVE) and TransactWriteItems cancellation reasons,
// and a fake faithful enough to test fencing would be a second DynamoDB
// expression engine that could itself be wrong. The real server is the
// only trustworthy judge of those semantics.

package controltable_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/awsclient"
	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/fleettest"
)

// clock is the store's injected time: leases expire when the test says so,

// env is one test's control table on the shared DynamoDB Local.
type env struct {
	t     *testing.T
	ctx   context.Context
	ddb   *dynamodb.Client
	table string
	clock *fleettest.Clock
	store controltable.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	require.NotEmpty(t, os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"),
		"AWS_ENDPOINT_URL_DYNAMODB is not set: run with `make test`, or `bash scripts/stack.sh up DIR && . DIR/env`")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	c, err := awsclient.Load(ctx, awsclient.Options{})
	require.NoError(t, err)
	table := fleettest.Unique("ct-")
	require.NoError(t, controltable.EnsureTable(ctx, c.DynamoDB, table))
	clk := fleettest.NewClock(time.Now().Truncate(time.Millisecond))
	// A condition failure is never retried, so a short budget only affects
	// genuine server hiccups.
	store := controltable.WithRetry(controltable.NewDynamo(c.DynamoDB, table, clk), fault.DefaultPolicy.Instant())
	return &env{t: t, ctx: ctx, ddb: c.DynamoDB, table: table, clock: clk, store: store}
}

// export records a new export with n segments and returns its id.
func (e *env) export(n int, running bool) string {
	e.t.Helper()
	id := fleettest.Unique("exp-")
	require.NoError(e.t, e.store.CreateExport(e.ctx, &export.Export{
		ExportID: id, Table: "orders", Bucket: "b", Prefix: "p", SegmentsTotal: n, StartTime: e.clock.Now(),
	}))
	if running {
		ok, err := e.store.SetExportState(e.ctx, id, []export.State{export.Pending}, export.Running, controltable.ExportUpdate{})
		require.NoError(e.t, err)
		require.True(e.t, ok)
	}
	return id
}

func (e *env) getExport(id string) *export.Export {
	e.t.Helper()
	x, err := e.store.GetExport(e.ctx, id)
	require.NoError(e.t, err)
	return x
}

func (e *env) getSegment(id string, seg int) *export.Segment {
	e.t.Helper()
	s, err := e.store.GetSegment(e.ctx, id, seg)
	require.NoError(e.t, err)
	return s
}

func (e *env) claim(id string, seg int, owner string) export.Lease {
	e.t.Helper()
	_, l, err := e.store.ClaimSegment(e.ctx, id, seg, owner, lease)
	require.NoError(e.t, err)
	return l
}

func (e *env) active() []string {
	e.t.Helper()
	ids, err := e.store.ListActive(e.ctx)
	require.NoError(e.t, err)
	return ids
}

const lease = 30 * time.Second

func cursor(k string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: k},
		"sk": &types.AttributeValueMemberN{Value: "7"},
	}
}

func part(l export.Lease, n int, items int64) export.Part {
	return export.Part{
		Segment: l.Segment, Part: n, Attempt: l.Attempt, ItemCount: items, Bytes: items * 10,
		Key: fmt.Sprintf("data/s%06d-%06d-a%d.json.gz", l.Segment, n, l.Attempt), MD5: "bWQ1", ETag: "etag",
	}
}

func TestEnsureTableTwice(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, controltable.EnsureTable(e.ctx, e.ddb, e.table), "a second init is harmless")
	out, err := e.ddb.DescribeTable(e.ctx, &dynamodb.DescribeTableInput{TableName: &e.table})
	require.NoError(t, err)
	require.Equal(t, types.TableStatusActive, out.Table.TableStatus)
	ttl, err := e.ddb.DescribeTimeToLive(e.ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &e.table})
	require.NoError(t, err)
	require.Equal(t, "expiresAt", *ttl.TimeToLiveDescription.AttributeName)
}

func TestCreateExport(t *testing.T) {
	e := newEnv(t)
	// 30 segments: more than one BatchWriteItem of 25.
	id := e.export(30, false)
	x := e.getExport(id)
	require.Equal(t, export.Pending, x.State)
	require.Equal(t, 30, x.SegmentsTotal)
	require.Equal(t, "orders", x.Table)
	require.Equal(t, "p/AWSDynamoDB/"+id+"/", x.Root())
	segs, err := e.store.ListSegments(e.ctx, id)
	require.NoError(t, err)
	require.Len(t, segs, 30)
	for i, s := range segs {
		require.Equal(t, i, s.Segment, "segments come back in order")
		require.Equal(t, export.SegmentPending, s.State)
		require.Equal(t, 0, s.Attempt)
		require.Nil(t, s.Cursor)
	}
	require.Contains(t, e.active(), id, "a new export is in the active index")

	err = e.store.CreateExport(e.ctx, &export.Export{ExportID: id, SegmentsTotal: 3})
	require.ErrorIs(t, err, export.ErrExists)
	require.Equal(t, 30, e.getExport(id).SegmentsTotal, "the existing export is untouched")

	_, err = e.store.GetExport(e.ctx, "no-such-export")
	require.ErrorIs(t, err, export.ErrNotFound)
	_, err = e.store.GetSegment(e.ctx, id, 30)
	require.ErrorIs(t, err, export.ErrNotFound)
}

func TestClaimLeaseAndFencing(t *testing.T) {
	e := newEnv(t)
	id := e.export(2, true)

	seg, l1, err := e.store.ClaimSegment(e.ctx, id, 0, "w1/a", lease)
	require.NoError(t, err)
	require.Equal(t, export.SegmentRunning, seg.State)
	require.Equal(t, 1, seg.Attempt)
	require.Equal(t, 1, l1.Attempt)
	require.Equal(t, "w1/a", seg.Owner)
	require.Equal(t, e.clock.Now().Add(lease).UTC(), seg.LeaseExpiry)

	// A retry of the same claim (its response was lost) gets the same lease.
	_, again, err := e.store.ClaimSegment(e.ctx, id, 0, "w1/a", lease)
	require.NoError(t, err)
	require.Equal(t, l1, again)

	// A second worker cannot take a live lease.
	_, _, err = e.store.ClaimSegment(e.ctx, id, 0, "w2/b", lease)
	var nc *export.NotClaimableError
	require.ErrorAs(t, err, &nc)
	require.Equal(t, export.SegmentRunning, nc.State)
	require.Equal(t, "w1/a", nc.Owner)

	// Heartbeats keep it alive past the first expiry.
	e.clock.Advance(20 * time.Second)
	require.NoError(t, e.store.Heartbeat(e.ctx, l1, lease, 0))
	e.clock.Advance(20 * time.Second)
	_, _, err = e.store.ClaimSegment(e.ctx, id, 0, "w2/b", lease)
	require.ErrorAs(t, err, &nc, "the heartbeat extended the lease")

	// A heartbeat with progress records what was read before any commit.
	require.NoError(t, e.store.Heartbeat(e.ctx, l1, lease, 42))
	live, err := e.store.GetSegment(e.ctx, id, 0)
	require.NoError(t, err)
	require.EqualValues(t, 42, live.LiveItems)
	require.EqualValues(t, 0, live.ItemCount, "progress is not a commit")

	cp := export.Checkpoint{Cursor: cursor("k100"), NextPart: 1, ItemCount: 100, Bytes: 1000, Pages: 2}
	require.NoError(t, e.store.CommitPart(e.ctx, l1, part(l1, 0, 100), cp, lease))

	// w1 goes quiet; after its lease expires w2 takes over as attempt 2
	// and resumes from w1's checkpoint.
	e.clock.Advance(lease + time.Second)
	seg2, l2, err := e.store.ClaimSegment(e.ctx, id, 0, "w2/b", lease)
	require.NoError(t, err)
	require.Equal(t, 2, l2.Attempt)
	require.Equal(t, "w2/b", seg2.Owner)
	require.Equal(t, cp.Cursor, seg2.Cursor, "the cursor survives the takeover")
	require.Equal(t, 1, seg2.NextPart)
	require.EqualValues(t, 100, seg2.ItemCount)
	require.EqualValues(t, 1000, seg2.Bytes)
	require.EqualValues(t, 2, seg2.Pages)

	// Every write of the zombie is fenced off.
	zombie := []struct {
		name string
		err  error
	}{
		{"Heartbeat", e.store.Heartbeat(e.ctx, l1, lease, 0)},
		{"CommitPart", e.store.CommitPart(e.ctx, l1, part(l1, 1, 5), export.Checkpoint{Cursor: cursor("zombie"), NextPart: 2, ItemCount: 105}, lease)},
		{"CompleteSegment", e.store.CompleteSegment(e.ctx, l1, nil, export.Checkpoint{NextPart: 1, ItemCount: 100})},
		{"ReleaseSegment", e.store.ReleaseSegment(e.ctx, l1, "drain")},
		{"FailSegment", e.store.FailSegment(e.ctx, l1, "boom", false)},
		{"FailSegmentFinal", e.store.FailSegment(e.ctx, l1, "boom", true)},
	}
	for _, z := range zombie {
		require.ErrorIs(t, z.err, export.ErrLeaseLost, z.name)
		require.True(t, export.IsLeaseLost(z.err), z.name)
		require.Contains(t, z.err.Error(), "attempt 1", "%s: the error names the lost lease", z.name)
	}
	after := e.getSegment(id, 0)
	require.Equal(t, export.SegmentRunning, after.State)
	require.Equal(t, 2, after.Attempt)
	require.Equal(t, "w2/b", after.Owner)
	require.Equal(t, cp.Cursor, after.Cursor, "the zombie's checkpoint did not land")
	require.Equal(t, 1, after.NextPart)
	require.Zero(t, after.Failures)
	parts, err := e.store.ListParts(e.ctx, id)
	require.NoError(t, err)
	require.Len(t, parts, 1, "the zombie's part row did not land")
	require.Equal(t, part(l1, 0, 100), parts[0])
	x := e.getExport(id)
	require.Zero(t, x.SegmentsDone)
	require.Zero(t, x.SegmentsFailed)

	// The new owner's writes go through.
	require.NoError(t, e.store.Heartbeat(e.ctx, l2, lease, 0))
	require.NoError(t, e.store.ReleaseSegment(e.ctx, l2, "released by draining worker"))
	// A released segment is claimable at once, from the same checkpoint.
	seg3, l3, err := e.store.ClaimSegment(e.ctx, id, 0, "w3/c", lease)
	require.NoError(t, err)
	require.Equal(t, 3, l3.Attempt)
	require.Equal(t, cp.Cursor, seg3.Cursor)
	require.Equal(t, "released by draining worker", seg3.LastError)
}

func TestCompleteSegmentCountsOnce(t *testing.T) {
	e := newEnv(t)
	id := e.export(2, true)
	l := e.claim(id, 1, "w1/a")
	require.NoError(t, e.store.CommitPart(e.ctx, l, part(l, 0, 10), export.Checkpoint{Cursor: cursor("k10"), NextPart: 1, ItemCount: 10, Bytes: 100, Pages: 1}, lease))
	last := part(l, 1, 15)
	final := export.Checkpoint{NextPart: 2, ItemCount: 25, Bytes: 250, Pages: 3}
	require.NoError(t, e.store.CompleteSegment(e.ctx, l, &last, final))
	// The retry of a completion whose response was lost is a no-op.
	require.NoError(t, e.store.CompleteSegment(e.ctx, l, &last, final))

	x := e.getExport(id)
	require.Equal(t, 1, x.SegmentsDone, "counted once")
	require.EqualValues(t, 25, x.ItemCount)
	require.EqualValues(t, 250, x.Bytes)
	require.Equal(t, 2, x.Parts)
	s := e.getSegment(id, 1)
	require.Equal(t, export.SegmentDone, s.State)
	require.Nil(t, s.Cursor, "a finished segment has no cursor")
	require.Equal(t, 2, s.NextPart)
	parts, err := e.store.ListParts(e.ctx, id)
	require.NoError(t, err)
	require.Len(t, parts, 2)

	// A DONE segment is never claimed again, even once its lease is past.
	e.clock.Advance(2 * lease)
	_, _, err = e.store.ClaimSegment(e.ctx, id, 1, "w2/b", lease)
	var nc *export.NotClaimableError
	require.ErrorAs(t, err, &nc)
	require.Equal(t, export.SegmentDone, nc.State)
}

func TestFailSegmentAndResetFailed(t *testing.T) {
	e := newEnv(t)
	id := e.export(2, true)
	l1 := e.claim(id, 0, "w1/a")
	cp := export.Checkpoint{Cursor: cursor("k42"), NextPart: 3, ItemCount: 42, Bytes: 420, Pages: 4}
	require.NoError(t, e.store.CommitPart(e.ctx, l1, part(l1, 2, 42), cp, lease))

	// A retryable failure releases the lease: the next delivery retries
	// at once, from the checkpoint.
	require.NoError(t, e.store.FailSegment(e.ctx, l1, "throttled", false))
	s := e.getSegment(id, 0)
	require.Equal(t, export.SegmentRunning, s.State)
	require.Equal(t, 1, s.Failures)
	require.Equal(t, "throttled", s.LastError)
	l2 := e.claim(id, 0, "w2/b")
	require.Equal(t, 2, l2.Attempt)

	// A final failure parks the segment and counts it on the export.
	require.NoError(t, e.store.FailSegment(e.ctx, l2, "poison item", true))
	s = e.getSegment(id, 0)
	require.Equal(t, export.SegmentFailed, s.State)
	require.Equal(t, 2, s.Failures)
	x := e.getExport(id)
	require.Equal(t, 1, x.SegmentsFailed)
	require.Contains(t, x.LastError, "segment 0: poison item")
	_, _, err := e.store.ClaimSegment(e.ctx, id, 0, "w3/c", lease)
	var nc *export.NotClaimableError
	require.ErrorAs(t, err, &nc)
	require.Equal(t, export.SegmentFailed, nc.State)

	// The export settles as FAILED and leaves the active index.
	ok, err := e.store.SetExportState(e.ctx, id, []export.State{export.Running}, export.Failed, controltable.ExportUpdate{})
	require.NoError(t, err)
	require.True(t, ok)
	require.NotContains(t, e.active(), id)

	// coordinator retry: the segment is PENDING again with its checkpoint,
	// and the export RUNNING and active again.
	reset, err := e.store.ResetFailed(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, []int{0}, reset)
	s = e.getSegment(id, 0)
	require.Equal(t, export.SegmentPending, s.State)
	require.Zero(t, s.Failures)
	require.Equal(t, cp.Cursor, s.Cursor, "a retry resumes, it does not restart")
	require.Equal(t, 3, s.NextPart)
	require.EqualValues(t, 42, s.ItemCount)
	x = e.getExport(id)
	require.Equal(t, export.Running, x.State)
	require.Zero(t, x.SegmentsFailed)
	require.Contains(t, e.active(), id)

	// Nothing left to reset.
	reset, err = e.store.ResetFailed(e.ctx, id)
	require.NoError(t, err)
	require.Empty(t, reset)

	l3 := e.claim(id, 0, "w3/c")
	require.Equal(t, 3, l3.Attempt)
}

func TestClaimFinalizeWinsOnce(t *testing.T) {
	e := newEnv(t)
	id := e.export(2, true)
	won, err := e.store.ClaimFinalize(e.ctx, id, 2, time.Minute)
	require.NoError(t, err)
	require.False(t, won, "not before every segment is done")

	for seg := range 2 {
		l := e.claim(id, seg, fmt.Sprintf("w%d", seg))
		require.NoError(t, e.store.CompleteSegment(e.ctx, l, nil, export.Checkpoint{}))
	}
	won, err = e.store.ClaimFinalize(e.ctx, id, 2, time.Minute)
	require.NoError(t, err)
	require.True(t, won)
	require.Equal(t, export.Finalizing, e.getExport(id).State)
	won, err = e.store.ClaimFinalize(e.ctx, id, 2, time.Minute)
	require.NoError(t, err)
	require.False(t, won, "a live finalizer is not displaced")

	// A finalizer that died is taken over once its claim expires.
	e.clock.Advance(time.Minute + time.Second)
	won, err = e.store.ClaimFinalize(e.ctx, id, 2, time.Minute)
	require.NoError(t, err)
	require.True(t, won)
	require.Equal(t, e.clock.Now().Add(time.Minute).UTC(), e.getExport(id).FinalizeLease)
}

func TestSetExportStateAndActiveIndex(t *testing.T) {
	e := newEnv(t)
	id := e.export(1, false)
	other := e.export(1, true)

	ok, err := e.store.SetExportState(e.ctx, id, []export.State{export.Pending}, export.Running, controltable.ExportUpdate{})
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = e.store.SetExportState(e.ctx, id, []export.State{export.Pending}, export.Running, controltable.ExportUpdate{})
	require.NoError(t, err)
	require.False(t, ok, "the transition is conditional on the from state")
	ok, err = e.store.SetExportState(e.ctx, "no-such-export", []export.State{export.Running}, export.Cancelled, controltable.ExportUpdate{})
	require.NoError(t, err)
	require.False(t, ok, "a missing export is not created by a transition")
	_, err = e.store.GetExport(e.ctx, "no-such-export")
	require.ErrorIs(t, err, export.ErrNotFound)
	require.Contains(t, e.active(), id, "RUNNING is active")

	ok, err = e.store.SetExportState(e.ctx, id,
		[]export.State{export.Pending, export.Running, export.Failed},
		export.Cancelled,
		controltable.ExportUpdate{LastError: "cancelled by operator"})
	require.NoError(t, err)
	require.True(t, ok)
	x := e.getExport(id)
	require.Equal(t, export.Cancelled, x.State)
	require.Equal(t, "cancelled by operator", x.LastError)
	ids := e.active()
	require.NotContains(t, ids, id, "a terminal export leaves the active index")
	require.Contains(t, ids, other, "other exports stay")

	// Forget is idempotent (the rescuer may tidy twice).
	require.NoError(t, e.store.Forget(e.ctx, id))
	require.NoError(t, e.store.Forget(e.ctx, other))
	require.NotContains(t, e.active(), other)
}

func TestCancelledExportRejectsWrites(t *testing.T) {
	e := newEnv(t)
	id := e.export(1, true)
	l := e.claim(id, 0, "w1/a")
	ok, err := e.store.SetExportState(e.ctx, id, []export.State{export.Running}, export.Cancelled, controltable.ExportUpdate{})
	require.NoError(t, err)
	require.True(t, ok)

	err = e.store.CommitPart(e.ctx, l, part(l, 0, 5), export.Checkpoint{Cursor: cursor("k5"), NextPart: 1, ItemCount: 5}, lease)
	require.ErrorIs(t, err, export.ErrLeaseLost, "a cancelled export takes no more parts")
	err = e.store.CompleteSegment(e.ctx, l, nil, export.Checkpoint{})
	require.ErrorIs(t, err, export.ErrLeaseLost, "nor completions")
	parts, err := e.store.ListParts(e.ctx, id)
	require.NoError(t, err)
	require.Empty(t, parts)
	require.Zero(t, e.getExport(id).SegmentsDone)
}

func TestRequeueExpiredAndFailUnleased(t *testing.T) {
	e := newEnv(t)
	id := e.export(2, true)
	e.claim(id, 0, "w1/a")
	seg := e.getSegment(id, 0)
	ok, err := e.store.RequeueExpired(e.ctx, seg)
	require.NoError(t, err)
	require.False(t, ok, "a live lease is never requeued")
	ok, err = e.store.FailUnleased(e.ctx, id, 0, "parked")
	require.NoError(t, err)
	require.False(t, ok, "a live lease is never failed from outside")

	e.clock.Advance(lease + time.Second)
	ok, err = e.store.RequeueExpired(e.ctx, seg)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, export.SegmentPending, e.getSegment(id, 0).State)
	ok, err = e.store.RequeueExpired(e.ctx, seg)
	require.NoError(t, err)
	require.False(t, ok, "requeued once")

	// A requeue conditional on a lease someone has since re-claimed fails.
	l2 := e.claim(id, 0, "w2/b")
	e.clock.Advance(lease + time.Second)
	ok, err = e.store.RequeueExpired(e.ctx, seg)
	require.NoError(t, err)
	require.False(t, ok, "attempt 1's view cannot requeue attempt 2")

	ok, err = e.store.FailUnleased(e.ctx, id, 0, "moved to dead-letter queue")
	require.NoError(t, err)
	require.True(t, ok)
	s := e.getSegment(id, 0)
	require.Equal(t, export.SegmentFailed, s.State)
	require.Equal(t, "moved to dead-letter queue", s.LastError)
	require.Equal(t, 1, e.getExport(id).SegmentsFailed)
	require.ErrorIs(t, e.store.Heartbeat(e.ctx, l2, lease, 0), export.ErrLeaseLost, "the expired owner is fenced off")
	ok, err = e.store.FailUnleased(e.ctx, id, 0, "again")
	require.NoError(t, err)
	require.False(t, ok, "a FAILED segment is counted once")
	require.Equal(t, 1, e.getExport(id).SegmentsFailed)
}
