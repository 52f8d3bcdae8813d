// Package consumer owns a worker's main loop: it long-polls the work queue,
// claims each segment in the control table, runs it under a heartbeat that
// keeps both the lease and the message's visibility alive, and settles the
// message by the outcome — delete when done or not ours, release when
// draining, retry later or fail for good on errors.
//
// Two contexts drive shutdown: the receive context ends on SIGTERM (stop
// taking work, checkpoint what is in hand); the work context ends when the
// drain budget is spent (abort, and hand the segment back at its last
// checkpoint).
package consumer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/lifecycle"
	"github.com/ddbfleet/ddbfleet/shared/queue"
	"github.com/ddbfleet/ddbfleet/worker/internal/ecsprotect"
	"github.com/ddbfleet/ddbfleet/worker/internal/pacer"
	"github.com/ddbfleet/ddbfleet/worker/internal/segexport"
)

// Config tunes the loop.
type Config struct {
	Concurrency   int
	ExitWhenIdle  time.Duration // 0: run until signalled
	DrainTimeout  time.Duration
	LeaseDuration time.Duration
}

// Consumer is one worker process's loop.
type Consumer struct {
	Config   Config
	Queue    *queue.Queue
	Store    *controltable.Store
	Life     *lifecycle.Lifecycle
	Exporter *segexport.Exporter
	Protect  *ecsprotect.Protector
	Log      *zap.Logger

	id         string
	maxReceive int
	inflight   atomic.Int32
	lastActive atomic.Int64 // unix nanos of the last message or finished job
}

