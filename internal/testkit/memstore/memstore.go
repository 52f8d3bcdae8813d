// Package memstore is the control table in memory: a controltable.Store
// with the same conditions, fencing and counting as the DynamoDB store, for
// unit tests and simulations that must run without servers. The
// conformance suite (internal/testkit/storetest) runs the same cases
// against this store and against DynamoDB Local, so a rule that holds here
// holds there.
//
// Each method is atomic under one mutex, as each DynamoDB call (or
// transaction) is. Calls can be counted per method, and a hook can fail a
// call before or after it applies (a lost answer), to test the callers'
// idempotence.
package memstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ddbfleet/ddbfleet/shared/clock"
	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/export"
)

// Store is an in-memory control table.
type Store struct {
	clock clock.Clock

	mu       sync.Mutex
	exports  map[string]*export.Export
	segments map[string][]*export.Segment
	parts    map[string]map[[2]int]export.Part
	active   map[string]*controltable.ActiveExport
	samples  map[string]map[int64]export.Sample // by export, by minute
	tokens   map[string]time.Time               // commits applied, by idempotency token
	calls    map[string]int
	expiry   expiries // TTL of each row (retention.go)

	// Fault, if set, is asked before each call (after=false) and after a
	// call applied (after=true); a non-nil error is returned instead of
	// the call's result. An error after the call models a lost answer.
	Fault func(method string, after bool) error
}

var _ controltable.Store = (*Store)(nil)

// New returns an empty store on clk (nil: the wall clock).
func New(clk clock.Clock) *Store {
	return &Store{
		clock:    clock.OrReal(clk),
		exports:  map[string]*export.Export{},
		segments: map[string][]*export.Segment{},
		parts:    map[string]map[[2]int]export.Part{},
		active:   map[string]*controltable.ActiveExport{},
		samples:  map[string]map[int64]export.Sample{},
		tokens:   map[string]time.Time{},
		calls:    map[string]int{},
	}
}

// Calls returns how many times each method was called.
func (s *Store) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

// call counts the call, takes the lock and asks the fault hook; done runs
// the hook again after the call applied.
// The hook runs before the lock is taken, so it may call the store itself
// (to interleave a racing call); the after hook runs under the lock and
// must not.
func (s *Store) call(method string) (unlock func(), err error) {
	if s.Fault != nil {
		if err := s.Fault(method, false); err != nil {
			s.mu.Lock()
			s.calls[method]++
			s.mu.Unlock()
			return nil, err
		}
	}
	s.mu.Lock()
	s.calls[method]++
	return s.mu.Unlock, nil
}

func (s *Store) after(method string, err error) error {
	if err == nil && s.Fault != nil {
		return s.Fault(method, true)
	}
	return err
}

// now is the store's time at millisecond resolution, as DynamoDB keeps it.
func (s *Store) now() time.Time { return s.clock.Now().Truncate(time.Millisecond) }

func copyExport(e *export.Export) *export.Export {
	c := *e
	c.ExpressionAttributeNames = maps.Clone(e.ExpressionAttributeNames)
	c.ExpressionAttributeValues = maps.Clone(e.ExpressionAttributeValues)
	c.ParquetSchema = slices.Clone(e.ParquetSchema)
	c.RestoreFiles = slices.Clone(e.RestoreFiles)
	return &c
}

func copySegment(s *export.Segment) *export.Segment {
	c := *s
	c.Cursor = maps.Clone(s.Cursor)
	return &c
}

func leaseLost(op string, l export.Lease) error {
	return fmt.Errorf("%s %s: %w", op, l, export.ErrLeaseLost)
}

