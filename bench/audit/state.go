package audit

import (
	"context"
	"fmt"
	"strings"

	"seatd/bench/target"
	"seatd/inventory"
	rpc "seatd/kitex_gen/inventoryrpc"
	"seatd/orderflow/reconcile"
)

// State is what a target says of the run's program at the end. A part
// the target cannot show is nil, and the checks that need it do not run
// (the report says so).
type State struct {
	// Seats is each leg's seat statuses, in the order of
	// target.Seats(spec).
	Seats [][]inventory.SeatStatus
	// Counts are the target's own counters, per category and leg.
	Counts []Counts
	// Holds are the target's holds of the ids asked for (Query.Holds),
	// as seatd describes a hold; a hold it does not know has Found false.
	Holds map[string]reconcile.Hold
	// Orders are the order flow's records, as orderflow reconcile reads
	// them (reconcile.Collect), with its notes in Notes.
	Orders *reconcile.Snapshot
	// Notes say what the target could not show, and why.
	Notes []string
}

// Counts are a target's counters of one category on one leg.
type Counts struct {
	Category string `json:"category"`
	Leg      int    `json:"leg"`
	Capacity int    `json:"capacity"`
	Free     int    `json:"free"`
	Held     int    `json:"held"`
	Sold     int    `json:"sold"`
	Blocked  int    `json:"blocked"`
}

// Query is what the harness asks a target's state for.
type Query struct {
	Spec *inventory.ProgramSpec // the program of the run
	// Holds are the ids of the holds the harness was granted, for a
	// target that can look its holds up.
	Holds []string
}

// Stater is a target that shows its state to the audit. AuditState is
// called once, after the load has ended, when no request is under way.
type Stater interface {
	AuditState(ctx context.Context, q Query) (State, error)
}

// Settler is a Stater whose state goes on changing for a while after the
// load has ended (the whole system: the order flow catching up, unpaid
// holds lapsing). The harness calls Settle, which waits until it is
// done (within a bound of its own), before it starts the read's span:
// holds whose fate is decided by then are judged, not left unsure. The
// note says how it went, for the report.
type Settler interface {
	Settle(ctx context.Context, q Query) (note string, err error)
}

// DefaultHoldReads bounds the hold reads ReadSeatd makes at once.
const DefaultHoldReads = reconcile.DefaultHoldReads

// Seatd is what ReadSeatd reads of seatd (*seatclient.Client).
type Seatd interface {
	reconcile.HoldReader
	SeatMap(ctx context.Context, req *rpc.SeatMapRequest) (*rpc.SeatMapResponse, error)
	Availability(ctx context.Context, req *rpc.AvailabilityRequest) (*rpc.AvailabilityResponse, error)
}

// ReadSeatd reads q's program from seatd, consistently (through each
// group's leader): its seat map and its counters leg by leg, and the
// holds of q.Holds, DefaultHoldReads at a time. A target of seatd
// implements Stater with it (and the whole system adds the orders with
// reconcile.Collect).
func ReadSeatd(ctx context.Context, inv Seatd, q Query) (State, error) {
	spec := q.Spec
	n := len(target.Seats(spec))
	var st State
	for leg := range Legs(spec) {
		m, a, err := readLeg(ctx, inv, spec.ID, leg)
		if err != nil {
			return State{}, err
		}
		if len(m.Statuses) != n {
			return State{}, fmt.Errorf("audit: seat map of %s, leg %d: %d statuses for %d seats", spec.ID, leg, len(m.Statuses), n)
		}
		statuses := make([]inventory.SeatStatus, n)
		for i, b := range m.Statuses {
			statuses[i] = inventory.SeatStatus(b)
		}
		st.Seats = append(st.Seats, statuses)
		for _, c := range a.Categories {
			st.Counts = append(st.Counts, Counts{Category: c.Id, Leg: leg, Capacity: int(c.Capacity), Free: int(c.Free),
				Held: int(c.Held), Sold: int(c.Sold), Blocked: int(c.Blocked)})
		}
	}
	holds, err := reconcile.ReadHolds(ctx, inv, q.Holds, DefaultHoldReads)
	if err != nil {
		return State{}, fmt.Errorf("audit: holds of %s: %w", spec.ID, err)
	}
	st.Holds = holds
	return st, nil
}

