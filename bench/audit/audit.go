// Package audit checks, at the end of every seatbench run, that no seat
// and no cent went astray: it compares the harness's ledger of what
// buyers were told (Ledger) with what the target says at the end
// (State: its seat map, counters, holds, and for the whole system the
// orders, trades and refunds), and lists every difference with a stable
// code, the ids concerned and what each side says. bench/README.md,
// "Audit", lists the checks and their codes. What orderflow reconcile
// already compares (orders, seatd, trades, refunds, bills) it leaves to
// reconcile.Compare and includes its differences.
//
// Audit is a pure function of a Snapshot: no I/O, no clock (the
// snapshot says when the state was read), the same report for the same
// snapshot. The collectors are the harness's (bench/replay keeps the
// ledger) and the targets' (Stater; ReadSeatd for seatd,
// reconcile.Collect for the order flow).
package audit

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"seatd/bench/target"
	"seatd/inventory"
	"seatd/orderflow/events"
	"seatd/orderflow/orders"
	"seatd/orderflow/pay"
	"seatd/orderflow/reconcile"
)

// Code names a kind of difference, as reconcile's codes do; the names
// are stable.
type Code = reconcile.Code

// Difference is one disagreement, as reconcile reports them.
type Difference = reconcile.Difference

// The checks, in the order they run and are reported.
const (
	CheckLedger    = "ledger"    // the ledger alone: always
	CheckSeats     = "seats"     // the ledger against the target's seat map
	CheckCounts    = "counts"    // the target's counters against the scenario and its seat map
	CheckHolds     = "holds"     // the ledger against the target's holds
	CheckOrders    = "orders"    // the ledger against the orders, trades and refunds
	CheckReconcile = "reconcile" // orderflow reconcile over the orders, seatd and the pay records
)

var checkNames = []string{CheckLedger, CheckSeats, CheckCounts, CheckHolds, CheckOrders, CheckReconcile}

// Codes of the ledger check.
const (
	SeatSoldTwice   Code = "SEAT_SOLD_TWICE"   // two holds the harness paid have a seat on a leg
	SeatHeldTwice   Code = "SEAT_HELD_TWICE"   // a hold was granted while another buyer's hold certainly had the seat on that leg
	HoldSeatUnknown Code = "HOLD_SEAT_UNKNOWN" // a hold was granted a seat or leg the program does not have
)

// Codes of the seats check.
const (
	SeatNotSold       Code = "SEAT_NOT_SOLD"       // a seat of a paid hold is not sold in the target
	SeatSoldUnpaid    Code = "SEAT_SOLD_UNPAID"    // the target sells a seat no paid hold has
	SeatNotHeld       Code = "SEAT_NOT_HELD"       // a seat of a hold the buyer still has is not held in the target
	SeatHeldUnclaimed Code = "SEAT_HELD_UNCLAIMED" // the target holds or blocks a seat no buyer still has
	SeatMapShape      Code = "SEAT_MAP_SHAPE"      // the target's seat map has other legs or seats than the program
)

// Codes of the counts check.
const (
	CapacityMismatch Code = "CAPACITY_MISMATCH" // free + held + sold + blocked != capacity, or capacity != the scenario's, per category and leg
	CountMismatch    Code = "COUNT_MISMATCH"    // a counter differs from the target's own seat map
)

// Codes of the holds check.
const (
	PaidHoldNotConfirmed Code = "PAID_HOLD_NOT_CONFIRMED" // a hold the harness paid is not CONFIRMED in the target
	HoldStatusMismatch   Code = "HOLD_STATUS_MISMATCH"    // a hold's status in the target is not what the buyer was told
	HoldSeatsDiffer      Code = "HOLD_SEATS_DIFFER"       // a hold's seats or legs in the target are not those the buyer was told
)

