package lifecycle_test

import (
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/manifest"
)

// An export of 100,000 part files (1,000 segments of 100 parts, 2,500
// orphans of dead attempts beside them) finalizes well within a minute
// of wall time, and the test reports what finalizing it costs in memory.
// The figures include the in-process S3 serving the listings (gofakes3
// holds every object and builds each listing page in memory), so they
// are an upper bound of the finalizer's own.
func TestFinalizeAHundredThousandParts(t *testing.T) {
	const (
		perSeg  = 100
		orphans = 2500
	)
	segments := 1000
	if raceEnabled {
		segments = 100 // the race detector slows everything tenfold: the same rules on 10,000 parts
	}
	total := segments * perSeg
	u, srv := newUnitOn(t)
	u.life.Log = zap.NewNop() // a log line per part would dwarf the work
	e := u.start(segments)
	body := []byte("12345678")
	for seg := range segments {
		_, l, err := u.store.ClaimSegment(u.ctx, e.ExportID, seg, fmt.Sprintf("w%d", seg), time.Hour)
		require.NoError(t, err)
		for n := range perSeg {
			key := e.PartKey(seg, n, l.Attempt)
			require.NoError(t, srv.Seed(key, body))
			p := export.Part{Segment: seg, Part: n, Attempt: l.Attempt, Key: key, ItemCount: 10,
				MD5: "Nvl+1cTrGjFsLaUFyFw9Gw==", ETag: "36f97ed5c4eb1a316c2da5051c5c3d1b", Bytes: int64(len(body))}
			cp := export.Checkpoint{NextPart: n + 1, ItemCount: int64(10 * (n + 1)), Bytes: int64(len(body) * (n + 1)), Pages: int64(n + 1)}
			if n < perSeg-1 {
				require.NoError(t, u.store.CommitPart(u.ctx, l, p, cp, time.Hour))
			} else {
				require.NoError(t, u.store.CompleteSegment(u.ctx, l, &p, cp))
			}
		}
	}
	for i := range orphans {
		require.NoError(t, srv.Seed(e.PartKey(i%segments, i/segments, 9), body))
	}
	var deletes atomic.Int64
	srv.Before(func(r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Query().Has("delete") {
			deletes.Add(1)
		}
	})

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var sampled sync.WaitGroup
	sampled.Add(1)
	go func() {
		defer sampled.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	require.NoError(t, u.life.Settle(u.ctx, e.ExportID))
	took := time.Since(start)
	close(stop)
	sampled.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	require.Equal(t, export.Completed, u.get(e.ExportID).State)
	files, err := manifest.ParseFiles(u.read(e.Root() + manifest.FilesName))
	require.NoError(t, err)
	require.Len(t, files, total)
	listed, err := u.obj.List(u.ctx, e.DataPrefix())
	require.NoError(t, err)
	require.Len(t, listed, total, "every orphan is deleted")
	require.EqualValues(t, 3, deletes.Load(), "2,500 orphans are three DeleteObjects requests")
	if !raceEnabled {
		require.Less(t, took, 60*time.Second)
	}

	// What the finalizer itself holds per part: the part rows ListParts
	// returns, and manifest-files.json.
	parts, err := u.store.ListParts(u.ctx, e.ExportID)
	require.NoError(t, err)
	rows := liveBytes(func() any {
		parts, err := u.store.ListParts(u.ctx, e.ExportID)
		require.NoError(t, err)
		return parts
	})
	index := liveBytes(func() any {
		m := make(map[string]int, len(parts))
		for i, p := range parts {
			m[p.Key] = i
		}
		return m
	})
	runtime.KeepAlive(parts) // not freed while the index is measured
	objects := liveBytes(func() any {
		listed, err := u.obj.List(u.ctx, e.DataPrefix())
		require.NoError(t, err)
		return listed
	})
	manifestBytes := len(u.read(e.Root() + manifest.FilesName))

	t.Logf("finalized %d parts (%d orphans deleted) in %s", total, orphans, took.Round(time.Millisecond))
	t.Logf("heap in use: %d MiB before, peak %d MiB (+%d MiB), %d MiB after; allocated %d MiB in all",
		before.HeapInuse>>20, peak.Load()>>20, (peak.Load()-before.HeapInuse)>>20, after.HeapInuse>>20, (after.TotalAlloc-before.TotalAlloc)>>20)
	t.Logf("per part: %d bytes of part rows (ListParts; their strings shared with the in-memory store), %d bytes of index by key, "+
		"%d bytes of manifest-files.json; %d bytes per object of a whole listing (objstore.List; finalize walks it a page at a time)",
		rows/int64(total), index/int64(total), manifestBytes/total, objects/int64(total))
}

// liveBytes is how much more heap is live while what make returns is kept.
func liveBytes(make func() any) int64 {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.GC() // the second frees what the first only marked unreachable (finalizers)
	runtime.ReadMemStats(&m0)
	v := make()
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	runtime.KeepAlive(v)
	return int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
}
