package gateway

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// check verifies the cache's bookkeeping: the bytes are the sum of the
// entries' charges and within the budget, the map and the lists hold the
// same entries, each in the list of its kind.
func (c *cache) check() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sum int64
	n := 0
	for kind := range c.lru {
		for el := c.lru[kind].Front(); el != nil; el = el.Next() {
			e := el.Value.(*entry)
			if c.entries[e.key] != el || e.elem != el || kindIndex(e.key) != kind {
				return fmt.Errorf("entry %+v: lists and map disagree", e.key)
			}
			if e.size < e.key.cost() || e.size > c.maxEntry {
				return fmt.Errorf("entry %+v charged %d, outside %d-%d", e.key, e.size, e.key.cost(), c.maxEntry)
			}
			sum += e.size
			n++
		}
	}
	switch {
	case n != len(c.entries):
		return fmt.Errorf("%d entries listed, %d in the map", n, len(c.entries))
	case sum != c.bytes:
		return fmt.Errorf("entries add up to %d bytes, the cache counts %d", sum, c.bytes)
	case c.bytes > c.budget:
		return fmt.Errorf("%d bytes, over the budget of %d", c.bytes, c.budget)
	}
	return nil
}

// TestCacheBudget runs random fills, failures and re-reads of answers
// and layouts of random sizes against a small cache and checks its
// bookkeeping and its byte bound after each.
func TestCacheBudget(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	const budget, maxEntry = 64 << 10, 16 << 10
	c := newCache(budget, maxEntry)
	now := time.Unix(0, 0)
	var oversize int
	answered := false // some answer was cached at some step (layouts may push every answer out by the end)
	for i := range 5000 {
		k := cacheKey{kind: "seats", program: fmt.Sprint(rng.IntN(8)), category: strings.Repeat("c", rng.IntN(30)), from: int32(rng.IntN(4))}
		size := rng.IntN(20 << 10)
		switch op := rng.IntN(10); {
		case op < 2: // a layout
			e := c.entry(cacheKey{layout: true, program: k.program})
			e.mu.Lock()
			if e.layout == nil {
				e.layout = &layout{size: int64(size)}
				c.charge(e, e.layout.size)
			}
			e.mu.Unlock()
		case op < 3: // a failed fetch
			c.answer(k, now, time.Second, func() (string, func() []byte, *apiError) { return "", nil, errorf(503, "UNAVAILABLE", "") })
		default:
			body, _, served, _ := c.answer(k, now, time.Duration(rng.IntN(2)), func() (string, func() []byte, *apiError) {
				return fmt.Sprint(rng.IntN(3)), func() []byte { return make([]byte, size) }, nil
			})
			if served == servedOversize {
				oversize++
			} else if served == servedRendered && len(body) != size {
				t.Fatalf("seed %d: answer of %d bytes rendered, %d wanted", seed, len(body), size)
			}
		}
		if err := c.check(); err != nil {
			t.Fatalf("seed %d, step %d: %v", seed, i, err)
		}
		answered = answered || c.stats().Answers > 0
		now = now.Add(time.Millisecond)
	}
	if st := c.stats(); st.Evictions == 0 || oversize == 0 || !answered {
		t.Fatalf("seed %d: %+v, %d oversize: the run never filled the cache", seed, st, oversize)
	}
}

// TestTokenCacheBudget: the tokens kept stay within the byte budget
// however many buyers come, a token over the size limit is never kept,
// and a kept one is a hit.
func TestTokenCacheBudget(t *testing.T) {
	const budget = 16 << 10
	c := newTokenCache(budget)
	now := time.Now()
	exp := now.Add(time.Hour)
	for i := range 20000 {
		tok := fmt.Sprintf("%0*d", 100+i%400, i)
		c.put(tok, identity{user: int64(i)}, exp, 0)
		if c.size() > budget {
			t.Fatalf("after %d tokens: %d bytes kept, budget %d", i+1, c.size(), budget)
		}
		if i%2000 == 0 {
			var sum int64
			for j := range c.slots {
				sum += int64(len(c.slots[j].token))
			}
			if sum != c.size() {
				t.Fatalf("after %d tokens: %d bytes counted, %d kept", i+1, c.size(), sum)
			}
		}
		if i%1000 == 0 && c.size() < budget/2 {
			if id, ok := c.get(tok, now, 0); !ok || id.user != int64(i) {
				t.Fatalf("a token just kept, with room to spare, is not a hit: %v %v", id, ok)
			}
		}
	}
	big := strings.Repeat("t", maxCachedToken+1)
	c.put(big, identity{user: 1}, exp, 0)
	if _, ok := c.get(big, now, 0); ok {
		t.Fatalf("a token of %d bytes was kept; the limit is %d", len(big), maxCachedToken)
	}
}

// TestCacheEvictsAnswersFirst: answers go before an older layout, which
// would cost the whole program's description to fetch again.
func TestCacheEvictsAnswersFirst(t *testing.T) {
	c := newCache(64<<10, 16<<10)
	lk := cacheKey{layout: true, program: "p"}
	e := c.entry(lk)
	e.layout = &layout{size: 10 << 10}
	c.charge(e, e.layout.size)
	for i := range 100 {
		c.answer(cacheKey{kind: "seats", program: "p", from: int32(i)}, time.Unix(0, 0), time.Second, func() (string, func() []byte, *apiError) {
			return "1", func() []byte { return make([]byte, 4<<10) }, nil
		})
	}
	if st := c.stats(); st.Layouts != 1 || st.Evictions == 0 || c.entry(lk).layout == nil {
		t.Fatalf("after 100 answers of 4 KiB in 64 KiB: %+v; want the layout kept and answers evicted", st)
	}
}
