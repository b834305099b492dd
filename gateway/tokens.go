package gateway

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// tokenCache remembers verified buyer tokens, so that a buyer refreshing
// and holding through an on-sale pays for one signature check, not one
// per request. It is a fixed table a token hashes into: a slot keeps the
// whole token, and only the same token, before its expiry, is a hit.
// The tokens kept are bounded by bytes, as a token's size is the
// identity provider's choice: one longer than maxCachedToken is checked
// every time, and a token that would take the table past its budget
// empties its slot instead of filling it.
type tokenCache struct {
	seed   maphash.Seed
	slots  []tokenSlot
	budget int64
	bytes  atomic.Int64 // of the tokens kept in slots
}

type tokenSlot struct {
	mu      sync.Mutex // guards the fields below
	token   string
	id      identity
	expires time.Time // the token's exp plus the leeway
	gen     uint64    // the generation of the JWKS's keys it was verified under
}

const (
	// tokenSlots is the size of the table.
	tokenSlots = 1 << 16
	// maxCachedToken bounds the tokens kept: 4 KiB is several times
	// the usual signed JWT.
	maxCachedToken = 4 << 10
)

func newTokenCache(budget int64) *tokenCache {
	return &tokenCache{seed: maphash.MakeSeed(), slots: make([]tokenSlot, tokenSlots), budget: budget}
}

func (c *tokenCache) slot(token string) *tokenSlot {
	return &c.slots[maphash.String(c.seed, token)%tokenSlots]
}

// get returns who a token verified before names, if it has not expired
// and was verified under the keys of generation gen.
func (c *tokenCache) get(token string, now time.Time, gen uint64) (identity, bool) {
	s := c.slot(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != token || !now.Before(s.expires) || s.gen != gen {
		return identity{}, false
	}
	return s.id, true
}

func (c *tokenCache) put(token string, id identity, expires time.Time, gen uint64) {
	s := c.slot(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(token) > maxCachedToken || !c.reserve(int64(len(token)-len(s.token))) {
		// The slot's token gives way all the same, so that newer
		// buyers' tokens find room as older ones come and go.
		c.reserve(-int64(len(s.token)))
		s.token = ""
		return
	}
	s.token, s.id, s.expires, s.gen = token, id, expires, gen
}

// reserve adds delta to the bytes kept, unless that passes the budget.
func (c *tokenCache) reserve(delta int64) bool {
	for {
		n := c.bytes.Load()
		if delta > 0 && n+delta > c.budget {
			return false
		}
		if c.bytes.CompareAndSwap(n, n+delta) {
			return true
		}
	}
}

// size returns the bytes of the tokens kept.
func (c *tokenCache) size() int64 { return c.bytes.Load() }
