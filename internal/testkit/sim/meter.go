package sim

// The metering Store: a controltable.Store decorator that counts every
// call by method, prices it in read and write units (size.go) and records
// the writes each call makes to each item, for the hottest item's writes
// per second. It sits under controltable.WithRetry, as DynamoDB sits under
// the SDK: every try is a request, billed.
//
// What each method reads and writes, as shared/controltable's Dynamo does
// it (ops.go):
//
//	method           reads                                  writes (items)
//	CreateExport     —                                      export row ×2, every segment row, job row, active row
//	GetExport        export row, consistent                 —
//	SetExportState   —                                      export row; active row when terminal
//	ClaimFinalize    —                                      export row
//	RenewFinalize    —                                      export row
//	ListExports      jobs index (eventual) + each export    —
//	GetSegment       segment row, consistent                —
//	ListSegments     every segment row, consistent Query    —
//	ClaimSegment     segment row after a refusal            segment row
//	Heartbeat        — (the row comes back with the write)  segment row
//	PublishShare     —                                      segment row
//	CancelSegment    —                                      segment row
//	CommitPart       —                                      transaction: part row, segment row
//	CompleteSegment  segment row after a refusal            transaction: part row (last), segment row, export row
//	ReleaseSegment   —                                      segment row
//	FailSegment      —                                      transaction: segment row (+ export row when final)
//	FailUnleased     —                                      transaction: segment row, export row
//	ResetFailed      every segment row                      per reset segment, transaction: segment row, export row
//	RequeueExpired   —                                      segment row
//	GetPart          part row, consistent                   —
//	ListParts        every part row, consistent Query       —
//	ListActive       active index, eventual Query           —
//	ClaimSteward     —                                      active row
//	Forget           —                                      active row
//	RecordSample     —                                      sample row of the minute
//	ListSamples      the export's samples, consistent       —
//
// A write whose condition fails is billed and reaches its item like one
// that applies, so it counts for both. A retry of a commit whose answer
// was lost carries the same idempotency token: DynamoDB answers it from
// the first try and bills reading the items, not writing them; a retried
// claim fails its condition and reads the row back.

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ddbfleet/ddbfleet/shared/clock"
	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/export"
)

// rowKind names the kinds of control-table items.
type rowKind uint8

const (
	exportItem rowKind = iota
	segmentItem
	partItem
	activeItem
	sampleItem
	jobItem
)

func (k rowKind) String() string {
	return [...]string{"export row", "segment row", "part row", "active row", "sample row", "job row"}[k]
}

// item identifies one control-table item.
type item struct {
	kind      rowKind
	export    string
	seg, part int32 // segment and part numbers; the minute for a sample row
}

// window counts one item's writes in the current second of virtual time
// and keeps the most it had in any second.
type window struct {
	sec, n int64
	max    int64
	maxAt  int64 // the second of the maximum
}

// MethodStats is what one Store method cost.
type MethodStats struct {
	Calls int
	RCU   float64
	WCU   float64
}

// Hot is the most writes one item took in one second of virtual time.
type Hot struct {
	Item   string
	Writes int64
	At     time.Duration // since the start
}

// Roles: who made a call, for the cost by role.
const (
	roleCoordinator = "coordinator export (Start)"
	roleWatcher     = "export --wait watcher"
	roleWorker      = "worker: receive, claim, heartbeat, commit"
	roleSettle      = "worker: Settle (and finalize)"
	roleRescuer     = "worker: Rescuer"
)

// meter is the metering Store.
type meter struct {
	next  controltable.Store
	clock clock.Clock
	start time.Time

	mu      sync.Mutex
	methods map[string]*MethodStats
	roles   map[string]*MethodStats
	role    string // who is calling now: the sim runs one process's step at a time
	hot     map[item]*window
	// Shadow sizes of the rows, kept from what the calls that write them
	// say (a read of every segment row is priced from these, not by
	// sizing each row it returns again).
	exportSize map[string]int
	segSize    map[string][]int32
	// replays holds the calls whose answer was lost after they applied:
	// their next try is a replay.
	replays map[replayKey]bool
	// stewards counts the stewardships won (and so rescue passes), by owner.
	stewards map[string]int
}