// Codes of the orders check.
const (
	PaidHoldWithoutOrder Code = "PAID_HOLD_WITHOUT_ORDER" // a hold the harness paid has no order, or its order is not paid
	OrderPaidUnknown     Code = "ORDER_PAID_UNKNOWN"      // a paid order's hold the harness never paid
	EventAppliedTwice    Code = "EVENT_APPLIED_TWICE"     // an order shows an event applied more than once
	PaymentsMismatch     Code = "PAYMENTS_MISMATCH"       // the payments differ from the orders paid (count or cents)
	RefundsAbovePayments Code = "REFUNDS_ABOVE_PAYMENTS"  // more refunded than paid, over the whole sale
)

// Sides, besides reconcile's (orders, pay, seatd).
const (
	SideHarness  = "harness"
	SideTarget   = "target"
	SideScenario = "scenario"
)

// MaxDifferences bounds the differences a Report lists; past it they
// are only counted (Check.Codes), so that a target that lost every seat
// of a stadium does not make a report of a million lines.
const MaxDifferences = 1000

// Snapshot is what the audit compares.
type Snapshot struct {
	Spec   *inventory.ProgramSpec
	Ledger Ledger
	State  State
	// Read is when State was read, on the ledger's clock.
	Read Span
}

// Finding is a difference and the check that found it.
type Finding struct {
	Check string `json:"check"`
	Difference
}

// String is the finding on one line.
func (f Finding) String() string { return f.Check + ": " + f.Difference.String() }

// Check is one check's outcome.
type Check struct {
	Name string `json:"name"`
	Ran  bool   `json:"ran"`
	// Why says why it did not run, or what it left out.
	Why         string       `json:"why,omitempty"`
	Differences int          `json:"differences"`
	Codes       map[Code]int `json:"codes,omitempty"`
}

// Report is an audit's outcome.
type Report struct {
	Checks []Check `json:"checks"`
	// Differences are the first MaxDifferences found, in check order,
	// then by code and ids.
	Differences []Finding `json:"differences,omitempty"`
	// Left is how many more were found than listed.
	Left  int      `json:"left_off,omitempty"`
	Notes []string `json:"notes,omitempty"`
	// Holds and Paid are the ledger's holds and paid holds.
	Holds int `json:"holds"`
	Paid  int `json:"paid"`
}

// Failed reports whether anything differed.
func (r *Report) Failed() bool { return len(r.Differences) > 0 }

// Ran lists the checks that ran.
func (r *Report) Ran() []string {
	var out []string
	for _, c := range r.Checks {
		if c.Ran {
			out = append(out, c.Name)
		}
	}
	return out
}

// Audit compares s and reports every difference.
func Audit(s *Snapshot) Report {
	a := newAuditor(s)
	a.ledger()
	a.seatMap()
	a.counts()
	a.holds()
	a.orders()
	a.reconcile()
	return a.report()
}

// Legs returns a program's legs: one for a program with no stops, as
// the engine makes it.
func Legs(spec *inventory.ProgramSpec) int { return max(len(spec.Stops), 2) - 1 }

// seatLeg is a seat of the program, by its index in target.Seats, on a
// leg.
type seatLeg struct{ seat, leg int }

type auditor struct {
	s      *Snapshot
	l      *Ledger
	seats  []target.Seat
	index  map[string]int // seat id -> its index in seats
	legs   int
	claims map[seatLeg][]int // the ledger's holds of each seat-leg
	mapOK  bool              // the target's seat map has the program's shape

	checks map[string]*Check
	found  map[string][]Difference
}

func newAuditor(s *Snapshot) *auditor {
	a := &auditor{s: s, l: &s.Ledger, seats: target.Seats(s.Spec), legs: Legs(s.Spec),
		claims: map[seatLeg][]int{}, checks: map[string]*Check{}, found: map[string][]Difference{}}
	a.index = make(map[string]int, len(a.seats))
	for i, seat := range a.seats {
		a.index[seat.ID] = i
	}
	for _, name := range checkNames {
		a.checks[name] = &Check{Name: name}
	}
	return a
}

func (a *auditor) add(check string, code Code, ids []string, says ...reconcile.Say) {
	a.found[check] = append(a.found[check], Difference{Code: code, IDs: ids, Says: says})
}

// skip says why a check did not run.
func (a *auditor) skip(check, why string) { a.checks[check].Why = why }

