package lifecycle

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/export"
)

// RetainRows keeps the control rows of an export still being worked on
// from expiring under it. Rows are written to expire
// controltable.Retention later, so an export running (or left PENDING)
// longer would lose its segments, checkpoints and parts to TTL mid-way;
// once e's rows expire within half of that (export.RetentionDue), every
// row is re-stamped to expire a full Retention from now. Every rescuer
// calls this for every active export, and the store lets one of them do
// the work: an export's rows are re-stamped at most once per half
// Retention. Until then it costs nothing but the comparison.
//
// e is the export as the caller just read it: its ExpiresAt is what the
// store's claim compares, so a stale read does nothing. It reports
// whether this call re-stamped the rows.
func (l *Lifecycle) RetainRows(ctx context.Context, e *export.Export) (bool, error) {
	now := l.now()
	if !e.RetentionDue(now, controltable.Retention) {
		return false, nil
	}
	until := now.Add(controltable.Retention)
	ok, err := l.Store.ExtendRetention(ctx, e.ExportID, e.ExpiresAt, until)
	if err != nil {
		return false, fmt.Errorf("extend the retention of the control rows of export %s: %w", e.ExportID, err)
	}
	if ok {
		l.Log.Info("control rows of a long-running export now expire later", zap.String("exportId", e.ExportID),
			zap.String("state", string(e.State)), zap.Time("expiredAt", e.ExpiresAt), zap.Time("expiresAt", until))
	}
	return ok, nil
}
