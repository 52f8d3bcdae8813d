package lifecycle_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/export"
)

// longRun drives an export whose segment 0 is worked on for days days:
// its worker heartbeats daily and commits a part every ten days, while
// (if retain) a rescue pass calls RetainRows each day, and the control
// table's TTL deletes whatever has expired (memstore's Expire). It returns
// the export, the lease and the parts committed, or stops early, with
// gone, once the export row has expired.
func longRun(u *unit, days int, retain bool) (e *export.Export, l export.Lease, parts []export.Part, extended int, gone bool) {
	t := u.t
	e = u.start(2)
	u.drop(u.work)
	_, l, err := u.store.ClaimSegment(u.ctx, e.ExportID, 0, "w", 2*24*time.Hour)
	require.NoError(t, err)
	commit := func() {
		n := len(parts)
		key := e.PartKey(0, n, l.Attempt)
		info, err := u.obj.Put(u.ctx, key, gzLines(t, 1), "")
		require.NoError(t, err)
		p := export.Part{Segment: 0, Part: n, Attempt: l.Attempt, Key: key, ItemCount: 1, MD5: info.MD5Base64(), ETag: info.ETag, Bytes: info.Bytes}
		parts = append(parts, p)
		require.NoError(t, u.store.CommitPart(u.ctx, l, p, export.Checkpoint{Cursor: cursorAt(n), NextPart: n + 1, ItemCount: int64(n + 1), Bytes: bytesOf(parts), Pages: int64(n + 1)}, 2*24*time.Hour))
	}
	commit()
	for day := 1; day <= days; day++ {
		u.clock.Advance(24 * time.Hour)
		if retain {
			x, err := u.store.GetExport(u.ctx, e.ExportID)
			require.NoError(t, err)
			ok, err := u.life.RetainRows(u.ctx, x)
			require.NoError(t, err)
			if ok {
				extended++
			}
		}
		u.store.Expire()
		if _, err := u.store.GetExport(u.ctx, e.ExportID); errors.Is(err, export.ErrNotFound) {
			return e, l, parts, extended, true
		}
		_, err := u.store.Heartbeat(u.ctx, l, 2*24*time.Hour, export.Progress{})
		require.NoError(t, err, "day %d", day)
		if day%10 == 0 {
			commit()
		}
	}
	return e, l, parts, extended, false
}

func TestRowsOfAnExportActiveForLongerThanRetentionSurvive(t *testing.T) {
	u := newUnit(t)
	const days = 200
	e, l, parts, extended, gone := longRun(u, days, true)
	require.False(t, gone, "the export row outlived its first %s", controltable.Retention)
	// Due at day 46, 92, 138 and 184: once per half retention, not daily.
	require.Equal(t, 4, extended)
	require.Equal(t, 4, u.store.Calls()["ExtendRetention"], "the store is only asked when the rows are due")

	segs, err := u.store.ListSegments(u.ctx, e.ExportID)
	require.NoError(t, err)
	require.Len(t, segs, 2, "segment rows survive")
	require.Equal(t, cursorAt(len(parts)-1), segs[0].Cursor, "the checkpoint survives")
	got, err := u.store.ListParts(u.ctx, e.ExportID)
	require.NoError(t, err)
	require.Equal(t, parts, got, "every part row survives, the first one (day 0) too")
	earliest, err := u.store.RetainedUntil(u.ctx, e.ExportID)
	require.NoError(t, err)
	require.Greater(t, earliest.Sub(u.clock.Now()), controltable.Retention/2, "no row is about to expire")
	active, err := u.store.ListActive(u.ctx)
	require.NoError(t, err)
	require.Len(t, active, 1, "so is its row in the active index")
	require.Equal(t, e.ExportID, active[0].ExportID)

	// It finishes, 200 days on, with every row the manifest needs.
	require.NoError(t, u.store.CompleteSegment(u.ctx, l, nil, export.Checkpoint{NextPart: len(parts), ItemCount: int64(len(parts)), Bytes: bytesOf(parts), Pages: int64(len(parts))}))
	u.finish(e, 1, 3, 3)
	require.NoError(t, u.life.Settle(u.ctx, e.ExportID))
	done := u.get(e.ExportID)
	require.Equal(t, export.Completed, done.State, done.LastError)
	require.EqualValues(t, len(parts)+3, done.ItemCount)

	ok, err := u.life.RetainRows(u.ctx, done)
	require.NoError(t, err)
	require.False(t, ok, "a finished export's rows expire as stamped")
}

func TestWithoutRetainRowsAnActiveExportLosesItsRowsAtRetention(t *testing.T) {
	// The failure RetainRows prevents: with no rescue pass extending them,
	// the rows of a running export expire 90 days after they were written.
	u := newUnit(t)
	e, _, _, _, gone := longRun(u, 200, false)
	require.True(t, gone)
	require.Equal(t, int(controltable.Retention/(24*time.Hour)), int(u.clock.Now().Sub(e.StartTime)/(24*time.Hour)), "gone on the day the first rows expire")
	segs, err := u.store.ListSegments(u.ctx, e.ExportID)
	require.NoError(t, err)
	require.Empty(t, segs, "the checkpoints went with it")
}

func TestRetainRowsOfAStaleReadDoesNothing(t *testing.T) {
	u := newUnit(t)
	e := u.start(1)
	u.clock.Advance(controltable.Retention/2 + time.Hour)
	stale := u.get(e.ExportID)
	ok, err := u.life.RetainRows(u.ctx, stale)
	require.NoError(t, err)
	require.True(t, ok)
	u.clock.Advance(time.Minute) // another rescuer, a little later, with the same old read
	ok, err = u.life.RetainRows(u.ctx, stale)
	require.NoError(t, err)
	require.False(t, ok, "a rescuer that read the export before another extended it does not do it again")
	require.Equal(t, 2, u.store.Calls()["ExtendRetention"], "asked twice, worked once")
}

func cursorAt(n int) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: strconv.Itoa(n)}}
}

func bytesOf(parts []export.Part) int64 {
	var n int64
	for _, p := range parts {
		n += p.Bytes
	}
	return n
}

func TestRescueKeepsTheRowsOfALongExport(t *testing.T) {
	u := newUnit(t)
	e := u.start(2)
	u.clock.Advance(controltable.Retention/2 + 24*time.Hour)
	_, err := u.life.Rescue(u.ctx, e.ExportID, time.Minute)
	require.NoError(t, err)
	until, err := u.store.RetainedUntil(u.ctx, e.ExportID)
	require.NoError(t, err)
	require.True(t, until.After(u.clock.Now().Add(controltable.Retention-time.Hour)), "rows now expire %s, a Retention from now", until)
}
