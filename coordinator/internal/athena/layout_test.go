package athena_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/athena"
	"github.com/ddbfleet/ddbfleet/shared/datafile"
)

func TestLayoutFindsPartitionValuesInResolvedPrefixes(t *testing.T) {
	for _, tc := range []struct {
		template, prefix, id string
		keys, values         []string
		root                 string
	}{
		{"dt={yyyy}-{mm}-{dd}", "dt=2026-12-01", "e1", []string{"dt"}, []string{"2026-12-01"}, ""},
		{"lake/Year={yyyy}/month={mm}/day={dd}/", "lake/Year=2024/month=02/day=29", "e1", []string{"year", "month", "day"}, []string{"2024", "02", "29"}, "lake/"},
		{"x/{table}/dt={yyyy}{mm}{dd}T{hh}/{exportId}", "x/orders/dt=20261201T23/e.1", "e.1", []string{"dt"}, []string{"20261201T23"}, "x/orders/"},
		{"{table}/run={exportId}/day={dd}", "orders/run=e-7/day=05", "e-7", []string{"run", "day"}, []string{"e-7", "05"}, "orders/"},
	} {
		l, err := athena.ParseLayout(tc.template)
		require.NoError(t, err, tc.template)
		require.True(t, l.Partitioned(), tc.template)
		require.Equal(t, tc.keys, l.Keys())
		require.Equal(t, tc.root, l.Root("orders"))
		got, err := l.Values("orders", athena.Location{Bucket: "b", Prefix: tc.prefix, ExportID: tc.id})
		require.NoError(t, err, tc.template)
		require.Equal(t, tc.values, got, tc.template)
	}
}

func TestLayoutRefusesPrefixesThatDoNotMatch(t *testing.T) {
	l, err := athena.ParseLayout("exports/{table}/dt={yyyy}-{mm}-{dd}/h={hh}")
	require.NoError(t, err)
	for prefix, want := range map[string]string{
		"exports/orders/dt=2026-12-01":              "3 folders, the template has 4",
		"exports/orders/dt=2026-12-01/h=02/x":       "5 folders, the template has 4",
		"exports/invoices/dt=2026-12-01/h=02":       `folder "invoices" is not "{table}"`,
		"exports/orders/dt=2026-12-1/h=02":          `folder "dt=2026-12-1" is not "dt={yyyy}-{mm}-{dd}"`,
		"exports/orders/dt=2026-13-01/h=02":         "2026-13-01 hour 02 is not a date",
		"exports/orders/dt=2026-02-30/h=02":         "2026-02-30 hour 02 is not a date",
		"exports/orders/dt=2026-12-01/h=24":         "hour 24 is not a date",
		"exports/orders/dt=2026-12-01/hour=02":      `folder "hour=02" is not "h={hh}"`,
		"archive/orders/dt=2026-12-01/h=02":         `folder "archive" is not "exports"`,
		"exports/orders/dt=2026-12-01/h=02/":        "", // a trailing slash is the same prefix
		"exports/orders/dt=2026-12-01/h=02//":       "5 folders",
		"exports/orders/dt=2026-12-01/h=02" + "\n":  `is not "h={hh}"`,
		"exports/orders/dt=２０２６-12-01/h=02":         `is not "dt={yyyy}-{mm}-{dd}"`,
		"exports/orders/dt=2026-12-01/h=02/../h=03": "6 folders",
	} {
		_, err := l.Values("orders", athena.Location{Bucket: "b", Prefix: prefix, ExportID: "e1"})
		if want == "" {
			require.NoError(t, err, prefix)
			continue
		}
		require.ErrorContains(t, err, want, prefix)
		require.ErrorContains(t, err, "export e1: prefix", "the error names the export")
	}

	twice, err := athena.ParseLayout("y={yyyy}/dt={yyyy}-{mm}")
	require.NoError(t, err)
	_, err = twice.Values("t", athena.Location{Prefix: "y=2026/dt=2025-12", ExportID: "e"})
	require.ErrorContains(t, err, "{yyyy} is 2026 in one folder and 2025 in another")
	_, err = twice.Values("t", athena.Location{Prefix: "y=2026/dt=2026-12", ExportID: "e"})
	require.NoError(t, err)
}

