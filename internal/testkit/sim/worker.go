package sim

// The worker model: one `worker run` process as a state machine making the
// calls worker/internal/consumer (consumer.go, heartbeat.go, settle.go)
// and worker/internal/segexport make, in their order and at their cadence.
// Each step is one function; where the real code changes, the step that
// mirrors it changes with it:
//
//	start      consumer.Run's start (MaxReceiveCount) and the Rescuer's ticker
//	poll       consumer.Run's loop: receive up to the free slots, long-polling
//	handle     consumer.handle: GetExport, ClaimSegment, admit
//	run        consumer.run up to the runner: the first share, the heartbeat's ticker
//	heartbeat  consumer.heartbeat, one tick (and its lease deadline)
//	commitPart segexport's commit of a part: upload, CommitPart
//	complete   segexport's end: upload the last part, CompleteSegment
//	end        consumer.run after the runner: decide, delete, Settle
//	rescue     the Rescuer's tick
//	kill       SIGKILL: nothing more happens, leases just stop

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/lifecycle"
	"github.com/ddbfleet/ddbfleet/shared/queue"
)

// drainTimeout is `worker run`'s default --drain-timeout; the long poll is
// a quarter of it (consumer.receive).
const drainTimeout = 25 * time.Second

func receiveWait() time.Duration {
	wait := min(20*time.Second, max(time.Second, drainTimeout/4))
	return time.Duration(int(wait.Seconds())) * time.Second
}

// receiveRetry is consumer.receiveRetry's first delay.
const receiveRetry = 500 * time.Millisecond

type worker struct {
	w         *world
	id        string
	alive     bool
	inflight  int
	blocked   bool // the loop waits for a slot to free
	pollToken int  // the poll that may run; older scheduled polls do nothing
	continued bool // the next receive is a long poll that a send ended
	nonces    int
	life      *lifecycle.Lifecycle
	rescuer   *lifecycle.Rescuer
	slots     map[*slot]bool // segments in hand
}

// startWorker starts one more worker process.
func (w *world) startWorker() {
	w.nextID++
	k := &worker{w: w, id: fmt.Sprintf("ip-10-0-%d-%d.ec2.internal/1", w.nextID/250, w.nextID%250), alive: true,
		life: w.lifecycle(), slots: map[*slot]bool{}}
	k.rescuer = &lifecycle.Rescuer{Life: k.life, ID: fmt.Sprintf("%s@%d", k.id, w.loop.Now().UnixNano()),
		Period: w.sc.Lease, Grace: w.sc.Lease, Log: w.log, Clock: w.loop.clk}
	w.workers = append(w.workers, k)
	k.start()
}

// start is consumer.Run's start and the Rescuer's ticker.
func (k *worker) start() {
	if _, err := k.w.work.MaxReceiveCount(k.w.ctx); err != nil {
		k.w.unexpectedf("max receive count: %v", err)
	}
	k.poll(k.pollToken)
	k.w.loop.after(k.w.sc.Lease, k.rescue)
}

// schedulePoll runs the loop again after d, superseding any poll pending.
func (k *worker) schedulePoll(d time.Duration) {
	k.pollToken++
	token := k.pollToken
	k.w.loop.after(d, func() { k.poll(token) })
}

// poll is one turn of consumer.Run's loop: with a slot free, receive up to
// that many messages (at most 10) and hand each to a slot. An empty
// receive is a long poll: it ends when a message is sent (woken) or after
// its wait.
func (k *worker) poll(token int) {
	if !k.alive || token != k.pollToken {
		return
	}
	free := k.w.sc.Slots - k.inflight
	if free == 0 {
		k.blocked = true
		return
	}
	// A receive that goes on a long poll a send ended is that same call.
	k.w.sqs.continued, k.continued = k.continued, false
	msgs, err := k.w.work.Receive(k.w.ctx, min(free, 10), receiveWait(), k.w.sc.Lease)
	if err != nil {
		k.w.unexpectedf("receive: %v", err)
		k.schedulePoll(receiveRetry)
		return
	}
	if len(msgs) == 0 {
		k.pollToken++
		token := k.pollToken
		k.w.waiting = append(k.w.waiting, pollWait{k: k, token: token})
		k.w.loop.after(receiveWait(), func() { k.poll(token) })
		return
	}
	for _, m := range msgs {
		k.inflight++
		sl := &slot{k: k, m: m, visibleAt: k.w.loop.Now().Add(k.w.sc.Lease)}
		k.slots[sl] = true
		k.w.loop.after(0, sl.handle)
	}
	k.schedulePoll(0)
}

