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
	"github.com/ddbfleet/ddbfleet/shared/export"
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
				// Hidden: CloudWatch's resolution is a minute, so only tests
				// (which want several lines in seconds) print more often.
				&cli.DurationFlag{Name: "metrics-interval", Value: metrics.DefaultInterval, Hidden: true, Usage: "how often --metrics prints"},
				&cli.DurationFlag{Name: "retry-budget", Value: fault.DefaultPolicy.MaxElapsed, EnvVars: []string{"DDBFLEET_RETRY_BUDGET"}, Usage: "how long a failing AWS call is retried before the segment attempt fails (it is then retried from its checkpoint)"},
			},
			Action: run,
		}}),
	}
}

// Bounds of `worker run`'s flags, checked before any AWS call so a value
// that would wrap or break a service limit is refused with exit 2.
const (
	maxConcurrency = 256
	// maxExitWhenIdle and maxRetryBudget: a day is past any sensible
	// wait; longer is a typo (and 0 already means "never" for idle).
	maxExitWhenIdle = 24 * time.Hour
	maxRetryBudget  = 24 * time.Hour
	// maxDrainTimeout is far past ECS's 120 s stop-timeout ceiling, for
	// hosts that give a stopping worker longer.
	maxDrainTimeout = 2 * time.Hour
	// minLease leaves the heartbeat (a third of it) a second; maxLease is
	// SQS's visibility-timeout maximum.
	minLease, maxLease = 3 * time.Second, 12 * time.Hour
	// maxScanPageSize bounds the int32 Scan Limit; a page never holds
	// more than 1 MB, so a larger Limit changes nothing.
	maxScanPageSize = 100_000
	// S3's multipart part size is 5 MiB to 5 GiB.
	minUploadPartSizeMiB, maxUploadPartSizeMiB = 5, 5 << 10
	// maxUploadConcurrency bounds the chunks in flight per part file: each
	// holds an --upload-part-size-mib buffer.
	maxUploadConcurrency = 64
)

// runConfig is what `worker run`'s flags say, validated.
type runConfig struct {
	consumer         consumer.Config
	pageSize         int
	compressionLevel int
	objects          objstore.Options
	retry            fault.Policy
}

func parseRun(c *cli.Context) (runConfig, error) {
	if c.NArg() > 0 {
		return runConfig{}, fault.Invalidf("run takes no arguments, got %q", c.Args().First())
	}
	cfg := consumer.Config{
		Concurrency:   c.Int("concurrency"),
		ExitWhenIdle:  c.Duration("exit-when-idle"),
		DrainTimeout:  c.Duration("drain-timeout"),
		LeaseDuration: c.Duration("lease-duration"),
	}
	pageSize, level := c.Int("scan-page-size"), c.Int("compression-level")
	chunkMiB, uploads, budget := c.Int("upload-part-size-mib"), c.Int("upload-concurrency"), c.Duration("retry-budget")
	switch {
	case cfg.Concurrency < 1 || cfg.Concurrency > maxConcurrency:
		return runConfig{}, fault.Invalidf("--concurrency %d: want 1 to %d", cfg.Concurrency, maxConcurrency)
	case cfg.ExitWhenIdle < 0 || cfg.ExitWhenIdle > maxExitWhenIdle:
		return runConfig{}, fault.Invalidf("--exit-when-idle %s: want 0 (never) to %s", cfg.ExitWhenIdle, maxExitWhenIdle)
	case cfg.DrainTimeout < time.Second || cfg.DrainTimeout > maxDrainTimeout:
		return runConfig{}, fault.Invalidf("--drain-timeout %s: want 1s to %s (keep it under the ECS stop timeout)", cfg.DrainTimeout, maxDrainTimeout)
	case cfg.LeaseDuration < minLease || cfg.LeaseDuration > maxLease:
		return runConfig{}, fault.Invalidf("--lease-duration %s: want %s to %s (the SQS visibility limit)", cfg.LeaseDuration, minLease, maxLease)
	case pageSize < 1 || pageSize > maxScanPageSize:
		return runConfig{}, fault.Invalidf("--scan-page-size %d: want 1 to %d (a Scan page holds at most 1 MB anyway)", pageSize, maxScanPageSize)
	case level < 1 || level > 9:
		return runConfig{}, fault.Invalidf("--compression-level %d: want 1 to 9", level)
	case chunkMiB < minUploadPartSizeMiB || chunkMiB > maxUploadPartSizeMiB:
		return runConfig{}, fault.Invalidf("--upload-part-size-mib %d: want %d to %d (S3's multipart part sizes, 5 MiB to 5 GiB)", chunkMiB, minUploadPartSizeMiB, maxUploadPartSizeMiB)
	case uploads < 1 || uploads > maxUploadConcurrency:
		return runConfig{}, fault.Invalidf("--upload-concurrency %d: want 1 to %d", uploads, maxUploadConcurrency)
	case budget < time.Second || budget > maxRetryBudget:
		return runConfig{}, fault.Invalidf("--retry-budget %s: want 1s to %s", budget, maxRetryBudget)
	case c.Duration("metrics-interval") < time.Second:
		return runConfig{}, fault.Invalidf("--metrics-interval %s: want at least 1s", c.Duration("metrics-interval"))
	}
	policy := fault.DefaultPolicy
	policy.MaxElapsed = budget
	return runConfig{
		consumer: cfg, pageSize: pageSize, compressionLevel: level, retry: policy,
		objects: objstore.Options{UploadPartSize: int64(chunkMiB) << 20, UploadConcurrency: uploads},
	}, nil
}

