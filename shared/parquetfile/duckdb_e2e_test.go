//go:build e2e

package parquetfile

import (
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/internal/testkit/fleet"
	"github.com/ddbfleet/ddbfleet/internal/testkit/sampledata"
)

// duckdb runs SQL with the real engine (fleet.DuckDB).
func duckdb(t *testing.T) func(sql string) []map[string]any { return fleet.DuckDB(t) }

// TestDuckDBReadsWhatWeWrite writes a small export, two hive partitions
// of two files each, and checks with DuckDB what Athena users will run:
// counts per partition, a filter, a DECIMAL sum, nested fields, and
// _extra through json_extract.
func TestDuckDBReadsWhatWeWrite(t *testing.T) {
	query := duckdb(t)

	const perFile = 5000
	partitions := []string{"2026-12-01", "2026-12-02"}
	item := func(i int) item {
		it := sampledata.BenchItem(i)
		if i%10 == 0 {
			// Negative amounts: DuckDB must not skip them on bad bounds.
			it["total"] = n("-" + it["total"].(*types.AttributeValueMemberN).Value)
		}
		it["precise"] = n("12345678901234567890123456789012345678")
		it["tiny"] = n("1E-130")
		if i >= 1000 && i%97 == 0 {
			it["late"] = s("x") // not in the sample: only in _extra
		}
		return it
	}
	var sample []map[string]types.AttributeValue
	for i := range 1000 {
		sample = append(sample, item(i))
	}
	schema, err := InferSchema(pkSK, sample, InferOptions{})
	require.NoError(t, err)
	require.Equal(t, "decimal(38,2)", columnTypes(schema)["total"])

	dir := t.TempDir()
	perPartition := map[string]int{}
	shipped, late, negative := 0, 0, 0
	sum := new(big.Rat)
	i := 0
	for _, dt := range partitions {
		folder := filepath.Join(dir, "dt="+dt)
		require.NoError(t, os.MkdirAll(folder, 0o755))
		for part := range 2 {
			f, err := os.Create(filepath.Join(folder, fmt.Sprintf("part-%05d%s", part, Suffix())))
			require.NoError(t, err)
			w, err := NewWriter(f, schema, Options{RowGroupBytes: 256 << 10})
			require.NoError(t, err)
			for range perFile {
				it := item(i)
				i++
				require.NoError(t, w.Write(it))
				perPartition[dt]++
				if it["status"].(*types.AttributeValueMemberS).Value == "shipped" {
					shipped++
				}
				if _, ok := it["late"]; ok {
					late++
				}
				total, ok := new(big.Rat).SetString(it["total"].(*types.AttributeValueMemberN).Value)
				require.True(t, ok)
				sum.Add(sum, total)
				if total.Sign() < 0 {
					negative++
				}
			}
			require.NoError(t, w.Close())
			require.Greater(t, w.Stats().RowGroups, 1, "several row groups per file, so bounds matter")
			require.NoError(t, f.Close())
		}
	}
	require.NotZero(t, shipped)
	require.NotZero(t, late)

	from := fmt.Sprintf("read_parquet('%s/*/*.parquet', hive_partitioning = true, hive_types_autocast = false)", dir)

	rows := query("SELECT dt, count(*) AS n FROM " + from + " GROUP BY dt ORDER BY dt")
	require.Len(t, rows, len(partitions))
	for k, dt := range partitions {
		require.Equal(t, dt, rows[k]["dt"])
		require.Equal(t, fmt.Sprint(perPartition[dt]), rows[k]["n"], "count(*) of dt=%s", dt)
	}

	rows = query("SELECT count(*) AS n FROM " + from + " WHERE status = 'shipped'")
	require.Equal(t, fmt.Sprint(shipped), rows[0]["n"])

	rows = query("SELECT sum(total) AS s, typeof(sum(total)) AS t FROM " + from)
	got, ok := new(big.Rat).SetString(rows[0]["s"].(string))
	require.True(t, ok, "sum %v", rows[0]["s"])
	require.Equal(t, sum.FloatString(2), got.FloatString(2), "sum(total) as %s", rows[0]["t"])
	require.Zero(t, sum.Cmp(got))
	// A WHERE on the column is pushed into the scan, where row group
	// bounds would decide what is read.
	rows = query("SELECT count(*) AS n FROM " + from + " WHERE total < 0")
	require.Equal(t, fmt.Sprint(negative), rows[0]["n"])

	rows = query("SELECT count(*) AS n FROM " + from + " WHERE json_extract_string(_extra, '$.late.S') = 'x'")
	require.Equal(t, fmt.Sprint(late), rows[0]["n"])

	// One item in full: nested struct and list access, and the numbers
	// no double holds.
	want := item(7)
	rows = query("SELECT shipTo.city AS city, tags, lines, precise, tiny, typeof(precise) AS pt, paid FROM " + from + " WHERE pk = 'customer#00000007'")
	require.Len(t, rows, 1)
	require.Equal(t, want["shipTo"].(*types.AttributeValueMemberM).Value["city"].(*types.AttributeValueMemberS).Value, rows[0]["city"])
	require.Equal(t, []any{want["tags"].(*types.AttributeValueMemberSS).Value[0], "all"}, rows[0]["tags"])
	require.Equal(t, "12345678901234567890123456789012345678", rows[0]["precise"])
	require.Equal(t, "DECIMAL(38,0)", rows[0]["pt"])
	require.Equal(t, "1E-130", rows[0]["tiny"], "kept as exact text")
	require.Equal(t, want["paid"].(*types.AttributeValueMemberBOOL).Value, rows[0]["paid"])
	var lines struct{ L []map[string]string }
	require.NoError(t, json.Unmarshal([]byte(rows[0]["lines"].(string)), &lines), "mixed list as DynamoDB JSON: %v", rows[0]["lines"])
	wantLines := want["lines"].(*types.AttributeValueMemberL).Value
	require.Equal(t, []map[string]string{
		{"S": wantLines[0].(*types.AttributeValueMemberS).Value},
		{"N": wantLines[1].(*types.AttributeValueMemberN).Value},
	}, lines.L)
}
