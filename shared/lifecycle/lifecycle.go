// Package lifecycle owns the export state machine of docs/states.md: it
// starts an export (PENDING → RUNNING), settles it once its segments have
// (FINALIZING → COMPLETED, or FAILED), writes the manifests exactly once,
// rescues work whose worker died, retries failed segments and cancels.
// The rules each transition follows are the domain's (shared/export); the
// conditional writes that make two racing processes safe are the control
// table's. The command line and the workers only call in here.
//
// Workers call Settle after each segment they finish; every worker runs a
// Rescuer, and the coordinator's --wait loop, `status` and `rescue` call
// Rescue, so an export never hangs in RUNNING because the process that
// should have moved it on was killed.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/ddbfleet/ddbfleet/shared/clock"
	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/manifest"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
	"github.com/ddbfleet/ddbfleet/shared/queue"
)

// FinalizeLease is how long a finalizer's claim lasts unless renewed; the
// finalizer renews it every third of that while it works, so another
// process takes over only from a finalizer that died or was paused.
// Finalizing is idempotent, so a takeover only costs time. Since the claim
// is renewed, it can be short: a finalizer killed mid-way is replaced
// within a minute (and its export's steward's next pass), not after a
// fixed budget for the largest export.
const FinalizeLease = time.Minute

// Buckets opens the object store of an export's bucket.
type Buckets func(bucket string) *objstore.Store

// Sender enqueues segment work and says how much the queue holds;
// *queue.Queue implements it.
type Sender interface {
	Send(ctx context.Context, tasks []queue.Task) error
	Backlog(ctx context.Context) (int, error)
}

// DefaultMaxAttempts is how many claims a segment gets, since its last
// reset, whose worker died holding it, before the rescuer fails it.
const DefaultMaxAttempts = 10

// DeadLetters is the dead-letter queue as the rescuer reads it;
// *queue.Queue implements it.
type DeadLetters interface {
	Receive(ctx context.Context, max int, wait, visibility time.Duration) ([]queue.Message, error)
	Delete(ctx context.Context, receipt string) error
	SetVisibility(ctx context.Context, receipt string, d time.Duration) error
}

var (
	_ Sender      = (*queue.Queue)(nil)
	_ DeadLetters = (*queue.Queue)(nil)
)

// Lifecycle drives export-level transitions. Queue is needed to start,
// rescue and retry; DLQ, when set, lets Rescue and Retry park dead-lettered
// segments.
type Lifecycle struct {
	Store   controltable.Store
	Buckets Buckets
	Queue   Sender
	DLQ     DeadLetters
	Log     *zap.Logger
	Clock   clock.Clock
	// MaxAttempts caps the claims of a segment whose workers die holding
	// it (0: DefaultMaxAttempts). Without a cap, a segment that kills its
	// worker every time is re-enqueued by every rescue, forever.
	MaxAttempts int

	mu     sync.Mutex
	fleets map[string]int // lease holders per export at this process's last pass as steward
}

func (l *Lifecycle) maxAttempts() int {
	if l.MaxAttempts > 0 {
		return l.MaxAttempts
	}
	return DefaultMaxAttempts
}

func (l *Lifecycle) now() time.Time { return clock.OrReal(l.Clock).Now() }

func (l *Lifecycle) objects(e *export.Export) *objstore.Store {
	return l.Buckets(e.Bucket).With(objstore.PutOptions(e.Objects))
}

// ConflictError says an export id is taken by an export with other
// arguments.
type ConflictError struct{ Existing *export.Export }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("export %q already exists with different arguments (table %s, bucket %s)", e.Existing.ExportID, e.Existing.Table, e.Existing.Bucket)
}

