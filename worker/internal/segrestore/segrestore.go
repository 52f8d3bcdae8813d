// Package segrestore owns restoring one claimed unit of a restore job: one
// data file of the source export. It streams the file (hashing it as it
// goes), skips the lines before its checkpoint, writes the items to the
// target table with BatchWriteItem (or, to keep items that exist, PutItem
// with attribute_not_exists) at the job's write pace, and every few
// thousand items records a fenced checkpoint: the line offset reached and
// the items kept so far. A new attempt resumes from that line; rewriting
// the few items after it is harmless, because they are the same images.
//
// Checkpoints reuse the export's part commits (controltable CommitPart):
// each is a part row naming the file and the lines it covered, and the
// segment's cursor holds the line offset. ItemCount counts lines applied
// (written or kept), Bytes counts items kept, so counts are exact by line
// offset, not by successful calls. With --condition not-exists, "kept"
// counts existing items that differ from the file's (an identical one
// may be this restore's own write before a crash).
package segrestore

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/shared/clock"
	"github.com/ddbfleet/ddbfleet/shared/datafile"
	"github.com/ddbfleet/ddbfleet/shared/ddbjson"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
	"github.com/ddbfleet/ddbfleet/worker/internal/segexport"
)

// WriteAPI is the DynamoDB calls a restore makes.
type WriteAPI interface {
	BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

var _ WriteAPI = (*dynamodb.Client)(nil)

// Objects opens a data file of the source export, refusing it if its ETag
// is no longer ifMatch; *objstore.Store implements it.
type Objects interface {
	Open(ctx context.Context, key, ifMatch string) (io.ReadCloser, string, error)
}

var _ Objects = (*objstore.Store)(nil)

// Limits of the write APIs (aws-facts: BatchWriteItem).
const (
	MaxBatchItems = 25
	MaxBatchBytes = 16 << 20
	MaxItemBytes  = 400 << 10
)

// Restorer restores units. Its fields are set once at start-up.
type Restorer struct {
	DB            WriteAPI
	Commit        segexport.Committer
	Objects       func(bucket string) Objects
	Log           *zap.Logger
	Clock         clock.Clock
	LeaseDuration time.Duration
	// CheckpointItems and CheckpointEvery: a checkpoint is recorded after
	// this many lines or this long, whichever comes first.
	CheckpointItems int
	CheckpointEvery time.Duration
	Retry           fault.Policy
}

// LineCursor is the cursor attribute holding the line offset reached.
const LineCursor = "line"

// ResumeLine is the line offset a unit resumes after (0: from the start).
func ResumeLine(seg *export.Segment) int64 {
	if n, ok := seg.Cursor[LineCursor].(*types.AttributeValueMemberN); ok {
		v, err := strconv.ParseInt(n.Value, 10, 64)
		if err == nil {
			return v
		}
	}
	return seg.ItemCount
}

// state is a unit's progress: lines applied and items kept, committed or
// not, and the lines since the last checkpoint.
type state struct {
	line, kept   int64
	sinceCommit  int64
	lastCommitAt time.Time
	cp           export.Checkpoint
}

// Run restores the job's file from its checkpoint to its end.
func (r *Restorer) Run(ctx context.Context, job segexport.Job) (segexport.Result, error) {
	exp, seg, lease := job.Export, job.Segment, job.Lease
	if seg.Segment < 0 || seg.Segment >= len(exp.RestoreFiles) {
		return segexport.Result{}, fault.Permanent(fmt.Errorf("restore %s: unit %d has no file (the job lists %d)", exp.ExportID, seg.Segment, len(exp.RestoreFiles)))
	}
	file := exp.RestoreFiles[seg.Segment]
	log := r.Log.With(zap.String("exportId", exp.ExportID), zap.Int("segment", seg.Segment), zap.Int("attempt", lease.Attempt), zap.String("file", file.Key))
	where := fmt.Sprintf("restore s3://%s/%s into table %s", exp.Bucket, file.Key, exp.Table)
	clk := clock.OrReal(r.Clock)
	skip := ResumeLine(seg)
	res := segexport.Result{ResumedFrom: int(skip)}
	if skip > 0 {
		log.Info("resuming file from checkpoint", zap.Int64("line", skip), zap.Int64("itemsSoFar", seg.ItemCount), zap.Int64("keptSoFar", seg.Bytes))
	}
	st := &state{line: 0, kept: seg.Bytes, lastCommitAt: clk.Now(),
		cp: export.Checkpoint{NextPart: seg.NextPart, ItemCount: seg.ItemCount, Bytes: seg.Bytes, Pages: seg.Pages}}

	// Only the object the coordinator verified: a file replaced since is
	// refused before anything from it is written.
	body, _, err := r.Objects(exp.Bucket).Open(ctx, file.Key, file.ETag)
	if err != nil {
		return res, fmt.Errorf("%s: open: %w", where, err)
	}
	defer body.Close()
	h := md5.New()
	counted := &countingReader{r: io.TeeReader(body, h)}
	zr, err := datafile.NewReader(file.Key, counted)
	if err != nil {
		return res, fault.Permanent(fmt.Errorf("%s: %w", where, err))
	}
	defer zr.Close()
	sc := datafile.NewLineScanner(zr)

	var batch []map[string]types.AttributeValue
	var batchBytes int
	inBatch := map[string]bool{}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var kept int64
		var err error
		if exp.RestoreCondition == export.NotExists {
			kept, err = r.putIfAbsent(ctx, job, exp, batch)
		} else {
			err = r.batchWrite(ctx, job, exp.Table, batch)
		}
		if err != nil {
			return fmt.Errorf("%s: line %d: %w", where, st.line, err)
		}
		st.kept += kept
		res.Items += int64(len(batch))
		res.PagesScanned++
		batch, batchBytes = batch[:0], 0
		clear(inBatch)
		if job.Read != nil {
			job.Read.Store(st.line)
		}
		return nil
	}
	commit := func() error {
		if st.sinceCommit == 0 {
			return nil
		}
		st.cp.Cursor = map[string]types.AttributeValue{LineCursor: &types.AttributeValueMemberN{Value: strconv.FormatInt(st.line, 10)}}
		p := export.Part{Segment: seg.Segment, Part: st.cp.NextPart, Attempt: lease.Attempt, Key: file.Key, ItemCount: st.sinceCommit}
		st.cp.NextPart++
		st.cp.ItemCount, st.cp.Bytes = st.line, st.kept
		st.cp.Pages++
		st.cp.At = clk.Now()
		if err := r.Commit.CommitPart(ctx, lease, p, st.cp, r.LeaseDuration); err != nil {
			return err
		}
		res.Parts++
		st.sinceCommit, st.lastCommitAt = 0, clk.Now()
		log.Debug("restore checkpoint", zap.Int64("line", st.line), zap.Int64("kept", st.kept))
		return nil
	}
	every := r.CheckpointItems
	if every <= 0 {
		every = 1000
	}
	for sc.Scan() {
		raw := sc.Bytes()
		if len(raw) == 0 {
			continue
		}
		st.line++
		if st.line <= skip {
			continue
		}
		item, err := ddbjson.DecodeItemLine(raw)
		if err != nil {
			return res, fault.Permanent(fmt.Errorf("%s: line %d: %w", where, st.line, err))
		}
		size := ItemSize(item)
		if size > MaxItemBytes {
			return res, fault.Permanent(fmt.Errorf("%s: line %d: item of %d bytes is over DynamoDB's 400 KB limit", where, st.line, size))
		}
		// BatchWriteItem refuses a batch holding one key twice; written
		// in order, the later image wins, as it would one by one.
		k := batchKey(item, exp.HashKey, exp.SortKey)
		if len(batch) == MaxBatchItems || batchBytes+size > MaxBatchBytes || inBatch[k] {
			if err := flush(); err != nil {
				return res, err
			}
		}
		inBatch[k] = true
		batch = append(batch, item)
		batchBytes += size
		st.sinceCommit++
		if len(batch) == MaxBatchItems {
			if err := flush(); err != nil {
				return res, err
			}
			due := st.sinceCommit >= int64(every) || (r.CheckpointEvery > 0 && clk.Now().Sub(st.lastCommitAt) >= r.CheckpointEvery)
			draining := isClosed(job.Drain)
			if due || draining {
				if err := commit(); err != nil {
					return res, err
				}
			}
			if draining {
				return res, segexport.ErrDrained
			}
		} else if st.sinceCommit >= int64(every) {
			if err := flush(); err != nil {
				return res, err
			}
			if err := commit(); err != nil {
				return res, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("%s: read line %d: %w", where, st.line+1, err)
	}
	if err := flush(); err != nil {
		return res, err
	}
	// Drain the rest so the hash covers the whole object.
	if _, err := io.Copy(io.Discard, counted); err != nil {
		return res, fmt.Errorf("%s: read: %w", where, err)
	}
	if got := base64.StdEncoding.EncodeToString(h.Sum(nil)); file.MD5 != "" && got != file.MD5 {
		return res, fault.Permanent(fmt.Errorf("%s: file changed since it was verified: MD5 %s, manifest says %s", where, got, file.MD5))
	}
	if file.Items > 0 && st.line != file.Items {
		return res, fault.Permanent(fmt.Errorf("%s: file holds %d items, manifest says %d", where, st.line, file.Items))
	}
	st.cp.Cursor = nil
	st.cp.NextPart++
	st.cp.ItemCount, st.cp.Bytes = st.line, st.kept
	st.cp.At = clk.Now()
	if err := r.Commit.CompleteSegment(ctx, lease, nil, st.cp); err != nil {
		return res, err
	}
	log.Info("file restored", zap.Int64("items", st.line), zap.Int64("kept", st.kept), zap.Int64("itemsThisAttempt", res.Items), zap.Int64("resumedFromLine", skip))
	return res, nil
}

// batchWrite writes items with BatchWriteItem, retrying UnprocessedItems
// with backoff until none are left or the retry budget ends: an item is
// never dropped.
func (r *Restorer) batchWrite(ctx context.Context, job segexport.Job, table string, items []map[string]types.AttributeValue) error {
	reqs := make([]types.WriteRequest, len(items))
	for i, it := range items {
		reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
	}
	return fault.Retry(ctx, r.Retry, func(ctx context.Context) error {
		if err := job.Pacer.Wait(ctx); err != nil {
			return err
		}
		out, err := r.DB.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
			RequestItems:           map[string][]types.WriteRequest{table: reqs},
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		}, oneAttempt)
		if err != nil {
			if fault.IsThrottle(err) {
				job.Pacer.Throttled()
			}
			return classifyWrite(err)
		}
		for _, c := range out.ConsumedCapacity {
			job.Pacer.Consumed(aws.ToFloat64(c.CapacityUnits))
		}
		left := out.UnprocessedItems[table]
		if len(left) == 0 {
			return nil
		}
		// Unprocessed items are DynamoDB's way of throttling a batch.
		job.Pacer.Throttled()
		reqs = left
		return fault.Retryable(fmt.Errorf("BatchWriteItem left %d of %d items unprocessed", len(left), len(items)))
	})
}

