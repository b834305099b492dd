package audit

import (
	"context"
	"strings"
	"testing"

	"seatd/inventory"
	rpc "seatd/kitex_gen/inventoryrpc"
)

// pairSeatd answers seat maps and counters of a one-seat program from a
// script of program versions, in answer order: at version "10" the seat
// is free, at "11" a hold has it, and at "11.1" that hold has lapsed by
// the reading node's clock, so the seat reads free again at the same
// applied log index, 11.
type pairSeatd struct {
	maps, counts []string // versions, in answer order
	m, a         int
}

// moment returns the applied index and whether the seat is held at
// version v.
func moment(v string) (int64, bool) {
	if v == "10" {
		return 10, false
	}
	return 11, v == "11"
}

func (f *pairSeatd) GetHold(context.Context, *rpc.GetHoldRequest) (*rpc.HoldResponse, error) {
	return &rpc.HoldResponse{Status: &rpc.Status{Route: rpc.Route_OK}}, nil
}

func (f *pairSeatd) SeatMap(context.Context, *rpc.SeatMapRequest) (*rpc.SeatMapResponse, error) {
	v := f.maps[min(f.m, len(f.maps)-1)]
	f.m++
	idx, held := moment(v)
	st := byte(inventory.SeatFree)
	if held {
		st = byte(inventory.SeatHeld)
	}
	return &rpc.SeatMapResponse{Status: &rpc.Status{Route: rpc.Route_OK, AppliedIndex: idx}, Statuses: []byte{st}, Version: v}, nil
}

func (f *pairSeatd) Availability(context.Context, *rpc.AvailabilityRequest) (*rpc.AvailabilityResponse, error) {
	v := f.counts[min(f.a, len(f.counts)-1)]
	f.a++
	idx, held := moment(v)
	c := &rpc.CategoryAvailability{Id: "a", Capacity: 1, Free: 1}
	if held {
		c.Free, c.Held = 0, 1
	}
	return &rpc.AvailabilityResponse{Status: &rpc.Status{Route: rpc.Route_OK, AppliedIndex: idx}, Categories: []*rpc.CategoryAvailability{c}, Version: v}, nil
}

// TestReadSeatdOneMoment: the seat map and the counters of a leg are
// compared only as read at one program version. A hold applied between
// the two reads (seat map at version 10, counters at 11) is no
// difference, and neither is a hold lapsing by the reading node's clock
// between them (11, then 11.1, at one applied index): the pair is read
// again. A program that never holds still is an error that says so, not
// a difference.
func TestReadSeatdOneMoment(t *testing.T) {
	spec := &inventory.ProgramSpec{ID: "p", Stops: []string{"a", "b"}, Categories: []inventory.Category{{ID: "a"}},
		Layout: inventory.Layout{Sections: []inventory.Section{{ID: "A", Rows: []inventory.Row{{ID: "1", Seats: []inventory.Seat{{Col: 1, Category: "a"}}}}}}}}
	for _, c := range []struct {
		name         string
		maps, counts []string
		held         bool
	}{
		{"a hold applied between the reads", []string{"10", "11"}, []string{"11", "11"}, true},
		{"a hold lapsed between the reads", []string{"11", "11.1"}, []string{"11.1", "11.1"}, false},
	} {
		f := &pairSeatd{maps: c.maps, counts: c.counts}
		st, err := ReadSeatd(context.Background(), f, Query{Spec: spec})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want, held := inventory.SeatFree, 0
		if c.held {
			want, held = inventory.SeatHeld, 1
		}
		if f.m != 2 || st.Seats[0][0] != want || st.Counts[0].Held != held {
			t.Errorf("%s: %d seat map reads, seat %v, counts %+v; want a second pair, both %v", c.name, f.m, st.Seats[0][0], st.Counts[0], want)
		}
	}
	f := &pairSeatd{maps: []string{"10"}, counts: []string{"11"}}
	if _, err := ReadSeatd(context.Background(), f, Query{Spec: spec}); err == nil || !strings.Contains(err.Error(), "still changing") || f.m != MaxPairReads {
		t.Errorf("a program never still: %v after %d reads; want an error saying it is still changing after %d", err, f.m, MaxPairReads)
	}
}
