package raftfsm

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/hashicorp/raft"
)

// MaxPlacements bounds the placement table (programs across the cluster).
const MaxPlacements = 1 << 20

// placementFSM is the meta group's state: which group holds each program.
// A place command for a program not yet placed puts it on the group with
// the fewest programs (the lowest id on a tie), deterministically, and
// returns that group; for a placed program it returns the group it has.
type placementFSM struct {
	groups int // inventory groups 1..groups

	mu     sync.RWMutex // guards places, counts
	places map[string]uint16
	counts []int // programs per group, index = group
}

func newPlacementFSM(groups int) *placementFSM {
	return &placementFSM{groups: groups, places: make(map[string]uint16), counts: make([]int, groups+1)}
}

var _ raft.FSM = (*placementFSM)(nil)

// placeResult is Apply's answer to a place command.
type placeResult struct {
	group uint16
	err   error
}

func encodePlace(program string) []byte {
	b := []byte{entryVersion}
	b = binary.AppendUvarint(b, uint64(len(program)))
	return append(b, program...)
}

func (f *placementFSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	r := &reader{b: l.Data}
	if v := r.byte(); v != entryVersion {
		panic(fmt.Sprintf("raftfsm: meta log index %d: version %d", l.Index, v))
	}
	program := r.str()
	if r.err != nil || len(r.b) != 0 {
		panic(fmt.Sprintf("raftfsm: meta log index %d: malformed place", l.Index))
	}
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
	return placeResult{group: best}
}

// lookup returns a program's group.
func (f *placementFSM) lookup(program string) (uint16, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	g, ok := f.places[program]
	return g, ok
}

// table returns the placement table sorted by program.
func (f *placementFSM) table() []Placement {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]Placement, 0, len(f.places))
	for p, g := range f.places {
		out = append(out, Placement{Program: p, Group: g})
	}
	slices.SortFunc(out, func(a, b Placement) int {
		if a.Program < b.Program {
			return -1
		}
		if a.Program > b.Program {
			return 1
		}
		return 0
	})
	return out
}

// Placement is one row of the placement table.
type Placement struct {
	Program string
	Group   uint16
}

func (f *placementFSM) Snapshot() (raft.FSMSnapshot, error) {
	b := binary.AppendUvarint(nil, uint64(f.groups))
	t := f.table()
	b = binary.AppendUvarint(b, uint64(len(t)))
	for _, p := range t {
		b = binary.AppendUvarint(b, uint64(len(p.Program)))
		b = append(b, p.Program...)
		b = binary.AppendUvarint(b, uint64(p.Group))
	}
	return snapshot(b), nil
}

func (f *placementFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	r := &reader{b: data}
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
			return fmt.Errorf("raftfsm: placement snapshot corrupt")
		}
		places[p] = uint16(g)
		counts[g]++
	}
	f.mu.Lock()
	f.places, f.counts = places, counts
	f.mu.Unlock()
	return nil
}
