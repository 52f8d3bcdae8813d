package parquetfile

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/snappy"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/ddbfleet/ddbfleet/shared/ddbjson"
)

// Compression is the codec of every page of a file.
type Compression string

const (
	// Snappy is the default: what Athena, Spark and DuckDB write by
	// default, and cheap enough not to slow a worker down.
	Snappy Compression = "snappy"
	Zstd   Compression = "zstd"
	None   Compression = "none"
)

// ParseCompression validates --compression for the Parquet format; ""
// means Snappy.
func ParseCompression(s string) (Compression, error) {
	switch Compression(s) {
	case "":
		return Snappy, nil
	case Snappy, Zstd, None:
		return Compression(s), nil
	}
	return "", fmt.Errorf("--compression %q: Parquet takes snappy, zstd or none", s)
}

const (
	// DefaultRowGroupBytes is the default Options.RowGroupBytes. A worker
	// runs 4 segments at once and must stay within 256 MiB next to its
	// upload buffers; the JSON path measured 169 MiB (docs/performance.md).
	// Each open file holds about 1.5×RowGroupBytes + 2 MiB live, which the
	// garbage collector roughly doubles: 4 segments cost 37–52 MiB more
	// than the JSON path at 4 MiB and 79 MiB at 8 MiB, too close to the 87 MiB
	// left (TestFourSegmentsStayUnder256MiB, docs/parquet.md).
	DefaultRowGroupBytes = 4 << 20
	// DefaultPageBytes is the default Options.PageBytes.
	DefaultPageBytes = 64 << 10
	// minPageBytes keeps pages from getting so small that headers dominate.
	minPageBytes = 8 << 10
	// batchRows and batchBytes bound the rows held before they are handed
	// to parquet-go, which amortises its per-call work over all columns.
	batchRows  = 64
	batchBytes = 1 << 20
)

// Options configure a Writer. The zero value is the defaults.
type Options struct {
	// Compression is Snappy when empty.
	Compression Compression
	// RowGroupBytes is where a row group is cut: once the open row group
	// holds this many bytes (compressed pages plus values not yet in a
	// page). It is what bounds a Writer's memory. 0 means
	// DefaultRowGroupBytes.
	RowGroupBytes int64
	// PageBytes is the target size of a data page before compression.
	// With many columns pages are made smaller (down to 8 KiB) so that the
	// page buffers of all columns together stay under half of
	// RowGroupBytes. 0 means DefaultPageBytes.
	PageBytes int
}

// Suffix is the data file name ending for Parquet; the codec is inside the
// file, not in its name.
func Suffix() string { return ".parquet" }

// SchemaMetadataKey is the footer key-value entry holding the Schema's
// JSON, which is what lets ReadItems restore exact items from any file.
const SchemaMetadataKey = "ddbfleet.schema"

// Writer streams items into one Parquet file. Memory is bounded by Options,
// not by the number of items: row groups are flushed to w as they fill.
// A Writer is not safe for concurrent use.
type Writer struct {
	l       *layout
	pw      *parquet.GenericWriter[any]
	out     *bufio.Writer
	counted *countingWriter
	rgBytes int64
	// open is the open row group's size inside parquet-go as of the last
	// batch: asking parquet-go walks every column, too slow per item.
	open int64

	vals  [][]parquet.Value // this row's values, per leaf
	batch []parquet.Row
	// backing holds the values of every row in batch; arena holds their
	// bytes (strings, decimals, JSON) until the batch is written.
	backing []parquet.Value
	arena   []byte
	extra   map[string]types.AttributeValue

	stats Stats
	err   error // sticky: after a failed write the file is unusable
}

// Stats describe what a Writer has done so far.
type Stats struct {
	// Items is the number of items written.
	Items int64
	// ItemsWithExtra counts items that had at least one attribute in
	// ExtraColumn: a measure of how well the schema fits the table.
	ItemsWithExtra int64
	// RowGroups is the number of row groups flushed to w.
	RowGroups int
	// Written is the bytes that have reached w.
	Written int64
	// Buffered estimates the bytes of the open row group, not yet in w.
	Buffered int64
}

