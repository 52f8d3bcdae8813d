package queue_test

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/internal/testkit/sqsfake"
	"github.com/ddbfleet/ddbfleet/shared/clock"
	"github.com/ddbfleet/ddbfleet/shared/queue"
)

// advancer is implemented by APIs whose clock the suite controls (the
// fake). Against a real server the suite lets real time pass instead, by
// long-polling, so the same assertions hold for both.
type advancer interface{ Advance(time.Duration) }

// clockedFake is the fake with its manual clock attached.
type clockedFake struct {
	*sqsfake.Fake
	clock *clock.Manual
}

func (c clockedFake) Advance(d time.Duration) { c.clock.Advance(d) }

func newFake(*testing.T) queue.API {
	clock := clock.NewManual(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	return clockedFake{Fake: sqsfake.New(clock.Now), clock: clock}
}

func TestConformanceFake(t *testing.T) {
	runConformance(t, newFake)
}

var queueSeq atomic.Int64

// uniqueName keeps runs against a shared server from seeing each other.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1_000_000_000, queueSeq.Add(1))
}

// visibility is short because the real server needs real time to pass;
// whole seconds because SQS counts visibility in seconds.
const visibility = time.Second

// conformance wraps one API under test with the suite's helpers.
type conformance struct {
	t   *testing.T
	api queue.API
	ctx context.Context
}

// elapse lets d pass: the fake's clock jumps; a real server gets the time
// it needs (callers then poll for the resulting condition).
func (c *conformance) elapse(d time.Duration) {
	if a, ok := c.api.(advancer); ok {
		a.Advance(d)
	}
}

// ensure creates a fresh work queue and DLQ and opens the work queue.
func (c *conformance) ensure(maxReceive int) (string, *queue.Queue) {
	c.t.Helper()
	name := uniqueName("conf")
	require.NoError(c.t, queue.Ensure(c.ctx, c.api, name, maxReceive, visibility))
	q, err := queue.Open(c.ctx, c.api, name)
	require.NoError(c.t, err)
	return name, q
}

// receiveWithin polls q until it returns at least one message or within
// passes (the fake's clock is advanced by the same amount first). Polling
// is by long poll, so it returns as soon as a message is receivable.
func (c *conformance) receiveWithin(q *queue.Queue, within, vis time.Duration) []queue.Message {
	c.t.Helper()
	c.elapse(within)
	deadline := time.Now().Add(within + 5*time.Second)
	for {
		msgs, err := q.Receive(c.ctx, 10, c.pollWait(), vis)
		require.NoError(c.t, err)
		if len(msgs) > 0 || time.Now().After(deadline) {
			return msgs
		}
	}
}

// pollWait is one long poll against a server; the fake needs none, its
// time does not move on its own.
func (c *conformance) pollWait() time.Duration {
	if _, ok := c.api.(advancer); ok {
		return 0
	}
	return time.Second
}

// requireQuiet checks nothing is receivable for d: the fake jumps d, a
// server is long-polled for d.
func (c *conformance) requireQuiet(q *queue.Queue, d time.Duration) {
	c.t.Helper()
	wait := time.Duration(0)
	if _, ok := c.api.(advancer); ok {
		c.elapse(d)
	} else {
		wait = d
	}
	msgs, err := q.Receive(c.ctx, 10, wait, visibility)
	require.NoError(c.t, err)
	require.Empty(c.t, msgs, "no message should be receivable")
}

