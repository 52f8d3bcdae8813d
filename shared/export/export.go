// Package export is ddbfleet's domain: what an export, a scan segment, a
// part file, a lease and a checkpoint are, the states they move through and
// the rules that decide each transition, and where an export's files live
// in S3. It holds no I/O: the control table (shared/controltable) stores
// these values, the lifecycle (shared/lifecycle) drives the transitions, and
// both ask this package what is allowed, so a rule is written once.
//
// The state machines are drawn in docs/states.md with the names used here.
package export

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbfleet/ddbfleet/shared/datafile"
)

// State is the life cycle of an export (see docs/states.md).
type State string

const (
	Pending    State = "PENDING"    // recorded, messages not all sent yet
	Running    State = "RUNNING"    // segments queued or being scanned
	Finalizing State = "FINALIZING" // all segments done; manifests being written
	Completed  State = "COMPLETED"  // manifest-summary.json written
	Failed     State = "FAILED"     // every segment settled, at least one FAILED
	Cancelled  State = "CANCELLED"  // stopped by an operator
)

// States lists every export state, in life-cycle order.
func States() []State {
	return []State{Pending, Running, Finalizing, Completed, Failed, Cancelled}
}

// Terminal reports whether nothing more will happen without an operator.
func (s State) Terminal() bool { return s == Completed || s == Failed || s == Cancelled }

// AcceptsWork reports whether workers may still claim and commit segments:
// workers start on a PENDING export while the coordinator is still
// enqueueing.
func (s State) AcceptsWork() bool { return s == Pending || s == Running }

// Cancellable reports whether an operator may cancel from s. A FINALIZING
// or COMPLETED export has (or is about to have) its manifest: cancelling
// it would delete data a reader may already trust.
func (s State) Cancellable() bool { return s == Pending || s == Running || s == Failed }

// CancellableStates are the states Cancellable accepts.
func CancellableStates() []State { return []State{Pending, Running, Failed} }

// SegmentState is the life cycle of one scan segment.
type SegmentState string

const (
	SegmentPending SegmentState = "PENDING" // waiting for a worker
	SegmentRunning SegmentState = "RUNNING" // leased by a worker (or its lease expired)
	SegmentDone    SegmentState = "DONE"    // every page scanned and every part committed
	SegmentFailed  SegmentState = "FAILED"  // gave up; coordinator retry resets it
	// SegmentCancelled: its export was cancelled. Marking the segment (not
	// only the export) is what fences its holder: every heartbeat and
	// commit is conditional on the segment being RUNNING, so a cancel
	// needs no check of the export row on the commit path.
	SegmentCancelled SegmentState = "CANCELLED"
)

// Settled reports whether the segment needs no more work unless retried.
func (s SegmentState) Settled() bool {
	return s == SegmentDone || s == SegmentFailed || s == SegmentCancelled
}

// ObjectOptions are the server-side encryption and storage class of every
// object an export writes (zero values: the bucket's defaults).
type ObjectOptions struct {
	SSE          string // "", "AES256" or "aws:kms"
	SSEKMSKeyID  string
	StorageClass string
}

