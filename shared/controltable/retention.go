package controltable

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/ddbfleet/ddbfleet/shared/export"
)

// retentionWriters bounds the concurrent updates of one ExtendRetention: a
// long export holds tens of thousands of rows (a history sample a minute),
// which one at a time would take many minutes of a rescue pass.
const retentionWriters = 8

// ExtendRetention implements Retainer in three steps. The claim is a
// conditional update of the export row (retainTo = until) that also
// returns its start time, the key of its jobs row; a retry of this call
// passes the same until and so re-enters its own claim, and a claim older
// than RetentionClaim may be taken over. Then every other row is stamped,
// each only if it expires earlier (a retry skips what is done). Last the
// export row gets until and drops the claim: from then on its expiry says
// the work is done, and a caller that read the old one fails the claim.
func (s *Dynamo) ExtendRetention(ctx context.Context, exportID string, seen, until time.Time) (bool, error) {
	op := "extend retention of export " + exportID
	to := until.Unix()
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(exportID, exportSK),
		UpdateExpression:    aws.String("SET retainTo = :to"),
		ConditionExpression: aws.String("expiresAt = :seen AND (attribute_not_exists(retainTo) OR retainTo = :to OR retainTo < :stale)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":to": num(to), ":seen": num(seen.Unix()), ":stale": num(until.Add(-RetentionClaim).Unix()),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if isConditionFailed(err) {
		// Another process holds the claim, or the rows were re-stamped
		// since the caller read them: by someone else, or by an earlier
		// try of this very call whose answer was lost.
		e, err := s.GetExport(ctx, exportID)
		if errors.Is(err, export.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return e.ExpiresAt.Unix() == to, nil
	}
	if err := classify(op, err); err != nil {
		return false, err
	}
	var start int64
	if v, ok := out.Attributes["startTime"].(*types.AttributeValueMemberN); ok {
		start, _ = strconv.ParseInt(v.Value, 10, 64)
	}

	var rows []map[string]types.AttributeValue
	err = s.queryPages(ctx, op, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("pk = :pk"),
		ProjectionExpression:      aws.String("pk, sk, expiresAt"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk(exportID))},
		ConsistentRead:            aws.Bool(true),
	}, func(out *dynamodb.QueryOutput) error {
		for _, item := range out.Items {
			if sk, _ := item["sk"].(*types.AttributeValueMemberS); sk != nil && sk.Value == exportSK {
				continue
			}
			if at, ok := unixOf(item); !ok || at >= to {
				continue // never expires, or already stamped
			}
			rows = append(rows, map[string]types.AttributeValue{"pk": item["pk"], "sk": item["sk"]})
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	rows = append(rows,
		map[string]types.AttributeValue{"pk": str(jobsPK), "sk": str(jobSK(fromMS(start), exportID))},
		map[string]types.AttributeValue{"pk": str(activePK), "sk": str(exportID)})
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(retentionWriters)
	for _, k := range rows {
		g.Go(func() error { return s.stampExpiry(gctx, op, k, to) })
	}
	if err := g.Wait(); err != nil {
		return false, err
	}

	_, err = s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(exportID, exportSK),
		UpdateExpression:          aws.String("SET expiresAt = :to REMOVE retainTo"),
		ConditionExpression:       aws.String("retainTo = :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":to": num(to)},
	})
	if isConditionFailed(err) {
		// Our claim went stale and another process took the work over; it
		// stamps the export row when it is done.
		return false, nil
	}
	if err := classify(op, err); err != nil {
		return false, err
	}
	return true, nil
}

// stampExpiry makes one row expire at to unless it expires later already.
// A row that is gone (the active row of an export that just finished) is
// not written back as a stub, and a row without expiry keeps none.
func (s *Dynamo) stampExpiry(ctx context.Context, op string, k map[string]types.AttributeValue, to int64) error {
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: k,
		UpdateExpression:          aws.String("SET expiresAt = :to"),
		ConditionExpression:       aws.String("attribute_exists(pk) AND expiresAt < :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":to": num(to)},
	})
	if isConditionFailed(err) {
		return nil
	}
	return classify(op, err)
}

// RetainedUntil implements Retainer: the earliest expiresAt of the
// export's partition and of its jobs and active rows.
func (s *Dynamo) RetainedUntil(ctx context.Context, exportID string) (time.Time, error) {
	op := "read retention of export " + exportID
	var earliest int64
	var start int64
	found := false
	note := func(item map[string]types.AttributeValue) {
		if at, ok := unixOf(item); ok && (earliest == 0 || at < earliest) {
			earliest = at
		}
	}
	err := s.queryPages(ctx, op, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("pk = :pk"),
		ProjectionExpression:      aws.String("sk, expiresAt, startTime"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk(exportID))},
		ConsistentRead:            aws.Bool(true),
	}, func(out *dynamodb.QueryOutput) error {
		for _, item := range out.Items {
			found = true
			note(item)
			if sk, _ := item["sk"].(*types.AttributeValueMemberS); sk != nil && sk.Value == exportSK {
				if v, ok := item["startTime"].(*types.AttributeValueMemberN); ok {
					start, _ = strconv.ParseInt(v.Value, 10, 64)
				}
			}
		}
		return nil
	})
	if err != nil {
		return time.Time{}, err
	}
	if !found {
		return time.Time{}, fmt.Errorf("export %s: %w", exportID, export.ErrNotFound)
	}
	for _, k := range []map[string]types.AttributeValue{
		{"pk": str(jobsPK), "sk": str(jobSK(fromMS(start), exportID))},
		{"pk": str(activePK), "sk": str(exportID)},
	} {
		out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: k, ConsistentRead: aws.Bool(true)})
		if err := classify(op, err); err != nil {
			return time.Time{}, err
		}
		note(out.Item)
	}
	return fromUnix(earliest), nil
}

// unixOf reads a row's expiresAt.
func unixOf(item map[string]types.AttributeValue) (int64, bool) {
	v, ok := item["expiresAt"].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	return n, err == nil
}
