// Command bench measures a ddbfleet export against the floors it cannot
// beat, on one table, in one run, on the local stack (scripts/bench.sh
// starts the stack, builds the binaries and calls this):
//
//	scan          raw parallel Scan of every segment, items discarded
//	scan+encode   the same Scan, each item written as DynamoDB JSON through
//	              gzip (the worker's library and level) into MD5, discarded
//	upload floor  scan+encode, the gzip stream (in 128 KiB writes, as the
//	              worker's) also going out as one streamed multipart upload
//	              per segment (s3 manager, 8 MiB parts, 2 in flight) to the
//	              same S3 server, the next page read while the last is
//	              encoded and uploaded
//	export        bin/coordinator export with N real bin/worker processes,
//	              from the export command to COMPLETED in the control table
//
// In latency mode (BENCH_DDB_PROXY, set by bench.sh from BENCH_LATENCY=1
// or BENCH_DDB_LATENCY) every DynamoDB call of the floors, the coordinator
// and the workers goes through scripts/latencyproxy, which adds AWS-like
// round trips, and the floors are the upload floor read page by page
// (sequential) and pipelined, so the table shows how much of the latency
// the export hides.
//
// All runs use the same segment count and Scan page size, so the ratios
// say what the fleet's own machinery (queue, leases, uploads, checkpoints)
// costs on top of reading, encoding and uploading. Under the table it
// prints the export's tail, read from the workers' JSON logs: how long the
// fleet ran after the last segment was claimed, how much of the fleet's
// slot time went unused, and how long each segment took. Any error exits
// non-zero.
package main

import (
	"bufio"
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net/http"
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
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
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
	bin, out, table, bucket, shape, floorGzip                                    string
	idle                                                                         time.Duration
	// Latency mode: DynamoDB calls of everything measured go through the
	// proxy at ddbProxy, which adds scanLatency/otherLatency (for the
	// header; the proxy applies them).
	ddbProxy, scanLatency, otherLatency string
	// parquet adds a Parquet export of the same table to the runs, to
	// compare with the JSON gzip export (BENCH_PARQUET=1).
	parquet bool
}

func (c config) latencyMode() bool { return c.ddbProxy != "" }

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
	// ~1.1 KB rows whose body is random letters and digits: gzip shrinks
	// them only ~1.5×, so compression is cheap per input byte and the
	// upload path (MD5, SDK checksums, buffers, S3) carries ~2.5× the
	// bytes of a bench-shaped export.
	"random": {randomItem, 200000, "random letters and digits, ~1.1 KB, gzips ~1.5×"},
}

// alnum is randomItem's alphabet: 36 symbols, ~5.2 bits of entropy each,
// which caps what gzip can do at ~1.5× whatever its level.
const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"

