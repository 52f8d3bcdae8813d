package fleet

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// post sends one JSON-protocol call through the counter as role and
// returns the body the client got.
func post(t *testing.T, c *CallCounter, role, target, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.Endpoint(role)+"/", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Accept-Encoding", "gzip") // as the SDK asks DynamoDB: the client decodes, not the transport
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

func gzipped(t *testing.T, s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, err := zw.Write([]byte(s))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return b.Bytes()
}

func TestCallCounterCountsByRoleOperationAndTable(t *testing.T) {
	queryResp := gzipped(t, `{"Count":2,"ScannedCount":5,"Items":[{},{}]}`)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.Header.Get("X-Amz-Target") {
		case "DynamoDB_20120810.Query":
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(queryResp)
		case "DynamoDB_20120810.Scan":
			_, _ = w.Write([]byte(`{"Count":3,"ScannedCount":3,"ConsumedCapacity":{"TableName":"src","CapacityUnits":1.5}}`))
		case "DynamoDB_20120810.TransactWriteItems":
			_, _ = w.Write([]byte(`{"ConsumedCapacity":[{"CapacityUnits":2},{"CapacityUnits":4}]}`))
		case "DynamoDB_20120810.UpdateItem":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"}`))
		default:
			_, _ = w.Write(body) // echo
		}
	}))
	defer server.Close()
	c := NewCallCounter(t, DynamoDB, server.URL)
	require.NotEqual(t, c.Endpoint("worker"), c.Endpoint("coordinator"), "one listener per role")
	require.Equal(t, c.Endpoint("worker"), c.Endpoint("worker"))

	_, got := post(t, c, "worker", "DynamoDB_20120810.Query", `{"TableName":"ctl","KeyConditionExpression":"pk = :pk"}`)
	require.Equal(t, queryResp, got, "the body passes byte for byte, still compressed")
	post(t, c, "worker", "DynamoDB_20120810.Query", `{"TableName":"ctl"}`)
	post(t, c, "worker", "DynamoDB_20120810.Scan", `{"TableName":"src","Segment":0,"TotalSegments":3}`)
	post(t, c, "coordinator", "DynamoDB_20120810.TransactWriteItems",
		`{"TransactItems":[{"Put":{"TableName":"ctl"}},{"ConditionCheck":{"TableName":"ctl"}},{"Update":{"TableName":"other"}}]}`)
	post(t, c, "coordinator", "DynamoDB_20120810.BatchWriteItem", `{"RequestItems":{"ctl":[{}]}}`)
	code, _ := post(t, c, "worker", "DynamoDB_20120810.UpdateItem", `{"TableName":"ctl"}`)
	require.Equal(t, http.StatusBadRequest, code)
	echo := `{"TableName":"ctl","Key":{"pk":{"S":"x"}}}`
	_, got = post(t, c, "worker", "DynamoDB_20120810.GetItem", echo)
	require.Equal(t, echo, string(got), "the request passes unchanged")

	counts := c.Counts()
	require.Equal(t, CallTally{Calls: 2, Count: 4, ScannedCount: 10}, counts[CallKey{"worker", "Query", "ctl"}])
	require.Equal(t, CallTally{Calls: 1, Count: 3, ScannedCount: 3, Capacity: 1.5}, counts[CallKey{"worker", "Scan", "src"}])
	require.Equal(t, CallTally{Calls: 1, Capacity: 6}, counts[CallKey{"coordinator", "TransactWriteItems", "ctl+other"}])
	require.Equal(t, CallTally{Calls: 1}, counts[CallKey{"coordinator", "BatchWriteItem", "ctl"}])
	require.Equal(t, CallTally{Calls: 1, Errors: 1}, counts[CallKey{"worker", "UpdateItem", "ctl"}])
	require.Len(t, counts, 6)

	ctl := counts.Where(func(k CallKey) bool { return k.Resource == "ctl" })
	require.EqualValues(t, 5, ctl.Calls, "the transaction that also touches another table is not the control table's alone")
	byOp := counts.ByOp(func(k CallKey) bool { return k.Role == "worker" })
	require.Equal(t, []string{"GetItem", "Query", "Scan", "UpdateItem"}, Ops(byOp))
	require.EqualValues(t, 2, c.Calls("Query"))
}

func TestCallCounterNamesQueuesAndCountsMessages(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"Messages":[{"Body":"a"},{"Body":"b"}]}`))
	}))
	defer server.Close()
	c := NewCallCounter(t, SQS, server.URL)
	require.True(t, strings.HasPrefix(c.Env("worker"), "AWS_ENDPOINT_URL_SQS=http://127.0.0.1:"))
	post(t, c, "worker", "AmazonSQS.ReceiveMessage", `{"QueueUrl":"http://127.0.0.1:1/000000000000/ft1-q"}`)
	post(t, c, "worker", "AmazonSQS.GetQueueUrl", `{"QueueName":"ft1-q"}`)
	counts := c.Counts()
	require.Equal(t, CallTally{Calls: 1, Count: 2}, counts[CallKey{"worker", "ReceiveMessage", "ft1-q"}])
	require.EqualValues(t, 1, counts[CallKey{"worker", "GetQueueUrl", "ft1-q"}].Calls)
}

func TestSlowSegmentsHoldsOnlyTheChosenScans(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{}`)) }))
	defer server.Close()
	c := NewCallCounter(t, DynamoDB, server.URL)
	c.Delay(SlowSegments("src", 10, 3, 300*time.Millisecond))
	took := func(target, body string) time.Duration {
		t0 := time.Now()
		post(t, c, "worker", target, body)
		return time.Since(t0)
	}
	require.GreaterOrEqual(t, took("DynamoDB_20120810.Scan", `{"TableName":"src","Segment":13,"TotalSegments":30}`), 300*time.Millisecond)
	require.Less(t, took("DynamoDB_20120810.Scan", `{"TableName":"src","Segment":0,"TotalSegments":30}`), 250*time.Millisecond, "segment 0 is not chosen")
	require.Less(t, took("DynamoDB_20120810.Scan", `{"TableName":"ctl","Segment":3,"TotalSegments":30}`), 250*time.Millisecond, "another table")
	require.Less(t, took("DynamoDB_20120810.Query", `{"TableName":"src","Segment":3}`), 250*time.Millisecond, "not a Scan")
	require.Less(t, took("DynamoDB_20120810.Scan", `{"TableName":"src"}`), 250*time.Millisecond, "not a parallel scan")
}
