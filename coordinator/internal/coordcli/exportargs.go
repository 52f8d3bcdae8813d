package coordcli

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/urfave/cli/v2"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/plan"
	"github.com/ddbfleet/ddbfleet/shared/datafile"
	"github.com/ddbfleet/ddbfleet/shared/ddbjson"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
)

type exportArgs struct {
	table, bucket, prefixTmpl, exportID, segments string
	rcuCap, rcuFraction                           float64
	partSize                                      int64
	pageSize                                      int
	opts                                          exportOptions
}

// exportOptions are what the export reads and how it writes; they are
// recorded in the export row, so every worker applies them.
type exportOptions struct {
	format                datafile.Format
	compression           datafile.Compression
	filter, projection    string
	names                 map[string]string
	values                map[string]types.AttributeValue
	objects               export.ObjectOptions
	namesJSON, valuesJSON string // canonical forms, for the fingerprint
}

func parseExportOptions(c *cli.Context) (exportOptions, error) {
	var o exportOptions
	var err error
	if o.format, err = datafile.ParseFormat(c.String("format")); err != nil {
		return o, fault.Invalidf("%s", err)
	}
	if o.compression, err = datafile.ParseCompressionFor(o.format, c.String("compression")); err != nil {
		return o, fault.Invalidf("%s", err)
	}
	o.filter, o.projection = c.String("filter-expression"), c.String("projection-expression")
	if raw := c.String("expression-attribute-names"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &o.names); err != nil || o.names == nil {
			return o, fault.Invalidf("--expression-attribute-names %q: want a JSON object of strings such as {\"#s\":\"status\"}", raw)
		}
		for k := range o.names {
			if !strings.HasPrefix(k, "#") {
				return o, fault.Invalidf("--expression-attribute-names: placeholder %q must start with '#'", k)
			}
		}
		b, _ := json.Marshal(o.names) // sorted keys: a canonical form
		o.namesJSON = string(b)
	}
	if raw := c.String("expression-attribute-values"); raw != "" {
		if o.values, err = ddbjson.DecodeMap([]byte(raw)); err != nil {
			return o, fault.Invalidf("--expression-attribute-values: want a JSON object of DynamoDB JSON values such as {\":v\":{\"S\":\"paid\"}}: %v", err)
		}
		for k := range o.values {
			if !strings.HasPrefix(k, ":") {
				return o, fault.Invalidf("--expression-attribute-values: placeholder %q must start with ':'", k)
			}
		}
		b, err := ddbjson.AppendMap(nil, o.values)
		if err != nil {
			return o, fault.Invalidf("--expression-attribute-values: %v", err)
		}
		o.valuesJSON = string(b)
	}
	o.objects = export.ObjectOptions{SSE: c.String("sse"), SSEKMSKeyID: c.String("sse-kms-key-id"), StorageClass: c.String("storage-class")}
	switch o.objects.SSE {
	case "", "AES256", "aws:kms":
	default:
		return o, fault.Invalidf("--sse %q: want AES256 or aws:kms", o.objects.SSE)
	}
	if o.objects.SSEKMSKeyID != "" && o.objects.SSE != "aws:kms" {
		return o, fault.Invalidf("--sse-kms-key-id needs --sse aws:kms")
	}
	if sc := o.objects.StorageClass; sc != "" && !slices.Contains(objstore.StorageClasses(), sc) {
		return o, fault.Invalidf("--storage-class %q: want one of %s", sc, strings.Join(objstore.StorageClasses(), ", "))
	}
	return o, nil
}

// scans reports whether the export narrows its Scan with expressions.
func (o exportOptions) scans() bool {
	return o.filter != "" || o.projection != "" || o.names != nil || o.values != nil
}

// fingerprint lists the options that differ from the defaults, so an
// export with none keeps the fingerprint it had before options existed.
func (o exportOptions) fingerprint() []string {
	var out []string
	add := func(name, v string) {
		if v != "" {
			out = append(out, name+"="+v)
		}
	}
	if o.format != datafile.DynamoDBJSON {
		add("format", string(o.format))
	}
	if o.compression != datafile.Gzip {
		add("compression", string(o.compression))
	}
	add("filter", o.filter)
	add("projection", o.projection)
	add("names", o.namesJSON)
	add("values", o.valuesJSON)
	add("sse", o.objects.SSE)
	add("kms", o.objects.SSEKMSKeyID)
	add("class", o.objects.StorageClass)
	return out
}

