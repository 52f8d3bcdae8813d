// Command latencyproxy stands between the AWS SDK and DynamoDB Local and
// adds the round trip an AWS region would: a fixed delay before every Scan,
// another before every other call, each with optional uniform jitter. On
// loopback a Scan page costs DynamoDB Local's CPU and nothing else, so a
// pipeline that only pays off when pages take tens of milliseconds to
// arrive (a worker reading the next page while it writes this one) cannot
// be measured without it.
//
//	latencyproxy --target http://127.0.0.1:8000 --scan 30ms --other 3ms --addr-file proxy.addr
//
// It listens on a free loopback port (or --listen), writes its base URL to
// --addr-file once it accepts connections, and on SIGTERM/SIGINT prints
// how many calls of each kind it delayed. Requests are forwarded unchanged
// (Host included), so SigV4 signatures stay valid. scripts/bench.sh starts
// it for the bench's latency mode.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// scanTarget is the X-Amz-Target of DynamoDB's Scan.
const scanTarget = "DynamoDB_20120810.Scan"

// delayer decides and applies each call's added latency, and keeps how
// long the server took behind it (so a run can tell added latency from
// the server's own time).
type delayer struct {
	scan, other, jitter     time.Duration
	scans, others           atomic.Int64
	scanServer, otherServer atomic.Int64 // nanoseconds spent forwarding, summed
}

func isScan(r *http.Request) bool { return r.Header.Get("X-Amz-Target") == scanTarget }

func (d *delayer) delay(r *http.Request) time.Duration {
	base := d.other
	if isScan(r) {
		base = d.scan
		d.scans.Add(1)
	} else {
		d.others.Add(1)
	}
	if d.jitter > 0 {
		base += time.Duration(rand.Int64N(int64(2*d.jitter)+1)) - d.jitter
	}
	return max(base, 0)
}

// statsPath serves the counters as JSON (GET), so a harness can tell, per
// run, how long the server itself took per Scan. DynamoDB's API only uses
// POST /, so the path cannot collide with a real call.
const statsPath = "/__latencyproxy/stats"

// Stats is what statsPath returns; times are summed nanoseconds.
type Stats struct {
	Scans         int64 `json:"scans"`
	ScanServerNs  int64 `json:"scanServerNs"`
	Others        int64 `json:"others"`
	OtherServerNs int64 `json:"otherServerNs"`
}

func (d *delayer) stats() Stats {
	return Stats{Scans: d.scans.Load(), ScanServerNs: d.scanServer.Load(), Others: d.others.Load(), OtherServerNs: d.otherServer.Load()}
}

func (d *delayer) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == statsPath {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(d.stats())
			return
		}
		// Before forwarding, like the request's trip to the region; a
		// client that gives up meanwhile gets nothing, as on a network.
		t := time.NewTimer(d.delay(r))
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
		start := time.Now()
		next.ServeHTTP(w, r)
		if isScan(r) {
			d.scanServer.Add(int64(time.Since(start)))
		} else {
			d.otherServer.Add(int64(time.Since(start)))
		}
	})
}

// report is one line of what the proxy saw.
func (d *delayer) report() string {
	mean := func(total, n int64) time.Duration {
		if n == 0 {
			return 0
		}
		return time.Duration(total / n).Round(100 * time.Microsecond)
	}
	return fmt.Sprintf("delayed %d Scan (server %s each on average, after the +%s) and %d other calls (server %s, after +%s)",
		d.scans.Load(), mean(d.scanServer.Load(), d.scans.Load()), d.scan, d.others.Load(), mean(d.otherServer.Load(), d.others.Load()), d.other)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (port 0: a free one)")
	target := flag.String("target", "", "DynamoDB endpoint to forward to, e.g. http://127.0.0.1:8000 (required)")
	scan := flag.Duration("scan", 30*time.Millisecond, "latency added to every Scan")
	other := flag.Duration("other", 3*time.Millisecond, "latency added to every other DynamoDB call")
	jitter := flag.Duration("jitter", 0, "uniform jitter, ± this much, on every delay")
	addrFile := flag.String("addr-file", "", "write the proxy's base URL here once it listens")
	flag.Parse()
	if err := run(*listen, *target, *addrFile, &delayer{scan: *scan, other: *other, jitter: *jitter}); err != nil {
		fmt.Fprintf(os.Stderr, "latencyproxy: %v\n", err)
		os.Exit(1)
	}
}

// forwarder sends every request on to target unchanged.
func forwarder(to *url.URL) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(to)
			pr.Out.Host = pr.In.Host // signed by the client
		},
		// Enough idle connections that a fleet's parallel calls reuse them
		// instead of paying a connect each (which would add latency we did
		// not ask for).
		Transport: &http.Transport{
			MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: 90 * time.Second,
			DisableCompression: true,
			DialContext:        (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		},
	}
}

func run(listen, target, addrFile string, d *delayer) error {
	if target == "" {
		return errors.New("--target is required")
	}
	to, err := url.Parse(target)
	if err != nil || to.Scheme == "" || to.Host == "" {
		return fmt.Errorf("--target %q: want a URL such as http://127.0.0.1:8000", target)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	if addrFile != "" {
		// Written whole under another name, then renamed, so a reader
		// polling for the file never sees half a URL.
		tmp := addrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(base+"\n"), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, addrFile); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "latencyproxy: %s → %s, Scan +%s, other calls +%s, jitter ±%s\n", base, strings.TrimRight(target, "/"), d.scan, d.other, d.jitter)
	srv := &http.Server{Handler: d.wrap(forwarder(to)), ReadHeaderTimeout: 30 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shut)
	fmt.Fprintf(os.Stderr, "latencyproxy: %s\n", d.report())
	return nil
}
