package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
	"testing/iotest"
	"time"

	"seatd/inventory"
)

// TestProgramStream: a description streamed from a layout is, byte for
// byte, what encoding/json makes of the contract's shape, for names that
// need escaping (markup, quotes, control characters, U+2028, invalid
// UTF-8), own labels, flags and gaps, a focal point and section
// positions, and for a grid; and reading it in
// pieces of any size gives the same bytes.
func TestProgramStream(t *testing.T) {
	hostile := "<script>\"x\"&\\ \n\t\b\f\x01\u2028\u2029 é \xff"
	hostileID := "<b>\"x\"&\\ \u2028 é \xff" // section and row ids take no control characters
	grid, err := inventory.Grid{Sections: 3, Rows: 4, Cols: 7, Categories: []inventory.GridCategory{{ID: "a", First: 1, Last: 2}, {ID: "b", First: 3, Last: 4}}}.Layout()
	if err != nil {
		t.Fatal(err)
	}
	specs := []inventory.ProgramSpec{
		{ID: "hostile", Name: hostile, Stops: []string{hostile, "b", "c"}, HoldTTL: time.Minute, MaxSeatsPerHold: 4, MaxSeatsPerUser: 8,
			RealName: true, RefundResells: true, AllowOrphans: true, RefuseOrphans: true, ReserveAccessible: true, Categories: []inventory.Category{{ID: "a", Name: hostile, PriceCents: 12}, {ID: "b.c-d_e"}},
			Focal: &inventory.Point{X: -inventory.MaxCoord, Y: 0},
			Layout: inventory.Layout{Sections: []inventory.Section{
				{ID: hostileID, Name: hostile, At: &inventory.Point{X: 0, Y: -17}, Rows: []inventory.Row{
					{ID: hostileID, Rank: -3, Seats: []inventory.Seat{{Col: 4, Label: hostile, Category: "a", Accessible: true},
						{Col: 1, Category: "b.c-d_e", Aisle: true}, {Col: 2, Label: "2", Category: "a", Accessible: true, Aisle: true}}},
					{ID: "2", Rank: 7, Seats: []inventory.Seat{{Col: 0, Category: "b.c-d_e"}}}}},
				{ID: "B", At: &inventory.Point{X: 300, Y: inventory.MaxCoord}, Rows: []inventory.Row{{ID: "1", Seats: []inventory.Seat{{Col: 65535, Label: "far", Category: "a"}}}}},
			}}},
		{ID: "grid", Categories: []inventory.Category{{ID: "a", Name: "A", PriceCents: 100}, {ID: "b", Name: "B", PriceCents: 50}}, Layout: grid},
	}
	for _, in := range specs {
		enc, err := inventory.AppendProgramSpec(nil, &in)
		if err != nil {
			t.Fatalf("%s: AppendProgramSpec = %v", in.ID, err)
		}
		l, err := layoutOf(enc)
		if err != nil {
			t.Fatal(err)
		}
		spec, _, _ := inventory.ReadProgramSpec(enc)
		for _, open := range []bool{false, true} {
			want, err := json.Marshal(programJSON(&spec, open))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(newProgramStream(l, open))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s: streamed %v\n%s\nwant\n%s", in.ID, err, got, want)
			}
			if err := iotest.TestReader(newProgramStream(l, open), want); err != nil {
				t.Fatalf("%s: %v", in.ID, err)
			}
		}
	}
}

// programJSON is the contract's shape of a program built the obvious
// way, as the gateway answered before it streamed descriptions.
func programJSON(spec *inventory.ProgramSpec, open bool) any {
	type layoutOut struct {
		Sections []sectionJSON `json:"sections"`
	}
	out := struct {
		programFields
		SaleOpen bool      `json:"sale_open"`
		Layout   layoutOut `json:"layout"`
	}{programFields: newLayoutHead(spec), SaleOpen: open}
	for _, sec := range spec.Layout.Sections {
		s := sectionJSON{ID: sec.ID, Name: sec.Name}
		if sec.At != nil {
			x, y := int64(sec.At.X), int64(sec.At.Y)
			s.X, s.Y = &x, &y
		}
		for _, row := range sec.Rows {
			r := rowJSON{ID: row.ID, Rank: int64(row.Rank)}
			for _, st := range row.Seats {
				r.Seats = append(r.Seats, seatJSON{Col: int64(st.Col), Label: st.Label, Category: st.Category, Accessible: st.Accessible, Aisle: st.Aisle})
			}
			s.Rows = append(s.Rows, r)
		}
		out.Layout.Sections = append(out.Layout.Sections, s)
	}
	return out
}

func newLayoutHead(spec *inventory.ProgramSpec) programFields {
	f := programFields{ID: spec.ID, Name: spec.Name, Stops: spec.Stops, HoldTTLSeconds: int64(spec.HoldTTL / time.Second),
		MaxSeatsPerHold: int64(spec.MaxSeatsPerHold), MaxSeatsPerUser: int64(spec.MaxSeatsPerUser), RealName: spec.RealName,
		RefundResells: spec.RefundResells, AllowOrphans: spec.AllowOrphans, RefuseOrphans: spec.RefuseOrphans,
		ReserveAccessible: spec.ReserveAccessible, Categories: []categoryJSON{}}
	if p := spec.Focal; p != nil {
		x, y := int64(p.X), int64(p.Y)
		f.FocalPoint = &pointJSON{X: &x, Y: &y}
	}
	for _, c := range spec.Categories {
		f.Categories = append(f.Categories, categoryJSON{ID: c.ID, Name: c.Name, PriceCents: c.PriceCents})
	}
	return f
}