// leaveOut says what a check that ran left out.
func (a *auditor) leaveOut(check, what string) {
	c := a.checks[check]
	if c.Why != "" {
		c.Why += "; "
	}
	c.Why += what
}

func says(side, format string, args ...any) reconcile.Say {
	return reconcile.Say{Side: side, Says: fmt.Sprintf(format, args...)}
}

func (a *auditor) ids(k seatLeg) []string {
	return []string{"seat=" + a.s.Spec.ID + ":" + a.seats[k.seat].ID, "leg=" + strconv.Itoa(k.leg)}
}

func holdID(h *Hold) string { return "hold=" + h.ID }

// at formats a time from the run's start.
func at(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }

func (a *auditor) story(h *Hold) string {
	s := fmt.Sprintf("hold %s of buyer %d granted %s-%s", h.ID, h.Buyer, at(h.Granted.Sent), at(h.Granted.Answered))
	switch {
	case h.Ended != Span{}:
		s += fmt.Sprintf(", %s %s-%s", h.End, at(h.Ended.Sent), at(h.Ended.Answered))
	case h.End != Held:
		s += ", " + h.End.String()
	}
	return s
}

// ledger files each hold's seat-legs and checks that no two holds had
// one at once.
func (a *auditor) ledger() {
	a.checks[CheckLedger].Ran = true
	if a.l.Dropped > 0 {
		a.leaveOut(CheckLedger, fmt.Sprintf("%d holds granted past the harness's bound were not recorded", a.l.Dropped))
	}
	for i := range a.l.Holds {
		h := &a.l.Holds[i]
		if h.From < 0 || h.From >= h.To || h.To > a.legs {
			a.add(CheckLedger, HoldSeatUnknown, []string{holdID(h)}, says(SideHarness, "legs %d-%d", h.From, h.To),
				says(SideScenario, "%d legs", a.legs))
			continue
		}
		for _, id := range h.Seats {
			s, ok := a.index[id]
			if !ok {
				a.add(CheckLedger, HoldSeatUnknown, []string{holdID(h), "seat=" + a.s.Spec.ID + ":" + id},
					says(SideHarness, "granted seat %q", id), says(SideScenario, "no such seat"))
				continue
			}
			for leg := h.From; leg < h.To; leg++ {
				k := seatLeg{s, leg}
				a.claims[k] = append(a.claims[k], i)
			}
		}
	}
	for k, hs := range a.claims {
		if len(hs) < 2 {
			continue
		}
		var paid []*Hold
		for _, i := range hs {
			if h := &a.l.Holds[i]; a.l.final(h) {
				paid = append(paid, h)
			}
		}
		if len(paid) > 1 {
			slices.SortFunc(paid, func(x, y *Hold) int { return strings.Compare(x.ID, y.ID) })
			ids := a.ids(k)
			stories := make([]string, len(paid))
			for j, h := range paid {
				ids, stories[j] = append(ids, holdID(h)), a.story(h)
			}
			a.add(CheckLedger, SeatSoldTwice, ids, says(SideHarness, "%s", strings.Join(stories, "; ")))
		}
		a.heldTwice(k, hs)
	}
}

// heldTwice reports each hold of a seat-leg granted, start to answer,
// while another hold certainly had it (from its answer until its end
// began), unless both were paid (SEAT_SOLD_TWICE says so).
func (a *auditor) heldTwice(k seatLeg, hs []int) {
	hs = slices.Clone(hs)
	slices.SortFunc(hs, func(x, y int) int { return cmp.Compare(a.l.Holds[x].Granted.Answered, a.l.Holds[y].Granted.Answered) })
	// best[j]: of hs[:j+1], the hold held longest.
	best := make([]int, len(hs))
	for j, i := range hs {
		best[j] = i
		if j > 0 && a.l.heldUntil(&a.l.Holds[best[j-1]]) > a.l.heldUntil(&a.l.Holds[i]) {
			best[j] = best[j-1]
		}
	}
	for _, i := range hs {
		b := &a.l.Holds[i]
		// The holds answered before b was sent.
		n, _ := slices.BinarySearchFunc(hs, b.Granted.Sent, func(x int, t time.Duration) int {
			return cmp.Compare(a.l.Holds[x].Granted.Answered, t+1)
		})
		if n == 0 {
			continue
		}
		o := &a.l.Holds[best[n-1]]
		if o == b || a.l.heldUntil(o) < b.Granted.Answered || a.l.final(o) && a.l.final(b) {
			continue
		}
		a.add(CheckLedger, SeatHeldTwice, append(a.ids(k), holdID(o), holdID(b)),
			says(SideHarness, "%s; %s", a.story(o), a.story(b)))
	}
}

