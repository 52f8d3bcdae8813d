package coordcli

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/datafile"
	"github.com/ddbfleet/ddbfleet/shared/export"
)

func TestDefaultOptionsLeaveTheFingerprintAsItWas(t *testing.T) {
	// Exports recorded before the options existed must still match a
	// re-run with the same --export-id and no options.
	require.Empty(t, exportOptions{format: datafile.DynamoDBJSON, compression: datafile.Gzip}.fingerprint())
	got := exportOptions{format: datafile.JSON, compression: datafile.Gzip, filter: "a = :v", valuesJSON: `{":v":{"N":"1"}}`,
		objects: export.ObjectOptions{StorageClass: "GLACIER_IR"}}.fingerprint()
	require.Equal(t, []string{"format=json", "filter=a = :v", `values={":v":{"N":"1"}}`, "class=GLACIER_IR"}, got)
}

func TestExpressionFlagNamesWhatDynamoDBBlamed(t *testing.T) {
	for msg, flag := range map[string]string{
		`Invalid FilterExpression: Syntax error; token: "=", near: "==="`:                                                     "--filter-expression",
		"Invalid FilterExpression: An expression attribute value used in expression is not defined; attribute value: :v":      "--expression-attribute-values",
		"Invalid FilterExpression: An expression attribute name used in the document path is not defined; attribute name: #a": "--expression-attribute-names",
		"Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}":                                       "--expression-attribute-values",
		`Invalid ProjectionExpression: Syntax error; token: ",", near: ",,sk"`:                                                "--projection-expression",
		"ExpressionAttributeNames can only be specified when using expressions":                                               "--expression-attribute-names",
		"something else": "--filter-expression/--projection-expression",
	} {
		require.Equal(t, flag, expressionFlag(msg), msg)
	}
}
