package controltable

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbfleet/ddbfleet/shared/datafile"
	"github.com/ddbfleet/ddbfleet/shared/fault"
)

// CreateExport records a new export and its segments, all PENDING. It
// fails with ErrExists if the id is taken.
func (s *Store) CreateExport(ctx context.Context, e *Export) error {
	now := s.now()
	expires := now.Add(Retention).Unix()
	row := exportRow{
		PK: pk(e.ExportID), SK: exportSK, Kind: "export", ExportID: e.ExportID,
		Table: e.Table, TableARN: e.TableARN, TableID: e.TableID, Bucket: e.Bucket, Prefix: e.Prefix,
		SegmentsTotal: e.SegmentsTotal, State: string(ExportPending), StartTime: ms(e.StartTime),
		ArgsHash: e.ArgsHash, ReadCapacityCap: e.ReadCapacityCap, ScanPageSize: e.ScanPageSize,
		PartSizeBytes: e.PartSizeBytes, BilledSizeBytes: e.BilledSizeBytes, EstimatedItems: e.EstimatedItems,
		ExpiresAt: expires,
		Format:    string(e.Format), Compression: string(e.Compression),
		FilterExpression: e.FilterExpression, ProjectionExpression: e.ProjectionExpression,
		ExprNames: e.ExpressionAttributeNames,
		SSE:       e.Objects.SSE, SSEKMSKeyID: e.Objects.SSEKMSKeyID, StorageClass: e.Objects.StorageClass,
	}
	if row.Format == string(datafile.DynamoDBJSON) {
		row.Format = ""
	}
	if row.Compression == string(datafile.Gzip) {
		row.Compression = ""
	}
	item, err := attributevalue.MarshalMap(row)
	if err != nil {
		return err
	}
	if len(e.ExpressionAttributeValues) > 0 {
		item[exprValuesAttr] = &types.AttributeValueMemberM{Value: e.ExpressionAttributeValues}
	}
	err = s.retry(ctx, func(ctx context.Context) error {
		_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: &s.table, Item: item,
			ConditionExpression: aws.String("attribute_not_exists(pk)"),
		})
		return classify("record export", err)
	})
	if isConditionFailed(err) {
		return ErrExists
	}
	if err != nil {
		return err
	}
	// Segment rows go in batches of 25 (BatchWriteItem's limit). If we die
	// half-way the export stays PENDING and a re-run with the same id fills
	// in the rest: these puts are idempotent.
	if err := s.putSegments(ctx, e.ExportID, e.SegmentsTotal, expires); err != nil {
		return err
	}
	return s.setActive(ctx, e.ExportID, true)
}

func (s *Store) putSegments(ctx context.Context, exportID string, total int, expires int64) error {
	now := ms(s.now())
	for start := 0; start < total; start += 25 {
		var reqs []types.WriteRequest
		for seg := start; seg < min(start+25, total); seg++ {
			item := key(exportID, segSK(seg))
			item["kind"] = str("segment")
			item["segment"] = num(int64(seg))
			item["state"] = str(string(SegmentPending))
			item["attempt"] = num(0)
			item["leaseExpiry"] = num(0)
			item["nextPart"] = num(0)
			item["updatedAt"] = num(now)
			item["expiresAt"] = num(expires)
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		}
		if err := s.batchWrite(ctx, reqs); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	return s.retry(ctx, func(ctx context.Context) error {
		for len(reqs) > 0 {
			out, err := s.api.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
				RequestItems: map[string][]types.WriteRequest{s.table: reqs},
			})
			if err != nil {
				return classify("write segment rows", err)
			}
			// Unprocessed items are throttling in disguise: retry them
			// under the same backoff.
			reqs = out.UnprocessedItems[s.table]
			if len(reqs) > 0 {
				return fault.Retryable(fmt.Errorf("%d segment rows unprocessed", len(reqs)))
			}
		}
		return nil
	})
}