// woken ends a long poll early: the receive it was waiting in returns what
// was sent (the same call, so not counted again).
func (k *worker) woken(token int) {
	k.pollToken++
	token = k.pollToken
	k.w.loop.after(0, func() {
		if token == k.pollToken {
			k.continued = true
		}
		k.poll(token)
	})
}

// free gives a slot back to the loop.
func (k *worker) free(sl *slot) {
	delete(k.slots, sl)
	k.inflight--
	if k.blocked {
		k.blocked = false
		k.schedulePoll(0)
	}
}

// rescue is one tick of the worker's Rescuer.
func (k *worker) rescue() {
	if !k.alive {
		return
	}
	k.w.meter.as(roleRescuer)
	k.rescuer.Tick(k.w.ctx)
	k.w.loop.after(k.w.sc.Lease, k.rescue)
}

// kill is SIGKILL: every pending step of the process does nothing; the
// messages in hand show again when their visibility runs out.
func (k *worker) kill() {
	k.alive = false
	for sl := range k.slots {
		sl.stopped()
		k.w.wakeAt(sl.visibleAt)
	}
}

// slot is one segment in hand, from its message to its settlement.
type slot struct {
	k     *worker
	m     queue.Message
	exp   *export.Export
	seg   *export.Segment
	lease export.Lease
	plan  *plan
	cp    export.Checkpoint
	part  int     // the part being scanned
	share float64 // the read share in hand (the pacer's rate)
	// The scan: pos read units into the segment at posAt, going on at
	// rate; scanGen is the scan event that may run (a change of rate
	// schedules the part's end anew).
	pos, rate float64
	posAt     time.Time
	startPos  float64 // pos when the attempt started (the checkpoint)
	readBase  float64 // read units of the earlier attempts, from the row
	scanGen   int
	visibleAt time.Time // when the message shows again unless extended
	extended  time.Time // when the last extension of the lease that succeeded was sent
	over      bool      // the run ended: pending heartbeats and parts do nothing
	ticks     int       // heartbeats so far
	startedAt time.Time
}

func (sl *slot) now() time.Time { return sl.k.w.loop.Now() }

// handle is consumer.handle: read the export, claim the segment, and run
// it or settle the message at once (admit).
func (sl *slot) handle() {
	k, w := sl.k, sl.k.w
	if !k.alive {
		return
	}
	w.meter.as(roleWorker)
	m := sl.m
	exp, err := w.store.GetExport(w.ctx, m.ExportID)
	if err != nil && !errors.Is(err, export.ErrNotFound) {
		w.unexpectedf("read export: %v", err)
		k.free(sl)
		return
	}
	var refused *export.NotClaimableError
	if exp != nil && exp.State.AcceptsWork() {
		k.nonces++
		owner := fmt.Sprintf("%s/%08x", k.id, k.nonces)
		sl.extended = sl.now() // the lease runs from no earlier than this
		sl.seg, sl.lease, err = w.store.ClaimSegment(w.ctx, m.ExportID, m.Segment, owner, w.sc.Lease)
		if err != nil && !errors.As(err, &refused) {
			w.unexpectedf("claim: %v", err)
			k.free(sl)
			return
		}
	}
	a := admit(exp, refused, sl.now(), w.sc.Lease)
	if !a.run {
		if !a.delete {
			// A fresh delayed copy, then drop this one.
			if err := w.work.SendLater(w.ctx, m.Task, a.later); err != nil {
				w.unexpectedf("send later: %v", err)
			}
			w.wakeAt(sl.now().Add(min(a.later, queue.MaxDelay).Truncate(time.Second)))
		}
		sl.deleteMsg()
		k.free(sl)
		return
	}
	w.claims++
	sl.exp = exp
	sl.run()
}

