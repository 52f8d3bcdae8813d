// Package datafile owns what an export's data file is: its line format
// (DynamoDB JSON or plain JSON), its compression (gzip, zstd or none), the
// name suffix that tells readers both, and the writers and readers for
// each. Workers write through it, verify and ddl read through it.
package datafile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/ddbfleet/ddbfleet/shared/ddbjson"
	"github.com/ddbfleet/ddbfleet/shared/parquetfile"
)

// Format is the line format of a data file.
type Format string

const (
	// DynamoDBJSON lines are {"Item":{...}} in DynamoDB JSON, as the native
	// export writes them. The zero value means DynamoDBJSON (export rows
	// written before the format was recorded).
	DynamoDBJSON Format = "dynamodb-json"
	// JSON lines are plain objects with the types unwrapped.
	JSON Format = "json"
	// Parquet files hold one row per item, a column per attribute, in the
	// schema recorded with the export (shared/parquetfile).
	Parquet Format = "parquet"
)

// Compression is how a data file is compressed.
type Compression string

const (
	// Gzip is the default and what the native export writes. The zero
	// value means Gzip.
	Gzip Compression = "gzip"
	Zstd Compression = "zstd"
	None Compression = "none"
	// Snappy is Parquet's default page compression.
	Snappy Compression = "snappy"
)

// ParseFormat validates --format.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case "", DynamoDBJSON:
		return DynamoDBJSON, nil
	case JSON, Parquet:
		return Format(s), nil
	}
	return "", fmt.Errorf("--format %q: want dynamodb-json, json or parquet", s)
}

// ParseCompression validates --compression for the JSON formats.
func ParseCompression(s string) (Compression, error) {
	switch Compression(s) {
	case "", Gzip:
		return Gzip, nil
	case Zstd, None:
		return Compression(s), nil
	}
	return "", fmt.Errorf("--compression %q: want gzip, zstd or none", s)
}

// ParseCompressionFor validates --compression for format f; "" is the
// format's default (gzip, or snappy for Parquet, which compresses its
// pages itself and is never gzipped whole).
func ParseCompressionFor(f Format, s string) (Compression, error) {
	if f.OrDefault() != Parquet {
		return ParseCompression(s)
	}
	c, err := parquetfile.ParseCompression(s)
	return Compression(c), err
}

// OrDefault returns f, or DynamoDBJSON if f is unset.
func (f Format) OrDefault() Format {
	if f == "" {
		return DynamoDBJSON
	}
	return f
}

// OrDefault returns c, or Gzip if c is unset.
func (c Compression) OrDefault() Compression {
	if c == "" {
		return Gzip
	}
	return c
}

// OutputFormat is the manifest-summary.json name of f.
func (f Format) OutputFormat() string {
	switch f.OrDefault() {
	case JSON:
		return "JSON"
	case Parquet:
		return "PARQUET"
	}
	return "DYNAMODB_JSON"
}

// Suffix is the data file name ending: .json.gz, .json.zst or .json, and
// .parquet.
func Suffix(f Format, c Compression) string {
	if f.OrDefault() == Parquet {
		return parquetfile.Suffix()
	}
	switch c.OrDefault() {
	case Zstd:
		return ".json.zst"
	case None:
		return ".json"
	}
	return ".json.gz"
}

// CompressionOf tells a file's compression from its name, as Athena and
// ImportTable do.
func CompressionOf(key string) Compression {
	switch {
	case strings.HasSuffix(key, ".gz"):
		return Gzip
	case strings.HasSuffix(key, ".zst"):
		return Zstd
	}
	return None
}

// AppendLine appends item as one line in format f.
func AppendLine(f Format, dst []byte, item map[string]types.AttributeValue) ([]byte, error) {
	if f.OrDefault() == JSON {
		return ddbjson.AppendPlainItemLine(dst, item)
	}
	return ddbjson.AppendItemLine(dst, item)
}

