package lifecycle_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/export"
)

func (u *unit) newRestore(n int) *export.Export {
	e := u.newExport(n)
	e.Kind, e.RestoreFrom, e.RestoreCondition = export.KindRestore, "p/AWSDynamoDB/src/", export.Overwrite
	for i := range n {
		e.RestoreFiles = append(e.RestoreFiles, export.RestoreFile{Key: "p/AWSDynamoDB/src/data/f" + string(rune('a'+i)) + ".json.gz", Items: 10})
	}
	return e
}

func (u *unit) objects() int {
	u.t.Helper()
	objs, err := u.obj.List(u.ctx, "")
	require.NoError(u.t, err)
	return len(objs)
}

func TestRestoreStartsAndCompletesWithoutWritingToS3(t *testing.T) {
	u := newUnit(t)
	e, created, err := u.life.Start(u.ctx, u.newRestore(2))
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, export.Running, e.State)
	require.Len(t, u.receive(u.work), 2, "one unit of work per file")
	require.Zero(t, u.objects(), "a restore writes nothing to its source bucket (no _started)")
	got := u.get(e.ExportID)
	require.Equal(t, export.KindRestore, got.Kind)
	require.Len(t, got.RestoreFiles, 2)

	for seg := range 2 {
		_, l, err := u.store.ClaimSegment(u.ctx, e.ExportID, seg, "w", time.Minute)
		require.NoError(t, err)
		require.NoError(t, u.store.CompleteSegment(u.ctx, l, nil, export.Checkpoint{NextPart: 1, ItemCount: 10, Bytes: 3}))
	}
	require.NoError(t, u.life.Settle(u.ctx, e.ExportID))
	got = u.get(e.ExportID)
	require.Equal(t, export.Completed, got.State, "no manifest to write: straight to COMPLETED")
	require.EqualValues(t, 20, got.ItemCount)
	require.EqualValues(t, 6, got.Bytes, "a restore's Bytes counts items kept")
	require.Zero(t, u.objects(), "still nothing written to S3")
}

func TestRestoreWithAFailedFileFailsAndCancelLeavesTheSourceAlone(t *testing.T) {
	u := newUnit(t)
	e, _, err := u.life.Start(u.ctx, u.newRestore(2))
	require.NoError(t, err)
	_, l, err := u.store.ClaimSegment(u.ctx, e.ExportID, 0, "w", time.Minute)
	require.NoError(t, err)
	require.NoError(t, u.store.FailSegment(u.ctx, l, "item too large", true))
	_, l, err = u.store.ClaimSegment(u.ctx, e.ExportID, 1, "w", time.Minute)
	require.NoError(t, err)
	require.NoError(t, u.store.CompleteSegment(u.ctx, l, nil, export.Checkpoint{NextPart: 1, ItemCount: 10}))
	require.NoError(t, u.life.Settle(u.ctx, e.ExportID))
	require.Equal(t, export.Failed, u.get(e.ExportID).State)

	_, err = u.obj.Put(u.ctx, "p/AWSDynamoDB/"+e.ExportID+"/data/keep.json.gz", []byte("x"), "")
	require.NoError(t, err)
	n, err := u.life.Cancel(u.ctx, e.ExportID)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, 1, u.objects(), "cancelling a restore deletes nothing from its source bucket")
}
