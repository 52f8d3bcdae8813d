package segexport_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/internal/testkit/sampledata"
	"github.com/ddbfleet/ddbfleet/shared/datafile"
	"github.com/ddbfleet/ddbfleet/shared/ddbjson"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
	"github.com/ddbfleet/ddbfleet/worker/internal/segexport"
)

// The fakes below stand in for the three seams an Exporter talks to: a
// DynamoDB table that serves Scan pages the way DynamoDB does (Limit counts
// evaluated items, a filter can make a page empty while its cursor still
// moves on, the cursor is the last evaluated key), a control table that
// applies commits under a fencing token, and a real S3 protocol server
// (gofakes3, in process) so the uploads go through the SDK's multipart
// machinery as in production.

// key is the cursor form of an item: its partition key alone, as for a
// table with a hash key only.
func key(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": item["pk"]}
}

func pkOf(item map[string]types.AttributeValue) string {
	return item["pk"].(*types.AttributeValueMemberS).Value
}

// scanCall is one Scan the fake served.
type scanCall struct {
	segment int
	start   string // pk of ExclusiveStartKey, "" at the start
	items   int
	last    string // pk of LastEvaluatedKey, "" on the last page
}

// tableScan is a DynamoDB table in memory, split into segments.
type tableScan struct {
	segs     [][]map[string]types.AttributeValue
	index    map[string]int // pk → position in its segment
	capacity float64        // ConsumedCapacity per page; 0 reports none
	// filter, if set, drops items from pages the way a FilterExpression
	// does: they still count against Limit and still move the cursor.
	filter func(item map[string]types.AttributeValue) bool
	// before runs ahead of every call (n counts from 1); an error it
	// returns is the call's result. Tests inject throttles, failures,
	// latency and crash points here.
	before func(ctx context.Context, n int, in *dynamodb.ScanInput) error
	events *eventLog // if set, "scan N" is logged when a call returns

	mu       sync.Mutex
	calls    []scanCall
	n        int
	inFlight atomic.Int32
}

var _ segexport.ScanAPI = (*tableScan)(nil)

// newTable spreads items over segments round-robin.
func newTable(items []map[string]types.AttributeValue, segments int) *tableScan {
	t := &tableScan{segs: make([][]map[string]types.AttributeValue, segments), index: map[string]int{}}
	for i, it := range items {
		s := i % segments
		t.index[pkOf(it)] = len(t.segs[s])
		t.segs[s] = append(t.segs[s], it)
	}
	return t
}

func (t *tableScan) Scan(ctx context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	t.inFlight.Add(1)
	defer t.inFlight.Add(-1)
	t.mu.Lock()
	t.n++
	n := t.n
	t.mu.Unlock()
	if t.before != nil {
		if err := t.before(ctx, n, in); err != nil {
			return nil, err
		}
	}
	seg := t.segs[aws.ToInt32(in.Segment)]
	from, start := 0, ""
	if in.ExclusiveStartKey != nil {
		start = in.ExclusiveStartKey["pk"].(*types.AttributeValueMemberS).Value
		i, ok := t.index[start]
		if !ok {
			return nil, fmt.Errorf("fake scan: cursor %q is not a key of this table", start)
		}
		from = i + 1
	}
	limit := int(aws.ToInt32(in.Limit))
	to := min(len(seg), from+limit)
	out := &dynamodb.ScanOutput{Items: []map[string]types.AttributeValue{}}
	for _, it := range seg[from:to] {
		if t.filter == nil || t.filter(it) {
			out.Items = append(out.Items, it)
		}
	}
	call := scanCall{segment: int(aws.ToInt32(in.Segment)), start: start, items: len(out.Items)}
	// Like DynamoDB, a page cut by Limit carries a cursor even when it
	// reaches the end of the segment exactly; the next, empty page ends it.
	if limit > 0 && to-from == limit {
		out.LastEvaluatedKey = key(seg[to-1])
		call.last = pkOf(seg[to-1])
	}
	if t.capacity > 0 {
		out.ConsumedCapacity = &types.ConsumedCapacity{CapacityUnits: aws.Float64(t.capacity)}
	}
	t.mu.Lock()
	t.calls = append(t.calls, call)
	t.mu.Unlock()
	if t.events != nil {
		t.events.add(fmt.Sprintf("scan %d", n))
	}
	return out, nil
}

