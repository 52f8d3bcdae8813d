package athena

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ddbfleet/ddbfleet/shared/datafile"
)

// Column is one data column: an attribute's name as the files spell it and
// its Hive type ("string", "decimal(38,9)", "array<string>", …). The
// columns of a Parquet table come from the writer's schema, not from
// sampling, so the caller passes them.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Location is where one export's files are.
type Location struct {
	Bucket   string
	Prefix   string // resolved, as the export row records it; "" for the bucket root
	ExportID string
}

// DataURL is the s3:// URL of the export's data/ folder: the only folder a
// table or partition may point at, since Athena reads every object under a
// location and the manifests and _started beside data/ are not rows.
func (l Location) DataURL() string {
	p := strings.TrimSuffix(l.Prefix, "/")
	if p != "" {
		p += "/"
	}
	return "s3://" + l.Bucket + "/" + p + "AWSDynamoDB/" + l.ExportID + "/data/"
}

// Spec is the table to define.
type Spec struct {
	Database string // optional
	// Name is the Athena table; "" derives it from SourceTable (and, for a
	// table of one export, the export id).
	Name        string
	SourceTable string // the DynamoDB table: fills {table}
	Format      datafile.Format
	// PrefixTemplate is --prefix as given, placeholders unresolved. ""
	// (rows recorded before templates were kept) reads as "no
	// placeholders", so the export gets a table of its own.
	PrefixTemplate string
	// Exports are what the table covers: the one export, or for --all every
	// COMPLETED export of SourceTable made with PrefixTemplate, oldest
	// first. Where two resolve to the same partition, the later one wins.
	Exports []Location
}

// DDL is the statements to print and what the ddl command should tell the
// operator about them.
type DDL struct {
	Statements  []string // each without its ';'
	Partitioned bool
	// Partitions are the partition columns, lower case, in path order.
	Partitions []string
	// Renamed maps a partition key to the column name it got because a
	// data column already had its name.
	Renamed map[string]string
	// Dropped are data columns left out: their names differ from earlier
	// ones only in case, and Athena ignores case.
	Dropped []string
	// Superseded are exports whose partition a later export took.
	Superseded []Location
}

// String is the statements as the ddl command prints them, each followed by
// ";" and a newline.
func (d *DDL) String() string {
	var b strings.Builder
	for _, s := range d.Statements {
		b.WriteString(s)
		b.WriteString(";\n")
	}
	return b.String()
}

// Render defines a table over spec.Exports with the data columns cols.
//
// Without date placeholders in key= folders of the template, the table is
// the single export's data/ folder. With them, it is CREATE EXTERNAL TABLE
// IF NOT EXISTS partitioned by the template's keys, located at the prefix
// above the first partition folder, then one ALTER TABLE ADD IF NOT EXISTS
// PARTITION per export, pointing at that export's data/ folder. Athena
// reads a partitioned table only through the partitions registered for it,
// so the table's own location (which also holds every export's manifests)
// is never read as data — unless someone runs MSCK REPAIR TABLE or a Glue
// crawler on it, which would register the date folders themselves.
//
// A partition key with the name of a data column would make Athena refuse
// the table (a column may not be both), so the partition column is renamed
// export_<key> and reported in Renamed; the data keeps its own name.
func Render(spec Spec, cols []Column) (*DDL, error) {
	def, err := define(spec, cols)
	if err != nil {
		return nil, err
	}
	d := def.report
	stmt, err := createTable(def.format, def.database, def.name, def.columns, def.partitionKeys, def.location, def.properties, def.report.Partitioned)
	if err != nil {
		return nil, err
	}
	d.Statements = append(d.Statements, stmt)
	table := qualified(def.database, def.name)
	for _, p := range def.partitions {
		spec := make([]string, len(def.partitionKeys))
		for i, c := range def.partitionKeys {
			v, err := literal(p.values[i])
			if err != nil {
				return nil, fmt.Errorf("export %s: partition value: %w", p.loc.ExportID, err)
			}
			spec[i] = fieldName(c.Name) + "=" + v
		}
		loc, err := literal(p.loc.DataURL())
		if err != nil {
			return nil, fmt.Errorf("export %s: location: %w", p.loc.ExportID, err)
		}
		d.Statements = append(d.Statements, fmt.Sprintf("ALTER TABLE %s ADD IF NOT EXISTS PARTITION (%s) LOCATION %s",
			table, strings.Join(spec, ", "), loc))
	}
	return &d, nil
}

