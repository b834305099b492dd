package noderpc

import (
	"context"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/server"

	"seatd/internal/clocktest"
	"seatd/inventory"
	rpc "seatd/kitex_gen/inventoryrpc"
	invsvc "seatd/kitex_gen/inventoryrpc/inventory"
	"seatd/raftfsm"
)

// startNode runs a one-node cluster behind a real Kitex server on
// loopback and returns a generated client for it, once the node takes
// writes on every group.
func startNode(t *testing.T, tune ...func(*raftfsm.NodeConfig, *Config)) invsvc.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := raftfsm.NodeConfig{
		ID: "n1", Dir: t.TempDir(), Addr: "127.0.0.1:0", Groups: 2, RPCAddr: ln.Addr().String(),
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond,
	}
	var scfg Config
	for _, f := range tune {
		f(&cfg, &scfg)
	}
	node, err := raftfsm.StartNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Bootstrap([]raftfsm.Peer{{ID: "n1", Addr: node.Addr()}}); err != nil {
		t.Fatal(err)
	}
	s, err := New(node, scfg)
	if err != nil {
		t.Fatal(err)
	}
	svr := invsvc.NewServer(s, server.WithListener(ln), server.WithExitWaitTime(time.Millisecond))
	go svr.Run()
	t.Cleanup(func() {
		svr.Stop()
		node.Shutdown(false)
	})
	c, err := invsvc.NewClient("seatd", client.WithHostPorts(ln.Addr().String()), client.WithRPCTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	waitWritable(t, c, 3)
	return c
}

// waitWritable waits until the node reports groups writable groups (its
// leader duties run after a barrier, a little after it becomes leader) and
// its own entry in the directory.
func waitWritable(t *testing.T, c invsvc.Client, groups int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := c.ClusterStatus(context.Background(), &rpc.ClusterStatusRequest{})
		writable := 0
		if err == nil {
			for _, g := range st.Groups {
				if g.Writable {
					writable++
				}
			}
		}
		if writable == groups && len(st.Nodes) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node does not take writes on its groups: %v %v", st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func arenaSpec() *rpc.ProgramSpec {
	spec := &rpc.ProgramSpec{Id: "show", Name: "Show", HoldTtlSeconds: 600,
		Categories: []*rpc.Category{{Id: "a", PriceCents: 5000}, {Id: "b", PriceCents: 3000}}}
	sec := &rpc.Section{Id: "A"}
	for r := int32(1); r <= 3; r++ {
		row := &rpc.Row{Id: string(rune('0' + r)), Rank: r}
		for c := int32(1); c <= 10; c++ {
			cat := "b"
			if r == 1 {
				cat = "a"
			}
			row.Seats = append(row.Seats, &rpc.Seat{Col: c, Category: cat})
		}
		sec.Rows = append(sec.Rows, row)
	}
	spec.Sections = []*rpc.Section{sec}
	return spec
}

// specOf decodes a program description as GetProgram and CreateProgram
// send it.
func specOf(t *testing.T, b []byte) inventory.ProgramSpec {
	t.Helper()
	spec, rest, err := inventory.ReadProgramSpec(b)
	if err != nil || len(rest) != 0 {
		t.Fatalf("ReadProgramSpec(%d bytes) = %v, %d bytes left", len(b), err, len(rest))
	}
	return spec
}

func code(st *rpc.Status) string {
	if st.Route != rpc.Route_OK {
		return st.Route.String()
	}
	return st.CodeName
}

