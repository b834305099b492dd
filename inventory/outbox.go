package inventory

// EventKind is what happened to a hold.
type EventKind uint8

// Event kinds, as the order flow names them on Kafka.
const (
	EventHoldPlaced    EventKind = 1
	EventHoldConfirmed EventKind = 2
	EventHoldReleased  EventKind = 3 // Reason says why
	EventSeatsRefunded EventKind = 4 // Seats and AmountCents say what
)

var eventKindNames = [...]string{"", "HoldPlaced", "HoldConfirmed", "HoldReleased", "SeatsRefunded"}

// String returns the event's name on Kafka.
func (k EventKind) String() string { return eventKindNames[k] }

// Event is an outbox entry: self-contained, so that it can be published
// after its hold is gone. Seq numbers the group's events from 1 without
// gaps; (group, Seq) is the event's unique id.
type Event struct {
	Seq         uint64
	Kind        EventKind
	At          int64 // the command's now
	Hold        HoldID
	OrderNo     OrderNo
	Program     *Program
	User        uint64
	From, To    int
	Reason      ReleaseReason // HoldReleased
	Seats       []uint32      // HoldPlaced: every seat; SeatsRefunded: the refunded ones. Read-only.
	AmountCents int64         // HoldPlaced: the total; SeatsRefunded: the refund
	ExpiresAt   int64         // HoldPlaced
}

// event is an outbox entry as the engine keeps it: small, because every
// hold adds at least one on the hold path. Its sequence number is implied
// by its place after Engine.acked; order number and expiry are derived.
type event struct {
	kind     EventKind
	reason   ReleaseReason
	from, to uint8
	prog     int32
	at       int64
	hold     HoldID
	user     uint64
	amount   int64
	seats    []uint32
}

// emit appends an event for hold h.
func (e *Engine) emit(kind EventKind, h *hold, seats []uint32, amount int64) {
	e.outSeq++
	e.outbox = append(e.outbox, event{
		kind: kind, reason: h.reason, from: h.from, to: h.to, prog: h.prog.idx, at: e.now,
		hold: h.id, user: h.user, amount: amount, seats: seats,
	})
}

// pending returns the events not yet acknowledged.
func (e *Engine) pending() []event { return e.outbox[e.outHead:] }

func (e *Engine) export(seq uint64, ev *event) Event {
	p := e.programs[ev.prog]
	out := Event{
		Seq: seq, Kind: ev.kind, At: ev.at, Hold: ev.hold, OrderNo: orderNo(uint64(ev.hold)>>GroupBits, ev.hold.Group(), ev.user),
		Program: p, User: ev.user, From: int(ev.from), To: int(ev.to), Reason: ev.reason, Seats: ev.seats, AmountCents: ev.amount,
	}
	if ev.kind == EventHoldPlaced {
		out.ExpiresAt = ev.at + p.ttl
	}
	return out
}

// Outbox returns up to max events with Seq > after, oldest first, as a
// copy that stays valid after later commands.
func (e *Engine) Outbox(after uint64, max int) []Event {
	after = min(max64(after, e.acked), e.outSeq)
	evs := e.pending()[after-e.acked:]
	evs = evs[:min(len(evs), max)]
	out := make([]Event, len(evs))
	for i := range evs {
		out[i] = e.export(after+uint64(i)+1, &evs[i])
	}
	return out
}

// reclaim keeps a queue q[head:] whose front was consumed up to head in
// the same buffer: rewound when empty, moved down when the consumed head
// is most of it, so the buffer never grows past twice the live part. It
// returns the queue and its new head.
func reclaim[T any](q []T, head int) ([]T, int) {
	switch live := len(q) - head; {
	case live == 0:
		return q[:0], 0
	case head > live:
		copy(q, q[head:])
		clear(q[live:])
		return q[:live], 0
	}
	return q, head
}

func max64(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// OutboxSeq returns the last event's sequence number and the last one
// acknowledged.
func (e *Engine) OutboxSeq() (last, acked uint64) { return e.outSeq, e.acked }

// AckOutbox drops the events up to seq, which the relay has published.
// Acknowledging an older seq again is a no-op. Results: InvalidArgument
// (seq beyond the last event).
func (e *Engine) AckOutbox(now int64, seq uint64) Result {
	e.advance(now)
	if seq > e.outSeq {
		return ResultInvalidArgument
	}
	if seq <= e.acked {
		return ResultOK
	}
	n := int(seq - e.acked)
	clear(e.outbox[e.outHead : e.outHead+n]) // let the events' seats go
	e.outbox, e.outHead = reclaim(e.outbox, e.outHead+n)
	e.acked = seq
	return ResultOK
}
