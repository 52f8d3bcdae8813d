// Package controltable owns the export's source of truth: one DynamoDB table
// holding an export row, one row per scan segment and one row per committed
// part file.
//
// Every write that follows a claim is conditional on the writer still
// holding the segment's lease: the pair (attempt, owner) is the fencing
// token, so a paused or partitioned worker whose lease was taken over has its
// writes rejected with ErrLeaseLost. Part rows are written in the same
// transaction as the segment checkpoint that points past them, so a part is
// either recorded together with the cursor that follows it, or not at all.
package controltable

import (
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbfleet/ddbfleet/shared/datafile"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
)

// ExportState is the life cycle of an export (see docs/states.md).
type ExportState string

const (
	ExportPending    ExportState = "PENDING"    // recorded, messages not all sent yet
	ExportRunning    ExportState = "RUNNING"    // segments queued or being scanned
	ExportFinalizing ExportState = "FINALIZING" // all segments done; manifests being written
	ExportCompleted  ExportState = "COMPLETED"  // manifest-summary.json written
	ExportFailed     ExportState = "FAILED"     // every segment settled, at least one FAILED
	ExportCancelled  ExportState = "CANCELLED"  // stopped by an operator
)

// Terminal reports whether nothing more will happen without an operator.
func (s ExportState) Terminal() bool {
	return s == ExportCompleted || s == ExportFailed || s == ExportCancelled
}

// SegmentState is the life cycle of one scan segment.
type SegmentState string

const (
	SegmentPending SegmentState = "PENDING" // waiting for a worker
	SegmentRunning SegmentState = "RUNNING" // leased by a worker (or its lease expired)
	SegmentDone    SegmentState = "DONE"    // every page scanned and every part committed
	SegmentFailed  SegmentState = "FAILED"  // gave up; coordinator retry resets it
)

// Export is the export row.
type Export struct {
	ExportID           string
	Table              string
	TableARN           string
	TableID            string
	Bucket             string
	Prefix             string // resolved: placeholders already filled in
	SegmentsTotal      int
	State              ExportState
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
	ManifestSummaryKey string

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
	Objects                   objstore.PutOptions // SSE and storage class of every object the export writes
}

// ExportRoot is the S3 folder of this export: <prefix>/AWSDynamoDB/<id>/.
func (e *Export) ExportRoot() string {
	if e.Prefix == "" {
		return "AWSDynamoDB/" + e.ExportID + "/"
	}
	return e.Prefix + "/AWSDynamoDB/" + e.ExportID + "/"
}

// DataPrefix is where part files live.
func (e *Export) DataPrefix() string { return e.ExportRoot() + "data/" }

// PartKey is deterministic in (export, segment, part, attempt): a retry of
// the same attempt overwrites, another attempt never collides, and a listing
// by segment prefix finds every attempt's leftovers.
func (e *Export) PartKey(segment, part, attempt int) string {
	return fmt.Sprintf("%s%s-%06d-a%d%s", e.DataPrefix(), SegmentKeyPrefix(segment), part, attempt, datafile.Suffix(e.Format, e.Compression))
}

// ScanInput is the Scan every page of exp issues, before segment, cursor
// and limit: the table, the export's expressions and consumed-capacity
// reporting (which pacing needs). Workers scan with it; the coordinator
// validates the expressions with it before recording the export.
func (exp *Export) ScanInput() *dynamodb.ScanInput {
	in := &dynamodb.ScanInput{
		TableName:              aws.String(exp.Table),
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	}
	if exp.FilterExpression != "" {
		in.FilterExpression = aws.String(exp.FilterExpression)
	}
	if exp.ProjectionExpression != "" {
		in.ProjectionExpression = aws.String(exp.ProjectionExpression)
	}
	if len(exp.ExpressionAttributeNames) > 0 {
		in.ExpressionAttributeNames = exp.ExpressionAttributeNames
	}
	if len(exp.ExpressionAttributeValues) > 0 {
		in.ExpressionAttributeValues = exp.ExpressionAttributeValues
	}
	return in
}

// SegmentKeyPrefix is the file-name prefix shared by every part of segment.
func SegmentKeyPrefix(segment int) string { return fmt.Sprintf("s%06d", segment) }

// Segment is a segment row.
type Segment struct {
	ExportID    string
	Segment     int
	State       SegmentState
	Attempt     int
	Owner       string
	LeaseExpiry time.Time
	Cursor      map[string]types.AttributeValue // LastEvaluatedKey after the last committed part; nil at start
	NextPart    int
	ItemCount   int64
	Bytes       int64
	Pages       int64 // pages scanned by all attempts, for resume evidence
	LiveItems   int64 // items the holder had read at its last heartbeat, committed or not
	Failures    int   // failed attempts since the last retry
	LastError   string
	UpdatedAt   time.Time
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
	// ErrNotFound means the export or segment row does not exist.
	ErrNotFound = errors.New("not found in control table")
	// ErrExists means an export with that id already exists.
	ErrExists = errors.New("already exists")
)

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
