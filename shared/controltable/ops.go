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
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
)

// CreateExport records a new export and its segments, all PENDING. It
// fails with export.ErrExists if the id is taken.
func (s *Dynamo) CreateExport(ctx context.Context, e *export.Export) error {
	now := s.now()
	expires := now.Add(Retention).Unix()
	row := exportRow{
		PK: pk(e.ExportID), SK: exportSK, Kind: "export", ExportID: e.ExportID,
		Table: e.Table, TableARN: e.TableARN, TableID: e.TableID, Bucket: e.Bucket, Prefix: e.Prefix, PrefixTemplate: e.PrefixTemplate,
		SegmentsTotal: e.SegmentsTotal, State: string(export.Pending), StartTime: ms(e.StartTime),
		ArgsHash: e.ArgsHash, ReadCapacityCap: e.ReadCapacityCap, ScanPageSize: e.ScanPageSize,
		PartSizeBytes: e.PartSizeBytes, BilledSizeBytes: e.BilledSizeBytes, EstimatedItems: e.EstimatedItems,
		ExpiresAt: expires,
		Format:    string(e.Format), Compression: string(e.Compression),
		FilterExpression: e.FilterExpression, ProjectionExpression: e.ProjectionExpression,
		ExprNames: e.ExpressionAttributeNames,
		SSE:       e.Objects.SSE, SSEKMSKeyID: e.Objects.SSEKMSKeyID, StorageClass: e.Objects.StorageClass,
		ParquetSchema: e.ParquetSchema,
		JobKind:       string(e.Kind), RestoreFrom: e.RestoreFrom, RestoreFiles: restoreFileRows(e.RestoreFiles),
		RestoreCondition: string(e.RestoreCondition), WriteCapacityCap: e.WriteCapacityCap, HashKey: e.HashKey, SortKey: e.SortKey,
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
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.table, Item: item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if isConditionFailed(err) {
		return s.completeCreate(ctx, e, expires)
	}
	if err != nil {
		return classify("record export", err)
	}
	return s.recordSegments(ctx, e.ExportID, e.StartTime, e.SegmentsTotal, expires)
}

// recordSegments writes the segment rows, then marks them written, then
// lists the export as active. No message is sent before CreateExport
// returns, so until the mark no worker can have claimed a segment and
// writing the rows again is safe.
func (s *Dynamo) recordSegments(ctx context.Context, exportID string, start time.Time, total int, expires int64) error {
	if err := s.putSegments(ctx, exportID, total, expires); err != nil {
		return err
	}
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(exportID, exportSK),
		UpdateExpression:          aws.String("SET segmentsRecorded = :t"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}},
	})
	if err != nil {
		return classify("mark segment rows of export "+exportID+" written", err)
	}
	if err := s.putJob(ctx, exportID, start, expires); err != nil {
		return err
	}
	return s.setActive(ctx, exportID, true)
}

// jobsPK holds one row per export, sorted by start time, so `list` finds
// every export without scanning the table.
const jobsPK = "JOBS"

func jobSK(start time.Time, exportID string) string {
	return fmt.Sprintf("%013d#%s", ms(start), exportID)
}

func (s *Dynamo) putJob(ctx context.Context, exportID string, start time.Time, expires int64) error {
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: map[string]types.AttributeValue{
		"pk": str(jobsPK), "sk": str(jobSK(start, exportID)), "kind": str("job"),
		"exportId": str(exportID), "expiresAt": num(expires),
	}})
	return classify("index export "+exportID, err)
}

