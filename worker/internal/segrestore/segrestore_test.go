package segrestore_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ddbfleet/ddbfleet/shared/ddbjson"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/worker/internal/segexport"
	"github.com/ddbfleet/ddbfleet/worker/internal/segrestore"
)

// fakeDB is a table in memory whose BatchWriteItem leaves the last item of
// every other call unprocessed and throttles every fifth call, and whose
// PutItem honours attribute_not_exists.
type fakeDB struct {
	mu        sync.Mutex
	items     map[string]map[string]types.AttributeValue
	calls     int
	throttles int
	unproc    int
}

func newFakeDB() *fakeDB { return &fakeDB{items: map[string]map[string]types.AttributeValue{}} }

func keyOf(it map[string]types.AttributeValue) string {
	return it["pk"].(*types.AttributeValueMemberS).Value
}

func (f *fakeDB) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls%5 == 0 {
		f.throttles++
		return nil, fault.Throttled(fmt.Errorf("throttled"))
	}
	out := &dynamodb.BatchWriteItemOutput{UnprocessedItems: map[string][]types.WriteRequest{},
		ConsumedCapacity: []types.ConsumedCapacity{{CapacityUnits: aws.Float64(1)}}}
	for table, reqs := range in.RequestItems {
		if len(reqs) > 25 {
			return nil, fault.Permanent(fmt.Errorf("ValidationException: too many items"))
		}
		seen := map[string]bool{}
		for _, r := range reqs {
			if k := keyOf(r.PutRequest.Item); seen[k] {
				return nil, fault.Permanent(fmt.Errorf("ValidationException: Provided list of item keys contains duplicates"))
			} else {
				seen[k] = true
			}
		}
		keep := reqs
		if f.calls%2 == 0 && len(reqs) > 1 {
			keep = reqs[:len(reqs)-1]
			out.UnprocessedItems[table] = reqs[len(reqs)-1:]
			f.unproc++
		}
		for _, r := range keep {
			f.items[keyOf(r.PutRequest.Item)] = r.PutRequest.Item
		}
	}
	return out, nil
}

func (f *fakeDB) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := keyOf(in.Item)
	if old, ok := f.items[k]; ok && in.ConditionExpression != nil {
		return nil, &types.ConditionalCheckFailedException{Message: aws.String("exists"), Item: old}
	}
	f.items[k] = in.Item
	return &dynamodb.PutItemOutput{}, nil
}

// fakeCommit records checkpoints and can fail the n-th one.
type fakeCommit struct {
	cps    []export.Checkpoint
	done   *export.Checkpoint
	failAt int
}

func (c *fakeCommit) CommitPart(_ context.Context, _ export.Lease, _ export.Part, cp export.Checkpoint, _ time.Duration) error {
	if c.failAt > 0 && len(c.cps)+1 == c.failAt {
		return fmt.Errorf("commit %d: %w", c.failAt, export.ErrLeaseLost)
	}
	c.cps = append(c.cps, cp)
	return nil
}

func (c *fakeCommit) GetPart(context.Context, string, int, int) (*export.Part, error) {
	return nil, export.ErrNotFound
}

// Checkpoint is never called: a restore's checkpoints go through CommitPart.
func (c *fakeCommit) Checkpoint(context.Context, export.Lease, export.Checkpoint, time.Duration) error {
	return fmt.Errorf("a restore does not checkpoint without a part")
}

func (c *fakeCommit) CompleteSegment(_ context.Context, _ export.Lease, _ *export.Part, cp export.Checkpoint) error {
	c.done = &cp
	return nil
}

type objects map[string][]byte

func (o objects) Open(_ context.Context, key, ifMatch string) (io.ReadCloser, string, error) {
	b, ok := o[key]
	if !ok {
		return nil, "", fmt.Errorf("no such key %s", key)
	}
	if ifMatch != "" && ifMatch != "etag-1" {
		return nil, "", fault.Permanent(fmt.Errorf("%s changed since it was verified", key))
	}
	return io.NopCloser(bytes.NewReader(b)), "etag-1", nil
}

type pacer struct {
	consumed  float64
	throttled int
}

func (p *pacer) Wait(context.Context) error { return nil }
func (p *pacer) Consumed(u float64)         { p.consumed += u }
func (p *pacer) Throttled()                 { p.throttled++ }

