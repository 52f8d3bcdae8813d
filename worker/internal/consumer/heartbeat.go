package consumer

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/queue"
	"github.com/ddbfleet/ddbfleet/worker/internal/pacer"
)

// heartbeat extends the lease and the message's visibility together, well
// inside the lease, re-divides the read cap among the export's live leases,
// and stops the segment when the lease is lost or the export is cancelled.
func (c *Consumer) heartbeat(ctx context.Context, stop context.CancelCauseFunc, lease export.Lease, m queue.Message, pace *pacer.Pacer, prog *progress, log *zap.Logger) {
	t := c.Clock.NewTicker(c.Config.LeaseDuration / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		now := prog.now()
		c.Metrics.Items(lease.ExportID, prog.unreported(now.Items))
		err := c.Store.Heartbeat(ctx, lease, c.Config.LeaseDuration, now)
		if export.IsLeaseLost(err) {
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
		if e.State == export.Cancelled {
			log.Info("export cancelled; abandoning segment")
			stop(fmt.Errorf("export cancelled: %w", export.ErrLeaseLost))
			return
		}
		if e.ReadCapacityCap > 0 {
			if n, err := c.Store.CountLeased(ctx, e.ExportID); err == nil && n > 0 {
				pace.SetRate(e.ReadShare(n))
			}
		}
	}
}