// Bounds of the numeric flags. They are checked where the flags are
// parsed, before any AWS call, so a value that would wrap, overflow or
// break a limit at run time is refused with exit 2 and the flag's name.
const (
	// MaxReadCapacityCap is far above any table's read capacity (the
	// default on-demand table quota is 40,000 RCU/s) yet keeps the per-
	// worker share and the time estimate finite.
	MaxReadCapacityCap = 10_000_000
	// MaxPartSizeMiB keeps a data file within S3's 10,000 multipart
	// parts when the worker uploads it in chunks of its default
	// --upload-part-size-mib (8): 10,000 × 8 MiB = 80,000 MiB (78 GiB).
	// A worker with a smaller chunk fits less (5 MiB: 50,000 MiB), one
	// with a larger chunk could take more; objstore does not raise the
	// chunk size itself.
	MaxPartSizeMiB = s3MaxUploadParts * defaultUploadPartSizeMiB
	// MaxScanPageSize bounds the Scan Limit (an int32 in the API). A page
	// never holds more than 1 MB, so with items of at least ~10 bytes a
	// larger Limit changes nothing.
	MaxScanPageSize = 100_000
	// MaxFleetSlots is far above any fleet, and 2 × it cannot overflow.
	MaxFleetSlots = 1_000_000
	// MinLease and MaxLease bound --lease-duration; 12h is SQS's
	// visibility-timeout maximum, which the workers' lease also obeys.
	MinLease, MaxLease = time.Second, 12 * time.Hour

	s3MaxUploadParts         = 10_000
	defaultUploadPartSizeMiB = 8
)

// inRange reports whether v is a finite number in [lo, hi]; NaN compares
// false with everything, so a plain "v < 0" lets it through.
func inRange(v, lo, hi float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0) && v >= lo && v <= hi
}

func checkReadCapacityCap(c *cli.Context) error {
	if v := c.Float64("read-capacity-cap"); !inRange(v, 0, MaxReadCapacityCap) {
		return fault.Invalidf("--read-capacity-cap %v: want 0 (no cap) to %d read capacity units per second", v, MaxReadCapacityCap)
	}
	return nil
}

func checkFleetSlots(c *cli.Context) error {
	if n := c.Int("fleet-slots"); n < 0 || n > MaxFleetSlots {
		return fault.Invalidf("--fleet-slots %d: want 0 (unknown) to %d", n, MaxFleetSlots)
	}
	return nil
}

// partSizeMiB reads --part-size-mib, bounded before it is shifted into
// bytes (a large value would overflow int64).
func partSizeMiB(c *cli.Context) (int64, error) {
	n := c.Int("part-size-mib")
	if n < 1 || n > MaxPartSizeMiB {
		return 0, fault.Invalidf("--part-size-mib %d: want 1 to %d: workers upload a data file in at most S3's %d multipart chunks of their --upload-part-size-mib, %d MiB by default (%d × %d MiB)",
			n, MaxPartSizeMiB, s3MaxUploadParts, defaultUploadPartSizeMiB, s3MaxUploadParts, defaultUploadPartSizeMiB)
	}
	return int64(n) << 20, nil
}

// checkLease bounds --lease-duration on the commands that take it.
func checkLease(c *cli.Context) error {
	if d := c.Duration("lease-duration"); d < MinLease || d > MaxLease {
		return fault.Invalidf("--lease-duration %s: want %s to %s (the SQS visibility limit)", d, MinLease, MaxLease)
	}
	return nil
}

