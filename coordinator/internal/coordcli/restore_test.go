package coordcli

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/manifest"
)

func TestParseFrom(t *testing.T) {
	for in, want := range map[string][2]string{
		"s3://bkt/AWSDynamoDB/0170-ab/":       {"bkt", "AWSDynamoDB/0170-ab/"},
		"s3://bkt/a/b/AWSDynamoDB/0170-ab":    {"bkt", "a/b/AWSDynamoDB/0170-ab/"},
		"s3://my.bucket/p/AWSDynamoDB/x.y_z/": {"my.bucket", "p/AWSDynamoDB/x.y_z/"},
	} {
		b, r, err := ParseFrom(in)
		require.NoError(t, err, in)
		require.Equal(t, want, [2]string{b, r}, in)
	}
	for _, bad := range []string{"", "bkt/AWSDynamoDB/x/", "s3://bkt/p/", "s3://bkt/AWSDynamoDB/x/data/", "s3://bkt/AWSDynamoDB/"} {
		_, _, err := ParseFrom(bad)
		require.True(t, fault.IsInvalid(err), bad)
	}
}

func TestCheckSummary(t *testing.T) {
	ok := manifest.Summary{Version: manifest.Version, OutputFormat: "DYNAMODB_JSON"}
	require.NoError(t, CheckSummary(ok, "x"))
	for s, want := range map[manifest.Summary]string{
		{Version: manifest.Version, OutputFormat: "JSON"}:      "types are lost",
		{Version: manifest.Version, OutputFormat: "PARQUET"}:   "not supported yet",
		{Version: manifest.Version, OutputFormat: "ION"}:       "cannot be restored",
		{Version: "2023-08-01", OutputFormat: "DYNAMODB_JSON"}: "incremental",
		{Version: "", OutputFormat: "DYNAMODB_JSON"}:           "not a full export",
	} {
		err := CheckSummary(s, "x")
		require.True(t, fault.IsInvalid(err))
		require.ErrorContains(t, err, want)
	}
}

func TestCheckItemKey(t *testing.T) {
	ks := []keyAttr{{"pk", "S"}, {"sk", "N"}}
	item := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a"}, "sk": &types.AttributeValueMemberN{Value: "1"}}
	require.NoError(t, CheckItemKey(item, ks))
	item["sk"] = &types.AttributeValueMemberS{Value: "1"}
	require.ErrorContains(t, CheckItemKey(item, ks), "sk is S, the table wants N")
	delete(item, "pk")
	require.ErrorContains(t, CheckItemKey(item, ks), "no key attribute pk")
}

func TestCreateInputCopiesIndexesAndBilling(t *testing.T) {
	key := []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}}
	gsi := types.GlobalSecondaryIndexDescription{IndexName: aws.String("by-name"), KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("name"), KeyType: types.KeyTypeHash}},
		Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}}
	src := &types.TableDescription{KeySchema: key, GlobalSecondaryIndexes: []types.GlobalSecondaryIndexDescription{gsi},
		BillingModeSummary: &types.BillingModeSummary{BillingMode: types.BillingModePayPerRequest}}
	in := createInput("t", src)
	require.Equal(t, types.BillingModePayPerRequest, in.BillingMode)
	require.Len(t, in.GlobalSecondaryIndexes, 1)
	require.Nil(t, in.GlobalSecondaryIndexes[0].ProvisionedThroughput)

	src.BillingModeSummary = nil
	src.ProvisionedThroughput = &types.ProvisionedThroughputDescription{ReadCapacityUnits: aws.Int64(5), WriteCapacityUnits: aws.Int64(7)}
	in = createInput("t", src)
	require.Equal(t, types.BillingModeProvisioned, in.BillingMode)
	require.EqualValues(t, 7, *in.ProvisionedThroughput.WriteCapacityUnits)
	require.EqualValues(t, 7, *in.GlobalSecondaryIndexes[0].ProvisionedThroughput.WriteCapacityUnits, "an index without its own capacity gets the table's")
}

func TestFitsOneRow(t *testing.T) {
	f := manifest.File{DataFileS3Key: "exports/orders/AWSDynamoDB/01700000000000-abcdef01/data/abcdefghijklmnopqrstuvwxyz.json.gz", MD5Checksum: "AAAAAAAAAAAAAAAAAAAAAA=="}
	require.NoError(t, fitsOneRow(make([]manifest.File, 0)))
	many := make([]manifest.File, 1000)
	for i := range many {
		many[i] = f
	}
	require.NoError(t, fitsOneRow(many))
	many = append(many, many...)
	many = append(many, many...)
	err := fitsOneRow(many)
	require.True(t, fault.IsInvalid(err))
	require.ErrorContains(t, err, "4000 data files")
}

func TestRebaseFollowsACopiedExport(t *testing.T) {
	root := "copies/AWSDynamoDB/0170-ab/"
	require.Equal(t, root+"data/f.json.gz", Rebase(root+"data/f.json.gz", root))
	require.Equal(t, root+"data/f.json.gz", Rebase("orig/p/AWSDynamoDB/0170-ab/data/f.json.gz", root))
	require.Equal(t, "AWSDynamoDB/0170-ab/data/f.json.gz", Rebase("x/AWSDynamoDB/0170-ab/data/f.json.gz", "AWSDynamoDB/0170-ab/"))
	require.Equal(t, "elsewhere/f.json.gz", Rebase("elsewhere/f.json.gz", root), "a key of another export is left as it is")
}

func TestCheckIndexKeys(t *testing.T) {
	idx := []keyAttr{{"email", "S"}}
	require.NoError(t, CheckIndexKeys(map[string]types.AttributeValue{}, idx), "an item may lack an index key")
	require.NoError(t, CheckIndexKeys(map[string]types.AttributeValue{"email": &types.AttributeValueMemberS{Value: "a@b"}}, idx))
	require.ErrorContains(t, CheckIndexKeys(map[string]types.AttributeValue{"email": &types.AttributeValueMemberN{Value: "1"}}, idx), "email is N, the table wants S")
	require.ErrorContains(t, CheckIndexKeys(map[string]types.AttributeValue{"email": &types.AttributeValueMemberS{}}, idx), "empty string")
}
