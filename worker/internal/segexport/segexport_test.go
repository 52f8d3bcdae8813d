package segexport_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ddbfleet/ddbfleet/shared/datafile"
	"github.com/ddbfleet/ddbfleet/shared/ddbjson"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
	"github.com/ddbfleet/ddbfleet/shared/parquetfile"
	"github.com/ddbfleet/ddbfleet/worker/internal/segexport"
)

func TestExportsTheSegmentIntoOnePartAndCompletes(t *testing.T) {
	f := newFixture(t, 95, 10)
	var read atomic.Int64
	job := f.job()
	job.Read = &read
	res, err := f.x.Run(context.Background(), job)
	require.NoError(t, err)
	f.requireExactlyOnce(t)
	require.Equal(t, segexport.Result{Items: 95, PagesScanned: 10, Parts: 1}, res)
	require.Equal(t, int64(95), read.Load(), "progress counts every item read")
	cps := f.commit.checkpoints()
	require.Len(t, cps, 1, "one part: only the completion commits")
	require.Equal(t, export.Checkpoint{NextPart: 1, ItemCount: 95, Bytes: f.commit.committed()[0].Bytes, Pages: 10}, cps[0])
	require.Len(t, f.s3.objects(t), 1)
}

func TestResumeFromCheckpointReadsOnlyTheRest(t *testing.T) {
	f := newFixture(t, 100, 10)
	// An earlier attempt committed parts 0–2 holding items 0–36 (a cursor
	// need not fall on a page boundary of this attempt's page size).
	seg := &export.Segment{ExportID: "e1", Attempt: 2, Cursor: key(f.source[36]), NextPart: 3, ItemCount: 37, Bytes: 5000, Pages: 4}
	f.commit.attempt = 2
	f.exp.PartSizeBytes = 2000
	res, err := f.x.Run(context.Background(), segexport.Job{Export: f.exp, Segment: seg, Lease: export.Lease{ExportID: "e1", Attempt: 2}, Pacer: f.pacer})
	require.NoError(t, err)

	calls := f.scan.scans()
	require.Equal(t, f.source[36]["pk"].(*types.AttributeValueMemberS).Value, calls[0].start, "first Scan starts at the cursor")
	parts := f.commit.committed()
	require.Greater(t, len(parts), 1)
	require.Equal(t, 3, parts[0].Part, "part numbers continue from NextPart")
	got := f.s3.items(t, parts)
	require.Equal(t, f.source[37:], got, "only the rest is read, each item once")
	require.Equal(t, 3, res.ResumedFrom)
	require.Equal(t, int64(63), res.Items)
	require.Equal(t, len(parts), res.Parts)
	require.Equal(t, int64(len(calls)), res.PagesScanned)

	last := f.commit.checkpoints()[len(f.commit.checkpoints())-1]
	var newBytes int64
	for i, p := range parts {
		require.Equal(t, 3+i, p.Part)
		require.Equal(t, 2, p.Attempt)
		newBytes += p.Bytes
	}
	require.Equal(t, export.Checkpoint{NextPart: 3 + len(parts), ItemCount: 100, Bytes: 5000 + newBytes, Pages: 4 + int64(len(calls))}, last,
		"totals carry on from the checkpoint")
}

func TestPartRollsOverAtSizeLimitWithTheCursorAfterIt(t *testing.T) {
	f := newFixture(t, 120, 10)
	f.exp.PartSizeBytes = 3 * pageBytes(t, f.source[:10]) / 2 // every part closes after its second page
	res, err := f.x.Run(context.Background(), f.job())
	require.NoError(t, err)
	f.requireExactlyOnce(t)

	parts := f.commit.committed()
	require.Len(t, parts, 6)
	require.Equal(t, 6, res.Parts)
	cps := f.commit.checkpoints()
	// The 12th page ends exactly at the segment's end but, as on DynamoDB,
	// still carries a cursor: its part is a CommitPart, and the empty 13th
	// page completes the segment with no part of its own.
	require.Len(t, cps, 7, "six CommitPart and one CompleteSegment")
	var items, bytesSoFar int64
	for i, p := range parts {
		require.Equal(t, int64(20), p.ItemCount, "part %d", i)
		require.GreaterOrEqual(t, p.Bytes, f.exp.PartSizeBytes, "a part closes only once it reached the limit")
		items += p.ItemCount
		bytesSoFar += p.Bytes
		require.Equal(t, export.Checkpoint{Cursor: key(f.source[items-1]), NextPart: i + 1, ItemCount: items, Bytes: bytesSoFar, Pages: int64(2 * (i + 1))}, cps[i],
			"part %d is committed with the cursor after it and the running totals", i)
	}
	require.Equal(t, export.Checkpoint{NextPart: 6, ItemCount: 120, Bytes: bytesSoFar, Pages: 13}, cps[6])
}

