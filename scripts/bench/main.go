// Command bench measures a ddbfleet export against the floors it cannot
// beat, on one table, in one run, on the local stack (scripts/bench.sh
// starts the stack, builds the binaries and calls this):
//
//	scan          raw parallel Scan of every segment, items discarded
//	scan+encode   the same Scan, each item written as DynamoDB JSON through
//	              gzip (the worker's library and level) into MD5, discarded
//	export        bin/coordinator export with N real bin/worker processes,
//	              from the export command to COMPLETED in the control table
//
// All three use the same segment count and Scan page size, so the ratios
// say what the fleet's own machinery (queue, leases, uploads, checkpoints)
// costs on top of reading and encoding. Under the table it prints the
// export's tail, read from the workers' JSON logs: how long the fleet ran
// after the last segment was claimed, how much of the fleet's slot time
// went unused, and how long each segment took. Any error exits non-zero.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/errgroup"

	"github.com/ddbfleet/ddbfleet/internal/testkit/sampledata"
	"github.com/ddbfleet/ddbfleet/shared/awsclient"
	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/ddbjson"
	"github.com/ddbfleet/ddbfleet/shared/export"
)

type config struct {
	items, segments, workers, pageSize, concurrency, fillParallel, level, rounds int
	bin, out, table, bucket, shape                                               string
	idle                                                                         time.Duration
}

// shapes are the item shapes a bench table can be filled with.
var shapes = map[string]struct {
	item         func(int) map[string]types.AttributeValue
	defaultItems int
	describe     string
}{
	// ~1 KB order records with word text that gzips ~4×, like real data.
	"bench": {sampledata.BenchItem, 200000, "sampledata.BenchItem, ~1 KB"},
	// What `make demo` exports: scripts/seed's default, Item with 200
	// bytes of one-letter padding (every DynamoDB type, gzips ~10×).
	"demo": {func(i int) map[string]types.AttributeValue { return sampledata.Item(i, 200) }, 100000, "sampledata.Item, payload 200 (make demo)"},
	// BenchItem, but every 4th item in one item collection: a parallel
	// Scan splits the partition-key hash space, so one partition key's
	// items all land in one segment, which is then far bigger than the rest.
	"skew": {skewItem, 200000, "sampledata.BenchItem, 1 in 4 under one partition key"},
}

func skewItem(i int) map[string]types.AttributeValue {
	it := sampledata.BenchItem(i)
	if i%4 == 0 {
		it["pk"] = &types.AttributeValueMemberS{Value: "customer#hot"}
		it["sk"] = &types.AttributeValueMemberN{Value: strconv.Itoa(i)}
	}
	return it
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			die("%s=%q: not an integer", name, v)
		}
		return n
	}
	return def
}

func envStr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func die(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: ERROR: "+format+"\n", a...)
	os.Exit(1)
}

func logf(format string, a ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...) }

