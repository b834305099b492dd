package seatclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/endpoint"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/server"

	"seatd/inventory"
	rpc "seatd/kitex_gen/inventoryrpc"
	invsvc "seatd/kitex_gen/inventoryrpc/inventory"
	"seatd/noderpc"
	"seatd/raftfsm"
)

type testNode struct {
	node    *raftfsm.Node
	svr     server.Server
	rpcAddr string
}

// dropFirstHold makes the first PlaceHold or PlaceHolds call that
// reaches any node take effect and then lose its response, as when a
// leader dies right after committing: the caller cannot know whether the
// hold was placed.
var dropFirstHold atomic.Bool

// holdGate, when set, keeps PlaceHolds and ReleaseHolds calls at the
// server until it is closed.
var holdGate atomic.Pointer[chan struct{}]

// frozen, when set for a node's RPC address, keeps every call to that
// node at its server until it is closed, as if the process were stopped.
var frozen sync.Map // RPC address -> chan struct{}

// freezable keeps calls to the node at addr while frozen says so.
func freezable(addr string) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req, resp any) error {
			if gate, ok := frozen.Load(addr); ok {
				<-gate.(chan struct{})
			}
			return next(ctx, req, resp)
		}
	}
}

func lossyMiddleware(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, req, resp any) error {
		method := rpcinfo.GetRPCInfo(ctx).To().Method()
		if gate := holdGate.Load(); gate != nil && (method == "PlaceHolds" || method == "ReleaseHolds") {
			<-*gate
		}
		err := next(ctx, req, resp)
		if (method == "PlaceHold" || method == "PlaceHolds") && dropFirstHold.CompareAndSwap(true, false) {
			return errors.New("response lost")
		}
		return err
	}
}

func startCluster(t *testing.T, n int, tune ...func(*raftfsm.NodeConfig)) []*testNode {
	var nodes []*testNode
	var peers []raftfsm.Peer
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg := raftfsm.NodeConfig{
			ID: fmt.Sprintf("n%d", i+1), Dir: t.TempDir(), Addr: "127.0.0.1:0", Groups: 2, RPCAddr: ln.Addr().String(),
			HeartbeatTimeout: 150 * time.Millisecond, ElectionTimeout: 150 * time.Millisecond,
		}
		for _, f := range tune {
			f(&cfg)
		}
		node, err := raftfsm.StartNode(cfg)
		if err != nil {
			t.Fatal(err)
		}
		handler, err := noderpc.New(node, noderpc.Config{})
		if err != nil {
			t.Fatal(err)
		}
		svr := invsvc.NewServer(handler, server.WithListener(ln), server.WithExitWaitTime(time.Millisecond),
			server.WithMiddleware(freezable(ln.Addr().String())), server.WithMiddleware(lossyMiddleware))
		go svr.Run()
		nodes = append(nodes, &testNode{node: node, svr: svr, rpcAddr: ln.Addr().String()})
		peers = append(peers, raftfsm.Peer{ID: node.ID(), Addr: node.Addr()})
	}
	nodes[0].node.Bootstrap(peers)
	t.Cleanup(func() {
		for _, tn := range nodes {
			if tn.svr != nil {
				tn.svr.Stop()
				tn.node.Shutdown(false)
			}
		}
	})
	return nodes
}

