package raftfsm

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/hashicorp/raft"

	"seatd/inventory"
)

// snapshotCluster is a cluster that snapshots often and keeps few entries
// after a snapshot, so that a follower that falls behind must be sent one.
func snapshotCluster(t *testing.T) *testCluster {
	c := startTestClusterWith(t, 3, false, func(cfg *NodeConfig) {
		cfg.Groups = 1
		cfg.SnapshotThreshold, cfg.TrailingLogs, cfg.SnapshotInterval = 32, 8, 50_000_000 // 50ms
	})
	c.openShow()
	return c
}

func (c *testCluster) holds(n int, user uint64) {
	for i := range n {
		req := &inventory.HoldRequest{Program: "show", User: user + uint64(i), Count: 1}
		if o, err := c.propose(1, &Command{Op: OpHold, Hold: req}); err != nil || o.Result != inventory.ResultOK {
			c.t.Fatalf("hold = %v, %v", o.Result, err)
		}
	}
}

func followerIndex(c *testCluster, g uint16) int {
	lead := c.leader(g)
	for i, n := range c.nodes {
		if n != nil && n != lead {
			return i
		}
	}
	return -1
}

// TestSnapshotInstall: a follower down while the leader compacts its log
// comes back by snapshot install and converges.
func TestSnapshotInstall(t *testing.T) {
	c := snapshotCluster(t)
	c.holds(20, 1)
	f := followerIndex(c, 1)
	behind := c.nodes[f].groups[1].raft.LastIndex()
	c.kill(f)
	c.holds(300, 1000) // many snapshots and compactions past the follower
	if first, _ := c.leader(1).store.Group(1).FirstIndex(); first <= behind+1 {
		t.Fatalf("leader's log starts at %d, the follower stopped at %d: it could catch up without a snapshot", first, behind)
	}
	c.restart(f)
	c.converge(1)
	st := c.nodes[f].groups[1].raft.Stats()
	if idx, _ := strconv.ParseUint(st["last_snapshot_index"], 10, 64); idx == 0 {
		t.Fatalf("restarted follower has no snapshot: %v", st)
	}
	c.holds(5, 5000)
	c.converge(1)
}

// TestCorruptSnapshotRefused: a node whose only snapshot is damaged does
// not start with a partial or empty state.
func TestCorruptSnapshotRefused(t *testing.T) {
	c := snapshotCluster(t)
	c.holds(100, 1)
	f := followerIndex(c, 1)
	n := c.nodes[f]
	if err := n.groups[1].raft.Snapshot().Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		t.Fatal(err)
	}
	c.kill(f)
	dir := filepath.Join(c.cfgs[f].Dir, "snapshots", "1", "snapshots")
	snaps, err := os.ReadDir(dir)
	if err != nil || len(snaps) == 0 {
		t.Fatalf("no snapshots in %s: %v", dir, err)
	}
	for _, s := range snaps {
		state := filepath.Join(dir, s.Name(), "state.bin")
		data, err := os.ReadFile(state)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0xff
		if err := os.WriteFile(state, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := StartNode(c.cfgs[f]); err == nil {
		n.Shutdown(false)
		t.Fatal("a node with only corrupt snapshots started")
	}
}

// failingReader returns data, then an error: a snapshot cut off mid-read.
type failingReader struct {
	data []byte
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, errors.New("connection reset")
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func (r *failingReader) Close() error { return nil }

// TestFSMRestoreFailureKeepsState: a restore that fails part-way (the
// stream breaks, or the data is cut short) leaves the FSM as it was.
func TestFSMRestoreFailureKeepsState(t *testing.T) {
	f, _ := NewFSM(inventory.Config{Group: 1})
	spec := arena(t)
	f.e.CreateProgram(0, spec)
	snap, _ := f.Snapshot()
	full := []byte(snap.(snapshot))
	before := string(full)

	other, _ := NewFSM(inventory.Config{Group: 1})
	for _, data := range [][]byte{full[:len(full)/2], full[:5]} {
		if err := f.Restore(&failingReader{data: data}); err == nil {
			t.Fatal("Restore from a broken stream succeeded")
		}
		if err := f.Restore(io.NopCloser(bytes.NewReader(data))); err == nil {
			t.Fatal("Restore from a truncated snapshot succeeded")
		}
	}
	if after, _ := f.Snapshot(); string(after.(snapshot)) != before {
		t.Fatal("a failed restore changed the FSM")
	}
	if err := other.Restore(io.NopCloser(bytes.NewReader(full))); err != nil {
		t.Fatalf("Restore(good) = %v", err)
	}
}

// TestTornSnapshotIgnored: a node that crashed while writing or receiving
// a snapshot leaves a temporary directory behind; it restarts from the
// last complete snapshot and its log, and catches up.
func TestTornSnapshotIgnored(t *testing.T) {
	c := snapshotCluster(t)
	c.holds(100, 1)
	f := followerIndex(c, 1)
	c.kill(f)
	dir := filepath.Join(c.cfgs[f].Dir, "snapshots", "1", "snapshots")
	torn := filepath.Join(dir, "9-999999-1700000000000.tmp")
	if err := os.MkdirAll(torn, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(torn, "state.bin"), []byte("half a snap"), 0o600)
	c.holds(50, 1000)
	c.restart(f)
	c.converge(1)
}
