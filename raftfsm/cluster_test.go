package raftfsm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"seatd/internal/clocktest"
	"seatd/inventory"
)

// testCluster is nodes on loopback TCP, each with its own pebble store.
type testCluster struct {
	t     *testing.T
	mu    sync.Mutex // guards nodes
	nodes []*Node
	cfgs  []NodeConfig
}

func testNodeConfig(id, dir, addr string) NodeConfig {
	return NodeConfig{
		ID: id, Dir: dir, Addr: addr, Groups: 2,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
		// Ticks add an entry each; a quiet log lets a test compare replicas at
		// one index (a follower learns the last commit only from the next
		// entry or raft's commit timeout). Expiry has its own test.
		TickInterval: time.Minute,
		Engine:       inventory.Config{MaxLiveHolds: 1 << 16, MaxHolds: 1 << 18},
	}
}

func startTestCluster(t *testing.T, n int) *testCluster {
	return startTestClusterWith(t, n, false, nil)
}

// startTestClusterWith starts n nodes on loopback, tune adjusting each
// config, and bootstraps them all (or only the first, which then wins the
// first elections), waiting for every group to have a leader.
func startTestClusterWith(t *testing.T, n int, bootstrapFirstOnly bool, tune func(*NodeConfig)) *testCluster {
	c := &testCluster{t: t}
	var peers []Peer
	for i := range n {
		cfg := testNodeConfig(fmt.Sprintf("n%d", i+1), t.TempDir(), "127.0.0.1:0")
		if tune != nil {
			tune(&cfg)
		}
		node, err := StartNode(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Addr = node.Addr() // a restart must come back on the same address
		c.nodes, c.cfgs = append(c.nodes, node), append(c.cfgs, cfg)
		peers = append(peers, Peer{ID: node.ID(), Addr: node.Addr()})
	}
	for i, node := range c.nodes {
		if bootstrapFirstOnly && i > 0 {
			break
		}
		if err := node.Bootstrap(peers); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, node := range c.live() {
			node.Shutdown(false)
		}
	})
	c.waitLeaders()
	return c
}

// openShow places, creates and opens the arena program "show" and
// returns its group.
func (c *testCluster) openShow() uint16 {
	g := c.place("show")
	for _, cmd := range []*Command{{Op: OpCreateProgram, Spec: arena(c.t)}, {Op: OpOpenSale, Program: "show"}} {
		if o, err := c.propose(g, cmd); err != nil || o.Result != inventory.ResultOK {
			c.t.Fatalf("%v = %v, %v", cmd.Op, o.Result, err)
		}
	}
	return g
}

func (c *testCluster) live() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Node
	for _, n := range c.nodes {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

// leader returns the node whose proposer for group g is open.
// leaderNow returns the node leading group g now, or nil while none
// does (an election, a leadership transfer).
func (c *testCluster) leaderNow(g uint16) *Node {
	for _, n := range c.live() {
		grp := n.groups[g]
		grp.mu.Lock()
		ok := grp.proposer != nil
		grp.mu.Unlock()
		if ok {
			return n
		}
	}
	return nil
}

// leader returns the node leading group g, waiting up to 15 s for one
// (an election, a leadership transfer): it never returns nil. The node
// may lose the lead at once; onLeader retries what must reach a leader.
func (c *testCluster) leader(g uint16) *Node {
	c.t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if n := c.leaderNow(g); n != nil {
			return n
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("group %d has no leader", g)
		}
	}
}

