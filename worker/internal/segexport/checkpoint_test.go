package segexport_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/clock"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/worker/internal/segexport"
)

// Pages whose items the filter all drops write nothing, so no part commit
// records their cursor. These tests kill and drain attempts in the middle
// of such a stretch and require the next attempt to start where the last
// checkpoint left it, not at the segment's start, with every kept item
// exported exactly once.

// emptyStretch is a segment of 30 pages of 10 whose filter keeps page 0
// and pages 25 to 29 only: 24 empty pages in between. The clock moves 10s
// per Scan, so with CheckpointEvery 30s a checkpoint falls every third page
// or so.
func emptyStretch(t *testing.T, prefetch int) (*fixture, *clock.Manual) {
	t.Helper()
	f := newFixture(t, 300, 10)
	f.x.Prefetch = prefetch
	f.scan.filter = func(it map[string]types.AttributeValue) bool {
		i := f.scan.index[pkOf(it)]
		return i < 10 || i >= 250
	}
	f.exp.PartSizeBytes = 1 // the part of page 0 is committed at once
	clk := clock.NewManual(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))
	f.x.Clock = clk
	f.x.CheckpointEvery = 30 * time.Second
	f.scan.before = func(context.Context, int, *dynamodb.ScanInput) error {
		clk.Advance(10 * time.Second)
		return nil
	}
	return f, clk
}

// cursorOnly are the checkpoints recorded without a part: mid-segment ones
// whose item count did not move from the one before.
func cursorOnly(cps []export.Checkpoint) []export.Checkpoint {
	var out []export.Checkpoint
	for i, cp := range cps {
		if cp.Cursor != nil && i > 0 && cp.NextPart == cps[i-1].NextPart {
			out = append(out, cp)
		}
	}
	return out
}

func TestKilledInAnEmptyStretchResumesFromTheCheckpointedCursor(t *testing.T) {
	for _, m := range readModes {
		t.Run(m.name, func(t *testing.T) {
			f, clk := emptyStretch(t, m.prefetch)
			const killAt = 20 // the 20th Scan never answers: the worker is gone
			ctx, kill := context.WithCancel(context.Background())
			f.scan.before = func(_ context.Context, n int, _ *dynamodb.ScanInput) error {
				clk.Advance(10 * time.Second)
				if n == killAt {
					kill()
					return ctx.Err()
				}
				return nil
			}
			res, err := f.x.Run(ctx, f.job())
			require.ErrorIs(t, err, context.Canceled)
			require.Positive(t, res.Checkpoints)
			cps := f.commit.checkpoints()
			only := cursorOnly(cps)
			require.Len(t, only, res.Checkpoints, "every checkpoint after the first part recorded no part")
			last := cps[len(cps)-1]
			require.Equal(t, 1, last.NextPart)
			require.EqualValues(t, 10, last.ItemCount, "nothing but page 0 was committed")
			lastAt := f.scan.index[pkOf(last.Cursor)]
			require.GreaterOrEqual(t, lastAt, (killAt-1-m.depth)*10-30-1, "the checkpoint is at most about 30s of pages behind the kill")
			require.Less(t, lastAt, (killAt-1)*10, "a page not written is not checkpointed")
			// At most one checkpoint per 30s of the clock: not one a page.
			require.LessOrEqual(t, len(only), (killAt*10)/30+1)

			before := len(f.scan.scans())
			f.scan.before = func(context.Context, int, *dynamodb.ScanInput) error { clk.Advance(10 * time.Second); return nil }
			res2, err := f.x.Run(context.Background(), f.resume())
			require.NoError(t, err)
			resumed := f.scan.scans()[before:]
			require.Equal(t, pkOf(last.Cursor), resumed[0].start, "the new attempt starts at the checkpointed cursor, not at the segment's start")
			require.Equal(t, 1, res2.ResumedFrom)
			require.Len(t, resumed, 31-(lastAt+1)/10, "only the pages after the checkpoint are read again")
			f.requireExactlyOnce(t)
		})
	}
}

func TestEmptyPagesAreCheckpointedAtTheCadenceInLine(t *testing.T) {
	f, _ := emptyStretch(t, -1)
	res, err := f.x.Run(context.Background(), f.job())
	require.NoError(t, err)
	f.requireExactlyOnce(t)
	// In line, Scan n runs at 10·n s. Page 1's part is committed at 10s;
	// the empty pages 2…25 are checkpointed every 30s of the clock: after
	// pages 4, 7, …, 25. Page 26 opens a part again.
	var at []int
	for _, cp := range cursorOnly(f.commit.checkpoints()) {
		at = append(at, f.scan.index[pkOf(cp.Cursor)]/10+1)
	}
	require.Equal(t, []int{4, 7, 10, 13, 16, 19, 22, 25}, at, "pages after which the cursor was checkpointed")
	require.Equal(t, 8, res.Checkpoints)
	require.Equal(t, 6, res.Parts)
}

func TestDrainWithNoPartOpenCheckpointsTheCursor(t *testing.T) {
	for _, m := range readModes {
		t.Run(m.name, func(t *testing.T) {
			f := newFixture(t, 100, 10)
			f.x.Prefetch = m.prefetch
			f.scan.filter = func(map[string]types.AttributeValue) bool { return false }
			drain := make(chan struct{})
			const drainAt = 6
			f.scan.before = func(_ context.Context, n int, _ *dynamodb.ScanInput) error {
				if n == drainAt {
					close(drain)
				}
				return nil
			}
			job := f.job()
			job.Drain = drain
			res, err := f.x.Run(context.Background(), job)
			require.ErrorIs(t, err, segexport.ErrDrained)
			require.Equal(t, 1, res.Checkpoints, "a drain records where it stopped, even with no part open")
			cps := f.commit.checkpoints()
			require.Len(t, cps, 1)
			written := int(res.PagesScanned)
			require.Equal(t, export.Checkpoint{Cursor: key(f.source[written*10-1]), Pages: int64(written)}, cps[0])
			require.GreaterOrEqual(t, written, drainAt-m.depth)

			f.scan.before = nil
			before := len(f.scan.scans())
			_, err = f.x.Run(context.Background(), f.resume())
			require.NoError(t, err)
			require.Equal(t, pkOf(f.source[written*10-1]), f.scan.scans()[before].start, fmt.Sprintf("resumes after page %d", written))
			f.requireExactlyOnce(t)
			require.Empty(t, f.s3.objects(t))
		})
	}
}