// pageBytes is the uncompressed size of items as DynamoDB JSON lines.
func pageBytes(t *testing.T, items []map[string]types.AttributeValue) int64 {
	t.Helper()
	var n int64
	for _, it := range items {
		l, err := ddbjson.AppendItemLine(nil, it)
		require.NoError(t, err)
		n += int64(len(l))
	}
	return n
}

// readModes are the reader set-ups every ordering-sensitive test runs
// under: in line (the Scan waits for the previous page to be written) and
// reading one or three pages ahead.
var readModes = []struct {
	name     string
	prefetch int // Exporter.Prefetch
	depth    int // pages read ahead of the one being written
}{
	{"inline", -1, 0},
	{"prefetch1", 0, 1}, // the default
	{"prefetch3", 3, 3},
}

func TestDrainAtEveryPageBoundaryResumesExactlyOnce(t *testing.T) {
	const items, pageSize = 57, 8 // 8 pages, the last one short
	pages := (items + pageSize - 1) / pageSize
	for _, m := range readModes {
		for k := 1; k <= pages; k++ {
			// Reading ahead, when the drain lands relative to the page being
			// written is up to the scheduler, so each case runs a few times.
			for rep := range 1 + 4*min(m.depth, 1) {
				t.Run(fmt.Sprintf("%s/page%d/%d", m.name, k, rep), func(t *testing.T) {
					f := newFixture(t, items, pageSize)
					f.x.Prefetch = m.prefetch
					drain := make(chan struct{})
					f.scan.before = func(_ context.Context, n int, _ *dynamodb.ScanInput) error {
						if n == k {
							close(drain) // while page k is being read
						}
						return nil
					}
					job := f.job()
					job.Drain = drain
					res, err := f.x.Run(context.Background(), job)
					require.Len(t, f.scan.scans(), k, "no Scan starts after the drain")
					require.Equal(t, int64(k)-res.PagesScanned, res.PagesDiscarded)
					require.LessOrEqual(t, res.PagesDiscarded, int64(m.depth), "at most the read-ahead is thrown away")
					if err == nil {
						// The last page ended the segment before a boundary.
						require.Equal(t, pages, k)
						f.requireExactlyOnce(t)
						return
					}
					require.ErrorIs(t, err, segexport.ErrDrained)
					// The part holds every page written before the drain was
					// seen: in line that is page k exactly; reading ahead it
					// may be up to depth pages earlier (those were read but
					// not yet written, and are read again on resume).
					written := int(res.Items) / pageSize
					require.Equal(t, int(res.Items), written*pageSize)
					require.LessOrEqual(t, written, k)
					require.GreaterOrEqual(t, written, k-m.depth)
					cps := f.commit.checkpoints()
					if written > 0 {
						require.Len(t, cps, 1)
						require.Equal(t, key(f.source[written*pageSize-1]), cps[0].Cursor, "checkpoint cursor is the last written page's LastEvaluatedKey")
						require.Equal(t, export.Checkpoint{Cursor: cps[0].Cursor, NextPart: 1, ItemCount: int64(written * pageSize), Bytes: cps[0].Bytes, Pages: int64(written)}, cps[0])
					}

					f.scan.before = nil
					_, err = f.x.Run(context.Background(), f.resume())
					require.NoError(t, err)
					f.requireExactlyOnce(t)
				})
			}
		}
	}
}

