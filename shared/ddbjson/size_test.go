package ddbjson

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"
)

func TestItemSize(t *testing.T) {
	item := map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "abc"},            // 2 + 3
		"n":  &types.AttributeValueMemberN{Value: "-12345.6700E+3"}, // 1 + (7 digits+1)/2+1 = 6
		"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{ // 1 + 3 + (1+1)
			&types.AttributeValueMemberBOOL{Value: true}}},
	}
	require.Equal(t, 5+6+6, ItemSize(item))
}
