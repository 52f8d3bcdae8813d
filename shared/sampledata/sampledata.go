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
				reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: Item(i, payload)}})
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
