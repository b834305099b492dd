package raftfsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"
)

// Store is the one pebble database of a node. It holds the Raft log and
// stable store of every group the node hosts, each under its own key
// prefix, so that a node with G groups still syncs one write-ahead log.
// Every write is synced before it returns, as Raft requires.
//
// Keys: kind byte ('l' log, 's' stable), group (2 bytes, big endian), then
// the log index (8 bytes, big endian, so entries sort by index) or the
// stable key.
type Store struct {
	db *pebble.DB

	// mu is held for reading by every operation and for writing by Close:
	// raft's transport can still run a heartbeat or vote handler (which
	// writes the term) after raft.Shutdown returns, and pebble panics when
	// used after Close. With the lock those late calls fail with
	// ErrStoreClosed instead.
	mu     sync.RWMutex
	closed bool // guarded by mu
}

// Store errors.
var (
	ErrCorruptLog  = errors.New("raftfsm: corrupt log entry")
	ErrStoreClosed = errors.New("raftfsm: store closed")
)

const (
	kindLog    = 'l'
	kindStable = 's'
)

// OpenStore opens (or creates) the node's pebble database in dir. Pebble's
// own messages go to log (informational ones at debug level).
func OpenStore(dir string, log *slog.Logger) (*Store, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{log}})
	if err != nil {
		return nil, fmt.Errorf("raftfsm: open store %s: %w", dir, err)
	}
	return &Store{db: db}, nil
}

// Close waits for operations in flight and closes the database; group
// stores fail with ErrStoreClosed after it.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.db.Close()
}

// Group returns the log and stable store of one group.
func (s *Store) Group(group uint16) *GroupStore {
	return &GroupStore{store: s, db: s.db, group: group}
}

// GroupStore is one group's raft.LogStore and raft.StableStore inside a
// node's Store. It is safe for concurrent use, as pebble is.
type GroupStore struct {
	store *Store
	db    *pebble.DB
	group uint16
}

// open holds the store open for one operation; call the returned func
// when done. It fails once the store is closed.
func (g *GroupStore) open() (func(), error) {
	g.store.mu.RLock()
	if g.store.closed {
		g.store.mu.RUnlock()
		return nil, ErrStoreClosed
	}
	return g.store.mu.RUnlock, nil
}

var (
	_ raft.LogStore    = (*GroupStore)(nil)
	_ raft.StableStore = (*GroupStore)(nil)
)

func (g *GroupStore) prefix(kind byte) []byte {
	return []byte{kind, byte(g.group >> 8), byte(g.group)}
}

func (g *GroupStore) logKey(index uint64) []byte {
	return binary.BigEndian.AppendUint64(g.prefix(kindLog), index)
}

// logBounds are the bounds of the group's log keys: [lower, upper).
func (g *GroupStore) logBounds() (lower, upper []byte) {
	lower = g.prefix(kindLog)
	if g.group == 0xffff {
		return lower, []byte{kindLog + 1}
	}
	next := g.group + 1
	return lower, []byte{kindLog, byte(next >> 8), byte(next)}
}

func (g *GroupStore) edgeIndex(last bool) (uint64, error) {
	done, err := g.open()
	if err != nil {
		return 0, err
	}
	defer done()
	lower, upper := g.logBounds()
	it, err := g.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	ok := it.First()
	if last {
		ok = it.Last()
	}
	if !ok {
		return 0, it.Error()
	}
	return binary.BigEndian.Uint64(it.Key()[len(lower):]), nil
}

// FirstIndex returns the first index written, 0 for none.
func (g *GroupStore) FirstIndex() (uint64, error) { return g.edgeIndex(false) }

// LastIndex returns the last index written, 0 for none.
func (g *GroupStore) LastIndex() (uint64, error) { return g.edgeIndex(true) }