func TestLayoutRefusesTemplatesThatCannotPartition(t *testing.T) {
	for template, want := range map[string]string{
		"exports/{yyyy}/dt={yyyy}-{mm}-{dd}": `{yyyy} in "{yyyy}" outside a key= folder`,
		"exports/dt={yyyy}-{mm}/{dd}":        `{dd} in "{dd}" outside a key= folder`,
		"exports/{exportId}/dt={yyyy}":       `placeholder in "{exportId}" above the first partition folder`,
		"exports/1dt={yyyy}":                 "names a partition column",
		"exports/my-key={yyyy}":              "names a partition column",
		"exports/{table}={yyyy}":             "names a partition column",
		"dt={yyyy}/DT={mm}":                  `partition key "dt" appears twice`,
		"exports/dt={yyyy}-{week}":           "unknown placeholder {week}",
	} {
		_, err := athena.ParseLayout(template)
		require.ErrorContains(t, err, want, template)
	}
	for _, template := range []string{"", "backups/{table}", "backups/{table}/run={exportId}", "exports/{yyyy}/{mm}/{dd}"} {
		l, err := athena.ParseLayout(template)
		require.NoError(t, err, template)
		require.False(t, l.Partitioned(), "%q: one table per export", template)
	}
}

func render(t *testing.T, f datafile.Format, template string, cols []athena.Column, locs ...athena.Location) (*athena.DDL, error) {
	t.Helper()
	return athena.Render(athena.Spec{SourceTable: "orders", Format: f, PrefixTemplate: template, Exports: locs}, cols)
}

func TestSeveralExportsNeedAPartitionedTemplate(t *testing.T) {
	cols := []athena.Column{{Name: "pk", Type: "string"}}
	a, b := athena.Location{Bucket: "b", Prefix: "x/2026/12/01", ExportID: "e1"}, athena.Location{Bucket: "b", Prefix: "x/2026/12/02", ExportID: "e2"}
	_, err := render(t, datafile.JSON, "x/{yyyy}/{mm}/{dd}", cols, a, b)
	require.ErrorContains(t, err, "keeps its date placeholders outside key= folders")
	d, err := render(t, datafile.JSON, "x/{yyyy}/{mm}/{dd}", cols, a)
	require.NoError(t, err)
	require.False(t, d.Partitioned)
	require.Contains(t, d.String(), "LOCATION 's3://b/x/2026/12/01/AWSDynamoDB/e1/data/'")
	_, err = render(t, datafile.JSON, "x", cols, athena.Location{Bucket: "b", Prefix: "x", ExportID: "e1"}, athena.Location{Bucket: "b", Prefix: "x", ExportID: "e2"})
	require.ErrorContains(t, err, "has no date placeholders")
	_, err = render(t, datafile.JSON, "x", cols)
	require.ErrorContains(t, err, "no export")
	_, err = render(t, datafile.JSON, "x", cols, athena.Location{Prefix: "x", ExportID: "e1"})
	require.ErrorContains(t, err, "bucket and export id are required")
}

func TestPartitionKeyNamedLikeADataColumnIsRenamed(t *testing.T) {
	at := athena.Location{Bucket: "b", Prefix: "dt=2026-12-01", ExportID: "e1"}
	d, err := render(t, datafile.JSON, "dt={yyyy}-{mm}-{dd}", []athena.Column{{Name: "DT", Type: "string"}, {Name: "export_dt", Type: "bigint"}}, at)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"dt": "export_dt_2"}, d.Renamed)
	require.Equal(t, []string{"export_dt_2"}, d.Partitions)
	create, alters, err := parseDDL(d.String())
	require.NoError(t, err)
	require.Equal(t, "export_dt_2", create.partitions[0].name)
	require.Equal(t, [][2]string{{"export_dt_2", "2026-12-01"}}, alters[0].values)

	// DynamoDB JSON's one column is Item; a key item must not take it.
	d, err = render(t, datafile.DynamoDBJSON, "item={yyyy}", []athena.Column{{Name: "Item", Type: "struct<pk:struct<S:string>>"}},
		athena.Location{Bucket: "b", Prefix: "item=2026", ExportID: "e1"})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"item": "export_item"}, d.Renamed)
}

func TestLaterExportOfTheSamePartitionWins(t *testing.T) {
	cols := []athena.Column{{Name: "pk", Type: "string"}}
	day2 := athena.Location{Bucket: "b", Prefix: "e/dt=2026-12-02", ExportID: "e2"}
	day1 := athena.Location{Bucket: "b", Prefix: "e/dt=2026-12-01", ExportID: "e1"}
	day1again := athena.Location{Bucket: "b", Prefix: "e/dt=2026-12-01", ExportID: "e1b"}
	d, err := render(t, datafile.JSON, "e/dt={yyyy}-{mm}-{dd}", cols, day2, day1, day1again)
	require.NoError(t, err)
	require.Equal(t, []athena.Location{day1}, d.Superseded)
	_, alters, err := parseDDL(d.String())
	require.NoError(t, err)
	require.Len(t, alters, 2)
	require.Equal(t, day1again.DataURL(), alters[0].location, "sorted by date, the rerun in place of the first")
	require.Equal(t, day2.DataURL(), alters[1].location)
}

