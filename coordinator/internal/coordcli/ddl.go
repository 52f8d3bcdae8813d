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
	"github.com/ddbfleet/ddbfleet/shared/parquetfile"
)

// ddlSampleLines is how many items of the first data file the column types
// are inferred from.
const ddlSampleLines = 1000

func ddlCommand() *cli.Command {
	return &cli.Command{
		Name:  "ddl",
		Usage: "print Athena DDL for a completed export: CREATE EXTERNAL TABLE, and with date placeholders in the prefix, its partitions",
		Flags: []cli.Flag{exportIDFlag,
			&cli.StringFlag{Name: "database", Usage: "Athena database to create the table in (default: the query's current one)"},
			&cli.StringFlag{Name: "table-name", Usage: "Athena table name (default: <table>_<exportId>, or <table> for a dated series; lower case, '_' for other characters)"},
			&cli.BoolFlag{Name: "all", Usage: "with date placeholders in --prefix: one partition per COMPLETED export of the same table, prefix pattern and format"},
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
			cols, dropped, err := tableColumns(c, e, exp, sample.Key)
			if err != nil {
				return fleetcli.Failed(err)
			}
			spec := athena.Spec{
				Database: c.String("database"), Name: c.String("table-name"), SourceTable: exp.Table,
				Format: exp.Format, PrefixTemplate: exp.PrefixTemplate,
				Exports: []athena.Location{{Bucket: exp.Bucket, Prefix: exp.Prefix, ExportID: exp.ExportID}},
			}
			if c.Bool("all") {
				if spec.Exports, err = seriesOf(c, e, exp); err != nil {
					return fleetcli.Failed(err)
				}
			}
			ddl, err := athena.Render(spec, cols)
			if err != nil {
				return fleetcli.Failedf("export %s: %w", exp.ExportID, err)
			}
			if dropped = append(dropped, ddl.Dropped...); len(dropped) > 0 {
				e.log.Warn("attributes left out: their names differ from others only in case, and Athena ignores case", zap.Strings("attributes", dropped))
			}
			for key, col := range ddl.Renamed {
				e.log.Warn("partition column renamed: a data attribute has the key's name", zap.String("key", key), zap.String("column", col))
			}
			for _, l := range ddl.Superseded {
				e.log.Warn("export left out: a later export has the same partition", zap.String("exportId", l.ExportID))
			}
			_, err = fmt.Fprint(e.stdout, ddl.String())
			return err
		}),
	}
}

// seriesOf is every COMPLETED export of exp's table made with the same
// prefix template and format, oldest first: the partitions of one table.
func seriesOf(c *cli.Context, e *env, exp *export.Export) ([]athena.Location, error) {
	all, err := e.store.ListExports(c.Context)
	if err != nil {
		return nil, err
	}
	var locs []athena.Location
	for i := len(all) - 1; i >= 0; i-- {
		x := all[i]
		if x.State == export.Completed && x.Table == exp.Table && x.PrefixTemplate == exp.PrefixTemplate && x.Format.OrDefault() == exp.Format.OrDefault() {
			locs = append(locs, athena.Location{Bucket: x.Bucket, Prefix: x.Prefix, ExportID: x.ExportID})
		}
	}
	return locs, nil
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

// tableColumns are the columns of exp's files: a Parquet export's are its
// recorded schema; a JSON export's are inferred from a sample of its
// first data file.
func tableColumns(c *cli.Context, e *env, exp *export.Export, sampleKey string) ([]athena.Column, []string, error) {
	if exp.Format == datafile.Parquet {
		s, err := parquetfile.ParseSchema(exp.ParquetSchema)
		if err != nil {
			return nil, nil, fmt.Errorf("export %s: its Parquet schema: %w", exp.ExportID, err)
		}
		var cols []athena.Column
		for _, col := range s.Columns() {
			cols = append(cols, athena.Column{Name: col.Name, Type: col.AthenaType})
		}
		return cols, nil, nil
	}
	schema := athena.NewSchema(exp.Format)
	if err := readSample(c, e, exp, sampleKey, schema); err != nil {
		return nil, nil, fmt.Errorf("read s3://%s/%s: %w", exp.Bucket, sampleKey, err)
	}
	return schema.Columns()
}
