// Package fleet owns the harness of the end-to-end tests (e2e/): it runs
// the real coordinator and worker binaries against the real local servers
// that `make test` starts (scripts/stack.sh), each test in a fleet of its
// own — control table, queue and bucket — and checks exports independently
// of the product's own code: its own S3 reads, its own MD5, the standard
// library's gzip and JSON, and its own conversion of scanned items. It
// also names things uniquely on those shared servers (Unique) for the
// seams' conformance suites.
//
// The tests that use it carry the build tag e2e; `make test` runs them.
package fleet

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/internal/testkit/sampledata"
	"github.com/ddbfleet/ddbfleet/shared/awsclient"
)

// Stack is the running local stack, read from the environment scripts/stack.sh
// writes. Without it the tests fail: they never skip.
type Stack struct {
	Clients *awsclient.Clients
	BinDir  string
}

// RequireStack returns the stack or fails the test with how to get one.
// It reads the environment afresh on each call (that is cheap; no server
// is contacted), so no test depends on what an earlier one left behind.
func RequireStack(t testing.TB) *Stack {
	t.Helper()
	s, err := loadStack()
	require.NoError(t, err)
	return s
}

func loadStack() (*Stack, error) {
	for _, v := range []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_S3"} {
		if os.Getenv(v) == "" {
			return nil, fmt.Errorf("%s is not set: run these tests with `make test`, which starts the local stack", v)
		}
	}
	bin := os.Getenv("DDBFLEET_BIN_DIR")
	if bin == "" {
		return nil, fmt.Errorf("DDBFLEET_BIN_DIR is not set: run these tests with `make test`, which builds the binaries")
	}
	for _, b := range []string{"coordinator", "worker"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return nil, fmt.Errorf("binary missing: %w", err)
		}
	}
	c, err := awsclient.Load(context.Background(), awsclient.Options{S3ForcePathStyle: true})
	if err != nil {
		return nil, err
	}
	return &Stack{Clients: c, BinDir: bin}, nil
}

// Fleet is one isolated deployment on the shared stack: its own control
// table, queue and bucket, so tests do not see each other's work.
type Fleet struct {
	*Stack
	t            testing.TB
	Name         string
	ControlTable string
	Queue        string
	Bucket       string
	Dir          string // logs
	ExtraEnv     []string
	workers      atomic.Int64 // numbers the workers' log files
	coordinators atomic.Int64 // numbers the background coordinators' log files
}

// NewFleet creates and initialises a fleet (coordinator init).
func NewFleet(t testing.TB, initArgs ...string) *Fleet {
	t.Helper()
	s := RequireStack(t)
	name := Unique("ft")
	f := &Fleet{
		Stack: s, t: t, Name: name,
		ControlTable: name + "-control", Queue: name + "-q", Bucket: name + "-bucket",
		Dir: t.TempDir(),
	}
	_, err := s.Clients.S3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &f.Bucket})
	require.NoError(t, err)
	res := f.Coordinator(append([]string{"init"}, initArgs...)...)
	require.Equal(t, 0, res.Code, "coordinator init: %s", res.Stderr)
	return f
}

// Env is the environment the binaries run with.
func (f *Fleet) Env() []string {
	env := append(os.Environ(),
		"DDBFLEET_CONTROL_TABLE="+f.ControlTable,
		"DDBFLEET_QUEUE_NAME="+f.Queue,
		"DDBFLEET_S3_FORCE_PATH_STYLE=true",
		"DDBFLEET_LOG_FORMAT=json",
	)
	return append(env, f.ExtraEnv...)
}

// Result is a finished command.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// Coordinator runs the coordinator binary to completion.
func (f *Fleet) Coordinator(args ...string) Result {
	f.t.Helper()
	return f.run("coordinator", args...)
}

func (f *Fleet) run(bin string, args ...string) Result {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(f.BinDir, bin), args...)
	cmd.Env = f.Env()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(f.t, err)
	}
	return Result{Code: code, Stdout: out.String(), Stderr: errb.String()}
}

// Proc is a background process of one of the binaries: a worker, or a
// long-running coordinator command such as serve.
type Proc struct {
	Cmd        *exec.Cmd
	LogPath    string // stderr: the JSON log lines
	StdoutPath string // stdout: results, and a worker's EMF metric lines
	done       chan struct{}
	err        error
}

