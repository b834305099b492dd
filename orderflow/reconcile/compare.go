// Package reconcile compares what the parts of the system each say about
// the same sales: seatd's holds and seat maps, the order service's orders,
// the pay service's trades and refunds, and the payment providers' daily
// bills. docs/reconcile.md lists the rules and each difference's code.
//
// Its core, Compare, is a pure function of a Snapshot: no I/O, no clock
// (the snapshot carries the time it was taken), the same differences in
// the same order for the same snapshot. Collect fills a Snapshot through
// the services' RPC clients; Run collects and compares, and re-checks
// after a settle period so that only differences that persist are
// reported: a live system is always part-way through some sales.
//
// Concurrency: Compare keeps no state; Collect and Run may run
// concurrently with each other and with the system they read.
package reconcile

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"seatd/orderflow/events"
	"seatd/orderflow/orders"
	"seatd/orderflow/pay"
	"seatd/orderflow/payment"
)

// Code names a kind of difference. The names are stable: scripts read
// them (docs/reconcile.md lists each with its rule).
type Code string

// Differences between seatd and the orders.
const (
	HoldMissing          Code = "HOLD_MISSING"           // a paid or pending order's hold is unknown to seatd
	HoldNotConfirmed     Code = "HOLD_NOT_CONFIRMED"     // a paid order's hold is not CONFIRMED
	HoldSeatsMismatch    Code = "HOLD_SEATS_MISMATCH"    // a paid order's unrefunded seats are not its confirmed hold's
	HoldNotReleased      Code = "HOLD_NOT_RELEASED"      // a cancelled, expired or refunded order's hold still holds or sells seats
	HoldConfirmedUnpaid  Code = "HOLD_CONFIRMED_UNPAID"  // an order waiting for payment has a CONFIRMED hold
	OrderPendingReleased Code = "ORDER_PENDING_RELEASED" // an order waits for payment though its hold was released (moving)
	SeatSoldTwice        Code = "SEAT_SOLD_TWICE"        // a seat on a leg belongs to two paid orders, or two confirmed holds
	SeatSoldUnpaid       Code = "SEAT_SOLD_UNPAID"       // seatd sells a seat on a leg no paid order has
	SeatNotSold          Code = "SEAT_NOT_SOLD"          // a paid order's seat on a leg is not sold in seatd
	ConfirmDue           Code = "CONFIRM_DUE"            // a paid order's confirm in seatd is still to be made (moving)
	ReleaseDue           Code = "RELEASE_DUE"            // a refund's seats are still to be released in seatd (moving)
	ReleaseRefused       Code = "RELEASE_REFUSED"        // seatd refused to release a refund's seats
)

// Differences between the orders and the pay service.
const (
	PaymentMissing       Code = "PAYMENT_MISSING"        // a paid order names no paying trade
	PaidAmountMismatch   Code = "PAID_AMOUNT_MISMATCH"   // an order's paid_cents is not its paying trade's amount
	TradeMissing         Code = "TRADE_MISSING"          // an order's paying trade is not in the pay store
	TradeNotPaid         Code = "TRADE_NOT_PAID"         // an order's paying trade is not PAID in the pay store
	TradeUnknownToOrder  Code = "TRADE_UNKNOWN_TO_ORDER" // a PAID trade is neither its order's payment nor a refund due of it
	OrderMissing         Code = "ORDER_MISSING"          // a PAID trade or a SUCCEEDED refund names an order the order service lacks
	TradeOpenPastExpiry  Code = "TRADE_OPEN_PAST_EXPIRY" // a trade still open after its time_expire (moving)
	RefundAbovePayment   Code = "REFUND_ABOVE_PAYMENT"   // more refunded than paid, of an order or of a trade
	RefundedSumMismatch  Code = "REFUNDED_SUM_MISMATCH"  // an order's refunded_cents is not the sum of its payment's refunds
	RefundDueUnsettled   Code = "REFUND_DUE_UNSETTLED"   // money owed back is not refunded yet (moving)
	RefundMissing        Code = "REFUND_MISSING"         // an order's succeeded refund is not in the pay store
	RefundStateMismatch  Code = "REFUND_STATE_MISMATCH"  // an order's succeeded refund is not SUCCEEDED in the pay store
	RefundAmountMismatch Code = "REFUND_AMOUNT_MISMATCH" // an order's succeeded refund has another amount in the pay store
	RefundUnknownToOrder Code = "REFUND_UNKNOWN_TO_ORDER"
	RefundPending        Code = "REFUND_PENDING" // a refund REQUESTED or PROCESSING (moving)
	RefundFailed         Code = "REFUND_FAILED"  // a refund the provider refused: left to an operator
)

