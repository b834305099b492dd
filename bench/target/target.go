// Package target is what seatbench drives: one seat-locking design under
// test (seatd's engine in process, seatd over Kitex or HTTP, or a
// baseline of ../shared/BASELINE.md: Redis with Lua, seats as rows in
// PostgreSQL), behind one interface, so that every design answers the
// same requests of the same scenario on the same machine.
//
// A venue is an inventory.ProgramSpec, the engine's own description;
// Seats flattens it into the rows a baseline stores. Leg ranges (trains)
// are seatd's alone: a baseline sells whole journeys.
package target

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"seatd/inventory"
)

// Refusals every target answers with the same meaning (test with
// errors.Is; a target wraps them with its own words). Any other error is
// a failure of the target, counted apart.
var (
	// ErrSoldOut: fewer free seats of the category than asked.
	ErrSoldOut = errors.New("target: sold out")
	// ErrNoAdjacent: enough free seats, but not that many side by side
	// in one row.
	ErrNoAdjacent = errors.New("target: no adjacent seats")
	// ErrTaken: a named seat is held or sold.
	ErrTaken = errors.New("target: seat taken")
	// ErrPriceMismatch: the named seats cost more than the buyer
	// expected.
	ErrPriceMismatch = errors.New("target: price above the expected total")
	// ErrUnknownHold: a release of a hold the target does not have.
	ErrUnknownHold = errors.New("target: unknown hold")
)

// Refusal returns what an engine result means to seatbench: nil for
// ResultOK, one of the refusals above, or, for a result with no
// counterpart (a failure of the target), an error naming it. Targets
// over seatd's engine (in process, over Kitex) share it.
func Refusal(r inventory.Result) error {
	switch r {
	case inventory.ResultOK:
		return nil
	case inventory.ResultSoldOut:
		return ErrSoldOut
	case inventory.ResultNoAdjacentSeats:
		return ErrNoAdjacent
	case inventory.ResultSeatTaken:
		return ErrTaken
	case inventory.ResultPriceMismatch:
		return ErrPriceMismatch
	case inventory.ResultHoldNotFound:
		return ErrUnknownHold
	}
	return fmt.Errorf("target: result %s", r)
}

// Seat is one seat as a baseline stores it. ID is "section/row/col", as
// seatd names seats.
type Seat struct {
	ID         string
	Section    string
	Row        string
	Col        int
	Category   string
	Rank       int // the row's rank: lower is better
	PriceCents int64
}

// Seats flattens a venue into its seats, in layout order.
func Seats(spec *inventory.ProgramSpec) []Seat {
	price := map[string]int64{}
	for _, c := range spec.Categories {
		price[c.ID] = c.PriceCents
	}
	var out []Seat
	for _, sec := range spec.Layout.Sections {
		for _, row := range sec.Rows {
			for _, s := range row.Seats {
				out = append(out, Seat{ID: sec.ID + "/" + row.ID + "/" + strconv.Itoa(s.Col), Section: sec.ID, Row: row.ID,
					Col: s.Col, Category: s.Category, Rank: row.Rank, PriceCents: price[s.Category]})
			}
		}
	}
	return out
}

// Hold is seats held for a buyer: what Release gives back.
type Hold struct {
	ID         string
	Seats      []string
	TotalCents int64
	// Prices is each seat's category and price, in the order of Seats,
	// from a target that says them (the baselines: their stores keep
	// both with the seat, and an HTTP front answers them, as the
	// gateway does); nil from one that does not.
	Prices []SeatPrice
	// OrderNo is the order the hold becomes, from a target with orders
	// (the whole system); empty from one without.
	OrderNo string
}

// SeatPrice is a held seat's category and price.
type SeatPrice struct {
	Category   string
	PriceCents int64
}

// Target is one design under test. Its methods may be called from many
// goroutines at once (the load's buyers).
type Target interface {
	// Name names it in reports ("engine", "redis-lua", "postgres", ...).
	Name() string
	// Persists says what it makes durable before it answers, as every
	// figure must say next to it ("nothing: one Redis, no persistence",
	// "3 replicas, fsync", ...).
	Persists() string
	// Load creates the venue's program with every seat free; a program
	// of that id already there is replaced.
	Load(ctx context.Context, spec *inventory.ProgramSpec) error
	// HoldBest holds n adjacent seats of a category, best first: the
	// design's own idea of best (seatd: rank, then centre; Redis+Lua:
	// row and column order; PostgreSQL: rank, row, column).
	HoldBest(ctx context.Context, program, category string, buyer uint64, n int) (Hold, error)
	// HoldNamed holds the seats named, if every one is free and they cost
	// at most expectedCents.
	HoldNamed(ctx context.Context, program string, buyer uint64, seatIDs []string, expectedCents int64) (Hold, error)
	// Release gives a hold's seats back.
	Release(ctx context.Context, program string, h Hold) error
	// Close releases the target's connections (not its server).
	Close() error
}
