package parquetfile

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

const (
	// DefaultMaxColumns caps the leaf columns of an inferred schema, keys
	// and ExtraColumn included. Each leaf costs a page buffer while writing
	// and a column chunk entry per row group in the footer; a table with
	// more distinct attributes keeps the rarest in ExtraColumn.
	DefaultMaxColumns = 500
	// maxLeavesHard is what ParseSchema accepts, whatever MaxColumns was.
	maxLeavesHard = 2000
	// maxSchemaBytes keeps the schema's JSON well inside a DynamoDB item
	// (400 KB) next to the export's other fields, and the footer small.
	maxSchemaBytes = 64 << 10
	// maxStructFields: an M with more distinct keys than this in the
	// sample is a dictionary (ids as keys), not a record; it is kept as
	// one JSON column instead of a struct that every new key would miss.
	maxStructFields = 100
	// maxDepth bounds struct/list nesting (DynamoDB allows 32 levels);
	// deeper values are kept as JSON text.
	maxDepth = 16
	// maxNameBytes is Glue's limit for a column name.
	maxNameBytes = 255
)

// Key is one key attribute of the table: its name and scalar type.
type Key struct {
	Name string
	Type types.ScalarAttributeType
}

// InferOptions tune InferSchema.
type InferOptions struct {
	// MaxColumns caps the leaf columns, keys and ExtraColumn included;
	// 0 means DefaultMaxColumns.
	MaxColumns int
}

// InferSchema chooses the columns for items like sample. keys (hash key,
// then range key, if any) always get a typed column; every other attribute
// seen in the sample gets one typed by the values seen (see
// docs/parquet.md), up to opts.MaxColumns leaf columns, the most frequent
// attributes first. The result depends only on keys and on the sample's
// contents, not on its order.
func InferSchema(keys []Key, sample []map[string]types.AttributeValue, opts InferOptions) (*Schema, error) {
	maxColumns := cmp.Or(opts.MaxColumns, DefaultMaxColumns)
	if maxColumns < len(keys)+1 {
		return nil, fmt.Errorf("infer parquet schema: MaxColumns %d leaves no room for %d keys and %s", maxColumns, len(keys), ExtraColumn)
	}
	s := &Schema{}
	taken := make(map[string]bool) // case-folded names in use
	budget := maxSchemaBytes
	for _, k := range keys {
		if err := checkName(k.Name); err != nil {
			return nil, fmt.Errorf("infer parquet schema: key %q: %w", k.Name, err)
		}
		folded := strings.ToLower(k.Name)
		if folded == ExtraColumn {
			return nil, fmt.Errorf("infer parquet schema: key attribute %q clashes with the %s column", k.Name, ExtraColumn)
		}
		if taken[folded] {
			return nil, fmt.Errorf("infer parquet schema: key %q given twice (names are compared ignoring case)", k.Name)
		}
		taken[folded] = true
		c := field{Name: k.Name, Key: true}
		switch k.Type {
		case types.ScalarAttributeTypeS:
			c.Kind = kindS
		case types.ScalarAttributeTypeB:
			c.Kind = kindB
		case types.ScalarAttributeTypeN:
			var nums numStats
			for _, item := range sample {
				if v, ok := item[k.Name].(*types.AttributeValueMemberN); ok {
					nums.add(v.Value)
				}
			}
			c.Kind, c.Scale = kindN, nums.scale()
		default:
			return nil, fmt.Errorf("infer parquet schema: key %q has type %q, want S, N or B", k.Name, k.Type)
		}
		s.columns = append(s.columns, c)
		budget -= fieldJSONSize(c)
	}

	// Observe every non-key attribute of every item.
	attrs := make(map[string]*observed)
	for _, item := range sample {
		for name, av := range item {
			if isKey(keys, name) {
				continue
			}
			if _, null := av.(*types.AttributeValueMemberNULL); null {
				// A top-level NULL says nothing about the attribute's
				// type; such values go to ExtraColumn when written.
				continue
			}
			o := attrs[name]
			if o == nil {
				o = &observed{}
				attrs[name] = o
			}
			o.count++
			o.observe(av, 0)
		}
	}

	// Most frequent first, so a cap drops the rarest; ties by name keep
	// the choice deterministic.
	names := make([]string, 0, len(attrs))
	for name := range attrs {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := cmp.Compare(attrs[b].count, attrs[a].count); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	leaves := maxColumns - len(keys) - 1
	var chosen []field
	for _, name := range names {
		folded := strings.ToLower(name)
		if checkName(name) != nil || folded == ExtraColumn || taken[folded] {
			continue // left to ExtraColumn
		}
		c := field{Name: name, typ: attrs[name].finalize()}
		if c.leaves() > leaves || fieldJSONSize(c) > budget {
			// Too wide for what is left: one JSON column still keeps the
			// attribute queryable by name.
			c.typ = typ{Kind: kindJSON}
		}
		if c.leaves() > leaves || fieldJSONSize(c) > budget {
			continue
		}
		taken[folded] = true
		leaves -= c.leaves()
		budget -= fieldJSONSize(c)
		chosen = append(chosen, c)
	}
	slices.SortFunc(chosen, func(a, b field) int { return strings.Compare(a.Name, b.Name) })
	s.columns = append(s.columns, chosen...)
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("infer parquet schema: %w", err)
	}
	return s, nil
}

