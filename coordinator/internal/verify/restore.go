package verify

// Verifying a restore: re-read the target table for a sample of each
// file's items (or all of them) with strongly consistent BatchGetItem and
// compare every attribute with the file's item exactly (sets in any order,
// numbers by value).

import (
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/ddbfleet/ddbfleet/shared/datafile"
	"github.com/ddbfleet/ddbfleet/shared/ddbjson"
	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
)

// GetAPI is the read the check makes on the target table.
type GetAPI interface {
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

// RestoreReport is what a restore's verification found.
type RestoreReport struct {
	ExportID string   `json:"exportId"`
	Kind     string   `json:"kind"`
	OK       bool     `json:"ok"`
	Files    int      `json:"files"`
	Checked  int64    `json:"itemsChecked"`
	Kept     int64    `json:"itemsDifferingKept"` // --condition not-exists: differing items the restore kept
	Problems []string `json:"problems"`
}

// RestoreOptions choose what is compared.
type RestoreOptions struct {
	Keys        []string // the target's key attribute names
	PerFile     int      // sampled items per file (ignored with All)
	All         bool
	Concurrency int
}

// RunRestore verifies a COMPLETED restore against its target table.
func RunRestore(ctx context.Context, e *export.Export, obj *objstore.Store, db GetAPI, o RestoreOptions) (*RestoreReport, error) {
	rep := &RestoreReport{ExportID: e.ExportID, Kind: string(export.KindRestore), Files: len(e.RestoreFiles), Problems: []string{}}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, o.Concurrency))
	for _, f := range e.RestoreFiles {
		g.Go(func() error {
			sample, err := sampleFile(gctx, obj, f.Key, o)
			if err != nil {
				return err
			}
			checked, kept, problems, err := compare(gctx, db, e, f.Key, sample, o.Keys)
			if err != nil {
				return err
			}
			mu.Lock()
			rep.Checked += checked
			rep.Kept += kept
			rep.Problems = append(rep.Problems, problems...)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	sort.Strings(rep.Problems)
	rep.OK = len(rep.Problems) == 0
	return rep, nil
}

type lineItem struct {
	line int64
	item map[string]types.AttributeValue
}

// sampleFile keeps a uniform random sample of the file's items (reservoir).
func sampleFile(ctx context.Context, obj *objstore.Store, key string, o RestoreOptions) ([]lineItem, error) {
	body, err := obj.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	zr, err := datafile.NewReader(key, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	defer zr.Close()
	sc := datafile.NewLineScanner(zr)
	var out []lineItem
	var n int64
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		n++
		item, err := ddbjson.DecodeItemLine(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", key, n, err)
		}
		switch {
		case o.All || len(out) < o.PerFile:
			out = append(out, lineItem{n, item})
		default:
			if j := rand.Int64N(n); j < int64(o.PerFile) {
				out[j] = lineItem{n, item}
			}
		}
	}
	return out, sc.Err()
}

func compare(ctx context.Context, db GetAPI, e *export.Export, file string, sample []lineItem, keys []string) (checked, kept int64, problems []string, err error) {
	keyOf := func(it map[string]types.AttributeValue) map[string]types.AttributeValue {
		k := map[string]types.AttributeValue{}
		for _, n := range keys {
			k[n] = it[n]
		}
		return k
	}
	id := func(it map[string]types.AttributeValue) string {
		s := ""
		for _, n := range keys {
			b, _ := ddbjson.AppendItemLine(nil, map[string]types.AttributeValue{n: it[n]})
			s += string(b)
		}
		return s
	}
	for start := 0; start < len(sample); start += 100 {
		chunk := sample[start:min(start+100, len(sample))]
		want := map[string]lineItem{}
		var ks []map[string]types.AttributeValue
		for _, li := range chunk {
			if _, dup := want[id(li.item)]; dup {
				continue
			}
			want[id(li.item)] = li
			ks = append(ks, keyOf(li.item))
		}
		got := map[string]map[string]types.AttributeValue{}
		for len(ks) > 0 {
			var out *dynamodb.BatchGetItemOutput
			err := fault.Retry(ctx, fault.DefaultPolicy, func(ctx context.Context) error {
				var err error
				out, err = db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
					e.Table: {Keys: ks, ConsistentRead: aws.Bool(true)}}})
				return err
			})
			if err != nil {
				return 0, 0, nil, fmt.Errorf("read back table %s: %w", e.Table, err)
			}
			for _, it := range out.Responses[e.Table] {
				got[id(it)] = it
			}
			ks = nil
			if u, ok := out.UnprocessedKeys[e.Table]; ok {
				ks = u.Keys
			}
		}
		for k, li := range want {
			checked++
			it, ok := got[k]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s line %d: item %s is missing from table %s", file, li.line, k, e.Table))
			case !equalItem(it, li.item):
				if e.RestoreCondition == export.NotExists {
					kept++
					continue
				}
				problems = append(problems, fmt.Sprintf("%s line %d: item %s differs in table %s", file, li.line, k, e.Table))
			}
		}
	}
	return checked, kept, problems, nil
}

