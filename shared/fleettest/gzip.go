package fleettest

import (
	"bytes"
	"compress/gzip"
	"io"
)

// gzipReader uses the standard library's gzip on purpose: the product
// writes with another implementation, and readers in the wild use this one.
func gzipReader(b []byte) (io.Reader, error) { return gzip.NewReader(bytes.NewReader(b)) }

// Gzip compresses s (tests forge data files with it).
func Gzip(s string) string {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return buf.String()
}
