// Package events is the schema of what the order flow says on Kafka: the
// topics, the hold events of seat.holds as seatd's outbox relay publishes
// them, and where each message goes (its partition, from the gene of its
// order number). docs/events.md is its description for consumers.
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"seatd/inventory"
)

// Topics.
const (
	// TopicHolds carries every hold transition of every group, keyed by
	// order number.
	TopicHolds = "seat.holds"
	// TopicOrders is the order service's compacted changelog: the latest
	// state of each order, keyed by order number.
	TopicOrders = "orders"
)

// Version is the schema version this package writes. A consumer reads any
// version up to its own and ignores fields it does not know; a change
// that removes or redefines a field takes a new version.
const Version = 1

// Type names what happened to a hold.
type Type string

// Event types of seat.holds (inventory.EventKind's names).
const (
	HoldPlaced    Type = "HoldPlaced"
	HoldConfirmed Type = "HoldConfirmed"
	HoldReleased  Type = "HoldReleased"
	SeatsRefunded Type = "SeatsRefunded"
)

// Seat is one seat of an event, with what it costs.
type Seat struct {
	ID         string `json:"id"` // "section/row/col", stable for the program's life
	Label      string `json:"label"`
	Category   string `json:"category"`
	PriceCents int64  `json:"price_cents"`
}

// HoldEvent is one message of seat.holds. Ids that are 64-bit numbers are
// decimal strings, as in the HTTP API; times are RFC 3339 in UTC with
// nanoseconds; money is integer cents.
type HoldEvent struct {
	Version int `json:"version"`
	// Cluster is the seatd cluster's id (32 hex digits, named once when
	// the cluster is formed). Hold ids, order numbers and seqs are unique
	// within one cluster only: a consumer that meets a second cluster's
	// events on the same topic must not take them for the first one's.
	Cluster string `json:"cluster"`
	// ID is "group-seq": unique within the cluster, and the order in which
	// one group's events happened. Consumers apply an event once by it.
	ID    string `json:"id"`
	Group int    `json:"group"`
	Seq   uint64 `json:"seq"`
	Type  Type   `json:"type"`
	// At is when the hold changed: the Raft leader's stamp of the command.
	At        time.Time `json:"at"`
	OrderNo   string    `json:"order_no"`
	HoldID    string    `json:"hold_id"`
	ProgramID string    `json:"program_id"`
	UserID    string    `json:"user_id"`
	// From and To are the leg range [from, to) as stop indexes, with the
	// stops' names.
	From     int    `json:"from"`
	To       int    `json:"to"`
	FromStop string `json:"from_stop"`
	ToStop   string `json:"to_stop"`
	// Seats: HoldPlaced, every seat of the hold; SeatsRefunded, the seats
	// refunded; absent otherwise.
	Seats []Seat `json:"seats,omitempty"`
	// TotalCents (HoldPlaced) is what the hold costs.
	TotalCents int64 `json:"total_cents,omitempty"`
	// ExpiresAt (HoldPlaced) is when the hold lapses unless paid.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Reason (HoldReleased): "cancelled" by the buyer, "expired" unpaid,
	// "refused" by the system (payment closed or failed, an operator).
	Reason string `json:"reason,omitempty"`
	// AmountCents (SeatsRefunded) is what the refunded seats cost.
	AmountCents int64 `json:"amount_cents,omitempty"`
}

// EventID returns an event's id, "group-seq".
func EventID(group int, seq uint64) string {
	return strconv.Itoa(group) + "-" + strconv.FormatUint(seq, 10)
}

// FromOutbox describes an outbox event of a cluster's group as it goes on
// Kafka.
func FromOutbox(cluster string, group int, ev *inventory.Event) HoldEvent {
	p := ev.Program
	out := HoldEvent{
		Version: Version, Cluster: cluster, ID: EventID(group, ev.Seq), Group: group, Seq: ev.Seq, Type: Type(ev.Kind.String()),
		At:      time.Unix(0, ev.At).UTC(),
		OrderNo: strconv.FormatUint(uint64(ev.OrderNo), 10), HoldID: strconv.FormatUint(uint64(ev.Hold), 10),
		ProgramID: p.ID(), UserID: strconv.FormatUint(ev.User, 10),
		From: ev.From, To: ev.To, FromStop: p.Stop(ev.From), ToStop: p.Stop(ev.To),
	}
	if len(ev.Seats) > 0 {
		out.Seats = make([]Seat, len(ev.Seats))
		for i, s := range ev.Seats {
			si := p.Seat(s)
			out.Seats[i] = Seat{ID: si.ID, Label: si.Label, Category: si.Category, PriceCents: si.PriceCents}
		}
	}
	switch ev.Kind {
	case inventory.EventHoldPlaced:
		out.TotalCents = ev.AmountCents
		exp := time.Unix(0, ev.ExpiresAt).UTC()
		out.ExpiresAt = &exp
	case inventory.EventHoldReleased:
		out.Reason = ev.Reason.String()
	case inventory.EventSeatsRefunded:
		out.AmountCents = ev.AmountCents
	}
	return out
}

// Errors of Decode.
var (
	ErrMalformed = errors.New("events: malformed event")
	ErrVersion   = errors.New("events: newer schema version")
	// ErrUnknownType is an event type this reader does not know, from a
	// newer writer of the same version: consumers skip it and count it.
	ErrUnknownType = errors.New("events: unknown event type")
)

// Decode reads a seat.holds message's value. Unknown fields are ignored;
// a newer version than Version, or an event without the fields every
// event has, is an error.
func Decode(b []byte) (HoldEvent, error) {
	var ev HoldEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		return ev, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if ev.Version > Version {
		return ev, fmt.Errorf("%w: %d, this reader knows %d", ErrVersion, ev.Version, Version)
	}
	switch {
	case ev.Version < 1, ev.Cluster == "", ev.Seq == 0, ev.OrderNo == "", ev.HoldID == "", ev.UserID == "":
		return ev, fmt.Errorf("%w: version, cluster, seq, order_no, hold_id and user_id are required", ErrMalformed)
	}
	switch ev.Type {
	case HoldPlaced, HoldConfirmed, HoldReleased, SeatsRefunded:
	default:
		return ev, fmt.Errorf("%w: %q", ErrUnknownType, ev.Type)
	}
	return ev, nil
}
