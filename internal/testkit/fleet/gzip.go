package fleet

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// decompress reads a whole data file. gzip uses the standard library on
// purpose: the product writes with another implementation, and readers in
// the wild use this one. The standard library has no zstd; the reference
// decoder is the one the product writes with, so a zstd file is also
// checked for its frame magic here.
func decompress(compression string, b []byte) ([]byte, error) {
	switch compression {
	case "", "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	case "zstd":
		if !bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
			return nil, fmt.Errorf("no zstd frame magic")
		}
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		return io.ReadAll(zr)
	case "none":
		if bytes.HasPrefix(b, []byte{0x1f, 0x8b}) || bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
			return nil, fmt.Errorf("compressed, but the layout says none")
		}
		return b, nil
	}
	return nil, fmt.Errorf("unknown compression %q", compression)
}

// Gzip compresses s (tests forge data files with it).
func Gzip(s string) string {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return buf.String()
}
