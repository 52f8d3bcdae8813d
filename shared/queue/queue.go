// Package queue owns the SQS work queue: one message per scan segment, its
// dead-letter queue, and the visibility-timeout heartbeat that keeps a
// message hidden while a worker holds the segment.
//
// SQS delivers at least once, so a message is only a hint that a segment
// needs work; the control table decides who does it.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ddbfleet/ddbfleet/shared/fault"
)

// API is the part of the SQS client the queue uses.
type API interface {
	GetQueueUrl(context.Context, *sqs.GetQueueUrlInput, ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	CreateQueue(context.Context, *sqs.CreateQueueInput, ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error)
	GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	SetQueueAttributes(context.Context, *sqs.SetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.SetQueueAttributesOutput, error)
	SendMessageBatch(context.Context, *sqs.SendMessageBatchInput, ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(context.Context, *sqs.ChangeMessageVisibilityInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

var _ API = (*sqs.Client)(nil)

// Task is the body of a work message.
type Task struct {
	ExportID      string `json:"exportId"`
	Segment       int    `json:"segment"`
	TotalSegments int    `json:"totalSegments"`
}

// Message is a received task with its delivery metadata.
type Message struct {
	Task
	ReceiptHandle string
	ReceiveCount  int
	Body          string
}

// DefaultMaxReceiveCount is how many deliveries a message gets before SQS
// parks it in the dead-letter queue.
const DefaultMaxReceiveCount = 5

// DLQName names the dead-letter queue of a work queue.
func DLQName(name string) string { return name + "-dlq" }

// Queue is one SQS queue by URL.
type Queue struct {
	api API
	url string
}

// Open resolves the queue URL by name.
func Open(ctx context.Context, api API, name string) (*Queue, error) {
	out, err := api.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &name})
	if err != nil {
		var nq *types.QueueDoesNotExist
		if errors.As(err, &nq) {
			return nil, fmt.Errorf("queue %s does not exist (run `coordinator init`): %w", name, err)
		}
		return nil, fmt.Errorf("resolve queue %s: %w", name, err)
	}
	return &Queue{api: api, url: aws.ToString(out.QueueUrl)}, nil
}

// URL is the queue's URL.
func (q *Queue) URL() string { return q.url }

// Ensure creates, idempotently, the work queue and its dead-letter queue
// with a redrive policy, both with SSE on. visibility is the initial
// visibility timeout; workers extend it while they hold a segment.
func Ensure(ctx context.Context, api API, name string, maxReceive int, visibility time.Duration) error {
	sse := map[string]string{"SqsManagedSseEnabled": "true"}
	dlqAttrs := map[string]string{"MessageRetentionPeriod": strconv.Itoa(14 * 24 * 3600)}
	maps.Copy(dlqAttrs, sse)
	dlq, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(DLQName(name)), Attributes: dlqAttrs})
	if err != nil && strings.Contains(err.Error(), "SqsManagedSseEnabled") {
		// Some SQS implementations (local emulators) know no SSE; the
		// queue works the same without it. On AWS it is always honoured.
		sse = nil
		delete(dlqAttrs, "SqsManagedSseEnabled")
		dlq, err = api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(DLQName(name)), Attributes: dlqAttrs})
	}
	if err != nil {
		return fmt.Errorf("create dead-letter queue %s: %w", DLQName(name), err)
	}
	attrs, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: dlq.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return fmt.Errorf("read dead-letter queue ARN: %w", err)
	}
	redrive, _ := json.Marshal(map[string]string{
		"deadLetterTargetArn": attrs.Attributes[string(types.QueueAttributeNameQueueArn)],
		"maxReceiveCount":     strconv.Itoa(maxReceive),
	})
	want := map[string]string{
		"VisibilityTimeout":      strconv.Itoa(int(visibility.Seconds())),
		"MessageRetentionPeriod": strconv.Itoa(14 * 24 * 3600),
		"RedrivePolicy":          string(redrive),
	}
	maps.Copy(want, sse)
	out, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &name, Attributes: want})
	if err != nil {
		// An existing queue with other attributes refuses CreateQueue;
		// bring its attributes in line instead, so init stays idempotent
		// and a changed --max-receive-count takes effect.
		url, gerr := api.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &name})
		if gerr != nil {
			return fmt.Errorf("create queue %s: %w", name, err)
		}
		out = &sqs.CreateQueueOutput{QueueUrl: url.QueueUrl}
	}
	_, err = api.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: out.QueueUrl, Attributes: want})
	if err != nil && strings.Contains(err.Error(), "SqsManagedSseEnabled") {
		delete(want, "SqsManagedSseEnabled")
		_, err = api.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: out.QueueUrl, Attributes: want})
	}
	if err != nil {
		return fmt.Errorf("configure queue %s: %w", name, err)
	}
	return nil
}

