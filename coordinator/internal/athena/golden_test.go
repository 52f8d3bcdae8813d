package athena_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/athena"
	"github.com/ddbfleet/ddbfleet/coordinator/internal/plan"
	"github.com/ddbfleet/ddbfleet/shared/datafile"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from the current output")

// golden compares got with testdata/name, or rewrites the file with -update.
// The files are read by people reviewing a change of output, so each one is
// a whole, runnable set of statements.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "no golden file; run: go test ./coordinator/internal/athena -update")
	require.Equal(t, string(want), got, "output differs from %s; if the change is meant, rerun with -update and review the diff", path)
}

// Sample lines of an orders table, as a worker writes them: one customer's
// orders, with every shape the column inference has to handle (nested map,
// list of maps, a set, a null, a number that is not a whole number).
var (
	ddbSample = strings.Join([]string{
		`{"Item":{"pk":{"S":"customer#42"},"sk":{"S":"order#0017"},"total":{"N":"129.90"},"status":{"S":"SHIPPED"},` +
			`"lines":{"L":[{"M":{"sku":{"S":"A-1"},"qty":{"N":"2"}}}]},"tags":{"SS":["gift"]},"shipTo":{"M":{"city":{"S":"Lyon"}}}}}`,
		`{"Item":{"pk":{"S":"customer#42"},"sk":{"S":"order#0018"},"total":{"N":"12"},"status":{"S":"PENDING"},"note":{"NULL":true}}}`,
	}, "\n") + "\n"
	jsonSample = strings.Join([]string{
		`{"pk":"customer#42","sk":"order#0017","total":129.9,"status":"SHIPPED","lines":[{"sku":"A-1","qty":2}],"tags":["gift"],"shipTo":{"city":"Lyon"}}`,
		`{"pk":"customer#42","sk":"order#0018","total":12,"status":"PENDING","note":null}`,
	}, "\n") + "\n"
)

// sampled is a schema inferred from the sample lines of format.
func sampled(t *testing.T, format datafile.Format) *athena.Schema {
	t.Helper()
	s := athena.NewSchema(format)
	in := ddbSample
	if format == datafile.JSON {
		in = jsonSample
	}
	require.NoError(t, s.AddAll(strings.NewReader(in), 1000))
	return s
}

const (
	bucket   = "lake-bucket"
	exportID = "01796090400000-1a2b3c4d"
)

// TestGoldenSingleExport pins the DDL of an export whose prefix has no
// date placeholders: its files are its own table.
func TestGoldenSingleExport(t *testing.T) {
	for _, f := range []datafile.Format{datafile.DynamoDBJSON, datafile.JSON} {
		t.Run(string(f), func(t *testing.T) {
			ddl, dropped, err := sampled(t, f).DDL(athena.Table{
				Name: athena.TableName("Orders", exportID), ExportID: exportID,
				Location: "s3://" + bucket + "/backups/orders/AWSDynamoDB/" + exportID + "/data/",
			})
			require.NoError(t, err)
			require.Empty(t, dropped)
			golden(t, string(f)+"-single.sql", ddl)
		})
	}
}

// parquetColumns stand for what the Parquet writer's schema gives: key
// attributes typed, the rest by their sampled type, and _extra holding
// attributes that did not fit the schema as JSON text.
var parquetColumns = []athena.Column{
	{Name: "pk", Type: "string"},
	{Name: "sk", Type: "string"},
	{Name: "lines", Type: "array<struct<qty:bigint,sku:string>>"},
	{Name: "shipTo", Type: "struct<city:string>"},
	{Name: "status", Type: "string"},
	{Name: "tags", Type: "array<string>"},
	{Name: "total", Type: "decimal(38,9)"},
	{Name: "_extra", Type: "string"},
}

var formats = []datafile.Format{datafile.DynamoDBJSON, datafile.JSON, "parquet"}

func columnsOf(t *testing.T, f datafile.Format) []athena.Column {
	t.Helper()
	if f == "parquet" {
		return parquetColumns
	}
	cols, dropped, err := sampled(t, f).Columns()
	require.NoError(t, err)
	require.Empty(t, dropped)
	return cols
}

// exportAt is an export of table "orders" started at the given day's
// 02:00 UTC, with its prefix resolved as the export command resolves it.
func exportAt(t *testing.T, template string, day int) athena.Location {
	t.Helper()
	at := time.Date(2026, 12, day, 2, 0, 0, 0, time.UTC)
	id, err := plan.ExportID("", at)
	require.NoError(t, err)
	id = id[:15] + "1a2b3c4d" // the random suffix, fixed so the golden files stay put
	prefix, err := plan.Prefix(template, "orders", id, at)
	require.NoError(t, err)
	return athena.Location{Bucket: bucket, Prefix: prefix, ExportID: id}
}

