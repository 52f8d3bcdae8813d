package segexport_test

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"crypto/md5"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/gzip"
	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/internal/testkit/sampledata"
	"github.com/ddbfleet/ddbfleet/shared/ddbjson"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
	"github.com/ddbfleet/ddbfleet/worker/internal/segexport"
)

// The benchmarks here price the worker's hot path with every network call
// replaced by a fake that answers at once: what is left is encoding,
// compression, hashing and the upload machinery. Profile it with
//
//	go test -run '^$' -bench Segment -cpuprofile cpu.out ./worker/internal/segexport
//	go tool pprof -top cpu.out

const pageItems = 1000

// pages builds n pages of the benchmark table's ~1 KB items.
func pages(n int) []*dynamodb.ScanOutput { return pagesOf(n, sampledata.BenchItem) }

// pagesOf builds n pages of item(i).
func pagesOf(n int, item func(int) map[string]types.AttributeValue) []*dynamodb.ScanOutput {
	out := make([]*dynamodb.ScanOutput, n)
	for p := range out {
		items := make([]map[string]types.AttributeValue, pageItems)
		for i := range items {
			items[i] = item(p*pageItems + i)
		}
		out[p] = &dynamodb.ScanOutput{
			Items:            items,
			ConsumedCapacity: &types.ConsumedCapacity{CapacityUnits: aws.Float64(125)},
		}
		if p < n-1 {
			out[p].LastEvaluatedKey = map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: strconv.Itoa(p)}}
		}
	}
	return out
}

// fakeScan replays prepared pages; the cursor names the next page.
type fakeScan struct{ pages []*dynamodb.ScanOutput }

func (f *fakeScan) Scan(_ context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	next := 0
	if k, ok := in.ExclusiveStartKey["pk"].(*types.AttributeValueMemberS); ok {
		n, _ := strconv.Atoi(k.Value)
		next = n + 1
	}
	return f.pages[next], nil
}

type nopCommitter struct{}

func (nopCommitter) GetPart(context.Context, string, int, int) (*export.Part, error) {
	return nil, export.ErrNotFound
}

func (nopCommitter) CommitPart(context.Context, export.Lease, export.Part, export.Checkpoint, time.Duration) error {
	return nil
}

func (nopCommitter) Checkpoint(context.Context, export.Lease, export.Checkpoint, time.Duration) error {
	return nil
}

func (nopCommitter) CompleteSegment(context.Context, export.Lease, *export.Part, export.Checkpoint) error {
	return nil
}

type nopPacer struct{}

func (nopPacer) Wait(context.Context) error { return nil }
func (nopPacer) Consumed(float64)           {}
func (nopPacer) Throttled()                 {}

// discardS3 takes multipart uploads and drops the bytes.
type discardS3 struct {
	objstore.API
	bytes atomic.Int64
}

func (d *discardS3) drain(r io.Reader) error {
	n, err := io.Copy(io.Discard, r)
	d.bytes.Add(n)
	return err
}

func (d *discardS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return &s3.PutObjectOutput{ETag: aws.String(`"e"`)}, d.drain(in.Body)
}

func (d *discardS3) CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	return &s3.CreateMultipartUploadOutput{UploadId: aws.String("u")}, nil
}

func (d *discardS3) UploadPart(_ context.Context, in *s3.UploadPartInput, _ ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	return &s3.UploadPartOutput{ETag: aws.String(`"p"`)}, d.drain(in.Body)
}

func (d *discardS3) CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	return &s3.CompleteMultipartUploadOutput{ETag: aws.String(`"e-2"`)}, nil
}

func (d *discardS3) AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	return &s3.AbortMultipartUploadOutput{}, nil
}

func rawBytes(ps []*dynamodb.ScanOutput) int64 {
	var n int64
	var line []byte
	for _, p := range ps {
		for _, it := range p.Items {
			line, _ = ddbjson.AppendItemLine(line[:0], it)
			n += int64(len(line))
		}
	}
	return n
}

// BenchmarkSegmentExport runs Exporter.Run over a 20,000-item segment
// (~21 MB of DynamoDB JSON) with the worker's defaults: gzip level 5,
// 8 MiB upload parts, upload concurrency 2, 128 MiB part files. MB/s is
// uncompressed DynamoDB JSON.
func BenchmarkSegmentExport(b *testing.B) {
	ps := pages(20)
	api := &discardS3{}
	x := &segexport.Exporter{
		Scan: &fakeScan{pages: ps}, Commit: nopCommitter{}, Log: zap.NewNop(),
		Objects: func(bucket string) *objstore.Store {
			return objstore.New(api, bucket, objstore.Options{UploadPartSize: 8 << 20, UploadConcurrency: 2})
		},
		LeaseDuration: time.Minute, DefaultPageSize: pageItems, CompressionLevel: 5,
	}
	job := segexport.Job{
		Export:  &export.Export{ExportID: "bench", Table: "t", Bucket: "b", SegmentsTotal: 1, PartSizeBytes: 128 << 20},
		Segment: &export.Segment{ExportID: "bench"},
		Lease:   export.Lease{ExportID: "bench", Attempt: 1},
		Pacer:   nopPacer{},
	}
	b.SetBytes(rawBytes(ps))
	b.ReportAllocs()
	for b.Loop() {
		res, err := x.Run(context.Background(), job)
		if err != nil {
			b.Fatal(err)
		}
		if res.Items != 20*pageItems {
			b.Fatalf("exported %d items", res.Items)
		}
	}
}