func TestRPCEndToEnd(t *testing.T) {
	c := startNode(t)
	ctx := context.Background()

	cp, err := c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: arenaSpec()})
	if err != nil || code(cp.Status) != "ok" {
		t.Fatalf("CreateProgram = %v, %v", cp, err)
	}
	again, _ := c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: arenaSpec()})
	if code(again.Status) != "program_exists" {
		t.Fatalf("CreateProgram(again) = %v", again.Status)
	}
	// A create naming a group (as one the meta leader redirected does)
	// lands where the replicated placement says: the name is a hint.
	hinted := arenaSpec()
	hinted.Id = "hinted"
	if r, err := c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: hinted, Group: 1}); err != nil || code(r.Status) != "ok" || r.Status.Group != 2 {
		t.Fatalf("CreateProgram(hinted, group 1) = %v, %v; want ok on group 2, which had fewer programs", r, err)
	}
	bad := arenaSpec()
	bad.Id = "bad"
	bad.Sections[0].Rows[0].Seats[1].Col = 1
	if r, _ := c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: bad}); r.Status.Route != rpc.Route_BAD_REQUEST {
		t.Fatalf("CreateProgram(duplicate seat) = %v", r.Status)
	}
	if r, _ := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: 1, Count: 2}); code(r.Status) != "sale_not_open" {
		t.Fatalf("PlaceHold before the sale = %v", r.Status)
	}
	if r, _ := c.SetSale(ctx, &rpc.SetSaleRequest{ProgramId: "show", Open: true}); code(r.Status) != "ok" {
		t.Fatalf("SetSale = %v", r.Status)
	}
	gp, _ := c.GetProgram(ctx, &rpc.GetProgramRequest{ProgramId: "show"})
	if code(gp.Status) != "ok" || !gp.SaleOpen || len(specOf(t, gp.Spec).Layout.Sections[0].Rows) != 3 {
		t.Fatalf("GetProgram = %v", gp)
	}
	if so, _ := c.GetProgram(ctx, &rpc.GetProgramRequest{ProgramId: "show", SaleOnly: true}); code(so.Status) != "ok" || !so.SaleOpen || len(so.Spec) != 0 {
		t.Fatalf("GetProgram(sale only) = %v; want the sale state alone", so)
	}

	// Best-available, and the same request id again after it.
	rid := make([]byte, 16)
	rid[0] = 7
	h, err := c.PlaceHold(ctx, &rpc.HoldRequest{RequestId: rid, ProgramId: "show", UserId: 42, Category: "a", Count: 2, Together: true})
	if err != nil || code(h.Status) != "ok" || len(h.Hold.Seats) != 2 || h.Hold.Seats[0].Id != "A/1/5" || h.Hold.TotalCents != 10000 {
		t.Fatalf("PlaceHold = %v, %v", h, err)
	}
	if h.Hold.OrderNo%64 != 42 {
		t.Fatalf("order number %d does not end in the user's gene", h.Hold.OrderNo)
	}
	rep, _ := c.PlaceHold(ctx, &rpc.HoldRequest{RequestId: rid, ProgramId: "show", UserId: 42, Category: "a", Count: 2, Together: true})
	if !rep.Replayed || rep.Hold.HoldId != h.Hold.HoldId {
		t.Fatalf("PlaceHold(same request id) = %v; want the first hold", rep)
	}
	// Manual: a taken seat is named; a low expected price is refused.
	if r, _ := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: 43, SeatIds: []string{"A/1/1", "A/1/5"}}); code(r.Status) != "seat_taken" || r.Status.Detail != "A/1/5" {
		t.Fatalf("PlaceHold(taken seat) = %v", r.Status)
	}
	low := int64(100)
	if r, _ := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: 43, SeatIds: []string{"A/2/1"}, ExpectedTotalCents: &low}); code(r.Status) != "price_mismatch" {
		t.Fatalf("PlaceHold(low price) = %v", r.Status)
	}
	// Bad input changes nothing.
	for _, req := range []*rpc.HoldRequest{
		{ProgramId: "nope", UserId: 1, Count: 1},
		{ProgramId: "show", UserId: 1, Count: 0},
		{ProgramId: "show", UserId: 1, Count: 1000},
		{ProgramId: "show", UserId: 1, SeatIds: []string{"Z/9/9"}},
		{ProgramId: "show", UserId: 0, Count: 1},
		{ProgramId: "show", UserId: 1, Count: 1, RequestId: []byte{1, 2, 3}},
	} {
		if r, _ := c.PlaceHold(ctx, req); code(r.Status) == "ok" {
			t.Fatalf("PlaceHold(%v) succeeded", req)
		}
	}
	av, _ := c.Availability(ctx, &rpc.AvailabilityRequest{ProgramId: "show", Consistent: true})
	if code(av.Status) != "ok" || av.Categories[0].Held != 2 || av.Categories[0].Free != 8 || av.Categories[1].Free != 20 || av.Status.AppliedIndex == 0 {
		t.Fatalf("Availability = %v", av)
	}

	if r, _ := c.Confirm(ctx, &rpc.ConfirmRequest{HoldId: h.Hold.HoldId}); code(r.Status) != "ok" || r.Hold.Status != "CONFIRMED" {
		t.Fatalf("Confirm = %v", r)
	}
	if r, _ := c.Release(ctx, &rpc.ReleaseRequest{HoldId: h.Hold.HoldId, UserId: 42}); code(r.Status) != "hold_confirmed" {
		t.Fatalf("Release(confirmed) = %v", r.Status)
	}
	rf, _ := c.Refund(ctx, &rpc.RefundRequest{HoldId: h.Hold.HoldId, SeatIds: []string{"A/1/5"}})
	if code(rf.Status) != "ok" || rf.AmountCents != 5000 {
		t.Fatalf("Refund = %v", rf)
	}
	gh, _ := c.GetHold(ctx, &rpc.GetHoldRequest{HoldId: h.Hold.HoldId, Consistent: true})
	if code(gh.Status) != "ok" || !gh.Hold.Seats[0].Refunded || gh.Hold.Status != "CONFIRMED" {
		t.Fatalf("GetHold = %v", gh)
	}
	if r, _ := c.GetHold(ctx, &rpc.GetHoldRequest{HoldId: 99 << 10}); code(r.Status) != "hold_not_found" {
		t.Fatalf("GetHold(missing) = %v", r.Status)
	}
	if r, _ := c.Confirm(ctx, &rpc.ConfirmRequest{HoldId: 99<<10 | 1}); code(r.Status) != "hold_not_found" {
		t.Fatalf("Confirm(missing) = %v", r.Status)
	}

	if r, _ := c.Block(ctx, &rpc.BlockRequest{ProgramId: "show", SeatIds: []string{"A/3/1"}}); code(r.Status) != "ok" {
		t.Fatalf("Block = %v", r.Status)
	}
	sm, _ := c.SeatMap(ctx, &rpc.SeatMapRequest{ProgramId: "show"})
	// Seats in layout order: A/r/c is (r-1)*10 + c-1; 0 free, 2 sold, 3 blocked.
	st := sm.Statuses
	if code(sm.Status) != "ok" || len(st) != 30 || st[5] != 2 || st[4] != 3 || st[20] != 3 || st[11] != 0 {
		t.Fatalf("SeatMap = %v %v", sm.Status, st)
	}

	cs, _ := c.ClusterStatus(ctx, &rpc.ClusterStatusRequest{})
	if cs.NodeId != "n1" || len(cs.Groups) != 3 || len(cs.Placements) != 2 || cs.Placements[1].ProgramId != "show" {
		t.Fatalf("ClusterStatus = %v", cs)
	}
	if r, _ := c.Join(ctx, &rpc.JoinRequest{}); r.Status.Route != rpc.Route_BAD_REQUEST {
		t.Fatalf("Join(empty) = %v", r.Status)
	}
}