// GetExport reads the export row with a strongly consistent read.
func (s *Store) GetExport(ctx context.Context, exportID string) (*Export, error) {
	var out *dynamodb.GetItemOutput
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		out, err = s.api.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: &s.table, Key: key(exportID, exportSK), ConsistentRead: aws.Bool(true),
		})
		return classify("read export "+exportID, err)
	})
	if err != nil {
		return nil, err
	}
	if out.Item == nil {
		return nil, fmt.Errorf("export %s: %w", exportID, ErrNotFound)
	}
	var r exportRow
	if err := attributevalue.UnmarshalMap(out.Item, &r); err != nil {
		return nil, fmt.Errorf("decode export row: %w", err)
	}
	e := r.toExport()
	if v, ok := out.Item[exprValuesAttr].(*types.AttributeValueMemberM); ok {
		e.ExpressionAttributeValues = v.Value
	}
	return e, nil
}

// GetSegment reads one segment row with a strongly consistent read.
func (s *Store) GetSegment(ctx context.Context, exportID string, segment int) (*Segment, error) {
	var out *dynamodb.GetItemOutput
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		out, err = s.api.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: &s.table, Key: key(exportID, segSK(segment)), ConsistentRead: aws.Bool(true),
		})
		return classify(fmt.Sprintf("read segment %d of export %s", segment, exportID), err)
	})
	if err != nil {
		return nil, err
	}
	if out.Item == nil {
		return nil, fmt.Errorf("segment %d of export %s: %w", segment, exportID, ErrNotFound)
	}
	return decodeSegment(exportID, out.Item)
}

