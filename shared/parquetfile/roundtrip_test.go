package parquetfile

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"github.com/stretchr/testify/require"
)

var pkSK = []Key{{Name: "pk", Type: types.ScalarAttributeTypeS}, {Name: "sk", Type: types.ScalarAttributeTypeN}}

func allBytes() []byte {
	out := make([]byte, 256)
	for i := range out {
		out[i] = byte(i)
	}
	return out
}

// corpusItem is the i-th item of a table that uses every DynamoDB type in
// the ways that are hard to map: numbers no double holds, every byte
// value, empty strings and containers, deep nesting, mixed lists.
func corpusItem(i int) item {
	it := item{
		"pk":      s(fmt.Sprintf("user#%04d", i)),
		"sk":      n(strconv.Itoa(i % 7)),
		"precise": n("12345678901234567890123456789012345678"),
		"negBig":  n("-99999999999999999999999999999999999999"),
		"tiny":    n("1E-130"),
		"huge":    n("-9.9999999999999999999999999999999999999E+125"),
		"price":   n(fmt.Sprintf("%d.25", i)),
		"fracNeg": n(fmt.Sprintf("-0.%03d1", i%1000)),
		// Scales from 0 to 130 in one column: no DECIMAL holds them all.
		"scales":  n([]string{"1", "0.5", "1E-130", "123456789012345678901234567890", "-2.000000000000000000000000000000001"}[i%5]),
		"blob":    b(allBytes()),
		"emptyS":  s(""),
		"unicode": s("Ünïcødé \"q\" \\ \n\t\x00 😀 日本語"),
		"flag":    boolean(i%2 == 0),
		"tags":    ss("a", "", "ß", fmt.Sprint(i)),
		"nums":    ns("1", "2.5", "-3", "0.001"),
		"hashes":  bs([]byte{}, []byte{0}, allBytes()),
		"nested": m(
			"a", m("b", m("c", l(m("d", n("1"), "e", s("x")), m("d", n(strconv.Itoa(i)))))),
			"s", s("top"),
			"empty", s(""),
		),
		"matrix":    l(l(l(s("deep"), s("")), l()), l(l(s(strconv.Itoa(i))))),
		"mixedList": l(s("created"), n("3"), boolean(true), null(), m("by", null()), l(), b([]byte{1})),
		"emptyL":    l(),
		"emptyM":    m(),
		"maybeList": l(),
		"maybeM":    m(),
		"withNull":  m("a", s("x"), "b", null()),
		"_extra":    s("an attribute named like the extra column"),
	}
	if i%2 == 1 {
		it["maybeList"] = l(s("x"), s(""))
		it["maybeM"] = m("x", s(strconv.Itoa(i)))
		it["withNull"] = m("a", s("y"), "b", s("not null"))
	}
	if i%3 == 0 {
		it["nul"] = null() // only ever NULL: no column, kept in _extra
		delete(it, "flag") // absent, not false
	}
	if i%4 == 0 {
		it["sometimesNull"] = null()
	} else {
		it["sometimesNull"] = s("v")
	}
	return it
}

// lateItem is written after the sample: attributes and values the schema
// was not inferred from.
func lateItem(i int) item {
	it := corpusItem(i)
	it["late"] = s("appears only after the sample")
	it["flag"] = s("was BOOL in the sample")              // type changed
	it["price"] = n("1.125")                              // one digit more than DECIMAL(38,2)
	it["precise"] = n("1E+38")                            // 39 digits: beyond DECIMAL(38,0)
	it["nested"] = m("s", s("top"), "unexpected", n("1")) // a field the struct lacks
	it["tags"] = l(s("a"))                                // L where the sample had SS
	it["maybeList"] = l(s("x"), n("1"))                   // element of another type
	return it
}