func newClient(t *testing.T, nodes []*testNode) *Client {
	var seeds []string
	for _, tn := range nodes {
		seeds = append(seeds, tn.rpcAddr)
	}
	c, err := New(Config{Seeds: seeds})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func code(st *rpc.Status) string {
	if st.Route != rpc.Route_OK {
		return st.Route.String()
	}
	return st.CodeName
}

func arena() *rpc.ProgramSpec {
	row := &rpc.Row{Id: "1", Rank: 1}
	for c := int32(1); c <= 20; c++ {
		row.Seats = append(row.Seats, &rpc.Seat{Col: c, Category: "a"})
	}
	return &rpc.ProgramSpec{Id: "show", MaxSeatsPerUser: 20, Categories: []*rpc.Category{{Id: "a", PriceCents: 100}},
		Sections: []*rpc.Section{{Id: "A", Rows: []*rpc.Row{row}}}}
}

func TestRoutingExactlyOnce(t *testing.T) {
	nodes := startCluster(t, 3)
	c := newClient(t, nodes)
	ctx := context.Background()
	// Until every group has a leader with its duties running, calls are
	// refused and retried by the client.
	cp, err := c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: arena()})
	if err != nil || code(cp.Status) != "ok" {
		t.Fatalf("CreateProgram = %v, %v", cp, err)
	}
	if r, err := c.SetSale(ctx, &rpc.SetSaleRequest{ProgramId: "show", Open: true}); err != nil || code(r.Status) != "ok" {
		t.Fatalf("SetSale = %v, %v", r, err)
	}

	// An ambiguous failure: the hold is placed, its answer lost. The retry
	// carries the same request id and gets the same hold back.
	dropFirstHold.Store(true)
	h, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: 7, Count: 2})
	if err != nil || code(h.Status) != "ok" {
		t.Fatalf("PlaceHold = %v, %v", h, err)
	}
	if dropFirstHold.Load() {
		t.Fatal("the lossy middleware never fired")
	}
	if !h.Replayed {
		t.Fatal("the retried hold was not recognised as a replay")
	}
	av, _ := c.Availability(ctx, &rpc.AvailabilityRequest{ProgramId: "show", Consistent: true})
	if av.Categories[0].Held != 2 {
		t.Fatalf("%d seats held after one retried hold of 2; want 2", av.Categories[0].Held)
	}

	// The leader of the program's group goes away; the client follows.
	group := int32(cp.Status.Group)
	var stopped string
	for _, tn := range nodes {
		for _, g := range tn.node.Stats() {
			if int32(g.Group) == group && g.State == "Leader" {
				stopped = tn.node.ID()
				tn.svr.Stop()
				tn.node.Shutdown(false)
				tn.svr = nil
			}
		}
		if stopped != "" {
			break
		}
	}
	if stopped == "" {
		t.Fatal("no leader found for the program's group")
	}
	for i := range 5 {
		r, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: uint64ToUser(i), Count: 1})
		if err != nil || code(r.Status) != "ok" {
			t.Fatalf("PlaceHold after %s stopped = %v, %v", stopped, r, err)
		}
	}
	h2, err := c.GetHold(ctx, &rpc.GetHoldRequest{HoldId: h.Hold.HoldId, Consistent: true})
	if err != nil || code(h2.Status) != "ok" || h2.Hold.Status != inventory.HoldHeld.String() {
		t.Fatalf("GetHold on the new leader = %v, %v", h2, err)
	}
}

func uint64ToUser(i int) int64 { return int64(100 + i) }