// NewWriter starts a Parquet file with schema s on w. Close writes the
// footer; the file is not readable before.
func NewWriter(w io.Writer, s *Schema, opts Options) (*Writer, error) {
	if s == nil {
		return nil, errors.New("parquet writer: nil schema")
	}
	schemaJSON, err := s.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("parquet writer: %w", err)
	}
	codec, err := codecFor(opts.Compression)
	if err != nil {
		return nil, fmt.Errorf("parquet writer: %w", err)
	}
	rgBytes := cmp.Or(opts.RowGroupBytes, DefaultRowGroupBytes)
	if rgBytes < 0 {
		return nil, fmt.Errorf("parquet writer: RowGroupBytes %d", rgBytes)
	}
	pageBytes := cmp.Or(opts.PageBytes, DefaultPageBytes)
	if pageBytes < 0 {
		return nil, fmt.Errorf("parquet writer: PageBytes %d", pageBytes)
	}
	l := newLayout(s)
	// A column buffer's capacity can reach twice the page size and is
	// kept between pages, so this keeps all of them under RowGroupBytes/2.
	pageBytes = int(min(int64(pageBytes), max(int64(minPageBytes), rgBytes/int64(4*l.leaves))))

	counted := &countingWriter{w: w}
	out := bufio.NewWriterSize(counted, 64<<10)
	options := []parquet.WriterOption{
		parquet.NewSchema("item", l.root),
		parquet.Compression(codec),
		// Data page v1: v2 is parquet-go's default, and older Hive and
		// Presto readers still handle v2 pages poorly.
		parquet.DataPageVersion(1),
		// PLAIN for byte arrays too: parquet-go's default there is
		// DELTA_LENGTH_BYTE_ARRAY, a v2 encoding older readers lack.
		parquet.DefaultEncodingFor(parquet.ByteArray, &parquet.Plain),
		parquet.PageBufferSize(pageBytes),
		// No buffering inside parquet-go: out buffers instead, and is
		// flushed at each row group so finished row groups reach w.
		parquet.WriteBufferSize(0),
		parquet.CreatedBy("ddbfleet", "", ""),
		parquet.KeyValueMetadata(SchemaMetadataKey, string(schemaJSON)),
	}
	for _, p := range l.noBounds {
		options = append(options, parquet.SkipPageBounds(p...), parquet.SkipPageStatistics(p...))
	}
	cfg, err := parquet.NewWriterConfig(options...)
	if err != nil {
		return nil, fmt.Errorf("parquet writer: %w", err)
	}
	return &Writer{
		l:       l,
		pw:      parquet.NewGenericWriter[any](out, cfg),
		out:     out,
		counted: counted,
		rgBytes: rgBytes,
		vals:    make([][]parquet.Value, l.leaves),
		extra:   make(map[string]types.AttributeValue),
	}, nil
}

func codecFor(c Compression) (compress.Codec, error) {
	switch c {
	case "", Snappy:
		return &snappy.Codec{}, nil
	case Zstd:
		// One encoder goroutine: a worker already writes several files
		// at once.
		return &zstd.Codec{Level: zstd.DefaultLevel, Concurrency: 1}, nil
	case None:
		return &parquet.Uncompressed, nil
	}
	return nil, fmt.Errorf("compression %q: want snappy, zstd or none", c)
}

// Write appends one item. Attributes without a column, or whose value does
// not fit their column's type, go to ExtraColumn; no value is dropped.
// The item is not retained.
func (w *Writer) Write(item map[string]types.AttributeValue) error {
	if w.err != nil {
		return w.err
	}
	if err := w.write(item); err != nil {
		w.err = fmt.Errorf("parquet write item %d: %w", w.stats.Items+1, err)
		return w.err
	}
	return nil
}