type replayKey struct {
	method string
	owner  string
	n      int // attempt, part
}

var _ controltable.Store = (*meter)(nil)

func newMeter(next controltable.Store, clk clock.Clock) *meter {
	return &meter{next: next, clock: clk, start: clk.Now(), methods: map[string]*MethodStats{}, roles: map[string]*MethodStats{}, hot: map[item]*window{},
		exportSize: map[string]int{}, segSize: map[string][]int32{}, replays: map[replayKey]bool{}, stewards: map[string]int{}}
}

// errLostAnswer is what a call whose answer was lost returns (fault.go).
var errLostAnswer = errors.New("sim: the answer was lost after the call applied")

func lost(err error) bool { return errors.Is(err, errLostAnswer) }

// applied reports whether a call's effect happened: it succeeded, or
// only its answer was lost.
func applied(err error) bool { return err == nil || lost(err) }

// bill records one call of method; the caller holds mu.
func (m *meter) bill(method string, rcu, wcu float64) {
	s := m.methods[method]
	if s == nil {
		s = &MethodStats{}
		m.methods[method] = s
	}
	s.Calls++
	s.RCU += rcu
	s.WCU += wcu
	r := m.roles[m.role]
	if r == nil {
		r = &MethodStats{}
		m.roles[m.role] = r
	}
	r.Calls++
	r.RCU += rcu
	r.WCU += wcu
}

// as says who makes the calls from now on.
func (m *meter) as(role string) {
	m.mu.Lock()
	m.role = role
	m.mu.Unlock()
}

// RoleStats returns the cost by role.
func (m *meter) RoleStats() map[string]MethodStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]MethodStats, len(m.roles))
	for k, v := range m.roles {
		out[k] = *v
	}
	return out
}

// wrote records a write reaching it; the caller holds mu.
func (m *meter) wrote(it item) {
	sec := m.clock.Now().Unix()
	w := m.hot[it]
	if w == nil {
		w = &window{sec: sec}
		m.hot[it] = w
	}
	if w.sec != sec {
		w.sec, w.n = sec, 0
	}
	w.n++
	if w.n > w.max {
		w.max, w.maxAt = w.n, sec
	}
}

func (m *meter) exportRow(id string) int {
	if n, ok := m.exportSize[id]; ok {
		return n
	}
	return 800
}

func (m *meter) segRow(id string, seg int) int {
	if s := m.segSize[id]; seg < len(s) && s[seg] > 0 {
		return int(s[seg])
	}
	return 300
}

func (m *meter) seeSegment(s *export.Segment) {
	sizes := m.segSize[s.ExportID]
	if s.Segment < len(sizes) {
		sizes[s.Segment] = int32(segmentRowSize(s))
	}
}

// Stats returns the cost of every method called.
func (m *meter) Stats() map[string]MethodStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]MethodStats, len(m.methods))
	for k, v := range m.methods {
		out[k] = *v
	}
	return out
}

// Stewards returns the stewardships won, by owner.
func (m *meter) Stewards() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.stewards)
}

// Hottest returns the hottest item of each kind, hottest first.
func (m *meter) Hottest() []Hot {
	m.mu.Lock()
	defer m.mu.Unlock()
	best := map[rowKind]Hot{}
	for it, w := range m.hot {
		c := Hot{Item: describe(it), Writes: w.max, At: time.Unix(w.maxAt, 0).Sub(m.start.Truncate(time.Second))}
		// Ties go to the earliest, then the first by name: the same
		// every run.
		if h, ok := best[it.kind]; !ok || c.Writes > h.Writes || (c.Writes == h.Writes && (c.At < h.At || (c.At == h.At && c.Item < h.Item))) {
			best[it.kind] = c
		}
	}
	out := slices.Collect(maps.Values(best))
	slices.SortFunc(out, func(a, b Hot) int {
		if a.Writes != b.Writes {
			return int(b.Writes - a.Writes)
		}
		if a.Item < b.Item {
			return -1
		}
		return 1
	})
	return out
}

