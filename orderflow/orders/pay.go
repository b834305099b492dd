package orders

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"seatd/inventory"
	"seatd/orderflow/events"
)

// MaxPayEvents bounds the pay.events ids an order keeps to apply each
// once (Order.PayEventIDs), and so its trades and refunds. An order sees
// one outcome per payment attempt and per refund: 128 is dozens of
// attempts and every seat of a hold (inventory's MaxSeatsPerHold is at
// most 64) refunded one by one. Past it, a pay event is skipped and
// counted (ErrTooManyPayEvents), never applied without its dedupe.
const MaxPayEvents = 128

// Errors of Batch.ApplyPay.
var (
	// ErrOrderUnknown is a pay event of an order the store does not have
	// yet: its HoldPlaced (on seat.holds, read apart) is not applied yet.
	// The consumer keeps the event, and pay.events' offset stays before
	// it, until the order exists.
	ErrOrderUnknown = errors.New("orders: pay event of an order not placed yet")
	// ErrTooManyPayEvents is a pay event of an order that applied
	// MaxPayEvents already: skipped and counted.
	ErrTooManyPayEvents = errors.New("orders: order has applied its maximum of pay events")
)

// ConfirmStatus is where the inventory's confirm of a paid order's hold
// stands.
type ConfirmStatus string

// Confirm statuses.
const (
	ConfirmNone ConfirmStatus = ""
	// ConfirmDue: the order is PAID and the confirm is recorded as a seat
	// call (Task) in the same batch; the partition's confirmer makes it.
	ConfirmDue ConfirmStatus = "DUE"
	// ConfirmDone: the inventory confirmed the hold (its answer, or its
	// HoldConfirmed event, whichever came first).
	ConfirmDone ConfirmStatus = "DONE"
	// ConfirmRefused: the hold was released or expired first; the payment
	// is owed back (a RefundDue).
	ConfirmRefused ConfirmStatus = "REFUSED"
)

// ReleaseStatus is where the inventory's release of a refund's seats
// stands (seatd's Refund call).
type ReleaseStatus string

// Release statuses of a Refund.
const (
	ReleaseNone    ReleaseStatus = ""        // nothing to release: the seats were never sold, or the refund failed
	ReleaseDue     ReleaseStatus = "DUE"     // a seat call (Task) is recorded
	ReleaseDone    ReleaseStatus = "DONE"    // the inventory took the seats back
	ReleaseRefused ReleaseStatus = "REFUSED" // the inventory refused (Refund.Detail says why): logged and counted
)

// Trade is one payment attempt's outcome.
type Trade struct {
	OutTradeNo  string      `json:"out_trade_no"`
	Channel     string      `json:"channel"`
	TradeNo     string      `json:"trade_no,omitempty"`
	Outcome     events.Type `json:"outcome"` // PaymentSucceeded or PaymentClosed
	AmountCents int64       `json:"amount_cents,omitempty"`
	Reason      string      `json:"reason,omitempty"`
	At          time.Time   `json:"at"`
}

// Refund is one refund's outcome, and its seats' release in the
// inventory.
type Refund struct {
	OutRequestNo string      `json:"out_request_no"`
	OutTradeNo   string      `json:"out_trade_no"`
	Outcome      events.Type `json:"outcome"` // RefundSucceeded or RefundFailed
	AmountCents  int64       `json:"amount_cents"`
	// SeatIDs are the refund's seats: for a refund of every seat, the
	// seats not refunded before, named, so that the release is exact.
	SeatIDs []string      `json:"seat_ids,omitempty"`
	Reason  string        `json:"reason,omitempty"`
	At      time.Time     `json:"at"`
	Release ReleaseStatus `json:"release,omitempty"`
	Detail  string        `json:"detail,omitempty"` // the inventory's refusal
}

// RefundDue is a trade whose money must go back because no seats were
// sold for it: the order's payment came after its hold was released or
// expired (Reason "hold_expired", "hold_cancelled", "hold_refused"), or
// the inventory refused the confirm for that reason ("confirm_refused"),
// or it is a second trade that succeeded for an order already paid
// ("second_payment"), or a payment of another amount than the order's
// total ("amount_mismatch"). The pay service refunds it (Store.RefundsDue lists
// them) and its RefundSucceeded settles it.
type RefundDue struct {
	OutTradeNo    string    `json:"out_trade_no"`
	Channel       string    `json:"channel"`
	TradeNo       string    `json:"trade_no,omitempty"`
	AmountCents   int64     `json:"amount_cents"`
	Reason        string    `json:"reason"`
	At            time.Time `json:"at"` // when it became due (the stamp of the event that made it)
	RefundedCents int64     `json:"refunded_cents,omitempty"`
	Settled       bool      `json:"settled,omitempty"` // refunded in full
}

