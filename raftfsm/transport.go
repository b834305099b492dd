package raftfsm

import (
	"sync"

	"github.com/hashicorp/raft"
)

// transport is what a group's raft runs over: raft's TCP transport on the
// mux in production, its in-memory transport in tests. Both can close and
// send pre-votes.
type transport interface {
	raft.Transport
	raft.WithClose
	raft.WithPreVote
}

// guardedTransport is the transport raft is given. It puts two guards
// between the wire and raft's main loop, each against a hashicorp/raft
// v1.8.0 bug that makes replicas diverge:
//
//   - No heartbeat fast path. Raft installs one so that a follower busy
//     with a slow fsync still answers heartbeats, but a heartbeat carrying
//     a newer term then changes the node's term concurrently with its main
//     loop, and an old leader can append a client entry under the new
//     term: hashicorp/raft#695, replicas diverging after a partition heals
//     (seen here by TestPartitionHeal). Without the fast path every RPC
//     goes through the main loop, in order. The cost: heartbeats wait
//     behind the follower's disk, so election timeouts must cover an fsync.
//   - The leader's commit index is clamped to the last entry of the
//     request: see clampCommit.
//
// It also replicates without raft's pipeline: see AppendEntriesPipeline.
//
// It also tells answered, when not nil, of every peer that answers an
// AppendEntries this node sent (see Node.balance), and received, when
// not nil, of the entries of every AppendEntries request that comes in,
// before raft sees them (the node reckons the log's time from them: see
// logClock).
//
// A goroutine forwards each RPC from the wrapped transport's consumer to
// raft; it ends when raft closes the transport.
type guardedTransport struct {
	transport
	answered  func(raft.ServerID)
	received  func([]*raft.Log)
	rpcs      chan raft.RPC
	done      chan struct{}
	closeOnce sync.Once
}

func guardTransport(t transport, answered func(raft.ServerID), received func([]*raft.Log)) *guardedTransport {
	g := &guardedTransport{transport: t, answered: answered, received: received, rpcs: make(chan raft.RPC), done: make(chan struct{})}
	go g.forward()
	return g
}

// AppendEntries sends entries or a heartbeat and notes that the peer
// answered.
func (g *guardedTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest,
	resp *raft.AppendEntriesResponse) error {
	err := g.transport.AppendEntries(id, target, args, resp)
	if err == nil && g.answered != nil {
		g.answered(id)
	}
	return err
}

// AppendEntriesPipeline refuses, so raft replicates to each follower one
// AppendEntries at a time, each carrying every entry the leader stored
// while the previous one was out. Pipelined, raft sends one request per
// leader write and the follower, which handles them one by one, syncs its
// log once for each: its fsyncs queue behind one another, on a disk the
// leader's fsync is using too. One at a time, the follower syncs once per
// round trip whatever the load, a request waits at most one round trip to
// leave, and the goroutine that sent a request reads its answer (the
// pipeline hands each answer from one goroutine to another). Raft falls
// back to this mode whenever the pipeline fails, and a follower catching
// up is always served this way. docs/replication.md ("Replication one
// request at a time") has the measurements.
func (g *guardedTransport) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}

func (g *guardedTransport) forward() {
	in := g.transport.Consumer()
	for {
		select {
		case rpc := <-in:
			if req, ok := rpc.Command.(*raft.AppendEntriesRequest); ok {
				clampCommit(req)
				if g.received != nil && len(req.Entries) > 0 {
					g.received(req.Entries)
				}
			}
			select {
			case g.rpcs <- rpc:
			case <-g.done:
				return
			}
		case <-g.done:
			return
		}
	}
}

// Consumer returns the guarded RPCs.
func (g *guardedTransport) Consumer() <-chan raft.RPC { return g.rpcs }

// SetHeartbeatHandler ignores the fast path; see guardedTransport.
func (g *guardedTransport) SetHeartbeatHandler(func(raft.RPC)) {}

// Close stops the forwarding and closes the wrapped transport.
func (g *guardedTransport) Close() error {
	g.closeOnce.Do(func() { close(g.done) })
	return g.transport.Close()
}

// clampCommit lowers an AppendEntries request's commit index to the index
// of its last entry (its previous entry when it carries none), the rule
// of the Raft paper (Figure 2: commitIndex = min(leaderCommit, index of
// last new entry)). hashicorp/raft v1.8.0 takes the follower's own last
// index instead. When every entry of a request is one the follower has
// already, raft truncates nothing, so a follower that also holds a stale
// suffix from an old term beyond them applies it as committed, while the
// leader committed other entries at those indexes. The entries the
// follower can trust are the ones this request proved match the leader.
// TestStaleCommit reproduces the case.
func clampCommit(req *raft.AppendEntriesRequest) {
	last := req.PrevLogEntry
	if n := len(req.Entries); n > 0 {
		last = req.Entries[n-1].Index
	}
	req.LeaderCommitIndex = min(req.LeaderCommitIndex, last)
}
