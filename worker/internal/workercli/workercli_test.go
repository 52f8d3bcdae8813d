package workercli

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"

	"github.com/ddbfleet/ddbfleet/shared/fleetcli"
)

var errParsed = errors.New("parsed")

// parseOnly runs the real command line with `run`'s action replaced by
// parseRun, so what it refuses exits as the binary would and nothing
// reaches AWS.
func parseOnly(t *testing.T, args ...string) (runConfig, int, string) {
	t.Helper()
	app := App()
	var rc runConfig
	app.Commands[0].Action = func(c *cli.Context) (err error) {
		if rc, err = parseRun(c); err != nil {
			return err
		}
		return errParsed
	}
	var stderr bytes.Buffer
	code := fleetcli.Run(app, append([]string{"worker", "run"}, args...), &stderr)
	return rc, code, stderr.String()
}

func TestRunRefusesOutOfBoundsFlags(t *testing.T) {
	for _, tc := range []struct {
		flag string
		bad  []string
	}{
		{"--concurrency", []string{"0", "-1", "257"}},
		{"--exit-when-idle", []string{"-1s", "24h0m1s", "100000h"}},
		{"--drain-timeout", []string{"0s", "999ms", "2h0m1s"}},
		{"--lease-duration", []string{"2s", "12h0m1s"}},
		// 2^31 wraps the int32 Scan Limit negative.
		{"--scan-page-size", []string{"0", "-1", "100001", "2147483648"}},
		{"--compression-level", []string{"0", "10"}},
		{"--upload-part-size-mib", []string{"4", "5121", "9223372036854775807"}},
		{"--upload-concurrency", []string{"0", "65", "10000000"}},
		{"--retry-budget", []string{"0s", "999ms", "24h0m1s"}},
	} {
		for _, v := range tc.bad {
			_, code, stderr := parseOnly(t, tc.flag, v)
			require.Equal(t, 2, code, "%s %s: %s", tc.flag, v, stderr)
			require.Contains(t, stderr, tc.flag, v)
			require.Contains(t, stderr, "want", v)
			require.NotContains(t, stderr, "goroutine")
		}
	}
}

func TestRunAcceptsEdgeValues(t *testing.T) {
	for _, args := range [][]string{
		{"--concurrency", "1"}, {"--concurrency", "256"},
		{"--exit-when-idle", "0s"}, {"--exit-when-idle", "24h"},
		{"--drain-timeout", "1s"}, {"--drain-timeout", "2h"},
		{"--lease-duration", "3s"}, {"--lease-duration", "12h"},
		{"--scan-page-size", "1"}, {"--scan-page-size", "100000"},
		{"--upload-part-size-mib", "5"}, {"--upload-part-size-mib", "5120"},
		{"--upload-concurrency", "1"}, {"--upload-concurrency", "64"},
		{"--retry-budget", "1s"}, {"--retry-budget", "24h"},
	} {
		_, code, stderr := parseOnly(t, args...)
		require.Equal(t, 1, code, "%v: %s", args, stderr)
		require.Contains(t, stderr, errParsed.Error(), args)
	}
	rc, _, _ := parseOnly(t, "--upload-part-size-mib", "5120", "--upload-concurrency", "64", "--retry-budget", "24h", "--scan-page-size", "100000")
	require.Equal(t, int64(5)<<30, rc.objects.UploadPartSize)
	require.Equal(t, 64, rc.objects.UploadConcurrency)
	require.Equal(t, 24*time.Hour, rc.retry.MaxElapsed)
	require.Equal(t, 100000, rc.pageSize)
}

func TestRunBoundsApplyToEnvironmentToo(t *testing.T) {
	t.Setenv("DDBFLEET_UPLOAD_CONCURRENCY", "10000000")
	_, code, stderr := parseOnly(t)
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "--upload-concurrency 10000000: want 1 to 64")
}

// TestWholeAppRefusesBeforeAWS runs the real action: the refusal must come
// before the first AWS call (the endpoint points nowhere).
func TestWholeAppRefusesBeforeAWS(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "x")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, args := range [][]string{
		{"--scan-page-size", "2147483648"},
		{"--upload-part-size-mib", "5121"},
		{"--exit-when-idle", "1000h"},
	} {
		var stderr bytes.Buffer
		start := time.Now()
		code := fleetcli.Run(App(), append([]string{"worker", "run"}, args...), &stderr)
		require.Equal(t, 2, code, "%v: %s", args, stderr.String())
		require.Contains(t, stderr.String(), args[0])
		require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr.String()), "\n")+1, stderr.String())
		require.Less(t, time.Since(start), 5*time.Second)
	}
}
