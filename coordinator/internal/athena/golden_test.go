package athena_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/athena"
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
