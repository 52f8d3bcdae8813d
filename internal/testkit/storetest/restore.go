package storetest

import (
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/datafile"
	"github.com/ddbfleet/ddbfleet/shared/export"
)

// testRestoreRoundTrip: a restore job's kind, files and options come back
// as recorded, and its checkpoints (a line cursor, items kept in Bytes)
// are fenced part commits like an export's.
func testRestoreRoundTrip(e *env) {
	t := e.t
	x := &export.Export{
		ExportID: e.id(), Kind: export.KindRestore, Table: "orders-restored", Bucket: "bucket", Prefix: "bk/AWSDynamoDB/src",
		SegmentsTotal: 2, StartTime: e.clock.Now(), ArgsHash: "hash", EstimatedItems: 30,
		RestoreFrom: "bk/AWSDynamoDB/src/", RestoreCondition: export.NotExists, WriteCapacityCap: 50, HashKey: "pk", SortKey: "sk",
		RestoreFiles: []export.RestoreFile{
			{Key: "bk/AWSDynamoDB/src/data/a.json.gz", Items: 10, MD5: "bWQ1", Bytes: 100, Compression: datafile.Gzip, ETag: `"abc"`},
			{Key: "bk/AWSDynamoDB/src/data/b.json.zst", Items: 20, MD5: "bWQ2", Bytes: 200, Compression: datafile.Zstd},
		},
	}
	require.NoError(t, e.store.CreateExport(e.ctx, x))
	got := e.getExport(x.ExportID)
	sameTime(t, x.StartTime, got.StartTime)
	want := *x
	want.State = export.Pending
	want.StartTime = got.StartTime
	want.ExpiresAt = got.ExpiresAt // testExportRoundTrip checks it
	require.Equal(t, want, *got)

	_, l, err := e.store.ClaimSegment(e.ctx, x.ExportID, 1, "w1/a", lease)
	require.NoError(t, err)
	line := map[string]types.AttributeValue{"line": &types.AttributeValueMemberN{Value: "7"}}
	require.NoError(t, e.store.CommitPart(e.ctx, l, export.Part{Segment: 1, Part: 0, Attempt: l.Attempt, Key: x.RestoreFiles[1].Key, ItemCount: 7},
		export.Checkpoint{Cursor: line, NextPart: 1, ItemCount: 7, Bytes: 2, Pages: 1}, lease))
	seg, err := e.store.GetSegment(e.ctx, x.ExportID, 1)
	require.NoError(t, err)
	require.Equal(t, line, seg.Cursor)
	require.EqualValues(t, 7, seg.ItemCount)
	require.EqualValues(t, 2, seg.Bytes)
	stale := l
	stale.Attempt--
	require.ErrorIs(t, e.store.CommitPart(e.ctx, stale, export.Part{Segment: 1, Part: 1}, export.Checkpoint{Cursor: line, NextPart: 2, ItemCount: 9}, lease), export.ErrLeaseLost)
}