func TestRejectedCommitDeletesItsPartOtherFailuresKeepIt(t *testing.T) {
	for _, c := range []struct {
		name     string
		parts    int64 // part-size limit in pages: 1 makes the first commit a CommitPart
		err      error
		apply    bool
		wantKept bool
	}{
		{"CommitPart lease lost", 1, fmt.Errorf("commit: %w", export.ErrLeaseLost), false, false},
		{"CommitPart retryable after applying", 1, fault.Retryable(errors.New("i/o timeout")), true, true},
		{"CompleteSegment lease lost", 1 << 20, fmt.Errorf("complete: %w", export.ErrLeaseLost), false, false},
		{"CompleteSegment retryable after applying", 1 << 20, fault.Retryable(errors.New("i/o timeout")), true, true},
		// A retry judged afresh (its first try applied, the answer was
		// lost, the token window passed) is rejected although the part is
		// recorded: the file its row points at must stay.
		{"CommitPart lease lost after applying", 1, fmt.Errorf("commit: %w", export.ErrLeaseLost), true, true},
		{"CompleteSegment lease lost after applying", 1 << 20, fmt.Errorf("complete: %w", export.ErrLeaseLost), true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, 30, 10)
			f.exp.PartSizeBytes = c.parts
			f.commit.failCall = func(_ context.Context, call int) (error, bool) {
				if call == 1 {
					return c.err, c.apply
				}
				return nil, true
			}
			_, err := f.x.Run(context.Background(), f.job())
			require.ErrorIs(t, err, c.err)
			objs := f.s3.objects(t)
			rejected := f.exp.PartKey(0, 0, 1)
			require.Equal(t, c.wantKept, f.s3.exists(t, rejected), "objects left: %v", objs)
			if c.wantKept {
				// The commit landed: the control table points at the object.
				require.Equal(t, rejected, f.commit.committed()[0].Key)
			} else {
				require.Empty(t, objs, "a zombie's upload must not linger")
				require.Empty(t, f.commit.committed())
			}
		})
	}
}

func TestEmptyPagesWriteNoPartButMoveTheCursor(t *testing.T) {
	f := newFixture(t, 60, 10)
	// A filter drops every item of pages 2, 3 and 5: they arrive empty,
	// with a cursor.
	dropped := func(i int) bool { p := i / 10; return p == 1 || p == 2 || p == 4 }
	f.scan.filter = func(it map[string]types.AttributeValue) bool { return !dropped(f.scan.index[pkOf(it)]) }
	f.exp.PartSizeBytes = 1 // a part per non-empty page
	res, err := f.x.Run(context.Background(), f.job())
	require.NoError(t, err)

	calls := f.scan.scans()
	require.Len(t, calls, 7, "six pages of 10 and the empty last page")
	for i := 1; i < len(calls); i++ {
		require.Equal(t, calls[i-1].last, calls[i].start, "every Scan starts at the previous page's cursor, empty pages included")
	}
	parts := f.commit.committed()
	require.Len(t, parts, 3, "no part for an empty page")
	require.Len(t, f.s3.objects(t), 3, "no empty part file")
	var want []map[string]types.AttributeValue
	for i, it := range f.source {
		if !dropped(i) {
			want = append(want, it)
		}
	}
	require.Equal(t, want, f.s3.items(t, parts))
	cps := f.commit.checkpoints()
	require.Equal(t, key(f.source[9]), cps[0].Cursor)
	require.Equal(t, key(f.source[39]), cps[1].Cursor, "the part after two empty pages is committed with the cursor past them")
	require.Equal(t, int64(30), res.Items)
	require.Equal(t, int64(7), res.PagesScanned)
	require.Equal(t, int64(7), cps[len(cps)-1].Pages)
}

func TestAllEmptySegmentCompletesWithoutAPart(t *testing.T) {
	f := newFixture(t, 25, 10)
	f.scan.filter = func(map[string]types.AttributeValue) bool { return false }
	res, err := f.x.Run(context.Background(), f.job())
	require.NoError(t, err)
	require.True(t, f.commit.isDone())
	require.Empty(t, f.commit.committed())
	require.Empty(t, f.s3.objects(t))
	require.Equal(t, []export.Checkpoint{{Pages: 3}}, f.commit.checkpoints())
	require.Equal(t, segexport.Result{PagesScanned: 3}, res)
}

