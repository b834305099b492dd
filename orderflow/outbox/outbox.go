// Package outbox keeps the books of the messages a store recorded to
// publish: their keys (a kind byte, then the message's number big-endian,
// so that keys sort as the numbers do), the lowest number one may still
// have, and how many there are. The count bounds the store's queue, so it
// must stay the number of keys that exist whatever the publisher says:
// Forget counts what it deletes instead of trusting its caller.
//
// Concurrency: one writer records messages (Key, then Added once its
// batch committed); one publisher reads (IterOptions) and forgets
// (Forget); Count may be called from any goroutine. Forget calls are
// serialized, so that a range forgotten twice is subtracted once.
package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// Outbox is the bookkeeping of one kind of key in one pebble database.
type Outbox struct {
	db   *pebble.DB
	kind byte
	// sync is how Forget's deletions are written: a deletion a crash loses
	// only publishes its message again.
	sync *pebble.WriteOptions

	forget sync.Mutex // held through a Forget: guards the read-delete-advance of unpublished
	// unpublished is the lowest number a key may still have: reads start
	// there, past the keys forgotten (whose deletions pebble keeps until a
	// flush, and every iterator would step over).
	unpublished atomic.Int64
	count       atomic.Int64 // keys of kind
}

// Open counts the keys of kind in db and returns the outbox and the
// highest number among them (0 with none): a writer numbering its
// messages continues past it.
func Open(db *pebble.DB, kind byte, sync *pebble.WriteOptions) (*Outbox, int64, error) {
	o := &Outbox{db: db, kind: kind, sync: sync}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{kind}, UpperBound: []byte{kind + 1}})
	if err != nil {
		return nil, 0, fmt.Errorf("outbox: count %q keys: %w", kind, err)
	}
	var n, last int64
	for it.First(); it.Valid(); it.Next() {
		n++
		last = o.Number(it.Key())
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, 0, fmt.Errorf("outbox: count %q keys: %w", kind, err)
	}
	o.count.Store(n)
	return o, last, nil
}

// Key returns the key of message number seq.
func (o *Outbox) Key(seq int64) []byte {
	return binary.BigEndian.AppendUint64([]byte{o.kind}, uint64(seq))
}

// Number returns the number of the message whose key is key.
func (o *Outbox) Number(key []byte) int64 { return int64(binary.BigEndian.Uint64(key[1:])) }

// Added counts n messages the writer's batch set with Key, once the batch
// committed.
func (o *Outbox) Added(n int) { o.count.Add(int64(n)) }

// Count returns how many messages wait to be published.
func (o *Outbox) Count() int64 { return o.count.Load() }

// IterOptions bounds an iterator to the messages not yet forgotten, in
// number order.
func (o *Outbox) IterOptions() *pebble.IterOptions {
	return &pebble.IterOptions{LowerBound: o.Key(o.unpublished.Load()), UpperBound: []byte{o.kind + 1}}
}

// Forget deletes the messages numbered up to and including seq, once
// they are published, each by its key (a range deletion per publish
// would pile up in pebble's memtable, and every iterator re-fragments all
// of them). It deletes only what exists: a seq already forgotten deletes
// nothing, and the mark moves only past the last key deleted, never past
// a number the writer has yet to use.
func (o *Outbox) Forget(seq int64) error {
	o.forget.Lock()
	defer o.forget.Unlock()
	from := o.unpublished.Load()
	if seq < from {
		return nil
	}
	it, err := o.db.NewIter(&pebble.IterOptions{LowerBound: o.Key(from), UpperBound: o.Key(seq + 1)})
	if err != nil {
		return fmt.Errorf("outbox: forget through %d: %w", seq, err)
	}
	b := o.db.NewBatch()
	defer b.Close()
	var n int64
	last := from - 1
	for it.First(); it.Valid(); it.Next() {
		if err := b.Delete(it.Key(), nil); err != nil {
			it.Close()
			return fmt.Errorf("outbox: forget through %d: %w", seq, err)
		}
		n++
		last = o.Number(it.Key())
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return fmt.Errorf("outbox: forget through %d: %w", seq, err)
	}
	if n == 0 {
		return nil
	}
	if err := b.Commit(o.sync); err != nil {
		return fmt.Errorf("outbox: forget through %d: %w", seq, err)
	}
	o.unpublished.Store(last + 1)
	o.count.Add(-n)
	return nil
}

// Reset starts the books again after the store deleted every key of the
// kind (a rebuild).
func (o *Outbox) Reset() {
	o.forget.Lock()
	defer o.forget.Unlock()
	o.unpublished.Store(0)
	o.count.Store(0)
}