// expected is what a seat-leg should be at the read, from its holds,
// and the holds that say so.
func (a *auditor) expected(k seatLeg) (status, []string) {
	st := free
	var ids []string
	for _, i := range a.claims[k] {
		h := &a.l.Holds[i]
		hs := a.l.statusAt(h, a.s.Read)
		if hs == free {
			continue
		}
		ids = append(ids, holdID(h))
		if hs == unsure || st == unsure {
			st = unsure
		} else {
			st = max(st, hs)
		}
	}
	return st, ids
}

var seatStatusNames = map[inventory.SeatStatus]string{inventory.SeatFree: "free", inventory.SeatHeld: "held",
	inventory.SeatSold: "sold", inventory.SeatBlocked: "blocked"}

// seatMap compares the target's seat map with the ledger.
func (a *auditor) seatMap() {
	m := a.s.State.Seats
	if m == nil {
		a.skip(CheckSeats, "the target shows no seat map")
		return
	}
	a.checks[CheckSeats].Ran = true
	if a.mapOK = a.shaped(); !a.mapOK {
		return
	}
	complete := a.l.Dropped == 0
	unanswered := a.l.mayHoldUnknown(a.s.Read)
	if !complete {
		a.leaveOut(CheckSeats, "sold or held seats of no recorded hold are not reported: the ledger is not complete")
	} else if unanswered {
		a.leaveOut(CheckSeats, fmt.Sprintf("held seats of no hold are not reported: %d hold requests failed without an answer and may hold seats", a.l.Unanswered))
	}
	for leg, statuses := range m {
		for s, act := range statuses {
			k := seatLeg{s, leg}
			exp, holds := a.expected(k)
			tsays := says(SideTarget, "%s", seatStatusNames[act])
			harness := func(what string) reconcile.Say {
				if len(holds) == 0 {
					return says(SideHarness, "no hold has it")
				}
				return says(SideHarness, "%s by %s", what, strings.Join(holds, ", "))
			}
			ids := append(a.ids(k), holds...)
			switch {
			case exp == unsure:
			case act == inventory.SeatSold && exp != sold:
				if complete || len(holds) > 0 {
					a.add(CheckSeats, SeatSoldUnpaid, ids, tsays, harness(exp.String()))
				}
			case exp == sold && act != inventory.SeatSold:
				a.add(CheckSeats, SeatNotSold, ids, harness("sold"), tsays)
			case exp == held && act != inventory.SeatHeld:
				a.add(CheckSeats, SeatNotHeld, ids, harness("held"), tsays)
			case exp == free && act != inventory.SeatFree:
				if complete && !unanswered {
					a.add(CheckSeats, SeatHeldUnclaimed, ids, tsays, harness("free"))
				}
			}
		}
	}
}

// shaped checks that the seat map has the program's legs and seats.
func (a *auditor) shaped() bool {
	m := a.s.State.Seats
	ok := len(m) == a.legs
	for _, statuses := range m {
		ok = ok && len(statuses) == len(a.seats)
	}
	if !ok {
		lens := make([]int, len(m))
		for i, statuses := range m {
			lens[i] = len(statuses)
		}
		a.add(CheckSeats, SeatMapShape, []string{"program=" + a.s.Spec.ID}, says(SideTarget, "%d legs of %v seats", len(m), lens),
			says(SideScenario, "%d legs of %d seats", a.legs, len(a.seats)))
	}
	return ok
}

