package plan_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/plan"
	"github.com/ddbfleet/ddbfleet/shared/fault"
)

func TestSegments(t *testing.T) {
	for _, tc := range []struct {
		flag  string
		bytes int64
		slots int
		want  int
	}{
		{"auto", 0, 0, plan.MinAutoSegments},
		{"", 5 << 30, 0, plan.MinAutoSegments},
		{"auto", 100 << 30, 0, 100},
		{"auto", 100<<30 + 1, 0, 101},
		{"auto", 5 << 30, 40, 80},    // a big fleet gets two waves
		{"auto", 500 << 30, 40, 500}, // size wins when larger
		{"auto", 0, 1 << 20, 100000}, // never past the maximum
		{"1", 1 << 40, 40, 1},        // an explicit count is kept
		{"100000", 0, 0, 100000},
	} {
		got, err := plan.Segments(tc.flag, tc.bytes, tc.slots)
		require.NoError(t, err, tc.flag)
		require.Equal(t, tc.want, got, "%s/%d/%d", tc.flag, tc.bytes, tc.slots)
	}
	for _, bad := range []string{"0", "-1", "100001", "many", "1.5"} {
		_, err := plan.Segments(bad, 0, 0)
		require.True(t, fault.IsInvalid(err), bad)
		require.Contains(t, err.Error(), "--segments")
	}
}

func TestPrefix(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("X", 3600*9))
	got, err := plan.Prefix("exports/{table}/dt={yyyy}-{mm}-{dd}/{hh}/{exportId}/", "orders", "e1", at)
	require.NoError(t, err)
	require.Equal(t, "exports/orders/dt=2026-03-03/20/e1", got, "placeholders resolve in UTC; trailing slash dropped")
	got, err = plan.Prefix("", "t", "e", at)
	require.NoError(t, err)
	require.Equal(t, "", got)
	for _, bad := range []string{"/abs", "a//b", "{nope}", "x{"} {
		_, err := plan.Prefix(bad, "t", "e", at)
		require.True(t, fault.IsInvalid(err), bad)
	}
}

func TestExportID(t *testing.T) {
	at := time.UnixMilli(1700000000123)
	id, err := plan.ExportID("", at)
	require.NoError(t, err)
	require.Regexp(t, `^01700000000123-[0-9a-f]{8}$`, id)
	id, err = plan.ExportID("nightly-2026.01_a", at)
	require.NoError(t, err)
	require.Equal(t, "nightly-2026.01_a", id)
	for _, bad := range []string{"-x", "a/b", "a b", string(make([]byte, 101))} {
		_, err := plan.ExportID(bad, at)
		require.True(t, fault.IsInvalid(err), bad)
	}
}

func TestArgsHashSeparatesFields(t *testing.T) {
	require.NotEqual(t, plan.ArgsHash("ab", "c"), plan.ArgsHash("a", "bc"))
	require.Equal(t, plan.ArgsHash("a", "b"), plan.ArgsHash("a", "b"))
}
