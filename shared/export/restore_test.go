package export_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/export"
)

func TestKindDefaultsToExport(t *testing.T) {
	require.Equal(t, export.KindExport, export.Kind("").OrDefault())
	require.False(t, (&export.Export{}).IsRestore())
	require.True(t, (&export.Export{Kind: export.KindRestore}).IsRestore())
}

func TestParseCondition(t *testing.T) {
	for in, want := range map[string]export.Condition{"": export.Overwrite, "overwrite": export.Overwrite, "not-exists": export.NotExists} {
		got, err := export.ParseCondition(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := export.ParseCondition("keep")
	require.ErrorContains(t, err, "not-exists or overwrite")
}

func TestRestoreSharesItsWriteCap(t *testing.T) {
	e := &export.Export{Kind: export.KindRestore, ReadCapacityCap: 1000, WriteCapacityCap: 100}
	require.Equal(t, 25.0, e.ReadShare(4), "a restore's pacer spends write units")
	e.WriteCapacityCap = 0
	require.Zero(t, e.ReadShare(4), "no write cap: unpaced")
}

func TestRestoreSettlesLikeAnExport(t *testing.T) {
	now := time.Now()
	e := &export.Export{Kind: export.KindRestore, State: export.Running, SegmentsTotal: 2, SegmentsDone: 2}
	require.Equal(t, export.Finalize, e.Settlement(now))
	e.SegmentsDone, e.SegmentsFailed = 1, 1
	require.Equal(t, export.Fail, e.Settlement(now))
	e.SegmentsFailed = 0
	require.Equal(t, export.Unsettled, e.Settlement(now))
}
