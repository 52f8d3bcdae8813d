// Package sampledata owns the synthetic tables the demo, the benchmarks and
// the end-to-end tests export: deterministic items that exercise every
// DynamoDB type (numbers whose text must survive untouched, binary, sets,
// nested maps and lists, empty and non-ASCII strings), written with bounded
// parallel batch writes.
package sampledata

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"
)

// Item returns the i-th sample item; payload pads it to roughly that many
// extra bytes.
func Item(i int, payload int) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		"pk":      &types.AttributeValueMemberS{Value: fmt.Sprintf("user#%08d", i)},
		"sk":      &types.AttributeValueMemberN{Value: strconv.Itoa(i % 7)},
		"name":    &types.AttributeValueMemberS{Value: fmt.Sprintf("Ünïcødé \"name\" %d\n\t😀", i)},
		"price":   &types.AttributeValueMemberN{Value: fmt.Sprintf("%d.50", i%1000)},
		"precise": &types.AttributeValueMemberN{Value: "12345678901234567890123456789012345678"},
		"tiny":    &types.AttributeValueMemberN{Value: "-1.0E-130"},
		"active":  &types.AttributeValueMemberBOOL{Value: i%2 == 0},
		"blob":    &types.AttributeValueMemberB{Value: []byte{byte(i), 0, 255, byte(i >> 8)}},
		"tags":    &types.AttributeValueMemberSS{Value: []string{"t" + strconv.Itoa(i%5), "all"}},
		"scores":  &types.AttributeValueMemberNS{Value: []string{strconv.Itoa(i), "0.001"}},
		"hashes":  &types.AttributeValueMemberBS{Value: [][]byte{{1, 2}, {byte(i)}}},
		"history": &types.AttributeValueMemberL{Value: []types.AttributeValue{
			&types.AttributeValueMemberS{Value: "created"},
			&types.AttributeValueMemberN{Value: strconv.Itoa(i * 3)},
			&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
				"by": &types.AttributeValueMemberNULL{Value: true},
			}},
		}},
		"address": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"city": &types.AttributeValueMemberS{Value: "Zürich"},
			"geo": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
				"lat": &types.AttributeValueMemberN{Value: "47.3769"},
				"lon": &types.AttributeValueMemberN{Value: "8.5417"},
			}},
			"lines": &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
		}},
	}
	if i%3 == 0 {
		item["note"] = &types.AttributeValueMemberS{Value: ""}
	}
	if i%11 == 0 {
		item["deleted"] = &types.AttributeValueMemberNULL{Value: true}
	}
	if payload > 0 {
		item["payload"] = &types.AttributeValueMemberS{Value: strings.Repeat(string(rune('a'+i%26)), payload)}
	}
	return item
}

// benchWords is the vocabulary of BenchItem's text: real exports are
// mostly words and ids, which gzip shrinks about 3–5×, unlike Item's
// one-letter padding, which would make compression look free.
var benchWords = strings.Fields(`alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima
mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu
order shipped pending refund invoice customer account region warehouse parcel address street
city country postal priority standard express return damaged delivered cancelled paid unpaid
discount coupon basket checkout payment card wallet transfer ledger balance credit debit`)