// NewWriter compresses into w. level is the gzip level (1–9); zstd maps it
// to its nearest speed (zstd.EncoderLevelFromZstd), and none ignores it.
func NewWriter(w io.Writer, c Compression, level int) (io.WriteCloser, error) {
	switch c.OrDefault() {
	case Zstd:
		// One encoder goroutine per file: a worker already runs several
		// segments at once, and each extra goroutine holds its own window.
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)), zstd.WithEncoderConcurrency(1))
	case None:
		return nopCloser{w}, nil
	}
	return gzip.NewWriterLevel(w, level)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// NewReader decompresses r according to key's suffix. Closing it releases
// the decoder, not r.
func NewReader(key string, r io.Reader) (io.ReadCloser, error) {
	switch CompressionOf(key) {
	case Gzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("not gzip: %w", err)
		}
		return zr, nil
	case Zstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("not zstd: %w", err)
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(r), nil
}

// CheckLine reports whether line is one well-formed item in format f.
func CheckLine(f Format, line []byte) error {
	if f.OrDefault() == JSON {
		if len(line) == 0 || line[0] != '{' || !json.Valid(line) {
			return fmt.Errorf("not a JSON object")
		}
		return nil
	}
	if !bytes.HasPrefix(line, []byte(`{"Item":`)) || !json.Valid(line) {
		return fmt.Errorf(`not a {"Item":…} JSON object`)
	}
	return nil
}

// NewLineScanner reads lines of up to 64 MiB (an item is at most 400 KB,
// but its JSON can be several times larger).
func NewLineScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	return sc
}

// ItemWriter writes items into one data file.
type ItemWriter interface {
	WriteItem(item map[string]types.AttributeValue) error
	// Close finishes the file (the compressor's trailer, Parquet's
	// footer); it does not close the underlying writer.
	Close() error
	// Buffered is about how many bytes of the file are held but not yet
	// written out (Parquet's open row group), so a part is cut at its
	// size, not at the size of what has reached the upload.
	Buffered() int64
}

// NewItemWriter writes items in format f into w: lines through the
// compression c at level, or, for Parquet, row groups in schema (the JSON
// the export recorded) with c as the page compression.
func NewItemWriter(w io.Writer, f Format, c Compression, level int, schema []byte) (ItemWriter, error) {
	if f.OrDefault() == Parquet {
		s, err := parquetfile.ParseSchema(schema)
		if err != nil {
			return nil, fmt.Errorf("the export's Parquet schema: %w", err)
		}
		pw, err := parquetfile.NewWriter(w, s, parquetfile.Options{Compression: parquetfile.Compression(c)})
		if err != nil {
			return nil, err
		}
		return parquetItems{pw}, nil
	}
	zw, err := NewWriter(w, c, level)
	if err != nil {
		return nil, err
	}
	return &lineItems{f: f.OrDefault(), zw: zw}, nil
}

type parquetItems struct{ w *parquetfile.Writer }

func (p parquetItems) WriteItem(item map[string]types.AttributeValue) error { return p.w.Write(item) }
func (p parquetItems) Close() error                                         { return p.w.Close() }
func (p parquetItems) Buffered() int64                                      { return p.w.Buffered() }

// lineItems encodes each item as a line into a compressor, reusing one
// line buffer: the hot path allocates nothing per item.
type lineItems struct {
	f    Format
	zw   io.WriteCloser
	line []byte
}

func (l *lineItems) WriteItem(item map[string]types.AttributeValue) error {
	var err error
	if l.line, err = AppendLine(l.f, l.line[:0], item); err != nil {
		return &EncodeError{Err: err}
	}
	_, err = l.zw.Write(l.line)
	return err
}

func (l *lineItems) Close() error { return l.zw.Close() }

// Buffered is 0: a compressor holds at most its window, small next to a
// part.
func (l *lineItems) Buffered() int64 { return 0 }

// EncodeError is an item that cannot be written in the format: retrying
// cannot help.
type EncodeError struct{ Err error }

func (e *EncodeError) Error() string { return "encode item: " + e.Err.Error() }
func (e *EncodeError) Unwrap() error { return e.Err }