// onLeader calls f with group g's leader until f's error is not
// ErrNotLeader (the lead moved between the look and the call), for up
// to 15 s, and returns f's last error.
func (c *testCluster) onLeader(g uint16, f func(*Node) error) error {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := f(c.leader(g))
		if !errors.Is(err, ErrNotLeader) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *testCluster) waitLeaders() {
	deadline := time.Now().Add(15 * time.Second)
	for g := 0; g <= c.cfgs[0].Groups; g++ {
		for c.leaderNow(uint16(g)) == nil {
			if time.Now().After(deadline) {
				c.t.Fatalf("group %d has no leader", g)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// propose is a client: it finds the leader, and retries not-leader and
// ambiguous failures (with the same command, so the same request id)
// until the deadline.
func (c *testCluster) propose(g uint16, cmd *Command) (Outcome, error) {
	deadline := time.Now().Add(20 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		n := c.leaderNow(g)
		if n == nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		o, err := n.Propose(ctx, g, cmd)
		cancel()
		if err == nil {
			return o, nil
		}
		last = err
		if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrAmbiguous) && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrOverloaded) {
			return o, err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return Outcome{}, fmt.Errorf("gave up: %w", last)
}

func (c *testCluster) place(program string) uint16 {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if n := c.leaderNow(MetaGroup); n != nil {
			if g, err := n.Place(context.Background(), program); err == nil {
				return g
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("could not place %s", program)
	return 0
}

// kill stops node i without handing over its leaderships.
func (c *testCluster) kill(i int) {
	c.mu.Lock()
	n := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if err := n.Shutdown(false); err != nil {
		c.t.Logf("shutdown n%d: %v", i+1, err)
	}
}

func (c *testCluster) restart(i int) {
	n, err := StartNode(c.cfgs[i])
	if err != nil {
		c.t.Fatalf("restart n%d: %v", i+1, err)
	}
	c.mu.Lock()
	c.nodes[i] = n
	c.mu.Unlock()
}

// converge waits until every node has applied group g up to the leader's
// last index, then checks the replicas are byte-identical and pass Check.
func (c *testCluster) converge(g uint16) []byte {
	deadline := time.Now().Add(20 * time.Second)
	var lead *Node
	var want uint64
	for {
		lead = c.leaderNow(g)
		want = 0
		if lead != nil {
			want = lead.groups[g].raft.LastIndex()
		}
		ok := lead != nil
		for _, n := range c.live() {
			ok = ok && n.groups[g].fsm.Applied() >= want
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			for _, n := range c.live() {
				st := n.Stats()[g]
				c.t.Logf("%s: %+v fsm applied %d", n.ID(), st, n.groups[g].fsm.Applied())
			}
			c.t.Fatalf("group %d did not converge (leader %v, want %d)", g, lead != nil, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var first []byte
	for _, n := range c.live() {
		var snap []byte
		var checkErr error
		n.Read(g, func(e *inventory.Engine, applied uint64) {
			snap, checkErr = e.AppendSnapshot(nil), e.Check()
		})
		if checkErr != nil {
			c.t.Fatalf("%s group %d: Check: %v", n.ID(), g, checkErr)
		}
		if first == nil {
			first = snap
		} else if !bytes.Equal(first, snap) {
			c.t.Fatalf("group %d: %s differs from the first replica", g, n.ID())
		}
	}
	return first
}

// TestClusterFailover runs holds on programs in both groups while the
// leader of group 1 is killed (no transfer) and later restarted.
func TestClusterFailover(t *testing.T) {
	c := startTestCluster(t, 3)
	programs := []string{"p1", "p2", "p3", "p4"}
	where := map[string]uint16{}
	for _, id := range programs {
		g := c.place(id)
		where[id] = g
		spec := arena(t)
		spec.ID = id
		spec.MaxSeatsPerUser = 64
		for _, cmd := range []*Command{{Op: OpCreateProgram, Spec: spec}, {Op: OpOpenSale, Program: id}} {
			if o, err := c.propose(g, cmd); err != nil || o.Result != inventory.ResultOK {
				t.Fatalf("%v %s on group %d = %v, %v", cmd.Op, id, g, o.Result, err)
			}
		}
	}
	if where["p1"] == where["p2"] {
		t.Fatalf("placement put p1 and p2 on the same group: %v", where)
	}

	type acked struct {
		program string
		seats   []uint32
	}
	var mu sync.Mutex
	acks := map[inventory.HoldID]acked{}
	var failed int
	var wg sync.WaitGroup
	stopLoad := make(chan struct{})
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopLoad:
					return
				default:
				}
				prog := programs[(w+i)%len(programs)]
				req := &inventory.HoldRequest{Program: prog, User: uint64(w + 1), Count: 1 + i%3, Together: true}
				binary.BigEndian.PutUint64(req.RequestID[:], uint64(w<<32|i))
				o, err := c.propose(where[prog], &Command{Op: OpHold, Hold: req})
				mu.Lock()
				if err == nil && o.Result == inventory.ResultOK {
					acks[o.Hold.ID] = acked{prog, append([]uint32(nil), o.Hold.Seats...)}
				} else if err != nil {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	victim := -1
	lead := c.leader(1)
	for i, n := range c.live() {
		if n == lead {
			victim = i
		}
	}
	c.kill(victim)
	time.Sleep(time.Second)
	c.restart(victim)
	time.Sleep(500 * time.Millisecond)
	close(stopLoad)
	wg.Wait()
	c.waitLeaders()

	for g := uint16(1); g <= 2; g++ {
		c.converge(g)
	}
	// Every acknowledged hold is there with its seats.
	n := c.live()[0]
	for id, a := range acks {
		var h inventory.HoldInfo
		var ok bool
		n.Read(uint16(id.Group()), func(e *inventory.Engine, _ uint64) { h, ok = e.GetHold(id, e.Now()) })
		if !ok || h.Program.ID() != a.program || !slicesEqual(h.Seats, a.seats) {
			t.Fatalf("acknowledged hold %d (%s %v) lost: %+v %v", id, a.program, a.seats, h, ok)
		}
	}
	t.Logf("%d holds acknowledged, %d calls gave up, leader of group 1 (n%d) killed and restarted", len(acks), failed, victim+1)
	if len(acks) < 100 {
		t.Fatalf("only %d holds acknowledged", len(acks))
	}
}

// TestClusterNamedOnce: the first meta leader names the cluster; every
// node learns the same id, and it stays through the meta leader's death
// and a restart.
func TestClusterNamedOnce(t *testing.T) {
	c := startTestCluster(t, 3)
	c.waitLeaders()
	ids := func() []string {
		var out []string
		for _, n := range c.live() {
			out = append(out, n.ClusterID())
		}
		return out
	}
	var id string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got := ids()
		if len(got) == 3 && len(got[0]) == ClusterIDLen && got[0] == got[1] && got[1] == got[2] {
			id = got[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster ids %q; want one id of %d hex digits on every node", got, ClusterIDLen)
		}
	}
	meta := -1
	for i, n := range c.live() {
		if n.meta.raft.State() == raft.Leader {
			meta = i
		}
	}
	if meta < 0 {
		t.Fatal("no meta leader")
	}
	c.kill(meta)
	c.waitLeaders()
	c.restart(meta)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got := ids()
		if len(got) == 3 && got[0] == id && got[1] == id && got[2] == id {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the meta leader's death and restart: ids %q; want %q everywhere", got, id)
		}
	}
}

func slicesEqual(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestClusterExpiry: the leader's ticker expires holds by the leader's
// clock, and every replica sees the same expiry.
func TestClusterExpiry(t *testing.T) {
	clock := clocktest.New(time.Date(2027, 1, 1, 10, 0, 0, 0, time.UTC))
	c := startTestClusterWith(t, 3, false, func(cfg *NodeConfig) {
		cfg.TickInterval = 50 * time.Millisecond
		cfg.Clock = clock
	})
	g := c.openShow()
	o, err := c.propose(g, &Command{Op: OpHold, Hold: &inventory.HoldRequest{Program: "show", User: 5, Count: 2}})
	if err != nil || o.Result != inventory.ResultOK {
		t.Fatalf("hold = %v, %v", o.Result, err)
	}
	if want := clock.Wall().UnixNano() + int64(inventory.DefaultHoldTTL); o.Hold.ExpiresAt != want {
		t.Fatalf("hold expires at %d; want the leader's clock + TTL = %d", o.Hold.ExpiresAt, want)
	}
	clock.Advance(inventory.DefaultHoldTTL + time.Second)

	status := func(n *Node, consistent bool) inventory.HoldStatus {
		var st inventory.HoldStatus
		read := func(e *inventory.Engine, _ uint64) {
			if h, ok := e.GetHold(o.Hold.ID, e.Now()); ok {
				st = h.Status
			}
		}
		if consistent {
			if err := n.ConsistentRead(context.Background(), g, read); err != nil {
				t.Fatalf("ConsistentRead = %v", err)
			}
		} else {
			n.Read(g, read)
		}
		return st
	}
	deadline := time.Now().Add(10 * time.Second)
	for status(c.leader(g), true) != inventory.HoldReleased {
		if time.Now().After(deadline) {
			t.Fatal("the leader's ticker did not expire the hold")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, n := range c.live() {
		for status(n, false) != inventory.HoldReleased {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not apply the expiry", n.ID())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// A consistent read on a follower is refused with the leader's name.
	for _, n := range c.live() {
		if n != c.leader(g) {
			var nle *NotLeaderError
			if err := n.ConsistentRead(context.Background(), g, func(*inventory.Engine, uint64) {}); !errors.As(err, &nle) || nle.LeaderID == "" {
				t.Fatalf("ConsistentRead on a follower = %v; want a NotLeaderError naming the leader", err)
			}
			break
		}
	}
}

// TestStatsAtTheClock: a node's statistics (its metrics) count a hold
// whose TTL has ended as expired, and its seats as free, before any tick
// has expired it.
func TestStatsAtTheClock(t *testing.T) {
	clock := clocktest.New(time.Date(2027, 1, 1, 10, 0, 0, 0, time.UTC))
	c := startTestClusterWith(t, 1, false, func(cfg *NodeConfig) {
		cfg.Clock = clock // TickInterval: a minute, no tick comes
	})
	g := c.openShow()
	if o, err := c.propose(g, &Command{Op: OpHold, Hold: &inventory.HoldRequest{Program: "show", User: 5, Count: 2}}); err != nil || o.Result != inventory.ResultOK {
		t.Fatalf("hold = %v, %v", o.Result, err)
	}
	st := c.nodes[0].Stats()[g]
	if st.LiveHolds != 1 || st.Seats.Held != 2 {
		t.Fatalf("stats before the expiry: %d live holds, %d seats held; want 1, 2", st.LiveHolds, st.Seats.Held)
	}
	clock.Advance(inventory.DefaultHoldTTL)
	st = c.nodes[0].Stats()[g]
	if st.LiveHolds != 0 || st.Seats.Held != 0 {
		t.Fatalf("stats at the expiry, before a tick: %d live holds, %d seats held; want 0, 0", st.LiveHolds, st.Seats.Held)
	}
}
