package inventory

import (
	"slices"
	"strings"
	"testing"
)

// trainSpec is a one-leg train program of t's layout, every category
// priced 100.
func trainSpec(t *testing.T, id string, tr Train) ProgramSpec {
	t.Helper()
	l, err := tr.Layout()
	if err != nil {
		t.Fatal(err)
	}
	spec := ProgramSpec{ID: id, Stops: []string{"Beijing South", "Shanghai Hongqiao"}, Layout: l, MaxSeatsPerHold: 5}
	for _, c := range tr.Categories {
		spec.Categories = append(spec.Categories, Category{ID: c.ID, PriceCents: 100})
	}
	return spec
}

// TestTrainSeating: each class's carriages get their own rows and seat
// letters, the seats beside the aisle are marked, and bad seatings are
// refused by what is wrong.
func TestTrainSeating(t *testing.T) {
	tr := Train{Carriages: 3, Rows: 2, Categories: []GridCategory{{"business", 1, 1}, {"first", 2, 2}, {"second", 3, 3}},
		Seating: []TrainSeating{{First: 1, Last: 1, Rows: 1, Letters: BusinessClass}, {First: 2, Last: 2, Rows: 3, Letters: FirstClass}}}
	l, err := tr.Layout()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		carriage, rows int
		labels         []string
		cols           []int
		aisles         []bool
	}{
		{1, 1, []string{"01A", "01C", "01F"}, []int{1, 3, 4}, []bool{true, true, false}},
		{2, 3, []string{"03A", "03C", "03D", "03F"}, []int{1, 2, 4, 5}, []bool{false, true, true, false}},
		{3, 2, []string{"02A", "02B", "02C", "02D", "02F"}, []int{1, 2, 3, 5, 6}, []bool{false, false, true, true, false}},
	} {
		sec := l.Sections[tc.carriage-1]
		if len(sec.Rows) != tc.rows || sec.Name != "Carriage "+sec.ID {
			t.Errorf("carriage %d: %q, %d rows; want %d", tc.carriage, sec.Name, len(sec.Rows), tc.rows)
			continue
		}
		var labels []string
		var cols []int
		var aisles []bool
		for _, s := range sec.Rows[tc.rows-1].Seats {
			labels, cols, aisles = append(labels, s.Label), append(cols, s.Col), append(aisles, s.Aisle)
		}
		if !slices.Equal(labels, tc.labels) || !slices.Equal(cols, tc.cols) || !slices.Equal(aisles, tc.aisles) {
			t.Errorf("carriage %d's last row: %v at %v, aisle %v; want %v at %v, aisle %v", tc.carriage, labels, cols, aisles, tc.labels, tc.cols, tc.aisles)
		}
	}
	cats := []GridCategory{{"a", 1, 2}}
	for _, tc := range []struct {
		seating []TrainSeating
		says    string
	}{
		{[]TrainSeating{{First: 1, Last: 1, Letters: "ABC"}}, "want the letters of each side"},
		{[]TrainSeating{{First: 1, Last: 1, Letters: "A|"}}, "want the letters of each side"},
		{[]TrainSeating{{First: 1, Last: 1, Letters: "A|B|C"}}, "want the letters of each side"},
		{[]TrainSeating{{First: 1, Last: 1, Letters: "AB|B"}}, "each once"},
		{[]TrainSeating{{First: 1, Last: 1, Letters: "ab|c"}}, "capital letters"},
		{[]TrainSeating{{First: 0, Last: 1, Letters: FirstClass}}, "outside 1-2"},
		{[]TrainSeating{{First: 1, Last: 2, Letters: FirstClass}, {First: 2, Last: 2, Letters: SecondClass}}, "carriage 2 already has"},
		{[]TrainSeating{{First: 1, Last: 1, Rows: 1 << 62, Letters: FirstClass}}, "rows 4611686018427387904"},
		{[]TrainSeating{{First: 1, Last: 2, Rows: MaxRowsPerProgram, Letters: FirstClass}}, "rows in all"},
	} {
		if _, err := (Train{Carriages: 2, Rows: 2, Categories: cats, Seating: tc.seating}).Layout(); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("seating %+v: %v; want an error saying %q", tc.seating, err, tc.says)
		}
	}
}

// TestSeatPreference: a request for a window or an aisle seat gets the
// best block holding one, in any row, before a better row without one;
// with none left anywhere it gets seats as without the preference.
func TestSeatPreference(t *testing.T) {
	e := newTestEngine(t, trainSpec(t, "g1", Train{Carriages: 1, Rows: 2, Categories: []GridCategory{{"second", 1, 1}}}))
	hold := func(user uint64, k int, prefer SeatPosition, want ...string) {
		t.Helper()
		out := e.Hold(sec, &HoldRequest{Program: "g1", User: user, Count: k, Together: true, Prefer: prefer})
		if out.Result != ResultOK || !slices.Equal(seatIDs(out.Hold), want) {
			t.Fatalf("Hold(%d, %v) = %v %v; want %v", k, prefer, out.Result, seatIDs(out.Hold), want)
		}
	}
	// Row 1 is A B C | D F at columns 1 2 3 5 6.
	hold(1, 1, PositionWindow, "1/1/1") // A and F are as near the centre: the lower column
	hold(2, 1, PositionWindow, "1/1/6")
	hold(3, 1, PositionWindow, "1/2/1") // no window left in row 1: row 2's before row 1's middle seat
	hold(4, 1, PositionAisle, "1/1/5")  // D: C is nearer the centre, but would leave B alone
	hold(5, 2, PositionWindow, "1/2/5", "1/2/6")
	hold(6, 1, PositionAisle, "1/1/3")  // every aisle seat left strands one: the best row's
	hold(7, 1, PositionWindow, "1/1/2") // no window anywhere: the best seat left
	out := e.Hold(sec, &HoldRequest{Program: "g1", User: 8, Count: 1, Prefer: 3})
	if out.Result != ResultInvalidArgument || out.Fault.Field != FieldPrefer || out.Fault.Actual != 3 {
		t.Errorf("Hold(prefer 3) = %v %+v; want invalid_argument on prefer", out.Result, out.Fault)
	}
}

// TestSplitInOneCarriage: seats that cannot sit together go to one
// carriage when one has enough, and apart across carriages only when
// none has.
func TestSplitInOneCarriage(t *testing.T) {
	spec := trainSpec(t, "g1", Train{Carriages: 2, Rows: 1, Categories: []GridCategory{{"second", 1, 2}}})
	for _, tc := range []struct {
		name    string
		blocked []string
		want    []string
	}{
		// Carriage 1 keeps A and F, carriage 2 A, C and F: three fit
		// only in carriage 2, though carriage 1's row comes first.
		{"one carriage", []string{"1/1/2", "1/1/3", "1/1/5", "2/1/2", "2/1/5"}, []string{"2/1/1", "2/1/3", "2/1/6"}},
		// Two free in each: none has three, so across them.
		{"any", []string{"1/1/2", "1/1/3", "1/1/5", "2/1/2", "2/1/3", "2/1/5"}, []string{"1/1/1", "1/1/6", "2/1/1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t, spec)
			if r, _ := e.Block(0, &BlockRequest{Program: "g1", Seats: tc.blocked}); r != ResultOK {
				t.Fatalf("Block = %v", r)
			}
			out := e.Hold(sec, &HoldRequest{Program: "g1", User: 1, Count: 3})
			if out.Result != ResultOK || !slices.Equal(seatIDs(out.Hold), tc.want) {
				t.Errorf("Hold(3 apart) = %v %v; want %v", out.Result, seatIDs(out.Hold), tc.want)
			}
		})
	}
}
