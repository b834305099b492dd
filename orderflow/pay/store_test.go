package pay

import (
	"errors"
	"log/slog"
	"slices"
	"testing"

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
	record := func(nos ...string) {
		t.Helper()
		var evs []events.PayEvent
		for _, no := range nos {
			evs = append(evs, events.PayEvent{Type: events.PaymentClosed, OrderNo: no, OutTradeNo: "T" + no})
		}
		if err := s.commit(s.db.NewBatch(), evs); err != nil {
			t.Fatal(err)
		}
	}
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
	if err := s.published(cs[1].Seq, 2); err != nil {
		t.Fatal(err)
	}
	record("4")
	if cs, err = s.toPublish(10); err != nil || !slices.Equal(nos(cs), []uint64{3, 4}) {
		t.Fatalf("toPublish after publishing 1-2 = %v, %v; want orders 3, 4", nos(cs), err)
	}
	if err := s.published(cs[0].Seq, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	if s, err = openStore(dir, 0, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if cs, err = s.toPublish(10); err != nil || !slices.Equal(nos(cs), []uint64{4}) || s.pending.Load() != 1 {
		t.Fatalf("toPublish after a reopen = %v (%d pending), %v; want order 4 alone", nos(cs), s.pending.Load(), err)
	}
}
