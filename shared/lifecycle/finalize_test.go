package lifecycle_test

// Finalizing at scale: a takeover writes the same manifests, the claim is
// renewed while the finalizer works and lost claims stop it before the
// commit point, and files that appear while the manifests are written are
// gone before the summary.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/internal/testkit/fakes3"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/lifecycle"
	"github.com/ddbfleet/ddbfleet/shared/manifest"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
)

func (u *unit) read(key string) []byte {
	u.t.Helper()
	r, err := u.obj.Get(u.ctx, key)
	require.NoError(u.t, err)
	defer r.Close()
	b, err := io.ReadAll(r)
	require.NoError(u.t, err)
	return b
}

// A finalizer that dies after its summary is written but before the row
// says COMPLETED is taken over once its claim expires: the second
// finalizer writes the very same bytes (a reader who fetched the first
// summary and its checksum sees no change), and the row's end time is the
// summary's, fixed when finalizing began.
func TestTakeoverWritesByteIdenticalManifests(t *testing.T) {
	u := newUnit(t)
	e := u.start(2)
	u.finish(e, 0, 3, 3)
	u.finish(e, 1, 4, 4)
	began := u.clock.Now()
	died := errors.New("killed before marking the export COMPLETED")
	u.store.Fault = func(method string, after bool) error {
		if method == "SetExportState" && !after {
			return died
		}
		return nil
	}
	require.ErrorIs(t, u.life.Settle(u.ctx, e.ExportID), died)
	require.Equal(t, export.Finalizing, u.get(e.ExportID).State)
	root := e.Root()
	first := map[string][]byte{}
	for _, k := range []string{manifest.FilesName, manifest.FilesChecksumName, manifest.SummaryName, manifest.SummaryChecksumName} {
		first[k] = u.read(root + k)
	}
	u.store.Fault = nil

	u.clock.Advance(lifecycle.FinalizeLease + time.Second)
	require.NoError(t, u.life.Settle(u.ctx, e.ExportID), "a rescuer takes the expired claim over")
	done := u.get(e.ExportID)
	require.Equal(t, export.Completed, done.State)
	for k, b := range first {
		require.Equal(t, string(b), string(u.read(root+k)), "%s is byte for byte what the first finalizer wrote", k)
	}
	var summary manifest.Summary
	require.NoError(t, json.Unmarshal(u.read(root+manifest.SummaryName), &summary))
	require.Equal(t, manifest.FormatTime(began), summary.EndTime, "endTime is when finalizing began")
	require.True(t, done.EndTime.Equal(began.Truncate(time.Millisecond)), "the row's end time %s is the summary's %s", done.EndTime, began)
}

// pauseAt makes the store's first call to method (before it applies) run
// during, in the caller's goroutine, as a pause of the process calling it.
func (u *unit) pauseAt(method string, during func()) {
	var once sync.Once
	u.store.Fault = func(m string, after bool) error {
		if m == method && !after {
			once.Do(during)
		}
		return nil
	}
}

// A finalizer that takes longer than its claim (tens of thousands of
// parts) keeps it: it renews every third of FinalizeLease on the
// Lifecycle's clock, so nobody takes over a live finalizer.
func TestFinalizerRenewsItsClaimWhileItWorks(t *testing.T) {
	u := newUnit(t)
	e := u.start(1)
	u.finish(e, 0, 2, 2)
	paused, resume := make(chan struct{}), make(chan struct{})
	u.pauseAt("ListParts", func() { close(paused); <-resume })
	done := make(chan error, 1)
	go func() { done <- u.life.Settle(u.ctx, e.ExportID) }()
	<-paused
	first := u.get(e.ExportID).FinalizeLease

	ctx, cancel := context.WithTimeout(u.ctx, 5*time.Second)
	defer cancel()
	for i := 1; i <= 6; i++ { // two whole claims' worth of time
		require.True(t, u.clock.BlockUntil(ctx, 1), "the finalizer renews on a ticker of the Lifecycle's clock")
		u.clock.Advance(lifecycle.FinalizeLease / 3)
		require.Eventually(t, func() bool { return u.store.Calls()["RenewFinalize"] >= i }, 5*time.Second, time.Millisecond)
	}
	require.Eventually(t, func() bool {
		return u.get(e.ExportID).FinalizeLease.Equal(u.clock.Now().Add(lifecycle.FinalizeLease))
	}, 5*time.Second, time.Millisecond, "the last renewal extends the claim a whole FinalizeLease")
	require.True(t, u.clock.Now().After(first), "the first claim would have expired")
	_, won, err := u.store.ClaimFinalize(u.ctx, e.ExportID, 1, "rival", lifecycle.FinalizeLease)
	require.NoError(t, err)
	require.False(t, won, "a renewed claim is not taken over")

	close(resume)
	require.NoError(t, <-done)
	require.Equal(t, export.Completed, u.get(e.ExportID).State)
}

