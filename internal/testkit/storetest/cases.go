package storetest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/datafile"
	"github.com/ddbfleet/ddbfleet/shared/export"
)

// cases is the suite, in the order Run runs it.
var cases = []struct {
	name string
	run  func(*env)
}{
	{"CreateExport", testCreateExport},
	{"HistoryKeepsOneSampleAMinute", testHistory},
	{"ListExportsNewestFirst", testListExports},
	{"CreateExportTwice", testCreateExportTwice},
	{"ExportRoundTrip", testExportRoundTrip},
	{"ClaimLeaseAndFencing", testClaimLeaseAndFencing},
	{"LeasesLive", testLeasesLive},
	{"StewardLease", testStewardLease},
	{"PublishShareRidesOnHeartbeats", testPublishShare},
	{"CompleteSegmentCountsOnce", testCompleteSegmentCountsOnce},
	{"FailSegmentAndResetFailed", testFailSegmentAndResetFailed},
	{"ClaimFinalizeWinsOnce", testClaimFinalizeWinsOnce},
	{"FinalizeClaimFixesTheEndTimeAndRenews", testFinalizeClaimFixesTheEndTimeAndRenews},
	{"FinalizeToCompleted", testFinalizeToCompleted},
	{"SetExportStateAndActiveIndex", testSetExportStateAndActiveIndex},
	{"CancelledSegmentRejectsWrites", testCancelledSegmentRejectsWrites},
	{"CancelledExportCanStayActive", testCancelledExportCanStayActive},
	{"GetPart", testGetPart},
	{"RequeueExpiredAndFailUnleased", testRequeueExpiredAndFailUnleased},
	{"ValuesAreCopies", testValuesAreCopies},
	{"LostAnswer/ClaimSegment", testLostClaim},
	{"LostAnswer/CommitPart", testLostCommit},
	{"LostAnswer/CommitPartAfterTheLeaseMoved", testLostCommitLeaseMoved},
	{"LostAnswer/CompleteSegment", testLostCompletion},
	{"LostAnswer/ClaimFinalize", testLostFinalizeClaim},
	{"CheckpointWithoutAPart", testCheckpointWithoutAPart},
	{"ExtendRetentionOfEveryRow", testExtendRetention},
	{"Paging", testPaging},
	{"RestoreJobRoundTripAndLineCheckpoints", testRestoreRoundTrip},
}

// cursor is a LastEvaluatedKey of a table keyed (pk string, sk number).
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

func testCreateExport(e *env) {
	t := e.t
	// 30 segments: more than one BatchWriteItem of 25.
	id := e.export(30, false)
	x := e.getExport(id)
	require.Equal(t, export.Pending, x.State)
	require.Equal(t, 30, x.SegmentsTotal)
	require.Equal(t, "orders", x.Table)
	require.Equal(t, "p/AWSDynamoDB/"+id+"/", x.Root())
	segs := e.listSegments(id)
	require.Len(t, segs, 30)
	for i, s := range segs {
		require.Equal(t, i, s.Segment, "segments come back in order")
		require.Equal(t, id, s.ExportID)
		require.Equal(t, export.SegmentPending, s.State)
		require.Equal(t, 0, s.Attempt)
		require.Nil(t, s.Cursor)
	}
	require.Contains(t, e.active(), id, "a new export is in the active index")

	err := e.store.CreateExport(e.ctx, &export.Export{ExportID: id, SegmentsTotal: 3})
	require.ErrorIs(t, err, export.ErrExists)
	require.Equal(t, 30, e.getExport(id).SegmentsTotal, "the existing export is untouched")

	_, err = e.store.GetExport(e.ctx, "no-such-export")
	require.ErrorIs(t, err, export.ErrNotFound)
	_, err = e.store.GetSegment(e.ctx, id, 30)
	require.ErrorIs(t, err, export.ErrNotFound)
	segs, err = e.store.ListSegments(e.ctx, "no-such-export")
	require.NoError(t, err, "listing an unknown export is not an error")
	require.Empty(t, segs)
	parts, err := e.store.ListParts(e.ctx, "no-such-export")
	require.NoError(t, err)
	require.Empty(t, parts)
}

// A coordinator that re-runs `export` with the same arguments (its first
// run crashed, or its answer was lost) calls CreateExport again with the
// same export: it learns the export exists and nothing is recorded twice
// or reset, whether the first call was the last word or work had started.
func testCreateExportTwice(e *env) {
	t := e.t
	x := &export.Export{
		ExportID: e.id(), Table: "orders", Bucket: "b", Prefix: "p", SegmentsTotal: 30,
		StartTime: e.clock.Now(), ArgsHash: "args-1",
	}
	id := x.ExportID
	require.NoError(t, e.store.CreateExport(e.ctx, x))
	again := *x
	require.ErrorIs(t, e.store.CreateExport(e.ctx, &again), export.ErrExists)

	requireSegments := func() []*export.Segment {
		t.Helper()
		segs := e.listSegments(id)
		require.Len(t, segs, x.SegmentsTotal, "exactly SegmentsTotal segment rows")
		for i, s := range segs {
			require.Equal(t, i, s.Segment, "each segment once, in order")
		}
		return segs
	}
	requireSegments()
	require.Equal(t, export.Pending, e.getExport(id).State)
	n := 0
	for _, a := range e.active() {
		if a == id {
			n++
		}
	}
	require.Equal(t, 1, n, "listed as active once")

	// Work started: a third call must not reset a claimed segment.
	e.setState(id, export.Pending, export.Running)
	l := e.claim(id, 3, "w1/a")
	cp := export.Checkpoint{Cursor: cursor("k9"), NextPart: 1, ItemCount: 9, Bytes: 90, Pages: 1}
	require.NoError(t, e.store.CommitPart(e.ctx, l, part(l, 0, 9), cp, lease))
	again = *x
	require.ErrorIs(t, e.store.CreateExport(e.ctx, &again), export.ErrExists)
	segs := requireSegments()
	require.Equal(t, export.SegmentRunning, segs[3].State)
	require.Equal(t, 1, segs[3].Attempt)
	require.Equal(t, cp.Cursor, segs[3].Cursor)
	require.Equal(t, export.Running, e.getExport(id).State, "the export is not reset to PENDING")
	require.Len(t, e.listParts(id), 1)
}

