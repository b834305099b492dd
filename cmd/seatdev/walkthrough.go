package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"seatd/inventory"
)

// demo prints each step of the walkthrough to w.
type demo struct {
	w   io.Writer
	e   *inventory.Engine
	now int64
	err error
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.w, format+"\n", args...)
}

// step advances the demo clock, so holds have real times and can expire.
func (d *demo) step(dt time.Duration) int64 {
	d.now += int64(dt)
	return d.now
}

func (d *demo) hold(who string, req inventory.HoldRequest) inventory.HoldInfo {
	out := d.e.Hold(d.step(time.Second), &req)
	if out.Result != inventory.ResultOK {
		msg := out.Result.String()
		if out.BadSeat != "" {
			msg += " (" + out.BadSeat + ")"
		}
		d.say("  %-8s hold refused: %s", who, msg)
		return inventory.HoldInfo{}
	}
	h := out.Hold
	var seats []string
	for _, s := range h.Seats {
		seats = append(seats, h.Program.Seat(s).ID)
	}
	d.say("  %-8s hold %d, order %d: %s, %.2f, expires in %v", who, h.ID, h.OrderNo,
		strings.Join(seats, " "), float64(h.TotalCents)/100, time.Duration(h.ExpiresAt-d.now))
	return h
}

func (d *demo) check(what string, r inventory.Result) {
	d.say("  %-26s %s", what, r)
	if r != inventory.ResultOK && d.err == nil {
		d.err = fmt.Errorf("%s: %s", what, r)
	}
}

// walkthrough is a guided demo of the inventory engine alone: an arena
// and a train, best-available and manual holds, payment, cancellation,
// expiry, refunds and operator blocks, each step's result and the seat
// map printed.
func walkthrough(w io.Writer) error {
	e, err := inventory.New(inventory.Config{Group: 1})
	if err != nil {
		return err
	}
	d := &demo{w: w, e: e, now: time.Date(2026, 12, 31, 20, 0, 0, 0, time.UTC).UnixNano()}
	if err := d.arena(); err != nil {
		return err
	}
	d.say("")
	if err := d.train(); err != nil {
		return err
	}
	snap := e.AppendSnapshot(nil)
	restored, err := inventory.Restore(inventory.Config{Group: 1}, snap)
	if err != nil {
		return err
	}
	d.say("\nsnapshot: %d bytes; restored engine re-encodes identically: %v; invariants: %v",
		len(snap), string(restored.AppendSnapshot(nil)) == string(snap), errOrOK(restored.Check()))
	return d.err
}

func errOrOK(err error) string {
	if err != nil {
		return err.Error()
	}
	return "ok"
}

func (d *demo) arena() error {
	layout, err := inventory.Grid{Sections: 2, Rows: 8, Cols: 16, Categories: []inventory.GridCategory{
		{ID: "vip", First: 1, Last: 2}, {ID: "a", First: 3, Last: 5}, {ID: "b", First: 6, Last: 8}}}.Layout()
	if err != nil {
		return err
	}
	spec := inventory.ProgramSpec{
		ID: "nye-2026", Name: "New Year's Eve concert", Layout: layout, HoldTTL: 15 * time.Minute,
		Categories: []inventory.Category{{ID: "vip", PriceCents: 128000}, {ID: "a", PriceCents: 68000}, {ID: "b", PriceCents: 38000}},
	}
	if r, err := d.e.CreateProgram(d.now, &spec); r != inventory.ResultOK {
		return fmt.Errorf("create program: %s: %v", r, err)
	}
	d.say("== %s: 2 sections x 8 rows x 16 seats, VIP rows 1-2, A rows 3-5, B rows 6-8;", spec.Name)
	d.say("   seats 8 and 9 of each front row are wheelchair spaces, which other buyers get only when nothing else fits")
	d.check("operator blocks A/4/7-10", first(d.e.Block(d.now, &inventory.BlockRequest{Program: spec.ID, Seats: []string{"A/4/7", "A/4/8", "A/4/9", "A/4/10"}})))
	d.say("  %-8s hold refused before the sale opens: %s", "buyer 1", d.e.Hold(d.now, &inventory.HoldRequest{Program: spec.ID, User: 1, Count: 1}).Result)
	d.check("open sale", d.e.OpenSale(d.step(time.Minute), spec.ID))

	paid := d.hold("buyer 1", inventory.HoldRequest{Program: spec.ID, User: 1001, Category: "vip", Count: 4, Together: true})
	cancel := d.hold("buyer 2", inventory.HoldRequest{Program: spec.ID, User: 1002, Seats: []string{"B/3/8", "B/3/9"}})
	d.hold("buyer 3", inventory.HoldRequest{Program: spec.ID, User: 1003, Seats: []string{"B/3/9", "B/3/10"}})
	d.hold("buyer 3", inventory.HoldRequest{Program: spec.ID, User: 1003, Seats: []string{"A/1/1"}, CheckTotal: true, ExpectedTotalCents: 100000})
	lapse := d.hold("buyer 4", inventory.HoldRequest{Program: spec.ID, User: 1004, Category: "a", Count: 3, Together: true})
	d.say("  more than the 6 seats one hold may take:")
	d.hold("buyer 5", inventory.HoldRequest{Program: spec.ID, User: 1005, Category: "b", Count: 7, Together: true})
	d.printMap(spec.ID, "after the first holds")

	d.check("buyer 1 pays (confirm)", d.e.Confirm(d.step(time.Minute), paid.ID))
	d.check("buyer 2 cancels (release)", d.e.Release(d.step(time.Second), cancel.ID, 1002, inventory.ReleaseCancelled))
	expired := d.e.Tick(d.step(15*time.Minute), nil)
	d.say("  %-26s %v (buyer 4's hold %d lapsed)", "tick after 15 minutes", expired, lapse.ID)
	r, amount, _ := d.e.Refund(d.step(time.Minute), paid.ID, []string{paid.Program.Seat(paid.Seats[0]).ID})
	d.check(fmt.Sprintf("refund one seat (%.2f)", float64(amount)/100), r)
	d.printMap(spec.ID, "after payment, cancellation, expiry and a refund (refunded seats stay off sale)")
	return nil
}

