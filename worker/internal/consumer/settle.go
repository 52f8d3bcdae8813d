package consumer

import (
	"errors"
	"time"

	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/worker/internal/segexport"
)

// outcome is everything the settlement of one message depends on, read
// before deciding so the decision itself is a pure function.
type outcome struct {
	runErr        error        // what the segment run returned
	cause         error        // why its context ended, if it did (lease lost, cancelled)
	stopping      bool         // the worker is draining (SIGTERM)
	receiveCount  int          // deliveries of this message so far
	maxReceive    int          // deliveries before SQS parks it (0: unknown)
	exportState   export.State // read only after a lost lease
	leaseDuration time.Duration
}

// verb is what happens to the message and the segment.
type verb int

const (
	// finish: delete the message, then settle the export.
	finish verb = iota
	// abandon: another attempt owns the segment (or the export stopped).
	// Keep the message unless the export ended: deleting with a stale
	// receipt could remove the new owner's delivery.
	abandon
	// handBack: release the lease and make the message visible now, so
	// another worker continues from the last checkpoint.
	handBack
	// failFinal: record the segment FAILED, delete the message, settle.
	failFinal
	// retryLater: record the failed attempt, release the lease and show
	// the message again after delay.
	retryLater
)

func (v verb) String() string {
	return [...]string{"finish", "abandon", "hand back", "fail", "retry later"}[v]
}

// decision is the settlement of one message.
type decision struct {
	verb          verb
	deleteMessage bool
	delay         time.Duration // retryLater: when the message shows again
}

// decide settles a message by the outcome of its segment run.
func decide(o outcome) decision {
	switch {
	case o.runErr == nil:
		return decision{verb: finish, deleteMessage: true}
	case export.IsLeaseLost(o.runErr) || export.IsLeaseLost(o.cause):
		return decision{verb: abandon, deleteMessage: o.exportState.Terminal()}
	case errors.Is(o.runErr, segexport.ErrDrained) || o.stopping:
		return decision{verb: handBack}
	}
	final := fault.Classify(o.runErr) != fault.KindRetryable || (o.maxReceive > 0 && o.receiveCount >= o.maxReceive)
	if final {
		return decision{verb: failFinal, deleteMessage: true}
	}
	// Back off with each delivery, never past a lease, and no sooner than
	// the error asked for.
	delay := min(o.leaseDuration, time.Duration(o.receiveCount)*5*time.Second)
	delay = max(delay, min(o.leaseDuration, fault.Delay(o.runErr)))
	return decision{verb: retryLater, delay: delay}
}
