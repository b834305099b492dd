package orders

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"seatd/inventory"
	"seatd/orderflow/events"
)

func ev(typ events.Type, seq uint64, reason string, seats ...string) events.HoldEvent {
	e := events.HoldEvent{Version: 1, Group: 1, Seq: seq, Type: typ, Reason: reason, At: time.Unix(int64(seq), 0).UTC(),
		OrderNo: "65601", HoldID: "1", UserID: "1", TotalCents: 200}
	for _, s := range seats {
		e.Seats = append(e.Seats, events.Seat{ID: s, PriceCents: 100})
		e.AmountCents += 100
	}
	return e
}

// TestTransitions runs event sequences through Order.apply and checks the
// statuses, and that an illegal step leaves the order as it was.
func TestTransitions(t *testing.T) {
	placed := ev(events.HoldPlaced, 1, "", "a", "b")
	for _, tc := range []struct {
		name   string
		evs    []events.HoldEvent
		want   []Outcome
		status Status
		hold   HoldStatus
	}{
		{"cancelled", []events.HoldEvent{placed, ev(events.HoldReleased, 2, "cancelled")}, []Outcome{Applied, Applied}, StatusCancelled, HoldReleased},
		{"expired", []events.HoldEvent{placed, ev(events.HoldReleased, 2, "expired")}, []Outcome{Applied, Applied}, StatusExpired, HoldReleased},
		{"refused", []events.HoldEvent{placed, ev(events.HoldReleased, 2, "refused")}, []Outcome{Applied, Applied}, StatusCancelled, HoldReleased},
		{"confirmed", []events.HoldEvent{placed, ev(events.HoldConfirmed, 2, "")}, []Outcome{Applied, Applied}, StatusPendingPayment, HoldConfirmed},
		{"partial refund", []events.HoldEvent{placed, ev(events.HoldConfirmed, 2, ""), ev(events.SeatsRefunded, 3, "", "a")},
			[]Outcome{Applied, Applied, Applied}, StatusPartiallyRefunded, HoldConfirmed},
		{"full refund in two", []events.HoldEvent{placed, ev(events.HoldConfirmed, 2, ""), ev(events.SeatsRefunded, 3, "", "a"), ev(events.SeatsRefunded, 4, "", "b")},
			[]Outcome{Applied, Applied, Applied, Applied}, StatusRefunded, HoldRefunded},
		{"refund of a held hold", []events.HoldEvent{placed, ev(events.SeatsRefunded, 2, "", "a")}, []Outcome{Applied, Illegal}, StatusPendingPayment, HoldHeld},
		{"release after confirm", []events.HoldEvent{placed, ev(events.HoldConfirmed, 2, ""), ev(events.HoldReleased, 3, "expired")},
			[]Outcome{Applied, Applied, Illegal}, StatusPendingPayment, HoldConfirmed},
		{"confirm after release", []events.HoldEvent{placed, ev(events.HoldReleased, 2, "cancelled"), ev(events.HoldConfirmed, 3, "")},
			[]Outcome{Applied, Applied, Illegal}, StatusCancelled, HoldReleased},
		{"placed twice", []events.HoldEvent{placed, ev(events.HoldPlaced, 2, "", "c")}, []Outcome{Applied, Illegal}, StatusPendingPayment, HoldHeld},
		{"no order yet", []events.HoldEvent{ev(events.HoldConfirmed, 1, "")}, []Outcome{Illegal}, StatusNone, HoldNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o Order
			for i, e := range tc.evs {
				before := o
				got, _, err := o.apply(&e, Source{Seq: e.Seq})
				if err != nil || got != tc.want[i] {
					t.Fatalf("apply(%s #%d) = %v, %v; want %v", e.Type, i, got, err, tc.want[i])
				}
				if got == Illegal && o.Version != before.Version {
					t.Errorf("illegal %s changed the order: v%d -> v%d", e.Type, before.Version, o.Version)
				}
			}
			if o.Status != tc.status || o.HoldStatus != tc.hold {
				t.Errorf("status = %s/%s; want %s/%s", o.Status, o.HoldStatus, tc.status, tc.hold)
			}
		})
	}
	var o Order
	bad := ev(events.HoldReleased, 2, "stolen")
	o.apply(&placed, Source{})
	if _, _, err := o.apply(&bad, Source{}); err == nil {
		t.Errorf("apply(release, reason stolen) = nil error; want one")
	}
}