func TestRoundTripEveryType(t *testing.T) {
	var items []item
	for i := range 40 {
		items = append(items, corpusItem(i))
	}
	for i := 40; i < 50; i++ {
		items = append(items, lateItem(i))
	}
	for _, c := range []Compression{Snappy, Zstd, None} {
		t.Run(string(c), func(t *testing.T) {
			file, schema := writeFile(t, pkSK, items, 40, Options{Compression: c})
			got := readFile(t, file)
			// Every DECIMAL value above is already in DynamoDB's
			// normalised spelling, so even the text must come back.
			requireSameItems(t, items, got, numbersAsText)

			cols := columnTypes(schema)
			require.Equal(t, "string", cols["pk"])
			require.Equal(t, "decimal(38,0)", cols["sk"])
			require.Equal(t, "decimal(38,0)", cols["precise"])
			require.Equal(t, "decimal(38,0)", cols["negBig"])
			require.Equal(t, "decimal(38,2)", cols["price"])
			require.Equal(t, "decimal(38,4)", cols["fracNeg"])
			require.Equal(t, "string", cols["tiny"], "1E-130 needs scale 130")
			require.Equal(t, "string", cols["huge"], "126 integer digits")
			require.Equal(t, "string", cols["scales"], "scales 0..130 in one column")
			require.Equal(t, "binary", cols["blob"])
			require.Equal(t, "boolean", cols["flag"])
			require.Equal(t, "array<string>", cols["tags"])
			require.Equal(t, "array<decimal(38,3)>", cols["nums"])
			require.Equal(t, "array<binary>", cols["hashes"])
			require.Equal(t, "struct<a:struct<b:struct<c:array<struct<d:decimal(38,0),e:string>>>>,empty:string,s:string>", cols["nested"])
			require.Equal(t, "array<array<array<string>>>", cols["matrix"])
			require.Equal(t, "string", cols["mixedList"], "mixed list is JSON text")
			require.Equal(t, "string", cols["emptyL"])
			require.Equal(t, "array<string>", cols["maybeList"])
			require.Equal(t, "struct<x:string>", cols["maybeM"])
			require.Equal(t, "struct<a:string,b:string>", cols["withNull"], "b was NULL and S: JSON text")
			require.Equal(t, "string", cols["sometimesNull"])
			require.NotContains(t, cols, "nul")
			require.NotContains(t, cols, "late")
			require.Equal(t, "string", cols[ExtraColumn])
		})
	}
}

// TestExtraHoldsWhatDoesNotFit checks where values went, not only that
// they came back: a late or misfitting attribute must be in _extra, and
// its column null.
func TestExtraHoldsWhatDoesNotFit(t *testing.T) {
	items := []item{corpusItem(0), corpusItem(1), lateItem(2)}
	file, _ := writeFile(t, pkSK, items, 2, Options{})
	f, err := parquet.OpenFile(bytes.NewReader(file), int64(len(file)))
	require.NoError(t, err)
	rows := parquet.NewReader(f)
	defer rows.Close()
	type rowView struct {
		Extra *string `parquet:"_extra,optional"`
	}
	var extras []*string
	for range items {
		var v rowView
		require.NoError(t, rows.Read(&v))
		extras = append(extras, v.Extra)
	}
	require.NotNil(t, extras[0])
	require.JSONEq(t, `{"_extra":{"S":"an attribute named like the extra column"},"nul":{"NULL":true},"sometimesNull":{"NULL":true}}`, *extras[0])
	require.JSONEq(t, `{"_extra":{"S":"an attribute named like the extra column"}}`, *extras[1])
	require.JSONEq(t, `{
		"_extra":{"S":"an attribute named like the extra column"},
		"late":{"S":"appears only after the sample"},
		"flag":{"S":"was BOOL in the sample"},
		"price":{"N":"1.125"},
		"scales":{"N":"1E-130"},
		"precise":{"N":"1E+38"},
		"nested":{"M":{"s":{"S":"top"},"unexpected":{"N":"1"}}},
		"tags":{"L":[{"S":"a"}]},
		"maybeList":{"L":[{"S":"x"},{"N":"1"}]}
	}`, *extras[2])
}

func TestDecimalNormalisesSpellingNotValue(t *testing.T) {
	in := []string{"1.50", "1E+2", "-0", "+5", "007.10", "0.000", "-1.0E-3", "12.3400"}
	want := []string{"1.5", "100", "0", "5", "7.1", "0", "-0.001", "12.34"}
	var items []item
	for i, v := range in {
		items = append(items, item{"pk": s(strconv.Itoa(i)), "v": n(v), "vs": ns(v)})
	}
	file, schema := writeFile(t, []Key{{Name: "pk", Type: types.ScalarAttributeTypeS}}, items, len(items), Options{})
	require.Equal(t, "decimal(38,3)", columnTypes(schema)["v"])
	got := readFile(t, file)
	requireSameItems(t, items, got, numbersAsValues)
	for i := range want {
		require.Equal(t, want[i], got[i]["v"].(*types.AttributeValueMemberN).Value)
		require.Equal(t, []string{want[i]}, got[i]["vs"].(*types.AttributeValueMemberNS).Value)
	}
}