// StartWorker starts `worker run args...` in the background; its stderr
// goes to a log file in the fleet's folder, its stdout to another. The
// process is killed at the end of the test if still running.
func (f *Fleet) StartWorker(args ...string) *Proc {
	f.t.Helper()
	return f.StartWorkerEnv(nil, args...)
}

// StartWorkerEnv is StartWorker with extra environment variables for this
// worker only (fault injection, debug logs).
func (f *Fleet) StartWorkerEnv(env []string, args ...string) *Proc {
	f.t.Helper()
	n := f.workers.Add(1)
	return f.start("worker", fmt.Sprintf("worker-%d", n), env, append([]string{"run"}, args...))
}

// StartCoordinator starts a long-running coordinator command (`serve`, an
// `export --wait` to be signalled) in the background, logged like a
// worker. It is killed at the end of the test if still running.
func (f *Fleet) StartCoordinator(args ...string) *Proc {
	f.t.Helper()
	return f.StartCoordinatorEnv(nil, args...)
}

// StartCoordinatorEnv is StartCoordinator with extra environment variables
// for this process only (a CallCounter's endpoints).
func (f *Fleet) StartCoordinatorEnv(env []string, args ...string) *Proc {
	f.t.Helper()
	n := f.coordinators.Add(1)
	return f.start("coordinator", fmt.Sprintf("coordinator-%d", n), env, args)
}

func (f *Fleet) start(bin, name string, env, args []string) *Proc {
	f.t.Helper()
	logPath := filepath.Join(f.Dir, name+".log")
	outPath := filepath.Join(f.Dir, name+".stdout")
	logf, err := os.Create(logPath)
	require.NoError(f.t, err)
	outf, err := os.Create(outPath)
	require.NoError(f.t, err)
	cmd := exec.Command(filepath.Join(f.BinDir, bin), args...)
	cmd.Env = append(f.Env(), env...)
	cmd.Stdout, cmd.Stderr = outf, logf
	require.NoError(f.t, cmd.Start())
	p := &Proc{Cmd: cmd, LogPath: logPath, StdoutPath: outPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		outf.Close()
		close(p.done)
	}()
	f.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		if f.t.Failed() {
			b, _ := os.ReadFile(logPath)
			f.t.Logf("---- %s (last 3000 bytes) ----\n%s", logPath, tail(b, 3000))
		}
	})
	return p
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) error { return p.Cmd.Process.Signal(sig) }