// Start records e (or finds it recorded by an earlier run with the same
// arguments), writes _started, enqueues one message per segment and moves
// it PENDING → RUNNING. It returns the export as stored and whether this
// call recorded it. A crash half-way leaves it PENDING, and calling Start
// again with the same export finishes the job: duplicate messages are
// harmless because the control table decides who works on what.
func (l *Lifecycle) Start(ctx context.Context, want *export.Export) (e *export.Export, created bool, err error) {
	created = true
	e = &export.Export{}
	*e = *want
	e.State = export.Pending
	err = l.Store.CreateExport(ctx, e)
	if errors.Is(err, export.ErrExists) {
		created = false
		prev, err := l.Store.GetExport(ctx, e.ExportID)
		if err != nil {
			return nil, false, err
		}
		if prev.ArgsHash != e.ArgsHash {
			return nil, false, &ConflictError{Existing: prev}
		}
		e = prev
	} else if err != nil {
		return nil, false, fmt.Errorf("record export %s: %w", e.ExportID, err)
	}
	if e.State != export.Pending {
		return e, created, nil
	}
	// A restore writes nothing to S3: the bucket is its source.
	if !e.IsRestore() {
		if _, err := l.objects(e).Put(ctx, e.Root()+manifest.StartedName, nil, ""); err != nil {
			return nil, created, fmt.Errorf("write %s_started: %w", e.Root(), err)
		}
	}
	tasks := make([]queue.Task, e.SegmentsTotal)
	for i := range tasks {
		tasks[i] = queue.Task{ExportID: e.ExportID, Segment: i, TotalSegments: e.SegmentsTotal}
	}
	if err := l.Queue.Send(ctx, tasks); err != nil {
		return nil, created, fmt.Errorf("enqueue %d segments of export %s: %w", len(tasks), e.ExportID, err)
	}
	if _, err := l.Store.SetExportState(ctx, e.ExportID, []export.State{export.Pending}, export.Running, controltable.ExportUpdate{}); err != nil {
		return nil, created, err
	}
	e.State = export.Running
	l.Log.Info("export started", zap.String("exportId", e.ExportID), zap.String("table", e.Table), zap.Int("segments", e.SegmentsTotal),
		zap.String("destination", fmt.Sprintf("s3://%s/%s", e.Bucket, e.Root())))
	// A tiny table may have finished while we were still PENDING.
	return e, created, l.Settle(ctx, e.ExportID)
}

// Settle moves an export on once all its segments have settled: to
// FINALIZING and then COMPLETED if all are DONE, to FAILED if any FAILED.
// Whoever wins the conditional transition does the work; everyone else
// returns at once.
func (l *Lifecycle) Settle(ctx context.Context, exportID string) error {
	e, err := l.Store.GetExport(ctx, exportID)
	if err != nil {
		return err
	}
	switch e.Settlement(l.now()) {
	case export.Finalize:
		claim, won, err := l.Store.ClaimFinalize(ctx, exportID, e.SegmentsTotal, export.NewOwner(export.Process()), FinalizeLease)
		if err != nil || !won {
			return err
		}
		if e.IsRestore() {
			return l.completeRestore(ctx, e, claim)
		}
		return l.finalize(ctx, e, claim)
	case export.Fail:
		ok, err := l.Store.SetExportState(ctx, exportID, []export.State{export.Running}, export.Failed, controltable.ExportUpdate{
			EndTime: l.now(), Expect: &controltable.Counters{SegmentsDone: e.SegmentsDone, SegmentsFailed: e.SegmentsFailed}})
		if ok {
			l.Log.Error("export failed", zap.String("exportId", exportID), zap.Int("segmentsFailed", e.SegmentsFailed), zap.String("reason", e.LastError))
		}
		return err
	}
	return nil
}

// completeRestore ends a restore whose files are all loaded: it has no
// manifest to write, so FINALIZING moves straight on to COMPLETED.
func (l *Lifecycle) completeRestore(ctx context.Context, e *export.Export, claim export.FinalizeClaim) error {
	ok, err := l.Store.SetExportState(ctx, e.ExportID, []export.State{export.Finalizing}, export.Completed, controltable.ExportUpdate{EndTime: claim.EndTime})
	if err != nil {
		return err
	}
	if ok {
		l.Log.Info("restore completed", zap.String("exportId", e.ExportID), zap.String("table", e.Table),
			zap.Int64("items", e.ItemCount), zap.Int64("kept", e.Bytes), zap.Int("files", e.SegmentsTotal))
	}
	return nil
}

