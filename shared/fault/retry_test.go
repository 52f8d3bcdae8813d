package fault_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/shared/fault"
)

func TestRetryWaitsTheRetryAfterAskedFor(t *testing.T) {
	p := fault.Policy{Initial: time.Millisecond, Max: time.Second, MaxAttempts: 2}
	calls := 0
	start := time.Now()
	err := fault.Retry(context.Background(), p, func(context.Context) error {
		calls++
		if calls == 1 {
			return fault.RetryAfter(150*time.Millisecond, errors.New("slow down"))
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 2, calls)
	require.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "the second try came before the RetryAfter")
}

func TestInstantPolicyCapsRetryAfter(t *testing.T) {
	calls := 0
	start := time.Now()
	err := fault.Retry(context.Background(), fault.Policy{MaxAttempts: 3}.Instant(), func(context.Context) error {
		calls++
		return fault.RetryAfter(time.Hour, errors.New("slow down"))
	})
	require.Error(t, err)
	require.Equal(t, 3, calls)
	require.Less(t, time.Since(start), time.Second)
}