// queryPages runs a Query page by page under the retry budget.
func (s *Store) queryPages(ctx context.Context, op string, in *dynamodb.QueryInput, each func(*dynamodb.QueryOutput) error) error {
	in.TableName = &s.table
	for {
		var out *dynamodb.QueryOutput
		err := s.retry(ctx, func(ctx context.Context) error {
			var err error
			out, err = s.api.Query(ctx, in)
			return classify(op, err)
		})
		if err != nil {
			return err
		}
		if err := each(out); err != nil {
			return err
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// query reads, strongly consistently, every row of the export whose sort
// key starts with skPrefix.
func (s *Store) query(ctx context.Context, exportID, skPrefix string, each func(map[string]types.AttributeValue) error) error {
	return s.queryPages(ctx, "query control table for export "+exportID, &dynamodb.QueryInput{
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(pk(exportID)), ":p": str(skPrefix),
		},
		ConsistentRead: aws.Bool(true),
	}, func(out *dynamodb.QueryOutput) error {
		for _, item := range out.Items {
			if err := each(item); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListSegments returns every segment row in segment order.
func (s *Store) ListSegments(ctx context.Context, exportID string) ([]*Segment, error) {
	var segs []*Segment
	err := s.query(ctx, exportID, "SEG#", func(item map[string]types.AttributeValue) error {
		seg, err := decodeSegment(exportID, item)
		if err == nil {
			segs = append(segs, seg)
		}
		return err
	})
	return segs, err
}

// CountLeased counts the export's segments whose lease is live now: the
// read-capacity cap is split among them.
func (s *Store) CountLeased(ctx context.Context, exportID string) (int, error) {
	n := 0
	err := s.queryPages(ctx, "count leased segments of export "+exportID, &dynamodb.QueryInput{
		KeyConditionExpression:   aws.String("pk = :pk AND begins_with(sk, :p)"),
		FilterExpression:         aws.String("#st = :run AND leaseExpiry > :now"),
		ExpressionAttributeNames: map[string]string{"#st": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(pk(exportID)), ":p": str("SEG#"), ":run": str(string(SegmentRunning)), ":now": num(ms(s.now())),
		},
		Select: types.SelectCount,
	}, func(out *dynamodb.QueryOutput) error {
		n += int(out.Count)
		return nil
	})
	return n, err
}

// ListParts returns every committed part in (segment, part) order.
func (s *Store) ListParts(ctx context.Context, exportID string) ([]Part, error) {
	var parts []Part
	err := s.query(ctx, exportID, "PART#", func(item map[string]types.AttributeValue) error {
		var r partRow
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			return fmt.Errorf("decode part row: %w", err)
		}
		parts = append(parts, Part(r))
		return nil
	})
	return parts, err
}

// SetExportState moves an export from one of the states in from to to,
// setting the extra attributes too. It returns ErrLeaseLost-free semantics:
// (false, nil) when the export was not in any of from.
func (s *Store) SetExportState(ctx context.Context, exportID string, from []ExportState, to ExportState, set map[string]types.AttributeValue) (bool, error) {
	names := map[string]string{"#st": "state"}
	values := map[string]types.AttributeValue{":to": str(string(to))}
	update := "SET #st = :to"
	cond := "attribute_exists(pk) AND #st IN ("
	for i, f := range from {
		p := ":f" + strconv.Itoa(i)
		values[p] = str(string(f))
		if i > 0 {
			cond += ", "
		}
		cond += p
	}
	cond += ")"
	i := 0
	for k, v := range set {
		n, p := "#a"+strconv.Itoa(i), ":a"+strconv.Itoa(i)
		names[n], values[p] = k, v
		update += ", " + n + " = " + p
		i++
	}
	err := s.retry(ctx, func(ctx context.Context) error {
		_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: key(exportID, exportSK),
			UpdateExpression: &update, ConditionExpression: &cond,
			ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		})
		return classify(fmt.Sprintf("set export %s to %s", exportID, to), err)
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err == nil && to.Terminal() {
		err = s.setActive(ctx, exportID, false)
	}
	return err == nil, err
}

// activePK holds one row per export that is not finished, so every worker
// can find the exports it may have to rescue without scanning the table.
const activePK = "ACTIVE"

// setActive adds or removes the export's row in the active index.
func (s *Store) setActive(ctx context.Context, exportID string, active bool) error {
	k := map[string]types.AttributeValue{"pk": str(activePK), "sk": str(exportID)}
	return s.retry(ctx, func(ctx context.Context) error {
		var err error
		if active {
			k["kind"] = str("active")
			k["expiresAt"] = num(s.now().Add(Retention).Unix())
			_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: k})
		} else {
			_, err = s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: k})
		}
		return classify("update active-export index for "+exportID, err)
	})
}

// ListActive returns the ids of exports not yet COMPLETED, FAILED or
// CANCELLED (a row may linger briefly after; callers re-read the export).
func (s *Store) ListActive(ctx context.Context) ([]string, error) {
	var ids []string
	err := s.queryPages(ctx, "list active exports", &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(activePK)},
	}, func(out *dynamodb.QueryOutput) error {
		for _, item := range out.Items {
			if v, ok := item["sk"].(*types.AttributeValueMemberS); ok {
				ids = append(ids, v.Value)
			}
		}
		return nil
	})
	return ids, err
}

// Forget removes a finished export from the active index (the rescuer
// tidies rows left behind by a crash between the two writes).
func (s *Store) Forget(ctx context.Context, exportID string) error {
	return s.setActive(ctx, exportID, false)
}

