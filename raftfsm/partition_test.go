package raftfsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"seatd/inventory"
)

// fastRaftConfig is for in-memory clusters under fault injection: short
// timeouts so that hundreds of elections fit in a test, and snapshots
// with short trailing logs so that a node cut off for a while comes back
// by snapshot install (where hashicorp/raft#697 reports a livelock).
func fastRaftConfig(c *raft.Config) {
	c.HeartbeatTimeout = 20 * time.Millisecond
	c.ElectionTimeout = 20 * time.Millisecond
	c.LeaderLeaseTimeout = 10 * time.Millisecond
	c.CommitTimeout = 2 * time.Millisecond
	c.SnapshotThreshold = 24
	c.TrailingLogs = 4
	c.SnapshotInterval = 20 * time.Millisecond
}

// errApplyWait is tryPropose giving up on an entry's outcome.
var errApplyWait = errors.New("no outcome within 2s")

// tryPropose proposes one entry on r, reporting errors instead of failing.
// Raft's timeout bounds only the enqueue; like a real client, tryPropose
// stops waiting for the outcome after 2s and reports the call ambiguous
// (under fault injection a future can stay unresolved for a long time).
func tryPropose(r *raft.Raft, stamp int64, cmds ...*Command) ([]Outcome, error) {
	var enc []encodedCommand
	for _, c := range cmds {
		e, err := encodeCommand(c)
		if err != nil {
			return nil, err
		}
		enc = append(enc, e)
	}
	f := r.Apply(appendEntry(nil, stamp, enc), 200*time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return nil, err
		}
		return f.Response().([]Outcome), nil
	case <-time.After(2 * time.Second):
		return nil, errApplyWait
	}
}

func isolate(rs []*replica, victim *replica) {
	for _, r := range rs {
		if r != victim {
			r.trans.Disconnect(victim.trans.LocalAddr())
			victim.trans.Disconnect(r.trans.LocalAddr())
		}
	}
}

func heal(rs []*replica) {
	for _, a := range rs {
		for _, b := range rs {
			if a != b {
				a.trans.Connect(b.trans.LocalAddr(), b.trans)
			}
		}
	}
}

// stressSeed returns the seed of a stress test: SEATD_SEED if set (to
// replay a failure), else a fixed one.
func stressSeed(t *testing.T) uint64 {
	if s := os.Getenv("SEATD_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SEATD_SEED: %v", err)
		}
		return v
	}
	return 20261123
}

// TestPartitionHeal isolates a random node (often the leader) hundreds of
// times while holds go to whichever node leads, heals, and checks that the
// replicas agree byte for byte, pass Check, and keep every acknowledged
// hold. It is the check for divergence such as hashicorp/raft#695.
func TestPartitionHeal(t *testing.T) {
	seed := stressSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	cycles := 200
	if testing.Short() {
		cycles = 40
	}
	rs := startClusterWith(t, 3, fastRaftConfig)
	defer stopAll(t, rs)
	lead := leaderOf(t, rs)
	spec := arena(t)
	spec.MaxSeatsPerUser = 64
	now := int64(1)
	if _, err := tryPropose(lead.raft, now, &Command{Op: OpCreateProgram, Spec: spec}, &Command{Op: OpOpenSale, Program: "show"}); err != nil {
		t.Fatal(err)
	}
	acked := map[inventory.HoldID]bool{}
	var attempts, failures, leaderCuts int
	for cycle := range cycles {
		for wait := time.Now().Add(300 * time.Millisecond); currentLeader(rs) == nil && time.Now().Before(wait); {
			time.Sleep(2 * time.Millisecond)
		}
		victim := rs[rng.IntN(len(rs))]
		if rng.IntN(2) == 0 {
			if l := currentLeader(rs); l != nil {
				victim = l
				leaderCuts++
			}
		}
		isolate(rs, victim)
		for range 1 + rng.IntN(6) {
			r := rs[rng.IntN(len(rs))]
			if l := currentLeader(rs); l != nil && rng.IntN(4) != 0 {
				r = l
			}
			now++
			req := &inventory.HoldRequest{Program: "show", User: uint64(1 + rng.IntN(20)), Count: 1 + rng.IntN(2)}
			binary.BigEndian.PutUint64(req.RequestID[:], uint64(cycle)<<8|uint64(attempts&0xff))
			attempts++
			outs, err := tryPropose(r.raft, now, &Command{Op: OpHold, Hold: req})
			if err != nil {
				failures++
				continue
			}
			if outs[0].Result == inventory.ResultOK {
				acked[outs[0].Hold.ID] = true
			}
		}
		time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		heal(rs)
		if cycle%20 == 19 {
			convergeOrFail(t, rs, seed)
		}
	}
	convergeOrFail(t, rs, seed)
	for id := range acked {
		var ok bool
		rs[0].fsm.Read(func(e *inventory.Engine, _ uint64) { _, ok = e.GetHold(id, e.Now()) })
		if !ok {
			t.Fatalf("seed %d: acknowledged hold %d lost", seed, id)
		}
	}
	var installs uint64
	for _, r := range rs {
		n, _ := strconv.ParseUint(r.raft.Stats()["last_snapshot_index"], 10, 64)
		installs += min(n, 1)
	}
	t.Logf("seed %d: %d cycles (%d isolating the leader), %d proposals, %d failed, %d holds acknowledged, %d replicas that snapshotted", seed, cycles, leaderCuts, attempts, failures, len(acked), installs)
}

