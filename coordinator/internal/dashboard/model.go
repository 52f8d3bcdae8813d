package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Source is where the dashboard reads jobs. The coordinator implements it
// over the control table; tests implement it with fakes.
type Source interface {
	// Jobs lists every job (exports and restores); order does not matter,
	// the dashboard shows them newest first.
	Jobs(ctx context.Context) ([]Job, error)
	// Job returns one job with its segments and history, or an error
	// wrapping ErrNotFound when no job has that id.
	Job(ctx context.Context, id string) (JobDetail, error)
}

// ErrNotFound is what Source.Job wraps when the id is unknown; the
// dashboard answers 404 for it and 500 for any other error.
var ErrNotFound = errors.New("no such job")

// Job states, spelled as the control table spells them (docs/states.md).
const (
	StatePending    = "PENDING"
	StateRunning    = "RUNNING"
	StateFinalizing = "FINALIZING"
	StateCompleted  = "COMPLETED"
	StateFailed     = "FAILED"
	StateCancelled  = "CANCELLED"
)

// Segment states.
const (
	SegmentPending = "PENDING"
	SegmentRunning = "RUNNING"
	SegmentDone    = "DONE"
	SegmentFailed  = "FAILED"
)

// Terminal reports whether a job in state will change no more: the page
// stops refreshing then.
func Terminal(state string) bool {
	return state == StateCompleted || state == StateFailed || state == StateCancelled
}

// Job is one export or restore as `coordinator status --json` shows it;
// the field names are the same, so a script can read either.
type Job struct {
	ExportID           string    `json:"exportId"`
	Kind               string    `json:"kind"` // "export" or "restore"
	Table              string    `json:"table"`
	State              string    `json:"state"`
	StartTime          time.Time `json:"startTime"`
	EndTime            time.Time `json:"endTime,omitzero"`
	SegmentsTotal      int       `json:"segmentsTotal"`
	SegmentsDone       int       `json:"segmentsDone"`
	SegmentsFailed     int       `json:"segmentsFailed"`
	SegmentsRunning    int       `json:"segmentsRunning"`
	ItemCount          int64     `json:"itemCount"`
	Bytes              int64     `json:"bytes"`
	ReadCapacityCap    float64   `json:"readCapacityCap"`
	ManifestSummaryKey string    `json:"manifestSummaryKey"`
	S3Bucket           string    `json:"s3Bucket"`
	S3Prefix           string    `json:"s3Prefix"`
	LastError          string    `json:"lastError,omitempty"`
	// EstimatedItems is the table's approximate item count at the start
	// (DescribeTable), 0 if unknown; with it the ETA follows items rather
	// than finished segments, which matters when segments differ in size.
	EstimatedItems int64 `json:"estimatedItems,omitempty"`
}

// JobDetail is one job with what its own page needs.
type JobDetail struct {
	Job
	Segments []Segment `json:"segments"`
	// History is cumulative counters sampled over the job's life, oldest
	// first; the chart's rates come from consecutive samples.
	History []Sample `json:"history"`
	// ManifestSummary is manifest-summary.json once the job COMPLETED.
	ManifestSummary json.RawMessage `json:"manifestSummary,omitempty"`
}

// Segment is one scan segment (or, for a restore, one unit of its work).
type Segment struct {
	Segment   int    `json:"segment"`
	State     string `json:"state"`    // PENDING, RUNNING, DONE or FAILED
	Items     int64  `json:"items"`    // read so far, committed or not
	Attempts  int    `json:"attempts"` // claims so far (the lease's fencing token)
	LastError string `json:"lastError,omitempty"`
	// LeaseLive is false for a RUNNING segment whose worker stopped
	// heartbeating: a rescuer will hand it to another worker.
	LeaseLive bool `json:"leaseLive"`
}

// Sample is the job's cumulative counters at one moment.
type Sample struct {
	Time      time.Time `json:"time"`
	Items     int64     `json:"items"`
	ReadUnits float64   `json:"readUnits"`
}

// Rate is the throughput between two samples, at the later one's time.
type Rate struct {
	Time               time.Time `json:"time"`
	ItemsPerSecond     float64   `json:"itemsPerSecond"`
	ReadUnitsPerSecond float64   `json:"readUnitsPerSecond"`
}

// Counts are the segments by what the grid shows.
type Counts struct {
	Done         int `json:"done"`
	Running      int `json:"running"`      // RUNNING with a live lease
	LeaseExpired int `json:"leaseExpired"` // RUNNING, but its worker stopped heartbeating
	Failed       int `json:"failed"`
	Pending      int `json:"pending"` // everything else up to segmentsTotal
}

// JobView is what /api/jobs/{id} returns and the job page renders: the
// detail plus what the dashboard derives from it.
type JobView struct {
	JobDetail
	Terminal       bool      `json:"terminal"`
	Counts         Counts    `json:"counts"`
	ElapsedSeconds float64   `json:"elapsedSeconds"`
	ETASeconds     *float64  `json:"etaSeconds,omitempty"` // absent when unknown or terminal
	Rates          []Rate    `json:"rates"`
	ObservedAt     time.Time `json:"observedAt"`
}
