package orders

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"time"

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
//
// The store's second topic, pay.events, shares the batch (ApplyPay, its
// own offset), and so do the answers of the inventory to the seat calls
// the events made due (ApplyResult): one writer, one synced batch for
// both topics' effects, marks and offsets. A pay event is applied once by
// its id, kept in its order's record (Order.PayEventIDs): a pay event
// changes only its own order, and its id is unique per outcome.
type Batch struct {
	s         *Store
	b         *pebble.Batch
	touched   map[inventory.OrderNo]*Order // orders changed in this batch, as they stand
	hwm       map[int]uint64               // marks raised in this batch
	offset    int64
	payOffset int64
	seq       int64 // the last change's number
	changes   int
	tasks     int64  // seat calls due added less removed
	dues      int64  // refunds due added less removed
	cluster   string // the store's cluster, or the first event's for a store that had none
	named     bool   // the batch named the store's cluster
}

// NewBatch starts a batch. A store has one writer: a second open batch or
// rebuild is a programming error.
func (s *Store) NewBatch() *Batch {
	if !s.writing.CompareAndSwap(false, true) {
		panic("orders: a second writer on one store")
	}
	s.mu.Lock()
	off, payOff, seq, cluster := s.offset, s.payOffset, s.seq, s.cluster
	s.mu.Unlock()
	return &Batch{s: s, b: s.db.NewBatch(), touched: map[inventory.OrderNo]*Order{}, hwm: map[int]uint64{},
		offset: off, payOffset: payOff, seq: seq, cluster: cluster}
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

// Skip moves the batch's seat.holds offset past an event that is not
// applied (malformed, of an unknown type).
func (b *Batch) Skip(offset int64) { b.offset = offset }

// SkipPay moves the batch's pay.events offset past an event that is not
// applied.
func (b *Batch) SkipPay(offset int64) { b.payOffset = offset }

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
	// An order's events come from the group its number names until its
	// program moves to another group (docs/move-program.md), and from
	// that group after: the event's group is not checked against the
	// number's.
	if src.Partition != b.s.partition || events.PartitionOfOrder(no, b.s.partitions) != b.s.partition ||
		inventory.UserGene(user) != no.Gene() {
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
	if o.Version == 0 {
		b.b.Set(userKey(user, next.CreatedAt.UnixNano(), no), nil, nil)
	}
	b.write(no, o, &next)
	return Applied, in, nil
}

// write stores an order's change: its record, stamped with the
// partition's offsets as they stand, a pending changelog entry numbered
// after the batch's last, and the seat calls and refunds due derived
// from it (those the change ended are deleted).
func (b *Batch) write(no inventory.OrderNo, old, next *Order) {
	next.Offsets = &Offsets{Holds: b.offset, Pay: b.payOffset}
	v, err := json.Marshal(next)
	if err != nil {
		panic(fmt.Sprintf("orders: order %d does not encode: %v", no, err))
	}
	b.seq++
	b.b.Set(b.s.pending.Key(b.seq), append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(v)), uint64(no)), v...), nil)
	b.b.Set(orderKey(no), v, nil) // a later change in this batch sets it again; the batch keeps the last
	b.tasks += reconcile(b.b, old.tasks(), next.tasks(), func(t Task) []byte { return taskKey(no, t.Kind, t.Index) },
		func(t Task) any { return t })
	b.dues += reconcile(b.b, old.dues(), next.dues(), func(d RefundDue) []byte { return dueKey(no, d.OutTradeNo) },
		func(d RefundDue) any {
			return DueRefund{OrderNo: next.OrderNo, UserID: next.UserID, HoldID: next.HoldID, RefundDue: d}
		})
	b.touched[no] = next
	b.changes++
}

// reconcile writes the derived entries of an order's new record (value
// of each) and deletes those of the old one that are gone, returning how
// many more entries there are.
func reconcile[T any](b *pebble.Batch, old, now []T, key func(T) []byte, value func(T) any) int64 {
	keep := map[string]bool{}
	for _, x := range now {
		k := key(x)
		keep[string(k)] = true
		v, err := json.Marshal(value(x))
		if err != nil {
			panic(fmt.Sprintf("orders: derived entry does not encode: %v", err))
		}
		b.Set(k, v, nil)
	}
	n := int64(len(now))
	for _, x := range old {
		if !keep[string(key(x))] {
			b.Delete(key(x), nil)
		}
		n--
	}
	return n
}

