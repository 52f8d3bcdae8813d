// Package workercli owns the worker binary's command line: `worker run`
// and its flags, wired to the consumer loop.
package workercli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ddbfleet/ddbfleet/shared/awsclient"
	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/fleetcli"
	"github.com/ddbfleet/ddbfleet/shared/lifecycle"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
	"github.com/ddbfleet/ddbfleet/shared/queue"
	"github.com/ddbfleet/ddbfleet/worker/internal/consumer"
	"github.com/ddbfleet/ddbfleet/worker/internal/ecsprotect"
	"github.com/ddbfleet/ddbfleet/worker/internal/metrics"
	"github.com/ddbfleet/ddbfleet/worker/internal/segexport"
)

// App is the worker command line.
func App() *cli.App {
	return &cli.App{
		Name:                 "worker",
		Usage:                "export DynamoDB scan segments to S3, pulled from the ddbfleet work queue",
		Flags:                fleetcli.GlobalFlags(),
		EnableBashCompletion: false,
		Commands: fleetcli.WithGlobalFlags([]*cli.Command{{
			Name:  "run",
			Usage: "consume segment messages until stopped (SIGTERM/SIGINT drain) or idle",
			Flags: []cli.Flag{
				&cli.IntFlag{Name: "concurrency", Value: 4, EnvVars: []string{"DDBFLEET_CONCURRENCY"}, Usage: "segments exported at once by this process"},
				&cli.DurationFlag{Name: "exit-when-idle", EnvVars: []string{"DDBFLEET_EXIT_WHEN_IDLE"}, Usage: "exit 0 once the queue gave no message for this long and none is in flight (0: never)"},
				&cli.DurationFlag{Name: "drain-timeout", Value: 25 * time.Second, EnvVars: []string{"DDBFLEET_DRAIN_TIMEOUT"}, Usage: "on SIGTERM, time allowed to checkpoint and hand back work (keep under the ECS stop timeout)"},
				&cli.DurationFlag{Name: "lease-duration", Value: 60 * time.Second, EnvVars: []string{"DDBFLEET_LEASE_DURATION"}, Usage: "how long a segment stays claimed without a heartbeat"},
				&cli.IntFlag{Name: "scan-page-size", Value: 1000, EnvVars: []string{"DDBFLEET_SCAN_PAGE_SIZE"}, Usage: "Scan Limit per page when the export does not set one"},
				&cli.IntFlag{Name: "compression-level", Value: 5, EnvVars: []string{"DDBFLEET_COMPRESSION_LEVEL"}, Usage: "gzip level, 1 (fastest) to 9 (smallest)"},
				&cli.IntFlag{Name: "upload-part-size-mib", Value: 8, EnvVars: []string{"DDBFLEET_UPLOAD_PART_SIZE_MIB"}, Usage: "S3 multipart chunk size; memory ≈ concurrency × (upload-concurrency+1) × this"},
				&cli.IntFlag{Name: "upload-concurrency", Value: 2, EnvVars: []string{"DDBFLEET_UPLOAD_CONCURRENCY"}, Usage: "multipart chunks uploaded at once per part file"},
				&cli.BoolFlag{Name: "metrics", Value: metrics.EnabledByDefault(os.Getenv), EnvVars: []string{"DDBFLEET_METRICS"}, Usage: "print CloudWatch Embedded Metric Format lines on stdout once a minute (default: on in ECS)"},
				&cli.DurationFlag{Name: "retry-budget", Value: fault.DefaultPolicy.MaxElapsed, EnvVars: []string{"DDBFLEET_RETRY_BUDGET"}, Usage: "how long a failing AWS call is retried before the segment attempt fails (it is then retried from its checkpoint)"},
			},
			Action: run,
		}}),
	}
}

