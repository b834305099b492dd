package system

import (
	"reflect"
	"testing"

	"seatd/orderflow/orders"
	"seatd/orderflow/pay"
	"seatd/orderflow/payment"
	"seatd/orderflow/reconcile"
)

// TestProgramOnly: of a cluster carrying two programs' sales, the audit
// sees the run's program alone: its orders, their holds, trades and
// refunds, its sold seats and its trades' bill lines.
func TestProgramOnly(t *testing.T) {
	s := &reconcile.Snapshot{
		Orders:   []orders.Order{{OrderNo: "1", HoldID: "11", ProgramID: "run"}, {OrderNo: "2", HoldID: "12", ProgramID: "other"}},
		Holds:    map[string]reconcile.Hold{"11": {Found: true, ID: "11"}, "12": {Found: true, ID: "12"}},
		Trades:   []pay.Trade{{OutTradeNo: "T1", OrderNo: "1"}, {OutTradeNo: "T2", OrderNo: "2"}},
		Refunds:  []pay.Refund{{OutRequestNo: "R1", OrderNo: "1"}, {OutRequestNo: "R2", OrderNo: "2"}},
		Programs: []string{"other", "run"},
		Sold:     []reconcile.SeatLeg{{Program: "run", Seat: "A/1/1"}, {Program: "other", Seat: "A/1/1"}},
		Bills: []reconcile.Bill{{Channel: "alipay", Day: "2026-12-01", Available: true,
			Lines: []payment.BillLine{{OutTradeNo: "T1"}, {OutTradeNo: "T2"}, {OutTradeNo: "T1", OutRequestNo: "R1"}}}},
	}
	got := programOnly(s, "run")
	want := &reconcile.Snapshot{
		Orders:   s.Orders[:1],
		Holds:    map[string]reconcile.Hold{"11": {Found: true, ID: "11"}},
		Trades:   s.Trades[:1],
		Refunds:  s.Refunds[:1],
		Programs: []string{"run"},
		Sold:     s.Sold[:1],
		Bills: []reconcile.Bill{{Channel: "alipay", Day: "2026-12-01", Available: true,
			Lines: []payment.BillLine{{OutTradeNo: "T1"}, {OutTradeNo: "T1", OutRequestNo: "R1"}}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("programOnly =\n%+v\nwant\n%+v", got, want)
	}
	if len(s.Bills[0].Lines) != 3 || len(s.Sold) != 2 {
		t.Errorf("programOnly changed the snapshot it read: %+v", s)
	}
}

// TestUnsettled: the order flow has settled only when every hold granted
// is an order and reconcile finds nothing.
func TestUnsettled(t *testing.T) {
	s := &reconcile.Snapshot{Holds: map[string]reconcile.Hold{}}
	if w := unsettled(s, []string{"11"}); w != "1 holds without an order; 0 differences ()" {
		t.Errorf("a hold with no order: %q", w)
	}
	s.Orders = []orders.Order{{OrderNo: "1", HoldID: "11", ProgramID: "run", Status: orders.StatusPaid, PaidCents: 100}}
	if w := unsettled(s, []string{"11"}); w == "" {
		t.Error("a paid order whose hold seatd does not have: settled; want reconcile's difference")
	}
	if w := unsettled(&reconcile.Snapshot{}, nil); w != "" {
		t.Errorf("nothing at all: %q; want settled", w)
	}
}
