package consumer_test

// The worker loop on the in-memory control table and SQS: what happens to
// each message, end to end through Run, in a second or two of real time.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ddbfleet/ddbfleet/internal/testkit/memstore"
	"github.com/ddbfleet/ddbfleet/internal/testkit/sqsfake"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/queue"
	"github.com/ddbfleet/ddbfleet/worker/internal/consumer"
	"github.com/ddbfleet/ddbfleet/worker/internal/metrics"
	"github.com/ddbfleet/ddbfleet/worker/internal/segexport"
)

// runner is a stand-in segment exporter: run decides each job's fate.
type runner struct {
	store *memstore.Store
	run   func(ctx context.Context, job segexport.Job) error
	jobs  atomic.Int32
}

func (r *runner) Run(ctx context.Context, job segexport.Job) (segexport.Result, error) {
	r.jobs.Add(1)
	if err := r.run(ctx, job); err != nil {
		return segexport.Result{}, err
	}
	return segexport.Result{}, r.store.CompleteSegment(ctx, job.Lease, nil, export.Checkpoint{NextPart: 0})
}

type settler struct{ n atomic.Int32 }

func (s *settler) Settle(context.Context, string) error { s.n.Add(1); return nil }

type noProtect struct{}

func (noProtect) Acquire(context.Context) {}
func (noProtect) Release(context.Context) {}

type loop struct {
	t      *testing.T
	ctx    context.Context
	store  *memstore.Store
	sqs    *sqsfake.Fake
	work   *queue.Queue
	runner *runner
	settle *settler
	cons   *consumer.Consumer
}

func newLoop(t *testing.T, run func(ctx context.Context, job segexport.Job) error) *loop {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	sqs := sqsfake.New(nil)
	require.NoError(t, queue.Ensure(ctx, sqs, "work", 3, time.Minute))
	work, err := queue.Open(ctx, sqs, "work")
	require.NoError(t, err)
	store := memstore.New(nil)
	l := &loop{t: t, ctx: ctx, store: store, sqs: sqs, work: work, runner: &runner{store: store, run: run}, settle: &settler{}}
	l.cons = &consumer.Consumer{
		Config: consumer.Config{Concurrency: 2, ExitWhenIdle: time.Second, DrainTimeout: 4 * time.Second, LeaseDuration: 3 * time.Second},
		ID:     "test-worker", Queue: work, Store: store, Settler: l.settle, Exporter: l.runner,
		Protect: noProtect{}, Log: zaptest.NewLogger(t),
	}
	return l
}

func (l *loop) export(n int) *export.Export {
	l.t.Helper()
	e := &export.Export{ExportID: "exp", Table: "t", Bucket: "b", SegmentsTotal: n}
	require.NoError(l.t, l.store.CreateExport(l.ctx, e))
	tasks := make([]queue.Task, n)
	for i := range tasks {
		tasks[i] = queue.Task{ExportID: "exp", Segment: i, TotalSegments: n}
	}
	require.NoError(l.t, l.work.Send(l.ctx, tasks))
	return e
}

func (l *loop) backlog() int {
	l.t.Helper()
	n, err := l.work.Backlog(l.ctx)
	require.NoError(l.t, err)
	return n
}

func TestLoopFinishesSegmentsDeletesMessagesAndExitsWhenIdle(t *testing.T) {
	l := newLoop(t, func(context.Context, segexport.Job) error { return nil })
	l.export(3)
	require.NoError(t, l.cons.Run(l.ctx))
	require.EqualValues(t, 3, l.runner.jobs.Load())
	require.EqualValues(t, 3, l.settle.n.Load(), "each finished segment settles the export")
	require.Zero(t, l.backlog(), "every message deleted")
	e, err := l.store.GetExport(l.ctx, "exp")
	require.NoError(t, err)
	require.Equal(t, 3, e.SegmentsDone)
}

func TestLoopDropsMessagesForUnknownExports(t *testing.T) {
	l := newLoop(t, func(context.Context, segexport.Job) error { return nil })
	require.NoError(t, l.work.Send(l.ctx, []queue.Task{{ExportID: "gone", Segment: 0, TotalSegments: 1}}))
	require.NoError(t, l.cons.Run(l.ctx))
	require.Zero(t, l.runner.jobs.Load())
	require.Zero(t, l.backlog())
}

