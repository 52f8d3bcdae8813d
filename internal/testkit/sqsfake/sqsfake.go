// Package sqsfake owns an in-memory stand-in for the SQS calls that
// queue.API names, for unit tests that must not need a server.
//
// It keeps the SQS behaviours the fleet relies on — visibility timeouts,
// ApproximateReceiveCount, redrive to a dead-letter queue after the
// RedrivePolicy's maxReceiveCount, receipt handles that go stale on
// redelivery, batch limits and the service's error types — and measures
// time with an injected clock, so a test moves time forward instead of
// sleeping. The conformance suite of shared/queue runs against this fake
// and against a real SQS emulator, which keeps the two honest.
package sqsfake

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ddbfleet/ddbfleet/shared/queue"
)

var _ queue.API = (*Fake)(nil)

// Fake is an in-memory SQS. The zero value is not usable; call New.
type Fake struct {
	mu     sync.Mutex
	now    func() time.Time
	byName map[string]*fakeQueue
	byURL  map[string]*fakeQueue
	seq    int64
	// wake is closed and replaced whenever messages may have become
	// receivable, so long polls return as soon as there is something.
	wake chan struct{}
	// failEntries makes the next n batch entries fail, to exercise the
	// caller's partial-failure handling.
	failEntries int
}

type fakeQueue struct {
	name, url, arn string
	attrs          map[string]string
	msgs           []*message // in send order; deleted ones are removed
}

type message struct {
	id, body     string
	sentAt       time.Time
	firstRecv    time.Time
	visibleAt    time.Time
	receiveCount int
	receipt      string // handle of the latest delivery; older ones are stale
}

// New returns an empty fake. now is its clock (a *Clock's Now in most
// tests); nil means time.Now.
func New(now func() time.Time) *Fake {
	if now == nil {
		now = time.Now
	}
	return &Fake{now: now, byName: map[string]*fakeQueue{}, byURL: map[string]*fakeQueue{}, wake: make(chan struct{})}
}

// FailNextEntries makes the next n entries of SendMessageBatch calls come
// back in the output's Failed list (as SQS does under internal errors).
func (f *Fake) FailNextEntries(n int) {
	f.mu.Lock()
	f.failEntries = n
	f.mu.Unlock()
}

// notify wakes long polls; callers hold f.mu.
func (f *Fake) notify() {
	close(f.wake)
	f.wake = make(chan struct{})
}

func (f *Fake) nextID(prefix string) string {
	f.seq++
	return prefix + strconv.FormatInt(f.seq, 10)
}

func notExist(what string) error {
	return &types.QueueDoesNotExist{Message: aws.String("The specified queue does not exist: " + what)}
}

func (f *Fake) lookup(url *string) (*fakeQueue, error) {
	q, ok := f.byURL[aws.ToString(url)]
	if !ok {
		return nil, notExist(aws.ToString(url))
	}
	return q, nil
}

// GetQueueUrl implements queue.API.
func (f *Fake) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q, ok := f.byName[aws.ToString(in.QueueName)]
	if !ok {
		return nil, notExist(aws.ToString(in.QueueName))
	}
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String(q.url)}, nil
}

// defaultAttrs are what SQS reports for a queue created without attributes.
var defaultAttrs = map[string]string{
	"VisibilityTimeout":             "30",
	"MessageRetentionPeriod":        "345600",
	"MaximumMessageSize":            "262144",
	"DelaySeconds":                  "0",
	"ReceiveMessageWaitTimeSeconds": "0",
}

// CreateQueue implements queue.API. Like SQS it is idempotent for the same
// attributes and refuses an existing name with different ones.
func (f *Fake) CreateQueue(_ context.Context, in *sqs.CreateQueueInput, _ ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := aws.ToString(in.QueueName)
	if name == "" {
		return nil, &types.InvalidAttributeValue{Message: aws.String("QueueName is required")}
	}
	if err := validateAttrs(in.Attributes); err != nil {
		return nil, err
	}
	if q, ok := f.byName[name]; ok {
		for k, v := range in.Attributes {
			if q.attrs[k] != v {
				return nil, &types.QueueNameExists{Message: aws.String("A queue already exists with the same name and a different value for attribute " + k)}
			}
		}
		return &sqs.CreateQueueOutput{QueueUrl: aws.String(q.url)}, nil
	}
	q := &fakeQueue{
		name:  name,
		url:   "http://sqsfake.local/000000000000/" + name,
		arn:   "arn:aws:sqs:us-east-1:000000000000:" + name,
		attrs: maps.Clone(defaultAttrs),
	}
	maps.Copy(q.attrs, in.Attributes)
	f.byName[name], f.byURL[q.url] = q, q
	return &sqs.CreateQueueOutput{QueueUrl: aws.String(q.url)}, nil
}

