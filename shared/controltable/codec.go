package controltable

// This file is the codec: how the domain values are laid out as DynamoDB
// items, and how DynamoDB errors become the domain's errors.

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/ddbfleet/ddbfleet/shared/datafile"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
)

func pk(exportID string) string   { return "EXPORT#" + exportID }
func segSK(segment int) string    { return fmt.Sprintf("SEG#%07d", segment) }
func partSK(seg, part int) string { return fmt.Sprintf("PART#%07d#%06d", seg, part) }

const exportSK = "EXPORT"

func key(exportID, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: pk(exportID)},
		"sk": &types.AttributeValueMemberS{Value: sk},
	}
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// fromUnix reads a TTL attribute (seconds since the epoch).
func fromUnix(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(v, 0).UTC()
}

func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}
func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// exportRow is the stored shape of Export.
type exportRow struct {
	PK                 string  `dynamodbav:"pk"`
	SK                 string  `dynamodbav:"sk"`
	Kind               string  `dynamodbav:"kind"`
	ExportID           string  `dynamodbav:"exportId"`
	Table              string  `dynamodbav:"table"`
	TableARN           string  `dynamodbav:"tableArn"`
	TableID            string  `dynamodbav:"tableId"`
	Bucket             string  `dynamodbav:"bucket"`
	Prefix             string  `dynamodbav:"prefix"`
	PrefixTemplate     string  `dynamodbav:"prefixTemplate,omitempty"`
	SegmentsTotal      int     `dynamodbav:"segmentsTotal"`
	State              string  `dynamodbav:"state"`
	StartTime          int64   `dynamodbav:"startTime"`
	EndTime            int64   `dynamodbav:"endTime"`
	ArgsHash           string  `dynamodbav:"argsHash"`
	ReadCapacityCap    float64 `dynamodbav:"readCapacityCap"`
	ScanPageSize       int     `dynamodbav:"scanPageSize"`
	PartSizeBytes      int64   `dynamodbav:"partSizeBytes"`
	BilledSizeBytes    int64   `dynamodbav:"billedSizeBytes"`
	EstimatedItems     int64   `dynamodbav:"estimatedItems"`
	SegmentsDone       int     `dynamodbav:"segmentsDone"`
	SegmentsFailed     int     `dynamodbav:"segmentsFailed"`
	ItemCount          int64   `dynamodbav:"itemCount"`
	Bytes              int64   `dynamodbav:"bytes"`
	Parts              int     `dynamodbav:"parts"`
	LastError          string  `dynamodbav:"lastError"`
	FinalizeLease      int64   `dynamodbav:"finalizeLease"`
	ManifestSummaryKey string  `dynamodbav:"manifestSummaryKey"`
	ExpiresAt          int64   `dynamodbav:"expiresAt"`
	// SegmentsRecorded is set once every segment row is written.
	SegmentsRecorded bool `dynamodbav:"segmentsRecorded,omitempty"`
	// The finalizer's claim besides its expiry (finalizeLease), absent
	// until the first claim: the claim sets finalizeStart only if it is
	// absent, so a takeover keeps it.
	FinalizeOwner string `dynamodbav:"finalizeOwner,omitempty"`
	FinalizeStart int64  `dynamodbav:"finalizeStart,omitempty"`
	// Export options: omitted when default, so a default export's row is
	// what it was before they existed. The expression values are stored
	// as a native map attribute (exprValues), outside this struct.
	Format               string            `dynamodbav:"format,omitempty"`
	Compression          string            `dynamodbav:"compression,omitempty"`
	FilterExpression     string            `dynamodbav:"filterExpression,omitempty"`
	ProjectionExpression string            `dynamodbav:"projectionExpression,omitempty"`
	ExprNames            map[string]string `dynamodbav:"exprNames,omitempty"`
	SSE                  string            `dynamodbav:"sse,omitempty"`
	SSEKMSKeyID          string            `dynamodbav:"sseKmsKeyId,omitempty"`
	StorageClass         string            `dynamodbav:"storageClass,omitempty"`
	ParquetSchema        []byte            `dynamodbav:"parquetSchema,omitempty"`
	// Restore jobs only (see export.Export.Kind); "kind" is the row's
	// type, so the job's kind is jobKind.
	JobKind          string           `dynamodbav:"jobKind,omitempty"`
	RestoreFrom      string           `dynamodbav:"restoreFrom,omitempty"`
	RestoreFiles     []restoreFileRow `dynamodbav:"restoreFiles,omitempty"`
	RestoreCondition string           `dynamodbav:"restoreCondition,omitempty"`
	WriteCapacityCap float64          `dynamodbav:"writeCapacityCap,omitempty"`
	HashKey          string           `dynamodbav:"hashKey,omitempty"`
	SortKey          string           `dynamodbav:"sortKey,omitempty"`
}

// restoreFileRow is one export.RestoreFile, in the job row: a job row
// holds a few thousand files within DynamoDB's 400 KB item limit.
type restoreFileRow struct {
	Key         string `dynamodbav:"key"`
	Items       int64  `dynamodbav:"items"`
	MD5         string `dynamodbav:"md5"`
	Bytes       int64  `dynamodbav:"bytes"`
	Compression string `dynamodbav:"compression,omitempty"`
	ETag        string `dynamodbav:"etag,omitempty"`
}

func restoreFileRows(fs []export.RestoreFile) []restoreFileRow {
	var out []restoreFileRow
	for _, f := range fs {
		out = append(out, restoreFileRow{Key: f.Key, Items: f.Items, MD5: f.MD5, Bytes: f.Bytes, Compression: string(f.Compression), ETag: f.ETag})
	}
	return out
}