// TestRPCConfirmAfterExpiry: a hold not paid within its TTL is expired by
// the leader's ticker, and a late confirm is refused with hold_expired.
func TestRPCConfirmAfterExpiry(t *testing.T) {
	clock := clocktest.New(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	c := startNode(t, func(cfg *raftfsm.NodeConfig, _ *Config) {
		cfg.Clock = clock
		cfg.TickInterval = 20 * time.Millisecond
	})
	ctx := context.Background()
	openShow(t, c)
	h, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: 9, Count: 1})
	if err != nil || code(h.Status) != "ok" {
		t.Fatalf("PlaceHold = %v, %v", h, err)
	}
	clock.Advance(11 * time.Minute) // the program's TTL is 10 minutes
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, _ := c.GetHold(ctx, &rpc.GetHoldRequest{HoldId: h.Hold.HoldId, Consistent: true})
		if r.Hold != nil && r.Hold.Status == "RELEASED" && r.Hold.Reason == "expired" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hold not expired: %v", r)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r, _ := c.Confirm(ctx, &rpc.ConfirmRequest{HoldId: h.Hold.HoldId}); code(r.Status) != "hold_expired" {
		t.Fatalf("Confirm(after expiry) = %v", r.Status)
	}
	av, _ := c.Availability(ctx, &rpc.AvailabilityRequest{ProgramId: "show", Consistent: true})
	if av.Categories[0].Free+av.Categories[1].Free != 30 {
		t.Fatalf("seats not back on sale after expiry: %v", av.Categories)
	}
}

// TestRPCDefaultHoldTTL: a program created without a hold TTL gets the
// server's default, written into the command, so every replica has it.
func TestRPCDefaultHoldTTL(t *testing.T) {
	c := startNode(t, func(_ *raftfsm.NodeConfig, cfg *Config) { cfg.DefaultHoldTTL = 2 * time.Minute })
	ctx := context.Background()
	spec := arenaSpec()
	spec.HoldTtlSeconds = 0
	if r, err := c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: spec}); err != nil || code(r.Status) != "ok" {
		t.Fatalf("CreateProgram = %v, %v", r, err)
	}
	spec2 := arenaSpec()
	spec2.Id = "own-ttl"
	if r, err := c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: spec2}); err != nil || code(r.Status) != "ok" {
		t.Fatalf("CreateProgram = %v, %v", r, err)
	}
	for id, want := range map[string]int64{"show": 120, "own-ttl": 600} {
		r, err := c.GetProgram(ctx, &rpc.GetProgramRequest{ProgramId: id})
		if err != nil || code(r.Status) != "ok" || specOf(t, r.Spec).HoldTTL != time.Duration(want)*time.Second {
			t.Fatalf("GetProgram(%s) = %v, %v; want hold_ttl_seconds %d", id, r, err, want)
		}
	}
	if _, err := New(nil, Config{DefaultHoldTTL: time.Second}); err == nil {
		t.Fatal("New(default hold TTL 1s) = nil error; want out of range")
	}
}

// TestPlaceHolds: each hold of a batch gets its own answer; a request id
// repeated inside the batch gets the first hold back; an empty or
// oversize batch is refused whole and changes nothing.
// openShow creates the arena program "show" and opens its sale.
func openShow(t *testing.T, c invsvc.Client) {
	t.Helper()
	ctx := context.Background()
	if r, err := c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: arenaSpec()}); err != nil || code(r.Status) != "ok" {
		t.Fatalf("CreateProgram = %v, %v", r, err)
	}
	if r, err := c.SetSale(ctx, &rpc.SetSaleRequest{ProgramId: "show", Open: true}); err != nil || code(r.Status) != "ok" {
		t.Fatalf("SetSale = %v, %v", r, err)
	}
}

// freeSeats returns the free seats of "show", both categories.
func freeSeats(t *testing.T, c invsvc.Client) int32 {
	t.Helper()
	av, err := c.Availability(context.Background(), &rpc.AvailabilityRequest{ProgramId: "show", Consistent: true})
	if err != nil || code(av.Status) != "ok" {
		t.Fatalf("Availability = %v, %v", av, err)
	}
	return av.Categories[0].Free + av.Categories[1].Free
}

func TestPlaceHolds(t *testing.T) {
	c := startNode(t)
	ctx := context.Background()
	openShow(t, c)
	free := func() int32 { return freeSeats(t, c) }
	for _, n := range []int{0, int(rpc.MAX_HOLD_BATCH) + 1} {
		req := &rpc.PlaceHoldsRequest{}
		for i := range n {
			req.Holds = append(req.Holds, &rpc.HoldRequest{ProgramId: "show", UserId: int64(i + 1), Count: 1})
		}
		r, err := c.PlaceHolds(ctx, req)
		if err != nil || r.Status.Route != rpc.Route_BAD_REQUEST || len(r.Holds) != 0 {
			t.Fatalf("PlaceHolds(%d holds) = %v, %v; want BAD_REQUEST", n, r, err)
		}
	}
	if f := free(); f != 30 {
		t.Fatalf("%d seats free after refused batches; want 30", f)
	}

	id := []byte("0123456789abcdef")
	req := &rpc.PlaceHoldsRequest{Holds: []*rpc.HoldRequest{
		{ProgramId: "show", UserId: 1, Count: 2, Together: true, RequestId: id},
		{ProgramId: "show", UserId: 2, Count: 1, RequestId: []byte("short")},
		nil,
		{ProgramId: "nope", UserId: 3, Count: 1},
		{ProgramId: "show", UserId: 4, Count: 50},
		{ProgramId: "show", UserId: 5, SeatIds: []string{"A/3/1"}},
		{ProgramId: "show", UserId: 1, Count: 2, Together: true, RequestId: id},
	}}
	r, err := c.PlaceHolds(ctx, req)
	if err != nil || code(r.Status) != "ok" || len(r.Holds) != len(req.Holds) {
		t.Fatalf("PlaceHolds = %v, %v", r, err)
	}
	want := []string{"ok", "BAD_REQUEST", "BAD_REQUEST", "NO_PROGRAM", "hold_limit_exceeded", "ok", "ok"}
	for i, h := range r.Holds {
		if code(h.Status) != want[i] {
			t.Errorf("PlaceHolds: hold %d = %v; want %s", i, h.Status, want[i])
		}
	}
	if r.Holds[6].Hold.HoldId != r.Holds[0].Hold.HoldId || !r.Holds[6].Replayed || r.Holds[0].Replayed {
		t.Fatalf("repeated request id: holds %v and %v; want the first one replayed", r.Holds[0].Hold, r.Holds[6].Hold)
	}
	if got := r.Holds[5].Hold.Seats[0].Id; got != "A/3/1" {
		t.Fatalf("manual hold in a batch got %s; want A/3/1", got)
	}
	if f := free(); f != 27 {
		t.Fatalf("%d seats free after a batch holding 3; want 27", f)
	}
}