// randomItem is the i-th row of the random shape, seeded by i so every
// run fills the same table (worker/internal/segexport's HTTP benchmark
// profiles the same rows).
func randomItem(i int) map[string]types.AttributeValue {
	r := rand.New(rand.NewPCG(uint64(i), 0x5eed))
	body := make([]byte, 950)
	for j := range body {
		body[j] = alnum[r.IntN(len(alnum))]
	}
	return map[string]types.AttributeValue{
		"pk":    &types.AttributeValueMemberS{Value: fmt.Sprintf("customer#%08d", i)},
		"sk":    &types.AttributeValueMemberN{Value: strconv.Itoa(i % 7)},
		"total": &types.AttributeValueMemberN{Value: fmt.Sprintf("%d.%02d", r.IntN(10000), r.IntN(100))},
		"body":  &types.AttributeValueMemberS{Value: string(body)},
	}
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
	c.ddbProxy = os.Getenv("BENCH_DDB_PROXY")
	// Latency mode's defaults are the shape where hiding a Scan's round
	// trip matters: few segments per slot, so nothing else fills the wait.
	defSegments, defWorkers, defItems := 8, 2, 0
	if c.ddbProxy != "" {
		defSegments, defWorkers, defItems = 2, 1, 120000
	}
	flag.StringVar(&c.shape, "shape", envStr("BENCH_SHAPE", "bench"), "item shape: bench (~1 KB order records), demo (make demo's sample items), skew (bench, 1 in 4 items under one partition key) or random (~1.1 KB of random letters and digits, gzips ~1.5×) [BENCH_SHAPE]")
	flag.IntVar(&c.items, "items", envInt("BENCH_ITEMS", defItems), "items in the table (default 100000 for -shape demo, 120000 in latency mode, else 200000) [BENCH_ITEMS]")
	flag.IntVar(&c.segments, "segments", envInt("BENCH_SEGMENTS", defSegments), "parallel scan segments for every run (default 8; 2 in latency mode) [BENCH_SEGMENTS]")
	flag.IntVar(&c.workers, "workers", envInt("BENCH_WORKERS", defWorkers), "worker processes for the export (default 2; 1 in latency mode) [BENCH_WORKERS]")
	flag.IntVar(&c.pageSize, "page-size", envInt("BENCH_PAGE_SIZE", 1000), "Scan Limit for every run [BENCH_PAGE_SIZE]")
	flag.IntVar(&c.concurrency, "worker-concurrency", envInt("BENCH_WORKER_CONCURRENCY", 0), "segments per worker process (default 4, the worker's; 2 in latency mode) [BENCH_WORKER_CONCURRENCY]")
	flag.IntVar(&c.fillParallel, "fill-parallel", envInt("BENCH_FILL_PARALLEL", 16), "batch writes in flight while filling [BENCH_FILL_PARALLEL]")
	flag.IntVar(&c.level, "compression-level", envInt("BENCH_COMPRESSION_LEVEL", 5), "gzip level for the floors and the workers (the worker's default is 5)")
	flag.StringVar(&c.floorGzip, "floor-gzip", envStr("BENCH_FLOOR_GZIP", "klauspost"), "the upload floor's gzip: klauspost (the worker's library, at -compression-level) or stdlib (compress/gzip at its default level, what a naive tool would use) [BENCH_FLOOR_GZIP]")
	flag.BoolVar(&c.parquet, "parquet", os.Getenv("BENCH_PARQUET") == "1", "also export the table as Parquet (snappy) and compare it with the JSON gzip export [BENCH_PARQUET=1]")
	flag.IntVar(&c.rounds, "rounds", envInt("BENCH_ROUNDS", 3), "rounds of all runs; the table shows each run's best round [BENCH_ROUNDS]")
	flag.StringVar(&c.bin, "bin", "bin", "folder holding coordinator and worker")
	flag.StringVar(&c.out, "out", os.Getenv("BENCH_OUT"), "also write the results table (markdown) to this file [BENCH_OUT]")
	flag.DurationVar(&c.idle, "exit-when-idle", 3*time.Second, "workers' --exit-when-idle")
	flag.Parse()
	sh, ok := shapes[c.shape]
	if !ok {
		die("shape %q: want bench, demo, skew or random", c.shape)
	}
	if c.items == 0 {
		c.items = sh.defaultItems
	}
	if c.concurrency == 0 {
		c.concurrency = 4
		if c.latencyMode() {
			c.concurrency = 2
		}
	}
	if c.floorGzip != "klauspost" && c.floorGzip != "stdlib" {
		die("floor-gzip %q: want klauspost or stdlib", c.floorGzip)
	}
	if c.items < 1 || c.segments < 1 || c.workers < 1 || c.pageSize < 1 || c.rounds < 1 {
		die("items, segments, workers, page-size and rounds must be positive")
	}
	if c.latencyMode() {
		c.scanLatency, c.otherLatency = envStr("BENCH_DDB_LATENCY", "30ms"), envStr("BENCH_DDB_OTHER_LATENCY", "3ms")
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
	short      string // column header of the ratio to this row, for floors
	wall       time.Duration
	items      int64
	cpu        time.Duration // CPU of the measured process(es)
	serverCPU  time.Duration // CPU of the local stack's servers meanwhile
	peakRSSKiB []int64       // per worker process; nil for in-process runs
	rawBytes   int64         // DynamoDB JSON bytes encoded (floors that encode)
	// Latency mode: Scans the proxy forwarded during the run and the
	// server's summed time for them.
	scans, scanServerNs int64
	note                string
	tail                *tailStats // export runs only
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

	// The floors scan through the latency proxy in latency mode, like
	// the fleet; filling and the bench's own polling go direct.
	scanDDB := ddb
	var fleetEnv []string
	if c.latencyMode() {
		scanDDB = dynamodb.New(ddb.Options(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(c.ddbProxy) })
		fleetEnv = []string{"AWS_ENDPOINT_URL_DYNAMODB=" + c.ddbProxy}
		logf("latency mode: DynamoDB calls of the floors and the fleet go through %s (Scan +%s, other calls +%s)", c.ddbProxy, c.scanLatency, c.otherLatency)
	}

	// DynamoDB Local is a JVM: the first scan of a table runs partly
	// interpreted and would flatter whatever is measured second.
	logf("warm-up scan (not reported)")
	if _, err := parallelScan(ctx, ddb, c, nil); err != nil {
		return err
	}

	floorName := "upload floor"
	if c.floorGzip == "stdlib" {
		floorName = "upload floor (stdlib gzip)"
	}
	var compressed atomic.Int64
	var raw atomic.Int64
	up := uploader{s3: clients.S3, bucket: c.bucket, level: c.level, stdlib: c.floorGzip == "stdlib", compressed: &compressed, raw: &raw}
	type runSpec struct {
		name, short, what string
		measure           func(round int) (row, error)
	}
	inProcess := func(name, short string, f func() (int64, error)) func(int) (row, error) {
		return func(int) (row, error) {
			compressed.Store(0)
			raw.Store(0)
			r, err := measureInProcess(name, f)
			r.short = short
			if compressed.Load() > 0 {
				r.note = fmt.Sprintf("%.1f MB gzip", float64(compressed.Load())/1e6)
				r.rawBytes = raw.Load()
			}
			return r, err
		}
	}
	uploadFloor := func(name, short string, ahead int) runSpec {
		return runSpec{name, short, fmt.Sprintf("scan + DynamoDB JSON + gzip + MD5 + one streamed multipart upload per segment, %s", map[bool]string{true: "the next page read while the last is written", false: "page by page"}[ahead > 0]),
			func(round int) (row, error) {
				prefix := fmt.Sprintf("floor/%d/%s/", round, short)
				defer up.clean(ctx, prefix)
				return inProcess(name, short, func() (int64, error) { return up.floor(ctx, scanDDB, c, prefix, ahead) })(round)
			}}
	}
	runs := []runSpec{
		{"scan (floor)", "scan", fmt.Sprintf("raw parallel scan, %d segments, Limit %d", c.segments, c.pageSize),
			inProcess("scan (floor)", "scan", func() (int64, error) { return parallelScan(ctx, scanDDB, c, nil) })},
	}
	if c.latencyMode() {
		runs = append(runs, uploadFloor(floorName+", sequential", "sequential floor", 0), uploadFloor(floorName+", pipelined", "pipelined floor", 1))
	} else {
		runs = append(runs,
			runSpec{"scan+encode (floor)", "scan+encode", fmt.Sprintf("scan + DynamoDB JSON + gzip level %d + MD5 to io.Discard", c.level),
				inProcess("scan+encode (floor)", "scan+encode", func() (int64, error) {
					return parallelScan(ctx, scanDDB, c, newEncodeSink(c.level, &compressed, &raw))
				})},
			uploadFloor(floorName, "upload floor", 1))
	}
	var peak []int64
	var tails []tailStats
	runs = append(runs, runSpec{fmt.Sprintf("export (%d workers)", c.workers), "", fmt.Sprintf("export: %d worker process(es) × concurrency %d", c.workers, c.concurrency),
		func(int) (row, error) {
			exp, err := measureExport(ctx, ddb, c, fleetEnv)
			if err != nil {
				return row{}, err
			}
			tails = append(tails, *exp.tail)
			// Peak memory is a worst case: keep each worker slot's highest.
			for j, k := range exp.peakRSSKiB {
				if j == len(peak) {
					peak = append(peak, 0)
				}
				peak[j] = max(peak[j], k)
			}
			return exp, nil
		}})
	if c.parquet {
		runs = append(runs, runSpec{fmt.Sprintf("export, parquet (%d workers)", c.workers), "", "the same export with --format parquet (snappy)",
			func(int) (row, error) {
				r, err := measureExport(ctx, ddb, c, fleetEnv, "--format", "parquet")
				r.name = fmt.Sprintf("export, parquet (%d workers)", c.workers)
				return r, err
			}})
	}

	// Rounds interleave the runs, and the table keeps each run's best
	// round: on a shared machine other load only ever adds time, so the
	// minimum is the estimate least polluted by it (every round's time is
	// listed too, and the ratio of medians is printed beside the best's).
	best := make([]row, len(runs))
	walls := make([][]time.Duration, len(runs))
	for round := 1; round <= c.rounds; round++ {
		for i, rs := range runs {
			logf("round %d/%d — %s", round, c.rounds, rs.what)
			before := proxyStats(ctx, c.ddbProxy)
			r, err := rs.measure(round)
			if err != nil {
				return err
			}
			if c.latencyMode() {
				// What the server itself took per Scan during this run, behind
				// the added latency: on DynamoDB Local it depends on load and
				// on how deep in its segment a page is, and explains rows.
				after := proxyStats(ctx, c.ddbProxy)
				r.scans, r.scanServerNs = after.Scans-before.Scans, after.ScanServerNs-before.ScanServerNs
				if r.scans > 0 {
					r.note = strings.TrimPrefix(fmt.Sprintf("%s; %d Scans, server %.0f ms each", r.note, r.scans, float64(r.scanServerNs)/float64(r.scans)/1e6), "; ")
				}
			}
			if r.items != int64(c.items) {
				return fmt.Errorf("%s saw %d items, the table has %d", r.name, r.items, c.items)
			}
			walls[i] = append(walls[i], r.wall)
			if round == 1 || r.wall < best[i].wall {
				best[i] = r
			}
		}
	}
	rows := best
	rows[len(rows)-1].peakRSSKiB = peak
	for i := range rows {
		if c.rounds > 1 {
			ws := make([]string, len(walls[i]))
			for j, w := range walls[i] {
				ws[j] = fmt.Sprintf("%.2f", w.Seconds())
			}
			rows[i].note = strings.TrimPrefix(rows[i].note+"; rounds "+strings.Join(ws, " "), "; ")
		}
	}

	table := render(c, tableBytes, rows) + renderTarget(c, rows, walls) + renderTails(c, tails)
	fmt.Print(table)
	if c.out != "" {
		if err := os.WriteFile(c.out, []byte(table), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// latencyStats mirrors scripts/latencyproxy's Stats.
type latencyStats struct {
	Scans        int64 `json:"scans"`
	ScanServerNs int64 `json:"scanServerNs"`
}

// proxyStats reads the latency proxy's counters; zero without a proxy or
// if it does not answer (the note is then left out).
func proxyStats(ctx context.Context, proxy string) latencyStats {
	var st latencyStats
	if proxy == "" {
		return st
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(proxy, "/")+"/__latencyproxy/stats", nil)
	if err != nil {
		return st
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		logf("latency proxy stats: %v", err)
		return st
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		logf("latency proxy stats: %v", err)
	}
	return st
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
	gz   io.WriteCloser
	sum  hash.Hash
	out  *countWriter
	raw  int64
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

func newEncodeSink(level int, compressed, raw *atomic.Int64) func() pageSink {
	return func() pageSink {
		s := &encodeSink{sum: md5.New()}
		s.out = &countWriter{w: s.sum}
		s.gz, _ = gzip.NewWriterLevel(s.out, level)
		return &totalingSink{encodeSink: s, compressed: compressed, raw: raw}
	}
}

func (s *encodeSink) page(items []map[string]types.AttributeValue) error {
	for _, it := range items {
		var err error
		if s.line, err = ddbjson.AppendItemLine(s.line[:0], it); err != nil {
			return err
		}
		s.raw += int64(len(s.line))
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
	compressed, raw *atomic.Int64
}

func (t *totalingSink) finish() error {
	err := t.encodeSink.finish()
	t.compressed.Add(t.out.n)
	t.raw.Add(t.encodeSink.raw)
	return err
}

// uploader runs the upload floor: what any exporter has to do at least —
// scan, encode, gzip, MD5, and one streamed multipart upload per segment
// to the same S3 server, with the s3 manager at the worker's defaults
// (8 MiB parts, 2 in flight). No queue, no leases, no part files, no
// commits: the export's ratio to it is the fleet's own cost.
type uploader struct {
	s3              *s3.Client
	bucket          string
	level           int
	stdlib          bool // compress/gzip at its default level instead of the worker's klauspost at level
	compressed, raw *atomic.Int64
}

func (u uploader) newGzip(w io.Writer) (io.WriteCloser, error) {
	if u.stdlib {
		return stdgzip.NewWriterLevel(w, stdgzip.DefaultCompression)
	}
	return gzip.NewWriterLevel(w, u.level)
}

// floor exports every segment to prefix/seg-NNN.json.gz. ahead > 0 reads
// that many pages ahead of the page being encoded (as the worker does);
// 0 reads the next page only once the last one is written.
func (u uploader) floor(ctx context.Context, ddb *dynamodb.Client, c config, prefix string, ahead int) (int64, error) {
	//lint:ignore SA1019 the worker's objstore uses manager too (see its package doc); the floor must upload the same way.
	up := manager.NewUploader(u.s3, func(m *manager.Uploader) { m.PartSize = 8 << 20; m.Concurrency = 2 })
	var total atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for seg := 0; seg < c.segments; seg++ {
		g.Go(func() error {
			key := fmt.Sprintf("%sseg-%03d.json.gz", prefix, seg)
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			go func() {
				//lint:ignore SA1019 as above.
				_, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: &u.bucket, Key: &key, Body: pr})
				pr.CloseWithError(err)
				done <- err
			}()
			// The worker's order: bytes to the upload pipe, then to MD5,
			// in 128 KiB writes as the worker makes them. Unbuffered, each
			// ~250-byte gzip write is a hand-off to the uploader's
			// goroutine: on the random shape that made this floor take
			// 1.45× the export (docs/performance.md), which a floor must
			// not.
			sum := md5.New()
			bw := bufio.NewWriterSize(&teeWriter{w: pw, h: sum}, 128<<10)
			out := &countWriter{w: bw}
			gz, err := u.newGzip(out)
			if err != nil {
				return err
			}
			var line []byte
			var raw int64
			n, err := scanSegment(ctx, ddb, c, seg, ahead, func(items []map[string]types.AttributeValue) error {
				for _, it := range items {
					var err error
					if line, err = ddbjson.AppendItemLine(line[:0], it); err != nil {
						return err
					}
					raw += int64(len(line))
					if _, err := gz.Write(line); err != nil {
						return err
					}
				}
				return nil
			})
			if err == nil {
				err = gz.Close()
			}
			if err == nil {
				err = bw.Flush()
			}
			pw.CloseWithError(err)
			if upErr := <-done; err == nil && upErr != nil {
				err = fmt.Errorf("upload s3://%s/%s: %w", u.bucket, key, upErr)
			}
			_ = sum.Sum(nil)
			total.Add(n)
			u.compressed.Add(out.n)
			u.raw.Add(raw)
			return err
		})
	}
	err := g.Wait()
	return total.Load(), err
}

// clean deletes a floor's objects (not timed), so rounds do not fill the
// S3 server's disk.
func (u uploader) clean(ctx context.Context, prefix string) {
	p := s3.NewListObjectsV2Paginator(u.s3, &s3.ListObjectsV2Input{Bucket: &u.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			logf("could not list %s for cleanup: %v", prefix, err)
			return
		}
		for _, o := range page.Contents {
			if _, err := u.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &u.bucket, Key: o.Key}); err != nil {
				logf("could not delete %s: %v", aws.ToString(o.Key), err)
			}
		}
	}
}

type teeWriter struct {
	w io.Writer
	h hash.Hash
}

func (t *teeWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	t.h.Write(p[:n])
	return n, err
}

// scanSegment scans one segment with the worker's request, handing each
// page to each in order. ahead > 0 runs the Scans on their own goroutine,
// up to ahead pages before the page each is working on.
func scanSegment(ctx context.Context, ddb *dynamodb.Client, c config, seg, ahead int, each func([]map[string]types.AttributeValue) error) (int64, error) {
	scan := func(start map[string]types.AttributeValue) (*dynamodb.ScanOutput, error) {
		out, err := ddb.Scan(ctx, &dynamodb.ScanInput{
			TableName: &c.table, Segment: aws.Int32(int32(seg)), TotalSegments: aws.Int32(int32(c.segments)),
			ExclusiveStartKey: start, Limit: aws.Int32(int32(c.pageSize)),
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return nil, fmt.Errorf("scan segment %d/%d: %w", seg, c.segments, err)
		}
		return out, nil
	}
	var n int64
	if ahead <= 0 {
		var start map[string]types.AttributeValue
		for {
			out, err := scan(start)
			if err != nil {
				return n, err
			}
			n += int64(len(out.Items))
			if err := each(out.Items); err != nil {
				return n, err
			}
			if start = out.LastEvaluatedKey; len(start) == 0 {
				return n, nil
			}
		}
	}
	type fetched struct {
		out *dynamodb.ScanOutput
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan fetched, ahead-1)
	go func() {
		defer close(pages)
		var start map[string]types.AttributeValue
		for {
			out, err := scan(start)
			select {
			case pages <- fetched{out, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(out.LastEvaluatedKey) == 0 {
				return
			}
			start = out.LastEvaluatedKey
		}
	}()
	for f := range pages {
		if f.err != nil {
			return n, f.err
		}
		n += int64(len(f.out.Items))
		if err := each(f.out.Items); err != nil {
			return n, err
		}
	}
	return n, ctx.Err()
}

// parallelScan scans every segment at once, as the worker does, with the
// same request the worker sends (Limit, ConsumedCapacity TOTAL), each
// page read after the last one was handed to the sink.
func parallelScan(ctx context.Context, ddb *dynamodb.Client, c config, sink func() pageSink) (int64, error) {
	var total atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for seg := 0; seg < c.segments; seg++ {
		g.Go(func() error {
			var s pageSink
			if sink != nil {
				s = sink()
			}
			n, err := scanSegment(ctx, ddb, c, seg, 0, func(items []map[string]types.AttributeValue) error {
				if s == nil {
					return nil
				}
				if err := s.page(items); err != nil {
					return fmt.Errorf("encode segment %d: %w", seg, err)
				}
				return nil
			})
			total.Add(n)
			if err != nil {
				return err
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
// export completed. The end is the finalizing worker's "export completed"
// log event (millisecond clock of the same machine), not the moment a
// poll noticed: polling fast enough to be precise (every 20 ms, as this
// bench once did) is 50 strongly consistent reads a second, and DynamoDB
// Local serves requests one at a time, so the polls slowed the export's
// own Scans (200+ instead of ~120 ms a page in latency mode) and no
// floor's. The control table is read every 500 ms only to notice the end.
func measureExport(ctx context.Context, ddb *dynamodb.Client, c config, env []string, exportArgs ...string) (row, error) {
	coord, worker := filepath.Join(c.bin, "coordinator"), filepath.Join(c.bin, "worker")
	fleetEnv := append(os.Environ(), env...)
	initCmd := exec.CommandContext(ctx, coord, "init")
	initCmd.Env = fleetEnv
	if out, err := initCmd.CombinedOutput(); err != nil {
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
		p.cmd.Env = fleetEnv
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
	cmd.Args = append(cmd.Args, exportArgs...)
	cmd.Stdout, cmd.Stderr = &coordOut, &coordOut
	cmd.Env = fleetEnv
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
		time.Sleep(500 * time.Millisecond)
	}
	logs := make([]string, len(procs))
	for i, p := range procs {
		logs[i] = p.log
	}
	end, err := completedAt(logs, id)
	if err != nil {
		// Every export completes in some worker's finalizer, which logs it
		// at info; the control table's endTime is a few S3 writes early.
		logf("%v; using the control table's endTime", err)
		end = exp.EndTime
	}
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
	t, err := measureTail(logs, id, start, end, c.workers*c.concurrency)
	if err != nil {
		return row{}, fmt.Errorf("tail of export %s: %w\n%s", id, err, tail())
	}
	r.tail = &t
	return r, nil
}

// completedAt finds the "export completed" event of exportID in the
// workers' JSON logs.
func completedAt(logs []string, exportID string) (time.Time, error) {
	for _, name := range logs {
		f, err := os.Open(name)
		if err != nil {
			return time.Time{}, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if !bytes.Contains(line, []byte(`"export completed"`)) {
				continue
			}
			var ev struct {
				Time   string `json:"time"`
				Export string `json:"exportId"`
			}
			if json.Unmarshal(line, &ev) != nil || ev.Export != exportID {
				continue
			}
			f.Close()
			return time.Parse(logTimeLayout, ev.Time)
		}
		f.Close()
	}
	return time.Time{}, fmt.Errorf(`no "export completed" event for %s in the worker logs`, exportID)
}

// logTimeLayout is zap's ISO 8601 "time" in the workers' JSON logs.
const logTimeLayout = "2006-01-02T15:04:05.000Z0700"

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
			at, err := time.Parse(logTimeLayout, ev.Time)
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
	fmt.Fprintf(&b, "\nddbfleet bench: %d items (%s; %.1f MB), %d segments, Scan Limit %d, gzip level %d, %d worker(s) × concurrency %d, %d CPUs, %s\n",
		c.items, shapes[c.shape].describe, float64(tableBytes)/1e6, c.segments, c.pageSize, c.level, c.workers, c.concurrency, runtime.NumCPU(), host)
	if c.latencyMode() {
		fmt.Fprintf(&b, "latency mode: every DynamoDB call of the floors and the fleet through scripts/latencyproxy, Scan +%s, other calls +%s\n", c.scanLatency, c.otherLatency)
	}
	// The reference columns are the floors' (named by short): not the
	// export's, nor the Parquet export's that may follow it.
	var floors []row
	for _, r := range rows {
		if r.short != "" {
			floors = append(floors, r)
		}
	}
	fmt.Fprint(&b, "\n| run | wall s | items/s | MB/s |")
	for _, f := range floors {
		fmt.Fprintf(&b, " × %s |", f.short)
	}
	fmt.Fprintln(&b, " peak RSS/worker MiB | CPU s/1k items | CPU s/GB | servers' CPU s | notes |")
	fmt.Fprint(&b, "|---|---:|---:|---:|")
	fmt.Fprint(&b, strings.Repeat("---:|", len(floors)))
	fmt.Fprintln(&b, "---:|---:|---:|---:|---|")
	gb := float64(tableBytes) / 1e9
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
		fmt.Fprintf(&b, "| %s | %.2f | %.0f | %.1f |", r.name, w, float64(r.items)/w, float64(tableBytes)/1e6/w)
		for _, f := range floors {
			fmt.Fprintf(&b, " %.2f |", w/f.wall.Seconds())
		}
		fmt.Fprintf(&b, " %s | %.3f | %.1f | %.1f | %s |\n", rss, r.cpu.Seconds()/float64(r.items)*1000, r.cpu.Seconds()/gb, r.serverCPU.Seconds(), r.note)
	}
	fmt.Fprintln(&b, "\nMB/s is table bytes (DescribeTable TableSizeBytes) per second. CPU is the measuring process for the floors and the sum of all worker processes (whole life, including idle polling) for the export; CPU s/GB divides it by the table's TableSizeBytes.")
	exp := rows[len(rows)-1]
	var raw int64
	for _, f := range floors {
		raw = max(raw, f.rawBytes)
	}
	fmt.Fprintf(&b, "\nWorker CPU: %.1f s per GB of table (%.3f GB TableSizeBytes)", exp.cpu.Seconds()/gb, gb)
	if raw > 0 {
		fmt.Fprintf(&b, ", %.1f s per GB of DynamoDB JSON (%.3f GB encoded)", exp.cpu.Seconds()/(float64(raw)/1e9), float64(raw)/1e9)
	}
	fmt.Fprintf(&b, "; %.1f CPU-hours per TB of table.\n", exp.cpu.Seconds()/gb*1000/3600)
	return b.String()
}

// renderTarget compares the export with the floor its target is set
// against: the upload floor, or in latency mode the pipelined one (the
// sequential floor shows what reading page by page would cost).
func renderTarget(c config, rows []row, walls [][]time.Duration) string {
	exp := slices.IndexFunc(rows, func(r row) bool { return strings.HasPrefix(r.name, "export (") })
	ref := exp - 1
	medians := func(i int) time.Duration {
		ws := slices.Clone(walls[i])
		slices.Sort(ws)
		return median(ws)
	}
	best := rows[exp].wall.Seconds() / rows[ref].wall.Seconds()
	med := medians(exp).Seconds() / medians(ref).Seconds()
	verdict := "met"
	if best > 1.15 {
		verdict = "NOT met"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nTarget: export ≤ 1.15 × %s — %s: %.2f best against best, %.2f median against median (%.2f s / %.2f s).\n",
		rows[ref].name, verdict, best, med, medians(exp).Seconds(), medians(ref).Seconds())
	if pq := exp + 1; c.parquet && pq < len(rows) {
		peak := func(r row) float64 { return float64(slices.Max(append([]int64{0}, r.peakRSSKiB...))) / 1024 }
		bestPQ := rows[pq].wall.Seconds() / rows[exp].wall.Seconds()
		medPQ := medians(pq).Seconds() / medians(exp).Seconds()
		verdict := "met"
		if bestPQ > 1.3 || peak(rows[pq]) > 256 {
			verdict = "NOT met"
		}
		fmt.Fprintf(&b, "Target: Parquet export ≤ 1.3 × the JSON gzip export and ≤ 256 MiB per worker — %s: %.2f best against best, %.2f median against median; peak RSS per worker %.0f MiB (JSON %.0f MiB).\n",
			verdict, bestPQ, medPQ, peak(rows[pq]), peak(rows[exp]))
	}
	if c.latencyMode() {
		seq, pipe := rows[1].wall.Seconds(), rows[ref].wall.Seconds()
		// Pipelining can only save the shorter of a page's Scan and its
		// encode + upload; when the server's own time per page dwarfs
		// both the added latency and the encoding, there is little to
		// hide and the difference between the floors is noise.
		if seq-pipe > 0.05*seq {
			fmt.Fprintf(&b, "Pipelining saves %.0f %% of the sequential floor's time; the export is at %.2f × sequential.\n", 100*(seq-pipe)/seq, rows[exp].wall.Seconds()/seq)
		} else {
			fmt.Fprintf(&b, "The pipelined floor is not clearly faster than the sequential one (%.2f s / %.2f s): the server's own time per Scan (notes) dominates the added latency and the encoding, and it varies from run to run.\n", pipe, seq)
		}
		// Wall time per page of a segment, less what the server itself took
		// per Scan: what each run adds on top of the server (the proxy's
		// latency, encoding and uploading not hidden behind it, the
		// fleet's own calls), comparable across runs whose server time
		// differed.
		fmt.Fprint(&b, "Per page of a segment, beyond the server's own Scan time:")
		for _, r := range rows {
			if r.scans == 0 {
				continue
			}
			pages := float64(r.scans) / float64(c.segments)
			fmt.Fprintf(&b, " %s %.0f ms;", r.name, (r.wall.Seconds()/pages-float64(r.scanServerNs)/float64(r.scans)/1e9)*1e3)
		}
		fmt.Fprintf(&b, " (+%s of it is the proxy's Scan latency).\n", c.scanLatency)
	}
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
