package segexport_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/datafile"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
	"github.com/ddbfleet/ddbfleet/worker/internal/segexport"
)

// TestDrainSeenByTheReaderStopsAtTheBoundaryWithNothingToThrowAway
// closes the drain just after the writer looked for it and while the
// reader waits for the pacer's go-ahead: the reader must not read the
// next page, and the writer, now waiting for it, stops at that boundary.
func TestDrainSeenByTheReaderStopsAtTheBoundaryWithNothingToThrowAway(t *testing.T) {
	const items, pageSize = 50, 10
	for _, m := range readModes[1:] {
		for k := 1; k <= 4; k++ {
			t.Run(fmt.Sprintf("%s/after%dpages", m.name, k), func(t *testing.T) {
				f := newFixture(t, items, pageSize)
				f.x.Prefetch = m.prefetch
				f.exp.PartSizeBytes = 1 // a commit per page, after the writer's drain check
				drain := make(chan struct{})
				f.commit.failCall = func(_ context.Context, call int) (error, bool) {
					if call == k {
						close(drain)
					}
					return nil, true
				}
				f.pacer.waitErr = func(n int) error {
					if n > k {
						<-drain // the page after k waits for budget until the drain
					}
					return nil
				}
				job := f.job()
				job.Drain = drain
				res, err := f.x.Run(context.Background(), job)
				require.ErrorIs(t, err, segexport.ErrDrained)
				require.Equal(t, int64(k*pageSize), res.Items)
				require.Zero(t, res.PagesDiscarded)
				require.Len(t, f.scan.scans(), k, "no Scan once the drain is seen")
				require.Equal(t, key(f.source[k*pageSize-1]), f.commit.checkpoints()[k-1].Cursor)

				f.pacer.waitErr, f.commit.failCall = nil, nil
				_, err = f.x.Run(context.Background(), f.resume())
				require.NoError(t, err)
				f.requireExactlyOnce(t)
			})
		}
	}
}

func TestLeaseLostMidSegmentThenResumeExactlyOnce(t *testing.T) {
	const items, pageSize = 60, 10 // a part per page: six CommitPart, one CompleteSegment
	for _, m := range readModes {
		for lost := 1; lost <= 7; lost++ {
			t.Run(fmt.Sprintf("%s/commit%d", m.name, lost), func(t *testing.T) {
				f := newFixture(t, items, pageSize)
				f.x.Prefetch = m.prefetch
				f.exp.PartSizeBytes = 1
				// Another worker takes the segment over just before commit
				// number lost: from then on this attempt's writes are fenced.
				f.commit.failCall = func(_ context.Context, call int) (error, bool) {
					if call == lost {
						f.commit.takeOver()
					}
					return nil, true
				}
				_, err := f.x.Run(context.Background(), f.job())
				require.ErrorIs(t, err, export.ErrLeaseLost)
				zombie := f.exp.PartKey(0, lost-1, 1)
				require.False(t, f.s3.exists(t, zombie), "the rejected part %s is deleted", zombie)
				require.Len(t, f.commit.committed(), lost-1)

				f.commit.failCall = nil
				_, err = f.x.Run(context.Background(), f.resume())
				require.NoError(t, err)
				f.requireExactlyOnce(t)
			})
		}
	}
}

// takeOver is another worker claiming the segment: the live attempt moves
// on and the current holder's lease is lost. Called from a hook, which
// runs outside the committer's lock.
func (c *committer) takeOver() {
	c.mu.Lock()
	c.attempt++
	c.mu.Unlock()
}