func TestLoopHidesAMessageWhoseSegmentIsLeasedElsewhere(t *testing.T) {
	l := newLoop(t, func(context.Context, segexport.Job) error { return nil })
	l.export(1)
	_, _, err := l.store.ClaimSegment(l.ctx, "exp", 0, "other-worker", time.Hour)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(l.ctx)
	done := make(chan error, 1)
	go func() { done <- l.cons.Run(ctx) }()
	require.Eventually(t, func() bool { return l.store.Calls()["ClaimSegment"] >= 2 }, 10*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Zero(t, l.runner.jobs.Load())
	require.Equal(t, 1, l.backlog(), "the message is kept (handed back), not dropped")
	var msgs []queue.Message
	require.Eventually(t, func() bool {
		msgs, err = l.work.Receive(l.ctx, 10, 0, time.Minute)
		return err == nil && len(msgs) == 1
	}, 10*time.Second, 50*time.Millisecond, "the handed-back copy shows again")
	require.Equal(t, 1, msgs[0].ReceiveCount, "a fresh copy: handing back never counts toward the dead-letter queue")
}

func TestLoopRetriesARetryableFailureThenFailsForGood(t *testing.T) {
	l := newLoop(t, func(context.Context, segexport.Job) error {
		return fault.Retryable(errors.New("scan throttled"))
	})
	l.cons.Config.ExitWhenIdle = 0
	l.export(1)
	// The queue fake redelivers at once when the delay ends; with
	// maxReceiveCount 3 the third failure is final.
	ctx, cancel := context.WithCancel(l.ctx)
	done := make(chan error, 1)
	go func() { done <- l.cons.Run(ctx) }()
	require.Eventually(t, func() bool {
		seg, err := l.store.GetSegment(l.ctx, "exp", 0)
		return err == nil && seg.Failures == 1 && seg.State == export.SegmentRunning && !seg.LeaseExpiry.After(time.Now())
	}, 10*time.Second, 10*time.Millisecond, "the failed attempt is recorded and its lease released")
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, 1, l.backlog(), "the message waits for its retry")
}

func TestLoopFailsAPermanentFailureAtOnce(t *testing.T) {
	l := newLoop(t, func(context.Context, segexport.Job) error {
		return fault.Permanent(errors.New("access denied"))
	})
	l.export(1)
	require.NoError(t, l.cons.Run(l.ctx))
	seg, err := l.store.GetSegment(l.ctx, "exp", 0)
	require.NoError(t, err)
	require.Equal(t, export.SegmentFailed, seg.State)
	require.Contains(t, seg.LastError, "access denied")
	require.Zero(t, l.backlog())
	require.EqualValues(t, 1, l.settle.n.Load())
}

