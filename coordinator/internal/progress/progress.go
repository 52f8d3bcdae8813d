// Package progress owns what `coordinator export --wait` shows while an
// export runs: one live line on a terminal, a log line every interval
// otherwise (CI logs and CloudWatch do not render carriage returns).
package progress

import (
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"
)

// Snapshot is the export's progress at one moment.
type Snapshot struct {
	State          string
	SegmentsDone   int
	SegmentsFailed int
	SegmentsTotal  int
	Items          int64 // items read (committed, or in hand at the last sample)
	Bytes          int64 // compressed bytes of the finished segments
	EstimatedItems int64 // the table's approximate item count, 0 if unknown
}

// Reporter renders snapshots.
type Reporter struct {
	out      io.Writer
	tty      bool
	log      *zap.Logger
	interval time.Duration
	start    time.Time
	lastLog  time.Time
	wrote    bool
	now      func() time.Time
}

// New returns a Reporter writing to out (a terminal when tty) or logging.
func New(out io.Writer, tty bool, log *zap.Logger, interval time.Duration) *Reporter {
	return &Reporter{out: out, tty: tty, log: log, interval: interval, start: time.Now(), now: time.Now}
}

// Line renders s as the one-line summary.
func (r *Reporter) Line(s Snapshot) string {
	elapsed := r.now().Sub(r.start)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(s.Items) / elapsed.Seconds()
	}
	line := fmt.Sprintf("%s  segments %d/%d", s.State, s.SegmentsDone, s.SegmentsTotal)
	if s.SegmentsFailed > 0 {
		line += fmt.Sprintf(" (%d failed)", s.SegmentsFailed)
	}
	line += fmt.Sprintf("  items %d  %.1f MB  %.0f items/s  elapsed %s", s.Items, float64(s.Bytes)/1e6, rate, elapsed.Round(time.Second))
	if eta, ok := ETA(s, elapsed); ok && !terminal(s.State) {
		line += "  ETA " + eta.Round(time.Second).String()
	}
	return line
}

// ETA estimates the time left: from items when the table's size is known,
// else from finished segments.
func ETA(s Snapshot, elapsed time.Duration) (time.Duration, bool) {
	var frac float64
	switch {
	case s.EstimatedItems > 0 && s.Items > 0:
		frac = min(1, float64(s.Items)/float64(s.EstimatedItems))
	case s.SegmentsTotal > 0 && s.SegmentsDone > 0:
		frac = float64(s.SegmentsDone) / float64(s.SegmentsTotal)
	default:
		return 0, false
	}
	if frac >= 1 {
		return 0, true
	}
	return time.Duration(float64(elapsed) * (1 - frac) / frac), true
}

// Update shows s.
func (r *Reporter) Update(s Snapshot) {
	if r.tty {
		fmt.Fprintf(r.out, "\r\033[K%s", r.Line(s))
		r.wrote = true
		return
	}
	if now := r.now(); now.Sub(r.lastLog) >= r.interval {
		r.lastLog = now
		r.log.Info("progress", zap.String("state", s.State), zap.Int("segmentsDone", s.SegmentsDone),
			zap.Int("segmentsTotal", s.SegmentsTotal), zap.Int("segmentsFailed", s.SegmentsFailed),
			zap.Int64("items", s.Items), zap.Int64("bytes", s.Bytes), zap.String("summary", r.Line(s)))
	}
}

// Done ends the live line.
func (r *Reporter) Done(s Snapshot) {
	if r.tty {
		fmt.Fprintf(r.out, "\r\033[K%s\n", r.Line(s))
		return
	}
	r.log.Info("finished", zap.String("state", s.State), zap.Int64("items", s.Items), zap.String("summary", r.Line(s)))
}

func terminal(state string) bool {
	return state == "COMPLETED" || state == "FAILED" || state == "CANCELLED"
}