func (w *Writer) write(item map[string]types.AttributeValue) error {
	for i := range w.vals {
		w.vals[i] = w.vals[i][:0]
	}
	clear(w.extra)
	matched := 0
	for _, c := range w.l.columns[:len(w.l.columns)-1] {
		av, ok := item[c.name]
		if !ok || av == nil {
			if c.key {
				// Every item has its keys; a projection without them
				// needs a schema inferred without them.
				return fmt.Errorf("no value for key attribute %q", c.name)
			}
			w.emitNull(c, 0, 0)
			continue
		}
		matched++
		if w.emit(c, av, 0) {
			continue
		}
		if !c.optional {
			return fmt.Errorf("key attribute %q: %s value in a %s column", c.name, kindOf(av), c.t.Kind)
		}
		// Undo whatever part of the value was emitted: this row's values
		// of c's leaves all came from c, so they are dropped entirely.
		for leaf := c.first; leaf < c.last; leaf++ {
			w.vals[leaf] = w.vals[leaf][:0]
		}
		w.emitNull(c, 0, 0)
		w.extra[c.name] = av
	}
	if matched < len(item) {
		for name, av := range item {
			if _, ok := w.l.byName[name]; !ok {
				w.extra[name] = av
			}
		}
	}
	if len(w.extra) > 0 {
		start := len(w.arena)
		var err error
		if w.arena, err = ddbjson.AppendMap(w.arena, w.extra); err != nil {
			return err
		}
		w.vals[w.l.extra.leaf] = append(w.vals[w.l.extra.leaf], parquet.ByteArrayValue(w.arena[start:]).Level(0, 1, w.l.extra.leaf))
		w.stats.ItemsWithExtra++
	} else {
		w.emitNull(w.l.extra, 0, 0)
	}

	start := len(w.backing)
	for _, v := range w.vals {
		w.backing = append(w.backing, v...)
	}
	// If an append moves backing, earlier rows keep the old array, which
	// nothing writes to any more: they stay valid until the batch is out.
	w.batch = append(w.batch, parquet.Row(nil))
	w.batch[len(w.batch)-1] = w.backing[start:len(w.backing):len(w.backing)]
	w.stats.Items++
	if len(w.batch) >= batchRows || len(w.arena) >= batchBytes {
		return w.flushBatch()
	}
	return nil
}

// flushBatch hands the batched rows to parquet-go, then cuts the row group
// if it has reached its size.
func (w *Writer) flushBatch() error {
	if len(w.batch) > 0 {
		if _, err := w.pw.WriteRows(w.batch); err != nil {
			return err
		}
		clear(w.batch) // drop references into arena and backing
		w.batch = w.batch[:0]
		w.backing = w.backing[:0]
		w.arena = w.arena[:0]
	}
	w.open = w.pw.Size() - w.counted.n - int64(w.out.Buffered())
	if w.open >= w.rgBytes {
		return w.flushRowGroup()
	}
	return nil
}

func (w *Writer) flushRowGroup() error {
	before := w.counted.n + int64(w.out.Buffered())
	if err := w.pw.Flush(); err != nil {
		return err
	}
	if err := w.out.Flush(); err != nil {
		return err
	}
	if w.counted.n > before {
		w.stats.RowGroups++
	}
	w.open = 0
	return nil
}

// Close flushes the last row group and writes the footer. It does not
// close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	w.err = errors.New("parquet writer: closed")
	if err := w.flushBatch(); err != nil {
		return fmt.Errorf("parquet close: %w", err)
	}
	if err := w.flushRowGroup(); err != nil {
		return fmt.Errorf("parquet close: %w", err)
	}
	if err := w.pw.Close(); err != nil {
		return fmt.Errorf("parquet close: %w", err)
	}
	if err := w.out.Flush(); err != nil {
		return fmt.Errorf("parquet close: %w", err)
	}
	return nil
}

// Written is the number of bytes that have reached w: whole row groups
// (and, after Close, the footer). A caller cutting part files at a target
// size compares Written()+Buffered() with it.
func (w *Writer) Written() int64 { return w.counted.n }

// Buffered estimates the bytes of the row group being built: its
// compressed pages plus values not yet encoded (an upper bound for those,
// which are not compressed yet), plus the bytes of rows still batched.
// It is cheap enough to call after every Write.
func (w *Writer) Buffered() int64 {
	return w.open + int64(len(w.arena))
}

// Stats reports progress so far.
func (w *Writer) Stats() Stats {
	s := w.stats
	s.Written = w.Written()
	s.Buffered = w.Buffered()
	return s
}

