package raftfsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"seatd/internal/localserver"
	"seatd/inventory"
)

// TestBackupRestore backs up every group of a 3-node cluster through its
// leaders (a follower refuses), starts a new 3-node cluster from the
// backup, and checks: every inventory group's engine is byte for byte
// the one backed up, the placement table is, the cluster has a new id,
// and it takes holds. A backup of another group count, or a damaged
// one, is refused.
func TestBackupRestore(t *testing.T) {
	c := startTestCluster(t, 3)
	g := c.openShow()
	for i := range 10 {
		req := &inventory.HoldRequest{Program: "show", User: uint64(i + 1), Count: 2}
		if o, err := c.propose(g, &Command{Op: OpHold, Hold: req}); err != nil || o.Result != inventory.ResultOK {
			t.Fatalf("hold = %v, %v", o.Result, err)
		}
	}
	var oldID string
	for deadline := time.Now().Add(10 * time.Second); oldID == ""; time.Sleep(10 * time.Millisecond) {
		if oldID = c.leader(MetaGroup).ClusterID(); oldID == "" && time.Now().After(deadline) {
			t.Fatal("the cluster was not named")
		}
	}
	want := c.converge(g)
	ctx := context.Background()
	var backup []GroupBackup
	for id := range uint16(c.cfgs[0].Groups + 1) {
		lead := c.leader(id)
		for _, n := range c.live() {
			if n != lead {
				if _, err := n.Backup(ctx, id); !errors.Is(err, ErrNotLeader) {
					t.Errorf("Backup(%d) at a follower = %v; want ErrNotLeader", id, err)
				}
				break
			}
		}
		b, err := lead.Backup(ctx, id)
		if err != nil {
			t.Fatalf("Backup(%d) = %v", id, err)
		}
		if err := CheckBackup(b, c.cfgs[0].Groups, c.cfgs[0].Engine); err != nil {
			t.Errorf("CheckBackup(%d) = %v", id, err)
		}
		backup = append(backup, b)
	}
	meta, err := ReadMeta(backup[MetaGroup].Data)
	if err != nil || meta.ClusterID != oldID || len(meta.Placements) != 1 || meta.Placements[0].Group != g {
		t.Fatalf("ReadMeta = %+v, %v; want cluster %s and show on group %d", meta, err, oldID, g)
	}
	damaged := backup[g]
	damaged.Data = bytes.Clone(damaged.Data)
	damaged.Data[len(damaged.Data)/2] ^= 0x55
	if err := CheckBackup(damaged, c.cfgs[0].Groups, c.cfgs[0].Engine); !errors.Is(err, ErrRestore) {
		t.Errorf("CheckBackup of a damaged group = %v; want ErrRestore", err)
	}
	if err := CheckBackup(backup[MetaGroup], 3, c.cfgs[0].Engine); !errors.Is(err, ErrRestore) {
		t.Errorf("CheckBackup of the meta group for 3 groups = %v; want ErrRestore", err)
	}

	r := &testCluster{t: t}
	addrs, err := localserver.FreeAddrs(3)
	if err != nil {
		t.Fatal(err)
	}
	var peers []Peer
	for i, addr := range addrs {
		peers = append(peers, Peer{ID: fmt.Sprintf("r%d", i+1), Addr: addr})
	}
	short := testNodeConfig("r1", t.TempDir(), peers[0].Addr)
	short.Bootstrap, short.Peers, short.Restore = true, peers, backup[:2]
	if _, err := StartNode(short); !errors.Is(err, ErrRestore) {
		t.Errorf("StartNode with a backup of 1 group for 2 = %v; want ErrRestore", err)
	}
	for i, p := range peers {
		cfg := testNodeConfig(p.ID, t.TempDir(), p.Addr)
		cfg.Bootstrap, cfg.Peers, cfg.Restore = true, peers, backup
		n, err := StartNode(cfg)
		if err != nil {
			t.Fatalf("StartNode(r%d) = %v", i+1, err)
		}
		r.nodes, r.cfgs = append(r.nodes, n), append(r.cfgs, cfg)
	}
	t.Cleanup(func() {
		for _, n := range r.live() {
			n.Shutdown(false)
		}
	})
	r.waitLeaders()
	// Each node starts from the backup as its snapshot: before any command
	// its engine is the one backed up. (Elections add no-op entries that
	// never reach the FSM, so converge cannot tell a quiet group's end.)
	for _, n := range r.live() {
		var got []byte
		n.Read(g, func(e *inventory.Engine, applied uint64) {
			got = e.AppendSnapshot(nil)
			if applied != backup[g].Index {
				t.Errorf("%s group %d restored at index %d; want %d", n.ID(), g, applied, backup[g].Index)
			}
		})
		if !bytes.Equal(got, want) {
			t.Errorf("%s group %d restored: %d bytes differing from the %d backed up", n.ID(), g, len(got), len(want))
		}
	}
	var newID string
	for deadline := time.Now().Add(10 * time.Second); newID == ""; time.Sleep(10 * time.Millisecond) {
		if newID = r.leader(MetaGroup).ClusterID(); newID == "" && time.Now().After(deadline) {
			t.Fatal("the restored cluster was not named")
		}
	}
	if newID == oldID {
		t.Errorf("the restored cluster kept the id %s; want a new one", oldID)
	}
	for _, n := range r.live() {
		if pg, ok := n.Placement("show"); !ok || pg != g {
			t.Errorf("%s places show on %d, %v; want %d", n.ID(), pg, ok, g)
		}
	}
	req := &inventory.HoldRequest{Program: "show", User: 99, Count: 2}
	if o, err := r.propose(g, &Command{Op: OpHold, Hold: req}); err != nil || o.Result != inventory.ResultOK {
		t.Fatalf("hold on the restored cluster = %v, %v", o.Result, err)
	}
	r.converge(g)
}

// TestRestoreDataForgetsNodes: the meta group's data a restored cluster
// starts from keeps the placements but not what belonged to the nodes of
// the cluster backed up: its id, its directory, its drain marks. A mark
// kept under a reused node id would keep that node from leading in the
// new cluster (every node, had all been drained).
func TestRestoreDataForgetsNodes(t *testing.T) {
	f := newMetaFSM(2)
	idx := uint64(0)
	apply := func(entry []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		idx++
		if r, _ := metaApply(f, idx, entry).(error); r != nil {
			t.Fatal(r)
		}
	}
	apply(encodePlace("show"), nil)
	apply(encodeCluster("0123456789abcdef0123456789abcdef"), nil)
	apply(nodeEntry(t, "n1", "10.0.0.1:7100"), nil)
	apply(encodeDrain("n1", true, []string{"n1", "n2", "n3"}))
	apply(encodeDrain("n2", true, []string{"n1", "n2", "n3"}))
	s, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := restoreData(GroupBackup{Group: MetaGroup, Data: []byte(s.(snapshot))}, 2)
	if err != nil {
		t.Fatal(err)
	}
	r := newMetaFSM(2)
	if err := r.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if g, ok := r.lookup("show"); !ok || g != 1 {
		t.Errorf("restored placement of show = %d, %v; want group 1", g, ok)
	}
	if id, d, dir := r.clusterID(), r.drainedNodes(), r.directory(); id != "" || len(d) != 0 || len(dir) != 0 {
		t.Errorf("restored meta data: cluster %q, drained %v, directory %v; want none of the old cluster's", id, d, dir)
	}
}
