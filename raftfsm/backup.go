package raftfsm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/raft"

	"seatd/inventory"
)

// GroupBackup is one Raft group's state in a backup: the encoding its
// FSM's snapshot has (for an inventory group the applied index, 8 bytes
// big-endian, then the engine's snapshot; for the meta group the
// placement table, the node directory and the cluster id), and the log
// index it reflects.
type GroupBackup struct {
	Group uint16
	Index uint64
	Data  []byte
}

// ErrRestore is a backup that cannot seed this node: a group missing,
// decoding, a group count that differs, or a node that has Raft state.
var ErrRestore = errors.New("raftfsm: cannot restore")

// Backup returns a group's state as its leader has it after a consistent
// read: the node commits a barrier entry (which only a leader can) and
// waits until its FSM has applied everything before it, so the state
// holds every write acknowledged before Backup began. It is the encoding raft's
// snapshots have, made in memory under the FSM's read lock (writes wait
// for the copy, a few milliseconds for a large program), not a snapshot
// raft takes and keeps: a backup leaves the node's log and snapshot store
// as they were. A node that does not lead the group answers a
// *NotLeaderError (errors.Is ErrNotLeader).
func (n *Node) Backup(ctx context.Context, groupID uint16) (GroupBackup, error) {
	if int(groupID) >= len(n.groups) {
		return GroupBackup{}, fmt.Errorf("%w: %d", ErrNoGroup, groupID)
	}
	g := n.groups[groupID]
	if g.raft.State() != raft.Leader {
		return GroupBackup{}, g.notLeader()
	}
	// A barrier is a log entry: it commits only while this node leads,
	// and its future returns once the FSM has applied every entry before
	// it. (Waiting for the FSM's applied index to reach the commit index
	// would wait for ever on a quiet group: elections' no-op entries
	// never reach the FSM.)
	wait := 30 * time.Second
	if d, ok := ctx.Deadline(); ok {
		wait = time.Until(d)
	}
	if err := g.raft.Barrier(wait).Error(); err != nil {
		return GroupBackup{}, classify(err)
	}
	var fs raft.FSMSnapshot
	var err error
	if g.fsm != nil {
		fs, err = g.fsm.Snapshot()
	} else {
		fs, err = g.tables.Snapshot()
	}
	if err != nil {
		return GroupBackup{}, err
	}
	data := []byte(fs.(snapshot))
	index := g.raft.AppliedIndex()
	if g.fsm != nil {
		index = binary.BigEndian.Uint64(data)
	}
	return GroupBackup{Group: groupID, Index: max(index, 1), Data: data}, nil
}

// MetaState is what a meta group's backup holds.
type MetaState struct {
	Groups     int // inventory groups
	ClusterID  string
	Placements []Placement // by program
	Directory  []NodeInfo  // by id
}

// ReadMeta decodes a meta group's backup data.
func ReadMeta(data []byte) (MetaState, error) {
	r := &reader{b: data}
	r.byte()
	groups := r.uvarint()
	if r.err != nil || groups < 1 || groups > inventory.MaxGroup {
		return MetaState{}, fmt.Errorf("%w: meta snapshot of %d groups", ErrRestore, groups)
	}
	f := newMetaFSM(int(groups))
	if err := f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		return MetaState{}, fmt.Errorf("%w: %w", ErrRestore, err)
	}
	return MetaState{Groups: int(groups), ClusterID: f.clusterID(), Placements: f.table(), Directory: f.directory()}, nil
}

// CheckBackup decodes a group's backup data as a restore would, without
// keeping it: an inventory group's engine must decode and pass Check at
// the backup's index; the meta group must be of groups inventory groups.
func CheckBackup(b GroupBackup, groups int, cfg inventory.Config) error {
	if b.Group == MetaGroup {
		st, err := ReadMeta(b.Data)
		if err == nil && st.Groups != groups {
			err = fmt.Errorf("%w: the backup has %d inventory groups, this node %d", ErrRestore, st.Groups, groups)
		}
		return err
	}
	if len(b.Data) < 8 {
		return fmt.Errorf("%w: group %d: %d bytes", ErrRestore, b.Group, len(b.Data))
	}
	if i := binary.BigEndian.Uint64(b.Data); i != b.Index {
		return fmt.Errorf("%w: group %d: the state is at index %d, the backup says %d", ErrRestore, b.Group, i, b.Index)
	}
	cfg.Group = int(b.Group)
	e, err := inventory.Restore(cfg, b.Data[8:])
	if err != nil {
		return fmt.Errorf("%w: group %d: %w", ErrRestore, b.Group, err)
	}
	if err := e.Check(); err != nil {
		return fmt.Errorf("%w: group %d: %w", ErrRestore, b.Group, err)
	}
	return nil
}

// restoreData returns what group g's snapshot store is seeded with: the
// backup's data, but for the meta group without the cluster id, the
// node directory and the drain marks. A restored cluster is a new
// cluster: its first meta leader names it anew (so consumers of its
// events tell it from the cluster backed up, whose numbers it reuses from
// the backup's point on), its members announce their own addresses, and
// none of them is drained (a mark kept under a reused node id would keep
// that node from leading, or every node, had the backup's all been).
func restoreData(b GroupBackup, groups int) ([]byte, error) {
	if b.Group != MetaGroup {
		return b.Data, nil
	}
	f := newMetaFSM(groups)
	if err := f.Restore(io.NopCloser(bytes.NewReader(b.Data))); err != nil {
		return nil, fmt.Errorf("%w: meta group: %w", ErrRestore, err)
	}
	f.cluster, f.nodes, f.drained = "", map[string]string{}, map[string]bool{}
	s, _ := f.Snapshot()
	return []byte(s.(snapshot)), nil
}

// seed writes a group's backup into its empty snapshot store as a
// snapshot at the backup's index, term 1, whose configuration is the
// bootstrap peers, and sets the group's term to 1: raft then starts from
// it as from its own snapshot, on every node alike.
func (n *Node) seed(g *group, snaps raft.SnapshotStore, stable raft.StableStore, b GroupBackup) error {
	data, err := restoreData(b, n.cfg.Groups)
	if err != nil {
		return err
	}
	conf := raft.Configuration{Servers: n.servers(n.cfg.Peers)}
	sink, err := snaps.Create(raft.SnapshotVersionMax, b.Index, 1, conf, b.Index, g.trans)
	if err != nil {
		return err
	}
	if _, err := sink.Write(data); err != nil {
		sink.Cancel()
		return err
	}
	if err := sink.Close(); err != nil {
		return err
	}
	return stable.SetUint64([]byte("CurrentTerm"), 1)
}