// counts checks the target's counters: each category and leg adds up
// to the scenario's capacity, and agrees with the seat map.
func (a *auditor) counts() {
	if a.s.State.Counts == nil {
		a.skip(CheckCounts, "the target shows no counters")
		return
	}
	a.checks[CheckCounts].Ran = true
	type key struct {
		cat string
		leg int
	}
	capacity := map[string]int{}
	for _, s := range a.seats {
		capacity[s.Category]++
	}
	var fromMap map[key]*Counts // nil: no seat map to count
	if a.mapOK {
		fromMap = map[key]*Counts{}
		for leg, statuses := range a.s.State.Seats {
			for s, st := range statuses {
				k := key{a.seats[s].Category, leg}
				c := fromMap[k]
				if c == nil {
					c = &Counts{Category: k.cat, Leg: leg}
					fromMap[k] = c
				}
				c.Capacity++
				*c.of(st)++
			}
		}
	} else {
		a.leaveOut(CheckCounts, "not compared with a seat map")
	}
	seen := map[key]bool{}
	for _, c := range a.s.State.Counts {
		k := key{c.Category, c.Leg}
		ids := []string{"category=" + c.Category, "leg=" + strconv.Itoa(c.Leg)}
		seen[k] = true
		if sum := c.Free + c.Held + c.Sold + c.Blocked; sum != c.Capacity || c.Capacity != capacity[c.Category] {
			a.add(CheckCounts, CapacityMismatch, ids, says(SideTarget, "%s, adding up to %d", c, sum),
				says(SideScenario, "capacity %d", capacity[c.Category]))
		}
		if m, ok := fromMap[k]; ok && *m != c {
			a.add(CheckCounts, CountMismatch, ids, says(SideTarget, "counters %s; seat map %s", c, m))
		}
	}
	for _, cat := range slices.Sorted(maps.Keys(capacity)) {
		for leg := range a.legs {
			if !seen[key{cat, leg}] {
				a.add(CheckCounts, CapacityMismatch, []string{"category=" + cat, "leg=" + strconv.Itoa(leg)},
					says(SideTarget, "no counters"), says(SideScenario, "capacity %d", capacity[cat]))
			}
		}
	}
}

// String formats counts as "capacity C: free F, held H, sold S, blocked B".
func (c Counts) String() string {
	return fmt.Sprintf("capacity %d: free %d, held %d, sold %d, blocked %d", c.Capacity, c.Free, c.Held, c.Sold, c.Blocked)
}

func (c *Counts) of(s inventory.SeatStatus) *int {
	switch s {
	case inventory.SeatFree:
		return &c.Free
	case inventory.SeatHeld:
		return &c.Held
	case inventory.SeatSold:
		return &c.Sold
	}
	return &c.Blocked
}

// holds compares the target's holds with what their buyers were told.
func (a *auditor) holds() {
	th := a.s.State.Holds
	if th == nil {
		a.skip(CheckHolds, "the target shows no holds")
		return
	}
	a.checks[CheckHolds].Ran = true
	for i := range a.l.Holds {
		h := &a.l.Holds[i]
		t := th[h.ID]
		ids := []string{holdID(h)}
		tsays := says(SideTarget, "%s", holdState(t))
		switch exp := a.l.statusAt(h, a.s.Read); {
		case exp == unsure:
			continue
		case h.End == Paid:
			if !t.Found || t.Status != orders.HoldConfirmed {
				a.add(CheckHolds, PaidHoldNotConfirmed, ids, says(SideHarness, "%s", a.story(h)), tsays)
			}
		case exp == held && (!t.Found || t.Status != orders.HoldHeld),
			exp == free && t.Found && t.Status != orders.HoldReleased:
			a.add(CheckHolds, HoldStatusMismatch, ids, says(SideHarness, "%s: %s now", a.story(h), exp), tsays)
		}
		if !t.Found {
			continue
		}
		want, have := slices.Sorted(slices.Values(h.Seats)), make([]string, len(t.Seats))
		for j, s := range t.Seats {
			have[j] = s.ID
		}
		slices.Sort(have)
		if !slices.Equal(want, have) || h.From != t.From || h.To != t.To {
			a.add(CheckHolds, HoldSeatsDiffer, ids, says(SideHarness, "seats %v, legs %d-%d", want, h.From, h.To),
				says(SideTarget, "seats %v, legs %d-%d", have, t.From, t.To))
		}
	}
}