func parseExportArgs(c *cli.Context) (exportArgs, error) {
	a := exportArgs{
		table: c.String("table"), bucket: c.String("bucket"), prefixTmpl: c.String("prefix"),
		exportID: c.String("export-id"), segments: c.String("segments"),
		rcuCap: c.Float64("read-capacity-cap"), rcuFraction: c.Float64("read-capacity-fraction"),
		pageSize: c.Int("scan-page-size"),
	}
	switch {
	case a.table == "":
		return a, fault.Invalidf("--table is required")
	case len(a.table) < 3 || len(a.table) > 255:
		return a, fault.Invalidf("--table %q: DynamoDB table names have 3 to 255 characters", a.table)
	case a.bucket == "":
		return a, fault.Invalidf("--bucket is required")
	case c.IsSet("read-capacity-fraction") && !(inRange(a.rcuFraction, 0, 1) && a.rcuFraction > 0):
		return a, fault.Invalidf("--read-capacity-fraction %v: want more than 0 and at most 1", a.rcuFraction)
	case a.pageSize < 0 || a.pageSize > MaxScanPageSize:
		return a, fault.Invalidf("--scan-page-size %d: want 0 (the workers' --scan-page-size) or 1 to %d", a.pageSize, MaxScanPageSize)
	}
	var err error
	if a.partSize, err = partSizeMiB(c); err != nil {
		return a, err
	}
	if c.IsSet("part-size-bytes") {
		if a.partSize = c.Int64("part-size-bytes"); a.partSize < 1 || a.partSize > MaxPartSizeMiB<<20 {
			return a, fault.Invalidf("--part-size-bytes %d: want 1 to %d (as --part-size-mib)", a.partSize, int64(MaxPartSizeMiB)<<20)
		}
	}
	for _, check := range []func(*cli.Context) error{checkReadCapacityCap, checkFleetSlots, checkLease} {
		if err := check(c); err != nil {
			return a, err
		}
	}
	if a.segments != "auto" {
		if _, err := plan.Segments(a.segments, 0, 0); err != nil {
			return a, err
		}
	}
	if a.opts, err = parseExportOptions(c); err != nil {
		return a, err
	}
	// The prefix is checked now, before any AWS call, with the export id
	// it will have (or one as long as a generated id): its length counts
	// towards S3's key limit. runExport resolves it again at start.
	now := time.Now()
	id, err := plan.ExportID(a.exportID, now)
	if err != nil {
		return a, err
	}
	if _, err := plan.NewPrefix(a.prefixTmpl, a.table, id, now); err != nil {
		return a, err
	}
	return a, nil
}

// Bounds of estimate's own assumptions: beyond them the plan is
// meaningless, and NaN or Inf would print as such.
const (
	// MaxPricePerMillionReads is hundreds of times any region's price.
	MaxPricePerMillionReads = 100
	// MinCompressionRatio and MaxCompressionRatio bracket what gzip or
	// zstd can do to DynamoDB JSON: base64 binary barely compresses,
	// gzip never does better than about 1000:1.
	MinCompressionRatio, MaxCompressionRatio float64 = 0.1, 1000
	// MaxCPUSecondsPerGiB is over a CPU-day per GiB.
	MaxCPUSecondsPerGiB = 100_000
)

// checkEstimateFlags bounds estimate's numeric flags.
func checkEstimateFlags(c *cli.Context) error {
	for _, check := range []func(*cli.Context) error{checkReadCapacityCap, checkFleetSlots} {
		if err := check(c); err != nil {
			return err
		}
	}
	if _, err := partSizeMiB(c); err != nil {
		return err
	}
	if v := c.Float64("price-per-million-reads"); !inRange(v, 0, MaxPricePerMillionReads) {
		return fault.Invalidf("--price-per-million-reads %v: want 0 to %d USD", v, MaxPricePerMillionReads)
	}
	if v := c.Float64("compression-ratio"); v != 0 && !inRange(v, MinCompressionRatio, MaxCompressionRatio) {
		return fault.Invalidf("--compression-ratio %v: want 0 (the default) or %g to %g table bytes per stored byte", v, MinCompressionRatio, MaxCompressionRatio)
	}
	if v := c.Float64("cpu-seconds-per-gib"); !inRange(v, 0, MaxCPUSecondsPerGiB) {
		return fault.Invalidf("--cpu-seconds-per-gib %v: want 0 (the default) to %d", v, MaxCPUSecondsPerGiB)
	}
	return nil
}
