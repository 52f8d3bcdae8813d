// Package fakes3 starts an in-process S3 (gofakes3) for unit tests: it
// accepts the SDK's multipart uploads and DeleteObjects, so the real
// objstore code runs against it with no server to start. A test can also
// write objects straight into it (tens of thousands in a blink) and run a
// function before each request it serves (to make something happen at a
// precise point of the code under test).
package fakes3

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// bucketSeq names buckets uniquely within one test binary.
var bucketSeq atomic.Int64

// Server is one in-process S3 holding one bucket.
type Server struct {
	Client *s3.Client
	Bucket string

	backend *s3mem.Backend
	mu      sync.Mutex
	before  func(*http.Request)
}

// New starts an S3 for one test and returns a client for it and an empty
// bucket. The server stops when the test ends.
func New(t testing.TB) (*s3.Client, string) {
	t.Helper()
	s := Start(t)
	return s.Client, s.Bucket
}

// Start is New, returning the server itself.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{backend: s3mem.New()}
	fake := gofakes3.New(s.backend).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		before := s.before
		s.mu.Unlock()
		if before != nil {
			before(r)
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.Client = s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("k", "s", ""),
	})
	s.Bucket = fmt.Sprintf("unit-%d", bucketSeq.Add(1))
	if _, err := s.Client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &s.Bucket}); err != nil {
		t.Fatalf("create bucket %s: %v", s.Bucket, err)
	}
	return s
}

// Seed writes an object into the bucket directly, with no request: for
// tests that need far more objects than they could upload in time, or an
// object to appear from inside a Before function.
func (s *Server) Seed(key string, body []byte) error {
	_, err := s.backend.PutObject(s.Bucket, key, map[string]string{}, bytes.NewReader(body), int64(len(body)), nil)
	return err
}

// Before sets a function the server calls with each request before it
// serves it (nil: none). It runs on the server's goroutine for that
// request, so the client waits for it.
func (s *Server) Before(f func(*http.Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.before = f
}
