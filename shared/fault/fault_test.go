package fault_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/fault"
)

func apiErr(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: "from the service"}
}

// httpErr is how the SDK reports a response: the HTTP status wrapping the
// decoded API error.
func httpErr(status int, inner error) error {
	return &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      inner,
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want fault.Kind
	}{
		{"nil", nil, fault.KindUnknown},
		{"DynamoDB throughput", apiErr("ProvisionedThroughputExceededException"), fault.KindRetryable},
		{"DynamoDB throttling", apiErr("ThrottlingException"), fault.KindRetryable},
		{"S3 SlowDown", apiErr("SlowDown"), fault.KindRetryable},
		{"SQS RequestThrottled", apiErr("RequestThrottled"), fault.KindRetryable},
		{"transaction conflict", apiErr("TransactionConflictException"), fault.KindRetryable},
		{"internal error", apiErr("InternalServerError"), fault.KindRetryable},
		{"S3 InternalError", apiErr("InternalError"), fault.KindRetryable},
		{"service unavailable", apiErr("ServiceUnavailable"), fault.KindRetryable},
		{"access denied", apiErr("AccessDeniedException"), fault.KindPermanent},
		{"missing table", apiErr("ResourceNotFoundException"), fault.KindPermanent},
		{"validation", apiErr("ValidationException"), fault.KindPermanent},
		{"condition failed", apiErr("ConditionalCheckFailedException"), fault.KindPermanent},
		{"unknown code on a 500", httpErr(500, apiErr("Weird")), fault.KindRetryable},
		{"unknown code on a 503", httpErr(503, apiErr("Weird")), fault.KindRetryable},
		{"unknown code on a 429", httpErr(429, apiErr("Weird")), fault.KindRetryable},
		{"unknown code on a 400", httpErr(400, apiErr("Weird")), fault.KindPermanent},
		{"bare 502 with no API error", httpErr(502, errors.New("bad gateway")), fault.KindRetryable},
		{"bare 403 with no API error", httpErr(403, errors.New("forbidden")), fault.KindPermanent},
		{"wrapped throttle", fmt.Errorf("scan segment 7/64 of table orders: %w", apiErr("ThrottlingException")), fault.KindRetryable},
		{"marked retryable", fault.Retryable(errors.New("3 rows unprocessed")), fault.KindRetryable},
		{"marked permanent wins over the code", fault.Permanent(apiErr("ThrottlingException")), fault.KindPermanent},
		{"wrapped mark", fmt.Errorf("ctx: %w", fault.Permanent(errors.New("x"))), fault.KindPermanent},
		{"invalid input", fault.Invalidf("--segments %d: want 1 to 1000000", 0), fault.KindInvalid},
		{"cancelled: we are stopping", context.Canceled, fault.KindPermanent},
		{"wrapped cancel", fmt.Errorf("put: %w", context.Canceled), fault.KindPermanent},
		{"deadline: the call was slow", context.DeadlineExceeded, fault.KindRetryable},
		{"net.OpError", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, fault.KindRetryable},
		{"DNS timeout", &net.DNSError{Err: "timeout", IsTimeout: true}, fault.KindRetryable},
		{"reset errno", fmt.Errorf("read tcp 1.2.3.4:5: %w", syscall.ECONNRESET), fault.KindRetryable},
		{"reset only in the text is not classified by text", errors.New("read tcp 1.2.3.4:5: connection reset by peer"), fault.KindPermanent},
		{"SDK send failure", &smithyhttp.RequestSendError{Err: errors.New("dial")}, fault.KindRetryable},
		{"broken pipe", fmt.Errorf("write: %w", syscall.EPIPE), fault.KindRetryable},
		{"truncated gzip is a corrupt file", fmt.Errorf("gzip: %w", io.ErrUnexpectedEOF), fault.KindPermanent},
		{"fatal", fault.Fatal(errors.New("control table missing")), fault.KindFatal},
		{"retry-after", fault.RetryAfter(time.Second, errors.New("slow")), fault.KindRetryable},
		{"throttled mark", fault.Throttled(errors.New("3 rows unprocessed")), fault.KindRetryable},
		{"plain error", errors.New("bad item"), fault.KindPermanent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, fault.Classify(c.err), "%v", c.err)
			require.Equal(t, c.want == fault.KindRetryable, fault.IsRetryable(c.err))
		})
	}
}

func TestIsThrottle(t *testing.T) {
	require.True(t, fault.IsThrottle(apiErr("ProvisionedThroughputExceededException")))
	require.True(t, fault.IsThrottle(fmt.Errorf("scan: %w", httpErr(400, apiErr("ThrottlingException")))))
	require.False(t, fault.IsThrottle(apiErr("InternalServerError")), "a 5xx is retryable but not a throttle")
	require.False(t, fault.IsThrottle(errors.New("ThrottlingException")), "only a real API error counts")
	require.False(t, fault.IsThrottle(nil))
}

