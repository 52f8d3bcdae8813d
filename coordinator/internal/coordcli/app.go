// Package coordcli owns the coordinator's command line: init, export,
// status, verify, retry, cancel, rescue, estimate and ddl, each validating
// its input before writing anything.
package coordcli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/shared/awsclient"
	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/fleetcli"
	"github.com/ddbfleet/ddbfleet/shared/lifecycle"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
	"github.com/ddbfleet/ddbfleet/shared/queue"
)

// App is the coordinator command line.
func App() *cli.App {
	return &cli.App{
		Name:  "coordinator",
		Usage: "plan, start, watch and check ddbfleet exports of DynamoDB tables to S3",
		Flags: fleetcli.GlobalFlags(),
		Commands: fleetcli.WithGlobalFlags([]*cli.Command{
			initCommand(), exportCommand(), statusCommand(), verifyCommand(),
			retryCommand(), cancelCommand(), rescueCommand(), estimateCommand(), ddlCommand(), listCommand(), serveCommand(),
			restoreCommand(),
		}),
	}
}

var leaseFlag = &cli.DurationFlag{
	Name: "lease-duration", Value: 60 * time.Second, EnvVars: []string{"DDBFLEET_LEASE_DURATION"},
	Usage: "the workers' lease; a segment whose lease expired this long ago is re-enqueued",
}

var exportIDFlag = &cli.StringFlag{Name: "export-id", Aliases: []string{"id"}, Usage: "the export's id"}

var jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print a JSON object on stdout"}

// env is what every command needs, built after its flags are validated.
type env struct {
	log     *zap.Logger
	cfg     fleetcli.Config
	clients *awsclient.Clients
	store   controltable.Store
	table   string // the control table's name, for messages
	stdout  io.Writer
}

func newEnv(c *cli.Context) (*env, error) {
	if c.NArg() > 0 {
		return nil, fault.Invalidf("%s takes no arguments, got %q", c.Command.Name, c.Args().First())
	}
	log, err := fleetcli.Logger(c)
	if err != nil {
		return nil, err
	}
	cfg, err := fleetcli.ConfigFrom(c, log)
	if err != nil {
		return nil, err
	}
	clients, err := awsclient.Load(c.Context, cfg.AWS)
	if err != nil {
		return nil, err
	}
	return &env{
		log: log, cfg: cfg, clients: clients, stdout: c.App.Writer,
		store: controltable.WithRetry(controltable.NewDynamo(clients.DynamoDB, cfg.ControlTable, nil), fault.DefaultPolicy),
		table: cfg.ControlTable,
	}, nil
}

func (e *env) bucket(name string) *objstore.Store {
	return objstore.New(e.clients.S3, name, objstore.DefaultOptions)
}

func (e *env) queues(ctx context.Context) (work, dlq *queue.Queue, err error) {
	if work, err = queue.Open(ctx, e.clients.SQS, e.cfg.QueueName); err != nil {
		return nil, nil, err
	}
	if dlq, err = queue.Open(ctx, e.clients.SQS, queue.DLQName(e.cfg.QueueName)); err != nil {
		return nil, nil, err
	}
	return work, dlq, nil
}

// lifecycle opens the work queue and its dead-letter queue and returns the
// export state machine over them.
func (e *env) lifecycle(ctx context.Context) (*lifecycle.Lifecycle, error) {
	work, dlq, err := e.queues(ctx)
	if err != nil {
		return nil, err
	}
	return &lifecycle.Lifecycle{Store: e.store, Buckets: e.bucket, Queue: work, DLQ: dlq, Log: e.log}, nil
}

// loadExport reads an export named on the command line; an unknown id is
// operator input, hence exit 2.
func (e *env) loadExport(ctx context.Context, id string) (*export.Export, error) {
	if id == "" {
		return nil, fault.Invalidf("--export-id is required")
	}
	exp, err := e.store.GetExport(ctx, id)
	if errors.Is(err, export.ErrNotFound) {
		return nil, fault.Invalidf("export %q not found in control table %s", id, e.table)
	}
	return exp, err
}