// Every field the coordinator records is what every worker later reads.
func testExportRoundTrip(e *env) {
	t := e.t
	x := &export.Export{
		ExportID: e.id(), Table: "orders", TableARN: "arn:aws:dynamodb:us-east-1:000000000000:table/orders",
		TableID: "0f0e0d0c", Bucket: "bucket", Prefix: "exports/orders", SegmentsTotal: 2,
		StartTime: e.clock.Now(), ArgsHash: "hash", ReadCapacityCap: 12.5, ScanPageSize: 100,
		PartSizeBytes: 64 << 20, BilledSizeBytes: 123456, EstimatedItems: 789,
		Format: datafile.JSON, Compression: datafile.Zstd,
		FilterExpression: "#a > :v", ProjectionExpression: "pk, sk, #a",
		ExpressionAttributeNames: map[string]string{"#a": "age"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":v": &types.AttributeValueMemberN{Value: "21"},
			":l": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "x"}}},
		},
		Objects: export.ObjectOptions{SSE: "aws:kms", SSEKMSKeyID: "key-1", StorageClass: "STANDARD_IA"},
	}
	require.NoError(t, e.store.CreateExport(e.ctx, x))
	got := e.getExport(x.ExportID)
	sameTime(t, x.StartTime, got.StartTime)
	want := *x
	want.State = export.Pending
	want.StartTime = got.StartTime
	sameTime(t, e.clock.Now().Add(controltable.Retention).Truncate(time.Second), got.ExpiresAt, "rows expire Retention after they are written")
	want.ExpiresAt = got.ExpiresAt
	require.Equal(t, want, *got)
}

func testClaimLeaseAndFencing(e *env) {
	t := e.t
	id := e.export(2, true)

	seg, l1, err := e.store.ClaimSegment(e.ctx, id, 0, "w1/a", lease)
	require.NoError(t, err)
	require.Equal(t, export.SegmentRunning, seg.State)
	require.Equal(t, 1, seg.Attempt)
	require.Equal(t, 1, l1.Attempt)
	require.Equal(t, export.Lease{ExportID: id, Segment: 0, Attempt: 1, Owner: "w1/a"}, l1)
	require.Equal(t, "w1/a", seg.Owner)
	sameTime(t, e.clock.Now().Add(lease), seg.LeaseExpiry)

	// A second worker cannot take a live lease.
	_, _, err = e.store.ClaimSegment(e.ctx, id, 0, "w2/b", lease)
	var nc *export.NotClaimableError
	require.ErrorAs(t, err, &nc)
	require.Equal(t, export.SegmentRunning, nc.State)
	require.Equal(t, "w1/a", nc.Owner)
	sameTime(t, seg.LeaseExpiry, nc.LeaseExpiry)

	// Heartbeats keep it alive past the first expiry.
	e.clock.Advance(20 * time.Second)
	require.NoError(t, e.heartbeat(l1, export.Progress{}))
	e.clock.Advance(20 * time.Second)
	_, _, err = e.store.ClaimSegment(e.ctx, id, 0, "w2/b", lease)
	require.ErrorAs(t, err, &nc, "the heartbeat extended the lease")

	// A heartbeat with progress records what was read before any commit.
	require.NoError(t, e.heartbeat(l1, export.Progress{Items: 42}))
	live := e.getSegment(id, 0)
	require.EqualValues(t, 42, live.LiveItems)
	require.EqualValues(t, 0, live.ItemCount, "progress is not a commit")
	sameTime(t, e.clock.Now().Add(lease), live.LeaseExpiry)

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
		{"Heartbeat", e.heartbeat(l1, export.Progress{})},
		{"CommitPart", e.store.CommitPart(e.ctx, l1, part(l1, 1, 5), export.Checkpoint{Cursor: cursor("zombie"), NextPart: 2, ItemCount: 105}, lease)},
		{"Checkpoint", e.store.Checkpoint(e.ctx, l1, export.Checkpoint{Cursor: cursor("zombie"), NextPart: 1, ItemCount: 100, Pages: 9}, lease)},
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
	// A lease that names the right attempt but another owner is no lease.
	forged := l2
	forged.Owner = "w9/z"
	require.ErrorIs(t, e.heartbeat(forged, export.Progress{}), export.ErrLeaseLost, "the owner is part of the fencing token")

	after := e.getSegment(id, 0)
	require.Equal(t, export.SegmentRunning, after.State)
	require.Equal(t, 2, after.Attempt)
	require.Equal(t, "w2/b", after.Owner)
	require.Equal(t, cp.Cursor, after.Cursor, "the zombie's checkpoint did not land")
	require.Equal(t, 1, after.NextPart)
	require.Zero(t, after.Failures)
	parts := e.listParts(id)
	require.Len(t, parts, 1, "the zombie's part row did not land")
	require.Equal(t, part(l1, 0, 100), parts[0])
	x := e.getExport(id)
	require.Zero(t, x.SegmentsDone)
	require.Zero(t, x.SegmentsFailed)

	// The new owner's writes go through.
	require.NoError(t, e.heartbeat(l2, export.Progress{}))
	require.NoError(t, e.store.ReleaseSegment(e.ctx, l2, "released by draining worker"))
	// A released segment is claimable at once, from the same checkpoint.
	seg3, l3, err := e.store.ClaimSegment(e.ctx, id, 0, "w3/c", lease)
	require.NoError(t, err)
	require.Equal(t, 3, l3.Attempt)
	require.Equal(t, cp.Cursor, seg3.Cursor)
	require.Equal(t, "released by draining worker", seg3.LastError)

	// Claiming a segment the export does not have is not found, whatever
	// the store's way of saying so underneath.
	_, _, err = e.store.ClaimSegment(e.ctx, id, 2, "w1/a", lease)
	require.ErrorIs(t, err, export.ErrNotFound)
}

