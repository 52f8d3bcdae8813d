// Package athena owns the Athena table definition of exports: it infers
// column types from sample data lines (or takes a Parquet schema's), and
// renders a CREATE EXTERNAL TABLE over one export's data/ folder, or over
// a dated series of exports as partitions (see Render and Layout). JSON
// exports are read with the OpenX JSON SerDe.
//
// Mapping. A DYNAMODB_JSON export becomes one column, Item, a struct with a
// field per attribute seen; each attribute is a struct with a field per
// DynamoDB type tag seen for it: S, N, B → string (N stays a string:
// DynamoDB numbers have 38 digits), BOOL, NULL → boolean, SS, NS, BS →
// array<string>, L → array of such structs, M → struct of attributes. A
// JSON export gets a column per attribute: strings and base64 binary →
// string, numbers → bigint when every sample is a whole number that fits,
// else double, true/false → boolean, arrays → array<…>, objects →
// struct<…>. Where samples disagree (a number in one item, a string in
// another; an attribute only ever null) the column is string. Attributes
// absent from the sample lines are not columns; Athena reads missing
// fields as NULL.
package athena

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbfleet/ddbfleet/shared/datafile"
	"github.com/ddbfleet/ddbfleet/shared/ddbjson"
)

// SerDe reads one JSON object per line, including gzip and zstd files
// (Athena picks the codec from the file name).
const SerDe = "org.openx.data.jsonserde.JsonSerDe"

type kind int

const (
	kUnknown kind = iota // only null seen
	kString
	kBigint
	kDouble
	kBoolean
	kArray
	kStruct
)

// typ is an inferred Hive type.
type typ struct {
	kind   kind
	elem   *typ            // kArray
	fields map[string]*typ // kStruct
}

func prim(k kind) *typ { return &typ{kind: k} }

func structOf(fields map[string]*typ) *typ { return &typ{kind: kStruct, fields: fields} }

// merge combines what two samples say about one value.
func merge(a, b *typ) *typ {
	switch {
	case a == nil || a.kind == kUnknown:
		return b
	case b == nil || b.kind == kUnknown:
		return a
	case a.kind == b.kind && a.kind == kArray:
		return &typ{kind: kArray, elem: merge(a.elem, b.elem)}
	case a.kind == b.kind && a.kind == kStruct:
		out := make(map[string]*typ, len(a.fields)+len(b.fields))
		for k, v := range a.fields {
			out[k] = v
		}
		for k, v := range b.fields {
			out[k] = merge(out[k], v)
		}
		return structOf(out)
	case a.kind == b.kind:
		return a
	case (a.kind == kBigint && b.kind == kDouble) || (a.kind == kDouble && b.kind == kBigint):
		return prim(kDouble)
	}
	return prim(kString)
}

// Schema accumulates the types seen in data lines of one format.
type Schema struct {
	format datafile.Format
	root   *typ
	lines  int
}

// NewSchema starts an empty schema for format.
func NewSchema(format datafile.Format) *Schema {
	return &Schema{format: format.OrDefault(), root: structOf(map[string]*typ{})}
}

// Lines is how many lines were added.
func (s *Schema) Lines() int { return s.lines }

// Add infers the types of one data line.
func (s *Schema) Add(line []byte) error {
	if s.format == datafile.JSON {
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return err
		}
		t := plainType(v)
		if t.kind != kStruct {
			return fmt.Errorf("line is not a JSON object")
		}
		s.root = merge(s.root, t)
	} else {
		item, err := ddbjson.DecodeItemLine(line)
		if err != nil {
			return err
		}
		s.root = merge(s.root, attrsType(item))
	}
	s.lines++
	return nil
}

// AddAll adds up to max lines from r.
func (s *Schema) AddAll(r io.Reader, max int) error {
	sc := datafile.NewLineScanner(r)
	for n := 0; n < max && sc.Scan(); n++ {
		if err := s.Add(sc.Bytes()); err != nil {
			return fmt.Errorf("line %d: %w", n+1, err)
		}
	}
	return sc.Err()
}

func attrsType(m map[string]types.AttributeValue) *typ {
	fields := make(map[string]*typ, len(m))
	for k, v := range m {
		fields[k] = ddbType(v)
	}
	return structOf(fields)
}

// ddbType is the struct a DynamoDB JSON value reads as: {"S":…} is
// struct<S:string>, and so on.
func ddbType(av types.AttributeValue) *typ {
	tag := func(name string, t *typ) *typ { return structOf(map[string]*typ{name: t}) }
	stringArray := &typ{kind: kArray, elem: prim(kString)}
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return tag("S", prim(kString))
	case *types.AttributeValueMemberN:
		return tag("N", prim(kString))
	case *types.AttributeValueMemberB:
		return tag("B", prim(kString))
	case *types.AttributeValueMemberBOOL:
		return tag("BOOL", prim(kBoolean))
	case *types.AttributeValueMemberNULL:
		return tag("NULL", prim(kBoolean))
	case *types.AttributeValueMemberSS:
		return tag("SS", stringArray)
	case *types.AttributeValueMemberNS:
		return tag("NS", stringArray)
	case *types.AttributeValueMemberBS:
		return tag("BS", stringArray)
	case *types.AttributeValueMemberL:
		var elem *typ
		for _, e := range v.Value {
			elem = merge(elem, ddbType(e))
		}
		return tag("L", &typ{kind: kArray, elem: elem})
	case *types.AttributeValueMemberM:
		return tag("M", attrsType(v.Value))
	}
	return prim(kString)
}