// CreateExport implements controltable.Exports.
func (s *Store) CreateExport(ctx context.Context, e *export.Export) error {
	unlock, err := s.call("CreateExport")
	if err != nil {
		return err
	}
	defer unlock()
	if _, ok := s.exports[e.ExportID]; ok {
		return export.ErrExists
	}
	now := s.now()
	x := copyExport(e)
	x.State = export.Pending
	x.SegmentsDone, x.SegmentsFailed, x.ItemCount, x.Bytes, x.Parts = 0, 0, 0, 0, 0
	x.EndTime, x.FinalizeLease, x.LastError, x.ManifestSummaryKey = time.Time{}, time.Time{}, "", ""
	s.exports[e.ExportID] = x
	segs := make([]*export.Segment, e.SegmentsTotal)
	for i := range segs {
		segs[i] = &export.Segment{ExportID: e.ExportID, Segment: i, State: export.SegmentPending, UpdatedAt: now}
	}
	s.segments[e.ExportID] = segs
	s.parts[e.ExportID] = map[[2]int]export.Part{}
	s.active[e.ExportID] = &controltable.ActiveExport{ExportID: e.ExportID}
	s.stampCreated(x)
	return s.after("CreateExport", nil)
}

// GetExport implements controltable.Exports.
func (s *Store) GetExport(ctx context.Context, id string) (*export.Export, error) {
	unlock, err := s.call("GetExport")
	if err != nil {
		return nil, err
	}
	defer unlock()
	e, ok := s.exports[id]
	if !ok {
		return nil, fmt.Errorf("export %s: %w", id, export.ErrNotFound)
	}
	return copyExport(e), s.after("GetExport", nil)
}

// SetExportState implements controltable.Exports.
func (s *Store) SetExportState(ctx context.Context, id string, from []export.State, to export.State, u controltable.ExportUpdate) (bool, error) {
	unlock, err := s.call("SetExportState")
	if err != nil {
		return false, err
	}
	defer unlock()
	e, ok := s.exports[id]
	if !ok || !slices.Contains(from, e.State) {
		return false, nil
	}
	if c := u.Expect; c != nil && (e.SegmentsDone != c.SegmentsDone || e.SegmentsFailed != c.SegmentsFailed) {
		return false, nil
	}
	e.State = to
	if !u.EndTime.IsZero() {
		e.EndTime = u.EndTime.Truncate(time.Millisecond)
	}
	if u.LastError != "" {
		e.LastError = u.LastError
	}
	if u.ManifestSummaryKey != "" {
		e.ManifestSummaryKey = u.ManifestSummaryKey
	}
	if to.Terminal() && !u.KeepActive {
		delete(s.active, id)
	}
	return true, s.after("SetExportState", nil)
}

// ListExports implements controltable.Exports: newest first.
func (s *Store) ListExports(ctx context.Context) ([]*export.Export, error) {
	unlock, err := s.call("ListExports")
	if err != nil {
		return nil, err
	}
	defer unlock()
	out := make([]*export.Export, 0, len(s.exports))
	for _, e := range s.exports {
		out = append(out, copyExport(e))
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].StartTime.Equal(out[j].StartTime) {
			return out[i].StartTime.After(out[j].StartTime)
		}
		return out[i].ExportID > out[j].ExportID
	})
	return out, s.after("ListExports", nil)
}

// ClaimFinalize implements controltable.Exports.
func (s *Store) ClaimFinalize(ctx context.Context, id string, total int, owner string, lease time.Duration) (export.FinalizeClaim, bool, error) {
	unlock, err := s.call("ClaimFinalize")
	if err != nil {
		return export.FinalizeClaim{}, false, err
	}
	defer unlock()
	e, ok := s.exports[id]
	now := s.now()
	if !ok || e.SegmentsDone != total || !(e.State == export.Running ||
		(e.State == export.Finalizing && (e.FinalizeLease.Before(now) || e.FinalizeOwner == owner))) {
		return export.FinalizeClaim{}, false, nil
	}
	e.State = export.Finalizing
	e.FinalizeLease, e.FinalizeOwner = now.Add(lease), owner
	if e.FinalizeStart.IsZero() {
		e.FinalizeStart = now
	}
	c := export.FinalizeClaim{ExportID: id, Owner: owner, Expiry: e.FinalizeLease, EndTime: e.FinalizeStart}
	return c, true, s.after("ClaimFinalize", nil)
}

