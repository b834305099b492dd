package gateway

import (
	"hash/maphash"
	"sync"
	"time"
)

// userLimiter is a token bucket per user, in a fixed table: a user hashes
// to one of its slots, so memory stays bounded however many users come.
// Users that share a slot share its budget; with 65,536 slots and a
// per-user rate meant for humans that rarely matters, and never lets a
// user past the rate.
type userLimiter struct {
	rate  float64 // tokens per second
	burst float64
	seed  maphash.Seed
	slots []bucket
}

type bucket struct {
	mu     sync.Mutex // guards tokens and last
	tokens float64
	last   time.Time
}

// limiterSlots is the size of the bucket table.
const limiterSlots = 1 << 16

func newUserLimiter(perSecond float64, burst int) *userLimiter {
	return &userLimiter{rate: perSecond, burst: float64(burst), seed: maphash.MakeSeed(), slots: make([]bucket, limiterSlots)}
}

// allow takes a token for user, or says how long until one is there.
func (l *userLimiter) allow(user int64, now time.Time) (bool, time.Duration) {
	var h maphash.Hash
	h.SetSeed(l.seed)
	var b [8]byte
	for i := range b {
		b[i] = byte(user >> (8 * i))
	}
	h.Write(b[:])
	s := &l.slots[h.Sum64()%limiterSlots]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last.IsZero() {
		s.tokens = l.burst
	} else {
		s.tokens = min(l.burst, s.tokens+now.Sub(s.last).Seconds()*l.rate)
	}
	s.last = now
	if s.tokens >= 1 {
		s.tokens--
		return true, 0
	}
	return false, time.Duration((1 - s.tokens) / l.rate * float64(time.Second))
}