func main() {
	var c config
	flag.StringVar(&c.shape, "shape", envStr("BENCH_SHAPE", "bench"), "item shape: bench (~1 KB order records), demo (make demo's sample items) or skew (bench, 1 in 4 items under one partition key) [BENCH_SHAPE]")
	flag.IntVar(&c.items, "items", envInt("BENCH_ITEMS", 0), "items in the table (default 100000 for -shape demo, else 200000) [BENCH_ITEMS]")
	flag.IntVar(&c.segments, "segments", envInt("BENCH_SEGMENTS", 8), "parallel scan segments for every run [BENCH_SEGMENTS]")
	flag.IntVar(&c.workers, "workers", envInt("BENCH_WORKERS", 2), "worker processes for the export [BENCH_WORKERS]")
	flag.IntVar(&c.pageSize, "page-size", envInt("BENCH_PAGE_SIZE", 1000), "Scan Limit for every run [BENCH_PAGE_SIZE]")
	flag.IntVar(&c.concurrency, "worker-concurrency", envInt("BENCH_WORKER_CONCURRENCY", 4), "segments per worker process (the worker's default is 4) [BENCH_WORKER_CONCURRENCY]")
	flag.IntVar(&c.fillParallel, "fill-parallel", envInt("BENCH_FILL_PARALLEL", 16), "batch writes in flight while filling [BENCH_FILL_PARALLEL]")
	flag.IntVar(&c.level, "compression-level", envInt("BENCH_COMPRESSION_LEVEL", 5), "gzip level for scan+encode and the workers (the worker's default is 5)")
	flag.IntVar(&c.rounds, "rounds", envInt("BENCH_ROUNDS", 3), "rounds of all three runs; the table shows each run's best round [BENCH_ROUNDS]")
	flag.StringVar(&c.bin, "bin", "bin", "folder holding coordinator and worker")
	flag.StringVar(&c.out, "out", os.Getenv("BENCH_OUT"), "also write the results table (markdown) to this file [BENCH_OUT]")
	flag.DurationVar(&c.idle, "exit-when-idle", 3*time.Second, "workers' --exit-when-idle")
	flag.Parse()
	sh, ok := shapes[c.shape]
	if !ok {
		die("shape %q: want bench, demo or skew", c.shape)
	}
	if c.items == 0 {
		c.items = sh.defaultItems
	}
	if c.items < 1 || c.segments < 1 || c.workers < 1 || c.pageSize < 1 || c.rounds < 1 {
		die("items, segments, workers, page-size and rounds must be positive")
	}
	c.table = fmt.Sprintf("bench-%d", c.items)
	if c.shape != "bench" {
		c.table = fmt.Sprintf("bench-%s-%d", c.shape, c.items)
	}
	c.bucket = "bench"
	if err := run(context.Background(), c); err != nil {
		die("%v", err)
	}
}

// row is one line of the results table.
type row struct {
	name       string
	wall       time.Duration
	items      int64
	cpu        time.Duration // CPU of the measured process(es)
	serverCPU  time.Duration // CPU of the local stack's servers meanwhile
	peakRSSKiB []int64       // per worker process; nil for in-process runs
	note       string
	tail       *tailStats // export runs only
}