// RenewFinalize implements controltable.Exports.
func (s *Store) RenewFinalize(ctx context.Context, c export.FinalizeClaim, lease time.Duration) error {
	unlock, err := s.call("RenewFinalize")
	if err != nil {
		return err
	}
	defer unlock()
	e, ok := s.exports[c.ExportID]
	if !ok || e.State != export.Finalizing || e.FinalizeOwner != c.Owner {
		return fmt.Errorf("renew finalize claim of export %s: %w", c.ExportID, export.ErrFinalizeLost)
	}
	e.FinalizeLease = s.now().Add(lease)
	return s.after("RenewFinalize", nil)
}

func (s *Store) segment(id string, seg int) (*export.Segment, error) {
	segs := s.segments[id]
	if seg < 0 || seg >= len(segs) {
		return nil, fmt.Errorf("segment %d of export %s: %w", seg, id, export.ErrNotFound)
	}
	return segs[seg], nil
}

// GetSegment implements controltable.Segments.
func (s *Store) GetSegment(ctx context.Context, id string, seg int) (*export.Segment, error) {
	unlock, err := s.call("GetSegment")
	if err != nil {
		return nil, err
	}
	defer unlock()
	x, err := s.segment(id, seg)
	if err != nil {
		return nil, err
	}
	return copySegment(x), s.after("GetSegment", nil)
}

// ListSegments implements controltable.Segments.
func (s *Store) ListSegments(ctx context.Context, id string) ([]*export.Segment, error) {
	unlock, err := s.call("ListSegments")
	if err != nil {
		return nil, err
	}
	defer unlock()
	segs := s.segments[id]
	out := make([]*export.Segment, len(segs))
	// One allocation for all the copies: simulations list thousands of
	// rows thousands of times.
	rows := make([]export.Segment, len(segs))
	for i, x := range segs {
		rows[i] = *x
		rows[i].Cursor = maps.Clone(x.Cursor)
		out[i] = &rows[i]
	}
	if len(out) == 0 {
		out = nil
	}
	return out, s.after("ListSegments", nil)
}

// ClaimSegment implements controltable.Segments.
func (s *Store) ClaimSegment(ctx context.Context, id string, seg int, owner string, lease time.Duration) (*export.Segment, export.Lease, error) {
	unlock, err := s.call("ClaimSegment")
	if err != nil {
		return nil, export.Lease{}, err
	}
	defer unlock()
	x, err := s.segment(id, seg)
	if err != nil {
		return nil, export.Lease{}, err
	}
	now := s.now()
	switch {
	case x.Claimable(now):
		x.State, x.Attempt, x.Owner, x.LeaseExpiry, x.UpdatedAt = export.SegmentRunning, x.Attempt+1, owner, now.Add(lease), now
		x.Share = 0
	case x.State == export.SegmentRunning && x.Owner == owner:
		// An earlier try of this very claim applied; its answer was lost.
	default:
		return nil, export.Lease{}, &export.NotClaimableError{State: x.State, Owner: x.Owner, LeaseExpiry: x.LeaseExpiry}
	}
	l := export.Lease{ExportID: id, Segment: seg, Attempt: x.Attempt, Owner: owner}
	return copySegment(x), l, s.after("ClaimSegment", nil)
}

// held returns the segment if l still holds it.
func (s *Store) held(l export.Lease) *export.Segment {
	x, err := s.segment(l.ExportID, l.Segment)
	if err != nil || x.State != export.SegmentRunning || x.Attempt != l.Attempt || x.Owner != l.Owner {
		return nil
	}
	return x
}

func (s *Store) accepts(id string) bool {
	e, ok := s.exports[id]
	return ok && e.State.AcceptsWork()
}

