//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"math"
	"math/big"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/internal/testkit/fleet"
)

// plainItems converts scanned items (canonical DynamoDB JSON) to what a
// --format json export must hold, following the contract's rules with the
// standard library only: S → string, N → number when it round-trips
// through a float64 (its shortest float64 text denotes the same decimal),
// else string, B → base64, BOOL, NULL → null, sets and L → arrays, M →
// object.
func plainItems(t *testing.T, table map[string]string) map[string]string {
	t.Helper()
	out := make(map[string]string, len(table))
	for _, canon := range table {
		var item map[string]any
		require.NoError(t, json.Unmarshal([]byte(canon), &item))
		plain := map[string]any{}
		for k, v := range item {
			plain[k] = plainValue(t, v)
		}
		b, err := json.Marshal(plain)
		require.NoError(t, err)
		c := fleet.Canonical(t, b)
		out[fleet.KeyOf(t, c)] = c
	}
	return out
}

func plainValue(t *testing.T, v any) any {
	typed := v.(map[string]any)
	require.Len(t, typed, 1, "a typed value has one type key")
	for tag, inner := range typed {
		switch tag {
		case "S", "B", "BOOL":
			return inner
		case "NULL":
			return nil
		case "N":
			return plainNumber(inner.(string))
		case "SS", "BS":
			return inner
		case "NS":
			var l []any
			for _, n := range inner.([]any) {
				l = append(l, plainNumber(n.(string)))
			}
			return l
		case "L":
			l := []any{}
			for _, e := range inner.([]any) {
				l = append(l, plainValue(t, e))
			}
			return l
		case "M":
			m := map[string]any{}
			for k, e := range inner.(map[string]any) {
				m[k] = plainValue(t, e)
			}
			return m
		}
		t.Fatalf("unknown type %q", tag)
	}
	return nil
}

func plainNumber(n string) any {
	f, err := strconv.ParseFloat(n, 64)
	if err != nil || math.IsInf(f, 0) {
		return n
	}
	want, ok1 := new(big.Rat).SetString(n)
	got, ok2 := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	if !ok1 || !ok2 || want.Cmp(got) != 0 {
		return n
	}
	return f
}

func exportWith(t *testing.T, f *fleet.Fleet, table string, extra ...string) (string, map[string]any) {
	t.Helper()
	args := append([]string{"export", "--table", table, "--bucket", f.Bucket, "--segments", "4",
		"--part-size-bytes", "20000", "--scan-page-size", "50", "--wait", "--json"}, extra...)
	res := f.Coordinator(args...)
	require.Equal(t, 0, res.Code, res.Stderr)
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &st), res.Stdout)
	require.Equal(t, "COMPLETED", st["state"])
	return st["exportId"].(string), st
}

func TestJSONZstdExportRoundTrips(t *testing.T) {
	f := fleet.NewFleet(t)
	table := f.CreateTable(600)
	f.StartWorker("--exit-when-idle", "5s", "--concurrency", "3")
	id, _ := exportWith(t, f, table, "--format", "json", "--compression", "zstd", "--sse", "AES256", "--storage-class", "STANDARD_IA")

	e := f.ReadExportAs(exportRoot("", id), fleet.Layout{Format: "json", Compression: "zstd"})
	want := plainItems(t, f.ScanTable(table))
	fleet.RequireSameItems(t, want, e)
	// Spot-check the number rule on the sample data's fixed attributes.
	for _, item := range e.Items {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(item), &m))
		require.Equal(t, "12345678901234567890123456789012345678", m["precise"], "38 digits stay a string")
		require.Equal(t, -1e-130, m["tiny"], "-1.0E-130 is a number")
		break
	}
	require.Equal(t, "AES256", e.Summary["s3SseAlgorithm"])
	require.Nil(t, e.Summary["s3SseKmsKeyId"])

	v := f.Coordinator("verify", "--export-id", id)
	require.Equal(t, 0, v.Code, v.Stdout+v.Stderr)
	require.Contains(t, v.Stdout, "600 items")
}

func TestDynamoDBJSONUncompressedExportRoundTrips(t *testing.T) {
	f := fleet.NewFleet(t)
	table := f.CreateTable(400)
	f.StartWorker("--exit-when-idle", "5s", "--concurrency", "3")
	key := "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	id, _ := exportWith(t, f, table, "--compression", "none", "--sse", "aws:kms", "--sse-kms-key-id", key)

	e := f.ReadExportAs(exportRoot("", id), fleet.Layout{Format: "dynamodb-json", Compression: "none"})
	fleet.RequireSameItems(t, f.ScanTable(table), e)
	require.Greater(t, len(e.Files), 4, "uncompressed parts reach --part-size-bytes at once and split")
	require.Equal(t, "KMS", e.Summary["s3SseAlgorithm"])
	require.Equal(t, key, e.Summary["s3SseKmsKeyId"])

	v := f.Coordinator("verify", "--export-id", id)
	require.Equal(t, 0, v.Code, v.Stdout+v.Stderr)
}