// holdFinalize renews claim every third of FinalizeLease, on the
// Lifecycle's clock, until release. The context it returns ends, with a
// cause wrapping export.ErrFinalizeLost, when a renewal says another
// process took the claim over, or when renewals failed until the claim
// lapsed (another process may take it over any moment now).
func (l *Lifecycle) holdFinalize(ctx context.Context, claim export.FinalizeClaim, log *zap.Logger) (held context.Context, release func()) {
	held, cancel := context.WithCancelCause(ctx)
	tick := clock.OrReal(l.Clock).NewTicker(FinalizeLease / 3)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer tick.Stop()
		expiry := claim.Expiry
		for {
			select {
			case <-held.Done():
				return
			case <-tick.C():
			}
			at := l.now()
			err := l.Store.RenewFinalize(held, claim, FinalizeLease)
			switch {
			case err == nil:
				expiry = at.Add(FinalizeLease)
			case errors.Is(err, export.ErrFinalizeLost):
				cancel(err)
				return
			case held.Err() != nil:
				return
			case !l.now().Before(expiry):
				cancel(fmt.Errorf("%w: it lapsed at %s while renewals failed: %w", export.ErrFinalizeLost, expiry.Format(time.RFC3339), err))
				return
			default:
				log.Warn("could not renew the finalize claim; trying again", zap.Time("expires", expiry), zap.Error(err))
			}
		}
	}()
	return held, func() { cancel(nil); <-done }
}

// removeOrphans deletes every object under prefix that no part row points
// at (recorded holds the parts' keys; nil: none) and says how many it
// deleted.
func removeOrphans(ctx context.Context, obj *objstore.Store, prefix string, recorded map[string]int) (int, error) {
	var orphans []string
	err := obj.Walk(ctx, prefix, func(o objstore.Object) {
		if _, ok := recorded[o.Key]; !ok {
			orphans = append(orphans, o.Key)
		}
	})
	if err != nil {
		return 0, err
	}
	return len(orphans), obj.Delete(ctx, orphans...)
}