func run(ctx context.Context, c config) error {
	clients, err := awsclient.Load(ctx, awsclient.Options{S3ForcePathStyle: true})
	if err != nil {
		return err
	}
	ddb := clients.DynamoDB
	if _, err := clients.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &c.bucket}); err != nil {
		if _, herr := clients.S3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &c.bucket}); herr != nil {
			return fmt.Errorf("create bucket %s: %w", c.bucket, err)
		}
	}
	if err := fill(ctx, ddb, c); err != nil {
		return err
	}
	desc, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &c.table})
	if err != nil {
		return fmt.Errorf("describe %s: %w", c.table, err)
	}
	tableBytes := aws.ToInt64(desc.Table.TableSizeBytes)
	logf("table %s: %d items, %.1f MB (DescribeTable)", c.table, aws.ToInt64(desc.Table.ItemCount), float64(tableBytes)/1e6)

	// DynamoDB Local is a JVM: the first scan of a table runs partly
	// interpreted and would flatter whatever is measured second.
	logf("warm-up scan (not reported)")
	if _, err := parallelScan(ctx, ddb, c, nil); err != nil {
		return err
	}

	// Rounds interleave the three runs, and the table keeps each run's
	// best round: on a shared machine other load only ever adds time, so
	// the minimum is the estimate least polluted by it (every round's time
	// is listed too).
	best := make([]row, 3)
	walls := make([][]string, 3)
	var compressed atomic.Int64
	var peak []int64
	var tails []tailStats
	for round := 1; round <= c.rounds; round++ {
		logf("round %d/%d — floor 1: raw parallel scan, %d segments, Limit %d", round, c.rounds, c.segments, c.pageSize)
		scan, err := measureInProcess("scan (floor)", func() (int64, error) { return parallelScan(ctx, ddb, c, nil) })
		if err != nil {
			return err
		}
		logf("round %d/%d — floor 2: scan + DynamoDB JSON + gzip level %d + MD5 to io.Discard", round, c.rounds, c.level)
		compressed.Store(0)
		enc, err := measureInProcess("scan+encode (floor)", func() (int64, error) {
			return parallelScan(ctx, ddb, c, newEncodeSink(c.level, &compressed))
		})
		if err != nil {
			return err
		}
		enc.note = fmt.Sprintf("%.1f MB gzip", float64(compressed.Load())/1e6)
		logf("round %d/%d — export: %d worker process(es) × concurrency %d", round, c.rounds, c.workers, c.concurrency)
		exp, err := measureExport(ctx, ddb, c)
		if err != nil {
			return err
		}
		if exp.items != int64(c.items) {
			return fmt.Errorf("export wrote %d items, the table has %d", exp.items, c.items)
		}
		tails = append(tails, *exp.tail)
		for i, r := range []row{scan, enc, exp} {
			if r.items != int64(c.items) {
				return fmt.Errorf("%s saw %d items, the table has %d", r.name, r.items, c.items)
			}
			walls[i] = append(walls[i], fmt.Sprintf("%.2f", r.wall.Seconds()))
			if round == 1 || r.wall < best[i].wall {
				best[i] = r
			}
		}
		// Peak memory is a worst case: keep each worker slot's highest.
		for j, k := range exp.peakRSSKiB {
			if j == len(peak) {
				peak = append(peak, 0)
			}
			peak[j] = max(peak[j], k)
		}
	}
	rows := best
	rows[2].peakRSSKiB = peak
	for i := range rows {
		if c.rounds > 1 {
			rows[i].note = strings.TrimPrefix(rows[i].note+"; rounds "+strings.Join(walls[i], " "), "; ")
		}
	}

	table := render(c, tableBytes, rows) + renderTails(c, tails)
	fmt.Print(table)
	if c.out != "" {
		if err := os.WriteFile(c.out, []byte(table), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// fill creates and fills the table unless a table of that name already
// holds the right count (a re-run against a stack that is still up).
func fill(ctx context.Context, ddb *dynamodb.Client, c config) error {
	if d, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &c.table}); err == nil {
		if aws.ToInt64(d.Table.ItemCount) == int64(c.items) {
			logf("table %s already filled; reusing it", c.table)
			return nil
		}
		return fmt.Errorf("table %s exists with %d items, want %d: use a fresh stack", c.table, aws.ToInt64(d.Table.ItemCount), c.items)
	}
	if err := sampledata.CreateTable(ctx, ddb, c.table); err != nil {
		return err
	}
	logf("filling %s with %d items (%d batch writes in flight)", c.table, c.items, c.fillParallel)
	start := time.Now()
	var progress io.Writer
	if fi, _ := os.Stderr.Stat(); fi != nil && fi.Mode()&os.ModeCharDevice != 0 {
		progress = os.Stderr
	}
	if err := sampledata.FillWith(ctx, ddb, c.table, c.items, c.fillParallel, shapes[c.shape].item, progress); err != nil {
		return err
	}
	el := time.Since(start)
	logf("filled in %s (%.0f items/s)", el.Round(time.Millisecond), float64(c.items)/el.Seconds())
	return nil
}

// pageSink consumes one segment's pages; finish flushes it.
type pageSink interface {
	page(items []map[string]types.AttributeValue) error
	finish() error
}

