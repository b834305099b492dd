package orders

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"seatd/inventory"
	"seatd/orderflow/events"
	"seatd/orderflow/outbox"
)

// Keys of a partition's database. Numbers are big-endian so that keys
// sort as the numbers do.
//
//	'o' order(8)                         the order's record (Order JSON)
//	'u' user(8) ^created(8) ^order(8)    a buyer's orders, newest first (empty value)
//	'h' group(2)                         the group's high-water mark: the highest seq applied (8)
//	'p' seq(8)                           a change to publish to the changelog, numbered in the order made: the order number (8), then the record as the change left it
//	't' order(8) kind(1) index(2)        a seat call due (Task JSON), derived from the order's record
//	'd' order(8) out_trade_no            a refund due (DueRefund JSON), derived from the order's record
//	'm' "offset"                         the last seat.holds offset applied (8, two's complement)
//	'm' "payoffset"                      the last pay.events offset applied (8, two's complement)
//	'm' "seq"                            the last change's number (8)
//	'm' "init"                           present once the store was rebuilt, or found to need no rebuild
//	'm' "cluster"                        the seatd cluster whose events the store applies (its id)
const (
	kindOrder   = 'o'
	kindUser    = 'u'
	kindHWM     = 'h'
	kindPending = 'p'
	kindTask    = 't'
	kindDue     = 'd'
	kindMeta    = 'm'
)

var (
	keyOffset    = []byte("moffset")
	keyPayOffset = []byte("mpayoffset")
	keySeq       = []byte("mseq")
	keyInit      = []byte("minit")
	keyCluster   = []byte("mcluster")
)

// List limits.
const (
	// DefaultListLimit is the page size of a list that names none.
	DefaultListLimit = 20
	// MaxListLimit bounds a page: each order on it is one point read and
	// about half a kilobyte on the wire.
	MaxListLimit = 100
)

// Errors of List.
var (
	ErrBadLimit  = fmt.Errorf("orders: limit out of range (want 0 for %d, or 1-%d)", DefaultListLimit, MaxListLimit)
	ErrBadCursor = errors.New("orders: malformed cursor")
)

// ErrOtherCluster is an event of another seatd cluster than the one whose
// events the store applied. Hold ids, order numbers and event seqs are
// unique within one cluster only: a new cluster (formed from empty data
// directories) publishing to the topics of an old one would reuse the old
// one's numbers, its orders would be taken for the old orders and its
// events for duplicates. So the partition stops at it, loudly; a new
// cluster needs new topics (or new Kafka), and new order-service stores.
var ErrOtherCluster = errors.New("orders: event of another seatd cluster")

// ErrInitialized is a rebuild of a store that was already rebuilt.
var ErrInitialized = errors.New("orders: store already initialized")

func orderKey(no inventory.OrderNo) []byte {
	return binary.BigEndian.AppendUint64([]byte{kindOrder}, uint64(no))
}

func userPrefix(user uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{kindUser}, user)
}

// userKey sorts a buyer's orders newest first: the creation time and the
// order number inverted (an order number grows with its group's sequence,
// so of two orders placed in the same nanosecond the later one is first).
func userKey(user uint64, createdNanos int64, no inventory.OrderNo) []byte {
	k := userPrefix(user)
	k = binary.BigEndian.AppendUint64(k, ^uint64(createdNanos))
	return binary.BigEndian.AppendUint64(k, ^uint64(no))
}

func hwmKey(group int) []byte {
	return binary.BigEndian.AppendUint16([]byte{kindHWM}, uint16(group))
}

func taskKey(no inventory.OrderNo, kind TaskKind, index int) []byte {
	k := binary.BigEndian.AppendUint64([]byte{kindTask}, uint64(no))
	return binary.BigEndian.AppendUint16(append(k, byte(kind)), uint16(index))
}

func dueKey(no inventory.OrderNo, outTradeNo string) []byte {
	return append(binary.BigEndian.AppendUint64([]byte{kindDue}, uint64(no)), outTradeNo...)
}

// prefixEnd returns the least key greater than every key with prefix p (p
// is never all 0xff here).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i]++; end[i] != 0 {
			return end[:i+1]
		}
	}
	panic("orders: prefixEnd of an all-0xff prefix")
}