func testLeasesLive(e *env) {
	t := e.t
	id := e.export(4, true)
	require.Zero(t, e.countLeased(id))
	l0 := e.claim(id, 0, "w0")
	l1 := e.claim(id, 1, "w1")
	l2 := e.claim(id, 2, "w2")
	require.Equal(t, 3, e.countLeased(id))

	e.clock.Advance(lease / 2)
	require.NoError(t, e.heartbeat(l0, export.Progress{}))
	require.NoError(t, e.store.ReleaseSegment(e.ctx, l1, "drain"))
	require.Equal(t, 2, e.countLeased(id), "a released lease is not live")
	require.NoError(t, e.store.CompleteSegment(e.ctx, l2, nil, export.Checkpoint{}))
	require.Equal(t, 1, e.countLeased(id), "a DONE segment holds no lease")
	e.clock.Advance(lease/2 + time.Second)
	require.Equal(t, 1, e.countLeased(id), "the heartbeat kept segment 0 live")
	e.clock.Advance(lease)
	require.Zero(t, e.countLeased(id), "an expired lease is not live")
	require.Zero(t, e.countLeased("no-such-export"))
}

func testCompleteSegmentCountsOnce(e *env) {
	t := e.t
	id := e.export(2, true)
	l := e.claim(id, 1, "w1/a")
	require.NoError(t, e.store.CommitPart(e.ctx, l, part(l, 0, 10), export.Checkpoint{Cursor: cursor("k10"), NextPart: 1, ItemCount: 10, Bytes: 100, Pages: 1}, lease))
	last := part(l, 1, 15)
	final := export.Checkpoint{NextPart: 2, ItemCount: 25, Bytes: 250, Pages: 3}
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
	require.EqualValues(t, 25, s.ItemCount)
	require.EqualValues(t, 3, s.Pages)
	require.Equal(t, []export.Part{part(l, 0, 10), last}, e.listParts(id))
	require.Zero(t, e.countLeased(id))

	// A DONE segment is never claimed again, even once its lease is past.
	e.clock.Advance(2 * lease)
	_, _, err := e.store.ClaimSegment(e.ctx, id, 1, "w2/b", lease)
	var nc *export.NotClaimableError
	require.ErrorAs(t, err, &nc)
	require.Equal(t, export.SegmentDone, nc.State)
	// Nor failed from outside, nor requeued.
	ok, err := e.store.FailUnleased(e.ctx, id, 1, "parked")
	require.NoError(t, err)
	require.False(t, ok)
	ok, err = e.store.RequeueExpired(e.ctx, s)
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, export.SegmentDone, e.getSegment(id, 1).State)
}