// TestBatchDedupe: in one store, an event at or below its group's mark is
// a duplicate, a misrouted one is refused, and an order's event from
// another group than its number names (its program moved) applies.
func TestBatchDedupe(t *testing.T) {
	s, err := Open(t.TempDir(), 1, 4, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Order 65601 = seq 1, group 1, gene 1: partition 1 of 4.
	b := s.NewBatch()
	p := ev(events.HoldPlaced, 5, "", "a")
	if out, _, err := b.Apply(&p, Source{Group: 1, Seq: 5, Topic: events.TopicHolds, Partition: 1, Offset: 0}); out != Applied || err != nil {
		t.Fatalf("Apply(placed) = %v, %v; want Applied", out, err)
	}
	if out, _, _ := b.Apply(&p, Source{Group: 1, Seq: 5, Partition: 1, Offset: 1}); out != Duplicate {
		t.Errorf("Apply(placed again) = %v; want Duplicate", out)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if st := s.State(); st.Offset != 1 || st.HWM[1] != 5 || st.Pending != 1 {
		t.Errorf("State() = %+v; want offset 1, mark 5 for group 1, 1 pending", st)
	}
	b = s.NewBatch()
	older := ev(events.HoldReleased, 4, "cancelled")
	if out, _, _ := b.Apply(&older, Source{Group: 1, Seq: 4, Partition: 1, Offset: 2}); out != Duplicate {
		t.Errorf("Apply(seq 4 after 5) = %v; want Duplicate", out)
	}
	other := ev(events.HoldPlaced, 6, "")
	other.OrderNo = "65602" // gene 2: partition 2
	other.UserID = "2"
	if _, _, err := b.Apply(&other, Source{Group: 1, Seq: 6, Partition: 1, Offset: 3}); !errors.Is(err, ErrMisrouted) {
		t.Errorf("Apply(an order of partition 2) error = %v; want ErrMisrouted", err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if o, err := s.Get(inventory.OrderNo(65601)); err != nil || o.Version != 1 || o.Status != StatusPendingPayment {
		t.Errorf("Get(65601) = %+v, %v; want v1 PENDING_PAYMENT", o, err)
	}
	if st := s.State(); st.Offset != 3 {
		t.Errorf("offset = %d; want 3 (past the skipped events)", st.Offset)
	}
	// The program moved to group 2: the order's next event comes from
	// there, with group 2's sequence, and applies.
	b = s.NewBatch()
	moved := ev(events.HoldConfirmed, 1, "")
	moved.Group = 2
	if out, _, err := b.Apply(&moved, Source{Group: 2, Seq: 1, Partition: 1, Offset: 4}); out != Applied || err != nil {
		t.Fatalf("Apply(confirmed by group 2 after a move) = %v, %v; want Applied", out, err)
	}
	if out, _, _ := b.Apply(&moved, Source{Group: 2, Seq: 1, Partition: 1, Offset: 5}); out != Duplicate {
		t.Errorf("Apply(the same again) = %v; want Duplicate", out)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if o, err := s.Get(inventory.OrderNo(65601)); err != nil || o.HoldStatus != HoldConfirmed {
		t.Errorf("Get(65601) after group 2's confirm = %+v, %v; want its hold confirmed", o, err)
	}
	if st := s.State(); st.HWM[1] != 5 || st.HWM[2] != 1 {
		t.Errorf("marks %v; want 5 for group 1, 1 for group 2", st.HWM)
	}
}

// TestOpenTwice: a store open in one process is refused to another
// opener, with words that say so.
func TestOpenTwice(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 0, 1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(dir, 0, 1, Options{}); err == nil || !strings.Contains(err.Error(), "is open elsewhere") {
		t.Fatalf("second Open = %v; want it refused as open elsewhere", err)
	}
}

// TestPaymentOfAnotherAmount: a PaymentSucceeded whose amount is not the
// order's total does not pay it: the money is owed back and the order
// still waits for its payment; one of the right amount then pays it.
func TestPaymentOfAnotherAmount(t *testing.T) {
	var o Order
	placed := ev(events.HoldPlaced, 1, "", "a", "b")
	if got, _, err := o.apply(&placed, Source{Seq: 1}); err != nil || got != Applied {
		t.Fatalf("placed: %v, %v", got, err)
	}
	paid := func(trade string, cents int64) events.PayEvent {
		return events.PayEvent{Version: 1, ID: events.PayEventID(trade, events.PaymentSucceeded), Type: events.PaymentSucceeded,
			At: time.Unix(5, 0).UTC(), OrderNo: "65601", Channel: "alipay", OutTradeNo: trade, AmountCents: cents}
	}
	wrong := paid("65601_01", 201)
	if got, _ := o.applyPay(&wrong, Source{}); got != Applied {
		t.Fatalf("wrong amount: %v", got)
	}
	if o.Status != StatusPendingPayment || o.Payment != nil || o.PaidCents != 0 || o.Confirm != ConfirmNone {
		t.Errorf("after a payment of 201 cents for 200: %s, payment %+v, paid %d, confirm %q", o.Status, o.Payment, o.PaidCents, o.Confirm)
	}
	if d := o.dues(); len(d) != 1 || d[0].Reason != "amount_mismatch" || d[0].AmountCents != 201 {
		t.Errorf("refunds due = %+v; want the 201 cents owed back", d)
	}
	right := paid("65601_02", 200)
	if got, _ := o.applyPay(&right, Source{}); got != Applied || o.Status != StatusPaid || o.PaidCents != 200 || o.Confirm != ConfirmDue {
		t.Errorf("the right amount: %v, %s, paid %d, confirm %q", got, o.Status, o.PaidCents, o.Confirm)
	}
}

// TestOwedRefundCarriesNoSeats: a payment that bought no seats (it came
// after the hold was released, or the hold lapsed before its confirm) is
// owed back as money alone. Its refund names no seat and releases none,
// whether or not the refund event names seats, and the money decides the
// status.
func TestOwedRefundCarriesNoSeats(t *testing.T) {
	payment := events.PayEvent{Version: 1, ID: events.PayEventID("65601_01", events.PaymentSucceeded), Type: events.PaymentSucceeded,
		At: time.Unix(5, 0).UTC(), OrderNo: "65601", Channel: "alipay", OutTradeNo: "65601_01", AmountCents: 200}
	for _, tc := range []struct {
		name  string
		steps []any // events.HoldEvent or events.PayEvent, in order
	}{
		{"paid after cancel", []any{ev(events.HoldReleased, 2, "cancelled"), payment}},
		{"paid after expiry", []any{ev(events.HoldReleased, 2, "expired"), payment}},
		{"expired after payment", []any{payment, ev(events.HoldReleased, 2, "expired")}},
	} {
		for _, named := range [][]string{nil, {"a"}} {
			t.Run(fmt.Sprintf("%s/seats=%v", tc.name, named), func(t *testing.T) {
				var o Order
				placed := ev(events.HoldPlaced, 1, "", "a", "b")
				if got, _, err := o.apply(&placed, Source{Seq: 1}); err != nil || got != Applied {
					t.Fatalf("placed: %v, %v", got, err)
				}
				for _, s := range tc.steps {
					switch e := s.(type) {
					case events.HoldEvent:
						if got, _, err := o.apply(&e, Source{Seq: e.Seq}); err != nil || got != Applied {
							t.Fatalf("%s: %v, %v", e.Type, got, err)
						}
					case events.PayEvent:
						if got, _ := o.applyPay(&e, Source{}); got != Applied {
							t.Fatalf("%s: %v", e.Type, got)
						}
					}
				}
				if o.Status != StatusRefundDue {
					t.Fatalf("status = %s; want %s", o.Status, StatusRefundDue)
				}
				refund := events.PayEvent{Version: 1, ID: events.PayEventID("65601_01_r1", events.RefundSucceeded), Type: events.RefundSucceeded,
					At: time.Unix(9, 0).UTC(), OrderNo: "65601", Channel: "alipay", OutTradeNo: "65601_01", OutRequestNo: "65601_01_r1",
					AmountCents: 200, SeatIDs: named}
				if got, _ := o.applyPay(&refund, Source{}); got != Applied {
					t.Fatalf("refund: %v", got)
				}
				if o.Status != StatusRefunded || o.RefundedCents != 200 {
					t.Errorf("after the refund: %s, %d cents back; want %s, 200", o.Status, o.RefundedCents, StatusRefunded)
				}
				if len(o.Refunds) != 1 || len(o.Refunds[0].SeatIDs) != 0 || o.Refunds[0].Release != "" {
					t.Errorf("refunds = %+v; want one, naming no seat and releasing none", o.Refunds)
				}
				if s := o.refundedSeats(); len(s) != 0 {
					t.Errorf("refunded seats = %v; want none: none was sold", s)
				}
			})
		}
	}
}