// ListExports implements Exports: the jobs index newest first, then each
// export's row.
func (s *Dynamo) ListExports(ctx context.Context) ([]*export.Export, error) {
	var ids []string
	err := s.queryPages(ctx, "list exports", &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(jobsPK)},
		ScanIndexForward:          aws.Bool(false),
	}, func(out *dynamodb.QueryOutput) error {
		for _, item := range out.Items {
			if v, ok := item["exportId"].(*types.AttributeValueMemberS); ok {
				ids = append(ids, v.Value)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*export.Export, 0, len(ids))
	for _, id := range ids {
		e, err := s.GetExport(ctx, id)
		if errors.Is(err, export.ErrNotFound) {
			continue // its rows expired before the index row
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// completeCreate handles an id that is taken: when it is the same export
// (same arguments) whose recording was cut short, it finishes recording
// its segments. Either way the caller learns the export existed.
func (s *Dynamo) completeCreate(ctx context.Context, e *export.Export, expires int64) error {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: key(e.ExportID, exportSK), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return classify("read export "+e.ExportID, err)
	}
	var r exportRow
	if err := attributevalue.UnmarshalMap(out.Item, &r); err != nil {
		return fmt.Errorf("decode export row: %w", err)
	}
	if r.ArgsHash == e.ArgsHash && r.State == string(export.Pending) && !r.SegmentsRecorded {
		if err := s.recordSegments(ctx, e.ExportID, fromMS(r.StartTime), r.SegmentsTotal, expires); err != nil {
			return err
		}
	}
	return export.ErrExists
}

func (s *Dynamo) putSegments(ctx context.Context, exportID string, total int, expires int64) error {
	now := ms(s.now())
	for start := 0; start < total; start += 25 {
		var reqs []types.WriteRequest
		for seg := start; seg < min(start+25, total); seg++ {
			item := key(exportID, segSK(seg))
			item["kind"] = str("segment")
			item["segment"] = num(int64(seg))
			item["state"] = str(string(export.SegmentPending))
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

func (s *Dynamo) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	out, err := s.api.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
		RequestItems: map[string][]types.WriteRequest{s.table: reqs},
	})
	if err != nil {
		return classify("write segment rows", err)
	}
	// Unprocessed items are throttling in disguise: the caller's retry
	// writes them all again (these puts are idempotent).
	if n := len(out.UnprocessedItems[s.table]); n > 0 {
		return fault.Throttled(fmt.Errorf("%d segment rows unprocessed", n))
	}
	return nil
}

// GetExport reads the export row with a strongly consistent read.
func (s *Dynamo) GetExport(ctx context.Context, exportID string) (*export.Export, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: key(exportID, exportSK), ConsistentRead: aws.Bool(true),
	})
	err = classify("read export "+exportID, err)
	if err != nil {
		return nil, err
	}
	if out.Item == nil {
		return nil, fmt.Errorf("export %s: %w", exportID, export.ErrNotFound)
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
func (s *Dynamo) GetSegment(ctx context.Context, exportID string, segment int) (*export.Segment, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: key(exportID, segSK(segment)), ConsistentRead: aws.Bool(true),
	})
	err = classify(fmt.Sprintf("read segment %d of export %s", segment, exportID), err)
	if err != nil {
		return nil, err
	}
	if out.Item == nil {
		return nil, fmt.Errorf("segment %d of export %s: %w", segment, exportID, export.ErrNotFound)
	}
	return decodeSegment(exportID, out.Item)
}

// queryPages runs a Query page by page under the retry budget.
func (s *Dynamo) queryPages(ctx context.Context, op string, in *dynamodb.QueryInput, each func(*dynamodb.QueryOutput) error) error {
	in.TableName = &s.table
	for {
		out, err := s.api.Query(ctx, in)
		err = classify(op, err)
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
func (s *Dynamo) query(ctx context.Context, exportID, skPrefix string, each func(map[string]types.AttributeValue) error) error {
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
func (s *Dynamo) ListSegments(ctx context.Context, exportID string) ([]*export.Segment, error) {
	var segs []*export.Segment
	err := s.query(ctx, exportID, "SEG#", func(item map[string]types.AttributeValue) error {
		seg, err := decodeSegment(exportID, item)
		if err == nil {
			segs = append(segs, seg)
		}
		return err
	})
	return segs, err
}

// GetPart reads one part row with a strongly consistent read.
func (s *Dynamo) GetPart(ctx context.Context, exportID string, segment, part int) (*export.Part, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: key(exportID, partSK(segment, part)), ConsistentRead: aws.Bool(true),
	})
	err = classify(fmt.Sprintf("read part %d of segment %d of export %s", part, segment, exportID), err)
	if err != nil {
		return nil, err
	}
	if out.Item == nil {
		return nil, fmt.Errorf("part %d of segment %d of export %s: %w", part, segment, exportID, export.ErrNotFound)
	}
	var r partRow
	if err := attributevalue.UnmarshalMap(out.Item, &r); err != nil {
		return nil, fmt.Errorf("decode part row: %w", err)
	}
	p := export.Part(r)
	return &p, nil
}

// ListParts returns every committed part in (segment, part) order.
func (s *Dynamo) ListParts(ctx context.Context, exportID string) ([]export.Part, error) {
	var parts []export.Part
	err := s.query(ctx, exportID, "PART#", func(item map[string]types.AttributeValue) error {
		var r partRow
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			return fmt.Errorf("decode part row: %w", err)
		}
		parts = append(parts, export.Part(r))
		return nil
	})
	return parts, err
}

// SetExportState implements Exports.
func (s *Dynamo) SetExportState(ctx context.Context, exportID string, from []export.State, to export.State, u ExportUpdate) (bool, error) {
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
	if c := u.Expect; c != nil {
		cond += " AND segmentsDone = :cd AND segmentsFailed = :cf"
		values[":cd"], values[":cf"] = num(int64(c.SegmentsDone)), num(int64(c.SegmentsFailed))
	}
	set := func(attr, placeholder string, v types.AttributeValue) {
		update += ", " + attr + " = " + placeholder
		values[placeholder] = v
	}
	if !u.EndTime.IsZero() {
		set("endTime", ":end", num(ms(u.EndTime)))
	}
	if u.LastError != "" {
		set("lastError", ":err", str(u.LastError))
	}
	if u.ManifestSummaryKey != "" {
		set("manifestSummaryKey", ":msk", str(u.ManifestSummaryKey))
	}
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(exportID, exportSK),
		UpdateExpression: &update, ConditionExpression: &cond,
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, classify(fmt.Sprintf("set export %s to %s", exportID, to), err)
	}
	if to.Terminal() && !u.KeepActive {
		if err := s.setActive(ctx, exportID, false); err != nil {
			return false, err
		}
	}
	return true, nil
}