func validateAttrs(attrs map[string]string) error {
	for k, v := range attrs {
		switch k {
		case "VisibilityTimeout", "MessageRetentionPeriod", "MaximumMessageSize", "DelaySeconds", "ReceiveMessageWaitTimeSeconds":
			if _, err := strconv.Atoi(v); err != nil {
				return &types.InvalidAttributeValue{Message: aws.String(fmt.Sprintf("invalid value for %s: %q", k, v))}
			}
		case "RedrivePolicy":
			if _, _, err := parseRedrive(v); err != nil {
				return &types.InvalidAttributeValue{Message: aws.String(err.Error())}
			}
		}
	}
	return nil
}

// parseRedrive reads a RedrivePolicy; SQS accepts maxReceiveCount as a
// number or a string.
func parseRedrive(raw string) (arn string, max int, err error) {
	var p struct {
		DeadLetterTargetArn string      `json:"deadLetterTargetArn"`
		MaxReceiveCount     json.Number `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return "", 0, fmt.Errorf("invalid RedrivePolicy %q: %w", raw, err)
	}
	n, err := p.MaxReceiveCount.Int64()
	if err != nil || n < 1 || p.DeadLetterTargetArn == "" {
		return "", 0, fmt.Errorf("invalid RedrivePolicy %q", raw)
	}
	return p.DeadLetterTargetArn, int(n), nil
}

// GetQueueAttributes implements queue.API, including the approximate
// message counts.
func (f *Fake) GetQueueAttributes(_ context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q, err := f.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	now := f.now()
	all := maps.Clone(q.attrs)
	all[string(types.QueueAttributeNameQueueArn)] = q.arn
	visible, hidden, delayed := 0, 0, 0
	for _, m := range q.msgs {
		switch {
		case !now.Before(m.visibleAt):
			visible++
		case m.receiveCount == 0: // sent with a delay, never received: SQS counts it apart
			delayed++
		default:
			hidden++
		}
	}
	all[string(types.QueueAttributeNameApproximateNumberOfMessages)] = strconv.Itoa(visible)
	all[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)] = strconv.Itoa(hidden)
	all[string(types.QueueAttributeNameApproximateNumberOfMessagesDelayed)] = strconv.Itoa(delayed)
	out := map[string]string{}
	for _, n := range in.AttributeNames {
		if n == types.QueueAttributeNameAll {
			return &sqs.GetQueueAttributesOutput{Attributes: all}, nil
		}
		if v, ok := all[string(n)]; ok {
			out[string(n)] = v
		}
	}
	return &sqs.GetQueueAttributesOutput{Attributes: out}, nil
}

// SetQueueAttributes implements queue.API.
func (f *Fake) SetQueueAttributes(_ context.Context, in *sqs.SetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.SetQueueAttributesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q, err := f.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := validateAttrs(in.Attributes); err != nil {
		return nil, err
	}
	maps.Copy(q.attrs, in.Attributes)
	return &sqs.SetQueueAttributesOutput{}, nil
}

// SendMessageBatch implements queue.API with SQS's limits: 1–10 entries
// with distinct ids.
func (f *Fake) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q, err := f.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	switch {
	case len(in.Entries) == 0:
		return nil, &types.EmptyBatchRequest{Message: aws.String("There should be at least one SendMessageBatchRequestEntry in the request.")}
	case len(in.Entries) > 10:
		return nil, &types.TooManyEntriesInBatchRequest{Message: aws.String(fmt.Sprintf("Maximum number of entries per request are 10. You have sent %d.", len(in.Entries)))}
	}
	ids := map[string]bool{}
	for _, e := range in.Entries {
		if ids[aws.ToString(e.Id)] {
			return nil, &types.BatchEntryIdsNotDistinct{Message: aws.String("Id " + aws.ToString(e.Id) + " repeated.")}
		}
		ids[aws.ToString(e.Id)] = true
	}
	now := f.now()
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		if f.failEntries > 0 {
			f.failEntries--
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{
				Id: e.Id, Code: aws.String("InternalError"), Message: aws.String("injected failure"), SenderFault: false,
			})
			continue
		}
		m := &message{id: f.nextID("msg-"), body: aws.ToString(e.MessageBody), sentAt: now, visibleAt: now.Add(time.Duration(e.DelaySeconds) * time.Second)}
		q.msgs = append(q.msgs, m)
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String(m.id)})
	}
	f.notify()
	return out, nil
}

// ReceiveMessage implements queue.API. A message that has already been
// delivered maxReceiveCount times moves to the dead-letter queue when it
// would be delivered again, as in SQS. With WaitTimeSeconds it long-polls in
// real time, returning as soon as a send or visibility change makes a
// message receivable; time spent in the fake clock does not wake it, so
// tests on a manual clock advance it first and then receive.
func (f *Fake) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	if in.MaxNumberOfMessages < 0 || in.MaxNumberOfMessages > 10 {
		return nil, &types.InvalidAttributeValue{Message: aws.String(fmt.Sprintf("MaxNumberOfMessages %d is not between 1 and 10", in.MaxNumberOfMessages))}
	}
	var deadline <-chan time.Time
	if in.WaitTimeSeconds > 0 {
		t := time.NewTimer(time.Duration(in.WaitTimeSeconds) * time.Second)
		defer t.Stop()
		deadline = t.C
	}
	for {
		f.mu.Lock()
		msgs, err := f.receiveLocked(in)
		wake := f.wake
		f.mu.Unlock()
		if err != nil || len(msgs) > 0 || deadline == nil {
			return &sqs.ReceiveMessageOutput{Messages: msgs}, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline:
			return &sqs.ReceiveMessageOutput{}, nil
		case <-wake:
		}
	}
}

func (f *Fake) receiveLocked(in *sqs.ReceiveMessageInput) ([]types.Message, error) {
	q, err := f.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	max := int(in.MaxNumberOfMessages)
	if max == 0 {
		max = 1
	}
	vis := time.Duration(in.VisibilityTimeout) * time.Second
	if in.VisibilityTimeout == 0 {
		secs, _ := strconv.Atoi(q.attrs["VisibilityTimeout"])
		vis = time.Duration(secs) * time.Second
	}
	dlq, maxReceive := f.redriveTarget(q)
	now := f.now()
	var out []types.Message
	kept := q.msgs[:0]
	for _, m := range q.msgs {
		if len(out) == max || now.Before(m.visibleAt) {
			kept = append(kept, m)
			continue
		}
		if dlq != nil && m.receiveCount >= maxReceive {
			// Redrive keeps the message id, body and receive count, and
			// makes it visible in the dead-letter queue at once.
			m.visibleAt, m.receipt = now, ""
			dlq.msgs = append(dlq.msgs, m)
			continue
		}
		m.receiveCount++
		if m.firstRecv.IsZero() {
			m.firstRecv = now
		}
		m.visibleAt = now.Add(vis)
		m.receipt = f.nextID("rh-" + m.id + "-")
		out = append(out, types.Message{
			MessageId: aws.String(m.id), ReceiptHandle: aws.String(m.receipt), Body: aws.String(m.body),
			Attributes: systemAttrs(m, in),
		})
		kept = append(kept, m)
	}
	q.msgs = kept
	return out, nil
}

func (f *Fake) redriveTarget(q *fakeQueue) (*fakeQueue, int) {
	raw := q.attrs[string(types.QueueAttributeNameRedrivePolicy)]
	if raw == "" {
		return nil, 0
	}
	arn, max, err := parseRedrive(raw)
	if err != nil {
		return nil, 0
	}
	for _, d := range f.byName {
		if d.arn == arn {
			return d, max
		}
	}
	return nil, 0 // SQS keeps delivering when the target is gone
}

func systemAttrs(m *message, in *sqs.ReceiveMessageInput) map[string]string {
	want := map[string]bool{}
	for _, n := range in.MessageSystemAttributeNames {
		want[string(n)] = true
	}
	// Older clients still ask through the deprecated field, and SQS still
	// answers them.
	//lint:ignore SA1019 honoured for callers that have not moved on
	for _, n := range in.AttributeNames {
		want[string(n)] = true
	}
	all := map[string]string{
		"ApproximateReceiveCount":          strconv.Itoa(m.receiveCount),
		"SentTimestamp":                    strconv.FormatInt(m.sentAt.UnixMilli(), 10),
		"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.firstRecv.UnixMilli(), 10),
	}
	if want["All"] {
		return all
	}
	out := map[string]string{}
	for k, v := range all {
		if want[k] {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// find returns the message a receipt handle names, or an SQS error: an
// unknown handle is invalid, a superseded one names a message no longer
// in flight under it.
func (q *fakeQueue) find(receipt string) (*message, error) {
	if receipt == "" {
		return nil, &types.ReceiptHandleIsInvalid{Message: aws.String("The receipt handle is empty.")}
	}
	for _, m := range q.msgs {
		if m.receipt == receipt {
			return m, nil
		}
	}
	return nil, &types.ReceiptHandleIsInvalid{Message: aws.String("The receipt handle " + receipt + " is not valid for this queue.")}
}

// DeleteMessage implements queue.API. Deleting an already deleted message
// succeeds, as on SQS.
func (f *Fake) DeleteMessage(_ context.Context, in *sqs.DeleteMessageInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q, err := f.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	receipt := aws.ToString(in.ReceiptHandle)
	if receipt == "" {
		return nil, &types.ReceiptHandleIsInvalid{Message: aws.String("The receipt handle is empty.")}
	}
	for i, m := range q.msgs {
		if m.receipt == receipt {
			q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
			break
		}
	}
	return &sqs.DeleteMessageOutput{}, nil
}

// ChangeMessageVisibility implements queue.API: the new timeout counts
// from now; 0 makes the message receivable at once.
func (f *Fake) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q, err := f.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if in.VisibilityTimeout < 0 || in.VisibilityTimeout > 12*3600 {
		return nil, &types.InvalidAttributeValue{Message: aws.String(fmt.Sprintf("VisibilityTimeout %d is not between 0 and 43200", in.VisibilityTimeout))}
	}
	m, err := q.find(aws.ToString(in.ReceiptHandle))
	if err != nil {
		return nil, err
	}
	now := f.now()
	if !now.Before(m.visibleAt) {
		return nil, &types.MessageNotInflight{}
	}
	m.visibleAt = now.Add(time.Duration(in.VisibilityTimeout) * time.Second)
	f.notify()
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}
