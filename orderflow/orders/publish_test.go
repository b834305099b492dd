package orders

import (
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"seatd/orderflow/events"
)

// placeOrders applies n HoldPlaced events, one batch each (a change to
// publish each), numbering orders and seqs from first.
func placeOrders(tb testing.TB, s *Store, first, n int) {
	tb.Helper()
	for i := first; i < first+n; i++ {
		b := s.NewBatch()
		e := events.HoldEvent{Version: 1, Group: 1, Seq: uint64(i), Type: events.HoldPlaced, At: time.Unix(int64(i), 0).UTC(),
			OrderNo: strconv.Itoa(65601 + 65536*i), HoldID: strconv.Itoa(i), UserID: "1", TotalCents: 100,
			Seats: []events.Seat{{ID: "A/1/1", PriceCents: 100}}}
		if got, _, err := b.Apply(&e, Source{Seq: e.Seq, Offset: int64(i)}); got != Applied || err != nil {
			tb.Fatalf("Apply = %v, %v", got, err)
		}
		if err := b.Commit(); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestPublishCycle: the changes published are forgotten, later ones are
// pending in order, and after a reopen only those not yet published are
// (a deletion a crash loses is published again, which is allowed).
func TestPublishCycle(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 0, 1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	placeOrders(t, s, 1, 5)
	cs, err := s.Pending(3, 1<<20)
	if err != nil || len(cs) != 3 || cs[0].Seq != 1 || cs[2].Seq != 3 {
		t.Fatalf("Pending(3) = %+v, %v; want changes 1-3", cs, err)
	}
	if err := s.Published(cs[2].Seq); err != nil {
		t.Fatal(err)
	}
	placeOrders(t, s, 6, 1)
	cs, err = s.Pending(10, 1<<20)
	if err != nil || len(cs) != 3 || cs[0].Seq != 4 || cs[2].Seq != 6 || s.PendingCount() != 3 {
		t.Fatalf("Pending after publishing 1-3 = %+v (count %d), %v; want changes 4-6", cs, s.PendingCount(), err)
	}
	if err := s.Published(cs[1].Seq); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, 0, 1, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cs, err = s.Pending(10, 1<<20)
	if err != nil || len(cs) != 1 || cs[0].Seq != 6 || s.PendingCount() != 1 {
		t.Fatalf("Pending after a reopen = %+v (count %d), %v; want change 6 alone", cs, s.PendingCount(), err)
	}
}

// BenchmarkPublishCycle: a change made, read to publish and forgotten, as
// the order service's publisher does for every change, after history
// changes were published before it (pebble keeps what it forgot in its
// memtable until a flush). Each cycle should cost the same however long
// the history.
func BenchmarkPublishCycle(b *testing.B) {
	for _, history := range []int{0, 10_000} {
		b.Run("history="+strconv.Itoa(history), func(b *testing.B) {
			s, err := Open(b.TempDir(), 0, 1, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			next := 1
			cycle := func() {
				placeOrders(b, s, next, 1)
				next++
				cs, err := s.Pending(100, 1<<20)
				if err != nil || len(cs) != 1 {
					b.Fatalf("Pending = %d changes, %v", len(cs), err)
				}
				if err := s.Published(cs[0].Seq); err != nil {
					b.Fatal(err)
				}
			}
			for range history {
				cycle()
			}
			b.ResetTimer()
			for b.Loop() {
				cycle()
			}
		})
	}
}

// TestPublishedOutOfStep: Published called out of step with what is
// pending (twice for one seq, below what was forgotten, beyond the last
// change) keeps the pending count equal to the changes stored, and a
// seq beyond the last does not hide the changes numbered later.
func TestPublishedOutOfStep(t *testing.T) {
	s, err := Open(t.TempDir(), 0, 1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stored := func() (n int64) {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindPending}, UpperBound: []byte{kindPending + 1}})
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		for it.First(); it.Valid(); it.Next() {
			n++
		}
		return n
	}
	placeOrders(t, s, 1, 5)
	for _, c := range []struct {
		name string
		seq  int64
		want int64
	}{{"first", 3, 2}, {"again", 3, 2}, {"below the mark", 2, 2}, {"beyond the last", 100, 0}, {"nothing left", 100, 0}} {
		if err := s.Published(c.seq); err != nil {
			t.Fatalf("%s: Published(%d) = %v", c.name, c.seq, err)
		}
		if got, n := s.PendingCount(), stored(); got != c.want || n != c.want {
			t.Fatalf("%s: Published(%d): PendingCount() = %d, %d stored; want %d", c.name, c.seq, got, n, c.want)
		}
	}
	placeOrders(t, s, 6, 2)
	cs, err := s.Pending(10, 1<<20)
	if err != nil || len(cs) != 2 || cs[0].Seq != 6 || cs[1].Seq != 7 || s.PendingCount() != 2 {
		t.Fatalf("Pending after Published(100) = %+v (count %d), %v; want changes 6-7", cs, s.PendingCount(), err)
	}
	if err := s.Published(7); err != nil || s.PendingCount() != 0 || stored() != 0 {
		t.Fatalf("Published(7) = %v: PendingCount() = %d, %d stored; want 0", err, s.PendingCount(), stored())
	}
}