// admit is consumer.admit: whether a message's segment is worked on.
func admit(exp *export.Export, refused *export.NotClaimableError, now time.Time, lease time.Duration) admission {
	switch {
	case exp == nil:
		return admission{delete: true}
	case exp.State.Terminal() || exp.State == export.Finalizing:
		return admission{delete: true}
	case refused == nil:
		return admission{run: true}
	case refused.State.Settled():
		return admission{delete: true}
	}
	recheck := max(5*time.Second, lease/6)
	return admission{later: max(time.Second, min(refused.LeaseExpiry.Sub(now)+time.Second, recheck))}
}

type admission struct {
	run, delete bool
	later       time.Duration
}

// run is consumer.run up to the runner: the new lease's first read share
// (the cap over the unfinished segments, from the export row read before
// the claim), the heartbeat's ticker, and the scan from the checkpoint.
func (sl *slot) run() {
	w := sl.k.w
	sl.plan = &w.plans[sl.seg.Segment]
	sl.cp = export.Checkpoint{NextPart: sl.seg.NextPart, ItemCount: sl.seg.ItemCount, Bytes: sl.seg.Bytes, Pages: sl.seg.Pages}
	sl.part = sl.seg.NextPart
	sl.startedAt = sl.now()
	sl.pos, sl.posAt = sl.partStart(sl.part), sl.now()
	sl.startPos, sl.readBase = sl.pos, sl.seg.ReadUnits
	sl.setShare(sl.exp.ReadShare(sl.exp.Unfinished()))
	w.loop.after(w.sc.Lease/3, sl.heartbeat)
}

// partStart is where part n of the segment starts, in read units.
func (sl *slot) partStart(n int) float64 {
	return sl.plan.read * float64(n) / float64(len(sl.plan.items))
}

// setShare is the pacer's SetRate: the slot scans at the lesser of its
// unpaced rate and its share (no share: no cap).
func (sl *slot) setShare(s float64) {
	w := sl.k.w
	w.addShare(s - sl.share)
	sl.share = s
	rate := w.sc.ScanRate
	if s > 0 {
		rate = min(rate, s)
	}
	sl.setRate(rate)
}

// posNow is how far the scan has read by now.
func (sl *slot) posNow() float64 {
	return sl.pos + sl.rate*sl.now().Sub(sl.posAt).Seconds()
}

// setRate changes the scan's rate from now on and schedules the end of
// the part being scanned for it.
func (sl *slot) setRate(rate float64) {
	if rate == sl.rate {
		return
	}
	w := sl.k.w
	sl.pos, sl.posAt = sl.posNow(), sl.now()
	w.addRate(rate - sl.rate)
	sl.rate = rate
	sl.scanGen++
	if rate <= 0 {
		return
	}
	gen := sl.scanGen
	left := max(0, sl.partStart(sl.part+1)-sl.pos)
	w.loop.after(time.Duration(math.Ceil(left/rate*float64(time.Second))), func() {
		if gen == sl.scanGen {
			sl.scanned()
		}
	})
}

// scanNext starts the scan of the next part, at the same rate.
func (sl *slot) scanNext() {
	sl.part++
	rate := sl.rate
	sl.rate = 0 // so setRate schedules it
	sl.k.w.addRate(-rate)
	sl.setRate(rate)
}

// scanned: the part being scanned is written; commit it, or complete the
// segment with it if it is the last.
func (sl *slot) scanned() {
	if sl.over {
		return
	}
	sl.k.w.meter.as(roleWorker)
	// The part is read to its end (exactly: no drift of rounding).
	sl.pos, sl.posAt = sl.partStart(sl.part+1), sl.now()
	if sl.part == len(sl.plan.items)-1 {
		sl.complete()
		return
	}
	sl.commitPart()
}