// ClaimSegment takes the segment's lease for owner, starting a new attempt.
// A segment is claimable when PENDING, or RUNNING with an expired lease. On
// failure the error is a *NotClaimableError saying why.
func (s *Store) ClaimSegment(ctx context.Context, exportID string, segment int, owner string, lease time.Duration) (*Segment, Lease, error) {
	now := s.now()
	var out *dynamodb.UpdateItemOutput
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		out, err = s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                &s.table,
			Key:                      key(exportID, segSK(segment)),
			UpdateExpression:         aws.String("SET #st = :run, attempt = attempt + :one, #ow = :me, leaseExpiry = :exp, updatedAt = :now"),
			ConditionExpression:      aws.String("attribute_exists(pk) AND (#st = :pending OR (#st = :run AND leaseExpiry < :now))"),
			ExpressionAttributeNames: map[string]string{"#st": "state", "#ow": "owner"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":run": str(string(SegmentRunning)), ":pending": str(string(SegmentPending)),
				":one": num(1), ":me": str(owner), ":exp": num(ms(now.Add(lease))), ":now": num(ms(now)),
			},
			ReturnValues: types.ReturnValueAllNew,
		})
		return classify(fmt.Sprintf("claim segment %d of export %s", segment, exportID), err)
	})
	if err != nil && !isConditionFailed(err) {
		return nil, Lease{}, err
	}
	if err == nil {
		seg, err := decodeSegment(exportID, out.Attributes)
		if err != nil {
			return nil, Lease{}, err
		}
		return seg, Lease{ExportID: exportID, Segment: segment, Attempt: seg.Attempt, Owner: owner}, nil
	}
	// The condition failed: either someone else holds it, it is finished,
	// or an earlier try of this very call succeeded before its response was
	// lost (owner names are unique per claim, so that case is recognisable).
	seg, gerr := s.GetSegment(ctx, exportID, segment)
	if gerr != nil {
		return nil, Lease{}, gerr
	}
	if seg.State == SegmentRunning && seg.Owner == owner {
		return seg, Lease{ExportID: exportID, Segment: segment, Attempt: seg.Attempt, Owner: owner}, nil
	}
	return nil, Lease{}, &NotClaimableError{State: seg.State, Owner: seg.Owner, LeaseExpiry: seg.LeaseExpiry}
}

func leaseCondition(l Lease) (string, map[string]string, map[string]types.AttributeValue) {
	return "#st = :run AND attempt = :att AND #ow = :me",
		map[string]string{"#st": "state", "#ow": "owner"},
		map[string]types.AttributeValue{
			":run": str(string(SegmentRunning)), ":att": num(int64(l.Attempt)), ":me": str(l.Owner),
		}
}

// Heartbeat extends the lease. ErrLeaseLost means stop now.
func (s *Store) Heartbeat(ctx context.Context, l Lease, lease time.Duration) error {
	now := s.now()
	return s.updateLeased(ctx, l, "heartbeat", "SET leaseExpiry = :exp, updatedAt = :now",
		map[string]types.AttributeValue{":exp": num(ms(now.Add(lease))), ":now": num(ms(now))})
}

// HeartbeatProgress is Heartbeat that also records how many items the
// attempt has read so far, committed or not, so progress moves between
// part commits (which, with large parts, are minutes apart).
func (s *Store) HeartbeatProgress(ctx context.Context, l Lease, lease time.Duration, liveItems int64) error {
	now := s.now()
	return s.updateLeased(ctx, l, "heartbeat", "SET leaseExpiry = :exp, updatedAt = :now, liveItems = :live",
		map[string]types.AttributeValue{":exp": num(ms(now.Add(lease))), ":now": num(ms(now)), ":live": num(liveItems)})
}

// updateLeased runs one update of the segment row, conditional on the
// caller still holding lease l (the fencing token).
func (s *Store) updateLeased(ctx context.Context, l Lease, op, update string, extra map[string]types.AttributeValue) error {
	cond, names, values := leaseCondition(l)
	maps.Copy(values, extra)
	err := s.retry(ctx, func(ctx context.Context) error {
		_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: key(l.ExportID, segSK(l.Segment)),
			UpdateExpression:          &update,
			ConditionExpression:       &cond,
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		})
		return classify(op+" "+l.String(), err)
	})
	if isConditionFailed(err) {
		return fmt.Errorf("%s %s: %w", op, l, ErrLeaseLost)
	}
	return err
}

func (s *Store) partPut(l Lease, p Part) types.TransactWriteItem {
	item := key(l.ExportID, partSK(p.Segment, p.Part))
	row, _ := attributevalue.MarshalMap(partRow(p))
	for k, v := range row {
		item[k] = v
	}
	item["kind"] = str("part")
	item["expiresAt"] = num(s.now().Add(Retention).Unix())
	// Unconditional: a retried commit of the same attempt rewrites the same
	// row; the segment's lease condition below is what fences zombies.
	return types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: item}}
}

func (s *Store) exportRunningCheck(exportID string) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: &s.table, Key: key(exportID, exportSK),
		ConditionExpression:      aws.String("#st IN (:pending, :running)"),
		ExpressionAttributeNames: map[string]string{"#st": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pending": str(string(ExportPending)), ":running": str(string(ExportRunning)),
		},
	}}
}

