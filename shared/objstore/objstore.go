// Package objstore owns the S3 side of an export: streaming part uploads
// that compute their MD5 on the way, small manifest writes, listings and
// deletes.
//
// Streaming uses feature/s3/manager rather than the newer transfermanager:
// manager's Uploader is stable, takes an io.Reader of unknown length and
// bounds memory to PartSize × (Concurrency+1); transfermanager is still
// beta. Its ETag is not an MD5 for multipart objects, so ObjectWriter hashes
// the bytes itself.
package objstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/ddbfleet/ddbfleet/shared/fault"
)

// API is the part of the S3 client the store uses (manager.Uploader needs
// the multipart calls too).
type API interface {
	manager.UploadAPIClient
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	DeleteObjects(context.Context, *s3.DeleteObjectsInput, ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
	s3.ListObjectsV2APIClient
}

var _ API = (*s3.Client)(nil)

// Options tune uploads.
type Options struct {
	// UploadPartSize is the multipart chunk size; memory per open object is
	// about UploadPartSize × (UploadConcurrency+1).
	UploadPartSize    int64
	UploadConcurrency int
	PutOptions
}

// PutOptions are set on every object a Store writes; an export chooses
// them (see Store.With).
type PutOptions struct {
	SSE          string // "" (the bucket's default), "AES256" or "aws:kms"
	SSEKMSKeyID  string // with aws:kms; "" means the account's aws/s3 key
	StorageClass string // "" means STANDARD
}

// DefaultOptions keep one open part file under ~24 MiB of buffers.
var DefaultOptions = Options{UploadPartSize: 8 << 20, UploadConcurrency: 2}

// Store is one bucket.
type Store struct {
	api    API
	bucket string
	//lint:ignore SA1019 manager is chosen over the beta transfermanager on purpose (package doc).
	up   *manager.Uploader
	opts Options
}

// New returns a Store for bucket.
func New(api API, bucket string, opts Options) *Store {
	if opts.UploadPartSize < manager.MinUploadPartSize {
		opts.UploadPartSize = DefaultOptions.UploadPartSize
	}
	if opts.UploadConcurrency < 1 {
		opts.UploadConcurrency = DefaultOptions.UploadConcurrency
	}
	//lint:ignore SA1019 manager is chosen over the beta transfermanager on purpose (package doc).
	up := manager.NewUploader(api, func(u *manager.Uploader) {
		u.PartSize = opts.UploadPartSize
		u.Concurrency = opts.UploadConcurrency
		// A failed upload must not leave a billable multipart behind.
		u.LeavePartsOnError = false
	})
	return &Store{api: api, bucket: bucket, up: up, opts: opts}
}

// With returns a Store on the same bucket and uploader that writes every
// object with p.
func (s *Store) With(p PutOptions) *Store {
	c := *s
	c.opts.PutOptions = p
	return &c
}

// StorageClasses are the S3 classes an export may write to. The SDK knows
// more (FSx, Backup, Snow), which do not apply to a bucket's objects.
// GLACIER and DEEP_ARCHIVE objects must be restored before anyone, verify
// included, can read them.
func StorageClasses() []string {
	return []string{string(types.StorageClassStandard), string(types.StorageClassStandardIa), string(types.StorageClassOnezoneIa),
		string(types.StorageClassIntelligentTiering), string(types.StorageClassGlacierIr), string(types.StorageClassGlacier),
		string(types.StorageClassDeepArchive), string(types.StorageClassReducedRedundancy), string(types.StorageClassExpressOnezone),
	}
}

// Bucket is the bucket's name.
func (s *Store) Bucket() string { return s.bucket }

// ObjectInfo describes a written object.
type ObjectInfo struct {
	Key   string
	ETag  string
	MD5   []byte
	Bytes int64
}

// MD5Base64 is the manifest's md5Checksum form.
func (o ObjectInfo) MD5Base64() string { return base64.StdEncoding.EncodeToString(o.MD5) }

// ObjectWriter streams one object. Write never holds more than the
// uploader's buffers; Close waits for the upload and returns what landed.
type ObjectWriter struct {
	key    string
	pw     *io.PipeWriter
	md5    hash.Hash
	n      int64
	done   chan struct{}
	etag   string
	err    error
	cancel context.CancelFunc
}

// Create starts streaming an object to key.
func (s *Store) Create(ctx context.Context, key string) *ObjectWriter {
	// The upload outlives the caller's context on purpose: when the caller
	// gives up, Abort closes the pipe and the uploader must still be able
	// to send AbortMultipartUpload, or the parts stay (and are billed).
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	pr, pw := io.Pipe()
	w := &ObjectWriter{key: key, pw: pw, md5: md5.New(), done: make(chan struct{}), cancel: cancel}
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: pr}
	s.applyPutOptions(in)
	go func() {
		defer close(w.done)
		//lint:ignore SA1019 manager is chosen over the beta transfermanager on purpose (package doc).
		out, err := s.up.Upload(ctx, in)
		if err != nil {
			w.err = fmt.Errorf("upload s3://%s/%s: %w", s.bucket, key, err)
			pr.CloseWithError(w.err)
			return
		}
		w.etag = aws.ToString(out.ETag)
	}()
	return w
}

