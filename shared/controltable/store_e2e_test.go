//go:build e2e

package controltable_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/internal/testkit/fleet"
	"github.com/ddbfleet/ddbfleet/internal/testkit/storetest"
	"github.com/ddbfleet/ddbfleet/shared/awsclient"
	"github.com/ddbfleet/ddbfleet/shared/clock"
	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/fault"
)

// TestStore runs the control table's conformance suite against DynamoDB
// Local, each case on a fresh table. The same suite runs against the
// in-memory store, so what the fake does is what the server does.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (controltable.Store, *clock.Manual) {
		ddb, table := newTable(t)
		api := &pageCounter{API: ddb, continued: map[string]int{}}
		if strings.HasSuffix(t.Name(), "/Paging") {
			// The case is sized to cross DynamoDB's 1 MB page; if it
			// shrinks below that it no longer tests what it says.
			t.Cleanup(func() {
				if t.Failed() {
					return
				}
				for _, q := range []string{"SEG#", "PART#"} {
					require.Positive(t, api.pages(q), "no query for %s needed a second page", q)
				}
			})
		}
		clk := clock.NewManual(time.Now().Truncate(time.Millisecond))
		// A condition failure is never retried, so a short budget only
		// affects genuine server hiccups.
		return controltable.WithRetry(controltable.NewDynamo(api, table, clk), fault.DefaultPolicy.Instant()), clk
	})
}

// pageCounter counts the Query answers that said "there is more", by the
// sort-key prefix queried.
type pageCounter struct {
	controltable.API
	mu        sync.Mutex
	continued map[string]int
}

func (p *pageCounter) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := p.API.Query(ctx, in, opts...)
	if err == nil && len(out.LastEvaluatedKey) > 0 {
		q := ""
		if v, ok := in.ExpressionAttributeValues[":p"].(*types.AttributeValueMemberS); ok {
			q = v.Value
		}
		p.mu.Lock()
		p.continued[q]++
		p.mu.Unlock()
	}
	return out, err
}

func (p *pageCounter) pages(q string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.continued[q]
}

// TestEnsureTableTwice is about the DynamoDB table itself, which no other
// Store has.
func TestEnsureTableTwice(t *testing.T) {
	ddb, table := newTable(t)
	ctx := t.Context()
	require.NoError(t, controltable.EnsureTable(ctx, ddb, table), "a second init is harmless")
	out, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &table})
	require.NoError(t, err)
	require.Equal(t, types.TableStatusActive, out.Table.TableStatus)
	ttl, err := ddb.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &table})
	require.NoError(t, err)
	require.Equal(t, "expiresAt", *ttl.TimeToLiveDescription.AttributeName)
}

// newTable creates a control table of its own on the shared DynamoDB Local.
func newTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	require.NotEmpty(t, os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"),
		"AWS_ENDPOINT_URL_DYNAMODB is not set: run with `make test`, or `bash scripts/stack.sh up DIR && . DIR/env`")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c, err := awsclient.Load(ctx, awsclient.Options{})
	require.NoError(t, err)
	table := fleet.Unique("ct-")
	require.NoError(t, controltable.EnsureTable(ctx, c.DynamoDB, table))
	return c.DynamoDB, table
}
