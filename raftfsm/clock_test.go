package raftfsm

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"seatd/internal/clocktest"
	"seatd/inventory"
)

func TestStartTime(t *testing.T) {
	const s = int64(time.Second)
	const h = int64(time.Hour)
	w := time.Date(2027, 1, 1, 10, 0, 0, 0, time.UTC).UnixNano()
	for _, tc := range []struct {
		name                 string
		wall, last, reckoned int64
		known                bool
		wantStart            int64
		wantStep             time.Duration
	}{
		{"wall agrees", w, w - s, w, true, w, 0},
		{"wall a little ahead is taken", w + s, w - s, w, true, w + s, 0},
		{"wall a little behind does not stall the time", w - s, w - 2*s, w, true, w, 0},
		{"wall an hour ahead is a step", w + h, w - s, w, true, w, time.Duration(h)},
		{"wall an hour behind is a step", w - h, w - s, w, true, w, -time.Duration(h)},
		{"just past the bound", w + int64(MaxClockStep) + 1, w, w, true, w, MaxClockStep + 1},
		{"at the bound", w + int64(MaxClockStep), w, w, true, w + int64(MaxClockStep), 0},
		{"never below the engine's time", w, w + h, w, true, w + h, -time.Duration(h)},
		{"unknown reckoning: the wall, after an outage", w + h, w, 0, false, w + h, 0},
		{"unknown reckoning: never below the engine's time", w - h, w, 0, false, w, 0},
	} {
		start, step := startTime(tc.wall, tc.last, tc.reckoned, tc.known)
		if start != tc.wantStart || step != tc.wantStep {
			t.Errorf("%s: startTime(%d, %d, %d, %v) = %v, %v; want %v, %v", tc.name, tc.wall-w, tc.last-w, tc.reckoned-w, tc.known,
				time.Duration(start-w), step, time.Duration(tc.wantStart-w), tc.wantStep)
		}
	}
}

// TestLogClock: a replica reckons the log's time from the stamps that
// came in while it ran, as they came in (received or applied), plus the
// monotonic time since; not from entries replayed from its own log; and
// wall steps do not move it.
func TestLogClock(t *testing.T) {
	start := time.Date(2027, 1, 1, 10, 0, 0, 0, time.UTC)
	clock := clocktest.New(start)
	lc := &logClock{clock: clock, liveAfter: 10}
	wall := func() int64 { return clock.Wall().UnixNano() }
	if now, step := lc.start(wall()); now != start.UnixNano() || step != 0 {
		t.Fatalf("with nothing applied: %v, %v; want the wall clock", now, step)
	}
	old := start.Add(-time.Hour).UnixNano()
	lc.applied(10, old) // replayed at start: an hour old
	if now, step := lc.start(wall()); now != start.UnixNano() || step != 0 {
		t.Fatalf("after a replayed entry: %v, %v; want the wall clock (the node may have been down)", time.Unix(0, now), step)
	}
	lc.applied(11, start.UnixNano()) // live
	clock.Advance(300 * time.Millisecond)
	clock.Step(time.Hour)
	want := start.Add(300 * time.Millisecond).UnixNano()
	if now, step := lc.start(wall()); now != want || step != time.Hour {
		t.Fatalf("an hour's step after a live entry: %v, %v; want the entry's time + 300ms, a step of 1h", time.Unix(0, now), step)
	}
	clock.Step(-2 * time.Hour)
	if now, step := lc.start(wall()); now != want || step != -time.Hour {
		t.Fatalf("then two hours back: %v, %v; want the entry's time + 300ms, a step of -1h", time.Unix(0, now), step)
	}
	lc.restored(start.UnixNano())
	if now, _ := lc.start(wall()); now != want {
		t.Fatalf("after a snapshot: %v; want the reckoning kept", time.Unix(0, now))
	}

	// A follower that applies late reckons from the entry's arrival.
	lc = &logClock{clock: clock}
	stamp := clock.Wall().Add(time.Hour).UnixNano() // the leader's clock; this node's wall is an hour behind
	entry := appendEntry(nil, stamp, nil)
	lc.received([]*raft.Log{{Type: raft.LogCommand, Data: entry}, {Type: raft.LogNoop}, {Type: raft.LogCommand, Data: []byte{99}}})
	if lc.known {
		t.Fatal("reckoned from an entry that does not decode")
	}
	lc.received([]*raft.Log{{Type: raft.LogCommand, Data: entry}, {Type: raft.LogNoop}})
	clock.Advance(3 * time.Second)
	lc.applied(1, stamp)
	if now, _ := lc.start(wall()); now != stamp+int64(3*time.Second) {
		t.Fatalf("an entry applied 3s after it came in: reckoning %v after its stamp; want 3s", time.Duration(now-stamp))
	}
	lc.received([]*raft.Log{{Type: raft.LogCommand, Data: appendEntry(nil, stamp-int64(time.Minute), nil)}}) // a resend of an older entry
	if now, _ := lc.start(wall()); now != stamp+int64(3*time.Second) {
		t.Fatalf("after an older entry came in again: reckoning %v after the stamp; want 3s still", time.Duration(now-stamp))
	}
}