func describe(it item) string {
	switch it.kind {
	case segmentItem:
		return it.kind.String() + " " + itoa(int(it.seg))
	case partItem:
		return it.kind.String() + " " + itoa(int(it.seg)) + "/" + itoa(int(it.part))
	}
	return it.kind.String()
}

// CreateExport implements controltable.Store.
func (m *meter) CreateExport(ctx context.Context, e *export.Export) error {
	err := m.next.CreateExport(ctx, e)
	m.mu.Lock()
	defer m.mu.Unlock()
	size := exportRowSize(e)
	m.exportSize[e.ExportID] = size
	wcu := 2 * writeUnits(size, false)
	m.wrote(item{kind: exportItem, export: e.ExportID})
	m.wrote(item{kind: exportItem, export: e.ExportID})
	if applied(err) {
		sizes := make([]int32, e.SegmentsTotal)
		for i := range sizes {
			s := export.Segment{ExportID: e.ExportID, Segment: i, State: export.SegmentPending}
			sizes[i] = int32(segmentRowSize(&s))
			wcu += writeUnits(int(sizes[i]), false)
			m.wrote(item{kind: segmentItem, export: e.ExportID, seg: int32(i)})
		}
		m.segSize[e.ExportID] = sizes
		wcu += writeUnits(jobRowSize(e.ExportID), false) + writeUnits(activeRowSize(e.ExportID, ""), false)
		m.wrote(item{kind: jobItem, export: e.ExportID})
		m.wrote(item{kind: activeItem, export: e.ExportID})
	}
	m.bill("CreateExport", 0, wcu)
	return err
}

// GetExport implements controltable.Store.
func (m *meter) GetExport(ctx context.Context, id string) (*export.Export, error) {
	e, err := m.next.GetExport(ctx, id)
	m.mu.Lock()
	defer m.mu.Unlock()
	if e != nil {
		m.exportSize[id] = exportRowSize(e)
	}
	m.bill("GetExport", readUnits(m.exportRow(id), true), 0)
	return e, err
}

// SetExportState implements controltable.Store.
func (m *meter) SetExportState(ctx context.Context, id string, from []export.State, to export.State, u controltable.ExportUpdate) (bool, error) {
	ok, err := m.next.SetExportState(ctx, id, from, to, u)
	m.mu.Lock()
	defer m.mu.Unlock()
	wcu := writeUnits(m.exportRow(id), false)
	m.wrote(item{kind: exportItem, export: id})
	if ok && to.Terminal() && !u.KeepActive {
		wcu += writeUnits(activeRowSize(id, ""), false)
		m.wrote(item{kind: activeItem, export: id})
	}
	m.bill("SetExportState", 0, wcu)
	return ok, err
}

