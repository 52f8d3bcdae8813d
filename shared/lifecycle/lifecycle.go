// Package lifecycle owns the export-level transitions that any process may
// have to drive: settling an export whose segments are all finished
// (finalize or fail), writing the manifests exactly once, and rescuing
// segments whose worker died without a trace.
//
// Workers call Settle after each segment they finish; the coordinator's
// --wait loop, `status` and `rescue` call Rescue, so an export never hangs in
// RUNNING because the process that should have moved it on was killed.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/manifest"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
	"github.com/ddbfleet/ddbfleet/shared/queue"
)

// FinalizeLease is how long a finalizer may take before another process
// takes over. Finalizing is idempotent, so a takeover only costs time.
const FinalizeLease = 5 * time.Minute

// Buckets opens the object store of an export's bucket.
type Buckets func(bucket string) *objstore.Store

// Lifecycle drives export-level transitions.
type Lifecycle struct {
	Store   *controltable.Store
	Buckets Buckets
	Queue   *queue.Queue // for Rescue; may be nil elsewhere
	Log     *zap.Logger
	Now     func() time.Time
}

func (l *Lifecycle) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
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
	switch {
	case e.State == controltable.ExportRunning && e.SegmentsDone == e.SegmentsTotal,
		e.State == controltable.ExportFinalizing && l.now().After(e.FinalizeLease):
		won, err := l.Store.ClaimFinalize(ctx, exportID, e.SegmentsTotal, FinalizeLease)
		if err != nil || !won {
			return err
		}
		return l.finalize(ctx, e)
	case e.State == controltable.ExportRunning && e.SegmentsFailed > 0 && e.SegmentsDone+e.SegmentsFailed >= e.SegmentsTotal:
		ok, err := l.Store.SetExportState(ctx, exportID, []controltable.ExportState{controltable.ExportRunning}, controltable.ExportFailed,
			map[string]types.AttributeValue{"endTime": &types.AttributeValueMemberN{Value: fmt.Sprint(l.now().UnixMilli())}})
		if ok {
			l.Log.Error("export failed", zap.String("exportId", exportID), zap.Int("segmentsFailed", e.SegmentsFailed), zap.String("reason", e.LastError))
		}
		return err
	}
	return nil
}

