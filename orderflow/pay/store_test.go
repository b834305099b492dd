package pay

import (
	"errors"
	"log/slog"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"seatd/inventory"
	"seatd/orderflow/events"
	"seatd/orderflow/orders"
)

// TestOutTradeNo: a trade number names its order and attempt, fits both
// providers' rules, and anything else is not one of ours.
func TestOutTradeNo(t *testing.T) {
	for _, c := range []struct {
		no      inventory.OrderNo
		attempt int
		want    string
	}{{65536, 1, "65536_01"}, {9884235, 12, "9884235_12"}, {18446744073709551615, 99, "18446744073709551615_99"}} {
		got := OutTradeNo(c.no, c.attempt)
		if got != c.want {
			t.Errorf("OutTradeNo(%d, %d) = %q; want %q", c.no, c.attempt, got, c.want)
		}
		if len(got) < 6 || len(got) > 32 {
			t.Errorf("OutTradeNo(%d, %d) = %q: %d characters, WeChat takes 6-32", c.no, c.attempt, got, len(got))
		}
		no, a, err := ParseOutTradeNo(got)
		if err != nil || no != c.no || a != c.attempt {
			t.Errorf("ParseOutTradeNo(%q) = %d, %d, %v; want %d, %d", got, no, a, err, c.no, c.attempt)
		}
	}
	for _, s := range []string{"", "65536", "65536_1", "65536_001", "065536_01", "65536_00", "0_01", "x_01", "65536-01", "65536_0x", "18446744073709551616_01"} {
		if _, _, err := ParseOutTradeNo(s); !errors.Is(err, ErrBadTradeNo) {
			t.Errorf("ParseOutTradeNo(%q) = %v; want ErrBadTradeNo", s, err)
		}
	}
}

// TestPublishCycle: outcomes published are deleted and not read again,
// later ones are read in order, and a reopened store reads only those
// not yet published.
func TestPublishCycle(t *testing.T) {
	dir := t.TempDir()
	s, err := openStore(dir, 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	record := func(nos ...string) { recordClosed(t, s, nos...) }
	nos := func(cs []orders.Change) (out []uint64) {
		for _, c := range cs {
			out = append(out, uint64(c.OrderNo))
		}
		return out
	}
	record("1", "2", "3")
	cs, err := s.toPublish(2)
	if err != nil || !slices.Equal(nos(cs), []uint64{1, 2}) {
		t.Fatalf("toPublish(2) = %v, %v; want orders 1, 2", nos(cs), err)
	}
	if err := s.published(cs[1].Seq); err != nil {
		t.Fatal(err)
	}
	record("4")
	if cs, err = s.toPublish(10); err != nil || !slices.Equal(nos(cs), []uint64{3, 4}) {
		t.Fatalf("toPublish after publishing 1-2 = %v, %v; want orders 3, 4", nos(cs), err)
	}
	if err := s.published(cs[0].Seq); err != nil {
		t.Fatal(err)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	if s, err = openStore(dir, 0, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if cs, err = s.toPublish(10); err != nil || !slices.Equal(nos(cs), []uint64{4}) || s.pending.Count() != 1 {
		t.Fatalf("toPublish after a reopen = %v (%d pending), %v; want order 4 alone", nos(cs), s.pending.Count(), err)
	}
}

// recordClosed commits a PaymentClosed outcome for each order number, to
// be published.
func recordClosed(t *testing.T, s *store, nos ...string) {
	t.Helper()
	var evs []events.PayEvent
	for _, no := range nos {
		evs = append(evs, events.PayEvent{Type: events.PaymentClosed, OrderNo: no, OutTradeNo: "T" + no})
	}
	if err := s.commit(s.db.NewBatch(), evs); err != nil {
		t.Fatal(err)
	}
}

// TestPublishedOutOfStep: published called out of step with what is
// waiting (twice for one seq, below what was deleted, beyond the last
// outcome) keeps the pending count equal to the outcomes stored, and a
// seq beyond the last does not hide the outcomes numbered later.
func TestPublishedOutOfStep(t *testing.T) {
	s, err := openStore(t.TempDir(), 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	record := func(nos ...string) { recordClosed(t, s, nos...) }
	stored := func() (n int64) {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindPublish}, UpperBound: []byte{kindPublish + 1}})
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		for it.First(); it.Valid(); it.Next() {
			n++
		}
		return n
	}
	record("1", "2", "3", "4", "5")
	for _, c := range []struct {
		name string
		seq  int64
		want int64
	}{{"first", 3, 2}, {"again", 3, 2}, {"below the mark", 2, 2}, {"beyond the last", 100, 0}, {"nothing left", 100, 0}} {
		if err := s.published(c.seq); err != nil {
			t.Fatalf("%s: published(%d) = %v", c.name, c.seq, err)
		}
		if got, n := s.pending.Count(), stored(); got != c.want || n != c.want {
			t.Fatalf("%s: published(%d): %d pending, %d stored; want %d", c.name, c.seq, got, n, c.want)
		}
	}
	record("6", "7")
	cs, err := s.toPublish(10)
	if err != nil || len(cs) != 2 || cs[0].Seq != 6 || cs[1].Seq != 7 || s.pending.Count() != 2 {
		t.Fatalf("toPublish after published(100) = %+v (%d pending), %v; want outcomes 6-7", cs, s.pending.Count(), err)
	}
	if err := s.published(7); err != nil || s.pending.Count() != 0 || stored() != 0 {
		t.Fatalf("published(7) = %v: %d pending, %d stored; want 0", err, s.pending.Count(), stored())
	}
}