// finalize writes the manifests, holding claim (holdFinalize) for as long
// as that takes. Data before pointer: it first checks that every recorded
// part is in S3 and that the counts reconcile, removes anything under
// data/ no part row points at (leftovers of dead attempts), then writes
// manifest-files.json and, last, manifest-summary.json — the commit point,
// passed after one more sweep of data/ for files that appeared meanwhile
// — and only then marks the export COMPLETED. The end time it writes is
// the claim's, fixed when finalizing first began, so a finalizer that
// takes over from a dead one writes the same bytes. A finalizer that lost
// its claim stops and returns nil: the process that took it over
// finishes.
func (l *Lifecycle) finalize(ctx context.Context, e *export.Export, claim export.FinalizeClaim) (err error) {
	log := l.Log.With(zap.String("exportId", e.ExportID))
	log.Info("finalizing export", zap.Int("segments", e.SegmentsTotal), zap.String("finalizer", claim.Owner))
	ctx, release := l.holdFinalize(ctx, claim, log)
	defer func() {
		if cause := context.Cause(ctx); err != nil && errors.Is(cause, export.ErrFinalizeLost) {
			err = cause // says why better than the call it cancelled
		}
		release()
		if errors.Is(err, export.ErrFinalizeLost) {
			log.Warn("lost the finalize claim; the process that took it over finishes the export", zap.Error(err))
			err = nil
		}
	}()
	fail := func(reason string) error {
		_, err := l.Store.SetExportState(ctx, e.ExportID, []export.State{export.Finalizing}, export.Failed, controltable.ExportUpdate{LastError: reason})
		log.Error("export failed", zap.String("reason", reason))
		return errors.Join(errors.New(reason), err)
	}
	parts, err := l.Store.ListParts(ctx, e.ExportID)
	if err != nil {
		return err
	}
	// The parts in manifest order, failures named in that order, and the
	// index of each by key: what the checks need of the parts besides
	// the parts themselves, at a few dozen bytes a part.
	manifest.SortParts(parts)
	var items, bytes int64
	recorded := make(map[string]int, len(parts))
	for i, p := range parts {
		items += p.ItemCount
		bytes += p.Bytes
		recorded[p.Key] = i
	}
	if items != e.ItemCount || len(parts) != e.Parts {
		return fail(fmt.Sprintf("counts do not reconcile: part rows hold %d items in %d parts, segments reported %d items in %d parts", items, len(parts), e.ItemCount, e.Parts))
	}
	obj := l.objects(e)
	listed := make([]bool, len(parts))
	wrongSize := map[int]int64{}
	var orphans []string
	err = obj.Walk(ctx, e.DataPrefix(), func(o objstore.Object) {
		i, ok := recorded[o.Key]
		if !ok {
			orphans = append(orphans, o.Key)
			return
		}
		listed[i] = true
		if o.Size != parts[i].Bytes {
			wrongSize[i] = o.Size
		}
	})
	if err != nil {
		return err
	}
	for i, p := range parts {
		if !listed[i] {
			return fail(fmt.Sprintf("part file s3://%s/%s is recorded but missing", e.Bucket, p.Key))
		}
		if size, ok := wrongSize[i]; ok {
			return fail(fmt.Sprintf("part file s3://%s/%s has %d bytes, recorded %d", e.Bucket, p.Key, size, p.Bytes))
		}
	}
	if len(orphans) > 0 {
		log.Info("removing files of abandoned attempts", zap.Int("files", len(orphans)))
		if err := obj.Delete(ctx, orphans...); err != nil {
			return err
		}
	}
	root := e.Root()
	files := manifest.BuildFiles(parts)
	if _, err := obj.Put(ctx, root+manifest.FilesName, files, "application/json"); err != nil {
		return err
	}
	if _, err := obj.Put(ctx, root+manifest.FilesChecksumName, []byte(objstore.HexMD5(files)), "text/plain"); err != nil {
		return err
	}
	end := claim.EndTime
	summary, _ := manifest.BuildSummary(e, parts, end)
	if _, err := obj.Put(ctx, root+manifest.SummaryChecksumName, []byte(objstore.HexMD5(summary)), "text/plain"); err != nil {
		return err
	}
	// A worker paused past its lease may have uploaded since the listing
	// above (its commit is refused, but its file is there): list again
	// just before the commit point, so that no reader of a COMPLETED
	// export finds a data file the manifest does not list.
	if late, err := removeOrphans(ctx, obj, e.DataPrefix(), recorded); err != nil {
		return err
	} else if late > 0 {
		log.Warn("removed files that appeared while the manifests were written", zap.Int("files", late))
	}
	// Only the claim's holder passes the commit point: a finalizer paused
	// past its claim learns here that another process took over.
	if err := l.Store.RenewFinalize(ctx, claim, FinalizeLease); err != nil {
		return err
	}
	if _, err := obj.Put(ctx, root+manifest.SummaryName, summary, "application/json"); err != nil {
		return err
	}
	ok, err := l.Store.SetExportState(ctx, e.ExportID, []export.State{export.Finalizing}, export.Completed,
		controltable.ExportUpdate{EndTime: end, ManifestSummaryKey: root + manifest.SummaryName})
	if err != nil {
		return err
	}
	if ok {
		log.Info("export completed", zap.Int64("items", items), zap.Int64("bytes", bytes), zap.Int("files", len(parts)),
			zap.String("manifest", fmt.Sprintf("s3://%s/%s%s", e.Bucket, root, manifest.SummaryName)))
	}
	return nil
}

// RescueReport says what Rescue did.
type RescueReport struct {
	Requeued []int // segments whose expired lease was handed back to the queue
	Parked   []int // segments found in the dead-letter queue, or past MaxAttempts, and marked FAILED
	Resent   []int // PENDING segments whose message was gone, sent again
	Fleet    int   // worker processes holding the export's live leases
}