// putIfAbsent writes each item unless its key exists; it returns how many
// were kept: the target held the key with a different item. An existing
// item identical to the file's is not counted as kept: the table holds
// the file's image, and it may be this restore's own write before a crash.
func (r *Restorer) putIfAbsent(ctx context.Context, job segexport.Job, exp *export.Export, items []map[string]types.AttributeValue) (int64, error) {
	var kept int64
	for _, it := range items {
		err := fault.Retry(ctx, r.Retry, func(ctx context.Context) error {
			if err := job.Pacer.Wait(ctx); err != nil {
				return err
			}
			out, err := r.DB.PutItem(ctx, &dynamodb.PutItemInput{
				TableName: aws.String(exp.Table), Item: it,
				ConditionExpression:      aws.String("attribute_not_exists(#hk)"),
				ExpressionAttributeNames: map[string]string{"#hk": exp.HashKey},
				ReturnConsumedCapacity:   types.ReturnConsumedCapacityTotal,
				// The existing item tells a kept item from our own write
				// of an earlier attempt (after its last checkpoint), so
				// counts stay exact across a crash.
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
			}, oneAttempt)
			var ccf *types.ConditionalCheckFailedException
			if errors.As(err, &ccf) {
				job.Pacer.Consumed(1)
				if ccf.Item == nil || !ddbjson.EqualItem(ccf.Item, it) {
					kept++
				}
				return nil
			}
			if err != nil {
				if fault.IsThrottle(err) {
					job.Pacer.Throttled()
				}
				return classifyWrite(err)
			}
			if out.ConsumedCapacity != nil {
				job.Pacer.Consumed(aws.ToFloat64(out.ConsumedCapacity.CapacityUnits))
			}
			return nil
		})
		if err != nil {
			return kept, err
		}
	}
	return kept, nil
}

