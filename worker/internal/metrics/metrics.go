// Package metrics owns the worker's CloudWatch metrics. An Emitter counts
// what the worker does for each export (items, bytes, read units, throttles,
// segments, lease losses, part-commit latency) and, once per interval,
// prints one line per export that was active in CloudWatch Embedded Metric
// Format (EMF). On ECS the awslogs driver ships those lines to the worker's
// log group and CloudWatch Logs turns them into metrics: no PutMetricData
// calls, no extra IAM permission, no agent, and nothing on the hot path but
// a mutex and an addition.
//
// The metric names, units and dimensions are listed in docs/metrics.md; the
// CloudFormation dashboard and the no-progress alarm read them by name.
package metrics

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of every ddbfleet metric.
const Namespace = "ddbfleet"

// DefaultInterval is how often an Emitter prints: CloudWatch's standard
// resolution is one minute, so printing more often would only cost log
// ingestion.
const DefaultInterval = time.Minute

// DimensionExportID is the one dimension; each metric is also published
// with no dimension at all, the fleet-wide total, which is what the
// no-progress alarm sums without knowing export ids in advance.
const DimensionExportID = "ExportId"

// Metric names, exactly as the dashboard, the alarm and docs/metrics.md
// spell them.
const (
	ItemsExported     = "ItemsExported"
	BytesExported     = "BytesExported"
	ReadUnitsConsumed = "ReadUnitsConsumed"
	ReadCapacityCap   = "ReadCapacityCap"
	Throttles         = "Throttles"
	SegmentsClaimed   = "SegmentsClaimed"
	SegmentsDone      = "SegmentsDone"
	SegmentsFailed    = "SegmentsFailed"
	LeaseLosses       = "LeaseLosses"
	PartCommitLatency = "PartCommitLatency"
)

// maxValues is EMF's limit on the values of one numeric-array metric
// target; more commit latencies than that in one interval go out on
// continuation lines (see Flush).
const maxValues = 100

// maxDimensionValue is CloudWatch's limit on a dimension value's length.
const maxDimensionValue = 1024

// EnabledByDefault reports whether metrics should be on when no flag says
// otherwise: inside an ECS task (the agent sets
// ECS_CONTAINER_METADATA_URI_V4), where stdout goes to CloudWatch Logs and
// EMF lines become metrics. Elsewhere, on a laptop or in tests, they would
// only be noise in the output.
func EnabledByDefault(env func(string) string) bool {
	return env("ECS_CONTAINER_METADATA_URI_V4") != ""
}

// counters is one export's activity within the current interval.
type counters struct {
	active    bool // anything happened this interval
	items     int64
	bytes     int64
	readUnits float64
	throttles int64
	claimed   int64
	done      int64
	failed    int64
	leaseLost int64
	latencies []float64 // part-commit latencies, milliseconds
	cap       float64   // last read-capacity cap seen; kept across intervals
}

// Emitter accumulates counters per export and prints them as EMF lines.
// It is safe for concurrent use. A nil *Emitter is valid and does nothing,
// so call sites need no "if metrics enabled" of their own.
type Emitter struct {
	out      io.Writer
	now      func() time.Time
	interval time.Duration
	// tick makes the interval timer replaceable in tests, which then
	// drive intervals by sending instead of waiting.
	tick func(time.Duration) (<-chan time.Time, func())

	mu      sync.Mutex
	exports map[string]*counters

	startOnce sync.Once
	stopOnce  sync.Once
	stop      chan struct{}
	done      chan struct{}
	started   bool
}

