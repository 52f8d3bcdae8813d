// Package consumer owns a worker's main loop: it long-polls the work queue,
// claims each segment in the control table, runs it under a heartbeat that
// keeps both the lease and the message's visibility alive, and settles the
// message by the outcome (decide, in settle.go: a pure function) — delete
// when done or not ours, release when draining, retry later or fail for
// good on errors.
//
// Two contexts drive shutdown: the receive context ends on SIGTERM (stop
// taking work, checkpoint what is in hand); the work context ends when the
// drain budget is spent (abort, and hand the segment back at its last
// checkpoint).
package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/shared/clock"
	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/queue"
	"github.com/ddbfleet/ddbfleet/worker/internal/metrics"
	"github.com/ddbfleet/ddbfleet/worker/internal/pacer"
	"github.com/ddbfleet/ddbfleet/worker/internal/segexport"
	"github.com/ddbfleet/ddbfleet/worker/internal/segrestore"
)

// Queue is the work queue as the loop uses it; *queue.Queue implements it.
type Queue interface {
	Receive(ctx context.Context, max int, wait, visibility time.Duration) ([]queue.Message, error)
	Delete(ctx context.Context, receipt string) error
	SetVisibility(ctx context.Context, receipt string, d time.Duration) error
	Backlog(ctx context.Context) (int, error)
	MaxReceiveCount(ctx context.Context) (int, error)
	SendLater(ctx context.Context, t queue.Task, delay time.Duration) error
}

// Store is the part of the control table the loop uses.
type Store interface {
	GetExport(ctx context.Context, exportID string) (*export.Export, error)
	ClaimSegment(ctx context.Context, exportID string, segment int, owner string, lease time.Duration) (*export.Segment, export.Lease, error)
	Heartbeat(ctx context.Context, l export.Lease, lease time.Duration, p export.Progress) (*export.Segment, error)
	ReleaseSegment(ctx context.Context, l export.Lease, reason string) error
	FailSegment(ctx context.Context, l export.Lease, reason string, final bool) error
}

// Runner works one claimed segment: *segexport.Exporter exports one,
// *segrestore.Restorer restores one file of a restore job.
type Runner interface {
	Run(ctx context.Context, job segexport.Job) (segexport.Result, error)
}

// Settler moves an export on after one of its segments settled;
// *lifecycle.Lifecycle implements it.
type Settler interface {
	Settle(ctx context.Context, exportID string) error
}

// Protector keeps the task from being scaled in while it holds work;
// *ecsprotect.Protector implements it.
type Protector interface {
	Acquire(ctx context.Context)
	Release(ctx context.Context)
}

var (
	_ Queue  = (*queue.Queue)(nil)
	_ Store  = controltable.Store(nil)
	_ Runner = (*segexport.Exporter)(nil)
	_ Runner = (*segrestore.Restorer)(nil)
)

// Config tunes the loop.
type Config struct {
	Concurrency   int
	ExitWhenIdle  time.Duration // 0: run until signalled
	DrainTimeout  time.Duration
	LeaseDuration time.Duration
}

// Consumer is one worker process's loop. ID names the process in leases
// (owner names add a nonce per claim).
type Consumer struct {
	Config   Config
	ID       string
	Queue    Queue
	Store    Store
	Settler  Settler
	Exporter Runner
	// Restorer runs the units of restore jobs (export.KindRestore);
	// *segrestore.Restorer implements it.
	Restorer Runner
	Protect  Protector
	Metrics  *metrics.Emitter // nil: no metrics
	Log      *zap.Logger
	Clock    clock.Clock

	maxReceive int
	inflight   atomic.Int32
	lastActive atomic.Int64 // unix nanos on Clock of the last message or finished job
}

// receiveRetry paces receives after a failure: quick at first, never
// more than a long poll apart, and never giving up while the worker runs.
var receiveRetry = fault.Policy{Initial: 500 * time.Millisecond, Max: 20 * time.Second}

