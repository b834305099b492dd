package orders

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"

	"github.com/cockroachdb/pebble/v2"

	"seatd/inventory"
	"seatd/orderflow/events"
)

// Errors of Batch.Apply for events that cannot apply to this partition at
// all: the consumer skips and counts them, and the offset moves past them.
var (
	// ErrBadID is an order number or user id that is not a decimal
	// 64-bit number.
	ErrBadID = errors.New("orders: id is not a decimal number")
	// ErrMisrouted is an event on a partition its order number does not
	// map to, or whose user's gene is not the order number's: applied
	// here, its order would not be found where its number or buyer
	// routes.
	ErrMisrouted = errors.New("orders: event on the wrong partition")
)

// Batch applies events read from the store's partition of seat.holds, in
// offset order, and Commit writes their effects, the dedupe marks and the
// offset in one synced pebble batch: after a crash, either all of a batch
// happened or none did, and consuming resumes at the stored offset + 1.
//
// Apply once. The outbox relay publishes each Raft group's events in seq
// order, so within one partition a group's first deliveries arrive in
// increasing seq; a re-delivery (a new leader resuming from the last
// acknowledged seq, or a retried batch) repeats seqs already seen. The
// dedupe record is therefore one high-water mark per (partition, group):
// an event whose seq is at most its group's mark is a duplicate. Gaps
// are normal, since the group's other seqs went to other partitions. As
// a second line, an order's record keeps the event that last changed it,
// and an order's events all come from the group that issued its number,
// so an event at or below that seq is a duplicate too (this is what keeps
// a rebuilt store exact; see Rebuild).
//
// Every change of an order also writes a pending changelog entry keyed
// by the event's offset, valued with the record as that change left it,
// in the same batch: the publisher sends them in offset order and
// deletes them once the write succeeded, so no change is lost by a crash
// between commit and publication.
//
// A batch is bounded by its caller (the consumer's maximum batch); the
// orders it touched and the marks it raised are kept until Commit.
type Batch struct {
	s       *Store
	b       *pebble.Batch
	touched map[inventory.OrderNo]*Order // orders changed in this batch, as they stand
	hwm     map[int]uint64               // marks raised in this batch
	offset  int64
	changes int
	cluster string // the store's cluster, or the first event's for a store that had none
	named   bool   // the batch named the store's cluster
}

// NewBatch starts a batch. A store has one writer: a second open batch or
// rebuild is a programming error.
func (s *Store) NewBatch() *Batch {
	if !s.writing.CompareAndSwap(false, true) {
		panic("orders: a second writer on one store")
	}
	s.mu.Lock()
	off, cluster := s.offset, s.cluster
	s.mu.Unlock()
	return &Batch{s: s, b: s.db.NewBatch(), touched: map[inventory.OrderNo]*Order{}, hwm: map[int]uint64{}, offset: off, cluster: cluster}
}

// mark returns the group's high-water mark as the batch stands.
func (b *Batch) mark(group int) uint64 {
	if m, ok := b.hwm[group]; ok {
		return m
	}
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	return b.s.hwm[group]
}

// Skip moves the batch's offset past an event that is not applied
// (malformed, of an unknown type).
func (b *Batch) Skip(offset int64) { b.offset = offset }

// Apply applies ev, read at src (its topic, partition and offset). It
// returns the outcome and the transition's input (for metrics and
// messages). An error means the event cannot apply here at all
// (ErrBadID, ErrMisrouted, a release reason or type not known): the
// caller skips it; the offset moves past it either way. ErrOtherCluster
// is different: the offset stays before the event, and the caller stops.
func (b *Batch) Apply(ev *events.HoldEvent, src Source) (Outcome, Input, error) {
	switch {
	case b.cluster == "":
		b.cluster, b.named = ev.Cluster, true
	case ev.Cluster != b.cluster:
		return 0, 0, fmt.Errorf("%w: offset %d is of cluster %s, partition %d applied cluster %s's",
			ErrOtherCluster, src.Offset, ev.Cluster, b.s.partition, b.cluster)
	}
	src.Cluster = ev.Cluster
	b.offset = src.Offset
	n, err := strconv.ParseUint(ev.OrderNo, 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: order_no %q", ErrBadID, ev.OrderNo)
	}
	no := inventory.OrderNo(n)
	user, err := strconv.ParseUint(ev.UserID, 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: user_id %q", ErrBadID, ev.UserID)
	}
	if src.Partition != b.s.partition || events.PartitionOfOrder(no, b.s.partitions) != b.s.partition ||
		inventory.UserGene(user) != no.Gene() || no.Group() != ev.Group {
		return 0, 0, fmt.Errorf("%w: order %d of user %d, group %d, read on partition %d of %d",
			ErrMisrouted, no, user, ev.Group, src.Partition, b.s.partitions)
	}
	if ev.Seq <= b.mark(ev.Group) {
		return Duplicate, 0, nil
	}
	o, err := b.load(no)
	if err != nil {
		return 0, 0, err
	}
	if o.Version > 0 && o.LastEvent.Group == ev.Group && ev.Seq <= o.LastEvent.Seq {
		b.hwm[ev.Group] = max(b.mark(ev.Group), o.LastEvent.Seq)
		return Duplicate, 0, nil
	}
	next := *o
	out, in, err := next.apply(ev, src)
	if err != nil {
		return 0, 0, err
	}
	b.hwm[ev.Group] = ev.Seq // consumed, changed or not
	if out != Applied {
		return out, in, nil
	}
	v, err := json.Marshal(&next)
	if err != nil {
		panic(fmt.Sprintf("orders: order %d does not encode: %v", no, err))
	}
	if o.Version == 0 {
		b.b.Set(userKey(user, next.CreatedAt.UnixNano(), no), nil, nil)
	}
	b.b.Set(pendingKey(src.Offset), append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(v)), uint64(no)), v...), nil)
	b.b.Set(orderKey(no), v, nil) // a later change in this batch sets it again; the batch keeps the last
	b.touched[no] = &next
	b.changes++
	return Applied, in, nil
}