// Differences between the pay service and the providers' bills.
const (
	BillPayUnknown      Code = "BILL_PAY_UNKNOWN"      // a bill's payment line matches no PAID trade of its channel
	BillPayAmount       Code = "BILL_PAY_AMOUNT"       // a bill's payment line has another amount than its trade
	BillPayMissing      Code = "BILL_PAY_MISSING"      // a PAID trade of a billed day is on no bill
	BillRefundUnknown   Code = "BILL_REFUND_UNKNOWN"   // a bill's refund line matches no SUCCEEDED refund of its channel
	BillRefundAmount    Code = "BILL_REFUND_AMOUNT"    // a bill's refund line has another amount than its refund
	BillRefundMissing   Code = "BILL_REFUND_MISSING"   // a SUCCEEDED refund of a billed day is on no bill
	BillLineTwice       Code = "BILL_LINE_TWICE"       // a trade's payment, or a refund, is on the bills twice
	BillChannelMismatch Code = "BILL_CHANNEL_MISMATCH" // a bill line is for a trade or refund of the other channel
	BillLineUnknown     Code = "BILL_LINE_UNKNOWN"     // a bill line of a kind neither pay nor refund
)

// Sides of a difference: who says what.
const (
	SideOrders = "orders"
	SidePay    = "pay"
	SideSeatd  = "seatd"
	SideBill   = "bill"
)

// Say is what one side says about the thing a difference concerns.
type Say struct {
	Side string `json:"side"` // orders, pay, seatd, bill
	Says string `json:"says"`
}

// Difference is one disagreement.
type Difference struct {
	Code Code `json:"code"`
	// IDs name what it concerns, each "kind=value": order=, hold=,
	// trade= (out_trade_no), refund= (out_request_no), seat=
	// (program:seat), leg=, bill= (channel/day).
	IDs  []string `json:"ids"`
	Says []Say    `json:"says"`
}

// Key identifies a difference across two comparisons: its code and ids.
func (d Difference) Key() string { return string(d.Code) + " " + strings.Join(d.IDs, " ") }

// String is the difference on one line: its code, its ids, and what each
// side says.
func (d Difference) String() string {
	says := make([]string, len(d.Says))
	for i, s := range d.Says {
		says[i] = s.Side + ": " + s.Says
	}
	return d.Key() + ": " + strings.Join(says, "; ")
}

// Hold is a hold as seatd says it is.
type Hold struct {
	// Found is false when seatd has no such hold: never placed, or
	// released and forgotten since.
	Found     bool
	ID        string // decimal
	OrderNo   string // decimal
	ProgramID string
	Status    orders.HoldStatus // HELD, CONFIRMED, RELEASED, REFUNDED
	From, To  int               // the leg range [From, To)
	Seats     []HoldSeat
}

// HoldSeat is a seat of a hold, and whether it was refunded.
type HoldSeat struct {
	ID       string // "section/row/col"
	Refunded bool
}

// SeatLeg is one seat of a program on one leg.
type SeatLeg struct {
	Program string
	Seat    string // "section/row/col"
	Leg     int
}

func (s SeatLeg) ids() []string {
	return []string{"seat=" + s.Program + ":" + s.Seat, "leg=" + strconv.Itoa(s.Leg)}
}

// Bill is a provider's bill of one day.
type Bill struct {
	Channel string // alipay, wechat
	Day     string // YYYY-MM-DD in China Standard Time
	// Available is false when the provider has no bill for the day yet;
	// its trades and refunds are then not compared with a bill.
	Available bool
	Lines     []payment.BillLine
}