func (s *Store) applyPutOptions(in *s3.PutObjectInput) {
	if s.opts.SSE != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(s.opts.SSE)
	}
	if s.opts.SSEKMSKeyID != "" {
		in.SSEKMSKeyId = &s.opts.SSEKMSKeyID
	}
	if s.opts.StorageClass != "" {
		in.StorageClass = types.StorageClass(s.opts.StorageClass)
	}
}

// Write implements io.Writer.
func (w *ObjectWriter) Write(p []byte) (int, error) {
	n, err := w.pw.Write(p)
	w.md5.Write(p[:n])
	w.n += int64(n)
	return n, err
}

// Written is the number of bytes written so far.
func (w *ObjectWriter) Written() int64 { return w.n }

// Close finishes the upload and reports the object. If ctx ends first,
// the upload is cut off where it is, so nothing of it lands after the
// caller's deadline (a worker past its lease): parts already sent are left
// for the bucket's AbortIncompleteMultipartUpload rule, since the abort
// itself would be a request after the deadline.
func (w *ObjectWriter) Close(ctx context.Context) (ObjectInfo, error) {
	if ctx.Err() != nil {
		// Past the caller's deadline already: nothing more may be sent.
		w.cancel()
		w.pw.CloseWithError(context.Cause(ctx))
		<-w.done
		return ObjectInfo{}, fmt.Errorf("upload of %s cut off: %w", w.key, context.Cause(ctx))
	}
	w.pw.Close()
	select {
	case <-w.done:
	case <-ctx.Done():
		w.cancel()
		<-w.done
		if w.err != nil {
			return ObjectInfo{}, fmt.Errorf("upload of %s cut off: %w", w.key, context.Cause(ctx))
		}
	}
	w.cancel()
	if w.err != nil {
		return ObjectInfo{}, w.err
	}
	return ObjectInfo{Key: w.key, ETag: strings.Trim(w.etag, `"`), MD5: w.md5.Sum(nil), Bytes: w.n}, nil
}

// Abort stops the upload; nothing is left behind. It waits for the
// uploader to abort the multipart upload before releasing its context.
func (w *ObjectWriter) Abort() {
	w.pw.CloseWithError(errors.New("upload aborted"))
	<-w.done
	w.cancel()
}

// Put writes a small object whole, with Content-MD5 so S3 rejects a
// corrupted body.
func (s *Store) Put(ctx context.Context, key string, body []byte, contentType string) (ObjectInfo, error) {
	sum := md5.Sum(body)
	in := &s3.PutObjectInput{
		Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(body), // no copy: a manifest of 100,000 parts is 18 MB
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	}
	if contentType != "" {
		in.ContentType = &contentType
	}
	s.applyPutOptions(in)
	out, err := s.api.PutObject(ctx, in)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put s3://%s/%s: %w", s.bucket, key, err)
	}
	return ObjectInfo{Key: key, ETag: strings.Trim(aws.ToString(out.ETag), `"`), MD5: sum[:], Bytes: int64(len(body))}, nil
}

// Get opens an object for reading.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := s.api.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", s.bucket, key, err)
	}
	return out.Body, nil
}

