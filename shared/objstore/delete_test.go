package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/ddbfleet/ddbfleet/internal/testkit/fakes3"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
)

// deleteSpy passes every call to an in-process S3 and records the keys of
// each DeleteObjects request; refuse names keys it answers with a per-key
// error (as S3 does for a key it may not delete) instead of deleting.
type deleteSpy struct {
	*s3.Client
	refuse map[string]string // key → error code

	mu       sync.Mutex
	requests [][]string
	single   int
}

func (d *deleteSpy) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, o ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	d.mu.Lock()
	d.single++
	d.mu.Unlock()
	return d.Client.DeleteObject(ctx, in, o...)
}

func (d *deleteSpy) DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, o ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	var keys []string
	var pass []types.ObjectIdentifier
	var refused []types.Error
	for _, obj := range in.Delete.Objects {
		k := aws.ToString(obj.Key)
		keys = append(keys, k)
		if code, ok := d.refuse[k]; ok {
			refused = append(refused, types.Error{Key: obj.Key, Code: aws.String(code), Message: aws.String("refused by the test")})
			continue
		}
		pass = append(pass, obj)
	}
	d.mu.Lock()
	d.requests = append(d.requests, keys)
	d.mu.Unlock()
	out := &s3.DeleteObjectsOutput{}
	if len(pass) > 0 {
		c := *in
		c.Delete = &types.Delete{Objects: pass, Quiet: in.Delete.Quiet}
		var err error
		if out, err = d.Client.DeleteObjects(ctx, &c, o...); err != nil {
			return nil, err
		}
	}
	out.Errors = append(out.Errors, refused...)
	return out, nil
}

// seed writes n one-byte objects under exp/data/ and returns their keys.
func seed(t *testing.T, st *objstore.Store, n int) []string {
	t.Helper()
	keys := make([]string, n)
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(16)
	for i := range keys {
		keys[i] = fmt.Sprintf("exp/data/s%06d.json.gz", i)
		g.Go(func() error { _, err := st.Put(ctx, keys[i], []byte("x"), ""); return err })
	}
	require.NoError(t, g.Wait())
	return keys
}

// Deleting the files of a large export (a cancel, a finalizer's orphans)
// is one request per 1,000 keys, the most DeleteObjects takes, not one
// per key.
func TestDeleteBatchesAThousandKeysARequest(t *testing.T) {
	client, bucket := fakes3.New(t)
	spy := &deleteSpy{Client: client}
	st := objstore.New(spy, bucket, objstore.DefaultOptions)
	keys := seed(t, st, 2500)
	require.NoError(t, st.Delete(context.Background(), append(keys, "exp/data/missing")...))

	require.Zero(t, spy.single, "no key is deleted on its own")
	require.Len(t, spy.requests, 3)
	require.Len(t, spy.requests[0], 1000)
	require.Len(t, spy.requests[1], 1000)
	require.Len(t, spy.requests[2], 501)
	left, err := st.List(context.Background(), "exp/")
	require.NoError(t, err)
	require.Empty(t, left)
}

// A key S3 refuses inside a DeleteObjects answer (the request itself
// succeeded) fails the call, naming that key and S3's code, and the
// error is classified by that code; every other key, in this batch and
// the next, is still deleted.
func TestDeleteReportsTheFirstKeyS3Refused(t *testing.T) {
	client, bucket := fakes3.New(t)
	st0 := objstore.New(client, bucket, objstore.DefaultOptions)
	keys := seed(t, st0, 1200)
	spy := &deleteSpy{Client: client, refuse: map[string]string{keys[7]: "AccessDenied", keys[9]: "InternalError", keys[1100]: "AccessDenied"}}
	st := objstore.New(spy, bucket, objstore.DefaultOptions)

	err := st.Delete(context.Background(), keys...)
	require.Error(t, err)
	require.ErrorContains(t, err, "s3://"+bucket+"/"+keys[7])
	require.ErrorContains(t, err, "AccessDenied")
	require.ErrorContains(t, err, "3 keys")
	var ae smithy.APIError
	require.True(t, errors.As(err, &ae))
	require.Equal(t, "AccessDenied", ae.ErrorCode())
	require.Equal(t, fault.KindPermanent, fault.Classify(err))
	require.Len(t, spy.requests, 2, "the batch after a refusal is still sent")
	left, lerr := st.List(context.Background(), "exp/")
	require.NoError(t, lerr)
	require.Len(t, left, 3, "only the refused keys are left")

	spy.refuse = map[string]string{keys[7]: "InternalError"}
	err = st.Delete(context.Background(), keys[7])
	require.Equal(t, fault.KindRetryable, fault.Classify(err), "a server fault on one key is worth retrying")
}