// GetLog reads the entry at index into log, or returns raft.ErrLogNotFound.
func (g *GroupStore) GetLog(index uint64, log *raft.Log) error {
	done, err := g.open()
	if err != nil {
		return err
	}
	defer done()
	v, closer, err := g.db.Get(g.logKey(index))
	if errors.Is(err, pebble.ErrNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	if err := decodeLog(v, log); err != nil {
		return fmt.Errorf("%w: group %d index %d: %v", ErrCorruptLog, g.group, index, err)
	}
	log.Index = index
	return nil
}

// StoreLog stores one entry.
func (g *GroupStore) StoreLog(log *raft.Log) error { return g.StoreLogs([]*raft.Log{log}) }

// StoreLogs stores entries in one synced batch.
func (g *GroupStore) StoreLogs(logs []*raft.Log) error {
	done, err := g.open()
	if err != nil {
		return err
	}
	defer done()
	b := g.db.NewBatch()
	defer b.Close()
	var buf []byte
	for _, l := range logs {
		buf = encodeLog(buf[:0], l)
		if err := b.Set(g.logKey(l.Index), buf, nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

// DeleteRange deletes entries min..max, inclusive.
func (g *GroupStore) DeleteRange(min, max uint64) error {
	done, err := g.open()
	if err != nil {
		return err
	}
	defer done()
	end := g.logKey(max + 1)
	if max == ^uint64(0) {
		_, end = g.logBounds()
	}
	return g.db.DeleteRange(g.logKey(min), end, pebble.Sync)
}

func (g *GroupStore) stableKey(key []byte) []byte {
	return append(g.prefix(kindStable), key...)
}

// Set stores a stable value.
func (g *GroupStore) Set(key, val []byte) error {
	done, err := g.open()
	if err != nil {
		return err
	}
	defer done()
	return g.db.Set(g.stableKey(key), val, pebble.Sync)
}

// Get returns a stable value, empty if the key was never set.
func (g *GroupStore) Get(key []byte) ([]byte, error) {
	done, err := g.open()
	if err != nil {
		return nil, err
	}
	defer done()
	v, closer, err := g.db.Get(g.stableKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return []byte{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return append([]byte(nil), v...), nil
}

// SetUint64 stores a stable integer.
func (g *GroupStore) SetUint64(key []byte, val uint64) error {
	return g.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 returns a stable integer, 0 if the key was never set.
func (g *GroupStore) GetUint64(key []byte) (uint64, error) {
	v, err := g.Get(key)
	if err != nil || len(v) == 0 {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("raftfsm: stable key %q: %d bytes, want 8", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// A log entry is stored as: term, type, appended-at (Unix nanoseconds, 0
// for none), extensions (length and bytes) as varints, then the data.
func encodeLog(b []byte, l *raft.Log) []byte {
	b = binary.AppendUvarint(b, l.Term)
	b = append(b, byte(l.Type))
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	b = binary.AppendVarint(b, at)
	b = binary.AppendUvarint(b, uint64(len(l.Extensions)))
	b = append(b, l.Extensions...)
	return append(b, l.Data...)
}

func decodeLog(b []byte, l *raft.Log) error {
	term, n := binary.Uvarint(b)
	if n <= 0 || len(b) < n+1 {
		return io.ErrUnexpectedEOF
	}
	l.Term, l.Type = term, raft.LogType(b[n])
	b = b[n+1:]
	at, n := binary.Varint(b)
	if n <= 0 {
		return io.ErrUnexpectedEOF
	}
	l.AppendedAt = time.Time{}
	if at != 0 {
		l.AppendedAt = time.Unix(0, at)
	}
	b = b[n:]
	ext, n := binary.Uvarint(b)
	if n <= 0 || ext > uint64(len(b)-n) {
		return io.ErrUnexpectedEOF
	}
	b = b[n:]
	l.Extensions = nil
	if ext > 0 {
		l.Extensions = append([]byte(nil), b[:ext]...)
	}
	l.Data = append([]byte(nil), b[ext:]...)
	return nil
}

// pebbleLogger bridges pebble's printf logger to slog.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug("pebble", "msg", fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("pebble", "msg", fmt.Sprintf(format, args...))
}

// Fatalf is pebble's report of an unrecoverable state: the node must stop
// rather than go on with a store it cannot trust.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error("pebble_fatal", "msg", msg)
	panic("pebble: " + msg)
}