// Store is one partition's order database. See the package comment for
// who may call what concurrently.
type Store struct {
	db         *pebble.DB
	partition  int
	partitions int // of the topic: an order's partition is its gene modulo this

	mu        sync.Mutex // guards hwm, offset, payOffset, seq, init, cluster
	hwm       map[int]uint64
	offset    int64 // last seat.holds offset applied, -1 before the first
	payOffset int64 // last pay.events offset applied, -1 before the first
	seq       int64 // the last change's number ('p' keys)
	init      bool
	cluster   string // the seatd cluster whose events the store applies

	pending *outbox.Outbox // the 'p' entries
	tasks   atomic.Int64   // 't' entries
	dues    atomic.Int64   // 'd' entries
	writing atomic.Bool    // a Batch or Rebuild is open (one writer)
}

// Options tunes a Store.
type Options struct {
	// Log receives pebble's messages (informational ones at debug level).
	Log *slog.Logger
}

// Open opens (or creates) the database of partition (of partitions, the
// topics' partition count) in dir.
func Open(dir string, partition, partitions int, opts Options) (*Store, error) {
	if partitions < 1 || partitions > events.MaxPartitions || partition < 0 || partition >= partitions {
		return nil, fmt.Errorf("orders: partition %d of %d: want 0 <= partition < partitions <= %d", partition, partitions, events.MaxPartitions)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	po := &pebble.Options{Logger: pebbleLogger{opts.Log}, MemTableSize: 32 << 20}
	for i := range po.Levels {
		// Most Gets are of new orders: a filter answers "absent" without
		// reading a block.
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(dir, po)
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) || (err != nil && strings.Contains(err.Error(), "lock held")) {
		// pebble's LOCK file: another opener has the store (flock's EAGAIN
		// from another process; pebble's own words within this one).
		return nil, fmt.Errorf("orders: partition %d at %s is open elsewhere (another orderflow with the same -data?): %w", partition, dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("orders: open partition %d at %s: %w", partition, dir, err)
	}
	s := &Store{db: db, partition: partition, partitions: partitions, hwm: map[int]uint64{}, offset: -1, payOffset: -1}
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// load reads the metadata, the high-water marks and the pending count.
func (s *Store) load() error {
	if _, err := s.getRaw(keyInit); err == nil {
		s.init = true
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return err
	}
	if v, err := s.getRaw(keyCluster); err == nil {
		s.cluster = string(v)
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return err
	}
	if v, err := s.getRaw(keyOffset); err == nil {
		s.offset = int64(binary.BigEndian.Uint64(v))
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return err
	}
	if v, err := s.getRaw(keyPayOffset); err == nil {
		s.payOffset = int64(binary.BigEndian.Uint64(v))
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return err
	}
	if v, err := s.getRaw(keySeq); err == nil {
		s.seq = int64(binary.BigEndian.Uint64(v))
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return err
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindHWM}, UpperBound: []byte{kindHWM + 1}})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		s.hwm[int(binary.BigEndian.Uint16(it.Key()[1:]))] = binary.BigEndian.Uint64(it.Value())
	}
	if err := it.Close(); err != nil {
		return err
	}
	// A change's deletion is not synced: one a crash loses is published
	// again, which a compacted changelog absorbs (see Batch: changes
	// publish in order, so an older state published again is always
	// followed by the newer ones).
	var last int64
	if s.pending, last, err = outbox.Open(s.db, kindPending, pebble.NoSync); err != nil {
		return err
	}
	// A store of an older build numbered its changes by the seat.holds
	// offset: new numbers follow the last.
	s.seq = max(s.seq, last)
	for _, c := range []struct {
		kind  byte
		count *atomic.Int64
	}{{kindTask, &s.tasks}, {kindDue, &s.dues}} {
		it, err = s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{c.kind}, UpperBound: []byte{c.kind + 1}})
		if err != nil {
			return err
		}
		var n int64
		for it.First(); it.Valid(); it.Next() {
			n++
		}
		c.count.Store(n)
		if err := it.Close(); err != nil {
			return err
		}
	}
	return nil
}

// getRaw returns a copy of a key's value.
func (s *Store) getRaw(key []byte) ([]byte, error) {
	v, closer, err := s.db.Get(key)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return bytes.Clone(v), nil
}

// Close closes the database. No call may be in flight or follow.
func (s *Store) Close() error { return s.db.Close() }

// Partition returns the partition the store holds.
func (s *Store) Partition() int { return s.partition }