// upload writes part n's file and returns its part row.
func (sl *slot) upload(n int) (export.Part, error) {
	w := sl.k.w
	key := sl.exp.PartKey(sl.seg.Segment, n, sl.lease.Attempt)
	body := make([]byte, sl.plan.bytes[n])
	for i := range body {
		body[i] = byte('a' + (n+i)%26)
	}
	info, err := w.obj.Put(w.ctx, key, body, "")
	if err != nil {
		return export.Part{}, err
	}
	return export.Part{Segment: sl.seg.Segment, Part: n, Attempt: sl.lease.Attempt, Key: key,
		ItemCount: sl.plan.items[n], MD5: info.MD5Base64(), ETag: info.ETag, Bytes: info.Bytes}, nil
}

// advance moves the checkpoint past part p, as segexport's commit does.
func (sl *slot) advance(p export.Part) {
	sl.cp.NextPart = p.Part + 1
	sl.cp.ItemCount += p.ItemCount
	sl.cp.Bytes += p.Bytes
	sl.cp.Pages += p.ItemCount/1000 + 1
	sl.cp.At = sl.now()
}

// commitPart is segexport's commit: the part is durable in S3, then
// CommitPart records it with the checkpoint after it.
func (sl *slot) commitPart() {
	w := sl.k.w
	p, err := sl.upload(sl.part)
	if err != nil {
		w.unexpectedf("upload: %v", err)
		sl.end(err, nil)
		return
	}
	sl.advance(p)
	if err := w.store.CommitPart(w.ctx, sl.lease, p, sl.cp, w.sc.Lease); err != nil {
		sl.discardIfRejected(err, p)
		sl.end(err, nil)
		return
	}
	w.commits[[2]int{p.Segment, p.Part}] = partRecord{attempt: p.Attempt, key: p.Key, items: p.ItemCount, bytes: p.Bytes}
	sl.scanNext()
}

// complete is segexport's end: the last part is uploaded and recorded by
// CompleteSegment with the segment's totals.
func (sl *slot) complete() {
	w := sl.k.w
	p, err := sl.upload(sl.part)
	if err != nil {
		w.unexpectedf("upload: %v", err)
		sl.end(err, nil)
		return
	}
	sl.advance(p)
	sl.cp.Cursor = nil
	if err := w.store.CompleteSegment(w.ctx, sl.lease, &p, sl.cp); err != nil {
		sl.discardIfRejected(err, p)
		sl.end(err, nil)
		return
	}
	w.commits[[2]int{p.Segment, p.Part}] = partRecord{attempt: p.Attempt, key: p.Key, items: p.ItemCount, bytes: p.Bytes}
	if w.completions[p.Segment] == nil {
		w.completions[p.Segment] = map[int]bool{}
	}
	w.completions[p.Segment][sl.lease.Attempt] = true
	sl.end(nil, nil)
}

// discardIfRejected is segexport's: a part whose commit was refused for a
// lost lease is deleted, unless a part row points at it after all.
func (sl *slot) discardIfRejected(err error, p export.Part) {
	w := sl.k.w
	if !export.IsLeaseLost(err) {
		w.unexpectedf("commit: %v", err)
		return
	}
	row, err := w.store.GetPart(w.ctx, sl.exp.ExportID, p.Segment, p.Part)
	switch {
	case err == nil && row.Key == p.Key:
		return
	case err != nil && !errors.Is(err, export.ErrNotFound):
		w.unexpectedf("read part row: %v", err)
		return
	}
	if err := w.obj.Delete(w.ctx, p.Key); err != nil {
		w.unexpectedf("delete rejected part: %v", err)
	}
}

