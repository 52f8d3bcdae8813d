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
