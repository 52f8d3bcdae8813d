package sim

import (
	"context"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ddbfleet/ddbfleet/shared/queue"
)

func itoa(n int) string { return strconv.Itoa(n) }

// countingSQS counts the SQS API calls that reach the fake, by API.
type countingSQS struct {
	next  queue.API
	calls map[string]int
	// continued makes the next ReceiveMessage uncounted: it stands for
	// the rest of a long poll already counted.
	continued bool
}

var _ queue.API = (*countingSQS)(nil)

func (c *countingSQS) count(api string) { c.calls[api]++ }

func (c *countingSQS) GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, o ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	c.count("GetQueueUrl")
	return c.next.GetQueueUrl(ctx, in, o...)
}

func (c *countingSQS) CreateQueue(ctx context.Context, in *sqs.CreateQueueInput, o ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error) {
	c.count("CreateQueue")
	return c.next.CreateQueue(ctx, in, o...)
}

func (c *countingSQS) GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, o ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	c.count("GetQueueAttributes")
	return c.next.GetQueueAttributes(ctx, in, o...)
}

func (c *countingSQS) SetQueueAttributes(ctx context.Context, in *sqs.SetQueueAttributesInput, o ...func(*sqs.Options)) (*sqs.SetQueueAttributesOutput, error) {
	c.count("SetQueueAttributes")
	return c.next.SetQueueAttributes(ctx, in, o...)
}

func (c *countingSQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, o ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	c.count("SendMessageBatch")
	return c.next.SendMessageBatch(ctx, in, o...)
}

func (c *countingSQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, o ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	if !c.continued {
		c.count("ReceiveMessage")
	}
	c.continued = false
	// The fake long-polls in real time: the sim models the wait itself
	// (worker.go), so every receive reaches the fake as a short poll.
	short := *in
	short.WaitTimeSeconds = 0
	return c.next.ReceiveMessage(ctx, &short, o...)
}

func (c *countingSQS) DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, o ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	c.count("DeleteMessage")
	return c.next.DeleteMessage(ctx, in, o...)
}

func (c *countingSQS) ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, o ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	c.count("ChangeMessageVisibility")
	return c.next.ChangeMessageVisibility(ctx, in, o...)
}