// count is how many Scan calls started.
func (t *tableScan) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

func (t *tableScan) scans() []scanCall {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.calls)
}

// throttle is the error DynamoDB sends when a table's capacity is exceeded.
func throttle() error {
	return &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException", Message: "slow down"}
}

// committer is the control table for one segment: it applies commits
// fenced by the lease's attempt, keeps the segment's checkpoint, and can be
// told to reject a commit (lost lease) or to fail one after applying it
// (the write landed, the answer did not).
type committer struct {
	mu      sync.Mutex
	attempt int // the live lease; other attempts are rejected
	seg     export.Segment
	parts   map[int]export.Part // committed rows by part number
	commits []export.Checkpoint // every accepted checkpoint, in order
	done    bool
	calls   int
	events  *eventLog
	// failCall, if set, decides each call's fate (call counts CommitPart,
	// Checkpoint and CompleteSegment from 1): an error to return, and
	// whether the write lands anyway.
	failCall func(ctx context.Context, call int) (err error, apply bool)
}

var _ segexport.Committer = (*committer)(nil)

func newCommitter(exportID string, segment int) *committer {
	return &committer{attempt: 1, seg: export.Segment{ExportID: exportID, Segment: segment}, parts: map[int]export.Part{}}
}

// claim is what a new attempt gets from ClaimSegment: a higher fencing
// token and the last checkpoint.
func (c *committer) claim() (*export.Segment, export.Lease) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempt++
	seg := c.seg
	seg.Attempt = c.attempt
	return &seg, export.Lease{ExportID: seg.ExportID, Segment: seg.Segment, Attempt: c.attempt}
}

func (c *committer) apply(ctx context.Context, l export.Lease, p *export.Part, cp export.Checkpoint, final bool) error {
	c.mu.Lock()
	c.calls++
	call, hook := c.calls, c.failCall
	c.mu.Unlock()
	var injected error
	apply := true
	if hook != nil {
		// Outside the lock: a hook may block until the run is cancelled.
		injected, apply = hook(ctx, call)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cp.At.IsZero() {
		// Without a fixed time, each retry of one commit would be a
		// different request, and the store could not tell a retry of a
		// commit that applied from a zombie's.
		return fmt.Errorf("commit by %s without Checkpoint.At", l)
	}
	cp.At = time.Time{} // the cases compare what the commit records, not when
	if l.Attempt != c.attempt || c.done {
		return fmt.Errorf("commit by %s: %w", l, export.ErrLeaseLost)
	}
	if apply {
		if p != nil {
			c.parts[p.Part] = *p
		}
		c.seg.Cursor, c.seg.NextPart, c.seg.ItemCount, c.seg.Bytes, c.seg.Pages = cp.Cursor, cp.NextPart, cp.ItemCount, cp.Bytes, cp.Pages
		c.commits = append(c.commits, cp)
		c.done = final
		if c.events != nil && p == nil && !final {
			c.events.add("checkpoint")
		} else if c.events != nil {
			c.events.add(fmt.Sprintf("commit %d", cp.NextPart-1))
		}
	}
	return injected
}

func (c *committer) GetPart(_ context.Context, _ string, _, part int) (*export.Part, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.parts[part]
	if !ok {
		return nil, fmt.Errorf("part %d: %w", part, export.ErrNotFound)
	}
	return &p, nil
}

func (c *committer) CommitPart(ctx context.Context, l export.Lease, p export.Part, cp export.Checkpoint, _ time.Duration) error {
	return c.apply(ctx, l, &p, cp, false)
}

func (c *committer) Checkpoint(ctx context.Context, l export.Lease, cp export.Checkpoint, _ time.Duration) error {
	return c.apply(ctx, l, nil, cp, false)
}

func (c *committer) CompleteSegment(ctx context.Context, l export.Lease, last *export.Part, cp export.Checkpoint) error {
	return c.apply(ctx, l, last, cp, true)
}

// committed returns the part rows in part order.
func (c *committer) committed() []export.Part {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := make([]export.Part, 0, len(c.parts))
	for _, p := range c.parts {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Part < ps[j].Part })
	return ps
}