// Run consumes until ctx ends (then drains) or the queue stays idle for
// ExitWhenIdle. It returns nil on a clean stop.
func (c *Consumer) Run(ctx context.Context) error {
	host, _ := os.Hostname()
	c.id = fmt.Sprintf("%s/%d", host, os.Getpid())
	mr, err := c.Queue.MaxReceiveCount(ctx)
	if err != nil {
		return err
	}
	c.maxReceive = mr
	c.touch()
	log := c.Log.With(zap.String("worker", c.id))
	log.Info("worker started", zap.Int("concurrency", c.Config.Concurrency), zap.Duration("lease", c.Config.LeaseDuration), zap.Int("maxReceiveCount", mr))

	workCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	defer abort()
	drain := make(chan struct{})
	slots := make(chan struct{}, c.Config.Concurrency)
	var wg sync.WaitGroup

	// The drain budget runs from the signal, not from when the loop
	// notices it (a long poll may still be finishing).
	var signalled atomic.Int64
	stopWatch := context.AfterFunc(ctx, func() { signalled.Store(time.Now().UnixNano()) })
	defer stopWatch()

	rescueCtx, stopRescue := context.WithCancel(ctx)
	defer stopRescue()
	go c.rescueLoop(rescueCtx)

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
		// The long poll is not cut by SIGTERM: a receive abandoned
		// mid-answer loses its messages until their visibility timeout
		// (a whole lease). It is short enough to end inside the drain
		// budget instead, and what it brings after SIGTERM is handed back.
		wait := min(20*time.Second, max(time.Second, c.Config.DrainTimeout/4))
		if c.Config.ExitWhenIdle > 0 {
			wait = max(time.Second, min(wait, c.Config.ExitWhenIdle/2))
		}
		msgs, err := c.Queue.Receive(workCtx, min(free, 10), wait, c.Config.LeaseDuration)
		if ctx.Err() != nil {
			for _, m := range msgs {
				_ = c.Queue.SetVisibility(workCtx, m.ReceiptHandle, 0)
			}
			break
		}
		if err != nil {
			log.Warn("receive failed; retrying", zap.Error(err))
			sleep(ctx, 2*time.Second)
			continue
		}
		if len(msgs) == 0 {
			idle := time.Since(time.Unix(0, c.lastActive.Load()))
			if c.Config.ExitWhenIdle > 0 && c.inflight.Load() == 0 && idle >= c.Config.ExitWhenIdle {
				// Messages hidden in flight elsewhere may come back (their
				// worker died, or a receive's answer was lost): the queue
				// is only idle when nothing is waiting and nothing is out.
				if n, err := c.Queue.Backlog(ctx); err != nil || n > 0 {
					if err == nil {
						log.Debug("no message for us, but some are in flight; staying", zap.Int("inFlight", n))
					}
					continue
				}
				log.Info("queue idle; exiting", zap.Duration("idle", idle))
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
		budget -= time.Since(time.Unix(0, at))
	}
	select {
	case <-done:
	case <-time.After(budget):
		log.Warn("drain budget spent; abandoning work in hand to its last checkpoint")
		abort()
		<-done
	}
	log.Info("worker stopped")
	return nil
}

func (c *Consumer) touch() { c.lastActive.Store(time.Now().UnixNano()) }

func (c *Consumer) handle(ctx context.Context, m queue.Message, drain <-chan struct{}, log *zap.Logger) {
	log = log.With(zap.String("exportId", m.ExportID), zap.Int("segment", m.Segment), zap.Int("receiveCount", m.ReceiveCount))
	if m.ExportID == "" {
		log.Error("dropping malformed queue message", zap.String("body", m.Body))
		c.deleteMsg(ctx, m, log)
		return
	}
	exp, err := c.Store.GetExport(ctx, m.ExportID)
	if errors.Is(err, controltable.ErrNotFound) {
		log.Error("dropping message for unknown export")
		c.deleteMsg(ctx, m, log)
		return
	}
	if err != nil {
		log.Warn("cannot read export; message will be redelivered", zap.Error(err))
		return
	}
	if exp.State.Terminal() || exp.State == controltable.ExportFinalizing {
		log.Info("export no longer running; dropping message", zap.String("state", string(exp.State)))
		c.deleteMsg(ctx, m, log)
		return
	}
	owner := c.id + "/" + nonce()
	seg, lease, err := c.Store.ClaimSegment(ctx, m.ExportID, m.Segment, owner, c.Config.LeaseDuration)
	var nc *controltable.NotClaimableError
	if errors.As(err, &nc) {
		// Done, failed, or held by a live worker that has its own message:
		// this copy is a duplicate.
		log.Info("segment not claimable; dropping duplicate message", zap.String("why", nc.Error()))
		c.deleteMsg(ctx, m, log)
		return
	}
	if err != nil {
		log.Warn("claim failed; message will be redelivered", zap.Error(err))
		return
	}
	log = log.With(zap.Int("attempt", lease.Attempt))
	log.Info("segment claimed", zap.Int("nextPart", seg.NextPart))
	c.Protect.Acquire(ctx)
	defer c.Protect.Release(context.WithoutCancel(ctx))

	segCtx, cancel := context.WithCancelCause(ctx)
	pace := pacer.New(c.share(ctx, exp, true))
	var read atomic.Int64
	read.Store(seg.ItemCount)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		c.heartbeat(segCtx, cancel, lease, m, pace, &read, log)
	}()
	res, runErr := c.Exporter.Run(segCtx, segexport.Job{
		Export: exp, Segment: seg, Lease: lease, Drain: drain, Pacer: pace, Read: &read,
	})
	cause := context.Cause(segCtx)
	cancel(nil)
	<-hbDone
	// Hand-back calls get their own short budget: the work context may be
	// the thing that just ended.
	bg, stop := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer stop()

	switch {
	case runErr == nil:
		c.deleteMsg(bg, m, log)
		if err := c.Life.Settle(bg, m.ExportID); err != nil {
			log.Error("could not settle export; the coordinator's rescuer will", zap.Error(err))
		}
	case controltable.IsLeaseLost(runErr) || controltable.IsLeaseLost(cause):
		// Another attempt owns the segment now, and its own delivery of
		// this message; deleting with our stale receipt could remove it.
		// If the export stopped instead, the message has nothing to do.
		log.Warn("lost the segment's lease; abandoning this attempt", zap.Error(runErr))
		if e, err := c.Store.GetExport(bg, m.ExportID); err == nil && e.State.Terminal() {
			c.deleteMsg(bg, m, log)
		}
	case errors.Is(runErr, segexport.ErrDrained) || ctx.Err() != nil:
		if err := c.Store.ReleaseSegment(bg, lease, "released by draining worker"); err != nil && !controltable.IsLeaseLost(err) {
			log.Warn("could not release lease; it will expire", zap.Error(err))
		}
		if err := c.Queue.SetVisibility(bg, m.ReceiptHandle, 0); err != nil {
			log.Warn("could not make message visible; it will reappear after its timeout", zap.Error(err))
		}
		log.Info("segment handed back at its last checkpoint", zap.Int("partsThisAttempt", res.Parts))
	default:
		final := fault.Classify(runErr) != fault.KindRetryable || (c.maxReceive > 0 && m.ReceiveCount >= c.maxReceive)
		if err := c.Store.FailSegment(bg, lease, runErr.Error(), final); err != nil {
			log.Warn("could not record failure", zap.Error(err))
		}
		if final {
			log.Error("segment failed", zap.Error(runErr), zap.String("kind", fault.Classify(runErr).String()))
			c.deleteMsg(bg, m, log)
			if err := c.Life.Settle(bg, m.ExportID); err != nil {
				log.Error("could not settle export", zap.Error(err))
			}
			return
		}
		delay := min(c.Config.LeaseDuration, time.Duration(m.ReceiveCount)*5*time.Second)
		log.Warn("segment attempt failed; will retry from its checkpoint", zap.Error(runErr), zap.Duration("after", delay))
		if err := c.Queue.SetVisibility(bg, m.ReceiptHandle, delay); err != nil {
			log.Warn("could not delay retry", zap.Error(err))
		}
	}
}