// CommitPart records a durable part and the checkpoint after it in one
// transaction, also extending the lease. The export must still be PENDING
// (the coordinator is still enqueueing) or RUNNING: a cancelled export
// rejects it like a lost lease.
func (s *Store) CommitPart(ctx context.Context, l Lease, p Part, cp Checkpoint, lease time.Duration) error {
	cond, names, values := leaseCondition(l)
	now := s.now()
	values[":np"] = num(int64(cp.NextPart))
	values[":ic"] = num(cp.ItemCount)
	values[":by"] = num(cp.Bytes)
	values[":pg"] = num(cp.Pages)
	values[":exp"] = num(ms(now.Add(lease)))
	values[":now"] = num(ms(now))
	update := "SET nextPart = :np, itemCount = :ic, #by = :by, pages = :pg, leaseExpiry = :exp, updatedAt = :now"
	names["#by"] = "bytes"
	if len(cp.Cursor) > 0 {
		values[":cur"] = &types.AttributeValueMemberM{Value: cp.Cursor}
		update += ", #cur = :cur"
		names["#cur"] = "cursor"
	}
	items := []types.TransactWriteItem{
		s.partPut(l, p),
		{Update: &types.Update{
			TableName: &s.table, Key: key(l.ExportID, segSK(l.Segment)),
			UpdateExpression: &update, ConditionExpression: &cond,
			ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		}},
		s.exportRunningCheck(l.ExportID),
	}
	err := s.retry(ctx, func(ctx context.Context) error {
		_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		return classify(fmt.Sprintf("commit part %d of %s", p.Part, l), err)
	})
	if isConditionFailed(err) {
		return fmt.Errorf("commit part %d of %s: %w", p.Part, l, ErrLeaseLost)
	}
	return err
}

// CompleteSegment marks the segment DONE with its final totals (and final
// part, if any) and adds them to the export's counters, atomically: a
// segment is counted exactly once however often this is retried.
func (s *Store) CompleteSegment(ctx context.Context, l Lease, last *Part, cp Checkpoint) error {
	cond, names, values := leaseCondition(l)
	now := s.now()
	values[":done"] = str(string(SegmentDone))
	values[":np"] = num(int64(cp.NextPart))
	values[":ic"] = num(cp.ItemCount)
	values[":by"] = num(cp.Bytes)
	values[":pg"] = num(cp.Pages)
	values[":now"] = num(ms(now))
	names["#by"] = "bytes"
	names["#cur"] = "cursor"
	var items []types.TransactWriteItem
	parts := int64(cp.NextPart)
	if last != nil {
		items = append(items, s.partPut(l, *last))
	}
	items = append(items,
		types.TransactWriteItem{Update: &types.Update{
			TableName: &s.table, Key: key(l.ExportID, segSK(l.Segment)),
			UpdateExpression:          aws.String("SET #st = :done, nextPart = :np, itemCount = :ic, #by = :by, pages = :pg, leaseExpiry = :now, updatedAt = :now REMOVE #cur"),
			ConditionExpression:       &cond,
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		}},
		types.TransactWriteItem{Update: &types.Update{
			TableName: &s.table, Key: key(l.ExportID, exportSK),
			UpdateExpression:         aws.String("ADD segmentsDone :one, itemCount :ic, #by :by, parts :pc"),
			ConditionExpression:      aws.String("#st IN (:pending, :running)"),
			ExpressionAttributeNames: map[string]string{"#st": "state", "#by": "bytes"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":one": num(1), ":ic": num(cp.ItemCount), ":by": num(cp.Bytes), ":pc": num(parts),
				":pending": str(string(ExportPending)), ":running": str(string(ExportRunning)),
			},
		}},
	)
	err := s.retry(ctx, func(ctx context.Context) error {
		_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		return classify("complete "+l.String(), err)
	})
	if isConditionFailed(err) {
		// An earlier try may have landed before its response was lost.
		if seg, gerr := s.GetSegment(ctx, l.ExportID, l.Segment); gerr == nil && seg.State == SegmentDone && seg.Attempt == l.Attempt {
			return nil
		}
		return fmt.Errorf("complete %s: %w", l, ErrLeaseLost)
	}
	return err
}