// Snapshot is what each side says, read at about the same time.
type Snapshot struct {
	Orders  []orders.Order
	Trades  []pay.Trade
	Refunds []pay.Refund
	// Holds are seatd's holds of the orders, by hold id.
	Holds map[string]Hold
	// Programs are the programs whose seat maps Sold covers: every
	// program seatd has.
	Programs []string
	// Sold lists every seat seatd sells, on each leg it is sold on.
	Sold  []SeatLeg
	Bills []Bill
	// At is when the snapshot was taken: open trades past their expiry
	// at it are late.
	At time.Time
}

// index is a snapshot's records by their numbers.
type index struct {
	orders  map[string]*orders.Order
	trades  map[string]*pay.Trade  // by out_trade_no
	refunds map[string]*pay.Refund // by out_request_no
}

// comparison collects the differences found.
type comparison struct {
	s     *Snapshot
	ix    index
	diffs []Difference
}

func (c *comparison) add(code Code, ids []string, says ...Say) {
	c.diffs = append(c.diffs, Difference{Code: code, IDs: ids, Says: says})
}

func says(side, format string, args ...any) Say {
	return Say{Side: side, Says: fmt.Sprintf(format, args...)}
}

// Compare returns every difference in s, sorted by code, then ids.
func Compare(s *Snapshot) []Difference {
	c := &comparison{s: s, ix: index{orders: map[string]*orders.Order{}, trades: map[string]*pay.Trade{}, refunds: map[string]*pay.Refund{}}}
	for i := range s.Orders {
		c.ix.orders[s.Orders[i].OrderNo] = &s.Orders[i]
	}
	for i := range s.Trades {
		c.ix.trades[s.Trades[i].OutTradeNo] = &s.Trades[i]
	}
	for i := range s.Refunds {
		c.ix.refunds[s.Refunds[i].OutRequestNo] = &s.Refunds[i]
	}
	for i := range s.Orders {
		c.holdOf(&s.Orders[i])
		c.moneyOf(&s.Orders[i])
	}
	c.seats()
	c.trades()
	c.refunds()
	c.bills()
	slices.SortFunc(c.diffs, func(a, b Difference) int { return strings.Compare(a.Key(), b.Key()) })
	return c.diffs
}

// Live says whether an order's seats are sold: it is paid, and not all
// of it refunded.
func Live(o *orders.Order) bool {
	return o.Status == orders.StatusPaid || o.Status == orders.StatusPartiallyRefunded
}

// released says whether an order's hold must be given back (released or
// refunded): the order will never sell seats.
func released(o *orders.Order) bool {
	switch o.Status {
	case orders.StatusCancelled, orders.StatusExpired, orders.StatusRefunded, orders.StatusRefundDue:
		return true
	}
	return false
}

// unrefunded returns an order's seats not covered by a succeeded refund
// of its paying trade, sorted.
func unrefunded(o *orders.Order) []string {
	gone := map[string]bool{}
	for _, r := range o.Refunds {
		if r.Outcome == events.RefundSucceeded && o.Payment != nil && r.OutTradeNo == o.Payment.OutTradeNo {
			for _, id := range r.SeatIDs {
				gone[id] = true
			}
		}
	}
	var out []string
	for _, s := range o.Seats {
		if !gone[s.ID] {
			out = append(out, s.ID)
		}
	}
	slices.Sort(out)
	return out
}

// releasesSettled says whether every refund's release in seatd is done
// (or was never needed), reporting those that are not.
func (c *comparison) releasesSettled(o *orders.Order) bool {
	ok := true
	for _, r := range o.Refunds {
		ids := []string{"order=" + o.OrderNo, "refund=" + r.OutRequestNo}
		switch r.Release {
		case orders.ReleaseDue:
			c.add(ReleaseDue, ids, says(SideOrders, "seats %v of refund %s are still to be released in seatd", r.SeatIDs, r.OutRequestNo))
			ok = false
		case orders.ReleaseRefused:
			c.add(ReleaseRefused, ids, says(SideOrders, "seatd refused to release seats %v: %s", r.SeatIDs, r.Detail))
			ok = false
		}
	}
	return ok
}