// TestReleaseHolds: a batch of releases answers each on its own, in
// order: releases of holds, a repeat (idempotent), another user's hold,
// an unknown hold, a hold id of a group that does not exist and a bad
// reason; the good ones take effect and the others
// change nothing. Empty and oversize batches are refused whole.
func TestReleaseHolds(t *testing.T) {
	c := startNode(t)
	ctx := context.Background()
	openShow(t, c)
	var ids []int64
	for user := range int64(3) {
		h, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: user + 1, Count: 2})
		if err != nil || code(h.Status) != "ok" {
			t.Fatalf("PlaceHold = %v, %v", h, err)
		}
		ids = append(ids, h.Hold.HoldId)
	}
	free := func() int32 { return freeSeats(t, c) }
	for _, n := range []int{0, int(rpc.MAX_HOLD_BATCH) + 1} {
		req := &rpc.ReleaseHoldsRequest{}
		for range n {
			req.Releases = append(req.Releases, &rpc.ReleaseRequest{HoldId: ids[0], UserId: 1})
		}
		r, err := c.ReleaseHolds(ctx, req)
		if err != nil || r.Status.Route != rpc.Route_BAD_REQUEST || len(r.Holds) != 0 {
			t.Fatalf("ReleaseHolds(%d releases) = %v, %v; want BAD_REQUEST", n, r, err)
		}
	}
	if f := free(); f != 24 {
		t.Fatalf("%d seats free after refused batches; want 24", f)
	}
	req := &rpc.ReleaseHoldsRequest{Releases: []*rpc.ReleaseRequest{
		{HoldId: ids[0], UserId: 1},
		{HoldId: ids[0], UserId: 1},
		{HoldId: ids[1], UserId: 1},
		{HoldId: ids[2] + 100*1024, UserId: 2},
		{HoldId: 1023, UserId: 2},
		{HoldId: ids[2], UserId: 3, Reason: "bored"},
		{HoldId: ids[2], Reason: "refused"},
	}}
	r, err := c.ReleaseHolds(ctx, req)
	if err != nil || code(r.Status) != "ok" || len(r.Holds) != len(req.Releases) {
		t.Fatalf("ReleaseHolds = %v, %v", r, err)
	}
	want := []string{"ok", "ok", "not_owner", "hold_not_found", "hold_not_found", "BAD_REQUEST", "ok"}
	for i, h := range r.Holds {
		if code(h.Status) != want[i] {
			t.Errorf("ReleaseHolds: release %d = %v; want %s", i, h.Status, want[i])
		}
	}
	for _, i := range []int{0, 1, 6} {
		if h := r.Holds[i].Hold; h == nil || h.HoldId != req.Releases[i].HoldId || h.Status != "RELEASED" {
			t.Errorf("ReleaseHolds: release %d answered %v; want hold %d RELEASED", i, h, req.Releases[i].HoldId)
		}
	}
	if h := r.Holds[2].Hold; h == nil || h.Status != "HELD" {
		t.Errorf("ReleaseHolds: another user's release answered %v; want the hold, still HELD", h)
	}
	if f := free(); f != 28 {
		t.Fatalf("%d seats free after releasing 2 holds of 2; want 28", f)
	}
	// Release, one at a time, answers as the batch does.
	if h, err := c.Release(ctx, &rpc.ReleaseRequest{HoldId: ids[1], UserId: 2, Reason: "x"}); err != nil || h.Status.Route != rpc.Route_BAD_REQUEST {
		t.Fatalf("Release(bad reason) = %v, %v; want BAD_REQUEST", h, err)
	}
	if h, err := c.Release(ctx, &rpc.ReleaseRequest{HoldId: ids[1], UserId: 2}); err != nil || code(h.Status) != "ok" || h.Hold.Status != "RELEASED" {
		t.Fatalf("Release = %v, %v; want ok, RELEASED", h, err)
	}
}