// Rescue finds work nobody is doing and hands it back: segments RUNNING
// with a lease expired for longer than grace are re-enqueued (the worker
// died and its message may be gone), segments parked in the DLQ are marked
// FAILED, and a settled export is finalized or failed.
func (l *Lifecycle) Rescue(ctx context.Context, exportID string, grace time.Duration) (RescueReport, error) {
	var rep RescueReport
	e, err := l.Store.GetExport(ctx, exportID)
	if err != nil {
		return rep, err
	}
	if e.State.Terminal() {
		if e.State == export.Cancelled && !e.IsRestore() {
			// Holders of cancelled leases stop at their next heartbeat or
			// commit, or at their lease deadline if the control table is
			// out of reach; a file one of them finished after cancel's
			// sweep is removed once none can be writing any more.
			if l.now().Sub(e.EndTime) < 2*grace {
				return rep, nil
			}
			if _, err := l.clearData(ctx, e); err != nil {
				return rep, err
			}
		}
		return rep, l.Store.Forget(ctx, exportID)
	}
	// An export running longer than half the rows' retention keeps them;
	// a failure is retried by the next pass, 45 days before it matters,
	// and must not hold up the rescue itself.
	if _, err := l.RetainRows(ctx, e); err != nil {
		l.Log.Warn("could not extend the retention of the control rows", zap.String("exportId", exportID), zap.Error(err))
	}
	if e.State == export.Pending && l.now().Sub(e.StartTime) > 2*grace {
		// The coordinator that recorded it died before it finished
		// enqueueing: finish its start (duplicate messages are harmless).
		l.Log.Warn("export left PENDING; finishing its start", zap.String("exportId", exportID))
		_, _, err := l.Start(ctx, e)
		return rep, err
	}
	if e.State == export.Running {
		if l.DLQ != nil {
			if rep.Parked, err = l.SweepDLQ(ctx, e); err != nil {
				return rep, err
			}
		}
		segs, err := l.Store.ListSegments(ctx, exportID)
		if err != nil {
			return rep, err
		}
		now := l.now()
		rep.Fleet = export.Holders(segs, now)
		// One history sample a minute for the dashboard's charts; the
		// store keeps the first of each minute, whoever records it.
		if err := l.Store.RecordSample(ctx, exportID, export.Measure(segs, now)); err != nil {
			l.Log.Debug("could not record a progress sample", zap.String("exportId", exportID), zap.Error(err))
		}
		if rep.Resent, err = l.resendLost(ctx, e, segs, grace); err != nil {
			return rep, err
		}
		if err := l.publishShares(ctx, e, segs); err != nil {
			return rep, err
		}
		for _, s := range segs {
			if !s.Abandoned(now, grace) {
				continue
			}
			if s.Attempts() >= l.maxAttempts() {
				reason := fmt.Sprintf("gave up after %d attempts whose worker stopped heartbeating", s.Attempts())
				if s.LastError != "" {
					reason += "; last error: " + s.LastError
				}
				if ok, err := l.Store.FailUnleased(ctx, exportID, s.Segment, reason); err != nil {
					return rep, err
				} else if ok {
					l.Log.Error("segment failed: it keeps killing its worker", zap.String("exportId", exportID), zap.Int("segment", s.Segment), zap.String("reason", reason))
					rep.Parked = append(rep.Parked, s.Segment)
				}
				continue
			}
			// Message first, then state: if we die between the two the
			// next rescue sends another message, which is harmless.
			if err := l.Queue.Send(ctx, []queue.Task{{ExportID: exportID, Segment: s.Segment, TotalSegments: e.SegmentsTotal}}); err != nil {
				return rep, err
			}
			if ok, err := l.Store.RequeueExpired(ctx, s); err != nil {
				return rep, err
			} else if ok {
				l.Log.Warn("re-enqueued segment whose worker stopped heartbeating",
					zap.String("exportId", exportID), zap.Int("segment", s.Segment), zap.Int("attempt", s.Attempt),
					zap.Time("leaseExpired", s.LeaseExpiry))
				rep.Requeued = append(rep.Requeued, s.Segment)
			}
		}
	}
	if e.State != export.Running && e.State != export.Finalizing {
		return rep, nil
	}
	return rep, l.Settle(ctx, exportID)
}

// publishShares divides the export's cap among the leases live now and
// writes each holder's share on its segment row, where its next heartbeat
// reads it back for free. Only shares that drifted are written: in steady
// state a pass writes nothing, and one ending lease does not rewrite all
// the others. A lease claimed since the last pass runs on the cap divided
// by the unfinished segments (the safe side) until it gets its share.
func (l *Lifecycle) publishShares(ctx context.Context, e *export.Export, segs []*export.Segment) error {
	fair, stale := e.StaleShares(segs, l.now())
	return forEach(ctx, len(stale), func(ctx context.Context, i int) error {
		_, err := l.Store.PublishShare(ctx, stale[i], fair)
		return err
	})
}

