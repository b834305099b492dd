package raftfsm

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// recordingFSM remembers the data of every command it applies.
type recordingFSM struct {
	mu      sync.Mutex
	applied []string
}

func (f *recordingFSM) Apply(l *raft.Log) any {
	if l.Type == raft.LogCommand {
		f.mu.Lock()
		f.applied = append(f.applied, string(l.Data))
		f.mu.Unlock()
	}
	return nil
}

func (f *recordingFSM) Snapshot() (raft.FSMSnapshot, error) { return snapshot(nil), nil }
func (f *recordingFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

func (f *recordingFSM) get() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.applied)
}

// TestStaleCommit plays a leader against one follower to build the case
// clampCommit guards against. The follower holds entries 2-5 of term 1,
// none committed. A leader of term 2, whose own entries 4 and 5 differ,
// sends entry 3 again (the follower has it) with its commit index 5.
// The follower may commit only what the request proved it shares with
// the leader, entry 3; raft v1.8.0 alone would apply its stale 4 and 5,
// then never apply the leader's 4 and 5.
func TestStaleCommit(t *testing.T) {
	fAddr, fTrans := raft.NewInmemTransport("f")
	lAddr, lTrans := raft.NewInmemTransport("l")
	fTrans.Connect(lAddr, lTrans)
	lTrans.Connect(fAddr, fTrans)
	cfg := raft.DefaultConfig()
	cfg.LocalID = "f"
	cfg.HeartbeatTimeout, cfg.ElectionTimeout = 10*time.Second, 10*time.Second // stays a follower
	cfg.Logger = nil
	cfg.LogOutput = io.Discard
	store := raft.NewInmemStore()
	snaps := raft.NewInmemSnapshotStore()
	servers := raft.Configuration{Servers: []raft.Server{{ID: "l", Address: lAddr}, {ID: "f", Address: fAddr}, {ID: "x", Address: "x"}}}
	if err := raft.BootstrapCluster(cfg, store, store, snaps, fTrans, servers); err != nil {
		t.Fatal(err)
	}
	fsm := &recordingFSM{}
	r, err := raft.NewRaft(cfg, fsm, store, store, snaps, guardTransport(fTrans, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown()

	entry := func(index, term uint64, data string) *raft.Log {
		return &raft.Log{Index: index, Term: term, Type: raft.LogCommand, Data: []byte(data)}
	}
	send := func(term, prev, prevTerm, commit uint64, entries ...*raft.Log) {
		t.Helper()
		req := &raft.AppendEntriesRequest{
			RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("l"), Addr: []byte(lAddr)},
			Term:      term, PrevLogEntry: prev, PrevLogTerm: prevTerm, Entries: entries, LeaderCommitIndex: commit,
		}
		var resp raft.AppendEntriesResponse
		if err := lTrans.AppendEntries("f", fAddr, req, &resp); err != nil || !resp.Success {
			t.Fatalf("AppendEntries(term %d, prev %d) = %+v, %v", term, prev, resp, err)
		}
	}
	waitApplied := func(want ...string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for len(fsm.get()) < len(want) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // time to apply anything more
		if got := fsm.get(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("follower applied %q; want %q", got, want)
		}
	}

	// Index 1 is the bootstrap configuration (term 1).
	send(1, 1, 1, 1, entry(2, 1, "old-2"), entry(3, 1, "old-3"), entry(4, 1, "old-4"), entry(5, 1, "old-5"))
	waitApplied()
	send(2, 2, 1, 5, entry(3, 1, "old-3"))
	waitApplied("old-2", "old-3")
	send(2, 3, 1, 5, entry(4, 2, "new-4"), entry(5, 2, "new-5"))
	waitApplied("old-2", "old-3", "new-4", "new-5")
}

func TestClampCommit(t *testing.T) {
	for _, tc := range []struct {
		prev, commit uint64
		entries      int
		want         uint64
	}{
		{prev: 10, commit: 20, entries: 0, want: 10},
		{prev: 10, commit: 20, entries: 3, want: 13},
		{prev: 10, commit: 12, entries: 5, want: 12},
		{prev: 0, commit: 7, entries: 0, want: 0},
	} {
		req := &raft.AppendEntriesRequest{PrevLogEntry: tc.prev, LeaderCommitIndex: tc.commit}
		for i := range tc.entries {
			req.Entries = append(req.Entries, &raft.Log{Index: tc.prev + uint64(i) + 1})
		}
		clampCommit(req)
		if req.LeaderCommitIndex != tc.want {
			t.Errorf("clampCommit(prev %d, %d entries, commit %d) = %d; want %d", tc.prev, tc.entries, tc.commit, req.LeaderCommitIndex, tc.want)
		}
	}
}
