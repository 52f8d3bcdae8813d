package parquetfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/parquet-go/parquet-go"

	"github.com/ddbfleet/ddbfleet/shared/ddbjson"
)

// NumRows returns the number of items in a file, from its footer alone.
func NumRows(r io.ReaderAt, size int64) (int64, error) {
	f, err := openFile(r, size)
	if err != nil {
		return 0, err
	}
	return f.NumRows(), nil
}

// ReadSchema returns the Schema a file was written with.
func ReadSchema(r io.ReaderAt, size int64) (*Schema, error) {
	f, err := openFile(r, size)
	if err != nil {
		return nil, err
	}
	return schemaOf(f)
}

func openFile(r io.ReaderAt, size int64) (*parquet.File, error) {
	// The page index and bloom filters are for engines that skip pages;
	// reading every row needs neither.
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("open parquet file: %w", err)
	}
	return f, nil
}

func schemaOf(f *parquet.File) (*Schema, error) {
	text, ok := f.Lookup(SchemaMetadataKey)
	if !ok {
		return nil, fmt.Errorf("parquet file has no %s metadata: not written by ddbfleet", SchemaMetadataKey)
	}
	return ParseSchema([]byte(text))
}

// readBatch is how many rows ReadItems asks parquet-go for at a time.
const readBatch = 64

// ReadItems calls fn with every item of a file written by Writer, in
// order, restored from the schema in its footer: the same attributes with
// the same values. Numbers stored as DECIMAL come back in plain notation
// without trailing fraction zeros (see formatDecimal); all other values,
// number text included, come back byte for byte. An error from fn stops the
// read and is returned as is.
func ReadItems(r io.ReaderAt, size int64, fn func(map[string]types.AttributeValue) error) error {
	f, err := openFile(r, size)
	if err != nil {
		return err
	}
	s, err := schemaOf(f)
	if err != nil {
		return err
	}
	l := newLayout(s)
	if err := checkColumns(l, f); err != nil {
		return err
	}
	d := &decoder{l: l, cols: make([][]parquet.Value, l.leaves), pos: make([]int, l.leaves)}
	rows := make([]parquet.Row, readBatch)
	for g, rg := range f.RowGroups() {
		if err := d.readRowGroup(rg, rows, fn); err != nil {
			var ce callbackError
			if errors.As(err, &ce) {
				return ce.err
			}
			return fmt.Errorf("read parquet row group %d: %w", g, err)
		}
	}
	return nil
}

// callbackError carries an error from the caller's fn out of the read
// loop, so ReadItems returns it without wrapping.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// checkColumns makes sure the file's columns are those the schema
// compiles to, so values are never decoded with the wrong column's type.
func checkColumns(l *layout, f *parquet.File) error {
	got := f.Schema().Columns()
	if len(got) != l.leaves {
		return fmt.Errorf("parquet file has %d columns, its %s metadata describes %d", len(got), SchemaMetadataKey, l.leaves)
	}
	for i, p := range got {
		if !slices.Equal(p, l.paths[i]) {
			return fmt.Errorf("parquet column %d is %q, its %s metadata says %q", i, p, SchemaMetadataKey, l.paths[i])
		}
	}
	return nil
}

type decoder struct {
	l    *layout
	cols [][]parquet.Value // this row's values, per leaf
	pos  []int             // next value of each leaf
}

