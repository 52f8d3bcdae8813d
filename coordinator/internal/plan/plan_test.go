package plan_test

import (
	"fmt"
	"strings"
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
	got, err := plan.Prefix("exports/{table}/dt={yyyy}-{mm}-{dd}/{hh}/{exportId}", "orders", "e1", at)
	require.NoError(t, err)
	require.Equal(t, "exports/orders/dt=2026-03-03/20/e1", got, "placeholders resolve in UTC")
	got, err = plan.Prefix("exports/{table}/", "orders", "e1", at)
	require.NoError(t, err)
	require.Equal(t, "exports/orders", got, "a recorded template's trailing slash is dropped")
	_, err = plan.NewPrefix("exports/{table}/", "orders", "e1", at)
	require.True(t, fault.IsInvalid(err), "a new --prefix must not end with '/'")
	require.ErrorContains(t, err, `use --prefix "exports/{table}"`)
	got, err = plan.Prefix("", "t", "e", at)
	require.NoError(t, err)
	require.Equal(t, "", got)
	for _, good := range []string{"a", "a/b", "a.b/..c/c..", "données/テーブル", "x/{table}/.hidden", "dt=2026-01-01"} {
		_, err := plan.NewPrefix(good, "orders", "e1", at)
		require.NoError(t, err, good)
	}
}

func TestPrefixRefusesWhatS3OrPathToolsWouldMangle(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, tc := range []struct{ tmpl, table, want string }{
		{"/abs", "t", `use --prefix "abs"`},
		{"a//b", "t", `empty path segment ('//'); use --prefix "a/b"`},
		{"exports/", "t", `must not end with '/' (the export adds it before AWSDynamoDB/); use --prefix "exports"`},
		{"/", "t", `must not end with '/' (the export adds it before AWSDynamoDB/); use --prefix ""`},
		{"a//", "t", `must not end with '/'`},
		{"{nope}", "t", "unknown placeholder {nope}"},
		{"x{", "t", "braces"},
		{`a\b`, "t", "backslashes"},
		{"a/./b", "t", `"." path segment`},
		{"a/..", "t", `".." path segment`},
		{"..", "t", `".." path segment`},
		{"x/{table}", "..", `".." path segment`}, // found after placeholders resolve
		{"a\x00b", "t", "control characters (found U+0000)"},
		{"a\nb", "t", "control characters (found U+000A)"},
		{"a\x7fb", "t", "control characters (found U+007F)"},
		{"a\u0085b", "t", "control characters (found U+0085)"},
		{"a\xffb", "t", "not valid UTF-8"},
	} {
		_, err := plan.NewPrefix(tc.tmpl, tc.table, "e1", at)
		require.True(t, fault.IsInvalid(err), "%q: %v", tc.tmpl, err)
		require.ErrorContains(t, err, "--prefix")
		require.ErrorContains(t, err, tc.want, tc.tmpl)
	}
}

func TestPrefixLeavesRoomForTheLongestKey(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	id := strings.Repeat("i", 100) // the longest --export-id
	// <prefix>/AWSDynamoDB/<id>/data/ and a 64-byte file name fit in
	// S3's 1024-byte key exactly at this length.
	longest := plan.MaxKeyBytes - 64 - len("/AWSDynamoDB/"+id+"/data/")
	_, err := plan.Prefix(strings.Repeat("p", longest), "t", id, at)
	require.NoError(t, err)
	_, err = plan.Prefix(strings.Repeat("p", longest+1), "t", id, at)
	require.True(t, fault.IsInvalid(err))
	require.ErrorContains(t, err, fmt.Sprintf("over S3's limit of 1024; keep the resolved prefix to at most %d bytes", longest))
	// The limit counts the resolved prefix: {table} may be 255 bytes.
	tmpl := strings.Repeat("p", longest-len("{table}")) + "{table}"
	_, err = plan.Prefix(tmpl, "abc", id, at)
	require.NoError(t, err)
	_, err = plan.Prefix(tmpl, strings.Repeat("t", 255), id, at)
	require.True(t, fault.IsInvalid(err))
	// A shorter export id leaves the prefix more room.
	_, err = plan.Prefix(strings.Repeat("p", longest+1), "t", "e1", at)
	require.NoError(t, err)
}

func TestExportID(t *testing.T) {
	at := time.UnixMilli(1700000000123)
	id, err := plan.ExportID("", at)
	require.NoError(t, err)
	require.Regexp(t, `^01700000000123-[0-9a-f]{8}$`, id)
	id, err = plan.ExportID("nightly-2026.01_a", at)
	require.NoError(t, err)
	require.Equal(t, "nightly-2026.01_a", id)
	for _, bad := range []string{"-x", "a/b", "a b", ".", "..", "../x", "a\\b", "a\x00", "a\n", "a\x7f", "é", string(make([]byte, 101)), strings.Repeat("a", 101)} {
		_, err := plan.ExportID(bad, at)
		require.True(t, fault.IsInvalid(err), bad)
	}
}

func TestArgsHashSeparatesFields(t *testing.T) {
	require.NotEqual(t, plan.ArgsHash("ab", "c"), plan.ArgsHash("a", "bc"))
	require.Equal(t, plan.ArgsHash("a", "b"), plan.ArgsHash("a", "b"))
}
