// Package storetest owns the conformance suite of controltable.Store: one
// set of cases that every implementation must pass, so the in-memory store
// (internal/testkit/memstore) is held to what DynamoDB actually does and
// the DynamoDB store is held to what the domain promises. Run it from a
// test of each implementation:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) (controltable.Store, *clock.Manual) {
//			clk := clock.NewManual(time.Now().Truncate(time.Millisecond))
//			return memstore.New(clk), clk
//		})
//	}
//
// The cases speak only through the Store interface: no raw DynamoDB calls,
// no peeking at rows. What a case needs from the outside world it gets
// from the factory's manual clock (leases expire when the case says so)
// and from LostAnswer (a retry after a reply that never arrived).
package storetest

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/clock"
	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/export"
)

// Run runs every case as a subtest of t. Each case calls newStore once and
// owns what it returns: the store, and the manual clock the store reads,
// which only that case advances. The store may share its backing table
// with other cases: every case uses export ids of its own and asks the
// active index only about those.
//
// The clock must start on a whole millisecond, since the DynamoDB store
// keeps times to the millisecond and the cases compare lease expiries
// exactly, and near the wall clock, since rows expire
// controltable.Retention after the clock's time and a real server's TTL
// measures against its own clock.
func Run(t *testing.T, newStore func(t *testing.T) (controltable.Store, *clock.Manual)) {
	r := &run{nonce: strconv.FormatInt(time.Now().UnixNano()%1_000_000_000, 36)}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store, clk := newStore(t)
			require.NotNil(t, store)
			require.NotNil(t, clk)
			now := clk.Now()
			require.True(t, now.Equal(now.Truncate(time.Millisecond)), "the factory's clock must read a whole millisecond, not %s", now)
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
			t.Cleanup(cancel)
			c.run(&env{t: t, ctx: ctx, store: store, clock: clk, run: r})
		})
	}
}

// LostAnswer simulates a call whose first try applied but whose answer
// never reached the caller (a timeout after the server committed, a
// connection dropped on the way back), which every retry loop around a
// Store (controltable.WithRetry) must survive. It makes the call, requires
// that it succeeded, throws the answer away and returns what the retry of
// the very same call gets.
//
// Calling twice is the faithful simulation against any Store, with no
// fault injected into the server: the server has no way to tell a retry
// from a second identical request, and the store sees exactly what a
// retry would show it, the state its own first try left behind. What the
// case must then check is that the retry reports success and that the
// state shows the work once, not twice.
func LostAnswer(t testing.TB, call func() error) error {
	t.Helper()
	require.NoError(t, call(), "the first try applies (its answer is the one lost)")
	return call()
}

// LostAnswerOf is LostAnswer for a call with a result: it returns the
// first try's result (the one the caller never saw) and the retry's.
func LostAnswerOf[T any](t testing.TB, call func() (T, error)) (lost, retried T, err error) {
	t.Helper()
	lost, err = call()
	require.NoError(t, err, "the first try applies (its answer is the one lost)")
	retried, err = call()
	return lost, retried, err
}

// run is what the cases of one Run share: a nonce, so export ids differ
// between runs against a long-lived server, and a sequence.
type run struct {
	nonce string
	seq   atomic.Int64
}

// env is one case's store and clock, with helpers that fail the case on
// an unexpected error.
type env struct {
	t     *testing.T
	ctx   context.Context
	store controltable.Store
	clock *clock.Manual
	run   *run
}

const lease = 30 * time.Second

// id returns an export id no other case of any run uses.
func (e *env) id() string {
	return fmt.Sprintf("exp-%s-%d", e.run.nonce, e.run.seq.Add(1))
}

// export records a new export with n segments and returns its id.
func (e *env) export(n int, running bool) string {
	e.t.Helper()
	id := e.id()
	require.NoError(e.t, e.store.CreateExport(e.ctx, &export.Export{
		ExportID: id, Table: "orders", Bucket: "b", Prefix: "p", SegmentsTotal: n, StartTime: e.clock.Now(),
	}))
	if running {
		e.setState(id, export.Pending, export.Running)
	}
	return id
}

func (e *env) setState(id string, from, to export.State) {
	e.t.Helper()
	ok, err := e.store.SetExportState(e.ctx, id, []export.State{from}, to, controltable.ExportUpdate{})
	require.NoError(e.t, err)
	require.True(e.t, ok, "%s → %s", from, to)
}

func (e *env) getExport(id string) *export.Export {
	e.t.Helper()
	x, err := e.store.GetExport(e.ctx, id)
	require.NoError(e.t, err)
	return x
}

func (e *env) getSegment(id string, seg int) *export.Segment {
	e.t.Helper()
	s, err := e.store.GetSegment(e.ctx, id, seg)
	require.NoError(e.t, err)
	return s
}

func (e *env) listSegments(id string) []*export.Segment {
	e.t.Helper()
	segs, err := e.store.ListSegments(e.ctx, id)
	require.NoError(e.t, err)
	return segs
}

func (e *env) listParts(id string) []export.Part {
	e.t.Helper()
	parts, err := e.store.ListParts(e.ctx, id)
	require.NoError(e.t, err)
	return parts
}

// countLeased counts the segments whose lease is live, as the steward does
// when it divides the read cap.
func (e *env) countLeased(id string) int {
	e.t.Helper()
	n := 0
	for _, s := range e.listSegments(id) {
		if s.LeaseLive(e.clock.Now()) {
			n++
		}
	}
	return n
}

// heartbeat extends l's lease, recording p.
func (e *env) heartbeat(l export.Lease, p export.Progress) error {
	_, err := e.store.Heartbeat(e.ctx, l, lease, p)
	return err
}

func (e *env) claim(id string, seg int, owner string) export.Lease {
	e.t.Helper()
	_, l, err := e.store.ClaimSegment(e.ctx, id, seg, owner, lease)
	require.NoError(e.t, err)
	return l
}

// claimFinalize claims id's finalization for owner with a one-minute
// claim and reports whether it won.
func (e *env) claimFinalize(id string, total int, owner string) (export.FinalizeClaim, bool) {
	e.t.Helper()
	c, won, err := e.store.ClaimFinalize(e.ctx, id, total, owner, time.Minute)
	require.NoError(e.t, err)
	return c, won
}

func (e *env) active() []string {
	e.t.Helper()
	as, err := e.store.ListActive(e.ctx)
	require.NoError(e.t, err)
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.ExportID
	}
	return ids
}

// sameTime compares instants, not representations: stores may hand back
// another location than the clock's.
func sameTime(t *testing.T, want, got time.Time, msgAndArgs ...any) {
	t.Helper()
	require.WithinDuration(t, want, got, 0, msgAndArgs...)
}