// countingWriter counts the bytes that reach w.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// emit appends the values of av under n, starting at repetition level rep.
// It reports false, leaving partial values for the caller to drop, when av
// does not fit n's type: another DynamoDB type, a number outside the
// DECIMAL, a map field the schema does not have.
func (w *Writer) emit(n *node, av types.AttributeValue, rep int) bool {
	switch n.t.Kind {
	case kindS:
		v, ok := av.(*types.AttributeValueMemberS)
		if !ok {
			return false
		}
		w.emitString(n, rep, v.Value)
	case kindN:
		v, ok := av.(*types.AttributeValueMemberN)
		return ok && w.emitNumber(n, rep, v.Value)
	case kindB:
		v, ok := av.(*types.AttributeValueMemberB)
		if !ok {
			return false
		}
		w.emitBytes(n, rep, v.Value)
	case kindBOOL:
		v, ok := av.(*types.AttributeValueMemberBOOL)
		if !ok {
			return false
		}
		w.vals[n.leaf] = append(w.vals[n.leaf], parquet.BooleanValue(v.Value).Level(rep, n.def, n.leaf))
	case kindJSON:
		start := len(w.arena)
		var err error
		if w.arena, err = ddbjson.AppendValue(w.arena, av); err != nil {
			// Not a value DynamoDB JSON can hold; as an extra
			// attribute it fails again, and Write reports it.
			w.arena = w.arena[:start]
			return false
		}
		w.vals[n.leaf] = append(w.vals[n.leaf], parquet.ByteArrayValue(w.arena[start:]).Level(rep, n.def, n.leaf))
	case kindSS:
		v, ok := av.(*types.AttributeValueMemberSS)
		if !ok {
			return false
		}
		w.emitEmpty(n, rep, len(v.Value))
		for i, s := range v.Value {
			w.emitString(n.elem, elemRep(n, i, rep), s)
		}
	case kindNS:
		v, ok := av.(*types.AttributeValueMemberNS)
		if !ok {
			return false
		}
		w.emitEmpty(n, rep, len(v.Value))
		for i, s := range v.Value {
			if !w.emitNumber(n.elem, elemRep(n, i, rep), s) {
				return false
			}
		}
	case kindBS:
		v, ok := av.(*types.AttributeValueMemberBS)
		if !ok {
			return false
		}
		w.emitEmpty(n, rep, len(v.Value))
		for i, b := range v.Value {
			w.emitBytes(n.elem, elemRep(n, i, rep), b)
		}
	case kindL:
		v, ok := av.(*types.AttributeValueMemberL)
		if !ok {
			return false
		}
		w.emitEmpty(n, rep, len(v.Value))
		for i, e := range v.Value {
			if e == nil || !w.emit(n.elem, e, elemRep(n, i, rep)) {
				return false
			}
		}
	case kindM:
		v, ok := av.(*types.AttributeValueMemberM)
		if !ok {
			return false
		}
		matched := 0
		for _, f := range n.fields {
			fv, ok := v.Value[f.name]
			if !ok || fv == nil {
				w.emitNull(f, rep, n.def)
				continue
			}
			matched++
			if !w.emit(f, fv, rep) {
				return false
			}
		}
		// A field the schema lacks cannot be stored in the struct.
		return matched == len(v.Value)
	default:
		return false
	}
	return true
}

// elemRep is the repetition level of a list's i-th element: the first
// continues whatever started at rep, the others repeat this list.
func elemRep(n *node, i, rep int) int {
	if i == 0 {
		return rep
	}
	return n.elem.rep
}

// emitEmpty marks a present list with no elements: its leaves get one
// null each, defined down to the list itself, which is what tells an empty
// list from an absent one.
func (w *Writer) emitEmpty(n *node, rep, count int) {
	if count == 0 {
		w.emitNull(n.elem, rep, n.def)
	}
}

// emitNull gives every leaf under n one null, defined to level def.
func (w *Writer) emitNull(n *node, rep, def int) {
	for leaf := n.first; leaf < n.last; leaf++ {
		w.vals[leaf] = append(w.vals[leaf], parquet.NullValue().Level(rep, def, leaf))
	}
}

func (w *Writer) emitString(n *node, rep int, s string) {
	start := len(w.arena)
	w.arena = append(w.arena, s...)
	w.vals[n.leaf] = append(w.vals[n.leaf], parquet.ByteArrayValue(w.arena[start:]).Level(rep, n.def, n.leaf))
}

// emitBytes copies b: the caller may reuse the item once Write returns,
// and parquet-go only copies when the batch is written.
func (w *Writer) emitBytes(n *node, rep int, b []byte) {
	start := len(w.arena)
	w.arena = append(w.arena, b...)
	w.vals[n.leaf] = append(w.vals[n.leaf], parquet.ByteArrayValue(w.arena[start:]).Level(rep, n.def, n.leaf))
}

func (w *Writer) emitNumber(n *node, rep int, text string) bool {
	if n.scale < 0 {
		w.emitString(n, rep, text)
		return true
	}
	num, ok := parseNumber(text)
	if !ok || !num.fits(n.scale) {
		return false
	}
	start := len(w.arena)
	w.arena = num.appendDecimal(w.arena, n.scale)
	w.vals[n.leaf] = append(w.vals[n.leaf], parquet.FixedLenByteArrayValue(w.arena[start:]).Level(rep, n.def, n.leaf))
	return true
}
