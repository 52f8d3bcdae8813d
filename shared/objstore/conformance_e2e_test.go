//go:build e2e

package objstore_test

import (
	"context"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/awsclient"
)

// TestConformanceS3 runs the object-store conformance suite against the
// real S3 gateway of the local stack (versitygw, scripts/stack.sh). Without
// the stack the test fails: a silently skipped seam would hide a broken
// server.
func TestConformanceS3(t *testing.T) {
	runConformance(t, func(t *testing.T) (*s3.Client, string) {
		require.NotEmpty(t, os.Getenv("AWS_ENDPOINT_URL_S3"),
			"AWS_ENDPOINT_URL_S3 is not set: run with `make test`, or `bash scripts/stack.sh up DIR && . DIR/env`")
		c, err := awsclient.Load(context.Background(), awsclient.Options{S3ForcePathStyle: true})
		require.NoError(t, err)
		return c.S3, createBucket(t, c.S3)
	})
}
