package export_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/export"
)

func TestOwnersAreUniqueAndNameTheirProcess(t *testing.T) {
	p := export.Process()
	a, b := export.NewOwner(p), export.NewOwner(p)
	require.NotEqual(t, a, b, "a retried claim must not be mistaken for another")
	now := time.Now()
	live := now.Add(time.Minute)
	segs := []*export.Segment{
		{State: export.SegmentRunning, Owner: a, LeaseExpiry: live},
		{State: export.SegmentRunning, Owner: b, LeaseExpiry: live},
		{State: export.SegmentRunning, Owner: export.NewOwner("other/1"), LeaseExpiry: live},
		{State: export.SegmentRunning, Owner: export.NewOwner("dead/2"), LeaseExpiry: now.Add(-time.Second)},
	}
	require.Equal(t, 2, export.Holders(segs, now), "two claims of one process count once; an expired lease not at all")
}
