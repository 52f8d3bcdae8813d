package coordcli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/awsclient"
	"github.com/ddbfleet/ddbfleet/shared/fault"
)

// onlyPrefixedListings answers bucket-level requests the way S3 does for
// the stack's coordinator role: a listing is allowed only when it names a
// prefix under exports/ (HeadBucket is a listing that names none).
func onlyPrefixedListings(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bucketLevel := strings.Count(strings.Trim(r.URL.Path, "/"), "/") == 0
		listing := r.Method == http.MethodHead || (r.Method == http.MethodGet && !r.URL.Query().Has("location"))
		if bucketLevel && listing && !strings.HasPrefix(r.URL.Query().Get("prefix"), "exports/") {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func TestCheckBucketNeedsOnlyAListingOfTheJobsPrefix(t *testing.T) {
	srv := httptest.NewServer(onlyPrefixedListings(gofakes3.New(s3mem.New()).Server()))
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
	})
	ctx := context.Background()
	_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")})
	require.NoError(t, err)
	e := &env{clients: &awsclient.Clients{S3: client}}

	require.NoError(t, e.checkBucket(ctx, "bkt", "exports/orders/AWSDynamoDB/e1/"))

	err = e.checkBucket(ctx, "bkt", "elsewhere/AWSDynamoDB/e1/")
	require.True(t, fault.IsInvalid(err), "a prefix the role may not list is refused before anything is written: %v", err)
	require.Contains(t, err.Error(), `"elsewhere/AWSDynamoDB/e1/"`)

	err = e.checkBucket(ctx, "no-such-bucket", "exports/orders/AWSDynamoDB/e1/")
	require.True(t, fault.IsInvalid(err), "%v", err)
	require.Contains(t, err.Error(), "no-such-bucket")
}