// ListExports implements controltable.Store.
func (m *meter) ListExports(ctx context.Context) ([]*export.Export, error) {
	es, err := m.next.ListExports(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	rcu := queryUnits(func(yield func(int) bool) {
		for _, e := range es {
			if !yield(jobRowSize(e.ExportID)) {
				return
			}
		}
	}, false)
	for _, e := range es {
		rcu += readUnits(exportRowSize(e), true)
	}
	m.bill("ListExports", rcu, 0)
	return es, err
}

// ClaimFinalize implements controltable.Store.
func (m *meter) ClaimFinalize(ctx context.Context, id string, total int, owner string, lease time.Duration) (export.FinalizeClaim, bool, error) {
	c, ok, err := m.next.ClaimFinalize(ctx, id, total, owner, lease)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.wrote(item{kind: exportItem, export: id})
	m.bill("ClaimFinalize", 0, writeUnits(m.exportRow(id), false))
	return c, ok, err
}

// RenewFinalize implements controltable.Store.
func (m *meter) RenewFinalize(ctx context.Context, c export.FinalizeClaim, lease time.Duration) error {
	err := m.next.RenewFinalize(ctx, c, lease)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.wrote(item{kind: exportItem, export: c.ExportID})
	m.bill("RenewFinalize", 0, writeUnits(m.exportRow(c.ExportID), false))
	return err
}

// GetSegment implements controltable.Store.
func (m *meter) GetSegment(ctx context.Context, id string, seg int) (*export.Segment, error) {
	s, err := m.next.GetSegment(ctx, id, seg)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bill("GetSegment", readUnits(m.segRow(id, seg), true), 0)
	return s, err
}

// ListSegments implements controltable.Store.
func (m *meter) ListSegments(ctx context.Context, id string) ([]*export.Segment, error) {
	segs, err := m.next.ListSegments(ctx, id)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bill("ListSegments", m.segmentQuery(id, true), 0)
	return segs, err
}

// segmentQuery prices a Query over every segment row of the export.
func (m *meter) segmentQuery(id string, consistent bool) float64 {
	sizes := m.segSize[id]
	return queryUnits(func(yield func(int) bool) {
		for _, n := range sizes {
			if !yield(int(n)) {
				return
			}
		}
	}, consistent)
}

// ClaimSegment implements controltable.Store.
func (m *meter) ClaimSegment(ctx context.Context, id string, seg int, owner string, lease time.Duration) (*export.Segment, export.Lease, error) {
	s, l, err := m.next.ClaimSegment(ctx, id, seg, owner, lease)
	m.mu.Lock()
	defer m.mu.Unlock()
	if s != nil {
		m.seeSegment(s)
	}
	key := replayKey{method: "ClaimSegment", owner: owner}
	size := m.segRow(id, seg)
	var rcu float64
	var refused *export.NotClaimableError
	if m.replays[key] || errors.As(err, &refused) {
		// The condition failed (a lost answer's retry fails it too): the
		// row is read back to tell why.
		rcu = readUnits(size, true)
		delete(m.replays, key)
	}
	if lost(err) {
		m.replays[key] = true
	}
	m.wrote(item{kind: segmentItem, export: id, seg: int32(seg)})
	m.bill("ClaimSegment", rcu, writeUnits(size, false))
	return s, l, err
}

// Heartbeat implements controltable.Store: an update returning the row
// it wrote, which costs nothing more.
func (m *meter) Heartbeat(ctx context.Context, l export.Lease, lease time.Duration, p export.Progress) (*export.Segment, error) {
	seg, err := m.next.Heartbeat(ctx, l, lease, p)
	m.mu.Lock()
	defer m.mu.Unlock()
	if seg != nil {
		m.seeSegment(seg)
	}
	m.wrote(item{kind: segmentItem, export: l.ExportID, seg: int32(l.Segment)})
	m.bill("Heartbeat", 0, writeUnits(m.segRow(l.ExportID, l.Segment), false))
	return seg, err
}

// PublishShare implements controltable.Store.
func (m *meter) PublishShare(ctx context.Context, seg *export.Segment, share float64) (bool, error) {
	ok, err := m.next.PublishShare(ctx, seg, share)
	m.mu.Lock()
	defer m.mu.Unlock()
	if ok {
		s := *seg
		s.Share = share
		m.seeSegment(&s)
	}
	m.wrote(item{kind: segmentItem, export: seg.ExportID, seg: int32(seg.Segment)})
	m.bill("PublishShare", 0, writeUnits(m.segRow(seg.ExportID, seg.Segment), false))
	return ok, err
}

// CancelSegment implements controltable.Store.
func (m *meter) CancelSegment(ctx context.Context, id string, seg int) (bool, error) {
	ok, err := m.next.CancelSegment(ctx, id, seg)
	m.leasedWrite("CancelSegment", id, seg)
	return ok, err
}

// commitRows bills a commit transaction of a part (if any), the segment
// row and the export row, or its replay.
func (m *meter) commitRows(method string, l export.Lease, p *export.Part, n int, err error) {
	key := replayKey{method: method, owner: l.Owner + "#" + itoa(l.Attempt), n: n}
	// CommitPart writes only the segment's own rows; CompleteSegment adds
	// the segment's totals to the export row's counters.
	rows := []int{m.segRow(l.ExportID, l.Segment)}
	counts := method == "CompleteSegment"
	if counts {
		rows = append(rows, m.exportRow(l.ExportID))
	}
	if p != nil {
		rows = append(rows, partRowSize(l.ExportID, p))
	}
	var rcu, wcu float64
	if m.replays[key] && applied(err) {
		// Answered from the first try: the items are read, transactionally.
		for _, n := range rows {
			rcu += 2 * readUnits(n, true)
		}
		delete(m.replays, key)
	} else {
		for _, n := range rows {
			wcu += writeUnits(n, true)
		}
		m.wrote(item{kind: segmentItem, export: l.ExportID, seg: int32(l.Segment)})
		if counts {
			m.wrote(item{kind: exportItem, export: l.ExportID})
		}
		if p != nil {
			m.wrote(item{kind: partItem, export: l.ExportID, seg: int32(p.Segment), part: int32(p.Part)})
		}
	}
	if lost(err) {
		m.replays[key] = true
	}
	if method == "CompleteSegment" && export.IsLeaseLost(err) {
		rcu += readUnits(m.segRow(l.ExportID, l.Segment), true)
	}
	m.bill(method, rcu, wcu)
}

// CommitPart implements controltable.Store.
func (m *meter) CommitPart(ctx context.Context, l export.Lease, p export.Part, cp export.Checkpoint, lease time.Duration) error {
	err := m.next.CommitPart(ctx, l, p, cp, lease)
	m.mu.Lock()
	defer m.mu.Unlock()
	if applied(err) {
		m.seeCheckpoint(l, cp, export.SegmentRunning)
	}
	m.commitRows("CommitPart", l, &p, p.Part, err)
	return err
}

// CompleteSegment implements controltable.Store.
func (m *meter) CompleteSegment(ctx context.Context, l export.Lease, last *export.Part, cp export.Checkpoint) error {
	err := m.next.CompleteSegment(ctx, l, last, cp)
	m.mu.Lock()
	defer m.mu.Unlock()
	if applied(err) {
		m.seeCheckpoint(l, cp, export.SegmentDone)
	}
	m.commitRows("CompleteSegment", l, last, cp.NextPart, err)
	return err
}

func (m *meter) seeCheckpoint(l export.Lease, cp export.Checkpoint, st export.SegmentState) {
	m.seeSegment(&export.Segment{ExportID: l.ExportID, Segment: l.Segment, State: st, Attempt: l.Attempt, Owner: l.Owner,
		NextPart: cp.NextPart, ItemCount: cp.ItemCount, Bytes: cp.Bytes, Pages: cp.Pages, LiveItems: cp.ItemCount, ReadUnits: 12345.678})
}

// leasedWrite bills a single conditional update of the segment row.
func (m *meter) leasedWrite(method, id string, seg int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.wrote(item{kind: segmentItem, export: id, seg: int32(seg)})
	m.bill(method, 0, writeUnits(m.segRow(id, seg), false))
}

// ReleaseSegment implements controltable.Store.
func (m *meter) ReleaseSegment(ctx context.Context, l export.Lease, reason string) error {
	err := m.next.ReleaseSegment(ctx, l, reason)
	m.leasedWrite("ReleaseSegment", l.ExportID, l.Segment)
	return err
}

// FailSegment implements controltable.Store.
func (m *meter) FailSegment(ctx context.Context, l export.Lease, reason string, final bool) error {
	err := m.next.FailSegment(ctx, l, reason, final)
	m.mu.Lock()
	defer m.mu.Unlock()
	wcu := writeUnits(m.segRow(l.ExportID, l.Segment), true)
	m.wrote(item{kind: segmentItem, export: l.ExportID, seg: int32(l.Segment)})
	if final {
		wcu += writeUnits(m.exportRow(l.ExportID), true)
		m.wrote(item{kind: exportItem, export: l.ExportID})
	}
	m.bill("FailSegment", 0, wcu)
	return err
}

// FailUnleased implements controltable.Store.
func (m *meter) FailUnleased(ctx context.Context, id string, seg int, reason string) (bool, error) {
	ok, err := m.next.FailUnleased(ctx, id, seg, reason)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.wrote(item{kind: segmentItem, export: id, seg: int32(seg)})
	m.wrote(item{kind: exportItem, export: id})
	m.bill("FailUnleased", 0, writeUnits(m.segRow(id, seg), true)+writeUnits(m.exportRow(id), true))
	return ok, err
}

// ResetFailed implements controltable.Store.
func (m *meter) ResetFailed(ctx context.Context, id string) ([]int, error) {
	reset, err := m.next.ResetFailed(ctx, id)
	m.mu.Lock()
	defer m.mu.Unlock()
	rcu := m.segmentQuery(id, true)
	var wcu float64
	for _, seg := range reset {
		wcu += writeUnits(m.segRow(id, seg), true) + writeUnits(m.exportRow(id), true)
		m.wrote(item{kind: segmentItem, export: id, seg: int32(seg)})
		m.wrote(item{kind: exportItem, export: id})
	}
	m.bill("ResetFailed", rcu, wcu)
	return reset, err
}

// RequeueExpired implements controltable.Store.
func (m *meter) RequeueExpired(ctx context.Context, seg *export.Segment) (bool, error) {
	ok, err := m.next.RequeueExpired(ctx, seg)
	m.leasedWrite("RequeueExpired", seg.ExportID, seg.Segment)
	return ok, err
}

// GetPart implements controltable.Store.
func (m *meter) GetPart(ctx context.Context, id string, seg, part int) (*export.Part, error) {
	p, err := m.next.GetPart(ctx, id, seg, part)
	m.mu.Lock()
	defer m.mu.Unlock()
	size := 250
	if p != nil {
		size = partRowSize(id, p)
	}
	m.bill("GetPart", readUnits(size, true), 0)
	return p, err
}

// ListParts implements controltable.Store.
func (m *meter) ListParts(ctx context.Context, id string) ([]export.Part, error) {
	parts, err := m.next.ListParts(ctx, id)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bill("ListParts", queryUnits(func(yield func(int) bool) {
		for i := range parts {
			if !yield(partRowSize(id, &parts[i])) {
				return
			}
		}
	}, true), 0)
	return parts, err
}

// ListActive implements controltable.Store.
func (m *meter) ListActive(ctx context.Context) ([]controltable.ActiveExport, error) {
	active, err := m.next.ListActive(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bill("ListActive", queryUnits(func(yield func(int) bool) {
		for _, a := range active {
			if !yield(activeRowSize(a.ExportID, a.Steward)) {
				return
			}
		}
	}, false), 0)
	return active, err
}

// ClaimSteward implements controltable.Store: a conditional update of the
// export's row of the active index, billed whether or not it wins.
func (m *meter) ClaimSteward(ctx context.Context, id, owner string, lease time.Duration, fleet int) (bool, error) {
	ok, err := m.next.ClaimSteward(ctx, id, owner, lease, fleet)
	m.mu.Lock()
	defer m.mu.Unlock()
	if ok {
		m.stewards[owner]++
	}
	m.wrote(item{kind: activeItem, export: id})
	m.bill("ClaimSteward", 0, writeUnits(activeRowSize(id, owner), false))
	return ok, err
}

// Forget implements controltable.Store.
func (m *meter) Forget(ctx context.Context, id string) error {
	err := m.next.Forget(ctx, id)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.wrote(item{kind: activeItem, export: id})
	m.bill("Forget", 0, writeUnits(activeRowSize(id, ""), false))
	return err
}

// RecordSample implements controltable.Store: a put conditional on the
// minute's row not existing, billed whether or not it does.
func (m *meter) RecordSample(ctx context.Context, id string, s export.Sample) error {
	err := m.next.RecordSample(ctx, id, s)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.wrote(item{kind: sampleItem, export: id, seg: int32(s.At.Unix() / 60)})
	m.bill("RecordSample", 0, writeUnits(sampleRowSize(id), false))
	return err
}

// ListSamples implements controltable.Store.
func (m *meter) ListSamples(ctx context.Context, id string) ([]export.Sample, error) {
	ss, err := m.next.ListSamples(ctx, id)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bill("ListSamples", queryUnits(func(yield func(int) bool) {
		for range ss {
			if !yield(sampleRowSize(id)) {
				return
			}
		}
	}, true), 0)
	return ss, err
}
