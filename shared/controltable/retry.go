package controltable

import (
	"context"
	"time"

	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
)

// WithRetry wraps s so each call is retried under p while it fails with a
// retryable error (throttling, a dropped connection, a transaction that
// lost a race). Every Store method is safe to call again after a try whose
// answer was lost: conditional writes recognise their own earlier success.
func WithRetry(s Store, p fault.Policy) Store { return &retrying{s: s, p: p} }

type retrying struct {
	s Store
	p fault.Policy
}

var _ Store = (*retrying)(nil)

func (r *retrying) do(ctx context.Context, op func(context.Context) error) error {
	return fault.Retry(ctx, r.p, op)
}

func (r *retrying) CreateExport(ctx context.Context, e *export.Export) error {
	return r.do(ctx, func(ctx context.Context) error { return r.s.CreateExport(ctx, e) })
}

func (r *retrying) GetExport(ctx context.Context, id string) (e *export.Export, err error) {
	err = r.do(ctx, func(ctx context.Context) (err error) { e, err = r.s.GetExport(ctx, id); return })
	return
}

func (r *retrying) SetExportState(ctx context.Context, id string, from []export.State, to export.State, u ExportUpdate) (ok bool, err error) {
	err = r.do(ctx, func(ctx context.Context) (err error) { ok, err = r.s.SetExportState(ctx, id, from, to, u); return })
	return
}

func (r *retrying) ListExports(ctx context.Context) (es []*export.Export, err error) {
	err = r.do(ctx, func(ctx context.Context) (err error) { es, err = r.s.ListExports(ctx); return })
	return
}

func (r *retrying) ClaimFinalize(ctx context.Context, id string, total int, owner string, lease time.Duration) (c export.FinalizeClaim, ok bool, err error) {
	err = r.do(ctx, func(ctx context.Context) (err error) {
		c, ok, err = r.s.ClaimFinalize(ctx, id, total, owner, lease)
		return
	})
	return
}

func (r *retrying) RenewFinalize(ctx context.Context, c export.FinalizeClaim, lease time.Duration) error {
	return r.do(ctx, func(ctx context.Context) error { return r.s.RenewFinalize(ctx, c, lease) })
}

func (r *retrying) GetSegment(ctx context.Context, id string, seg int) (s *export.Segment, err error) {
	err = r.do(ctx, func(ctx context.Context) (err error) { s, err = r.s.GetSegment(ctx, id, seg); return })
	return
}

func (r *retrying) ListSegments(ctx context.Context, id string) (segs []*export.Segment, err error) {
	err = r.do(ctx, func(ctx context.Context) (err error) { segs, err = r.s.ListSegments(ctx, id); return })
	return
}

func (r *retrying) PublishShare(ctx context.Context, seg *export.Segment, share float64) (ok bool, err error) {
	err = r.do(ctx, func(ctx context.Context) (err error) { ok, err = r.s.PublishShare(ctx, seg, share); return })
	return ok, err
}

func (r *retrying) CancelSegment(ctx context.Context, id string, seg int) (ok bool, err error) {
	err = r.do(ctx, func(ctx context.Context) (err error) { ok, err = r.s.CancelSegment(ctx, id, seg); return })
	return ok, err
}

func (r *retrying) GetPart(ctx context.Context, id string, seg, part int) (p *export.Part, err error) {
	err = r.do(ctx, func(ctx context.Context) (err error) { p, err = r.s.GetPart(ctx, id, seg, part); return })
	return p, err
}

func (r *retrying) ClaimSteward(ctx context.Context, id, owner string, lease time.Duration, fleet int) (ok bool, err error) {
	err = r.do(ctx, func(ctx context.Context) (err error) {
		ok, err = r.s.ClaimSteward(ctx, id, owner, lease, fleet)
		return
	})
	return ok, err
}

func (r *retrying) ClaimSegment(ctx context.Context, id string, seg int, owner string, lease time.Duration) (s *export.Segment, l export.Lease, err error) {
	err = r.do(ctx, func(ctx context.Context) (err error) {
		s, l, err = r.s.ClaimSegment(ctx, id, seg, owner, lease)
		return
	})
	return
}