// share is this segment's slice of the export's fleet-wide read-capacity
// cap. A new claim takes cap ÷ unfinished segments, the safe side: the sum
// of all shares cannot pass the cap however many workers start at once.
// Heartbeats then raise it to cap ÷ segments leased right now, so a fleet
// with fewer slots than segments still uses the whole cap. The one overshoot
// left is brief: while the fleet scales out, until the next heartbeat of the
// segments already running (docs/performance.md).
func (c *Consumer) share(ctx context.Context, e *controltable.Export, atClaim bool) float64 {
	if e.ReadCapacityCap <= 0 {
		return 0
	}
	n := e.SegmentsTotal - e.SegmentsDone - e.SegmentsFailed
	if !atClaim {
		if leased, err := c.Store.CountLeased(ctx, e.ExportID); err == nil && leased > 0 {
			n = leased
		}
	}
	return e.ReadCapacityCap / float64(max(1, n))
}

// heartbeat extends the lease and the message's visibility together, well
// inside the lease, and stops the segment when the lease is lost or the
// export is cancelled.
func (c *Consumer) heartbeat(ctx context.Context, stop context.CancelCauseFunc, lease controltable.Lease, m queue.Message, pace *pacer.Pacer, read *atomic.Int64, log *zap.Logger) {
	t := time.NewTicker(c.Config.LeaseDuration / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := c.Store.HeartbeatProgress(ctx, lease, c.Config.LeaseDuration, read.Load())
		if controltable.IsLeaseLost(err) {
			stop(err)
			return
		}
		if err != nil {
			log.Warn("heartbeat failed", zap.Error(err))
			continue
		}
		if err := c.Queue.SetVisibility(ctx, m.ReceiptHandle, c.Config.LeaseDuration); err != nil && ctx.Err() == nil {
			log.Debug("could not extend message visibility", zap.Error(err))
		}
		e, err := c.Store.GetExport(ctx, lease.ExportID)
		if err != nil {
			continue
		}
		if e.State == controltable.ExportCancelled {
			log.Info("export cancelled; abandoning segment")
			stop(fmt.Errorf("export cancelled: %w", controltable.ErrLeaseLost))
			return
		}
		pace.SetRate(c.share(ctx, e, false))
	}
}

func (c *Consumer) deleteMsg(ctx context.Context, m queue.Message, log *zap.Logger) {
	if err := c.Queue.Delete(ctx, m.ReceiptHandle); err != nil {
		log.Warn("could not delete message; it will be redelivered and dropped then", zap.Error(err))
	}
}

// rescueLoop re-enqueues segments whose worker died and settles exports
// nobody settled, for every active export, so the fleet heals itself even
// when no coordinator waits. Each worker does it; the conditional writes
// underneath make concurrent rescuers harmless.
func (c *Consumer) rescueLoop(ctx context.Context) {
	t := time.NewTicker(c.Config.LeaseDuration)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ids, err := c.Store.ListActive(ctx)
		if err != nil {
			c.Log.Warn("cannot list active exports for rescue", zap.Error(err))
			continue
		}
		for _, id := range ids {
			if _, err := c.Life.Rescue(ctx, id, c.Config.LeaseDuration, nil); err != nil && ctx.Err() == nil {
				c.Log.Warn("rescue pass failed", zap.String("exportId", id), zap.Error(err))
			}
		}
	}
}

func nonce() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
