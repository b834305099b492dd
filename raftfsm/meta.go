package raftfsm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

	"github.com/hashicorp/raft"
)

// Bounds on the meta group's tables.
const (
	// MaxPlacements bounds the placement table (programs across the
	// cluster).
	MaxPlacements = 1 << 20
	// MaxDirectoryNodes bounds the node directory. Raft clusters stay far
	// smaller (every voter receives every entry); the bound only stops a
	// misbehaving announcer from growing the table.
	MaxDirectoryNodes = 256
)

// Meta entry ops. Never renumber: they are in the meta group's log.
const (
	metaPlace    = 1 // place a program on a group
	metaNodeAddr = 2 // set (or, with an empty address, forget) a node's RPC address
	metaCluster  = 3 // name the cluster, once
	metaDrain    = 4 // mark a node drained, or undrained
	metaReplace  = 5 // move a placed program from one group to another (a program move's switch)
)

// metaSnapshotVersion is the first byte of a meta group snapshot. Version
// 2 added the cluster id, version 3 the drained nodes.
const metaSnapshotVersion = 3

// ClusterIDLen is the length of a cluster id: 32 hex digits (128 random
// bits).
const ClusterIDLen = 32

// metaFSM is the meta group's state: which group holds each program, and
// the directory of the members' RPC addresses. A place command for a
// program not yet placed puts it on the group with the fewest programs
// (the lowest id on a tie), deterministically, and returns that group; for
// a placed program it returns the group it has. The directory lets any
// node name a leader's RPC address in a not-leader answer, and lets a
// client that knows one node find all of them.
type metaFSM struct {
	groups int // inventory groups 1..groups

	mu     sync.RWMutex // guards places, counts, nodes, drained, placed, cluster
	places map[string]uint16
	counts []int             // programs per group, index = group
	nodes  map[string]string // node id -> RPC address
	// drained holds the nodes an operator drained: every node's balancer
	// gives them no leadership, and they hand over what they lead. At
	// most MaxDirectoryNodes, as the directory.
	drained map[string]bool
	// placed is closed, and replaced, whenever places gains programs, so
	// that await wakes without polling.
	placed chan struct{}
	// cluster names this cluster for its life: the first meta leader
	// proposes a random id, and the first one applied stays. Everything
	// the cluster numbers (hold ids, order numbers, outbox sequences)
	// is unique only within it, so consumers tell clusters apart by it.
	cluster string
}

func newMetaFSM(groups int) *metaFSM {
	return &metaFSM{groups: groups, places: make(map[string]uint16), counts: make([]int, groups+1), nodes: make(map[string]string),
		drained: make(map[string]bool), placed: make(chan struct{})}
}

var _ raft.FSM = (*metaFSM)(nil)

// placeResult is Apply's answer to a place command.
type placeResult struct {
	group uint16
	err   error
}

// encodeReplace moves program's placement from group from to group to.
func encodeReplace(program string, from, to uint16) []byte {
	b := []byte{entryVersion, metaReplace}
	b, _ = appendStr(b, program)
	b = binary.AppendUvarint(b, uint64(from))
	return binary.AppendUvarint(b, uint64(to))
}

func encodePlace(program string) []byte {
	b := []byte{entryVersion, metaPlace}
	b = binary.AppendUvarint(b, uint64(len(program)))
	return append(b, program...)
}

// encodeNodeAddr records (or, with addr empty, forgets) a node's RPC
// address.
func encodeNodeAddr(id, addr string) ([]byte, error) {
	if id == "" || len(id) > maxStringLen || len(addr) > maxStringLen {
		return nil, fmt.Errorf("%w: node id %q, address of %d bytes", ErrBadCommand, id, len(addr))
	}
	b := []byte{entryVersion, metaNodeAddr}
	b, _ = appendStr(b, id)
	b, _ = appendStr(b, addr)
	return b, nil
}

// encodeCluster names the cluster (a no-op once it has a name).
func encodeCluster(id string) []byte {
	b := []byte{entryVersion, metaCluster}
	b, _ = appendStr(b, id)
	return b
}

// encodeDrain marks a node drained, or with drained false undrained.
// voters are the cluster's voters as the proposer saw them: applying a
// drain that would leave none of them undrained is refused then, in log
// order, so two drains proposed at once cannot both pass a check made
// before either applied.
func encodeDrain(id string, drained bool, voters []string) ([]byte, error) {
	if id == "" || len(id) > maxStringLen {
		return nil, fmt.Errorf("%w: node id %q", ErrBadCommand, id)
	}
	if len(voters) > MaxDirectoryNodes+1 {
		return nil, fmt.Errorf("%w: %d voters", ErrBadCommand, len(voters))
	}
	b := []byte{entryVersion, metaDrain}
	b, _ = appendStr(b, id)
	if drained {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(voters)))
	for _, v := range voters {
		var err error
		if b, err = appendStr(b, v); err != nil {
			return nil, fmt.Errorf("%w: voter id %q", ErrBadCommand, v)
		}
	}
	return b, nil
}