// Wait waits up to d for the process to exit and returns its exit code
// (-1 if killed by a signal); it fails the test on timeout.
func (p *Proc) Wait(t testing.TB, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("%s %d did not exit within %s", filepath.Base(p.Cmd.Path), p.Cmd.Process.Pid, d)
	}
	return p.Cmd.ProcessState.ExitCode()
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Log returns the process's log (stderr) so far.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// Stdout returns what the process printed on stdout so far.
func (p *Proc) Stdout() string {
	b, _ := os.ReadFile(p.StdoutPath)
	return string(b)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// CreateTable creates and fills a sample table of n items.
func (f *Fleet) CreateTable(n int) string {
	f.t.Helper()
	return f.CreateTableNamed("src", n)
}

// CreateTableNamed is CreateTable for a fleet that needs more than one
// table: each suffix names another (the fleet's name, a dash, suffix).
func (f *Fleet) CreateTableNamed(suffix string, n int) string {
	f.t.Helper()
	name := f.Name + "-" + suffix
	ctx := context.Background()
	require.NoError(f.t, sampledata.CreateTable(ctx, f.Clients.DynamoDB, name))
	require.NoError(f.t, sampledata.Fill(ctx, f.Clients.DynamoDB, name, n, 100, 8, nil))
	return name
}

// ScanTable reads the whole table directly and returns canonical JSON of
// each item keyed by its primary key.
func (f *Fleet) ScanTable(table string) map[string]string {
	f.t.Helper()
	out := map[string]string{}
	var start map[string]types.AttributeValue
	for {
		page, err := f.Clients.DynamoDB.Scan(context.Background(), &dynamodb.ScanInput{
			TableName: &table, ExclusiveStartKey: start, ConsistentRead: aws.Bool(true), Limit: aws.Int32(1000),
		})
		require.NoError(f.t, err)
		for _, item := range page.Items {
			canon := canonical(f.t, toJSON(item))
			out[keyOf(f.t, canon)] = canon
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out
		}
		start = page.LastEvaluatedKey
	}
}

// toJSON converts attribute values to DynamoDB JSON shapes with the
// standard library only, independent of the product's encoder.
func toJSON(item map[string]types.AttributeValue) map[string]any {
	m := make(map[string]any, len(item))
	for k, v := range item {
		m[k] = valueJSON(v)
	}
	return m
}

func valueJSON(av types.AttributeValue) any {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return map[string]any{"S": v.Value}
	case *types.AttributeValueMemberN:
		return map[string]any{"N": v.Value}
	case *types.AttributeValueMemberB:
		return map[string]any{"B": base64.StdEncoding.EncodeToString(v.Value)}
	case *types.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": v.Value}
	case *types.AttributeValueMemberNULL:
		return map[string]any{"NULL": v.Value}
	case *types.AttributeValueMemberSS:
		return map[string]any{"SS": v.Value}
	case *types.AttributeValueMemberNS:
		return map[string]any{"NS": v.Value}
	case *types.AttributeValueMemberBS:
		bs := make([]string, len(v.Value))
		for i, b := range v.Value {
			bs[i] = base64.StdEncoding.EncodeToString(b)
		}
		return map[string]any{"BS": bs}
	case *types.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			l[i] = valueJSON(e)
		}
		return map[string]any{"L": l}
	case *types.AttributeValueMemberM:
		return map[string]any{"M": toJSON(v.Value)}
	}
	panic(fmt.Sprintf("unexpected attribute value %T", av))
}

// canonical re-marshals a JSON value with sorted keys.
func canonical(t testing.TB, v any) string {
	if b, ok := v.([]byte); ok {
		var x any
		require.NoError(t, json.Unmarshal(b, &x))
		v = x
	}
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// keyOf is an item's primary key as "pk|sk", read from DynamoDB JSON
// ({"pk":{"S":"a"}}) or from a plain JSON object ({"pk":"a"}) alike, so
// both forms of one item have the same key.
func keyOf(t testing.TB, canon string) string {
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(canon), &m))
	part := func(v any) any {
		if typed, ok := v.(map[string]any); ok && len(typed) == 1 {
			for _, inner := range typed {
				return inner
			}
		}
		return v
	}
	return fmt.Sprint(part(m["pk"]), "|", part(m["sk"]))
}

// KeyOf is keyOf for tests that build expected items themselves.
func KeyOf(t testing.TB, canon string) string { return keyOf(t, canon) }

// Canonical re-marshals JSON text with sorted keys, the form Export.Items
// holds.
func Canonical(t testing.TB, text []byte) string { return canonical(t, text) }

// Export is what an export left in S3, read independently.
type Export struct {
	Root     string
	Summary  map[string]any
	Files    []map[string]any
	Items    map[string]string // key → canonical item
	Lines    int
	DataKeys []string // every object under data/
}

// Layout is what an export's data files should look like, in the words of
// the contract (the harness does not use the product's names for them).
type Layout struct {
	Format      string // "dynamodb-json" (default) or "json"
	Compression string // "gzip" (default), "zstd" or "none"
}

func (l Layout) outputFormat() string {
	if l.Format == "json" {
		return "JSON"
	}
	return "DYNAMODB_JSON"
}

func (l Layout) suffix() string {
	switch l.Compression {
	case "zstd":
		return ".json.zst"
	case "none":
		return ".json"
	}
	return ".json.gz"
}

// ReadExport reads an export's manifests and every data file from S3,
// checking as it goes: checksum files, each file's MD5 and item count, no
// duplicate item, nothing under data/ the manifest does not name. The
// files must be gzip'd DynamoDB JSON, the default.
func (f *Fleet) ReadExport(root string) *Export {
	f.t.Helper()
	return f.ReadExportAs(root, Layout{})
}