// classifyWrite makes a validation error (a bad item, a missing table)
// permanent: retrying cannot help.
func classifyWrite(err error) error {
	var rnf *types.ResourceNotFoundException
	if errors.As(err, &rnf) {
		return fault.Permanent(fmt.Errorf("target table missing: %w", err))
	}
	if fault.Classify(err) == fault.KindPermanent || fault.IsThrottle(err) || fault.IsRetryable(err) {
		return err
	}
	var ae interface{ ErrorCode() string }
	if errors.As(err, &ae) && ae.ErrorCode() == "ValidationException" {
		return fault.Permanent(err)
	}
	return err
}

// batchKey identifies an item's key within a batch.
func batchKey(item map[string]types.AttributeValue, hash, sort string) string {
	var b []byte
	for _, name := range []string{hash, sort} {
		if name == "" {
			continue
		}
		b, _ = ddbjson.AppendItemLine(b, map[string]types.AttributeValue{name: item[name]})
	}
	return string(b)
}

// ItemSize is DynamoDB's size of an item (see ddbjson.ItemSize).
func ItemSize(item map[string]types.AttributeValue) int { return ddbjson.ItemSize(item) }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// oneAttempt turns the SDK's retries off: fault.Retry retries instead, so
// every throttle reaches the pacer (AIMD).
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