func testFailSegmentAndResetFailed(e *env) {
	t := e.t
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
	require.Zero(t, e.countLeased(id), "the lease is released")
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
	require.NotZero(t, s.Attempt)
	require.Equal(t, s.Attempt, s.AttemptBase, "attempts are counted afresh from the reset")
	require.Zero(t, s.Attempts())
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

func testClaimFinalizeWinsOnce(e *env) {
	t := e.t
	id := e.export(2, true)
	_, won := e.claimFinalize(id, 2, "f1")
	require.False(t, won, "not before every segment is done")

	for seg := range 2 {
		l := e.claim(id, seg, fmt.Sprintf("w%d", seg))
		require.NoError(t, e.store.CompleteSegment(e.ctx, l, nil, export.Checkpoint{}))
	}
	_, won = e.claimFinalize(id, 2, "f1")
	require.True(t, won)
	x := e.getExport(id)
	require.Equal(t, export.Finalizing, x.State)
	sameTime(t, e.clock.Now().Add(time.Minute), x.FinalizeLease)
	_, won = e.claimFinalize(id, 2, "f2")
	require.False(t, won, "a live finalizer is not displaced")

	// A finalizer that died is taken over once its claim expires.
	e.clock.Advance(time.Minute + time.Second)
	_, won = e.claimFinalize(id, 2, "f2")
	require.True(t, won)
	sameTime(t, e.clock.Now().Add(time.Minute), e.getExport(id).FinalizeLease)

	_, won = e.claimFinalize("no-such-export", 0, "f3")
	require.False(t, won, "a missing export is not finalized")
}

// The first finalize claim fixes the export's end time, and the claim is
// the finalizer's lease: renewed by its owner only, taken over only once
// it expired, and the end time survives a takeover, so two finalizers of
// one export write the same manifest.
func testFinalizeClaimFixesTheEndTimeAndRenews(e *env) {
	t := e.t
	id := e.export(1, true)
	l := e.claim(id, 0, "w1/a")
	require.NoError(t, e.store.CompleteSegment(e.ctx, l, nil, export.Checkpoint{}))
	began := e.clock.Now()
	c1, won := e.claimFinalize(id, 1, "f1")
	require.True(t, won)
	require.Equal(t, id, c1.ExportID)
	require.Equal(t, "f1", c1.Owner)
	sameTime(t, began, c1.EndTime, "the end time is when finalizing began")
	sameTime(t, began.Add(time.Minute), c1.Expiry)
	x := e.getExport(id)
	require.Equal(t, "f1", x.FinalizeOwner)
	sameTime(t, began, x.FinalizeStart)

	// The owner renews; the claim then outlives its first expiry.
	e.clock.Advance(40 * time.Second)
	require.NoError(t, e.store.RenewFinalize(e.ctx, c1, time.Minute))
	sameTime(t, e.clock.Now().Add(time.Minute), e.getExport(id).FinalizeLease)
	e.clock.Advance(40 * time.Second)
	_, won = e.claimFinalize(id, 1, "f2")
	require.False(t, won, "a renewed claim is not taken over")
	require.NoError(t, LostAnswer(t, func() error { return e.store.RenewFinalize(e.ctx, c1, time.Minute) }),
		"the retry of a renewal that applied succeeds")

	// A stranger cannot renew what it does not hold.
	stranger := c1
	stranger.Owner = "f9"
	require.ErrorIs(t, e.store.RenewFinalize(e.ctx, stranger, time.Minute), export.ErrFinalizeLost)

	// f1 stops renewing (paused, dead): f2 takes over once the claim
	// expired, and keeps the end time f1 fixed.
	e.clock.Advance(time.Minute + time.Second)
	c2, won := e.claimFinalize(id, 1, "f2")
	require.True(t, won)
	require.Equal(t, "f2", c2.Owner)
	sameTime(t, began, c2.EndTime, "a takeover keeps the first end time")
	sameTime(t, e.clock.Now().Add(time.Minute), c2.Expiry)
	x = e.getExport(id)
	require.Equal(t, "f2", x.FinalizeOwner)
	sameTime(t, began, x.FinalizeStart)
	require.ErrorIs(t, e.store.RenewFinalize(e.ctx, c1, time.Minute), export.ErrFinalizeLost, "the old owner learns it lost the claim")
	require.NoError(t, e.store.RenewFinalize(e.ctx, c2, time.Minute))

	ok, err := e.store.SetExportState(e.ctx, id, []export.State{export.Finalizing}, export.Completed, controltable.ExportUpdate{EndTime: c2.EndTime})
	require.NoError(t, err)
	require.True(t, ok)
	sameTime(t, began, e.getExport(id).EndTime)
	require.ErrorIs(t, e.store.RenewFinalize(e.ctx, c2, time.Minute), export.ErrFinalizeLost, "a COMPLETED export holds no claim")
	_, won = e.claimFinalize(id, 1, "f2")
	require.False(t, won)
}

func testFinalizeToCompleted(e *env) {
	t := e.t
	id := e.export(1, true)
	l := e.claim(id, 0, "w1/a")
	require.NoError(t, e.store.CompleteSegment(e.ctx, l, nil, export.Checkpoint{}))
	_, won := e.claimFinalize(id, 1, "f1")
	require.True(t, won)

	end := e.clock.Now().Add(3 * time.Second)
	ok, err := e.store.SetExportState(e.ctx, id, []export.State{export.Finalizing}, export.Completed, controltable.ExportUpdate{
		EndTime: end, ManifestSummaryKey: "p/AWSDynamoDB/" + id + "/manifest-summary.json",
	})
	require.NoError(t, err)
	require.True(t, ok)
	x := e.getExport(id)
	require.Equal(t, export.Completed, x.State)
	sameTime(t, end, x.EndTime)
	require.Equal(t, "p/AWSDynamoDB/"+id+"/manifest-summary.json", x.ManifestSummaryKey)
	require.Empty(t, x.LastError, "zero fields of the update are left alone")
	require.Equal(t, 1, x.SegmentsDone)
	require.NotContains(t, e.active(), id)

	_, won = e.claimFinalize(id, 1, "f1")
	require.False(t, won, "a COMPLETED export is never finalized again")
}

func testSetExportStateAndActiveIndex(e *env) {
	t := e.t
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
	require.NoError(t, e.store.Forget(e.ctx, "no-such-export"))
	require.Equal(t, export.Running, e.getExport(other).State, "Forget touches only the index")
}

func testCancelledSegmentRejectsWrites(e *env) {
	t := e.t
	id := e.export(3, true)
	l := e.claim(id, 0, "w1/a")
	done := e.claim(id, 2, "w3/a")
	require.NoError(t, e.store.CompleteSegment(e.ctx, done, nil, export.Checkpoint{}))
	ok, err := e.store.SetExportState(e.ctx, id, []export.State{export.Running}, export.Cancelled, controltable.ExportUpdate{})
	require.NoError(t, err)
	require.True(t, ok)
	for seg, want := range []bool{true, true, false} {
		ok, err := e.store.CancelSegment(e.ctx, id, seg)
		require.NoError(t, err)
		require.Equal(t, want, ok, "segment %d: only unsettled segments are cancelled", seg)
	}
	ok, err = e.store.CancelSegment(e.ctx, id, 0)
	require.NoError(t, err)
	require.False(t, ok, "cancelling twice does nothing")

	require.ErrorIs(t, e.heartbeat(l, export.Progress{}), export.ErrLeaseLost, "the holder of a cancelled segment stops at its next heartbeat")
	err = e.store.CommitPart(e.ctx, l, part(l, 0, 5), export.Checkpoint{Cursor: cursor("k5"), NextPart: 1, ItemCount: 5}, lease)
	require.ErrorIs(t, err, export.ErrLeaseLost, "a cancelled segment takes no more parts")
	err = e.store.Checkpoint(e.ctx, l, export.Checkpoint{Cursor: cursor("k9"), Pages: 9}, lease)
	require.ErrorIs(t, err, export.ErrLeaseLost, "nor cursors")
	err = e.store.CompleteSegment(e.ctx, l, nil, export.Checkpoint{})
	require.ErrorIs(t, err, export.ErrLeaseLost, "nor completions")
	require.Empty(t, e.listParts(id))
	require.Equal(t, 1, e.getExport(id).SegmentsDone)
	s := e.getSegment(id, 0)
	require.Equal(t, export.SegmentCancelled, s.State)
	require.Nil(t, s.Cursor, "the rejected checkpoint did not land")
	require.Zero(t, s.NextPart)
	_, _, err = e.store.ClaimSegment(e.ctx, id, 1, "w2/a", lease)
	var nc *export.NotClaimableError
	require.ErrorAs(t, err, &nc, "a cancelled segment cannot be claimed")
	require.Equal(t, export.SegmentCancelled, nc.State)
	require.Equal(t, export.SegmentDone, e.getSegment(id, 2).State, "a finished segment stays DONE")
}

func testCancelledExportCanStayActive(e *env) {
	t := e.t
	id := e.export(1, true)
	ok, err := e.store.SetExportState(e.ctx, id, []export.State{export.Running}, export.Cancelled, controltable.ExportUpdate{KeepActive: true})
	require.NoError(t, err)
	require.True(t, ok)
	require.Contains(t, e.active(), id, "kept for the steward's last sweep")
	require.NoError(t, e.store.Forget(e.ctx, id))
	require.NotContains(t, e.active(), id)
}

func testGetPart(e *env) {
	t := e.t
	id := e.export(1, true)
	l := e.claim(id, 0, "w1/a")
	p := part(l, 0, 5)
	require.NoError(t, e.store.CommitPart(e.ctx, l, p, export.Checkpoint{Cursor: cursor("k5"), NextPart: 1, ItemCount: 5}, lease))
	got, err := e.store.GetPart(e.ctx, id, 0, 0)
	require.NoError(t, err)
	require.Equal(t, p, *got)
	_, err = e.store.GetPart(e.ctx, id, 0, 1)
	require.ErrorIs(t, err, export.ErrNotFound)
}

func testStewardLease(e *env) {
	t := e.t
	id := e.export(1, true)
	steward := func() controltable.ActiveExport {
		t.Helper()
		as, err := e.store.ListActive(e.ctx)
		require.NoError(t, err)
		for _, a := range as {
			if a.ExportID == id {
				return a
			}
		}
		t.Fatalf("export %s not in the active index", id)
		return controltable.ActiveExport{}
	}
	claim := func(owner string) bool {
		t.Helper()
		ok, err := e.store.ClaimSteward(e.ctx, id, owner, lease, 7)
		require.NoError(t, err)
		return ok
	}
	require.Empty(t, steward().Steward, "a new export has no steward")
	require.True(t, claim("w1"))
	a := steward()
	require.Equal(t, "w1", a.Steward)
	require.Equal(t, 7, a.Fleet, "the steward publishes the fleet it saw")
	sameTime(t, e.clock.Now().Add(lease), a.StewardExpiry)
	require.False(t, claim("w2"), "a live stewardship is not taken")
	require.True(t, a.StewardLive("w2", e.clock.Now()))
	require.False(t, a.StewardLive("w1", e.clock.Now()), "a steward is not kept out by itself")

	e.clock.Advance(lease / 2)
	require.True(t, claim("w1"), "the steward renews")
	e.clock.Advance(lease / 2)
	require.False(t, claim("w2"), "the renewal counts from when it was made")
	e.clock.Advance(lease/2 + time.Second)
	require.True(t, claim("w2"), "an expired stewardship is taken over")
	require.Equal(t, "w2", steward().Steward)

	ok, err := e.store.SetExportState(e.ctx, id, []export.State{export.Running}, export.Completed, controltable.ExportUpdate{})
	require.NoError(t, err)
	require.True(t, ok)
	e.clock.Advance(2 * lease)
	require.False(t, claim("w3"), "an export out of the index has no steward")
	require.NotContains(t, e.active(), id, "a claim does not put it back")
}

func testPublishShare(e *env) {
	t := e.t
	id := e.export(2, true)
	l := e.claim(id, 0, "w1/a")
	seg := e.getSegment(id, 0)
	require.Zero(t, seg.Share)
	ok, err := e.store.PublishShare(e.ctx, seg, 12.5)
	require.NoError(t, err)
	require.True(t, ok)
	row, err := e.store.Heartbeat(e.ctx, l, lease, export.Progress{Items: 3})
	require.NoError(t, err)
	require.Equal(t, 12.5, row.Share, "the heartbeat's own write brings the share back")
	require.Equal(t, int64(3), row.LiveItems)
	sameTime(t, e.clock.Now().Add(lease), row.LeaseExpiry)

	ok, err = e.store.PublishShare(e.ctx, e.getSegment(id, 1), 3)
	require.NoError(t, err)
	require.False(t, ok, "an unleased segment gets no share")

	e.clock.Advance(lease + time.Second)
	_, l2, err := e.store.ClaimSegment(e.ctx, id, 0, "w2/a", lease)
	require.NoError(t, err)
	ok, err = e.store.PublishShare(e.ctx, seg, 99)
	require.NoError(t, err)
	require.False(t, ok, "a share for the previous attempt is refused")
	row, err = e.store.Heartbeat(e.ctx, l2, lease, export.Progress{})
	require.NoError(t, err)
	require.Zero(t, row.Share, "a new attempt does not inherit the last one's share")
}

func testRequeueExpiredAndFailUnleased(e *env) {
	t := e.t
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
	require.ErrorIs(t, e.heartbeat(l2, export.Progress{}), export.ErrLeaseLost, "the expired owner is fenced off")
	ok, err = e.store.FailUnleased(e.ctx, id, 0, "again")
	require.NoError(t, err)
	require.False(t, ok, "a FAILED segment is counted once")
	require.Equal(t, 1, e.getExport(id).SegmentsFailed)

	// A PENDING segment no worker ever claimed can be parked too.
	ok, err = e.store.FailUnleased(e.ctx, id, 1, "moved to dead-letter queue")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 2, e.getExport(id).SegmentsFailed)
}

