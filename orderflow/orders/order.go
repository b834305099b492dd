// Package orders is the order service's store: one pebble database per
// owned partition of seat.holds, holding each order's latest record, a
// buyer's orders newest first, the dedupe high-water marks, the partition
// offset applied through, and the changes still to publish to the orders
// changelog.
//
// Determinism: what an event does to an order is a pure function of the
// order's record and the event (Order.apply and the transition tables
// below); no clocks, no randomness. The store adds only I/O.
//
// Concurrency: a Store has one writer, the goroutine that consumes its
// partition (Batch, Restore), and one publisher (Pending, Published);
// reads (Get, List, State) may come from any goroutine at any time.
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

// Status is where an order is in its life. The names are stable: they are
// the order shape's "status" (DESIGN 6.1).
type Status string

// Order statuses. PAID and REFUND_DUE come from pay.events; REFUNDED and
// PARTIALLY_REFUNDED from pay.events' refunds for a paid order, and from
// seat.holds' SeatsRefunded for one paid outside pay.events.
const (
	StatusNone           Status = "" // no order yet: only HoldPlaced applies
	StatusPendingPayment Status = "PENDING_PAYMENT"
	// StatusPaid: the payment succeeded, and its hold is confirmed in the
	// inventory or about to be (Order.Confirm says which). Never a PAID
	// order without its seats sold or a confirm under way.
	StatusPaid Status = "PAID"
	// StatusRefundDue: money came for seats that were not sold (the
	// payment came after the hold was released or expired, or the
	// inventory refused the confirm for that reason): the payment is owed
	// back, and Order.RefundsDue says for which trade. REFUNDED once the
	// pay service's RefundSucceeded covers it.
	StatusRefundDue         Status = "REFUND_DUE"
	StatusCancelled         Status = "CANCELLED"
	StatusExpired           Status = "EXPIRED"
	StatusRefunded          Status = "REFUNDED"
	StatusPartiallyRefunded Status = "PARTIALLY_REFUNDED"
)

// HoldStatus is the status of the order's hold in the inventory, as the
// hold shape names it.
type HoldStatus string

// Hold statuses (inventory.HoldStatus's names).
const (
	HoldNone      HoldStatus = ""
	HoldHeld      HoldStatus = "HELD"
	HoldConfirmed HoldStatus = "CONFIRMED"
	HoldReleased  HoldStatus = "RELEASED"
	HoldRefunded  HoldStatus = "REFUNDED"
)

// Input is what happened to an order, as the transition tables know it:
// an event's type refined by what decides the outcome (the release's
// reason, whether a refund leaves seats unrefunded).
type Input uint8

// Inputs. The numbers are not stored anywhere; names are for messages and
// metrics.
const (
	InputPlaced Input = iota + 1
	InputConfirmed
	InputCancelled    // HoldReleased, reason cancelled
	InputExpired      // HoldReleased, reason expired
	InputRefused      // HoldReleased, reason refused (payment closed or failed, an operator)
	InputRefundedPart // SeatsRefunded leaving seats unrefunded
	InputRefundedAll  // SeatsRefunded of the last seats
	InputPaid         // PaymentSucceeded
	// InputConfirmRefused is the inventory's refusal of the confirm of a
	// paid order (the hold was released or expired first): not an event
	// but the outcome of the order service's own call (Batch.ApplyResult).
	InputConfirmRefused
	InputMoneyRefundedPart // RefundSucceeded of the paying trade, leaving some of it paid
	InputMoneyRefundedAll  // RefundSucceeded of the paying trade covering every seat or every cent
	// InputNoted is an outcome that is recorded on the order and changes
	// no status: PaymentClosed, RefundFailed, a refund of a trade that
	// did not pay the order (one owed back), a seat call's success.
	InputNoted
)

var inputNames = [...]string{"", "placed", "confirmed", "cancelled", "expired", "refused", "refunded_part", "refunded_all", "paid",
	"confirm_refused", "money_refunded_part", "money_refunded_all", "noted"}

func (in Input) String() string {
	if int(in) < len(inputNames) {
		return inputNames[in]
	}
	return "input(" + strconv.Itoa(int(in)) + ")"
}

