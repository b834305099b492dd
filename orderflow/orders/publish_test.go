package orders

import (
	"strconv"
	"testing"
	"time"

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
	if err := s.Published(cs[2].Seq, len(cs)); err != nil {
		t.Fatal(err)
	}
	placeOrders(t, s, 6, 1)
	cs, err = s.Pending(10, 1<<20)
	if err != nil || len(cs) != 3 || cs[0].Seq != 4 || cs[2].Seq != 6 || s.PendingCount() != 3 {
		t.Fatalf("Pending after publishing 1-3 = %+v (count %d), %v; want changes 4-6", cs, s.PendingCount(), err)
	}
	if err := s.Published(cs[1].Seq, 2); err != nil {
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
				if err := s.Published(cs[0].Seq, 1); err != nil {
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
