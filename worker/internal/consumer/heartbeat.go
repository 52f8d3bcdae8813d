package consumer

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/queue"
	"github.com/ddbfleet/ddbfleet/worker/internal/pacer"
)

// heartbeat extends the lease and the message's visibility together, well
// inside the lease, takes the read share the export's steward published on
// the segment row (it comes back with the write: a heartbeat reads
// nothing), and stops the segment when the lease is lost, the export is
// cancelled (its segments are marked, so the heartbeat's condition fails),
// or the lease's deadline passes.
//
// The deadline is the worker's own view of its lease: extended only by a
// heartbeat that succeeded, counted from when that heartbeat was sent, and
// short of the lease by a margin. A worker that cannot reach the control
// table (throttled, partitioned) stops writing before another worker may
// take the segment over, so no file of it lands after the takeover — nor
// after the finalizer has swept data/ for files no part row points at.
// extended is when the claim (the first extension) was sent.
func (c *Consumer) heartbeat(ctx context.Context, stop context.CancelCauseFunc, lease export.Lease, extended time.Time, m queue.Message, pace *pacer.Pacer, prog *progress, log *zap.Logger) {
	ttl := c.Config.LeaseDuration - export.LeaseMargin(c.Config.LeaseDuration)
	t := c.Clock.NewTicker(c.Config.LeaseDuration / 3)
	defer t.Stop()
	deadline := c.Clock.After(ttl - c.Clock.Now().Sub(extended))
	for {
		select {
		case <-ctx.Done():
			return
		case <-deadline:
			log.Warn("no heartbeat succeeded within the lease; abandoning the segment before another worker may take it", zap.Duration("sinceLastExtension", c.Clock.Now().Sub(extended)))
			stop(export.ErrLeaseDeadline)
			return
		case <-t.C():
		}
		now := prog.now()
		c.Metrics.Items(lease.ExportID, prog.unreported(now.Items))
		sent := c.Clock.Now()
		seg, err := c.Store.Heartbeat(ctx, lease, c.Config.LeaseDuration, now)
		if export.IsLeaseLost(err) {
			stop(err)
			return
		}
		if err != nil {
			log.Warn("heartbeat failed", zap.Error(err), zap.Duration("untilDeadline", ttl-c.Clock.Now().Sub(extended)))
			continue
		}
		extended = sent
		deadline = c.Clock.After(ttl - c.Clock.Now().Sub(extended))
		if err := c.Queue.SetVisibility(ctx, m.ReceiptHandle, c.Config.LeaseDuration); err != nil && ctx.Err() == nil {
			log.Debug("could not extend message visibility", zap.Error(err))
		}
		if seg.Share > 0 {
			pace.SetRate(seg.Share)
		}
	}
}
