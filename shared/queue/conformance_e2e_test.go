//go:build e2e

package queue_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/awsclient"
	"github.com/ddbfleet/ddbfleet/shared/queue"
)

// TestConformanceSQS runs the queue conformance suite against the real SQS
// emulator of the local stack (scripts/stack.sh). Without the stack the
// test fails: a silently skipped seam would hide a broken emulator.
func TestConformanceSQS(t *testing.T) {
	runConformance(t, func(t *testing.T) queue.API {
		require.NotEmpty(t, os.Getenv("AWS_ENDPOINT_URL_SQS"),
			"AWS_ENDPOINT_URL_SQS is not set: run with `make test`, or `bash scripts/stack.sh up DIR && . DIR/env`")
		c, err := awsclient.Load(context.Background(), awsclient.Options{S3ForcePathStyle: true})
		require.NoError(t, err)
		return c.SQS
	})
}