// Export is one export job.
type Export struct {
	ExportID           string
	Table              string
	TableARN           string
	TableID            string
	Bucket             string
	Prefix             string // resolved: placeholders already filled in
	PrefixTemplate     string // --prefix as given, for one Athena table over a dated series
	SegmentsTotal      int
	State              State
	StartTime          time.Time
	EndTime            time.Time
	ArgsHash           string // fingerprint of the export's arguments, for idempotent re-runs
	ReadCapacityCap    float64
	ScanPageSize       int
	PartSizeBytes      int64
	BilledSizeBytes    int64 // DescribeTable's TableSizeBytes at start
	EstimatedItems     int64 // DescribeTable's ItemCount at start, for the ETA
	SegmentsDone       int
	SegmentsFailed     int
	ItemCount          int64
	Bytes              int64
	Parts              int
	LastError          string
	FinalizeLease      time.Time // who finalizes: expiry of the finalizer's claim
	FinalizeOwner      string    // the finalizer's claim: its owner (see FinalizeClaim)
	FinalizeStart      time.Time // when the first finalize claim was taken: the end time in the manifest
	ManifestSummaryKey string
	// ExpiresAt is when the control table's TTL may delete the export's
	// rows: the earliest of their expiries, the export row's own (every
	// other row is stamped with it or later). Set by the store; see
	// RetentionDue.
	ExpiresAt time.Time

	// What the export reads and how it writes, chosen once by the
	// coordinator and applied by every worker. Zero values are the
	// defaults (DynamoDB JSON, gzip, every item and attribute, the
	// bucket's encryption and STANDARD), which rows recorded before these
	// options existed also read as.
	Format                    datafile.Format
	Compression               datafile.Compression
	FilterExpression          string
	ProjectionExpression      string
	ExpressionAttributeNames  map[string]string
	ExpressionAttributeValues map[string]types.AttributeValue
	Objects                   ObjectOptions
	// ParquetSchema is the schema every worker writes, for Parquet
	// exports: inferred once at plan time (shared/parquetfile JSON).
	ParquetSchema []byte

	// Kind is what the job does: an export ("" or KindExport) or a
	// restore (KindRestore). A restore reuses segments, leases and
	// checkpoints: segment i loads RestoreFiles[i], its checkpoint counts
	// lines applied (ItemCount) and items kept (Bytes), and Table is the
	// target. Bucket is the source bucket; a restore writes nothing to S3.
	Kind             Kind
	RestoreFrom      string        // key prefix of the source export: <prefix>/AWSDynamoDB/<id>/
	RestoreFiles     []RestoreFile // one unit of work per data file, in manifest order
	RestoreCondition Condition
	WriteCapacityCap float64 // fleet-wide write units per second (0: no cap)
	HashKey          string  // the target's partition key, for attribute_not_exists
	SortKey          string  // the target's sort key ("" if none): a batch never holds one key twice
}

// Kind is the kind of a job in the control table.
type Kind string

const (
	KindExport  Kind = "export"
	KindRestore Kind = "restore"
)

// OrDefault is the kind, with rows recorded before kinds existed read as
// exports.
func (k Kind) OrDefault() Kind {
	if k == "" {
		return KindExport
	}
	return k
}

// IsRestore reports whether the job loads an export into a table.
func (e *Export) IsRestore() bool { return e.Kind == KindRestore }

// Condition says what a restore does with an item whose key exists.
type Condition string

const (
	Overwrite Condition = "overwrite"  // replace it (BatchWriteItem)
	NotExists Condition = "not-exists" // keep it (PutItem with attribute_not_exists)
)

// ParseCondition reads --condition ("" is Overwrite).
func ParseCondition(s string) (Condition, error) {
	switch Condition(s) {
	case "", Overwrite:
		return Overwrite, nil
	case NotExists:
		return NotExists, nil
	}
	return "", fmt.Errorf("--condition must be not-exists or overwrite, not %q", s)
}

// RestoreFile is one data file of the source export, as its manifest
// lists it and as the coordinator verified it before the restore began.
type RestoreFile struct {
	Key         string // object key in Bucket
	Items       int64  // itemCount from manifest-files.json
	MD5         string // base64 MD5 from manifest-files.json
	Bytes       int64
	Compression datafile.Compression
	ETag        string // the object's ETag when it was verified: workers read only that object
}

// Root is the S3 folder of this export: <prefix>/AWSDynamoDB/<id>/.
func (e *Export) Root() string {
	if e.Prefix == "" {
		return "AWSDynamoDB/" + e.ExportID + "/"
	}
	return e.Prefix + "/AWSDynamoDB/" + e.ExportID + "/"
}

// DataPrefix is where part files live.
func (e *Export) DataPrefix() string { return e.Root() + "data/" }

// PartKey is deterministic in (export, segment, part, attempt): a retry of
// the same attempt overwrites, another attempt never collides, and a listing
// by segment prefix finds every attempt's leftovers.
func (e *Export) PartKey(segment, part, attempt int) string {
	return fmt.Sprintf("%s%s-%06d-a%d%s", e.DataPrefix(), SegmentKeyPrefix(segment), part, attempt, datafile.Suffix(e.Format, e.Compression))
}

// SegmentKeyPrefix is the file-name prefix shared by every part of segment.
func SegmentKeyPrefix(segment int) string { return fmt.Sprintf("s%06d", segment) }

// Unfinished is how many segments are neither DONE nor FAILED.
func (e *Export) Unfinished() int { return e.SegmentsTotal - e.SegmentsDone - e.SegmentsFailed }

// Settlement is what an export whose segments have all settled moves to.
type Settlement int