func (r *retrying) RecordSample(ctx context.Context, id string, s export.Sample) error {
	return r.do(ctx, func(ctx context.Context) error { return r.s.RecordSample(ctx, id, s) })
}

func (r *retrying) ListSamples(ctx context.Context, id string) (ss []export.Sample, err error) {
	err = r.do(ctx, func(ctx context.Context) (err error) { ss, err = r.s.ListSamples(ctx, id); return })
	return
}

func (r *retrying) Heartbeat(ctx context.Context, l export.Lease, lease time.Duration, live export.Progress) (s *export.Segment, err error) {
	err = r.do(ctx, func(ctx context.Context) (err error) { s, err = r.s.Heartbeat(ctx, l, lease, live); return })
	return s, err
}

func (r *retrying) CommitPart(ctx context.Context, l export.Lease, p export.Part, cp export.Checkpoint, lease time.Duration) error {
	return r.do(ctx, func(ctx context.Context) error { return r.s.CommitPart(ctx, l, p, cp, lease) })
}

func (r *retrying) Checkpoint(ctx context.Context, l export.Lease, cp export.Checkpoint, lease time.Duration) error {
	return r.do(ctx, func(ctx context.Context) error { return r.s.Checkpoint(ctx, l, cp, lease) })
}

func (r *retrying) CompleteSegment(ctx context.Context, l export.Lease, last *export.Part, cp export.Checkpoint) error {
	return r.do(ctx, func(ctx context.Context) error { return r.s.CompleteSegment(ctx, l, last, cp) })
}

func (r *retrying) ReleaseSegment(ctx context.Context, l export.Lease, reason string) error {
	return r.do(ctx, func(ctx context.Context) error { return r.s.ReleaseSegment(ctx, l, reason) })
}

func (r *retrying) FailSegment(ctx context.Context, l export.Lease, reason string, final bool) error {
	return r.do(ctx, func(ctx context.Context) error { return r.s.FailSegment(ctx, l, reason, final) })
}

func (r *retrying) FailUnleased(ctx context.Context, id string, seg int, reason string) (ok bool, err error) {
	err = r.do(ctx, func(ctx context.Context) (err error) { ok, err = r.s.FailUnleased(ctx, id, seg, reason); return })
	return
}

func (r *retrying) ResetFailed(ctx context.Context, id string) (reset []int, err error) {
	err = r.do(ctx, func(ctx context.Context) (err error) { reset, err = r.s.ResetFailed(ctx, id); return })
	return
}

func (r *retrying) RequeueExpired(ctx context.Context, seg *export.Segment) (ok bool, err error) {
	err = r.do(ctx, func(ctx context.Context) (err error) { ok, err = r.s.RequeueExpired(ctx, seg); return })
	return
}

func (r *retrying) ListParts(ctx context.Context, id string) (parts []export.Part, err error) {
	err = r.do(ctx, func(ctx context.Context) (err error) { parts, err = r.s.ListParts(ctx, id); return })
	return
}

func (r *retrying) ListActive(ctx context.Context) (ids []ActiveExport, err error) {
	err = r.do(ctx, func(ctx context.Context) (err error) { ids, err = r.s.ListActive(ctx); return })
	return
}

func (r *retrying) Forget(ctx context.Context, id string) error {
	return r.do(ctx, func(ctx context.Context) error { return r.s.Forget(ctx, id) })
}

func (r *retrying) ExtendRetention(ctx context.Context, id string, seen, until time.Time) (ok bool, err error) {
	err = r.do(ctx, func(ctx context.Context) (err error) { ok, err = r.s.ExtendRetention(ctx, id, seen, until); return })
	return
}

func (r *retrying) RetainedUntil(ctx context.Context, id string) (t time.Time, err error) {
	err = r.do(ctx, func(ctx context.Context) (err error) { t, err = r.s.RetainedUntil(ctx, id); return })
	return
}
