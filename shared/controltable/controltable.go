// Package controltable owns where the export domain (shared/export) is
// stored: an export row, one row per scan segment, one row per committed
// part file, and an index of active exports.
//
// The Store interface is split by concern (Exports, Segments, Parts,
// Active). Dynamo implements it on a DynamoDB table; an in-memory
// implementation for unit tests and simulations lives in
// internal/testkit/memstore, and one conformance suite
// (internal/testkit/storetest) holds both to the same cases. Retrying is a
// decorator (WithRetry) around any Store, not code inside each method.
//
// Every write that follows a claim is conditional on the writer still
// holding the segment's lease: the pair (attempt, owner) is the fencing
// token, so a paused or partitioned worker whose lease was taken over has
// its writes rejected with export.ErrLeaseLost. Part rows are written in the
// same transaction as the segment checkpoint that points past them, so a
// part is either recorded together with the cursor that follows it, or not
// at all.
package controltable

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/ddbfleet/ddbfleet/shared/export"
)

// Exports stores export rows.
type Exports interface {
	// CreateExport records a new export and its segments, all PENDING. If
	// the id is taken it returns export.ErrExists, after recording any
	// segment rows a crashed earlier call with the same arguments left
	// out.
	CreateExport(ctx context.Context, e *export.Export) error
	// GetExport reads the export row, strongly consistently.
	GetExport(ctx context.Context, exportID string) (*export.Export, error)
	// SetExportState moves an export from one of the states in from to
	// to, applying u. It reports false (and no error) when the export was
	// in none of from. A terminal state leaves the active index.
	SetExportState(ctx context.Context, exportID string, from []export.State, to export.State, u ExportUpdate) (bool, error)
	// ListExports returns every export the table holds, newest first.
	ListExports(ctx context.Context) ([]*export.Export, error)
	// ClaimFinalize lets exactly one process write the manifests: it moves
	// a RUNNING export whose segments are all done to FINALIZING, or takes
	// over a FINALIZING export whose finalizer's claim has expired, for
	// owner (unique per claim) until lease from now. It reports false, and
	// no error, when there is nothing to claim. The first claim of an
	// export records when finalizing began and every later one keeps it:
	// the claim's EndTime. A retry whose earlier try applied (its answer
	// lost) is recognised by owner and wins.
	ClaimFinalize(ctx context.Context, exportID string, total int, owner string, lease time.Duration) (export.FinalizeClaim, bool, error)
	// RenewFinalize extends c to lease from now while c's owner still
	// holds it. export.ErrFinalizeLost means another process took it over
	// (or the export left FINALIZING): stop before the commit point.
	RenewFinalize(ctx context.Context, c export.FinalizeClaim, lease time.Duration) error
}

// ActiveExport is one row of the active index.
type ActiveExport struct {
	ExportID      string
	Steward       string
	StewardExpiry time.Time
	Fleet         int // worker processes holding its leases, as its steward last saw
}

// StewardLive reports whether someone other than owner stewards the export
// at now.
func (a ActiveExport) StewardLive(owner string, now time.Time) bool {
	return a.Steward != "" && a.Steward != owner && !a.StewardExpiry.Before(now)
}

// ExportUpdate is what a state change records besides the state; zero
// fields are left as they are.
type ExportUpdate struct {
	EndTime            time.Time
	LastError          string
	ManifestSummaryKey string
	// KeepActive leaves an export moving to a terminal state in the active
	// index: a cancelled export's data/ is swept once more by its steward
	// when no lease can be live any more.
	KeepActive bool
	// Expect, when set, makes the change conditional on the counters the
	// caller read: a decision taken on stale counters (a retry reopened
	// the export meanwhile) is not applied.
	Expect *Counters
}

// Counters are an export's segment counters as read.
type Counters struct {
	SegmentsDone, SegmentsFailed int
}