// finalize writes the manifests. Data before pointer: it first checks that
// every recorded part is in S3 and that the counts reconcile, removes
// anything under data/ no part row points at (leftovers of dead attempts),
// then writes manifest-files.json and, last, manifest-summary.json — the
// commit point — and only then marks the export COMPLETED.
func (l *Lifecycle) finalize(ctx context.Context, e *controltable.Export) error {
	log := l.Log.With(zap.String("exportId", e.ExportID))
	log.Info("finalizing export", zap.Int("segments", e.SegmentsTotal))
	fail := func(reason string) error {
		_, err := l.Store.SetExportState(ctx, e.ExportID, []controltable.ExportState{controltable.ExportFinalizing}, controltable.ExportFailed,
			map[string]types.AttributeValue{"lastError": &types.AttributeValueMemberS{Value: reason}})
		log.Error("export failed", zap.String("reason", reason))
		return errors.Join(errors.New(reason), err)
	}
	parts, err := l.Store.ListParts(ctx, e.ExportID)
	if err != nil {
		return err
	}
	var items, bytes int64
	recorded := make(map[string]controltable.Part, len(parts))
	for _, p := range parts {
		items += p.ItemCount
		bytes += p.Bytes
		recorded[p.Key] = p
	}
	if items != e.ItemCount || len(parts) != e.Parts {
		return fail(fmt.Sprintf("counts do not reconcile: part rows hold %d items in %d parts, segments reported %d items in %d parts", items, len(parts), e.ItemCount, e.Parts))
	}
	obj := l.Buckets(e.Bucket).With(e.Objects)
	listed, err := obj.List(ctx, e.DataPrefix())
	if err != nil {
		return err
	}
	present := map[string]int64{}
	var orphans []string
	for _, o := range listed {
		if _, ok := recorded[o.Key]; ok {
			present[o.Key] = o.Size
		} else {
			orphans = append(orphans, o.Key)
		}
	}
	for _, p := range parts {
		size, ok := present[p.Key]
		if !ok {
			return fail(fmt.Sprintf("part file s3://%s/%s is recorded but missing", e.Bucket, p.Key))
		}
		if size != p.Bytes {
			return fail(fmt.Sprintf("part file s3://%s/%s has %d bytes, recorded %d", e.Bucket, p.Key, size, p.Bytes))
		}
	}
	if len(orphans) > 0 {
		log.Info("removing files of abandoned attempts", zap.Int("files", len(orphans)))
		if err := obj.Delete(ctx, orphans...); err != nil {
			return err
		}
	}
	root := e.ExportRoot()
	files := manifest.BuildFiles(parts)
	if _, err := obj.Put(ctx, root+manifest.FilesName, files, "application/json"); err != nil {
		return err
	}
	if _, err := obj.Put(ctx, root+manifest.FilesChecksumName, []byte(objstore.HexMD5(files)), "text/plain"); err != nil {
		return err
	}
	end := l.now()
	summary, _ := manifest.BuildSummary(e, parts, end)
	if _, err := obj.Put(ctx, root+manifest.SummaryChecksumName, []byte(objstore.HexMD5(summary)), "text/plain"); err != nil {
		return err
	}
	if _, err := obj.Put(ctx, root+manifest.SummaryName, summary, "application/json"); err != nil {
		return err
	}
	ok, err := l.Store.SetExportState(ctx, e.ExportID, []controltable.ExportState{controltable.ExportFinalizing}, controltable.ExportCompleted,
		map[string]types.AttributeValue{
			"endTime":            &types.AttributeValueMemberN{Value: fmt.Sprint(end.UnixMilli())},
			"manifestSummaryKey": &types.AttributeValueMemberS{Value: root + manifest.SummaryName},
		})
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
	Parked   []int // segments found in the dead-letter queue and marked FAILED
}

// Rescue finds work nobody is doing and hands it back: segments RUNNING
// with a lease expired for longer than grace are re-enqueued (the worker
// died and its message may be gone), segments parked in the DLQ are marked
// FAILED, and a settled export is finalized or failed.
func (l *Lifecycle) Rescue(ctx context.Context, exportID string, grace time.Duration, dlq *queue.Queue) (RescueReport, error) {
	var rep RescueReport
	e, err := l.Store.GetExport(ctx, exportID)
	if err != nil {
		return rep, err
	}
	if e.State.Terminal() {
		return rep, l.Store.Forget(ctx, exportID)
	}
	if e.State != controltable.ExportRunning && e.State != controltable.ExportFinalizing {
		return rep, nil
	}
	if e.State == controltable.ExportRunning {
		if dlq != nil {
			if rep.Parked, err = l.SweepDLQ(ctx, e, dlq); err != nil {
				return rep, err
			}
		}
		segs, err := l.Store.ListSegments(ctx, exportID)
		if err != nil {
			return rep, err
		}
		now := l.now()
		for _, s := range segs {
			if s.State != controltable.SegmentRunning || now.Sub(s.LeaseExpiry) < grace {
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
	return rep, l.Settle(ctx, exportID)
}

// SweepDLQ marks this export's dead-lettered segments FAILED and removes
// their messages (retry re-enqueues them); other exports' messages are
// made visible again untouched.
func (l *Lifecycle) SweepDLQ(ctx context.Context, e *controltable.Export, dlq *queue.Queue) ([]int, error) {
	var parked []int
	for range 10 { // bounded: at most 100 messages looked at per sweep
		msgs, err := dlq.Receive(ctx, 10, 0, 30*time.Second)
		if err != nil || len(msgs) == 0 {
			return parked, err
		}
		for _, m := range msgs {
			if m.ExportID != e.ExportID {
				_ = dlq.SetVisibility(ctx, m.ReceiptHandle, 0)
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
			if err := dlq.Delete(ctx, m.ReceiptHandle); err != nil {
				return parked, err
			}
		}
	}
	return parked, nil
}