// activePK holds one row per export that is not finished, so every worker
// can find the exports it may have to rescue without scanning the table.
const activePK = "ACTIVE"

// setActive adds or removes the export's row in the active index.
func (s *Dynamo) setActive(ctx context.Context, exportID string, active bool) error {
	k := map[string]types.AttributeValue{"pk": str(activePK), "sk": str(exportID)}
	var err error
	if active {
		k["kind"] = str("active")
		k["expiresAt"] = num(s.now().Add(Retention).Unix())
		_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: k})
	} else {
		_, err = s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: k})
	}
	return classify("update active-export index for "+exportID, err)
}

// ListActive returns the exports not yet COMPLETED, FAILED or CANCELLED
// (a row may linger briefly after; callers re-read the export), with their
// stewards.
func (s *Dynamo) ListActive(ctx context.Context) ([]ActiveExport, error) {
	var out []ActiveExport
	err := s.queryPages(ctx, "list active exports", &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(activePK)},
	}, func(page *dynamodb.QueryOutput) error {
		for _, item := range page.Items {
			var r struct {
				ExportID      string `dynamodbav:"sk"`
				Steward       string `dynamodbav:"steward"`
				StewardExpiry int64  `dynamodbav:"stewardExpiry"`
				Fleet         int    `dynamodbav:"fleet"`
			}
			if err := attributevalue.UnmarshalMap(item, &r); err != nil {
				return fmt.Errorf("decode active-export row: %w", err)
			}
			out = append(out, ActiveExport{ExportID: r.ExportID, Steward: r.Steward, StewardExpiry: fromMS(r.StewardExpiry), Fleet: r.Fleet})
		}
		return nil
	})
	return out, err
}

// ClaimSteward implements Active: a conditional write on the export's
// index row, so a failed claim costs no read.
func (s *Dynamo) ClaimSteward(ctx context.Context, exportID, owner string, lease time.Duration, fleet int) (bool, error) {
	now := s.now()
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: map[string]types.AttributeValue{"pk": str(activePK), "sk": str(exportID)},
		UpdateExpression:    aws.String("SET steward = :me, stewardExpiry = :exp, fleet = :fleet"),
		ConditionExpression: aws.String("attribute_exists(sk) AND (attribute_not_exists(steward) OR steward = :me OR stewardExpiry < :now)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":me": str(owner), ":exp": num(ms(now.Add(lease))), ":now": num(ms(now)), ":fleet": num(int64(fleet)),
		},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	return err == nil, classify("claim stewardship of export "+exportID, err)
}