// Segments stores segment rows: claims, leases, checkpoints and outcomes.
type Segments interface {
	GetSegment(ctx context.Context, exportID string, segment int) (*export.Segment, error)
	// ListSegments returns every segment row in segment order.
	ListSegments(ctx context.Context, exportID string) ([]*export.Segment, error)
	// ClaimSegment takes the segment's lease for owner, starting a new
	// attempt, if it is Claimable; otherwise the error is an
	// *export.NotClaimableError saying why. A retry whose earlier try
	// applied (its answer lost) is recognised by owner and succeeds.
	ClaimSegment(ctx context.Context, exportID string, segment int, owner string, lease time.Duration) (*export.Segment, export.Lease, error)
	// Heartbeat extends the lease and records the holder's progress,
	// returning the segment row as written (with the read share its
	// steward published). ErrLeaseLost means stop now: another attempt
	// holds the segment, or the export was cancelled.
	Heartbeat(ctx context.Context, l export.Lease, lease time.Duration, p export.Progress) (*export.Segment, error)
	// PublishShare records the read share of the segment's current
	// attempt, conditional on that attempt still holding it.
	PublishShare(ctx context.Context, seg *export.Segment, share float64) (bool, error)
	// CancelSegment marks an unsettled segment CANCELLED, fencing its
	// holder's next heartbeat and commit. It reports whether it did.
	CancelSegment(ctx context.Context, exportID string, segment int) (bool, error)
	// CommitPart records a durable part and the checkpoint after it in
	// one transaction, extending the lease. It touches only the segment's
	// own rows: a cancelled export fences it through the segment's state.
	CommitPart(ctx context.Context, l export.Lease, p export.Part, cp export.Checkpoint, lease time.Duration) error
	// Checkpoint records cp with no part, extending the lease: the cursor
	// of pages that held nothing to write (a filter matched none of their
	// items), so a new attempt does not scan them again. Like CommitPart
	// it touches only the segment's row: the lease fences it, and a
	// cancelled export fences it through the segment's state.
	Checkpoint(ctx context.Context, l export.Lease, cp export.Checkpoint, lease time.Duration) error
	// CompleteSegment marks the segment DONE with its final totals (and
	// final part, if any) and adds them to the export's counters,
	// atomically: a segment is counted once however often it is retried.
	CompleteSegment(ctx context.Context, l export.Lease, last *export.Part, cp export.Checkpoint) error
	// ReleaseSegment gives the lease up early (drain) so another worker
	// can continue from the last checkpoint at once.
	ReleaseSegment(ctx context.Context, l export.Lease, reason string) error
	// FailSegment records a failed attempt. With final it marks the
	// segment FAILED and counts it on the export; otherwise it releases
	// the lease so the next delivery retries from the checkpoint.
	FailSegment(ctx context.Context, l export.Lease, reason string, final bool) error
	// FailUnleased marks a segment that is not settled and whose lease
	// expired FAILED without holding its lease (work parked in the
	// dead-letter queue). It reports whether it did.
	FailUnleased(ctx context.Context, exportID string, segment int, reason string) (bool, error)
	// ResetFailed turns every FAILED segment back to PENDING, keeping its
	// checkpoint, and reopens the export. It returns the segments reset.
	ResetFailed(ctx context.Context, exportID string) ([]int, error)
	// RequeueExpired makes a RUNNING segment whose lease expired PENDING
	// again, conditional on the attempt the caller saw.
	RequeueExpired(ctx context.Context, seg *export.Segment) (bool, error)
}

// Parts reads committed part rows.
type Parts interface {
	// GetPart reads one part row (export.ErrNotFound if there is none).
	GetPart(ctx context.Context, exportID string, segment, part int) (*export.Part, error)
	// ListParts returns every committed part in (segment, part) order.
	ListParts(ctx context.Context, exportID string) ([]export.Part, error)
}

// Active is the index of exports that are not finished, and who stewards
// each: one process at a time, holding a lease on the export's index row,
// does the export's rescue work, so its cost does not grow with workers.
type Active interface {
	// ListActive returns the exports not yet COMPLETED, FAILED or
	// CANCELLED (a row may linger briefly after; callers re-read), with
	// their stewards.
	ListActive(ctx context.Context) ([]ActiveExport, error)
	// ClaimSteward makes owner the export's steward until lease from now,
	// if nobody else's stewardship is live (a steward renews its own), and
	// records fleet, the worker processes its last pass saw holding leases.
	// It reports false when someone else holds it or the export left the
	// index.
	ClaimSteward(ctx context.Context, exportID, owner string, lease time.Duration, fleet int) (bool, error)
	// Forget removes a finished export from the index.
	Forget(ctx context.Context, exportID string) error
}

// History keeps samples of each export's progress for charts: at most one
// per minute per export, however many processes record.
type History interface {
	// RecordSample stores s unless a sample of the same minute exists.
	RecordSample(ctx context.Context, exportID string, s export.Sample) error
	// ListSamples returns the export's samples, oldest first.
	ListSamples(ctx context.Context, exportID string) ([]export.Sample, error)
}

// Retainer keeps the rows of an export that is still being worked on
// from expiring (see Retention).
type Retainer interface {
	// ExtendRetention stamps every row of the export (its own, its
	// segments, parts and samples, and its rows in the jobs and active
	// indexes) to expire at until, its own row last, so that row's
	// expiry stays the earliest (export.Export.ExpiresAt); no row is made
	// to expire sooner than it would. It acts only if the export row still
	// expires at seen (the caller's read) and no other process is already
	// doing it: the first caller claims the work for RetentionClaim, so a
	// fleet of rescuers re-stamps an export once. It reports whether this
	// call did it (a retry of a try that did reports true). until is the
	// caller's, fixed across retries, and kept to the second.
	ExtendRetention(ctx context.Context, exportID string, seen, until time.Time) (bool, error)
	// RetainedUntil is the earliest expiry among the export's rows. It
	// reads all of them: for checks and operators, not for every pass.
	RetainedUntil(ctx context.Context, exportID string) (time.Time, error)
}

// Store is the whole control table.
type Store interface {
	Exports
	Segments
	Parts
	Active
	History
	Retainer
}

// Retention is how long control rows live after they are written; DynamoDB
// TTL deletes them afterwards (attribute expiresAt). An export's files in S3
// are not affected. The rows of an export still active are re-stamped
// before they expire (Retainer).
const Retention = 90 * 24 * time.Hour

// RetentionClaim is how long one process has to re-stamp an export's rows
// before another may take the work over. Re-stamping writes each row once
// (thousands of parts and samples for a long export): minutes, not hours.
const RetentionClaim = time.Hour

// CommitToken names one logical commit of a lease (what: "part" or
// "complete", n: its part number), for idempotency across retries: at most
// 36 characters, as DynamoDB's ClientRequestToken allows.
func CommitToken(l export.Lease, what string, n int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%d\x00%s\x00%s\x00%d", l.ExportID, l.Segment, l.Attempt, l.Owner, what, n)))
	return hex.EncodeToString(sum[:18])
}