// State is where a store's partition stands.
type State struct {
	// Initialized: the store was rebuilt from the changelog (or found
	// nothing to rebuild) and can serve and consume.
	Initialized bool
	// Offset is the last seat.holds offset applied, -1 before the first;
	// consuming resumes at Offset+1.
	Offset int64
	// PayOffset is the same for pay.events.
	PayOffset int64
	// Tasks counts the seat calls due, RefundsDue the refunds due.
	Tasks, RefundsDue int64
	// HWM is the highest seq applied of each group (a copy).
	HWM map[int]uint64
	// Pending counts the changes not yet published to the changelog.
	Pending int64
	// Cluster is the seatd cluster whose events the store applies, ""
	// before the first.
	Cluster string
}

// State returns the partition's state.
func (s *Store) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return State{Initialized: s.init, Offset: s.offset, PayOffset: s.payOffset, HWM: maps.Clone(s.hwm), Pending: s.pending.Count(),
		Cluster: s.cluster, Tasks: s.tasks.Load(), RefundsDue: s.dues.Load()}
}

// Checkpoint writes a consistent copy of the store into dir, which must
// not exist yet, while the partition goes on applying: pebble's
// Checkpoint flushes the WAL first and hard-links the live files (copies
// them across file systems), so dir holds every batch committed before
// the call and none in part. dir, named partition-NN in a data
// directory, opens as the store was then: its offsets and marks say
// where consuming resumes. Errors are pebble's, wrapped.
func (s *Store) Checkpoint(dir string) error {
	if err := s.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("orders: checkpoint of partition %d into %s: %w", s.partition, dir, err)
	}
	return nil
}

// SizeBytes is the space the database takes on disk.
func (s *Store) SizeBytes() uint64 { return s.db.Metrics().DiskSpaceUsage() }

// Get returns an order, or ErrNotFound.
func (s *Store) Get(no inventory.OrderNo) (Order, error) {
	var o Order
	v, closer, err := s.db.Get(orderKey(no))
	if errors.Is(err, pebble.ErrNotFound) {
		return o, ErrNotFound
	}
	if err != nil {
		return o, fmt.Errorf("orders: get %d: %w", no, err)
	}
	defer closer.Close()
	if err := json.Unmarshal(v, &o); err != nil {
		// The store wrote this record itself.
		panic(fmt.Sprintf("orders: stored order %d does not decode: %v", no, err))
	}
	return o, nil
}

// Page is one page of a buyer's orders.
type Page struct {
	Orders []Order // newest first
	// Next is the cursor of the next page, "" when this one is the last.
	// It is opaque to callers: the last order's place in the list.
	Next string
}

// List returns a buyer's orders newest first, limit of them (0 means
// DefaultListLimit) after cursor ("" for the first page). ErrBadLimit and
// ErrBadCursor refuse a request; a cursor taken from another buyer's list
// is simply a place in this one.
func (s *Store) List(user uint64, cursor string, limit int) (Page, error) {
	if limit == 0 {
		limit = DefaultListLimit
	}
	if limit < 1 || limit > MaxListLimit {
		return Page{}, ErrBadLimit
	}
	prefix := userPrefix(user)
	lower := prefix
	if cursor != "" {
		after, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || len(after) != 16 {
			return Page{}, ErrBadCursor
		}
		lower = append(append(bytes.Clone(prefix), after...), 0) // just past the cursor's key
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return Page{}, fmt.Errorf("orders: list: %w", err)
	}
	defer it.Close()
	var page Page
	var last []byte
	for it.First(); it.Valid(); it.Next() {
		if len(page.Orders) == limit {
			page.Next = base64.RawURLEncoding.EncodeToString(last)
			break
		}
		k := it.Key()
		no := inventory.OrderNo(^binary.BigEndian.Uint64(k[len(k)-8:]))
		o, err := s.Get(no)
		if err != nil {
			return Page{}, fmt.Errorf("orders: list: order %d of the index: %w", no, err)
		}
		page.Orders = append(page.Orders, o)
		last = bytes.Clone(k[len(prefix):])
	}
	return page, it.Error()
}

// Change is one change of an order to publish to the changelog.
type Change struct {
	Seq     int64             // the change's number: changes publish in this order
	OrderNo inventory.OrderNo // the message key
	Value   []byte            // the order's record as the change left it
}

