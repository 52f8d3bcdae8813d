package sim

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/internal/testkit/fakes3"
	"github.com/ddbfleet/ddbfleet/internal/testkit/memstore"
	"github.com/ddbfleet/ddbfleet/internal/testkit/sqsfake"
	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/lifecycle"
	"github.com/ddbfleet/ddbfleet/shared/manifest"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
	"github.com/ddbfleet/ddbfleet/shared/queue"
)

// Scenario is one simulated export and the fleet that works it.
type Scenario struct {
	Segments int
	Workers  int           // started at the beginning
	Slots    int           // segments each worker works at once (--concurrency)
	Lease    time.Duration // --lease-duration; also the rescuers' period and grace
	// Each segment costs a random ReadMin…ReadMax read units to scan and
	// writes a random PartsMin…PartsMax parts, one each time it has read
	// its next even slice of them. A slot scans at the lesser of ScanRate
	// (a Scan of one segment unpaced) and the read share it holds of
	// ReadCap, the export's fleet-wide read cap (capacity.go).
	ReadMin, ReadMax   float64 // RCU
	ScanRate           float64 // RCU/s
	PartsMin, PartsMax int
	ReadCap            float64 // RCU/s
	// KillFraction of the first workers are SIGKILLed at random times in
	// [StartSpread, KillBy): their leases just stop. Each is replaced by a
	// new worker ReplaceAfter later, as ECS would.
	KillFraction float64
	KillBy       time.Duration
	ReplaceAfter time.Duration
	// LostAnswers is the chance that a ClaimSegment, CommitPart or
	// CompleteSegment applies but its answer is lost (the caller gets an
	// error and retries, through controltable.WithRetry).
	LostAnswers float64
	StartSpread time.Duration // workers start at random times in [0, StartSpread)
	// Added more workers start at random times in [AddAt, AddAt +
	// StartSpread): the fleet scaled out mid-export.
	Added int
	AddAt time.Duration
	// KillSteward, if set, is when the worker stewarding the export is
	// SIGKILLed (and replaced): another must take its rescue over.
	KillSteward time.Duration
	Watch       bool // run `export --wait`'s watcher
	FakeS3      bool // S3 is fakes3 (HTTP, ~0.8 ms an object) rather than memS3
	Seed        uint64
	Limit       time.Duration // virtual time allowed before the export counts as stuck
}

// Big is the scenario of the main test: 10,000 segments on 1,000 workers,
// the export bound by its read cap (20 RCU/s per segment: 50 per slot
// once every slot has a segment, against 1,000 unpaced), which it takes
// about 20 minutes to spend.
func Big() Scenario {
	return Scenario{
		Segments: 10_000, Workers: 1_000, Slots: 4, Lease: 60 * time.Second,
		ReadMin: 8_000, ReadMax: 40_000, ScanRate: 1_000, PartsMin: 1, PartsMax: 3,
		ReadCap:      200_000,
		KillFraction: 0.05, KillBy: 15 * time.Minute, ReplaceAfter: time.Minute,
		LostAnswers: 0.01, StartSpread: 30 * time.Second, Watch: true, Seed: 1,
		Limit: 3 * time.Hour,
	}
}

// With returns s with segments and workers changed. The read cap scales
// with the segments, so the export takes as long to read at its cap
// whatever its size and fleet (what per export-hour figures compare), and
// the kills spread over the first three quarters of that.
func (s Scenario) With(segments, workers int) Scenario {
	s.ReadCap *= float64(segments) / float64(s.Segments)
	s.Segments, s.Workers = segments, workers
	s.KillBy = max(s.StartSpread+time.Minute, s.Ideal()*3/4)
	return s
}

// Ideal is how long the export takes to read at its cap, every unit of it
// used: the mean read units of its segments over the cap.
func (s Scenario) Ideal() time.Duration {
	return time.Duration(float64(s.Segments) * (s.ReadMin + s.ReadMax) / 2 / s.ReadCap * float64(time.Second))
}