// encodeSink is the worker's hot path minus the network: the same encoder,
// the same gzip library and level, MD5 over the compressed bytes.
type encodeSink struct {
	line []byte
	gz   *gzip.Writer
	sum  hash.Hash
	out  *countWriter
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func newEncodeSink(level int, total *atomic.Int64) func() pageSink {
	return func() pageSink {
		s := &encodeSink{sum: md5.New()}
		s.out = &countWriter{w: s.sum}
		s.gz, _ = gzip.NewWriterLevel(s.out, level)
		return &totalingSink{encodeSink: s, total: total}
	}
}

func (s *encodeSink) page(items []map[string]types.AttributeValue) error {
	for _, it := range items {
		var err error
		if s.line, err = ddbjson.AppendItemLine(s.line[:0], it); err != nil {
			return err
		}
		if _, err := s.gz.Write(s.line); err != nil {
			return err
		}
	}
	return nil
}

func (s *encodeSink) finish() error {
	if err := s.gz.Close(); err != nil {
		return err
	}
	_ = s.sum.Sum(nil)
	return nil
}

type totalingSink struct {
	*encodeSink
	total *atomic.Int64
}

func (t *totalingSink) finish() error {
	err := t.encodeSink.finish()
	t.total.Add(t.out.n)
	return err
}

// parallelScan scans every segment at once, as the worker does, with the
// same request the worker sends (Limit, ConsumedCapacity TOTAL).
func parallelScan(ctx context.Context, ddb *dynamodb.Client, c config, sink func() pageSink) (int64, error) {
	var total atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for seg := 0; seg < c.segments; seg++ {
		g.Go(func() error {
			var s pageSink
			if sink != nil {
				s = sink()
			}
			var start map[string]types.AttributeValue
			for {
				out, err := ddb.Scan(ctx, &dynamodb.ScanInput{
					TableName: &c.table, Segment: aws.Int32(int32(seg)), TotalSegments: aws.Int32(int32(c.segments)),
					ExclusiveStartKey: start, Limit: aws.Int32(int32(c.pageSize)),
					ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
				})
				if err != nil {
					return fmt.Errorf("scan segment %d/%d: %w", seg, c.segments, err)
				}
				total.Add(int64(len(out.Items)))
				if s != nil {
					if err := s.page(out.Items); err != nil {
						return fmt.Errorf("encode segment %d: %w", seg, err)
					}
				}
				start = out.LastEvaluatedKey
				if len(start) == 0 {
					break
				}
			}
			if s != nil {
				return s.finish()
			}
			return nil
		})
	}
	err := g.Wait()
	return total.Load(), err
}

func measureInProcess(name string, f func() (int64, error)) (row, error) {
	cpu0, srv0 := selfCPU(), serverCPU()
	start := time.Now()
	n, err := f()
	wall := time.Since(start)
	if err != nil {
		return row{}, fmt.Errorf("%s: %w", name, err)
	}
	return row{name: name, wall: wall, items: n, cpu: selfCPU() - cpu0, serverCPU: serverCPU() - srv0}, nil
}

// measureExport runs the real fleet: workers first (a fleet is already up
// when an export starts), then `coordinator export`, timed until the
// control table says COMPLETED. Polling the control table every 20 ms
// rather than `export --wait` (1 s ticks) keeps the clock honest.
func measureExport(ctx context.Context, ddb *dynamodb.Client, c config) (row, error) {
	coord, worker := filepath.Join(c.bin, "coordinator"), filepath.Join(c.bin, "worker")
	if out, err := exec.CommandContext(ctx, coord, "init").CombinedOutput(); err != nil {
		return row{}, fmt.Errorf("coordinator init: %w\n%s", err, out)
	}
	logDir := filepath.Join(os.Getenv("DDBFLEET_STACK_DIR"), "logs")
	if os.Getenv("DDBFLEET_STACK_DIR") == "" {
		logDir = os.TempDir()
	}
	type proc struct {
		cmd  *exec.Cmd
		log  string
		done chan error
	}
	procs := make([]*proc, c.workers)
	for i := range procs {
		p := &proc{log: filepath.Join(logDir, fmt.Sprintf("bench-worker-%d.log", i)), done: make(chan error, 1)}
		f, err := os.Create(p.log)
		if err != nil {
			return row{}, err
		}
		// Info level: the tail is read from the "segment claimed" and
		// "segment done" events (a few lines per segment, nothing per page).
		p.cmd = exec.Command(worker, "run", "--exit-when-idle", c.idle.String(),
			"--concurrency", strconv.Itoa(c.concurrency), "--scan-page-size", strconv.Itoa(c.pageSize),
			"--compression-level", strconv.Itoa(c.level), "--log-level", "info", "--log-format", "json")
		p.cmd.Stdout, p.cmd.Stderr = f, f
		if err := p.cmd.Start(); err != nil {
			f.Close()
			return row{}, fmt.Errorf("start worker: %w", err)
		}
		go func() { p.done <- p.cmd.Wait(); f.Close() }()
		procs[i] = p
	}
	killAll := func() {
		for _, p := range procs {
			if p.cmd.ProcessState == nil {
				_ = p.cmd.Process.Kill()
			}
		}
	}
	tail := func() string {
		var b strings.Builder
		for _, p := range procs {
			data, _ := os.ReadFile(p.log)
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			fmt.Fprintf(&b, "--- %s (last lines)\n%s\n", p.log, strings.Join(lines[max(0, len(lines)-15):], "\n"))
		}
		return b.String()
	}

	store := controltable.NewDynamo(ddb, "ddbfleet-control", nil)
	id := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	srv0 := serverCPU()
	start := time.Now()
	var coordOut bytes.Buffer
	cmd := exec.CommandContext(ctx, coord, "export", "--table", c.table, "--bucket", c.bucket,
		"--segments", strconv.Itoa(c.segments), "--scan-page-size", strconv.Itoa(c.pageSize),
		"--export-id", id, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = &coordOut, &coordOut
	if err := cmd.Run(); err != nil {
		killAll()
		return row{}, fmt.Errorf("coordinator export: %w\n%s", err, coordOut.String())
	}
	deadline := time.Now().Add(30 * time.Minute)
	var exp *export.Export
	for {
		var err error
		exp, err = store.GetExport(ctx, id)
		if err != nil {
			killAll()
			return row{}, fmt.Errorf("read export %s: %w", id, err)
		}
		if exp.State.Terminal() {
			break
		}
		// A worker may leave before the end: with one oversized segment,
		// a worker whose slots ran dry goes idle and exits (exit-when-idle)
		// while another still holds it. Failing is a non-zero exit, or
		// nobody left to finish.
		running := 0
		for _, p := range procs {
			select {
			case err := <-p.done:
				p.done <- err
				if err != nil {
					killAll()
					return row{}, fmt.Errorf("worker exited before the export ended (%v)\n%s", err, tail())
				}
			default:
				running++
			}
		}
		if running == 0 {
			return row{}, fmt.Errorf("every worker exited before the export ended\n%s", tail())
		}
		if time.Now().After(deadline) {
			killAll()
			return row{}, fmt.Errorf("export %s still %s after 30 min\n%s", id, exp.State, tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	end := time.Now()
	wall := end.Sub(start)
	srv := serverCPU() - srv0
	if exp.State != export.Completed {
		killAll()
		return row{}, fmt.Errorf("export %s ended %s: %s\n%s", id, exp.State, exp.LastError, tail())
	}
	r := row{name: fmt.Sprintf("export (%d workers)", c.workers), wall: wall, items: exp.ItemCount, serverCPU: srv,
		note: fmt.Sprintf("%d parts, %.1f MB gzip", exp.Parts, float64(exp.Bytes)/1e6)}
	logf("export COMPLETED in %s; waiting for workers to go idle and exit", wall.Round(time.Millisecond))
	for _, p := range procs {
		select {
		case err := <-p.done:
			if err != nil {
				return row{}, fmt.Errorf("worker failed: %w\n%s", err, tail())
			}
		case <-time.After(c.idle + 60*time.Second):
			killAll()
			return row{}, errors.New("worker did not exit after going idle\n" + tail())
		}
		ru := p.cmd.ProcessState.SysUsage().(*syscall.Rusage)
		r.cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		r.peakRSSKiB = append(r.peakRSSKiB, ru.Maxrss) // KiB on Linux
	}
	logs := make([]string, len(procs))
	for i, p := range procs {
		logs[i] = p.log
	}
	t, err := measureTail(logs, id, start, end, c.workers*c.concurrency)
	if err != nil {
		return row{}, fmt.Errorf("tail of export %s: %w\n%s", id, err, tail())
	}
	r.tail = &t
	return r, nil
}

// tailStats is how an export's end used the fleet, from the workers' logs.
type tailStats struct {
	wall       time.Duration   // export command to COMPLETED (the table's wall)
	firstClaim time.Duration   // from start
	lastClaim  time.Duration   // from start: after it, a slot that frees has nothing to take
	lastDone   time.Duration   // from start: the last "segment done"
	tail       time.Duration   // lastClaim → COMPLETED
	idle       float64         // slot time not holding a segment ÷ (slots × wall)
	tailIdle   float64         // the same, within the tail only
	segs       []time.Duration // per segment attempt, claimed → done, sorted
	segItems   []int64         // items per finished segment, sorted
	handoffs   []time.Duration // a worker's "segment done" → its next claim, sorted
	attempts   int             // claims (more than segments: some were retried)
}

// measureTail reads the "segment claimed" / "segment done" events of one
// export from the workers' JSON logs (zap, ISO 8601 "time" to the
// millisecond). A slot is busy from a claim to that attempt's done; an
// attempt that never logged done (lost lease, failure) counts as busy to
// the end, the generous side.
func measureTail(logs []string, exportID string, start, end time.Time, slots int) (tailStats, error) {
	// A lease's attempt number is unique per segment across the fleet
	// ("segment done" does not name the worker).
	type key struct{ segment, attempt int }
	type event struct {
		Msg     string `json:"msg"`
		Time    string `json:"time"`
		Export  string `json:"exportId"`
		Segment int    `json:"segment"`
		Attempt int    `json:"attempt"`
		Items   int64  `json:"items"`
	}
	claimed := map[key]time.Time{}
	var t tailStats
	var busy [][2]time.Time // claim → done of each attempt
	var claims []time.Time
	var lastDone time.Time
	for _, name := range logs {
		f, err := os.Open(name)
		if err != nil {
			return t, err
		}
		// Handoffs: one log is one worker; a claim after a done in the same
		// log refilled the slot that done freed (oldest first). The gap is
		// deleting the message, settling, the queue receive and the claim.
		var freed []time.Time
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if !bytes.Contains(line, []byte(`"segment `)) {
				continue
			}
			var ev event
			if json.Unmarshal(line, &ev) != nil || ev.Export != exportID || (ev.Msg != "segment claimed" && ev.Msg != "segment done") {
				continue
			}
			at, err := time.Parse("2006-01-02T15:04:05.000Z0700", ev.Time)
			if err != nil {
				f.Close()
				return t, fmt.Errorf("%s: time %q: %w", name, ev.Time, err)
			}
			k := key{ev.Segment, ev.Attempt}
			if ev.Msg == "segment claimed" {
				claimed[k] = at
				claims = append(claims, at)
				if len(freed) > 0 {
					t.handoffs = append(t.handoffs, at.Sub(freed[0]))
					freed = freed[1:]
				}
				continue
			}
			freed = append(freed, at)
			c, ok := claimed[k]
			if !ok {
				continue
			}
			delete(claimed, k)
			busy = append(busy, [2]time.Time{c, at})
			t.segs = append(t.segs, at.Sub(c))
			t.segItems = append(t.segItems, ev.Items)
			if at.After(lastDone) {
				lastDone = at
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return t, fmt.Errorf("%s: %w", name, err)
		}
	}
	if len(t.segs) == 0 {
		return t, errors.New(`no "segment claimed"/"segment done" pairs in the worker logs`)
	}
	for _, c := range claimed {
		busy = append(busy, [2]time.Time{c, end})
	}
	slices.SortFunc(claims, func(a, b time.Time) int { return a.Compare(b) })
	first, last := claims[0], claims[len(claims)-1]
	t.attempts = len(claims)
	t.wall = end.Sub(start)
	t.firstClaim, t.lastClaim, t.lastDone = first.Sub(start), last.Sub(start), lastDone.Sub(start)
	t.tail = end.Sub(last)
	// overlap is how much of [from, to] the busy intervals cover, summed
	// over slots (each attempt holds one slot).
	overlap := func(from, to time.Time) time.Duration {
		var d time.Duration
		for _, iv := range busy {
			a, b := iv[0], iv[1]
			if a.Before(from) {
				a = from
			}
			if b.After(to) {
				b = to
			}
			if b.After(a) {
				d += b.Sub(a)
			}
		}
		return d
	}
	if t.wall > 0 {
		t.idle = 1 - float64(overlap(start, end))/(float64(slots)*float64(t.wall))
	}
	if t.tail > 0 {
		t.tailIdle = 1 - float64(overlap(last, end))/(float64(slots)*float64(t.tail))
	}
	slices.Sort(t.segs)
	slices.Sort(t.segItems)
	slices.Sort(t.handoffs)
	return t, nil
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU sums the CPU time of the stack's servers (DynamoDB Local,
// fauxqs, versitygw) from /proc: on a small machine they share the cores
// with what is measured, and their share explains most of the ratios.
func serverCPU() time.Duration {
	dir := os.Getenv("DDBFLEET_STACK_DIR")
	if dir == "" {
		return 0
	}
	var total time.Duration
	for _, name := range []string{"dynamodb", "sqs", "s3"} {
		pid, err := os.ReadFile(filepath.Join(dir, "pids", name+".pid"))
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/stat")
		if err != nil {
			continue
		}
		// Fields after the ")" that closes the command name: utime and
		// stime are the 12th and 13th, in clock ticks (100 Hz on Linux).
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return total
}

func render(c config, tableBytes int64, rows []row) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "\nddbfleet bench: %d items (%s; %.1f MB), %d segments, Scan Limit %d, gzip level %d, %d worker(s) × concurrency %d, %d CPUs, %s\n\n",
		c.items, shapes[c.shape].describe, float64(tableBytes)/1e6, c.segments, c.pageSize, c.level, c.workers, c.concurrency, runtime.NumCPU(), host)
	fmt.Fprintln(&b, "| run | wall s | items/s | MB/s | × scan | × scan+encode | peak RSS/worker MiB | CPU s/1k items | servers' CPU s | notes |")
	fmt.Fprintln(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	scan, enc := rows[0].wall.Seconds(), rows[1].wall.Seconds()
	for _, r := range rows {
		w := r.wall.Seconds()
		rss := "—"
		if len(r.peakRSSKiB) > 0 {
			parts := make([]string, len(r.peakRSSKiB))
			for i, k := range r.peakRSSKiB {
				parts[i] = fmt.Sprintf("%.0f", float64(k)/1024)
			}
			rss = strings.Join(parts, " / ")
		}
		fmt.Fprintf(&b, "| %s | %.2f | %.0f | %.1f | %.2f | %.2f | %s | %.3f | %.1f | %s |\n",
			r.name, w, float64(r.items)/w, float64(tableBytes)/1e6/w, w/scan, w/enc, rss,
			r.cpu.Seconds()/float64(r.items)*1000, r.serverCPU.Seconds(), r.note)
	}
	fmt.Fprintln(&b, "\nMB/s is table bytes (DescribeTable TableSizeBytes) per second. CPU is the measuring process for the floors and the sum of all worker processes (whole life, including idle polling) for the export.")
	return b.String()
}

// renderTails prints each export round's tail: the best round (the table's
// export row) is marked with *.
func renderTails(c config, tails []tailStats) string {
	var b strings.Builder
	slots := c.workers * c.concurrency
	fmt.Fprintf(&b, "\nExport tail (%d segments on %d slots = %d workers × %d; from the workers' \"segment claimed\"/\"segment done\" log events):\n\n", c.segments, slots, c.workers, c.concurrency)
	fmt.Fprintln(&b, "| round | wall s | first claim s | last claim s | tail s (last claim → COMPLETED) | tail ÷ wall | last done → COMPLETED s | fleet idle | idle in tail | segment s min / median / max | items/segment min / max | handoffs: n, s median / max | attempts |")
	fmt.Fprintln(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---:|")
	bestIdx := 0
	for i, t := range tails {
		if t.wall < tails[bestIdx].wall {
			bestIdx = i
		}
	}
	for i, t := range tails {
		mark := ""
		if i == bestIdx {
			mark = " *"
		}
		handoff := "0"
		if n := len(t.handoffs); n > 0 {
			handoff = fmt.Sprintf("%d, %.2f / %.2f", n, median(t.handoffs).Seconds(), t.handoffs[n-1].Seconds())
		}
		fmt.Fprintf(&b, "| %d%s | %.2f | %.2f | %.2f | %.2f | %.0f %% | %.2f | %.0f %% | %.0f %% | %.2f / %.2f / %.2f | %d / %d | %s | %d |\n",
			i+1, mark, t.wall.Seconds(), t.firstClaim.Seconds(), t.lastClaim.Seconds(), t.tail.Seconds(), 100*t.tail.Seconds()/t.wall.Seconds(),
			(t.wall - t.lastDone).Seconds(), 100*t.idle, 100*t.tailIdle,
			t.segs[0].Seconds(), median(t.segs).Seconds(), t.segs[len(t.segs)-1].Seconds(),
			t.segItems[0], t.segItems[len(t.segItems)-1], handoff, t.attempts)
	}
	fmt.Fprintln(&b, "\nFleet idle = slot time not holding a segment ÷ (slots × wall), over the whole export (start-up and finalisation included); idle in tail is the same from the last claim to COMPLETED; a handoff is a worker's \"segment done\" to its next claim (message delete, settle, queue receive, claim). * = the round in the table.")
	return b.String()
}

func median(sorted []time.Duration) time.Duration {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