func run(c *cli.Context) error {
	if c.NArg() > 0 {
		return fault.Invalidf("run takes no arguments, got %q", c.Args().First())
	}
	cfg := consumer.Config{
		Concurrency:   c.Int("concurrency"),
		ExitWhenIdle:  c.Duration("exit-when-idle"),
		DrainTimeout:  c.Duration("drain-timeout"),
		LeaseDuration: c.Duration("lease-duration"),
	}
	switch {
	case cfg.Concurrency < 1 || cfg.Concurrency > 256:
		return fault.Invalidf("--concurrency %d: want 1 to 256", cfg.Concurrency)
	case cfg.ExitWhenIdle < 0:
		return fault.Invalidf("--exit-when-idle %s: must not be negative", cfg.ExitWhenIdle)
	case cfg.DrainTimeout < time.Second:
		return fault.Invalidf("--drain-timeout %s: want at least 1s", cfg.DrainTimeout)
	case cfg.LeaseDuration < 3*time.Second || cfg.LeaseDuration > 12*time.Hour:
		return fault.Invalidf("--lease-duration %s: want 3s to 12h (the SQS visibility limit)", cfg.LeaseDuration)
	case c.Int("scan-page-size") < 1:
		return fault.Invalidf("--scan-page-size %d: want at least 1", c.Int("scan-page-size"))
	case c.Int("compression-level") < 1 || c.Int("compression-level") > 9:
		return fault.Invalidf("--compression-level %d: want 1 to 9", c.Int("compression-level"))
	case c.Int("upload-part-size-mib") < 5:
		return fault.Invalidf("--upload-part-size-mib %d: S3 needs at least 5", c.Int("upload-part-size-mib"))
	case c.Int("upload-concurrency") < 1:
		return fault.Invalidf("--upload-concurrency %d: want at least 1", c.Int("upload-concurrency"))
	case c.Duration("retry-budget") < time.Second:
		return fault.Invalidf("--retry-budget %s: want at least 1s", c.Duration("retry-budget"))
	}
	policy := fault.DefaultPolicy
	policy.MaxElapsed = c.Duration("retry-budget")
	log, err := fleetcli.Logger(c)
	if err != nil {
		return err
	}
	gc, err := fleetcli.ConfigFrom(c, log)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	clients, err := awsclient.Load(context.WithoutCancel(ctx), gc.AWS)
	if err != nil {
		return err
	}
	q, err := queue.Open(ctx, clients.SQS, gc.QueueName)
	if err != nil {
		return fleetcli.Failed(err)
	}
	store := controltable.WithRetry(controltable.NewDynamo(clients.DynamoDB, gc.ControlTable, nil), policy)
	objOpts := objstore.Options{UploadPartSize: int64(c.Int("upload-part-size-mib")) << 20, UploadConcurrency: c.Int("upload-concurrency")}
	buckets := func(bucket string) *objstore.Store { return objstore.New(clients.S3, bucket, objOpts) }
	life := &lifecycle.Lifecycle{Store: store, Buckets: buckets, Queue: q, Log: log}
	cons := &consumer.Consumer{
		Config:  cfg,
		ID:      consumer.DefaultID(),
		Queue:   q,
		Store:   store,
		Settler: life,
		Exporter: &segexport.Exporter{
			Scan: clients.DynamoDB, Commit: store, Objects: buckets, Log: log,
			LeaseDuration: cfg.LeaseDuration, DefaultPageSize: c.Int("scan-page-size"),
			CompressionLevel: c.Int("compression-level"), Retry: policy,
		},
		Restorer: newRestorer(clients.DynamoDB, store, buckets, log, cfg.LeaseDuration, policy),
		Protect:  ecsprotect.FromEnv(log),
		Log:      log,
	}
	if c.Bool("metrics") {
		// EMF lines on stdout: the ECS log driver ships them to CloudWatch
		// Logs, which turns them into metrics with no agent.
		cons.Metrics = metrics.New(os.Stdout, time.Now, 0)
		if err := cons.Metrics.Start(ctx); err != nil {
			return fleetcli.Failed(err)
		}
		defer cons.Metrics.Stop()
	}
	// Every worker rescues every active export once a lease, so the fleet
	// heals itself when no coordinator waits.
	rescuer := &lifecycle.Rescuer{Life: life, Period: cfg.LeaseDuration, Grace: cfg.LeaseDuration, Log: log}
	rescuer.Start(ctx)
	defer rescuer.Stop()
	if err := cons.Run(ctx); err != nil {
		return fleetcli.Failed(err)
	}
	return nil
}
