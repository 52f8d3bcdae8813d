package fleet

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Service is the AWS JSON-protocol API a CallCounter stands in front of:
// it says how a request names its operation and its table or queue, and
// what a response says about the items it read.
type Service string

// The services a CallCounter understands.
const (
	DynamoDB Service = "dynamodb" // X-Amz-Target DynamoDB_20120810.<Op>
	SQS      Service = "sqs"      // X-Amz-Target AmazonSQS.<Op> (fauxqs speaks the JSON protocol)
)

// CallKey is what a call is counted under.
type CallKey struct {
	Role     string // which of the test's processes made it: the endpoint it used (Endpoint(role))
	Op       string // the operation, e.g. UpdateItem, ReceiveMessage
	Resource string // the table (DynamoDB) or queue name (SQS); several joined by "+"; "" for none
}

// CallTally is what the calls under one key added up to.
type CallTally struct {
	Calls  int64 // requests
	Errors int64 // responses with a status of 400 or more (conditional failures, cancelled transactions, throttles)
	// Count and ScannedCount sum the fields of the same name of Query and
	// Scan responses: items returned, and items read before a filter —
	// the read cost of a call when the server reports no capacity.
	// For SQS ReceiveMessage, Count is the messages returned.
	Count, ScannedCount int64
	// Capacity sums ConsumedCapacity.CapacityUnits of the responses that
	// carry it (only calls that asked with ReturnConsumedCapacity).
	Capacity float64
}

func (t *CallTally) add(o CallTally) {
	t.Calls += o.Calls
	t.Errors += o.Errors
	t.Count += o.Count
	t.ScannedCount += o.ScannedCount
	t.Capacity += o.Capacity
}

// CallCounts is a copy of a CallCounter's tallies.
type CallCounts map[CallKey]CallTally

// Where sums the tallies whose key keep accepts (nil: all).
func (c CallCounts) Where(keep func(CallKey) bool) CallTally {
	var sum CallTally
	for k, v := range c {
		if keep == nil || keep(k) {
			sum.add(v)
		}
	}
	return sum
}

// ByOp sums the tallies of the keys keep accepts per operation.
func (c CallCounts) ByOp(keep func(CallKey) bool) map[string]CallTally {
	out := map[string]CallTally{}
	for k, v := range c {
		if keep == nil || keep(k) {
			t := out[k.Op]
			t.add(v)
			out[k.Op] = t
		}
	}
	return out
}

