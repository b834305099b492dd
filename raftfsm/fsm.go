package raftfsm

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"seatd/inventory"
)

// FSM is one group's inventory engine as a raft.BatchingFSM.
//
// Raft calls ApplyBatch, Snapshot and Restore from its FSM goroutine, one
// at a time. Snapshot encodes the engine under the lock and hands raft the
// bytes, an immutable copy, so Persist writes them while Apply goes on.
// Restore replaces the engine wholesale. Read runs queries under a read
// lock, beside nothing that writes.
type FSM struct {
	cfg inventory.Config

	mu sync.RWMutex // guards e
	e  *inventory.Engine

	applied atomic.Uint64 // the last log index applied

	// time reckons the log's time for reads and new leaders; nil for an
	// FSM outside a node. It records applies, not state: replicas differ
	// in it and Apply never reads it.
	time *logClock

	// apply statistics, for metrics
	entries   atomic.Uint64      // command entries applied
	commands  atomic.Uint64      // commands in them
	applyTime atomic.Int64       // nanoseconds spent applying them
	holds     [256]atomic.Uint64 // hold commands applied, by result code

	// outboxGrew gets a token (capacity 1) after an apply that added
	// outbox events, so that the relay wakes without polling.
	outboxGrew chan struct{}
}

// ApplyStats are an FSM's cumulative apply counters.
type ApplyStats struct {
	Entries, Commands uint64
	Time              time.Duration
	// Holds counts hold commands by result code (index = inventory.Result).
	Holds map[inventory.Result]uint64
}

// ApplyStats returns the FSM's apply counters.
func (f *FSM) ApplyStats() ApplyStats {
	st := ApplyStats{Entries: f.entries.Load(), Commands: f.commands.Load(), Time: time.Duration(f.applyTime.Load()),
		Holds: map[inventory.Result]uint64{}}
	for r := range f.holds {
		if n := f.holds[r].Load(); n > 0 {
			st.Holds[inventory.Result(r)] = n
		}
	}
	return st
}

var _ raft.BatchingFSM = (*FSM)(nil)

// NewFSM returns an FSM over an empty engine with cfg's limits.
func NewFSM(cfg inventory.Config) (*FSM, error) {
	e, err := inventory.New(cfg)
	if err != nil {
		return nil, err
	}
	return &FSM{cfg: cfg, e: e, outboxGrew: make(chan struct{}, 1)}, nil
}

// Apply applies one log entry; see ApplyBatch.
func (f *FSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch applies committed entries in order. A command entry yields
// []Outcome, one per command in it; other entries yield nil. An entry that
// does not decode panics: a replica that cannot apply the log must stop,
// not diverge.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	f.mu.Lock()
	defer f.mu.Unlock()
	before, _ := f.e.OutboxSeq()
	for i, l := range logs {
		if l.Type == raft.LogCommand {
			out[i] = f.applyEntryLocked(l)
		}
		f.applied.Store(l.Index)
	}
	if after, _ := f.e.OutboxSeq(); after != before {
		select {
		case f.outboxGrew <- struct{}{}:
		default:
		}
	}
	return out
}

// OutboxGrew delivers a token after applies that added outbox events
// (at most one waits). It is for one reader, the group's relay.
func (f *FSM) OutboxGrew() <-chan struct{} { return f.outboxGrew }

func (f *FSM) applyEntryLocked(l *raft.Log) []Outcome {
	stamp, cmds, err := decodeEntry(l.Data)
	if err != nil {
		panic(fmt.Sprintf("raftfsm: log index %d: %v", l.Index, err))
	}
	start := time.Now()
	f.e.SetLogIndex(l.Index)
	outs := make([]Outcome, len(cmds))
	for i := range cmds {
		outs[i] = apply(f.e, stamp, &cmds[i])
		outs[i].Index = l.Index
		if cmds[i].Op == OpHold {
			f.holds[outs[i].Result].Add(1)
		}
	}
	f.time.applied(l.Index, f.e.Now())
	f.applyTime.Add(int64(time.Since(start)))
	f.entries.Add(1)
	f.commands.Add(uint64(len(cmds)))
	return outs
}

// Applied returns the last log index applied.
func (f *FSM) Applied() uint64 { return f.applied.Load() }

// Read runs fn on the engine under a read lock, with the log index the
// state reflects. fn must not keep the engine or change it.
func (f *FSM) Read(fn func(e *inventory.Engine, applied uint64)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.e, f.applied.Load())
}

// Snapshot encodes the applied index (raft calls Snapshot between applies,
// so it is the snapshot's index) and the engine.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b := binary.BigEndian.AppendUint64(nil, f.applied.Load())
	return snapshot(f.e.AppendSnapshot(b)), nil
}

// Restore replaces the engine with the snapshot's, discarding all state. A
// snapshot that does not decode leaves the FSM as it was and fails.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("raftfsm: read snapshot: %w", err)
	}
	if len(data) < 8 {
		return fmt.Errorf("%w: %d bytes", inventory.ErrSnapshotCorrupt, len(data))
	}
	e, err := inventory.Restore(f.cfg, data[8:])
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.e = e
	f.applied.Store(binary.BigEndian.Uint64(data))
	f.time.restored(e.Now())
	f.mu.Unlock()
	return nil
}

// snapshot is an encoded engine, immutable once made.
type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return fmt.Errorf("raftfsm: write snapshot: %w", err)
	}
	return sink.Close()
}

func (s snapshot) Release() {}
