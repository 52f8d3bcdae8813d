package objstore_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ddbfleet/ddbfleet/shared/objstore"
)

// discardS3 accepts uploads and throws the bytes away, so the benchmarks
// price objstore's own path (pipe, MD5, the manager's part buffers and
// goroutines), not a server. Only the calls an upload makes are real.
type discardS3 struct {
	objstore.API // unused calls panic
	bytes        atomic.Int64
}

var _ objstore.API = (*discardS3)(nil)

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
	return &s3.UploadPartOutput{ETag: aws.String(fmt.Sprintf(`"p%d"`, aws.ToInt32(in.PartNumber)))}, d.drain(in.Body)
}

func (d *discardS3) CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	return &s3.CompleteMultipartUploadOutput{ETag: aws.String(`"e-3"`)}, nil
}

func (d *discardS3) AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	return &s3.AbortMultipartUploadOutput{}, nil
}

// BenchmarkStreamUpload streams a 64 MiB object in the 32 KiB writes gzip
// makes, with the worker's default part size and concurrency and with
// more concurrency, reporting throughput and allocations per object.
func BenchmarkStreamUpload(b *testing.B) {
	const object = 64 << 20
	chunk := make([]byte, 32<<10)
	for i := range chunk {
		chunk[i] = byte(rand.IntN(256)) // compressed data is incompressible
	}
	for _, opts := range []objstore.Options{
		{UploadPartSize: 8 << 20, UploadConcurrency: 2}, // worker default
		{UploadPartSize: 8 << 20, UploadConcurrency: 4},
		{UploadPartSize: 16 << 20, UploadConcurrency: 2},
	} {
		b.Run(fmt.Sprintf("part%dMiB_conc%d", opts.UploadPartSize>>20, opts.UploadConcurrency), func(b *testing.B) {
			api := &discardS3{}
			store := objstore.New(api, "bench", opts)
			b.SetBytes(object)
			b.ReportAllocs()
			for b.Loop() {
				w := store.Create(context.Background(), "k")
				for n := 0; n < object; n += len(chunk) {
					if _, err := w.Write(chunk); err != nil {
						b.Fatal(err)
					}
				}
				info, err := w.Close(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if info.Bytes != object {
					b.Fatalf("wrote %d bytes, want %d", info.Bytes, object)
				}
			}
		})
	}
}
