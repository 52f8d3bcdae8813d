package objstore_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/objstore"
)

// headerLog records the encryption and storage-class headers of every
// request that creates an object: local servers accept these headers but
// do not keep them, so the test looks at what was sent.
type headerLog struct {
	mu   sync.Mutex
	sent []string
}

func (h *headerLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		creates := r.Method == http.MethodPut && r.URL.Query().Get("partNumber") == "" ||
			r.Method == http.MethodPost && r.URL.Query().Has("uploads")
		if creates {
			h.mu.Lock()
			h.sent = append(h.sent, strings.Join([]string{
				r.URL.Path, r.Header.Get("X-Amz-Server-Side-Encryption"),
				r.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"), r.Header.Get("X-Amz-Storage-Class"),
			}, " "))
			h.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func TestPutOptionsReachEveryObjectWritten(t *testing.T) {
	log := &headerLog{}
	srv := httptest.NewServer(log.wrap(gofakes3.New(s3mem.New()).Server()))
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
	})
	ctx := context.Background()
	_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")})
	require.NoError(t, err)
	log.sent = nil // only the objects below

	base := objstore.New(client, "bkt", objstore.Options{UploadPartSize: 5 << 20, UploadConcurrency: 1})
	st := base.With(objstore.PutOptions{SSE: "aws:kms", SSEKMSKeyID: "arn:aws:kms:eu-west-1:1:key/k", StorageClass: "STANDARD_IA"})

	_, err = st.Put(ctx, "small", []byte("x"), "")
	require.NoError(t, err)
	w := st.Create(ctx, "big") // two chunks: a multipart upload
	_, err = w.Write(bytes.Repeat([]byte("y"), 6<<20))
	require.NoError(t, err)
	_, err = w.Close(context.Background())
	require.NoError(t, err)
	_, err = base.Put(ctx, "plain", []byte("x"), "")
	require.NoError(t, err)

	require.Equal(t, []string{
		"/bkt/small aws:kms arn:aws:kms:eu-west-1:1:key/k STANDARD_IA",
		"/bkt/big aws:kms arn:aws:kms:eu-west-1:1:key/k STANDARD_IA",
		"/bkt/plain   ",
	}, log.sent, "With applies to its store only")
}