// New returns an Emitter printing to out every interval (DefaultInterval
// when zero) with timestamps from clock (time.Now when nil). Nothing is
// printed until Start, except by Flush and Stop.
func New(out io.Writer, clock func() time.Time, interval time.Duration) *Emitter {
	if clock == nil {
		clock = time.Now
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Emitter{
		out: out, now: clock, interval: interval,
		tick: func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		},
		exports: map[string]*counters{},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// Start prints every interval until ctx ends or Stop is called. It returns
// at once; calling it again does nothing.
func (e *Emitter) Start(ctx context.Context) error {
	if e == nil {
		return nil
	}
	e.startOnce.Do(func() {
		e.mu.Lock()
		e.started = true
		e.mu.Unlock()
		c, stopTick := e.tick(e.interval)
		go func() {
			defer close(e.done)
			defer stopTick()
			for {
				select {
				case <-c:
					_ = e.Flush()
				case <-ctx.Done():
					_ = e.Flush()
					return
				case <-e.stop:
					_ = e.Flush()
					return
				}
			}
		}()
	})
	return nil
}

// Stop ends the loop and prints what the last, partial interval counted,
// so a draining worker's final minute is not lost. Safe to call more than
// once, and without Start.
func (e *Emitter) Stop() {
	if e == nil {
		return
	}
	e.stopOnce.Do(func() {
		e.mu.Lock()
		started := e.started
		e.mu.Unlock()
		close(e.stop)
		if started {
			<-e.done
			return
		}
		_ = e.Flush()
	})
}

// Items counts n items read from the source and written into part files
// (committed or not yet).
func (e *Emitter) Items(exportID string, n int64) {
	e.add(exportID, func(c *counters) { c.items += n })
}

// Bytes counts n bytes of committed part files (compressed, as stored).
func (e *Emitter) Bytes(exportID string, n int64) {
	e.add(exportID, func(c *counters) { c.bytes += n })
}

// ReadUnits counts read capacity units a Scan page consumed.
func (e *Emitter) ReadUnits(exportID string, units float64) {
	if math.IsNaN(units) || math.IsInf(units, 0) {
		return // JSON has no NaN; one bad page must not spoil the line
	}
	e.add(exportID, func(c *counters) { c.readUnits += units })
}

// Cap records the export's fleet-wide read-capacity cap (RCU/s); 0 means
// uncapped and is not published. It is a gauge: the last value is
// published with every later active interval of the export.
func (e *Emitter) Cap(exportID string, rcu float64) {
	if math.IsNaN(rcu) || math.IsInf(rcu, 0) {
		return
	}
	e.add(exportID, func(c *counters) { c.cap = rcu })
}

// Throttle counts one throttled Scan request.
func (e *Emitter) Throttle(exportID string) {
	e.add(exportID, func(c *counters) { c.throttles++ })
}

// SegmentClaimed counts one segment claimed by this worker.
func (e *Emitter) SegmentClaimed(exportID string) {
	e.add(exportID, func(c *counters) { c.claimed++ })
}

// SegmentDone counts one segment completed by this worker.
func (e *Emitter) SegmentDone(exportID string) {
	e.add(exportID, func(c *counters) { c.done++ })
}

// SegmentFailed counts one segment attempt that failed (for good or to be
// retried).
func (e *Emitter) SegmentFailed(exportID string) {
	e.add(exportID, func(c *counters) { c.failed++ })
}

// LeaseLost counts one segment whose lease another attempt took over.
func (e *Emitter) LeaseLost(exportID string) {
	e.add(exportID, func(c *counters) { c.leaseLost++ })
}

// CommitLatency records how long one part commit took (upload close plus
// the control-table write).
func (e *Emitter) CommitLatency(exportID string, d time.Duration) {
	// Microsecond precision is plenty for a latency and keeps lines short.
	ms := math.Round(float64(d)/float64(time.Microsecond)) / 1000
	e.add(exportID, func(c *counters) { c.latencies = append(c.latencies, ms) })
}

func (e *Emitter) add(exportID string, f func(*counters)) {
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.exports[exportID]
	if c == nil {
		c = &counters{}
		e.exports[exportID] = c
	}
	c.active = true
	f(c)
}

// Flush prints one line per export active since the last flush and resets
// the counters. An export with no activity prints nothing and is
// forgotten (its cap too; the worker records the cap again when it claims
// its next segment). More than 100 commit latencies go out on
// continuation lines carrying only PartCommitLatency, because EMF caps a
// value array at 100 entries. Each line is one Write.
func (e *Emitter) Flush() error {
	if e == nil {
		return nil
	}
	ts := e.now().UnixMilli()
	e.mu.Lock()
	type snap struct {
		id string
		c  counters
	}
	var snaps []snap
	for id, c := range e.exports {
		if !c.active {
			delete(e.exports, id)
			continue
		}
		snaps = append(snaps, snap{id, *c})
		*c = counters{cap: c.cap}
	}
	e.mu.Unlock()
	slices.SortFunc(snaps, func(a, b snap) int { return cmp.Compare(a.id, b.id) })

	var firstErr error
	for _, s := range snaps {
		for _, line := range encode(ts, dimensionValue(s.id), s.c) {
			if _, err := e.out.Write(line); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	return firstErr
}

// metricDef is one entry of a directive's Metrics array.
type metricDef struct{ name, unit string }

// counterMetrics are published with both dimension sets, in this order.
var counterMetrics = []metricDef{
	{ItemsExported, "Count"},
	{BytesExported, "Bytes"},
	{ReadUnitsConsumed, "Count"},
	{Throttles, "Count"},
	{SegmentsClaimed, "Count"},
	{SegmentsDone, "Count"},
	{SegmentsFailed, "Count"},
	{LeaseLosses, "Count"},
}

// encode renders one export's interval as EMF lines. Members are written
// in a fixed order (the golden test depends on it; EMF does not).
//
// Two directives: the counters and latency go out per export and
// fleet-wide (dimension sets ["ExportId"] and []), while the cap goes out
// per export only — every worker of an export reports the same cap, so a
// fleet-wide sum of it would be a meaningless number on a graph.
func encode(ts int64, id string, c counters) [][]byte {
	lat := c.latencies
	first := lat[:min(len(lat), maxValues)]
	lat = lat[len(first):]

	defs := slices.Clone(counterMetrics)
	if len(first) > 0 {
		defs = append(defs, metricDef{PartCommitLatency, "Milliseconds"})
	}
	var gauge []metricDef
	if c.cap > 0 {
		gauge = []metricDef{{ReadCapacityCap, "Count/Second"}}
	}

	var b bytes.Buffer
	header(&b, ts, defs, gauge)
	member(&b, DimensionExportID, quote(id))
	vals := map[string]string{
		ItemsExported:     strconv.FormatInt(c.items, 10),
		BytesExported:     strconv.FormatInt(c.bytes, 10),
		ReadUnitsConsumed: number(c.readUnits),
		Throttles:         strconv.FormatInt(c.throttles, 10),
		SegmentsClaimed:   strconv.FormatInt(c.claimed, 10),
		SegmentsDone:      strconv.FormatInt(c.done, 10),
		SegmentsFailed:    strconv.FormatInt(c.failed, 10),
		LeaseLosses:       strconv.FormatInt(c.leaseLost, 10),
	}
	for _, d := range counterMetrics {
		member(&b, d.name, vals[d.name])
	}
	if len(first) > 0 {
		member(&b, PartCommitLatency, numbers(first))
	}
	if c.cap > 0 {
		member(&b, ReadCapacityCap, number(c.cap))
	}
	b.WriteString("}\n")
	lines := [][]byte{b.Bytes()}

	for len(lat) > 0 {
		chunk := lat[:min(len(lat), maxValues)]
		lat = lat[len(chunk):]
		var cb bytes.Buffer
		header(&cb, ts, []metricDef{{PartCommitLatency, "Milliseconds"}}, nil)
		member(&cb, DimensionExportID, quote(id))
		member(&cb, PartCommitLatency, numbers(chunk))
		cb.WriteString("}\n")
		lines = append(lines, cb.Bytes())
	}
	return lines
}

// header writes the opening brace and the _aws metadata member.
func header(b *bytes.Buffer, ts int64, both, perExport []metricDef) {
	b.WriteString(`{"_aws":{"Timestamp":`)
	b.WriteString(strconv.FormatInt(ts, 10))
	b.WriteString(`,"CloudWatchMetrics":[`)
	directive(b, `[["`+DimensionExportID+`"],[]]`, both)
	if len(perExport) > 0 {
		b.WriteByte(',')
		directive(b, `[["`+DimensionExportID+`"]]`, perExport)
	}
	b.WriteString(`]}`)
}

func directive(b *bytes.Buffer, dims string, defs []metricDef) {
	b.WriteString(`{"Namespace":"` + Namespace + `","Dimensions":` + dims + `,"Metrics":[`)
	for i, d := range defs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"Name":"` + d.name + `","Unit":"` + d.unit + `"}`)
	}
	b.WriteString(`]}`)
}

func member(b *bytes.Buffer, name, value string) {
	b.WriteString(`,"` + name + `":` + value)
}

func quote(s string) string {
	js, _ := json.Marshal(s) // a string always marshals
	return string(js)
}

func number(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func numbers(fs []float64) string {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(number(f))
	}
	b.WriteByte(']')
	return b.String()
}

// dimensionValue makes an export id a valid CloudWatch dimension value
// (printable ASCII, at least one non-space, at most 1024 characters). Ids
// are chosen by operators and the CLI does not restrict them; a line with
// an invalid dimension would be rejected whole, losing the fleet-wide
// totals with it.
func dimensionValue(id string) string {
	out := make([]byte, 0, min(len(id), maxDimensionValue))
	blank := true
	for _, r := range id {
		if len(out) == maxDimensionValue {
			break
		}
		if r < 0x20 || r > 0x7e {
			r = '_'
		}
		if r != ' ' {
			blank = false
		}
		out = append(out, byte(r))
	}
	if blank {
		return "unknown"
	}
	return string(out)
}