// TestRoutingFromOneSeed: a client that knows one node reaches a leader
// elsewhere through the node directory (the not-leader answer names the
// leader's RPC address, and cluster status lists every member), and runs
// membership changes on every group's leader.
func TestRoutingFromOneSeed(t *testing.T) {
	nodes := startCluster(t, 3)
	c, err := New(Config{Seeds: []string{nodes[0].rpcAddr}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cp, err := c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: arena()})
	if err != nil || code(cp.Status) != "ok" {
		t.Fatalf("CreateProgram = %v, %v", cp, err)
	}
	// Move the program's group off the seed.
	group := uint16(cp.Status.Group)
	for deadline := time.Now().Add(15 * time.Second); ; {
		if nodes[0].node.Stats()[group].State != "Leader" {
			break
		}
		nodes[0].node.TransferLeadership()
		if time.Now().After(deadline) {
			t.Fatal("the seed keeps leading the program's group")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r, err := c.SetSale(ctx, &rpc.SetSaleRequest{ProgramId: "show", Open: true}); err != nil || code(r.Status) != "ok" {
		t.Fatalf("SetSale = %v, %v", r, err)
	}
	if r, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: 1, Count: 1}); err != nil || code(r.Status) != "ok" {
		t.Fatalf("PlaceHold = %v, %v", r, err)
	}
	want := fmt.Sprint([]string{"n1=" + nodes[0].rpcAddr, "n2=" + nodes[1].rpcAddr, "n3=" + nodes[2].rpcAddr})
	for deadline := time.Now().Add(10 * time.Second); ; {
		st, err := c.ClusterStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var listed []string
		for _, n := range st.Nodes {
			listed = append(listed, n.Id+"="+n.RpcAddr)
		}
		if fmt.Sprint(listed) == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster status lists nodes %v; want %v", listed, want)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Remove n3 through the one-seed client: every group loses it,
	// whichever node leads it.
	if err := c.Remove(ctx, "n3"); err != nil {
		t.Fatalf("Remove(n3) = %v", err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; {
		done := true
		for _, g := range nodes[0].node.Stats() {
			done = done && len(g.Voters) == 2
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n3 still a voter: %v", nodes[0].node.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := c.Remove(ctx, ""); err == nil {
		t.Fatal("Remove(no id) = nil; want a bad request")
	}
}

// openShow creates the arena program "show" and opens its sale.
func openShow(t *testing.T, c *Client) {
	t.Helper()
	ctx := context.Background()
	if cp, err := c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: arena()}); err != nil || code(cp.Status) != "ok" {
		t.Fatalf("CreateProgram = %v, %v", cp, err)
	}
	if r, err := c.SetSale(ctx, &rpc.SetSaleRequest{ProgramId: "show", Open: true}); err != nil || code(r.Status) != "ok" {
		t.Fatalf("SetSale = %v, %v", r, err)
	}
}

// TestHoldsTravelTogether: while the one call allowed to the node is
// under way, holds wait and then leave together in the next call; a
// caller that gives up takes its hold out of the queue, and a full queue
// answers ErrOverloaded at once.
func TestHoldsTravelTogether(t *testing.T) {
	nodes := startCluster(t, 1)
	// The gated call must not time out while the test fills the queue.
	c, err := New(Config{Seeds: []string{nodes[0].rpcAddr}, HoldCallsPerNode: 1, MaxQueuedHolds: 12, AttemptTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	openShow(t, c)
	// The first hold finds its way (and the leader) through the routing loop.
	if r, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: 1, Count: 1}); err != nil || code(r.Status) != "ok" {
		t.Fatalf("PlaceHold = %v, %v", r, err)
	}
	base := c.Stats()
	b := c.batchers(nodes[0].rpcAddr).holds
	waiting := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; {
			b.mu.Lock()
			got := len(b.waiting)
			b.mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d holds waiting; want %d", got, n)
			}
			time.Sleep(time.Millisecond)
		}
	}

	gate := make(chan struct{})
	holdGate.Store(&gate)
	defer holdGate.Store(nil)
	results := make(chan error, 32)
	hold := func(ctx context.Context, user int64) {
		r, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: user, Count: 1})
		if err == nil && code(r.Status) != "ok" {
			err = fmt.Errorf("hold for %d: %v", user, r.Status)
		}
		results <- err
	}
	go hold(ctx, 2) // leaves at once, and waits at the gate
	waiting(0)
	for deadline := time.Now().Add(5 * time.Second); c.Stats().HoldCalls == base.HoldCalls; {
		if time.Now().After(deadline) {
			t.Fatal("the first batched hold never left")
		}
		time.Sleep(time.Millisecond)
	}
	quitter, quit := context.WithCancel(ctx)
	go hold(quitter, 3)
	waiting(1)
	for user := range 11 {
		go hold(ctx, int64(user+10))
	}
	waiting(12)
	if _, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: 99, Count: 1}); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("PlaceHold(queue full) = %v; want ErrOverloaded", err)
	}
	quit()
	if err := <-results; !errors.Is(err, context.Canceled) {
		t.Fatalf("the abandoned hold = %v; want context.Canceled", err)
	}
	waiting(11)
	close(gate)
	for range 12 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	st := c.Stats()
	if calls, holds := st.HoldCalls-base.HoldCalls, st.BatchedHolds-base.BatchedHolds; calls != 2 || holds != 12 {
		t.Fatalf("%d holds in %d calls; want 12 in 2 (1, then 11 together)", holds, calls)
	}
	av, err := c.Availability(ctx, &rpc.AvailabilityRequest{ProgramId: "show", Consistent: true})
	if err != nil || av.Categories[0].Held != 13 {
		t.Fatalf("Availability = %v, %v; want 13 held (the abandoned hold never sent)", av, err)
	}
}