// progress is what a heartbeat reports: committed items plus the share of
// the part being scanned read so far, and the read units of every attempt.
func (sl *slot) progress() export.Progress {
	done, pos := sl.cp.ItemCount, sl.posNow()
	if sl.part < len(sl.plan.items) {
		from, to := sl.partStart(sl.part), sl.partStart(sl.part+1)
		done += int64(float64(sl.plan.items[sl.part]) * min(1, max(0, (pos-from)/(to-from))))
	}
	return export.Progress{Items: done, ReadUnits: math.Round(sl.readBase + pos - sl.startPos)}
}

// heartbeat is one tick of consumer.heartbeat: extend the lease (the row
// comes back with the read share the export's steward published), then
// the message's visibility. A heartbeat reads nothing.
func (sl *slot) heartbeat() {
	if sl.over {
		return
	}
	w := sl.k.w
	w.meter.as(roleWorker)
	sl.ticks++
	next := func() { w.loop.at(sl.startedAt.Add(time.Duration(sl.ticks+1)*(w.sc.Lease/3)), sl.heartbeat) }
	sent := sl.now()
	seg, err := w.store.Heartbeat(w.ctx, sl.lease, w.sc.Lease, sl.progress())
	if export.IsLeaseLost(err) {
		sl.end(errStopped, err)
		return
	}
	if err != nil {
		sl.watchDeadline()
		next()
		return
	}
	sl.extended = sent
	if err := w.work.SetVisibility(w.ctx, sl.m.ReceiptHandle, w.sc.Lease); err == nil {
		sl.visibleAt = sl.now().Add(w.sc.Lease)
	}
	if seg.Share > 0 {
		sl.setShare(seg.Share)
	}
	next()
}

// watchDeadline is consumer.heartbeat's lease deadline: the run stops
// once its lease, as last extended, is within the margin of its end. Only
// a failed heartbeat can let it come (successful ones, a third of a lease
// apart, push it on), so it is watched from the first failure.
func (sl *slot) watchDeadline() {
	lease := sl.k.w.sc.Lease
	extended := sl.extended
	sl.k.w.loop.at(extended.Add(lease-export.LeaseMargin(lease)), func() {
		if !sl.over && sl.extended.Equal(extended) {
			sl.k.w.meter.as(roleWorker)
			sl.end(errStopped, export.ErrLeaseDeadline)
		}
	})
}

// errStopped is what the runner returns when the heartbeat stopped it.
var errStopped = errors.New("context canceled")

// stopped ends the slot's run without settling anything (the process died).
func (sl *slot) stopped() {
	if sl.over {
		return
	}
	sl.over = true
	sl.k.w.addShare(-sl.share)
	sl.share = 0
	sl.setRate(0)
	if !sl.startedAt.IsZero() {
		sl.k.w.scanTime += sl.now().Sub(sl.startedAt)
	}
}

// end is consumer.run after the runner returned: decide the message's
// fate by the outcome (settle.go's decide) and carry it out.
func (sl *slot) end(runErr, cause error) {
	w := sl.k.w
	sl.stopped()
	var state export.State
	lostLease := export.IsLeaseLost(runErr) || export.IsLeaseLost(cause)
	if lostLease {
		if e, err := w.store.GetExport(w.ctx, sl.m.ExportID); err == nil {
			state = e.State
		}
	}
	switch {
	case runErr == nil: // finish
		sl.deleteMsg()
		w.meter.as(roleSettle)
		if err := sl.k.life.Settle(w.ctx, sl.m.ExportID); err != nil {
			w.unexpectedf("settle: %v", err)
		}
		w.meter.as(roleWorker)
	case lostLease: // abandon: keep the message unless the export ended
		if state.Terminal() {
			sl.deleteMsg()
		}
	default:
		w.unexpectedf("segment %d run failed: %v", sl.m.Segment, runErr)
	}
	sl.k.free(sl)
}

func (sl *slot) deleteMsg() {
	if err := sl.k.w.work.Delete(sl.k.w.ctx, sl.m.ReceiptHandle); err != nil {
		sl.k.w.unexpectedf("delete message: %v", err)
	}
}