// storeWorkers bounds the control-table calls one pass has in flight: a
// pass over thousands of segments must not take minutes, nor flood the
// table.
const storeWorkers = 16

// forEach runs do for 0..n-1 on up to storeWorkers goroutines and returns
// the first error.
func forEach(ctx context.Context, n int, do func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(storeWorkers)
	for i := range n {
		g.Go(func() error { return do(ctx, i) })
	}
	return g.Wait()
}

// resendLost sends again the PENDING segments that waited longer than
// grace, but only when the work queue holds nothing at all: then no
// message can be on its way to them (a retry killed before re-sending, a
// message past SQS's retention, one dropped by mistake). While the queue
// holds messages, waiting segments are just waiting their turn.
func (l *Lifecycle) resendLost(ctx context.Context, e *export.Export, segs []*export.Segment, grace time.Duration) ([]int, error) {
	now := l.now()
	var waiting []int
	for _, s := range segs {
		if s.Waiting(now, grace) {
			waiting = append(waiting, s.Segment)
		}
	}
	if len(waiting) == 0 {
		return nil, nil
	}
	if n, err := l.Queue.Backlog(ctx); err != nil || n > 0 {
		return nil, err
	}
	tasks := make([]queue.Task, len(waiting))
	for i, s := range waiting {
		tasks[i] = queue.Task{ExportID: e.ExportID, Segment: s, TotalSegments: e.SegmentsTotal}
	}
	if err := l.Queue.Send(ctx, tasks); err != nil {
		return nil, err
	}
	l.Log.Warn("re-sent segments whose messages were gone", zap.String("exportId", e.ExportID), zap.Ints("segments", waiting))
	return waiting, nil
}

// SweepDLQ marks this export's dead-lettered segments FAILED and removes
// their messages (retry re-enqueues them); other exports' messages are
// made visible again untouched.
func (l *Lifecycle) SweepDLQ(ctx context.Context, e *export.Export) ([]int, error) {
	var parked []int
	for range 10 { // bounded: at most 100 messages looked at per sweep
		msgs, err := l.DLQ.Receive(ctx, 10, 0, 30*time.Second)
		if err != nil || len(msgs) == 0 {
			return parked, err
		}
		for _, m := range msgs {
			if m.ExportID != e.ExportID {
				_ = l.DLQ.SetVisibility(ctx, m.ReceiptHandle, 0)
				continue
			}
			seg, err := l.Store.GetSegment(ctx, e.ExportID, m.Segment)
			if err != nil {
				return parked, err
			}
			reason := fmt.Sprintf("moved to dead-letter queue after %d deliveries", m.ReceiveCount)
			if seg.LastError != "" {
				reason += "; last error: " + seg.LastError
			}
			if ok, err := l.Store.FailUnleased(ctx, e.ExportID, m.Segment, reason); err != nil {
				return parked, err
			} else if ok {
				l.Log.Error("segment parked in dead-letter queue", zap.String("exportId", e.ExportID), zap.Int("segment", m.Segment), zap.String("reason", reason))
				parked = append(parked, m.Segment)
			}
			if err := l.DLQ.Delete(ctx, m.ReceiptHandle); err != nil {
				return parked, err
			}
		}
	}
	return parked, nil
}

// ErrCancelled means the export was cancelled and cannot be retried.
var ErrCancelled = errors.New("export was CANCELLED; start a new export instead")