// ReadExportAs is ReadExport for an export of another format or
// compression: names, outputFormat and lines must all match layout.
// Items holds DynamoDB JSON items for dynamodb-json and plain objects for
// json, each canonical.
func (f *Fleet) ReadExportAs(root string, layout Layout) *Export {
	f.t.Helper()
	t := f.t
	ctx := context.Background()
	get := func(key string) []byte {
		out, err := f.Clients.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: &f.Bucket, Key: aws.String(key)})
		require.NoError(t, err, key)
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		require.NoError(t, err)
		return b
	}
	hexMD5 := func(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }
	e := &Export{Root: root, Items: map[string]string{}}

	started := get(root + "_started")
	require.Empty(t, started, "_started is empty")
	files := get(root + "manifest-files.json")
	require.Equal(t, hexMD5(files), strings.TrimSpace(string(get(root+"manifest-files.checksum"))), "manifest-files.checksum")
	summary := get(root + "manifest-summary.json")
	require.Equal(t, hexMD5(summary), strings.TrimSpace(string(get(root+"manifest-summary.checksum"))), "manifest-summary.checksum")
	require.NoError(t, json.Unmarshal(summary, &e.Summary))
	for _, k := range []string{"version", "exportArn", "startTime", "endTime", "tableArn", "tableId", "exportTime", "s3Bucket", "s3Prefix", "s3SseAlgorithm", "s3SseKmsKeyId", "manifestFilesS3Key", "billedSizeBytes", "itemCount", "outputFormat"} {
		require.Contains(t, e.Summary, k, "manifest-summary.json field")
	}
	require.Equal(t, "2020-06-30", e.Summary["version"])
	require.Equal(t, layout.outputFormat(), e.Summary["outputFormat"])
	require.Equal(t, root+"manifest-files.json", e.Summary["manifestFilesS3Key"])
	require.Equal(t, f.Bucket, e.Summary["s3Bucket"])

	listed := map[string]bool{}
	var sum int
	for _, line := range bytes.Split(bytes.TrimSpace(files), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var mf map[string]any
		require.NoError(t, json.Unmarshal(line, &mf), "manifest-files.json line")
		e.Files = append(e.Files, mf)
		key := mf["dataFileS3Key"].(string)
		require.True(t, strings.HasPrefix(key, root+"data/"), key)
		require.True(t, strings.HasSuffix(key, layout.suffix()), key)
		require.False(t, listed[key], "listed twice: %s", key)
		listed[key] = true
		body := get(key)
		sumMD5 := md5.Sum(body)
		require.Equal(t, base64.StdEncoding.EncodeToString(sumMD5[:]), mf["md5Checksum"], "md5Checksum of %s", key)
		require.NotEmpty(t, mf["etag"], key)
		n := f.readDataFile(key, body, e, layout)
		require.EqualValues(t, mf["itemCount"], n, "itemCount of %s", key)
		sum += n
	}
	require.EqualValues(t, sum, e.Summary["itemCount"], "summary itemCount equals the sum of the files")
	e.Lines = sum

	p := s3.NewListObjectsV2Paginator(f.Clients.S3, &s3.ListObjectsV2Input{Bucket: &f.Bucket, Prefix: aws.String(root + "data/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		require.NoError(t, err)
		for _, o := range page.Contents {
			e.DataKeys = append(e.DataKeys, aws.ToString(o.Key))
			require.True(t, listed[aws.ToString(o.Key)], "orphan object under data/: %s", aws.ToString(o.Key))
		}
	}
	require.Len(t, e.DataKeys, len(listed), "every manifest file exists under data/")
	return e
}

func (f *Fleet) readDataFile(key string, body []byte, e *Export, layout Layout) int {
	t := f.t
	raw, err := decompress(layout.Compression, body)
	require.NoError(t, err, key)
	require.True(t, len(raw) == 0 || raw[len(raw)-1] == '\n', "%s ends with a newline", key)
	n := 0
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var item []byte
		if layout.Format == "json" {
			var obj map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(line, &obj), "line %d of %s is a JSON object", n+1, key)
			_, wrapped := obj["Item"]
			require.False(t, wrapped && len(obj) == 1, "json lines are not wrapped in Item")
			item = line
		} else {
			var wrapper map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(line, &wrapper), "line %d of %s", n+1, key)
			require.Len(t, wrapper, 1, "a data line holds only Item")
			var ok bool
			item, ok = wrapper["Item"]
			require.True(t, ok, "line has Item")
		}
		canon := canonical(t, item)
		k := keyOf(t, canon)
		_, dup := e.Items[k]
		require.False(t, dup, "item %s exported twice", k)
		e.Items[k] = canon
		n++
	}
	return n
}

