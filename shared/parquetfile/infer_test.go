package parquetfile

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"
)

func TestInferSchemaIsDeterministic(t *testing.T) {
	var sample []item
	for i := range 200 {
		sample = append(sample, corpusItem(i))
	}
	first, err := InferSchema(pkSK, sample, InferOptions{})
	require.NoError(t, err)
	want, err := first.MarshalJSON()
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		r.Shuffle(len(sample), func(i, j int) { sample[i], sample[j] = sample[j], sample[i] })
		again, err := InferSchema(pkSK, sample, InferOptions{})
		require.NoError(t, err)
		got, err := again.MarshalJSON()
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	}
	cols := first.Columns()
	require.Equal(t, "pk", cols[0].Name)
	require.Equal(t, "sk", cols[1].Name)
	require.Equal(t, ExtraColumn, cols[len(cols)-1].Name)
	for i := 3; i < len(cols)-1; i++ {
		require.Less(t, cols[i-1].Name, cols[i].Name, "non-key columns sorted by name")
	}
}

func TestSchemaJSONRoundTrip(t *testing.T) {
	schema, err := InferSchema(pkSK, []item{corpusItem(0), corpusItem(1)}, InferOptions{})
	require.NoError(t, err)
	text, err := json.Marshal(struct {
		Schema *Schema `json:"schema"`
	}{schema})
	require.NoError(t, err)
	var back struct {
		Schema *Schema `json:"schema"`
	}
	require.NoError(t, json.Unmarshal(text, &back))
	a, _ := schema.MarshalJSON()
	b, _ := back.Schema.MarshalJSON()
	require.Equal(t, string(a), string(b))
	require.Equal(t, schema.Columns(), back.Schema.Columns())
	require.Less(t, len(a), 2000, "short keys keep the schema small: %s", a)
}

