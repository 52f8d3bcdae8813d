package ddbjson_test

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbfleet/ddbfleet/internal/testkit/sampledata"
	"github.com/ddbfleet/ddbfleet/shared/ddbjson"
)

// benchPage is a page of the benchmark table's ~1 KB items, so MB/s here
// lines up with `make bench`.
func benchPage(n int) []map[string]types.AttributeValue {
	page := make([]map[string]types.AttributeValue, n)
	for i := range page {
		page[i] = sampledata.BenchItem(i)
	}
	return page
}

// BenchmarkEncodePage is the worker's per-page encoding cost: one reused
// line buffer, 1,000 items.
func BenchmarkEncodePage(b *testing.B) {
	page := benchPage(1000)
	var line []byte
	var bytes int64
	for _, it := range page {
		line, _ = ddbjson.AppendItemLine(line[:0], it)
		bytes += int64(len(line))
	}
	b.SetBytes(bytes)
	b.ReportAllocs()
	for b.Loop() {
		for _, it := range page {
			line, _ = ddbjson.AppendItemLine(line[:0], it)
		}
	}
}

// BenchmarkEncodePageReflect is the generic route the encoder replaces
// (attributevalue.UnmarshalMap into any, then encoding/json), kept as the
// baseline that justifies writing DynamoDB JSON by hand. Its output is not
// DynamoDB JSON (types are lost); it only prices reflection.
func BenchmarkEncodePageReflect(b *testing.B) {
	page := benchPage(1000)
	var bytes int64
	for _, it := range page {
		line, _ := ddbjson.AppendItemLine(nil, it)
		bytes += int64(len(line))
	}
	b.SetBytes(bytes)
	b.ReportAllocs()
	for b.Loop() {
		for _, it := range page {
			var v map[string]any
			if err := attributevalue.UnmarshalMap(it, &v); err != nil {
				b.Fatal(err)
			}
			if _, err := json.Marshal(v); err != nil {
				b.Fatal(err)
			}
		}
	}
}