// TestTermClock: a term's stamps start at its base and follow the
// monotonic clock, not the wall.
func TestTermClock(t *testing.T) {
	start := time.Date(2027, 1, 1, 10, 0, 0, 0, time.UTC)
	clock := clocktest.New(start)
	clock.Advance(time.Minute)
	tc := newTermClock(clock, start.UnixNano())
	clock.Step(time.Hour)
	clock.Advance(time.Second)
	clock.Step(-3 * time.Hour)
	if got, want := tc.time(), start.Add(time.Second); !got.Equal(want) {
		t.Fatalf("term clock = %v; want %v (base + 1s passed, the steps ignored)", got, want)
	}
}

// stepCluster is a 3-node cluster whose nodes each have a clock that
// follows real time and can be stepped, with a tick every 20ms. The
// balancer is off, so that leaderships move only when a test moves them.
func stepCluster(t *testing.T) (*testCluster, []*clocktest.Clock) {
	var clocks []*clocktest.Clock
	c := startTestClusterWith(t, 3, false, func(cfg *NodeConfig) {
		clock := clocktest.Real()
		clocks = append(clocks, clock)
		cfg.Clock = clock
		cfg.TickInterval = 20 * time.Millisecond
		cfg.BalanceInterval = time.Hour
	})
	return c, clocks
}

// index returns n's position in c.nodes.
func (c *testCluster) index(n *Node) int {
	for i, m := range c.nodes {
		if m == n {
			return i
		}
	}
	c.t.Fatalf("node %s is not in the cluster", n.ID())
	return -1
}

// stepWatch reads holds on every replica, at the engine's time and at
// the replica's read time (Node.Now), and fails if any replica's engine
// time goes back.
type stepWatch struct {
	t     *testing.T
	c     *testCluster
	g     uint16
	times map[string]int64 // the engine's time each replica last showed
}

// engineTime returns n's engine time, checking it did not go back.
func (w *stepWatch) engineTime(n *Node) int64 {
	var now int64
	n.Read(w.g, func(e *inventory.Engine, _ uint64) { now = e.Now() })
	if prev := w.times[n.ID()]; now < prev {
		w.t.Fatalf("%s: the engine's time went back %v", n.ID(), time.Duration(prev-now))
	}
	w.times[n.ID()] = now
	return now
}

// status returns a hold's status on n as the engine holds it and as a
// read at n's time shows it.
func (w *stepWatch) status(n *Node, id inventory.HoldID) (stored, read inventory.HoldStatus) {
	w.engineTime(n)
	n.Read(w.g, func(e *inventory.Engine, _ uint64) {
		h, _ := e.GetHold(id, e.Now())
		stored = h.Status
		h, _ = e.GetHold(id, n.Now(w.g))
		read = h.Status
	})
	return stored, read
}