func holdState(h reconcile.Hold) string {
	if !h.Found {
		return "no such hold"
	}
	return "hold " + string(h.Status)
}

// orders compares the orders with the ledger, and the money of the
// whole sale.
func (a *auditor) orders() {
	snap := a.s.State.Orders
	if snap == nil {
		a.skip(CheckOrders, "the target has no orders")
		return
	}
	a.checks[CheckOrders].Ran = true
	byHold := map[string]*orders.Order{}
	for i := range snap.Orders {
		o := &snap.Orders[i]
		byHold[o.HoldID] = o
		a.appliedOnce(o)
	}
	paid := map[string]bool{}
	var paidCents int64
	for i := range a.l.Holds {
		h := &a.l.Holds[i]
		if h.End != Paid {
			continue
		}
		paid[h.ID] = true
		paidCents += h.TotalCents
		switch o := byHold[h.ID]; {
		case o == nil:
			a.add(CheckOrders, PaidHoldWithoutOrder, []string{holdID(h)}, says(SideHarness, "%s", a.story(h)),
				says(reconcile.SideOrders, "no order of the hold"))
		case !reconcile.Live(o):
			a.add(CheckOrders, PaidHoldWithoutOrder, []string{holdID(h), "order=" + o.OrderNo}, says(SideHarness, "%s", a.story(h)),
				says(reconcile.SideOrders, "%s", o.Status))
		}
	}
	var orderPaid int
	var orderCents int64
	trades := map[string]int64{} // the trades the orders account for: their payments and refunds due
	for i := range snap.Orders {
		o := &snap.Orders[i]
		if o.Payment != nil {
			trades[o.Payment.OutTradeNo] = o.Payment.AmountCents
			if o.Confirm == orders.ConfirmDone {
				orderPaid++
				orderCents += o.PaidCents
			}
		}
		for _, d := range o.RefundsDue {
			trades[d.OutTradeNo] = d.AmountCents
		}
		if reconcile.Live(o) && !paid[o.HoldID] && a.l.Dropped == 0 {
			a.add(CheckOrders, OrderPaidUnknown, []string{"order=" + o.OrderNo, "hold=" + o.HoldID},
				says(reconcile.SideOrders, "%s, %d cents", o.Status, o.PaidCents), says(SideHarness, "never paid the hold"))
		}
	}
	if a.l.Dropped == 0 && (orderPaid != len(paid) || orderCents != paidCents) {
		a.add(CheckOrders, PaymentsMismatch, []string{"program=" + a.s.Spec.ID, "payments=harness"},
			says(SideHarness, "%d holds paid, %d cents", len(paid), paidCents),
			says(reconcile.SideOrders, "%d orders paid and confirmed, %d cents", orderPaid, orderCents))
	}
	a.money(trades)
}

// money compares the pay store's PAID trades with the trades the orders
// account for, and the refunds with the payments.
func (a *auditor) money(trades map[string]int64) {
	snap := a.s.State.Orders
	var payCount, payCents, orderCents, refunded int64
	for _, c := range trades {
		orderCents += c
	}
	for i := range snap.Trades {
		if t := &snap.Trades[i]; t.State == pay.StatePaid {
			payCount++
			payCents += t.AmountCents
		}
	}
	for i := range snap.Refunds {
		if r := &snap.Refunds[i]; r.State == pay.RefundSucceeded {
			refunded += r.AmountCents
		}
	}
	ids := []string{"program=" + a.s.Spec.ID}
	if payCount != int64(len(trades)) || payCents != orderCents {
		a.add(CheckOrders, PaymentsMismatch, append(slices.Clone(ids), "payments=pay"), says(reconcile.SidePay, "%d trades PAID, %d cents", payCount, payCents),
			says(reconcile.SideOrders, "%d trades paid orders or are owed back, %d cents", len(trades), orderCents))
	}
	if refunded > payCents {
		a.add(CheckOrders, RefundsAbovePayments, ids, says(reconcile.SidePay, "%d cents refunded of %d cents paid", refunded, payCents))
	}
}