// runConformance checks that api behaves as queue.Queue needs SQS to. It
// runs against the in-memory fake here and against a real emulator in
// conformance_e2e_test.go.
func runConformance(t *testing.T, newAPI func(t *testing.T) queue.API) {
	setup := func(t *testing.T) *conformance {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		t.Cleanup(cancel)
		return &conformance{t: t, api: newAPI(t), ctx: ctx}
	}

	t.Run("EnsureIsIdempotentAndSetsRedrive", func(t *testing.T) {
		c := setup(t)
		name := uniqueName("ens")
		require.NoError(t, queue.Ensure(c.ctx, c.api, name, 3, visibility))
		require.NoError(t, queue.Ensure(c.ctx, c.api, name, 3, visibility), "second Ensure with the same settings")
		q, err := queue.Open(c.ctx, c.api, name)
		require.NoError(t, err)
		require.NotEmpty(t, q.URL())
		n, err := q.MaxReceiveCount(c.ctx)
		require.NoError(t, err)
		require.Equal(t, 3, n)

		// A changed --max-receive-count takes effect on re-init.
		require.NoError(t, queue.Ensure(c.ctx, c.api, name, 7, visibility))
		n, err = q.MaxReceiveCount(c.ctx)
		require.NoError(t, err)
		require.Equal(t, 7, n)

		dlq, err := queue.Open(c.ctx, c.api, queue.DLQName(name))
		require.NoError(t, err, "Ensure creates the dead-letter queue")
		n, err = dlq.MaxReceiveCount(c.ctx)
		require.NoError(t, err)
		require.Equal(t, 0, n, "the dead-letter queue has no redrive of its own")
	})

	t.Run("SendBatchesAndReceiveDeletes", func(t *testing.T) {
		c := setup(t)
		_, q := c.ensure(5)
		// 25 tasks need three batches of at most ten.
		var tasks []queue.Task
		for i := range 25 {
			tasks = append(tasks, queue.Task{ExportID: "exp-1", Segment: i, TotalSegments: 25})
		}
		require.NoError(t, q.Send(c.ctx, tasks))

		var got []int
		deadline := time.Now().Add(30 * time.Second)
		for len(got) < 25 && time.Now().Before(deadline) {
			msgs, err := q.Receive(c.ctx, 10, c.pollWait(), 30*time.Second)
			require.NoError(t, err)
			require.LessOrEqual(t, len(msgs), 10)
			for _, m := range msgs {
				require.Equal(t, "exp-1", m.ExportID)
				require.Equal(t, 25, m.TotalSegments)
				require.Equal(t, 1, m.ReceiveCount, "first delivery")
				require.NotEmpty(t, m.ReceiptHandle)
				require.JSONEq(t, fmt.Sprintf(`{"exportId":"exp-1","segment":%d,"totalSegments":25}`, m.Segment), m.Body)
				got = append(got, m.Segment)
				require.NoError(t, q.Delete(c.ctx, m.ReceiptHandle))
			}
		}
		sort.Ints(got)
		want := make([]int, 25)
		for i := range want {
			want[i] = i
		}
		require.Equal(t, want, got, "every task delivered exactly once")
		// Deleted messages never come back, even after their visibility.
		c.requireQuiet(q, 2*visibility)
	})

	t.Run("VisibilityHidesThenRedelivers", func(t *testing.T) {
		c := setup(t)
		_, q := c.ensure(5)
		require.NoError(t, q.Send(c.ctx, []queue.Task{{ExportID: "e", Segment: 3, TotalSegments: 4}}))
		first := c.receiveWithin(q, 0, visibility)
		require.Len(t, first, 1)
		require.Equal(t, 1, first[0].ReceiveCount)
		require.Equal(t, 3, first[0].Segment)

		// Hidden while in flight.
		msgs, err := q.Receive(c.ctx, 10, 0, visibility)
		require.NoError(t, err)
		require.Empty(t, msgs, "an in-flight message is hidden")

		again := c.receiveWithin(q, visibility+500*time.Millisecond, 30*time.Second)
		require.Len(t, again, 1, "redelivered once the visibility timeout passed")
		require.Equal(t, 2, again[0].ReceiveCount)
		require.Equal(t, 3, again[0].Segment)
		require.NoError(t, q.Delete(c.ctx, again[0].ReceiptHandle))
		c.requireQuiet(q, 2*visibility)
	})

	t.Run("SendLaterIsAFreshDelayedMessageCountedInTheBacklog", func(t *testing.T) {
		c := setup(t)
		_, q := c.ensure(5)
		require.NoError(t, q.SendLater(c.ctx, queue.Task{ExportID: "e", Segment: 2, TotalSegments: 4}, 2*time.Second))
		msgs, err := q.Receive(c.ctx, 10, 0, visibility)
		require.NoError(t, err)
		require.Empty(t, msgs, "a delayed message is not receivable yet")
		n, err := q.Backlog(c.ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n, "a delayed message is work: the queue is not idle")
		later := c.receiveWithin(q, 3*time.Second, 30*time.Second)
		require.Len(t, later, 1)
		require.Equal(t, 1, later[0].ReceiveCount, "its first delivery")
		require.Equal(t, 2, later[0].Segment)
	})

	t.Run("SetVisibilityZeroReleasesAndPositiveExtends", func(t *testing.T) {
		c := setup(t)
		_, q := c.ensure(5)
		require.NoError(t, q.Send(c.ctx, []queue.Task{{ExportID: "e", Segment: 0, TotalSegments: 1}}))
		m := c.receiveWithin(q, 0, 30*time.Second)
		require.Len(t, m, 1)

		// Release on drain: visible at once, no waiting for the 30 s.
		require.NoError(t, q.SetVisibility(c.ctx, m[0].ReceiptHandle, 0))
		m2 := c.receiveWithin(q, 0, visibility)
		require.Len(t, m2, 1)
		require.Equal(t, 2, m2[0].ReceiveCount)

		// Heartbeat: extend well past the receive's visibility; it stays
		// hidden after that visibility would have run out.
		require.NoError(t, q.SetVisibility(c.ctx, m2[0].ReceiptHandle, 30*time.Second))
		c.requireQuiet(q, 2*visibility)
		require.NoError(t, q.Delete(c.ctx, m2[0].ReceiptHandle))
	})

	t.Run("RedriveToDLQAfterMaxReceiveCount", func(t *testing.T) {
		c := setup(t)
		name, q := c.ensure(2)
		dlq, err := queue.Open(c.ctx, c.api, queue.DLQName(name))
		require.NoError(t, err)
		require.NoError(t, q.Send(c.ctx, []queue.Task{{ExportID: "poison", Segment: 9, TotalSegments: 10}}))

		for want := 1; want <= 2; want++ {
			within := time.Duration(0)
			if want > 1 {
				within = visibility + 500*time.Millisecond
			}
			m := c.receiveWithin(q, within, visibility)
			require.Len(t, m, 1, "delivery %d", want)
			require.Equal(t, want, m[0].ReceiveCount)
		}
		// The third delivery would exceed maxReceiveCount: the message moves
		// to the DLQ instead (moved when next received, as SQS does).
		c.elapse(visibility + 500*time.Millisecond)
		var parked []queue.Message
		deadline := time.Now().Add(15 * time.Second)
		for len(parked) == 0 && time.Now().Before(deadline) {
			main, err := q.Receive(c.ctx, 10, 0, visibility)
			require.NoError(t, err)
			require.Empty(t, main, "no third delivery from the work queue")
			parked, err = dlq.Receive(c.ctx, 10, c.pollWait(), 30*time.Second)
			require.NoError(t, err)
		}
		require.Len(t, parked, 1, "the message is parked in the dead-letter queue")
		require.Equal(t, "poison", parked[0].ExportID)
		require.Equal(t, 9, parked[0].Segment)
		require.NoError(t, dlq.Delete(c.ctx, parked[0].ReceiptHandle))
		c.requireQuiet(q, 2*visibility)
	})

	t.Run("UnknownQueue", func(t *testing.T) {
		c := setup(t)
		_, err := queue.Open(c.ctx, c.api, uniqueName("missing"))
		require.Error(t, err)
		var nq *types.QueueDoesNotExist
		require.ErrorAs(t, err, &nq, "a missing queue is recognisable: %v", err)
		require.Contains(t, err.Error(), "coordinator init", "the error says how to fix it")
	})
}

// TestSendRetriesFailedEntries is fake-only: a real server cannot be told
// to fail some entries of a batch, which is what Send must recover from.
func TestSendRetriesFailedEntries(t *testing.T) {
	ctx := context.Background()
	fake := sqsfake.New(nil)
	require.NoError(t, queue.Ensure(ctx, fake, "retry", 5, visibility))
	q, err := queue.Open(ctx, fake, "retry")
	require.NoError(t, err)
	fake.FailNextEntries(3)
	var tasks []queue.Task
	for i := range 12 {
		tasks = append(tasks, queue.Task{ExportID: "e", Segment: i, TotalSegments: 12})
	}
	require.NoError(t, q.Send(ctx, tasks))
	seen := map[int]int{}
	for {
		msgs, err := q.Receive(ctx, 10, 0, time.Minute)
		require.NoError(t, err)
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			seen[m.Segment]++
		}
	}
	require.Len(t, seen, 12, "failed entries were re-sent")
	for seg, n := range seen {
		require.Equal(t, 1, n, "segment %d sent once", seg)
	}
}