// orderTransitions is the order state machine: from a status, on an
// input, the next status. A pair missing from it is an illegal
// transition: counted and logged by the consumer, and the order is left
// as it is. InputNoted is legal from every status of an existing order
// and changes none (Order.applyPay).
//
// Two topics tell an order's story, and they are read independently, so
// each input may come before or after the other topic's: a payment may
// come after its hold expired (CANCELLED/EXPIRED -> REFUND_DUE), a hold's
// release after its payment (PAID -> REFUND_DUE: the confirm can only
// be refused now), a HoldConfirmed after a refund (REFUNDED stays). On a
// paid order, money decides the status (RefundSucceeded) and
// SeatsRefunded only follows the seats (refunded_part/all leave it); on
// an order paid outside pay.events, SeatsRefunded decides as before.
var orderTransitions = map[Status]map[Input]Status{
	StatusNone: {InputPlaced: StatusPendingPayment},
	StatusPendingPayment: {
		InputConfirmed: StatusPendingPayment, // seats sold; the order is PAID when the payment says so
		InputCancelled: StatusCancelled, InputExpired: StatusExpired, InputRefused: StatusCancelled,
		InputPaid:         StatusPaid,
		InputRefundedPart: StatusPartiallyRefunded, InputRefundedAll: StatusRefunded,
	},
	StatusPaid: {
		InputConfirmed: StatusPaid,
		InputCancelled: StatusRefundDue, InputExpired: StatusRefundDue, InputRefused: StatusRefundDue,
		InputConfirmRefused: StatusRefundDue,
		InputPaid:           StatusPaid, // a second trade paid: owed back, the order stays paid
		InputRefundedPart:   StatusPaid, InputRefundedAll: StatusPaid,
		InputMoneyRefundedPart: StatusPartiallyRefunded, InputMoneyRefundedAll: StatusRefunded,
	},
	StatusCancelled: {InputPaid: StatusRefundDue},
	StatusExpired:   {InputPaid: StatusRefundDue},
	StatusRefundDue: {
		InputCancelled: StatusRefundDue, InputExpired: StatusRefundDue, InputRefused: StatusRefundDue,
		InputConfirmRefused: StatusRefundDue, InputPaid: StatusRefundDue,
		InputMoneyRefundedPart: StatusRefundDue, InputMoneyRefundedAll: StatusRefunded,
	},
	StatusPartiallyRefunded: {
		InputConfirmed:    StatusPartiallyRefunded,
		InputRefundedPart: StatusPartiallyRefunded, InputRefundedAll: StatusRefunded,
		InputPaid:              StatusPartiallyRefunded,
		InputMoneyRefundedPart: StatusPartiallyRefunded, InputMoneyRefundedAll: StatusRefunded,
	},
	StatusRefunded: {
		InputConfirmed: StatusRefunded, InputRefundedPart: StatusRefunded, InputRefundedAll: StatusRefunded,
		InputCancelled: StatusRefunded, InputExpired: StatusRefunded, InputRefused: StatusRefunded,
		InputConfirmRefused: StatusRefunded, InputPaid: StatusRefunded,
	},
}

// paidStatus refines the status a SeatsRefunded moves an order to: on an
// order paid through pay.events the money decides (RefundSucceeded), so
// the seats coming back leave the status as it is.
func paidStatus(o *Order, in Input, next Status) Status {
	if o.Payment != nil && (in == InputRefundedPart || in == InputRefundedAll) {
		return o.Status
	}
	return next
}

// holdTransitions is the hold's state machine, as the inventory runs it:
// a seat.holds transition must be legal in both tables. The pay inputs
// leave the hold as it is and are not in it: the hold changes only by
// seat.holds' events.
var holdTransitions = map[HoldStatus]map[Input]HoldStatus{
	HoldNone: {InputPlaced: HoldHeld},
	HoldHeld: {
		InputConfirmed: HoldConfirmed, InputCancelled: HoldReleased, InputExpired: HoldReleased, InputRefused: HoldReleased,
	},
	HoldConfirmed: {InputRefundedPart: HoldConfirmed, InputRefundedAll: HoldRefunded},
}

// Seat is one seat of an order, with what it cost.
type Seat struct {
	ID         string `json:"id"` // "section/row/col"
	Label      string `json:"label"`
	Category   string `json:"category"`
	PriceCents int64  `json:"price_cents"`
}

