// Command seed creates and fills a sample DynamoDB table (and, optionally,
// an S3 bucket) for the demo, the benchmarks and manual testing. It uses the
// same AWS configuration as the product (AWS_ENDPOINT_URL_* and friends).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/term"

	"github.com/ddbfleet/ddbfleet/internal/testkit/sampledata"
	"github.com/ddbfleet/ddbfleet/shared/awsclient"
)

func main() {
	table := flag.String("table", "", "table to create and fill (required)")
	items := flag.Int("items", 100000, "items to write")
	payload := flag.Int("payload", 200, "extra bytes of text per item")
	parallel := flag.Int("parallel", 8, "batch writes in flight")
	bucket := flag.String("bucket", "", "S3 bucket to create as well (optional)")
	flag.Parse()
	if *table == "" {
		fmt.Fprintln(os.Stderr, "seed: --table is required")
		os.Exit(2)
	}
	if err := run(*table, *items, *payload, *parallel, *bucket); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run(table string, items, payload, parallel int, bucket string) error {
	ctx := context.Background()
	clients, err := awsclient.Load(ctx, awsclient.Options{S3ForcePathStyle: os.Getenv("DDBFLEET_S3_FORCE_PATH_STYLE") == "true"})
	if err != nil {
		return err
	}
	if bucket != "" {
		if _, err := clients.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
			if _, herr := clients.S3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket}); herr != nil {
				return fmt.Errorf("create bucket %s: %w", bucket, err)
			}
		}
	}
	if err := sampledata.CreateTable(ctx, clients.DynamoDB, table); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "filling %s with %d items\n", table, items)
	start := time.Now()
	// The bar redraws one line with \r: only on a terminal, not in logs.
	var bar io.Writer
	if term.IsTerminal(int(os.Stderr.Fd())) {
		bar = os.Stderr
	}
	if err := sampledata.Fill(ctx, clients.DynamoDB, table, items, payload, parallel, bar); err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(os.Stderr, "wrote %d items in %s (%.0f items/s)\n", items, el.Round(time.Millisecond), float64(items)/el.Seconds())
	return nil
}
