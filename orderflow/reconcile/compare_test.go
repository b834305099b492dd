package reconcile

import (
	"slices"
	"strings"
	"testing"
	"time"

	"seatd/orderflow/events"
	"seatd/orderflow/orders"
	"seatd/orderflow/pay"
	"seatd/orderflow/payment"
)

// at is the snapshots' time; paidAt when their trades were paid (the
// same CST day).
var (
	at     = time.Date(2026, 3, 1, 4, 0, 0, 0, time.UTC) // 12:00 CST
	paidAt = at.Add(-time.Hour)
	day    = "2026-03-01"
)

func seats(ids ...string) []orders.Seat {
	out := make([]orders.Seat, len(ids))
	for i, id := range ids {
		out[i] = orders.Seat{ID: id, Category: "std", PriceCents: 10000}
	}
	return out
}

func trade(no, otn string, amount int64, st pay.TradeState) pay.Trade {
	t := pay.Trade{OutTradeNo: otn, OrderNo: no, Channel: "alipay", AmountCents: amount, State: st, TimeExpire: at.Add(10 * time.Minute)}
	if st == pay.StatePaid {
		t.PaidAt = paidAt
	}
	return t
}

// consistent is a snapshot of four orders where every side agrees:
//
//	100 PAID, seats A/1/1 and A/1/2 sold
//	200 PARTIALLY_REFUNDED: A/1/3 refunded (RF200), A/1/4 sold
//	300 REFUNDED: paid after its hold was cancelled, refunded in full (R300_01)
//	400 PENDING_PAYMENT, its trade open
func consistent() *Snapshot {
	pay100 := &orders.Trade{OutTradeNo: "100_01", Channel: "alipay", Outcome: events.PaymentSucceeded, AmountCents: 20000, At: paidAt}
	pay200 := &orders.Trade{OutTradeNo: "200_01", Channel: "alipay", Outcome: events.PaymentSucceeded, AmountCents: 20000, At: paidAt}
	pay300 := &orders.Trade{OutTradeNo: "300_01", Channel: "alipay", Outcome: events.PaymentSucceeded, AmountCents: 10000, At: paidAt}
	s := &Snapshot{
		Orders: []orders.Order{
			{OrderNo: "100", HoldID: "1", ProgramID: "show", Status: orders.StatusPaid, Seats: seats("A/1/1", "A/1/2"), TotalCents: 20000,
				PaidCents: 20000, From: 0, To: 1, HoldStatus: orders.HoldConfirmed, Payment: pay100, Confirm: orders.ConfirmDone,
				Trades: []orders.Trade{*pay100}},
			{OrderNo: "200", HoldID: "2", ProgramID: "show", Status: orders.StatusPartiallyRefunded, Seats: seats("A/1/3", "A/1/4"),
				TotalCents: 20000, PaidCents: 20000, RefundedCents: 10000, From: 0, To: 1, HoldStatus: orders.HoldConfirmed, Payment: pay200,
				Confirm: orders.ConfirmDone, Trades: []orders.Trade{*pay200}, RefundedSeatIDs: []string{"A/1/3"},
				Refunds: []orders.Refund{{OutRequestNo: "RF200", OutTradeNo: "200_01", Outcome: events.RefundSucceeded, AmountCents: 10000,
					SeatIDs: []string{"A/1/3"}, At: paidAt, Release: orders.ReleaseDone}}},
			{OrderNo: "300", HoldID: "3", ProgramID: "show", Status: orders.StatusRefunded, Seats: seats("A/1/5"), TotalCents: 10000,
				PaidCents: 10000, RefundedCents: 10000, From: 0, To: 1, Reason: "cancelled", HoldStatus: orders.HoldReleased, Payment: pay300,
				Trades: []orders.Trade{*pay300},
				Refunds: []orders.Refund{{OutRequestNo: "R300_01", OutTradeNo: "300_01", Outcome: events.RefundSucceeded, AmountCents: 10000,
					SeatIDs: []string{"A/1/5"}, At: paidAt}},
				RefundsDue: []orders.RefundDue{{OutTradeNo: "300_01", Channel: "alipay", AmountCents: 10000, Reason: "hold_cancelled",
					RefundedCents: 10000, Settled: true}}},
			{OrderNo: "400", HoldID: "4", ProgramID: "show", Status: orders.StatusPendingPayment, Seats: seats("A/1/6"), TotalCents: 10000,
				From: 0, To: 1, HoldStatus: orders.HoldHeld},
		},
		Trades: []pay.Trade{
			trade("100", "100_01", 20000, pay.StatePaid), trade("200", "200_01", 20000, pay.StatePaid),
			trade("300", "300_01", 10000, pay.StatePaid), trade("400", "400_01", 10000, pay.StateOpen),
		},
		Refunds: []pay.Refund{
			{OutRequestNo: "RF200", OutTradeNo: "200_01", OrderNo: "200", Channel: "alipay", AmountCents: 10000, State: pay.RefundSucceeded, At: paidAt},
			{OutRequestNo: "R300_01", OutTradeNo: "300_01", OrderNo: "300", Channel: "alipay", AmountCents: 10000, State: pay.RefundSucceeded, At: paidAt},
		},
		Holds: map[string]Hold{
			"1": {Found: true, ID: "1", OrderNo: "100", ProgramID: "show", Status: orders.HoldConfirmed, To: 1,
				Seats: []HoldSeat{{ID: "A/1/1"}, {ID: "A/1/2"}}},
			"2": {Found: true, ID: "2", OrderNo: "200", ProgramID: "show", Status: orders.HoldConfirmed, To: 1,
				Seats: []HoldSeat{{ID: "A/1/3", Refunded: true}, {ID: "A/1/4"}}},
			"3": {Found: true, ID: "3", OrderNo: "300", ProgramID: "show", Status: orders.HoldReleased, To: 1, Seats: []HoldSeat{{ID: "A/1/5"}}},
			"4": {Found: true, ID: "4", OrderNo: "400", ProgramID: "show", Status: orders.HoldHeld, To: 1, Seats: []HoldSeat{{ID: "A/1/6"}}},
		},
		Programs: []string{"show"},
		Sold:     []SeatLeg{{"show", "A/1/1", 0}, {"show", "A/1/2", 0}, {"show", "A/1/4", 0}},
		Bills: []Bill{{Channel: "alipay", Day: day, Available: true, Lines: []payment.BillLine{
			{Kind: payment.BillPay, OutTradeNo: "100_01", AmountCents: 20000, At: paidAt},
			{Kind: payment.BillPay, OutTradeNo: "200_01", AmountCents: 20000, At: paidAt},
			{Kind: payment.BillPay, OutTradeNo: "300_01", AmountCents: 10000, At: paidAt},
			{Kind: payment.BillRefund, OutTradeNo: "200_01", OutRequestNo: "RF200", AmountCents: 10000, At: paidAt},
			{Kind: payment.BillRefund, OutTradeNo: "300_01", OutRequestNo: "R300_01", AmountCents: 10000, At: paidAt},
		}}},
		At: at,
	}
	return s
}