// ReleaseSegment gives the lease up early (graceful drain) so another
// worker can continue from the last checkpoint at once.
func (s *Store) ReleaseSegment(ctx context.Context, l Lease, reason string) error {
	return s.updateLeased(ctx, l, "release", "SET leaseExpiry = :zero, updatedAt = :now, lastError = :why",
		map[string]types.AttributeValue{":zero": num(0), ":now": num(ms(s.now())), ":why": str(reason)})
}

// FailSegment records a failed attempt. With final it marks the segment
// FAILED and counts it on the export; otherwise it releases the lease so
// the next delivery retries from the last checkpoint.
func (s *Store) FailSegment(ctx context.Context, l Lease, reason string, final bool) error {
	cond, names, values := leaseCondition(l)
	now := s.now()
	values[":zero"] = num(0)
	values[":one"] = num(1)
	values[":now"] = num(ms(now))
	values[":why"] = str(reason)
	update := "SET leaseExpiry = :zero, updatedAt = :now, lastError = :why ADD failures :one"
	if final {
		update = "SET #st = :failed, leaseExpiry = :zero, updatedAt = :now, lastError = :why ADD failures :one"
		values[":failed"] = str(string(SegmentFailed))
	}
	items := []types.TransactWriteItem{{Update: &types.Update{
		TableName: &s.table, Key: key(l.ExportID, segSK(l.Segment)),
		UpdateExpression: &update, ConditionExpression: &cond,
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	}}}
	if final {
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName: &s.table, Key: key(l.ExportID, exportSK),
			UpdateExpression: aws.String("ADD segmentsFailed :one SET lastError = :why"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":one": num(1), ":why": str(fmt.Sprintf("segment %d: %s", l.Segment, reason)),
			},
		}})
	}
	err := s.retry(ctx, func(ctx context.Context) error {
		_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		return classify("record failure of "+l.String(), err)
	})
	if isConditionFailed(err) {
		return fmt.Errorf("record failure of %s: %w", l, ErrLeaseLost)
	}
	return err
}

// FailUnleased marks a segment FAILED without holding its lease: the
// rescuer does this for work parked in the dead-letter queue. It only acts
// on a segment that is not DONE or FAILED and whose lease has expired.
func (s *Store) FailUnleased(ctx context.Context, exportID string, segment int, reason string) (bool, error) {
	now := s.now()
	items := []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: &s.table, Key: key(exportID, segSK(segment)),
			UpdateExpression:         aws.String("SET #st = :failed, lastError = :why, updatedAt = :now"),
			ConditionExpression:      aws.String("#st IN (:pending, :run) AND (leaseExpiry < :now OR attribute_not_exists(leaseExpiry))"),
			ExpressionAttributeNames: map[string]string{"#st": "state"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":failed": str(string(SegmentFailed)), ":pending": str(string(SegmentPending)),
				":run": str(string(SegmentRunning)), ":why": str(reason), ":now": num(ms(now)),
			},
		}},
		{Update: &types.Update{
			TableName: &s.table, Key: key(exportID, exportSK),
			UpdateExpression: aws.String("ADD segmentsFailed :one SET lastError = :why"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":one": num(1), ":why": str(fmt.Sprintf("segment %d: %s", segment, reason)),
			},
		}},
	}
	err := s.retry(ctx, func(ctx context.Context) error {
		_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		return classify(fmt.Sprintf("fail segment %d of export %s", segment, exportID), err)
	})
	if isConditionFailed(err) {
		return false, nil
	}
	return err == nil, err
}

