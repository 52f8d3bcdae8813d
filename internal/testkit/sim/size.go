package sim

// The row-size model: how many bytes DynamoDB bills for each kind of
// control-table row, following the attribute layout of
// shared/controltable (codec.go, ops.go). DynamoDB's rules: an item's size
// is the sum over its attributes of the name's length plus the value's
// size; a string is its UTF-8 length, a number about one byte per two
// significant digits plus one, a boolean one byte, a map three bytes plus
// each entry's name, value and one byte. The sizes are computed from the
// domain values memstore holds, without marshalling: cheap enough to run
// for every row every call reads.

import (
	"math"
	"strconv"

	"github.com/ddbfleet/ddbfleet/shared/export"
)

// Pricing: DynamoDB's capacity-unit rules.
const (
	readUnitBytes  = 4 << 10 // a read unit reads up to 4 KB strongly consistently, two eventually
	writeUnitBytes = 1 << 10 // a write unit writes up to 1 KB
	queryPageBytes = 1 << 20 // a Query page holds at most 1 MB of rows read
)

// readUnits prices a read of n bytes (a GetItem, or one Query page):
// rounded up to 4 KB, halved when eventually consistent, doubled inside a
// transaction.
func readUnits(n int, consistent bool) float64 {
	u := float64(max(1, (n+readUnitBytes-1)/readUnitBytes))
	if !consistent {
		u /= 2
	}
	return u
}

// queryUnits prices a Query reading rows of the given total sizes, page by
// page: each 1 MB page is rounded up to 4 KB on its own. A filter does not
// lower the price: rows are billed as read, before the filter.
func queryUnits(sizes func(yield func(int) bool), consistent bool) float64 {
	var units float64
	page, rows := 0, 0
	for n := range sizes {
		if page+n > queryPageBytes && rows > 0 {
			units += readUnits(page, consistent)
			page, rows = 0, 0
		}
		page += n
		rows++
	}
	return units + readUnits(page, consistent)
}

// writeUnits prices a write of a row of n bytes (the larger of the row
// before and after): rounded up to 1 KB, doubled inside a transaction.
func writeUnits(n int, transactional bool) float64 {
	u := float64(max(1, (n+writeUnitBytes-1)/writeUnitBytes))
	if transactional {
		u *= 2
	}
	return u
}

// numSize is the billed size of a number's value.
func numSize(v int64) int {
	if v == 0 {
		return 2
	}
	if v < 0 {
		v = -v
	}
	for v%10 == 0 {
		v /= 10
	}
	digits := 0
	for ; v > 0; v /= 10 {
		digits++
	}
	return 1 + (digits+1)/2
}

func floatSize(f float64) int {
	if f == 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 2
	}
	s := strconv.FormatFloat(math.Abs(f), 'f', -1, 64)
	digits := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			digits++
		}
	}
	return 1 + (digits+1)/2
}

// Attribute-name lengths, summed once.
func names(ns ...string) int {
	n := 0
	for _, s := range ns {
		n += len(s)
	}
	return n
}

var (
	exportRowNames = names("pk", "sk", "kind", "exportId", "table", "tableArn", "tableId", "bucket", "prefix",
		"segmentsTotal", "state", "startTime", "endTime", "argsHash", "readCapacityCap", "scanPageSize", "partSizeBytes",
		"billedSizeBytes", "estimatedItems", "segmentsDone", "segmentsFailed", "itemCount", "bytes", "parts",
		"lastError", "finalizeLease", "manifestSummaryKey", "expiresAt", "segmentsRecorded")
	segmentRowNames = names("pk", "sk", "kind", "segment", "state", "attempt", "leaseExpiry", "nextPart", "updatedAt", "expiresAt")
	claimedRowNames = names("owner", "liveItems", "readUnits")
	countsRowNames  = names("itemCount", "bytes", "pages")
	partRowNames    = names("pk", "sk", "kind", "segment", "part", "attempt", "key", "itemCount", "md5", "etag", "bytes", "expiresAt")
)