// Pending returns up to max changes not yet published, oldest first, and
// at most maxBytes of values (always at least one change when there is
// one).
func (s *Store) Pending(max, maxBytes int) ([]Change, error) {
	it, err := s.db.NewIter(s.pending.IterOptions())
	if err != nil {
		return nil, fmt.Errorf("orders: pending: %w", err)
	}
	defer it.Close()
	var out []Change
	size := 0
	for it.First(); it.Valid() && len(out) < max; it.Next() {
		v := it.Value() // the order number (8), then the record
		if len(v) < 8 {
			panic(fmt.Sprintf("orders: pending change of %d bytes", len(v)))
		}
		if len(out) > 0 && size+len(v)-8 > maxBytes {
			break
		}
		size += len(v) - 8
		out = append(out, Change{Seq: s.pending.Number(it.Key()),
			OrderNo: inventory.OrderNo(binary.BigEndian.Uint64(v)), Value: bytes.Clone(v[8:])})
	}
	return out, it.Error()
}

// PendingCount returns how many changes wait to be published.
func (s *Store) PendingCount() int64 { return s.pending.Count() }

// Published forgets the changes up to and including number seq, once
// they are on the changelog. The store counts what it deletes: a call out
// of step (seq forgotten already, or beyond the last change) leaves the
// pending count exact.
func (s *Store) Published(seq int64) error {
	if err := s.pending.Forget(seq); err != nil {
		return fmt.Errorf("orders: partition %d: %w", s.partition, err)
	}
	return nil
}

// MaxTasks bounds the seat calls Tasks returns at once.
const MaxTasks = 1024

// Tasks returns up to max (at most MaxTasks) seat calls due, in key
// order: by order number, an order's confirm before its releases.
func (s *Store) Tasks(max int) ([]Task, error) {
	max = min(max, MaxTasks)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindTask}, UpperBound: []byte{kindTask + 1}})
	if err != nil {
		return nil, fmt.Errorf("orders: tasks: %w", err)
	}
	defer it.Close()
	var out []Task
	for it.First(); it.Valid() && len(out) < max; it.Next() {
		var t Task
		if err := json.Unmarshal(it.Value(), &t); err != nil {
			panic(fmt.Sprintf("orders: stored task does not decode: %v", err))
		}
		out = append(out, t)
	}
	return out, it.Error()
}

// DueRefund is a refund due (RefundDue) with its order: what the pay
// service lists to refund (Store.RefundsDue).
type DueRefund struct {
	OrderNo string `json:"order_no"`
	UserID  string `json:"user_id"`
	HoldID  string `json:"hold_id"`
	RefundDue
}

// DuePage is one page of refunds due.
type DuePage struct {
	Refunds []DueRefund // by order number, then trade number
	Next    string      // the next page's cursor, "" when this one is the last
}

// RefundsDue returns up to limit (0 means DefaultListLimit, at most
// MaxListLimit) refunds due, in order number then trade number order,
// after cursor ("" for the first page; else a page's Next). A refund
// leaves the list once a RefundSucceeded of its trade covers its amount.
func (s *Store) RefundsDue(cursor string, limit int) (DuePage, error) {
	if limit == 0 {
		limit = DefaultListLimit
	}
	if limit < 1 || limit > MaxListLimit {
		return DuePage{}, ErrBadLimit
	}
	lower := []byte{kindDue}
	if cursor != "" {
		after, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || len(after) < 9 || after[0] != kindDue {
			return DuePage{}, ErrBadCursor
		}
		lower = append(after, 0)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: []byte{kindDue + 1}})
	if err != nil {
		return DuePage{}, fmt.Errorf("orders: refunds due: %w", err)
	}
	defer it.Close()
	var page DuePage
	var last []byte
	for it.First(); it.Valid(); it.Next() {
		if len(page.Refunds) == limit {
			page.Next = base64.RawURLEncoding.EncodeToString(last)
			break
		}
		var d DueRefund
		if err := json.Unmarshal(it.Value(), &d); err != nil {
			panic(fmt.Sprintf("orders: stored refund due does not decode: %v", err))
		}
		page.Refunds = append(page.Refunds, d)
		last = bytes.Clone(it.Key())
	}
	return page, it.Error()
}

type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug("pebble", "msg", fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("pebble", "msg", fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.log.Error("pebble", "msg", fmt.Sprintf(format, args...))
	panic(fmt.Sprintf(format, args...))
}