// TestReleasesTravelTogether: releases batch as holds do. While the one
// release call allowed to the node is under way the rest wait and leave
// together; each gets its own answer, a bad one and one of an unknown
// hold among them, and the others take effect.
func TestReleasesTravelTogether(t *testing.T) {
	nodes := startCluster(t, 1)
	c, err := New(Config{Seeds: []string{nodes[0].rpcAddr}, HoldCallsPerNode: 1, AttemptTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	openShow(t, c)
	var ids []int64
	for user := range int64(11) {
		r, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: user + 1, Count: 1})
		if err != nil || code(r.Status) != "ok" {
			t.Fatalf("PlaceHold = %v, %v", r, err)
		}
		ids = append(ids, r.Hold.HoldId)
	}
	base := c.Stats()
	b := c.batchers(nodes[0].rpcAddr).releases
	gate := make(chan struct{})
	holdGate.Store(&gate)
	defer holdGate.Store(nil)
	type answer struct {
		i    int
		resp *rpc.HoldResponse
		err  error
	}
	answers := make(chan answer, 16)
	release := func(i int, req *rpc.ReleaseRequest) {
		r, err := c.Release(ctx, req)
		answers <- answer{i, r, err}
	}
	// The first leaves at once and waits at the gate; the rest queue: the
	// holds of users 2-10, one of them by another user (not its owner), a
	// bad reason, and a hold that does not exist.
	go release(0, &rpc.ReleaseRequest{HoldId: ids[0], UserId: 1})
	for deadline := time.Now().Add(5 * time.Second); c.Stats().ReleaseCalls == base.ReleaseCalls; {
		if time.Now().After(deadline) {
			t.Fatal("the first release never left")
		}
		time.Sleep(time.Millisecond)
	}
	reqs := map[int]*rpc.ReleaseRequest{}
	for i := 1; i < 10; i++ {
		reqs[i] = &rpc.ReleaseRequest{HoldId: ids[i], UserId: int64(i + 1)}
	}
	reqs[5].UserId = 99                                                          // not the owner
	reqs[10] = &rpc.ReleaseRequest{HoldId: ids[10], UserId: 11, Reason: "bored"} // bad reason
	reqs[11] = &rpc.ReleaseRequest{HoldId: ids[10] + 1024, UserId: 11}           // no such hold
	for i, req := range reqs {
		go release(i, req)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		b.mu.Lock()
		n := len(b.waiting)
		b.mu.Unlock()
		if n == len(reqs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d releases waiting; want %d", n, len(reqs))
		}
	}
	close(gate)
	want := map[int]string{5: "not_owner", 10: "BAD_REQUEST", 11: "hold_not_found"}
	for range len(reqs) + 1 {
		a := <-answers
		if a.err != nil {
			t.Fatalf("release %d: %v", a.i, a.err)
		}
		w, ok := want[a.i]
		if !ok {
			w = "ok"
		}
		got := code(a.resp.Status)
		if a.resp.Status.Route == rpc.Route_BAD_REQUEST {
			got = "BAD_REQUEST"
		}
		if got != w {
			t.Errorf("release %d = %v; want %s", a.i, a.resp.Status, w)
		}
		if w == "ok" && (a.resp.Hold == nil || a.resp.Hold.HoldId != ids[a.i] || a.resp.Hold.Status != "RELEASED") {
			t.Errorf("release %d answered hold %v; want hold %d RELEASED", a.i, a.resp.Hold, ids[a.i])
		}
	}
	st := c.Stats()
	if calls, n := st.ReleaseCalls-base.ReleaseCalls, st.BatchedReleases-base.BatchedReleases; calls != 2 || n != 12 {
		t.Fatalf("%d releases in %d calls; want 12 in 2 (1, then 11 together)", n, calls)
	}
	av, err := c.Availability(ctx, &rpc.AvailabilityRequest{ProgramId: "show", Consistent: true})
	if err != nil || av.Categories[0].Held != 2 {
		t.Fatalf("Availability = %v, %v; want 2 held (the hold of another user's release, and the badly released)", av, err)
	}
}