// Forget removes a finished export from the active index (the rescuer
// tidies rows left behind by a crash between the two writes).
func (s *Dynamo) Forget(ctx context.Context, exportID string) error {
	return s.setActive(ctx, exportID, false)
}

// ClaimSegment takes the segment's lease for owner, starting a new attempt.
// A segment is claimable when PENDING, or RUNNING with an expired lease. On
// failure the error is a *export.NotClaimableError saying why.
func (s *Dynamo) ClaimSegment(ctx context.Context, exportID string, segment int, owner string, lease time.Duration) (*export.Segment, export.Lease, error) {
	now := s.now()
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table,
		Key:       key(exportID, segSK(segment)),
		// The share published for the previous attempt is not this one's.
		UpdateExpression:         aws.String("SET #st = :run, attempt = attempt + :one, #ow = :me, leaseExpiry = :exp, updatedAt = :now REMOVE readShare"),
		ConditionExpression:      aws.String("attribute_exists(pk) AND (#st = :pending OR (#st = :run AND leaseExpiry < :now))"),
		ExpressionAttributeNames: map[string]string{"#st": "state", "#ow": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":run": str(string(export.SegmentRunning)), ":pending": str(string(export.SegmentPending)),
			":one": num(1), ":me": str(owner), ":exp": num(ms(now.Add(lease))), ":now": num(ms(now)),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	err = classify(fmt.Sprintf("claim segment %d of export %s", segment, exportID), err)
	if err != nil && !isConditionFailed(err) {
		return nil, export.Lease{}, err
	}
	if err == nil {
		seg, err := decodeSegment(exportID, out.Attributes)
		if err != nil {
			return nil, export.Lease{}, err
		}
		return seg, export.Lease{ExportID: exportID, Segment: segment, Attempt: seg.Attempt, Owner: owner}, nil
	}
	// The condition failed: either someone else holds it, it is finished,
	// or an earlier try of this very call succeeded before its response was
	// lost (owner names are unique per claim, so that case is recognisable).
	seg, gerr := s.GetSegment(ctx, exportID, segment)
	if gerr != nil {
		return nil, export.Lease{}, gerr
	}
	if seg.State == export.SegmentRunning && seg.Owner == owner {
		return seg, export.Lease{ExportID: exportID, Segment: segment, Attempt: seg.Attempt, Owner: owner}, nil
	}
	return nil, export.Lease{}, &export.NotClaimableError{State: seg.State, Owner: seg.Owner, LeaseExpiry: seg.LeaseExpiry}
}

func leaseCondition(l export.Lease) (string, map[string]string, map[string]types.AttributeValue) {
	return "#st = :run AND attempt = :att AND #ow = :me",
		map[string]string{"#st": "state", "#ow": "owner"},
		map[string]types.AttributeValue{
			":run": str(string(export.SegmentRunning)), ":att": num(int64(l.Attempt)), ":me": str(l.Owner),
		}
}

// Heartbeat extends the lease and records how many items the attempt has
// read so far, committed or not, so progress moves between part commits
// (which, with large parts, are minutes apart). The row comes back with
// the write, so the holder learns its read share without a read.
func (s *Dynamo) Heartbeat(ctx context.Context, l export.Lease, lease time.Duration, p export.Progress) (*export.Segment, error) {
	now := s.now()
	out, err := s.updateLeased(ctx, l, "heartbeat", "SET leaseExpiry = :exp, updatedAt = :now, liveItems = :live, readUnits = :ru",
		map[string]types.AttributeValue{":exp": num(ms(now.Add(lease))), ":now": num(ms(now)), ":live": num(p.Items),
			":ru": &types.AttributeValueMemberN{Value: strconv.FormatFloat(p.ReadUnits, 'f', -1, 64)}}, types.ReturnValueAllNew)
	if err != nil {
		return nil, err
	}
	return decodeSegment(l.ExportID, out.Attributes)
}

// PublishShare implements Segments.
func (s *Dynamo) PublishShare(ctx context.Context, seg *export.Segment, share float64) (bool, error) {
	l := export.Lease{ExportID: seg.ExportID, Segment: seg.Segment, Attempt: seg.Attempt, Owner: seg.Owner}
	_, err := s.updateLeased(ctx, l, "publish read share", "SET readShare = :share",
		map[string]types.AttributeValue{":share": &types.AttributeValueMemberN{Value: strconv.FormatFloat(share, 'f', -1, 64)}}, types.ReturnValueNone)
	if export.IsLeaseLost(err) {
		return false, nil
	}
	return err == nil, err
}

// CancelSegment implements Segments.
func (s *Dynamo) CancelSegment(ctx context.Context, exportID string, segment int) (bool, error) {
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(exportID, segSK(segment)),
		UpdateExpression:         aws.String("SET #st = :cancelled, updatedAt = :now"),
		ConditionExpression:      aws.String("#st IN (:pending, :run)"),
		ExpressionAttributeNames: map[string]string{"#st": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":cancelled": str(string(export.SegmentCancelled)), ":pending": str(string(export.SegmentPending)),
			":run": str(string(export.SegmentRunning)), ":now": num(ms(s.now())),
		},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	return err == nil, classify(fmt.Sprintf("cancel segment %d of export %s", segment, exportID), err)
}

// histSK keys a sample by its minute, so concurrent recorders write one.
func histSK(at time.Time) string { return fmt.Sprintf("HIST#%010d", at.Unix()/60) }

// RecordSample implements History.
func (s *Dynamo) RecordSample(ctx context.Context, exportID string, smp export.Sample) error {
	item := key(exportID, histSK(smp.At))
	item["kind"] = str("sample")
	item["at"] = num(ms(smp.At))
	item["items"] = num(smp.Items)
	item["readUnits"] = &types.AttributeValueMemberN{Value: strconv.FormatFloat(smp.ReadUnits, 'f', -1, 64)}
	item["expiresAt"] = num(s.now().Add(Retention).Unix())
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if isConditionFailed(err) {
		return nil // another process sampled this minute
	}
	return classify("record progress sample of export "+exportID, err)
}

// ListSamples implements History.
func (s *Dynamo) ListSamples(ctx context.Context, exportID string) ([]export.Sample, error) {
	var out []export.Sample
	err := s.query(ctx, exportID, "HIST#", func(item map[string]types.AttributeValue) error {
		var r struct {
			At        int64   `dynamodbav:"at"`
			Items     int64   `dynamodbav:"items"`
			ReadUnits float64 `dynamodbav:"readUnits"`
		}
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			return fmt.Errorf("decode sample row: %w", err)
		}
		out = append(out, export.Sample{At: fromMS(r.At), Items: r.Items, ReadUnits: r.ReadUnits})
		return nil
	})
	return out, err
}