// Run consumes until ctx ends (then drains) or the queue stays idle for
// ExitWhenIdle. It returns nil on a clean stop.
func (c *Consumer) Run(ctx context.Context) error {
	clk := clock.OrReal(c.Clock)
	c.Clock = clk
	mr, err := c.Queue.MaxReceiveCount(ctx)
	if err != nil {
		return err
	}
	c.maxReceive = mr
	c.touch()
	log := c.Log.With(zap.String("worker", c.ID))
	log.Info("worker started", zap.Int("concurrency", c.Config.Concurrency), zap.Duration("lease", c.Config.LeaseDuration), zap.Int("maxReceiveCount", mr))

	workCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	defer abort()
	drain := make(chan struct{})
	slots := make(chan struct{}, c.Config.Concurrency)
	var wg sync.WaitGroup

	// The drain budget runs from the signal, not from when the loop
	// notices it (a long poll may still be finishing).
	var signalled atomic.Int64
	stopWatch := context.AfterFunc(ctx, func() { signalled.Store(clk.Now().UnixNano()) })
	defer stopWatch()

	for ctx.Err() == nil {
		free := c.Config.Concurrency - int(c.inflight.Load())
		if free == 0 {
			select {
			case slots <- struct{}{}:
				<-slots
			case <-ctx.Done():
			}
			continue
		}
		msgs, err := c.receive(ctx, workCtx, free)
		if ctx.Err() != nil {
			for _, m := range msgs {
				_ = c.Queue.SetVisibility(workCtx, m.ReceiptHandle, 0)
			}
			break
		}
		if err != nil {
			log.Warn("receive failed", zap.Error(err))
			continue
		}
		if len(msgs) == 0 {
			if c.idle(ctx, log) {
				break
			}
			continue
		}
		c.touch()
		for _, m := range msgs {
			slots <- struct{}{}
			c.inflight.Add(1)
			wg.Add(1)
			go func() {
				defer func() {
					<-slots
					c.inflight.Add(-1)
					c.touch()
					wg.Done()
				}()
				c.handle(workCtx, m, drain, log)
			}()
		}
	}
	close(drain)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	if n := c.inflight.Load(); n > 0 {
		log.Info("draining: checkpointing segments in hand", zap.Int32("segments", n), zap.Duration("budget", c.Config.DrainTimeout))
	}
	// Keep a little of the budget for handing segments back after an abort.
	budget := c.Config.DrainTimeout - min(c.Config.DrainTimeout/4, 5*time.Second)
	if at := signalled.Load(); at != 0 {
		budget -= clk.Now().Sub(time.Unix(0, at))
	}
	select {
	case <-done:
	case <-clk.After(budget):
		log.Warn("drain budget spent; abandoning work in hand to its last checkpoint")
		abort()
		<-done
	}
	log.Info("worker stopped")
	return nil
}

// receive long-polls for up to free messages, retrying failures until ctx
// (the receive context) ends. The poll itself runs on workCtx: a receive
// abandoned mid-answer loses its messages until their visibility timeout
// (a whole lease). The poll is short enough to end inside the drain
// budget instead, and what it brings after SIGTERM is handed back.
func (c *Consumer) receive(ctx, workCtx context.Context, free int) ([]queue.Message, error) {
	wait := min(20*time.Second, max(time.Second, c.Config.DrainTimeout/4))
	if c.Config.ExitWhenIdle > 0 {
		wait = max(time.Second, min(wait, c.Config.ExitWhenIdle/2))
	}
	var msgs []queue.Message
	err := fault.Retry(ctx, receiveRetry, func(context.Context) error {
		var err error
		msgs, err = c.Queue.Receive(workCtx, min(free, 10), wait, c.Config.LeaseDuration)
		if err != nil && ctx.Err() == nil {
			c.Log.Warn("receive failed; retrying", zap.Error(err))
		}
		return err
	})
	return msgs, err
}

// idle reports whether a batch worker should exit: no message for
// ExitWhenIdle, nothing in hand, and nothing in the queue. Messages hidden
// in flight elsewhere may come back (their worker died, or a receive's
// answer was lost): the queue is only idle when nothing is waiting and
// nothing is out.
func (c *Consumer) idle(ctx context.Context, log *zap.Logger) bool {
	quiet := c.Clock.Now().Sub(time.Unix(0, c.lastActive.Load()))
	if c.Config.ExitWhenIdle <= 0 || c.inflight.Load() != 0 || quiet < c.Config.ExitWhenIdle {
		return false
	}
	if n, err := c.Queue.Backlog(ctx); err != nil || n > 0 {
		if err == nil {
			log.Debug("no message for us, but some are in flight; staying", zap.Int("inFlight", n))
		}
		return false
	}
	log.Info("queue idle; exiting", zap.Duration("idle", quiet))
	return true
}

func (c *Consumer) touch() { c.lastActive.Store(c.Clock.Now().UnixNano()) }

// admission is what happens to a message before any work: run it, or
// settle it at once.
type admission struct {
	run    bool
	delete bool          // when not run: drop the message
	later  time.Duration // when not run and kept: a fresh copy shows after this
	why    string
}