// load returns an order as the batch stands: the zero Order when there
// is none.
func (b *Batch) load(no inventory.OrderNo) (*Order, error) {
	if o, ok := b.touched[no]; ok {
		return o, nil
	}
	o, err := b.s.Get(no)
	if errors.Is(err, ErrNotFound) {
		return &Order{}, nil
	}
	if err != nil {
		return nil, err
	}
	return &o, nil
}

// Changes counts the order changes in the batch (changelog entries).
func (b *Batch) Changes() int { return b.changes }

// Commit writes the batch, the raised marks and the offset, synced, and
// closes the batch. On an error nothing of the batch is stored, and the
// store should not be written again (a failed sync leaves the disk's
// state unknown).
func (b *Batch) Commit() error {
	defer b.s.writing.Store(false)
	defer b.b.Close()
	for g, m := range b.hwm {
		b.b.Set(hwmKey(g), binary.BigEndian.AppendUint64(nil, m), nil)
	}
	b.b.Set(keyOffset, binary.BigEndian.AppendUint64(nil, uint64(b.offset)), nil)
	if b.named {
		b.b.Set(keyCluster, []byte(b.cluster), nil)
	}
	if err := b.b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("orders: commit partition %d through offset %d: %w", b.s.partition, b.offset, err)
	}
	b.s.mu.Lock()
	maps.Copy(b.s.hwm, b.hwm)
	b.s.offset = b.offset
	b.s.cluster = b.cluster
	b.s.mu.Unlock()
	b.s.pending.Add(int64(b.changes))
	return nil
}

// Discard closes a batch without writing it.
func (b *Batch) Discard() {
	b.b.Close()
	b.s.writing.Store(false)
}

// MaxRebuildBatch bounds the records a rebuild writes at once.
const MaxRebuildBatch = 4096

// Rebuild fills an empty store from the orders changelog's partition,
// read from its beginning to its end, before the store serves or
// consumes.
//
// Why that is sound: each change is published in the order of the
// seat.holds offsets that made it (Batch writes a pending entry per
// change, keyed by offset; the publisher sends them in key order, and
// deletes them only once written), so the changelog, up to any point, is
// a prefix of the partition's changes. If its last record came from the
// event at offset L, then every change made by an event at or before L is
// in it, and compaction keeps each order's latest record, which includes
// all its earlier changes. Restoring the offset to L (the largest source
// offset of the records) and resuming at L+1 therefore misses nothing and
// applies nothing twice: the events after L are applied again as they
// were the first time, those at or before L are in the records. The marks
// restored are each group's largest seq over the records' last events: a
// group's first deliveries rise with the offset, so every event after L
// that changed an order has a larger seq. Events after L that changed
// nothing (duplicates, illegal transitions, skipped ones) are read again
// and change nothing again.
//
// An order's older record published again after a newer one cannot win:
// Add keeps the record with the higher version.
type Rebuild struct {
	s       *Store
	b       *pebble.Batch
	touched map[inventory.OrderNo]uint64 // versions written by the open batch
	hwm     map[int]uint64
	offset  int64
	orders  int
	cluster string
}

