package coordcli

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"

	"github.com/ddbfleet/ddbfleet/shared/fleetcli"
)

// errParsed stands in for the AWS calls that follow a successful parse.
var errParsed = errors.New("parsed")

// parseOnly runs the real command line, flags and all, with the named
// command's action replaced by parse: what parse refuses exits as the
// binary would, and nothing reaches AWS.
func parseOnly(t *testing.T, command string, parse func(*cli.Context) error, args ...string) (code int, stderr string) {
	t.Helper()
	app := App()
	app.Writer = io.Discard
	found := false
	for _, cmd := range app.Commands {
		if cmd.Name == command {
			cmd.Action = func(c *cli.Context) error {
				if err := parse(c); err != nil {
					return err
				}
				return errParsed
			}
			found = true
		}
	}
	require.True(t, found, command)
	var buf bytes.Buffer
	code = fleetcli.Run(app, append([]string{"coordinator", command}, args...), &buf)
	return code, buf.String()
}

// requireRefused checks the contract for bad input: exit 2, one line
// naming the flag, no stack trace.
func requireRefused(t *testing.T, code int, stderr, flag string, args []string) {
	t.Helper()
	require.Equal(t, 2, code, "%v: %s", args, stderr)
	// urfave/cli names a flag it cannot parse with one dash.
	require.Contains(t, stderr, strings.TrimPrefix(flag, "-"), args)
	require.NotContains(t, stderr, "goroutine", args)
	require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %q", stderr)
}

func exportArgsOf(t *testing.T, args ...string) (exportArgs, int, string) {
	t.Helper()
	var a exportArgs
	code, stderr := parseOnly(t, "export", func(c *cli.Context) (err error) {
		a, err = parseExportArgs(c)
		return err
	}, append([]string{"--table", "orders", "--bucket", "b"}, args...)...)
	return a, code, stderr
}

func TestExportRefusesOutOfBoundsFlags(t *testing.T) {
	long := strings.Repeat("p", 842) // one byte over the room a 100-byte id leaves
	for _, tc := range []struct {
		flag string
		bad  []string
	}{
		{"--read-capacity-cap", []string{"NaN", "nan", "+Inf", "-Inf", "1e309", "-1", "10000000.5", "1e12"}},
		{"--read-capacity-fraction", []string{"NaN", "Inf", "0", "-0.5", "1.0000001"}},
		// 2^44+1 MiB << 20 wraps to 1 MiB in int64.
		{"--part-size-mib", []string{"0", "-1", "80001", "17592186044417", "9223372036854775807"}},
		{"--part-size-bytes", []string{"0", "-1", "83886080001"}},
		// 2^31 wraps the int32 Scan Limit negative.
		{"--scan-page-size", []string{"-1", "100001", "2147483648"}},
		{"--fleet-slots", []string{"-1", "1000001", "4611686018427387904"}},
		{"--lease-duration", []string{"0s", "999ms", "-1m", "12h0m1s", "1000h"}},
		{"--segments", []string{"0", "100001", "NaN"}},
		{"--prefix", []string{"a//b", "exports/", "/x", "a/../b", "./a", "a\x01b", "a\x7f", "\xff", "{month}", long}},
		{"--export-id", []string{"../x", "a/b", "..", "a\nb"}},
	} {
		for _, v := range tc.bad {
			args := []string{tc.flag, v}
			if tc.flag == "--prefix" {
				args = append(args, "--export-id", strings.Repeat("i", 100))
			}
			_, code, stderr := exportArgsOf(t, args...)
			requireRefused(t, code, stderr, tc.flag, args)
		}
	}
}

func TestExportAcceptsEdgeValues(t *testing.T) {
	for _, args := range [][]string{
		{"--read-capacity-cap", "0"}, {"--read-capacity-cap", "10000000"},
		{"--read-capacity-fraction", "1"}, {"--read-capacity-fraction", "1e-9"},
		{"--part-size-mib", "1"}, {"--part-size-mib", "80000"},
		{"--part-size-bytes", "1"}, {"--part-size-bytes", "83886080000"},
		{"--scan-page-size", "0"}, {"--scan-page-size", "1"}, {"--scan-page-size", "100000"},
		{"--fleet-slots", "0"}, {"--fleet-slots", "1000000"},
		{"--lease-duration", "1s"}, {"--lease-duration", "12h"},
		{"--segments", "1"}, {"--segments", "100000"},
		{"--prefix", strings.Repeat("p", 841), "--export-id", strings.Repeat("i", 100)},
		{"--prefix", "exports/{table}/dt={yyyy}-{mm}-{dd}/{hh}/{exportId}"},
	} {
		_, code, stderr := exportArgsOf(t, args...)
		require.Equal(t, 1, code, "%v: %s", args, stderr)
		require.Contains(t, stderr, errParsed.Error(), args)
	}
	a, _, _ := exportArgsOf(t, "--part-size-mib", "80000", "--scan-page-size", "100000")
	require.Equal(t, int64(80000)<<20, a.partSize)
	require.Equal(t, 100000, a.pageSize)
}