// Typical values whose exact digits do not matter.
const (
	msNumber   = 8 // a millisecond timestamp: 13 digits
	secNumber  = 6 // a Unix-seconds timestamp (expiresAt)
	segmentSK  = len("SEG#0000000")
	partSK     = len("PART#0000000#000000")
	md5Base64  = 24
	etagQuoted = 34
	// cursorBytes is a scan cursor (LastEvaluatedKey) on a segment row
	// between parts: the sim's checkpoints carry none (memstore would copy
	// it on every read), so its size is added here — a map of one or two
	// key attributes of a few dozen bytes.
	cursorBytes = len("cursor") + 3 + len("pk") + 1 + 40
)

func pkSize(exportID string) int { return len("EXPORT#") + len(exportID) }

// exportRowSize is the export row's size.
func exportRowSize(e *export.Export) int {
	n := exportRowNames + pkSize(e.ExportID) + len("EXPORT") + len("export") + len(e.ExportID) +
		len(e.Table) + len(e.TableARN) + len(e.TableID) + len(e.Bucket) + len(e.Prefix) +
		numSize(int64(e.SegmentsTotal)) + len(e.State) + 4*msNumber + len(e.ArgsHash) +
		floatSize(e.ReadCapacityCap) + numSize(int64(e.ScanPageSize)) + numSize(e.PartSizeBytes) +
		numSize(e.BilledSizeBytes) + numSize(e.EstimatedItems) + numSize(int64(e.SegmentsDone)) +
		numSize(int64(e.SegmentsFailed)) + numSize(e.ItemCount) + numSize(e.Bytes) + numSize(int64(e.Parts)) +
		len(e.LastError) + len(e.ManifestSummaryKey) + secNumber + 1
	if e.PrefixTemplate != "" {
		n += len("prefixTemplate") + len(e.PrefixTemplate)
	}
	n += len(e.FilterExpression) + len(e.ProjectionExpression) + len(e.ParquetSchema)
	return n
}

// segmentRowSize is a segment row's size.
func segmentRowSize(s *export.Segment) int {
	n := segmentRowNames + pkSize(s.ExportID) + segmentSK + len("segment") + numSize(int64(s.Segment)) +
		len(s.State) + numSize(int64(s.Attempt)) + 2*msNumber + numSize(int64(s.NextPart)) + secNumber
	if s.Attempt > 0 {
		n += claimedRowNames + len(s.Owner) + numSize(s.LiveItems) + floatSize(s.ReadUnits)
	}
	if s.NextPart > 0 || s.ItemCount > 0 {
		n += countsRowNames + numSize(s.ItemCount) + numSize(s.Bytes) + numSize(s.Pages)
		if s.State == export.SegmentRunning {
			n += cursorBytes
		}
	}
	if s.Failures > 0 || s.LastError != "" {
		n += len("failures") + numSize(int64(s.Failures)) + len("lastError") + len(s.LastError)
	}
	if s.Share > 0 {
		n += len("readShare") + floatSize(s.Share)
	}
	if s.AttemptBase > 0 {
		n += len("attemptBase") + numSize(int64(s.AttemptBase))
	}
	return n
}

// partRowSize is a part row's size.
func partRowSize(exportID string, p *export.Part) int {
	return partRowNames + pkSize(exportID) + partSK + len("part") + numSize(int64(p.Segment)) + numSize(int64(p.Part)) +
		numSize(int64(p.Attempt)) + len(p.Key) + numSize(p.ItemCount) + md5Base64 + etagQuoted + numSize(p.Bytes) + secNumber
}

// activeRowSize is a row of the active index, with its steward if any.
func activeRowSize(exportID, steward string) int {
	n := names("pk", "sk", "kind", "expiresAt") + len("ACTIVE") + len(exportID) + len("active") + secNumber
	if steward != "" {
		n += names("steward", "stewardExpiry") + len(steward) + msNumber
	}
	return n
}

// sampleRowSize is a history sample row.
func sampleRowSize(exportID string) int {
	return names("pk", "sk", "kind", "at", "items", "readUnits", "expiresAt") + pkSize(exportID) + len("HIST#0000000000") +
		len("sample") + msNumber + 6 + 8 + secNumber
}

// jobRowSize is a row of the jobs index.
func jobRowSize(exportID string) int {
	return names("pk", "sk", "kind", "exportId", "expiresAt") + len("JOBS") + 14 + 2*len(exportID) + len("job") + secNumber
}