// Retry re-enqueues the segments that failed, including those parked in
// the dead-letter queue, and reopens the export; it returns the segments
// re-enqueued. A COMPLETED export has nothing to retry.
func (l *Lifecycle) Retry(ctx context.Context, exportID string, grace time.Duration) ([]int, error) {
	e, err := l.Store.GetExport(ctx, exportID)
	if err != nil {
		return nil, err
	}
	switch e.State {
	case export.Completed:
		return nil, nil
	case export.Cancelled:
		return nil, fmt.Errorf("export %s: %w", exportID, ErrCancelled)
	}
	// First turn dead-lettered work into FAILED segments (and drop stale
	// copies of segments already FAILED), so the reset below picks them
	// all up and the DLQ is left clean.
	if l.DLQ != nil {
		if _, err := l.SweepDLQ(ctx, e); err != nil {
			return nil, err
		}
	}
	if e.State == export.Running {
		if _, err := l.Rescue(ctx, exportID, grace); err != nil {
			return nil, err
		}
	}
	before, err := l.Store.ListSegments(ctx, exportID)
	if err != nil {
		return nil, err
	}
	if _, err := l.Store.ResetFailed(ctx, exportID); err != nil {
		return nil, err
	}
	// Enqueue what failed and is PENDING now, not what the reset call
	// returned: a retried reset reports only its own last try.
	after, err := l.Store.ListSegments(ctx, exportID)
	if err != nil {
		return nil, err
	}
	var reset []int
	var tasks []queue.Task
	for i, s := range after {
		if i < len(before) && before[i].State == export.SegmentFailed && s.State == export.SegmentPending {
			reset = append(reset, s.Segment)
			tasks = append(tasks, queue.Task{ExportID: exportID, Segment: s.Segment, TotalSegments: e.SegmentsTotal})
		}
	}
	if err := l.Queue.Send(ctx, tasks); err != nil {
		return nil, fmt.Errorf("re-enqueue %d segments of export %s: %w", len(tasks), exportID, err)
	}
	l.Log.Info("re-enqueued failed segments", zap.String("exportId", exportID), zap.Ints("segments", reset))
	return reset, nil
}

// NotCancellableError says why an export cannot be cancelled.
type NotCancellableError struct{ State export.State }

func (e *NotCancellableError) Error() string {
	return fmt.Sprintf("export is %s; a finished export cannot be cancelled", e.State)
}

// Cancel stops an export: it moves it to CANCELLED, marks every unsettled
// segment CANCELLED (which fences its holder: heartbeats and commits are
// conditional on the segment), deletes every object under data/ and writes
// the _cancelled marker. The export's steward sweeps data/ once more when
// no lease can still be live. No manifest is ever written for a cancelled
// export. It returns how many data files it deleted.
func (l *Lifecycle) Cancel(ctx context.Context, exportID string) (int, error) {
	e, err := l.Store.GetExport(ctx, exportID)
	if err != nil {
		return 0, err
	}
	if e.State != export.Cancelled {
		if !e.State.Cancellable() {
			return 0, &NotCancellableError{State: e.State}
		}
		ok, err := l.Store.SetExportState(ctx, exportID, export.CancellableStates(), export.Cancelled,
			controltable.ExportUpdate{EndTime: l.now(), KeepActive: !e.IsRestore()})
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, fmt.Errorf("export %s changed state while cancelling; run cancel again", exportID)
		}
	}
	segs, err := l.Store.ListSegments(ctx, exportID)
	if err != nil {
		return 0, err
	}
	var open []int
	for _, s := range segs {
		if !s.State.Settled() {
			open = append(open, s.Segment)
		}
	}
	if err := forEach(ctx, len(open), func(ctx context.Context, i int) error {
		_, err := l.Store.CancelSegment(ctx, exportID, open[i])
		return err
	}); err != nil {
		return 0, fmt.Errorf("cancel the segments of export %s (run cancel again): %w", exportID, err)
	}
	if e.IsRestore() {
		// The bucket is the restore's source: never delete from it.
		l.Log.Info("restore cancelled", zap.String("exportId", exportID), zap.String("table", e.Table))
		return 0, nil
	}
	n, err := l.clearData(ctx, e)
	if err != nil {
		return 0, err
	}
	marker := fmt.Sprintf("cancelled at %s\n", manifest.FormatTime(l.now()))
	if _, err := l.objects(e).Put(ctx, e.Root()+manifest.CancelledName, []byte(marker), "text/plain"); err != nil {
		return 0, err
	}
	l.Log.Info("export cancelled", zap.String("exportId", exportID), zap.Int("dataFilesDeleted", n))
	return n, nil
}

// clearData deletes every object under the export's data/ and returns how
// many there were: every one is an orphan when no part counts.
func (l *Lifecycle) clearData(ctx context.Context, e *export.Export) (int, error) {
	return removeOrphans(ctx, l.objects(e), e.DataPrefix(), nil)
}
