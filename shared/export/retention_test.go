package export_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/export"
)

func TestRetentionDueForActiveExportsPastHalfTheirRetention(t *testing.T) {
	const retention = 90 * 24 * time.Hour
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		state export.State
		left  time.Duration // until the rows expire
		due   bool
	}{
		{export.Running, retention, false},
		{export.Running, retention/2 + time.Second, false},
		{export.Running, retention/2 - time.Second, true},
		{export.Pending, time.Hour, true},
		{export.Finalizing, time.Hour, true},
		{export.Running, -time.Hour, true}, // late, but the rows may not be gone yet
		{export.Completed, time.Hour, false},
		{export.Failed, time.Hour, false},
		{export.Cancelled, time.Hour, false},
	} {
		e := &export.Export{State: c.state, ExpiresAt: now.Add(c.left)}
		require.Equal(t, c.due, e.RetentionDue(now, retention), "%s with %s left", c.state, c.left)
	}
	require.False(t, (&export.Export{State: export.Running}).RetentionDue(now, retention), "rows without an expiry never expire")
}
