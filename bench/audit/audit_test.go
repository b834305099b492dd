package audit

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"seatd/inventory"
	"seatd/orderflow/events"
	"seatd/orderflow/orders"
	"seatd/orderflow/pay"
	"seatd/orderflow/reconcile"
)

// spec is a small train: two legs, one carriage of two rows of four,
// row 1 first class, row 2 second.
func spec() *inventory.ProgramSpec {
	row := func(id, cat string) inventory.Row {
		r := inventory.Row{ID: id, Rank: len(id)}
		for c := 1; c <= 4; c++ {
			r.Seats = append(r.Seats, inventory.Seat{Col: c, Category: cat})
		}
		return r
	}
	return &inventory.ProgramSpec{ID: "g1", Stops: []string{"BJ", "JN", "SH"},
		Categories: []inventory.Category{{ID: "first", PriceCents: 50000}, {ID: "second", PriceCents: 20000}},
		Layout:     inventory.Layout{Sections: []inventory.Section{{ID: "C1", Rows: []inventory.Row{row("1", "first"), row("2", "second")}}}},
		HoldTTL:    10 * time.Second}
}

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func span(from, to float64) Span { return Span{Sent: sec(from), Answered: sec(to)} }

// consistent is a run of the engine with orders where every side agrees,
// read at 12 s:
//
//	hold 1: C1/1/1-2 both legs, paid (order 101)
//	hold 2: C1/1/3 leg 0, cancelled at 2 s
//	hold 3: C1/1/3 both legs, granted at 3 s, paid (order 103)
//	hold 4: C1/2/1 leg 1, granted at 9 s, left to lapse: held at 12 s
//	hold 5: C1/2/2 both legs, granted at 1 s, lapsed by 12 s
func consistent() *Snapshot {
	l := Ledger{TTL: 10 * time.Second, TargetLapses: true, Holds: []Hold{
		{ID: "1", Buyer: 11, Seats: []string{"C1/1/1", "C1/1/2"}, From: 0, To: 2, TotalCents: 100000, Granted: span(0.5, 0.6), End: Paid, Ended: span(0.7, 0.8)},
		{ID: "2", Buyer: 12, Seats: []string{"C1/1/3"}, From: 0, To: 1, TotalCents: 50000, Granted: span(1, 1.1), End: Released, Ended: span(2, 2.1)},
		{ID: "3", Buyer: 13, Seats: []string{"C1/1/3"}, From: 0, To: 2, TotalCents: 50000, Granted: span(3, 3.1), End: Paid, Ended: span(3.2, 3.3)},
		{ID: "4", Buyer: 14, Seats: []string{"C1/2/1"}, From: 1, To: 2, TotalCents: 20000, Granted: span(9, 9.1)},
		{ID: "5", Buyer: 15, Seats: []string{"C1/2/2"}, From: 0, To: 2, TotalCents: 20000, Granted: span(1, 1.1)},
	}}
	F, H, S := inventory.SeatFree, inventory.SeatHeld, inventory.SeatSold
	seats := [][]inventory.SeatStatus{
		{S, S, S, F, F, F, F, F}, // leg 0
		{S, S, S, F, H, F, F, F}, // leg 1
	}
	counts := []Counts{
		{Category: "first", Leg: 0, Capacity: 4, Free: 1, Sold: 3}, {Category: "second", Leg: 0, Capacity: 4, Free: 4},
		{Category: "first", Leg: 1, Capacity: 4, Free: 1, Sold: 3}, {Category: "second", Leg: 1, Capacity: 4, Free: 3, Held: 1},
	}
	hold := func(id string, st orders.HoldStatus, from, to int, ids ...string) reconcile.Hold {
		h := reconcile.Hold{Found: true, ID: id, OrderNo: "10" + id, ProgramID: "g1", Status: st, From: from, To: to}
		for _, s := range ids {
			h.Seats = append(h.Seats, reconcile.HoldSeat{ID: s})
		}
		return h
	}
	holds := map[string]reconcile.Hold{
		"1": hold("1", orders.HoldConfirmed, 0, 2, "C1/1/1", "C1/1/2"),
		"2": hold("2", orders.HoldReleased, 0, 1, "C1/1/3"),
		"3": hold("3", orders.HoldConfirmed, 0, 2, "C1/1/3"),
		"4": hold("4", orders.HoldHeld, 1, 2, "C1/2/1"),
		"5": hold("5", orders.HoldReleased, 0, 2, "C1/2/2"),
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	paid := func(h Hold) (orders.Order, pay.Trade) {
		no, tn := "10"+h.ID, "T10"+h.ID
		o := orders.Order{OrderNo: no, HoldID: h.ID, ProgramID: "g1", UserID: "1", Status: orders.StatusPaid, TotalCents: h.TotalCents,
			PaidCents: h.TotalCents, From: h.From, To: h.To, HoldStatus: orders.HoldConfirmed, Version: 4, Confirm: orders.ConfirmDone,
			Payment:     &orders.Trade{OutTradeNo: tn, Channel: "alipay", Outcome: events.PaymentSucceeded, AmountCents: h.TotalCents, At: at},
			PayEventIDs: []string{events.PayEventID(tn, events.PaymentSucceeded)}}
		o.Trades = []orders.Trade{*o.Payment}
		for _, s := range h.Seats {
			o.Seats = append(o.Seats, orders.Seat{ID: s, Category: "first", PriceCents: 50000})
		}
		return o, pay.Trade{OutTradeNo: tn, OrderNo: no, HoldID: h.ID, Channel: "alipay", AmountCents: h.TotalCents, State: pay.StatePaid,
			TimeExpire: at.Add(time.Minute), PaidAt: at}
	}
	o1, t1 := paid(l.Holds[0])
	o3, t3 := paid(l.Holds[2])
	snap := &reconcile.Snapshot{Orders: []orders.Order{o1, o3}, Trades: []pay.Trade{t1, t3},
		Holds: map[string]reconcile.Hold{"1": holds["1"], "3": holds["3"]}, Programs: []string{"g1"}, At: at}
	for _, k := range [][2]any{{"C1/1/1", 0}, {"C1/1/1", 1}, {"C1/1/2", 0}, {"C1/1/2", 1}, {"C1/1/3", 0}, {"C1/1/3", 1}} {
		snap.Sold = append(snap.Sold, reconcile.SeatLeg{Program: "g1", Seat: k[0].(string), Leg: k[1].(int)})
	}
	return &Snapshot{Spec: spec(), Ledger: l, Read: span(12, 12.1),
		State: State{Seats: seats, Counts: counts, Holds: holds, Orders: snap}}
}

func keys(r Report) []string {
	var out []string
	for _, f := range r.Differences {
		out = append(out, f.Check+" "+f.Key())
	}
	return out
}

func TestAuditConsistent(t *testing.T) {
	r := Audit(consistent())
	if r.Failed() {
		t.Fatalf("Audit(consistent) =\n%s\nwant no difference", strings.Join(keys(r), "\n"))
	}
	if got := r.Ran(); !slices.Equal(got, checkNames) {
		t.Errorf("checks ran %v; want %v", got, checkNames)
	}
	if r.Holds != 5 || r.Paid != 2 {
		t.Errorf("holds %d, paid %d; want 5, 2", r.Holds, r.Paid)
	}
}

// TestAuditCorrupted corrupts one thing of a consistent run at a time:
// each must fail with its own differences, exactly.
func TestAuditCorrupted(t *testing.T) {
	order := func(s *Snapshot, hold string) *orders.Order {
		os := s.State.Orders.Orders
		return &os[slices.IndexFunc(os, func(o orders.Order) bool { return o.HoldID == hold })]
	}
	for _, tc := range []struct {
		name    string
		corrupt func(*Snapshot)
		want    []string // check, then difference key
	}{
		{"seat sold twice", func(s *Snapshot) {
			// Hold 6 is granted C1/1/1 on leg 1 while hold 1 has it, and
			// paid; its order and trade are there, and the target sells
			// the seat once.
			h := Hold{ID: "6", Buyer: 16, Seats: []string{"C1/1/1"}, From: 1, To: 2, TotalCents: 50000, Granted: span(5, 5.1), End: Paid, Ended: span(5.2, 5.3)}
			s.Ledger.Holds = append(s.Ledger.Holds, h)
			s.State.Holds["6"] = reconcile.Hold{Found: true, ID: "6", Status: orders.HoldConfirmed, From: 1, To: 2, Seats: []reconcile.HoldSeat{{ID: "C1/1/1"}}}
			o := *order(s, "1")
			o.OrderNo, o.HoldID, o.From, o.Seats, o.PaidCents, o.TotalCents = "106", "6", 1, o.Seats[:1], 50000, 50000
			o.Payment = &orders.Trade{OutTradeNo: "T106", AmountCents: 50000}
			s.State.Orders.Orders = append(s.State.Orders.Orders, o)
			s.State.Orders.Trades = append(s.State.Orders.Trades, pay.Trade{OutTradeNo: "T106", OrderNo: "106", AmountCents: 50000, State: pay.StatePaid})
			s.State.Orders.Holds["6"] = reconcile.Hold{Found: true, ID: "6", OrderNo: "106", ProgramID: "g1", Status: orders.HoldConfirmed, From: 1, To: 2,
				Seats: []reconcile.HoldSeat{{ID: "C1/1/1"}}}
		}, []string{
			"ledger SEAT_SOLD_TWICE seat=g1:C1/1/1 leg=1 hold=1 hold=6",
			"reconcile SEAT_SOLD_TWICE seat=g1:C1/1/1 leg=1 hold=1 order=101 hold=6 order=106",
			"reconcile SEAT_SOLD_TWICE seat=g1:C1/1/1 leg=1 order=101 order=106",
		}},
		{"seat held twice", func(s *Snapshot) {
			// Hold 7 is granted C1/2/1 on leg 1 at 10 s, while hold 4
			// (9 s, lapsing at 19 s) has it.
			s.Ledger.Holds = append(s.Ledger.Holds, Hold{ID: "7", Buyer: 17, Seats: []string{"C1/2/1"}, From: 1, To: 2, TotalCents: 20000,
				Granted: span(10, 10.1), End: Released, Ended: span(11, 11.1)})
			s.State.Holds["7"] = reconcile.Hold{Found: true, ID: "7", Status: orders.HoldReleased, From: 1, To: 2, Seats: []reconcile.HoldSeat{{ID: "C1/2/1"}}}
		}, []string{"ledger SEAT_HELD_TWICE seat=g1:C1/2/1 leg=1 hold=4 hold=7"}},
		{"an order missing", func(s *Snapshot) {
			// Hold 3 was paid, and the order service has no order of it.
			s.State.Orders.Orders = slices.DeleteFunc(s.State.Orders.Orders, func(o orders.Order) bool { return o.HoldID == "3" })
		}, []string{
			"orders PAID_HOLD_WITHOUT_ORDER hold=3",
			"orders PAYMENTS_MISMATCH program=g1 payments=harness",
			"orders PAYMENTS_MISMATCH program=g1 payments=pay",
			"reconcile ORDER_MISSING order=103 trade=T103",
			"reconcile SEAT_SOLD_UNPAID seat=g1:C1/1/3 leg=0 hold=3 order=103",
			"reconcile SEAT_SOLD_UNPAID seat=g1:C1/1/3 leg=1 hold=3 order=103",
		}},
		{"an event applied twice", func(s *Snapshot) {
			// Order 101's payment applied twice.
			o := order(s, "1")
			o.PayEventIDs = append(o.PayEventIDs, o.PayEventIDs[0])
			o.Trades = append(o.Trades, o.Trades[0])
			o.Version++
		}, []string{
			"orders EVENT_APPLIED_TWICE order=101 event=T101/PaymentSucceeded",
			"orders EVENT_APPLIED_TWICE order=101 trade=T101/PaymentSucceeded",
		}},
		{"a hold event applied twice", func(s *Snapshot) {
			// Order 103's version counts one change more than its events.
			order(s, "3").Version++
		}, []string{"orders EVENT_APPLIED_TWICE order=103"}},
		{"a refund above its payment", func(s *Snapshot) {
			o := order(s, "3")
			o.Refunds = append(o.Refunds, orders.Refund{OutRequestNo: "R103", OutTradeNo: "T103", Outcome: events.RefundSucceeded,
				AmountCents: 60000, Release: orders.ReleaseDone})
			o.RefundedCents = 60000
			o.PayEventIDs = append(o.PayEventIDs, events.PayEventID("R103", events.RefundSucceeded))
			o.Version++
			s.State.Orders.Refunds = append(s.State.Orders.Refunds, pay.Refund{OutRequestNo: "R103", OutTradeNo: "T103", OrderNo: "103",
				Channel: "alipay", AmountCents: 60000, State: pay.RefundSucceeded})
		}, []string{
			"reconcile REFUND_ABOVE_PAYMENT order=103",
			"reconcile REFUND_ABOVE_PAYMENT order=103 trade=T103",
		}},
		{"refunds above the payments", func(s *Snapshot) {
			// A refund of an order the order service lost, above every payment.
			s.State.Orders.Refunds = append(s.State.Orders.Refunds, pay.Refund{OutRequestNo: "R9", OutTradeNo: "T9", OrderNo: "9",
				AmountCents: 200000, State: pay.RefundSucceeded})
		}, []string{
			"orders REFUNDS_ABOVE_PAYMENTS program=g1",
			"reconcile ORDER_MISSING order=9 refund=R9",
		}},
		{"capacity mismatch", func(s *Snapshot) {
			s.State.Counts[1].Free = 3 // second, leg 0: one seat lost
		}, []string{
			"counts CAPACITY_MISMATCH category=second leg=0",
			"counts COUNT_MISMATCH category=second leg=0",
		}},
		{"capacity other than the scenario's", func(s *Snapshot) {
			s.State.Counts[0].Capacity, s.State.Counts[0].Free = 5, 2
		}, []string{
			"counts CAPACITY_MISMATCH category=first leg=0",
			"counts COUNT_MISMATCH category=first leg=0",
		}},
		{"paid seat not sold", func(s *Snapshot) {
			s.State.Seats[1][2] = inventory.SeatFree
			s.State.Counts[2].Free, s.State.Counts[2].Sold = 2, 2
		}, []string{"seats SEAT_NOT_SOLD seat=g1:C1/1/3 leg=1 hold=3"}},
		{"seat sold without a paid hold", func(s *Snapshot) {
			s.State.Seats[0][7] = inventory.SeatSold
			s.State.Counts[1].Free, s.State.Counts[1].Sold = 3, 1
		}, []string{"seats SEAT_SOLD_UNPAID seat=g1:C1/2/4 leg=0"}},
		{"lapsed hold still held", func(s *Snapshot) {
			s.State.Seats[0][5] = inventory.SeatHeld
			s.State.Counts[1].Free, s.State.Counts[1].Held = 3, 1
		}, []string{"seats SEAT_HELD_UNCLAIMED seat=g1:C1/2/2 leg=0"}},
		{"held seat lost", func(s *Snapshot) {
			s.State.Seats[1][4] = inventory.SeatFree
			s.State.Counts[3].Free, s.State.Counts[3].Held = 4, 0
		}, []string{"seats SEAT_NOT_HELD seat=g1:C1/2/1 leg=1 hold=4"}},
		{"paid hold not confirmed", func(s *Snapshot) {
			h := s.State.Holds["3"]
			h.Status = orders.HoldHeld
			s.State.Holds["3"] = h
		}, []string{"holds PAID_HOLD_NOT_CONFIRMED hold=3"}},
		{"cancelled hold confirmed", func(s *Snapshot) {
			h := s.State.Holds["2"]
			h.Status = orders.HoldConfirmed
			s.State.Holds["2"] = h
		}, []string{"holds HOLD_STATUS_MISMATCH hold=2"}},
		{"hold with other seats", func(s *Snapshot) {
			s.State.Holds["4"] = reconcile.Hold{Found: true, ID: "4", Status: orders.HoldHeld, From: 0, To: 2, Seats: []reconcile.HoldSeat{{ID: "C1/2/1"}}}
		}, []string{"holds HOLD_SEATS_DIFFER hold=4"}},
		{"seat map of another shape", func(s *Snapshot) {
			s.State.Seats = s.State.Seats[:1]
		}, []string{"seats SEAT_MAP_SHAPE program=g1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := consistent()
			tc.corrupt(s)
			r := Audit(s)
			if got := keys(r); !slices.Equal(got, tc.want) {
				t.Errorf("Audit = \n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if !r.Failed() {
				t.Error("Failed() = false; want true")
			}
			for _, f := range r.Differences {
				if len(f.Says) == 0 || f.String() == "" {
					t.Errorf("difference %s says nothing", f.Key())
				}
			}
			t.Logf("report:\n%s", r.Text())
		})
	}
}

// TestAuditParts: a target that shows only its seat map and counters (a
// baseline: no confirm, the harness lapses holds) is audited on those,
// and the report says which checks did not run and why.
func TestAuditParts(t *testing.T) {
	s := consistent()
	s.Ledger.TargetLapses = false
	for i := range s.Ledger.Holds {
		if h := &s.Ledger.Holds[i]; h.End == Paid {
			h.End = Kept
		}
	}
	s.Ledger.Holds[4].End, s.Ledger.Holds[4].Ended = Released, span(11.1, 11.2) // lapsed by the harness
	H := inventory.SeatHeld
	for leg := range s.State.Seats {
		for i, st := range s.State.Seats[leg] {
			if st == inventory.SeatSold {
				s.State.Seats[leg][i] = H
			}
		}
	}
	for i := range s.State.Counts {
		c := &s.State.Counts[i]
		c.Held, c.Sold = c.Held+c.Sold, 0
	}
	s.State.Holds, s.State.Orders = nil, nil
	r := Audit(s)
	if r.Failed() {
		t.Fatalf("Audit = \n%s\nwant no difference", strings.Join(keys(r), "\n"))
	}
	if got := r.Ran(); !slices.Equal(got, []string{CheckLedger, CheckSeats, CheckCounts}) {
		t.Errorf("checks ran %v; want ledger, seats, counts", got)
	}
	for _, c := range r.Checks[3:] {
		if c.Why == "" {
			t.Errorf("check %s did not run and says not why", c.Name)
		}
	}
	// A kept hold's seat given to another buyer is sold twice.
	s.Ledger.Holds = append(s.Ledger.Holds, Hold{ID: "8", Buyer: 18, Seats: []string{"C1/1/2"}, From: 0, To: 1, Granted: span(4, 4.1), End: Kept})
	if got, want := keys(Audit(s)), []string{"ledger SEAT_SOLD_TWICE seat=g1:C1/1/2 leg=0 hold=1 hold=8"}; !slices.Equal(got, want) {
		t.Errorf("Audit with a seat kept twice = %v; want %v", got, want)
	}
}

// TestKeptHoldsLapse: on a target that lapses holds itself and has no
// confirm (seatd over HTTP), a paid hold is kept and lapses at the hold
// TTL like any other: its seat going to another buyer after that is no
// difference; before it, the seat is held twice.
func TestKeptHoldsLapse(t *testing.T) {
	ledger := func(second float64) *Snapshot {
		return &Snapshot{Spec: spec(), Read: span(30, 30.1), Ledger: Ledger{TTL: 10 * time.Second, TargetLapses: true, Holds: []Hold{
			{ID: "1", Buyer: 11, Seats: []string{"C1/1/1"}, From: 0, To: 2, TotalCents: 50000, Granted: span(1, 1.1), End: Kept},
			{ID: "2", Buyer: 12, Seats: []string{"C1/1/1"}, From: 0, To: 2, TotalCents: 50000, Granted: span(second, second+0.1), End: Kept},
		}}}
	}
	if got := keys(Audit(ledger(12))); len(got) != 0 {
		t.Errorf("a kept hold's seat held again after its lapse: %v; want no difference", got)
	}
	want := []string{"ledger SEAT_HELD_TWICE seat=g1:C1/1/1 leg=0 hold=1 hold=2", "ledger SEAT_HELD_TWICE seat=g1:C1/1/1 leg=1 hold=1 hold=2"}
	if got := keys(Audit(ledger(5))); !slices.Equal(got, want) {
		t.Errorf("a kept hold's seat held again before its lapse: %v; want %v", got, want)
	}
}

// TestAuditBounds: past MaxDifferences the differences are counted, not
// listed; with holds missing from the ledger, the checks that need
// every hold say so and report nothing they cannot know.
func TestAuditBounds(t *testing.T) {
	s := consistent()
	s.State.Orders, s.State.Holds = nil, nil
	for i := range MaxDifferences + 10 {
		s.Ledger.Holds = append(s.Ledger.Holds, Hold{ID: "x", Seats: []string{"C1/9/" + strings.Repeat("9", i+1)}, From: 0, To: 1})
	}
	r := Audit(s)
	if len(r.Differences) != MaxDifferences || r.Left != 10 || r.Checks[0].Codes[HoldSeatUnknown] != MaxDifferences+10 {
		t.Errorf("%d differences listed, %d left, codes %v; want %d, 10", len(r.Differences), r.Left, r.Checks[0].Codes, MaxDifferences)
	}

	s = consistent()
	s.Ledger.Dropped = 3
	s.State.Seats[0][7] = inventory.SeatSold // perhaps a hold not recorded
	s.State.Counts[1].Free, s.State.Counts[1].Sold = 3, 1
	s.State.Orders = nil
	r = Audit(s)
	if r.Failed() || !strings.Contains(r.Checks[1].Why, "not complete") {
		t.Errorf("Audit with an incomplete ledger = %v, seats check says %q; want no difference, and why", keys(r), r.Checks[1].Why)
	}
}

// TestHoldIDs: "hold_id@buyer" ids are asked by the server's id, and its
// holds come back under the harness's ids.
func TestHoldIDs(t *testing.T) {
	bare, full := SplitHoldIDs([]string{"11@7", "12"})
	if !slices.Equal(bare, []string{"11", "12"}) || full["11"] != "11@7" || full["12"] != "12" {
		t.Errorf("SplitHoldIDs = %v, %v", bare, full)
	}
	got := RenameHolds(map[string]reconcile.Hold{"11": {ID: "11", OrderNo: "1"}, "13": {ID: "13"}}, full)
	want := map[string]reconcile.Hold{"11@7": {ID: "11@7", OrderNo: "1"}, "13": {ID: "13"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RenameHolds = %+v; want %+v", got, want)
	}
	if RenameHolds(nil, full) != nil {
		t.Error("RenameHolds(nil) is not nil: a target that shows no holds would seem to show them all gone")
	}
}