// owe records that a trade's money is owed back, once per trade.
func (o *Order) owe(t *Trade, reason string, at time.Time) {
	for _, d := range o.RefundsDue {
		if d.OutTradeNo == t.OutTradeNo {
			return
		}
	}
	o.RefundsDue = append(slices.Clip(o.RefundsDue), RefundDue{OutTradeNo: t.OutTradeNo, Channel: t.Channel, TradeNo: t.TradeNo,
		AmountCents: t.AmountCents, Reason: reason, At: at})
}

// refundedSeats returns the seats the succeeded refunds of the paying
// trade cover, sorted.
func (o *Order) refundedSeats() []string {
	var out []string
	for _, r := range o.Refunds {
		if r.Outcome == events.RefundSucceeded && o.Payment != nil && r.OutTradeNo == o.Payment.OutTradeNo {
			for _, s := range r.SeatIDs {
				if !slices.Contains(out, s) {
					out = append(out, s)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// applyPay applies a pay event to an existing order (o.Version > 0).
// Dedupe is the caller's (Batch.ApplyPay); the id is recorded here.
func (o *Order) applyPay(ev *events.PayEvent, src Source) (Outcome, Input) {
	next := *o
	next.Trades, next.Refunds, next.RefundsDue = slices.Clone(o.Trades), slices.Clone(o.Refunds), slices.Clone(o.RefundsDue)
	in := InputNoted
	switch ev.Type {
	case events.PaymentSucceeded:
		in = InputPaid
		t := Trade{OutTradeNo: ev.OutTradeNo, Channel: ev.Channel, TradeNo: ev.TradeNo, Outcome: ev.Type, AmountCents: ev.AmountCents, At: ev.At}
		status, ok := orderTransitions[o.Status][in]
		if !ok {
			return Illegal, in
		}
		next.Trades = append(next.Trades, t)
		switch {
		case o.Payment == nil && status == StatusPaid && ev.AmountCents != o.TotalCents:
			// Money that is not the order's price pays nothing: the pay
			// service checks every amount against its trade, made for the
			// order's total, so only a fault gets here. It is owed back,
			// and the order still waits for its payment.
			next.owe(&t, "amount_mismatch", ev.At)
			status = o.Status
		case o.Payment == nil && status == StatusPaid:
			next.Payment, next.PaidCents = &t, ev.AmountCents
			next.Confirm = ConfirmDue
			if o.HoldStatus == HoldConfirmed {
				next.Confirm = ConfirmDone // confirmed before the payment came: nothing to call
			}
		case o.Payment == nil:
			// Late: the hold was released before the payment came.
			next.Payment, next.PaidCents = &t, ev.AmountCents
			next.owe(&t, "hold_"+o.Reason, ev.At)
		default:
			next.owe(&t, "second_payment", ev.At)
		}
		next.Status = status
	case events.PaymentClosed:
		next.Trades = append(next.Trades, Trade{OutTradeNo: ev.OutTradeNo, Channel: ev.Channel, TradeNo: ev.TradeNo,
			Outcome: ev.Type, Reason: ev.Reason, At: ev.At})
	case events.RefundFailed:
		next.Refunds = append(next.Refunds, Refund{OutRequestNo: ev.OutRequestNo, OutTradeNo: ev.OutTradeNo, Outcome: ev.Type,
			AmountCents: ev.AmountCents, SeatIDs: ev.SeatIDs, Reason: ev.Reason, At: ev.At})
	case events.RefundSucceeded:
		r := Refund{OutRequestNo: ev.OutRequestNo, OutTradeNo: ev.OutTradeNo, Outcome: ev.Type,
			AmountCents: ev.AmountCents, Reason: ev.Reason, At: ev.At}
		for i := range next.RefundsDue {
			if d := &next.RefundsDue[i]; d.OutTradeNo == ev.OutTradeNo && !d.Settled {
				d.RefundedCents += ev.AmountCents
				d.Settled = d.RefundedCents >= d.AmountCents
			}
		}
		if o.Payment != nil && ev.OutTradeNo == o.Payment.OutTradeNo {
			// A refund of the paying trade: money back, and the seats it
			// names go back to the inventory if they were sold.
			sold := o.Status == StatusPaid || o.Status == StatusPartiallyRefunded
			before := o.refundedSeats()
			switch {
			case !sold:
				// The payment bought no seats (its hold was released, or
				// lapsed before the confirm): it is owed back as money
				// alone, and the refund names no seat, whatever it says.
			case len(ev.SeatIDs) == 0:
				for _, s := range o.Seats {
					if !slices.Contains(before, s.ID) {
						r.SeatIDs = append(r.SeatIDs, s.ID)
					}
				}
			default:
				r.SeatIDs = slices.Clone(ev.SeatIDs)
			}
			next.RefundedCents = min(o.PaidCents, o.RefundedCents+ev.AmountCents)
			next.Refunds = append(next.Refunds, r)
			in = InputMoneyRefundedPart
			if next.RefundedCents >= next.PaidCents || len(next.refundedSeats()) >= len(o.Seats) {
				in = InputMoneyRefundedAll
			}
			status, ok := orderTransitions[o.Status][in]
			if !ok {
				return Illegal, in
			}
			if sold && len(r.SeatIDs) > 0 {
				next.Refunds[len(next.Refunds)-1].Release = ReleaseDue
			}
			next.Status = status
		} else {
			next.Refunds = append(next.Refunds, r) // of a trade owed back: money only
		}
	default:
		return Illegal, 0
	}
	next.PayEventIDs = append(slices.Clone(o.PayEventIDs), ev.ID)
	next.UpdatedAt = ev.At
	next.Version++
	s := src
	next.LastPayEvent = &s
	*o = next
	return Applied, in
}

// TaskKind is what a seat call does.
type TaskKind byte

// Task kinds; the byte is part of the task's key, and confirms sort
// before refunds, so an order's confirm is made before its seats are
// released.
const (
	TaskConfirm TaskKind = 'c' // seatd Confirm of the order's hold
	TaskRelease TaskKind = 'r' // seatd Refund of a refund's seats
)

func (k TaskKind) String() string {
	if k == TaskConfirm {
		return "confirm"
	}
	return "release"
}

// Task is a seat call due: a side effect of an applied event on the
// inventory, recorded in the batch that applied it and made afterwards
// by the partition's confirmer, retried until the inventory answers;
// Batch.ApplyResult records the answer and ends it. Tasks are derived
// from the order's record (Order.Confirm, Refund.Release), so a rebuild
// restores them.
type Task struct {
	OrderNo inventory.OrderNo
	Kind    TaskKind
	Index   int // TaskRelease: the refund's index in Order.Refunds
	HoldID  int64
	SeatIDs []string // TaskRelease: the seats to release
}

// Key identifies the task within its store (a map key for callers).
func (t Task) Key() string { return string(taskKey(t.OrderNo, t.Kind, t.Index)) }

// tasks returns the seat calls due of an order.
func (o *Order) tasks() []Task {
	no, err := o.Number()
	if err != nil {
		return nil
	}
	hold, _ := strconv.ParseInt(o.HoldID, 10, 64)
	var out []Task
	if o.Confirm == ConfirmDue {
		out = append(out, Task{OrderNo: no, Kind: TaskConfirm, HoldID: hold})
	}
	for i, r := range o.Refunds {
		if r.Release == ReleaseDue {
			out = append(out, Task{OrderNo: no, Kind: TaskRelease, Index: i, HoldID: hold, SeatIDs: r.SeatIDs})
		}
	}
	return out
}

// Result is the inventory's final answer to a seat call.
type Result struct {
	// Refused: the inventory will not do it, and Code (its stable code
	// name, e.g. hold_expired) says why; otherwise it is done (a repeat's
	// "already" answer counts as done).
	Refused bool
	Code    string
}

// applyResult records the answer to task t, stamped at (the service's
// clock: the answer is not an event). Stale when t is not due any more.
func (o *Order) applyResult(t Task, res Result, at time.Time) (Outcome, Input) {
	next := *o
	in := InputNoted
	switch t.Kind {
	case TaskConfirm:
		if o.Confirm != ConfirmDue {
			return Stale, 0
		}
		if !res.Refused {
			next.Confirm = ConfirmDone
			break
		}
		in = InputConfirmRefused
		status, ok := orderTransitions[o.Status][in]
		if !ok {
			return Illegal, in
		}
		next.Confirm, next.Status = ConfirmRefused, status
		next.RefundsDue = slices.Clone(o.RefundsDue)
		next.owe(o.Payment, "confirm_refused", at)
	case TaskRelease:
		if t.Index >= len(o.Refunds) || o.Refunds[t.Index].Release != ReleaseDue {
			return Stale, 0
		}
		next.Refunds = slices.Clone(o.Refunds)
		next.Refunds[t.Index].Release = ReleaseDone
		if res.Refused {
			next.Refunds[t.Index].Release, next.Refunds[t.Index].Detail = ReleaseRefused, res.Code
		}
	default:
		panic(fmt.Sprintf("orders: task kind %q", t.Kind))
	}
	next.UpdatedAt = at
	next.Version++
	*o = next
	return Applied, in
}

// dues returns the refunds due of an order not settled yet.
func (o *Order) dues() []RefundDue {
	var out []RefundDue
	for _, d := range o.RefundsDue {
		if !d.Settled {
			out = append(out, d)
		}
	}
	return out
}