func plainType(v any) *typ {
	switch v := v.(type) {
	case nil:
		return prim(kUnknown)
	case string:
		return prim(kString)
	case bool:
		return prim(kBoolean)
	case json.Number:
		if _, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return prim(kBigint)
		}
		return prim(kDouble)
	case []any:
		var elem *typ
		for _, e := range v {
			elem = merge(elem, plainType(e))
		}
		return &typ{kind: kArray, elem: elem}
	case map[string]any:
		fields := make(map[string]*typ, len(v))
		for k, e := range v {
			fields[k] = plainType(e)
		}
		return structOf(fields)
	}
	return prim(kString)
}

// Table names what to create.
type Table struct {
	Database string // optional
	Name     string
	Location string // s3://bucket/…/data/
	ExportID string
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_]{1,255}$`)

// ValidName reports whether s is usable as an Athena database or table
// name without quoting: letters, digits and underscores.
func ValidName(s string) bool { return namePattern.MatchString(s) }

// TableName turns a DynamoDB table name and export id into a valid
// Athena table name. Without an export id it names the table of a whole
// series of exports: the source table's name alone.
func TableName(table, exportID string) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
				return r
			}
			if r >= 'A' && r <= 'Z' {
				return r + 'a' - 'A'
			}
			return '_'
		}, s)
	}
	name := clean(table)
	if exportID != "" {
		name += "_" + clean(exportID)
	}
	if len(name) > 255 {
		name = name[:255]
	}
	return name
}

// Columns are the data columns the sample lines imply: for DynamoDB JSON
// the one struct column Item, for JSON a column per attribute in name
// order. Column names that differ only in case collide in Athena (it
// lower-cases them); the later ones in sorted order are dropped and
// returned so the caller can say so.
func (s *Schema) Columns() (cols []Column, dropped []string, err error) {
	if s.lines == 0 || len(s.root.fields) == 0 {
		return nil, nil, fmt.Errorf("no sample items to infer columns from")
	}
	if s.format == datafile.JSON {
		names, drop := columnNames(s.root.fields)
		for _, n := range names {
			cols = append(cols, Column{Name: n, Type: hiveType(s.root.fields[n])})
		}
		return cols, drop, nil
	}
	fields, drop := dedupe(s.root.fields)
	return []Column{{Name: "Item", Type: hiveType(structOf(fields))}}, drop, nil
}

// DDL renders the CREATE EXTERNAL TABLE of one export whose files are the
// whole table, ending ";\n". Render does the same for a Spec, and also
// for a series of exports.
func (s *Schema) DDL(t Table) (ddl string, dropped []string, err error) {
	cols, dropped, err := s.Columns()
	if err != nil {
		return "", nil, err
	}
	stmt, err := createTable(s.format, t.Database, t.Name, cols, nil, t.Location,
		[][2]string{{"ddbfleet.exportId", t.ExportID}, {"ddbfleet.outputFormat", outputFormat(s.format)}}, false)
	if err != nil {
		return "", nil, err
	}
	return stmt + ";\n", dropped, nil
}

// columnNames sorts names and drops case-insensitive duplicates.
func columnNames(fields map[string]*typ) (keep, dropped []string) {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	seen := map[string]bool{}
	for _, n := range names {
		if l := strings.ToLower(n); seen[l] {
			dropped = append(dropped, n)
		} else {
			seen[l] = true
			keep = append(keep, n)
		}
	}
	return keep, dropped
}

func dedupe(fields map[string]*typ) (map[string]*typ, []string) {
	keep, dropped := columnNames(fields)
	out := make(map[string]*typ, len(keep))
	for _, n := range keep {
		out[n] = fields[n]
	}
	return out, dropped
}

func hiveType(t *typ) string {
	switch t.kind {
	case kBigint:
		return "bigint"
	case kDouble:
		return "double"
	case kBoolean:
		return "boolean"
	case kArray:
		if t.elem == nil || t.elem.kind == kUnknown {
			return "array<string>"
		}
		return "array<" + hiveType(t.elem) + ">"
	case kStruct:
		names, _ := columnNames(t.fields)
		if len(names) == 0 {
			return "string" // struct<> is not a type; an always-empty map reads as its JSON text
		}
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = fieldName(n) + ":" + hiveType(t.fields[n])
		}
		return "struct<" + strings.Join(parts, ",") + ">"
	}
	return "string"
}

var simpleName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// reservedWords are Hive's reserved keywords (Hive 3, which Athena's DDL
// follows; and NULL, a type tag), space-delimited: a struct field or
// partition column with one of these names must be quoted, or Athena
// refuses the statement. Quoting more than needed is harmless, so the list
// errs long.
const reservedWords = " " +
	"all alter and array as authorization between bigint binary boolean both by cache case cast char " +
	"column commit conf constraint create cross cube current current_date current_timestamp cursor " +
	"database date dayofweek decimal delete describe distinct double drop else end exchange exists " +
	"extended external extract false fetch float floor following for foreign from full function grant " +
	"group grouping having if import in inner insert int integer intersect interval into is join " +
	"lateral left less like local macro map more none not null numeric of on only or order out outer " +
	"over partialscan partition percent preceding precision preserve primary procedure range reads " +
	"reduce references regexp revoke right rlike rollback rollup row rows select set smallint start " +
	"string struct sync table tablesample then time timestamp to transform trigger true truncate " +
	"unbounded union uniquejoin update user using utc_tmestamp values varchar views when where window " +
	"with "

func fieldName(n string) string {
	if simpleName.MatchString(n) && !strings.Contains(reservedWords, " "+strings.ToLower(n)+" ") {
		return n
	}
	return quote(n)
}

func quote(n string) string { return "`" + strings.ReplaceAll(n, "`", "``") + "`" }
