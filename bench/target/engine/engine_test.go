package engine

import (
	"context"
	"errors"
	"testing"

	"seatd/bench/target"
	"seatd/inventory"
)

func trainSpec(t *testing.T) *inventory.ProgramSpec {
	t.Helper()
	layout, err := inventory.Train{Carriages: 1, Rows: 2, Categories: []inventory.GridCategory{{ID: "second", First: 1, Last: 1}}}.Layout()
	if err != nil {
		t.Fatal(err)
	}
	return &inventory.ProgramSpec{ID: "g1", Stops: []string{"a", "b", "c"}, Layout: layout,
		Categories: []inventory.Category{{ID: "second", PriceCents: 100}}}
}

// TestRefusals: the engine's results come back as target's refusals, and
// leg ranges sell one seat twice on legs that do not overlap.
func TestRefusals(t *testing.T) {
	ctx := context.Background()
	tg := New()
	if _, err := tg.HoldBest(ctx, "g1", "second", 1, 1); err == nil {
		t.Fatal("HoldBest before Load = nil error")
	}
	if err := tg.Load(ctx, trainSpec(t)); err != nil {
		t.Fatal(err)
	}
	h, err := tg.HoldNamedLegs(ctx, "g1", 1, []string{"1/1/1"}, 100, 0, 1)
	if err != nil || len(h.Seats) != 1 || h.Seats[0] != "1/1/1" || h.TotalCents != 100 {
		t.Fatalf("HoldNamedLegs = %+v, %v", h, err)
	}
	if _, err := tg.HoldNamedLegs(ctx, "g1", 2, []string{"1/1/1"}, 100, 1, 2); err != nil {
		t.Errorf("the same seat on the next leg: %v", err)
	}
	if _, err := tg.HoldNamed(ctx, "g1", 3, []string{"1/1/1"}, 100); !errors.Is(err, target.ErrTaken) {
		t.Errorf("HoldNamed(taken) = %v; want ErrTaken", err)
	}
	if _, err := tg.HoldNamed(ctx, "g1", 3, []string{"1/1/2"}, 99); !errors.Is(err, target.ErrPriceMismatch) {
		t.Errorf("HoldNamed(expected 99) = %v; want ErrPriceMismatch", err)
	}
	if _, err := tg.HoldBest(ctx, "g1", "second", 4, 4); !errors.Is(err, target.ErrNoAdjacent) {
		t.Errorf("HoldBest(4) in rows of A B C | D F = %v; want ErrNoAdjacent", err)
	}
	if free, err := tg.SeatMap(ctx, "g1", "second", 0, 2); err != nil || free != 9 {
		t.Errorf("SeatMap = %d, %v; want 9 of 10 free end to end", free, err)
	}
	for i := range 9 {
		if _, err := tg.HoldBest(ctx, "g1", "second", uint64(10+i), 1); err != nil {
			t.Fatalf("HoldBest #%d of the 9 free: %v", i, err)
		}
	}
	if _, err := tg.HoldBest(ctx, "g1", "second", 5, 1); !errors.Is(err, target.ErrSoldOut) {
		t.Errorf("HoldBest with none free = %v; want ErrSoldOut", err)
	}
	if err := tg.Confirm(ctx, "g1", h); err != nil {
		t.Errorf("Confirm = %v", err)
	}
	if err := tg.Release(ctx, "g1", target.Hold{ID: "12345"}); !errors.Is(err, target.ErrUnknownHold) {
		t.Errorf("Release(unknown) = %v; want ErrUnknownHold", err)
	}
	if err := tg.Release(ctx, "g1", target.Hold{ID: "x"}); !errors.Is(err, target.ErrUnknownHold) {
		t.Errorf("Release(malformed id) = %v; want ErrUnknownHold", err)
	}
	if err := tg.Check(ctx); err != nil {
		t.Error(err)
	}
	// Load replaces the program.
	if err := tg.Load(ctx, trainSpec(t)); err != nil {
		t.Fatal(err)
	}
	if free, _ := tg.SeatMap(ctx, "g1", "second", 0, 0); free != 10 {
		t.Errorf("after a new Load, %d free; want 10", free)
	}
}
