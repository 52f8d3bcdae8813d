package parquetfile

import (
	"bytes"
	"fmt"
	"math/big"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"
)

// Shorthands for building items.
func s(v string) types.AttributeValue     { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue     { return &types.AttributeValueMemberN{Value: v} }
func b(v []byte) types.AttributeValue     { return &types.AttributeValueMemberB{Value: v} }
func boolean(v bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: v} }
func null() types.AttributeValue          { return &types.AttributeValueMemberNULL{Value: true} }
func ss(v ...string) types.AttributeValue {
	return &types.AttributeValueMemberSS{Value: v}
}
func ns(v ...string) types.AttributeValue {
	return &types.AttributeValueMemberNS{Value: v}
}
func bs(v ...[]byte) types.AttributeValue {
	return &types.AttributeValueMemberBS{Value: v}
}
func l(v ...types.AttributeValue) types.AttributeValue {
	if v == nil {
		v = []types.AttributeValue{}
	}
	return &types.AttributeValueMemberL{Value: v}
}
func m(kv ...any) types.AttributeValue {
	out := map[string]types.AttributeValue{}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1].(types.AttributeValue)
	}
	return &types.AttributeValueMemberM{Value: out}
}

type item = map[string]types.AttributeValue

// numbers says how equal compares N values: as exact text, or as exact
// values (big.Rat) where DECIMAL storage may respell them.
type numbers int

const (
	numbersAsText numbers = iota
	numbersAsValues
)

// diff describes the first difference between two attribute values, or
// returns "" when they are equal. Unlike reflect.DeepEqual it treats a nil
// and an empty slice alike (DynamoDB does not tell them apart), and it can
// compare numbers by value.
func diff(path string, want, got types.AttributeValue, mode numbers) string {
	if want == nil || got == nil {
		if want == nil && got == nil {
			return ""
		}
		return fmt.Sprintf("%s: want %s, got %s", path, show(want), show(got))
	}
	if fmt.Sprintf("%T", want) != fmt.Sprintf("%T", got) {
		return fmt.Sprintf("%s: want %s, got %s", path, show(want), show(got))
	}
	switch w := want.(type) {
	case *types.AttributeValueMemberS:
		if g := got.(*types.AttributeValueMemberS); w.Value != g.Value {
			return fmt.Sprintf("%s: want S %q, got %q", path, w.Value, g.Value)
		}
	case *types.AttributeValueMemberN:
		if !sameNumber(w.Value, got.(*types.AttributeValueMemberN).Value, mode) {
			return fmt.Sprintf("%s: want N %q, got %q", path, w.Value, got.(*types.AttributeValueMemberN).Value)
		}
	case *types.AttributeValueMemberB:
		if g := got.(*types.AttributeValueMemberB); !bytes.Equal(w.Value, g.Value) {
			return fmt.Sprintf("%s: want B %x, got %x", path, w.Value, g.Value)
		}
	case *types.AttributeValueMemberBOOL:
		if g := got.(*types.AttributeValueMemberBOOL); w.Value != g.Value {
			return fmt.Sprintf("%s: want BOOL %v, got %v", path, w.Value, g.Value)
		}
	case *types.AttributeValueMemberNULL:
		if g := got.(*types.AttributeValueMemberNULL); w.Value != g.Value {
			return fmt.Sprintf("%s: want NULL %v, got %v", path, w.Value, g.Value)
		}
	case *types.AttributeValueMemberSS:
		if g := got.(*types.AttributeValueMemberSS); !slices.Equal(w.Value, g.Value) {
			return fmt.Sprintf("%s: want SS %q, got %q", path, w.Value, g.Value)
		}
	case *types.AttributeValueMemberNS:
		g := got.(*types.AttributeValueMemberNS)
		if len(w.Value) != len(g.Value) {
			return fmt.Sprintf("%s: want NS %q, got %q", path, w.Value, g.Value)
		}
		for i := range w.Value {
			if !sameNumber(w.Value[i], g.Value[i], mode) {
				return fmt.Sprintf("%s: want NS %q, got %q", path, w.Value, g.Value)
			}
		}
	case *types.AttributeValueMemberBS:
		g := got.(*types.AttributeValueMemberBS)
		if !slices.EqualFunc(w.Value, g.Value, bytes.Equal) {
			return fmt.Sprintf("%s: want BS %x, got %x", path, w.Value, g.Value)
		}
	case *types.AttributeValueMemberL:
		g := got.(*types.AttributeValueMemberL)
		if len(w.Value) != len(g.Value) {
			return fmt.Sprintf("%s: want L of %d, got %d: %s", path, len(w.Value), len(g.Value), show(got))
		}
		for i := range w.Value {
			if d := diff(fmt.Sprintf("%s[%d]", path, i), w.Value[i], g.Value[i], mode); d != "" {
				return d
			}
		}
	case *types.AttributeValueMemberM:
		return diffMap(path, w.Value, got.(*types.AttributeValueMemberM).Value, mode)
	default:
		return fmt.Sprintf("%s: unexpected type %T", path, want)
	}
	return ""
}

func diffMap(path string, want, got map[string]types.AttributeValue, mode numbers) string {
	names := make([]string, 0, len(want)+len(got))
	for k := range want {
		names = append(names, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		if d := diff(path+"."+k, want[k], got[k], mode); d != "" {
			return d
		}
	}
	return ""
}

func sameNumber(want, got string, mode numbers) bool {
	if want == got {
		return true
	}
	if mode == numbersAsText {
		return false
	}
	rw, ok1 := new(big.Rat).SetString(want)
	rg, ok2 := new(big.Rat).SetString(got)
	return ok1 && ok2 && rw.Cmp(rg) == 0
}

func show(av types.AttributeValue) string {
	if av == nil {
		return "(absent)"
	}
	return fmt.Sprintf("%T%+v", av, av)
}

// requireSameItems fails on the first item that differs.
func requireSameItems(t *testing.T, want, got []item, mode numbers) {
	t.Helper()
	require.Len(t, got, len(want), "item count")
	for i := range want {
		if d := diffMap(fmt.Sprintf("item %d", i), want[i], got[i], mode); d != "" {
			t.Fatal(d)
		}
	}
}

// writeFile writes items with a schema inferred from the first sampleSize
// of them and returns the file.
func writeFile(t *testing.T, keys []Key, items []item, sampleSize int, opts Options) ([]byte, *Schema) {
	t.Helper()
	schema, err := InferSchema(keys, items[:min(sampleSize, len(items))], InferOptions{})
	require.NoError(t, err)
	var buf bytes.Buffer
	w, err := NewWriter(&buf, schema, opts)
	require.NoError(t, err)
	for _, it := range items {
		require.NoError(t, w.Write(it))
	}
	require.NoError(t, w.Close())
	require.Equal(t, int64(buf.Len()), w.Written(), "Written counts every byte")
	return buf.Bytes(), schema
}

func readFile(t *testing.T, file []byte) []item {
	t.Helper()
	var got []item
	require.NoError(t, ReadItems(bytes.NewReader(file), int64(len(file)), func(it item) error {
		got = append(got, it)
		return nil
	}))
	return got
}

func columnTypes(s *Schema) map[string]string {
	out := map[string]string{}
	for _, c := range s.Columns() {
		out[c.Name] = c.AthenaType
	}
	return out
}