func currentLeader(rs []*replica) *replica {
	for _, r := range rs {
		if r.raft.State() == raft.Leader {
			return r
		}
	}
	return nil
}

// convergeOrFail waits for a quiet, agreed log and compares the replicas.
func convergeOrFail(t *testing.T, rs []*replica, seed uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l := currentLeader(rs)
		if l != nil {
			// An entry of the leader's term commits everything before it.
			if _, err := tryPropose(l.raft, 0, &Command{Op: OpAckOutbox, Seq: 0}); err == nil {
				want := l.raft.LastIndex()
				time.Sleep(20 * time.Millisecond)
				done := true
				for _, r := range rs {
					done = done && r.fsm.Applied() >= want
				}
				if done {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("seed %d: no convergence", seed)
		}
		time.Sleep(10 * time.Millisecond)
	}
	idx0, d0 := digest(rs[0])
	for _, r := range rs {
		var err error
		r.fsm.Read(func(e *inventory.Engine, _ uint64) { err = e.Check() })
		if err != nil {
			t.Fatalf("seed %d: %s: Check: %v", seed, r.id, err)
		}
		if idx, d := digest(r); idx == idx0 && string(d) != string(d0) {
			t.Fatalf("seed %d: %s diverged from %s at index %d; %s; %s", seed, r.id, rs[0].id, idx, compareLogs(rs[0], r), compareEngines(rs[0], r))
		} else if idx != idx0 {
			t.Fatalf("seed %d: %s at index %d, %s at %d after convergence", seed, r.id, idx, rs[0].id, idx0)
		}
	}
}

// compareLogs reports the first log index at which two replicas' stored
// entries differ (skipping entries one of them no longer has), to tell a
// log divergence from a state machine one.
func compareLogs(a, b *replica) string {
	ga, gb := a.store.Group(1), b.store.Group(1)
	fa, _ := ga.FirstIndex()
	fb, _ := gb.FirstIndex()
	la, _ := ga.LastIndex()
	lb, _ := gb.LastIndex()
	snaps := fmt.Sprintf("snapshots %s/%s", a.raft.Stats()["last_snapshot_index"], b.raft.Stats()["last_snapshot_index"])
	compared := 0
	for i := max(fa, fb); i <= min(la, lb); i++ {
		var x, y raft.Log
		if ga.GetLog(i, &x) != nil || gb.GetLog(i, &y) != nil {
			continue
		}
		compared++
		if x.Term != y.Term || x.Type != y.Type || string(x.Data) != string(y.Data) {
			return fmt.Sprintf("logs differ at index %d: term %d/%d type %v/%v, %d/%d bytes; %s", i, x.Term, y.Term, x.Type, y.Type, len(x.Data), len(y.Data), snaps)
		}
	}
	return fmt.Sprintf("%d stored entries agree in %d..%d (first %d/%d, last %d/%d; %s): the state machines diverged",
		compared, max(fa, fb), min(la, lb), fa, fb, la, lb, snaps)
}

// compareEngines reports the first difference between two replicas'
// engines: clock, sequences, outbox, then hold by hold.
func compareEngines(a, b *replica) string {
	var out string
	a.fsm.Read(func(ea *inventory.Engine, _ uint64) {
		b.fsm.Read(func(eb *inventory.Engine, _ uint64) {
			la, aa := ea.OutboxSeq()
			lb, ab := eb.OutboxSeq()
			sa, sb := ea.Stats(ea.Now()), eb.Stats(eb.Now())
			if ea.Now() != eb.Now() || la != lb || aa != ab || sa.Holds != sb.Holds || sa.LiveHolds != sb.LiveHolds || sa.Dedupe != sb.Dedupe {
				out = fmt.Sprintf("now %d/%d outbox %d,%d/%d,%d holds %d/%d live %d/%d dedupe %d/%d",
					ea.Now(), eb.Now(), la, aa, lb, ab, sa.Holds, sb.Holds, sa.LiveHolds, sb.LiveHolds, sa.Dedupe, sb.Dedupe)
				return
			}
			for seq := uint64(1); seq < 1<<20; seq++ {
				id := inventory.HoldID(seq<<inventory.GroupBits | 1)
				ha, oka := ea.GetHold(id, ea.Now())
				hb, okb := eb.GetHold(id, eb.Now())
				if !oka && !okb {
					if seq > 4096 {
						break
					}
					continue
				}
				if oka != okb || ha.Status != hb.Status || ha.Reason != hb.Reason || fmt.Sprint(ha.Seats) != fmt.Sprint(hb.Seats) || ha.CreatedAt != hb.CreatedAt {
					out = fmt.Sprintf("hold %d: %v %v %v %v / %v %v %v %v", id, oka, ha.Status, ha.Seats, ha.CreatedAt, okb, hb.Status, hb.Seats, hb.CreatedAt)
					return
				}
			}
			out = "engines agree hold by hold"
		})
	})
	return out
}
