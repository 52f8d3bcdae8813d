package objstore_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
)

// TestConformanceGofakes3 runs the suite against gofakes3 in process: an
// S3 that accepts the SDK's multipart uploads, with no server to start.
func TestConformanceGofakes3(t *testing.T) {
	runConformance(t, newGofakes3)
}

// newGofakes3 starts an in-memory S3 for one test and returns a client for
// it and a fresh bucket.
func newGofakes3(t *testing.T) (*s3.Client, string) {
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("k", "s", ""),
	})
	return client, createBucket(t, client)
}

var bucketSeq atomic.Int64

// createBucket makes a bucket of its own for one test, so runs against a
// shared server never see each other's objects.
func createBucket(t *testing.T, client *s3.Client) string {
	t.Helper()
	name := fmt.Sprintf("conf-%d-%d", time.Now().UnixNano()%1_000_000_000, bucketSeq.Add(1))
	_, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &name})
	require.NoError(t, err)
	return name
}

// randomBytes is incompressible test data, like the gzip the worker writes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

func readAll(t *testing.T, st *objstore.Store, key string) []byte {
	t.Helper()
	r, err := st.Get(context.Background(), key)
	require.NoError(t, err)
	defer r.Close()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return b
}

// runConformance checks that an S3 implementation behaves as
// objstore.Store needs it to. newTarget returns a client and an empty
// bucket of the test's own.
func runConformance(t *testing.T, newTarget func(t *testing.T) (*s3.Client, string)) {
	// The smallest part S3 allows keeps the multipart case fast while still
	// needing several parts.
	opts := objstore.Options{UploadPartSize: 5 << 20, UploadConcurrency: 2}

	t.Run("StreamMultipartObject", func(t *testing.T) {
		client, bucket := newTarget(t)
		st := objstore.New(client, bucket, opts)
		require.Equal(t, bucket, st.Bucket())
		ctx := context.Background()
		data := randomBytes(11<<20 + 12345) // three parts, the last one short
		w := st.Create(ctx, "data/big.json.gz")
		// The worker writes what gzip hands it: small, uneven chunks.
		for off := 0; off < len(data); {
			n := min(len(data)-off, 32<<10+off%977)
			k, err := w.Write(data[off : off+n])
			require.NoError(t, err)
			require.Equal(t, n, k)
			off += n
		}
		require.EqualValues(t, len(data), w.Written())
		info, err := w.Close(ctx)
		require.NoError(t, err)
		want := md5.Sum(data)
		require.Equal(t, "data/big.json.gz", info.Key)
		require.Equal(t, want[:], info.MD5, "MD5 computed on the way matches the bytes")
		require.Equal(t, base64.StdEncoding.EncodeToString(want[:]), info.MD5Base64())
		require.EqualValues(t, len(data), info.Bytes)
		require.NotEmpty(t, info.ETag)
		require.NotContains(t, info.ETag, `"`, "ETag is unquoted")

		got := readAll(t, st, "data/big.json.gz")
		require.Equal(t, len(data), len(got))
		gotSum := md5.Sum(got)
		require.Equal(t, want, gotSum, "the stored bytes are the written bytes")
		objs, err := st.List(ctx, "data/")
		require.NoError(t, err)
		require.Len(t, objs, 1)
		require.EqualValues(t, len(data), objs[0].Size)
		// The listing's ETag is not compared with Close's: gofakes3 lists a
		// multipart object under a different ETag than its completion
		// returned, and nothing in the fleet compares the two.
		require.NotEmpty(t, objs[0].ETag)
	})

	t.Run("StreamSmallObject", func(t *testing.T) {
		client, bucket := newTarget(t)
		st := objstore.New(client, bucket, opts)
		data := []byte(`{"Item":{"pk":{"S":"a"}}}` + "\n")
		w := st.Create(context.Background(), "small")
		_, err := w.Write(data)
		require.NoError(t, err)
		info, err := w.Close(context.Background())
		require.NoError(t, err)
		want := md5.Sum(data)
		require.Equal(t, want[:], info.MD5)
		require.Equal(t, hex.EncodeToString(want[:]), info.ETag, "a single-part upload's ETag is its MD5")
		require.Equal(t, data, readAll(t, st, "small"))
	})

	t.Run("AbortLeavesNothing", func(t *testing.T) {
		client, bucket := newTarget(t)
		st := objstore.New(client, bucket, opts)
		ctx := context.Background()
		w := st.Create(ctx, "data/aborted")
		// More than one part, so a multipart upload has really started.
		_, err := w.Write(randomBytes(6 << 20))
		require.NoError(t, err)
		w.Abort()
		ok, err := st.Exists(ctx, "data/aborted")
		require.NoError(t, err)
		require.False(t, ok, "an aborted object does not exist")
		objs, err := st.List(ctx, "")
		require.NoError(t, err)
		require.Empty(t, objs)
		requireNoMultipart(t, client, bucket)

		// A caller whose context already ended (a worker abandoning its
		// attempt) still gets its multipart upload aborted.
		cctx, cancel := context.WithCancel(ctx)
		w = st.Create(cctx, "data/cancelled")
		_, err = w.Write(randomBytes(6 << 20))
		require.NoError(t, err)
		cancel()
		w.Abort()
		requireNoMultipart(t, client, bucket)

		// Aborting before any byte was written is just as clean.
		st.Create(ctx, "data/never").Abort()
		ok, err = st.Exists(ctx, "data/never")
		require.NoError(t, err)
		require.False(t, ok)
	})

	t.Run("CloseAfterTheDeadlineLandsNothing", func(t *testing.T) {
		client, bucket := newTarget(t)
		st := objstore.New(client, bucket, opts)
		ctx := context.Background()
		for _, size := range []int{100, 6 << 20} { // one request, and a multipart upload
			key := fmt.Sprintf("data/late-%d", size)
			cctx, cancel := context.WithCancelCause(ctx)
			w := st.Create(cctx, key)
			_, err := w.Write(randomBytes(size))
			require.NoError(t, err)
			deadline := errors.New("lease deadline")
			cancel(deadline) // the worker's lease ran out while it wrote
			_, err = w.Close(cctx)
			require.ErrorIs(t, err, deadline)
			ok, err := st.Exists(ctx, key)
			require.NoError(t, err)
			require.False(t, ok, "a %d-byte object finished past the deadline does not land", size)
		}
	})

	t.Run("PutWithContentMD5", func(t *testing.T) {
		client, bucket := newTarget(t)
		st := objstore.New(client, bucket, opts)
		ctx := context.Background()
		body := []byte(`{"manifestFilesS3Key":"x"}`)
		info, err := st.Put(ctx, "root/manifest-summary.json", body, "application/json")
		require.NoError(t, err)
		want := md5.Sum(body)
		require.Equal(t, want[:], info.MD5)
		require.Equal(t, hex.EncodeToString(want[:]), info.ETag)
		require.EqualValues(t, len(body), info.Bytes)
		require.Equal(t, body, readAll(t, st, "root/manifest-summary.json"))
		head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("root/manifest-summary.json")})
		require.NoError(t, err)
		require.Equal(t, "application/json", aws.ToString(head.ContentType))

		// Put relies on the server refusing a body whose Content-MD5 does
		// not match; prove this server does.
		wrong := md5.Sum([]byte("something else"))
		_, err = client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &bucket, Key: aws.String("root/corrupt"), Body: bytes.NewReader(body),
			ContentMD5: aws.String(base64.StdEncoding.EncodeToString(wrong[:])),
		})
		require.Error(t, err, "a mismatched Content-MD5 is rejected")
		ok, err := st.Exists(ctx, "root/corrupt")
		require.NoError(t, err)
		require.False(t, ok)

		// Overwriting a key replaces it (retries rewrite the same key).
		body2 := []byte(`{"manifestFilesS3Key":"y"}`)
		_, err = st.Put(ctx, "root/manifest-summary.json", body2, "")
		require.NoError(t, err)
		require.Equal(t, body2, readAll(t, st, "root/manifest-summary.json"))
	})

	t.Run("GetAndExistsOfMissingKey", func(t *testing.T) {
		client, bucket := newTarget(t)
		st := objstore.New(client, bucket, opts)
		ctx := context.Background()
		ok, err := st.Exists(ctx, "nope")
		require.NoError(t, err, "a missing key is not an error for Exists")
		require.False(t, ok)
		_, err = st.Get(ctx, "nope")
		require.Error(t, err)
		require.Contains(t, err.Error(), "s3://"+bucket+"/nope", "the error names the object")

		_, err = st.Put(ctx, "yes", []byte("1"), "")
		require.NoError(t, err)
		ok, err = st.Exists(ctx, "yes")
		require.NoError(t, err)
		require.True(t, ok)
	})

	t.Run("ListPrefixAcrossPages", func(t *testing.T) {
		client, bucket := newTarget(t)
		st := objstore.New(client, bucket, opts)
		ctx := context.Background()
		// 1100 keys: more than one ListObjectsV2 page of 1000.
		const n = 1100
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(16)
		for i := range n {
			g.Go(func() error {
				_, err := st.Put(gctx, fmt.Sprintf("exp/data/s%06d.json.gz", i), []byte{byte(i)}, "")
				return err
			})
		}
		for _, k := range []string{"exp/manifest-files.json", "exp/data-not/x", "other/data/s000000.json.gz"} {
			g.Go(func() error { _, err := st.Put(gctx, k, []byte("x"), ""); return err })
		}
		require.NoError(t, g.Wait())

		objs, err := st.List(ctx, "exp/data/")
		require.NoError(t, err)
		require.Len(t, objs, n, "every page is read")
		keys := make([]string, len(objs))
		for i, o := range objs {
			keys[i] = o.Key
			require.True(t, strings.HasPrefix(o.Key, "exp/data/"), o.Key)
			require.EqualValues(t, 1, o.Size)
		}
		require.True(t, sort.StringsAreSorted(keys), "keys come back in order")
		require.Equal(t, "exp/data/s000000.json.gz", keys[0])
		require.Equal(t, fmt.Sprintf("exp/data/s%06d.json.gz", n-1), keys[n-1])

		all, err := st.List(ctx, "exp/")
		require.NoError(t, err)
		require.Len(t, all, n+2)
		none, err := st.List(ctx, "missing/")
		require.NoError(t, err)
		require.Empty(t, none)
	})

	t.Run("DeleteIsIdempotent", func(t *testing.T) {
		client, bucket := newTarget(t)
		st := objstore.New(client, bucket, opts)
		ctx := context.Background()
		for _, k := range []string{"a", "b", "c"} {
			_, err := st.Put(ctx, k, []byte(k), "")
			require.NoError(t, err)
		}
		require.NoError(t, st.Delete(ctx, "a", "missing", "b"), "a missing key is not an error")
		require.NoError(t, st.Delete(ctx, "a"), "deleting twice is fine")
		require.NoError(t, st.Delete(ctx), "nothing to delete")
		objs, err := st.List(ctx, "")
		require.NoError(t, err)
		require.Len(t, objs, 1)
		require.Equal(t, "c", objs[0].Key)
	})

	t.Run("DeleteMoreKeysThanOneRequestTakes", func(t *testing.T) {
		client, bucket := newTarget(t)
		st := objstore.New(client, bucket, opts)
		ctx := context.Background()
		// 2100 keys: three DeleteObjects requests, the last one short.
		keys := make([]string, 2100)
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(16)
		for i := range keys {
			keys[i] = fmt.Sprintf("exp/data/s%06d.json.gz", i)
			g.Go(func() error { _, err := st.Put(gctx, keys[i], []byte{1}, ""); return err })
		}
		g.Go(func() error { _, err := st.Put(gctx, "exp/manifest-files.json", []byte("x"), ""); return err })
		require.NoError(t, g.Wait())
		require.NoError(t, st.Delete(ctx, append(keys, "exp/data/missing")...))
		objs, err := st.List(ctx, "exp/")
		require.NoError(t, err)
		require.Len(t, objs, 1, "every key named is deleted, and nothing else")
		require.Equal(t, "exp/manifest-files.json", objs[0].Key)
	})

	t.Run("ReachAnExistingBucketOnly", func(t *testing.T) {
		client, bucket := newTarget(t)
		ctx := context.Background()
		st := objstore.New(client, bucket, opts)
		require.NoError(t, st.Reach(ctx, "exports/t/AWSDynamoDB/e1/"), "an empty prefix of an existing bucket is reachable")
		for i := range 3 {
			_, err := st.Put(ctx, fmt.Sprintf("exports/t/AWSDynamoDB/e1/data/%d", i), []byte("x"), "")
			require.NoError(t, err)
		}
		require.NoError(t, st.Reach(ctx, "exports/t/AWSDynamoDB/e1/"))
		err := objstore.New(client, bucket+"-missing", opts).Reach(ctx, "exports/")
		require.Error(t, err)
		require.Equal(t, fault.KindPermanent, fault.Classify(err), "a missing bucket is not worth retrying: %v", err)
		require.Contains(t, err.Error(), bucket+"-missing")
	})
}

// requireNoMultipart fails if an unfinished multipart upload is left in
// bucket: those are billed until aborted.
func requireNoMultipart(t *testing.T, client *s3.Client, bucket string) {
	t.Helper()
	out, err := client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &bucket})
	require.NoError(t, err)
	require.Empty(t, out.Uploads, "no multipart upload is left behind")
}
