package raftfsm

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"seatd/inventory"
)

// replica is one member of an in-memory test cluster: real pebble log and
// file snapshots, in-memory transport.
type replica struct {
	id    raft.ServerID
	dir   string
	store *Store
	fsm   *FSM
	trans *raft.InmemTransport
	raft  *raft.Raft
}

func testRaftConfig(id raft.ServerID) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = id
	c.HeartbeatTimeout = 100 * time.Millisecond
	c.ElectionTimeout = 100 * time.Millisecond
	c.LeaderLeaseTimeout = 50 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.SnapshotThreshold = 1 << 20 // snapshots only when a test asks
	c.Logger = hclog.NewNullLogger()
	return c
}

func startReplica(t *testing.T, id raft.ServerID, dir string, trans *raft.InmemTransport, tune ...func(*raft.Config)) *replica {
	t.Helper()
	store, err := OpenStore(filepath.Join(dir, "pebble"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	fsm, err := NewFSM(inventory.Config{Group: 1})
	if err != nil {
		t.Fatal(err)
	}
	gs := store.Group(1)
	rc := testRaftConfig(id)
	for _, f := range tune {
		f(rc)
	}
	r, err := raft.NewRaft(rc, fsm, gs, gs, snaps, guardTransport(trans, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	return &replica{id: id, dir: dir, store: store, fsm: fsm, trans: trans, raft: r}
}

func (r *replica) stop(t *testing.T) {
	t.Helper()
	if err := r.raft.Shutdown().Error(); err != nil {
		t.Fatal(err)
	}
	r.store.Close()
}

func startCluster(t *testing.T, n int) []*replica {
	t.Helper()
	return startClusterWith(t, n)
}

func startClusterWith(t *testing.T, n int, tune ...func(*raft.Config)) []*replica {
	t.Helper()
	var rs []*replica
	var servers []raft.Server
	for i := range n {
		id := raft.ServerID(fmt.Sprintf("n%d", i+1))
		_, trans := raft.NewInmemTransport(raft.ServerAddress(id))
		rs = append(rs, startReplica(t, id, t.TempDir(), trans, tune...))
		servers = append(servers, raft.Server{ID: id, Address: trans.LocalAddr()})
	}
	for _, a := range rs {
		for _, b := range rs {
			if a != b {
				a.trans.Connect(b.trans.LocalAddr(), b.trans)
			}
		}
	}
	if err := rs[0].raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		t.Fatal(err)
	}
	return rs
}

func leaderOf(t *testing.T, rs []*replica) *replica {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range rs {
			if r.raft != nil && r.raft.State() == raft.Leader {
				return r
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no leader within 10s")
	return nil
}

// propose applies one entry of commands through raft and returns their
// outcomes.
func propose(t *testing.T, r *raft.Raft, stamp int64, cmds ...*Command) []Outcome {
	t.Helper()
	var enc []encodedCommand
	for _, c := range cmds {
		e, err := encodeCommand(c)
		if err != nil {
			t.Fatalf("encodeCommand(%+v) = %v", c, err)
		}
		enc = append(enc, e)
	}
	f := r.Apply(appendEntry(nil, stamp, enc), 5*time.Second)
	if err := f.Error(); err != nil {
		t.Fatalf("Apply = %v", err)
	}
	return f.Response().([]Outcome)
}

// digest is a replica's state: its engine snapshot and applied index.
func digest(r *replica) (uint64, []byte) {
	var idx uint64
	var b []byte
	r.fsm.Read(func(e *inventory.Engine, applied uint64) {
		idx, b = applied, e.AppendSnapshot(nil)
	})
	return idx, b
}

// converge waits until every replica has applied the leader's last index
// and checks that their states are byte-identical.
func converge(t *testing.T, rs []*replica) {
	t.Helper()
	want := leaderOf(t, rs).raft.LastIndex()
	deadline := time.Now().Add(10 * time.Second)
	for _, r := range rs {
		for r.fsm.Applied() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%s applied %d of %d", r.id, r.fsm.Applied(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	_, first := digest(rs[0])
	for _, r := range rs[1:] {
		if _, d := digest(r); !bytes.Equal(first, d) {
			t.Fatalf("%s and %s differ at index %d", rs[0].id, r.id, want)
		}
	}
}

func arena(t testing.TB) *inventory.ProgramSpec {
	l, err := inventory.Grid{Sections: 2, Rows: 20, Cols: 30, Categories: []inventory.GridCategory{{ID: "a", First: 1, Last: 20}}}.Layout()
	if err != nil {
		t.Fatal(err)
	}
	return &inventory.ProgramSpec{ID: "show", Layout: l, Categories: []inventory.Category{{ID: "a", PriceCents: 100}}}
}

func TestReplicatedApply(t *testing.T) {
	rs := startCluster(t, 3)
	defer func() {
		for _, r := range rs {
			r.stop(t)
		}
	}()
	lead := leaderOf(t, rs)
	now := time.Date(2027, 1, 1, 10, 0, 0, 0, time.UTC).UnixNano()
	outs := propose(t, lead.raft, now, &Command{Op: OpCreateProgram, Spec: arena(t)}, &Command{Op: OpOpenSale, Program: "show"})
	if outs[0].Result != inventory.ResultOK || outs[1].Result != inventory.ResultOK {
		t.Fatalf("create and open = %+v", outs)
	}
	// Batches of holds in one entry each get their own outcome.
	seen := map[uint32]bool{}
	var ids []inventory.HoldID
	for batch := range 20 {
		var cmds []*Command
		for i := range 10 {
			cmds = append(cmds, &Command{Op: OpHold, Hold: &inventory.HoldRequest{Program: "show", User: uint64(1 + batch*10 + i), Count: 2, Together: true}})
		}
		for _, o := range propose(t, lead.raft, now+int64(batch), cmds...) {
			if o.Result != inventory.ResultOK {
				t.Fatalf("hold = %v", o.Result)
			}
			for _, s := range o.Hold.Seats {
				if seen[s] {
					t.Fatalf("seat %d held twice", s)
				}
				seen[s] = true
			}
			ids = append(ids, o.Hold.ID)
		}
	}
	for _, id := range ids[:50] {
		if o := propose(t, lead.raft, now+int64(time.Second), &Command{Op: OpConfirm, HoldID: id}); o[0].Result != inventory.ResultOK {
			t.Fatalf("confirm = %v", o[0].Result)
		}
	}
	// Time comes from the stamp: a tick past the TTL expires the rest.
	o := propose(t, lead.raft, now+int64(inventory.DefaultHoldTTL)+int64(time.Minute), &Command{Op: OpTick})
	if len(o[0].Expired) != 150 {
		t.Fatalf("tick expired %d holds; want 150", len(o[0].Expired))
	}
	// The program's version is the log index of its last change but
	// expiries, with the expiries since: the same on every replica, and a
	// tick with nothing to do leaves it as it was.
	converge(t, rs)
	version := func(r *replica) (v inventory.Version) {
		r.fsm.Read(func(e *inventory.Engine, _ uint64) { _, v, _ = e.Availability("show", 0, 0, e.Now()) })
		return v
	}
	before := version(lead)
	idle := propose(t, lead.raft, now+int64(inventory.DefaultHoldTTL)+int64(2*time.Minute), &Command{Op: OpTick})
	converge(t, rs)
	for _, r := range rs {
		if v := version(r); v != before || v.Expired != 150 || v.Index >= o[0].Index || r.fsm.Applied() < idle[0].Index {
			t.Fatalf("replica %s: version %v after the idle tick; want %v, 150 expired, an index before the expiring tick's %d", r.id, v, before, o[0].Index)
		}
	}

	// A follower snapshots, stops, and restarts from its pebble log and
	// snapshot; it catches up on what it missed.
	var follower *replica
	for _, r := range rs {
		if r != lead {
			follower = r
		}
	}
	if err := follower.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	follower.stop(t)
	propose(t, lead.raft, now+int64(2*time.Hour), &Command{Op: OpHold, Hold: &inventory.HoldRequest{Program: "show", User: 999, Count: 4}})
	restarted := startReplica(t, follower.id, follower.dir, follower.trans)
	for i, r := range rs {
		if r == follower {
			rs[i] = restarted
		}
	}
	converge(t, rs)
}