// shapes are the prefix templates the golden files cover, with how many
// daily exports the table is made over (more than one is --all).
var shapes = []struct {
	name     string
	template string
	exports  int
}{
	{"single", "backups/orders", 1},
	{"dt", "exports/dt={yyyy}-{mm}-{dd}", 1},
	{"year-month-day", "lake/year={yyyy}/month={mm}/day={dd}", 1},
	{"table-hour", "exports/{table}/dt={yyyy}-{mm}-{dd}/hour={hh}", 1},
	{"all", "exports/{table}/dt={yyyy}-{mm}-{dd}", 3},
}

// TestGoldenRender pins the DDL of every format and prefix shape, and
// parses each output as Hive DDL: one table, one partition per export,
// every partition at its export's data/ folder.
func TestGoldenRender(t *testing.T) {
	for _, f := range formats {
		for _, sh := range shapes {
			t.Run(string(f)+"/"+sh.name, func(t *testing.T) {
				var locs []athena.Location
				for day := 1; day <= sh.exports; day++ {
					locs = append(locs, exportAt(t, sh.template, day))
				}
				source := "orders"
				if sh.name == "single" {
					source = "Orders" // default name is lower-cased
				}
				d, err := athena.Render(athena.Spec{SourceTable: source, Format: f, PrefixTemplate: sh.template, Exports: locs}, columnsOf(t, f))
				require.NoError(t, err)
				require.Empty(t, d.Dropped)
				golden(t, string(f)+"-"+sh.name+".sql", d.String())

				create, alters, err := parseDDL(d.String())
				require.NoError(t, err, d.String())
				require.Len(t, d.Statements, 1+len(alters))
				require.Equal(t, d.Partitioned, len(alters) > 0)
				if f == "parquet" {
					require.Equal(t, "PARQUET", create.stored)
					require.Equal(t, "PARQUET", create.properties["ddbfleet.outputFormat"])
					require.Len(t, create.columns, len(parquetColumns), "a Parquet table's columns are exactly the schema's")
				} else {
					require.Equal(t, athena.SerDe, create.stored)
				}
				if !d.Partitioned {
					require.False(t, create.ifNotExists)
					require.Equal(t, locs[0].DataURL(), create.location)
					require.Equal(t, locs[0].ExportID, create.properties["ddbfleet.exportId"])
					return
				}
				require.True(t, create.ifNotExists)
				require.Equal(t, sh.template, create.properties["ddbfleet.prefixTemplate"])
				require.Len(t, alters, sh.exports)
				require.Equal(t, d.Partitions, names(create.partitions))
				require.NotContains(t, create.location, "AWSDynamoDB", "the table sits above every export")
				for i, a := range alters {
					require.Equal(t, create.table, a.table)
					require.Equal(t, locs[i].DataURL(), a.location)
					require.True(t, strings.HasPrefix(a.location, create.location), "partition %s under the table's %s", a.location, create.location)
					for j, kv := range a.values {
						require.Equal(t, create.partitions[j].name, kv[0])
						require.Equal(t, "string", create.partitions[j].typ)
						require.Contains(t, locs[i].Prefix, kv[0]+"="+kv[1], "the value is the folder's")
					}
				}
			})
		}
	}
}

func names(cols []parsedColumn) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.name
	}
	return out
}

// TestSingleExportIsTheSameThroughBothAPIs keeps Schema.DDL (what the ddl
// command calls today) and Render printing the same bytes for one export.
func TestSingleExportIsTheSameThroughBothAPIs(t *testing.T) {
	for _, f := range []datafile.Format{datafile.DynamoDBJSON, datafile.JSON} {
		loc := exportAt(t, "backups/orders", 1)
		old, _, err := sampled(t, f).DDL(athena.Table{Name: athena.TableName("Orders", loc.ExportID), ExportID: loc.ExportID, Location: loc.DataURL()})
		require.NoError(t, err)
		d, err := athena.Render(athena.Spec{SourceTable: "Orders", Format: f, PrefixTemplate: "backups/orders", Exports: []athena.Location{loc}}, columnsOf(t, f))
		require.NoError(t, err)
		require.Equal(t, old, d.String())
	}
}

// TestEveryGoldenFileParses covers files a future shape adds without a
// matching check above.
func TestEveryGoldenFileParses(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.sql"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), len(formats)*len(shapes))
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		_, _, err = parseDDL(string(b))
		require.NoError(t, err, f)
	}
}