func TestLoopDrainsAndHandsTheSegmentBack(t *testing.T) {
	var started sync.Once
	running := make(chan struct{})
	l := newLoop(t, func(ctx context.Context, job segexport.Job) error {
		started.Do(func() { close(running) })
		select {
		case <-job.Drain:
			return segexport.ErrDrained
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	l.export(1)
	ctx, cancel := context.WithCancel(l.ctx)
	done := make(chan error, 1)
	go func() { done <- l.cons.Run(ctx) }()
	<-running
	cancel() // SIGTERM
	require.NoError(t, <-done)
	seg, err := l.store.GetSegment(l.ctx, "exp", 0)
	require.NoError(t, err)
	require.True(t, seg.LeaseExpiry.IsZero(), "the lease is released for the next worker")
	require.Equal(t, "released by draining worker", seg.LastError)
	msgs, err := l.work.Receive(l.ctx, 10, 0, time.Minute)
	require.NoError(t, err)
	require.Len(t, msgs, 1, "the message is visible again at once")
}

func TestLoopAbandonsASegmentWhoseLeaseWasLost(t *testing.T) {
	l := newLoop(t, func(ctx context.Context, job segexport.Job) error {
		return export.ErrLeaseLost
	})
	l.cons.Config.ExitWhenIdle = 0
	l.export(1)
	ctx, cancel := context.WithCancel(l.ctx)
	done := make(chan error, 1)
	go func() { done <- l.cons.Run(ctx) }()
	require.Eventually(t, func() bool { return l.runner.jobs.Load() == 1 }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return l.store.Calls()["GetExport"] >= 2 }, 10*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Zero(t, l.settle.n.Load(), "a lost lease settles nothing")
	require.Equal(t, 1, l.backlog(), "the new owner's message is not deleted")
}

// itemsExported flushes em and sums the ItemsExported of export id over
// the EMF lines it printed.
func itemsExported(t *testing.T, em *metrics.Emitter, out *bytes.Buffer, id string) int64 {
	t.Helper()
	require.NoError(t, em.Flush())
	var sum int64
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if line == "" {
			continue
		}
		var v struct {
			ExportID      string `json:"ExportId"`
			ItemsExported *int64
		}
		require.NoError(t, json.Unmarshal([]byte(line), &v), line)
		if v.ExportID == id && v.ItemsExported != nil {
			sum += *v.ItemsExported
		}
	}
	return sum
}

func TestItemsExportedCountsWhatASegmentReadAfterItsLastHeartbeat(t *testing.T) {
	// Each run is over long before its first heartbeat (a third of the 3 s
	// lease): only the report at the end of the run can count its items.
	l := newLoop(t, func(_ context.Context, job segexport.Job) error {
		job.Read.Store(int64(100 + job.Segment.Segment))
		return nil
	})
	var out bytes.Buffer
	l.cons.Metrics = metrics.New(&out, nil, 0)
	l.export(3)
	require.NoError(t, l.cons.Run(l.ctx))
	require.EqualValues(t, 100+101+102, itemsExported(t, l.cons.Metrics, &out, "exp"))
}

func TestItemsExportedCountsEachItemOnceAcrossHeartbeats(t *testing.T) {
	var l *loop
	l = newLoop(t, func(ctx context.Context, job segexport.Job) error {
		job.Read.Store(40)
		// Wait for a heartbeat to carry the 40 (it reports to the metrics
		// before it writes the control table), then read 60 more.
		for {
			segs, err := l.store.ListSegments(ctx, "exp")
			if err == nil && segs[0].LiveItems == 40 {
				break
			}
			select {
			case <-ctx.Done():
				return fault.Permanent(errors.New("no heartbeat within the test's time"))
			case <-time.After(10 * time.Millisecond):
			}
		}
		job.Read.Store(100)
		return nil
	})
	var out bytes.Buffer
	l.cons.Metrics = metrics.New(&out, nil, 0)
	l.export(1)
	require.NoError(t, l.cons.Run(l.ctx))
	require.EqualValues(t, 100, itemsExported(t, l.cons.Metrics, &out, "exp"))
}

func TestLoopStopsWritingAtItsLeaseDeadlineWhenHeartbeatsFail(t *testing.T) {
	type ended struct {
		after time.Duration
		cause error
	}
	var first atomic.Bool
	first.Store(true)
	endings := make(chan ended, 1)
	l := newLoop(t, func(ctx context.Context, job segexport.Job) error {
		if !first.CompareAndSwap(true, false) {
			return nil // the next attempt, after the lease expired
		}
		start := time.Now()
		<-ctx.Done() // a scan that would go on writing
		endings <- ended{time.Since(start), context.Cause(ctx)}
		return ctx.Err()
	})
	// The control table is out of reach for heartbeats (not a lost
	// lease: the worker cannot tell whether another took the segment).
	l.store.Fault = func(method string, after bool) error {
		if method == "Heartbeat" && !after {
			return fault.Throttled(errors.New("throttled"))
		}
		return nil
	}
	l.export(1)
	require.NoError(t, l.cons.Run(l.ctx))

	e := <-endings
	lease := l.cons.Config.LeaseDuration
	require.ErrorIs(t, e.cause, export.ErrLeaseDeadline)
	require.Less(t, e.after, lease-export.LeaseMargin(lease)/2, "stopped before its lease could run out, with room for skew")
	require.EqualValues(t, 2, l.runner.jobs.Load(), "the message came back after the lease and another attempt finished the segment")
	s, err := l.store.GetSegment(l.ctx, "exp", 0)
	require.NoError(t, err)
	require.Equal(t, export.SegmentDone, s.State)
}

func TestHeartbeatsReadNothing(t *testing.T) {
	l := newLoop(t, func(ctx context.Context, job segexport.Job) error {
		time.Sleep(2500 * time.Millisecond) // two heartbeats (lease 3 s)
		return nil
	})
	l.export(1)
	require.NoError(t, l.cons.Run(l.ctx))
	calls := l.store.Calls()
	require.GreaterOrEqual(t, calls["Heartbeat"], 2)
	require.Equal(t, 1, calls["GetExport"], "one read of the export per message; heartbeats learn their share and a cancel from their own write")
	require.Zero(t, calls["ListSegments"])
}