func equalItem(a, b map[string]types.AttributeValue) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !equalValue(v, w) {
			return false
		}
	}
	return true
}

func equalNumber(a, b string) bool {
	x, ok1 := new(big.Rat).SetString(a)
	y, ok2 := new(big.Rat).SetString(b)
	if !ok1 || !ok2 {
		return a == b
	}
	return x.Cmp(y) == 0
}

func sameSet(a, b []string, eq func(x, y string) bool) bool {
	if len(a) != len(b) {
		return false
	}
	used := make([]bool, len(b))
outer:
	for _, x := range a {
		for j, y := range b {
			if !used[j] && eq(x, y) {
				used[j] = true
				continue outer
			}
		}
		return false
	}
	return true
}

func equalValue(a, b types.AttributeValue) bool {
	strEq := func(x, y string) bool { return x == y }
	switch x := a.(type) {
	case *types.AttributeValueMemberS:
		y, ok := b.(*types.AttributeValueMemberS)
		return ok && x.Value == y.Value
	case *types.AttributeValueMemberN:
		y, ok := b.(*types.AttributeValueMemberN)
		return ok && equalNumber(x.Value, y.Value)
	case *types.AttributeValueMemberB:
		y, ok := b.(*types.AttributeValueMemberB)
		return ok && string(x.Value) == string(y.Value)
	case *types.AttributeValueMemberBOOL:
		y, ok := b.(*types.AttributeValueMemberBOOL)
		return ok && x.Value == y.Value
	case *types.AttributeValueMemberNULL:
		_, ok := b.(*types.AttributeValueMemberNULL)
		return ok
	case *types.AttributeValueMemberSS:
		y, ok := b.(*types.AttributeValueMemberSS)
		return ok && sameSet(x.Value, y.Value, strEq)
	case *types.AttributeValueMemberNS:
		y, ok := b.(*types.AttributeValueMemberNS)
		return ok && sameSet(x.Value, y.Value, equalNumber)
	case *types.AttributeValueMemberBS:
		y, ok := b.(*types.AttributeValueMemberBS)
		if !ok {
			return false
		}
		xs, ys := make([]string, len(x.Value)), make([]string, len(y.Value))
		for i, v := range x.Value {
			xs[i] = string(v)
		}
		for i, v := range y.Value {
			ys[i] = string(v)
		}
		return sameSet(xs, ys, strEq)
	case *types.AttributeValueMemberL:
		y, ok := b.(*types.AttributeValueMemberL)
		if !ok || len(x.Value) != len(y.Value) {
			return false
		}
		for i := range x.Value {
			if !equalValue(x.Value[i], y.Value[i]) {
				return false
			}
		}
		return true
	case *types.AttributeValueMemberM:
		y, ok := b.(*types.AttributeValueMemberM)
		return ok && equalItem(x.Value, y.Value)
	}
	return false
}
