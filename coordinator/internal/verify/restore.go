package verify

// Verifying a restore: re-read the target table for a sample of each
// file's items (or all of them) with strongly consistent BatchGetItem and
// compare every attribute with the file's item exactly (sets in any order,
// numbers by value).

import (
	"context"
	"fmt"
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
			case !ddbjson.EqualItem(it, li.item):
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