// plan is what one segment is: the read units it scans, and its parts.
type plan struct {
	read  float64 // RCU
	items []int64 // per part
	bytes []int   // per part (tiny objects: S3 is not what is measured)
}

// partRecord is a commit a worker saw succeed.
type partRecord struct {
	attempt int
	key     string
	items   int64
	bytes   int64
}

// world is one run: the stores, the queue, the fleet and the ledger of
// what workers saw happen.
type world struct {
	tb    testing.TB
	sc    Scenario
	ctx   context.Context
	loop  *loop
	mem   *memstore.Store
	meter *meter
	store controltable.Store // what every process uses: WithRetry over the meter
	sqs   *countingSQS
	work  *queue.Queue
	dlq   *queue.Queue
	obj   *objstore.Store
	s3    *memS3 // nil on fakes3
	exp   *export.Export
	log   *zap.Logger
	rng   *rand.Rand // scenario draws
	frng  *rand.Rand // fault draws
	plans []plan

	workers []*worker
	nextID  int
	waiting []pollWait // workers in a long poll, oldest first
	watcher *watcher

	// Ledger.
	commits     map[[2]int]partRecord // the last commit of each part a worker saw succeed
	completions map[int]map[int]bool  // attempts whose CompleteSegment returned nil, by segment
	claims      int
	lostAnswers int
	kills       int
	unexpected  []string      // errors the model did not expect
	scanTime    time.Duration // scanning done by every attempt, to its end or its worker's death
	flow        flow          // the read cap as spent (capacity.go)
	planned     float64       // read units of every segment, as planned
}

// Result is what a run measured.
type Result struct {
	Scenario Scenario
	Duration time.Duration // virtual: Start to COMPLETED
	Wall     time.Duration
	Events   int
	Methods  map[string]MethodStats
	RCU, WCU float64
	Hottest  []Hot // per item kind, hottest first
	SQS      map[string]int
	S3       map[string]int // nil on fakes3
	Claims   int
	Kills    int
	Lost     int // answers lost
	// Cap is how the fleet held and used the read cap; Ideal is how long
	// the planned read units take at the cap.
	Cap   CapUse
	Ideal time.Duration
	Final *export.Export
	// ScanTime is the scanning the attempts did, killed ones included:
	// what the heartbeats' cadence is measured against.
	ScanTime time.Duration
	// Stewards counts the rescue passes each steward made (the
	// stewardships it won), by owner: the watcher's is "coordinator/…".
	Stewards map[string]int
	// Roles is the cost by the process and part of it that made the
	// calls (role* in meter.go).
	Roles map[string]MethodStats
}

// RCUPerHour is the control table's read units per hour of the export.
func (r Result) RCUPerHour() float64 { return r.RCU / r.Duration.Hours() }

// WCUPerHour is its write units per hour of the export.
func (r Result) WCUPerHour() float64 { return r.WCU / r.Duration.Hours() }

// Run simulates sc to the export's end and checks what it must hold:
// COMPLETED, every segment DONE exactly once, part rows as committed and
// item counts reconciled, in bounded virtual time.
func Run(tb testing.TB, sc Scenario) Result {
	tb.Helper()
	wall := time.Now()
	w := newWorld(tb, sc)
	w.startExport()
	for range sc.Workers {
		w.loop.after(time.Duration(w.rng.Int64N(int64(sc.StartSpread)+1)), w.startWorker)
	}
	for range sc.Added {
		w.loop.after(sc.AddAt+time.Duration(w.rng.Int64N(int64(sc.StartSpread)+1)), w.startWorker)
	}
	w.scheduleKills()
	if sc.KillSteward > 0 {
		w.loop.after(sc.KillSteward, w.killSteward)
	}
	if !w.loop.run(w.loop.Now().Add(sc.Limit), w.finished) {
		tb.Fatalf("export not finished after %s of virtual time: %+v", sc.Limit, w.status())
	}
	w.check()
	return w.result(time.Since(wall))
}

