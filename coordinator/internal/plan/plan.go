// Package plan owns the decisions made once, when an export starts: how
// many scan segments, which export id, and what the prefix placeholders
// resolve to. Everything here is pure and validated, so bad input is
// refused before anything is written.
package plan

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
)

const (
	// MaxSegments bounds --segments. DynamoDB allows 1,000,000, but each
	// segment is a queue message and a control row; 100,000 segments of
	// 1 GiB already covers a 100 TiB table.
	MaxSegments = 100_000
	// MinAutoSegments is the floor of --segments auto: even a small table
	// is split enough to keep a modest fleet busy and to let a fast worker
	// pick up the tail of a slow one.
	MinAutoSegments = 16
	// BytesPerAutoSegment is the target table size per segment (AWS
	// guidance is 1–2 GB per segment; smaller means finer load balance).
	BytesPerAutoSegment = 1 << 30
)

// Segments parses --segments: "auto" or 1..MaxSegments. fleetSlots is
// how many segments the fleet works on at once (0: unknown).
func Segments(flag string, tableBytes int64, fleetSlots int) (int, error) {
	if flag == "" || flag == "auto" {
		return AutoSegments(tableBytes, fleetSlots), nil
	}
	n, err := strconv.Atoi(flag)
	if err != nil || n < 1 || n > MaxSegments {
		return 0, fault.Invalidf("--segments %q: want auto or a whole number from 1 to %d", flag, MaxSegments)
	}
	return n, nil
}

// AutoSegments is one segment per GiB of table, at least MinAutoSegments,
// and at least twice the fleet's slots: with two waves, the last one is
// half as long, so a slow segment leaves less of the fleet idle at the end
// (docs/performance.md, "Segments and the tail").
func AutoSegments(tableBytes int64, fleetSlots int) int {
	n := int(math.Ceil(float64(tableBytes) / BytesPerAutoSegment))
	return min(MaxSegments, max(MinAutoSegments, n, 2*fleetSlots))
}

var exportIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// ExportID validates an operator-chosen id, or makes one like the native
// export's: a millisecond timestamp and a random suffix, so ids sort by
// start time.
func ExportID(flag string, now time.Time) (string, error) {
	if flag != "" {
		if !exportIDPattern.MatchString(flag) {
			return "", fault.Invalidf("--export-id %q: use 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit", flag)
		}
		return flag, nil
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%014d-%s", now.UnixMilli(), hex.EncodeToString(b)), nil
}

var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

// Prefix resolves the --prefix placeholders in UTC and validates the
// result (checkPrefix) for this exportID, whose length counts towards
// S3's key limit. The empty prefix puts AWSDynamoDB/ at the bucket root.
func Prefix(tmpl, table, exportID string, now time.Time) (string, error) {
	now = now.UTC()
	vals := map[string]string{
		"{table}": table, "{exportId}": exportID,
		"{yyyy}": fmt.Sprintf("%04d", now.Year()), "{mm}": fmt.Sprintf("%02d", now.Month()),
		"{dd}": fmt.Sprintf("%02d", now.Day()), "{hh}": fmt.Sprintf("%02d", now.Hour()),
	}
	var bad string
	out := placeholder.ReplaceAllStringFunc(tmpl, func(p string) string {
		if v, ok := vals[p]; ok {
			return v
		}
		bad = p
		return p
	})
	if bad != "" {
		return "", fault.Invalidf("--prefix %q: unknown placeholder %s (known: {table} {exportId} {yyyy} {mm} {dd} {hh})", tmpl, bad)
	}
	// A trailing '/' is dropped, not refused, here: templates recorded
	// before NewPrefix refused it must still resolve (ddl --all resolves
	// every recorded export's template again).
	out = strings.TrimSuffix(out, "/")
	if err := checkPrefix(tmpl, out, exportID); err != nil {
		return "", err
	}
	return out, nil
}

// NewPrefix is Prefix for a --prefix given now: it also refuses a trailing
// '/' (the export adds the '/' before AWSDynamoDB/), so "exports/" and
// "exports" are not two spellings, with two --export-id fingerprints, of
// one location.
func NewPrefix(tmpl, table, exportID string, now time.Time) (string, error) {
	if strings.HasSuffix(tmpl, "/") {
		return "", fault.Invalidf("--prefix %q: must not end with '/' (the export adds it before AWSDynamoDB/); use --prefix %q", tmpl, cleanSlashes(tmpl))
	}
	return Prefix(tmpl, table, exportID, now)
}

const (
	// MaxKeyBytes is S3's limit on the length of an object key.
	MaxKeyBytes = 1024
	// maxFileNameBytes bounds the longest name an export writes under its
	// root: part files are s<segment>-<part>-a<attempt><suffix>, 26 bytes
	// for six-digit counters and the longest suffix; 64 leaves room for
	// ten-digit counters and longer suffixes without revisiting this.
	maxFileNameBytes = 64
)

// checkPrefix validates the resolved prefix out of template tmpl: it must
// be a clean S3 key path (UTF-8, no control characters, no empty, "." or
// ".." segments, so every tool that maps keys to paths agrees on where the
// files are) and leave room under S3's key limit for the export's deepest
// key.
func checkPrefix(tmpl, out, exportID string) error {
	if out == "" {
		return nil
	}
	if !utf8.ValidString(out) {
		return fault.Invalidf("--prefix %q: not valid UTF-8 (S3 keys are UTF-8)", tmpl)
	}
	for _, r := range out {
		if unicode.IsControl(r) {
			return fault.Invalidf("--prefix %q: must not contain control characters (found %U)", tmpl, r)
		}
	}
	if strings.ContainsAny(out, "{}\\") {
		return fault.Invalidf("--prefix %q: must not contain braces or backslashes", tmpl)
	}
	fix := cleanSlashes(tmpl)
	switch {
	case strings.HasPrefix(out, "/"):
		return fault.Invalidf("--prefix %q: must not start with '/'; use --prefix %q", tmpl, fix)
	case strings.HasSuffix(out, "/"):
		return fault.Invalidf("--prefix %q: must not end with '/' (the export adds it before AWSDynamoDB/); use --prefix %q", tmpl, fix)
	case strings.Contains(out, "//"):
		return fault.Invalidf("--prefix %q: must not contain an empty path segment ('//'); use --prefix %q", tmpl, fix)
	}
	for _, seg := range strings.Split(out, "/") {
		if seg == "." || seg == ".." {
			return fault.Invalidf("--prefix %q: must not contain a %q path segment (tools that map keys to paths would resolve it)", tmpl, seg)
		}
	}
	root := (&export.Export{Prefix: out, ExportID: exportID}).DataPrefix()
	if n := len(root) + maxFileNameBytes; n > MaxKeyBytes {
		return fault.Invalidf("--prefix %q: resolves to %d bytes, too long: the export's keys (<prefix>/AWSDynamoDB/<export id>/data/<file>) would reach %d bytes, over S3's limit of %d; keep the resolved prefix to at most %d bytes",
			tmpl, len(out), n, MaxKeyBytes, len(out)-(n-MaxKeyBytes))
	}
	return nil
}

// cleanSlashes is tmpl without leading, trailing or repeated '/': the fix
// suggested for a prefix with empty segments.
func cleanSlashes(tmpl string) string {
	var segs []string
	for _, s := range strings.Split(tmpl, "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	return strings.Join(segs, "/")
}

// ArgsHash fingerprints the arguments that shape an export, so a re-run with
// the same --export-id can tell "same request again" from "a different
// request reusing the id".
func ArgsHash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}