// holdOf compares an order with its hold in seatd.
func (c *comparison) holdOf(o *orders.Order) {
	ids := []string{"order=" + o.OrderNo, "hold=" + o.HoldID}
	h := c.s.Holds[o.HoldID]
	settled := c.releasesSettled(o)
	if o.Confirm == orders.ConfirmDue {
		c.add(ConfirmDue, ids, says(SideOrders, "%s, its confirm in seatd still to be made", o.Status),
			says(SideSeatd, "hold %s", holdState(h)))
		return
	}
	orderSays := says(SideOrders, "%s", o.Status)
	switch {
	case Live(o):
		switch {
		case !h.Found:
			c.add(HoldMissing, ids, orderSays, says(SideSeatd, "no such hold"))
		case h.Status != orders.HoldConfirmed:
			c.add(HoldNotConfirmed, ids, orderSays, says(SideSeatd, "hold %s", h.Status))
		case settled:
			want, have := unrefunded(o), soldSeats(h)
			if !slices.Equal(want, have) {
				c.add(HoldSeatsMismatch, ids, says(SideOrders, "%s, seats %v not refunded", o.Status, want),
					says(SideSeatd, "hold CONFIRMED, seats %v not refunded", have))
			}
		}
	case released(o):
		if h.Found && h.Status != orders.HoldReleased && h.Status != orders.HoldRefunded && settled {
			c.add(HoldNotReleased, ids, orderSays, says(SideSeatd, "hold %s", h.Status))
		}
	case o.Status == orders.StatusPendingPayment:
		switch {
		case !h.Found:
			c.add(HoldMissing, ids, orderSays, says(SideSeatd, "no such hold"))
		case h.Status == orders.HoldReleased:
			c.add(OrderPendingReleased, ids, orderSays, says(SideSeatd, "hold RELEASED"))
		case h.Status == orders.HoldConfirmed:
			c.add(HoldConfirmedUnpaid, ids, orderSays, says(SideSeatd, "hold CONFIRMED: its seats are sold"))
		}
	}
}

func holdState(h Hold) string {
	if !h.Found {
		return "unknown"
	}
	return string(h.Status)
}

// soldSeats returns a hold's seats not refunded, sorted.
func soldSeats(h Hold) []string {
	var out []string
	for _, s := range h.Seats {
		if !s.Refunded {
			out = append(out, s.ID)
		}
	}
	slices.Sort(out)
	return out
}

