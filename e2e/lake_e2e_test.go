//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/internal/testkit/fleet"
	"github.com/ddbfleet/ddbfleet/shared/ddbjson"
	"github.com/ddbfleet/ddbfleet/shared/parquetfile"
)

// TestParquetLakeSeriesReadByDuckDB exports one table four times as a
// daily series (two days of Parquet, two of gzip'd JSON) with the real
// binaries, reads every Parquet item back exactly, and asks DuckDB, a real
// engine, what an analyst would: rows per partition, a filter, a DECIMAL
// sum — all equal to the table's.
func TestParquetLakeSeriesReadByDuckDB(t *testing.T) {
	query := fleet.DuckDB(t)
	f := fleet.NewFleet(t)
	table := f.CreateTable(600)
	items := scanItems(t, f, table)
	f.StartWorker("--exit-when-idle", "20s", "--concurrency", "3")

	days := []string{"2026-11-30", "2026-12-01"}
	dir := t.TempDir()
	for _, format := range []string{"parquet", "json"} {
		for _, day := range days {
			prefix := fmt.Sprintf("lake/%s/%s/dt=%s", format, table, day)
			id, st := exportWith(t, f, table, "--format", format, "--prefix", prefix)
			require.EqualValues(t, len(items), st["itemCount"])
			require.Equal(t, strings.ToUpper(format), summary(t, f, exportRoot(prefix, id))["outputFormat"])
			v := f.Coordinator("verify", "--export-id", id)
			require.Equal(t, 0, v.Code, v.Stdout+v.Stderr)
			download(t, f, exportRoot(prefix, id)+"data/", filepath.Join(dir, format, "dt="+day))
		}
	}

	// Every value survives, through the documented mapping.
	got := map[string]map[string]types.AttributeValue{}
	files, err := filepath.Glob(filepath.Join(dir, "parquet", "dt="+days[0], "*.parquet"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, name := range files {
		raw, err := os.ReadFile(name)
		require.NoError(t, err)
		require.NoError(t, parquetfile.ReadItems(bytes.NewReader(raw), int64(len(raw)), func(it map[string]types.AttributeValue) error {
			got[keyString(it)] = it
			return nil
		}))
	}
	require.Len(t, got, len(items))
	for k, want := range items {
		require.Contains(t, got, k)
		require.Equal(t, normalized(t, want), normalized(t, got[k]), "item %s", k)
	}

	// What the table says, to compare DuckDB's answers with.
	active := 0
	price := new(big.Rat)
	for _, it := range items {
		if b, ok := it["active"].(*types.AttributeValueMemberBOOL); ok && b.Value {
			active++
		}
		p, ok := new(big.Rat).SetString(it["price"].(*types.AttributeValueMemberN).Value)
		require.True(t, ok)
		price.Add(price, p)
	}
	parquetFiles := filepath.Join(dir, "parquet", "*", "*.parquet")
	rows := query(fmt.Sprintf(`SELECT dt, count(*) AS n FROM read_parquet('%s', hive_partitioning = true) GROUP BY dt ORDER BY dt`, parquetFiles))
	require.Len(t, rows, 2)
	for i, day := range days {
		require.Equal(t, day, rows[i]["dt"])
		require.EqualValues(t, fmt.Sprint(len(items)), fmt.Sprint(rows[i]["n"]), "rows of partition %s", day)
	}
	rows = query(fmt.Sprintf(`SELECT count(*) AS n FROM read_parquet('%s', hive_partitioning = true) WHERE active AND dt = '%s'`, parquetFiles, days[1]))
	require.EqualValues(t, fmt.Sprint(active), fmt.Sprint(rows[0]["n"]), "a filter on an attribute")
	rows = query(fmt.Sprintf(`SELECT typeof(price) AS t, CAST(sum(price) AS VARCHAR) AS s FROM read_parquet('%s', hive_partitioning = true) WHERE dt = '%s' GROUP BY 1`, parquetFiles, days[0]))
	require.Len(t, rows, 1)
	require.True(t, strings.HasPrefix(fmt.Sprint(rows[0]["t"]), "DECIMAL"), "price is a DECIMAL column, not %v", rows[0]["t"])
	sum, ok := new(big.Rat).SetString(fmt.Sprint(rows[0]["s"]))
	require.True(t, ok, "sum %v", rows[0]["s"])
	require.Zero(t, sum.Cmp(price), "sum(price) is %s, the table's is %s", sum.FloatString(2), price.FloatString(2))

	jsonFiles := filepath.Join(dir, "json", "*", "*.json.gz")
	rows = query(fmt.Sprintf(`SELECT dt, count(*) AS n FROM read_json_auto('%s', hive_partitioning = true) GROUP BY dt ORDER BY dt`, jsonFiles))
	require.Len(t, rows, 2)
	for i, day := range days {
		require.Equal(t, day, rows[i]["dt"])
		require.EqualValues(t, fmt.Sprint(len(items)), fmt.Sprint(rows[i]["n"]), "JSON rows of partition %s", day)
	}
}

// TestDDLOverADatedSeries prints one partitioned table for every export
// of a dated prefix pattern, the newest of a day winning its partition.
func TestDDLOverADatedSeries(t *testing.T) {
	f := fleet.NewFleet(t)
	table := f.CreateTable(50)
	f.StartWorker("--exit-when-idle", "15s", "--concurrency", "3")
	tmpl := "series/{table}/dt={yyyy}-{mm}-{dd}"
	first, _ := exportWith(t, f, table, "--format", "parquet", "--prefix", tmpl)
	second, st := exportWith(t, f, table, "--format", "parquet", "--prefix", tmpl)
	prefix := st["s3Prefix"].(string)
	day := strings.TrimPrefix(prefix[strings.LastIndex(prefix, "/")+1:], "dt=")

	res := f.Coordinator("ddl", "--export-id", second, "--all")
	require.Equal(t, 0, res.Code, res.Stderr)
	ddl := res.Stdout
	require.Contains(t, ddl, "CREATE EXTERNAL TABLE IF NOT EXISTS")
	require.Contains(t, ddl, "PARTITIONED BY")
	require.Contains(t, ddl, "STORED AS PARQUET")
	require.Contains(t, ddl, fmt.Sprintf("PARTITION (dt='%s') LOCATION 's3://%s/%s/AWSDynamoDB/%s/data/'", day, f.Bucket, prefix, second),
		"the day's partition points at the newest export's data/ folder")
	require.NotContains(t, ddl, first+"/data/", "the earlier export of the same day is superseded")
	require.Contains(t, res.Stderr, first, "and the operator is told so")
	for _, stmt := range strings.Split(strings.TrimSpace(ddl), ";\n") {
		require.NotEmpty(t, strings.TrimSpace(stmt))
	}
}

func scanItems(t *testing.T, f *fleet.Fleet, table string) map[string]map[string]types.AttributeValue {
	t.Helper()
	out := map[string]map[string]types.AttributeValue{}
	var start map[string]types.AttributeValue
	for {
		page, err := f.Clients.DynamoDB.Scan(context.Background(), &dynamodb.ScanInput{TableName: &table, ExclusiveStartKey: start, ConsistentRead: aws.Bool(true)})
		require.NoError(t, err)
		for _, it := range page.Items {
			out[keyString(it)] = it
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out
		}
		start = page.LastEvaluatedKey
	}
}

func keyString(it map[string]types.AttributeValue) string {
	return it["pk"].(*types.AttributeValueMemberS).Value + "/" + it["sk"].(*types.AttributeValueMemberN).Value
}

// normalized is an item's DynamoDB JSON with every number written as an
// exact fraction: DECIMAL columns keep a number's value, not its spelling.
func normalized(t *testing.T, it map[string]types.AttributeValue) string {
	t.Helper()
	b, err := ddbjson.AppendMap(nil, it)
	require.NoError(t, err)
	var v any
	require.NoError(t, json.Unmarshal(b, &v))
	var walk func(any) any
	walk = func(x any) any {
		switch m := x.(type) {
		case map[string]any:
			if n, ok := m["N"].(string); ok && len(m) == 1 {
				r, ok := new(big.Rat).SetString(n)
				require.True(t, ok, n)
				return map[string]any{"N": r.RatString()}
			}
			if ns, ok := m["NS"].([]any); ok && len(m) == 1 {
				out := make([]any, len(ns))
				for i, n := range ns {
					r, _ := new(big.Rat).SetString(n.(string))
					out[i] = r.RatString()
				}
				return map[string]any{"NS": out}
			}
			out := map[string]any{}
			for k, e := range m {
				out[k] = walk(e)
			}
			return out
		case []any:
			out := make([]any, len(m))
			for i, e := range m {
				out[i] = walk(e)
			}
			return out
		}
		return x
	}
	out, err := json.Marshal(walk(v))
	require.NoError(t, err)
	return string(out)
}

// download copies every object under prefix into dir, as an engine would
// read a lake folder.
func download(t *testing.T, f *fleet.Fleet, prefix, dir string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	out, err := f.Clients.S3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &f.Bucket, Prefix: &prefix})
	require.NoError(t, err)
	require.NotEmpty(t, out.Contents)
	for _, o := range out.Contents {
		obj, err := f.Clients.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &f.Bucket, Key: o.Key})
		require.NoError(t, err)
		body, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(*o.Key)), body, 0o644))
	}
}

func summary(t *testing.T, f *fleet.Fleet, root string) map[string]any {
	t.Helper()
	key := root + "manifest-summary.json"
	obj, err := f.Clients.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &f.Bucket, Key: &key})
	require.NoError(t, err)
	defer obj.Body.Close()
	var m map[string]any
	require.NoError(t, json.NewDecoder(obj.Body).Decode(&m))
	return m
}