// checkOpsFlags bounds the numeric flags of the commands that act on one
// export, before anything is read.
func checkOpsFlags(c *cli.Context) error {
	if hasFlag(c, leaseFlag.Name) {
		if err := checkLease(c); err != nil {
			return err
		}
	}
	// verify reads this many files at once, each with its own buffers.
	if hasFlag(c, "concurrency") {
		if n := c.Int("concurrency"); n < 1 || n > 256 {
			return fault.Invalidf("--concurrency %d: want 1 to 256", n)
		}
	}
	return nil
}

// hasFlag reports whether the running command defines the flag name.
func hasFlag(c *cli.Context, name string) bool {
	for _, f := range c.Command.Flags {
		if slices.Contains(f.Names(), name) {
			return true
		}
	}
	return false
}

// withExport is the preamble of every command that acts on one export:
// build the environment, then load the export named by --export-id.
func withExport(fn func(c *cli.Context, e *env, exp *export.Export) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if err := checkOpsFlags(c); err != nil {
			return err
		}
		e, err := newEnv(c)
		if err != nil {
			return err
		}
		exp, err := e.loadExport(c.Context, c.String("export-id"))
		if err != nil {
			return err
		}
		return fn(c, e, exp)
	}
}

func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func initCommand() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "create (idempotently) the control table, the work queue and its dead-letter queue",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "max-receive-count", Value: queue.DefaultMaxReceiveCount, Usage: "deliveries of a segment message before it is parked in the dead-letter queue"},
			&cli.DurationFlag{Name: "visibility-timeout", Value: 60 * time.Second, Usage: "initial visibility timeout of the work queue (workers extend it while they hold a segment)"},
		},
		Action: func(c *cli.Context) error {
			mr, vis, err := parseInitArgs(c)
			if err != nil {
				return err
			}
			e, err := newEnv(c)
			if err != nil {
				return err
			}
			if err := controltable.EnsureTable(c.Context, e.clients.DynamoDB, e.cfg.ControlTable); err != nil {
				return fleetcli.Failed(err)
			}
			if err := queue.Ensure(c.Context, e.clients.SQS, e.cfg.QueueName, mr, vis); err != nil {
				return fleetcli.Failed(err)
			}
			e.log.Info("ready", zap.String("controlTable", e.cfg.ControlTable), zap.String("queue", e.cfg.QueueName),
				zap.String("deadLetterQueue", queue.DLQName(e.cfg.QueueName)), zap.Int("maxReceiveCount", mr))
			return nil
		},
	}
}

// parseInitArgs bounds init's flags by SQS's own limits: maxReceiveCount
// 1 to 1000, VisibilityTimeout up to 12h (whole seconds).
func parseInitArgs(c *cli.Context) (maxReceive int, visibility time.Duration, err error) {
	maxReceive, visibility = c.Int("max-receive-count"), c.Duration("visibility-timeout")
	if maxReceive < 1 || maxReceive > 1000 {
		return 0, 0, fault.Invalidf("--max-receive-count %d: want 1 to 1000", maxReceive)
	}
	if visibility < time.Second || visibility > 12*time.Hour {
		return 0, 0, fault.Invalidf("--visibility-timeout %s: want 1s to 12h", visibility)
	}
	return maxReceive, visibility, nil
}

// checkBucket refuses a job on a bucket that does not exist or cannot be
// reached, before anything is written. It lists the job's own prefix
// rather than asking for the bucket (HeadBucket): the stack lets the
// coordinator list only below the export prefix.
func (e *env) checkBucket(ctx context.Context, bucket, prefix string) error {
	err := e.bucket(bucket).Reach(ctx, prefix)
	if err == nil {
		return nil
	}
	if fault.Classify(err) == fault.KindPermanent {
		return fault.Invalidf("bucket %q not found or not accessible (listing %q): %v", bucket, prefix, err)
	}
	return fmt.Errorf("check bucket %q: %w", bucket, err)
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
