package raftfsm

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"seatd/inventory"
)

func stopAll(t *testing.T, rs []*replica) {
	for _, r := range rs {
		r.stop(t)
	}
}

// holdsThroughProposer runs n concurrent best-available holds through a
// proposer on the leader and checks each caller got its own hold.
func holdsThroughProposer(t *testing.T, cfg ProposerConfig, n int) (entries, commands uint64) {
	rs := startCluster(t, 3)
	defer stopAll(t, rs)
	lead := leaderOf(t, rs)
	p, err := NewProposer(lead.raft, cfg, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	for _, c := range []*Command{{Op: OpCreateProgram, Spec: arena(t)}, {Op: OpOpenSale, Program: "show"}} {
		if o, err := p.Propose(ctx, c); err != nil || o.Result != inventory.ResultOK {
			t.Fatalf("Propose(%v) = %v, %v", c.Op, o.Result, err)
		}
	}
	var mu sync.Mutex
	seats := map[uint32]uint64{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := uint64(i + 1)
			o, err := p.Propose(ctx, &Command{Op: OpHold, Hold: &inventory.HoldRequest{Program: "show", User: user, Count: 1}})
			if err != nil || o.Result != inventory.ResultOK || o.Hold.User != user || o.Index == 0 {
				t.Errorf("Propose(hold for %d) = %+v, %v", user, o, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if other, ok := seats[o.Hold.Seats[0]]; ok {
				t.Errorf("seat %d held by %d and %d", o.Hold.Seats[0], other, user)
			}
			seats[o.Hold.Seats[0]] = user
		}()
	}
	wg.Wait()
	converge(t, rs)
	return p.Batches()
}

func TestProposerBatches(t *testing.T) {
	entries, commands := holdsThroughProposer(t, ProposerConfig{}, 400)
	t.Logf("batching on: %d commands in %d entries", commands, entries)
	if commands != 402 || entries >= commands/2 {
		t.Fatalf("%d commands in %d entries; want 402 in fewer than half as many", commands, entries)
	}
}

// TestProposeAll: holds submitted together share entries and each gets
// its own outcome, a malformed one among them refused alone.
func TestProposeAll(t *testing.T) {
	rs := startCluster(t, 3)
	defer stopAll(t, rs)
	p, err := NewProposer(leaderOf(t, rs).raft, ProposerConfig{}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	_, errs := p.ProposeAll(ctx, []*Command{{Op: OpCreateProgram, Spec: arena(t)}, {Op: OpOpenSale, Program: "show"}})
	if errors.Join(errs...) != nil {
		t.Fatal(errs)
	}
	var cmds []*Command
	for i := range 100 {
		cmds = append(cmds, &Command{Op: OpHold, Hold: &inventory.HoldRequest{Program: "show", User: uint64(i + 1), Count: 1}})
	}
	cmds[50] = &Command{Op: OpHold}
	entries0, _ := p.Batches()
	outs, errs := p.ProposeAll(ctx, cmds)
	entries, _ := p.Batches()
	seats := map[uint32]bool{}
	for i := range cmds {
		if i == 50 {
			if !errors.Is(errs[i], ErrBadCommand) {
				t.Fatalf("ProposeAll: malformed hold = %v; want ErrBadCommand", errs[i])
			}
			continue
		}
		if errs[i] != nil || outs[i].Result != inventory.ResultOK || outs[i].Hold.User != uint64(i+1) || seats[outs[i].Hold.Seats[0]] {
			t.Fatalf("ProposeAll: hold %d = %+v, %v", i, outs[i], errs[i])
		}
		seats[outs[i].Hold.Seats[0]] = true
	}
	if entries-entries0 > 10 {
		t.Fatalf("99 holds proposed together took %d entries", entries-entries0)
	}
	converge(t, rs)
}

func TestProposerBatchingOff(t *testing.T) {
	entries, commands := holdsThroughProposer(t, ProposerConfig{MaxBatch: 1}, 50)
	if entries != commands {
		t.Fatalf("MaxBatch 1: %d commands in %d entries", commands, entries)
	}
}

func TestProposerRefuses(t *testing.T) {
	// No loops running: the queue fills and stays full.
	p := newProposer(nil, ProposerConfig{MaxQueue: 2}.withDefaults(), time.Now)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tick := &Command{Op: OpTick}
	for range 2 {
		if _, err := p.Propose(cancelled, tick); !errors.Is(err, ErrAmbiguous) {
			t.Fatalf("Propose(queued, caller gone) = %v; want ErrAmbiguous", err)
		}
	}
	if _, err := p.Propose(context.Background(), tick); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("Propose(queue full) = %v; want ErrOverloaded", err)
	}
	if _, err := p.Propose(context.Background(), &Command{Op: OpHold}); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("Propose(hold without request) = %v; want ErrBadCommand", err)
	}
	if _, err := p.Propose(context.Background(), &Command{Op: OpCreateProgram, Spec: &inventory.ProgramSpec{ID: "x"}}); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("Propose(invalid program) = %v; want ErrBadCommand", err)
	}
	// ProposeAll answers each command on its own: queue full, malformed.
	p2 := newProposer(nil, ProposerConfig{MaxQueue: 1}.withDefaults(), time.Now)
	_, errs := p2.ProposeAll(cancelled, []*Command{tick, {Op: OpHold}, tick})
	for i, want := range []error{ErrAmbiguous, ErrBadCommand, ErrOverloaded} {
		if !errors.Is(errs[i], want) {
			t.Fatalf("ProposeAll: command %d = %v; want %v", i, errs[i], want)
		}
	}
	// Close answers what waits in the queue, and everything after it.
	p3 := newProposer(nil, ProposerConfig{}.withDefaults(), time.Now)
	waiting := make(chan error, 1)
	go func() {
		_, err := p3.Propose(context.Background(), tick)
		waiting <- err
	}()
	for p3.QueueDepth() == 0 {
		time.Sleep(time.Millisecond)
	}
	p3.Close()
	if err := <-waiting; !errors.Is(err, ErrClosed) {
		t.Fatalf("Propose(queued at Close) = %v; want ErrClosed", err)
	}
	if _, err := p3.Propose(context.Background(), tick); !errors.Is(err, ErrClosed) {
		t.Fatalf("Propose(after Close) = %v; want ErrClosed", err)
	}
	if _, errs := p3.ProposeAll(context.Background(), []*Command{tick}); !errors.Is(errs[0], ErrClosed) {
		t.Fatalf("ProposeAll(after Close) = %v; want ErrClosed", errs)
	}
	if err := (ProposerConfig{MaxBatch: -1, Linger: time.Second}).Validate(); err == nil {
		t.Fatal("Validate accepted a negative batch and a 1s linger")
	}

	rs := startCluster(t, 3)
	defer stopAll(t, rs)
	lead := leaderOf(t, rs)
	for _, r := range rs {
		if r == lead {
			continue
		}
		fp, _ := NewProposer(r.raft, ProposerConfig{}, time.Now)
		_, err := fp.Propose(context.Background(), tick)
		fp.Close()
		if !errors.Is(err, ErrNotLeader) {
			t.Fatalf("Propose on a follower = %v; want ErrNotLeader", err)
		}
		break
	}
}