// BenchItem returns the i-th benchmark item: about 1 KB of DynamoDB JSON
// with the shape of an order record — a few keys and numbers, a short
// list, a nested map and a free-text body — deterministic in i, so every
// run of `make bench` scans the same table.
func BenchItem(i int) map[string]types.AttributeValue {
	// xorshift seeded by i: cheap, deterministic and varied enough that
	// gzip sees text like a real table's, not a repeated pattern.
	x := uint64(i)*0x9E3779B97F4A7C15 + 1
	next := func() uint64 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return x
	}
	var body strings.Builder
	for body.Len() < 700 {
		if body.Len() > 0 {
			body.WriteByte(' ')
		}
		body.WriteString(benchWords[next()%uint64(len(benchWords))])
		if next()%8 == 0 {
			body.WriteString(strconv.FormatUint(next()%100000, 10))
		}
	}
	return map[string]types.AttributeValue{
		"pk":       &types.AttributeValueMemberS{Value: fmt.Sprintf("customer#%08d", i)},
		"sk":       &types.AttributeValueMemberN{Value: strconv.Itoa(i % 7)},
		"status":   &types.AttributeValueMemberS{Value: benchWords[next()%uint64(len(benchWords))]},
		"total":    &types.AttributeValueMemberN{Value: fmt.Sprintf("%d.%02d", next()%10000, next()%100)},
		"placedAt": &types.AttributeValueMemberN{Value: strconv.FormatUint(1700000000+next()%100000000, 10)},
		"paid":     &types.AttributeValueMemberBOOL{Value: next()%2 == 0},
		"token":    &types.AttributeValueMemberB{Value: []byte(strconv.FormatUint(next(), 16))},
		"tags":     &types.AttributeValueMemberSS{Value: []string{benchWords[next()%16], "all"}},
		"lines": &types.AttributeValueMemberL{Value: []types.AttributeValue{
			&types.AttributeValueMemberS{Value: fmt.Sprintf("sku-%06d", next()%1000000)},
			&types.AttributeValueMemberN{Value: strconv.FormatUint(next()%20+1, 10)},
		}},
		"shipTo": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"city":   &types.AttributeValueMemberS{Value: benchWords[next()%uint64(len(benchWords))]},
			"postal": &types.AttributeValueMemberS{Value: strconv.FormatUint(10000+next()%90000, 10)},
		}},
		"body": &types.AttributeValueMemberS{Value: body.String()},
	}
}

// API is what filling a table needs.
type API interface {
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// CreateTable creates an on-demand table keyed (pk S, sk N) and waits for it.
func CreateTable(ctx context.Context, api API, table string) error {
	_, err := api.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   &table,
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
	})
	if err != nil {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	return dynamodb.NewTableExistsWaiter(api).Wait(ctx, &dynamodb.DescribeTableInput{TableName: &table}, time.Minute)
}

// Fill writes items [0, n) with parallel batch writes, drawing a progress
// bar on progress (nil: silent).
func Fill(ctx context.Context, api API, table string, n, payload, parallel int, progress io.Writer) error {
	return FillWith(ctx, api, table, n, parallel, func(i int) map[string]types.AttributeValue { return Item(i, payload) }, progress)
}

// FillWith is Fill with a caller-chosen item shape (the benchmark's
// BenchItem, for one).
func FillWith(ctx context.Context, api API, table string, n, parallel int, item func(int) map[string]types.AttributeValue, progress io.Writer) error {
	var done atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if progress != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					drawBar(progress, int(done.Load()), n)
					fmt.Fprintln(progress)
					return
				case <-t.C:
					drawBar(progress, int(done.Load()), n)
				}
			}
		}()
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, parallel))
	for start := 0; start < n; start += 25 {
		g.Go(func() error {
			reqs := make([]types.WriteRequest, 0, 25)
			for i := start; i < min(start+25, n); i++ {
				reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item(i)}})
			}
			count := len(reqs)
			for attempt := 0; len(reqs) > 0; attempt++ {
				out, err := api.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}})
				if err != nil {
					return fmt.Errorf("fill %s: %w", table, err)
				}
				reqs = out.UnprocessedItems[table]
				if len(reqs) > 0 {
					time.Sleep(time.Duration(min(attempt+1, 20)) * 50 * time.Millisecond)
				}
			}
			done.Add(int64(count))
			return nil
		})
	}
	err := g.Wait()
	close(stop)
	wg.Wait()
	return err
}

func drawBar(w io.Writer, done, total int) {
	const width = 40
	frac := 1.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	filled := int(frac * width)
	fmt.Fprintf(w, "\r  [%s%s] %3.0f%%  %d/%d items", strings.Repeat("#", filled), strings.Repeat(".", width-filled), frac*100, done, total)
}