// TestRPCRefusalDetails: a refusal carries what was wrong, machine
// readable, named as the RPC names it; numbers are checked before any
// arithmetic; holders' ID numbers are normalised before the log.
func TestRPCRefusalDetails(t *testing.T) {
	c := startNode(t)
	ctx := context.Background()
	spec := arenaSpec()
	spec.RealName = true
	spec.Stops = []string{"Beijing", "Jinan", "Nanjing", "Shanghai"}
	if r, _ := c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: spec}); code(r.Status) != "ok" {
		t.Fatalf("CreateProgram = %v", r.Status)
	}
	c.SetSale(ctx, &rpc.SetSaleRequest{ProgramId: "show", Open: true})
	// 11010519491231002X, as typed in full-width digits, a lower-case check
	// character and spaces: one person.
	typed := "１１０１０５ １９４９１２３１ ００２ｘ"
	h, _ := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: 1, SeatIds: []string{"A/2/1"}, FromLeg: 0, ToLeg: 2,
		Holders: []*rpc.Holder{{Name: " Zhang San ", IdNumber: typed}}})
	if code(h.Status) != "ok" || h.Hold.Holders[0].IdNumber != "11010519491231002X" || h.Hold.Holders[0].Name != "Zhang San" ||
		h.Hold.Holders[0].IdType != "resident_id" {
		t.Fatalf("PlaceHold(typed id) = %v %+v", h.Status, h.Hold)
	}
	i32 := func(v int32) *int32 { return &v }
	i64 := func(v int64) *int64 { return &v }
	low := int64(1)
	tests := []struct {
		name  string
		req   *rpc.HoldRequest
		want  string
		field string
		index *int32
		limit *int64
	}{
		{"to past the last stop", &rpc.HoldRequest{Count: 1, ToLeg: 9}, "invalid_argument", "to_leg", nil, i64(3)},
		{"from past the last leg", &rpc.HoldRequest{Count: 1, FromLeg: 3}, "invalid_argument", "from_leg", nil, i64(2)},
		{"too many seats", &rpc.HoldRequest{Count: 7}, "hold_limit_exceeded", "count", nil, i64(6)},
		{"holders missing", &rpc.HoldRequest{Count: 2, Holders: []*rpc.Holder{{Name: "A", IdNumber: "320102198511151230"}}},
			"holders_mismatch", "holders", nil, i64(2)},
		{"a malformed id", &rpc.HoldRequest{Count: 2, Holders: []*rpc.Holder{{Name: "A", IdNumber: "320102198511151230"}, {Name: "B", IdNumber: "320102198511151231"}}},
			"holders_mismatch", "holders.id_number", i32(1), nil},
		{"one person twice", &rpc.HoldRequest{Count: 2, Holders: []*rpc.Holder{{Name: "A", IdNumber: "320102198511151230"}, {Name: "B", IdNumber: "32010219851115123 0"}}},
			"holders_mismatch", "holders.id_number", i32(1), nil},
		{"the same person on an overlapping leg", &rpc.HoldRequest{Count: 1, FromLeg: 1, ToLeg: 3, Holders: []*rpc.Holder{{Name: "Z", IdNumber: "11010519491231002X"}}},
			"holder_limit_exceeded", "holders.id_number", i32(0), nil},
		{"an unknown id type", &rpc.HoldRequest{Count: 1, Holders: []*rpc.Holder{{Name: "Z", IdNumber: "E12345678", IdType: "visa"}}},
			"", "holders.id_type", i32(0), nil},
		{"a seat taken", &rpc.HoldRequest{SeatIds: []string{"A/3/1", "A/2/1"}, Holders: []*rpc.Holder{{Name: "A", IdNumber: "320102198511151230"}, {Name: "B", IdType: "passport", IdNumber: "E12345678"}}},
			"seat_taken", "seat_ids", i32(1), nil},
		{"a price too low", &rpc.HoldRequest{SeatIds: []string{"A/3/1"}, ExpectedTotalCents: &low, Holders: []*rpc.Holder{{Name: "A", IdNumber: "320102198511151230"}}},
			"price_mismatch", "expected_total_cents", nil, nil},
	}
	for _, tt := range tests {
		tt.req.ProgramId, tt.req.UserId = "show", 2
		r, err := c.PlaceHold(ctx, tt.req)
		if err != nil {
			t.Fatal(err)
		}
		st := r.Status
		if tt.want == "" && st.Route != rpc.Route_BAD_REQUEST || tt.want != "" && code(st) != tt.want || st.Field != tt.field ||
			(tt.index == nil) != (st.Index == nil) || tt.index != nil && *tt.index != *st.Index ||
			(tt.limit == nil) != (st.Limit == nil) || tt.limit != nil && *tt.limit != *st.Limit {
			t.Errorf("%s: PlaceHold = %v", tt.name, st)
		}
	}
	r, _ := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: 2, SeatIds: []string{"A/3/1"}, ExpectedTotalCents: &low,
		Holders: []*rpc.Holder{{Name: "A", IdNumber: "320102198511151230"}}})
	if r.Status.Actual == nil || *r.Status.Actual != 3000 {
		t.Errorf("price_mismatch: actual %v; want the real total 3000", r.Status.Actual)
	}

	wrap := arenaSpec()
	wrap.Id, wrap.HoldTtlSeconds = "wrap", 36028797018964568 // times 10^9 wraps to 600 s
	if r, _ := c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: wrap}); r.Status.Route != rpc.Route_BAD_REQUEST || r.Status.Field != "hold_ttl_seconds" {
		t.Fatalf("CreateProgram(huge TTL) = %v; want bad request naming hold_ttl_seconds", r.Status)
	}
	if r, _ := c.GetProgram(ctx, &rpc.GetProgramRequest{ProgramId: "wrap"}); code(r.Status) == "ok" {
		t.Fatalf("a refused program exists: %v", r.Spec)
	}

	// Creates refused for a field say which, with its limit (and the
	// category's position for a price).
	creates := []struct {
		name  string
		tune  func(*rpc.ProgramSpec)
		field string
		index *int32
		limit int64
	}{
		{"seats per hold", func(s *rpc.ProgramSpec) { s.MaxSeatsPerHold = 65 }, "max_seats_per_hold", nil, 64},
		{"negative seats per hold", func(s *rpc.ProgramSpec) { s.MaxSeatsPerHold = -1 }, "max_seats_per_hold", nil, 64},
		{"seats per user below per hold", func(s *rpc.ProgramSpec) { s.MaxSeatsPerHold, s.MaxSeatsPerUser = 8, 7 }, "max_seats_per_user", nil, 65536},
		{"seats per user", func(s *rpc.ProgramSpec) { s.MaxSeatsPerUser = 65537 }, "max_seats_per_user", nil, 65536},
		{"a price", func(s *rpc.ProgramSpec) { s.Categories[1].PriceCents = 100_000_001 }, "categories.price_cents", i32(1), 100_000_000},
		{"a negative price", func(s *rpc.ProgramSpec) { s.Categories[0].PriceCents = -1 }, "categories.price_cents", i32(0), 100_000_000},
		{"a column", func(s *rpc.ProgramSpec) { s.Sections[0].Rows[1].Seats[2].Col = 65536 }, "sections.rows.seats.col", nil, 65535},
		{"a negative column", func(s *rpc.ProgramSpec) { s.Sections[0].Rows[0].Seats[0].Col = -1 }, "sections.rows.seats.col", nil, 65535},
	}
	for _, tt := range creates {
		spec := arenaSpec()
		spec.Id = "refused"
		tt.tune(spec)
		r, err := c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: spec})
		if err != nil {
			t.Fatal(err)
		}
		st := r.Status
		if st.Route != rpc.Route_BAD_REQUEST || st.Field != tt.field || st.Limit == nil || *st.Limit != tt.limit ||
			(tt.index == nil) != (st.Index == nil) || tt.index != nil && *tt.index != *st.Index {
			t.Errorf("%s: CreateProgram = %v; want bad request naming %s, limit %d", tt.name, st, tt.field, tt.limit)
		}
	}
	if r, _ := c.GetProgram(ctx, &rpc.GetProgramRequest{ProgramId: "refused"}); code(r.Status) == "ok" {
		t.Fatal("a refused program exists")
	}

	// A bad leg range on a read or a block names its end and the largest
	// index it may take (the program has stops 0-3).
	for _, tt := range []struct {
		name     string
		from, to int32
		field    string
		limit    int64
	}{
		{"to past the last stop", 0, 4, "to_leg", 3},
		{"to before from", 2, 1, "to_leg", 3},
		{"from past the last leg", 3, 0, "from_leg", 2},
		{"a negative from", -1, 2, "from_leg", 2},
	} {
		check := func(call string, st *rpc.Status) {
			if code(st) != "invalid_argument" || st.Field != tt.field || st.Limit == nil || *st.Limit != tt.limit {
				t.Errorf("%s: %s = %v; want invalid_argument naming %s, limit %d", tt.name, call, st, tt.field, tt.limit)
			}
		}
		for _, consistent := range []bool{false, true} {
			av, _ := c.Availability(ctx, &rpc.AvailabilityRequest{ProgramId: "show", FromLeg: tt.from, ToLeg: tt.to, Consistent: consistent})
			check("Availability", av.Status)
			sm, _ := c.SeatMap(ctx, &rpc.SeatMapRequest{ProgramId: "show", FromLeg: tt.from, ToLeg: tt.to, Consistent: consistent})
			check("SeatMap", sm.Status)
		}
		for _, unblock := range []bool{false, true} {
			b, _ := c.Block(ctx, &rpc.BlockRequest{ProgramId: "show", SeatIds: []string{"A/3/9"}, FromLeg: tt.from, ToLeg: tt.to, Unblock: unblock})
			check("Block", b.Status)
		}
	}
}

