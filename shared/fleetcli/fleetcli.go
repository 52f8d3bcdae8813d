// Package fleetcli owns the command-line surface both binaries share: the
// global flags and their environment variables, the logger, and the mapping
// of errors to exit codes (0 ok, 1 failed at run time, 2 invalid input).
package fleetcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/ddbfleet/ddbfleet/shared/awsclient"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/faultinject"
)

// Flag names shared by both binaries.
const (
	FlagControlTable = "control-table"
	FlagQueueName    = "queue-name"
	FlagPathStyle    = "s3-force-path-style"
	FlagLogFormat    = "log-format"
	FlagLogLevel     = "log-level"
)

// GlobalFlags are accepted before or after the subcommand name, so both
// `worker --queue-name q run` and `worker run --queue-name q` work.
func GlobalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: FlagControlTable, EnvVars: []string{"DDBFLEET_CONTROL_TABLE"}, Value: "ddbfleet-control", Usage: "DynamoDB table holding export, segment and part state"},
		&cli.StringFlag{Name: FlagQueueName, EnvVars: []string{"DDBFLEET_QUEUE_NAME"}, Value: "ddbfleet-segments", Usage: "SQS work queue; its dead-letter queue is `NAME`-dlq"},
		&cli.BoolFlag{Name: FlagPathStyle, EnvVars: []string{"DDBFLEET_S3_FORCE_PATH_STYLE"}, Usage: "path-style S3 addressing (local S3 servers need it)"},
		&cli.StringFlag{Name: FlagLogFormat, EnvVars: []string{"DDBFLEET_LOG_FORMAT"}, Usage: "console or json (default: console on a terminal, else json)"},
		&cli.StringFlag{Name: FlagLogLevel, EnvVars: []string{"DDBFLEET_LOG_LEVEL"}, Value: "info", Usage: "debug, info, warn or error"},
	}
}

// WithGlobalFlags appends the global flags to every command so they may
// follow the subcommand name.
func WithGlobalFlags(cmds []*cli.Command) []*cli.Command {
	for _, c := range cmds {
		c.Flags = append(c.Flags, GlobalFlags()...)
	}
	return cmds
}

// String reads a flag that may be set at any level of the command line:
// the innermost level that set it explicitly wins, then env/default.
func String(c *cli.Context, name string) string {
	for _, ctx := range c.Lineage() {
		if slices.Contains(ctx.LocalFlagNames(), name) {
			return ctx.String(name)
		}
	}
	return c.String(name)
}

// Bool is String for boolean flags.
func Bool(c *cli.Context, name string) bool {
	for _, ctx := range c.Lineage() {
		if slices.Contains(ctx.LocalFlagNames(), name) {
			return ctx.Bool(name)
		}
	}
	return c.Bool(name)
}

// Config is what the global flags say.
type Config struct {
	ControlTable string
	QueueName    string
	AWS          awsclient.Options
}

// ConfigFrom reads the global flags; log receives the SDK's own lines.
// The DDBFLEET_TEST_FAULT_* variables (chaos tests only) wrap every AWS
// call in fault injection.
func ConfigFrom(c *cli.Context, log *zap.Logger) (Config, error) {
	cfg := Config{
		ControlTable: String(c, FlagControlTable),
		QueueName:    String(c, FlagQueueName),
		AWS:          awsclient.Options{S3ForcePathStyle: Bool(c, FlagPathStyle), Logger: log},
	}
	fc, on, err := faultinject.FromEnv()
	if err != nil {
		return cfg, fault.Invalidf("%v", err)
	}
	if on {
		log.Warn("fault injection on (test only)", zap.Float64("rate", fc.Rate), zap.Int("scanSegment", fc.ScanSegment), zap.String("scanMode", fc.ScanMode))
		cfg.AWS.Transport = fc.Transport
	}
	return cfg, nil
}

// Logger builds the zap logger the global flags ask for; logs go to stderr.
func Logger(c *cli.Context) (*zap.Logger, error) {
	format := String(c, FlagLogFormat)
	if format == "" {
		format = "json"
		if term.IsTerminal(int(os.Stderr.Fd())) {
			format = "console"
		}
	}
	var level zapcore.Level
	if err := level.Set(String(c, FlagLogLevel)); err != nil {
		return nil, fault.Invalidf("--log-level %q: want debug, info, warn or error", String(c, FlagLogLevel))
	}
	var cfg zap.Config
	switch format {
	case "json":
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.TimeKey = "time"
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
		cfg.DisableStacktrace = true
	default:
		return nil, fault.Invalidf("--log-format %q: want console or json", format)
	}
	cfg.Level = zap.NewAtomicLevelAt(level)
	cfg.OutputPaths = []string{"stderr"}
	cfg.ErrorOutputPaths = []string{"stderr"}
	// Stack traces are for bugs, not for operator errors or failed work.
	cfg.DisableStacktrace = true
	cfg.Sampling = nil
	return cfg.Build()
}

// Main runs app and exits with the contract's code. Errors print as one
// clear line on stderr, never as a stack trace.
func Main(app *cli.App, args []string) {
	os.Exit(Run(app, args, os.Stderr))
}

// Run is Main without the exit, for tests.
func Run(app *cli.App, args []string, stderr io.Writer) int {
	app.ExitErrHandler = func(*cli.Context, error) {} // we decide the exit code
	app.OnUsageError = func(c *cli.Context, err error, _ bool) error {
		return fault.Invalidf("%s", usageMessage(err))
	}
	for _, cmd := range app.Commands {
		setUsageHandler(cmd)
	}
	app.CommandNotFound = func(c *cli.Context, name string) {
		fmt.Fprintf(stderr, "%s: unknown command %q (see %s --help)\n", app.Name, name, app.Name)
		os.Exit(2)
	}
	err := app.RunContext(context.Background(), args)
	if err == nil {
		return 0
	}
	var exit cli.ExitCoder
	if errors.As(err, &exit) && !fault.IsInvalid(err) {
		if exit.ExitCode() == 0 {
			return 0
		}
		fmt.Fprintf(stderr, "%s: %s\n", app.Name, err)
		return exit.ExitCode()
	}
	if strings.HasPrefix(err.Error(), "flag provided but not defined") || strings.HasPrefix(err.Error(), "Required flag") {
		err = fault.Invalidf("%s", usageMessage(err))
	}
	fmt.Fprintf(stderr, "%s: error: %s\n", app.Name, err)
	return fault.ExitCode(err)
}

func setUsageHandler(cmd *cli.Command) {
	cmd.OnUsageError = func(c *cli.Context, err error, _ bool) error {
		return fault.Invalidf("%s: %s", cmd.Name, usageMessage(err))
	}
	for _, sub := range cmd.Subcommands {
		setUsageHandler(sub)
	}
}

func usageMessage(err error) string {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return "unknown flag -" + rest
	}
	return msg
}

// Failed reports a run-time failure (exit 1) whose message is already
// complete. The error stays wrapped, so its kind still decides: a wrapped
// invalid-input error still exits 2.
func Failed(err error) error { return &failure{err} }

// Failedf is Failed with a message; wrap the cause with %w.
func Failedf(format string, args ...any) error { return &failure{fmt.Errorf(format, args...)} }

// failure is a run-time error printed without the "error:" prefix of an
// unexpected one: its message already says what happened.
type failure struct{ err error }

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }
func (f *failure) ExitCode() int { return 1 }
