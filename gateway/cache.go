package gateway

import (
	"container/list"
	"sync"
	"time"
	"unsafe"
)

// cache keeps what seat maps and availability reuse between requests:
// rendered answers, versioned by the program's version, and program
// layouts, which never change. A million buyers refreshing one seat map
// then cost one seatd call per max age and one render per change, not
// one of each per request.
//
// It is bounded by bytes, not entries: a compact map of a million seats
// is a megabyte and an availability answer a few hundred bytes, so a
// count of entries says nothing about memory, and any reader, signed in
// or not, chooses the keys. Each entry is charged its payload plus its
// key and a fixed overhead; past the budget the least recently used
// answers go, and layouts only when no answer is left: an answer costs a
// seat-map read to make again, a layout the whole program's description.
// An entry larger than maxEntry is never kept: it serves the requests
// waiting for it and is dropped.
//
// Concurrent requests for one key wait for a single fill: an entry's mu
// is held while it is fetched and rendered. A request that finds its
// entry evicted while it waited fills it all the same, for itself.
type cache struct {
	budget, maxEntry int64

	mu        sync.Mutex // guards the fields below and each entry's elem and size
	bytes     int64
	entries   map[cacheKey]*list.Element // the element's Value is the *entry
	lru       [2]list.List               // answers, layouts: most recently used first
	evictions uint64
	oversized uint64 // entries dropped for being larger than maxEntry
}

// cacheKey names an entry: a program's layout (layout set), or an answer
// by what the request asked.
type cacheKey struct {
	layout                             bool
	kind                               string // "seats" or "availability"
	program, category, section, format string
	from, to                           int32
}

// entryOverhead is charged to every entry besides its payload and key
// strings: the entry, its list element and its map slot.
const entryOverhead = int64(unsafe.Sizeof(entry{})+unsafe.Sizeof(list.Element{})+unsafe.Sizeof(cacheKey{})) + 64

// cost is what an entry of k costs before its payload.
func (k cacheKey) cost() int64 {
	return entryOverhead + int64(len(k.kind)+len(k.program)+len(k.category)+len(k.section)+len(k.format))
}

type entry struct {
	key  cacheKey
	elem *list.Element // in cache.lru of its kind; nil once evicted (guarded by cache.mu)
	size int64         // bytes charged (guarded by cache.mu)

	mu      sync.Mutex // held while filling; guards the fields below
	version string
	fetched time.Time
	body    []byte  // an answer's
	layout  *layout // a layout's
}

func newCache(budget, maxEntry int64) *cache {
	return &cache{budget: budget, maxEntry: maxEntry, entries: make(map[cacheKey]*list.Element)}
}

// kindIndex picks the list of k's kind in cache.lru.
func kindIndex(k cacheKey) int {
	if k.layout {
		return 1
	}
	return 0
}

// entry returns the entry of k, new and charged its overhead if there was
// none, and marks it used.
func (c *cache) entry(k cacheKey) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		c.lru[kindIndex(k)].MoveToFront(el)
		return el.Value.(*entry)
	}
	e := &entry{key: k, size: k.cost()}
	e.elem = c.lru[kindIndex(k)].PushFront(e)
	c.entries[k] = e.elem
	c.bytes += e.size
	c.evictLocked(e)
	return e
}

// charge sets what e's payload costs, and reports whether that fits in
// an entry: one larger than maxEntry leaves the cache. (So does one
// evicted meanwhile, which fits but is gone already.)
func (c *cache) charge(e *entry, payload int64) (fits bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	size := e.key.cost() + payload
	if size > c.maxEntry {
		c.oversized++
		if e.elem != nil {
			c.removeLocked(e)
		}
		return false
	}
	if e.elem == nil {
		return true
	}
	c.bytes += size - e.size
	e.size = size
	c.evictLocked(e)
	return true
}

// drop removes e, whose fill failed: a failed request keeps nothing.
func (c *cache) drop(e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.elem != nil {
		c.removeLocked(e)
	}
}

// evictLocked removes the least recently used entries other than keep,
// answers first, until the cache is within its budget.
func (c *cache) evictLocked(keep *entry) {
	for c.bytes > c.budget {
		var victim *list.Element
		for kind := range c.lru {
			if el := c.lru[kind].Back(); el != nil && el.Value.(*entry) == keep {
				victim = el.Prev()
			} else {
				victim = el
			}
			if victim != nil {
				break
			}
		}
		if victim == nil {
			return // keep alone is over the budget; maxEntry <= budget rules that out
		}
		c.evictions++
		c.removeLocked(victim.Value.(*entry))
	}
}

func (c *cache) removeLocked(e *entry) {
	c.lru[kindIndex(e.key)].Remove(e.elem)
	delete(c.entries, e.key)
	c.bytes -= e.size
	e.elem, e.size = nil, 0
}

// cacheStats is the cache's state for metrics and tests.
type cacheStats struct {
	Bytes, Budget       int64
	Answers, Layouts    int
	Evictions, Oversize uint64
}

func (c *cache) stats() cacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return cacheStats{Bytes: c.bytes, Budget: c.budget, Answers: c.lru[0].Len(), Layouts: c.lru[1].Len(), Evictions: c.evictions, Oversize: c.oversized}
}

// How an answer was served, for metrics.
const (
	servedCached    = "cached"     // from the cache, without asking seatd
	servedUnchanged = "unchanged"  // seatd asked; the version had not moved, so the cached bytes
	servedRendered  = "rendered"   // rendered and kept
	servedOversize  = "oversize"   // seatd asked and rendered: too large to keep
	servedDirect    = "consistent" // read through the leader, never cached
)

// answer returns k's rendered answer and version: from the cache while it
// is younger than maxAge, else through fetch, which reads seatd and
// returns the version and a render of it (called only if the version
// moved). served says how.
func (c *cache) answer(k cacheKey, now time.Time, maxAge time.Duration,
	fetch func() (string, func() []byte, *apiError)) (body []byte, version, served string, aerr *apiError) {
	e := c.entry(k)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.body != nil && now.Sub(e.fetched) < maxAge {
		return e.body, e.version, servedCached, nil
	}
	v, render, aerr := fetch()
	if aerr != nil {
		c.drop(e)
		return nil, "", "", aerr
	}
	served = servedUnchanged
	if e.body == nil || v != e.version {
		e.body, e.version, served = render(), v, servedRendered
	}
	e.fetched = now
	if !c.charge(e, int64(cap(e.body)+len(e.version))) {
		served = servedOversize
	}
	return e.body, e.version, served, nil
}
