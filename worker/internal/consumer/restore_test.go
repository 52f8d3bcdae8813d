package consumer_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/queue"
	"github.com/ddbfleet/ddbfleet/worker/internal/segexport"
)

func TestLoopHandsRestoreJobsToTheRestorer(t *testing.T) {
	l := newLoop(t, func(context.Context, segexport.Job) error { return nil })
	restorer := &runner{store: l.store, run: func(_ context.Context, job segexport.Job) error {
		require.True(t, job.Export.IsRestore())
		return nil
	}}
	l.cons.Restorer = restorer
	l.export(1)
	r := &export.Export{ExportID: "rst", Kind: export.KindRestore, Table: "t", Bucket: "b", SegmentsTotal: 2,
		RestoreFiles: []export.RestoreFile{{Key: "a"}, {Key: "b"}}}
	require.NoError(t, l.store.CreateExport(l.ctx, r))
	require.NoError(t, l.work.Send(l.ctx, []queue.Task{{ExportID: "rst", Segment: 0, TotalSegments: 2}, {ExportID: "rst", Segment: 1, TotalSegments: 2}}))
	require.NoError(t, l.cons.Run(l.ctx))
	require.EqualValues(t, 1, l.runner.jobs.Load(), "the export's segment goes to the exporter")
	require.EqualValues(t, 2, restorer.jobs.Load(), "the restore's files go to the restorer")
}

func TestLoopFailsARestoreWhenTheWorkerCannotRestore(t *testing.T) {
	l := newLoop(t, func(context.Context, segexport.Job) error { return nil })
	r := &export.Export{ExportID: "rst", Kind: export.KindRestore, Table: "t", Bucket: "b", SegmentsTotal: 1, RestoreFiles: []export.RestoreFile{{Key: "a"}}}
	require.NoError(t, l.store.CreateExport(l.ctx, r))
	require.NoError(t, l.work.Send(l.ctx, []queue.Task{{ExportID: "rst", Segment: 0, TotalSegments: 1}}))
	require.NoError(t, l.cons.Run(l.ctx))
	seg, err := l.store.GetSegment(l.ctx, "rst", 0)
	require.NoError(t, err)
	require.Equal(t, export.SegmentFailed, seg.State)
	require.Contains(t, seg.LastError, "no runner for restore jobs")
	require.Zero(t, l.runner.jobs.Load(), "never handed to the exporter")
}