func TestEveryFormatAndCompressionRoundTrips(t *testing.T) {
	for _, format := range []datafile.Format{datafile.DynamoDBJSON, datafile.JSON} {
		for _, comp := range []datafile.Compression{datafile.Gzip, datafile.Zstd, datafile.None} {
			t.Run(string(format)+"/"+string(comp), func(t *testing.T) {
				f := newFixture(t, 400, 40)
				f.exp.Format, f.exp.Compression = format, comp
				f.exp.PartSizeBytes = 4000 // several parts whatever the compression
				_, err := f.x.Run(context.Background(), f.job())
				require.NoError(t, err)
				parts := f.commit.committed()
				require.Greater(t, len(parts), 1)
				var lines [][]byte
				for _, p := range parts {
					require.True(t, strings.HasSuffix(p.Key, datafile.Suffix(format, comp)), p.Key)
					raw := f.s3.raw(t, p.Key)
					sum := md5.Sum(raw)
					require.Equal(t, base64.StdEncoding.EncodeToString(sum[:]), p.MD5, "recorded MD5 is the object's")
					require.Equal(t, int64(len(raw)), p.Bytes)
					ls := f.s3.lines(t, p.Key)
					require.Len(t, ls, int(p.ItemCount))
					lines = append(lines, ls...)
				}
				require.Len(t, lines, len(f.source))
				for i, l := range lines {
					require.NoError(t, datafile.CheckLine(format, l[:len(l)-1]))
					if format == datafile.DynamoDBJSON {
						it, err := ddbjson.DecodeItemLine(l)
						require.NoError(t, err)
						require.Equal(t, f.source[i], it, "item %d", i)
						continue
					}
					// Plain JSON drops the types, so there is no decoder back
					// to the item; the line must be what the plain encoder
					// (tested on its own in ddbjson) makes of the source item.
					want, err := ddbjson.AppendPlainItemLine(nil, f.source[i])
					require.NoError(t, err)
					require.Equal(t, string(want), string(l), "item %d", i)
				}
			})
		}
	}
}

// raw reads an object's bytes as stored.
func (f *s3Fake) raw(t *testing.T, key string) []byte {
	t.Helper()
	r, err := f.store.Get(context.Background(), key)
	require.NoError(t, err)
	defer r.Close()
	var b bytes.Buffer
	_, err = io.Copy(&b, r)
	require.NoError(t, err)
	return b.Bytes()
}

func TestPacerWaitsBeforeEveryScanAndIsChargedAfter(t *testing.T) {
	for _, m := range readModes {
		t.Run(m.name, func(t *testing.T) {
			f := newFixture(t, 35, 10)
			f.x.Prefetch = m.prefetch
			f.scan.capacity = 12.5
			throttled := 0
			f.scan.before = func(_ context.Context, n int, _ *dynamodb.ScanInput) error {
				if n == 2 || n == 3 { // the second page is throttled twice, then served
					throttled++
					return throttle()
				}
				return nil
			}
			_, err := f.x.Run(context.Background(), f.job())
			require.NoError(t, err)
			f.requireExactlyOnce(t)
			require.Equal(t, 2, throttled)
			require.Equal(t, int32(2), f.pacer.throttle.Load(), "every throttle reaches the pacer")
			require.Equal(t, []float64{12.5, 12.5, 12.5, 12.5}, f.pacer.consumed, "charged once per page served")
			// One Wait per page (a retry inside a page does not wait again:
			// the retry's backoff and the AIMD factor slow it), before the
			// page's Scan; the charge follows the Scan. Reading ahead changes
			// when this happens, not the order.
			var got []string
			for _, e := range f.events.all() {
				if !strings.HasPrefix(e, "commit") {
					got = append(got, e)
				}
			}
			require.Equal(t, []string{
				"wait", "scan 1", "consumed 12.5",
				"wait", "throttled", "throttled", "scan 4", "consumed 12.5",
				"wait", "scan 5", "consumed 12.5",
				"wait", "scan 6", "consumed 12.5",
			}, got)
		})
	}
}

func TestNoCapacityReportedChargesNothing(t *testing.T) {
	f := newFixture(t, 15, 10)
	_, err := f.x.Run(context.Background(), f.job())
	require.NoError(t, err)
	require.Empty(t, f.pacer.consumed)
	require.Equal(t, int32(2), f.pacer.waits.Load())
}