// admit decides whether a message's segment can be worked on, from the
// export's row (nil when it does not exist) and the claim's refusal.
func admit(exp *export.Export, refused *export.NotClaimableError, now time.Time, lease time.Duration) admission {
	switch {
	case exp == nil:
		return admission{delete: true, why: "dropping message for unknown export"}
	case exp.State.Terminal() || exp.State == export.Finalizing:
		return admission{delete: true, why: "export no longer running; dropping message"}
	case refused == nil:
		return admission{run: true}
	case refused.State.Settled():
		return admission{delete: true, why: "segment already settled; dropping duplicate message"}
	}
	// Another worker holds a live lease. If it dies, this may be the only
	// copy of the message left: hand it back to look at again, never
	// later than that lease ends, rather than dropping it. Looking again
	// well before the lease ends drops a duplicate soon after its twin
	// finishes, so batch workers waiting for an empty queue are not held
	// a whole lease.
	recheck := max(5*time.Second, lease/6)
	return admission{later: max(time.Second, min(refused.LeaseExpiry.Sub(now)+time.Second, recheck)), why: "segment leased by another worker; message handed back to look at again"}
}

func (c *Consumer) handle(ctx context.Context, m queue.Message, drain <-chan struct{}, log *zap.Logger) {
	log = log.With(zap.String("exportId", m.ExportID), zap.Int("segment", m.Segment), zap.Int("receiveCount", m.ReceiveCount))
	if m.ExportID == "" {
		log.Error("dropping malformed queue message", zap.String("body", m.Body))
		c.deleteMsg(ctx, m, log)
		return
	}
	exp, err := c.Store.GetExport(ctx, m.ExportID)
	if err != nil && !errors.Is(err, export.ErrNotFound) {
		log.Warn("cannot read export; message will be redelivered", zap.Error(err))
		return
	}
	var seg *export.Segment
	var lease export.Lease
	var refused *export.NotClaimableError
	claimed := c.Clock.Now() // the lease runs from no earlier than this
	if exp != nil && exp.State.AcceptsWork() {
		owner := export.NewOwner(c.ID)
		seg, lease, err = c.Store.ClaimSegment(ctx, m.ExportID, m.Segment, owner, c.Config.LeaseDuration)
		if err != nil && !errors.As(err, &refused) {
			log.Warn("claim failed; message will be redelivered", zap.Error(err))
			return
		}
	}
	if a := admit(exp, refused, c.Clock.Now(), c.Config.LeaseDuration); !a.run {
		log.Info(a.why, zap.Stringer("refused", refusedString{refused}))
		if a.delete {
			c.deleteMsg(ctx, m, log)
			return
		}
		// A fresh delayed copy, then drop this one: changing this copy's
		// visibility would add a delivery each time, and enough of them
		// would park a healthy segment's message in the dead-letter
		// queue, where the rescuer would fail the segment. If the delete
		// fails, there are two copies, which is harmless.
		if err := c.Queue.SendLater(ctx, m.Task, a.later); err != nil {
			log.Warn("could not hand the message back; it reappears after its visibility timeout", zap.Error(err))
			return
		}
		c.deleteMsg(ctx, m, log)
		return
	}
	c.run(ctx, m, exp, seg, lease, claimed, drain, log)
}

// refusedString logs a claim refusal only when there was one.
type refusedString struct{ e *export.NotClaimableError }

func (r refusedString) String() string {
	if r.e == nil {
		return ""
	}
	return r.e.Error()
}

