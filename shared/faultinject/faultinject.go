// Package faultinject owns test-time fault injection: an http.RoundTripper
// decorator that makes a fraction of AWS calls fail the ways production
// does — throttling, 500s, connections reset before the request, and
// responses lost after the server already acted — plus targeted faults on
// one scan segment. The binaries enable it only from DDBFLEET_TEST_FAULT_*
// environment variables, which the chaos tests set; nothing else does.
package faultinject

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config says which faults to inject.
type Config struct {
	Rate float64 // fraction of calls that fail, 0..1
	Seed uint64
	// ScanSegment, when >= 0, targets DynamoDB Scan calls of that segment
	// with ScanMode: "error" answers 500 every time; "crash" exits the
	// process (a poison segment that kills its worker).
	ScanSegment int
	ScanMode    string
}

// FromEnv reads DDBFLEET_TEST_FAULT_RATE, _SEED, _SCAN_SEGMENT and
// _SCAN_MODE; ok is false when none is set.
func FromEnv() (Config, bool, error) {
	c := Config{ScanSegment: -1, ScanMode: "error", Seed: uint64(time.Now().UnixNano())}
	set := false
	if v := os.Getenv("DDBFLEET_TEST_FAULT_RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r < 0 || r > 1 {
			return c, false, fmt.Errorf("DDBFLEET_TEST_FAULT_RATE %q: want 0 to 1", v)
		}
		c.Rate, set = r, true
	}
	if v := os.Getenv("DDBFLEET_TEST_FAULT_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return c, false, fmt.Errorf("DDBFLEET_TEST_FAULT_SEED %q: %w", v, err)
		}
		c.Seed = s
	}
	if v := os.Getenv("DDBFLEET_TEST_FAULT_SCAN_SEGMENT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return c, false, fmt.Errorf("DDBFLEET_TEST_FAULT_SCAN_SEGMENT %q: want a segment number", v)
		}
		c.ScanSegment, set = n, true
	}
	if v := os.Getenv("DDBFLEET_TEST_FAULT_SCAN_MODE"); v != "" {
		if v != "error" && v != "crash" {
			return c, false, fmt.Errorf("DDBFLEET_TEST_FAULT_SCAN_MODE %q: want error or crash", v)
		}
		c.ScanMode = v
	}
	return c, set, nil
}

// Transport returns a decorator for the SDK's HTTP transport.
func (c Config) Transport(next http.RoundTripper) http.RoundTripper {
	return &transport{next: next, cfg: c, rng: rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))}
}

type transport struct {
	next http.RoundTripper
	cfg  Config
	mu   sync.Mutex
	rng  *rand.Rand
}

var segmentField = regexp.MustCompile(`"Segment":\s*(\d+)`)

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.cfg.ScanSegment >= 0 && strings.HasSuffix(req.Header.Get("X-Amz-Target"), ".Scan") && req.Body != nil {
		// Scan requests are small JSON: read the body and put it back.
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(b))
		if err == nil {
			if m := segmentField.FindSubmatch(b); m != nil && string(m[1]) == strconv.Itoa(t.cfg.ScanSegment) {
				if t.cfg.ScanMode == "crash" {
					fmt.Fprintf(os.Stderr, "faultinject: crashing on scan of segment %d\n", t.cfg.ScanSegment)
					os.Exit(3)
				}
				return synthetic(req, http.StatusInternalServerError, "InternalServerError"), nil
			}
		}
	}
	if t.cfg.Rate <= 0 {
		return t.next.RoundTrip(req)
	}
	t.mu.Lock()
	hit := t.rng.Float64() < t.cfg.Rate
	kind := t.rng.IntN(4)
	t.mu.Unlock()
	if !hit {
		return t.next.RoundTrip(req)
	}
	switch kind {
	case 0:
		return synthetic(req, http.StatusBadRequest, throttleCode(req)), nil
	case 1:
		return synthetic(req, http.StatusInternalServerError, "InternalError"), nil
	case 2:
		return nil, errors.New("faultinject: connection reset by peer")
	default:
		// The server acts, the answer is lost: the caller must cope with
		// a retry of something that already happened.
		resp, err := t.next.RoundTrip(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return nil, errors.New("faultinject: connection reset by peer after the request was sent")
	}
}

// throttleCode is each service's throttling error.
func throttleCode(req *http.Request) string {
	switch {
	case strings.HasPrefix(req.Header.Get("X-Amz-Target"), "DynamoDB"):
		return "ProvisionedThroughputExceededException"
	case strings.HasPrefix(req.Header.Get("X-Amz-Target"), "AmazonSQS"):
		return "ThrottlingException"
	default:
		return "SlowDown"
	}
}

// synthetic builds an error response in the protocol the service speaks:
// JSON for DynamoDB and SQS, XML for S3.
func synthetic(req *http.Request, status int, code string) *http.Response {
	var body, ctype string
	if req.Header.Get("X-Amz-Target") != "" {
		ctype = "application/x-amz-json-1.0"
		body = fmt.Sprintf(`{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"injected fault"}`, code)
		if strings.HasPrefix(req.Header.Get("X-Amz-Target"), "AmazonSQS") {
			body = fmt.Sprintf(`{"__type":"com.amazonaws.sqs#%s","message":"injected fault"}`, code)
		}
	} else {
		ctype = "application/xml"
		if code == "SlowDown" {
			status = http.StatusServiceUnavailable
		}
		body = fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected fault</Message></Error>`, code)
	}
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{
		Status: fmt.Sprintf("%d injected", status), StatusCode: status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": []string{ctype}, "X-Amzn-Requestid": []string{"injected"}},
		Body:   io.NopCloser(bytes.NewReader([]byte(body))), ContentLength: int64(len(body)), Request: req,
	}
}