var simStart = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func newWorld(tb testing.TB, sc Scenario) *world {
	ctx := context.Background()
	l := newLoop(simStart)
	w := &world{tb: tb, sc: sc, ctx: ctx, loop: l, log: zap.NewNop(),
		rng: rand.New(rand.NewPCG(sc.Seed, 1)), frng: rand.New(rand.NewPCG(sc.Seed, 2)),
		commits: map[[2]int]partRecord{}, completions: map[int]map[int]bool{}}
	w.mem = memstore.New(l.clk)
	w.mem.Fault = w.fault
	w.meter = newMeter(w.mem, l.clk)
	w.store = controltable.WithRetry(w.meter, fault.DefaultPolicy.Instant())
	w.sqs = &countingSQS{next: sqsfake.New(l.clk.Now), calls: map[string]int{}}
	must(tb, queue.Ensure(ctx, w.sqs, "work", queue.DefaultMaxReceiveCount, sc.Lease))
	var err error
	w.work, err = queue.Open(ctx, w.sqs, "work")
	must(tb, err)
	w.dlq, err = queue.Open(ctx, w.sqs, queue.DLQName("work"))
	must(tb, err)
	if sc.FakeS3 {
		s3c, bucket := fakes3.New(tb)
		w.obj = objstore.New(s3c, bucket, objstore.DefaultOptions)
		w.exp = w.newExport(bucket)
	} else {
		w.s3 = newMemS3()
		w.obj = objstore.New(w.s3, "sim-exports", objstore.DefaultOptions)
	}
	w.exp = w.newExport(w.obj.Bucket())
	w.flow.at, w.flow.winStart = l.now, l.now
	l.after(capWindow, w.sampleCap)
	w.plans = make([]plan, sc.Segments)
	for i := range w.plans {
		p := &w.plans[i]
		p.read = math.Round(sc.ReadMin + w.rng.Float64()*(sc.ReadMax-sc.ReadMin))
		w.planned += p.read
		n := sc.PartsMin + w.rng.IntN(sc.PartsMax-sc.PartsMin+1)
		for range n {
			p.items = append(p.items, 1_000+w.rng.Int64N(50_000))
			p.bytes = append(p.bytes, 8+w.rng.IntN(56))
		}
	}
	return w
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// newExport is the export the coordinator records: fields of realistic
// length, since the export row's size is priced on every read of it.
func (w *world) newExport(bucket string) *export.Export {
	return &export.Export{
		ExportID: fmt.Sprintf("01JF%06dSIM%05dW%04d", w.sc.Seed, w.sc.Segments, w.sc.Workers),
		Table:    "orders", TableARN: "arn:aws:dynamodb:eu-west-1:123456789012:table/orders",
		TableID: "5f0c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f", Bucket: bucket, Prefix: "exports/orders",
		SegmentsTotal: w.sc.Segments, StartTime: w.loop.Now(),
		ArgsHash:        strings.Repeat("a1b2c3d4", 8),
		ReadCapacityCap: w.sc.ReadCap, ScanPageSize: 1000, PartSizeBytes: 128 << 20,
		BilledSizeBytes: int64(w.sc.Segments) * 40 << 30, EstimatedItems: int64(w.sc.Segments) * 50_000,
	}
}

// fault loses the answer of some claims and commits after they applied.
func (w *world) fault(method string, after bool) error {
	if !after || w.sc.LostAnswers <= 0 {
		return nil
	}
	switch method {
	case "ClaimSegment", "CommitPart", "CompleteSegment":
		if w.frng.Float64() < w.sc.LostAnswers {
			w.lostAnswers++
			return fault.Retryable(fmt.Errorf("%s: %w", method, errLostAnswer))
		}
	}
	return nil
}

// lifecycle is one process's lifecycle, on the shared stores.
func (w *world) lifecycle() *lifecycle.Lifecycle {
	return &lifecycle.Lifecycle{
		Store: w.store, Buckets: func(string) *objstore.Store { return w.obj },
		Queue: wakingQueue{Queue: w.work, w: w}, DLQ: w.dlq, Log: w.log, Clock: w.loop.clk,
	}
}

// wakingQueue is the work queue as a lifecycle sends to it: a send ends
// the long polls waiting for it.
type wakingQueue struct {
	*queue.Queue
	w *world
}

func (q wakingQueue) Send(ctx context.Context, tasks []queue.Task) error {
	err := q.Queue.Send(ctx, tasks)
	q.w.wake(len(tasks))
	return err
}

// startExport is `coordinator export`: lifecycle.Start, then --wait.
func (w *world) startExport() {
	w.meter.as(roleCoordinator)
	life := w.lifecycle()
	e, created, err := life.Start(w.ctx, w.exp)
	must(w.tb, err)
	if !created {
		w.tb.Fatal("export existed")
	}
	w.exp = e
	if w.sc.Watch {
		w.watcher = w.newWatcher(life)
		w.loop.after(0, w.watcher.tick)
	}
}

// finished reports whether the export has ended (the watcher saw it, or
// with no watcher, the control table says so).
func (w *world) finished() bool {
	if w.watcher != nil {
		return w.watcher.final != nil
	}
	e, err := w.mem.GetExport(w.ctx, w.exp.ExportID)
	return err == nil && e.State.Terminal()
}

func (w *world) status() string {
	e, err := w.mem.GetExport(w.ctx, w.exp.ExportID)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("state %s, %d/%d segments done, %d failed (%s)", e.State, e.SegmentsDone, e.SegmentsTotal, e.SegmentsFailed, e.LastError)
}

// scheduleKills picks the workers to SIGKILL and when.
func (w *world) scheduleKills() {
	n := int(float64(w.sc.Workers) * w.sc.KillFraction)
	for _, i := range w.rng.Perm(w.sc.Workers)[:n] {
		at := w.sc.StartSpread + time.Duration(w.rng.Int64N(int64(w.sc.KillBy-w.sc.StartSpread)+1))
		w.loop.after(at, func() {
			if k := w.workers[i]; k.alive {
				k.kill()
				w.kills++
				w.loop.after(w.sc.ReplaceAfter, w.startWorker)
			}
		})
	}
}

// killSteward SIGKILLs the worker whose rescuer stewards the export.
func (w *world) killSteward() {
	active, err := w.mem.ListActive(w.ctx)
	must(w.tb, err)
	for _, a := range active {
		for _, k := range w.workers {
			if k.alive && k.rescuer.ID == a.Steward {
				k.kill()
				w.kills++
				w.loop.after(w.sc.ReplaceAfter, w.startWorker)
				return
			}
		}
	}
	w.unexpectedf("no live worker stewards the export")
}

// pollWait is a worker waiting in a long poll.
type pollWait struct {
	k     *worker
	token int
}

// wake ends up to n long polls: messages were sent.
func (w *world) wake(n int) {
	for n > 0 && len(w.waiting) > 0 {
		p := w.waiting[0]
		w.waiting = w.waiting[1:]
		if p.k.alive && p.k.pollToken == p.token {
			p.k.woken(p.token)
			n--
		}
	}
}

// wakeAt ends a long poll when a message becomes visible at t.
func (w *world) wakeAt(t time.Time) { w.loop.at(t, func() { w.wake(1) }) }

func (w *world) unexpectedf(format string, args ...any) {
	if len(w.unexpected) < 20 {
		w.unexpected = append(w.unexpected, fmt.Sprintf("%s: ", w.loop.Now().Sub(simStart))+fmt.Sprintf(format, args...))
	}
}

// check holds the run to what must be true at the end.
func (w *world) check() {
	tb := w.tb
	tb.Helper()
	for _, u := range w.unexpected {
		tb.Errorf("unexpected: %s", u)
	}
	id := w.exp.ExportID
	e, err := w.mem.GetExport(w.ctx, id)
	must(tb, err)
	if e.State != export.Completed {
		tb.Fatalf("export ended %s: %s", e.State, e.LastError)
	}
	segs, err := w.mem.ListSegments(w.ctx, id)
	must(tb, err)
	var wantParts int
	var wantItems int64
	for i, s := range segs {
		p := w.plans[i]
		wantParts += len(p.items)
		for _, n := range p.items {
			wantItems += n
		}
		if s.State != export.SegmentDone {
			tb.Errorf("segment %d is %s", i, s.State)
		}
		if n := len(w.completions[i]); n != 1 {
			tb.Errorf("segment %d completed by %d attempts", i, n)
		}
		if s.NextPart != len(p.items) {
			tb.Errorf("segment %d: %d parts recorded, planned %d", i, s.NextPart, len(p.items))
		}
	}
	if e.SegmentsDone != w.sc.Segments || e.SegmentsFailed != 0 {
		tb.Errorf("export counts %d done, %d failed of %d", e.SegmentsDone, e.SegmentsFailed, w.sc.Segments)
	}
	parts, err := w.mem.ListParts(w.ctx, id)
	must(tb, err)
	var items int64
	rows := map[[2]int]bool{}
	for _, p := range parts {
		items += p.ItemCount
		k := [2]int{p.Segment, p.Part}
		rows[k] = true
		rec, ok := w.commits[k]
		switch {
		case !ok:
			tb.Errorf("part row %v was never seen committed", k)
		case rec.attempt != p.Attempt || rec.key != p.Key || rec.items != p.ItemCount || rec.bytes != p.Bytes:
			tb.Errorf("part row %v is %+v, committed %+v", k, p, rec)
		case p.ItemCount != w.plans[p.Segment].items[p.Part]:
			tb.Errorf("part row %v holds %d items, planned %d", k, p.ItemCount, w.plans[p.Segment].items[p.Part])
		}
	}
	for k := range w.commits {
		if !rows[k] {
			tb.Errorf("part %v was committed but has no row", k)
		}
	}
	if len(parts) != wantParts || e.Parts != wantParts {
		tb.Errorf("%d part rows, export counts %d, planned %d", len(parts), e.Parts, wantParts)
	}
	if items != wantItems || e.ItemCount != wantItems {
		tb.Errorf("part rows hold %d items, export counts %d, planned %d", items, e.ItemCount, wantItems)
	}
	// Finalize removed every file no part row points at.
	objs, err := w.obj.List(w.ctx, e.DataPrefix())
	must(tb, err)
	if len(objs) != len(parts) {
		tb.Errorf("%d files under data/, %d part rows", len(objs), len(parts))
	}
	if ok, err := w.obj.Exists(w.ctx, e.Root()+manifest.SummaryName); err != nil || !ok {
		tb.Errorf("no %s: %v", manifest.SummaryName, err)
	}
}

func (w *world) result(wall time.Duration) Result {
	final, _ := w.mem.GetExport(w.ctx, w.exp.ExportID)
	d := final.EndTime.Sub(w.exp.StartTime)
	r := Result{Scenario: w.sc, Duration: d, Wall: wall, Events: w.loop.events,
		Methods: w.meter.Stats(), Hottest: w.meter.Hottest(), SQS: w.sqs.calls,
		Claims: w.claims, Kills: w.kills, Lost: w.lostAnswers, Final: final, ScanTime: w.scanTime, Stewards: w.meter.Stewards(), Roles: w.meter.RoleStats(),
		Cap: w.capUse(d), Ideal: time.Duration(w.planned / w.sc.ReadCap * float64(time.Second))}
	if w.s3 != nil {
		r.S3 = w.s3.calls
	}
	for _, m := range r.Methods {
		r.RCU += m.RCU
		r.WCU += m.WCU
	}
	return r
}
