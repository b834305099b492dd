// Package engine is seatbench's in-process target: seatd's inventory
// engine itself, with no network and no replication, so that its figures
// are the ceiling every layer above it is measured against. It shows its
// state to the audit (audit.Stater).
//
// Concurrency: a Target is safe for use from many goroutines. The engine
// is single-threaded, so one mutex serialises every call, as a Raft
// group's apply loop serialises commands; each call takes its now from
// the wall clock, as a leader stamps a batch. Holds lapse in the engine
// at the program's HoldTTL, as in seatd.
package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"seatd/bench/audit"
	"seatd/bench/measure"
	"seatd/bench/target"
	"seatd/inventory"
	"seatd/orderflow/orders"
	"seatd/orderflow/reconcile"
)

// AckEvery is how many commands pass between two acknowledgements of the
// engine's outbox. Nothing reads the events here; acknowledging them
// does what seatd's relay does after publishing, so that the outbox
// (inventory.Config.MaxOutbox) never fills and refuses holds.
const AckEvery = 1024

// Target drives one inventory engine. Make it with New.
type Target struct {
	mu       sync.Mutex // guards every field below
	e        *inventory.Engine
	p        *inventory.Program
	catIndex map[string]int
	seatCat  []uint8                // per seat index: its category's index
	statuses []inventory.SeatStatus // SeatMap's scratch
	cmds     int                    // commands since the last outbox acknowledgement
}

// New returns a target with no program: Load one.
func New() *Target { return &Target{} }

// Name returns "engine".
func (t *Target) Name() string { return "engine" }

// Persists says that nothing is made durable.
func (t *Target) Persists() string { return "nothing: in process, no replication" }

// Load replaces the engine with a new one holding spec's program, its
// sale open.
func (t *Target) Load(_ context.Context, spec *inventory.ProgramSpec) error {
	e, err := inventory.New(inventory.Config{})
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	now := time.Now().UnixNano()
	if r, err := e.CreateProgram(now, spec); r != inventory.ResultOK {
		return fmt.Errorf("engine: create %s: %s: %v", spec.ID, r, err)
	}
	if r := e.OpenSale(now, spec.ID); r != inventory.ResultOK {
		return fmt.Errorf("engine: open %s: %s", spec.ID, r)
	}
	p, _ := e.Program(spec.ID)
	catIndex := map[string]int{}
	for i, c := range spec.Categories {
		catIndex[c.ID] = i
	}
	seatCat := make([]uint8, p.NumSeats())
	for s := range seatCat {
		seatCat[s] = uint8(catIndex[p.Seat(uint32(s)).Category])
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.e, t.p, t.catIndex, t.seatCat, t.statuses, t.cmds = e, p, catIndex, seatCat, nil, 0
	return nil
}

// HoldBest holds n adjacent seats of category for the whole journey.
func (t *Target) HoldBest(ctx context.Context, program, category string, buyer uint64, n int) (target.Hold, error) {
	return t.HoldBestLegs(ctx, program, category, buyer, n, 0, 0)
}

// HoldBestLegs holds n adjacent seats of category for stops [from, to)
// (to 0: the last stop).
func (t *Target) HoldBestLegs(_ context.Context, program, category string, buyer uint64, n, from, to int) (target.Hold, error) {
	return t.hold(&inventory.HoldRequest{Program: program, User: buyer, Category: category, Count: n, Together: true,
		From: from, To: to})
}

// HoldNamed holds the named seats for the whole journey if they cost at
// most expectedCents.
func (t *Target) HoldNamed(ctx context.Context, program string, buyer uint64, seatIDs []string, expectedCents int64) (target.Hold, error) {
	return t.HoldNamedLegs(ctx, program, buyer, seatIDs, expectedCents, 0, 0)
}

// HoldNamedLegs holds the named seats for stops [from, to) (to 0: the
// last stop) if they cost at most expectedCents.
func (t *Target) HoldNamedLegs(_ context.Context, program string, buyer uint64, seatIDs []string, expectedCents int64, from, to int) (target.Hold, error) {
	return t.hold(&inventory.HoldRequest{Program: program, User: buyer, Seats: seatIDs, CheckTotal: true,
		ExpectedTotalCents: expectedCents, From: from, To: to})
}

func (t *Target) hold(req *inventory.HoldRequest) (target.Hold, error) {
	t.mu.Lock()
	if t.e == nil {
		t.mu.Unlock()
		return target.Hold{}, errNotLoaded
	}
	out := t.e.Hold(time.Now().UnixNano(), req)
	t.ackLocked()
	p := t.p
	// The engine's seat slice is its own: copy it before unlocking.
	var seats [inventory.MaxSeatsPerHoldLimit]uint32
	n := copy(seats[:], out.Hold.Seats)
	t.mu.Unlock()
	if out.Result != inventory.ResultOK {
		return target.Hold{}, refusal(out.Result)
	}
	h := target.Hold{ID: strconv.FormatUint(uint64(out.Hold.ID), 10), TotalCents: out.Hold.TotalCents, Seats: make([]string, n)}
	for i, s := range seats[:n] {
		h.Seats[i] = p.Seat(s).ID // the layout is fixed: no lock needed
	}
	return h, nil
}

// Confirm marks a hold's seats sold, as a payment does.
func (t *Target) Confirm(_ context.Context, _ string, h target.Hold) error {
	id, err := holdID(h)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.e == nil {
		return errNotLoaded
	}
	r := t.e.Confirm(time.Now().UnixNano(), id)
	t.ackLocked()
	return refusal(r)
}

// Release gives a hold's seats back, as the buyer's cancel does.
func (t *Target) Release(_ context.Context, _ string, h target.Hold) error {
	id, err := holdID(h)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.e == nil {
		return errNotLoaded
	}
	r := t.e.Release(time.Now().UnixNano(), id, 0, inventory.ReleaseCancelled)
	t.ackLocked()
	return refusal(r)
}

// ExpiresHolds reports that the engine lapses unpaid holds itself.
func (t *Target) ExpiresHolds() bool { return true }

// SeatMap reads the program's seat map for stops [from, to) and returns
// the free seats of category in it, as a buyer's seat-map page would
// count them.
func (t *Target) SeatMap(_ context.Context, program, category string, from, to int) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.e == nil {
		return 0, errNotLoaded
	}
	st, _, r := t.e.SeatMap(program, from, to, time.Now().UnixNano(), t.statuses)
	if r != inventory.ResultOK {
		return 0, refusal(r)
	}
	t.statuses = st
	c, ok := t.catIndex[category]
	if !ok {
		return 0, fmt.Errorf("engine: seat map: no category %q", category)
	}
	free := 0
	for s, v := range st {
		if v == inventory.SeatFree && int(t.seatCat[s]) == c {
			free++
		}
	}
	return free, nil
}

