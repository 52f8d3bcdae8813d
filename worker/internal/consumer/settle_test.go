package consumer

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/worker/internal/segexport"
)

func TestDecide(t *testing.T) {
	lease := time.Minute
	lost := fmt.Errorf("commit part 3: %w", export.ErrLeaseLost)
	retryable := fault.Retryable(errors.New("throttled"))
	cases := []struct {
		name string
		o    outcome
		want decision
	}{
		{"done", outcome{}, decision{verb: finish, deleteMessage: true}},
		{"lease lost, export running: keep the new owner's message", outcome{runErr: lost, exportState: export.Running}, decision{verb: abandon}},
		{"lease lost by heartbeat (context cause)", outcome{runErr: context.Canceled, cause: lost, exportState: export.Running}, decision{verb: abandon}},
		{"cancelled: the message has nothing left to do", outcome{runErr: lost, exportState: export.Cancelled}, decision{verb: abandon, deleteMessage: true}},
		{"drained at a page boundary", outcome{runErr: segexport.ErrDrained}, decision{verb: handBack}},
		{"aborted by the drain budget", outcome{runErr: context.Canceled, stopping: true}, decision{verb: handBack}},
		{"retryable, first delivery", outcome{runErr: retryable, receiveCount: 1, maxReceive: 5, leaseDuration: lease}, decision{verb: retryLater, delay: 5 * time.Second}},
		{"retryable backs off with deliveries, never past a lease", outcome{runErr: retryable, receiveCount: 4, maxReceive: 50, leaseDuration: 10 * time.Second}, decision{verb: retryLater, delay: 10 * time.Second}},
		{"retry-after is honoured", outcome{runErr: fault.RetryAfter(30*time.Second, errors.New("slow down")), receiveCount: 1, maxReceive: 5, leaseDuration: lease}, decision{verb: retryLater, delay: 30 * time.Second}},
		{"retryable at max deliveries fails for good", outcome{runErr: retryable, receiveCount: 5, maxReceive: 5, leaseDuration: lease}, decision{verb: failFinal, deleteMessage: true}},
		{"permanent", outcome{runErr: fault.Permanent(errors.New("access denied")), receiveCount: 1, maxReceive: 5}, decision{verb: failFinal, deleteMessage: true}},
		{"unclassified is permanent", outcome{runErr: errors.New("bad item"), receiveCount: 1}, decision{verb: failFinal, deleteMessage: true}},
		{"fatal", outcome{runErr: fault.Fatal(errors.New("control table missing")), receiveCount: 1}, decision{verb: failFinal, deleteMessage: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, decide(c.o))
		})
	}
}

func TestAdmit(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	running := &export.Export{State: export.Running}
	cases := []struct {
		name    string
		exp     *export.Export
		refused *export.NotClaimableError
		want    admission
	}{
		{"claimed", running, nil, admission{run: true}},
		{"unknown export", nil, nil, admission{delete: true}},
		{"export finalizing", &export.Export{State: export.Finalizing}, nil, admission{delete: true}},
		{"export cancelled", &export.Export{State: export.Cancelled}, nil, admission{delete: true}},
		{"segment done", running, &export.NotClaimableError{State: export.SegmentDone}, admission{delete: true}},
		{"segment failed", running, &export.NotClaimableError{State: export.SegmentFailed}, admission{delete: true}},
		// The holder may die: its own message could be gone, so this copy
		// must survive until the lease ends (a dropped copy hung exports).
		{"leased by a live worker: hand back, look again before its lease ends", running,
			&export.NotClaimableError{State: export.SegmentRunning, LeaseExpiry: now.Add(40 * time.Second)},
			admission{later: 10 * time.Second}},
		{"leased by a live worker about to expire: hand back for the rest of its lease", running,
			&export.NotClaimableError{State: export.SegmentRunning, LeaseExpiry: now.Add(2 * time.Second)},
			admission{later: 3 * time.Second}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := admit(c.exp, c.refused, now, time.Minute)
			got.why = ""
			require.Equal(t, c.want, got)
		})
	}
}