// ErrDirectoryFull is the answer to a node announcing itself when the
// directory has MaxDirectoryNodes other nodes.
var ErrDirectoryFull = errors.New("raftfsm: node directory full")

func (f *metaFSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	r := &reader{b: l.Data}
	if v := r.byte(); v != entryVersion {
		panic(fmt.Sprintf("raftfsm: meta log index %d: version %d", l.Index, v))
	}
	switch op := r.byte(); op {
	case metaPlace:
		program := r.str()
		if r.err != nil || len(r.b) != 0 {
			panic(fmt.Sprintf("raftfsm: meta log index %d: malformed place", l.Index))
		}
		return f.place(program)
	case metaReplace:
		program, from, to := r.str(), r.uvarint(), r.uvarint()
		if r.err != nil || len(r.b) != 0 || from < 1 || to < 1 || from > uint64(f.groups) || to > uint64(f.groups) {
			panic(fmt.Sprintf("raftfsm: meta log index %d: malformed replace", l.Index))
		}
		return f.replace(program, uint16(from), uint16(to))
	case metaNodeAddr:
		id, addr := r.str(), r.str()
		if r.err != nil || len(r.b) != 0 {
			panic(fmt.Sprintf("raftfsm: meta log index %d: malformed node address", l.Index))
		}
		return f.setNode(id, addr)
	case metaCluster:
		id := r.str()
		if r.err != nil || len(r.b) != 0 || len(id) != ClusterIDLen {
			panic(fmt.Sprintf("raftfsm: meta log index %d: malformed cluster id", l.Index))
		}
		f.mu.Lock()
		if f.cluster == "" {
			f.cluster = id
		}
		f.mu.Unlock()
		return nil
	case metaDrain:
		id, on, n := r.str(), r.byte(), r.uvarint()
		if r.err != nil || on > 1 || n > MaxDirectoryNodes+1 {
			panic(fmt.Sprintf("raftfsm: meta log index %d: malformed drain", l.Index))
		}
		voters := make([]string, n)
		for i := range voters {
			voters[i] = r.str()
		}
		if r.err != nil || len(r.b) != 0 {
			panic(fmt.Sprintf("raftfsm: meta log index %d: malformed drain", l.Index))
		}
		return f.setDrained(id, on == 1, voters)
	default:
		panic(fmt.Sprintf("raftfsm: meta log index %d: op %d", l.Index, op))
	}
}

func (f *metaFSM) place(program string) placeResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g, ok := f.places[program]; ok {
		return placeResult{group: g}
	}
	if len(f.places) >= MaxPlacements {
		return placeResult{err: fmt.Errorf("%w: %d programs placed, the most the cluster keeps", ErrOverloaded, MaxPlacements)}
	}
	best := uint16(1)
	for g := 2; g <= f.groups; g++ {
		if f.counts[g] < f.counts[best] {
			best = uint16(g)
		}
	}
	f.places[program] = best
	f.counts[best]++
	f.notifyPlacedLocked()
	return placeResult{group: best}
}

// replace moves a program placed on group from to group to. A program
// already on to is left there (a resumed move); one on neither, or not
// placed, is an error naming where it is.
func (f *metaFSM) replace(program string, from, to uint16) placeResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.places[program]
	switch {
	case ok && g == to:
		return placeResult{group: to}
	case !ok || g != from:
		return placeResult{group: g, err: fmt.Errorf("%w: program %q is on group %d, not %d", ErrBadCommand, program, g, from)}
	}
	f.places[program] = to
	f.counts[from]--
	f.counts[to]++
	f.notifyPlacedLocked()
	return placeResult{group: to}
}

func (f *metaFSM) notifyPlacedLocked() {
	close(f.placed)
	f.placed = make(chan struct{})
}

// await returns a program's group once the table has it, or ctx's error.
func (f *metaFSM) await(ctx context.Context, program string) (uint16, error) {
	for {
		f.mu.RLock()
		g, ok := f.places[program]
		placed := f.placed
		f.mu.RUnlock()
		if ok {
			return g, nil
		}
		select {
		case <-placed:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// setNode returns nil or ErrDirectoryFull.
func (f *metaFSM) setNode(id, addr string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if addr == "" {
		delete(f.nodes, id)
		return nil
	}
	if _, ok := f.nodes[id]; !ok && len(f.nodes) >= MaxDirectoryNodes {
		return ErrDirectoryFull
	}
	f.nodes[id] = addr
	return nil
}

// setDrained returns nil, ErrDirectoryFull, or ErrLastVoter when draining
// id would leave none of voters undrained.
func (f *metaFSM) setDrained(id string, on bool, voters []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !on {
		delete(f.drained, id)
		return nil
	}
	if !f.drained[id] && len(f.drained) >= MaxDirectoryNodes {
		return ErrDirectoryFull
	}
	if !slices.ContainsFunc(voters, func(v string) bool { return v != id && !f.drained[v] }) {
		return fmt.Errorf("%w: every voter but %q is drained, and a group needs one to lead it", ErrLastVoter, id)
	}
	f.drained[id] = true
	return nil
}

// isDrained reports whether a node is drained.
func (f *metaFSM) isDrained(id string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.drained[id]
}

// drainedNodes returns the drained nodes sorted by id.
func (f *metaFSM) drainedNodes() []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return slices.Sorted(maps.Keys(f.drained))
}

// lookup returns a program's group.
func (f *metaFSM) lookup(program string) (uint16, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	g, ok := f.places[program]
	return g, ok
}

// clusterID returns the cluster's id, "" until the first meta leader has
// named it.
func (f *metaFSM) clusterID() string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.cluster
}

// nodeAddr returns a node's RPC address from the directory.
func (f *metaFSM) nodeAddr(id string) string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.nodes[id]
}