func TestPartSizeMessageSaysWhy(t *testing.T) {
	_, _, stderr := exportArgsOf(t, "--part-size-mib", "80001")
	require.Contains(t, stderr, "--part-size-mib 80001: want 1 to 80000: workers upload a data file in at most S3's 10000 multipart chunks of their --upload-part-size-mib, 8 MiB by default (10000 × 8 MiB)")
}

func TestEstimateRefusesOutOfBoundsFlags(t *testing.T) {
	for _, tc := range []struct {
		flag string
		bad  []string
	}{
		{"--read-capacity-cap", []string{"NaN", "Inf", "-1", "10000001"}},
		{"--price-per-million-reads", []string{"NaN", "Inf", "-Inf", "-0.01", "100.5"}},
		{"--compression-ratio", []string{"NaN", "Inf", "-1", "0.05", "1000.5"}},
		{"--cpu-seconds-per-gib", []string{"NaN", "Inf", "-1", "100001"}},
		{"--part-size-mib", []string{"0", "80001", "17592186044417"}},
		{"--fleet-slots", []string{"-1", "1000001"}},
	} {
		for _, v := range tc.bad {
			args := []string{"--table", "orders", tc.flag, v}
			code, stderr := parseOnly(t, "estimate", checkEstimateFlags, args...)
			requireRefused(t, code, stderr, tc.flag, args)
		}
	}
	for _, args := range [][]string{
		{"--price-per-million-reads", "0"}, {"--price-per-million-reads", "100"},
		{"--compression-ratio", "0"}, {"--compression-ratio", "0.1"}, {"--compression-ratio", "1000"},
		{"--cpu-seconds-per-gib", "0"}, {"--cpu-seconds-per-gib", "100000"},
		{"--part-size-mib", "80000"}, {"--read-capacity-cap", "10000000"}, {"--fleet-slots", "1000000"},
	} {
		code, stderr := parseOnly(t, "estimate", checkEstimateFlags, append([]string{"--table", "orders"}, args...)...)
		require.Equal(t, 1, code, "%v: %s", args, stderr)
		require.Contains(t, stderr, errParsed.Error(), args)
	}
}

func TestInitAndOpsFlagsAreBounded(t *testing.T) {
	initArgs := func(c *cli.Context) error { _, _, err := parseInitArgs(c); return err }
	for _, tc := range []struct {
		command, flag string
		parse         func(*cli.Context) error
		bad, good     []string
	}{
		{"init", "--max-receive-count", initArgs, []string{"0", "1001"}, []string{"1", "1000"}},
		{"init", "--visibility-timeout", initArgs, []string{"999ms", "12h0m1s"}, []string{"1s", "12h"}},
		{"status", "--lease-duration", checkOpsFlags, []string{"0s", "12h0m1s"}, []string{"1s", "12h"}},
		{"retry", "--lease-duration", checkOpsFlags, []string{"0s", "13h"}, []string{"12h"}},
		{"rescue", "--lease-duration", checkOpsFlags, []string{"-1s", "13h"}, []string{"1s"}},
		{"verify", "--concurrency", checkOpsFlags, []string{"0", "-1", "257"}, []string{"1", "256"}},
	} {
		for _, v := range tc.bad {
			args := []string{tc.flag, v}
			code, stderr := parseOnly(t, tc.command, tc.parse, args...)
			requireRefused(t, code, stderr, tc.flag, append([]string{tc.command}, args...))
		}
		for _, v := range tc.good {
			code, stderr := parseOnly(t, tc.command, tc.parse, tc.flag, v)
			require.Equal(t, 1, code, "%s %s %s: %s", tc.command, tc.flag, v, stderr)
		}
	}
	// Commands without the flags are not held to them.
	code, stderr := parseOnly(t, "cancel", checkOpsFlags)
	require.Equal(t, 1, code, stderr)
}

// TestWholeAppRefusesBeforeAWS runs the real actions: each refusal must
// come before the first AWS call (the endpoint points nowhere).
func TestWholeAppRefusesBeforeAWS(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "x")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, tc := range []struct {
		flag string
		args []string
	}{
		{"--read-capacity-cap", []string{"export", "--table", "orders", "--bucket", "b", "--read-capacity-cap", "NaN"}},
		{"--part-size-mib", []string{"export", "--table", "orders", "--bucket", "b", "--part-size-mib", "17592186044417"}},
		{"--prefix", []string{"export", "--table", "orders", "--bucket", "b", "--prefix", "a/"}},
		{"--price-per-million-reads", []string{"estimate", "--table", "orders", "--price-per-million-reads", "NaN"}},
		{"--lease-duration", []string{"status", "--export-id", "e1", "--lease-duration", "13h"}},
		{"--concurrency", []string{"verify", "--export-id", "e1", "--concurrency", "0"}},
		{"--max-receive-count", []string{"init", "--max-receive-count", "0"}},
	} {
		var stderr bytes.Buffer
		start := time.Now()
		code := fleetcli.Run(App(), append([]string{"coordinator"}, tc.args...), &stderr)
		requireRefused(t, code, stderr.String(), tc.flag, tc.args)
		require.Less(t, time.Since(start), 5*time.Second, tc.args)
	}
}
