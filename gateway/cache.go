package gateway

import (
	"sync"
	"time"
)

// answerCache keeps rendered seat maps and availability answers, keyed by
// what was asked and versioned by the applied index seatd read them at.
// A million buyers refreshing one seat map then cost one seatd call per
// MaxAge and one render per change, not one of each per request:
// concurrent requests for one key wait for a single fetch, and a fetch
// that finds the version unchanged keeps the rendered bytes.
type answerCache struct {
	maxAge time.Duration
	max    int

	mu      sync.Mutex // guards entries
	entries map[answerKey]*answer
}

type answerKey struct {
	kind, program, category string
	from, to                int32
}

type answer struct {
	mu      sync.Mutex // held while fetching: one fetch per key at a time
	version int64
	body    []byte
	fetched time.Time
}

func newAnswerCache(max int, maxAge time.Duration) *answerCache {
	return &answerCache{max: max, maxAge: maxAge, entries: make(map[answerKey]*answer)}
}

// get returns a key's answer and version: from the cache while it is
// younger than maxAge, else through fetch, which reads seatd and returns
// the version and a render for it (called only if the version changed).
// rendered says whether this call rendered.
func (c *answerCache) get(k answerKey, now time.Time, fetch func() (int64, func() []byte, *apiError)) (body []byte, version int64, rendered bool, aerr *apiError) {
	c.mu.Lock()
	a, ok := c.entries[k]
	if !ok {
		a = &answer{}
		putBounded(c.entries, c.max, k, a)
	}
	c.mu.Unlock()

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.body != nil && now.Sub(a.fetched) < c.maxAge {
		return a.body, a.version, false, nil
	}
	v, render, aerr := fetch()
	if aerr != nil {
		return nil, 0, false, aerr
	}
	if a.body == nil || v != a.version {
		a.body, a.version, rendered = render(), v, true
	}
	a.fetched = now
	return a.body, a.version, rendered, nil
}

// stopsCache remembers how many stops each program has (they never
// change), to answer "to" when a query leaves it to the last stop.
type stopsCache struct {
	max int

	mu    sync.Mutex // guards stops
	stops map[string]int32
}

func newStopsCache(max int) *stopsCache {
	return &stopsCache{max: max, stops: make(map[string]int32)}
}

func (c *stopsCache) get(program string) (int32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.stops[program]
	return n, ok
}

func (c *stopsCache) put(program string, n int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	putBounded(c.stops, c.max, program, n)
}

// putBounded stores k in m, first dropping another key if m holds max:
// any one, as the bound matters and not which entry goes.
func putBounded[K comparable, V any](m map[K]V, max int, k K, v V) {
	if _, ok := m[k]; !ok && len(m) >= max {
		for old := range m {
			delete(m, old)
			break
		}
	}
	m[k] = v
}
