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

// Order statuses. PAID comes from pay.events (the payment service, next).
const (
	StatusNone              Status = "" // no order yet: only HoldPlaced applies
	StatusPendingPayment    Status = "PENDING_PAYMENT"
	StatusPaid              Status = "PAID"
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
	InputCancelled // HoldReleased, reason cancelled
	InputExpired   // HoldReleased, reason expired
	InputRefused   // HoldReleased, reason refused (payment closed or failed, an operator)
	InputRefundedPart
	InputRefundedAll
	InputPaid // PaymentSucceeded from pay.events: not consumed yet (next issue)
)

var inputNames = [...]string{"", "placed", "confirmed", "cancelled", "expired", "refused", "refunded_part", "refunded_all", "paid"}

func (in Input) String() string {
	if int(in) < len(inputNames) {
		return inputNames[in]
	}
	return "input(" + strconv.Itoa(int(in)) + ")"
}

// orderTransitions is the order state machine: from a status, on an
// input, the next status. A pair missing from it is an illegal
// transition: counted and logged by the consumer, and the order is left
// as it is. A refund may come to an order still PENDING_PAYMENT because
// PAID comes from pay.events, which this service does not consume yet;
// holdTransitions makes sure its hold was confirmed.
var orderTransitions = map[Status]map[Input]Status{
	StatusNone: {InputPlaced: StatusPendingPayment},
	StatusPendingPayment: {
		InputConfirmed: StatusPendingPayment, // seats sold; the order is PAID when the payment says so
		InputCancelled: StatusCancelled, InputExpired: StatusExpired, InputRefused: StatusCancelled,
		InputPaid:         StatusPaid,
		InputRefundedPart: StatusPartiallyRefunded, InputRefundedAll: StatusRefunded,
	},
	StatusPaid: {
		InputConfirmed:    StatusPaid,
		InputRefundedPart: StatusPartiallyRefunded, InputRefundedAll: StatusRefunded,
	},
	StatusPartiallyRefunded: {InputRefundedPart: StatusPartiallyRefunded, InputRefundedAll: StatusRefunded},
}

// holdTransitions is the hold's state machine, as the inventory runs it:
// a transition must be legal in both tables.
var holdTransitions = map[HoldStatus]map[Input]HoldStatus{
	HoldNone: {InputPlaced: HoldHeld},
	HoldHeld: {
		InputConfirmed: HoldConfirmed, InputCancelled: HoldReleased, InputExpired: HoldReleased, InputRefused: HoldReleased,
		InputPaid: HoldHeld,
	},
	HoldConfirmed: {InputPaid: HoldConfirmed, InputRefundedPart: HoldConfirmed, InputRefundedAll: HoldRefunded},
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
	// TotalCents is what the seats cost; PaidCents what was paid (pay.events,
	// next issue); RefundedCents what was refunded.
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
	Version   uint64 `json:"version"`
	LastEvent Source `json:"last_event"`
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
	case InputCancelled, InputExpired, InputRefused:
		o.Reason = ev.Reason
	case InputRefundedPart, InputRefundedAll:
		o.RefundedCents += ev.AmountCents
		o.RefundedSeatIDs = mergeSeatIDs(o.RefundedSeatIDs, ev.Seats)
	}
	o.Status, o.HoldStatus = next, hold
	o.UpdatedAt = ev.At
	o.Version++
	o.LastEvent = src
	return Applied, in, nil
}