// A store keeps its own copy of what it is given and hands out copies:
// callers reuse cursors and mutate what they read back.
func testValuesAreCopies(e *env) {
	t := e.t
	x := &export.Export{
		ExportID: e.id(), Table: "orders", Bucket: "b", SegmentsTotal: 1, StartTime: e.clock.Now(),
		ExpressionAttributeNames:  map[string]string{"#a": "age"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: "21"}},
	}
	id := x.ExportID
	require.NoError(t, e.store.CreateExport(e.ctx, x))
	x.ExpressionAttributeNames["#b"] = "mutated"
	x.ExpressionAttributeValues[":w"] = &types.AttributeValueMemberN{Value: "1"}
	got := e.getExport(id)
	require.Equal(t, map[string]string{"#a": "age"}, got.ExpressionAttributeNames)
	require.Len(t, got.ExpressionAttributeValues, 1)
	got.ExpressionAttributeNames["#c"] = "mutated"
	got.State = export.Cancelled
	require.Len(t, e.getExport(id).ExpressionAttributeNames, 1)
	require.Equal(t, export.Pending, e.getExport(id).State)

	e.setState(id, export.Pending, export.Running)
	l := e.claim(id, 0, "w1/a")
	cp := export.Checkpoint{Cursor: cursor("k1"), NextPart: 1, ItemCount: 1}
	require.NoError(t, e.store.CommitPart(e.ctx, l, part(l, 0, 1), cp, lease))
	cp.Cursor["pk"] = &types.AttributeValueMemberS{Value: "mutated"}
	s := e.getSegment(id, 0)
	require.Equal(t, cursor("k1"), s.Cursor, "the store kept its own cursor")
	s.Cursor["pk"] = &types.AttributeValueMemberS{Value: "mutated"}
	s.State = export.SegmentDone
	again := e.getSegment(id, 0)
	require.Equal(t, cursor("k1"), again.Cursor, "a read hands out a copy")
	require.Equal(t, export.SegmentRunning, again.State)
	segs := e.listSegments(id)
	segs[0].Attempt = 99
	require.Equal(t, 1, e.getSegment(id, 0).Attempt)
	parts := e.listParts(id)
	parts[0].Key = "mutated"
	require.Equal(t, part(l, 0, 1), e.listParts(id)[0])
}