// TestRPCCreateRepeat: a create of a taken id answers the stored program,
// its sale state, and whether it is the one asked for, decided on
// canonical forms: seats in another order, labels equal to their columns
// and a hold TTL left out (the node's default) are the same program.
func TestRPCCreateRepeat(t *testing.T) {
	c := startNode(t, func(_ *raftfsm.NodeConfig, cfg *Config) { cfg.DefaultHoldTTL = 2 * time.Minute })
	ctx := context.Background()
	spec := arenaSpec()
	spec.HoldTtlSeconds = 0
	row := spec.Sections[0].Rows[0]
	row.Seats[0].Label = "1"                                // its column
	row.Seats[0], row.Seats[9] = row.Seats[9], row.Seats[0] // out of column order
	first, err := c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: spec})
	if err != nil || code(first.Status) != "ok" || first.Identical || first.SaleOpen {
		t.Fatalf("CreateProgram = %v, %v", first, err)
	}
	created := specOf(t, first.Spec)
	if s := created.Layout.Sections[0].Rows[0].Seats[0]; s.Col != 1 || s.Label != "" || created.HoldTTL != 2*time.Minute {
		t.Fatalf("created program: first seat %+v, hold TTL %v; want column 1 unlabelled, the default TTL", s, created.HoldTTL)
	}
	if gp, _ := c.GetProgram(ctx, &rpc.GetProgramRequest{ProgramId: "show"}); string(gp.Spec) != string(first.Spec) {
		t.Fatal("the create's answer is not the stored program's encoding")
	}
	c.SetSale(ctx, &rpc.SetSaleRequest{ProgramId: "show", Open: true})
	plain := arenaSpec() // in column order, no labels, the TTL given
	plain.HoldTtlSeconds = 120
	for name, s := range map[string]*rpc.ProgramSpec{"the same request": spec, "its canonical form": plain} {
		r, err := c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: s})
		if err != nil || code(r.Status) != "program_exists" || !r.Identical || !r.SaleOpen || string(r.Spec) != string(first.Spec) {
			t.Errorf("CreateProgram(%s) = %v, %v; want program_exists, identical, the stored program, its sale open", name, r, err)
		}
	}
	for name, tune := range map[string]func(*rpc.ProgramSpec){
		"another TTL":   func(s *rpc.ProgramSpec) { s.HoldTtlSeconds = 600 },
		"another price": func(s *rpc.ProgramSpec) { s.Categories[0].PriceCents++ },
		"another label": func(s *rpc.ProgramSpec) { s.Sections[0].Rows[2].Seats[3].Label = "x" },
		"a seat less":   func(s *rpc.ProgramSpec) { s.Sections[0].Rows[2].Seats = s.Sections[0].Rows[2].Seats[1:] },
	} {
		other := arenaSpec()
		other.HoldTtlSeconds = 0
		tune(other)
		r, err := c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: other})
		if err != nil || code(r.Status) != "program_exists" || r.Identical || string(r.Spec) != string(first.Spec) {
			t.Errorf("CreateProgram(%s) = %v, %v; want program_exists, not identical, the stored program", name, r.Status, err)
		}
	}
}

