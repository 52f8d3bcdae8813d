package sim

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ddbfleet/ddbfleet/shared/objstore"
)

// memS3 is a bucket in memory behind objstore.API, for runs too large for
// fakes3: fakes3 is a real S3 server over HTTP and costs ~0.8 ms an
// object, ~20 s for the big run's parts. It does what the sim's S3 calls
// need (whole-object puts, head, get, batched deletes, listing by prefix in pages
// of 1000), and refuses multipart uploads, which the sim never makes.
// Scenario.FakeS3 runs on fakes3 instead, to hold the two to the same
// result.
type memS3 struct {
	mu    sync.Mutex
	objs  map[string][]byte
	calls map[string]int
}

var _ objstore.API = (*memS3)(nil)

func newMemS3() *memS3 { return &memS3{objs: map[string][]byte{}, calls: map[string]int{}} }

var errMultipart = errors.New("memS3: multipart uploads are not simulated")

func etag(b []byte) string {
	sum := md5.Sum(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func noSuchKey(key string) error { return &types.NoSuchKey{Message: aws.String("no such key: " + key)} }

func (m *memS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	body, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["PutObject"]++
	m.objs[aws.ToString(in.Key)] = body
	return &s3.PutObjectOutput{ETag: aws.String(etag(body))}, nil
}

func (m *memS3) UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	return nil, errMultipart
}

func (m *memS3) CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	return nil, errMultipart
}

func (m *memS3) CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	return nil, errMultipart
}

func (m *memS3) AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	return nil, errMultipart
}

func (m *memS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["GetObject"]++
	b, ok := m.objs[aws.ToString(in.Key)]
	if !ok {
		return nil, noSuchKey(aws.ToString(in.Key))
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(b)), ContentLength: aws.Int64(int64(len(b))), ETag: aws.String(etag(b))}, nil
}

func (m *memS3) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["HeadObject"]++
	b, ok := m.objs[aws.ToString(in.Key)]
	if !ok {
		return nil, &types.NotFound{Message: aws.String("not found")}
	}
	return &s3.HeadObjectOutput{ContentLength: aws.Int64(int64(len(b))), ETag: aws.String(etag(b))}, nil
}

func (m *memS3) DeleteObjects(_ context.Context, in *s3.DeleteObjectsInput, _ ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["DeleteObjects"]++
	for _, o := range in.Delete.Objects {
		delete(m.objs, aws.ToString(o.Key))
	}
	return &s3.DeleteObjectsOutput{}, nil
}

// ListObjectsV2 lists keys in order, 1000 a page; the continuation token
// is the last key of the page before.
func (m *memS3) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["ListObjectsV2"]++
	prefix, after := aws.ToString(in.Prefix), aws.ToString(in.ContinuationToken)
	var keys []string
	for _, k := range slices.Sorted(maps.Keys(m.objs)) {
		if strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
	}
	out := &s3.ListObjectsV2Output{IsTruncated: aws.Bool(false)}
	if len(keys) > 1000 {
		keys = keys[:1000]
		out.IsTruncated, out.NextContinuationToken = aws.Bool(true), aws.String(keys[999])
	}
	for _, k := range keys {
		b := m.objs[k]
		out.Contents = append(out.Contents, types.Object{Key: aws.String(k), Size: aws.Int64(int64(len(b))), ETag: aws.String(etag(b))})
	}
	out.KeyCount = aws.Int32(int32(len(out.Contents)))
	return out, nil
}
