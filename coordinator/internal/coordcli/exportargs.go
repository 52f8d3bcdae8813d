package coordcli

import (
	"encoding/json"
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
	if o.compression, err = datafile.ParseCompression(c.String("compression")); err != nil {
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

func parseExportArgs(c *cli.Context) (exportArgs, error) {
	a := exportArgs{
		table: c.String("table"), bucket: c.String("bucket"), prefixTmpl: c.String("prefix"),
		exportID: c.String("export-id"), segments: c.String("segments"),
		rcuCap: c.Float64("read-capacity-cap"), rcuFraction: c.Float64("read-capacity-fraction"),
		pageSize: c.Int("scan-page-size"),
		partSize: int64(c.Int("part-size-mib")) << 20,
	}
	if c.IsSet("part-size-bytes") {
		a.partSize = c.Int64("part-size-bytes")
	}
	switch {
	case a.table == "":
		return a, fault.Invalidf("--table is required")
	case len(a.table) < 3 || len(a.table) > 255:
		return a, fault.Invalidf("--table %q: DynamoDB table names have 3 to 255 characters", a.table)
	case a.bucket == "":
		return a, fault.Invalidf("--bucket is required")
	case a.rcuCap < 0:
		return a, fault.Invalidf("--read-capacity-cap %v: must not be negative", a.rcuCap)
	case c.IsSet("read-capacity-fraction") && (a.rcuFraction <= 0 || a.rcuFraction > 1):
		return a, fault.Invalidf("--read-capacity-fraction %v: want more than 0 and at most 1", a.rcuFraction)
	case a.partSize < 1 || a.partSize > 5<<40:
		return a, fault.Invalidf("--part-size-mib %d: want 1 to 5242880", c.Int("part-size-mib"))
	case a.pageSize < 0:
		return a, fault.Invalidf("--scan-page-size %d: must not be negative", a.pageSize)
	}
	if c.Int("fleet-slots") < 0 {
		return a, fault.Invalidf("--fleet-slots %d: must not be negative", c.Int("fleet-slots"))
	}
	if a.segments != "auto" {
		if _, err := plan.Segments(a.segments, 0, 0); err != nil {
			return a, err
		}
	}
	var err error
	if a.opts, err = parseExportOptions(c); err != nil {
		return a, err
	}
	if c.Duration("lease-duration") < time.Second {
		return a, fault.Invalidf("--lease-duration %s: want at least 1s", c.Duration("lease-duration"))
	}
	// Validate the prefix template now, before any AWS call.
	if _, err := plan.Prefix(a.prefixTmpl, a.table, "x", time.Now()); err != nil {
		return a, err
	}
	if _, err := plan.ExportID(a.exportID, time.Now()); err != nil {
		return a, err
	}
	return a, nil
}
