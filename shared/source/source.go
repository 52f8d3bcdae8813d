// Package source owns how ddbfleet reads the table being exported: the Scan
// request every page of an export issues, and DescribeTable with a missing
// table reported as operator input.
package source

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
)

// ScanInput is the Scan every page of exp issues, before segment, cursor
// and limit: the table, the export's expressions and consumed-capacity
// reporting (which pacing needs). Workers scan with it; the coordinator
// validates the expressions with it before recording the export.
func ScanInput(exp *export.Export) *dynamodb.ScanInput {
	in := &dynamodb.ScanInput{
		TableName:              aws.String(exp.Table),
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	}
	if exp.FilterExpression != "" {
		in.FilterExpression = aws.String(exp.FilterExpression)
	}
	if exp.ProjectionExpression != "" {
		in.ProjectionExpression = aws.String(exp.ProjectionExpression)
	}
	if len(exp.ExpressionAttributeNames) > 0 {
		in.ExpressionAttributeNames = exp.ExpressionAttributeNames
	}
	if len(exp.ExpressionAttributeValues) > 0 {
		in.ExpressionAttributeValues = exp.ExpressionAttributeValues
	}
	return in
}

// DescribeAPI is the call Describe needs.
type DescribeAPI interface {
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// Describe reads the table's description. A table that does not exist is
// the operator's mistake (fault.Invalid, exit 2), naming table and region.
func Describe(ctx context.Context, api DescribeAPI, table, region string) (*types.TableDescription, error) {
	out, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &table})
	if err != nil {
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) {
			return nil, fault.Invalidf("table %q not found in region %s", table, region)
		}
		return nil, fmt.Errorf("describe table %s: %w", table, err)
	}
	return out.Table, nil
}

// SampleAPI is the call Sample needs.
type SampleAPI interface {
	Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// Sample reads up to n items of exp (with its filter and projection) from
// the first page of a few segments spread over the table's hash range, so
// a schema inferred from them sees more than one corner of the table.
func Sample(ctx context.Context, api SampleAPI, exp *export.Export, n int) ([]map[string]types.AttributeValue, error) {
	const spread = 4
	picks := min(spread, exp.SegmentsTotal)
	var items []map[string]types.AttributeValue
	for i := range picks {
		in := ScanInput(exp)
		in.Segment = aws.Int32(int32(i * exp.SegmentsTotal / picks))
		in.TotalSegments = aws.Int32(int32(exp.SegmentsTotal))
		in.Limit = aws.Int32(int32(max(1, n/picks)))
		out, err := api.Scan(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("sample table %s for its Parquet schema: %w", exp.Table, err)
		}
		items = append(items, out.Items...)
	}
	return items, nil
}

// Keys is the table's key attributes with their types, hash key first.
func Keys(td *types.TableDescription) []types.AttributeDefinition {
	typeOf := map[string]types.ScalarAttributeType{}
	for _, d := range td.AttributeDefinitions {
		typeOf[aws.ToString(d.AttributeName)] = d.AttributeType
	}
	var keys []types.AttributeDefinition
	for _, k := range td.KeySchema {
		if k.KeyType == types.KeyTypeHash {
			keys = append([]types.AttributeDefinition{{AttributeName: k.AttributeName, AttributeType: typeOf[aws.ToString(k.AttributeName)]}}, keys...)
		} else {
			keys = append(keys, types.AttributeDefinition{AttributeName: k.AttributeName, AttributeType: typeOf[aws.ToString(k.AttributeName)]})
		}
	}
	return keys
}