// updateLeased runs one update of the segment row, conditional on the
// caller still holding lease l (the fencing token).
func (s *Dynamo) updateLeased(ctx context.Context, l export.Lease, op, update string, extra map[string]types.AttributeValue, rv types.ReturnValue) (*dynamodb.UpdateItemOutput, error) {
	cond, names, values := leaseCondition(l)
	maps.Copy(values, extra)
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(l.ExportID, segSK(l.Segment)),
		UpdateExpression:          &update,
		ConditionExpression:       &cond,
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              rv,
	})
	err = classify(op+" "+l.String(), err)
	if isConditionFailed(err) {
		return nil, fmt.Errorf("%s %s: %w", op, l, export.ErrLeaseLost)
	}
	return out, err
}

func (s *Dynamo) partPut(l export.Lease, p export.Part, now time.Time) types.TransactWriteItem {
	item := key(l.ExportID, partSK(p.Segment, p.Part))
	row, _ := attributevalue.MarshalMap(partRow(p))
	for k, v := range row {
		item[k] = v
	}
	item["kind"] = str("part")
	item["expiresAt"] = num(now.Add(Retention).Unix())
	// Unconditional: a retried commit of the same attempt rewrites the same
	// row; the segment's lease condition below is what fences zombies.
	return types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: item}}
}