// run works on a claimed segment and settles its message.
func (c *Consumer) run(ctx context.Context, m queue.Message, exp *export.Export, seg *export.Segment, lease export.Lease, claimed time.Time, drain <-chan struct{}, log *zap.Logger) {
	log = log.With(zap.Int("attempt", lease.Attempt))
	log.Info("segment claimed", zap.Int("nextPart", seg.NextPart))
	c.Metrics.SegmentClaimed(exp.ExportID)
	c.Metrics.Cap(exp.ExportID, exp.ReadCapacityCap)
	c.Protect.Acquire(ctx)
	defer c.Protect.Release(context.WithoutCancel(ctx))

	segCtx, cancel := context.WithCancelCause(ctx)
	// A new claim takes cap ÷ unfinished segments, the safe side: the sum
	// of all shares cannot pass the cap however many workers start at
	// once. Heartbeats then re-divide it among live leases.
	pace := pacer.New(exp.ReadShare(exp.Unfinished()))
	prog := &progress{pacer: pace, units: seg.ReadUnits, reported: seg.ItemCount}
	prog.read.Store(seg.ItemCount)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		c.heartbeat(segCtx, cancel, lease, claimed, m, pace, prog, log)
	}()
	runner := c.Exporter
	if exp.IsRestore() {
		runner = c.Restorer
	}
	var res segexport.Result
	var runErr error
	if runner == nil {
		runErr = fault.Permanent(fmt.Errorf("this worker has no runner for %s jobs", exp.Kind.OrDefault()))
	} else {
		res, runErr = runner.Run(segCtx, segexport.Job{
			Export: exp, Segment: seg, Lease: lease, Drain: drain, Pacer: c.Metrics.Pacer(exp.ExportID, prog), Read: &prog.read,
		})
	}
	cause := context.Cause(segCtx)
	cancel(nil)
	<-hbDone
	// What the run read since the last heartbeat: a segment that ends
	// between two heartbeats (all of them, when it takes less than one)
	// would otherwise never report its last items.
	c.Metrics.Items(exp.ExportID, prog.unreported(prog.read.Load()))
	// Hand-back calls get their own short budget: the work context may be
	// the thing that just ended.
	bg, stop := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer stop()

	o := outcome{runErr: runErr, cause: cause, stopping: ctx.Err() != nil,
		receiveCount: m.ReceiveCount, maxReceive: c.maxReceive, leaseDuration: c.Config.LeaseDuration}
	if export.IsLeaseLost(runErr) || export.IsLeaseLost(cause) {
		if e, err := c.Store.GetExport(bg, m.ExportID); err == nil {
			o.exportState = e.State
		}
	}
	d := decide(o)
	switch d.verb {
	case finish:
		c.Metrics.SegmentDone(exp.ExportID)
	case abandon:
		if o.exportState == export.Cancelled {
			log.Info("export cancelled; abandoning segment")
			break
		}
		c.Metrics.LeaseLost(exp.ExportID)
		log.Warn("lost the segment's lease; abandoning this attempt", zap.Error(runErr), zap.NamedError("cause", cause))
	case handBack:
		if err := c.Store.ReleaseSegment(bg, lease, "released by draining worker"); err != nil && !export.IsLeaseLost(err) {
			log.Warn("could not release lease; it will expire", zap.Error(err))
		}
		if err := c.Queue.SetVisibility(bg, m.ReceiptHandle, 0); err != nil {
			log.Warn("could not make message visible; it will reappear after its timeout", zap.Error(err))
		}
		log.Info("segment handed back at its last checkpoint", zap.Int("partsThisAttempt", res.Parts))
	case failFinal, retryLater:
		if err := c.Store.FailSegment(bg, lease, runErr.Error(), d.verb == failFinal); err != nil {
			log.Warn("could not record failure", zap.Error(err))
		}
		if d.verb == failFinal {
			c.Metrics.SegmentFailed(exp.ExportID)
			log.Error("segment failed", zap.Error(runErr), zap.String("kind", fault.Classify(runErr).String()))
		} else {
			log.Warn("segment attempt failed; will retry from its checkpoint", zap.Error(runErr), zap.Duration("after", d.delay))
			if err := c.Queue.SetVisibility(bg, m.ReceiptHandle, d.delay); err != nil {
				log.Warn("could not delay retry", zap.Error(err))
			}
		}
	}
	if d.deleteMessage {
		c.deleteMsg(bg, m, log)
	}
	if d.verb == finish || d.verb == failFinal {
		// Settling after the last segment finalizes the export: it checks
		// every part and writes the manifests, which takes as long as the
		// export is large, not a hand-back's budget. So it gets a context
		// of its own, detached from the work context (a drain does not
		// cut it short; ECS scale-in protection is held until it ends).
		// The finalizer renews its claim meanwhile and stops once it
		// loses it; settleBudget only bounds a call that hangs.
		const settleBudget = time.Hour
		settleCtx, stopSettle := context.WithTimeout(context.WithoutCancel(ctx), settleBudget)
		err := c.Settler.Settle(settleCtx, m.ExportID)
		stopSettle()
		if err != nil {
			log.Error("could not settle export; a rescuer will", zap.Error(err))
		}
	}
}

func (c *Consumer) deleteMsg(ctx context.Context, m queue.Message, log *zap.Logger) {
	if err := c.Queue.Delete(ctx, m.ReceiptHandle); err != nil {
		log.Warn("could not delete message; it will be redelivered and dropped then", zap.Error(err))
	}
}

// progress is what a segment's heartbeat reports: the items the run has
// read (kept by segexport) and the read units its pages consumed (counted
// here, on the way to the pacer), both cumulative over attempts.
type progress struct {
	pacer segexport.Pacer
	read  atomic.Int64
	mu    sync.Mutex
	units float64
	// reported is the read count already given to the metrics, by
	// heartbeats and then by run once the heartbeat has stopped.
	reported int64
}

// unreported returns the items read (read: the cumulative count) since
// the last call, and remembers read as reported.
func (p *progress) unreported(read int64) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := read - p.reported
	p.reported = read
	return n
}

func (p *progress) Wait(ctx context.Context) error { return p.pacer.Wait(ctx) }
func (p *progress) Throttled()                     { p.pacer.Throttled() }

func (p *progress) Consumed(units float64) {
	p.mu.Lock()
	p.units += units
	p.mu.Unlock()
	p.pacer.Consumed(units)
}

func (p *progress) now() export.Progress {
	p.mu.Lock()
	defer p.mu.Unlock()
	return export.Progress{Items: p.read.Load(), ReadUnits: p.units}
}