// appliedOnce reports an order whose record shows an event applied more
// than once: a pay event's id twice, a trade's or refund's outcome
// twice, or a version above what its events can explain (each change
// adds one: the placement, the hold's confirm or release, each seat
// refund (each refunds a seat not refunded before), each pay event, the
// confirm call's outcome, each refund's release).
func (a *auditor) appliedOnce(o *orders.Order) {
	ids := []string{"order=" + o.OrderNo}
	// dup reports each key seen twice; id names it ("event=", "trade=",
	// "refund=").
	dup := func(what, id string, keys []string) {
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[k] {
				a.add(CheckOrders, EventAppliedTwice, append(slices.Clone(ids), id+k), says(reconcile.SideOrders, "%s %s applied twice", what, k))
			}
			seen[k] = true
		}
	}
	dup("pay event", "event=", o.PayEventIDs)
	var keys []string
	for _, t := range o.Trades {
		keys = append(keys, events.PayEventID(t.OutTradeNo, t.Outcome))
	}
	dup("the outcome of trade", "trade=", keys)
	keys = keys[:0]
	for _, r := range o.Refunds {
		keys = append(keys, events.PayEventID(r.OutRequestNo, r.Outcome))
	}
	dup("the outcome of refund", "refund=", keys)
	most := uint64(1 + len(o.RefundedSeatIDs) + len(o.PayEventIDs) + len(o.Refunds))
	if o.HoldStatus != orders.HoldHeld {
		most++
	}
	if o.Confirm != orders.ConfirmNone {
		most++
	}
	if o.Version > most {
		a.add(CheckOrders, EventAppliedTwice, ids, says(reconcile.SideOrders,
			"version %d; its events explain at most %d (hold %s, %d seats refunded, %d pay events, confirm %q, %d refunds)",
			o.Version, most, o.HoldStatus, len(o.RefundedSeatIDs), len(o.PayEventIDs), o.Confirm, len(o.Refunds)))
	}
}

// reconcile runs orderflow reconcile's comparison over the orders.
func (a *auditor) reconcile() {
	if a.s.State.Orders == nil {
		a.skip(CheckReconcile, "the target has no orders")
		return
	}
	a.checks[CheckReconcile].Ran = true
	a.found[CheckReconcile] = reconcile.Compare(a.s.State.Orders)
}

func (a *auditor) report() Report {
	r := Report{Notes: a.s.State.Notes, Holds: len(a.l.Holds)}
	for i := range a.l.Holds {
		if e := a.l.Holds[i].End; e == Paid || e == Kept {
			r.Paid++
		}
	}
	for _, name := range checkNames {
		c := a.checks[name]
		diffs := a.found[name]
		slices.SortFunc(diffs, func(x, y Difference) int { return strings.Compare(x.Key(), y.Key()) })
		c.Differences = len(diffs)
		for _, d := range diffs {
			if c.Codes == nil {
				c.Codes = map[Code]int{}
			}
			c.Codes[d.Code]++
			if len(r.Differences) < MaxDifferences {
				r.Differences = append(r.Differences, Finding{Check: name, Difference: d})
			} else {
				r.Left++
			}
		}
		r.Checks = append(r.Checks, *c)
	}
	return r
}

// Text is the report for a person: one line per check (what it found,
// or why it did not run), then one line per difference.
func (r *Report) Text() string {
	var b strings.Builder
	for _, c := range r.Checks {
		switch {
		case !c.Ran:
			fmt.Fprintf(&b, "%-9s not run: %s\n", c.Name, c.Why)
		case c.Why != "":
			fmt.Fprintf(&b, "%-9s %d differences (%s)\n", c.Name, c.Differences, c.Why)
		default:
			fmt.Fprintf(&b, "%-9s %d differences\n", c.Name, c.Differences)
		}
	}
	for _, f := range r.Differences {
		fmt.Fprintf(&b, "%s\n", f)
	}
	if r.Left > 0 {
		fmt.Fprintf(&b, "... and %d more (counted by code in the checks)\n", r.Left)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}