// ApplyPay applies a pay.events event, read at src. It returns the
// outcome and the input. ErrOrderUnknown leaves the offset before the
// event (the caller keeps it and tries again once seat.holds has placed
// the order); ErrBadID, ErrMisrouted and ErrTooManyPayEvents mean it
// cannot apply here at all: the caller skips it, and the offset moves
// past it.
func (b *Batch) ApplyPay(ev *events.PayEvent, src Source) (Outcome, Input, error) {
	n, err := strconv.ParseUint(ev.OrderNo, 10, 64)
	if err != nil {
		b.payOffset = src.Offset
		return 0, 0, fmt.Errorf("%w: order_no %q", ErrBadID, ev.OrderNo)
	}
	no := inventory.OrderNo(n)
	if src.Partition != b.s.partition || events.PartitionOfOrder(no, b.s.partitions) != b.s.partition {
		b.payOffset = src.Offset
		return 0, 0, fmt.Errorf("%w: order %d read on partition %d of %d", ErrMisrouted, no, src.Partition, b.s.partitions)
	}
	o, err := b.load(no)
	if err != nil {
		return 0, 0, err
	}
	if o.Version == 0 {
		return 0, 0, fmt.Errorf("%w: order %d, pay event %s", ErrOrderUnknown, no, ev.ID)
	}
	b.payOffset = src.Offset
	if slices.Contains(o.PayEventIDs, ev.ID) {
		return Duplicate, 0, nil
	}
	if len(o.PayEventIDs) >= MaxPayEvents {
		return 0, 0, fmt.Errorf("%w: order %d, pay event %s", ErrTooManyPayEvents, no, ev.ID)
	}
	next := *o
	out, in := next.applyPay(ev, src)
	if out != Applied {
		return out, in, nil
	}
	b.write(no, o, &next)
	return Applied, in, nil
}