func first(r inventory.Result, _ string) inventory.Result { return r }

func (d *demo) train() error {
	layout, err := inventory.Train{Carriages: 4, Rows: 4, Categories: []inventory.GridCategory{
		{ID: "first", First: 1, Last: 1}, {ID: "second", First: 2, Last: 4}}}.Layout()
	if err != nil {
		return err
	}
	spec := inventory.ProgramSpec{
		ID: "G1-2027-01-28", Name: "G1 Beijing South - Shanghai Hongqiao", Layout: layout, RealName: true, RefundResells: true,
		Stops:      []string{"Beijing South", "Jinan West", "Nanjing South", "Shanghai Hongqiao"},
		Categories: []inventory.Category{{ID: "first", PriceCents: 93300}, {ID: "second", PriceCents: 55300}},
	}
	if r, err := d.e.CreateProgram(d.now, &spec); r != inventory.ResultOK {
		return fmt.Errorf("create program: %s: %v", r, err)
	}
	d.say("== %s: %d stops, real-name, refunds resold", spec.Name, len(spec.Stops))
	d.check("open sale", d.e.OpenSale(d.now, spec.ID))
	zhang := inventory.Holder{Name: "Zhang San", IDNumber: "11010119900307432X"}
	li := inventory.Holder{Name: "Li Si", IDNumber: "110101198807151234"}
	d.hold("Zhang", inventory.HoldRequest{Program: spec.ID, User: 2001, Seats: []string{"2/1/1"}, From: 0, To: 1, Holders: []inventory.Holder{zhang}})
	d.hold("Li", inventory.HoldRequest{Program: spec.ID, User: 2002, Seats: []string{"2/1/1"}, From: 1, To: 3, Holders: []inventory.Holder{li}})
	d.say("  one ID number, one seat per overlapping leg range:")
	d.hold("Zhang", inventory.HoldRequest{Program: spec.ID, User: 2001, Category: "second", Count: 1, From: 0, To: 2, Holders: []inventory.Holder{zhang}})
	for _, rg := range [][2]int{{0, 1}, {1, 3}, {0, 3}} {
		a, _, _ := d.e.Availability(spec.ID, rg[0], rg[1], d.now)
		d.say("  availability %s -> %s: %s", spec.Stops[rg[0]], spec.Stops[rg[1]], formatAvailability(a))
	}
	return nil
}

func formatAvailability(as []inventory.CategoryAvailability) string {
	var parts []string
	for _, a := range as {
		parts = append(parts, fmt.Sprintf("%s %d/%d free", a.ID, a.Free, a.Capacity))
	}
	return strings.Join(parts, ", ")
}

// printMap draws the seat map: . free, h held, S sold, x blocked; rows by
// section side by side.
func (d *demo) printMap(programID, title string) {
	p, _ := d.e.Program(programID)
	states, _, _ := d.e.SeatMap(programID, 0, 0, d.now, nil)
	glyph := [...]byte{inventory.SeatFree: '.', inventory.SeatHeld: 'h', inventory.SeatSold: 'S', inventory.SeatBlocked: 'x'}
	rows := map[string][]byte{} // "row" -> glyphs of every section, separated
	var order []string
	for i, st := range states {
		s := p.Seat(uint32(i))
		if _, ok := rows[s.Row]; !ok {
			order = append(order, s.Row)
		}
		if s.Col == 1 && len(rows[s.Row]) > 0 {
			rows[s.Row] = append(rows[s.Row], "   "...)
		}
		rows[s.Row] = append(rows[s.Row], glyph[st])
	}
	a, _, _ := d.e.Availability(programID, 0, 0, d.now)
	d.say("\n  %s   [%s]", title, formatAvailability(a))
	d.say("         stage\n       A                  B")
	for _, r := range order {
		d.say("  %2s   %s", r, rows[r])
	}
	d.say("  legend: . free  h held  S sold  x blocked")
}