// expectHeld fails unless every replica has applied ids and shows them
// held, stored and read.
func (w *stepWatch) expectHeld(when string, ids ...inventory.HoldID) {
	w.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, n := range w.c.live() {
		for _, id := range ids {
			for {
				stored, read := w.status(n, id)
				if stored == inventory.HoldHeld && read == inventory.HoldHeld {
					break
				}
				if stored != 0 || time.Now().After(deadline) {
					w.t.Fatalf("%s: hold %v on %s: stored %v, read %v; want held", when, id, n.ID(), stored, read)
				}
				time.Sleep(10 * time.Millisecond) // not applied there yet
			}
		}
	}
}

// expectExpired waits until every replica shows ids expired, stored and
// read, by the ticks' expiry.
func (w *stepWatch) expectExpired(when string, ids ...inventory.HoldID) {
	w.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, n := range w.c.live() {
		for _, id := range ids {
			for {
				stored, read := w.status(n, id)
				if stored == inventory.HoldReleased && read == inventory.HoldReleased {
					break
				}
				if time.Now().After(deadline) {
					w.t.Fatalf("%s: hold %v on %s: stored %v, read %v; want released (expired) by a tick", when, id, n.ID(), stored, read)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
}

// hold places a hold of two seats for user and checks its TTL runs from
// the cluster's time: within MaxClockStep of ref's wall clock, which has
// not stepped.
func (w *stepWatch) hold(user uint64, ref *clocktest.Clock) inventory.HoldInfo {
	w.t.Helper()
	o, err := w.c.propose(w.g, &Command{Op: OpHold, Hold: &inventory.HoldRequest{Program: "show", User: user, Count: 2}})
	if err != nil || o.Result != inventory.ResultOK {
		w.t.Fatalf("hold = %v, %v", o.Result, err)
	}
	if d := time.Duration(o.Hold.CreatedAt - ref.Wall().UnixNano()); d > MaxClockStep || d < -MaxClockStep {
		w.t.Fatalf("hold created at %v from an unstepped clock; want within %v", d, MaxClockStep)
	}
	if ttl := time.Duration(o.Hold.ExpiresAt - o.Hold.CreatedAt); ttl != inventory.DefaultHoldTTL {
		w.t.Fatalf("hold TTL %v; want %v", ttl, inventory.DefaultHoldTTL)
	}
	return o.Hold
}

// expectPace checks that a group's time moved by about the real time
// that passed between two readings of a replica's engine time: not
// stalled (a wall clock stepped back) and not jumped (one stepped ahead).
func (w *stepWatch) expectPace(when string, from, to int64, real time.Duration) {
	w.t.Helper()
	if moved := time.Duration(to - from); moved < real/2-100*time.Millisecond || moved > real+MaxClockStep {
		w.t.Fatalf("%s: the group's time moved %v in %v of real time", when, moved, real)
	}
}

// sale runs the rest of a sale after a step: a hold placed now lives,
// holds do not expire before their TTL less MaxClockStep has passed, and
// every hold expires within a few ticks of its TTL.
// on is a replica whose clock has not stepped, and ref its clock.
func (w *stepWatch) sale(clocks []*clocktest.Clock, on *Node, ref *clocktest.Clock, first inventory.HoldInfo) {
	w.t.Helper()
	before, t0 := w.engineTime(on), time.Now()
	time.Sleep(300 * time.Millisecond) // 15 ticks
	w.expectPace("after the step", before, w.engineTime(on), time.Since(t0))
	second := w.hold(2, ref)
	w.expectHeld("after the step", first.ID, second.ID)

	// Time passes on every node: not yet the TTL (less the bound) since
	// the first hold, then past the second's.
	passed := time.Duration(w.engineTime(on) - first.CreatedAt)
	for _, c := range clocks {
		c.Advance(inventory.DefaultHoldTTL - MaxClockStep - passed - 500*time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // 5 ticks
	w.expectHeld("before the TTL", first.ID, second.ID)
	for _, c := range clocks {
		c.Advance(MaxClockStep + time.Second + time.Duration(second.CreatedAt-first.CreatedAt))
	}
	w.expectExpired("past the TTL", first.ID, second.ID)
}

// expectReported checks that stepped (nil: none), and no other node,
// reported a clock step on the group. (A leadership may have moved since, in an
// election on a loaded machine.)
func (w *stepWatch) expectReported(stepped *Node) {
	w.t.Helper()
	for _, n := range w.c.live() {
		if got := n.Stats()[w.g].ClockSteps; (n == stepped) != (got > 0) {
			w.t.Errorf("%s reported %d clock steps; want some only from the stepped node %v", n.ID(), got, stepped)
		}
	}
}

// TestClockStepOnLeader: the leader's wall clock steps an hour ahead or
// back mid-sale. Its stamps do not follow: no live hold expires, the
// group's time neither jumps nor stalls nor goes back on any replica,
// new holds get their full TTL from the true time, every hold expires at
// its TTL, and the leader reports the step.
func TestClockStepOnLeader(t *testing.T) {
	for _, step := range []time.Duration{time.Hour, -time.Hour} {
		t.Run(fmt.Sprint(step), func(t *testing.T) {
			c, clocks := stepCluster(t)
			g := c.openShow()
			w := &stepWatch{t: t, c: c, g: g, times: map[string]int64{}}
			lead := c.leader(g)
			on := c.nodes[(c.index(lead)+1)%3]
			ref := clocks[c.index(on)]
			first := w.hold(1, ref)
			clocks[c.index(lead)].Step(step)
			w.sale(clocks, on, ref, first)
			w.expectReported(lead)
		})
	}
}

// TestClockStepAtElection: a follower's wall clock steps an hour ahead
// or back; its reads still show live holds held and the group's time.
// Then it becomes the leader: it keeps the log's time (and reports the
// step), and the sale goes on as if no clock had stepped.
func TestClockStepAtElection(t *testing.T) {
	for _, step := range []time.Duration{time.Hour, -time.Hour} {
		t.Run(fmt.Sprint(step), func(t *testing.T) {
			c, clocks := stepCluster(t)
			g := c.openShow()
			w := &stepWatch{t: t, c: c, g: g, times: map[string]int64{}}
			lead := c.leader(g)
			f := c.nodes[(c.index(lead)+1)%3]
			ref := clocks[c.index(lead)]
			first := w.hold(1, ref)
			clocks[c.index(f)].Step(step)
			time.Sleep(100 * time.Millisecond)
			w.expectHeld("on the stepped follower", first.ID)
			if d := time.Duration(f.Now(g) - ref.Wall().UnixNano()); d > MaxClockStep || d < -MaxClockStep {
				t.Fatalf("the stepped follower reads at %v from an unstepped clock; want within %v", d, MaxClockStep)
			}

			if err := lead.groups[g].raft.LeadershipTransferToServer(raft.ServerID(f.ID()), raft.ServerAddress(f.Addr())).Error(); err != nil {
				t.Fatalf("transfer to the stepped node: %v", err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for c.leaderNow(g) != f {
				if time.Now().After(deadline) {
					t.Fatal("the stepped node did not take over")
				}
				time.Sleep(10 * time.Millisecond)
			}
			w.sale(clocks, lead, ref, first)
			w.expectReported(f)
		})
	}
}

// TestClockAfterOutage: the whole cluster is down for 20 minutes, past
// the hold TTL (15 minutes) and short of its purge (a TTL later). The first
// leader after it cannot reckon the log's time (every replica replayed
// its log, which says nothing of how long it was down), so it takes its
// wall clock: the hold whose TTL ended during the outage expires, no step
// is reported, and new holds run from the true time.
func TestClockAfterOutage(t *testing.T) {
	c, clocks := stepCluster(t)
	g := c.openShow()
	w := &stepWatch{t: t, c: c, g: g, times: map[string]int64{}}
	first := w.hold(1, clocks[0])
	w.expectHeld("before the outage", first.ID)
	for i := range c.nodes {
		c.kill(i)
	}
	for _, clock := range clocks {
		clock.Advance(20 * time.Minute)
	}
	for i := range c.nodes {
		c.restart(i)
	}
	c.waitLeaders()
	w.times = map[string]int64{} // new processes: their engines start empty
	w.expectExpired("after a 20-minute outage", first.ID)
	second := w.hold(2, clocks[0])
	w.expectHeld("after the outage", second.ID)
	w.expectReported(nil)
}