// TestCrashAtRandomPointsResumesExactlyOnce abandons attempts at random
// moments — inside a Scan, before a commit lands, after it landed but
// before its answer arrived — and resumes each time from whatever the
// control table holds, as a new worker would after the old one died.
func TestCrashAtRandomPointsResumesExactlyOnce(t *testing.T) {
	const items, pageSize, runs = 83, 6, 60 // 14 pages
	rng := rand.New(rand.NewPCG(1, 2))
	for run := range runs {
		m := readModes[run%len(readModes)]
		partPages := 1 + rng.IntN(3)
		crashes := 1 + rng.IntN(3)
		t.Run(fmt.Sprintf("%d/%s/part%dpages/%dcrashes", run, m.name, partPages, crashes), func(t *testing.T) {
			f := newFixture(t, items, pageSize)
			f.x.Prefetch = m.prefetch
			f.exp.PartSizeBytes = int64(partPages-1)*pageBytes(t, f.source[:pageSize]) + 1
			job := f.job()
			for c := range crashes {
				ctx, crash := context.WithCancelCause(context.Background())
				scanAt, commitAt := 0, 0
				if rng.IntN(2) == 0 {
					scanAt = f.scan.count() + 1 + rng.IntN(8)
				} else {
					commitAt = f.commit.callCount() + 1 + rng.IntN(4)
				}
				landed := rng.IntN(2) == 0
				f.scan.before = func(_ context.Context, n int, _ *dynamodb.ScanInput) error {
					if n == scanAt {
						crash(errCrash)
						return errCrash
					}
					return nil
				}
				f.commit.failCall = func(_ context.Context, call int) (error, bool) {
					if call == commitAt {
						crash(errCrash)
						return errCrash, landed
					}
					return nil, true
				}
				_, err := f.x.Run(ctx, job)
				crash(nil)
				require.Zero(t, f.scan.inFlight.Load(), "crash %d: a Scan still runs after Run returned", c)
				if err == nil || f.commit.isDone() {
					break // the crash point was past the segment's end, or after its completion landed
				}
				// The run sees either the crash itself or its cancelled context.
				require.True(t, errors.Is(err, errCrash) || errors.Is(err, context.Canceled), "crash %d: %v", c, err)
				job = f.resume()
			}
			if !f.commit.isDone() {
				f.scan.before, f.commit.failCall = nil, nil
				_, err := f.x.Run(context.Background(), job)
				require.NoError(t, err)
			}
			f.requireExactlyOnce(t)
		})
	}
}

var errCrash = errors.New("simulated crash")

func TestReaderStopsWhenTheRunIsCancelled(t *testing.T) {
	for _, c := range []struct {
		name  string
		block string // where the run is when it is cancelled
	}{
		{"reader inside a Scan", "scan"},
		{"reader holding a page, writer inside a commit", "commit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, 100, 10)
			f.exp.PartSizeBytes = 1
			// No HTTP server in this test, so the goroutine count only
			// moves with the exporter's own goroutines.
			api := &discardS3{}
			f.x.Objects = func(string) *objstore.Store {
				return objstore.New(api, "b", objstore.Options{UploadPartSize: 5 << 20, UploadConcurrency: 1})
			}
			blocked := make(chan struct{})
			var once atomic.Bool
			wait := func(ctx context.Context) {
				if once.CompareAndSwap(false, true) {
					close(blocked)
				}
				<-ctx.Done()
			}
			if c.block == "scan" {
				f.scan.before = func(ctx context.Context, n int, _ *dynamodb.ScanInput) error {
					if n == 3 {
						wait(ctx)
						return ctx.Err()
					}
					return nil
				}
			} else {
				f.commit.failCall = func(ctx context.Context, call int) (error, bool) {
					if call == 2 {
						wait(ctx)
						return ctx.Err(), false
					}
					return nil, true
				}
			}
			before := runtime.NumGoroutine()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := f.x.Run(ctx, f.job())
				done <- err
			}()
			<-blocked
			if c.block == "commit" {
				// The reader runs ahead: it reads page 3 and then waits to hand
				// it over while the writer is stuck committing page 2.
				require.Eventually(t, func() bool { return f.scan.count() >= 3 && f.scan.inFlight.Load() == 0 }, 5*time.Second, time.Millisecond)
			}
			cancel()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				buf := make([]byte, 1<<16)
				t.Fatalf("Run did not return after its context was cancelled:\n%s", buf[:runtime.Stack(buf, true)])
			}
			require.ErrorIs(t, err, context.Canceled)
			require.Zero(t, f.scan.inFlight.Load(), "Run returned with a Scan in flight")
			n := f.scan.count()
			requireGoroutinesBackTo(t, before)
			require.Equal(t, n, f.scan.count(), "no Scan after Run returned")
		})
	}
}

// requireGoroutinesBackTo waits until no more goroutines run than before
// (exiting ones may take a moment to be counted out). It polls by hand:
// require.Eventually runs its condition on goroutines of its own.
func requireGoroutinesBackTo(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d before, %d after Run returned:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}

