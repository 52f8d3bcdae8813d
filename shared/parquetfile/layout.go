package parquetfile

import (
	"reflect"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"
)

// node is a Schema column or nested value compiled for writing and
// reading: its Parquet definition and repetition levels and the leaf
// columns under it. Levels follow the Dremel encoding Parquet uses: a leaf
// value's definition level says how deep its path is present, its
// repetition level at which list a new element starts.
type node struct {
	name     string
	t        *typ
	optional bool
	key      bool // a table key column
	def      int  // definition level when this node is present
	rep      int  // repetition level of the innermost list around it
	// elem is the element of a list (L, SS, NS, BS): required, at the
	// repeated level (def+1, rep+1).
	elem *node
	// fields of an M.
	fields []*node
	// leaf is the column index of a leaf; first..last are the leaves
	// under any node, contiguous because columns are numbered depth first.
	leaf, first, last int
	scale             int // DECIMAL scale of an N leaf; -1 for number text
}

// layout is a Schema compiled against Parquet.
type layout struct {
	columns []*node // schema columns, then ExtraColumn
	extra   *node
	byName  map[string]*node
	leaves  int
	paths   [][]string // column path of every leaf, for per-column options
	root    parquet.Node
	// noBounds lists the leaves whose min/max statistics are not written;
	// see compile.
	noBounds [][]string
}

func newLayout(s *Schema) *layout {
	l := &layout{byName: make(map[string]*node, len(s.columns))}
	fields := make([]parquet.Field, 0, len(s.columns)+1)
	for i := range s.columns {
		c := &s.columns[i]
		// Key columns are REQUIRED, except an N key kept as DECIMAL: a
		// later key outside the sampled scale or precision must be able
		// to go to ExtraColumn, exactly, rather than be lost or rounded.
		optional := !c.Key || c.Kind == kindN && c.Scale != nil
		n, pn := l.compile(c.Name, &c.typ, optional, c.Key, 0, 0, []string{c.Name})
		l.columns = append(l.columns, n)
		l.byName[c.Name] = n
		fields = append(fields, orderedField{Node: pn, name: c.Name})
	}
	extraType := &typ{Kind: kindJSON}
	n, pn := l.compile(ExtraColumn, extraType, true, false, 0, 0, []string{ExtraColumn})
	l.extra = n
	l.columns = append(l.columns, n)
	fields = append(fields, orderedField{Node: pn, name: ExtraColumn})
	l.root = orderedGroup(fields)
	return l
}

// compile builds the node and the Parquet node for t at the given levels.
func (l *layout) compile(name string, t *typ, optional, key bool, parentDef, parentRep int, path []string) (*node, parquet.Node) {
	n := &node{name: name, t: t, optional: optional, key: key, rep: parentRep, first: l.leaves, scale: -1}
	n.def = parentDef
	if optional {
		n.def++
	}
	var pn parquet.Node
	switch t.Kind {
	case kindSS, kindNS, kindBS, kindL:
		elemType := t.Elem
		switch t.Kind {
		case kindSS:
			elemType = &typ{Kind: kindS}
		case kindNS:
			elemType = &typ{Kind: kindN, Scale: t.Scale}
		case kindBS:
			elemType = &typ{Kind: kindB}
		}
		// The standard three-level LIST: optional group (LIST) { repeated
		// group list { required element } }. DynamoDB lists hold no
		// nulls, so the element is required.
		var pe parquet.Node
		n.elem, pe = l.compile("element", elemType, false, false, n.def+1, parentRep+1, append(path[:len(path):len(path)], "list", "element"))
		pn = parquet.List(pe)
	case kindM:
		fields := make([]parquet.Field, 0, len(t.Fields))
		for i := range t.Fields {
			f := &t.Fields[i]
			fn, pf := l.compile(f.Name, &f.typ, true, false, n.def, parentRep, append(path[:len(path):len(path)], f.Name))
			n.fields = append(n.fields, fn)
			fields = append(fields, orderedField{Node: pf, name: f.Name})
		}
		pn = orderedGroup(fields)
	default:
		n.leaf = l.leaves
		l.leaves++
		l.paths = append(l.paths, path)
		var bounded bool
		pn, bounded = leafNode(t, n)
		// Min/max statistics go into every row group's footer entry, and
		// parquet-go writes them untruncated: a column of 300 KB strings
		// would put 600 KB per row group into the footer. They help only
		// where values are short and ordered the way engines compare, so
		// they are kept for key strings and binaries (bounded by DynamoDB's
		// key size limits) and booleans. DECIMAL is excluded because
		// parquet-go orders FIXED_LEN_BYTE_ARRAY as unsigned bytes, which
		// puts negative decimals above positive ones: an engine trusting
		// those bounds would skip row groups it must read.
		if !(bounded || key && t.Kind != kindN) {
			l.noBounds = append(l.noBounds, path)
		}
	}
	n.last = l.leaves
	if optional {
		pn = parquet.Optional(pn)
	}
	return n, pn
}

// leafNode is the Parquet type of a leaf, and whether its statistics are
// worth keeping whatever the column.
func leafNode(t *typ, n *node) (parquet.Node, bool) {
	switch t.Kind {
	case kindN:
		if t.Scale != nil {
			n.scale = *t.Scale
			return parquet.Decimal(*t.Scale, decimalPrecision, parquet.FixedLenByteArrayType(decimalBytes)), false
		}
		return parquet.String(), false
	case kindB:
		return parquet.Leaf(parquet.ByteArrayType), false
	case kindBOOL:
		return parquet.Leaf(parquet.BooleanType), true
	}
	// S and JSON text. JSON is written as a plain UTF8 string rather than
	// the JSON logical type: Athena's DDL declares it string either way,
	// and not every engine maps the JSON annotation.
	return parquet.String(), false
}

// orderedGroup is a Parquet group whose fields keep the order given.
// parquet.Group is a map and sorts its fields by name, which would put the
// key columns wherever their names fall instead of first.
type orderedGroup []parquet.Field

var _ parquet.Node = orderedGroup(nil)

func (g orderedGroup) ID() int { return 0 }

func (g orderedGroup) String() string {
	var b strings.Builder
	b.WriteString("group{")
	for i, f := range g {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.Name())
	}
	b.WriteString("}")
	return b.String()
}

func (g orderedGroup) Type() parquet.Type                { return parquet.Group{}.Type() }
func (g orderedGroup) Optional() bool                    { return false }
func (g orderedGroup) Repeated() bool                    { return false }
func (g orderedGroup) Required() bool                    { return true }
func (g orderedGroup) Leaf() bool                        { return false }
func (g orderedGroup) Fields() []parquet.Field           { return g }
func (g orderedGroup) Encoding() encoding.Encoding       { return nil }
func (g orderedGroup) Compression() compress.Codec       { return nil }
func (g orderedGroup) GoType() reflect.Type              { return reflect.TypeFor[map[string]any]() }
func (f orderedField) Name() string                      { return f.name }
func (f orderedField) Value(reflect.Value) reflect.Value { return reflect.Value{} }

// orderedField names a node inside an orderedGroup. Value is never used:
// rows are built as parquet.Row, not reflected from Go values.
type orderedField struct {
	parquet.Node
	name string
}

var _ parquet.Field = orderedField{}
