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
)

// Compression is how a data file is compressed.
type Compression string

const (
	// Gzip is the default and what the native export writes. The zero
	// value means Gzip.
	Gzip Compression = "gzip"
	Zstd Compression = "zstd"
	None Compression = "none"
)

// ParseFormat validates --format. Parquet is in the contract but not
// implemented: it is refused with a message saying so.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case "", DynamoDBJSON:
		return DynamoDBJSON, nil
	case JSON:
		return JSON, nil
	}
	if strings.EqualFold(s, "parquet") {
		return "", fmt.Errorf("--format parquet: not implemented yet (use dynamodb-json or json)")
	}
	return "", fmt.Errorf("--format %q: want dynamodb-json or json", s)
}

// ParseCompression validates --compression.
func ParseCompression(s string) (Compression, error) {
	switch Compression(s) {
	case "", Gzip:
		return Gzip, nil
	case Zstd, None:
		return Compression(s), nil
	}
	return "", fmt.Errorf("--compression %q: want gzip, zstd or none", s)
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
	if f.OrDefault() == JSON {
		return "JSON"
	}
	return "DYNAMODB_JSON"
}

// Suffix is the data file name ending: .json.gz, .json.zst or .json.
func Suffix(f Format, c Compression) string {
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