// Ops lists the operations of m in name order.
func Ops(m map[string]CallTally) []string {
	ops := make([]string, 0, len(m))
	for op := range m {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

// CallCounter is a counting reverse proxy (net/http/httputil) in front of
// one of the local servers, for one test: the binaries that test starts
// are pointed at it (AWS_ENDPOINT_URL_DYNAMODB or _SQS, see Env), so it
// sees exactly their calls and no other test's. Requests and responses
// pass unchanged, Host included, so signatures hold. Each role (the
// workers, the coordinator) gets a listener of its own, so the counts say
// who made the calls.
type CallCounter struct {
	t       testing.TB
	service Service
	proxy   *httputil.ReverseProxy

	mu        sync.Mutex
	endpoints map[string]string // role → base URL
	tallies   map[CallKey]*CallTally
	delay     func(CallKey, []byte) time.Duration
}

// NewCallCounter starts a counter in front of target (a base URL such as
// the stack's AWS_ENDPOINT_URL_DYNAMODB); it stops at the end of the test.
func NewCallCounter(t testing.TB, service Service, target string) *CallCounter {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err, "counter target %q", target)
	c := &CallCounter{t: t, service: service, endpoints: map[string]string{}, tallies: map[CallKey]*CallTally{}}
	c.proxy = httputil.NewSingleHostReverseProxy(u)
	// Every worker slot holds a connection; the default two idle ones per
	// host would make the proxy dial for most calls.
	c.proxy.Transport = &http.Transport{
		// Under the 5 s keep-alive of Node's HTTP server (fauxqs), so an
		// idle connection is dropped here before the server closes it.
		Proxy: nil, MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: 4 * time.Second,
		DisableCompression: true, // never ask for gzip itself: the bytes pass as the server sends them
		DialContext:        (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}
	c.proxy.ModifyResponse = c.observe
	c.proxy.ErrorHandler = c.failed
	return c
}

// Endpoint returns the base URL of the counter's listener for role,
// starting it on a free loopback port on first use.
func (c *CallCounter) Endpoint(role string) string {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if u, ok := c.endpoints[role]; ok {
		return u
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(c.t, err)
	srv := &http.Server{Handler: c.handler(role), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "call counter %s/%s: %v\n", c.service, role, err)
		}
	}()
	c.t.Cleanup(func() { _ = srv.Close() })
	u := "http://" + ln.Addr().String()
	c.endpoints[role] = u
	return u
}

// Env is the environment variable that points a binary's SDK at the
// counter as role.
func (c *CallCounter) Env(role string) string {
	c.t.Helper()
	v := "AWS_ENDPOINT_URL_DYNAMODB"
	if c.service == SQS {
		v = "AWS_ENDPOINT_URL_SQS"
	}
	return v + "=" + c.Endpoint(role)
}

// Delay makes the counter hold each call for what delay returns (given
// the call's key and request body) before forwarding it, as a slow
// network or a large segment would; nil (the default) forwards at once.
// A call whose client gives up meanwhile is dropped, as on a network.
func (c *CallCounter) Delay(delay func(key CallKey, body []byte) time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.delay = delay
}

// SlowSegments is a Delay that holds every Scan of table's segments
// numbered first, first+every, first+2·every… for d: those segments take
// at least d each, long enough for their workers to heartbeat, while the
// others run at the server's speed.
func SlowSegments(table string, every, first int, d time.Duration) func(CallKey, []byte) time.Duration {
	return func(k CallKey, body []byte) time.Duration {
		if k.Op != "Scan" || k.Resource != table {
			return 0
		}
		var req struct{ Segment *int }
		if json.Unmarshal(body, &req) != nil || req.Segment == nil || *req.Segment%every != first {
			return 0
		}
		return d
	}
}

// Counts returns a copy of the tallies so far.
func (c *CallCounter) Counts() CallCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(CallCounts, len(c.tallies))
	for k, v := range c.tallies {
		out[k] = *v
	}
	return out
}

// Calls is how many calls of op (any role, any resource) were made so far.
func (c *CallCounter) Calls(op string) int64 {
	return c.Counts().Where(func(k CallKey) bool { return k.Op == op }).Calls
}

// callKey is the context key under which a request carries its CallKey
// from the handler to observe.
type callKey struct{}

func (c *CallCounter) handler(role string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		// Lets the transport send the call again on a fresh connection if
		// a kept-alive one turns out closed before anything was written.
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		key := CallKey{Role: role, Op: operation(r.Header.Get("X-Amz-Target")), Resource: c.resource(body)}
		c.mu.Lock()
		tally := c.tallies[key]
		if tally == nil {
			tally = &CallTally{}
			c.tallies[key] = tally
		}
		tally.Calls++
		delay := c.delay
		c.mu.Unlock()
		if delay != nil {
			if d := delay(key, body); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-r.Context().Done():
					t.Stop()
					return
				}
			}
		}
		c.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callKey{}, key)))
	})
}

// observe reads what a response says about the call's cost and passes
// the body on byte for byte (the SDK checks its CRC32).
func (c *CallCounter) observe(resp *http.Response) error {
	key, ok := resp.Request.Context().Value(callKey{}).(CallKey)
	if !ok {
		return nil
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	var got CallTally
	if resp.StatusCode >= 400 {
		got.Errors = 1
	} else {
		got = c.cost(decoded(resp.Header.Get("Content-Encoding"), raw))
	}
	c.mu.Lock()
	c.tallies[key].add(got)
	c.mu.Unlock()
	return nil
}

// failed answers a call the server did not (a killed client's request,
// cancelled on the way, is the usual one) and counts it as an error.
func (c *CallCounter) failed(w http.ResponseWriter, r *http.Request, err error) {
	if key, ok := r.Context().Value(callKey{}).(CallKey); ok {
		c.mu.Lock()
		c.tallies[key].Errors++
		c.mu.Unlock()
	}
	if !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "call counter %s: %s %s: %v\n", c.service, r.Method, r.URL, err)
	}
	w.WriteHeader(http.StatusBadGateway)
}

