package dashboard

import (
	"cmp"
	"encoding/json"
	"slices"
	"time"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/progress"
)

// maxRatePoints bounds the chart: a day of one-minute samples would be
// 1,440 points, more than a 600-pixel chart can show and more than a
// refresh every two seconds should carry.
const maxRatePoints = 240

// newView derives what the job page shows from d at now.
func newView(d JobDetail, now time.Time) JobView {
	v := JobView{JobDetail: d, Terminal: Terminal(d.State), ObservedAt: now}
	v.Segments = slices.Clone(d.Segments)
	if v.Segments == nil {
		v.Segments = []Segment{}
	}
	slices.SortFunc(v.Segments, func(a, b Segment) int { return cmp.Compare(a.Segment, b.Segment) })
	v.History = slices.Clone(d.History)
	if v.History == nil {
		v.History = []Sample{}
	}
	slices.SortStableFunc(v.History, func(a, b Sample) int { return a.Time.Compare(b.Time) })
	if len(v.ManifestSummary) > 0 && !json.Valid(v.ManifestSummary) {
		v.ManifestSummary = nil // newView's caller logs it; a bad summary must not break the page
	}

	v.Counts = countSegments(v.Segments, d.SegmentsTotal)
	v.Rates = rates(v.History, maxRatePoints)

	if !d.StartTime.IsZero() {
		end := now
		if !d.EndTime.IsZero() {
			end = d.EndTime
		}
		v.ElapsedSeconds = max(0, end.Sub(d.StartTime).Seconds())
	}
	if !v.Terminal && !d.StartTime.IsZero() {
		snap := progress.Snapshot{
			State: d.State, SegmentsDone: v.Counts.Done, SegmentsFailed: v.Counts.Failed,
			SegmentsTotal: d.SegmentsTotal, Items: d.ItemCount, EstimatedItems: d.EstimatedItems,
		}
		if eta, ok := progress.ETA(snap, time.Duration(v.ElapsedSeconds*float64(time.Second))); ok {
			s := eta.Seconds()
			v.ETASeconds = &s
		}
	}
	return v
}

func countSegments(segs []Segment, total int) Counts {
	var c Counts
	for _, s := range segs {
		switch s.State {
		case SegmentDone:
			c.Done++
		case SegmentFailed:
			c.Failed++
		case SegmentRunning:
			if s.LeaseLive {
				c.Running++
			} else {
				c.LeaseExpired++
			}
		}
	}
	// Segments without a row yet (a job still being planned) are pending.
	c.Pending = max(0, max(total, len(segs))-c.Done-c.Failed-c.Running-c.LeaseExpired)
	return c
}

// rates turns cumulative samples into per-second rates between
// consecutive samples, using every k-th sample when there are more than
// limit intervals, so at most limit rates (a rate over a longer window is still exact: the
// counters are cumulative). A counter that went down — a lost lease's
// uncounted items — gives 0, not a negative rate.
func rates(h []Sample, limit int) []Rate {
	out := []Rate{}
	if len(h) < 2 {
		return out
	}
	limit = max(limit, 2)
	step := 1
	if n := len(h) - 1; n > limit {
		// limit-1 strides, plus the partial one that ends at the last
		// sample, stay within limit.
		step = (n + limit - 2) / (limit - 1)
	}
	idx := []int{}
	for i := 0; i < len(h); i += step {
		idx = append(idx, i)
	}
	if idx[len(idx)-1] != len(h)-1 {
		idx = append(idx, len(h)-1)
	}
	for j := 1; j < len(idx); j++ {
		a, b := h[idx[j-1]], h[idx[j]]
		dt := b.Time.Sub(a.Time).Seconds()
		if dt <= 0 {
			continue
		}
		out = append(out, Rate{
			Time:               b.Time,
			ItemsPerSecond:     max(0, float64(b.Items-a.Items)/dt),
			ReadUnitsPerSecond: max(0, (b.ReadUnits-a.ReadUnits)/dt),
		})
	}
	return out
}

// sortJobs orders jobs newest first, like `coordinator list`.
func sortJobs(jobs []Job) []Job {
	out := slices.Clone(jobs)
	if out == nil {
		out = []Job{}
	}
	slices.SortStableFunc(out, func(a, b Job) int {
		if c := b.StartTime.Compare(a.StartTime); c != 0 {
			return c
		}
		return cmp.Compare(a.ExportID, b.ExportID)
	})
	return out
}