// definition is a table and its partitions, before they are written as
// DDL or sent to Glue.
type definition struct {
	database, name string
	format         datafile.Format
	columns        []Column
	partitionKeys  []Column
	location       string
	properties     [][2]string
	partitions     []partition // in value order
	report         DDL         // all but Statements
}

type partition struct {
	values []string // in partitionKeys order
	loc    Location
}

func define(spec Spec, cols []Column) (*definition, error) {
	if len(spec.Exports) == 0 {
		return nil, fmt.Errorf("no export to define a table for")
	}
	for i, e := range spec.Exports {
		if e.Bucket == "" || e.ExportID == "" {
			return nil, fmt.Errorf("export %d of %d (%q): bucket and export id are required", i+1, len(spec.Exports), e.ExportID)
		}
	}
	layout, err := ParseLayout(spec.PrefixTemplate)
	if err != nil {
		return nil, err
	}
	cols, dropped, err := checkColumns(cols)
	if err != nil {
		return nil, err
	}
	def := &definition{database: spec.Database, name: spec.Name, format: spec.Format, columns: cols}
	def.report.Dropped = dropped
	if !layout.Partitioned() {
		if len(spec.Exports) > 1 {
			why := "has no date placeholders"
			if layout.Dated() {
				why = "keeps its date placeholders outside key= folders"
			}
			return nil, fmt.Errorf("prefix template %q %s, so each export is a table of its own; one table over several exports needs folders like dt={yyyy}-{mm}-{dd}", spec.PrefixTemplate, why)
		}
		e := spec.Exports[0]
		if def.name == "" {
			def.name = TableName(spec.SourceTable, e.ExportID)
		}
		def.location = e.DataURL()
		def.properties = [][2]string{{"ddbfleet.exportId", e.ExportID}, {"ddbfleet.outputFormat", outputFormat(spec.Format)}}
		return def, nil
	}

	if def.name == "" {
		def.name = TableName(spec.SourceTable, "")
	}
	d := &def.report
	d.Partitioned = true
	taken := map[string]bool{}
	for _, c := range cols {
		taken[strings.ToLower(c.Name)] = true
	}
	for _, key := range layout.Keys() {
		col := key
		for n := 1; taken[col]; n++ {
			col = "export_" + key
			if n > 1 {
				col = fmt.Sprintf("export_%s_%d", key, n)
			}
		}
		taken[col] = true
		if col != key {
			if d.Renamed == nil {
				d.Renamed = map[string]string{}
			}
			d.Renamed[key] = col
		}
		def.partitionKeys = append(def.partitionKeys, Column{Name: col, Type: "string"})
		d.Partitions = append(d.Partitions, col)
	}

	byValues := map[string]int{} // joined values → index in def.partitions
	for _, e := range spec.Exports {
		values, err := layout.Values(spec.SourceTable, e)
		if err != nil {
			return nil, err
		}
		k := strings.Join(values, "/")
		if i, ok := byValues[k]; ok {
			d.Superseded = append(d.Superseded, def.partitions[i].loc)
			def.partitions[i].loc = e
			continue
		}
		byValues[k] = len(def.partitions)
		def.partitions = append(def.partitions, partition{values, e})
	}
	// Sorted by value, so the statements read as a calendar; the values
	// are zero-padded, so string order is date order.
	sort.SliceStable(def.partitions, func(i, j int) bool {
		return strings.Join(def.partitions[i].values, "/") < strings.Join(def.partitions[j].values, "/")
	})
	def.location = "s3://" + spec.Exports[0].Bucket + "/" + layout.Root(spec.SourceTable)
	def.properties = [][2]string{{"ddbfleet.prefixTemplate", layout.Template()}, {"ddbfleet.outputFormat", outputFormat(spec.Format)}}
	return def, nil
}