func TestCompositeAndBinaryKeys(t *testing.T) {
	t.Run("S hash N range", func(t *testing.T) {
		var items []item
		for i := range 20 {
			items = append(items, item{"pk": s(fmt.Sprintf("h%d", i%3)), "sk": n(fmt.Sprintf("%d.5", i)), "v": s("x")})
		}
		// After the sample: a range key with more decimals than sampled
		// and one with 38 integer digits. The DECIMAL key column cannot
		// hold them; _extra does.
		items = append(items,
			item{"pk": s("late"), "sk": n("0.25"), "v": s("y")},
			item{"pk": s("late"), "sk": n("12345678901234567890123456789012345678"), "v": s("z")})
		file, schema := writeFile(t, pkSK, items, 20, Options{})
		require.Equal(t, []Column{
			{Name: "pk", Key: true, AthenaType: "string"},
			{Name: "sk", Key: true, AthenaType: "decimal(38,1)"},
			{Name: "v", AthenaType: "string"},
			{Name: ExtraColumn, AthenaType: "string"},
		}, schema.Columns())
		requireSameItems(t, items, readFile(t, file), numbersAsText)
	})
	t.Run("B hash B range", func(t *testing.T) {
		keys := []Key{{Name: "h", Type: types.ScalarAttributeTypeB}, {Name: "r", Type: types.ScalarAttributeTypeB}}
		var items []item
		for i := range 10 {
			items = append(items, item{"h": b(allBytes()[i:]), "r": b([]byte{byte(i), 0, 255})})
		}
		file, schema := writeFile(t, keys, items, 10, Options{})
		require.Equal(t, "binary", columnTypes(schema)["h"])
		requireSameItems(t, items, readFile(t, file), numbersAsText)
	})
	t.Run("N hash as text", func(t *testing.T) {
		keys := []Key{{Name: "id", Type: types.ScalarAttributeTypeN}}
		items := []item{{"id": n("1E-130")}, {"id": n("5")}, {"id": n("-9.9999999999999999999999999999999999999E+125")}}
		file, schema := writeFile(t, keys, items, 3, Options{})
		require.Equal(t, "string", columnTypes(schema)["id"])
		requireSameItems(t, items, readFile(t, file), numbersAsText)
	})
}

func TestWriteRefusesItemsWithoutKeys(t *testing.T) {
	schema, err := InferSchema(pkSK, nil, InferOptions{})
	require.NoError(t, err)
	w, err := NewWriter(&bytes.Buffer{}, schema, Options{})
	require.NoError(t, err)
	err = w.Write(item{"pk": s("a")})
	require.ErrorContains(t, err, `no value for key attribute "sk"`)
	require.Error(t, w.Write(item{"pk": s("a"), "sk": n("1")}), "the error is sticky")

	w, err = NewWriter(&bytes.Buffer{}, schema, Options{})
	require.NoError(t, err)
	require.ErrorContains(t, w.Write(item{"pk": n("1"), "sk": n("1")}), `key attribute "pk": N value in a S column`)
}

func TestEmptySetsAndNilValuesSurvive(t *testing.T) {
	// DynamoDB refuses empty sets, but decoded data can hold them; they
	// must not turn into absent attributes.
	sample := []item{{"pk": s("1"), "ss": ss("a"), "ns": ns("1"), "bs": bs([]byte{1}), "l": l(s("a")), "m": m("a", s("x"))}}
	items := append(sample,
		item{"pk": s("2"), "ss": ss(), "ns": ns(), "bs": bs(), "l": l(), "m": m()},
		item{"pk": s("3")},
	)
	file, _ := writeFile(t, []Key{{Name: "pk", Type: types.ScalarAttributeTypeS}}, items, 1, Options{})
	got := readFile(t, file)
	requireSameItems(t, items, got, numbersAsText)
	require.NotNil(t, got[1]["ss"].(*types.AttributeValueMemberSS).Value, "empty, not nil")
	require.NotContains(t, got[2], "ss")
}

func TestReadItemsReturnsCallbackError(t *testing.T) {
	file, _ := writeFile(t, pkSK, []item{corpusItem(0), corpusItem(1)}, 2, Options{})
	stop := errors.New("stop")
	calls := 0
	err := ReadItems(bytes.NewReader(file), int64(len(file)), func(item) error { calls++; return stop })
	require.Same(t, stop, err)
	require.Equal(t, 1, calls)
}