// The LostAnswer cases cover the calls whose retry must be invisible to
// the caller. Not yet covered, because the DynamoDB store answers a retry
// differently from the first try: SetExportState,
// FailUnleased, RequeueExpired and ResetFailed report false (or nothing
// reset) on the retry of a try that applied; FailSegment with final
// reports ErrLeaseLost; FailSegment without final counts the failure
// twice.

// A claim whose answer was lost is retried by the same owner (owner names
// are unique per claim): the retry gets the lease the first try took, not
// a new attempt and not "leased by someone else".
func testLostClaim(e *env) {
	t := e.t
	id := e.export(2, true)
	type claimed struct {
		seg *export.Segment
		l   export.Lease
	}
	lost, retried, err := LostAnswerOf(t, func() (claimed, error) {
		s, l, err := e.store.ClaimSegment(e.ctx, id, 0, "w1/a", lease)
		return claimed{s, l}, err
	})
	require.NoError(t, err, "the retry of a claim that applied succeeds")
	require.Equal(t, lost.l, retried.l, "the same lease")
	require.Equal(t, 1, retried.l.Attempt, "not a new attempt")
	require.Equal(t, export.SegmentRunning, retried.seg.State)
	require.Equal(t, "w1/a", retried.seg.Owner)
	require.Equal(t, 1, retried.seg.Attempt)
	s := e.getSegment(id, 0)
	require.Equal(t, 1, s.Attempt)
	require.Equal(t, "w1/a", s.Owner)
	require.Equal(t, 1, e.countLeased(id))

	// The retried lease is a working lease, and still exclusive.
	require.NoError(t, e.heartbeat(retried.l, export.Progress{}))
	_, _, err = e.store.ClaimSegment(e.ctx, id, 0, "w2/b", lease)
	var nc *export.NotClaimableError
	require.ErrorAs(t, err, &nc)
	require.Equal(t, "w1/a", nc.Owner)

	// A retry that comes late, after another owner took over, is told so.
	e.clock.Advance(lease + time.Second)
	l2 := e.claim(id, 0, "w2/b")
	_, _, err = e.store.ClaimSegment(e.ctx, id, 0, "w1/a", lease)
	require.ErrorAs(t, err, &nc)
	require.Equal(t, "w2/b", nc.Owner)
	require.Equal(t, export.Lease{ExportID: id, Segment: 0, Attempt: 2, Owner: "w2/b"}, l2)
}

// A commit whose answer was lost is retried with the same part and
// checkpoint: the part is recorded once and the checkpoint is the same.
func testLostCommit(e *env) {
	t := e.t
	id := e.export(1, true)
	l := e.claim(id, 0, "w1/a")
	p0 := part(l, 0, 10)
	cp0 := export.Checkpoint{Cursor: cursor("k10"), NextPart: 1, ItemCount: 10, Bytes: 100, Pages: 1}
	require.NoError(t, LostAnswer(t, func() error { return e.store.CommitPart(e.ctx, l, p0, cp0, lease) }),
		"the retry of a commit that applied succeeds")
	require.Equal(t, []export.Part{p0}, e.listParts(id), "one row for the part")
	s := e.getSegment(id, 0)
	require.Equal(t, cp0.Cursor, s.Cursor)
	require.Equal(t, 1, s.NextPart)
	require.EqualValues(t, 10, s.ItemCount, "the checkpoint is set, not added to")
	require.EqualValues(t, 100, s.Bytes)
	require.EqualValues(t, 1, s.Pages)

	// The segment goes on normally and is counted once.
	p1 := part(l, 1, 5)
	cp1 := export.Checkpoint{Cursor: cursor("k15"), NextPart: 2, ItemCount: 15, Bytes: 150, Pages: 2}
	require.NoError(t, e.store.CommitPart(e.ctx, l, p1, cp1, lease))
	require.NoError(t, e.store.CompleteSegment(e.ctx, l, nil, export.Checkpoint{NextPart: 2, ItemCount: 15, Bytes: 150, Pages: 2}))
	require.Equal(t, []export.Part{p0, p1}, e.listParts(id))
	x := e.getExport(id)
	require.Equal(t, 2, x.Parts)
	require.EqualValues(t, 15, x.ItemCount)
}

