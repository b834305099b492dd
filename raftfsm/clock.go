package raftfsm

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Clock is where a node reads time. Wall is the wall clock, which is
// what the log's times mean, but an NTP step or a VM resume can move it
// by any amount either way, at any moment. Elapsed is the time since a
// fixed origin at a steady rate that never steps: Go's monotonic clock
// in production. A node takes the wall clock only where it is within
// MaxClockStep of the log's time (startTime): to start a leader's term
// clock, which then runs on Elapsed, and for reads. So a wall step moves
// no command's time and no read's (docs/replication.md, "Clocks"). A
// Clock must be safe for concurrent use.
type Clock interface {
	Wall() time.Time
	Elapsed() time.Duration
}

// SystemClock returns the production Clock: time.Now for the wall, and
// time.Since a reading taken now for Elapsed (time.Since uses the
// reading's monotonic part, which wall steps do not move).
func SystemClock() Clock { return systemClock{origin: time.Now()} }

type systemClock struct{ origin time.Time }

func (systemClock) Wall() time.Time          { return time.Now() }
func (c systemClock) Elapsed() time.Duration { return time.Since(c.origin) }

// MaxClockStep is how far a new leader's wall clock may be from the
// time its replica last saw in the log, carried forward by Elapsed,
// before the leader calls it a step and keeps the log's time. It is far
// above what healthy nodes differ by (NTP keeps clocks within
// milliseconds; a follower receives an entry a network delay after its
// stamp, and the leader ticks every second) and far below the
// shortest hold TTL (inventory.MinHoldTTL, 10 s). It is also the most
// a wall clock within it can move the cluster's time ahead, and so the
// most a hold's life can be shortened at one leader change.
const MaxClockStep = 2 * time.Second

// termClock is a leader's clock for one term: it starts at base (Unix
// nanoseconds) and runs at Elapsed's rate, so wall steps during the term
// move none of its stamps, and it never goes back.
type termClock struct {
	clock  Clock
	base   int64
	origin time.Duration // clock.Elapsed() when the term's clock started
}

func newTermClock(c Clock, base int64) *termClock {
	return &termClock{clock: c, base: base, origin: c.Elapsed()}
}

// now returns the term's time in Unix nanoseconds.
func (t *termClock) now() int64 { return t.base + int64(t.clock.Elapsed()-t.origin) }

// time is now as a time.Time, the Proposer's clock.
func (t *termClock) time() time.Time { return time.Unix(0, t.now()) }

// logClock is a replica's reckoning of the log's time: a stamp plus the
// Elapsed time since the stamp came in, for the stamp that gives the
// latest time. A stamp comes in when a follower receives its entry
// (before it is stored, committed and applied, so a follower that
// applies late does not reckon late), and when a replica applies a
// command entry (the engine's time after it: the leader's own entries).
// The stamp was made before it came in, so the reckoning is not ahead
// of the stamping leader's clock, and it is behind by a network delay.
//
// Only entries that came in while this process ran count: an entry
// replayed from the local log at start, or a restored snapshot, may be
// hours old, and counting from its replay would put the replica's time
// behind by as long as the node was down. It has its own lock, not the
// FSM's, so that a reader holding the FSM's read lock may ask it the
// time.
type logClock struct {
	clock     Clock
	liveAfter uint64 // the last log index stored when the node started

	mu    sync.Mutex // guards the fields below
	last  int64      // the engine's time, Unix ns: the largest stamp applied
	known bool       // a stamp came in while this process ran
	// offset is the largest stamp less clock.Elapsed() when it came in,
	// in ns: the reckoning at any moment is offset + clock.Elapsed().
	offset int64
}

// noteLocked takes in a stamp that came in at elapsed.
func (c *logClock) noteLocked(stamp int64, elapsed time.Duration) {
	if o := stamp - int64(elapsed); !c.known || o > c.offset {
		c.known, c.offset = true, o
	}
}

// applied records a command entry's apply: index is its log index, now
// the engine's time after it.
func (c *logClock) applied(index uint64, now int64) {
	if c == nil {
		return
	}
	elapsed := c.clock.Elapsed()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = now
	if index > c.liveAfter {
		c.noteLocked(now, elapsed)
	}
}

// received records the entries of an AppendEntries request as it comes
// in from the leader: the stamp of the last command entry among them.
func (c *logClock) received(entries []*raft.Log) {
	if c == nil {
		return
	}
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].Type != raft.LogCommand {
			continue
		}
		stamp, ok := entryStamp(entries[i].Data)
		if !ok {
			return // Apply will stop on it; nothing to reckon from
		}
		elapsed := c.clock.Elapsed()
		c.mu.Lock()
		c.noteLocked(stamp, elapsed)
		c.mu.Unlock()
		return
	}
}

// restored records a snapshot's restore, with the engine's time in it.
// Stamps that came in before it still count: they were live.
func (c *logClock) restored(now int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = now
}

// start is startTime with this replica's log time, at wall.
func (c *logClock) start(wall int64) (int64, time.Duration) {
	elapsed := c.clock.Elapsed()
	c.mu.Lock()
	defer c.mu.Unlock()
	return startTime(wall, c.last, c.offset+int64(elapsed), c.known)
}

// startTime is where a node's time for a group starts, as a new leader's
// term clock and as the time of a read: wall is the node's wall clock,
// last the engine's time (the largest stamp applied), and reckoned the
// log's time as the replica reckons it, if known (see logClock).
//
// With a reckoning, a wall clock within MaxClockStep of it is taken (but
// never below it: a wall clock behind must not stall the cluster's time,
// or holds would outlive their TTL), and one further off is a step: the
// reckoning is taken, and step says how far the wall is from it. Without
// one (no stamp has come in since the node started) the wall is
// taken, never below last: the node cannot tell a stepped wall from the
// time the cluster was down, and after an outage the wall is right.
func startTime(wall, last, reckoned int64, known bool) (start int64, step time.Duration) {
	if !known {
		return max(wall, last), 0
	}
	reckoned = max(reckoned, last)
	if d := time.Duration(wall - reckoned); d > MaxClockStep || d < -MaxClockStep {
		return reckoned, d
	}
	return max(wall, reckoned), 0
}
