package ddbjson_test

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/ddbjson"
)

func TestPlainItemLineUnwrapsEveryType(t *testing.T) {
	line, err := ddbjson.AppendPlainItemLine(nil, everyType())
	require.NoError(t, err)
	require.Equal(t, byte('\n'), line[len(line)-1])
	require.True(t, json.Valid(line), "not valid JSON: %s", line)
	require.Equal(t,
		`{"b":"AAEC/w==","big":"-12345678901234567890123456789012345678E-20","bs":["AQ==","AgM="],`+
			`"empty":"","esc":"quote\" back\\ nl\n tab\t ctl\u0001 <html>& é 😀 `+"\u2028"+`","f":false,`+
			`"l":["x",[],{}],"m":{"inner":{"deep":0}},"n":1.5,"ns":[1,2],"null":null,`+
			`"pk":"user#1","ss":["a","b"],"t":true}`+"\n",
		string(line))

	again, err := ddbjson.AppendPlainItemLine(nil, everyType())
	require.NoError(t, err)
	require.Equal(t, string(line), string(again), "encoding must be deterministic")
}

func TestPlainNumberIsANumberOnlyWhenAFloat64KeepsItsValue(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"0", `0`},
		{"-0", `-0`},
		{"0.000", `0`},
		{"1", `1`},
		{"1.50", `1.5`},          // same value, shorter text
		{"-1.0E-130", `-1e-130`}, // DynamoDB's smallest magnitude survives
		{"9.9999999999999999999999999999999999999E+125", `"9.9999999999999999999999999999999999999E+125"`},
		{"1E+125", `1e+125`},
		{"47.3769", `47.3769`},
		{"0.001", `0.001`},
		{"0.1", `0.1`}, // not exact in binary, but parses back to the same decimal
		{"100000000", `100000000`},
		{"9007199254740992", `9007199254740992`},
		{"9007199254740993", `"9007199254740993"`}, // 2^53+1 rounds to 2^53
		{"12345678901234567890123456789012345678", `"12345678901234567890123456789012345678"`},
		{"0.10000000000000000001", `"0.10000000000000000001"`},
		{"1E-400", `"1E-400"`}, // underflows to 0
		{"1E+400", `"1E+400"`}, // overflows
		{"NaN", `"NaN"`},
		{"Infinity", `"Infinity"`},
		{"", `""`},
	} {
		got := string(ddbjson.AppendPlainNumber(nil, c.in))
		require.Equal(t, c.want, got, "number %q", c.in)
		require.True(t, json.Valid([]byte(got)), "%q gave invalid JSON %s", c.in, got)
	}
}

func TestPlainNumberAgreesWithEncodingJSON(t *testing.T) {
	// Whatever we write as a number, encoding/json reads back as the same
	// float64 that strconv parses from DynamoDB's text.
	for _, n := range []string{"1.50", "3.14159", "-2", "6.02214076E+23", "1e-7", "123456789012345"} {
		var f float64
		require.NoError(t, json.Unmarshal(ddbjson.AppendPlainNumber(nil, n), &f), n)
		var want float64
		require.NoError(t, json.Unmarshal([]byte(n), &want), n)
		require.Equal(t, want, f, n)
	}
}

func TestPlainRejectsUnknownTypes(t *testing.T) {
	_, err := ddbjson.AppendPlainItemLine(nil, map[string]types.AttributeValue{"x": nil})
	require.ErrorContains(t, err, `attribute "x"`)
}

func BenchmarkAppendPlainItem(b *testing.B) {
	item := everyType()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = ddbjson.AppendPlainItemLine(buf[:0], item)
	}
	b.SetBytes(int64(len(buf)))
}