func (c *committer) callCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

func (c *committer) checkpoints() []export.Checkpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.commits)
}

func (c *committer) isDone() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

// eventLog orders what the fakes saw across goroutines.
type eventLog struct {
	mu sync.Mutex
	ev []string
}

func (l *eventLog) add(e string) {
	l.mu.Lock()
	l.ev = append(l.ev, e)
	l.mu.Unlock()
}

func (l *eventLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ev)
}

// recordingPacer logs every call; waitErr, if set, fails the n-th Wait.
type recordingPacer struct {
	events   *eventLog
	consumed []float64
	waits    atomic.Int32
	throttle atomic.Int32
	mu       sync.Mutex
	waitErr  func(n int) error
}

var _ segexport.Pacer = (*recordingPacer)(nil)

func (p *recordingPacer) Wait(ctx context.Context) error {
	n := int(p.waits.Add(1))
	p.events.add("wait")
	if p.waitErr != nil {
		if err := p.waitErr(n); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (p *recordingPacer) Consumed(units float64) {
	p.events.add(fmt.Sprintf("consumed %g", units))
	p.mu.Lock()
	p.consumed = append(p.consumed, units)
	p.mu.Unlock()
}

func (p *recordingPacer) Throttled() {
	p.throttle.Add(1)
	p.events.add("throttled")
}

// s3Fake is an in-process S3 server with one bucket.
type s3Fake struct {
	client *s3.Client
	bucket string
	store  *objstore.Store
}

func newS3(t *testing.T) *s3Fake {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
	})
	_, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("exports")})
	require.NoError(t, err)
	return &s3Fake{client: client, bucket: "exports", store: objstore.New(client, "exports", objstore.Options{UploadPartSize: 5 << 20, UploadConcurrency: 1})}
}

func (f *s3Fake) objects(t *testing.T) []objstore.Object {
	t.Helper()
	objs, err := f.store.List(context.Background(), "")
	require.NoError(t, err)
	return objs
}

func (f *s3Fake) exists(t *testing.T, key string) bool {
	t.Helper()
	ok, err := f.store.Exists(context.Background(), key)
	require.NoError(t, err)
	return ok
}

// lines reads one part file back through datafile's reader.
func (f *s3Fake) lines(t *testing.T, key string) [][]byte {
	t.Helper()
	r, err := f.store.Get(context.Background(), key)
	require.NoError(t, err)
	defer r.Close()
	zr, err := datafile.NewReader(key, r)
	require.NoError(t, err)
	defer zr.Close()
	var out [][]byte
	sc := datafile.NewLineScanner(zr)
	for sc.Scan() {
		out = append(out, append(slices.Clone(sc.Bytes()), '\n'))
	}
	require.NoError(t, sc.Err())
	return out
}

// items decodes DynamoDB JSON parts, in part order.
func (f *s3Fake) items(t *testing.T, parts []export.Part) []map[string]types.AttributeValue {
	t.Helper()
	var out []map[string]types.AttributeValue
	for _, p := range parts {
		ls := f.lines(t, p.Key)
		require.Len(t, ls, int(p.ItemCount), "part %d (%s)", p.Part, p.Key)
		for _, l := range ls {
			it, err := ddbjson.DecodeItemLine(l)
			require.NoError(t, err)
			out = append(out, it)
		}
	}
	return out
}

// fixture is one segment's export: table, control table, bucket, exporter.
type fixture struct {
	scan   *tableScan
	commit *committer
	s3     *s3Fake
	x      *segexport.Exporter
	exp    *export.Export
	pacer  *recordingPacer
	events *eventLog
	source []map[string]types.AttributeValue // the segment's items, in scan order
}