// table returns the placement table sorted by program.
func (f *metaFSM) table() []Placement {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return sortedRows(f.places, func(p string, g uint16) Placement { return Placement{Program: p, Group: g} })
}

// directory returns the node directory sorted by id.
func (f *metaFSM) directory() []NodeInfo {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return sortedRows(f.nodes, func(id, addr string) NodeInfo { return NodeInfo{ID: id, RPCAddr: addr} })
}

// sortedRows lists a table's rows in key order, so that snapshots and
// answers do not depend on map iteration order.
func sortedRows[V, R any](m map[string]V, row func(string, V) R) []R {
	out := make([]R, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, row(k, m[k]))
	}
	return out
}

// Placement is one row of the placement table.
type Placement struct {
	Program string
	Group   uint16
}

// NodeInfo is one row of the node directory: a member and the address of
// its RPC server.
type NodeInfo struct {
	ID      string
	RPCAddr string
}

// Snapshot encodes both tables in sorted order, so that equal states
// give equal snapshots.
func (f *metaFSM) Snapshot() (raft.FSMSnapshot, error) {
	b := []byte{metaSnapshotVersion}
	b = binary.AppendUvarint(b, uint64(f.groups))
	t := f.table()
	b = binary.AppendUvarint(b, uint64(len(t)))
	for _, p := range t {
		b, _ = appendStr(b, p.Program)
		b = binary.AppendUvarint(b, uint64(p.Group))
	}
	d := f.directory()
	b = binary.AppendUvarint(b, uint64(len(d)))
	for _, n := range d {
		b, _ = appendStr(b, n.ID)
		b, _ = appendStr(b, n.RPCAddr)
	}
	b, _ = appendStr(b, f.clusterID())
	dr := f.drainedNodes()
	b = binary.AppendUvarint(b, uint64(len(dr)))
	for _, id := range dr {
		b, _ = appendStr(b, id)
	}
	return snapshot(b), nil
}

// Restore replaces both tables, or keeps the old ones if the snapshot does
// not decode.
func (f *metaFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	r := &reader{b: data}
	v := r.byte()
	if r.err == nil && (v < 1 || v > metaSnapshotVersion) {
		return fmt.Errorf("raftfsm: meta snapshot version %d, want 1-%d", v, metaSnapshotVersion)
	}
	if g := r.uvarint(); r.err == nil && g != uint64(f.groups) {
		return fmt.Errorf("raftfsm: placement snapshot of %d groups, node has %d", g, f.groups)
	}
	n := r.uvarint()
	if n > MaxPlacements || n > uint64(len(r.b)) {
		return fmt.Errorf("raftfsm: placement snapshot of %d programs", n)
	}
	places := make(map[string]uint16, n)
	counts := make([]int, f.groups+1)
	for range n {
		p, g := r.str(), r.uvarint()
		if r.err != nil || g < 1 || g > uint64(f.groups) {
			return errors.New("raftfsm: placement snapshot corrupt")
		}
		places[p] = uint16(g)
		counts[g]++
	}
	n = r.uvarint()
	if n > MaxDirectoryNodes || n > uint64(len(r.b)) {
		return fmt.Errorf("raftfsm: meta snapshot of %d nodes", n)
	}
	nodes := make(map[string]string, n)
	for range n {
		id, addr := r.str(), r.str()
		if r.err != nil || id == "" || addr == "" {
			return errors.New("raftfsm: node directory snapshot corrupt")
		}
		nodes[id] = addr
	}
	var cluster string
	if v >= 2 {
		if cluster = r.str(); cluster != "" && len(cluster) != ClusterIDLen {
			return errors.New("raftfsm: meta snapshot cluster id corrupt")
		}
	}
	drained := map[string]bool{}
	if v >= 3 {
		n = r.uvarint()
		if n > MaxDirectoryNodes || n > uint64(len(r.b)) {
			return fmt.Errorf("raftfsm: meta snapshot of %d drained nodes", n)
		}
		for range n {
			id := r.str()
			if r.err != nil || id == "" {
				return errors.New("raftfsm: drained nodes snapshot corrupt")
			}
			drained[id] = true
		}
	}
	if r.err != nil || len(r.b) != 0 {
		return errors.New("raftfsm: meta snapshot corrupt")
	}
	f.mu.Lock()
	f.places, f.counts, f.nodes, f.drained, f.cluster = places, counts, nodes, drained, cluster
	f.notifyPlacedLocked()
	f.mu.Unlock()
	return nil
}