func (d *decoder) readRowGroup(rg parquet.RowGroup, rows []parquet.Row, fn func(map[string]types.AttributeValue) error) error {
	rr := rg.Rows()
	defer rr.Close()
	for {
		n, err := rr.ReadRows(rows)
		for _, row := range rows[:n] {
			item, derr := d.decodeRow(row)
			if derr != nil {
				return derr
			}
			if ferr := fn(item); ferr != nil {
				return callbackError{ferr}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (d *decoder) decodeRow(row parquet.Row) (map[string]types.AttributeValue, error) {
	for i := range d.cols {
		d.cols[i] = d.cols[i][:0]
		d.pos[i] = 0
	}
	for _, v := range row {
		c := v.Column()
		if c < 0 || c >= len(d.cols) {
			return nil, fmt.Errorf("value for column %d of %d", c, len(d.cols))
		}
		d.cols[c] = append(d.cols[c], v)
	}
	item := make(map[string]types.AttributeValue, len(d.l.columns))
	for _, c := range d.l.columns[:len(d.l.columns)-1] {
		av, ok, err := d.decode(c)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.name, err)
		}
		if ok {
			item[c.name] = av
		}
	}
	extra, err := d.next(d.l.extra.leaf)
	if err != nil {
		return nil, fmt.Errorf("column %s: %w", ExtraColumn, err)
	}
	if extra.DefinitionLevel() == d.l.extra.def {
		m, err := ddbjson.DecodeMap(extra.ByteArray())
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", ExtraColumn, err)
		}
		for name, av := range m {
			if _, dup := item[name]; dup {
				return nil, fmt.Errorf("attribute %q both in its column and in %s", name, ExtraColumn)
			}
			item[name] = av
		}
	}
	return item, nil
}

// next returns the next value of a leaf without consuming it.
func (d *decoder) next(leaf int) (parquet.Value, error) {
	if d.pos[leaf] >= len(d.cols[leaf]) {
		return parquet.Value{}, fmt.Errorf("column %d ends early", leaf)
	}
	return d.cols[leaf][d.pos[leaf]], nil
}

// skip consumes the one value every leaf under n has for an absent (or
// empty) n.
func (d *decoder) skip(n *node) {
	for leaf := n.first; leaf < n.last; leaf++ {
		d.pos[leaf]++
	}
}

// decode reads the value of n at the current position, the inverse of
// Writer.emit; ok is false when n is absent.
func (d *decoder) decode(n *node) (types.AttributeValue, bool, error) {
	v, err := d.next(n.first)
	if err != nil {
		return nil, false, err
	}
	if v.DefinitionLevel() < n.def {
		d.skip(n)
		return nil, false, nil
	}
	switch n.t.Kind {
	case kindSS, kindNS, kindBS, kindL:
		elems, err := d.decodeList(n, v)
		if err != nil {
			return nil, false, err
		}
		switch n.t.Kind {
		case kindSS:
			ss := make([]string, len(elems))
			for i, e := range elems {
				ss[i] = e.(*types.AttributeValueMemberS).Value
			}
			return &types.AttributeValueMemberSS{Value: ss}, true, nil
		case kindNS:
			ns := make([]string, len(elems))
			for i, e := range elems {
				ns[i] = e.(*types.AttributeValueMemberN).Value
			}
			return &types.AttributeValueMemberNS{Value: ns}, true, nil
		case kindBS:
			bs := make([][]byte, len(elems))
			for i, e := range elems {
				bs[i] = e.(*types.AttributeValueMemberB).Value
			}
			return &types.AttributeValueMemberBS{Value: bs}, true, nil
		}
		return &types.AttributeValueMemberL{Value: elems}, true, nil
	case kindM:
		m := make(map[string]types.AttributeValue, len(n.fields))
		for _, f := range n.fields {
			fv, ok, err := d.decode(f)
			if err != nil {
				return nil, false, fmt.Errorf("field %q: %w", f.name, err)
			}
			if ok {
				m[f.name] = fv
			}
		}
		return &types.AttributeValueMemberM{Value: m}, true, nil
	}
	d.pos[n.leaf]++
	av, err := leafValue(n, v)
	return av, err == nil, err
}

// decodeList reads a present list whose first leaf value is first.
func (d *decoder) decodeList(n *node, first parquet.Value) ([]types.AttributeValue, error) {
	if first.DefinitionLevel() == n.def {
		d.skip(n) // present, no elements
		return []types.AttributeValue{}, nil
	}
	var elems []types.AttributeValue
	for {
		e, ok, err := d.decode(n.elem)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", len(elems), err)
		}
		if !ok {
			return nil, fmt.Errorf("element %d: missing", len(elems))
		}
		elems = append(elems, e)
		// Another element of this list starts with this list's
		// repetition level; anything lower belongs to an outer value.
		if d.pos[n.elem.first] >= len(d.cols[n.elem.first]) || d.cols[n.elem.first][d.pos[n.elem.first]].RepetitionLevel() != n.elem.rep {
			return elems, nil
		}
	}
}

func leafValue(n *node, v parquet.Value) (types.AttributeValue, error) {
	switch n.t.Kind {
	case kindS:
		return &types.AttributeValueMemberS{Value: string(v.ByteArray())}, nil
	case kindN:
		if n.scale < 0 {
			return &types.AttributeValueMemberN{Value: string(v.ByteArray())}, nil
		}
		text, ok := formatDecimal(v.ByteArray(), n.scale)
		if !ok {
			return nil, fmt.Errorf("DECIMAL value of %d bytes", len(v.ByteArray()))
		}
		return &types.AttributeValueMemberN{Value: text}, nil
	case kindB:
		return &types.AttributeValueMemberB{Value: bytes.Clone(v.ByteArray())}, nil
	case kindBOOL:
		return &types.AttributeValueMemberBOOL{Value: v.Boolean()}, nil
	case kindJSON:
		av, err := ddbjson.DecodeValue(v.ByteArray())
		if err != nil {
			return nil, fmt.Errorf("JSON value: %w", err)
		}
		return av, nil
	}
	return nil, fmt.Errorf("unknown type %q", n.t.Kind)
}
