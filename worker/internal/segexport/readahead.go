package segexport

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/source"
)

// errDrainStop means the reader saw the job's drain before reading another
// page, so no page comes after the last one handed out.
var errDrainStop = errors.New("segment reader stopped for drain")

var errReadPastEnd = errors.New("segment reader asked for a page after the segment's last")

// pageSource hands out a segment's Scan pages in order.
type pageSource interface {
	// next returns the next page, the error that stopped reading (a Scan
	// or pacer error, as Run reports it), or errDrainStop.
	next(ctx context.Context) (*dynamodb.ScanOutput, error)
	// stop ends reading, waits until nothing reads any more, and returns
	// how many pages were read, handed out or not.
	stop() int64
}

// pages returns the job's page source from its checkpoint's cursor: a
// reader goroutine Prefetch pages ahead, or reads in line if that is off.
func (x *Exporter) pages(ctx context.Context, job Job, pageSize int, where string) pageSource {
	sc := segmentScanner{x: x, job: job, pageSize: pageSize, where: where}
	depth := x.Prefetch
	if depth == 0 {
		depth = DefaultPrefetch
	}
	if depth < 0 {
		return &inlinePages{sc: sc, cursor: job.Segment.Cursor}
	}
	return startReadAhead(ctx, sc, job.Segment.Cursor, depth, job.Drain)
}

// segmentScanner reads one page of one segment: the pacer's go-ahead, the
// Scan (retried, every throttle reported to the pacer), then the charge.
type segmentScanner struct {
	x        *Exporter
	job      Job
	pageSize int
	where    string
}

func (s segmentScanner) wait(ctx context.Context) error { return s.job.Pacer.Wait(ctx) }

func (s segmentScanner) scan(ctx context.Context, cursor map[string]types.AttributeValue) (*dynamodb.ScanOutput, error) {
	exp, seg := s.job.Export, s.job.Segment
	var out *dynamodb.ScanOutput
	err := fault.Retry(ctx, s.x.Retry, func(ctx context.Context) error {
		var err error
		in := source.ScanInput(exp)
		in.Segment = aws.Int32(int32(seg.Segment))
		in.TotalSegments = aws.Int32(int32(exp.SegmentsTotal))
		in.ExclusiveStartKey = cursor
		in.Limit = aws.Int32(int32(s.pageSize))
		out, err = s.x.Scan.Scan(ctx, in, oneAttempt)
		if fault.IsThrottle(err) {
			s.job.Pacer.Throttled()
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.where, err)
	}
	if out.ConsumedCapacity != nil {
		s.job.Pacer.Consumed(aws.ToFloat64(out.ConsumedCapacity.CapacityUnits))
	}
	return out, nil
}

// inlinePages reads each page when it is asked for: nothing overlaps.
type inlinePages struct {
	sc     segmentScanner
	cursor map[string]types.AttributeValue
	read   int64
}

func (p *inlinePages) next(ctx context.Context) (*dynamodb.ScanOutput, error) {
	if err := p.sc.wait(ctx); err != nil {
		return nil, err
	}
	out, err := p.sc.scan(ctx, p.cursor)
	if err != nil {
		return nil, err
	}
	p.read++
	p.cursor = out.LastEvaluatedKey
	return out, nil
}

func (p *inlinePages) stop() int64 { return p.read }

// readAhead reads pages on its own goroutine, at most depth pages ahead of
// the one being written: depth-1 wait in the channel, one more in the
// blocked send. It follows its own cursor; Run keeps the cursor of what it
// wrote, which is the only one a checkpoint ever records.
type readAhead struct {
	pages  chan fetched
	cancel context.CancelFunc
	done   chan struct{}
	// Written by the goroutine, read only after done is closed or pages
	// is drained to its close.
	end  error
	read int64
}

type fetched struct {
	out *dynamodb.ScanOutput
	err error
}

func startReadAhead(ctx context.Context, sc segmentScanner, cursor map[string]types.AttributeValue, depth int, drain <-chan struct{}) *readAhead {
	ctx, cancel := context.WithCancel(ctx)
	// Run stops asking after the last page or a failure, so end is only
	// read past those if Run has a bug: fail the attempt then rather than
	// write nothing.
	r := &readAhead{pages: make(chan fetched, depth-1), cancel: cancel, done: make(chan struct{}), end: errReadPastEnd}
	go r.run(ctx, sc, cursor, drain)
	return r
}

func (r *readAhead) run(ctx context.Context, sc segmentScanner, cursor map[string]types.AttributeValue, drain <-chan struct{}) {
	defer close(r.done)
	defer close(r.pages)
	send := func(f fetched) bool {
		select {
		case r.pages <- f:
			return true
		case <-ctx.Done():
			r.end = ctx.Err()
			return false
		}
	}
	for {
		// A draining job stops at the next page boundary; a page read now
		// would only be thrown away and read again by the next attempt.
		if isClosed(drain) {
			r.end = errDrainStop
			return
		}
		if err := sc.wait(ctx); err != nil {
			send(fetched{err: err})
			return
		}
		// The pacer may have held us for a while: look again.
		if isClosed(drain) {
			r.end = errDrainStop
			return
		}
		out, err := sc.scan(ctx, cursor)
		if err == nil {
			r.read++
		}
		if !send(fetched{out: out, err: err}) || err != nil || len(out.LastEvaluatedKey) == 0 {
			return
		}
		cursor = out.LastEvaluatedKey
	}
}

func (r *readAhead) next(ctx context.Context) (*dynamodb.ScanOutput, error) {
	select {
	case f, ok := <-r.pages:
		if !ok {
			return nil, r.end
		}
		return f.out, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (r *readAhead) stop() int64 {
	r.cancel()
	<-r.done
	return r.read
}
