package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
)

// DefaultAddr is where `coordinator serve` listens unless told otherwise.
const DefaultAddr = "127.0.0.1:8080"

// shutdownGrace bounds how long in-flight requests may finish after ctx
// ends; the pages poll every two seconds, so nothing legitimate is longer.
const shutdownGrace = 5 * time.Second

// ErrAddress is what Serve's error wraps when addr itself is refused —
// not host:port, or not loopback without allowRemote — as opposed to a
// failure to listen on it: the operator's input to correct.
var ErrAddress = errors.New("dashboard address refused")

// addressError marks an error as ErrAddress and keeps its message.
type addressError struct{ err error }

func (e addressError) Error() string        { return e.err.Error() }
func (e addressError) Unwrap() error        { return e.err }
func (e addressError) Is(target error) bool { return target == ErrAddress }

// Serve listens on addr (DefaultAddr when empty), serves h and returns
// nil once ctx ends and in-flight requests have finished.
//
// It refuses an address that is not loopback unless allowRemote is set.
// The dashboard has no authentication of its own, and although it cannot
// change anything it shows table names, bucket names and workers' error
// messages. The intended way to reach it from elsewhere is a tunnel that
// does its own authentication (SSM port forwarding, ssh -L) to a loopback
// listener; binding 0.0.0.0 must be a decision someone wrote down as a
// flag, not a typo.
//
// On loopback it also refuses requests whose Host header is not a
// loopback name: a web page elsewhere could otherwise point a DNS name at
// 127.0.0.1 (DNS rebinding) and read the JSON through the operator's own
// browser.
func Serve(ctx context.Context, addr string, h http.Handler, log *zap.Logger, allowRemote bool) error {
	if addr == "" {
		addr = DefaultAddr
	}
	if log == nil {
		log = zap.NewNop()
	}
	loopback, err := isLoopbackAddr(addr)
	if err != nil {
		return addressError{err}
	}
	if !loopback && !allowRemote {
		return addressError{fmt.Errorf("refusing to serve the dashboard on %s: not a loopback address, and the dashboard has no authentication (it shows table names and error messages); listen on 127.0.0.1 and reach it through a tunnel, or allow remote access explicitly (--allow-remote)", addr)}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("dashboard: listen on %s: %w", addr, err)
	}
	if !allowRemote {
		h = loopbackHostOnly(h)
	}
	return serve(ctx, ln, h, log)
}

func serve(ctx context.Context, ln net.Listener, h http.Handler, log *zap.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	url := "http://" + ln.Addr().String() + "/"
	log.Info("dashboard listening", zap.String("url", url))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("dashboard: %w", err)
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		_ = srv.Close()
		return fmt.Errorf("dashboard: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("dashboard: %w", err)
	}
	log.Info("dashboard stopped")
	return nil
}

// isLoopbackAddr reports whether addr's host is a loopback IP or
// "localhost". An empty host (":8080") means every interface: not loopback.
func isLoopbackAddr(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("dashboard address %q: want host:port, e.g. %s: %w", addr, DefaultAddr, err)
	}
	return isLoopbackHost(host), nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func loopbackHostOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		if !isLoopbackHost(host) {
			http.Error(w, fmt.Sprintf("host %q refused: this dashboard answers only to localhost, 127.0.0.1 or [::1]", r.Host), http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}