func file(t *testing.T, n int, big int) ([]byte, string) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	for i := range n {
		v := "v"
		if i == big {
			v = strings.Repeat("x", 410<<10)
		}
		fmt.Fprintf(zw, `{"Item":{"pk":{"S":"k%04d"},"v":{"S":"%s"},"b":{"B":"AP8="}}}`+"\n", i, v)
	}
	require.NoError(t, zw.Close())
	sum := md5.Sum(b.Bytes())
	return b.Bytes(), base64.StdEncoding.EncodeToString(sum[:])
}

func setup(t *testing.T, n, big int, cond export.Condition) (*segrestore.Restorer, *fakeDB, *fakeCommit, segexport.Job, *pacer) {
	body, sum := file(t, n, big)
	db, com := newFakeDB(), &fakeCommit{}
	r := &segrestore.Restorer{
		DB: db, Commit: com, Log: zaptest.NewLogger(t), LeaseDuration: time.Minute,
		Objects:         func(string) segrestore.Objects { return objects{"src/data/f0.json.gz": body} },
		CheckpointItems: 100, Retry: fault.DefaultPolicy.Instant(),
	}
	exp := &export.Export{ExportID: "r1", Kind: export.KindRestore, Table: "t", Bucket: "b", SegmentsTotal: 1, HashKey: "pk", RestoreCondition: cond,
		RestoreFiles: []export.RestoreFile{{Key: "src/data/f0.json.gz", Items: int64(n), MD5: sum}}}
	p := &pacer{}
	job := segexport.Job{Export: exp, Segment: &export.Segment{ExportID: "r1", Segment: 0}, Lease: export.Lease{ExportID: "r1", Attempt: 1}, Pacer: p}
	return r, db, com, job, p
}

func TestRestoreRetriesUnprocessedItemsAndThrottlesWithoutDroppingAny(t *testing.T) {
	r, db, com, job, p := setup(t, 1000, -1, export.Overwrite)
	res, err := r.Run(context.Background(), job)
	require.NoError(t, err)
	require.Len(t, db.items, 1000, "every item written, none dropped")
	require.Greater(t, db.unproc, 0)
	require.Greater(t, db.throttles, 0)
	require.Equal(t, db.unproc+db.throttles, p.throttled, "every throttle and unprocessed batch reaches the pacer")
	require.Greater(t, p.consumed, 0.0, "consumed capacity is charged")
	require.EqualValues(t, 1000, res.Items)
	require.Len(t, com.cps, 10, "a checkpoint every 100 lines")
	for i, cp := range com.cps {
		require.EqualValues(t, (i+1)*100, cp.ItemCount)
		require.Equal(t, &types.AttributeValueMemberN{Value: fmt.Sprint((i + 1) * 100)}, cp.Cursor[segrestore.LineCursor])
	}
	require.EqualValues(t, 1000, com.done.ItemCount)
	require.Nil(t, com.done.Cursor)
}

func TestRestoreResumesAfterItsCheckpointLine(t *testing.T) {
	r, db, com, job, _ := setup(t, 300, -1, export.Overwrite)
	job.Segment.Cursor = map[string]types.AttributeValue{segrestore.LineCursor: &types.AttributeValueMemberN{Value: "200"}}
	job.Segment.ItemCount, job.Segment.NextPart = 200, 2
	res, err := r.Run(context.Background(), job)
	require.NoError(t, err)
	require.Len(t, db.items, 100, "only lines after the checkpoint are written")
	require.Contains(t, db.items, "k0200")
	require.NotContains(t, db.items, "k0199")
	require.EqualValues(t, 100, res.Items)
	require.EqualValues(t, 300, com.done.ItemCount, "counts are by line offset: exact across attempts")
}

func TestRestoreNotExistsCountsKeptItems(t *testing.T) {
	r, db, com, job, _ := setup(t, 50, -1, export.NotExists)
	old := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k0007"}, "v": &types.AttributeValueMemberS{Value: "old"}}
	db.items["k0007"] = old
	_, err := r.Run(context.Background(), job)
	require.NoError(t, err)
	require.Len(t, db.items, 50)
	require.Equal(t, old, db.items["k0007"], "the existing item is kept")
	require.EqualValues(t, 1, com.done.Bytes, "a restore's Bytes counts items kept")
	require.EqualValues(t, 50, com.done.ItemCount)
}

func TestRestoreFailsPermanentlyOnAnItemOver400KB(t *testing.T) {
	r, _, _, job, _ := setup(t, 20, 12, export.Overwrite)
	_, err := r.Run(context.Background(), job)
	require.Error(t, err)
	require.Equal(t, fault.KindPermanent, fault.Classify(err))
	require.ErrorContains(t, err, "src/data/f0.json.gz")
	require.ErrorContains(t, err, "line 13")
	require.ErrorContains(t, err, "400 KB")
}

