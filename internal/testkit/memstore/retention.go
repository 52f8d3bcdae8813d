package memstore

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/export"
)

// expiries is when the control table's TTL would delete each row, as the
// DynamoDB store stamps them: Retention after the row is written (to the
// second), later by ExtendRetention. Expire applies them. An export's
// segment rows are written together and re-stamped together, so they share
// one expiry; the jobs-index row shares the export row's. The export row's
// own expiry is its ExpiresAt.
type expiries struct {
	segments map[string]time.Time
	parts    map[string]map[[2]int]time.Time
	samples  map[string]map[int64]time.Time
	active   map[string]time.Time
}

func (s *Store) ttl() *expiries {
	if s.expiry.segments == nil {
		s.expiry = expiries{
			segments: map[string]time.Time{}, parts: map[string]map[[2]int]time.Time{},
			samples: map[string]map[int64]time.Time{}, active: map[string]time.Time{},
		}
	}
	return &s.expiry
}

// expiresAt is a row written now's expiry.
func (s *Store) expiresAt() time.Time {
	return s.clock.Now().Add(controltable.Retention).Truncate(time.Second)
}

// stampCreated stamps the rows CreateExport writes.
func (s *Store) stampCreated(x *export.Export) {
	at := s.expiresAt()
	x.ExpiresAt = at
	s.ttl().segments[x.ExportID] = at
	s.ttl().active[x.ExportID] = at
}

// stampPart stamps a part row as it is (re)written.
func (s *Store) stampPart(id string, p export.Part) {
	if s.ttl().parts[id] == nil {
		s.ttl().parts[id] = map[[2]int]time.Time{}
	}
	s.ttl().parts[id][[2]int{p.Segment, p.Part}] = s.expiresAt()
}

// stampSample stamps a new history sample.
func (s *Store) stampSample(id string, minute int64) {
	if s.ttl().samples[id] == nil {
		s.ttl().samples[id] = map[int64]time.Time{}
	}
	s.ttl().samples[id][minute] = s.expiresAt()
}

// stampActive stamps the active-index row as it is (re)written.
func (s *Store) stampActive(id string) { s.ttl().active[id] = s.expiresAt() }

// ExtendRetention implements controltable.Retainer. It is one atomic step
// here, so no other process can be seen holding the claim half-way.
func (s *Store) ExtendRetention(ctx context.Context, id string, seen, until time.Time) (bool, error) {
	unlock, err := s.call("ExtendRetention")
	if err != nil {
		return false, err
	}
	defer unlock()
	e, ok := s.exports[id]
	to := until.Truncate(time.Second)
	switch {
	case !ok:
		return false, nil
	case e.ExpiresAt.Equal(to):
		return true, s.after("ExtendRetention", nil) // an earlier try did it
	case !e.ExpiresAt.Equal(seen.Truncate(time.Second)):
		return false, nil
	}
	later := func(m map[string]time.Time, k string) {
		if at, ok := m[k]; ok && at.Before(to) {
			m[k] = to
		}
	}
	ttl := s.ttl()
	later(ttl.segments, id)
	if s.active[id] != nil {
		later(ttl.active, id)
	}
	for k, at := range ttl.parts[id] {
		if at.Before(to) {
			ttl.parts[id][k] = to
		}
	}
	for k, at := range ttl.samples[id] {
		if at.Before(to) {
			ttl.samples[id][k] = to
		}
	}
	e.ExpiresAt = to
	return true, s.after("ExtendRetention", nil)
}

// RetainedUntil implements controltable.Retainer.
func (s *Store) RetainedUntil(ctx context.Context, id string) (time.Time, error) {
	unlock, err := s.call("RetainedUntil")
	if err != nil {
		return time.Time{}, err
	}
	defer unlock()
	e, ok := s.exports[id]
	if !ok {
		return time.Time{}, fmt.Errorf("export %s: %w", id, export.ErrNotFound)
	}
	earliest := e.ExpiresAt
	note := func(at time.Time) {
		if !at.IsZero() && at.Before(earliest) {
			earliest = at
		}
	}
	ttl := s.ttl()
	if _, ok := s.segments[id]; ok {
		note(ttl.segments[id])
	}
	if s.active[id] != nil {
		note(ttl.active[id])
	}
	for _, at := range ttl.parts[id] {
		note(at)
	}
	for _, at := range ttl.samples[id] {
		note(at)
	}
	return earliest, s.after("RetainedUntil", nil)
}

// Expire deletes every row whose expiry has passed on the store's clock,
// as DynamoDB's TTL does (DynamoDB takes up to a few days; this is the
// strict reading). A test calls it to let time do its damage.
func (s *Store) Expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	gone := func(at time.Time) bool { return !at.IsZero() && !at.After(now) }
	ttl := s.ttl()
	for id, e := range maps.Clone(s.exports) {
		if gone(e.ExpiresAt) {
			delete(s.exports, id)
		}
	}
	for id, at := range maps.Clone(ttl.segments) {
		if gone(at) {
			delete(s.segments, id)
			delete(ttl.segments, id)
		}
	}
	for id, parts := range ttl.parts {
		for k, at := range maps.Clone(parts) {
			if gone(at) {
				delete(s.parts[id], k)
				delete(parts, k)
			}
		}
	}
	for id, samples := range ttl.samples {
		for k, at := range maps.Clone(samples) {
			if gone(at) {
				delete(s.samples[id], k)
				delete(samples, k)
			}
		}
	}
	for id, at := range maps.Clone(ttl.active) {
		if gone(at) {
			delete(s.active, id)
			delete(ttl.active, id)
		}
	}
}
