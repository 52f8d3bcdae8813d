package parquetfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// schemaVersion is bumped when the JSON form or the mapping changes in a way
// an older reader would misread; ParseSchema refuses other versions.
const schemaVersion = 1

// ExtraColumn is the name of the string column holding, as a DynamoDB JSON
// map, every attribute of an item that has no column or does not fit it.
const ExtraColumn = "_extra"

// Kinds of a column or nested value. Each DynamoDB type is its own kind,
// plus kindJSON for values the sample gave no single type to.
const (
	kindS    = "S"
	kindN    = "N"
	kindB    = "B"
	kindBOOL = "BOOL"
	kindSS   = "SS"
	kindNS   = "NS"
	kindBS   = "BS"
	kindL    = "L"
	kindM    = "M"
	kindJSON = "J"
)

// Schema is the Parquet layout of one export's data files: which
// attributes get a typed column, of which type, in which order. It is
// inferred once per export (InferSchema), stored with the export as JSON,
// and written into every file's footer, so every worker writes the same
// columns and ReadItems can undo the mapping.
type Schema struct {
	columns []field
}

// field is a column (top level) or a struct field (nested).
type field struct {
	Name string `json:"n"`
	// Key marks a table key attribute: always present in an item.
	Key bool `json:"k,omitempty"`
	typ
}

// typ is a column's or nested value's type.
type typ struct {
	Kind string `json:"t"`
	// Scale, for N and NS, is s of DECIMAL(38,s); nil keeps the exact
	// number text in a string column.
	Scale *int `json:"d,omitempty"`
	// Elem is the element type of an L.
	Elem *typ `json:"e,omitempty"`
	// Fields are the fields of an M, sorted by name.
	Fields []field `json:"f,omitempty"`
}

// schemaJSON is the stored form. Short keys keep a 500-column schema in a
// few tens of KB, well inside a DynamoDB item.
type schemaJSON struct {
	Version int     `json:"v"`
	Columns []field `json:"c"`
}

// MarshalJSON encodes s compactly and deterministically.
func (s *Schema) MarshalJSON() ([]byte, error) {
	return json.Marshal(schemaJSON{Version: schemaVersion, Columns: s.columns})
}

// UnmarshalJSON is ParseSchema for a Schema embedded in another JSON value.
func (s *Schema) UnmarshalJSON(b []byte) error {
	p, err := ParseSchema(b)
	if err != nil {
		return err
	}
	*s = *p
	return nil
}

// ParseSchema decodes and validates a schema written by MarshalJSON.
func ParseSchema(b []byte) (*Schema, error) {
	var sj schemaJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sj); err != nil {
		return nil, fmt.Errorf("parse parquet schema: %w", err)
	}
	if sj.Version != schemaVersion {
		return nil, fmt.Errorf("parse parquet schema: version %d, this build reads version %d", sj.Version, schemaVersion)
	}
	s := &Schema{columns: sj.Columns}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("parse parquet schema: %w", err)
	}
	return s, nil
}

// validate checks what the writer and reader rely on, so a corrupt or
// hand-edited schema fails here instead of producing unreadable files.
func (s *Schema) validate() error {
	seen := make(map[string]bool, len(s.columns))
	keysDone := false
	for i := range s.columns {
		c := &s.columns[i]
		if err := checkName(c.Name); err != nil {
			return fmt.Errorf("column %d: %w", i, err)
		}
		folded := strings.ToLower(c.Name)
		if folded == ExtraColumn {
			return fmt.Errorf("column %q: the name is reserved for the extra column", c.Name)
		}
		if seen[folded] {
			return fmt.Errorf("column %q: two columns differ only in case", c.Name)
		}
		seen[folded] = true
		if c.Key {
			if keysDone {
				return fmt.Errorf("key column %q after a non-key column", c.Name)
			}
			switch c.Kind {
			case kindS, kindN, kindB:
			default:
				return fmt.Errorf("key column %q: type %q, want S, N or B", c.Name, c.Kind)
			}
		} else {
			keysDone = true
		}
		if err := c.typ.validate(0); err != nil {
			return fmt.Errorf("column %q: %w", c.Name, err)
		}
	}
	if n := s.leafCount(); n > maxLeavesHard {
		return fmt.Errorf("%d leaf columns, more than %d", n, maxLeavesHard)
	}
	return nil
}