func run(c *cli.Context) error {
	rc, err := parseRun(c)
	if err != nil {
		return err
	}
	cfg, policy := rc.consumer, rc.retry
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
	buckets := func(bucket string) *objstore.Store { return objstore.New(clients.S3, bucket, rc.objects) }
	life := &lifecycle.Lifecycle{Store: store, Buckets: buckets, Queue: q, Log: log}
	// Scale-in protection is renewed while segments are in hand, so a
	// segment held longer than one grant is not scaled in mid-part; it
	// goes on through the drain after a signal, until Run returns.
	protect := ecsprotect.FromEnv(log, nil)
	protect.Start(context.WithoutCancel(ctx))
	defer protect.Stop()
	exporter := &segexport.Exporter{
		Scan: clients.DynamoDB, Commit: store, Objects: buckets, Log: log,
		LeaseDuration: cfg.LeaseDuration, DefaultPageSize: rc.pageSize,
		CompressionLevel: rc.compressionLevel, Retry: policy,
	}
	cons := &consumer.Consumer{
		Config:   cfg,
		ID:       export.Process(),
		Queue:    q,
		Store:    store,
		Settler:  life,
		Exporter: exporter,
		Restorer: newRestorer(clients.DynamoDB, store, buckets, log, cfg.LeaseDuration, policy),
		Protect:  protect,
		Log:      log,
	}
	if c.Bool("metrics") {
		// EMF lines on stdout: the ECS log driver ships them to CloudWatch
		// Logs, which turns them into metrics with no agent.
		cons.Metrics = metrics.New(os.Stdout, time.Now, c.Duration("metrics-interval"))
		if err := cons.Metrics.Start(ctx); err != nil {
			return fleetcli.Failed(err)
		}
		defer cons.Metrics.Stop()
		exporter.Commit = measuredCommits{Committer: exporter.Commit, m: cons.Metrics}
	}
	// Every worker is a candidate steward: one of them rescues each active
	// export once a lease, so the fleet heals itself when no coordinator
	// waits. The random part tells apart two runs with the same host/pid
	// (pid 1 in every container).
	rescuer := &lifecycle.Rescuer{Life: life, ID: export.NewOwner(cons.ID),
		Period: cfg.LeaseDuration, Grace: cfg.LeaseDuration, Log: log}
	rescuer.Start(ctx)
	defer rescuer.Stop()
	if err := cons.Run(ctx); err != nil {
		return fleetcli.Failed(err)
	}
	return nil
}

// measuredCommits reports what each commit records (bytes, latency) to the
// metrics emitter, around the control table's commits.
type measuredCommits struct {
	segexport.Committer
	m *metrics.Emitter
}

func (c measuredCommits) CommitPart(ctx context.Context, l export.Lease, p export.Part, cp export.Checkpoint, lease time.Duration) error {
	start := time.Now()
	err := c.Committer.CommitPart(ctx, l, p, cp, lease)
	c.m.CommitLatency(l.ExportID, time.Since(start))
	if err == nil {
		c.m.Bytes(l.ExportID, p.Bytes)
	}
	return err
}

func (c measuredCommits) CompleteSegment(ctx context.Context, l export.Lease, last *export.Part, cp export.Checkpoint) error {
	start := time.Now()
	err := c.Committer.CompleteSegment(ctx, l, last, cp)
	c.m.CommitLatency(l.ExportID, time.Since(start))
	if err == nil && last != nil {
		c.m.Bytes(l.ExportID, last.Bytes)
	}
	return err
}