// checkpointUpdate is the update of a segment row to checkpoint cp,
// extending the lease, conditional on holding l: what CommitPart writes
// next to its part row and Checkpoint writes alone.
func (s *Dynamo) checkpointUpdate(l export.Lease, cp export.Checkpoint, lease time.Duration) (update, cond string, names map[string]string, values map[string]types.AttributeValue, now time.Time) {
	cond, names, values = leaseCondition(l)
	now = s.commitTime(cp)
	values[":np"] = num(int64(cp.NextPart))
	values[":ic"] = num(cp.ItemCount)
	values[":by"] = num(cp.Bytes)
	values[":pg"] = num(cp.Pages)
	values[":exp"] = num(ms(now.Add(lease)))
	values[":now"] = num(ms(now))
	update = "SET nextPart = :np, itemCount = :ic, #by = :by, pages = :pg, leaseExpiry = :exp, updatedAt = :now"
	names["#by"] = "bytes"
	if len(cp.Cursor) > 0 {
		values[":cur"] = &types.AttributeValueMemberM{Value: cp.Cursor}
		update += ", #cur = :cur"
		names["#cur"] = "cursor"
	}
	return update, cond, names, values, now
}

// CommitPart records a durable part and the checkpoint after it in one
// transaction, also extending the lease. It writes only the segment's own
// rows: a condition on the export row would make every commit of every
// worker contend on one item. Cancel fences commits through the segment
// row instead (CancelSegment).
func (s *Dynamo) CommitPart(ctx context.Context, l export.Lease, p export.Part, cp export.Checkpoint, lease time.Duration) error {
	update, cond, names, values, now := s.checkpointUpdate(l, cp, lease)
	items := []types.TransactWriteItem{
		s.partPut(l, p, now),
		{Update: &types.Update{
			TableName: &s.table, Key: key(l.ExportID, segSK(l.Segment)),
			UpdateExpression: &update, ConditionExpression: &cond,
			ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		}},
	}
	_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items,
		ClientRequestToken: s.token(l, cp, "part", p.Part)})
	err = classify(fmt.Sprintf("commit part %d of %s", p.Part, l), err)
	if isConditionFailed(err) {
		return fmt.Errorf("commit part %d of %s: %w", p.Part, l, export.ErrLeaseLost)
	}
	return err
}

// CompleteSegment marks the segment DONE with its final totals (and final
// part, if any) and adds them to the export's counters, atomically: a
// segment is counted exactly once however often this is retried.
func (s *Dynamo) CompleteSegment(ctx context.Context, l export.Lease, last *export.Part, cp export.Checkpoint) error {
	cond, names, values := leaseCondition(l)
	now := s.commitTime(cp)
	values[":done"] = str(string(export.SegmentDone))
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
		items = append(items, s.partPut(l, *last, now))
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
				":pending": str(string(export.Pending)), ":running": str(string(export.Running)),
			},
		}},
	)
	_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items,
		ClientRequestToken: s.token(l, cp, "complete", cp.NextPart)})
	err = classify("complete "+l.String(), err)
	if isConditionFailed(err) {
		// An earlier try may have landed before its response was lost.
		// Not knowing is not a lost lease: the caller would delete a
		// file its part row may point at.
		seg, gerr := s.GetSegment(ctx, l.ExportID, l.Segment)
		if gerr != nil {
			return fmt.Errorf("complete %s: read back after a refused completion: %w", l, gerr)
		}
		if seg.State == export.SegmentDone && seg.Attempt == l.Attempt {
			return nil
		}
		return fmt.Errorf("complete %s: %w", l, export.ErrLeaseLost)
	}
	return err
}

// commitTime is the time a commit records: the committer's, fixed for all
// tries of the commit, or the store's clock now.
func (s *Dynamo) commitTime(cp export.Checkpoint) time.Time {
	if cp.At.IsZero() {
		return s.now()
	}
	return cp.At
}

