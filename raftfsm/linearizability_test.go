package raftfsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/hashicorp/raft"

	"seatd/inventory"
)

// The shard under test is one row of linSeats seats; clients hold and
// release single seats by name.
const linSeats = 8

type linInput struct {
	release bool
	seat    int
	hold    inventory.HoldID // release: the hold to give back
}

type linOutput struct {
	ok      bool             // hold: got the seat
	hold    inventory.HoldID // hold: its id
	unknown bool             // no definite answer: possibly applied
}

// linState is who holds each seat: 0 free, a hold id, or linUnknown for a
// hold whose id the client never learnt.
type linState [linSeats]inventory.HoldID

const linUnknown = inventory.HoldID(math.MaxUint64)

// seatModel is the shard as porcupine sees it. Operations on different
// seats are independent, so histories are checked per seat.
var seatModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		parts := make([][]porcupine.Operation, linSeats)
		for _, op := range history {
			s := op.Input.(linInput).seat
			parts[s] = append(parts[s], op)
		}
		return parts
	},
	Init: func() any { return linState{} },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(linState), input.(linInput), output.(linOutput)
		switch {
		case in.release:
			// Releases are idempotent: always ok; they free the seat if the
			// hold still has it.
			if st[in.seat] == in.hold {
				st[in.seat] = 0
			}
			return true, st
		case out.unknown:
			// Possibly applied: porcupine may place it last, where it
			// changes nothing observed.
			if st[in.seat] == 0 {
				st[in.seat] = linUnknown
			}
			return true, st
		case out.ok:
			if st[in.seat] != 0 {
				return false, st
			}
			st[in.seat] = out.hold
			return true, st
		default:
			return st[in.seat] != 0, st
		}
	},
	Equal: func(a, b any) bool { return a.(linState) == b.(linState) },
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		if in.release {
			return fmt.Sprintf("release(seat %d, hold %d)", in.seat, in.hold)
		}
		return fmt.Sprintf("hold(seat %d) -> ok=%v hold=%d unknown=%v", in.seat, out.ok, out.hold, out.unknown)
	},
}

// linCluster is the in-memory cluster with a replaceable replica set.
type linCluster struct {
	mu sync.RWMutex // guards rs
	rs []*replica
}

func (c *linCluster) leader() *replica {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, r := range c.rs {
		if r.raft.State() == raft.Leader {
			return r
		}
	}
	return nil
}

