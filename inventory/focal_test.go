package inventory

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// placedSpec is rowsSpec with every section at (0, 0) and the focal point
// given (nil: none).
func placedSpec(id string, focal *Point, cols int, ranks ...int) ProgramSpec {
	spec := rowsSpec(id, cols, ranks...)
	for i := range spec.Layout.Sections {
		spec.Layout.Sections[i].At = &Point{}
	}
	spec.Focal = focal
	return spec
}

// TestFocalPoint: with a focal point, best-available gives, within the
// best rank, the block nearest it; rank still comes first, a block of one
// row still beats seats split across rows, and a block that strands a
// seat still comes after one that does not. Seat col of row i (from 0)
// of section A at (0, 0) is at (5*col, 9*i).
func TestFocalPoint(t *testing.T) {
	holds := func(t *testing.T, e *Engine, k int, together bool, want ...[]string) {
		t.Helper()
		for i, w := range want {
			out := e.Hold(sec, &HoldRequest{Program: "p", User: uint64(i + 1), Count: k, Together: together})
			if out.Result != ResultOK || !slices.Equal(seatIDs(out.Hold), w) {
				t.Fatalf("Hold(%d) #%d = %v %v; want %v", k, i+1, out.Result, seatIDs(out.Hold), w)
			}
		}
	}
	t.Run("off-centre along the row", func(t *testing.T) {
		// A focal point above column 8 of a row of 10: 7-8 (centre 37.5)
		// and 8-9 (42.5) are equally near 40; the lower column wins. Then
		// 9-10 would leave nothing but 6, nearer, leaves 5..1 whole: 5-6.
		e := newTestEngine(t, placedSpec("p", &Point{X: 40, Y: -20}, 10, 1))
		holds(t, e, 2, true, []string{"A/1/7", "A/1/8"}, []string{"A/1/9", "A/1/10"}, []string{"A/1/5", "A/1/6"})
	})
	t.Run("nearer row of the rank beats layout order", func(t *testing.T) {
		// Rows 1 and 3 share rank 1; the focal point sits beside row 3.
		e := newTestEngine(t, placedSpec("p", &Point{X: 25, Y: 18}, 9, 1, 2, 1))
		holds(t, e, 2, true, []string{"A/3/4", "A/3/5"}, []string{"A/3/6", "A/3/7"})
	})
	t.Run("rank comes first", func(t *testing.T) {
		// The focal point is on row 2, but row 1 is the better rank.
		e := newTestEngine(t, placedSpec("p", &Point{X: 5, Y: 9}, 6, 1, 2))
		holds(t, e, 2, true, []string{"A/1/1", "A/1/2"})
	})
	t.Run("a row's block beats a split", func(t *testing.T) {
		// Rank-1 rows 1 and 2 each have 2 free seats by the focal point,
		// row 3 (rank 1, far off) has 4: four together go there, not
		// split over the near rows.
		e := newTestEngine(t, placedSpec("p", &Point{X: 5, Y: 0}, 4, 1, 1, 1))
		e.Block(0, &BlockRequest{Program: "p", Seats: []string{"A/1/3", "A/1/4", "A/2/3", "A/2/4"}})
		holds(t, e, 4, false, []string{"A/3/1", "A/3/2", "A/3/3", "A/3/4"})
	})
	t.Run("no orphan before distance", func(t *testing.T) {
		// Row 1 (nearest) has 1-3 free: every pair strands a seat. Row 2
		// of the same rank gives pairs that strand none, until it is
		// full; then row 1's nearest (1-2 and 2-3 tie: the lower).
		e := newTestEngine(t, placedSpec("p", &Point{X: 10, Y: 0}, 4, 1, 1))
		e.Block(0, &BlockRequest{Program: "p", Seats: []string{"A/1/4"}})
		holds(t, e, 2, true, []string{"A/2/1", "A/2/2"}, []string{"A/2/3", "A/2/4"}, []string{"A/1/1", "A/1/2"})
	})
	t.Run("sections on the plan", func(t *testing.T) {
		// Two sections side by side, both rank 1; the focal point is in
		// front of section B's left end.
		spec := placedSpec("p", &Point{X: 100, Y: -10}, 8, 1)
		b := spec.Layout.Sections[0]
		b.ID, b.At = "B", &Point{X: 90, Y: 0}
		spec.Layout.Sections = append(spec.Layout.Sections, b)
		e := newTestEngine(t, spec)
		holds(t, e, 2, true, []string{"B/1/1", "B/1/2"}, []string{"B/1/3", "B/1/4"})
	})
	t.Run("positions without a focal point change nothing", func(t *testing.T) {
		plain := newTestEngine(t, rowsSpec("p", 9, 1, 2, 1))
		placed := newTestEngine(t, placedSpec("p", nil, 9, 1, 2, 1))
		for i := range 12 {
			req := &HoldRequest{Program: "p", User: uint64(i + 1), Count: 1 + i%3, Together: i%4 != 0}
			a, b := plain.Hold(sec, req), placed.Hold(sec, req)
			if a.Result != b.Result || !slices.Equal(seatIDs(a.Hold), seatIDs(b.Hold)) {
				t.Fatalf("Hold #%d = %v %v placed, %v %v not", i+1, b.Result, seatIDs(b.Hold), a.Result, seatIDs(a.Hold))
			}
		}
	})
}

func TestFocalPointRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*ProgramSpec)
		want   string
	}{
		{"focal without positions", func(s *ProgramSpec) {
			s.Layout.Sections[0].At = nil
		}, "focal point: the sections have no positions"},
		{"some sections placed", func(s *ProgramSpec) {
			s.Layout.Sections = append(s.Layout.Sections, Section{ID: "B", Rows: s.Layout.Sections[0].Rows})
		}, "sections[1] (B): position: give every section a position or none"},
		{"section far off", func(s *ProgramSpec) { s.Layout.Sections[0].At.Y = -MaxCoord - 1 }, "position (0, -1000001)"},
		{"focal far off", func(s *ProgramSpec) { s.Focal.X = MaxCoord + 1 }, "focal point (1000001, 0)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := placedSpec("p", &Point{}, 4, 1)
			tt.mutate(&spec)
			if _, err := AppendProgramSpec(nil, &spec); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("AppendProgramSpec() = %v; want an error with %q", err, tt.want)
			}
		})
	}
}

// TestFocalPointEncoding: the focal point and positions survive the
// canonical encoding, and a snapshot written before they existed (by
// commit 4806095: a program with allow_orphans and one hold) restores and
// encodes to the same bytes.
func TestFocalPointEncoding(t *testing.T) {
	spec := placedSpec("p", &Point{X: -7, Y: 3}, 4, 1, 2)
	spec.Layout.Sections[0].At = &Point{X: 12, Y: -MaxCoord}
	b, err := AppendProgramSpec(nil, &spec)
	if err != nil {
		t.Fatal(err)
	}
	got, rest, err := ReadProgramSpec(b)
	if err != nil || len(rest) != 0 {
		t.Fatalf("ReadProgramSpec = %v, %d bytes left", err, len(rest))
	}
	if !reflect.DeepEqual(got.Focal, spec.Focal) || !reflect.DeepEqual(got.Layout.Sections[0].At, spec.Layout.Sections[0].At) {
		t.Fatalf("ReadProgramSpec = focal %v, at %v; want %v, %v", got.Focal, got.Layout.Sections[0].At, spec.Focal, spec.Layout.Sections[0].At)
	}

	old, _ := hex.DecodeString("7365617464736e020580a8d6b90701010170000205646f6f727303656e64010161006480b09dc2df0106400c01014100020131020401000104000132040401000104000000000185080100080080a8d6b9070201010101010000010085080100c801020101004826dcb9")
	e, err := Restore(Config{Group: 5}, old)
	if err != nil {
		t.Fatalf("Restore(old snapshot) = %v", err)
	}
	if again := e.AppendSnapshot(nil); !bytes.Equal(again, old) {
		t.Fatalf("old snapshot re-encodes to %x; want %x", again, old)
	}
	if p := e.programs[0]; p.focal != nil || p.placed || !p.allowOrphans {
		t.Fatalf("old program decodes with focal %v, placed %v, allow orphans %v", p.focal, p.placed, p.allowOrphans)
	}
}