func TestDatabaseQualifiesEveryStatement(t *testing.T) {
	d, err := athena.Render(athena.Spec{Database: "lake", Name: "orders_daily", SourceTable: "orders", Format: datafile.JSON,
		PrefixTemplate: "dt={yyyy}-{mm}-{dd}", Exports: []athena.Location{{Bucket: "b", Prefix: "dt=2026-12-01", ExportID: "e1"}}},
		[]athena.Column{{Name: "pk", Type: "string"}})
	require.NoError(t, err)
	create, alters, err := parseDDL(d.String())
	require.NoError(t, err)
	require.Equal(t, "lake.orders_daily", create.table)
	require.Equal(t, "lake.orders_daily", alters[0].table)
	require.Equal(t, "s3://b/", create.location, "the first folder is a partition, so the table sits at the bucket root")
}

func TestWhatCannotBeWrittenInDDLIsRefused(t *testing.T) {
	cols := []athena.Column{{Name: "pk", Type: "string"}}
	_, err := render(t, datafile.JSON, "it's/dt={yyyy}", cols, athena.Location{Bucket: "b", Prefix: "it's/dt=2026", ExportID: "e1"})
	require.ErrorContains(t, err, "a quote, backslash or control character")
	_, err = render(t, datafile.JSON, "x", []athena.Column{{Name: "pk", Type: "strin"}}, athena.Location{Bucket: "b", Prefix: "x", ExportID: "e1"})
	require.ErrorContains(t, err, `column "pk": type "strin": unknown type`)
	_, err = render(t, datafile.JSON, "x", []athena.Column{{Type: "string"}}, athena.Location{Bucket: "b", Prefix: "x", ExportID: "e1"})
	require.ErrorContains(t, err, "no name")
	_, err = render(t, datafile.JSON, "x", nil, athena.Location{Bucket: "b", Prefix: "x", ExportID: "e1"})
	require.ErrorContains(t, err, "no columns")
	_, err = athena.Render(athena.Spec{Name: "bad-name", Format: datafile.JSON, Exports: []athena.Location{{Bucket: "b", ExportID: "e"}}}, cols)
	require.ErrorContains(t, err, `table name "bad-name"`)

	d, err := render(t, "parquet", "x", []athena.Column{{Name: "pk", Type: "string"}, {Name: "PK", Type: "string"}}, athena.Location{Bucket: "b", Prefix: "x", ExportID: "e1"})
	require.NoError(t, err)
	require.Equal(t, []string{"PK"}, d.Dropped, "Athena ignores case: the second is left out, as for sampled columns")
}

func TestCheckType(t *testing.T) {
	for _, ok := range []string{
		"string", "BIGINT", "decimal(38,9)", "varchar(10)", "array<string>", "map<string,array<bigint>>",
		"struct<a:string,`b c`:int,`x``y`:struct<`NULL`:boolean>>", "array<struct<qty:bigint,sku:string>>",
	} {
		require.NoError(t, athena.CheckType(ok), ok)
	}
	for _, bad := range []string{
		"", "str", "decimal", "decimal(38)", "decimal(a,b)", "array<>", "array<string", "map<string>",
		"struct<>", "struct<a string>", "struct<`a:string>", "string,", "array<string>>", "string extra",
	} {
		require.Error(t, athena.CheckType(bad), bad)
	}
}

func TestSeriesTableNameIsTheSourceTable(t *testing.T) {
	require.Equal(t, "orders_v2", athena.TableName("Orders.v2", ""))
	require.Equal(t, "s3://b/AWSDynamoDB/e/data/", athena.Location{Bucket: "b", ExportID: "e"}.DataURL())
	require.Equal(t, "s3://b/p/AWSDynamoDB/e/data/", athena.Location{Bucket: "b", Prefix: "p/", ExportID: "e"}.DataURL())
}

// TestReservedFieldNamesAreQuoted feeds struct fields named after Hive's
// reserved words: a bare one makes Athena's DDL fail to parse.
func TestReservedFieldNamesAreQuoted(t *testing.T) {
	s := athena.NewSchema(datafile.JSON)
	require.NoError(t, s.Add([]byte(`{"pk":"a","m":{"window":1,"extended":true,"sync":"x","cache":2,"regexp":"r","date":"d","user":"u","ok":1}}`)))
	cols, _, err := s.Columns()
	require.NoError(t, err)
	d, err := render(t, datafile.JSON, "dt={yyyy}", cols, athena.Location{Bucket: "b", Prefix: "dt=2026", ExportID: "e"})
	require.NoError(t, err)
	_, _, err = parseDDL(d.String())
	require.NoError(t, err, d.String())
	require.Contains(t, d.String(), "ok:bigint", "a plain name stays bare")
}