// TestPrefetchIsBounded runs a writer much slower than its reader: the
// reader must never get more than its depth ahead of what was written.
func TestPrefetchIsBounded(t *testing.T) {
	for _, m := range readModes {
		t.Run(m.name, func(t *testing.T) {
			const pageSize = 5
			f := newFixture(t, 100, pageSize)
			f.x.Prefetch = m.prefetch
			f.exp.PartSizeBytes = 1
			var read atomic.Int64
			var worst atomic.Int64
			f.scan.before = func(_ context.Context, n int, _ *dynamodb.ScanInput) error {
				// Page n is being read; pages wholly written so far:
				written := read.Load() / pageSize
				if ahead := int64(n) - written; ahead > worst.Load() {
					worst.Store(ahead)
				}
				return nil
			}
			slow := time.NewTicker(2 * time.Millisecond) // the writer's pace: one commit per tick
			defer slow.Stop()
			f.commit.failCall = func(context.Context, int) (error, bool) { <-slow.C; return nil, true }
			job := f.job()
			job.Read = &read
			_, err := f.x.Run(context.Background(), job)
			require.NoError(t, err)
			f.requireExactlyOnce(t)
			// Reading page n needs page n-depth handed to the writer, and the
			// one before it written: at most depth+1 pages past the written
			// ones. In line, page n is read once page n-1 is written.
			if m.depth == 0 {
				require.Equal(t, int64(1), worst.Load())
				return
			}
			require.LessOrEqual(t, worst.Load(), int64(m.depth+1), "read ahead more than its depth")
			require.GreaterOrEqual(t, worst.Load(), int64(m.depth), "the reader does run ahead")
		})
	}
}

// slowS3 takes each object whole after a fixed delay: with a part per
// page, it stands for a page's encode + compress + upload time.
type slowS3 struct {
	discardS3
	delay time.Duration
}

func (s *slowS3) PutObject(ctx context.Context, in *s3.PutObjectInput, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if err := pause(ctx, s.delay); err != nil {
		return nil, err
	}
	return s.discardS3.PutObject(ctx, in, o...)
}

// pause is simulated latency, not a wait for a condition.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestPrefetchHidesScanLatencyBehindWriting(t *testing.T) {
	const pagesN, pageSize, latency = 20, 10, 20 * time.Millisecond
	wall := func(prefetch int) time.Duration {
		f := newFixture(t, pagesN*pageSize-1, pageSize) // 20 pages, the last one short
		f.x.Prefetch = prefetch
		f.exp.PartSizeBytes = 1 // a part, hence an upload, per page
		f.exp.Compression = datafile.None
		api := &slowS3{delay: latency}
		f.x.Objects = func(string) *objstore.Store {
			return objstore.New(api, "b", objstore.Options{UploadPartSize: 5 << 20, UploadConcurrency: 1})
		}
		f.scan.before = func(ctx context.Context, _ int, _ *dynamodb.ScanInput) error { return pause(ctx, latency) }
		start := time.Now()
		res, err := f.x.Run(context.Background(), f.job())
		el := time.Since(start)
		require.NoError(t, err)
		require.Equal(t, int64(pagesN), res.PagesScanned)
		require.Equal(t, pagesN, res.Parts)
		return el
	}
	// Best of three each, interleaved: a loaded machine only adds time.
	seq, pre := time.Duration(1<<62), time.Duration(1<<62)
	for range 3 {
		seq = min(seq, wall(-1))
		pre = min(pre, wall(segexport.DefaultPrefetch))
	}
	ratio := float64(pre) / float64(seq)
	t.Logf("20 pages × (20 ms Scan + 20 ms upload): in line %s, prefetch %s, ratio %.2f", seq, pre, ratio)
	// In line ≈ 20 × 40 ms; overlapped ≈ 20 ms + 20 × 20 ms: ratio ~0.53.
	require.Less(t, ratio, 0.8)
}

func TestZeroPrefetchReadsOnePageAheadNegativeReadsInLine(t *testing.T) {
	for _, m := range readModes[:2] {
		t.Run(m.name, func(t *testing.T) {
			f := newFixture(t, 30, 10)
			f.x.Prefetch = m.prefetch
			f.exp.PartSizeBytes = 1
			second := make(chan struct{})
			f.scan.before = func(_ context.Context, n int, _ *dynamodb.ScanInput) error {
				if n == 2 {
					close(second)
				}
				return nil
			}
			var overlapped bool
			f.commit.failCall = func(_ context.Context, call int) (error, bool) {
				if call == 1 {
					// Reading ahead, page 2 is read while page 1 is still
					// being written: its commit can wait for that Scan.
					select {
					case <-second:
						overlapped = true
					case <-time.After(time.Duration(m.depth) * 5 * time.Second):
					}
				}
				return nil, true
			}
			_, err := f.x.Run(context.Background(), f.job())
			require.NoError(t, err)
			f.requireExactlyOnce(t)
			require.Equal(t, m.depth > 0, overlapped)
		})
	}
}