// MaxPairReads bounds the attempts at reading a leg's seat map and
// counters at one program version (readLeg).
const MaxPairReads = 50

// readLeg reads a leg's seat map and its counters as of one moment: two
// reads, each consistent (through the leader), see the same state only
// when they name the same program version. The applied log index is not
// enough: a read shows a hold whose TTL has ended as expired by the
// reading node's clock, before any command expires it, so a hold lapsing
// between the two reads changes what they show at one index (the version
// counts such holds, see SeatMapResponse). Between the reads a hold can
// also lapse at the leader's tick, or a request retried after a lost
// answer can apply. So the pair is read again until the versions agree,
// at most MaxPairReads times (each try takes two round trips; a sale
// still running can keep them apart, and then the audit says so).
func readLeg(ctx context.Context, inv Seatd, program string, leg int) (*rpc.SeatMapResponse, *rpc.AvailabilityResponse, error) {
	var mv, av string
	for range MaxPairReads {
		m, err := inv.SeatMap(ctx, &rpc.SeatMapRequest{ProgramId: program, FromLeg: int32(leg), ToLeg: int32(leg + 1), Consistent: true})
		if err == nil {
			err = answered(m.Status)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("audit: seat map of %s, leg %d: %w", program, leg, err)
		}
		a, err := inv.Availability(ctx, &rpc.AvailabilityRequest{ProgramId: program, FromLeg: int32(leg), ToLeg: int32(leg + 1), Consistent: true})
		if err == nil {
			err = answered(a.Status)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("audit: availability of %s, leg %d: %w", program, leg, err)
		}
		if mv, av = m.Version, a.Version; mv != "" && mv == av {
			return m, a, nil
		}
	}
	return nil, nil, fmt.Errorf("audit: %s, leg %d: the seat map and the counters were read at program versions %q and %q, %d times apart: the program is still changing",
		program, leg, mv, av, MaxPairReads)
}

func answered(st *rpc.Status) error {
	if st == nil || st.Route != rpc.Route_OK || st.Code != 0 {
		return fmt.Errorf("seatd answered %v", st)
	}
	return nil
}

// SplitHoldIDs splits a query's hold ids of the form "hold_id@buyer"
// (how the targets over seatd and over HTTP name a hold: the server's id
// and the buyer whose token releases it) into the server's ids, to ask
// it by, and a map from each of those back to the id as given. An id
// with no "@" is its own.
func SplitHoldIDs(ids []string) (bare []string, full map[string]string) {
	bare, full = make([]string, 0, len(ids)), make(map[string]string, len(ids))
	for _, id := range ids {
		b, _, _ := strings.Cut(id, "@")
		full[b] = id
		bare = append(bare, b)
	}
	return bare, full
}

// RenameHolds returns holds keyed and named (Hold.ID) by full[id], the
// ids the harness knows them by (SplitHoldIDs); a hold full does not
// name keeps its id. Nil stays nil: a target that shows no holds.
func RenameHolds(holds map[string]reconcile.Hold, full map[string]string) map[string]reconcile.Hold {
	if holds == nil {
		return nil
	}
	out := make(map[string]reconcile.Hold, len(holds))
	for id, h := range holds {
		if f, ok := full[id]; ok {
			id = f
		}
		h.ID = id
		out[id] = h
	}
	return out
}

// ReadSeatdAs is ReadSeatd for a target that created q's program under
// the id program and names its holds "hold_id@buyer" (SplitHoldIDs), as
// the targets over seatd do: seatd is asked by its own ids, and the
// holds come back under q's. It also returns the map from seatd's hold
// ids to q's, for a target that shows more of them (the orders').
func ReadSeatdAs(ctx context.Context, inv Seatd, q Query, program string) (State, map[string]string, error) {
	spec := *q.Spec
	spec.ID = program
	ids, full := SplitHoldIDs(q.Holds)
	st, err := ReadSeatd(ctx, inv, Query{Spec: &spec, Holds: ids})
	st.Holds = RenameHolds(st.Holds, full)
	return st, full, err
}
