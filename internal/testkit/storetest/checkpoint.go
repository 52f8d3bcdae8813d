package storetest

import (
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/export"
)

// A segment whose pages held nothing to write (a filter matched none of
// their items) checkpoints its cursor without a part: the next attempt
// resumes there, no part row appears, the lease is extended, a lost
// answer's retry lands the same state, and the cursor is the one the
// following part commit or completion builds on.
func testCheckpointWithoutAPart(e *env) {
	t := e.t
	id := e.export(1, true)
	l := e.claim(id, 0, "w1/a")
	p0 := part(l, 0, 10)
	require.NoError(t, e.store.CommitPart(e.ctx, l, p0, export.Checkpoint{Cursor: cursor("k10"), NextPart: 1, ItemCount: 10, Bytes: 100, Pages: 1}, lease))

	// Forty empty pages later.
	e.clock.Advance(20 * time.Second)
	cp := export.Checkpoint{Cursor: cursor("k4010"), NextPart: 1, ItemCount: 10, Bytes: 100, Pages: 41, At: e.clock.Now()}
	require.NoError(t, LostAnswer(t, func() error { return e.store.Checkpoint(e.ctx, l, cp, lease) }),
		"the retry of a checkpoint that applied succeeds")
	s := e.getSegment(id, 0)
	require.Equal(t, export.SegmentRunning, s.State)
	require.Equal(t, cp.Cursor, s.Cursor)
	require.Equal(t, 1, s.NextPart, "no part was added")
	require.EqualValues(t, 10, s.ItemCount)
	require.EqualValues(t, 100, s.Bytes)
	require.EqualValues(t, 41, s.Pages)
	sameTime(t, e.clock.Now().Add(lease), s.LeaseExpiry, "a checkpoint extends the lease, as a commit does")
	require.Equal(t, []export.Part{p0}, e.listParts(id), "no part row for a checkpoint")

	// The worker dies; the next attempt resumes after the empty pages.
	e.clock.Advance(lease + time.Second)
	seg2, l2, err := e.store.ClaimSegment(e.ctx, id, 0, "w2/b", lease)
	require.NoError(t, err)
	require.Equal(t, cp.Cursor, seg2.Cursor, "the new attempt starts past the empty pages")
	require.EqualValues(t, 41, seg2.Pages)
	require.ErrorIs(t, e.store.Checkpoint(e.ctx, l, export.Checkpoint{Cursor: cursor("zombie"), NextPart: 1, ItemCount: 10, Pages: 50}, lease),
		export.ErrLeaseLost, "the dead attempt's checkpoint is fenced off")

	// It goes on from there and is counted once.
	p1 := part(l2, 1, 5)
	require.NoError(t, e.store.CommitPart(e.ctx, l2, p1, export.Checkpoint{Cursor: cursor("k4100"), NextPart: 2, ItemCount: 15, Bytes: 150, Pages: 45}, lease))
	require.NoError(t, e.store.Checkpoint(e.ctx, l2, export.Checkpoint{Cursor: cursor("k4900"), NextPart: 2, ItemCount: 15, Bytes: 150, Pages: 60}, lease))
	require.NoError(t, e.store.CompleteSegment(e.ctx, l2, nil, export.Checkpoint{NextPart: 2, ItemCount: 15, Bytes: 150, Pages: 61}))
	done := e.getSegment(id, 0)
	require.Equal(t, export.SegmentDone, done.State)
	require.Empty(t, done.Cursor, "completion clears the cursor a checkpoint set")
	require.EqualValues(t, 61, done.Pages)
	require.Equal(t, []export.Part{p0, p1}, e.listParts(id))
	x := e.getExport(id)
	require.Equal(t, 1, x.SegmentsDone)
	require.Equal(t, 2, x.Parts)
	require.EqualValues(t, 15, x.ItemCount)
}
