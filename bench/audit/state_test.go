package audit

import (
	"context"
	"strings"
	"testing"

	"seatd/inventory"
	rpc "seatd/kitex_gen/inventoryrpc"
)

// pairSeatd answers seat maps and counters of a one-seat program from a
// script: answer i of each kind at applied index indexes[i], the seat
// free up to index 10 and held from 11 (a hold applied between reads).
type pairSeatd struct {
	maps, counts []int64 // applied indexes, in answer order
	m, a         int
}

func (f *pairSeatd) GetHold(context.Context, *rpc.GetHoldRequest) (*rpc.HoldResponse, error) {
	return &rpc.HoldResponse{Status: &rpc.Status{Route: rpc.Route_OK}}, nil
}

func (f *pairSeatd) SeatMap(context.Context, *rpc.SeatMapRequest) (*rpc.SeatMapResponse, error) {
	idx := f.maps[min(f.m, len(f.maps)-1)]
	f.m++
	st := byte(inventory.SeatFree)
	if idx > 10 {
		st = byte(inventory.SeatHeld)
	}
	return &rpc.SeatMapResponse{Status: &rpc.Status{Route: rpc.Route_OK, AppliedIndex: idx}, Statuses: []byte{st}}, nil
}

func (f *pairSeatd) Availability(context.Context, *rpc.AvailabilityRequest) (*rpc.AvailabilityResponse, error) {
	idx := f.counts[min(f.a, len(f.counts)-1)]
	f.a++
	c := &rpc.CategoryAvailability{Id: "a", Capacity: 1, Free: 1}
	if idx > 10 {
		c.Free, c.Held = 0, 1
	}
	return &rpc.AvailabilityResponse{Status: &rpc.Status{Route: rpc.Route_OK, AppliedIndex: idx}, Categories: []*rpc.CategoryAvailability{c}}, nil
}

// TestReadSeatdOneMoment: the seat map and the counters of a leg are
// compared only as read at one applied index. A hold applied between
// the two reads (seat map at 10, counters at 11) is no difference: the
// pair is read again; a program that never holds still is an error that
// says so, not a difference.
func TestReadSeatdOneMoment(t *testing.T) {
	spec := &inventory.ProgramSpec{ID: "p", Stops: []string{"a", "b"}, Categories: []inventory.Category{{ID: "a"}},
		Layout: inventory.Layout{Sections: []inventory.Section{{ID: "A", Rows: []inventory.Row{{ID: "1", Seats: []inventory.Seat{{Col: 1, Category: "a"}}}}}}}}
	f := &pairSeatd{maps: []int64{10, 11}, counts: []int64{11, 11}}
	st, err := ReadSeatd(context.Background(), f, Query{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	if f.m != 2 || st.Seats[0][0] != inventory.SeatHeld || st.Counts[0].Held != 1 {
		t.Errorf("after a pair read apart: %d seat map reads, seat %v, counts %+v; want a second pair, both held", f.m, st.Seats[0][0], st.Counts[0])
	}
	f = &pairSeatd{maps: []int64{10}, counts: []int64{11}}
	if _, err := ReadSeatd(context.Background(), f, Query{Spec: spec}); err == nil || !strings.Contains(err.Error(), "still changing") || f.m != MaxPairReads {
		t.Errorf("a program never still: %v after %d reads; want an error saying it is still changing after %d", err, f.m, MaxPairReads)
	}
}
