package gateway

import (
	"hash/maphash"
	"sync"
	"time"
)

// tokenCache remembers verified buyer tokens, so that a buyer refreshing
// and holding through an on-sale pays for one signature check, not one
// per request. It is a fixed table a token hashes into: memory stays
// bounded, a slot keeps the whole token, and only the same token, before
// its expiry, is a hit.
type tokenCache struct {
	seed  maphash.Seed
	slots []tokenSlot
}

type tokenSlot struct {
	mu      sync.Mutex // guards the fields below
	token   string
	user    int64
	expires time.Time // the token's exp plus the leeway
}

// tokenSlots is the size of the table.
const tokenSlots = 1 << 16

func newTokenCache() *tokenCache {
	return &tokenCache{seed: maphash.MakeSeed(), slots: make([]tokenSlot, tokenSlots)}
}

func (c *tokenCache) slot(token string) *tokenSlot {
	return &c.slots[maphash.String(c.seed, token)%tokenSlots]
}

// get returns the user of a token verified before and not yet expired.
func (c *tokenCache) get(token string, now time.Time) (int64, bool) {
	s := c.slot(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != token || !now.Before(s.expires) {
		return 0, false
	}
	return s.user, true
}

func (c *tokenCache) put(token string, user int64, expires time.Time) {
	s := c.slot(token)
	s.mu.Lock()
	s.token, s.user, s.expires = token, user, expires
	s.mu.Unlock()
}