func TestMarksAndExitCodes(t *testing.T) {
	require.NoError(t, fault.Retryable(nil))
	require.NoError(t, fault.Permanent(nil))
	base := errors.New("root cause")
	wrapped := fault.Retryable(base)
	require.ErrorIs(t, wrapped, base, "a mark keeps the cause reachable")
	require.Equal(t, "root cause", wrapped.Error())
	var fe *fault.Error
	require.ErrorAs(t, wrapped, &fe)
	require.Equal(t, fault.KindRetryable, fe.Kind)

	inv := fault.Invalidf("--export-id %q is not a valid id", "a b")
	require.True(t, fault.IsInvalid(inv))
	require.True(t, fault.IsInvalid(fmt.Errorf("parse flags: %w", inv)))
	require.False(t, fault.IsInvalid(fault.Permanent(base)))
	require.Equal(t, `--export-id "a b" is not a valid id`, inv.Error())

	require.Equal(t, 0, fault.ExitCode(nil))
	require.Equal(t, 2, fault.ExitCode(inv))
	require.Equal(t, 1, fault.ExitCode(base))
	require.Equal(t, 1, fault.ExitCode(fault.Permanent(base)))

	for k, s := range map[fault.Kind]string{
		fault.KindUnknown: "unknown", fault.KindRetryable: "retryable",
		fault.KindPermanent: "permanent", fault.KindInvalid: "invalid",
	} {
		require.Equal(t, s, k.String())
	}
}

// instant retries without waiting, with a cap so a bug cannot spin forever.
var instant = fault.Policy{MaxAttempts: 5}.Instant()

func TestRetryRetriesRetryableUntilSuccess(t *testing.T) {
	calls := 0
	err := fault.Retry(context.Background(), instant, func(context.Context) error {
		calls++
		if calls < 3 {
			return apiErr("ThrottlingException")
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 3, calls)
}

func TestRetryStopsOnPermanent(t *testing.T) {
	calls := 0
	denied := apiErr("AccessDeniedException")
	err := fault.Retry(context.Background(), instant, func(context.Context) error {
		calls++
		return fmt.Errorf("get object: %w", denied)
	})
	require.Equal(t, 1, calls, "retrying cannot help")
	require.ErrorIs(t, err, denied, "the last error comes back unchanged, still classifiable")
	require.Equal(t, fault.KindPermanent, fault.Classify(err))
}

func TestRetryGivesUpAfterMaxAttempts(t *testing.T) {
	calls := 0
	err := fault.Retry(context.Background(), instant, func(context.Context) error {
		calls++
		return fault.Retryable(fmt.Errorf("attempt %d", calls))
	})
	require.Equal(t, 5, calls)
	require.EqualError(t, err, "attempt 5", "the last error is returned")
	require.True(t, fault.IsRetryable(err), "callers can still see it was retryable")
}

func TestRetryGivesUpAfterMaxElapsed(t *testing.T) {
	p := fault.Policy{Initial: time.Millisecond, Max: time.Millisecond, MaxElapsed: 50 * time.Millisecond}
	calls := 0
	start := time.Now()
	err := fault.Retry(context.Background(), p, func(context.Context) error {
		calls++
		return apiErr("InternalServerError")
	})
	require.Error(t, err)
	require.Greater(t, calls, 1)
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestRetryHonoursContext(t *testing.T) {
	t.Run("cancelled while waiting", func(t *testing.T) {
		// A long first delay: only the context can end this promptly.
		p := fault.Policy{Initial: time.Hour, Max: time.Hour}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		calls := 0
		start := time.Now()
		err := fault.Retry(ctx, p, func(context.Context) error {
			calls++
			return apiErr("ThrottlingException")
		})
		require.Error(t, err)
		require.Equal(t, 1, calls)
		require.Less(t, time.Since(start), 5*time.Second, "Retry returned when ctx ended, not after the backoff")
	})
	t.Run("cancelled during the call", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		err := fault.Retry(ctx, instant, func(ctx context.Context) error {
			calls++
			cancel()
			// What the SDK returns when its context ends mid-call.
			return fmt.Errorf("operation error: %w", ctx.Err())
		})
		require.Equal(t, 1, calls, "no retry once the caller is stopping")
		require.ErrorIs(t, err, context.Canceled)
	})
	t.Run("ctx is passed through", func(t *testing.T) {
		type key struct{}
		ctx := context.WithValue(context.Background(), key{}, "v")
		require.NoError(t, fault.Retry(ctx, instant, func(got context.Context) error {
			require.Equal(t, "v", got.Value(key{}))
			return nil
		}))
	})
}

func TestInstantPolicy(t *testing.T) {
	p := fault.DefaultPolicy.Instant()
	require.Equal(t, fault.DefaultPolicy.MaxElapsed, p.MaxElapsed, "the budget is kept")
	require.Equal(t, 100*time.Millisecond, fault.DefaultPolicy.Initial, "DefaultPolicy itself is untouched")
	p.MaxAttempts = 50
	calls := 0
	start := time.Now()
	err := fault.Retry(context.Background(), p, func(context.Context) error {
		calls++
		return apiErr("SlowDown")
	})
	require.Error(t, err)
	require.Equal(t, 50, calls)
	require.Less(t, time.Since(start), time.Second, "fifty retries without waiting")
}