func (t *typ) validate(depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	if t.Scale != nil && (t.Kind != kindN && t.Kind != kindNS || *t.Scale < 0 || *t.Scale > decimalPrecision) {
		return fmt.Errorf("type %s: bad decimal scale", t.Kind)
	}
	if t.Elem != nil && t.Kind != kindL {
		return fmt.Errorf("type %s has an element type", t.Kind)
	}
	if t.Fields != nil && t.Kind != kindM {
		return fmt.Errorf("type %s has fields", t.Kind)
	}
	switch t.Kind {
	case kindS, kindN, kindB, kindBOOL, kindSS, kindNS, kindBS, kindJSON:
		return nil
	case kindL:
		if t.Elem == nil {
			return fmt.Errorf("list (L) without an element type")
		}
		return t.Elem.validate(depth + 1)
	case kindM:
		if len(t.Fields) == 0 {
			return fmt.Errorf("map (M) without fields")
		}
		seen := make(map[string]bool, len(t.Fields))
		for i := range t.Fields {
			f := &t.Fields[i]
			if err := checkName(f.Name); err != nil {
				return fmt.Errorf("field %d: %w", i, err)
			}
			if i > 0 && t.Fields[i-1].Name >= f.Name {
				return fmt.Errorf("fields not sorted at %q", f.Name)
			}
			if folded := strings.ToLower(f.Name); seen[folded] {
				return fmt.Errorf("fields %q: two fields differ only in case", f.Name)
			} else {
				seen[folded] = true
			}
			if f.Key {
				return fmt.Errorf("field %q marked as key", f.Name)
			}
			if err := f.typ.validate(depth + 1); err != nil {
				return fmt.Errorf("field %q: %w", f.Name, err)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown type %q", t.Kind)
}

// checkName refuses names engines choke on: empty, and longer than Glue's
// 255-character limit for a column name.
func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty name")
	case len(name) > maxNameBytes:
		return fmt.Errorf("name of %d bytes, more than %d", len(name), maxNameBytes)
	}
	return nil
}

// leafCount is the number of Parquet leaf columns, _extra included: what
// memory, footer size and the column cap are counted in.
func (s *Schema) leafCount() int {
	n := 1
	for i := range s.columns {
		n += s.columns[i].leaves()
	}
	return n
}

func (t *typ) leaves() int {
	switch t.Kind {
	case kindL:
		return t.Elem.leaves()
	case kindM:
		n := 0
		for i := range t.Fields {
			n += t.Fields[i].leaves()
		}
		return n
	}
	return 1
}

// Column describes one column of the files, for DDL.
type Column struct {
	Name string
	// Key is set for the table's key attributes.
	Key bool
	// AthenaType is the column's type in Athena (Hive) DDL, for example
	// "decimal(38,2)", "array<string>" or "struct<city:string>". Struct
	// field names are written as they are; DDL must quote the column name.
	AthenaType string
}

// Columns lists the columns in file order: keys, the other attributes by
// name, then ExtraColumn.
func (s *Schema) Columns() []Column {
	out := make([]Column, 0, len(s.columns)+1)
	for i := range s.columns {
		c := &s.columns[i]
		out = append(out, Column{Name: c.Name, Key: c.Key, AthenaType: c.typ.athenaType()})
	}
	return append(out, Column{Name: ExtraColumn, AthenaType: "string"})
}

func (t *typ) athenaType() string {
	switch t.Kind {
	case kindN:
		if t.Scale != nil {
			return "decimal(" + strconv.Itoa(decimalPrecision) + "," + strconv.Itoa(*t.Scale) + ")"
		}
		return "string"
	case kindB:
		return "binary"
	case kindBOOL:
		return "boolean"
	case kindSS:
		return "array<string>"
	case kindNS:
		return "array<" + (&typ{Kind: kindN, Scale: t.Scale}).athenaType() + ">"
	case kindBS:
		return "array<binary>"
	case kindL:
		return "array<" + t.Elem.athenaType() + ">"
	case kindM:
		var b strings.Builder
		b.WriteString("struct<")
		for i := range t.Fields {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(t.Fields[i].Name)
			b.WriteByte(':')
			b.WriteString(t.Fields[i].typ.athenaType())
		}
		b.WriteByte('>')
		return b.String()
	}
	return "string" // S and JSON
}
