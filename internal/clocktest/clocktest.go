// Package clocktest is a raftfsm.Clock for tests whose wall clock can
// step while its monotonic time does not: Advance is time passing, Step
// is an NTP step or a VM resume moving the wall clock alone. A Clock is
// safe for concurrent use.
package clocktest

import (
	"sync/atomic"
	"time"
)

// Clock is a test clock. Its Elapsed is what Advance added, plus the
// real monotonic time since Real when it follows real time; its wall
// clock is its start, plus Elapsed, plus what Step added.
type Clock struct {
	start   int64     // the wall clock at the origin, Unix ns
	origin  time.Time // the real origin, when it follows real time
	follows bool      // it follows real time

	advanced atomic.Int64 // ns added by Advance
	stepped  atomic.Int64 // ns added by Step
}

// New returns a clock that stands still at start until advanced.
func New(start time.Time) *Clock { return &Clock{start: start.UnixNano()} }

// Real returns a clock that follows real time (so tickers and timeouts
// agree with it), starting at time.Now.
func Real() *Clock {
	now := time.Now()
	return &Clock{start: now.UnixNano(), origin: now, follows: true}
}

// Wall returns the wall clock.
func (c *Clock) Wall() time.Time {
	return time.Unix(0, c.start+int64(c.Elapsed())+c.stepped.Load())
}

// Elapsed returns the monotonic time since the clock's origin.
func (c *Clock) Elapsed() time.Duration {
	d := time.Duration(c.advanced.Load())
	if c.follows {
		d += time.Since(c.origin)
	}
	return d
}

// Advance lets d pass: the wall clock and Elapsed both move by d (d >= 0).
func (c *Clock) Advance(d time.Duration) {
	if d < 0 {
		panic("clocktest: time does not pass backwards")
	}
	c.advanced.Add(int64(d))
}

// Step moves the wall clock alone by d, either way.
func (c *Clock) Step(d time.Duration) { c.stepped.Add(int64(d)) }