// TestCreateAwayFromMetaLeader: with the meta group and each inventory
// group led by a different node, the leader of every new program's group
// learns of the placement from the meta leader's log. Every create
// succeeds at once, through a client with the default settings as the
// gateway has them; a repeat answers program_exists on the same group;
// and the program reads back at once, also through a client that never
// saw the create.
func TestCreateAwayFromMetaLeader(t *testing.T) {
	nodes := startCluster(t, 3, func(cfg *raftfsm.NodeConfig) { cfg.BalanceInterval = 100 * time.Millisecond })
	// Three groups (meta and two inventory groups) on three nodes: the
	// balancer gives each node one. Every node's directory lists all three.
	spread := func() bool {
		leaders := map[string]bool{}
		for _, g := range nodes[0].node.Stats() {
			leaders[g.LeaderID] = true
		}
		writable := 0
		for _, tn := range nodes {
			if len(tn.node.Directory()) != 3 {
				return false
			}
			for _, g := range tn.node.Stats() {
				if g.Writable {
					writable++
				}
			}
		}
		return len(leaders) == 3 && !leaders[""] && writable == 3
	}
	for deadline := time.Now().Add(20 * time.Second); !spread(); {
		if time.Now().After(deadline) {
			t.Fatalf("leaders not spread one group a node: %v", nodes[0].node.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var seeds []string
	for _, tn := range nodes {
		seeds = append(seeds, tn.rpcAddr)
	}
	c, err := New(Config{Seeds: seeds})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	groups := map[int32]int{}
	for i := range 40 {
		spec := arena()
		spec.Id = fmt.Sprintf("show-%d", i)
		start := time.Now()
		cp, err := c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: spec})
		if err != nil || code(cp.Status) != "ok" {
			t.Fatalf("CreateProgram(%s) = %v, %v after %v", spec.Id, cp, err, time.Since(start))
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("CreateProgram(%s) took %v", spec.Id, d)
		}
		groups[cp.Status.Group]++
		for range 2 {
			again, err := c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: spec})
			if err != nil || code(again.Status) != "program_exists" || again.Status.Group != cp.Status.Group {
				t.Fatalf("CreateProgram(%s) again = %v, %v; want program_exists on group %d", spec.Id, again, err, cp.Status.Group)
			}
		}
		fresh, err := New(Config{Seeds: seeds})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []*Client{c, fresh} {
			gp, err := r.GetProgram(ctx, &rpc.GetProgramRequest{ProgramId: spec.Id})
			if err != nil || code(gp.Status) != "ok" || gp.Status.Group != cp.Status.Group {
				t.Fatalf("GetProgram(%s) right after its create = %v, %v", spec.Id, gp, err)
			}
			if got, _, err := inventory.ReadProgramSpec(gp.Spec); err != nil || got.ID != spec.Id {
				t.Fatalf("GetProgram(%s) right after its create = %v, %v", spec.Id, gp, err)
			}
		}
	}
	if !spread() {
		t.Fatalf("leaders moved during the test: %v", nodes[0].node.Stats())
	}
	if groups[1] != 20 || groups[2] != 20 {
		t.Fatalf("programs per group %v; want 20 on each", groups)
	}
}

