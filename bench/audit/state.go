package audit

import (
	"context"
	"fmt"

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
		m, err := inv.SeatMap(ctx, &rpc.SeatMapRequest{ProgramId: spec.ID, FromLeg: int32(leg), ToLeg: int32(leg + 1), Consistent: true})
		if err == nil {
			err = answered(m.Status)
		}
		if err != nil {
			return State{}, fmt.Errorf("audit: seat map of %s, leg %d: %w", spec.ID, leg, err)
		}
		if len(m.Statuses) != n {
			return State{}, fmt.Errorf("audit: seat map of %s, leg %d: %d statuses for %d seats", spec.ID, leg, len(m.Statuses), n)
		}
		statuses := make([]inventory.SeatStatus, n)
		for i, b := range m.Statuses {
			statuses[i] = inventory.SeatStatus(b)
		}
		st.Seats = append(st.Seats, statuses)
		a, err := inv.Availability(ctx, &rpc.AvailabilityRequest{ProgramId: spec.ID, FromLeg: int32(leg), ToLeg: int32(leg + 1), Consistent: true})
		if err == nil {
			err = answered(a.Status)
		}
		if err != nil {
			return State{}, fmt.Errorf("audit: availability of %s, leg %d: %w", spec.ID, leg, err)
		}
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

func answered(st *rpc.Status) error {
	if st == nil || st.Route != rpc.Route_OK || st.Code != 0 {
		return fmt.Errorf("seatd answered %v", st)
	}
	return nil
}
