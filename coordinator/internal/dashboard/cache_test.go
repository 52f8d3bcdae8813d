package dashboard

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// gatedSource counts reads and can hold them until released, so the test
// can line up concurrent misses without sleeping.
type gatedSource struct {
	fakeSource
	gate chan struct{}
	in   chan struct{}
}

func (g *gatedSource) Job(ctx context.Context, id string) (JobDetail, error) {
	if g.gate != nil {
		g.in <- struct{}{}
		<-g.gate
	}
	return g.fakeSource.Job(ctx, id)
}

func TestCachedReusesWithinTTL(t *testing.T) {
	src := fixture()
	now := t0
	c := Cached(src, 2*time.Second, func() time.Time { return now })
	ctx := context.Background()

	for range 3 {
		_, err := c.Job(ctx, "orders-20260301")
		require.NoError(t, err)
		_, err = c.Jobs(ctx)
		require.NoError(t, err)
	}
	require.Equal(t, 2, src.calls, "one read each within the TTL")

	now = now.Add(2 * time.Second)
	_, _ = c.Job(ctx, "orders-20260301")
	_, _ = c.Jobs(ctx)
	require.Equal(t, 4, src.calls, "read again once the TTL has passed")
}

func TestCachedDoesNotCacheErrors(t *testing.T) {
	src := fixture()
	c := Cached(src, time.Minute, func() time.Time { return t0 })
	_, err := c.Job(context.Background(), "missing")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = c.Job(context.Background(), "missing")
	require.ErrorIs(t, err, ErrNotFound)
	require.Equal(t, 2, src.calls)

	src.err = errors.New("throttled")
	_, err = c.Jobs(context.Background())
	require.Error(t, err)
	src.err = nil
	jobs, err := c.Jobs(context.Background())
	require.NoError(t, err)
	require.Len(t, jobs, 2)
}

func TestCachedSharesConcurrentMisses(t *testing.T) {
	src := &gatedSource{fakeSource: *fixture(), gate: make(chan struct{}), in: make(chan struct{}, 10)}
	c := Cached(src, time.Minute, func() time.Time { return t0 })
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := c.Job(context.Background(), "orders-20260301")
			require.NoError(t, err)
			require.Equal(t, "orders-20260301", d.ExportID)
		}()
	}
	<-src.in // the first read is in the source; the others queue behind it
	close(src.gate)
	wg.Wait()
	require.Equal(t, 1, src.calls, "concurrent misses share one read")
}