// newFixture exports segment 0 of a single-segment table of n sample items
// (every DynamoDB type), pageSize items per page, with no compression so
// part sizes are predictable. Tests adjust the fields before running.
func newFixture(t *testing.T, n, pageSize int) *fixture {
	t.Helper()
	return newFixtureOf(t, n, 40, pageSize)
}

// newFixtureOf is newFixture with payload bytes of padding per item.
func newFixtureOf(t *testing.T, n, payload, pageSize int) *fixture {
	t.Helper()
	items := make([]map[string]types.AttributeValue, n)
	for i := range items {
		items[i] = sampledata.Item(i, payload)
	}
	ev := &eventLog{}
	f := &fixture{scan: newTable(items, 1), commit: newCommitter("e1", 0), s3: newS3(t), events: ev, pacer: &recordingPacer{events: ev}}
	f.scan.events = ev
	f.commit.events = ev
	f.source = f.scan.segs[0]
	f.x = &segexport.Exporter{
		Scan: f.scan, Commit: f.commit, Log: zap.NewNop(), LeaseDuration: time.Minute,
		Objects:         func(string) *objstore.Store { return f.s3.store },
		DefaultPageSize: pageSize, CompressionLevel: 1,
		Retry: fault.Policy{MaxAttempts: 5}.Instant(),
	}
	f.exp = &export.Export{
		ExportID: "e1", Table: "orders", Bucket: f.s3.bucket, Prefix: "p", SegmentsTotal: 1,
		PartSizeBytes: 128 << 20, Compression: datafile.None,
	}
	return f
}

// job is the first attempt's job.
func (f *fixture) job() segexport.Job {
	return segexport.Job{
		Export: f.exp, Segment: &export.Segment{ExportID: "e1", Segment: 0, Attempt: 1},
		Lease: export.Lease{ExportID: "e1", Segment: 0, Attempt: 1}, Pacer: f.pacer,
	}
}

// resume is the job of the next attempt, from the last checkpoint.
func (f *fixture) resume() segexport.Job {
	seg, lease := f.commit.claim()
	return segexport.Job{Export: f.exp, Segment: seg, Lease: lease, Pacer: f.pacer}
}

// requireExactlyOnce checks the committed parts hold the segment's items
// (those the filter keeps, if any), each once, in scan order, with part
// numbers 0…n-1 and every checkpoint cursor past exactly the items
// committed before it.
func (f *fixture) requireExactlyOnce(t *testing.T) {
	t.Helper()
	require.True(t, f.commit.isDone(), "segment not completed")
	parts := f.commit.committed()
	for i, p := range parts {
		require.Equal(t, i, p.Part, "part numbers must be contiguous")
	}
	var want []map[string]types.AttributeValue
	for _, it := range f.source {
		if f.scan.filter == nil || f.scan.filter(it) {
			want = append(want, it)
		}
	}
	got := f.s3.items(t, parts)
	require.Equal(t, len(want), len(got), "items exported")
	for i := range got {
		require.Equal(t, pkOf(want[i]), pkOf(got[i]), "item %d", i)
	}
	require.Equal(t, want, got)
	f.requireCursorsMatchParts(t)
}

// requireCursorsMatchParts: a checkpoint's cursor is durable only if every
// item up to it that the filter keeps is already in a committed part (the
// fake's cursors are last keys, and every page here ends on an item).
// Without a filter, the cursor is the key of the last item committed.
func (f *fixture) requireCursorsMatchParts(t *testing.T) {
	t.Helper()
	for _, cp := range f.commit.checkpoints() {
		if cp.Cursor == nil {
			require.Equal(t, f.kept(len(f.source)), cp.ItemCount, "final checkpoint counts every item")
			continue
		}
		at := f.scan.index[cp.Cursor["pk"].(*types.AttributeValueMemberS).Value]
		require.Equal(t, f.kept(at+1), cp.ItemCount,
			"checkpoint at item %d must count every item kept up to it as committed", at)
	}
}

// kept is how many of the segment's first n items the filter keeps.
func (f *fixture) kept(n int) int64 {
	var k int64
	for _, it := range f.source[:n] {
		if f.scan.filter == nil || f.scan.filter(it) {
			k++
		}
	}
	return k
}
