package raftfsm

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// addToAll asks the leader of every group to run fn (a membership change),
// as an operator tool does: each group may have a different leader.
func (c *testCluster) addToAll(fn func(n *Node) ([]uint16, error)) {
	deadline := time.Now().Add(15 * time.Second)
	pending := map[uint16]bool{}
	for g := 0; g <= c.cfgs[0].Groups; g++ {
		pending[uint16(g)] = true
	}
	for len(pending) > 0 {
		if time.Now().After(deadline) {
			c.t.Fatalf("groups %v never changed", pending)
		}
		for _, n := range c.live() {
			notLed, err := fn(n)
			if err != nil {
				continue
			}
			for g := range pending {
				if !slices.Contains(notLed, g) {
					delete(pending, g)
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func voters(n *Node, g uint16) []string {
	v := n.Stats()[g].Voters
	slices.Sort(v)
	return v
}

// withRPCAddr gives a node an RPC address to announce (nothing listens
// there: the directory only records it).
func withRPCAddr(cfg *NodeConfig) { cfg.RPCAddr = "rpc-" + cfg.ID + ":7100" }

// waitDirectory waits until every live node's copy of the directory lists
// exactly ids, each at the address withRPCAddr gives it.
func (c *testCluster) waitDirectory(ids ...string) {
	c.t.Helper()
	var want []NodeInfo
	for _, id := range ids {
		want = append(want, NodeInfo{ID: id, RPCAddr: "rpc-" + id + ":7100"})
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok := true
		for _, n := range c.live() {
			ok = ok && slices.Equal(n.Directory(), want)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			for _, n := range c.live() {
				c.t.Logf("%s: directory %v", n.ID(), n.Directory())
			}
			c.t.Fatalf("directory never became %v", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMembership: join, leadership transfer, removal and graceful
// shutdown, with the node directory following each change.
func TestMembership(t *testing.T) {
	c := startTestClusterWith(t, 3, false, withRPCAddr)
	g := c.openShow()
	c.holds(10, 1)
	c.waitDirectory("n1", "n2", "n3")

	// A follower's refusal names the leader, where its RPC server is, and
	// the term it leads in.
	lead := c.leader(g)
	term := lead.Stats()[g].Term
	for _, n := range c.live() {
		if n == lead {
			continue
		}
		_, err := n.Propose(context.Background(), g, &Command{Op: OpTick})
		var nle *NotLeaderError
		if !errors.As(err, &nle) || nle.LeaderID != lead.ID() || nle.LeaderRPCAddr != "rpc-"+lead.ID()+":7100" || nle.Term != term {
			t.Fatalf("Propose on follower %s = %v; want a NotLeaderError naming %s, its RPC address and term %d", n.ID(), err, lead.ID(), term)
		}
	}

	// A new node starts empty (no bootstrap) and is added to every group
	// by its leaders; it catches up, and announces its RPC address to the
	// meta leader.
	cfg := testNodeConfig("n4", t.TempDir(), "127.0.0.1:0")
	withRPCAddr(&cfg)
	n4, err := StartNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.nodes, c.cfgs = append(c.nodes, n4), append(c.cfgs, cfg)
	c.mu.Unlock()
	c.addToAll(func(n *Node) ([]uint16, error) { return n.AddVoter("n4", n4.Addr()) })
	for grp := uint16(1); grp <= 2; grp++ {
		c.converge(grp)
	}
	if v := voters(n4, g); !slices.Equal(v, []string{"n1", "n2", "n3", "n4"}) {
		t.Fatalf("voters after join = %v", v)
	}
	if p, ok := n4.Placement("show"); !ok || p != g {
		t.Fatalf("new node's placement of show = %d %v; want %d", p, ok, g)
	}
	c.waitDirectory("n1", "n2", "n3", "n4")

	// Leadership moves off a node on request.
	lead = c.leader(g)
	if err := lead.TransferLeadership(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for l := c.leaderNow(g); l == lead || l == nil; l = c.leaderNow(g) {
		if time.Now().After(deadline) {
			t.Fatal("leadership did not move")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Remove n1 from every group, then stop it gracefully.
	c.addToAll(func(n *Node) ([]uint16, error) { return n.RemoveServer("n1") })
	c.mu.Lock()
	n1 := c.nodes[0]
	c.nodes[0] = nil
	c.mu.Unlock()
	if err := n1.Shutdown(true); err != nil {
		t.Fatalf("graceful shutdown = %v", err)
	}
	c.waitLeaders()
	c.holds(10, 100)
	c.converge(g)
	c.waitDirectory("n2", "n3", "n4")
	for _, n := range c.live() {
		if v := voters(n, g); !slices.Equal(v, []string{"n2", "n3", "n4"}) {
			t.Fatalf("%s: voters after removing n1 = %v", n.ID(), v)
		}
	}
}

// TestLeadersSpread: with more groups than nodes, no node keeps more than
// its share of leaderships for long.
func TestLeadersSpread(t *testing.T) {
	// Bootstrapping from one node makes it win every first election: the
	// others learn the configuration from it.
	c := startTestClusterWith(t, 3, true, func(cfg *NodeConfig) {
		cfg.Groups, cfg.BalanceInterval = 5, 100*time.Millisecond
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		counts := map[string]int{}
		for g := 0; g <= 5; g++ {
			if l := c.leaderNow(uint16(g)); l != nil {
				counts[l.ID()]++
			}
		}
		worst := 0
		for _, n := range counts {
			worst = max(worst, n)
		}
		if worst <= 2 && len(counts) == 3 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("leaders of 6 groups on 3 nodes still %v", counts)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// countHandler counts the log records with one message.
type countHandler struct {
	msg string
	n   *atomic.Int64
}

func (h countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h countHandler) WithGroup(string) slog.Handler            { return h }
func (h countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}

// TestBalanceSkipsSilentVoters: with a voter down, the survivors keep its
// groups instead of handing them to it (each such transfer would stop a
// group's writes for an election timeout, every balance interval, and
// fail); once it answers again it gets its share.
func TestBalanceSkipsSilentVoters(t *testing.T) {
	var failed atomic.Int64
	c := startTestClusterWith(t, 3, false, func(cfg *NodeConfig) {
		cfg.BalanceInterval = 50 * time.Millisecond
		cfg.Log = slog.New(countHandler{msg: "leadership_balance_failed", n: &failed})
	})
	c.kill(2)
	c.waitLeaders()
	time.Sleep(2 * c.cfgs[0].HeartbeatTimeout) // n3's last answers go stale
	before := failed.Load()
	time.Sleep(2 * time.Second)
	if n := failed.Load() - before; n != 0 {
		t.Fatalf("%d leadership transfers failed in 2 s with n3 down; want none tried", n)
	}
	c.restart(2)
	for deadline := time.Now().Add(15 * time.Second); ; {
		led := map[string]int{}
		for g := 0; g <= c.cfgs[0].Groups; g++ {
			if l := c.leaderNow(uint16(g)); l != nil {
				led[l.ID()]++
			}
		}
		if led["n1"] == 1 && led["n2"] == 1 && led["n3"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("leaders %v after n3 came back; want one group each", led)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ledBy counts the groups (meta included) each node leads.
func (c *testCluster) ledBy() map[string]int {
	led := map[string]int{}
	for g := 0; g <= c.cfgs[0].Groups; g++ {
		if l := c.leaderNow(uint16(g)); l != nil {
			led[l.ID()]++
		}
	}
	return led
}

// setDrained runs SetDrained on the meta leader, following it as it moves.
func (c *testCluster) setDrained(id string, on bool) error {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		l := c.leaderNow(MetaGroup)
		if l == nil {
			continue
		}
		err := l.SetDrained(id, on)
		if !errors.Is(err, ErrNotLeader) || time.Now().After(deadline) {
			return err
		}
	}
}

// TestDrain: a drained node hands over every group it leads and is given
// none by the balancer for as long as it stays drained, the mark reaching
// every replica; undrained, it gets its share back. Draining refuses a
// non-member, a follower of the meta group, and the last undrained voter;
// no group is handed to a drained node. Fails without the balancer's
// drain rules (the drained node keeps or gets its share back within a
// few intervals).
func TestDrain(t *testing.T) {
	c := startTestClusterWith(t, 3, false, func(cfg *NodeConfig) {
		cfg.Groups, cfg.BalanceInterval = 5, 100*time.Millisecond
	})
	waitLed := func(what string, ok func(map[string]int) bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !ok(c.ledBy()); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s never happened: leaders %v", what, c.ledBy())
			}
		}
	}
	waitLed("n1 leading a group", func(led map[string]int) bool { return led["n1"] > 0 })

	for _, n := range c.live() {
		if n.ID() == c.leader(MetaGroup).ID() {
			continue
		}
		if err := n.SetDrained("n1", true); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("%s (meta follower): SetDrained = %v; want ErrNotLeader", n.ID(), err)
		}
		break
	}
	if err := c.setDrained("n9", true); !errors.Is(err, ErrNotMember) {
		t.Fatalf("SetDrained(n9) = %v; want ErrNotMember", err)
	}
	if err := c.setDrained("n1", true); err != nil {
		t.Fatal(err)
	}
	waitLed("n1 leading nothing", func(led map[string]int) bool { return led["n1"] == 0 && led["n2"]+led["n3"] == 6 })
	for i := 0; i < 10; i++ { // ten balance intervals
		time.Sleep(100 * time.Millisecond)
		if led := c.ledBy(); led["n1"] != 0 {
			t.Fatalf("drained n1 leads again: %v", led)
		}
	}
	for _, n := range c.live() {
		if !n.Drained() != (n.ID() != "n1") || !slices.Equal(n.DrainedNodes(), []string{"n1"}) {
			t.Fatalf("%s: Drained() = %v, DrainedNodes() = %v", n.ID(), n.Drained(), n.DrainedNodes())
		}
	}
	// Two drains at once, each passing the leader's check alone: the log
	// takes one and refuses the other, so a voter is left to lead.
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, id := range []string{"n2", "n3"} {
		wg.Go(func() { errs[i] = c.setDrained(id, true) })
	}
	wg.Wait()
	won := "n2"
	switch {
	case errs[0] == nil && errors.Is(errs[1], ErrLastVoter):
	case errs[1] == nil && errors.Is(errs[0], ErrLastVoter):
		won = "n3"
	default:
		t.Fatalf("SetDrained(n2), SetDrained(n3) at once = %v, %v; want one done and one ErrLastVoter", errs[0], errs[1])
	}
	want := slices.Sorted(slices.Values([]string{"n1", won}))
	if d := c.leader(MetaGroup).DrainedNodes(); !slices.Equal(d, want) {
		t.Fatalf("drained %v after two drains at once; want %v", d, want)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if !slices.ContainsFunc(c.live(), func(n *Node) bool { return !slices.Equal(n.DrainedNodes(), want) }) {
			break // every replica has the marks the removal is checked against
		}
		if time.Now().After(deadline) {
			t.Fatalf("the drain marks %v never reached every replica", want)
		}
	}
	last := map[string]string{"n2": "n3", "n3": "n2"}[won]
	// Nor may the last undrained voter be removed: the drained ones would
	// be left to lead.
	for g := uint16(0); g <= 5; g++ {
		err := c.onLeader(g, func(l *Node) error { _, err := l.RemoveServer(last); return err })
		if !errors.Is(err, ErrLastVoter) {
			t.Fatalf("group %d: RemoveServer(%s, the last undrained voter) = %v; want ErrLastVoter", g, last, err)
		}
	}
	if err := c.setDrained(won, false); err != nil {
		t.Fatal(err)
	}
	g := uint16(1)
	if err := c.onLeader(g, func(l *Node) error { return l.TransferGroup(g, "n1") }); !errors.Is(err, ErrDrained) {
		t.Fatalf("TransferGroup(to drained n1) = %v; want ErrDrained", err)
	}

	if err := c.setDrained("n1", false); err != nil {
		t.Fatal(err)
	}
	waitLed("n1 given its share back", func(led map[string]int) bool { return led["n1"] == 2 && led["n2"] == 2 && led["n3"] == 2 })
}

// TestRemoveLastVoter: a node will not remove a group's only voter (the
// group could never elect a leader again), and the refusal changes
// nothing.
func TestRemoveLastVoter(t *testing.T) {
	c := startTestCluster(t, 1)
	n := c.nodes[0]
	if _, err := n.RemoveServer("n1"); !errors.Is(err, ErrLastVoter) {
		t.Fatalf("RemoveServer(the only voter) = %v; want ErrLastVoter", err)
	}
	for g := uint16(0); g <= 2; g++ {
		if v := voters(n, g); !slices.Equal(v, []string{"n1"}) {
			t.Fatalf("group %d: voters %v after a refused removal; want [n1]", g, v)
		}
	}
}

// TestRemoveKeepsLiveMajority: with one of three nodes down, removing a
// live one would leave the dead node and one live node, no majority, and
// every group would stop: it is refused, naming the silent voter, and the
// groups keep their voters. Removing the dead node itself is allowed.
// Fails without the check (the removal goes through and no group can
// commit).
func TestRemoveKeepsLiveMajority(t *testing.T) {
	c := startTestClusterWith(t, 3, false, func(cfg *NodeConfig) { cfg.Groups = 2 })
	c.waitLeaders()
	c.kill(2) // n3
	for g := uint16(0); g <= 2; g++ {
		c.leader(g) // every group has a leader among n1, n2
	}
	time.Sleep(3 * c.cfgs[0].HeartbeatTimeout) // n3's last answer is older than a heartbeat timeout
	for g := uint16(0); g <= 2; g++ {
		var other string
		err := c.onLeader(g, func(l *Node) error {
			other = "n1"
			if l.ID() == "n1" {
				other = "n2"
			}
			_, err := l.RemoveServer(other)
			return err
		})
		if !errors.Is(err, ErrNoLiveMajority) || !strings.Contains(err.Error(), "n3") {
			t.Fatalf("group %d: RemoveServer(%s, live) with n3 down = %v; want ErrNoLiveMajority naming n3", g, other, err)
		}
		if v := voters(c.leader(g), g); !slices.Equal(v, []string{"n1", "n2", "n3"}) {
			t.Fatalf("group %d: voters %v after a refused removal; want all three", g, v)
		}
	}
	c.addToAll(func(n *Node) ([]uint16, error) { return n.RemoveServer("n3") })
	for g := uint16(0); g <= 2; g++ {
		if v := voters(c.leader(g), g); !slices.Equal(v, []string{"n1", "n2"}) {
			t.Fatalf("group %d: voters %v after removing the dead n3; want n1, n2", g, v)
		}
	}
}