// operation is the name after the dot of an X-Amz-Target
// ("DynamoDB_20120810.Query" → "Query").
func operation(target string) string {
	if target == "" {
		return "(no X-Amz-Target)"
	}
	if i := strings.LastIndexByte(target, '.'); i >= 0 {
		return target[i+1:]
	}
	return target
}

// resource names the tables a DynamoDB request touches (TableName,
// TransactItems, RequestItems) or the queue an SQS request addresses.
func (c *CallCounter) resource(body []byte) string {
	var req struct {
		TableName     string
		QueueUrl      string
		QueueName     string
		RequestItems  map[string]json.RawMessage
		TransactItems []map[string]struct{ TableName string }
	}
	if json.Unmarshal(body, &req) != nil {
		return ""
	}
	names := map[string]bool{}
	add := func(n string) {
		if n != "" {
			names[n] = true
		}
	}
	add(req.TableName)
	add(req.QueueName)
	if req.QueueUrl != "" {
		add(req.QueueUrl[strings.LastIndexByte(req.QueueUrl, '/')+1:])
	}
	for n := range req.RequestItems {
		add(n)
	}
	for _, ti := range req.TransactItems {
		for _, op := range ti {
			add(op.TableName)
		}
	}
	list := make([]string, 0, len(names))
	for n := range names {
		list = append(list, n)
	}
	sort.Strings(list)
	return strings.Join(list, "+")
}

// cost reads Count, ScannedCount, ConsumedCapacity (DynamoDB) or the
// messages received (SQS) from a successful response body.
func (c *CallCounter) cost(body []byte) CallTally {
	var resp struct {
		Count, ScannedCount int64
		ConsumedCapacity    json.RawMessage
		Messages            []json.RawMessage
	}
	if json.Unmarshal(body, &resp) != nil {
		return CallTally{}
	}
	t := CallTally{Count: resp.Count, ScannedCount: resp.ScannedCount}
	if c.service == SQS {
		t.Count = int64(len(resp.Messages))
	}
	// One object for single-table calls, a list for batches and
	// transactions.
	type capacity struct{ CapacityUnits float64 }
	var one capacity
	var many []capacity
	if json.Unmarshal(resp.ConsumedCapacity, &one) == nil {
		t.Capacity = one.CapacityUnits
	} else if json.Unmarshal(resp.ConsumedCapacity, &many) == nil {
		for _, m := range many {
			t.Capacity += m.CapacityUnits
		}
	}
	return t
}

// decoded is the response body as JSON text: gzip is undone for reading
// (the SDK asks DynamoDB for it), the bytes passed on are not touched.
func decoded(encoding string, raw []byte) []byte {
	if !strings.EqualFold(encoding, "gzip") {
		return raw
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil
	}
	return b
}

// Calls counts one test's calls to DynamoDB Local and to fauxqs.
type Calls struct {
	DynamoDB, SQS *CallCounter
}

// CountCalls starts a CallCounter in front of the stack's DynamoDB and
// another in front of its SQS, for the processes of this test only: pass
// Env(role) to StartWorkerEnv or StartCoordinatorEnv. The harness's own
// reads (ScanTable, StatusJSON, ReadExport) go direct and are not counted.
func (f *Fleet) CountCalls() *Calls {
	f.t.Helper()
	return &Calls{
		DynamoDB: NewCallCounter(f.t, DynamoDB, os.Getenv("AWS_ENDPOINT_URL_DYNAMODB")),
		SQS:      NewCallCounter(f.t, SQS, os.Getenv("AWS_ENDPOINT_URL_SQS")),
	}
}

// Env points a binary's DynamoDB and SQS clients at the counters as role.
func (c *Calls) Env(role string) []string {
	return []string{c.DynamoDB.Env(role), c.SQS.Env(role)}
}
