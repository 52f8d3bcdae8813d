//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/internal/testkit/fleet"
	"github.com/ddbfleet/ddbfleet/internal/testkit/sampledata"
)

func TestReadCapacityFractionOfAProvisionedTable(t *testing.T) {
	f := fleet.NewFleet(t)
	ctx := context.Background()
	table := f.Name + "-prov"
	_, err := f.Clients.DynamoDB.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: &table,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		BillingMode:           types.BillingModeProvisioned,
		ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(200), WriteCapacityUnits: aws.Int64(1000)},
	})
	require.NoError(t, err)
	require.NoError(t, dynamodb.NewTableExistsWaiter(f.Clients.DynamoDB).Wait(ctx, &dynamodb.DescribeTableInput{TableName: &table}, time.Minute))
	require.NoError(t, sampledata.Fill(ctx, f.Clients.DynamoDB, table, 300, 100, 4, nil))

	res := f.Coordinator("export", "--table", table, "--bucket", f.Bucket, "--segments", "2", "--read-capacity-fraction", "0.25")
	require.Equal(t, 0, res.Code, res.Stderr)
	id := strings.TrimSpace(res.Stdout)
	require.EqualValues(t, 50, f.StatusJSON(id)["readCapacityCap"], "a quarter of 200 RCU")

	// With an explicit cap too, the lower one wins.
	res = f.Coordinator("export", "--table", table, "--bucket", f.Bucket, "--segments", "2", "--read-capacity-fraction", "0.5", "--read-capacity-cap", "30")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.EqualValues(t, 30, f.StatusJSON(strings.TrimSpace(res.Stdout))["readCapacityCap"])

	f.StartWorker("--exit-when-idle", "4s")
	f.WaitState(id, "COMPLETED", time.Minute)
	requireExact(t, f, table, id)

	// An on-demand table has no provisioned capacity to take a fraction of.
	onDemand := f.CreateTable(1)
	res = f.Coordinator("export", "--table", onDemand, "--bucket", f.Bucket, "--read-capacity-fraction", "0.5")
	require.Equal(t, 2, res.Code, res.Stderr)
	require.Contains(t, res.Stderr, "on-demand")
	for _, bad := range []string{"0", "1.5", "-0.1"} {
		res = f.Coordinator("export", "--table", table, "--bucket", f.Bucket, "--read-capacity-fraction", bad)
		require.Equal(t, 2, res.Code, bad)
		require.Contains(t, res.Stderr, "--read-capacity-fraction")
	}
}