// BenchmarkCompress prices the compression choice on encoded lines:
// klauspost/compress/gzip (what the worker uses) against the standard
// library, at the levels worth considering. Output goes through MD5, as
// in the worker.
func BenchmarkCompress(b *testing.B) {
	var raw bytes.Buffer
	var line []byte
	for _, p := range pages(5) {
		for _, it := range p.Items {
			line, _ = ddbjson.AppendItemLine(line[:0], it)
			raw.Write(line)
		}
	}
	lines := bytes.SplitAfter(raw.Bytes(), []byte("\n"))
	type writer interface {
		io.Writer
		Close() error
	}
	for _, c := range []struct {
		name string
		new  func(io.Writer, int) writer
	}{
		{"klauspost", func(w io.Writer, l int) writer { z, _ := gzip.NewWriterLevel(w, l); return z }},
		{"stdlib", func(w io.Writer, l int) writer { z, _ := stdgzip.NewWriterLevel(w, l); return z }},
	} {
		for _, level := range []int{1, 5, 9} {
			b.Run(fmt.Sprintf("%s/level%d", c.name, level), func(b *testing.B) {
				b.SetBytes(int64(raw.Len()))
				var out int64
				for b.Loop() {
					h := md5.New()
					cw := &counting{w: h}
					z := c.new(cw, level)
					for _, l := range lines {
						if _, err := z.Write(l); err != nil {
							b.Fatal(err)
						}
					}
					if err := z.Close(); err != nil {
						b.Fatal(err)
					}
					out = cw.n
				}
				b.ReportMetric(float64(raw.Len())/float64(out), "ratio")
			})
		}
	}
}

type counting struct {
	w io.Writer
	n int64
}

func (c *counting) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.w.Write(p)
}

// randomItem is the bench's -shape random row (scripts/bench): ~1.1 KB of
// DynamoDB JSON whose body is random lowercase letters and digits, so gzip
// shrinks it only ~1.5× and the upload path carries ~2.5× the bytes of a
// BenchItem export. Seeded by i: every run sees the same table.
func randomItem(i int) map[string]types.AttributeValue {
	r := rand.New(rand.NewPCG(uint64(i), 0x5eed))
	const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	body := make([]byte, 950)
	for j := range body {
		body[j] = alnum[r.IntN(len(alnum))]
	}
	return map[string]types.AttributeValue{
		"pk":    &types.AttributeValueMemberS{Value: fmt.Sprintf("customer#%08d", i)},
		"sk":    &types.AttributeValueMemberN{Value: strconv.Itoa(i % 7)},
		"total": &types.AttributeValueMemberN{Value: fmt.Sprintf("%d.%02d", r.IntN(10000), r.IntN(100))},
		"body":  &types.AttributeValueMemberS{Value: string(body)},
	}
}

// sinkS3 is an S3 endpoint over HTTP that answers the calls an upload
// makes and drops the bytes: with it the SDK's whole client path (signing,
// checksums, HTTP) is in the profile, and no server's work is.
func sinkS3(b *testing.B) *s3.Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodPost && q.Has("uploads"):
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>`)
		case r.Method == http.MethodPost && q.Has("uploadId"):
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>"e-2"</ETag></CompleteMultipartUploadResult>`)
		case r.Method == http.MethodPut:
			w.Header().Set("ETag", `"e"`)
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, "unexpected "+r.Method+" "+r.URL.String(), http.StatusBadRequest)
		}
	}))
	b.Cleanup(srv.Close)
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
	})
}

// BenchmarkSegmentExportHTTP is BenchmarkSegmentExport with the real S3
// client over HTTP, for the bench's shapes: 20,000 items per run, a
// 16 MiB part-file limit so the random shape makes several multipart
// part files, as a big segment does. Profile it with
//
//	go test -run '^$' -bench SegmentExportHTTP/random -cpuprofile cpu.out ./worker/internal/segexport
func BenchmarkSegmentExportHTTP(b *testing.B) {
	for _, shape := range []struct {
		name string
		item func(int) map[string]types.AttributeValue
	}{{"bench", sampledata.BenchItem}, {"random", randomItem}} {
		b.Run(shape.name, func(b *testing.B) {
			ps := pagesOf(20, shape.item)
			client := sinkS3(b)
			x := &segexport.Exporter{
				Scan: &fakeScan{pages: ps}, Commit: nopCommitter{}, Log: zap.NewNop(),
				Objects: func(bucket string) *objstore.Store {
					return objstore.New(client, bucket, objstore.Options{UploadPartSize: 8 << 20, UploadConcurrency: 2})
				},
				LeaseDuration: time.Minute, DefaultPageSize: pageItems, CompressionLevel: 5,
			}
			job := segexport.Job{
				Export:  &export.Export{ExportID: "bench", Table: "t", Bucket: "b", SegmentsTotal: 1, PartSizeBytes: 16 << 20},
				Segment: &export.Segment{ExportID: "bench"},
				Lease:   export.Lease{ExportID: "bench", Attempt: 1},
				Pacer:   nopPacer{},
			}
			b.SetBytes(rawBytes(ps))
			b.ReportAllocs()
			var parts int
			for b.Loop() {
				res, err := x.Run(context.Background(), job)
				if err != nil {
					b.Fatal(err)
				}
				if res.Items != 20*pageItems {
					b.Fatalf("exported %d items", res.Items)
				}
				parts = res.Parts
			}
			b.ReportMetric(float64(parts), "parts")
		})
	}
}