const (
	// Unsettled: some segment still has work, or the export is not
	// RUNNING (or FINALIZING with an expired finalizer).
	Unsettled Settlement = iota
	// Finalize: every segment is DONE; whoever claims finalization
	// writes the manifests.
	Finalize
	// Fail: every segment settled and at least one FAILED.
	Fail
)

// Settlement decides how Settle moves the export on at time now. It is
// the one place that says when an export finalizes or fails.
func (e *Export) Settlement(now time.Time) Settlement {
	switch {
	case e.State == Running && e.SegmentsDone == e.SegmentsTotal,
		e.State == Finalizing && now.After(e.FinalizeLease):
		return Finalize
	case e.State == Running && e.SegmentsFailed > 0 && e.SegmentsDone+e.SegmentsFailed >= e.SegmentsTotal:
		return Fail
	}
	return Unsettled
}

// ReadShare is one segment's slice of the export's fleet-wide read cap
// (a restore's write cap) when n segments share it (0: no cap).
func (e *Export) ReadShare(n int) float64 {
	capacity := e.ReadCapacityCap
	if e.IsRestore() {
		// A restore's pacer spends write units.
		capacity = e.WriteCapacityCap
	}
	if capacity <= 0 {
		return 0
	}
	return capacity / float64(max(1, n))
}

// shareTolerance is how far an attempt's published share may drift from
// the fair one before the steward writes it again: republishing on every
// change would cost a write per live lease each time one lease ends.
const shareTolerance = 0.2

// StaleShares returns the fair share of the cap among the leases live at
// now, and the leased segments whose published share is off it by more
// than shareTolerance (or unset), for the steward to write.
func (e *Export) StaleShares(segs []*Segment, now time.Time) (float64, []*Segment) {
	var live []*Segment
	for _, s := range segs {
		if s.LeaseLive(now) {
			live = append(live, s)
		}
	}
	fair := e.ReadShare(len(live))
	if fair == 0 {
		return 0, nil
	}
	var stale []*Segment
	for _, s := range live {
		if s.Share <= 0 || math.Abs(s.Share-fair) > shareTolerance*fair {
			stale = append(stale, s)
		}
	}
	return fair, stale
}

// Holders counts the worker processes holding the leases live at now (an
// owner is "<worker>/<claim nonce>"): the steward publishes it so that
// candidate stewards can spread their looks over the fleet.
func Holders(segs []*Segment, now time.Time) int {
	seen := map[string]bool{}
	for _, s := range segs {
		if s.LeaseLive(now) {
			w := s.Owner
			if i := strings.LastIndexByte(w, '/'); i > 0 {
				w = w[:i]
			}
			seen[w] = true
		}
	}
	return len(seen)
}

// LeaseMargin is how long before its lease ends a holder stops writing:
// room for clock skew between workers and for a request already on the
// wire, so nothing it sends lands after another worker may have taken
// the segment over.
func LeaseMargin(lease time.Duration) time.Duration {
	return min(max(lease/6, time.Second), 30*time.Second)
}

// Segment is one parallel-scan segment of an export.
type Segment struct {
	ExportID    string
	Segment     int
	State       SegmentState
	Attempt     int
	AttemptBase int // Attempt when the segment was last reset by retry
	Owner       string
	LeaseExpiry time.Time
	Cursor      map[string]types.AttributeValue // LastEvaluatedKey after the last committed part; nil at start
	NextPart    int
	ItemCount   int64
	Bytes       int64
	Pages       int64   // pages scanned by all attempts, for resume evidence
	LiveItems   int64   // items the holder had read at its last heartbeat, committed or not
	ReadUnits   float64 // read capacity consumed by all attempts up to the last heartbeat
	Failures    int     // failed attempts since the last retry
	LastError   string
	UpdatedAt   time.Time
	// Share is the read rate (units/s) the export's steward gave the
	// current attempt; 0 until it has. It rides on the segment row so a
	// heartbeat learns it from its own write, reading nothing.
	Share float64
}

// Claimable reports whether a worker may take the segment at now: PENDING,
// or RUNNING with an expired lease.
func (s *Segment) Claimable(now time.Time) bool {
	return s.State == SegmentPending || (s.State == SegmentRunning && s.LeaseExpiry.Before(now))
}

// LeaseLive reports whether a worker holds the segment at now.
func (s *Segment) LeaseLive(now time.Time) bool {
	return s.State == SegmentRunning && s.LeaseExpiry.After(now)
}

