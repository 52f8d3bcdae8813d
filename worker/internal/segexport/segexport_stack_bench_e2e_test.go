//go:build e2e

package segexport_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/ddbfleet/ddbfleet/shared/awsclient"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
	"github.com/ddbfleet/ddbfleet/worker/internal/segexport"
)

// BenchmarkSegmentExportLocalStack exports a table of the local stack the
// way one worker process does — every segment at once, each a Run with its
// own object store (as workercli builds them), the real DynamoDB and S3
// clients — with the control table faked out, so a CPU profile shows the
// worker's whole data path, Scan decoding and S3 uploads included:
//
//	BENCH_KEEP_STACK=1 BENCH_SHAPE=random BENCH_ITEMS=50000 make bench
//	. .stack/bench/env
//	SEGEXPORT_BENCH_TABLE=bench-random-50000 go test -tags e2e -run '^$' \
//	  -bench LocalStack -benchtime 2x -cpuprofile cpu.out ./worker/internal/segexport
//
// SEGEXPORT_BENCH_SEGMENTS (default 8) sets the parallelism.
func BenchmarkSegmentExportLocalStack(b *testing.B) {
	table := os.Getenv("SEGEXPORT_BENCH_TABLE")
	if table == "" || os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") == "" {
		b.Fatal("needs the local stack's env (. DIR/env) and SEGEXPORT_BENCH_TABLE naming a filled table")
	}
	segments := 8
	if v := os.Getenv("SEGEXPORT_BENCH_SEGMENTS"); v != "" {
		var err error
		if segments, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	clients, err := awsclient.Load(ctx, awsclient.Options{S3ForcePathStyle: true})
	if err != nil {
		b.Fatal(err)
	}
	desc, err := clients.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &table})
	if err != nil {
		b.Fatal(err)
	}
	bucket := "segexport-bench"
	if _, err := clients.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		if _, herr := clients.S3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket}); herr != nil {
			b.Fatal(err)
		}
	}
	x := &segexport.Exporter{
		Scan: clients.DynamoDB, Commit: nopCommitter{}, Log: zap.NewNop(),
		Objects: func(bucket string) *objstore.Store {
			return objstore.New(clients.S3, bucket, objstore.Options{UploadPartSize: 8 << 20, UploadConcurrency: 2})
		},
		LeaseDuration: time.Minute, DefaultPageSize: 1000, CompressionLevel: 5, Retry: fault.DefaultPolicy,
	}
	b.SetBytes(aws.ToInt64(desc.Table.TableSizeBytes))
	run := 0
	for b.Loop() {
		run++
		exp := &export.Export{ExportID: fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), run), Table: table, Bucket: bucket,
			SegmentsTotal: segments, PartSizeBytes: 128 << 20}
		g, ctx := errgroup.WithContext(ctx)
		var items [64]int64
		for s := range segments {
			g.Go(func() error {
				res, err := x.Run(ctx, segexport.Job{
					Export: exp, Segment: &export.Segment{ExportID: exp.ExportID, Segment: s},
					Lease: export.Lease{ExportID: exp.ExportID, Segment: s, Attempt: 1}, Pacer: nopPacer{},
				})
				items[s%64] += res.Items
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		var n int64
		for _, v := range items {
			n += v
		}
		if n != aws.ToInt64(desc.Table.ItemCount) {
			b.Fatalf("exported %d items, the table has %d", n, aws.ToInt64(desc.Table.ItemCount))
		}
	}
}