// TestLeaderStopsAnswering: the leader of the program's group stops
// answering RPCs (its server holds every call, as a stopped process
// would) while raft hands its groups to another node. Holds from 8
// callers resume within an AttemptTimeout and a little, not after the
// callers' deadlines: the silent node becomes suspect, the holds queued
// for it come back, and probes of the other nodes find the new leader by
// its newer term. The silent node gets nothing until it answers again.
func TestLeaderStopsAnswering(t *testing.T) {
	nodes := startCluster(t, 3)
	var seeds []string
	for _, tn := range nodes {
		seeds = append(seeds, tn.rpcAddr)
	}
	c, err := New(Config{Seeds: seeds}) // the defaults, as the gateway has them
	attempt := c.cfg.AttemptTimeout
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	spec := arena()
	spec.Sections[0].Rows[0].Seats = nil
	for col := range int32(1000) {
		spec.Sections[0].Rows[0].Seats = append(spec.Sections[0].Rows[0].Seats, &rpc.Seat{Col: col + 1, Category: "a"})
	}
	cp, err := c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: spec})
	if err != nil || code(cp.Status) != "ok" {
		t.Fatalf("CreateProgram = %v, %v", cp, err)
	}
	if r, err := c.SetSale(ctx, &rpc.SetSaleRequest{ProgramId: "show", Open: true}); err != nil || code(r.Status) != "ok" {
		t.Fatalf("SetSale = %v, %v", r, err)
	}
	var mu sync.Mutex
	var acks []time.Time
	var next atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				r, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: next.Add(1), Count: 1})
				cancel()
				if err == nil && code(r.Status) == "ok" {
					mu.Lock()
					acks = append(acks, time.Now())
					mu.Unlock()
				}
			}
		})
	}
	acked := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acks)
	}
	for deadline := time.Now().Add(10 * time.Second); acked() < 50; {
		if time.Now().After(deadline) {
			t.Fatal("holds never started flowing")
		}
		time.Sleep(10 * time.Millisecond)
	}

	var silent *testNode
	for _, tn := range nodes {
		if tn.node.Stats()[cp.Status.Group].Writable {
			silent = tn
		}
	}
	gate := make(chan struct{})
	frozen.Store(silent.rpcAddr, gate)
	defer func() {
		frozen.Delete(silent.rpcAddr)
		close(gate)
	}()
	fault := time.Now()
	if err := silent.node.TransferLeadership(); err != nil {
		t.Fatalf("TransferLeadership = %v", err)
	}
	// Wait until holds flow again, then a second more: none may wait on
	// the silent node.
	for deadline := time.Now().Add(10 * time.Second); ; {
		mu.Lock()
		last := acks[len(acks)-1]
		mu.Unlock()
		if time.Since(last) < 20*time.Millisecond && time.Since(fault) > attempt {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("holds did not resume after the leader stopped answering")
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := acked()
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	var stall time.Duration
	for i := 1; i < len(acks); i++ {
		if acks[i].After(fault) {
			stall = max(stall, acks[i].Sub(acks[i-1]))
		}
	}
	t.Logf("holds stalled %v when the leader stopped answering; %d acknowledged in the next second", stall.Round(time.Millisecond), acked()-before)
	if stall > attempt+time.Second {
		t.Fatalf("holds stalled %v when the leader stopped answering; want at most AttemptTimeout (%v) and a second", stall, attempt)
	}
	if n := acked() - before; n < 100 {
		t.Fatalf("%d holds acknowledged in the second after failover; want a steady flow", n)
	}
}

// TestClusterStatusAroundFrozenSeed: with the first seed frozen (its
// server takes calls and never answers, as a stopped process does),
// cluster status comes from another node within about one
// AttemptTimeout. Asked in turn, the first seed kept every status call
// until the caller's deadline.
func TestClusterStatusAroundFrozenSeed(t *testing.T) {
	nodes := startCluster(t, 3)
	c := newClient(t, nodes)
	ctx := context.Background()
	if _, err := c.ClusterStatus(ctx); err != nil {
		t.Fatalf("ClusterStatus = %v", err)
	}
	gate := make(chan struct{})
	frozen.Store(nodes[0].rpcAddr, gate)
	defer func() {
		frozen.Delete(nodes[0].rpcAddr)
		close(gate)
	}()
	for range 3 {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		start := time.Now()
		st, err := c.ClusterStatus(ctx)
		cancel()
		if err != nil || st.NodeId == "n1" {
			t.Fatalf("ClusterStatus with n1 frozen = %v, %v after %v; want another node's answer", st, err, time.Since(start))
		}
		if d := time.Since(start); d > c.cfg.AttemptTimeout {
			t.Fatalf("ClusterStatus with n1 frozen took %v; want at most AttemptTimeout (%v)", d, c.cfg.AttemptTimeout)
		}
	}
}

// TestNoFalseNotFound: right after a create, every node's plain read of
// the program, followers' included, answers it or sends the caller to
// the leader, and never says that it does not exist: "no such program"
// is final for callers, and a follower (or a new leader before its
// barrier) may not have applied the create yet.
func TestNoFalseNotFound(t *testing.T) {
	nodes := startCluster(t, 3)
	c := newClient(t, nodes)
	ctx := context.Background()
	var direct []invsvc.Client
	for _, tn := range nodes {
		cl, err := invsvc.NewClient("seatd", client.WithHostPorts(tn.rpcAddr), client.WithRPCTimeout(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		direct = append(direct, cl)
	}
	for i := range 20 {
		spec := arena()
		spec.Id = fmt.Sprintf("fresh-%d", i)
		if cp, err := c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: spec}); err != nil || code(cp.Status) != "ok" {
			t.Fatalf("CreateProgram = %v, %v", cp, err)
		}
		var wg sync.WaitGroup
		for n, cl := range direct {
			wg.Go(func() {
				r, err := cl.GetProgram(ctx, &rpc.GetProgramRequest{ProgramId: spec.Id, SaleOnly: true})
				if err == nil && code(r.Status) == "program_not_found" {
					t.Errorf("GetProgram(%s) on n%d right after its create = program_not_found", spec.Id, n+1)
				}
			})
		}
		wg.Wait()
	}
}

// TestSuspectDropsQueuedReleases: releases waiting in a node's batcher
// come back unsent, to be routed again, when the node becomes suspect,
// as holds do; they would otherwise wait behind its unanswered calls.
func TestSuspectDropsQueuedReleases(t *testing.T) {
	c, err := New(Config{Seeds: []string{"127.0.0.1:1"}, HoldCallsPerNode: 1})
	if err != nil {
		t.Fatal(err)
	}
	const addr = "127.0.0.1:1"
	b := c.batchers(addr)
	for _, calls := range []*int{&b.holds.calls, &b.releases.calls} {
		*calls = 1 // a call under way: what comes now waits
	}
	done := make(chan error, 2)
	go func() {
		_, err := b.releases.place(context.Background(), &rpc.ReleaseRequest{HoldId: 1, UserId: 1})
		done <- err
	}()
	go func() {
		_, err := b.holds.place(context.Background(), &rpc.HoldRequest{ProgramId: "show", UserId: 1, Count: 1})
		done <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		b.holds.mu.Lock()
		b.releases.mu.Lock()
		n := len(b.holds.waiting) + len(b.releases.waiting)
		b.releases.mu.Unlock()
		b.holds.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting; want a hold and a release", n)
		}
	}
	c.suspectNode(addr, errors.New("no answer"))
	for range 2 {
		select {
		case err := <-done:
			if !errors.Is(err, errNotSent) {
				t.Fatalf("a queued request answered %v; want errNotSent", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a request queued for a suspect node never came back")
		}
	}
}