// token is the idempotency token of one commit, the same for all its
// tries: DynamoDB answers a retry of a transaction that applied (within
// 10 minutes) with success instead of judging its conditions again, which
// may have changed since. Only a commit with a fixed time is the same
// request on every try; without one, a token would be refused as a
// mismatch.
func (s *Dynamo) token(l export.Lease, cp export.Checkpoint, what string, n int) *string {
	if cp.At.IsZero() {
		return nil
	}
	return aws.String(CommitToken(l, what, n))
}

// ReleaseSegment gives the lease up early (graceful drain) so another
// worker can continue from the last checkpoint at once.
func (s *Dynamo) ReleaseSegment(ctx context.Context, l export.Lease, reason string) error {
	_, err := s.updateLeased(ctx, l, "release", "SET leaseExpiry = :zero, updatedAt = :now, lastError = :why",
		map[string]types.AttributeValue{":zero": num(0), ":now": num(ms(s.now())), ":why": str(reason)}, types.ReturnValueNone)
	return err
}

// FailSegment records a failed attempt. With final it marks the segment
// FAILED and counts it on the export; otherwise it releases the lease so
// the next delivery retries from the last checkpoint.
func (s *Dynamo) FailSegment(ctx context.Context, l export.Lease, reason string, final bool) error {
	cond, names, values := leaseCondition(l)
	now := s.now()
	values[":zero"] = num(0)
	values[":one"] = num(1)
	values[":now"] = num(ms(now))
	values[":why"] = str(reason)
	update := "SET leaseExpiry = :zero, updatedAt = :now, lastError = :why ADD failures :one"
	if final {
		update = "SET #st = :failed, leaseExpiry = :zero, updatedAt = :now, lastError = :why ADD failures :one"
		values[":failed"] = str(string(export.SegmentFailed))
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
	_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	err = classify("record failure of "+l.String(), err)
	if isConditionFailed(err) {
		return fmt.Errorf("record failure of %s: %w", l, export.ErrLeaseLost)
	}
	return err
}

// FailUnleased marks a segment FAILED without holding its lease: the
// rescuer does this for work parked in the dead-letter queue. It only acts
// on a segment that is not DONE or FAILED and whose lease has expired.
func (s *Dynamo) FailUnleased(ctx context.Context, exportID string, segment int, reason string) (bool, error) {
	now := s.now()
	items := []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: &s.table, Key: key(exportID, segSK(segment)),
			UpdateExpression:         aws.String("SET #st = :failed, lastError = :why, updatedAt = :now"),
			ConditionExpression:      aws.String("#st IN (:pending, :run) AND (leaseExpiry < :now OR attribute_not_exists(leaseExpiry))"),
			ExpressionAttributeNames: map[string]string{"#st": "state"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":failed": str(string(export.SegmentFailed)), ":pending": str(string(export.SegmentPending)),
				":run": str(string(export.SegmentRunning)), ":why": str(reason), ":now": num(ms(now)),
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
	_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	err = classify(fmt.Sprintf("fail segment %d of export %s", segment, exportID), err)
	if isConditionFailed(err) {
		return false, nil
	}
	return err == nil, err
}

// ResetFailed turns every FAILED segment back to PENDING, keeping its
// checkpoint so the retry resumes rather than restarts, and reopens the
// export. It returns the segments reset.
func (s *Dynamo) ResetFailed(ctx context.Context, exportID string) ([]int, error) {
	segs, err := s.ListSegments(ctx, exportID)
	if err != nil {
		return nil, err
	}
	var reset []int
	for _, seg := range segs {
		if seg.State != export.SegmentFailed {
			continue
		}
		items := []types.TransactWriteItem{
			{Update: &types.Update{
				TableName: &s.table, Key: key(exportID, segSK(seg.Segment)),
				UpdateExpression:         aws.String("SET #st = :pending, failures = :zero, leaseExpiry = :zero, updatedAt = :now, attemptBase = attempt"),
				ConditionExpression:      aws.String("#st = :failed"),
				ExpressionAttributeNames: map[string]string{"#st": "state"},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":pending": str(string(export.SegmentPending)), ":failed": str(string(export.SegmentFailed)),
					":zero": num(0), ":now": num(ms(s.now())),
				},
			}},
			{Update: &types.Update{
				TableName: &s.table, Key: key(exportID, exportSK),
				UpdateExpression:         aws.String("ADD segmentsFailed :minus SET #st = :running"),
				ConditionExpression:      aws.String("#st IN (:running, :failed)"),
				ExpressionAttributeNames: map[string]string{"#st": "state"},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":minus": num(-1), ":running": str(string(export.Running)), ":failed": str(string(export.Failed)),
				},
			}},
		}
		_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		err = classify(fmt.Sprintf("reset segment %d of export %s", seg.Segment, exportID), err)
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
func (s *Dynamo) RequeueExpired(ctx context.Context, seg *export.Segment) (bool, error) {
	now := s.now()
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(seg.ExportID, segSK(seg.Segment)),
		UpdateExpression:         aws.String("SET #st = :pending, updatedAt = :now"),
		ConditionExpression:      aws.String("#st = :run AND attempt = :att AND leaseExpiry < :now"),
		ExpressionAttributeNames: map[string]string{"#st": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pending": str(string(export.SegmentPending)), ":run": str(string(export.SegmentRunning)),
			":att": num(int64(seg.Attempt)), ":now": num(ms(now)),
		},
	})
	err = classify(fmt.Sprintf("requeue segment %d of export %s", seg.Segment, seg.ExportID), err)
	if isConditionFailed(err) {
		return false, nil
	}
	return err == nil, err
}