func TestScanFailuresFailTheAttemptWithContext(t *testing.T) {
	for _, c := range []struct {
		name      string
		err       error
		wantCalls int
		wantKind  fault.Kind
	}{
		{"permanent: not retried", &smithy.GenericAPIError{Code: "ResourceNotFoundException", Message: "table not found"}, 2, fault.KindPermanent},
		{"retryable: retried until the policy gives up", fault.Retryable(errors.New("connection reset")), 1 + 5, fault.KindRetryable},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, 30, 10)
			f.exp.PartSizeBytes = 1
			f.scan.before = func(_ context.Context, n int, _ *dynamodb.ScanInput) error {
				if n >= 2 {
					return c.err
				}
				return nil
			}
			_, err := f.x.Run(context.Background(), f.job())
			require.ErrorIs(t, err, c.err)
			require.ErrorContains(t, err, "scan segment 0/1 of table orders")
			require.Equal(t, c.wantKind, fault.Classify(err))
			require.Equal(t, c.wantCalls, f.scan.count())
			require.Len(t, f.commit.committed(), 1, "the part before the failure stays committed")
		})
	}
}

func TestPacerErrorStopsTheRun(t *testing.T) {
	for _, m := range readModes {
		t.Run(m.name, func(t *testing.T) {
			f := newFixture(t, 30, 10)
			f.x.Prefetch = m.prefetch
			f.exp.PartSizeBytes = 1
			stop := errors.New("budget wait cancelled")
			f.pacer.waitErr = func(n int) error {
				if n == 2 {
					return stop
				}
				return nil
			}
			_, err := f.x.Run(context.Background(), f.job())
			require.ErrorIs(t, err, stop)
			require.Len(t, f.scan.scans(), 1, "no Scan without the pacer's go-ahead")
			require.Len(t, f.commit.committed(), 1, "the page read before stays committed")
		})
	}
}

// failingS3 accepts nothing: every upload fails, and so does every delete.
type failingS3 struct{ discardS3 }

var errS3Down = errors.New("s3 unavailable")

func (*failingS3) PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return nil, errS3Down
}

func (*failingS3) UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	return nil, errS3Down
}

func (*failingS3) DeleteObjects(context.Context, *s3.DeleteObjectsInput, ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	return nil, errS3Down
}

func TestUploadFailureFailsTheAttemptAndCommitsNothing(t *testing.T) {
	for _, c := range []struct {
		name           string
		items, payload int
		partSize       int64
		wantErr        string
	}{
		// Small parts are one PutObject at Close.
		{"a part closed mid-segment", 30, 40, 1, "finish part 0"},
		{"the last part", 30, 40, 128 << 20, "finish part 0"},
		// 8 MB through 5 MiB upload chunks: the multipart upload fails while
		// the part is still being written.
		{"a part being streamed", 80, 100_000, 128 << 20, "part 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixtureOf(t, c.items, c.payload, 10)
			f.exp.PartSizeBytes = c.partSize
			f.x.Objects = func(string) *objstore.Store {
				return objstore.New(&failingS3{}, "b", objstore.Options{UploadPartSize: 5 << 20, UploadConcurrency: 1})
			}
			_, err := f.x.Run(context.Background(), f.job())
			require.ErrorIs(t, err, errS3Down)
			require.ErrorContains(t, err, c.wantErr)
			require.Empty(t, f.commit.checkpoints(), "nothing is committed without its data")
		})
	}
}

func TestRejectedPartThatCannotBeDeletedIsLeftToTheFinalizer(t *testing.T) {
	f := newFixture(t, 30, 10)
	f.exp.PartSizeBytes = 1
	core, logs := observer.New(zap.WarnLevel)
	f.x.Log = zap.New(core)
	// Uploads land; deletes fail.
	api := &deleteFailsS3{}
	f.x.Objects = func(string) *objstore.Store {
		return objstore.New(api, "b", objstore.Options{UploadPartSize: 5 << 20, UploadConcurrency: 1})
	}
	f.commit.failCall = func(context.Context, int) (error, bool) { return export.ErrLeaseLost, false }
	_, err := f.x.Run(context.Background(), f.job())
	require.ErrorIs(t, err, export.ErrLeaseLost)
	warned := logs.FilterMessage("could not delete rejected part; the finalizer will").All()
	require.Len(t, warned, 1)
	require.Equal(t, f.exp.PartKey(0, 0, 1), warned[0].ContextMap()["key"])
}

type deleteFailsS3 struct{ discardS3 }

func (*deleteFailsS3) DeleteObjects(context.Context, *s3.DeleteObjectsInput, ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	return nil, errS3Down
}

