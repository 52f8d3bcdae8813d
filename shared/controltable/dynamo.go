package controltable

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ddbfleet/ddbfleet/shared/clock"
)

// API is the part of the DynamoDB client the store uses.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// Dynamo is the Store on a DynamoDB table. Each method makes one attempt
// (the SDK's own retryer aside); wrap it in WithRetry.
type Dynamo struct {
	api   API
	table string
	clock clock.Clock
}

var _ Store = (*Dynamo)(nil)

// NewDynamo returns the store on the named control table; clk nil means
// the wall clock.
func NewDynamo(api API, table string, clk clock.Clock) *Dynamo {
	return &Dynamo{api: api, table: table, clock: clock.OrReal(clk)}
}

// Table is the control table's name.
func (s *Dynamo) Table() string { return s.table }

func (s *Dynamo) now() time.Time { return s.clock.Now() }