// MaxReceiveCount reads the redrive policy, so a worker knows which
// delivery is the last before the dead-letter queue. 0 means no DLQ.
func (q *Queue) MaxReceiveCount(ctx context.Context) (int, error) {
	out, err := q.api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: &q.url, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameRedrivePolicy},
	})
	if err != nil {
		return 0, fmt.Errorf("read redrive policy: %w", err)
	}
	raw := out.Attributes[string(types.QueueAttributeNameRedrivePolicy)]
	if raw == "" {
		return 0, nil
	}
	var p struct {
		MaxReceiveCount json.Number `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return 0, fmt.Errorf("parse redrive policy %q: %w", raw, err)
	}
	n, err := p.MaxReceiveCount.Int64()
	return int(n), err
}

// Backlog is the approximate number of messages waiting or in flight.
func (q *Queue) Backlog(ctx context.Context) (int, error) {
	// Delayed messages are work handed back for later (SendLater): a
	// queue holding them is not idle.
	names := []types.QueueAttributeName{
		types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
	}
	out, err := q.api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &q.url, AttributeNames: names})
	if err != nil {
		return 0, fmt.Errorf("read queue depth: %w", err)
	}
	n := 0
	for _, name := range names {
		v, _ := strconv.Atoi(out.Attributes[string(name)])
		n += v
	}
	return n, nil
}

// MaxDelay is the longest SQS can delay a new message.
const MaxDelay = 15 * time.Minute

// SendLater enqueues one task that becomes visible after delay (at most
// MaxDelay). A fresh message starts with no deliveries, unlike one whose
// visibility is changed, so handing work back this way never moves it
// toward the dead-letter queue.
func (q *Queue) SendLater(ctx context.Context, t Task, delay time.Duration) error {
	return q.send(ctx, []Task{t}, int32(min(delay, MaxDelay)/time.Second))
}

// Send enqueues tasks in batches of ten (SQS's limit), retrying entries
// that a batch reports as failed.
func (q *Queue) Send(ctx context.Context, tasks []Task) error { return q.send(ctx, tasks, 0) }

func (q *Queue) send(ctx context.Context, tasks []Task, delaySeconds int32) error {
	for start := 0; start < len(tasks); start += 10 {
		batch := tasks[start:min(start+10, len(tasks))]
		entries := make([]types.SendMessageBatchRequestEntry, len(batch))
		for i, t := range batch {
			body, _ := json.Marshal(t)
			entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(body)), DelaySeconds: delaySeconds}
		}
		// One retry path: a partly failed batch resends only the failed
		// entries, under the same backoff as any other call.
		err := fault.Retry(ctx, fault.DefaultPolicy, func(ctx context.Context) error {
			out, err := q.api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &q.url, Entries: entries})
			if err != nil {
				return fmt.Errorf("send %d segment messages: %w", len(entries), err)
			}
			if len(out.Failed) == 0 {
				return nil
			}
			failed := map[string]bool{}
			for _, f := range out.Failed {
				failed[aws.ToString(f.Id)] = true
			}
			var again []types.SendMessageBatchRequestEntry
			for _, e := range entries {
				if failed[aws.ToString(e.Id)] {
					again = append(again, e)
				}
			}
			entries = again
			return fault.Retryable(fmt.Errorf("send segment messages: %d entries failed, first: %s", len(out.Failed), aws.ToString(out.Failed[0].Message)))
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Receive long-polls for up to max messages, hiding them for visibility.
// A message whose body is not a Task is returned with a zero Task so the
// caller can log and delete it.
func (q *Queue) Receive(ctx context.Context, max int, wait, visibility time.Duration) ([]Message, error) {
	out, err := q.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    &q.url,
		MaxNumberOfMessages:         int32(max),
		WaitTimeSeconds:             int32(wait.Seconds()),
		VisibilityTimeout:           int32(visibility.Seconds()),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		return nil, fmt.Errorf("receive from queue: %w", err)
	}
	msgs := make([]Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		msg := Message{ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body)}
		msg.ReceiveCount, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		_ = json.Unmarshal([]byte(msg.Body), &msg.Task)
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

// Delete removes a handled message.
func (q *Queue) Delete(ctx context.Context, receipt string) error {
	_, err := q.api.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &q.url, ReceiptHandle: &receipt})
	if err != nil {
		return fmt.Errorf("delete message: %w", err)
	}
	return nil
}

// SetVisibility hides a message for d more (heartbeat), or makes it
// visible again at once with d = 0 (release on drain).
func (q *Queue) SetVisibility(ctx context.Context, receipt string, d time.Duration) error {
	_, err := q.api.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: &q.url, ReceiptHandle: &receipt, VisibilityTimeout: int32(d.Seconds()),
	})
	if err != nil {
		return fmt.Errorf("change message visibility: %w", err)
	}
	return nil
}