// A finalizer paused past its claim (a long GC, SIGSTOP, a partition: its
// renewals fail too) is taken over; when it wakes it learns it lost the
// claim and stops before the commit point, leaving the summary to the
// process that took over.
func TestFinalizerThatLostItsClaimStopsBeforeTheSummary(t *testing.T) {
	u := newUnit(t)
	e := u.start(1)
	u.finish(e, 0, 2, 2)
	partitioned := errors.New("control table unreachable")
	var cut atomic.Bool
	var rival export.FinalizeClaim
	var once sync.Once
	u.store.Fault = func(m string, after bool) error {
		if m == "RenewFinalize" && cut.Load() {
			return partitioned
		}
		if m == "ListParts" && !after {
			once.Do(func() {
				cut.Store(true)
				u.clock.Advance(lifecycle.FinalizeLease + time.Second)
				var won bool
				var err error
				rival, won, err = u.store.ClaimFinalize(u.ctx, e.ExportID, 1, "rival", lifecycle.FinalizeLease)
				require.NoError(t, err)
				require.True(t, won, "the expired claim is taken over")
				cut.Store(false)
			})
		}
		return nil
	}
	require.NoError(t, u.life.Settle(u.ctx, e.ExportID), "losing the claim is not an error: the rival finishes")
	require.False(t, u.exists(e.Root()+manifest.SummaryName), "no summary from the finalizer that lost its claim")
	got := u.get(e.ExportID)
	require.Equal(t, export.Finalizing, got.State)
	require.Equal(t, rival.Owner, got.FinalizeOwner)
	require.True(t, got.FinalizeLease.Equal(rival.Expiry), "the rival's claim is untouched")
}

// newUnitOn is newUnit with its bucket on an S3 the test can reach into.
func newUnitOn(t *testing.T) (*unit, *fakes3.Server) {
	u := newUnit(t)
	srv := fakes3.Start(t)
	u.obj, u.bucket = objstore.New(srv.Client, srv.Bucket, objstore.DefaultOptions), srv.Bucket
	return u, srv
}

// A worker paused past its lease can upload a part file while the
// manifests are being written: its commit is refused, but the file is
// there. The finalizer lists data/ again just before the summary and
// deletes what no part row points at, so a reader of a COMPLETED export
// never finds a data file its manifest does not list.
func TestFileThatAppearsWhileManifestsAreWrittenIsGoneBeforeTheSummary(t *testing.T) {
	u, srv := newUnitOn(t)
	e := u.start(2)
	p0 := u.finish(e, 0, 3, 3)
	p1 := u.finish(e, 1, 4, 4)
	late := e.PartKey(1, 1, 7)
	seeded := make(chan error, 1)
	srv.Before(func(r *http.Request) {
		// After the first sweep, before the summary.
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/"+manifest.FilesName) {
			select {
			case seeded <- srv.Seed(late, []byte("a zombie's part")):
			default:
			}
		}
	})
	require.NoError(t, u.life.Settle(u.ctx, e.ExportID))
	require.NoError(t, <-seeded, "the late file was written while the manifests were")
	require.Equal(t, export.Completed, u.get(e.ExportID).State)
	require.False(t, u.exists(late), "the late file is removed before the summary")

	listed, err := u.obj.List(u.ctx, e.DataPrefix())
	require.NoError(t, err)
	files, err := manifest.ParseFiles(u.read(e.Root() + manifest.FilesName))
	require.NoError(t, err)
	var inData, inManifest []string
	for _, o := range listed {
		inData = append(inData, o.Key)
	}
	for _, f := range files {
		inManifest = append(inManifest, f.DataFileS3Key)
	}
	require.Equal(t, []string{p0.Key, p1.Key}, inData)
	require.Equal(t, inManifest, inData, "data/ holds exactly what the manifest lists")
}