func isKey(keys []Key, name string) bool {
	for _, k := range keys {
		if k.Name == name {
			return true
		}
	}
	return false
}

func fieldJSONSize(f field) int {
	b, err := json.Marshal(f)
	if err != nil {
		return maxSchemaBytes + 1 // cannot happen: field is plain data
	}
	return len(b) + 1 // the separating comma
}

// kindNULL marks a nested NULL while observing; no column type holds only
// NULLs, so it finalises to JSON.
const kindNULL = "NULL"

// observed accumulates what the sample shows of one attribute or nested
// position. Disagreement makes it kindJSON, which is final.
type observed struct {
	kind   string // "" until a value is seen
	count  int    // items with the attribute (top level only)
	nums   numStats
	elem   *observed
	fields map[string]*observed
}

func (o *observed) observe(av types.AttributeValue, depth int) {
	if o.kind == kindJSON {
		return
	}
	k := kindOf(av)
	if o.kind != "" && o.kind != k || k == "" {
		o.toJSON()
		return
	}
	o.kind = k
	switch v := av.(type) {
	case *types.AttributeValueMemberN:
		o.nums.add(v.Value)
	case *types.AttributeValueMemberNS:
		for _, n := range v.Value {
			o.nums.add(n)
		}
	case *types.AttributeValueMemberL:
		if depth >= maxDepth {
			o.toJSON()
			return
		}
		if o.elem == nil {
			o.elem = &observed{}
		}
		for _, e := range v.Value {
			o.elem.observe(e, depth+1)
		}
	case *types.AttributeValueMemberM:
		if depth >= maxDepth {
			o.toJSON()
			return
		}
		if o.fields == nil {
			o.fields = make(map[string]*observed, len(v.Value))
		}
		for name, fv := range v.Value {
			f := o.fields[name]
			if f == nil {
				if len(o.fields) == maxStructFields || checkName(name) != nil {
					o.toJSON()
					return
				}
				f = &observed{}
				o.fields[name] = f
			}
			f.observe(fv, depth+1)
		}
	}
}

func (o *observed) toJSON() {
	*o = observed{kind: kindJSON, count: o.count}
}

// finalize turns observations into a type. Positions the sample cannot
// type (only NULLs, only empty lists or maps, conflicting types) become
// JSON text, which holds any value.
func (o *observed) finalize() typ {
	switch o.kind {
	case kindS, kindB, kindBOOL, kindSS, kindBS:
		return typ{Kind: o.kind}
	case kindN, kindNS:
		return typ{Kind: o.kind, Scale: o.nums.scale()}
	case kindL:
		if o.elem == nil || o.elem.kind == "" {
			return typ{Kind: kindJSON}
		}
		elem := o.elem.finalize()
		if elem.Kind == kindJSON {
			// A list of mixed types is one JSON value, as Athena's
			// DynamoDB connector maps it, rather than a list of JSON
			// strings that needs UNNEST for every access.
			return typ{Kind: kindJSON}
		}
		return typ{Kind: kindL, Elem: &elem}
	case kindM:
		if len(o.fields) == 0 {
			return typ{Kind: kindJSON}
		}
		names := make([]string, 0, len(o.fields))
		for name := range o.fields {
			names = append(names, name)
		}
		slices.Sort(names)
		seen := make(map[string]bool, len(names))
		fields := make([]field, 0, len(names))
		for _, name := range names {
			// Engines resolve struct fields ignoring case: two such
			// fields cannot both be columns.
			folded := strings.ToLower(name)
			if seen[folded] {
				return typ{Kind: kindJSON}
			}
			seen[folded] = true
			fields = append(fields, field{Name: name, typ: o.fields[name].finalize()})
		}
		return typ{Kind: kindM, Fields: fields}
	}
	return typ{Kind: kindJSON}
}

// numStats decides between DECIMAL(38,s) and number text for a set of
// numbers.
type numStats struct {
	seen     bool
	bad      bool // some value is not a number this package can place
	maxInt   int
	maxScale int
}

func (ns *numStats) add(text string) {
	ns.seen = true
	n, ok := parseNumber(text)
	if !ok || n.digits > decimalPrecision {
		ns.bad = true
		return
	}
	ns.maxInt = max(ns.maxInt, n.intDigits())
	ns.maxScale = max(ns.maxScale, n.fracScale())
}

// scale returns s for DECIMAL(38,s) when every number seen fits one, and
// nil (exact text) otherwise, including when no number was seen: text
// holds whatever comes later.
func (ns *numStats) scale() *int {
	if !ns.seen || ns.bad || ns.maxInt+ns.maxScale > decimalPrecision {
		return nil
	}
	s := ns.maxScale
	return &s
}

func kindOf(av types.AttributeValue) string {
	switch av.(type) {
	case *types.AttributeValueMemberS:
		return kindS
	case *types.AttributeValueMemberN:
		return kindN
	case *types.AttributeValueMemberB:
		return kindB
	case *types.AttributeValueMemberBOOL:
		return kindBOOL
	case *types.AttributeValueMemberNULL:
		return kindNULL
	case *types.AttributeValueMemberSS:
		return kindSS
	case *types.AttributeValueMemberNS:
		return kindNS
	case *types.AttributeValueMemberBS:
		return kindBS
	case *types.AttributeValueMemberL:
		return kindL
	case *types.AttributeValueMemberM:
		return kindM
	}
	return ""
}