// Heartbeat implements controltable.Segments.
func (s *Store) Heartbeat(ctx context.Context, l export.Lease, lease time.Duration, live export.Progress) (*export.Segment, error) {
	unlock, err := s.call("Heartbeat")
	if err != nil {
		return nil, err
	}
	defer unlock()
	x := s.held(l)
	if x == nil {
		return nil, leaseLost("heartbeat", l)
	}
	now := s.now()
	x.LeaseExpiry, x.UpdatedAt, x.LiveItems, x.ReadUnits = now.Add(lease), now, live.Items, live.ReadUnits
	return copySegment(x), s.after("Heartbeat", nil)
}

// PublishShare implements controltable.Segments.
func (s *Store) PublishShare(ctx context.Context, seg *export.Segment, share float64) (bool, error) {
	unlock, err := s.call("PublishShare")
	if err != nil {
		return false, err
	}
	defer unlock()
	x := s.held(export.Lease{ExportID: seg.ExportID, Segment: seg.Segment, Attempt: seg.Attempt, Owner: seg.Owner})
	if x == nil {
		return false, s.after("PublishShare", nil)
	}
	x.Share = share
	return true, s.after("PublishShare", nil)
}

// CancelSegment implements controltable.Segments.
func (s *Store) CancelSegment(ctx context.Context, id string, seg int) (bool, error) {
	unlock, err := s.call("CancelSegment")
	if err != nil {
		return false, err
	}
	defer unlock()
	x, err := s.segment(id, seg)
	if err != nil || (x.State != export.SegmentPending && x.State != export.SegmentRunning) {
		return false, s.after("CancelSegment", nil)
	}
	x.State, x.UpdatedAt = export.SegmentCancelled, s.now()
	return true, s.after("CancelSegment", nil)
}

func (s *Store) putPart(id string, p export.Part) {
	s.parts[id][[2]int{p.Segment, p.Part}] = p
	s.stampPart(id, p)
}

func (s *Store) checkpoint(x *export.Segment, cp export.Checkpoint) {
	x.NextPart, x.ItemCount, x.Bytes, x.Pages = cp.NextPart, cp.ItemCount, cp.Bytes, cp.Pages
	if len(cp.Cursor) > 0 {
		x.Cursor = maps.Clone(cp.Cursor)
	}
}

// CommitPart implements controltable.Segments.
func (s *Store) CommitPart(ctx context.Context, l export.Lease, p export.Part, cp export.Checkpoint, lease time.Duration) error {
	unlock, err := s.call("CommitPart")
	if err != nil {
		return err
	}
	defer unlock()
	if s.replayed(l, cp, "part", p.Part) {
		return s.after("CommitPart", nil)
	}
	x := s.held(l)
	if x == nil {
		return leaseLost(fmt.Sprintf("commit part %d of", p.Part), l)
	}
	now := s.now()
	s.applied(l, cp, "part", p.Part)
	s.putPart(l.ExportID, p)
	s.checkpoint(x, cp)
	x.LeaseExpiry, x.UpdatedAt = now.Add(lease), now
	return s.after("CommitPart", nil)
}

// CompleteSegment implements controltable.Segments.
func (s *Store) CompleteSegment(ctx context.Context, l export.Lease, last *export.Part, cp export.Checkpoint) error {
	unlock, err := s.call("CompleteSegment")
	if err != nil {
		return err
	}
	defer unlock()
	if s.replayed(l, cp, "complete", cp.NextPart) {
		return s.after("CompleteSegment", nil)
	}
	x := s.held(l)
	if x == nil || !s.accepts(l.ExportID) {
		// An earlier try may have landed before its answer was lost.
		if y, err := s.segment(l.ExportID, l.Segment); err == nil && y.State == export.SegmentDone && y.Attempt == l.Attempt {
			return nil
		}
		return leaseLost("complete", l)
	}
	now := s.now()
	s.applied(l, cp, "complete", cp.NextPart)
	if last != nil {
		s.putPart(l.ExportID, *last)
	}
	s.checkpoint(x, cp)
	x.State, x.LeaseExpiry, x.UpdatedAt, x.Cursor = export.SegmentDone, now, now, nil
	e := s.exports[l.ExportID]
	e.SegmentsDone++
	e.ItemCount += cp.ItemCount
	e.Bytes += cp.Bytes
	e.Parts += cp.NextPart
	return s.after("CompleteSegment", nil)
}