// ApplyResult records the inventory's final answer to a seat call, at
// now (the answer is no event: the service's clock stamps it). Stale when
// the call is not due any more: an event said it first (HoldConfirmed,
// a release), or the answer was recorded already.
func (b *Batch) ApplyResult(t Task, res Result, now time.Time) (Outcome, Input, error) {
	o, err := b.load(t.OrderNo)
	if err != nil {
		return 0, 0, err
	}
	if o.Version == 0 {
		return Stale, 0, nil
	}
	next := *o
	out, in := next.applyResult(t, res, now)
	if out != Applied {
		return out, in, nil
	}
	b.write(t.OrderNo, o, &next)
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

// Touched returns an order (by its decimal number) as this batch changed
// it, if it did.
func (b *Batch) Touched(orderNo string) (Order, bool) {
	n, err := strconv.ParseUint(orderNo, 10, 64)
	if err != nil {
		return Order{}, false
	}
	o, ok := b.touched[inventory.OrderNo(n)]
	if !ok {
		return Order{}, false
	}
	return *o, true
}

// Changed yields each order the batch changed, as it left it, in no
// particular order.
func (b *Batch) Changed() iter.Seq2[inventory.OrderNo, Order] {
	return func(yield func(inventory.OrderNo, Order) bool) {
		for no, o := range b.touched {
			if !yield(no, *o) {
				return
			}
		}
	}
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
	b.b.Set(keyPayOffset, binary.BigEndian.AppendUint64(nil, uint64(b.payOffset)), nil)
	b.b.Set(keySeq, binary.BigEndian.AppendUint64(nil, uint64(b.seq)), nil)
	if b.named {
		b.b.Set(keyCluster, []byte(b.cluster), nil)
	}
	if err := b.b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("orders: commit partition %d through offset %d: %w", b.s.partition, b.offset, err)
	}
	b.s.mu.Lock()
	maps.Copy(b.s.hwm, b.hwm)
	b.s.offset, b.s.payOffset, b.s.seq = b.offset, b.payOffset, b.seq
	b.s.cluster = b.cluster
	// The counts change under the lock too, so that State is one
	// moment's.
	b.s.pending.Added(b.changes)
	b.s.tasks.Add(b.tasks)
	b.s.dues.Add(b.dues)
	b.s.mu.Unlock()
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
// Why that is sound: each change is published in the order it was made
// (Batch numbers a pending entry per change; the publisher sends them in
// number order, and deletes them only once written), so the changelog,
// up to any point, is a prefix of the partition's changes. Every change
// carries where both consumers stood when it was made (Order.Offsets:
// the last seat.holds and pay.events offsets applied), and those
// positions never go back from one change to the next, since one writer
// applies both topics in the order it read them. Let C be the last
// change on the changelog, made at positions (H, P): compaction keeps
// each order's latest record, and C's is the latest of its order, so the
// largest positions over the records are C's. Every change made by a
// seat.holds event at or before H, a pay.events event at or before P, or
// a seat call's answer recorded before C, was made before C, so it is in
// the changelog, and each order's kept record includes all of its
// earlier changes. Restoring the offsets to (H, P) and resuming at H+1
// and P+1 therefore misses nothing and applies nothing twice: the events
// after them are applied again as they were the first time (in an order
// that may interleave the two topics differently; an order's two stories
// meet only in transitions the tables allow either way round), those at
// or before them are in the records. The marks restored are each group's
// largest seq over the records' last seat.holds events: a group's first
// deliveries rise with the offset, so every event after H that changed
// an order has a larger seq. The pay events applied are in the records'
// PayEventIDs, so a re-delivery of one at or before P is a duplicate
// still. Events after the positions that changed nothing (duplicates,
// illegal transitions, skipped ones) are read again and change nothing
// again. The seat calls and refunds due are derived from the records
// (Order.tasks, Order.dues), so Finish restores them: a call due whose
// answer was not on the changelog is made again, and the inventory's
// calls are idempotent (a confirm of a confirmed hold is ok, a refund of
// refunded seats already_refunded, both taken as done). Records of an
// older build have no Offsets: their last event's offset stands for the
// seat.holds position.
//
// An order's older record published again after a newer one cannot win:
// Add keeps the record with the higher version.
type Rebuild struct {
	s         *Store
	b         *pebble.Batch
	touched   map[inventory.OrderNo]uint64 // versions written by the open batch
	hwm       map[int]uint64
	offset    int64
	payOffset int64
	orders    int
	cluster   string
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
	s.hwm, s.offset, s.payOffset, s.seq, s.cluster = map[int]uint64{}, -1, -1, 0, ""
	s.mu.Unlock()
	s.pending.Reset()
	s.tasks.Store(0)
	s.dues.Store(0)
	return &Rebuild{s: s, b: s.db.NewBatch(), touched: map[inventory.OrderNo]uint64{}, hwm: map[int]uint64{}, offset: -1, payOffset: -1}, nil
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
	if o.Offsets != nil {
		r.offset = max(r.offset, o.Offsets.Holds)
		r.payOffset = max(r.payOffset, o.Offsets.Pay)
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
	Orders     int            // orders restored (each once)
	Offset     int64          // the seat.holds offset restored, -1 when none
	PayOffset  int64          // the pay.events offset restored, -1 when none
	HWM        map[int]uint64 // the marks restored
	Tasks      int64          // seat calls due restored
	RefundsDue int64          // refunds due restored
}

// Finish writes the seat calls and refunds due derived from the restored
// records, the restored offsets and marks and the store's initialized
// mark, synced, and ends the rebuild.
func (r *Rebuild) Finish() (RebuildStats, error) {
	defer r.s.writing.Store(false)
	defer func() { r.b.Close() }()
	tasks, dues, err := r.derive()
	if err != nil {
		return RebuildStats{}, err
	}
	for g, m := range r.hwm {
		r.b.Set(hwmKey(g), binary.BigEndian.AppendUint64(nil, m), nil)
	}
	if r.offset >= 0 {
		r.b.Set(keyOffset, binary.BigEndian.AppendUint64(nil, uint64(r.offset)), nil)
	}
	if r.payOffset >= 0 {
		r.b.Set(keyPayOffset, binary.BigEndian.AppendUint64(nil, uint64(r.payOffset)), nil)
	}
	if r.cluster != "" {
		r.b.Set(keyCluster, []byte(r.cluster), nil)
	}
	r.b.Set(keyInit, nil, nil)
	if err := r.b.Commit(pebble.Sync); err != nil {
		return RebuildStats{}, fmt.Errorf("orders: finish rebuild of partition %d: %w", r.s.partition, err)
	}
	r.s.mu.Lock()
	r.s.hwm, r.s.offset, r.s.payOffset, r.s.init, r.s.cluster = maps.Clone(r.hwm), r.offset, r.payOffset, true, r.cluster
	r.s.mu.Unlock()
	r.s.tasks.Store(tasks)
	r.s.dues.Store(dues)
	return RebuildStats{Orders: r.orders, Offset: r.offset, PayOffset: r.payOffset, HWM: r.hwm, Tasks: tasks, RefundsDue: dues}, nil
}

// derive flushes the open batch, then writes the seat calls and refunds
// due of every restored order into a new one (flushed every
// MaxRebuildBatch entries), and counts them. Only records that can have
// any are decoded.
func (r *Rebuild) derive() (tasks, dues int64, err error) {
	if err := r.flush(); err != nil {
		return 0, 0, err
	}
	it, err := r.s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindOrder}, UpperBound: []byte{kindOrder + 1}})
	if err != nil {
		return 0, 0, err
	}
	defer it.Close()
	n := 0
	for it.First(); it.Valid(); it.Next() {
		v := it.Value()
		if !bytes.Contains(v, []byte(`"DUE"`)) && !bytes.Contains(v, []byte(`"refunds_due"`)) {
			continue
		}
		var o Order
		if err := json.Unmarshal(v, &o); err != nil {
			panic(fmt.Sprintf("orders: restored order does not decode: %v", err))
		}
		no, _ := o.Number()
		tasks += reconcile(r.b, nil, o.tasks(), func(t Task) []byte { return taskKey(no, t.Kind, t.Index) }, func(t Task) any { return t })
		dues += reconcile(r.b, nil, o.dues(), func(d RefundDue) []byte { return dueKey(no, d.OutTradeNo) },
			func(d RefundDue) any {
				return DueRefund{OrderNo: o.OrderNo, UserID: o.UserID, HoldID: o.HoldID, RefundDue: d}
			})
		if n++; n%MaxRebuildBatch == 0 {
			if err := r.flush(); err != nil {
				return 0, 0, err
			}
		}
	}
	return tasks, dues, it.Error()
}

// Abandon ends a rebuild without finishing it; the next BeginRebuild
// starts over.
func (r *Rebuild) Abandon() {
	r.b.Close()
	r.s.writing.Store(false)
}