func TestRestoreRefusesAFileThatChangedSinceItWasVerified(t *testing.T) {
	r, _, com, job, _ := setup(t, 20, -1, export.Overwrite)
	job.Export.RestoreFiles[0].MD5 = "AAAAAAAAAAAAAAAAAAAAAA=="
	_, err := r.Run(context.Background(), job)
	require.Equal(t, fault.KindPermanent, fault.Classify(err))
	require.ErrorContains(t, err, "changed since it was verified")
	require.Nil(t, com.done, "the unit is not completed")
}

func TestRestoreStopsOnALostLease(t *testing.T) {
	r, _, com, job, _ := setup(t, 500, -1, export.Overwrite)
	com.failAt = 2
	_, err := r.Run(context.Background(), job)
	require.ErrorIs(t, err, export.ErrLeaseLost)
	require.Len(t, com.cps, 1)
	require.Nil(t, com.done)
}

func TestItemSize(t *testing.T) {
	it := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "abc"}, "b": &types.AttributeValueMemberB{Value: []byte{1, 2}}}
	require.Equal(t, 2+3+1+2, segrestore.ItemSize(it))
}

func TestRestoreNeverPutsOneKeyTwiceInABatch(t *testing.T) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	for i := range 30 {
		fmt.Fprintf(zw, `{"Item":{"pk":{"S":"k%04d"},"v":{"N":"%d"}}}`+"\n", i%10, i)
	}
	require.NoError(t, zw.Close())
	r, db, com, job, _ := setup(t, 1, -1, export.Overwrite)
	r.Objects = func(string) segrestore.Objects { return objects{"src/data/f0.json.gz": b.Bytes()} }
	job.Export.RestoreFiles[0].MD5, job.Export.RestoreFiles[0].Items = "", 30
	_, err := r.Run(context.Background(), job)
	require.NoError(t, err)
	require.Len(t, db.items, 10)
	require.Equal(t, &types.AttributeValueMemberN{Value: "25"}, db.items["k0005"]["v"], "the later line wins")
	require.EqualValues(t, 30, com.done.ItemCount)
}

func TestRestoreNotExistsDoesNotCountItsOwnEarlierWritesAsKept(t *testing.T) {
	r, db, com, job, _ := setup(t, 300, -1, export.NotExists)
	// An earlier attempt wrote lines 101..130, then died after its
	// checkpoint at line 100.
	body, _ := file(t, 300, -1)
	zr, err := gzip.NewReader(bytes.NewReader(body))
	require.NoError(t, err)
	all, err := io.ReadAll(zr)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(all)), "\n")
	for _, l := range lines[100:130] {
		it, err := ddbjson.DecodeItemLine([]byte(l))
		require.NoError(t, err)
		db.items[keyOf(it)] = it
	}
	job.Segment.Cursor = map[string]types.AttributeValue{segrestore.LineCursor: &types.AttributeValueMemberN{Value: "100"}}
	job.Segment.ItemCount = 100
	_, err = r.Run(context.Background(), job)
	require.NoError(t, err)
	require.EqualValues(t, 0, com.done.Bytes, "identical items are not kept items")
	require.EqualValues(t, 300, com.done.ItemCount)
}

func TestRestoreDrainsAtACheckpoint(t *testing.T) {
	r, db, com, job, _ := setup(t, 300, -1, export.Overwrite)
	drain := make(chan struct{})
	close(drain)
	job.Drain = drain
	_, err := r.Run(context.Background(), job)
	require.ErrorIs(t, err, segexport.ErrDrained)
	require.Len(t, com.cps, 1, "the work done is checkpointed before handing back")
	require.EqualValues(t, len(db.items), com.cps[0].ItemCount)
	require.Nil(t, com.done)
}

func TestRestoreReadsOnlyTheObjectItVerified(t *testing.T) {
	r, db, com, job, _ := setup(t, 20, -1, export.Overwrite)
	job.Export.RestoreFiles[0].ETag = "etag-2"
	_, err := r.Run(context.Background(), job)
	require.Equal(t, fault.KindPermanent, fault.Classify(err))
	require.ErrorContains(t, err, "changed since it was verified")
	require.Empty(t, db.items, "nothing from a replaced file is written")
	require.Nil(t, com.done)
}
