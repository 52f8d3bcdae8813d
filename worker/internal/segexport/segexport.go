// Package segexport owns exporting one claimed scan segment: it scans the
// segment page by page from its checkpoint (with the export's filter and
// projection), encodes each item as a line in the export's format, streams
// the lines through its compression into part files in S3, and after
// each part is durable commits the part together with the cursor that
// follows it. Pages the filter left empty write nothing; while no part is
// open their cursor is checkpointed alone (Exporter.CheckpointEvery). A
// new attempt resumes from the last cursor recorded, never from the start.
//
// Reading runs one page ahead of writing (Exporter.Prefetch): the next
// Scan is in flight while the current page is encoded, compressed and
// uploaded. A page read ahead is not progress: checkpoints only ever name
// the cursor of the last page written (into a committed part, or empty
// with no part open), and a page that was read but not written when the
// job stops is read again by the next attempt.
package segexport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/shared/clock"
	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/datafile"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
)

// ScanAPI is the one DynamoDB call a segment needs.
type ScanAPI interface {
	Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

var _ ScanAPI = (*dynamodb.Client)(nil)

// Pacer throttles reads to a capacity budget. Wait blocks before a page;
// Consumed reports what the page cost; Throttled reports a throttle. With
// read-ahead on they are called from the job's reader goroutine, one at a
// time, in the same order as without it.
type Pacer interface {
	Wait(ctx context.Context) error
	Consumed(units float64)
	Throttled()
}

// Committer records durable progress; controltable.Store implements it.
// Checkpoint records a cursor with no part: that of pages a filter left
// empty.
type Committer interface {
	CommitPart(ctx context.Context, l export.Lease, p export.Part, cp export.Checkpoint, lease time.Duration) error
	Checkpoint(ctx context.Context, l export.Lease, cp export.Checkpoint, lease time.Duration) error
	CompleteSegment(ctx context.Context, l export.Lease, last *export.Part, cp export.Checkpoint) error
	// GetPart reads a part row: a rejected part is deleted only if no row
	// points at it.
	GetPart(ctx context.Context, exportID string, segment, part int) (*export.Part, error)
}

var _ Committer = controltable.Store(nil)

// Exporter exports segments. Its fields are set once at start-up.
type Exporter struct {
	Scan          ScanAPI
	Commit        Committer
	Objects       func(bucket string) *objstore.Store
	Log           *zap.Logger
	LeaseDuration time.Duration
	// DefaultPageSize is the Scan Limit when the export did not choose
	// one. DynamoDB Local re-walks a segment for each unlimited 1 MB page,
	// so a limit is what keeps local scans linear; on AWS it costs nothing.
	DefaultPageSize int
	// CompressionLevel is the gzip level (1 fastest … 9 smallest); zstd
	// maps it to its nearest speed.
	CompressionLevel int
	// Clock stamps commits (nil: the wall clock).
	Clock clock.Clock
	// Retry bounds how long a failing Scan is retried before the attempt
	// fails (and the message is retried later from the checkpoint).
	Retry fault.Policy
	// Prefetch is how many Scan pages a segment reads ahead of the page
	// being written: 0 means DefaultPrefetch, a negative value turns
	// read-ahead off (each Scan waits until the previous page is written).
	// Each page ahead costs one page of memory per running segment.
	Prefetch int
	// CheckpointEvery bounds the scanning a killed attempt loses while no
	// part is open: pages whose items the export's filter all dropped write
	// nothing, so no part commit records their cursor, and without a
	// checkpoint a segment that matches nothing for hours would be scanned
	// again from its start by every new attempt. Once the last durable
	// cursor is this old, the cursor is checkpointed alone (one small write
	// of the segment row). 0 means DefaultCheckpointEvery.
	CheckpointEvery time.Duration
}

// DefaultCheckpointEvery is a fraction of any lease, so a worker killed at
// any moment costs its successor under a minute of empty pages, and one
// write every half minute is nothing next to the reads it saves.
const DefaultCheckpointEvery = 30 * time.Second

func (x *Exporter) checkpointEvery() time.Duration {
	if x.CheckpointEvery > 0 {
		return x.CheckpointEvery
	}
	return DefaultCheckpointEvery
}

// DefaultPrefetch is one page ahead: enough to hide a Scan's latency
// behind encoding a page (or the other way round) when neither dominates;
// more only adds memory, since the slower side bounds the rate.
const DefaultPrefetch = 1

// Job is one claimed segment.
type Job struct {
	Export  *export.Export
	Segment *export.Segment
	Lease   export.Lease
	Pacer   Pacer
	// Drain is closed when the worker is asked to stop: the job closes its
	// current part at the next page boundary, commits it and returns
	// ErrDrained.
	Drain <-chan struct{}
	// Read, if set, is kept at the segment's items read so far (committed
	// or not); the heartbeat reports it as progress.
	Read *atomic.Int64
}

// ErrDrained means the job checkpointed and stopped early on request.
var ErrDrained = errors.New("segment checkpointed and released for drain")

// Result describes a finished (or drained) job.
type Result struct {
	Items        int64 // items written by this attempt
	PagesScanned int64 // pages scanned and written by this attempt
	Parts        int   // parts committed by this attempt
	Checkpoints  int   // cursors checkpointed without a part (empty pages)
	ResumedFrom  int   // part number the attempt started at (0: from the start)
	// PagesDiscarded were read ahead but not written when the attempt
	// stopped (drain, failure); the next attempt reads them again.
	PagesDiscarded int64
}

// part is one open part file: a compressor over a buffer over a
// streaming upload.
type part struct {
	number int
	obj    *objstore.ObjectWriter
	buf    *bufio.Writer
	w      datafile.ItemWriter
	items  int64
}

// written is the part's compressed size so far, buffered bytes included.
func (p *part) written() int64 { return p.obj.Written() + int64(p.buf.Buffered()) + p.w.Buffered() }

// uploadBuffer batches the compressor's output for the upload pipe. gzip
// writes ~250-byte pieces, and every write into the pipe is a rendezvous
// with the uploader's goroutine: unbuffered, that hand-off (and the writer
// blocked in it) cost ~20 % of a segment's time on poorly compressible
// data (block profile of BenchmarkSegmentExportHTTP/random).
const uploadBuffer = 128 << 10

// Run exports the job's segment from its checkpoint to its end.
func (x *Exporter) Run(ctx context.Context, job Job) (res Result, err error) {
	exp, seg, lease := job.Export, job.Segment, job.Lease
	log := x.Log.With(zap.String("exportId", exp.ExportID), zap.Int("segment", seg.Segment), zap.Int("attempt", lease.Attempt))
	res = Result{ResumedFrom: seg.NextPart}
	if seg.NextPart > 0 || seg.Cursor != nil {
		log.Info("resuming segment from checkpoint", zap.Int("nextPart", seg.NextPart), zap.Int64("itemsSoFar", seg.ItemCount))
	}
	pageSize := exp.ScanPageSize
	if pageSize <= 0 {
		pageSize = x.DefaultPageSize
	}
	partSize := exp.PartSizeBytes
	cp := export.Checkpoint{Cursor: seg.Cursor, NextPart: seg.NextPart, ItemCount: seg.ItemCount, Bytes: seg.Bytes, Pages: seg.Pages}
	store := x.Objects(exp.Bucket).With(objstore.PutOptions(exp.Objects))
	where := fmt.Sprintf("scan segment %d/%d of table %s", seg.Segment, exp.SegmentsTotal, exp.Table)

	var cur *part
	var buf *bufio.Writer // reused by every part of the attempt
	// durable is when the cursor was last recorded (claim, commit or
	// checkpoint); unsaved says pages were written since.
	durable, unsaved := x.now(), false
	defer func() {
		if cur != nil {
			cur.obj.Abort()
		}
	}()
	closePart := func() (export.Part, error) {
		p := cur
		cur = nil
		if err := p.w.Close(); err != nil {
			p.obj.Abort()
			return export.Part{}, err
		}
		if err := p.buf.Flush(); err != nil {
			p.obj.Abort()
			return export.Part{}, err
		}
		info, err := p.obj.Close(ctx)
		if err != nil {
			return export.Part{}, err
		}
		return export.Part{
			Segment: seg.Segment, Part: p.number, Attempt: lease.Attempt, Key: info.Key,
			ItemCount: p.items, MD5: info.MD5Base64(), ETag: info.ETag, Bytes: info.Bytes,
		}, nil
	}

	// commit closes the open part, if any, and commits it with the cursor
	// of the last page written into it.
	commit := func(cursor map[string]types.AttributeValue) error {
		if cur == nil {
			return nil
		}
		p, err := closePart()
		if err != nil {
			return fmt.Errorf("%s: finish part %d: %w", where, cp.NextPart, err)
		}
		cp.Cursor, cp.NextPart = cursor, cp.NextPart+1
		cp.ItemCount += p.ItemCount
		cp.Bytes += p.Bytes
		// One time for every try of this commit: each retry is then the
		// very same request, which the store recognises if an earlier try
		// applied and its answer was lost.
		cp.At = x.now()
		if err := x.Commit.CommitPart(ctx, lease, p, cp, x.LeaseDuration); err != nil {
			x.discardIfRejected(err, store, exp.ExportID, p, log)
			return err
		}
		res.Items += p.ItemCount
		res.Parts++
		durable, unsaved = cp.At, false
		log.Debug("part committed", zap.String("key", p.Key), zap.Int64("items", p.ItemCount), zap.Int64("bytes", p.Bytes))
		return nil
	}

	// checkpoint records the cursor alone, with no part open: every item
	// before it is in a committed part or was dropped by the filter.
	checkpoint := func(cursor map[string]types.AttributeValue) error {
		cp.Cursor = cursor
		cp.At = x.now()
		if err := x.Commit.Checkpoint(ctx, lease, cp, x.LeaseDuration); err != nil {
			return fmt.Errorf("%s: checkpoint after page %d: %w", where, cp.Pages, err)
		}
		res.Checkpoints++
		durable, unsaved = cp.At, false
		log.Debug("cursor checkpointed without a part", zap.Int64("pages", cp.Pages))
		return nil
	}
	// save makes what was written so far durable before a drain.
	save := func(cursor map[string]types.AttributeValue) error {
		if cur != nil {
			return commit(cursor)
		}
		if unsaved {
			return checkpoint(cursor)
		}
		return nil
	}

	src := x.pages(ctx, job, pageSize, where)
	defer func() {
		// Stop the reader before the open part is aborted: its goroutine
		// must be gone when Run returns, whatever the reason.
		res.PagesDiscarded = src.stop() - res.PagesScanned
	}()

	cursor := seg.Cursor
	for {
		out, err := src.next(ctx)
		if errors.Is(err, errDrainStop) {
			// The reader saw the drain before reading another page: this is
			// a page boundary, like the one the check below stops at.
			if err := save(cursor); err != nil {
				return res, err
			}
			return res, ErrDrained
		}
		if err != nil {
			return res, err
		}
		res.PagesScanned++
		cp.Pages++
		unsaved = true
		if len(out.Items) > 0 && cur == nil {
			obj := store.Create(ctx, exp.PartKey(seg.Segment, cp.NextPart, lease.Attempt))
			if buf == nil {
				buf = bufio.NewWriterSize(obj, uploadBuffer)
			} else {
				buf.Reset(obj)
			}
			w, err := datafile.NewItemWriter(buf, exp.Format, exp.Compression, x.CompressionLevel, exp.ParquetSchema)
			if err != nil {
				obj.Abort()
				return res, fault.Permanent(fmt.Errorf("%s: start part %d: %w", where, cp.NextPart, err))
			}
			cur = &part{number: cp.NextPart, obj: obj, buf: buf, w: w}
		}
		for _, item := range out.Items {
			if err := cur.w.WriteItem(item); err != nil {
				var enc *datafile.EncodeError
				if errors.As(err, &enc) {
					return res, fault.Permanent(fmt.Errorf("%s: %w", where, err))
				}
				return res, fmt.Errorf("%s: write part %d: %w", where, cur.number, err)
			}
			cur.items++
		}
		if job.Read != nil {
			read := cp.ItemCount
			if cur != nil {
				read += cur.items
			}
			job.Read.Store(read)
		}
		cursor = out.LastEvaluatedKey
		if len(cursor) == 0 {
			break
		}
		draining := isClosed(job.Drain)
		switch {
		case cur != nil && (cur.written() >= partSize || draining):
			if err := commit(cursor); err != nil {
				return res, err
			}
		case cur == nil && (draining || x.now().Sub(durable) >= x.checkpointEvery()):
			if err := save(cursor); err != nil {
				return res, err
			}
		}
		if draining {
			return res, ErrDrained
		}
	}
	var last *export.Part
	if cur != nil {
		p, err := closePart()
		if err != nil {
			return res, fmt.Errorf("%s: finish part %d: %w", where, cp.NextPart, err)
		}
		last = &p
		cp.NextPart++
		cp.ItemCount += p.ItemCount
		cp.Bytes += p.Bytes
		res.Items += p.ItemCount
		res.Parts++
	}
	cp.Cursor = nil
	cp.At = x.now()
	if err := x.Commit.CompleteSegment(ctx, lease, last, cp); err != nil {
		if last != nil {
			x.discardIfRejected(err, store, exp.ExportID, *last, log)
		}
		return res, err
	}
	log.Info("segment done", zap.Int64("items", cp.ItemCount), zap.Int("parts", cp.NextPart), zap.Int64("pagesThisAttempt", res.PagesScanned), zap.Int64("pagesTotal", cp.Pages), zap.Int("resumedFromPart", res.ResumedFrom), zap.Int("checkpoints", res.Checkpoints))
	return res, nil
}

func (x *Exporter) now() time.Time { return clock.OrReal(x.Clock).Now() }

// discardIfRejected deletes a part whose commit was rejected: a zombie's
// late upload must not linger where readers could mistake it for data. Any
// other failure may have committed after all, so the part stays and the
// finalizer decides. Even a rejection is checked against the part rows: a
// commit whose answer was lost, retried after its idempotency window, is
// judged afresh and rejected although its first try recorded the part.
func (x *Exporter) discardIfRejected(err error, store *objstore.Store, exportID string, p export.Part, log *zap.Logger) {
	if !export.IsLeaseLost(err) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	row, err := x.Commit.GetPart(ctx, exportID, p.Segment, p.Part)
	switch {
	case err == nil && row.Key == p.Key:
		log.Warn("rejected part is recorded after all; keeping it", zap.String("key", p.Key))
		return
	case err != nil && !errors.Is(err, export.ErrNotFound):
		log.Warn("cannot tell whether a rejected part is recorded; the finalizer will", zap.String("key", p.Key), zap.Error(err))
		return
	}
	if err := store.Delete(ctx, p.Key); err != nil {
		log.Warn("could not delete rejected part; the finalizer will", zap.String("key", p.Key), zap.Error(err))
	}
}

// oneAttempt turns the SDK's own retries off for Scan: fault.Retry retries
// instead, so every throttle reaches the pacer and the whole segment slows
// down (AIMD), rather than the SDK absorbing throttles one call at a time.
func oneAttempt(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }

func isClosed(ch <-chan struct{}) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
