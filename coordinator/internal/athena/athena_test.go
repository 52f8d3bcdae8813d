package athena_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/athena"
	"github.com/ddbfleet/ddbfleet/shared/datafile"
)

func TestDynamoDBJSONBecomesOneItemStructMergingTypeTags(t *testing.T) {
	s := athena.NewSchema(datafile.DynamoDBJSON)
	require.NoError(t, s.AddAll(strings.NewReader(
		`{"Item":{"pk":{"S":"a"},"v":{"N":"1"},"l":{"L":[{"S":"x"},{"N":"2"}]},"m":{"M":{"date":{"BOOL":true}}}}}`+"\n"+
			`{"Item":{"pk":{"S":"b"},"v":{"S":"one"},"tags":{"SS":["t"]},"gone":{"NULL":true}}}`+"\n"), 1000))
	require.Equal(t, 2, s.Lines())
	ddl, dropped, err := s.DDL(athena.Table{Name: "orders_1", Location: "s3://b/p/AWSDynamoDB/1/data/", ExportID: "1"})
	require.NoError(t, err)
	require.Empty(t, dropped)
	require.Equal(t, "CREATE EXTERNAL TABLE `orders_1` (\n"+
		"  Item struct<gone:struct<`NULL`:boolean>,l:struct<L:array<struct<N:string,S:string>>>,"+
		"m:struct<M:struct<`date`:struct<BOOL:boolean>>>,pk:struct<S:string>,tags:struct<SS:array<string>>,v:struct<N:string,S:string>>\n"+
		")\n"+
		"ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\n"+
		"LOCATION 's3://b/p/AWSDynamoDB/1/data/'\n"+
		"TBLPROPERTIES ('ddbfleet.exportId'='1', 'ddbfleet.outputFormat'='DYNAMODB_JSON');\n", ddl)
}

func TestJSONGetsAColumnPerAttribute(t *testing.T) {
	s := athena.NewSchema(datafile.JSON)
	for _, l := range []string{
		`{"pk":"a","n":1,"x":1,"big":"123456789012345678901234567890","flag":true,"arr":[1,2.5],"obj":{"k":"v"},"nul":null,"Case":1,"mixed":1}`,
		`{"pk":"b","n":2,"x":1.5,"big":"1","arr":[],"obj":{"j":2},"case":2,"mixed":"s","empty":{}}`,
	} {
		require.NoError(t, s.Add([]byte(l)))
	}
	ddl, dropped, err := s.DDL(athena.Table{Database: "db", Name: "t", Location: "s3://b/data/", ExportID: "e"})
	require.NoError(t, err)
	require.Equal(t, []string{"case"}, dropped, "Case and case are one column to Athena")
	require.Contains(t, ddl, "CREATE EXTERNAL TABLE `db`.`t` (\n")
	for _, col := range []string{
		"  `Case` bigint,", "  `arr` array<double>,", "  `big` string,", "  `empty` string,", "  `flag` boolean,",
		"  `mixed` string,", "  `n` bigint,", "  `nul` string,", "  `obj` struct<j:bigint,k:string>,", "  `pk` string,", "  `x` double\n",
	} {
		require.Contains(t, ddl, col)
	}
	require.Contains(t, ddl, "'ddbfleet.outputFormat'='JSON'")
}

func TestNoSampleNoTable(t *testing.T) {
	_, _, err := athena.NewSchema(datafile.JSON).DDL(athena.Table{Name: "t"})
	require.ErrorContains(t, err, "no sample items")
	require.Error(t, athena.NewSchema(datafile.JSON).Add([]byte(`[1]`)))
	require.Error(t, athena.NewSchema(datafile.DynamoDBJSON).Add([]byte(`{"pk":"a"}`)))
}

func TestNames(t *testing.T) {
	require.Equal(t, "orders_v2_0179_ab", athena.TableName("Orders.v2", "0179-ab"))
	require.True(t, athena.ValidName("my_db1"))
	require.False(t, athena.ValidName("my-db"))
	require.False(t, athena.ValidName(""))
}
