package ddbjson_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ddbfleet/ddbfleet/shared/ddbjson"
	"github.com/stretchr/testify/require"
)

func everyType() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk":    &types.AttributeValueMemberS{Value: "user#1"},
		"empty": &types.AttributeValueMemberS{Value: ""},
		"esc":   &types.AttributeValueMemberS{Value: "quote\" back\\ nl\n tab\t ctl\x01 <html>& é 😀 \u2028"},
		"n":     &types.AttributeValueMemberN{Value: "1.50"},
		"big":   &types.AttributeValueMemberN{Value: "-12345678901234567890123456789012345678E-20"},
		"b":     &types.AttributeValueMemberB{Value: []byte{0, 1, 2, 255}},
		"t":     &types.AttributeValueMemberBOOL{Value: true},
		"f":     &types.AttributeValueMemberBOOL{Value: false},
		"null":  &types.AttributeValueMemberNULL{Value: true},
		"ss":    &types.AttributeValueMemberSS{Value: []string{"a", "b"}},
		"ns":    &types.AttributeValueMemberNS{Value: []string{"1", "2.0"}},
		"bs":    &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2, 3}}},
		"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{
			&types.AttributeValueMemberS{Value: "x"},
			&types.AttributeValueMemberL{Value: []types.AttributeValue{}},
			&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}},
		}},
		"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"inner": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
				"deep": &types.AttributeValueMemberN{Value: "0"},
			}},
		}},
	}
}

func TestRoundTripEveryType(t *testing.T) {
	item := everyType()
	line, err := ddbjson.AppendItemLine(nil, item)
	require.NoError(t, err)
	require.Equal(t, byte('\n'), line[len(line)-1])
	require.True(t, json.Valid(line), "encoded line is not valid JSON: %s", line)

	back, err := ddbjson.DecodeItemLine(line)
	require.NoError(t, err)
	require.Equal(t, item, back)

	again, err := ddbjson.AppendItemLine(nil, back)
	require.NoError(t, err)
	require.Equal(t, string(line), string(again), "encoding must be deterministic")
}

func TestStringsMatchEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "a\"b", "\\", "\x00\x1f", "é😀", "bad\xffutf8", "\u2028"} {
		got, err := ddbjson.AppendValue(nil, &types.AttributeValueMemberS{Value: s})
		require.NoError(t, err)
		var decoded map[string]string
		require.NoError(t, json.Unmarshal(got, &decoded), "%q -> %s", s, got)
		want := s
		if s == "bad\xffutf8" {
			want = "bad\ufffdutf8"
		}
		require.Equal(t, want, decoded["S"])
	}
}

func TestExactWireForm(t *testing.T) {
	line, err := ddbjson.AppendItemLine(nil, map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "a"},
		"n":  &types.AttributeValueMemberN{Value: "1.50"},
		"b":  &types.AttributeValueMemberB{Value: []byte("hi")},
	})
	require.NoError(t, err)
	require.Equal(t, `{"Item":{"b":{"B":"aGk="},"n":{"N":"1.50"},"pk":{"S":"a"}}}`+"\n", string(line))
}

func TestDecodeRejectsMalformed(t *testing.T) {
	for _, in := range []string{`{}`, `{"Item":{"a":{"X":"1"}}}`, `{"Item":{"a":{"S":"1","N":"2"}}}`, `not json`, `{"Item":{"a":{"B":"!!"}}}`} {
		_, err := ddbjson.DecodeItemLine([]byte(in))
		require.Error(t, err, in)
	}
}

func BenchmarkAppendItem(b *testing.B) {
	item := everyType()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = ddbjson.AppendItemLine(buf[:0], item)
	}
	b.SetBytes(int64(len(buf)))
}

func ExampleAppendItemLine() {
	line, _ := ddbjson.AppendItemLine(nil, map[string]types.AttributeValue{
		"pk":   &types.AttributeValueMemberS{Value: "order#7"},
		"qty":  &types.AttributeValueMemberN{Value: "3"},
		"tags": &types.AttributeValueMemberSS{Value: []string{"gift"}},
	})
	fmt.Print(string(line))
	// Output: {"Item":{"pk":{"S":"order#7"},"qty":{"N":"3"},"tags":{"SS":["gift"]}}}
}