// BeginRebuild discards whatever an interrupted rebuild left in the store
// and starts one; ErrInitialized if the store was rebuilt already.
func (s *Store) BeginRebuild() (*Rebuild, error) {
	if s.State().Initialized {
		return nil, ErrInitialized
	}
	if !s.writing.CompareAndSwap(false, true) {
		panic("orders: a second writer on one store")
	}
	if err := s.db.DeleteRange([]byte{0}, []byte{0xff}, pebble.Sync); err != nil {
		s.writing.Store(false)
		return nil, fmt.Errorf("orders: clear partition %d for a rebuild: %w", s.partition, err)
	}
	s.mu.Lock()
	s.hwm, s.offset, s.cluster = map[int]uint64{}, -1, ""
	s.mu.Unlock()
	s.pending.Store(0)
	return &Rebuild{s: s, b: s.db.NewBatch(), touched: map[inventory.OrderNo]uint64{}, hwm: map[int]uint64{}, offset: -1}, nil
}

// ErrBadRecord is a changelog record that does not decode, or is not of
// this partition: the rebuild skips it.
var ErrBadRecord = errors.New("orders: bad changelog record")

// Add restores one changelog record (an Order's JSON).
func (r *Rebuild) Add(value []byte) error {
	var o Order
	if err := json.Unmarshal(value, &o); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	no, err := o.Number()
	if err != nil {
		return fmt.Errorf("%w: order_no %q", ErrBadRecord, o.OrderNo)
	}
	user, err := o.User()
	if err != nil || o.Version == 0 {
		return fmt.Errorf("%w: order %d: user_id %q, version %d", ErrBadRecord, no, o.UserID, o.Version)
	}
	if o.LastEvent.Topic == events.TopicHolds {
		if o.LastEvent.Partition != r.s.partition {
			return fmt.Errorf("%w: order %d from partition %d", ErrBadRecord, no, o.LastEvent.Partition)
		}
		switch c := o.LastEvent.Cluster; {
		case r.cluster == "":
			r.cluster = c
		case c != r.cluster:
			return fmt.Errorf("%w: the changelog holds orders of clusters %s and %s", ErrOtherCluster, r.cluster, c)
		}
		r.offset = max(r.offset, o.LastEvent.Offset)
		r.hwm[o.LastEvent.Group] = max(r.hwm[o.LastEvent.Group], o.LastEvent.Seq)
	}
	have, ok := r.touched[no]
	if !ok {
		if prev, err := r.s.Get(no); err == nil {
			have = prev.Version
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	if o.Version <= have {
		return nil
	}
	r.b.Set(orderKey(no), value, nil)
	r.b.Set(userKey(user, o.CreatedAt.UnixNano(), no), nil, nil)
	r.touched[no] = o.Version
	if have == 0 {
		r.orders++ // a new order, not a newer record of one restored
	}
	if len(r.touched) >= MaxRebuildBatch {
		return r.flush()
	}
	return nil
}

// flush writes the open batch (not synced: Finish's synced write comes
// after it in the same log).
func (r *Rebuild) flush() error {
	if err := r.b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("orders: rebuild partition %d: %w", r.s.partition, err)
	}
	r.b.Close()
	r.b = r.s.db.NewBatch()
	clear(r.touched)
	return nil
}

// RebuildStats says what a rebuild restored.
type RebuildStats struct {
	Orders int            // orders restored (each once)
	Offset int64          // the seat.holds offset restored, -1 when none
	HWM    map[int]uint64 // the marks restored
}

// Finish writes the restored offset and marks and the store's
// initialized mark, synced, and ends the rebuild.
func (r *Rebuild) Finish() (RebuildStats, error) {
	defer r.s.writing.Store(false)
	defer r.b.Close()
	for g, m := range r.hwm {
		r.b.Set(hwmKey(g), binary.BigEndian.AppendUint64(nil, m), nil)
	}
	if r.offset >= 0 {
		r.b.Set(keyOffset, binary.BigEndian.AppendUint64(nil, uint64(r.offset)), nil)
	}
	if r.cluster != "" {
		r.b.Set(keyCluster, []byte(r.cluster), nil)
	}
	r.b.Set(keyInit, nil, nil)
	if err := r.b.Commit(pebble.Sync); err != nil {
		return RebuildStats{}, fmt.Errorf("orders: finish rebuild of partition %d: %w", r.s.partition, err)
	}
	r.s.mu.Lock()
	r.s.hwm, r.s.offset, r.s.init, r.s.cluster = maps.Clone(r.hwm), r.offset, true, r.cluster
	r.s.mu.Unlock()
	return RebuildStats{Orders: r.orders, Offset: r.offset, HWM: r.hwm}, nil
}

// Abandon ends a rebuild without finishing it; the next BeginRebuild
// starts over.
func (r *Rebuild) Abandon() {
	r.b.Close()
	r.s.writing.Store(false)
}