func codes(ds []Difference) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Key())
	}
	return out
}

func TestCompareConsistent(t *testing.T) {
	if ds := Compare(consistent()); len(ds) != 0 {
		t.Fatalf("Compare(consistent) = %s; want none", strings.Join(codes(ds), "\n"))
	}
}

// TestCompareCorrupted corrupts one thing of a consistent snapshot at a
// time: each must produce its own differences, exactly.
func TestCompareCorrupted(t *testing.T) {
	order := func(s *Snapshot, no string) *orders.Order {
		i := slices.IndexFunc(s.Orders, func(o orders.Order) bool { return o.OrderNo == no })
		return &s.Orders[i]
	}
	for _, tc := range []struct {
		name    string
		corrupt func(*Snapshot)
		want    []string // difference keys
	}{
		{"seat sold twice", func(s *Snapshot) {
			o := order(s, "400") // paid, with order 100's seat
			o.Status, o.PaidCents, o.Seats, o.Confirm = orders.StatusPaid, 10000, seats("A/1/1"), orders.ConfirmDone
			o.Payment = &orders.Trade{OutTradeNo: "400_01", Channel: "alipay", AmountCents: 10000}
			s.Trades[3].State, s.Trades[3].PaidAt = pay.StatePaid, paidAt
			s.Holds["4"] = Hold{Found: true, ID: "4", OrderNo: "400", ProgramID: "show", Status: orders.HoldConfirmed, To: 1, Seats: []HoldSeat{{ID: "A/1/1"}}}
			s.Bills[0].Lines = append(s.Bills[0].Lines, payment.BillLine{Kind: payment.BillPay, OutTradeNo: "400_01", AmountCents: 10000, At: paidAt})
		}, []string{
			"SEAT_SOLD_TWICE seat=show:A/1/1 leg=0 hold=1 order=100 hold=4 order=400",
			"SEAT_SOLD_TWICE seat=show:A/1/1 leg=0 order=100 order=400",
		}},
		{"sold seat without a paid order", func(s *Snapshot) {
			s.Sold = append(s.Sold, SeatLeg{"show", "B/2/9", 0})
		}, []string{"SEAT_SOLD_UNPAID seat=show:B/2/9 leg=0"}},
		{"hold confirmed in seatd with no payment", func(s *Snapshot) {
			h := s.Holds["4"]
			h.Status = orders.HoldConfirmed
			s.Holds["4"] = h
			s.Sold = append(s.Sold, SeatLeg{"show", "A/1/6", 0})
		}, []string{
			"HOLD_CONFIRMED_UNPAID order=400 hold=4",
			"SEAT_SOLD_UNPAID seat=show:A/1/6 leg=0 hold=4 order=400",
		}},
		{"paid trade missing from its order", func(s *Snapshot) {
			s.Trades = append(s.Trades, trade("100", "100_02", 20000, pay.StatePaid))
			s.Bills[0].Lines = append(s.Bills[0].Lines, payment.BillLine{Kind: payment.BillPay, OutTradeNo: "100_02", AmountCents: 20000, At: paidAt})
		}, []string{"TRADE_UNKNOWN_TO_ORDER order=100 trade=100_02"}},
		{"refund above its payment", func(s *Snapshot) {
			o := order(s, "200")
			o.Refunds = append(o.Refunds, orders.Refund{OutRequestNo: "RF200b", OutTradeNo: "200_01", Outcome: events.RefundSucceeded,
				AmountCents: 15000, Release: orders.ReleaseDone})
			o.RefundedCents = 25000
			s.Refunds = append(s.Refunds, pay.Refund{OutRequestNo: "RF200b", OutTradeNo: "200_01", OrderNo: "200", Channel: "alipay",
				AmountCents: 15000, State: pay.RefundSucceeded, At: paidAt})
			s.Bills[0].Lines = append(s.Bills[0].Lines, payment.BillLine{Kind: payment.BillRefund, OutTradeNo: "200_01", OutRequestNo: "RF200b",
				AmountCents: 15000, At: paidAt})
		}, []string{"REFUND_ABOVE_PAYMENT order=200", "REFUND_ABOVE_PAYMENT order=200 trade=200_01"}},
		{"bill line without a trade", func(s *Snapshot) {
			s.Bills[0].Lines = append(s.Bills[0].Lines, payment.BillLine{Kind: payment.BillPay, OutTradeNo: "900_01", AmountCents: 5000, At: paidAt})
		}, []string{"BILL_PAY_UNKNOWN bill=alipay/2026-03-01 trade=900_01"}},
		{"bill amount mismatch", func(s *Snapshot) {
			s.Bills[0].Lines[0].AmountCents = 19999
		}, []string{"BILL_PAY_AMOUNT bill=alipay/2026-03-01 trade=100_01"}},
		{"paid amount mismatch", func(s *Snapshot) {
			s.Trades[0].AmountCents = 19999
			s.Bills[0].Lines[0].AmountCents = 19999
		}, []string{"PAID_AMOUNT_MISMATCH order=100 trade=100_01"}},
		{"refund amount mismatch", func(s *Snapshot) {
			s.Refunds[0].AmountCents = 9000
			s.Bills[0].Lines[3].AmountCents = 9000
		}, []string{"REFUND_AMOUNT_MISMATCH order=200 refund=RF200"}},
		{"unsettled refund due", func(s *Snapshot) {
			o := order(s, "300")
			o.Status, o.RefundedCents, o.Refunds = orders.StatusRefundDue, 0, nil
			o.RefundsDue[0].RefundedCents, o.RefundsDue[0].Settled = 0, false
			s.Refunds[1].State = pay.RefundProcessing
			s.Bills[0].Lines = s.Bills[0].Lines[:4]
		}, []string{"REFUND_DUE_UNSETTLED order=300 trade=300_01", "REFUND_PENDING order=300 refund=R300_01"}},
		{"paid trade on no bill", func(s *Snapshot) {
			s.Bills[0].Lines = slices.Delete(s.Bills[0].Lines, 1, 2)
		}, []string{"BILL_PAY_MISSING bill=alipay/2026-03-01 trade=200_01"}},
		{"bill not available", func(s *Snapshot) {
			s.Bills[0].Available, s.Bills[0].Lines = false, nil
		}, nil},
		{"paid order's hold released", func(s *Snapshot) {
			h := s.Holds["1"]
			h.Status = orders.HoldReleased
			s.Holds["1"] = h
			s.Sold = s.Sold[2:]
		}, []string{
			"HOLD_NOT_CONFIRMED order=100 hold=1",
			"SEAT_NOT_SOLD seat=show:A/1/1 leg=0 order=100",
			"SEAT_NOT_SOLD seat=show:A/1/2 leg=0 order=100",
		}},
		{"refunded seat still sold", func(s *Snapshot) {
			h := s.Holds["2"]
			h.Seats = []HoldSeat{{ID: "A/1/3"}, {ID: "A/1/4"}}
			s.Holds["2"] = h
			s.Sold = append(s.Sold, SeatLeg{"show", "A/1/3", 0})
		}, []string{"HOLD_SEATS_MISMATCH order=200 hold=2", "SEAT_SOLD_UNPAID seat=show:A/1/3 leg=0 hold=2 order=200"}},
		{"confirm still due", func(s *Snapshot) {
			o := order(s, "100")
			o.Confirm = orders.ConfirmDue
			h := s.Holds["1"]
			h.Status = orders.HoldHeld
			s.Holds["1"] = h
			s.Sold = s.Sold[2:]
		}, []string{"CONFIRM_DUE order=100 hold=1"}},
		{"trade open past its expiry", func(s *Snapshot) {
			s.At = s.Trades[3].TimeExpire
		}, []string{"TRADE_OPEN_PAST_EXPIRY order=400 trade=400_01"}},
		{"pending order whose hold was released", func(s *Snapshot) {
			h := s.Holds["4"]
			h.Status = orders.HoldReleased
			s.Holds["4"] = h
		}, []string{"ORDER_PENDING_RELEASED order=400 hold=4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := consistent()
			tc.corrupt(s)
			if got := codes(Compare(s)); !slices.Equal(got, tc.want) {
				t.Errorf("Compare = %q; want %q", got, tc.want)
			}
		})
	}
}