func TestParseSchemaRejectsBadInput(t *testing.T) {
	for name, text := range map[string]string{
		"not json":        `{`,
		"other version":   `{"v":2,"c":[]}`,
		"unknown field":   `{"v":1,"c":[],"x":1}`,
		"unknown type":    `{"v":1,"c":[{"n":"a","t":"Q"}]}`,
		"reserved name":   `{"v":1,"c":[{"n":"_EXTRA","t":"S"}]}`,
		"case clash":      `{"v":1,"c":[{"n":"a","t":"S"},{"n":"A","t":"S"}]}`,
		"key after attr":  `{"v":1,"c":[{"n":"a","t":"S"},{"n":"k","k":true,"t":"S"}]}`,
		"key of type L":   `{"v":1,"c":[{"n":"k","k":true,"t":"L","e":{"t":"S"}}]}`,
		"scale on S":      `{"v":1,"c":[{"n":"a","t":"S","d":2}]}`,
		"scale too big":   `{"v":1,"c":[{"n":"a","t":"N","d":39}]}`,
		"L without elem":  `{"v":1,"c":[{"n":"a","t":"L"}]}`,
		"M without field": `{"v":1,"c":[{"n":"a","t":"M"}]}`,
		"unsorted fields": `{"v":1,"c":[{"n":"a","t":"M","f":[{"n":"y","t":"S"},{"n":"x","t":"S"}]}]}`,
		"empty name":      `{"v":1,"c":[{"n":"","t":"S"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSchema([]byte(text))
			require.Error(t, err)
		})
	}
}

func TestInferSchemaCapsColumnsAndSize(t *testing.T) {
	// 1,000 attributes with 200-byte names: neither 1,000 columns nor
	// 200 KB of schema would be reasonable.
	name := func(j int) string { return fmt.Sprintf("%04d", j) + strings.Repeat("x", 196) }
	var items []item
	for i := range 30 {
		it := item{"pk": s(fmt.Sprint(i)), "sk": n("1")}
		for j := range 1000 {
			// Attribute j is in fewer items the larger j is, so the cap
			// must keep the low numbers.
			if i < 30-j/40 {
				it[name(j)] = n(fmt.Sprint(j))
			}
		}
		items = append(items, it)
	}
	schema, err := InferSchema(pkSK, items, InferOptions{})
	require.NoError(t, err)
	text, err := schema.MarshalJSON()
	require.NoError(t, err)
	require.LessOrEqual(t, len(text), maxSchemaBytes)
	require.LessOrEqual(t, schema.leafCount(), DefaultMaxColumns)
	cols := columnTypes(schema)
	require.Contains(t, cols, name(0), "the most frequent attributes are kept")
	require.NotContains(t, cols, name(999))
	t.Logf("%d columns, %d bytes of schema JSON", len(cols), len(text))

	file, _ := writeFile(t, pkSK, items, len(items), Options{})
	requireSameItems(t, items, readFile(t, file), numbersAsText)

	small, err := InferSchema(pkSK, items, InferOptions{MaxColumns: 10})
	require.NoError(t, err)
	require.Equal(t, 10, small.leafCount())

	_, err = InferSchema(pkSK, items, InferOptions{MaxColumns: 2})
	require.Error(t, err, "no room for two keys and _extra")
}

func TestInferSchemaNamesEnginesCannotTellApart(t *testing.T) {
	items := []item{
		{"pk": s("1"), "Name": s("a"), "name": s("b"), "PK": s("c"), "geo": m("Lat", n("1"), "lat", n("2"))},
		{"pk": s("2"), "name": s("d")},
	}
	schema, err := InferSchema([]Key{{Name: "pk", Type: types.ScalarAttributeTypeS}}, items, InferOptions{})
	require.NoError(t, err)
	cols := columnTypes(schema)
	require.Contains(t, cols, "name", "the more frequent of Name/name")
	require.NotContains(t, cols, "Name")
	require.NotContains(t, cols, "PK", "the key wins its name")
	require.Equal(t, "string", cols["geo"], "fields Lat and lat: JSON text")

	file, _ := writeFile(t, []Key{{Name: "pk", Type: types.ScalarAttributeTypeS}}, items, 2, Options{})
	requireSameItems(t, items, readFile(t, file), numbersAsText)
}

func TestInferSchemaFallsBackToJSON(t *testing.T) {
	dict := map[string]types.AttributeValue{}
	for j := range maxStructFields + 1 {
		dict[fmt.Sprintf("user%d", j)] = n("1")
	}
	deep := s("bottom")
	for range maxDepth + 2 {
		deep = m("next", deep)
	}
	items := []item{
		{"pk": s("1"), "dict": &types.AttributeValueMemberM{Value: dict}, "deep": deep, "typeFlip": s("x"), "onlyNull": null()},
		{"pk": s("2"), "typeFlip": n("1")},
	}
	schema, err := InferSchema([]Key{{Name: "pk", Type: types.ScalarAttributeTypeS}}, items, InferOptions{})
	require.NoError(t, err)
	cols := columnTypes(schema)
	require.Equal(t, "string", cols["dict"], "a map with more than maxStructFields keys is a dictionary")
	require.Equal(t, "string", cols["typeFlip"], "S and N in the sample")
	require.NotContains(t, cols, "onlyNull")
	require.True(t, strings.HasPrefix(cols["deep"], "struct<next:struct<"), cols["deep"])
	require.Equal(t, maxDepth, strings.Count(cols["deep"], "struct<"), "nesting stops at maxDepth: %s", cols["deep"])

	file, _ := writeFile(t, []Key{{Name: "pk", Type: types.ScalarAttributeTypeS}}, items, 2, Options{})
	requireSameItems(t, items, readFile(t, file), numbersAsText)
}

func TestInferSchemaRejectsBadKeys(t *testing.T) {
	for name, keys := range map[string][]Key{
		"BOOL key":  {{Name: "k", Type: "BOOL"}},
		"twice":     {{Name: "k", Type: types.ScalarAttributeTypeS}, {Name: "K", Type: types.ScalarAttributeTypeS}},
		"_extra":    {{Name: "_extra", Type: types.ScalarAttributeTypeS}},
		"empty":     {{Name: "", Type: types.ScalarAttributeTypeS}},
		"long name": {{Name: strings.Repeat("k", 256), Type: types.ScalarAttributeTypeS}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := InferSchema(keys, nil, InferOptions{})
			require.Error(t, err)
		})
	}
}