// call proposes cmd until it gets a definite answer or the deadline:
// not-leader means not applied, so it tries elsewhere; an ambiguous failure
// is retried as is (the same request id, or an idempotent release).
func (c *linCluster) call(cmd *Command, deadline time.Time) (Outcome, bool) {
	for time.Now().Before(deadline) {
		r := c.leader()
		if r == nil {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		outs, err := tryPropose(r.raft, 1, cmd)
		if err == nil {
			return outs[0], true
		}
		if !errors.Is(err, raft.ErrNotLeader) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return Outcome{}, false
}

func TestLinearizability(t *testing.T) {
	seed := stressSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	rs := startClusterWith(t, 3, fastRaftConfig)
	c := &linCluster{rs: rs}
	defer func() { stopAll(t, c.rs) }()
	l, _ := inventory.Grid{Sections: 1, Rows: 1, Cols: linSeats, Categories: []inventory.GridCategory{{ID: "a", First: 1, Last: 1}}}.Layout()
	spec := &inventory.ProgramSpec{ID: "show", Layout: l, MaxSeatsPerHold: 1, MaxSeatsPerUser: linSeats,
		Categories: []inventory.Category{{ID: "a", PriceCents: 100}}}
	setup := time.Now().Add(10 * time.Second)
	for _, cmd := range []*Command{{Op: OpCreateProgram, Spec: spec}, {Op: OpOpenSale, Program: "show"}} {
		if o, ok := c.call(cmd, setup); !ok || o.Result != inventory.ResultOK {
			t.Fatalf("%v = %v", cmd.Op, o.Result)
		}
	}

	const clients = 16
	runFor := 3 * time.Second
	if testing.Short() {
		runFor = time.Second
	}
	start := time.Now()
	var mu sync.Mutex
	var history []porcupine.Operation
	var holds, unknown atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for cl := range clients {
		crng := rand.New(rand.NewPCG(seed, uint64(cl)+10))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []linInput // holds this client has, to give back
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				var in linInput
				var cmd *Command
				if len(mine) > 0 && crng.IntN(2) == 0 {
					in = mine[0]
					in.release = true
					mine = mine[1:]
					cmd = &Command{Op: OpRelease, HoldID: in.hold, Owner: uint64(cl + 1), Reason: inventory.ReleaseCancelled}
				} else {
					in.seat = crng.IntN(linSeats)
					req := &inventory.HoldRequest{Program: "show", User: uint64(cl + 1), Seats: []string{"A/1/" + strconv.Itoa(in.seat+1)}}
					binary.BigEndian.PutUint64(req.RequestID[:], uint64(cl)<<32|uint64(n))
					cmd = &Command{Op: OpHold, Hold: req}
				}
				call := time.Since(start).Nanoseconds()
				o, definite := c.call(cmd, time.Now().Add(2*time.Second))
				ret := time.Since(start).Nanoseconds()
				var out linOutput
				switch {
				case !definite:
					out.unknown, ret = true, math.MaxInt64
					unknown.Add(1)
				case !in.release && o.Result == inventory.ResultOK:
					out.ok, out.hold = true, o.Hold.ID
					mine = append(mine, linInput{seat: in.seat, hold: o.Hold.ID})
					holds.Add(1)
				case !in.release && o.Result != inventory.ResultSeatTaken:
					t.Errorf("hold = %v", o.Result)
				case in.release && o.Result != inventory.ResultOK:
					t.Errorf("release = %v", o.Result)
				}
				mu.Lock()
				history = append(history, porcupine.Operation{ClientId: cl, Input: in, Call: call, Output: out, Return: ret})
				mu.Unlock()
			}
		}()
	}

	// Faults: kill and restart the leader, or cut it off, again and again.
	var kills, cuts int
	for time.Since(start) < runFor {
		time.Sleep(time.Duration(50+rng.IntN(100)) * time.Millisecond)
		lead := c.leader()
		if lead == nil {
			continue
		}
		if rng.IntN(2) == 0 {
			kills++
			lead.stop(t)
			time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
			restarted := startReplica(t, lead.id, lead.dir, lead.trans, fastRaftConfig)
			c.mu.Lock()
			for i, r := range c.rs {
				if r == lead {
					c.rs[i] = restarted
				}
			}
			heal(c.rs) // raft's shutdown closed the old transport's links
			c.mu.Unlock()
		} else {
			cuts++
			c.mu.RLock()
			isolate(c.rs, lead)
			c.mu.RUnlock()
			time.Sleep(time.Duration(50+rng.IntN(100)) * time.Millisecond)
			c.mu.RLock()
			heal(c.rs)
			c.mu.RUnlock()
		}
	}
	close(stop)
	wg.Wait()

	res, info := porcupine.CheckOperationsVerbose(seatModel, history, time.Minute)
	if res != porcupine.Ok {
		path := t.TempDir() + "/history.html"
		porcupine.VisualizePath(seatModel, info, path)
		t.Fatalf("seed %d: history of %d operations is %v (visualized in %s)", seed, len(history), res, path)
	}
	convergeOrFail(t, c.rs, seed)
	// No seat oversold: at most one live hold per seat on every replica
	// (Check), and every acknowledged hold not given back is there.
	for _, r := range c.rs {
		r.fsm.Read(func(e *inventory.Engine, _ uint64) {
			if err := e.Check(); err != nil {
				t.Fatalf("%s: %v", r.id, err)
			}
		})
	}
	var lost int
	for _, op := range history {
		in, out := op.Input.(linInput), op.Output.(linOutput)
		if in.release || !out.ok {
			continue
		}
		var h inventory.HoldInfo
		var ok bool
		c.rs[0].fsm.Read(func(e *inventory.Engine, _ uint64) { h, ok = e.GetHold(out.hold, e.Now()) })
		if !ok || h.Status == inventory.HoldReleased && h.Reason != inventory.ReleaseCancelled {
			lost++
		}
	}
	t.Logf("seed %d: %d operations, %d holds, %d without an answer, %d leader kills, %d leader cut-offs, oversold 0, lost acknowledged holds %d",
		seed, len(history), holds.Load(), unknown.Load(), kills, cuts, lost)
	if lost != 0 {
		t.Fatalf("%d acknowledged holds lost", lost)
	}
}

// TestSeatModelRejectsOversell checks the checker: two holds of one seat
// that both succeed, one after the other with no release, are not
// linearizable; with a release between them they are.
func TestSeatModelRejectsOversell(t *testing.T) {
	hold := func(client int, call, ret int64, id inventory.HoldID) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: linInput{seat: 3}, Call: call, Output: linOutput{ok: true, hold: id}, Return: ret}
	}
	oversold := []porcupine.Operation{hold(0, 0, 10, 1), hold(1, 20, 30, 2)}
	if porcupine.CheckOperations(seatModel, oversold) {
		t.Fatal("two successful holds of one seat were accepted")
	}
	released := append(oversold, porcupine.Operation{ClientId: 0, Input: linInput{release: true, seat: 3, hold: 1}, Call: 12, Output: linOutput{}, Return: 15})
	if !porcupine.CheckOperations(seatModel, released) {
		t.Fatal("hold, release, hold was refused")
	}
	// A hold whose answer never came may have taken the seat.
	unknown := []porcupine.Operation{
		{ClientId: 0, Input: linInput{seat: 3}, Call: 0, Output: linOutput{unknown: true}, Return: math.MaxInt64},
		{ClientId: 1, Input: linInput{seat: 3}, Call: 20, Output: linOutput{}, Return: 30}, // seat taken
	}
	if !porcupine.CheckOperations(seatModel, unknown) {
		t.Fatal("a refusal explained by a possibly applied hold was refused")
	}
}
