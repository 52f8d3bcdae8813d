package dashboard

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// cached is a Source decorator: every open job page polls every two
// seconds, and a job's detail is a query over all its segment rows, so
// five people watching a 10,000-segment export would otherwise read the
// control table five times as hard as one. Answers are shared for ttl,
// and concurrent misses share one read.
type cached struct {
	src   Source
	ttl   time.Duration
	now   func() time.Time
	group singleflight.Group

	mu      sync.Mutex
	jobs    entry[[]Job]
	details map[string]entry[JobDetail]
}

type entry[T any] struct {
	at  time.Time
	val T
}

var _ Source = (*cached)(nil)

// Cached wraps src so that answers are reused for ttl (clock nil means
// time.Now). Errors are not cached: the next request tries again.
func Cached(src Source, ttl time.Duration, clock func() time.Time) Source {
	if clock == nil {
		clock = time.Now
	}
	return &cached{src: src, ttl: ttl, now: clock, details: map[string]entry[JobDetail]{}}
}

func (c *cached) Jobs(ctx context.Context) ([]Job, error) {
	return load(ctx, c, "jobs",
		func() (entry[[]Job], bool) { return c.jobs, !c.jobs.at.IsZero() },
		func(e entry[[]Job]) { c.jobs = e },
		func(ctx context.Context) ([]Job, error) { return c.src.Jobs(ctx) })
}

func (c *cached) Job(ctx context.Context, id string) (JobDetail, error) {
	return load(ctx, c, "job\x00"+id,
		func() (entry[JobDetail], bool) { e, ok := c.details[id]; return e, ok },
		func(e entry[JobDetail]) {
			// Forget stale entries so ids nobody looks at any more do not
			// accumulate for the life of the process.
			for k, old := range c.details {
				if e.at.Sub(old.at) >= c.ttl {
					delete(c.details, k)
				}
			}
			c.details[id] = e
		},
		func(ctx context.Context) (JobDetail, error) { return c.src.Job(ctx, id) })
}

// load answers from the cache when fresh, else reads once for all
// concurrent callers. get and put run under c.mu. The cache is checked
// again inside the shared read, so a caller that missed just before
// another's read landed does not read a second time.
func load[T any](ctx context.Context, c *cached, key string, get func() (entry[T], bool), put func(entry[T]), read func(context.Context) (T, error)) (T, error) {
	fresh := func() (T, bool) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if e, ok := get(); ok && c.now().Sub(e.at) < c.ttl {
			return e.val, true
		}
		var zero T
		return zero, false
	}
	if v, ok := fresh(); ok {
		return v, nil
	}
	v, err, _ := c.group.Do(key, func() (any, error) {
		if v, ok := fresh(); ok {
			return v, nil
		}
		// The first requester closing its tab must not fail the others
		// waiting on this read, but the read still needs an end.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		v, err := read(rctx)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		put(entry[T]{at: c.now(), val: v})
		c.mu.Unlock()
		return v, nil
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return v.(T), nil
}