// Check runs the engine's whole-state invariants (inventory.Engine.Check:
// free + held + sold + blocked = capacity per shard and leg, no seat in
// two live holds on one leg, every held seat in exactly one live hold).
func (t *Target) Check(context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.e == nil {
		return errNotLoaded
	}
	if err := t.e.Check(); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	return nil
}

// AuditState shows the audit the program at one instant: its seat map
// and its counters (Availability) leg by leg, and the holds asked for,
// as a read at now shows them (a hold past its TTL lapsed, its seats
// free).
func (t *Target) AuditState(_ context.Context, q audit.Query) (audit.State, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.e == nil {
		return audit.State{}, errNotLoaded
	}
	seats := target.Seats(q.Spec)
	if q.Spec.ID != t.p.ID() || len(seats) != t.p.NumSeats() {
		return audit.State{}, fmt.Errorf("engine: audit of %s (%d seats): the program loaded is %s (%d seats)", q.Spec.ID, len(seats), t.p.ID(), t.p.NumSeats())
	}
	index := make(map[string]int, len(seats))
	for i, s := range seats {
		index[s.ID] = i
	}
	now := time.Now().UnixNano()
	var st audit.State
	for leg := range t.p.Legs() {
		m, _, r := t.e.SeatMap(q.Spec.ID, leg, leg+1, now, t.statuses)
		if r != inventory.ResultOK {
			return audit.State{}, fmt.Errorf("engine: audit: seat map of leg %d: %s", leg, r)
		}
		t.statuses = m
		statuses := make([]inventory.SeatStatus, len(seats))
		for s, v := range m {
			i, ok := index[t.p.Seat(uint32(s)).ID]
			if !ok {
				return audit.State{}, fmt.Errorf("engine: audit: seat %s is not in the spec", t.p.Seat(uint32(s)).ID)
			}
			statuses[i] = v
		}
		st.Seats = append(st.Seats, statuses)
		cats, _, r := t.e.Availability(q.Spec.ID, leg, leg+1, now)
		if r != inventory.ResultOK {
			return audit.State{}, fmt.Errorf("engine: audit: availability of leg %d: %s", leg, r)
		}
		for _, c := range cats {
			st.Counts = append(st.Counts, audit.Counts{Category: c.ID, Leg: leg, Capacity: c.Capacity, Free: c.Free, Held: c.Held,
				Sold: c.Sold, Blocked: c.Blocked})
		}
	}
	st.Holds = make(map[string]reconcile.Hold, len(q.Holds))
	for _, id := range q.Holds {
		n, err := strconv.ParseUint(id, 10, 64)
		info, ok := t.e.GetHold(inventory.HoldID(n), now)
		if err != nil || !ok {
			st.Holds[id] = reconcile.Hold{ID: id}
			continue
		}
		h := reconcile.Hold{Found: true, ID: id, OrderNo: strconv.FormatUint(uint64(info.OrderNo), 10), ProgramID: info.Program.ID(),
			Status: orders.HoldStatus(info.Status.String()), From: info.From, To: info.To, Seats: make([]reconcile.HoldSeat, len(info.Seats))}
		for i, s := range info.Seats {
			h.Seats[i] = reconcile.HoldSeat{ID: info.Program.Seat(s).ID, Refunded: info.Refunded&(1<<i) != 0}
		}
		st.Holds[id] = h
	}
	return st, nil
}

// Stats returns the engine's counters now.
func (t *Target) Stats() inventory.Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.e == nil {
		return inventory.Stats{}
	}
	return t.e.Stats(time.Now().UnixNano())
}

// Close does nothing: the engine holds no connections.
func (t *Target) Close() error { return nil }

// ackLocked acknowledges the outbox every AckEvery commands.
func (t *Target) ackLocked() {
	if t.cmds++; t.cmds < AckEvery {
		return
	}
	t.cmds = 0
	last, _ := t.e.OutboxSeq()
	t.e.AckOutbox(time.Now().UnixNano(), last)
}

var errNotLoaded = errors.New("engine: no program loaded")

// refusal maps an engine result to target's refusals (target.Refusal),
// naming the engine in a result with no counterpart.
func refusal(r inventory.Result) error {
	err := target.Refusal(r)
	if err != nil && measure.Classify(err) == measure.CodeOther {
		return fmt.Errorf("engine: %w", err)
	}
	return err
}

func holdID(h target.Hold) (inventory.HoldID, error) {
	id, err := strconv.ParseUint(h.ID, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("engine: hold id %q: %w", h.ID, target.ErrUnknownHold)
	}
	return inventory.HoldID(id), nil
}
