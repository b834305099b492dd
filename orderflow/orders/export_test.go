package orders

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"seatd/orderflow/events"
)

// TestExport pages through a partition's orders with every page size from
// 1 to past their count: each order once, by order number, in as few
// pages as the limit allows (no empty last page). Limits out of range and foreign cursors are
// refused.
func TestExport(t *testing.T) {
	s, err := Open(t.TempDir(), 0, 1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 7
	b := s.NewBatch()
	for i := range n {
		e := events.HoldEvent{Version: 1, Group: 1, Seq: uint64(i + 1), Type: events.HoldPlaced, At: time.Unix(int64(i), 0).UTC(),
			OrderNo: strconv.Itoa(65601 + 65536*(n-i)), HoldID: strconv.Itoa(i + 1), UserID: "1", TotalCents: 100,
			Seats: []events.Seat{{ID: "A/1/1", PriceCents: 100}}}
		if got, _, err := b.Apply(&e, Source{Seq: e.Seq, Offset: int64(i)}); got != Applied || err != nil {
			t.Fatalf("Apply = %v, %v", got, err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	for limit := 1; limit <= n+1; limit++ {
		var got []string
		cursor, pages := "", 0
		for {
			page, err := s.Export(cursor, limit)
			if err != nil {
				t.Fatalf("Export(%q, %d) = %v", cursor, limit, err)
			}
			pages++
			for _, o := range page.Orders {
				got = append(got, o.OrderNo)
			}
			if cursor = page.Next; cursor == "" {
				break
			}
		}
		if len(got) != n || pages != (n+limit-1)/limit {
			t.Errorf("limit %d: %d pages of %v; want %d orders", limit, pages, got, n)
		}
		for i := 1; i < len(got); i++ {
			a, _ := strconv.ParseUint(got[i-1], 10, 64)
			b, _ := strconv.ParseUint(got[i], 10, 64)
			if a >= b {
				t.Errorf("limit %d: %v not by order number", limit, got)
				break
			}
		}
	}
	for _, limit := range []int{-1, MaxExportLimit + 1} {
		if _, err := s.Export("", limit); !errors.Is(err, ErrBadExportLimit) {
			t.Errorf("Export(limit %d) = %v; want ErrBadExportLimit", limit, err)
		}
	}
	list, err := s.List(1, "", 1)
	if err != nil || list.Next == "" {
		t.Fatalf("List = %+v, %v", list, err)
	}
	for _, c := range []string{"!", list.Next} {
		if _, err := s.Export(c, 1); !errors.Is(err, ErrBadCursor) {
			t.Errorf("Export(cursor %q) = %v; want ErrBadCursor", c, err)
		}
	}
}
