package lifecycle_test

// Finalizing at scale: a takeover writes the same manifests, the claim is
// renewed while the finalizer works and lost claims stop it before the
// commit point, and files that appear while the manifests are written are
// gone before the summary.

import (
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/lifecycle"
	"github.com/ddbfleet/ddbfleet/shared/manifest"
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