// TestRPCReadsAtExpiry: from a hold's expiry on, reads show it expired and
// its seats free, before any tick; the version says so. Steps of the
// node's wall clock, an hour either way, change no read: reads go by the
// log's time and the time that passed since.
func TestRPCReadsAtExpiry(t *testing.T) {
	clock := clocktest.Real()
	c := startNode(t, func(n *raftfsm.NodeConfig, _ *Config) {
		n.TickInterval = time.Minute // no tick comes during the test
		n.Clock = clock
	})
	ctx := context.Background()
	spec := arenaSpec()
	spec.HoldTtlSeconds = 10
	c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: spec})
	c.SetSale(ctx, &rpc.SetSaleRequest{ProgramId: "show", Open: true})
	h, _ := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: 1, SeatIds: []string{"A/1/1"}})
	if code(h.Status) != "ok" || h.Hold.ExpiresAtUnixNs-h.Hold.CreatedAtUnixNs != int64(10*time.Second) {
		t.Fatalf("PlaceHold = %v %+v", h.Status, h.Hold)
	}
	before, _ := c.SeatMap(ctx, &rpc.SeatMapRequest{ProgramId: "show", Consistent: true})
	for _, step := range []time.Duration{time.Hour, -2 * time.Hour} {
		clock.Step(step)
		g, _ := c.GetHold(ctx, &rpc.GetHoldRequest{HoldId: h.Hold.HoldId})
		av, _ := c.Availability(ctx, &rpc.AvailabilityRequest{ProgramId: "show"})
		if g.Hold.Status != "HELD" || av.Categories[0].Held != 1 {
			t.Fatalf("after a wall clock step of %v: GetHold = %s, %d held; want HELD, 1: the hold's TTL has not ended", step, g.Hold.Status, av.Categories[0].Held)
		}
	}
	clock.Advance(11 * time.Second) // past the expiry; the wall clock is still an hour behind
	g, _ := c.GetHold(ctx, &rpc.GetHoldRequest{HoldId: h.Hold.HoldId, Consistent: true})
	if g.Hold.Status != "RELEASED" || g.Hold.Reason != "expired" {
		t.Fatalf("GetHold after expiry = %s %s; want RELEASED expired", g.Hold.Status, g.Hold.Reason)
	}
	after, _ := c.SeatMap(ctx, &rpc.SeatMapRequest{ProgramId: "show", Consistent: true})
	av, _ := c.Availability(ctx, &rpc.AvailabilityRequest{ProgramId: "show", Consistent: true})
	if before.Statuses[0] != 1 || after.Statuses[0] != 0 || after.Version != before.Version+".1" || av.Categories[0].Free != 10 || av.Version != after.Version {
		t.Fatalf("seat map %v (%s) then %v (%s), availability %+v (%s)", before.Statuses[:2], before.Version, after.Statuses[:2], after.Version,
			av.Categories[0], av.Version)
	}
}

// TestSpecRoundTrip converts a program with every field set to the RPC's
// description and back.
func TestSpecRoundTrip(t *testing.T) {
	spec := inventory.ProgramSpec{ID: "g1", Name: "G1", Stops: []string{"Beijing", "Jinan", "Shanghai"}, HoldTTL: 90 * time.Second,
		MaxSeatsPerHold: 4, MaxSeatsPerUser: 8, RealName: true, RefundResells: true, AllowOrphans: true, RefuseOrphans: true, ReserveAccessible: true,
		Focal:      &inventory.Point{X: -30, Y: inventory.MaxCoord},
		Categories: []inventory.Category{{ID: "first", Name: "First", PriceCents: 93000}, {ID: "second", Name: "Second", PriceCents: 55300}},
		Layout: inventory.Layout{Sections: []inventory.Section{{ID: "1", Name: "Carriage 1", At: &inventory.Point{X: -inventory.MaxCoord, Y: 4}, Rows: []inventory.Row{
			{ID: "1", Rank: 1, Seats: []inventory.Seat{{Col: 1, Label: "A", Category: "first", Aisle: true}, {Col: 2, Category: "first", Accessible: true}}},
			{ID: "2", Rank: 2, Seats: []inventory.Seat{{Col: 1, Category: "second"}}}}}}},
	}
	if got := specFromRPC(SpecToRPC(&spec)); !reflect.DeepEqual(got, spec) {
		t.Errorf("specFromRPC(SpecToRPC(%+v)) = %+v", spec, got)
	}
}