func TestFilterAndProjectionExportOnlyWhatMatches(t *testing.T) {
	f := fleet.NewFleet(t)
	table := f.CreateTable(500)
	f.StartWorker("--exit-when-idle", "5s", "--concurrency", "3")
	id, st := exportWith(t, f, table,
		"--filter-expression", "active = :t AND sk < :s",
		"--expression-attribute-values", `{":t":{"BOOL":true},":s":{"N":"3"}}`,
		"--projection-expression", "pk, sk, #n, price",
		"--expression-attribute-names", `{"#n":"name"}`)

	// The expected subset, computed from a full scan.
	want := map[string]string{}
	for k, canon := range f.ScanTable(table) {
		var item map[string]map[string]any
		require.NoError(t, json.Unmarshal([]byte(canon), &item))
		sk, err := strconv.Atoi(item["sk"]["N"].(string))
		require.NoError(t, err)
		if item["active"]["BOOL"] != true || sk >= 3 {
			continue
		}
		kept := map[string]any{"pk": item["pk"], "sk": item["sk"], "name": item["name"], "price": item["price"]}
		b, err := json.Marshal(kept)
		require.NoError(t, err)
		want[k] = fleet.Canonical(t, b)
	}
	require.NotEmpty(t, want)
	require.Less(t, len(want), 500)

	e := f.ReadExport(exportRoot("", id))
	fleet.RequireSameItems(t, want, e)
	require.EqualValues(t, len(want), e.Summary["itemCount"], "itemCount counts what was written after filtering")
	require.EqualValues(t, len(want), st["itemCount"])
	v := f.Coordinator("verify", "--export-id", id)
	require.Equal(t, 0, v.Code, v.Stdout+v.Stderr)
}

func TestBadExportOptionsExitTwoAndWriteNothing(t *testing.T) {
	f := fleet.NewFleet(t)
	table := f.CreateTable(20)
	base := []string{"export", "--table", table, "--bucket", f.Bucket}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown format", []string{"--format", "csv"}, "--format"},
		{"parquet is not gzipped whole", []string{"--format", "parquet", "--compression", "gzip"}, "--compression"},
		{"unknown compression", []string{"--compression", "brotli"}, "--compression"},
		{"names not JSON", []string{"--expression-attribute-names", "{#n:name}"}, "--expression-attribute-names"},
		{"names placeholder", []string{"--projection-expression", "pk", "--expression-attribute-names", `{"n":"name"}`}, "--expression-attribute-names"},
		{"values not DynamoDB JSON", []string{"--filter-expression", "sk = :s", "--expression-attribute-values", `{":s":3}`}, "--expression-attribute-values"},
		{"filter syntax", []string{"--filter-expression", "sk === 1"}, "--filter-expression"},
		{"filter reserved word", []string{"--filter-expression", "name = :n", "--expression-attribute-values", `{":n":{"S":"x"}}`}, "--filter-expression"},
		{"value not defined", []string{"--filter-expression", "sk = :s"}, "--expression-attribute-values"},
		{"value unused", []string{"--filter-expression", "sk = :s", "--expression-attribute-values", `{":s":{"N":"1"},":x":{"N":"2"}}`}, "--expression-attribute-values"},
		{"projection syntax", []string{"--projection-expression", "pk,,sk"}, "--projection-expression"},
		{"bad sse", []string{"--sse", "rot13"}, "--sse"},
		{"kms key without kms", []string{"--sse", "AES256", "--sse-kms-key-id", "k"}, "--sse-kms-key-id"},
		{"bad storage class", []string{"--storage-class", "COLD"}, "--storage-class"},
	}
	before := f.ControlRows()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := f.Coordinator(append(append([]string{}, base...), tc.args...)...)
			require.Equal(t, 2, res.Code, "stdout %q stderr %q", res.Stdout, res.Stderr)
			require.Contains(t, res.Stderr, tc.want, "the message names what is wrong")
			require.Empty(t, res.Stdout)
			require.NotContains(t, res.Stderr, "goroutine ")
		})
	}
	require.Equal(t, before, f.ControlRows(), "no control rows written by invalid calls")
	objs, err := f.Clients.S3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &f.Bucket})
	require.NoError(t, err)
	require.Empty(t, objs.Contents)

	// The options are part of the --export-id fingerprint, in canonical form.
	first := f.Coordinator(append(base, "--export-id", "opt-1", "--segments", "1", "--format", "json",
		"--projection-expression", "#p", "--expression-attribute-names", `{"#p":"pk"}`)...)
	require.Equal(t, 0, first.Code, first.Stderr)
	same := f.Coordinator(append(base, "--export-id", "opt-1", "--segments", "1", "--format", "json",
		"--projection-expression", "#p", "--expression-attribute-names", `{ "#p" : "pk" }`)...)
	require.Equal(t, 0, same.Code, same.Stderr)
	for _, other := range [][]string{{"--format", "dynamodb-json"}, {"--format", "json", "--compression", "zstd"}, {"--format", "json", "--storage-class", "GLACIER_IR"}} {
		res := f.Coordinator(append(append(base, "--export-id", "opt-1", "--segments", "1",
			"--projection-expression", "#p", "--expression-attribute-names", `{"#p":"pk"}`), other...)...)
		require.Equal(t, 2, res.Code, "%v: %s", other, res.Stderr)
		require.Contains(t, res.Stderr, "different arguments")
	}
}