// moneyOf compares an order's money with its trades and refunds.
func (c *comparison) moneyOf(o *orders.Order) {
	ids := []string{"order=" + o.OrderNo}
	if Live(o) && o.Payment == nil {
		c.add(PaymentMissing, ids, says(SideOrders, "%s with no paying trade, paid_cents %d", o.Status, o.PaidCents))
	}
	if o.Payment != nil {
		tids := append(slices.Clone(ids), "trade="+o.Payment.OutTradeNo)
		if o.PaidCents != o.Payment.AmountCents {
			c.add(PaidAmountMismatch, tids, says(SideOrders, "paid_cents %d, its paying trade's amount %d", o.PaidCents, o.Payment.AmountCents))
		}
		switch t, ok := c.ix.trades[o.Payment.OutTradeNo]; {
		case !ok:
			c.add(TradeMissing, tids, says(SideOrders, "paid by %s", o.Payment.OutTradeNo), says(SidePay, "no such trade"))
		case t.State != pay.StatePaid:
			c.add(TradeNotPaid, tids, says(SideOrders, "paid by %s", o.Payment.OutTradeNo), says(SidePay, "trade %s", t.State))
		case t.AmountCents != o.PaidCents:
			c.add(PaidAmountMismatch, tids, says(SideOrders, "paid_cents %d", o.PaidCents), says(SidePay, "trade amount %d", t.AmountCents))
		}
		var sum int64
		for _, r := range o.Refunds {
			if r.Outcome == events.RefundSucceeded && r.OutTradeNo == o.Payment.OutTradeNo {
				sum += r.AmountCents
			}
		}
		if sum != o.RefundedCents {
			c.add(RefundedSumMismatch, ids, says(SideOrders, "refunded_cents %d, its payment's succeeded refunds sum to %d", o.RefundedCents, sum))
		}
		if most := max(sum, o.RefundedCents); most > o.PaidCents {
			c.add(RefundAbovePayment, ids, says(SideOrders, "refunded %d cents of %d paid", most, o.PaidCents))
		}
	} else if o.RefundedCents > o.PaidCents {
		c.add(RefundAbovePayment, ids, says(SideOrders, "refunded_cents %d, paid_cents %d", o.RefundedCents, o.PaidCents))
	}
	for _, d := range o.RefundsDue {
		if !d.Settled {
			c.add(RefundDueUnsettled, []string{"order=" + o.OrderNo, "trade=" + d.OutTradeNo},
				says(SideOrders, "%d of %d cents owed back since %s (%s)", d.AmountCents-d.RefundedCents, d.AmountCents,
					d.At.UTC().Format(time.RFC3339), d.Reason))
		}
	}
	for _, r := range o.Refunds {
		if r.Outcome != events.RefundSucceeded {
			continue
		}
		rids := []string{"order=" + o.OrderNo, "refund=" + r.OutRequestNo}
		switch pr, ok := c.ix.refunds[r.OutRequestNo]; {
		case !ok:
			c.add(RefundMissing, rids, says(SideOrders, "refund of %d cents succeeded", r.AmountCents), says(SidePay, "no such refund"))
		case pr.State != pay.RefundSucceeded:
			c.add(RefundStateMismatch, rids, says(SideOrders, "refund succeeded"), says(SidePay, "refund %s", pr.State))
		case pr.AmountCents != r.AmountCents:
			c.add(RefundAmountMismatch, rids, says(SideOrders, "refund of %d cents", r.AmountCents), says(SidePay, "refund of %d cents", pr.AmountCents))
		}
	}
}

// claim is a seat on a leg that a paid order, or a confirmed hold, has.
type claim struct {
	owners []string // "order=N" or "hold=N"
	// expect: seatd should sell it now (no confirm or release under way
	// makes its state move).
	expect bool
}

