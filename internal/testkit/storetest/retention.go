package storetest

import (
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/export"
)

// Rows are written to expire Retention later; ExtendRetention moves every
// row of the export (segments, parts, samples, index rows) to the new
// expiry, the export row saying so last. RetainedUntil, the earliest
// expiry of any row, shows that none was missed. The call acts once for
// what the caller read: a caller with a stale read is refused, the retry
// of a call whose answer was lost succeeds.
func testExtendRetention(e *env) {
	t := e.t
	id := e.export(3, true)
	l := e.claim(id, 0, "w1/a")
	require.NoError(t, e.store.CommitPart(e.ctx, l, part(l, 0, 10), export.Checkpoint{Cursor: cursor("k10"), NextPart: 1, ItemCount: 10, Bytes: 100, Pages: 1}, lease))
	require.NoError(t, e.store.RecordSample(e.ctx, id, export.Sample{At: e.clock.Now(), Items: 10}))
	created := e.clock.Now().Add(controltable.Retention).Truncate(time.Second)
	x := e.getExport(id)
	sameTime(t, created, x.ExpiresAt)
	earliest, err := e.store.RetainedUntil(e.ctx, id)
	require.NoError(t, err)
	sameTime(t, created, earliest, "the export row's expiry is the earliest")

	// Fifty days on, the export still running: more rows, written later.
	e.clock.Advance(50 * 24 * time.Hour)
	l = e.keepHolding(id, 0, l)
	require.NoError(t, e.store.CommitPart(e.ctx, l, part(l, 1, 5), export.Checkpoint{Cursor: cursor("k15"), NextPart: 2, ItemCount: 15, Bytes: 150, Pages: 2}, lease))
	require.NoError(t, e.store.RecordSample(e.ctx, id, export.Sample{At: e.clock.Now(), Items: 15}))

	until := e.clock.Now().Add(controltable.Retention)
	ok, err := e.store.ExtendRetention(e.ctx, id, x.ExpiresAt.Add(-time.Hour), until)
	require.NoError(t, err)
	require.False(t, ok, "a caller whose read is not the export's expiry does nothing")
	sameTime(t, created, e.getExport(id).ExpiresAt)

	lost, retried, err := LostAnswerOf(t, func() (bool, error) { return e.store.ExtendRetention(e.ctx, id, x.ExpiresAt, until) })
	require.NoError(t, err)
	require.True(t, lost)
	require.True(t, retried, "the retry of a call that did the work reports it done")
	want := until.Truncate(time.Second)
	sameTime(t, want, e.getExport(id).ExpiresAt)
	earliest, err = e.store.RetainedUntil(e.ctx, id)
	require.NoError(t, err)
	sameTime(t, want, earliest, "every row of the export now expires at until: none was left behind")

	ok, err = e.store.ExtendRetention(e.ctx, id, x.ExpiresAt, until.Add(time.Minute))
	require.NoError(t, err)
	require.False(t, ok, "another rescuer that read the old expiry does not do it again")

	// The export goes on and finishes; its rows keep the later expiry.
	require.NoError(t, e.store.CompleteSegment(e.ctx, l, nil, export.Checkpoint{NextPart: 2, ItemCount: 15, Bytes: 150, Pages: 3}))
	for seg := 1; seg < 3; seg++ {
		ls := e.claim(id, seg, "w2/b")
		require.NoError(t, e.store.CompleteSegment(e.ctx, ls, nil, export.Checkpoint{Pages: 1}))
	}
	_, won, err := e.store.ClaimFinalize(e.ctx, id, 3, "finalizer", time.Minute)
	require.NoError(t, err)
	require.True(t, won)
	e.setState(id, export.Finalizing, export.Completed)
	earliest, err = e.store.RetainedUntil(e.ctx, id)
	require.NoError(t, err)
	sameTime(t, want, earliest)
}

// keepHolding keeps l alive over a jump of the clock: if its lease lapsed
// and was refused, the segment is claimed again (as a live worker's
// heartbeats would have kept it).
func (e *env) keepHolding(id string, seg int, l export.Lease) export.Lease {
	e.t.Helper()
	if err := e.heartbeat(l, export.Progress{}); err == nil {
		return l
	}
	return e.claim(id, seg, l.Owner+"+")
}