// Open opens an object for reading and returns its ETag. With ifMatch
// set, S3 refuses (412, a permanent error) an object whose ETag is not
// ifMatch: it changed since it was looked at.
func (s *Store) Open(ctx context.Context, key, ifMatch string) (io.ReadCloser, string, error) {
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}
	if ifMatch != "" {
		in.IfMatch = &ifMatch
	}
	out, err := s.api.GetObject(ctx, in)
	if err != nil {
		var ae smithy.APIError
		if ifMatch != "" && errors.As(err, &ae) && ae.ErrorCode() == "PreconditionFailed" {
			return nil, "", fault.Permanent(fmt.Errorf("s3://%s/%s changed since it was verified (ETag is no longer %s): %w", s.bucket, key, ifMatch, err))
		}
		return nil, "", fmt.Errorf("get s3://%s/%s: %w", s.bucket, key, err)
	}
	return out.Body, aws.ToString(out.ETag), nil
}

// Exists reports whether key exists.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	_, err := s.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err == nil {
		return true, nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "NotFound" || ae.ErrorCode() == "NoSuchKey") {
		return false, nil
	}
	return false, fmt.Errorf("head s3://%s/%s: %w", s.bucket, key, err)
}

// Object is a listing entry.
type Object struct {
	Key  string
	Size int64
	ETag string
}

// List returns every object under prefix.
func (s *Store) List(ctx context.Context, prefix string) ([]Object, error) {
	var objs []Object
	if err := s.Walk(ctx, prefix, func(o Object) { objs = append(objs, o) }); err != nil {
		return nil, err
	}
	return objs, nil
}

// Reach checks that the bucket exists and that prefix may be listed, with
// one listing of at most one key. It asks for no more than the fleet's
// other calls need: HeadBucket would do the same, but S3 authorises it as
// a ListBucket naming no prefix, a listing of the whole bucket that a
// role confined to the export prefix must not have.
func (s *Store) Reach(ctx context.Context, prefix string) error {
	_, err := s.api.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix, MaxKeys: aws.Int32(1)})
	if err != nil {
		return fmt.Errorf("list s3://%s/%s: %w", s.bucket, prefix, err)
	}
	return nil
}

// Walk calls each with every object under prefix, in key order, one
// listing page (1,000 objects) at a time: a caller that keeps little of
// each object holds no more than a page of them, however many there are.
func (s *Store) Walk(ctx context.Context, prefix string, each func(Object)) error {
	p := s3.NewListObjectsV2Paginator(s.api, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", s.bucket, prefix, err)
		}
		for _, o := range page.Contents {
			each(Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ETag: strings.Trim(aws.ToString(o.ETag), `"`)})
		}
	}
	return nil
}

// deleteBatch is the most keys one DeleteObjects request may name.
const deleteBatch = 1000

// Delete removes keys, up to 1,000 a request (an export's orphans or a
// cancelled export's files can be tens of thousands); a missing key is
// not an error. The SDK's retryer retries a request that fails whole. A
// key S3 refuses inside an answer (its Errors list) does not stop the
// other batches: Delete removes all it can, then fails naming the first
// refused key, with S3's code as the error's API code so that
// fault.Classify tells a refusal from a passing fault.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	var refused []types.Error
	for start := 0; start < len(keys); start += deleteBatch {
		batch := keys[start:min(start+deleteBatch, len(keys))]
		objs := make([]types.ObjectIdentifier, len(batch))
		for i, k := range batch {
			objs[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		// Quiet: the answer lists only the keys that were not deleted.
		out, err := s.api.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: &s.bucket, Delete: &types.Delete{Objects: objs, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("delete %d objects from s3://%s/ (the first %s): %w", len(batch), s.bucket, batch[0], err)
		}
		refused = append(refused, out.Errors...)
	}
	if len(refused) == 0 {
		return nil
	}
	first := refused[0]
	return fmt.Errorf("delete s3://%s/%s (%d keys not deleted): %w", s.bucket, aws.ToString(first.Key), len(refused),
		&smithy.GenericAPIError{Code: aws.ToString(first.Code), Message: aws.ToString(first.Message)})
}

// HexMD5 is the form of the .checksum files.
func HexMD5(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}