func TestUnencodableItemIsPermanentAndLeavesNoObject(t *testing.T) {
	f := newFixture(t, 30, 10)
	f.source[15]["bad"] = &types.UnknownUnionMember{Tag: "Z"}
	_, err := f.x.Run(context.Background(), f.job())
	require.ErrorContains(t, err, "encode item")
	require.Equal(t, fault.KindPermanent, fault.Classify(err))
	require.Empty(t, f.s3.objects(t), "the open part is aborted")
	require.Empty(t, f.commit.checkpoints())
}

// A Parquet export writes .parquet parts in the schema the export recorded
// and every item comes back through the Parquet reader, value for value
// (numbers as equal decimals: DECIMAL keeps the value, not its spelling).
func TestParquetPartsRoundTrip(t *testing.T) {
	for _, comp := range []datafile.Compression{datafile.Snappy, datafile.Zstd, datafile.None} {
		t.Run(string(comp), func(t *testing.T) {
			f := newFixture(t, 400, 40)
			schema, err := parquetfile.InferSchema([]parquetfile.Key{{Name: "pk", Type: types.ScalarAttributeTypeS}}, f.source[:50], parquetfile.InferOptions{})
			require.NoError(t, err)
			f.exp.Format, f.exp.Compression = datafile.Parquet, comp
			f.exp.ParquetSchema, err = schema.MarshalJSON()
			require.NoError(t, err)
			f.exp.PartSizeBytes = 1 // a part per page: several footers, several files
			_, err = f.x.Run(context.Background(), f.job())
			require.NoError(t, err)
			parts := f.commit.committed()
			require.Greater(t, len(parts), 1)
			var got []map[string]types.AttributeValue
			for _, p := range parts {
				require.True(t, strings.HasSuffix(p.Key, ".parquet"), p.Key)
				raw := f.s3.raw(t, p.Key)
				sum := md5.Sum(raw)
				require.Equal(t, base64.StdEncoding.EncodeToString(sum[:]), p.MD5)
				n, err := parquetfile.NumRows(bytes.NewReader(raw), int64(len(raw)))
				require.NoError(t, err)
				require.Equal(t, p.ItemCount, n, "the footer counts what the part row says")
				require.NoError(t, parquetfile.ReadItems(bytes.NewReader(raw), int64(len(raw)), func(it map[string]types.AttributeValue) error {
					got = append(got, it)
					return nil
				}))
			}
			require.Len(t, got, len(f.source))
			for i := range got {
				requireSameItem(t, f.source[i], got[i], fmt.Sprintf("item %d", i))
			}
		})
	}
}

// requireSameItem compares items exactly, numbers by value.
func requireSameItem(t *testing.T, want, got map[string]types.AttributeValue, where string) {
	t.Helper()
	require.Len(t, got, len(want), where)
	for k, w := range want {
		requireSameValue(t, w, got[k], where+"."+k)
	}
}

func requireSameValue(t *testing.T, want, got types.AttributeValue, where string) {
	t.Helper()
	switch w := want.(type) {
	case *types.AttributeValueMemberN:
		g, ok := got.(*types.AttributeValueMemberN)
		require.True(t, ok, "%s: want a number, got %T", where, got)
		wr, ok1 := new(big.Rat).SetString(w.Value)
		gr, ok2 := new(big.Rat).SetString(g.Value)
		require.True(t, ok1 && ok2 && wr.Cmp(gr) == 0, "%s: %s != %s", where, w.Value, g.Value)
	case *types.AttributeValueMemberM:
		g, ok := got.(*types.AttributeValueMemberM)
		require.True(t, ok, "%s: want a map, got %T", where, got)
		requireSameItem(t, w.Value, g.Value, where)
	case *types.AttributeValueMemberL:
		g, ok := got.(*types.AttributeValueMemberL)
		require.True(t, ok, "%s: want a list, got %T", where, got)
		require.Len(t, g.Value, len(w.Value), where)
		for i := range w.Value {
			requireSameValue(t, w.Value[i], g.Value[i], fmt.Sprintf("%s[%d]", where, i))
		}
	case *types.AttributeValueMemberNS:
		g, ok := got.(*types.AttributeValueMemberNS)
		require.True(t, ok, "%s: want a number set, got %T", where, got)
		require.Len(t, g.Value, len(w.Value), where)
		for i := range w.Value {
			requireSameValue(t, &types.AttributeValueMemberN{Value: w.Value[i]}, &types.AttributeValueMemberN{Value: g.Value[i]}, fmt.Sprintf("%s[%d]", where, i))
		}
	default:
		require.Equal(t, want, got, where)
	}
}