func TestNumRowsAndReadSchema(t *testing.T) {
	var items []item
	for i := range 1000 {
		items = append(items, corpusItem(i))
	}
	file, schema := writeFile(t, pkSK, items, 100, Options{RowGroupBytes: 64 << 10})
	rows, err := NumRows(bytes.NewReader(file), int64(len(file)))
	require.NoError(t, err)
	require.Equal(t, int64(1000), rows)
	got, err := ReadSchema(bytes.NewReader(file), int64(len(file)))
	require.NoError(t, err)
	want, _ := schema.MarshalJSON()
	gotJSON, _ := got.MarshalJSON()
	require.JSONEq(t, string(want), string(gotJSON))

	_, err = NumRows(bytes.NewReader(file[:len(file)-10]), int64(len(file)-10))
	require.Error(t, err, "a truncated file has no footer")
}

func TestReadRefusesForeignSchema(t *testing.T) {
	file, _ := writeFile(t, pkSK, []item{corpusItem(0)}, 1, Options{})
	other, err := InferSchema(pkSK, []item{{"pk": s("a"), "sk": n("1"), "x": s("y")}}, InferOptions{})
	require.NoError(t, err)
	otherJSON, _ := other.MarshalJSON()
	// Rewrite the footer's schema entry by writing a file with another
	// schema's metadata: ReadItems must notice the columns do not match.
	var buf bytes.Buffer
	pw := parquet.NewGenericWriter[any](&buf, parquet.NewSchema("item", newLayout(mustSchema(t, file)).root), parquet.KeyValueMetadata(SchemaMetadataKey, string(otherJSON)))
	require.NoError(t, pw.Close())
	err = ReadItems(bytes.NewReader(buf.Bytes()), int64(buf.Len()), func(item) error { return nil })
	require.ErrorContains(t, err, "metadata")
}

func mustSchema(t *testing.T, file []byte) *Schema {
	t.Helper()
	s, err := ReadSchema(bytes.NewReader(file), int64(len(file)))
	require.NoError(t, err)
	return s
}

// TestFileLayoutForEngines pins what engine compatibility rests on: v1
// data pages, PLAIN values, key columns first, DECIMAL as 16-byte
// FIXED_LEN_BYTE_ARRAY, and no min/max on DECIMAL (parquet-go would order
// it as unsigned bytes, putting -1 above 5).
func TestFileLayoutForEngines(t *testing.T) {
	items := []item{
		{"pk": s("b"), "sk": n("5"), "amount": n("-1.5"), "name": s("x")},
		{"pk": s("a"), "sk": n("-1"), "amount": n("5"), "name": s("y")},
	}
	file, _ := writeFile(t, pkSK, items, 2, Options{})
	f, err := parquet.OpenFile(bytes.NewReader(file), int64(len(file)))
	require.NoError(t, err)
	md := f.Metadata()
	var names []string
	for _, el := range md.Schema[1:] {
		names = append(names, el.Name)
	}
	require.Equal(t, []string{"pk", "sk", "amount", "name", ExtraColumn}, names)
	amount := md.Schema[3]
	require.Equal(t, int32(16), amount.TypeLength.V)
	dec, ok := amount.LogicalType.Value.(*format.DecimalType)
	require.True(t, ok, "amount is %v", amount.LogicalType.Value)
	require.Equal(t, int32(38), dec.Precision)
	require.Equal(t, int32(1), dec.Scale)

	require.Len(t, md.RowGroups, 1)
	for _, c := range md.RowGroups[0].Columns {
		path := fmt.Sprint(c.MetaData.PathInSchema)
		for _, e := range c.MetaData.EncodingStats {
			require.Equal(t, format.DataPage, e.PageType, "%s: v1 data pages only", path)
			require.Equal(t, format.Plain, e.Encoding, "%s", path)
		}
		st := c.MetaData.Statistics
		switch path {
		case "[pk]":
			require.Equal(t, "a", string(st.MinValue))
			require.Equal(t, "b", string(st.MaxValue))
		case "[sk]", "[amount]":
			require.Nil(t, st.MinValue, "%s: no DECIMAL bounds", path)
			require.Nil(t, st.MaxValue, "%s: no DECIMAL bounds", path)
		}
	}
}
