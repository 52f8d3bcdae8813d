package controltable

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ddbfleet/ddbfleet/shared/export"
)

// Checkpoint records cp on the segment row with no part, extending the
// lease, conditional on the lease (the fencing token, which a cancelled
// segment fails too). It is one update of one row, not a transaction:
// there is no part row to keep in step. Its values are absolute, so a
// retry of a try that applied writes the same row again.
func (s *Dynamo) Checkpoint(ctx context.Context, l export.Lease, cp export.Checkpoint, lease time.Duration) error {
	update, cond, names, values, _ := s.checkpointUpdate(l, cp, lease)
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(l.ExportID, segSK(l.Segment)),
		UpdateExpression: &update, ConditionExpression: &cond,
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	})
	err = classify("checkpoint "+l.String(), err)
	if isConditionFailed(err) {
		return fmt.Errorf("checkpoint %s: %w", l, export.ErrLeaseLost)
	}
	return err
}