// Abandoned reports whether the segment's holder stopped heartbeating more
// than grace ago: its message may be gone, so a rescuer re-enqueues it.
func (s *Segment) Abandoned(now time.Time, grace time.Duration) bool {
	return s.State == SegmentRunning && now.Sub(s.LeaseExpiry) >= grace
}

// Progress is what a segment's holder reports with each heartbeat: items
// read so far (committed or not) and read capacity consumed by all
// attempts, so progress and throughput move between part commits.
type Progress struct {
	Items     int64
	ReadUnits float64
}

// Sample is one point of an export's recorded history: cumulative items
// and read units at a time. Charts derive rates from consecutive samples.
type Sample struct {
	At        time.Time
	Items     int64
	ReadUnits float64
}

// Measure is the export's progress summed over its segments at now:
// committed items, plus what live holders have read beyond them.
func Measure(segs []*Segment, now time.Time) Sample {
	s := Sample{At: now}
	for _, seg := range segs {
		s.Items += seg.ItemCount
		if seg.LeaseLive(now) && seg.LiveItems > seg.ItemCount {
			s.Items += seg.LiveItems - seg.ItemCount
		}
		s.ReadUnits += seg.ReadUnits
	}
	return s
}

// Attempts is how many claims the segment had since it was last reset.
func (s *Segment) Attempts() int { return s.Attempt - s.AttemptBase }

// Waiting reports whether the segment waits for a worker and has waited
// more than d (a message for it may be lost).
func (s *Segment) Waiting(now time.Time, d time.Duration) bool {
	return s.State == SegmentPending && now.Sub(s.UpdatedAt) > d
}

// Part is a committed part file.
type Part struct {
	Segment   int
	Part      int
	Attempt   int
	Key       string
	ItemCount int64
	MD5       string // base64 MD5 of the object bytes
	ETag      string
	Bytes     int64
}

// Checkpoint is what a segment records after each durable part: the scan
// cursor to resume from and the running totals that go with it.
type Checkpoint struct {
	Cursor    map[string]types.AttributeValue
	NextPart  int
	ItemCount int64
	Bytes     int64
	Pages     int64
	// At is when the commit was made, fixed by the committer for every
	// try of one commit, so each try is the very same request and the
	// store can recognise a retry of one that applied. Zero: the store's
	// clock at each try.
	At time.Time
}

// FinalizeClaim is a finalizer's hold on an export, the export's lease:
// Owner (unique per claim) is its fencing token, Expiry when another
// process may take it over. EndTime is when the export's first finalize
// claim was taken; a takeover keeps it, so every finalizer of one export
// writes the same manifest and the same end time.
type FinalizeClaim struct {
	ExportID string
	Owner    string
	Expiry   time.Time
	EndTime  time.Time
}

// Lease identifies the holder of a segment: attempt is the fencing token.
type Lease struct {
	ExportID string
	Segment  int
	Attempt  int
	Owner    string
}

func (l Lease) String() string {
	return fmt.Sprintf("export %s segment %d attempt %d", l.ExportID, l.Segment, l.Attempt)
}

var (
	// ErrLeaseLost means another attempt owns the segment now (or the export
	// stopped): the caller must stop writing and abandon its work.
	ErrLeaseLost = errors.New("segment lease lost")
	// ErrLeaseDeadline means the holder could not extend its lease in
	// time and must stop writing, as if the lease were lost: another
	// worker may take the segment over once it expires.
	ErrLeaseDeadline = fmt.Errorf("lease deadline passed without a successful heartbeat: %w", ErrLeaseLost)
	// ErrFinalizeLost means another process took the export's finalize
	// claim over (or the export is no longer FINALIZING): the caller must
	// stop before the commit point and leave finalizing to it.
	ErrFinalizeLost = errors.New("finalize claim lost")
	// ErrNotFound means the export or segment row does not exist.
	ErrNotFound = errors.New("not found in control table")
	// ErrExists means an export with that id already exists.
	ErrExists = errors.New("already exists")
)

// IsLeaseLost reports whether err means the caller no longer owns its work.
func IsLeaseLost(err error) bool { return errors.Is(err, ErrLeaseLost) }

// NotClaimableError says why a segment could not be claimed.
type NotClaimableError struct {
	State       SegmentState
	Owner       string
	LeaseExpiry time.Time
}

func (e *NotClaimableError) Error() string {
	if e.State == SegmentRunning {
		return fmt.Sprintf("segment is leased by %s until %s", e.Owner, e.LeaseExpiry.Format(time.RFC3339))
	}
	return fmt.Sprintf("segment is %s", e.State)
}
