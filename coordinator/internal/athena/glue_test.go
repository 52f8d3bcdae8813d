package athena_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/athena"
	"github.com/ddbfleet/ddbfleet/coordinator/internal/plan"
	"github.com/ddbfleet/ddbfleet/shared/datafile"
)

// glueStandIn answers the Glue JSON protocol on loopback and records every
// request, so the test sees exactly what the SDK would send AWS.
type glueStandIn struct {
	mu       sync.Mutex
	calls    []glueCall
	existing bool                                 // CreateTable answers AlreadyExistsException
	reply    func(target string, body []byte) any // BatchCreatePartition's answer; nil: no errors
}

type glueCall struct {
	target string // the operation, e.g. CreateTable
	body   map[string]any
}

func (g *glueStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	target := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AWSGlue.")
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	g.mu.Lock()
	g.calls = append(g.calls, glueCall{target, body})
	existing := g.existing
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	switch {
	case target == "CreateTable" && existing:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"AlreadyExistsException","Message":"Table already exists."}`)
	case target == "BatchCreatePartition" && g.reply != nil:
		_ = json.NewEncoder(w).Encode(g.reply(target, raw))
	default:
		fmt.Fprint(w, `{}`)
	}
}

func (g *glueStandIn) targets() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, c := range g.calls {
		out = append(out, c.target)
	}
	return out
}

func newGlue(t *testing.T, g *glueStandIn) *glue.Client {
	t.Helper()
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return glue.New(glue.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), HTTPClient: srv.Client(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""), Retryer: aws.NopRetryer{},
	})
}

func days(t *testing.T, template string, n int) []athena.Location {
	t.Helper()
	var locs []athena.Location
	for day := 1; day <= n; day++ {
		locs = append(locs, exportAt(t, template, day))
	}
	return locs
}

func TestGlueCreatesTheTableAndItsPartitions(t *testing.T) {
	g := &glueStandIn{}
	const template = "exports/{table}/dt={yyyy}-{mm}-{dd}"
	spec := athena.Spec{Database: "lake", SourceTable: "orders", Format: datafile.JSON, PrefixTemplate: template, Exports: days(t, template, 3)}
	res, err := athena.Glue(context.Background(), newGlue(t, g), spec, columnsOf(t, datafile.JSON))
	require.NoError(t, err)
	require.True(t, res.Created)
	require.Equal(t, 3, res.Added)
	require.Equal(t, []string{"CreateTable", "BatchCreatePartition"}, g.targets())

	create := g.calls[0].body
	require.Equal(t, "lake", create["DatabaseName"])
	table := create["TableInput"].(map[string]any)
	require.Equal(t, "orders", table["Name"])
	require.Equal(t, "EXTERNAL_TABLE", table["TableType"])
	require.Equal(t, map[string]any{"EXTERNAL": "TRUE", "classification": "json", "ddbfleet.outputFormat": "JSON", "ddbfleet.prefixTemplate": template}, table["Parameters"])
	require.Equal(t, []any{map[string]any{"Name": "dt", "Type": "string"}}, table["PartitionKeys"])
	sd := table["StorageDescriptor"].(map[string]any)
	require.Equal(t, "s3://lake-bucket/exports/orders/", sd["Location"])
	require.Equal(t, athena.SerDe, sd["SerdeInfo"].(map[string]any)["SerializationLibrary"])
	require.Contains(t, sd["Columns"], map[string]any{"Name": "shipto", "Type": "struct<city:string>"}, "names lower-cased as Athena stores them")

	batch := g.calls[1].body
	require.Equal(t, "orders", batch["TableName"])
	parts := batch["PartitionInputList"].([]any)
	require.Len(t, parts, 3)
	for i, p := range parts {
		p := p.(map[string]any)
		require.Equal(t, []any{fmt.Sprintf("2026-12-0%d", i+1)}, p["Values"])
		require.Equal(t, spec.Exports[i].DataURL(), p["StorageDescriptor"].(map[string]any)["Location"])
	}
}

func TestGlueUpdatesAnExistingTableAndKeepsExistingPartitions(t *testing.T) {
	g := &glueStandIn{existing: true, reply: func(_ string, body []byte) any {
		return map[string]any{"Errors": []any{map[string]any{
			"PartitionValues": []string{"2026-12-01"},
			"ErrorDetail":     map[string]any{"ErrorCode": "AlreadyExistsException", "ErrorMessage": "Partition already exists."},
		}}}
	}}
	const template = "dt={yyyy}-{mm}-{dd}"
	spec := athena.Spec{Database: "lake", SourceTable: "orders", Format: "parquet", PrefixTemplate: template, Exports: days(t, template, 2)}
	res, err := athena.Glue(context.Background(), newGlue(t, g), spec, parquetColumns)
	require.NoError(t, err)
	require.False(t, res.Created)
	require.Equal(t, 1, res.Added)
	require.Equal(t, 1, res.AlreadyThere)
	require.Equal(t, []string{"CreateTable", "UpdateTable", "BatchCreatePartition"}, g.targets())
	sd := g.calls[1].body["TableInput"].(map[string]any)["StorageDescriptor"].(map[string]any)
	require.Equal(t, "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe", sd["SerdeInfo"].(map[string]any)["SerializationLibrary"])
	require.Len(t, sd["Columns"], len(parquetColumns))
}

func TestGlueSendsAtMostAHundredPartitionsACallAndReportsFailures(t *testing.T) {
	var sizes []int
	g := &glueStandIn{reply: func(_ string, body []byte) any {
		var in struct{ PartitionInputList []struct{ Values []string } }
		_ = json.Unmarshal(body, &in)
		sizes = append(sizes, len(in.PartitionInputList))
		if len(sizes) == 1 {
			return map[string]any{}
		}
		return map[string]any{"Errors": []any{map[string]any{
			"PartitionValues": in.PartitionInputList[0].Values,
			"ErrorDetail":     map[string]any{"ErrorCode": "InvalidInputException", "ErrorMessage": "bad location"},
		}}}
	}}
	// 150 hourly exports: 150 partitions.
	const template = "p/dt={yyyy}-{mm}-{dd}/hour={hh}"
	spec := athena.Spec{Database: "lake", SourceTable: "t", Format: datafile.JSON, PrefixTemplate: template}
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for h := range 150 {
		at := start.Add(time.Duration(h) * time.Hour)
		id := fmt.Sprintf("e%03d", h)
		prefix, err := plan.Prefix(template, "t", id, at)
		require.NoError(t, err)
		spec.Exports = append(spec.Exports, athena.Location{Bucket: "b", Prefix: prefix, ExportID: id})
	}
	_, err := athena.Glue(context.Background(), newGlue(t, g), spec, []athena.Column{{Name: "pk", Type: "string"}})
	require.ErrorContains(t, err, "1 partitions of lake.t not added: (2026-12-05, 04): InvalidInputException bad location")
	require.Equal(t, []int{100, 50}, sizes)
}

func TestGlueNeedsADatabase(t *testing.T) {
	_, err := athena.Glue(context.Background(), newGlue(t, &glueStandIn{}), athena.Spec{SourceTable: "t", Exports: []athena.Location{{Bucket: "b", ExportID: "e"}}}, []athena.Column{{Name: "pk", Type: "string"}})
	require.ErrorContains(t, err, "needs a database")
}
