package coordcli

import (
	"fmt"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/athena"
	"github.com/ddbfleet/ddbfleet/shared/datafile"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/fleetcli"
	"github.com/ddbfleet/ddbfleet/shared/manifest"
)

// ddlSampleLines is how many items of the first data file the column types
// are inferred from.
const ddlSampleLines = 1000

func ddlCommand() *cli.Command {
	return &cli.Command{
		Name:  "ddl",
		Usage: "print an Athena CREATE EXTERNAL TABLE for a completed export",
		Flags: []cli.Flag{exportIDFlag,
			&cli.StringFlag{Name: "database", Usage: "Athena database to create the table in (default: the query's current one)"},
			&cli.StringFlag{Name: "table-name", Usage: "Athena table name (default: <table>_<exportId>, lower case, '_' for other characters)"},
		},
		Before: func(c *cli.Context) error {
			for _, f := range []string{"database", "table-name"} {
				if v := c.String(f); v != "" && !athena.ValidName(v) {
					return fault.Invalidf("--%s %q: use 1 to 255 letters, digits or '_'", f, v)
				}
			}
			return nil
		},
		Action: withExport(func(c *cli.Context, e *env, exp *export.Export) error {
			if exp.State != export.Completed {
				return fleetcli.Failedf("export %s is %s; only a COMPLETED export has a table definition", exp.ExportID, exp.State)
			}
			parts, err := e.store.ListParts(c.Context, exp.ExportID)
			if err != nil {
				return fleetcli.Failed(err)
			}
			manifest.SortParts(parts)
			var sample *export.Part
			for i := range parts {
				if parts[i].ItemCount > 0 {
					sample = &parts[i]
					break
				}
			}
			if sample == nil {
				return fleetcli.Failedf("export %s has no items: no data file to infer columns from", exp.ExportID)
			}
			schema := athena.NewSchema(exp.Format)
			if err := readSample(c, e, exp, sample.Key, schema); err != nil {
				return fleetcli.Failedf("read s3://%s/%s: %w", exp.Bucket, sample.Key, err)
			}
			name := c.String("table-name")
			if name == "" {
				name = athena.TableName(exp.Table, exp.ExportID)
			}
			ddl, dropped, err := schema.DDL(athena.Table{
				Database: c.String("database"), Name: name, ExportID: exp.ExportID,
				Location: fmt.Sprintf("s3://%s/%s", exp.Bucket, exp.DataPrefix()),
			})
			if err != nil {
				return fleetcli.Failed(err)
			}
			if len(dropped) > 0 {
				e.log.Warn("attributes left out: their names differ from others only in case, and Athena ignores case", zap.Strings("attributes", dropped))
			}
			_, err = fmt.Fprint(e.stdout, ddl)
			return err
		}),
	}
}

func readSample(c *cli.Context, e *env, exp *export.Export, key string, schema *athena.Schema) error {
	r, err := e.bucket(exp.Bucket).Get(c.Context, key)
	if err != nil {
		return err
	}
	defer r.Close()
	zr, err := datafile.NewReader(key, r)
	if err != nil {
		return err
	}
	defer zr.Close()
	return schema.AddAll(zr, ddlSampleLines)
}