// A completion whose answer was lost is retried: the retry reports
// success (the work is done; it is no lost lease) and the segment, its
// final part and its totals are counted once.
func testLostCompletion(e *env) {
	t := e.t
	id := e.export(3, true)
	l := e.claim(id, 0, "w1/a")
	p0 := part(l, 0, 10)
	require.NoError(t, e.store.CommitPart(e.ctx, l, p0, export.Checkpoint{Cursor: cursor("k10"), NextPart: 1, ItemCount: 10, Bytes: 100, Pages: 1}, lease))
	last := part(l, 1, 15)
	final := export.Checkpoint{NextPart: 2, ItemCount: 25, Bytes: 250, Pages: 3}
	require.NoError(t, LostAnswer(t, func() error { return e.store.CompleteSegment(e.ctx, l, &last, final) }),
		"the retry of a completion that applied succeeds")

	// Without a final part, too.
	l1 := e.claim(id, 1, "w1/b")
	empty := export.Checkpoint{Pages: 1}
	require.NoError(t, LostAnswer(t, func() error { return e.store.CompleteSegment(e.ctx, l1, nil, empty) }))

	x := e.getExport(id)
	require.Equal(t, 2, x.SegmentsDone, "each segment counted once")
	require.EqualValues(t, 25, x.ItemCount)
	require.EqualValues(t, 250, x.Bytes)
	require.Equal(t, 2, x.Parts)
	require.Equal(t, []export.Part{p0, last}, e.listParts(id), "the final part recorded once")
	s := e.getSegment(id, 0)
	require.Equal(t, export.SegmentDone, s.State)
	require.Equal(t, 1, s.Attempt)
	require.EqualValues(t, 25, s.ItemCount)

	// A late retry, once the export has moved on to finalizing, still
	// learns its work is done rather than lost.
	l2 := e.claim(id, 2, "w1/c")
	require.NoError(t, e.store.CompleteSegment(e.ctx, l2, nil, export.Checkpoint{}))
	_, won := e.claimFinalize(id, 3, "f1")
	require.True(t, won)
	require.NoError(t, e.store.CompleteSegment(e.ctx, l2, nil, export.Checkpoint{}))
	require.Equal(t, 3, e.getExport(id).SegmentsDone)

	// A stranger's completion is not mistaken for a retry.
	stranger := l
	stranger.Attempt = 2
	require.ErrorIs(t, e.store.CompleteSegment(e.ctx, stranger, nil, final), export.ErrLeaseLost)
}

// A finalize claim whose answer was lost is retried by the same owner
// (owner names are unique per claim): the retry wins the claim the first
// try took, with the same end time, rather than finding a live claim and
// leaving the export FINALIZING with nobody finalizing it.
func testLostFinalizeClaim(e *env) {
	t := e.t
	id := e.export(1, true)
	l := e.claim(id, 0, "w1/a")
	require.NoError(t, e.store.CompleteSegment(e.ctx, l, nil, export.Checkpoint{}))
	type claimed struct {
		c   export.FinalizeClaim
		won bool
	}
	began := e.clock.Now()
	lost, retried, err := LostAnswerOf(t, func() (claimed, error) {
		c, won, err := e.store.ClaimFinalize(e.ctx, id, 1, "f1", time.Minute)
		e.clock.Advance(time.Second) // the retry comes a little later
		return claimed{c, won}, err
	})
	require.NoError(t, err)
	require.True(t, lost.won)
	require.True(t, retried.won, "the retry of a claim that applied wins")
	require.Equal(t, "f1", retried.c.Owner)
	sameTime(t, began, retried.c.EndTime, "the same end time")
	sameTime(t, lost.c.EndTime, retried.c.EndTime)
	_, won := e.claimFinalize(id, 1, "f2")
	require.False(t, won, "still exclusive")
}

// An export large enough that a store reading it back page by page must
// follow every page: more rows and more bytes than DynamoDB returns from
// one Query (1 MB), with live leases spread through the pages for
// CountLeased and failed segments on the last page for ResetFailed. Key
// and cursor sizes are realistic maxima: an S3 key is at most 1 KB, and a
// LastEvaluatedKey holds a partition key of up to 2 KB and a sort key of
// up to 1 KB.
func testPaging(e *env) {
	t := e.t
	const (
		total          = 2500 // segments: > 1000 rows
		leased         = 550  // segments with a 3 KB cursor, left running: > 1.5 MB of segment rows
		partsPerLeased = 2    // parts of 1 KB keys each: 1,100 part rows, > 1 MB
		parked         = 10   // the last segments, failed from outside
		stride         = (total - parked) / leased
	)
	bigCursor := func(seg int) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("%06d", seg) + strings.Repeat("p", 2042)},
			"sk": &types.AttributeValueMemberS{Value: strings.Repeat("s", 1024)},
		}
	}
	longPart := func(l export.Lease, n int) export.Part {
		p := part(l, n, 1)
		p.Key = strings.Repeat("k", 1024-len(p.Key)) + p.Key
		return p
	}

	id := e.export(total, true)
	var want []export.Part
	for seg := range leased {
		l := e.claim(id, seg*stride, fmt.Sprintf("w%d", seg))
		for n := range partsPerLeased {
			p := longPart(l, n)
			cp := export.Checkpoint{Cursor: bigCursor(l.Segment), NextPart: n + 1, ItemCount: int64(n + 1), Pages: int64(n + 1)}
			require.NoError(t, e.store.CommitPart(e.ctx, l, p, cp, lease))
			want = append(want, p)
		}
	}
	// The last segments were never claimed; the rescuer parks them.
	var parkedSegs []int
	for seg := total - parked; seg < total; seg++ {
		parkedSegs = append(parkedSegs, seg)
		ok, err := e.store.FailUnleased(e.ctx, id, seg, "parked")
		require.NoError(t, err)
		require.True(t, ok)
	}

	segs := e.listSegments(id)
	require.Len(t, segs, total, "every segment, across pages")
	running := 0
	for i, s := range segs {
		require.Equal(t, i, s.Segment, "in segment order across pages")
		if s.State == export.SegmentRunning {
			running++
			require.Equal(t, bigCursor(i), s.Cursor, "segment %d", i)
			require.Equal(t, partsPerLeased, s.NextPart)
		}
	}
	require.Equal(t, leased, running)
	require.Equal(t, want, e.listParts(id), "every part in (segment, part) order, across pages")
	require.Equal(t, leased, e.countLeased(id), "live leases counted on every page")

	reset, err := e.store.ResetFailed(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, parkedSegs, reset)
	require.Zero(t, e.getExport(id).SegmentsFailed)

	e.clock.Advance(lease + time.Second)
	require.Zero(t, e.countLeased(id), "no page still counts an expired lease")
	require.True(t, slices.Contains(e.active(), id))
}