// seats compares seatd's sold seats with the paid orders' seats, and
// checks that no seat on a leg is sold twice.
func (c *comparison) seats() {
	byOrder := map[SeatLeg]*claim{}
	byHold := map[SeatLeg]*claim{}
	for i := range c.s.Orders {
		o := &c.s.Orders[i]
		if !Live(o) {
			continue
		}
		expect := o.Confirm != orders.ConfirmDue
		for _, r := range o.Refunds {
			expect = expect && r.Release != orders.ReleaseDue && r.Release != orders.ReleaseRefused
		}
		for _, id := range unrefunded(o) {
			for leg := o.From; leg < o.To; leg++ {
				k := SeatLeg{o.ProgramID, id, leg}
				cl := byOrder[k]
				if cl == nil {
					cl = &claim{}
					byOrder[k] = cl
				}
				cl.owners = append(cl.owners, "order="+o.OrderNo)
				cl.expect = cl.expect || expect
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(c.s.Holds)) {
		h := c.s.Holds[id]
		if !h.Found || h.Status != orders.HoldConfirmed {
			continue
		}
		for _, s := range soldSeats(h) {
			for leg := h.From; leg < h.To; leg++ {
				k := SeatLeg{h.ProgramID, s, leg}
				cl := byHold[k]
				if cl == nil {
					cl = &claim{}
					byHold[k] = cl
				}
				cl.owners = append(cl.owners, "hold="+h.ID, "order="+h.OrderNo)
			}
		}
	}
	for k, cl := range byOrder {
		if len(cl.owners) > 1 {
			slices.Sort(cl.owners)
			c.add(SeatSoldTwice, append(k.ids(), cl.owners...), says(SideOrders, "%d paid orders have it", len(cl.owners)))
		}
	}
	for k, cl := range byHold {
		if len(cl.owners) > 2 {
			c.add(SeatSoldTwice, append(k.ids(), cl.owners...), says(SideSeatd, "%d confirmed holds have it", len(cl.owners)/2))
		}
	}
	sold := map[SeatLeg]bool{}
	for _, k := range c.s.Sold {
		sold[k] = true
		if _, ok := byOrder[k]; ok {
			continue
		}
		ids := k.ids()
		if cl, ok := byHold[k]; ok {
			ids = append(ids, cl.owners...)
		}
		c.add(SeatSoldUnpaid, ids, says(SideSeatd, "sold"), says(SideOrders, "no paid order has it"))
	}
	read := map[string]bool{}
	for _, p := range c.s.Programs {
		read[p] = true
	}
	for k, cl := range byOrder {
		if cl.expect && read[k.Program] && !sold[k] {
			c.add(SeatNotSold, append(k.ids(), cl.owners...), says(SideOrders, "paid"), says(SideSeatd, "not sold"))
		}
	}
}

// trades checks the pay store's trades against the orders.
func (c *comparison) trades() {
	for i := range c.s.Trades {
		t := &c.s.Trades[i]
		ids := []string{"order=" + t.OrderNo, "trade=" + t.OutTradeNo}
		switch t.State {
		case pay.StateOpen, pay.StateClosing:
			if !c.s.At.Before(t.TimeExpire) {
				c.add(TradeOpenPastExpiry, ids, says(SidePay, "trade %s, its time_expire %s passed", t.State, t.TimeExpire.UTC().Format(time.RFC3339)))
			}
		case pay.StatePaid:
			o, ok := c.ix.orders[t.OrderNo]
			if !ok {
				c.add(OrderMissing, ids, says(SidePay, "trade PAID %d cents", t.AmountCents), says(SideOrders, "no such order"))
				continue
			}
			known := o.Payment != nil && o.Payment.OutTradeNo == t.OutTradeNo
			for _, d := range o.RefundsDue {
				known = known || d.OutTradeNo == t.OutTradeNo
			}
			if !known {
				c.add(TradeUnknownToOrder, ids, says(SidePay, "trade PAID %d cents", t.AmountCents),
					says(SideOrders, "%s, neither paid by it nor owing it back", o.Status))
			}
		}
	}
}

// refunds checks the pay store's refunds against the orders and their
// trades.
func (c *comparison) refunds() {
	refunded := map[string]int64{} // by out_trade_no: succeeded refunds' sum
	for i := range c.s.Refunds {
		r := &c.s.Refunds[i]
		ids := []string{"order=" + r.OrderNo, "refund=" + r.OutRequestNo}
		switch r.State {
		case pay.RefundRequested, pay.RefundProcessing:
			c.add(RefundPending, ids, says(SidePay, "refund %s since %s", r.State, r.At.UTC().Format(time.RFC3339)))
		case pay.RefundFailed:
			c.add(RefundFailed, ids, says(SidePay, "refund FAILED: %s", r.Reason))
		case pay.RefundSucceeded:
			refunded[r.OutTradeNo] += r.AmountCents
			o, ok := c.ix.orders[r.OrderNo]
			if !ok {
				c.add(OrderMissing, ids, says(SidePay, "refund SUCCEEDED %d cents", r.AmountCents), says(SideOrders, "no such order"))
				continue
			}
			if !slices.ContainsFunc(o.Refunds, func(x orders.Refund) bool {
				return x.OutRequestNo == r.OutRequestNo && x.Outcome == events.RefundSucceeded
			}) {
				c.add(RefundUnknownToOrder, ids, says(SidePay, "refund SUCCEEDED %d cents", r.AmountCents), says(SideOrders, "no such succeeded refund"))
			}
		}
	}
	for _, otn := range slices.Sorted(maps.Keys(refunded)) {
		if t, ok := c.ix.trades[otn]; ok && refunded[otn] > t.AmountCents {
			c.add(RefundAbovePayment, []string{"order=" + t.OrderNo, "trade=" + otn},
				says(SidePay, "refunds of %d cents succeeded of a trade of %d", refunded[otn], t.AmountCents))
		}
	}
}

// bills compares the available bills' lines with the PAID trades and
// the SUCCEEDED refunds.
func (c *comparison) bills() {
	billed := map[string]bool{} // channel/day of the available bills
	payLines := map[string]bool{}
	refundLines := map[string]bool{}
	for _, b := range c.s.Bills {
		if !b.Available {
			continue
		}
		billed[b.Channel+"/"+b.Day] = true
		for _, l := range b.Lines {
			bill := says(SideBill, "%s %s line of %d cents at %s", b.Channel, l.Kind, l.AmountCents, l.At.In(payment.CST).Format(time.RFC3339))
			switch l.Kind {
			case payment.BillPay:
				ids := []string{"bill=" + b.Channel + "/" + b.Day, "trade=" + l.OutTradeNo}
				if payLines[l.OutTradeNo] {
					c.add(BillLineTwice, ids, bill)
					continue
				}
				payLines[l.OutTradeNo] = true
				switch t, ok := c.ix.trades[l.OutTradeNo]; {
				case !ok || t.State != pay.StatePaid:
					c.add(BillPayUnknown, ids, bill, says(SidePay, "%s", tradeState(t, ok)))
				case t.Channel != b.Channel:
					c.add(BillChannelMismatch, ids, bill, says(SidePay, "a trade of %s", t.Channel))
				case t.AmountCents != l.AmountCents:
					c.add(BillPayAmount, ids, bill, says(SidePay, "trade PAID %d cents", t.AmountCents))
				}
			case payment.BillRefund:
				ids := []string{"bill=" + b.Channel + "/" + b.Day, "refund=" + l.OutRequestNo}
				if refundLines[l.OutRequestNo] {
					c.add(BillLineTwice, ids, bill)
					continue
				}
				refundLines[l.OutRequestNo] = true
				switch r, ok := c.ix.refunds[l.OutRequestNo]; {
				case !ok || r.State != pay.RefundSucceeded:
					c.add(BillRefundUnknown, ids, bill, says(SidePay, "%s", refundState(r, ok)))
				case r.Channel != b.Channel:
					c.add(BillChannelMismatch, ids, bill, says(SidePay, "a refund of %s", r.Channel))
				case r.AmountCents != l.AmountCents:
					c.add(BillRefundAmount, ids, bill, says(SidePay, "refund SUCCEEDED %d cents", r.AmountCents))
				}
			default:
				c.add(BillLineUnknown, []string{"bill=" + b.Channel + "/" + b.Day, "trade=" + l.OutTradeNo}, bill)
			}
		}
	}
	for i := range c.s.Trades {
		t := &c.s.Trades[i]
		day := t.Channel + "/" + t.PaidAt.In(payment.CST).Format(time.DateOnly)
		if t.State == pay.StatePaid && billed[day] && !payLines[t.OutTradeNo] {
			c.add(BillPayMissing, []string{"bill=" + day, "trade=" + t.OutTradeNo},
				says(SidePay, "trade PAID %d cents at %s", t.AmountCents, t.PaidAt.In(payment.CST).Format(time.RFC3339)), says(SideBill, "no line"))
		}
	}
	for i := range c.s.Refunds {
		r := &c.s.Refunds[i]
		day := r.Channel + "/" + r.At.In(payment.CST).Format(time.DateOnly)
		if r.State == pay.RefundSucceeded && billed[day] && !refundLines[r.OutRequestNo] {
			c.add(BillRefundMissing, []string{"bill=" + day, "refund=" + r.OutRequestNo},
				says(SidePay, "refund SUCCEEDED %d cents at %s", r.AmountCents, r.At.In(payment.CST).Format(time.RFC3339)), says(SideBill, "no line"))
		}
	}
}

func tradeState(t *pay.Trade, ok bool) string {
	if !ok {
		return "no such trade"
	}
	return "trade " + string(t.State)
}

func refundState(r *pay.Refund, ok bool) string {
	if !ok {
		return "no such refund"
	}
	return "refund " + string(r.State)
}