// ResetFailed turns every FAILED segment back to PENDING, keeping its
// checkpoint so the retry resumes rather than restarts, and reopens the
// export. It returns the segments reset.
func (s *Store) ResetFailed(ctx context.Context, exportID string) ([]int, error) {
	segs, err := s.ListSegments(ctx, exportID)
	if err != nil {
		return nil, err
	}
	var reset []int
	for _, seg := range segs {
		if seg.State != SegmentFailed {
			continue
		}
		items := []types.TransactWriteItem{
			{Update: &types.Update{
				TableName: &s.table, Key: key(exportID, segSK(seg.Segment)),
				UpdateExpression:         aws.String("SET #st = :pending, failures = :zero, leaseExpiry = :zero, updatedAt = :now"),
				ConditionExpression:      aws.String("#st = :failed"),
				ExpressionAttributeNames: map[string]string{"#st": "state"},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":pending": str(string(SegmentPending)), ":failed": str(string(SegmentFailed)),
					":zero": num(0), ":now": num(ms(s.now())),
				},
			}},
			{Update: &types.Update{
				TableName: &s.table, Key: key(exportID, exportSK),
				UpdateExpression:         aws.String("ADD segmentsFailed :minus SET #st = :running"),
				ConditionExpression:      aws.String("#st IN (:running, :failed)"),
				ExpressionAttributeNames: map[string]string{"#st": "state"},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":minus": num(-1), ":running": str(string(ExportRunning)), ":failed": str(string(ExportFailed)),
				},
			}},
		}
		err := s.retry(ctx, func(ctx context.Context) error {
			_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
			return classify(fmt.Sprintf("reset segment %d of export %s", seg.Segment, exportID), err)
		})
		if isConditionFailed(err) {
			continue // someone else reset it, or the export moved on
		}
		if err != nil {
			return reset, err
		}
		reset = append(reset, seg.Segment)
	}
	if len(reset) > 0 {
		return reset, s.setActive(ctx, exportID, true)
	}
	return reset, nil
}

// RequeueExpired makes a RUNNING segment whose lease expired PENDING again,
// so a fresh message can be claimed immediately. It is conditional on the
// lease the caller saw, so it never races a live worker.
func (s *Store) RequeueExpired(ctx context.Context, seg *Segment) (bool, error) {
	now := s.now()
	err := s.retry(ctx, func(ctx context.Context) error {
		_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: key(seg.ExportID, segSK(seg.Segment)),
			UpdateExpression:         aws.String("SET #st = :pending, updatedAt = :now"),
			ConditionExpression:      aws.String("#st = :run AND attempt = :att AND leaseExpiry < :now"),
			ExpressionAttributeNames: map[string]string{"#st": "state"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pending": str(string(SegmentPending)), ":run": str(string(SegmentRunning)),
				":att": num(int64(seg.Attempt)), ":now": num(ms(now)),
			},
		})
		return classify(fmt.Sprintf("requeue segment %d of export %s", seg.Segment, seg.ExportID), err)
	})
	if isConditionFailed(err) {
		return false, nil
	}
	return err == nil, err
}

// ClaimFinalize lets exactly one process write the manifests: it moves a
// RUNNING export whose segments are all done to FINALIZING, or takes over a
// FINALIZING export whose finalizer's claim has expired.
func (s *Store) ClaimFinalize(ctx context.Context, exportID string, total int, lease time.Duration) (bool, error) {
	now := s.now()
	err := s.retry(ctx, func(ctx context.Context) error {
		_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: key(exportID, exportSK),
			UpdateExpression:         aws.String("SET #st = :fin, finalizeLease = :exp"),
			ConditionExpression:      aws.String("segmentsDone = :total AND (#st = :running OR (#st = :fin AND finalizeLease < :now))"),
			ExpressionAttributeNames: map[string]string{"#st": "state"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":fin": str(string(ExportFinalizing)), ":running": str(string(ExportRunning)),
				":total": num(int64(total)), ":exp": num(ms(now.Add(lease))), ":now": num(ms(now)),
			},
		})
		return classify("claim finalization of export "+exportID, err)
	})
	if isConditionFailed(err) {
		return false, nil
	}
	return err == nil, err
}

// IsLeaseLost reports whether err means the caller no longer owns its work.
func IsLeaseLost(err error) bool { return errors.Is(err, ErrLeaseLost) }