// TestReleaseHoldsAcrossGroups: one batch releases holds of programs in
// two groups, interleaved and one of them twice: each group's releases
// are proposed apart, at once, and each answer is its own hold's.
func TestReleaseHoldsAcrossGroups(t *testing.T) {
	c := startNode(t)
	ctx := context.Background()
	openShow(t, c)
	other := arenaSpec()
	other.Id = "other"
	if r, err := c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: other}); err != nil || code(r.Status) != "ok" {
		t.Fatalf("CreateProgram(other) = %v, %v", r, err)
	}
	if r, err := c.SetSale(ctx, &rpc.SetSaleRequest{ProgramId: "other", Open: true}); err != nil || code(r.Status) != "ok" {
		t.Fatalf("SetSale(other) = %v, %v", r, err)
	}
	var ids []int64
	groups := map[int32]bool{}
	for i, prog := range []string{"show", "other", "show", "other"} {
		h, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: prog, UserId: int64(i + 1), Count: 2})
		if err != nil || code(h.Status) != "ok" {
			t.Fatalf("PlaceHold(%s) = %v, %v", prog, h, err)
		}
		ids = append(ids, h.Hold.HoldId)
		groups[h.Status.Group] = true
	}
	if len(groups) != 2 {
		t.Fatalf("holds in groups %v; want two groups", groups)
	}
	order := []int{1, 0, 3, 1, 2}
	req := &rpc.ReleaseHoldsRequest{}
	for _, i := range order {
		req.Releases = append(req.Releases, &rpc.ReleaseRequest{HoldId: ids[i], UserId: int64(i + 1)})
	}
	r, err := c.ReleaseHolds(ctx, req)
	if err != nil || code(r.Status) != "ok" || len(r.Holds) != len(order) {
		t.Fatalf("ReleaseHolds = %v, %v", r, err)
	}
	for j, i := range order {
		if h := r.Holds[j]; code(h.Status) != "ok" || h.Hold == nil || h.Hold.HoldId != ids[i] || h.Hold.Status != "RELEASED" {
			t.Errorf("release %d (hold %d) answered %v; want ok, hold %d RELEASED", j, i, h, ids[i])
		}
	}
	for _, prog := range []string{"show", "other"} {
		av, err := c.Availability(ctx, &rpc.AvailabilityRequest{ProgramId: prog, Consistent: true})
		if err != nil || code(av.Status) != "ok" {
			t.Fatalf("Availability(%s) = %v, %v", prog, av, err)
		}
		for _, cat := range av.Categories {
			if cat.Held != 0 {
				t.Errorf("%s: %d seats of %s still held; want none", prog, cat.Held, cat.Id)
			}
		}
	}
}

// TestHoldSeatPreference: the wire's seat_preference becomes the engine's
// SeatPosition, and a value the engine does not know is refused here,
// naming the field, before it reaches the log.
func TestHoldSeatPreference(t *testing.T) {
	for v, want := range map[int8]inventory.SeatPosition{0: inventory.PositionAny, 1: inventory.PositionWindow, 2: inventory.PositionAisle} {
		cmd, st := holdFromRPC(&rpc.HoldRequest{ProgramId: "p", UserId: 1, Count: 1, SeatPreference: v})
		if st != nil || cmd.Hold.Prefer != want {
			t.Errorf("seat_preference %d: %+v, %v; want %v", v, cmd, st, want)
		}
	}
	for _, v := range []int8{-1, 3, 127} {
		if _, st := holdFromRPC(&rpc.HoldRequest{ProgramId: "p", UserId: 1, Count: 1, SeatPreference: v}); st == nil || st.Field != "seat_preference" {
			t.Errorf("seat_preference %d: %v; want a refusal naming seat_preference", v, st)
		}
	}
	if _, st := holdFromRPC(&rpc.HoldRequest{ProgramId: "p", UserId: 1, SeatIds: []string{"A/1/1"}, SeatPreference: 1}); st == nil || st.Field != "seat_preference" {
		t.Errorf("seat_preference with named seats: %v; want a refusal naming seat_preference", st)
	}
}

// TestRPCClusterOperations: TransferGroup and Drain refuse what they
// cannot do with BAD_REQUEST naming why (a group out of range, a target
// that is no voter, a node not in the cluster, the last undrained voter,
// a missing id, the only voter's removal), and a transfer to the leader
// itself is a no-op.
func TestRPCClusterOperations(t *testing.T) {
	c := startNode(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		call func() (*rpc.MembershipResponse, error)
		want rpc.Route
		msg  string
	}{
		{"transfer to self", func() (*rpc.MembershipResponse, error) {
			return c.TransferGroup(ctx, &rpc.TransferGroupRequest{Group: 1, ToNode: "n1"})
		}, rpc.Route_OK, ""},
		{"group out of range", func() (*rpc.MembershipResponse, error) {
			return c.TransferGroup(ctx, &rpc.TransferGroupRequest{Group: 3, ToNode: "n1"})
		}, rpc.Route_BAD_REQUEST, "want a group of 0-2"},
		{"transfer to a non-voter", func() (*rpc.MembershipResponse, error) {
			return c.TransferGroup(ctx, &rpc.TransferGroupRequest{Group: 0, ToNode: "n9"})
		}, rpc.Route_BAD_REQUEST, `"n9" is not a voter of group 0`},
		{"drain without id", func() (*rpc.MembershipResponse, error) {
			return c.Drain(ctx, &rpc.DrainRequest{Drained: true})
		}, rpc.Route_BAD_REQUEST, "node_id is required"},
		{"drain a non-member", func() (*rpc.MembershipResponse, error) {
			return c.Drain(ctx, &rpc.DrainRequest{NodeId: "n9", Drained: true})
		}, rpc.Route_BAD_REQUEST, `node "n9" is not in the cluster`},
		{"drain the last voter", func() (*rpc.MembershipResponse, error) {
			return c.Drain(ctx, &rpc.DrainRequest{NodeId: "n1", Drained: true})
		}, rpc.Route_BAD_REQUEST, "no other voter would be left"},
		{"undrain a member not drained", func() (*rpc.MembershipResponse, error) {
			return c.Drain(ctx, &rpc.DrainRequest{NodeId: "n1"})
		}, rpc.Route_OK, ""},
		{"remove the last voter", func() (*rpc.MembershipResponse, error) {
			return c.Remove(ctx, &rpc.RemoveRequest{NodeId: "n1"})
		}, rpc.Route_BAD_REQUEST, "no other voter would be left"},
	} {
		r, err := tc.call()
		if err != nil || r.Status.Route != tc.want || !strings.Contains(r.Status.Detail, tc.msg) {
			t.Errorf("%s: %v, %v; want route %v saying %q", tc.name, r, err, tc.want, tc.msg)
		}
	}
	st, err := c.ClusterStatus(ctx, &rpc.ClusterStatusRequest{})
	if err != nil || len(st.Drained) != 0 || len(st.Groups[0].Voters) != 1 {
		t.Fatalf("ClusterStatus after refusals = %v, %v; want n1 the only voter, none drained", st, err)
	}
}