// RequireSameItems fails unless the export holds exactly the table's items.
func RequireSameItems(t testing.TB, table map[string]string, e *Export) {
	t.Helper()
	require.Equal(t, len(table), len(e.Items), "item count: table vs export")
	for k, want := range table {
		got, ok := e.Items[k]
		require.True(t, ok, "item %s missing from export", k)
		require.Equal(t, want, got, "item %s differs", k)
	}
}

// StatusJSON runs `status --json` and decodes it.
func (f *Fleet) StatusJSON(exportID string, extra ...string) map[string]any {
	f.t.Helper()
	res := f.Coordinator(append([]string{"status", "--export-id", exportID, "--json"}, extra...)...)
	require.Equal(f.t, 0, res.Code, res.Stderr)
	var st map[string]any
	require.NoError(f.t, json.Unmarshal([]byte(res.Stdout), &st), res.Stdout)
	return st
}

// WaitState polls status until the export reaches want (or another
// terminal state, which fails the test), up to d.
func (f *Fleet) WaitState(exportID, want string, d time.Duration) map[string]any {
	f.t.Helper()
	deadline := time.Now().Add(d)
	for {
		st := f.StatusJSON(exportID)
		state := st["state"].(string)
		if state == want {
			return st
		}
		terminal := state == "COMPLETED" || state == "FAILED" || state == "CANCELLED"
		if terminal || time.Now().After(deadline) {
			f.t.Fatalf("export %s is %s, want %s (status %v)", exportID, state, want, st)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Worker runs the worker binary to completion (for bad-input checks).
func (f *Fleet) Worker(args ...string) Result {
	f.t.Helper()
	return f.run("worker", args...)
}

// QueueDepth is the work queue's visible plus in-flight message count.
func (f *Fleet) QueueDepth() int {
	f.t.Helper()
	ctx := context.Background()
	url, err := f.Clients.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &f.Queue})
	require.NoError(f.t, err)
	out, err := f.Clients.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: url.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	require.NoError(f.t, err)
	n := 0
	for _, v := range out.Attributes {
		var k int
		fmt.Sscan(v, &k)
		n += k
	}
	return n
}

// ControlRows counts the rows of the fleet's control table.
func (f *Fleet) ControlRows() int {
	f.t.Helper()
	out, err := f.Clients.DynamoDB.Scan(context.Background(), &dynamodb.ScanInput{TableName: &f.ControlTable, Select: "COUNT"})
	require.NoError(f.t, err)
	return int(out.Count)
}

// Events parses the process's JSON log lines whose msg is msg ("" for all).
func (p *Proc) Events(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(p.Log(), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) != nil {
			continue
		}
		if msg == "" || ev["msg"] == msg {
			out = append(out, ev)
		}
	}
	return out
}

// WaitEvent waits up to d for a log line with msg that match accepts (nil:
// any) and returns it; it fails the test on timeout.
func (p *Proc) WaitEvent(t testing.TB, msg string, d time.Duration, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, ev := range p.Events(msg) {
			if match == nil || match(ev) {
				return ev
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %d logged no %q within %s", filepath.Base(p.Cmd.Path), p.Cmd.Process.Pid, msg, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// SendRaw puts a message body straight on the fleet's work queue (tests
// duplicate deliveries with it).
func (f *Fleet) SendRaw(body string) {
	f.t.Helper()
	ctx := context.Background()
	url, err := f.Clients.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &f.Queue})
	require.NoError(f.t, err)
	_, err = f.Clients.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url.QueueUrl, MessageBody: &body})
	require.NoError(f.t, err)
}

// Background runs the coordinator without waiting; the returned channel
// yields its result.
func (f *Fleet) Background(args ...string) <-chan Result {
	ch := make(chan Result, 1)
	go func() { ch <- f.run("coordinator", args...) }()
	return ch
}