func testHistory(e *env) {
	t := e.t
	id := e.export(2, true)
	t0 := e.clock.Now().Truncate(time.Minute).Add(time.Minute)
	require.NoError(t, e.store.RecordSample(e.ctx, id, export.Sample{At: t0, Items: 10, ReadUnits: 1.5}))
	require.NoError(t, e.store.RecordSample(e.ctx, id, export.Sample{At: t0.Add(30 * time.Second), Items: 99}), "a second recorder in the same minute is not an error")
	require.NoError(t, e.store.RecordSample(e.ctx, id, export.Sample{At: t0.Add(2 * time.Minute), Items: 30, ReadUnits: 4.25}))
	got, err := e.store.ListSamples(e.ctx, id)
	require.NoError(t, err)
	require.Len(t, got, 2, "one sample per minute")
	require.True(t, got[0].At.Equal(t0))
	require.Equal(t, int64(10), got[0].Items, "the first sample of a minute is kept")
	require.Equal(t, 1.5, got[0].ReadUnits)
	require.Equal(t, int64(30), got[1].Items)
	require.Equal(t, 4.25, got[1].ReadUnits)
	none, err := e.store.ListSamples(e.ctx, e.export(1, false))
	require.NoError(t, err)
	require.Empty(t, none)

	// Heartbeats carry read units onto the segment row.
	_, l, err := e.store.ClaimSegment(e.ctx, id, 0, "w", lease)
	require.NoError(t, err)
	require.NoError(t, e.heartbeat(l, export.Progress{Items: 7, ReadUnits: 12.5}))
	seg, err := e.store.GetSegment(e.ctx, id, 0)
	require.NoError(t, err)
	require.Equal(t, int64(7), seg.LiveItems)
	require.Equal(t, 12.5, seg.ReadUnits)
}

func testListExports(e *env) {
	t := e.t
	a := e.export(1, false)
	e.clock.Advance(time.Second)
	b := e.export(1, true)
	all, err := e.store.ListExports(e.ctx)
	require.NoError(t, err)
	pos := map[string]int{}
	for i, x := range all {
		pos[x.ExportID] = i
	}
	require.Contains(t, pos, a)
	require.Contains(t, pos, b)
	require.Less(t, pos[b], pos[a], "newest first")
	require.Equal(t, export.Running, all[pos[b]].State)
}

// A commit that applied, whose answer was lost while the lease moved to
// another attempt (the worker stalled past its lease), is retried: the
// retry must report success, because the part row points at the file.
// Reporting a lost lease would make the worker delete a committed file,
// and finalize would then fail "recorded but missing" for good. One
// commit is one request: the caller fixes its time (Checkpoint.At) and
// the store sends one idempotency token for all its tries.
func testLostCommitLeaseMoved(e *env) {
	t := e.t
	id := e.export(1, true)
	l := e.claim(id, 0, "w1/a")
	p0 := part(l, 0, 10)
	cp0 := export.Checkpoint{Cursor: cursor("k10"), NextPart: 1, ItemCount: 10, Bytes: 100, Pages: 1, At: e.clock.Now()}
	require.NoError(t, e.store.CommitPart(e.ctx, l, p0, cp0, lease), "the first try applies; its answer is lost")
	e.clock.Advance(lease + time.Second)
	e.claim(id, 0, "w2/b")
	require.NoError(t, e.store.CommitPart(e.ctx, l, p0, cp0, lease), "the retry of the very same commit succeeds")
	require.Equal(t, []export.Part{p0}, e.listParts(id))
	require.ErrorIs(t, e.store.CommitPart(e.ctx, l, part(l, 1, 5), export.Checkpoint{NextPart: 2, At: e.clock.Now()}, lease), export.ErrLeaseLost,
		"a new commit of the old attempt is still fenced off")

	// The same for the final commit.
	id2 := e.export(1, true)
	l2 := e.claim(id2, 0, "w1/c")
	last := part(l2, 0, 7)
	final := export.Checkpoint{NextPart: 1, ItemCount: 7, Bytes: 70, Pages: 1, At: e.clock.Now()}
	require.NoError(t, e.store.CompleteSegment(e.ctx, l2, &last, final))
	require.NoError(t, e.store.CompleteSegment(e.ctx, l2, &last, final))
	require.Equal(t, 1, e.getExport(id2).SegmentsDone)
}