// ReleaseSegment implements controltable.Segments.
func (s *Store) ReleaseSegment(ctx context.Context, l export.Lease, reason string) error {
	unlock, err := s.call("ReleaseSegment")
	if err != nil {
		return err
	}
	defer unlock()
	x := s.held(l)
	if x == nil {
		return leaseLost("release", l)
	}
	x.LeaseExpiry, x.UpdatedAt, x.LastError = time.Time{}, s.now(), reason
	return s.after("ReleaseSegment", nil)
}

// FailSegment implements controltable.Segments.
func (s *Store) FailSegment(ctx context.Context, l export.Lease, reason string, final bool) error {
	unlock, err := s.call("FailSegment")
	if err != nil {
		return err
	}
	defer unlock()
	x := s.held(l)
	if x == nil {
		return leaseLost("record failure of", l)
	}
	x.LeaseExpiry, x.UpdatedAt, x.LastError = time.Time{}, s.now(), reason
	x.Failures++
	if final {
		x.State = export.SegmentFailed
		s.countFailure(l.ExportID, l.Segment, reason)
	}
	return s.after("FailSegment", nil)
}

func (s *Store) countFailure(id string, seg int, reason string) {
	if e, ok := s.exports[id]; ok {
		e.SegmentsFailed++
		e.LastError = fmt.Sprintf("segment %d: %s", seg, reason)
	}
}

// FailUnleased implements controltable.Segments.
func (s *Store) FailUnleased(ctx context.Context, id string, seg int, reason string) (bool, error) {
	unlock, err := s.call("FailUnleased")
	if err != nil {
		return false, err
	}
	defer unlock()
	x, err := s.segment(id, seg)
	now := s.now()
	if err != nil || x.State.Settled() || !x.LeaseExpiry.Before(now) {
		return false, nil
	}
	x.State, x.LastError, x.UpdatedAt = export.SegmentFailed, reason, now
	s.countFailure(id, seg, reason)
	return true, s.after("FailUnleased", nil)
}

// ResetFailed implements controltable.Segments.
func (s *Store) ResetFailed(ctx context.Context, id string) ([]int, error) {
	unlock, err := s.call("ResetFailed")
	if err != nil {
		return nil, err
	}
	defer unlock()
	var reset []int
	e := s.exports[id]
	for _, x := range s.segments[id] {
		if x.State != export.SegmentFailed || e == nil || (e.State != export.Running && e.State != export.Failed) {
			continue
		}
		x.State, x.Failures, x.LeaseExpiry, x.UpdatedAt, x.AttemptBase = export.SegmentPending, 0, time.Time{}, s.now(), x.Attempt
		e.SegmentsFailed--
		e.State = export.Running
		reset = append(reset, x.Segment)
	}
	if len(reset) > 0 {
		if s.active[id] == nil {
			s.active[id] = &controltable.ActiveExport{ExportID: id}
		}
		s.stampActive(id)
	}
	return reset, s.after("ResetFailed", nil)
}

// RequeueExpired implements controltable.Segments.
func (s *Store) RequeueExpired(ctx context.Context, seg *export.Segment) (bool, error) {
	unlock, err := s.call("RequeueExpired")
	if err != nil {
		return false, err
	}
	defer unlock()
	x, err := s.segment(seg.ExportID, seg.Segment)
	now := s.now()
	if err != nil || x.State != export.SegmentRunning || x.Attempt != seg.Attempt || !x.LeaseExpiry.Before(now) {
		return false, nil
	}
	x.State, x.UpdatedAt = export.SegmentPending, now
	return true, s.after("RequeueExpired", nil)
}