// Source is the event that last changed an order, and where it was read:
// what a rebuild from the changelog needs to restore the dedupe marks and
// the partition offset (see Store.Restore).
type Source struct {
	// Cluster is the seatd cluster whose event it was: an event id is
	// unique within one cluster only.
	Cluster   string `json:"cluster,omitempty"`
	EventID   string `json:"event_id"` // "group-seq"
	Group     int    `json:"group"`
	Seq       uint64 `json:"seq"`
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
}

// Order is an order's record: DESIGN 6.1's order shape, plus the leg
// range, the hold's status, the release reason, the refunded seats, the
// record's version and the event that last changed it. It is stored and
// published to the orders changelog as this JSON. Ids are decimal
// strings, times RFC 3339 UTC, money integer cents.
type Order struct {
	OrderNo   string `json:"order_no"`
	HoldID    string `json:"hold_id"`
	ProgramID string `json:"program_id"`
	UserID    string `json:"user_id"`
	Status    Status `json:"status"`
	Seats     []Seat `json:"seats"`
	// TotalCents is what the seats cost; PaidCents what the paying trade
	// paid (pay.events); RefundedCents what was refunded of it (never
	// above PaidCents), or, for an order paid outside pay.events, what
	// the inventory's refunds of its seats cost.
	TotalCents    int64     `json:"total_cents"`
	PaidCents     int64     `json:"paid_cents"`
	RefundedCents int64     `json:"refunded_cents"`
	CreatedAt     time.Time `json:"created_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	// From and To are the leg range [from, to) as stop indexes, with the
	// stops' names.
	From     int    `json:"from"`
	To       int    `json:"to"`
	FromStop string `json:"from_stop"`
	ToStop   string `json:"to_stop"`
	// Reason is why the hold was released: cancelled, expired, refused.
	Reason          string     `json:"reason,omitempty"`
	HoldStatus      HoldStatus `json:"hold_status"`
	RefundedSeatIDs []string   `json:"refunded_seat_ids,omitempty"`
	// UpdatedAt is the time of the last change: the event's own stamp
	// (the Raft leader's), never this service's clock.
	UpdatedAt time.Time `json:"updated_at"`
	// Version is 1 when the order is placed and grows by one with each
	// change.
	Version uint64 `json:"version"`
	// LastEvent is the seat.holds event that last changed the order (the
	// dedupe's second line and a rebuild's marks rest on it).
	LastEvent Source `json:"last_event"`

	// The payment side (pay.events; see pay.go).
	Payment *Trade `json:"payment,omitempty"` // the trade that paid the order
	// Confirm is where the inventory's confirm of the paid hold stands.
	Confirm ConfirmStatus `json:"confirm,omitempty"`
	// Trades are the trades' outcomes, in the order applied.
	Trades []Trade `json:"trades,omitempty"`
	// Refunds are the refunds' outcomes, each with its seats' release in
	// the inventory.
	Refunds []Refund `json:"refunds,omitempty"`
	// RefundsDue are trades whose money must go back: see RefundDue.
	RefundsDue []RefundDue `json:"refunds_due,omitempty"`
	// PayEventIDs are the pay.events ids applied to the order (at most
	// MaxPayEvents): a pay event is applied once by its id.
	PayEventIDs []string `json:"pay_event_ids,omitempty"`
	// LastPayEvent is the pay.events event that last changed the order.
	LastPayEvent *Source `json:"last_pay_event,omitempty"`
	// Offsets are where the partition's two consumers stood when this
	// change was made: what a rebuild restores them from (Rebuild).
	Offsets *Offsets `json:"offsets,omitempty"`
}

// Offsets are the last offsets of seat.holds and pay.events a partition
// had applied (-1: none) at a change.
type Offsets struct {
	Holds int64 `json:"seat.holds"`
	Pay   int64 `json:"pay.events"`
}

// Number returns the order number.
func (o *Order) Number() (inventory.OrderNo, error) {
	n, err := strconv.ParseUint(o.OrderNo, 10, 64)
	return inventory.OrderNo(n), err
}

// User returns the buyer's user id.
func (o *Order) User() (uint64, error) { return strconv.ParseUint(o.UserID, 10, 64) }

// Outcome is what applying an event did.
type Outcome uint8

// Outcomes of applying one event.
const (
	Applied   Outcome = iota + 1 // the order changed
	Duplicate                    // seen before (by the group's high-water mark or the order's last event): nothing changed
	Illegal                      // not a legal transition from the order's status: nothing changed
	// Stale is a seat call's outcome for a call no longer due (the event
	// that made it unnecessary came first, or it was recorded already):
	// nothing changed.
	Stale
)

// ErrNotFound is an order this store does not have.
var ErrNotFound = errors.New("orders: not found")

// inputOf refines an event into the transition tables' input, given the
// order it applies to (a refund is "all" when it leaves no seat
// unrefunded).
func inputOf(o *Order, ev *events.HoldEvent) (Input, error) {
	switch ev.Type {
	case events.HoldPlaced:
		return InputPlaced, nil
	case events.HoldConfirmed:
		return InputConfirmed, nil
	case events.HoldReleased:
		switch ev.Reason {
		case "cancelled":
			return InputCancelled, nil
		case "expired":
			return InputExpired, nil
		case "refused":
			return InputRefused, nil
		}
		return 0, fmt.Errorf("orders: release reason %q", ev.Reason)
	case events.SeatsRefunded:
		if len(o.Seats) > 0 && len(mergeSeatIDs(o.RefundedSeatIDs, ev.Seats)) == len(o.Seats) {
			return InputRefundedAll, nil
		}
		return InputRefundedPart, nil
	}
	return 0, fmt.Errorf("orders: event type %q", ev.Type)
}

// mergeSeatIDs returns the refunded seat ids after a refund of seats,
// sorted, each once.
func mergeSeatIDs(refunded []string, seats []events.Seat) []string {
	out := slices.Clone(refunded)
	for _, s := range seats {
		if !slices.Contains(out, s.ID) {
			out = append(out, s.ID)
		}
	}
	slices.Sort(out)
	return out
}

// apply applies ev, read at src, to o (the zero Order for a number not
// seen before). It returns Illegal, leaving o as it was, when the
// transition tables do not allow it, with the input for the message.
// Dedupe is the caller's (Batch.Apply).
func (o *Order) apply(ev *events.HoldEvent, src Source) (Outcome, Input, error) {
	in, err := inputOf(o, ev)
	if err != nil {
		return Illegal, 0, err
	}
	next, ok := orderTransitions[o.Status][in]
	hold, hok := holdTransitions[o.HoldStatus][in]
	if !ok || !hok {
		return Illegal, in, nil
	}
	next = paidStatus(o, in, next)
	switch in {
	case InputPlaced:
		*o = Order{
			OrderNo: ev.OrderNo, HoldID: ev.HoldID, ProgramID: ev.ProgramID, UserID: ev.UserID,
			Seats: make([]Seat, len(ev.Seats)), TotalCents: ev.TotalCents, CreatedAt: ev.At,
			From: ev.From, To: ev.To, FromStop: ev.FromStop, ToStop: ev.ToStop,
		}
		for i, s := range ev.Seats {
			o.Seats[i] = Seat(s)
		}
		if ev.ExpiresAt != nil {
			o.ExpiresAt = *ev.ExpiresAt
		}
	case InputConfirmed:
		if o.Confirm == ConfirmDue {
			// The inventory says the hold is confirmed: the call due is
			// done (a call under way answers ok, and is stale).
			o.Confirm = ConfirmDone
		}
	case InputCancelled, InputExpired, InputRefused:
		o.Reason = ev.Reason
		if o.Payment != nil && o.Confirm != ConfirmDone {
			// Paid, and the hold went first: the confirm can only be
			// refused now, and the payment is owed back.
			o.Confirm = ConfirmRefused
			o.owe(o.Payment, "hold_"+ev.Reason, ev.At)
		}
	case InputRefundedPart, InputRefundedAll:
		if o.Payment == nil {
			o.RefundedCents += ev.AmountCents
		}
		o.RefundedSeatIDs = mergeSeatIDs(o.RefundedSeatIDs, ev.Seats)
	}
	o.Status, o.HoldStatus = next, hold
	o.UpdatedAt = ev.At
	o.Version++
	o.LastEvent = src
	return Applied, in, nil
}