func TestEstimateAndDDL(t *testing.T) {
	f := fleet.NewFleet(t)
	table := f.CreateTable(300)
	desc, err := f.Clients.DynamoDB.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: &table})
	require.NoError(t, err)
	size := aws.ToInt64(desc.Table.TableSizeBytes)
	require.Positive(t, size)
	units := math.Ceil(float64(size)/4096) * 0.5

	human := f.Coordinator("estimate", "--table", table)
	require.Equal(t, 0, human.Code, human.Stderr)
	for _, s := range []string{table, "read units", strconv.FormatFloat(units, 'f', 0, 64), "$0.125 per million", "unbounded: depends on fleet size"} {
		require.Contains(t, human.Stdout, s)
	}
	js := f.Coordinator("estimate", "--table", table, "--segments", "8", "--read-capacity-cap", "2", "--price-per-million-reads", "0.25", "--json")
	require.Equal(t, 0, js.Code, js.Stderr)
	var est map[string]any
	require.NoError(t, json.Unmarshal([]byte(js.Stdout), &est), js.Stdout)
	require.EqualValues(t, units, est["readUnits"])
	require.EqualValues(t, 8, est["segments"])
	require.InDelta(t, units/1e6*0.25, est["costUSD"], 1e-12)
	require.InDelta(t, units/2, est["seconds"], 1e-9)
	auto := f.Coordinator("estimate", "--table", table, "--json")
	require.NoError(t, json.Unmarshal([]byte(auto.Stdout), &est), auto.Stdout)
	require.EqualValues(t, 16, est["segments"], "auto: at least 16")
	require.Nil(t, est["seconds"])
	for _, bad := range [][]string{{"estimate"}, {"estimate", "--table", "no-such-table"}, {"estimate", "--table", table, "--segments", "0"}, {"estimate", "--table", table, "--read-capacity-cap", "-1"}} {
		res := f.Coordinator(bad...)
		require.Equal(t, 2, res.Code, "%v: %s", bad, res.Stderr)
	}

	f.StartWorker("--exit-when-idle", "5s", "--concurrency", "3")
	id, _ := exportWith(t, f, table, "--prefix", "x/{table}")
	ddl := f.Coordinator("ddl", "--export-id", id, "--database", "lake", "--table-name", "orders_snapshot")
	require.Equal(t, 0, ddl.Code, ddl.Stderr)
	require.Contains(t, ddl.Stdout, "CREATE EXTERNAL TABLE `lake`.`orders_snapshot` (")
	require.Contains(t, ddl.Stdout, "LOCATION 's3://"+f.Bucket+"/"+exportRoot("x/"+table, id)+"data/'")
	require.Contains(t, ddl.Stdout, "org.openx.data.jsonserde.JsonSerDe")
	require.Contains(t, ddl.Stdout, "Item struct<")
	for _, attr := range []string{"pk:struct<S:string>", "sk:struct<N:string>", "price:struct<N:string>", "tags:struct<SS:array<string>>", "address:struct<M:struct<"} {
		require.Contains(t, ddl.Stdout, attr)
	}

	jid, _ := exportWith(t, f, table, "--format", "json", "--compression", "zstd")
	jddl := f.Coordinator("ddl", "--export-id", jid)
	require.Equal(t, 0, jddl.Code, jddl.Stderr)
	require.Contains(t, jddl.Stdout, "CREATE EXTERNAL TABLE `")
	require.Contains(t, jddl.Stdout, "LOCATION 's3://"+f.Bucket+"/"+exportRoot("", jid)+"data/'")
	for _, col := range []string{"`pk` string", "`sk` bigint", "`price` double", "`precise` string", "`active` boolean", "`tags` array<string>"} {
		require.Contains(t, jddl.Stdout, col)
	}
	require.NotContains(t, jddl.Stdout, "Item struct<")

	for _, bad := range [][]string{{"ddl"}, {"ddl", "--export-id", "nope"}, {"ddl", "--export-id", id, "--table-name", "a-b"}} {
		res := f.Coordinator(bad...)
		require.Equal(t, 2, res.Code, "%v: %s", bad, res.Stderr)
	}
}