// GetPart implements controltable.Parts.
func (s *Store) GetPart(ctx context.Context, id string, seg, part int) (*export.Part, error) {
	unlock, err := s.call("GetPart")
	if err != nil {
		return nil, err
	}
	defer unlock()
	p, ok := s.parts[id][[2]int{seg, part}]
	if !ok {
		return nil, fmt.Errorf("part %d of segment %d of export %s: %w", part, seg, id, export.ErrNotFound)
	}
	return &p, s.after("GetPart", nil)
}

// ListParts implements controltable.Parts.
func (s *Store) ListParts(ctx context.Context, id string) ([]export.Part, error) {
	unlock, err := s.call("ListParts")
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out []export.Part
	for _, p := range s.parts[id] {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Segment != out[j].Segment {
			return out[i].Segment < out[j].Segment
		}
		return out[i].Part < out[j].Part
	})
	return out, s.after("ListParts", nil)
}

// ListActive implements controltable.Active.
func (s *Store) ListActive(ctx context.Context) ([]controltable.ActiveExport, error) {
	unlock, err := s.call("ListActive")
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out []controltable.ActiveExport
	for _, id := range slices.Sorted(maps.Keys(s.active)) {
		out = append(out, *s.active[id])
	}
	return out, s.after("ListActive", nil)
}

// ClaimSteward implements controltable.Active.
func (s *Store) ClaimSteward(ctx context.Context, id, owner string, lease time.Duration, fleet int) (bool, error) {
	unlock, err := s.call("ClaimSteward")
	if err != nil {
		return false, err
	}
	defer unlock()
	a, now := s.active[id], s.now()
	if a == nil || a.StewardLive(owner, now) {
		return false, s.after("ClaimSteward", nil)
	}
	a.Steward, a.StewardExpiry, a.Fleet = owner, now.Add(lease), fleet
	return true, s.after("ClaimSteward", nil)
}

// Forget implements controltable.Active.
func (s *Store) Forget(ctx context.Context, id string) error {
	unlock, err := s.call("Forget")
	if err != nil {
		return err
	}
	defer unlock()
	delete(s.active, id)
	return s.after("Forget", nil)
}

// RecordSample implements controltable.History: one sample per minute.
func (s *Store) RecordSample(ctx context.Context, id string, smp export.Sample) error {
	unlock, err := s.call("RecordSample")
	if err != nil {
		return err
	}
	defer unlock()
	if s.samples[id] == nil {
		s.samples[id] = map[int64]export.Sample{}
	}
	minute := smp.At.Unix() / 60
	if _, ok := s.samples[id][minute]; !ok {
		smp.At = smp.At.Truncate(time.Millisecond)
		s.samples[id][minute] = smp
		s.stampSample(id, minute)
	}
	return s.after("RecordSample", nil)
}

// ListSamples implements controltable.History: oldest first.
func (s *Store) ListSamples(ctx context.Context, id string) ([]export.Sample, error) {
	unlock, err := s.call("ListSamples")
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out []export.Sample
	for _, minute := range slices.Sorted(maps.Keys(s.samples[id])) {
		out = append(out, s.samples[id][minute])
	}
	return out, s.after("ListSamples", nil)
}

// tokenLife is how long DynamoDB remembers an idempotency token.
const tokenLife = 10 * time.Minute

// replayed reports whether this commit (a fixed-time one, as DynamoDB
// only accepts a token on an identical request) already applied within
// the token's life: DynamoDB then answers success without judging the
// conditions again.
func (s *Store) replayed(l export.Lease, cp export.Checkpoint, what string, n int) bool {
	if cp.At.IsZero() {
		return false
	}
	at, ok := s.tokens[controltable.CommitToken(l, what, n)]
	return ok && s.now().Sub(at) < tokenLife
}

func (s *Store) applied(l export.Lease, cp export.Checkpoint, what string, n int) {
	if !cp.At.IsZero() {
		s.tokens[controltable.CommitToken(l, what, n)] = s.now()
	}
}