// createTable renders one CREATE EXTERNAL TABLE, without its ';'. The
// layout of the unpartitioned statement is the one ddbfleet has always
// printed; the golden files under testdata/ keep it so.
func createTable(format datafile.Format, database, name string, cols, parts []Column, location string, props [][2]string, ifNotExists bool) (string, error) {
	if !ValidName(name) {
		return "", fmt.Errorf("table name %q: use 1 to 255 letters, digits or '_'", name)
	}
	if database != "" && !ValidName(database) {
		return "", fmt.Errorf("database name %q: use 1 to 255 letters, digits or '_'", database)
	}
	lines := make([]string, len(cols))
	for i, c := range cols {
		n := quote(c.Name)
		if format.OrDefault() == datafile.DynamoDBJSON {
			n = c.Name // the one column, Item, has always been written bare
		}
		lines[i] = "  " + n + " " + c.Type
	}
	var b strings.Builder
	b.WriteString("CREATE EXTERNAL TABLE ")
	if ifNotExists {
		b.WriteString("IF NOT EXISTS ")
	}
	fmt.Fprintf(&b, "%s (\n%s\n)\n", qualified(database, name), strings.Join(lines, ",\n"))
	if len(parts) > 0 {
		ps := make([]string, len(parts))
		for i, p := range parts {
			ps[i] = fieldName(p.Name) + " " + p.Type
		}
		fmt.Fprintf(&b, "PARTITIONED BY (%s)\n", strings.Join(ps, ", "))
	}
	if format == datafile.Parquet {
		b.WriteString("STORED AS PARQUET\n")
	} else {
		fmt.Fprintf(&b, "ROW FORMAT SERDE '%s'\n", SerDe)
	}
	loc, err := literal(location)
	if err != nil {
		return "", fmt.Errorf("location: %w", err)
	}
	fmt.Fprintf(&b, "LOCATION %s\n", loc)
	kv := make([]string, len(props))
	for i, p := range props {
		v, err := literal(p[1])
		if err != nil {
			return "", fmt.Errorf("table property %s: %w", p[0], err)
		}
		kv[i] = "'" + p[0] + "'=" + v
	}
	fmt.Fprintf(&b, "TBLPROPERTIES (%s)", strings.Join(kv, ", "))
	return b.String(), nil
}

func qualified(database, name string) string {
	if database == "" {
		return quote(name)
	}
	return quote(database) + "." + quote(name)
}

// literal quotes s as a DDL string. Athena's DDL (Hive) and its queries
// (Trino) escape quotes differently, so rather than pick one, a quote, a
// backslash or a control character is refused: no prefix plan.Prefix
// accepts has a backslash, and S3 keys with quotes are rare enough.
func literal(s string) (string, error) {
	if i := strings.IndexFunc(s, func(r rune) bool { return r == '\'' || r == '\\' || r < 0x20 || r == 0x7f }); i >= 0 {
		return "", fmt.Errorf("%q: a quote, backslash or control character cannot be written in Athena DDL", s)
	}
	return "'" + s + "'", nil
}

func outputFormat(f datafile.Format) string {
	if f == datafile.Parquet {
		return "PARQUET"
	}
	return f.OutputFormat()
}

// checkColumns refuses columns Athena would refuse, and drops names that
// differ from an earlier one only in case, as for sampled columns.
func checkColumns(cols []Column) (keep []Column, dropped []string, err error) {
	if len(cols) == 0 {
		return nil, nil, fmt.Errorf("no columns")
	}
	seen := map[string]bool{}
	for _, c := range cols {
		if c.Name == "" {
			return nil, nil, fmt.Errorf("a column has no name")
		}
		if err := CheckType(c.Type); err != nil {
			return nil, nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		if l := strings.ToLower(c.Name); seen[l] {
			dropped = append(dropped, c.Name)
		} else {
			seen[l] = true
			keep = append(keep, c)
		}
	}
	return keep, dropped, nil
}