func (r *exportRow) restoreFiles() []export.RestoreFile {
	var out []export.RestoreFile
	for _, f := range r.RestoreFiles {
		out = append(out, export.RestoreFile{Key: f.Key, Items: f.Items, MD5: f.MD5, Bytes: f.Bytes, Compression: datafile.Compression(f.Compression), ETag: f.ETag})
	}
	return out
}

const exprValuesAttr = "exprValues"

func (r *exportRow) toExport() *export.Export {
	return &export.Export{
		ExportID: r.ExportID, Table: r.Table, TableARN: r.TableARN, TableID: r.TableID,
		Bucket: r.Bucket, Prefix: r.Prefix, PrefixTemplate: r.PrefixTemplate, SegmentsTotal: r.SegmentsTotal,
		State: export.State(r.State), StartTime: fromMS(r.StartTime), EndTime: fromMS(r.EndTime),
		ArgsHash: r.ArgsHash, ReadCapacityCap: r.ReadCapacityCap, ScanPageSize: r.ScanPageSize,
		PartSizeBytes: r.PartSizeBytes, BilledSizeBytes: r.BilledSizeBytes, EstimatedItems: r.EstimatedItems,
		SegmentsDone: r.SegmentsDone, SegmentsFailed: r.SegmentsFailed,
		ItemCount: r.ItemCount, Bytes: r.Bytes, Parts: r.Parts, LastError: r.LastError,
		FinalizeLease: fromMS(r.FinalizeLease), ManifestSummaryKey: r.ManifestSummaryKey, ExpiresAt: fromUnix(r.ExpiresAt),
		FinalizeOwner: r.FinalizeOwner, FinalizeStart: fromMS(r.FinalizeStart),
		Format: datafile.Format(r.Format), Compression: datafile.Compression(r.Compression),
		FilterExpression: r.FilterExpression, ProjectionExpression: r.ProjectionExpression,
		ExpressionAttributeNames: r.ExprNames,
		Objects:                  export.ObjectOptions{SSE: r.SSE, SSEKMSKeyID: r.SSEKMSKeyID, StorageClass: r.StorageClass},
		ParquetSchema:            r.ParquetSchema,
		Kind:                     export.Kind(r.JobKind), RestoreFrom: r.RestoreFrom, RestoreFiles: r.restoreFiles(),
		RestoreCondition: export.Condition(r.RestoreCondition), WriteCapacityCap: r.WriteCapacityCap, HashKey: r.HashKey, SortKey: r.SortKey,
	}
}

type segmentRow struct {
	Segment     int     `dynamodbav:"segment"`
	State       string  `dynamodbav:"state"`
	Attempt     int     `dynamodbav:"attempt"`
	AttemptBase int     `dynamodbav:"attemptBase"`
	Owner       string  `dynamodbav:"owner"`
	LeaseExpiry int64   `dynamodbav:"leaseExpiry"`
	NextPart    int     `dynamodbav:"nextPart"`
	ItemCount   int64   `dynamodbav:"itemCount"`
	Bytes       int64   `dynamodbav:"bytes"`
	Pages       int64   `dynamodbav:"pages"`
	LiveItems   int64   `dynamodbav:"liveItems"`
	ReadUnits   float64 `dynamodbav:"readUnits"`
	Failures    int     `dynamodbav:"failures"`
	LastError   string  `dynamodbav:"lastError"`
	UpdatedAt   int64   `dynamodbav:"updatedAt"`
	Share       float64 `dynamodbav:"readShare"`
}

type partRow struct {
	Segment   int    `dynamodbav:"segment"`
	Part      int    `dynamodbav:"part"`
	Attempt   int    `dynamodbav:"attempt"`
	Key       string `dynamodbav:"key"`
	ItemCount int64  `dynamodbav:"itemCount"`
	MD5       string `dynamodbav:"md5"`
	ETag      string `dynamodbav:"etag"`
	Bytes     int64  `dynamodbav:"bytes"`
}

func decodeSegment(exportID string, item map[string]types.AttributeValue) (*export.Segment, error) {
	var r segmentRow
	if err := attributevalue.UnmarshalMap(item, &r); err != nil {
		return nil, fmt.Errorf("decode segment row: %w", err)
	}
	s := &export.Segment{
		ExportID: exportID, Segment: r.Segment, State: export.SegmentState(r.State), Attempt: r.Attempt, AttemptBase: r.AttemptBase,
		Owner: r.Owner, LeaseExpiry: fromMS(r.LeaseExpiry), NextPart: r.NextPart,
		ItemCount: r.ItemCount, Bytes: r.Bytes, Pages: r.Pages, LiveItems: r.LiveItems, ReadUnits: r.ReadUnits, Failures: r.Failures,
		LastError: r.LastError, UpdatedAt: fromMS(r.UpdatedAt), Share: r.Share,
	}
	if c, ok := item["cursor"].(*types.AttributeValueMemberM); ok {
		s.Cursor = c.Value
	}
	return s, nil
}

// isConditionFailed reports a failed condition, alone or inside a cancelled
// transaction.
func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return true
	}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		for _, r := range tce.CancellationReasons {
			if aws.ToString(r.Code) == "ConditionalCheckFailed" {
				return true
			}
		}
	}
	return false
}

// classify turns SDK errors into the fault vocabulary. A cancelled
// transaction with no failed condition lost a race with another writer and
// is worth retrying; the SDK's retryer has already retried throttling.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) && !isConditionFailed(err) {
		return fault.Retryable(fmt.Errorf("%s: %w", op, err))
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "ResourceNotFoundException" {
		return fault.Fatal(fmt.Errorf("%s: control table missing (run `coordinator init`): %w", op, err))
	}
	return fmt.Errorf("%s: %w", op, err)
}