// ClaimFinalize lets exactly one process write the manifests: it moves a
// RUNNING export whose segments are all done to FINALIZING, or takes over a
// FINALIZING export whose finalizer's claim has expired. finalizeStart is
// set by the first claim only, and the answer carries it back: it is the
// end time every finalizer of the export writes.
func (s *Dynamo) ClaimFinalize(ctx context.Context, exportID string, total int, owner string, lease time.Duration) (export.FinalizeClaim, bool, error) {
	now := s.now()
	expiry := now.Add(lease)
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(exportID, exportSK),
		UpdateExpression: aws.String("SET #st = :fin, finalizeLease = :exp, finalizeOwner = :owner, finalizeStart = if_not_exists(finalizeStart, :now)"),
		// The owner's own claim is the retry of a try whose answer was lost.
		ConditionExpression:      aws.String("segmentsDone = :total AND (#st = :running OR (#st = :fin AND (finalizeLease < :now OR finalizeOwner = :owner)))"),
		ExpressionAttributeNames: map[string]string{"#st": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":fin": str(string(export.Finalizing)), ":running": str(string(export.Running)), ":owner": str(owner),
			":total": num(int64(total)), ":exp": num(ms(expiry)), ":now": num(ms(now)),
		},
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	err = classify("claim finalization of export "+exportID, err)
	if isConditionFailed(err) {
		return export.FinalizeClaim{}, false, nil
	}
	if err != nil {
		return export.FinalizeClaim{}, false, err
	}
	var got struct {
		FinalizeStart int64 `dynamodbav:"finalizeStart"`
	}
	if err := attributevalue.UnmarshalMap(out.Attributes, &got); err != nil || got.FinalizeStart == 0 {
		return export.FinalizeClaim{}, false, fmt.Errorf("claim finalization of export %s: the answer holds no finalizeStart (%v)", exportID, err)
	}
	return export.FinalizeClaim{ExportID: exportID, Owner: owner, Expiry: fromMS(ms(expiry)), EndTime: fromMS(got.FinalizeStart)}, true, nil
}

// RenewFinalize extends c's claim while its owner still holds it.
func (s *Dynamo) RenewFinalize(ctx context.Context, c export.FinalizeClaim, lease time.Duration) error {
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(c.ExportID, exportSK),
		UpdateExpression:         aws.String("SET finalizeLease = :exp"),
		ConditionExpression:      aws.String("#st = :fin AND finalizeOwner = :owner"),
		ExpressionAttributeNames: map[string]string{"#st": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":fin": str(string(export.Finalizing)), ":owner": str(c.Owner), ":exp": num(ms(s.now().Add(lease))),
		},
	})
	op := "renew finalize claim of export " + c.ExportID
	err = classify(op, err)
	if isConditionFailed(err) {
		return fmt.Errorf("%s: %w", op, export.ErrFinalizeLost)
	}
	return err
}
