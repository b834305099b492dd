package inventory

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const sec = int64(time.Second)

// arena is a 1-section grid of rows x cols with category "a" in row 1 and
// "b" behind it, without the grid's accessible seats (TestAccessibleSeats
// has them).
func arenaSpec(t testing.TB, id string, rows, cols int) ProgramSpec {
	t.Helper()
	l, err := Grid{Sections: 1, Rows: rows, Cols: cols, Categories: []GridCategory{{"a", 1, 1}, {"b", 2, rows}}}.Layout()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range l.Sections[0].Rows {
		for i := range r.Seats {
			r.Seats[i].Accessible = false
		}
	}
	return ProgramSpec{ID: id, Name: "Arena", Layout: l, HoldTTL: time.Minute,
		Categories: []Category{{ID: "a", Name: "front", PriceCents: 1000}, {ID: "b", Name: "back", PriceCents: 500}}}
}

// newTestEngine creates the programs, opens their sales and checks
// invariants after the test.
func newTestEngine(t testing.TB, specs ...ProgramSpec) *Engine {
	t.Helper()
	e, err := New(Config{Group: 5})
	if err != nil {
		t.Fatal(err)
	}
	for i := range specs {
		if r, err := e.CreateProgram(0, &specs[i]); r != ResultOK {
			t.Fatalf("CreateProgram(%s) = %v, %v", specs[i].ID, r, err)
		}
		e.OpenSale(0, specs[i].ID)
	}
	t.Cleanup(func() {
		if err := e.Check(); err != nil {
			t.Errorf("Check() = %v", err)
		}
	})
	return e
}

func seatIDs(h HoldInfo) []string {
	var ids []string
	for _, s := range h.Seats {
		ids = append(ids, h.Program.Seat(s).ID)
	}
	return ids
}

func TestCreateProgramRejects(t *testing.T) {
	base := func() ProgramSpec { return arenaSpec(t, "p", 2, 4) }
	tests := []struct {
		name   string
		mutate func(*ProgramSpec)
		want   string
	}{
		{"bad id", func(s *ProgramSpec) { s.ID = "a/b" }, "program id"},
		{"one stop", func(s *ProgramSpec) { s.Stops = []string{"x"} }, "stops"},
		{"too many legs", func(s *ProgramSpec) { s.Stops = make([]string, MaxLegs+2) }, "stops"},
		{"empty stop name", func(s *ProgramSpec) { s.Stops = []string{"a", ""} }, "stops[1]"},
		{"no categories", func(s *ProgramSpec) { s.Categories = nil }, "categories"},
		{"duplicate category", func(s *ProgramSpec) { s.Categories[1].ID = "a" }, "duplicate id"},
		{"negative price", func(s *ProgramSpec) { s.Categories[0].PriceCents = -1 }, "price_cents"},
		{"ttl too short", func(s *ProgramSpec) { s.HoldTTL = time.Second }, "hold_ttl"},
		{"per hold too big", func(s *ProgramSpec) { s.MaxSeatsPerHold = 65 }, "max_seats_per_hold"},
		{"per user below per hold", func(s *ProgramSpec) { s.MaxSeatsPerHold, s.MaxSeatsPerUser = 6, 2 }, "max_seats_per_user"},
		{"no sections", func(s *ProgramSpec) { s.Layout.Sections = nil }, "sections"},
		{"duplicate section", func(s *ProgramSpec) { s.Layout.Sections = append(s.Layout.Sections, s.Layout.Sections[0]) }, "duplicate id"},
		{"empty row", func(s *ProgramSpec) { s.Layout.Sections[0].Rows[1].Seats = nil }, "empty row"},
		{"no rows", func(s *ProgramSpec) { s.Layout.Sections[0].Rows = nil }, "no rows"},
		{"duplicate row", func(s *ProgramSpec) { s.Layout.Sections[0].Rows[1].ID = "1" }, "duplicate row"},
		{"duplicate seat", func(s *ProgramSpec) { s.Layout.Sections[0].Rows[0].Seats[2].Col = 1 }, "duplicate seat A/1/1"},
		{"unknown category", func(s *ProgramSpec) { s.Layout.Sections[0].Rows[0].Seats[0].Category = "z" }, `unknown category "z"`},
		{"slash in row id", func(s *ProgramSpec) { s.Layout.Sections[0].Rows[0].ID = "1/2" }, "without '/'"},
		{"row too wide", func(s *ProgramSpec) { s.Layout.Sections[0].Rows[0].Seats[0].Col = 5000 }, "span more than"},
		{"negative column", func(s *ProgramSpec) { s.Layout.Sections[0].Rows[0].Seats[0].Col = -1 }, "column out of range"},
		{"too many seats", func(s *ProgramSpec) {
			row := Row{Seats: make([]Seat, MaxRowWidth)}
			for i := range row.Seats {
				row.Seats[i] = Seat{Col: i, Category: "a"}
			}
			s.Layout.Sections[0].Rows = nil
			for i := range MaxSeatsPerProgram/MaxRowWidth + 1 {
				row.ID = "r" + strconv.Itoa(i)
				s.Layout.Sections[0].Rows = append(s.Layout.Sections[0].Rows, row)
			}
		}, "seats, want at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := New(Config{})
			spec := base()
			tt.mutate(&spec)
			r, err := e.CreateProgram(0, &spec)
			if r != ResultInvalidLayout || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CreateProgram() = %v, %v; want invalid_layout mentioning %q", r, err, tt.want)
			}
			if len(e.Programs()) != 0 {
				t.Fatalf("a rejected program was kept")
			}
		})
	}
	t.Run("exists", func(t *testing.T) {
		e := newTestEngine(t, base())
		spec := base()
		if r, _ := e.CreateProgram(0, &spec); r != ResultProgramExists {
			t.Fatalf("CreateProgram(again) = %v; want program_exists", r)
		}
	})
	t.Run("group seat bound", func(t *testing.T) {
		e, _ := New(Config{MaxSeats: 7})
		a := base()
		if r, _ := e.CreateProgram(0, &a); r != ResultTooManySeats {
			t.Fatalf("CreateProgram(8 seats, bound 7) = %v; want too_many_seats", r)
		}
		snap := newTestEngine(t, base()).AppendSnapshot(nil)
		if _, err := Restore(Config{Group: 5, MaxSeats: 7}, snap); !errors.Is(err, ErrSnapshotCorrupt) {
			t.Fatalf("Restore(8 seats into an engine of 7) = %v", err)
		}
	})
	t.Run("too many programs", func(t *testing.T) {
		e, _ := New(Config{MaxPrograms: 1})
		a, b := base(), base()
		b.ID = "q"
		e.CreateProgram(0, &a)
		if r, _ := e.CreateProgram(0, &b); r != ResultTooManyPrograms {
			t.Fatalf("CreateProgram(second) = %v; want too_many_programs", r)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	err := (&Config{Group: MaxGroup + 1, MaxLiveHolds: 10, MaxHolds: 5, MaxSeatsPerBlock: -1}).Validate()
	for _, want := range []string{"group", "max live holds", "max seats per block"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want it to mention %q", err, want)
		}
	}
}

func TestGridAndTrain(t *testing.T) {
	l, err := Grid{Sections: 28, Rows: 2, Cols: 3, Categories: []GridCategory{{"a", 1, 2}}}.Layout()
	if err != nil || len(l.Sections) != 28 || l.Sections[27].ID != "AB" || len(l.Sections[0].Rows[1].Seats) != 3 {
		t.Fatalf("Grid.Layout() = %d sections (last %q), %v", len(l.Sections), l.Sections[27].ID, err)
	}
	if _, err := (Grid{Sections: 1, Rows: 3, Cols: 3, Categories: []GridCategory{{"a", 1, 2}}}).Layout(); err == nil {
		t.Fatalf("Grid with an uncovered row: want an error")
	}
	if _, err := (Grid{Sections: 1, Rows: 3, Cols: 3, Categories: []GridCategory{{"a", 1, 2}, {"b", 2, 3}}}).Layout(); err == nil {
		t.Fatalf("Grid with overlapping categories: want an error")
	}
	tr, err := Train{Carriages: 3, Rows: 2, Categories: []GridCategory{{"first", 1, 1}, {"second", 2, 3}}}.Layout()
	if err != nil {
		t.Fatal(err)
	}
	row := tr.Sections[0].Rows[1]
	var labels []string
	for _, s := range row.Seats {
		labels = append(labels, s.Label)
	}
	if !slices.Equal(labels, []string{"02A", "02B", "02C", "02D", "02F"}) || row.Seats[3].Col != 5 {
		t.Fatalf("train row 2 = %v (D at col %d); want 02A..02F with the aisle after C", labels, row.Seats[3].Col)
	}
}

// TestGridBounds: dimensions whose product wraps around int are refused
// by the dimension at fault, never built.
func TestGridBounds(t *testing.T) {
	cats := []GridCategory{{"a", 1, 1}}
	for _, tc := range []struct {
		gen  interface{ Layout() (Layout, error) }
		says string
	}{
		{Grid{Sections: 4, Rows: 1 << 62, Cols: 1, Categories: cats}, "rows 4611686018427387904"},
		{Grid{Sections: 2, Rows: 1 << 53, Cols: 1024, Categories: cats}, "rows 9007199254740992"},
		{Grid{Sections: 1 << 62, Rows: 4, Cols: 1, Categories: cats}, "sections 4611686018427387904"},
		{Grid{Sections: 1, Rows: 1, Cols: -1 << 62, Categories: cats}, "cols -4611686018427387904"},
		{Grid{Sections: 4096, Rows: 1024, Cols: 1, Categories: cats}, "4194304 rows, want at most 262144"},
		{Grid{Sections: 64, Rows: 4096, Cols: 1024, Categories: cats}, "268435456 seats, want at most 4194304"},
		{Train{Carriages: 4, Rows: 1 << 62, Categories: cats}, "rows 4611686018427387904"},
		{Train{Carriages: 1 << 61, Rows: 8, Categories: cats}, "carriages 2305843009213693952"},
	} {
		if _, err := tc.gen.Layout(); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%+v.Layout() = %v; want an error saying %q", tc.gen, err, tc.says)
		}
	}
}

func TestBestAvailable(t *testing.T) {
	// Row 1 (category a) is best; within a row the block nearest the centre.
	spec := arenaSpec(t, "p", 3, 10)
	e := newTestEngine(t, spec)
	hold := func(req HoldRequest) HoldOutcome {
		t.Helper()
		req.Program = "p"
		return e.Hold(sec, &req)
	}
	tests := []struct {
		name string
		req  HoldRequest
		want []string
		res  Result
	}{
		{"centre of best row", HoldRequest{User: 1, Count: 2, Together: true}, []string{"A/1/5", "A/1/6"}, ResultOK},
		{"odd block leans left", HoldRequest{User: 2, Count: 3, Together: true}, []string{"A/1/2", "A/1/3", "A/1/4"}, ResultOK},
		{"next nearest on the right", HoldRequest{User: 3, Count: 3, Together: true}, []string{"A/1/7", "A/1/8", "A/1/9"}, ResultOK},
		{"category b skips row 1", HoldRequest{User: 4, Count: 4, Category: "b", Together: true}, []string{"A/2/4", "A/2/5", "A/2/6", "A/2/7"}, ResultOK},
		{"fewer free than asked is sold out", HoldRequest{User: 5, Count: 3, Category: "a", Together: true}, nil, ResultSoldOut},
		{"no accessible seats in category b", HoldRequest{User: 6, Count: 1, Accessible: true, Category: "b"}, nil, ResultSoldOut},
		{"unknown category", HoldRequest{User: 6, Count: 1, Category: "zz"}, nil, ResultUnknownCategory},
		{"zero count", HoldRequest{User: 6, Count: 0}, nil, ResultInvalidArgument},
		{"negative count", HoldRequest{User: 6, Count: -3}, nil, ResultInvalidArgument},
		{"over the per-hold limit", HoldRequest{User: 6, Count: 7}, nil, ResultHoldLimitExceeded},
		{"user 0", HoldRequest{User: 0, Count: 1}, nil, ResultInvalidArgument},
		{"bad range", HoldRequest{User: 6, Count: 1, From: 1, To: 1}, nil, ResultInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := hold(tt.req)
			if out.Result != tt.res || (tt.res == ResultOK && !slices.Equal(seatIDs(out.Hold), tt.want)) {
				t.Fatalf("Hold(%+v) = %v %v; want %v %v", tt.req, out.Result, seatIDs(out.Hold), tt.res, tt.want)
			}
		})
	}
	// Row 1 now has seats 1 and 10 free: 2 together is impossible there, but
	// category a has 2 free seats, so a split hold takes both.
	if out := hold(HoldRequest{User: 7, Count: 2, Category: "a", Together: true}); out.Result != ResultNoAdjacentSeats {
		t.Fatalf("Hold(2 together of a) = %v; want no_adjacent_seats", out.Result)
	}
	out := hold(HoldRequest{User: 7, Count: 2, Category: "a", Together: false})
	if out.Result != ResultOK || !slices.Equal(seatIDs(out.Hold), []string{"A/1/1", "A/1/10"}) {
		t.Fatalf("Hold(2 split of a) = %v %v; want A/1/1 and A/1/10", out.Result, seatIDs(out.Hold))
	}
}

func TestSplitUsesFewestBlocks(t *testing.T) {
	spec := arenaSpec(t, "p", 3, 10)
	spec.MaxSeatsPerHold = 10
	spec.MaxSeatsPerUser = 50
	e := newTestEngine(t, spec)
	// Leave row 2 with free runs of 3 (cols 1-3) and 2 (cols 9-10); row 3 full.
	block := &BlockRequest{Program: "p", Seats: []string{"A/2/4", "A/2/5", "A/2/6", "A/2/7", "A/2/8"}}
	if r, bad := e.Block(0, block); r != ResultOK {
		t.Fatalf("Block = %v %s", r, bad)
	}
	// 5 in category b: row 3 has a block of 5, so no split.
	out := e.Hold(0, &HoldRequest{Program: "p", User: 1, Count: 5, Category: "b", Together: false})
	if !slices.Equal(seatIDs(out.Hold), []string{"A/3/3", "A/3/4", "A/3/5", "A/3/6", "A/3/7"}) {
		t.Fatalf("Hold(5 of b) = %v", seatIDs(out.Hold))
	}
	// Fill row 3 except 2 seats, then 5 of b: largest blocks first, best rows first.
	e.Block(0, &BlockRequest{Program: "p", Seats: []string{"A/3/1", "A/3/2", "A/3/8"}})
	out = e.Hold(0, &HoldRequest{Program: "p", User: 2, Count: 5, Category: "b", Together: false})
	want := []string{"A/2/1", "A/2/2", "A/2/3", "A/2/9", "A/2/10"}
	if out.Result != ResultOK || !slices.Equal(seatIDs(out.Hold), want) {
		t.Fatalf("Hold(5 split of b) = %v %v; want %v", out.Result, seatIDs(out.Hold), want)
	}
	// 3 left (A/3/9, A/3/10 and nothing else): asking 3 is sold out, never fewer.
	if out := e.Hold(0, &HoldRequest{Program: "p", User: 3, Count: 3, Category: "b"}); out.Result != ResultSoldOut {
		t.Fatalf("Hold(3 of 2 left) = %v; want sold_out", out.Result)
	}
}

func TestManualHold(t *testing.T) {
	e := newTestEngine(t, arenaSpec(t, "p", 3, 10))
	first := e.Hold(sec, &HoldRequest{Program: "p", User: 1, Seats: []string{"A/2/3", "A/2/4"}})
	if first.Result != ResultOK || first.Hold.TotalCents != 1000 {
		t.Fatalf("Hold(A/2/3, A/2/4) = %+v", first)
	}
	e.Block(0, &BlockRequest{Program: "p", Seats: []string{"A/3/1"}})
	e.Tick(2*sec, nil)
	tests := []struct {
		name string
		req  HoldRequest
		res  Result
		bad  string
	}{
		{"unknown section", HoldRequest{Seats: []string{"A/2/1", "Q/1/1"}}, ResultUnknownSeat, "Q/1/1"},
		{"unknown column", HoldRequest{Seats: []string{"A/2/11"}}, ResultUnknownSeat, "A/2/11"},
		{"not a seat id", HoldRequest{Seats: []string{"A-2-1"}}, ResultUnknownSeat, "A-2-1"},
		{"taken names the first taken", HoldRequest{Seats: []string{"A/2/5", "A/2/4", "A/2/3"}}, ResultSeatTaken, "A/2/4"},
		{"blocked", HoldRequest{Seats: []string{"A/3/1"}}, ResultSeatBlocked, "A/3/1"},
		{"wrong category", HoldRequest{Category: "a", Seats: []string{"A/1/1", "A/2/1"}}, ResultWrongCategory, "A/2/1"},
		{"repeated seat", HoldRequest{Seats: []string{"A/2/1", "A/2/1"}}, ResultInvalidArgument, "A/2/1"},
		{"count disagrees", HoldRequest{Count: 3, Seats: []string{"A/2/1"}}, ResultInvalidArgument, ""},
		{"lower expected price", HoldRequest{Seats: []string{"A/1/1", "A/2/1"}, CheckTotal: true, ExpectedTotalCents: 1499}, ResultPriceMismatch, ""},
		{"exact expected price", HoldRequest{Seats: []string{"A/1/1", "A/2/1"}, CheckTotal: true, ExpectedTotalCents: 1500}, ResultOK, ""},
		{"higher expected price is fine", HoldRequest{Seats: []string{"A/1/2"}, CheckTotal: true, ExpectedTotalCents: 5000}, ResultOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Program, tt.req.User = "p", 2
			before := e.AppendSnapshot(nil)
			out := e.Hold(2*sec, &tt.req)
			if out.Result != tt.res || out.BadSeat != tt.bad {
				t.Fatalf("Hold(%v) = %v %q; want %v %q", tt.req.Seats, out.Result, out.BadSeat, tt.res, tt.bad)
			}
			if tt.res != ResultOK && !slices.Equal(before, e.AppendSnapshot(nil)) {
				t.Fatalf("a refused hold changed the state")
			}
		})
	}
}

func TestLimits(t *testing.T) {
	spec := arenaSpec(t, "p", 3, 10)
	spec.MaxSeatsPerHold, spec.MaxSeatsPerUser = 2, 3
	e := newTestEngine(t, spec)
	if out := e.Hold(0, &HoldRequest{Program: "p", User: 1, Count: 3}); out.Result != ResultHoldLimitExceeded {
		t.Fatalf("Hold(3 > per hold 2) = %v", out.Result)
	}
	e.Hold(0, &HoldRequest{Program: "p", User: 1, Count: 2})
	if out := e.Hold(0, &HoldRequest{Program: "p", User: 1, Count: 2}); out.Result != ResultUserLimitExceeded {
		t.Fatalf("Hold(user at 2 + 2 > 3) = %v", out.Result)
	}
	one := e.Hold(0, &HoldRequest{Program: "p", User: 1, Count: 1})
	if one.Result != ResultOK {
		t.Fatalf("Hold(user at 2 + 1) = %v", one.Result)
	}
	e.Release(0, one.Hold.ID, 1, ReleaseCancelled)
	if out := e.Hold(0, &HoldRequest{Program: "p", User: 1, Count: 1}); out.Result != ResultOK {
		t.Fatalf("Hold after a release gave a seat back = %v", out.Result)
	}

	small, _ := New(Config{MaxLiveHolds: 2, MaxHolds: 3})
	s2 := arenaSpec(t, "q", 2, 5)
	small.CreateProgram(0, &s2)
	small.OpenSale(0, "q")
	for u := uint64(1); u <= 2; u++ {
		small.Hold(0, &HoldRequest{Program: "q", User: u, Count: 1})
	}
	if out := small.Hold(0, &HoldRequest{Program: "q", User: 3, Count: 1}); out.Result != ResultTooManyHolds {
		t.Fatalf("Hold(third live of 2) = %v; want too_many_holds", out.Result)
	}
}

func TestRealName(t *testing.T) {
	l, _ := Train{Carriages: 2, Rows: 3, Categories: []GridCategory{{"first", 1, 1}, {"second", 2, 2}}}.Layout()
	spec := ProgramSpec{ID: "g1", Stops: []string{"Beijing", "Jinan", "Nanjing", "Shanghai"}, RealName: true, Layout: l,
		Categories: []Category{{ID: "first", PriceCents: 90000}, {ID: "second", PriceCents: 55000}}}
	e := newTestEngine(t, spec)
	today := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC).UnixNano()
	zhang := Holder{Name: "Zhang San", IDNumber: "110101199003077774"}
	li := Holder{Name: "Li Si", IDNumber: "11010519491231002X"}
	hold := func(from, to int, hs ...Holder) HoldOutcome {
		return e.Hold(today, &HoldRequest{Program: "g1", User: 1, Count: len(hs), From: from, To: to, Category: "second", Holders: hs})
	}
	if out := hold(0, 2, zhang, li); out.Result != ResultOK {
		t.Fatalf("Hold(Beijing-Nanjing for two) = %v", out.Result)
	}
	passport := Holder{Name: "Zhang San", IDType: IDPassport, IDNumber: "110101199003077774"}
	wang := Holder{Name: "Wang Wu", IDType: IDPassport, IDNumber: "320102198511151230"}
	tests := []struct {
		name     string
		from, to int
		hs       []Holder
		want     Result
		fault    Fault
	}{
		{"same person overlapping leg", 1, 3, []Holder{zhang}, ResultHolderLimitExceeded, Fault{Field: FieldHolderIDNumber}},
		{"same person later legs", 2, 3, []Holder{zhang}, ResultOK, noFault},
		{"same id twice in one hold", 2, 3, []Holder{wang, wang}, ResultHoldersMismatch, Fault{Field: FieldHolderIDNumber, Index: 1}},
		{"the same number as a passport is the same person", 1, 3, []Holder{passport}, ResultHolderLimitExceeded, Fault{Field: FieldHolderIDNumber}},
		{"the same number twice, as two types", 2, 3, []Holder{wang, {Name: "W", IDNumber: wang.IDNumber}}, ResultHoldersMismatch,
			Fault{Field: FieldHolderIDNumber, Index: 1}},
		{"missing id number", 2, 3, []Holder{{Name: "X"}}, ResultHoldersMismatch, Fault{Field: FieldHolderIDNumber}},
		{"wrong check character", 2, 3, []Holder{{Name: "X", IDNumber: "110101199003077775"}}, ResultHoldersMismatch, Fault{Field: FieldHolderIDNumber}},
		{"not normalised", 2, 3, []Holder{{Name: "X", IDNumber: "11010519491231002x"}}, ResultHoldersMismatch, Fault{Field: FieldHolderIDNumber}},
		{"no such birthday", 2, 3, []Holder{{Name: "X", IDNumber: "110101190002290054"}}, ResultHoldersMismatch, Fault{Field: FieldHolderIDNumber}},
		{"born after today", 2, 3, []Holder{{Name: "X", IDNumber: "110101209912310015"}}, ResultHoldersMismatch, Fault{Field: FieldHolderIDNumber}},
		{"no such province", 2, 3, []Holder{{Name: "X", IDNumber: "00000019900101123X"}}, ResultHoldersMismatch, Fault{Field: FieldHolderIDNumber}},
		{"unknown id type", 2, 3, []Holder{{Name: "X", IDType: 9, IDNumber: "E12345678"}}, ResultHoldersMismatch, Fault{Field: FieldHolderIDType}},
		{"no name", 2, 3, []Holder{{IDNumber: "320102198511151230"}}, ResultHoldersMismatch, Fault{Field: FieldHolderName}},
		{"control character in a name", 2, 3, []Holder{{Name: "A\x00B", IDNumber: "320102198511151230"}}, ResultHoldersMismatch, Fault{Field: FieldHolderName}},
		{"a name that was not text", 2, 3, []Holder{{Name: "Wang\ufffd", IDNumber: "320102198511151230"}}, ResultHoldersMismatch, Fault{Field: FieldHolderName}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := hold(tt.from, tt.to, tt.hs...)
			if out.Result != tt.want || out.Fault != tt.fault {
				t.Fatalf("Hold(%d-%d, %v) = %v %+v; want %v %+v", tt.from, tt.to, tt.hs, out.Result, out.Fault, tt.want, tt.fault)
			}
		})
	}
	out := e.Hold(today, &HoldRequest{Program: "g1", User: 1, Count: 2, Holders: []Holder{li}})
	if want := (Fault{Field: FieldHolders, Index: -1, Limit: 2, Actual: 1}); out.Result != ResultHoldersMismatch || out.Fault != want {
		t.Fatalf("Hold(2 seats, 1 holder) = %v %+v; want holders_mismatch %+v", out.Result, out.Fault, want)
	}
}

// TestNormalizeIDNumber: the forms people type an ID number in come out as
// the one form the engine compares.
func TestNormalizeIDNumber(t *testing.T) {
	tests := []struct{ in, want string }{
		{"11010519491231002X", "11010519491231002X"},
		{"11010519491231002x", "11010519491231002X"},
		{" 110105 19491231 002x\t", "11010519491231002X"},
		{"１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X"}, // full-width, as Chinese input methods type
		{"１１０１０５１９４９１２３１００２ｘ", "11010519491231002X"},
		{"110105\u300019491231002X", "11010519491231002X"}, // ideographic space
		{"e 1234 5678", "E12345678"},
	}
	for _, tt := range tests {
		if got := NormalizeIDNumber(tt.in); got != tt.want {
			t.Errorf("NormalizeIDNumber(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestIdempotencyAndOrderNumbers(t *testing.T) {
	e := newTestEngine(t, arenaSpec(t, "p", 3, 10))
	req := HoldRequest{Program: "p", User: 12345, Count: 2, RequestID: RequestID{1, 2, 3}}
	first := e.Hold(sec, &req)
	again := e.Hold(2*sec, &req)
	if first.Result != ResultOK || !again.Replayed || again.Hold.ID != first.Hold.ID || !slices.Equal(seatIDs(again.Hold), seatIDs(first.Hold)) {
		t.Fatalf("Hold(same request id) = %+v; want the first hold %d again", again, first.Hold.ID)
	}
	if e.Stats(e.Now()).LiveHolds != 1 {
		t.Fatalf("a replayed hold made a second hold")
	}
	other := req
	other.User = 999
	if out := e.Hold(2*sec, &other); out.Replayed || out.Hold.ID == first.Hold.ID {
		t.Fatalf("another user's equal request id replayed the first hold")
	}
	// After the TTL the request id is forgotten: a new hold.
	e.Tick(sec+int64(time.Minute), nil)
	if out := e.Hold(sec+int64(time.Minute)+1, &req); out.Replayed || out.Result != ResultOK {
		t.Fatalf("Hold(request id after TTL) = %+v; want a new hold", out)
	}
	o := first.Hold.OrderNo
	if o.Gene() != UserGene(12345) || o.Group() != 5 || first.Hold.ID.Group() != 5 {
		t.Fatalf("order number %d: gene %d group %d; want gene %d group 5", o, o.Gene(), o.Group(), UserGene(12345))
	}
	if other := e.Hold(3*sec, &HoldRequest{Program: "p", User: 1, Count: 1}); other.Hold.OrderNo == o {
		t.Fatalf("two holds share order number %d", o)
	}
}

func TestLifecycle(t *testing.T) {
	spec := arenaSpec(t, "p", 3, 10)
	e := newTestEngine(t, spec)
	ttl := int64(time.Minute)
	h := e.Hold(0, &HoldRequest{Program: "p", User: 1, Count: 2, Category: "b"}).Hold
	if r := e.Release(sec, h.ID, 2, ReleaseCancelled); r != ResultNotOwner {
		t.Fatalf("Release(by another user) = %v", r)
	}
	if r := e.Confirm(sec, h.ID); r != ResultOK {
		t.Fatalf("Confirm = %v", r)
	}
	if r := e.Confirm(sec, h.ID); r != ResultOK {
		t.Fatalf("Confirm(again) = %v; want ok", r)
	}
	if r := e.Release(sec, h.ID, 1, ReleaseCancelled); r != ResultHoldConfirmed {
		t.Fatalf("Release(confirmed) = %v", r)
	}
	avail, _, _ := e.Availability("p", 0, 0, sec)
	if avail[1].Sold != 2 || avail[1].Free != 18 {
		t.Fatalf("Availability after confirm = %+v", avail[1])
	}

	// Refund one seat: not resold, so it is blocked; then the other.
	first := h.Program.Seat(h.Seats[0]).ID
	r, amount, _ := e.Refund(sec, h.ID, []string{first})
	if r != ResultOK || amount != 500 {
		t.Fatalf("Refund(%s) = %v %d", first, r, amount)
	}
	if r, _, bad := e.Refund(sec, h.ID, []string{first}); r != ResultAlreadyRefunded || bad != first {
		t.Fatalf("Refund(%s again) = %v %s", first, r, bad)
	}
	if r, _, bad := e.Refund(sec, h.ID, []string{"A/1/1"}); r != ResultSeatNotInHold || bad != "A/1/1" {
		t.Fatalf("Refund(A/1/1) = %v %s", r, bad)
	}
	if r, amount, _ := e.Refund(sec, h.ID, nil); r != ResultOK || amount != 500 {
		t.Fatalf("Refund(rest) = %v %d", r, amount)
	}
	if got, _ := e.GetHold(h.ID, sec); got.Status != HoldRefunded {
		t.Fatalf("status after full refund = %v", got.Status)
	}
	avail, _, _ = e.Availability("p", 0, 0, sec)
	if avail[1].Blocked != 2 || avail[1].Sold != 0 {
		t.Fatalf("Availability after refund = %+v; want 2 blocked", avail[1])
	}

	// Expiry: a hold not paid by its TTL is released by Tick, and a confirm
	// after the TTL fails even before the Tick.
	a := e.Hold(2*sec, &HoldRequest{Program: "p", User: 3, Count: 1}).Hold
	b := e.Hold(3*sec, &HoldRequest{Program: "p", User: 3, Count: 1}).Hold
	// The confirmed hold's request-id window ends first.
	if next, ok := e.NextExpiry(); !ok || next != h.ExpiresAt {
		t.Fatalf("NextExpiry = %d %v; want %d", next, ok, h.ExpiresAt)
	}
	if r := e.Confirm(2*sec+ttl, a.ID); r != ResultHoldExpired {
		t.Fatalf("Confirm(at expiry) = %v", r)
	}
	if got := e.Tick(3*sec+ttl, nil); !slices.Equal(got, []HoldID{b.ID}) {
		t.Fatalf("Tick = %v; want [%d]", got, b.ID)
	}
	if r := e.Confirm(4*sec+ttl, b.ID); r != ResultHoldExpired {
		t.Fatalf("Confirm(expired) = %v", r)
	}
	if got, ok := e.GetHold(b.ID, 4*sec+ttl); !ok || got.Status != HoldReleased || got.Reason != ReleaseExpired {
		t.Fatalf("GetHold(expired) = %+v %v", got, ok)
	}
	// One TTL after expiry the released record is purged.
	e.Tick(4*sec+2*ttl, nil)
	if _, ok := e.GetHold(b.ID, 4*sec+2*ttl); ok {
		t.Fatalf("expired hold still kept two TTLs after creation")
	}
	if r := e.Confirm(5*sec+2*ttl, b.ID); r != ResultHoldNotFound {
		t.Fatalf("Confirm(purged) = %v", r)
	}
	if r, _, _ := e.Refund(sec, b.ID, nil); r != ResultHoldNotFound {
		t.Fatalf("Refund(purged) = %v", r)
	}
	// A closed sale refuses holds but keeps the rest working.
	e.CloseSale(6*sec+2*ttl, "p")
	if out := e.Hold(6*sec+2*ttl, &HoldRequest{Program: "p", User: 9, Count: 1}); out.Result != ResultSaleNotOpen {
		t.Fatalf("Hold(closed sale) = %v", out.Result)
	}
	if out := e.Hold(0, &HoldRequest{Program: "nope", User: 9, Count: 1}); out.Result != ResultProgramNotFound {
		t.Fatalf("Hold(unknown program) = %v", out.Result)
	}
}

func TestBlockAndTrainAvailability(t *testing.T) {
	l, _ := Train{Carriages: 1, Rows: 2, Categories: []GridCategory{{"second", 1, 1}}}.Layout()
	spec := ProgramSpec{ID: "g", Stops: []string{"A", "B", "C", "D"}, Layout: l, Categories: []Category{{ID: "second", PriceCents: 100}}}
	e := newTestEngine(t, spec)
	// Sell 1/1/1 for A-B, hold 1/1/2 for B-D, block 1/2/1 for C-D.
	sold := e.Hold(0, &HoldRequest{Program: "g", User: 1, Seats: []string{"1/1/1"}, From: 0, To: 1}).Hold
	e.Confirm(0, sold.ID)
	e.Hold(0, &HoldRequest{Program: "g", User: 2, Seats: []string{"1/1/2"}, From: 1, To: 3})
	if r, _ := e.Block(0, &BlockRequest{Program: "g", Seats: []string{"1/2/1"}, From: 2, To: 3}); r != ResultOK {
		t.Fatalf("Block = %v", r)
	}
	tests := []struct {
		from, to                  int
		free, held, sold, blocked int
	}{
		{0, 1, 9, 0, 1, 0},
		{0, 3, 7, 1, 1, 1},
		{1, 3, 8, 1, 0, 1},
		{1, 2, 9, 1, 0, 0},
	}
	for _, tt := range tests {
		a, _, r := e.Availability("g", tt.from, tt.to, 0)
		got := a[0]
		if r != ResultOK || got.Capacity != 10 || got.Free != tt.free || got.Held != tt.held || got.Sold != tt.sold || got.Blocked != tt.blocked {
			t.Errorf("Availability(%d, %d) = %+v; want free %d held %d sold %d blocked %d", tt.from, tt.to, got, tt.free, tt.held, tt.sold, tt.blocked)
		}
	}
	// The same seat is free again for a later leg range.
	if out := e.Hold(0, &HoldRequest{Program: "g", User: 3, Seats: []string{"1/1/1"}, From: 1, To: 3}); out.Result != ResultOK {
		t.Fatalf("Hold(sold seat, later legs) = %v", out.Result)
	}
	for _, tt := range []struct {
		seats []string
		block bool
		want  Result
	}{
		{[]string{"1/2/1"}, true, ResultSeatBlocked},
		{[]string{"1/1/2"}, true, ResultSeatTaken},
		{[]string{"1/2/2"}, false, ResultNotBlocked},
		{[]string{"1/9/9"}, true, ResultUnknownSeat},
		{nil, true, ResultInvalidArgument},
	} {
		req := &BlockRequest{Program: "g", Seats: tt.seats}
		r, _ := e.Unblock(0, req)
		if tt.block {
			r, _ = e.Block(0, req)
		}
		if r != tt.want {
			t.Errorf("Block(%v, %v) = %v; want %v", tt.seats, tt.block, r, tt.want)
		}
	}
	m, _, _ := e.SeatMap("g", 2, 3, 0, nil)
	if m[0] != SeatHeld || m[1] != SeatHeld || m[5] != SeatBlocked {
		t.Fatalf("SeatMap(C-D) = %v", m[:6])
	}
	if _, _, r := e.SeatMap("g", 2, 9, 0, nil); r != ResultInvalidArgument {
		t.Fatalf("SeatMap(to past the last stop) = %v", r)
	}
}

func TestSnapshotRejectsDamage(t *testing.T) {
	e := newTestEngine(t, arenaSpec(t, "p", 3, 10))
	e.Hold(0, &HoldRequest{Program: "p", User: 1, Count: 2, RequestID: RequestID{9}})
	snap := e.AppendSnapshot(nil)
	cfg := Config{Group: 5}
	if _, err := Restore(cfg, snap); err != nil {
		t.Fatalf("Restore(good) = %v", err)
	}
	for n := range len(snap) {
		if _, err := Restore(cfg, snap[:n]); !errors.Is(err, ErrSnapshotCorrupt) {
			t.Fatalf("Restore(first %d of %d bytes) = %v; want ErrSnapshotCorrupt", n, len(snap), err)
		}
	}
	for i := range snap {
		bad := slices.Clone(snap)
		bad[i] ^= 0x20
		if _, err := Restore(cfg, bad); err == nil {
			t.Fatalf("Restore(byte %d flipped) succeeded", i)
		}
	}
	v := slices.Clone(snap)
	v[len(snapshotMagic)] = 99
	if _, err := Restore(cfg, v); !errors.Is(err, ErrSnapshotVersion) {
		t.Fatalf("Restore(version 99) = %v", err)
	}
	if _, err := Restore(Config{Group: 6}, snap); !errors.Is(err, ErrSnapshotCorrupt) {
		t.Fatalf("Restore(other group) = %v", err)
	}
}

func TestResultNames(t *testing.T) {
	seen := map[string]bool{}
	for r := ResultOK; r <= ResultTooManySeats; r++ {
		name := r.String()
		if seen[name] || strings.HasPrefix(name, "result_") {
			t.Fatalf("Result(%d).String() = %q: missing or repeated", r, name)
		}
		seen[name] = true
	}
}

func TestOutbox(t *testing.T) {
	e, _ := New(Config{Group: 5, MaxOutbox: 3})
	spec := arenaSpec(t, "p", 3, 10)
	e.CreateProgram(0, &spec)
	e.OpenSale(0, "p")
	a := e.Hold(sec, &HoldRequest{Program: "p", User: 7, Count: 2}).Hold
	e.Confirm(2*sec, a.ID)
	e.Refund(3*sec, a.ID, []string{"A/1/6"})
	evs := e.Outbox(0, 10)
	kinds := []EventKind{}
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
	}
	if !slices.Equal(kinds, []EventKind{EventHoldPlaced, EventHoldConfirmed, EventSeatsRefunded}) {
		t.Fatalf("Outbox kinds = %v", kinds)
	}
	placed, refund := evs[0], evs[2]
	if placed.Seq != 1 || placed.OrderNo != a.OrderNo || placed.AmountCents != 2000 || placed.ExpiresAt != a.ExpiresAt || len(placed.Seats) != 2 {
		t.Fatalf("HoldPlaced = %+v", placed)
	}
	if refund.AmountCents != 1000 || len(refund.Seats) != 1 || refund.Program.Seat(refund.Seats[0]).ID != "A/1/6" {
		t.Fatalf("SeatsRefunded = %+v", refund)
	}
	if got := e.Outbox(1, 1); len(got) != 1 || got[0].Seq != 2 {
		t.Fatalf("Outbox(after 1, max 1) = %+v", got)
	}
	// Three events wait: the outbox is full, so new holds are refused, but
	// expiry and release still work.
	if out := e.Hold(4*sec, &HoldRequest{Program: "p", User: 8, Count: 1}); out.Result != ResultOutboxFull {
		t.Fatalf("Hold(outbox full) = %v", out.Result)
	}
	if r := e.AckOutbox(4*sec, 4); r != ResultInvalidArgument {
		t.Fatalf("AckOutbox(beyond last) = %v", r)
	}
	if r := e.AckOutbox(4*sec, 2); r != ResultOK || len(e.Outbox(0, 10)) != 1 {
		t.Fatalf("AckOutbox(2) = %v, %d left", r, len(e.Outbox(0, 10)))
	}
	b := e.Hold(5*sec, &HoldRequest{Program: "p", User: 8, Count: 1}).Hold
	e.Tick(5*sec+int64(time.Minute), nil)
	last, acked := e.OutboxSeq()
	if last != 5 || acked != 2 {
		t.Fatalf("OutboxSeq = %d %d; want 5 2", last, acked)
	}
	if ev := e.Outbox(4, 1)[0]; ev.Kind != EventHoldReleased || ev.Reason != ReleaseExpired || ev.Hold != b.ID {
		t.Fatalf("expiry event = %+v", ev)
	}
	// The outbox survives a snapshot.
	r, err := Restore(Config{Group: 5, MaxOutbox: 3}, e.AppendSnapshot(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Outbox(0, 10), e.Outbox(0, 10); len(got) != 3 || got[2].Hold != want[2].Hold || got[0].Seq != 3 {
		t.Fatalf("restored outbox = %+v; want %+v", got, want)
	}
	if err := e.Check(); err != nil {
		t.Fatal(err)
	}
}

// rowsSpec is a program of one category "a" at 100 cents and one section
// "A" whose rows have the given ranks and columns 1..cols.
func rowsSpec(id string, cols int, ranks ...int) ProgramSpec {
	sec := Section{ID: "A"}
	for i, rank := range ranks {
		r := Row{ID: strconv.Itoa(i + 1), Rank: rank}
		for c := 1; c <= cols; c++ {
			r.Seats = append(r.Seats, Seat{Col: c, Category: "a"})
		}
		sec.Rows = append(sec.Rows, r)
	}
	return ProgramSpec{ID: id, Layout: Layout{Sections: []Section{sec}}, HoldTTL: time.Minute, MaxSeatsPerUser: 64,
		Categories: []Category{{ID: "a", PriceCents: 100}}}
}

// TestOrphans: best-available prefers blocks that leave no single empty
// seat beside a taken seat, a row end or an aisle, within a rank; a
// program can allow them; a program can refuse manual holds that leave
// one.
func TestOrphans(t *testing.T) {
	holds := func(t *testing.T, e *Engine, program string, k int, want ...[]string) {
		t.Helper()
		for i, w := range want {
			out := e.Hold(sec, &HoldRequest{Program: program, User: uint64(i + 1), Count: k, Together: true})
			if out.Result != ResultOK || !slices.Equal(seatIDs(out.Hold), w) {
				t.Fatalf("hold %d of %d: %v %v; want %v", i+1, k, out.Result, seatIDs(out.Hold), w)
			}
		}
	}
	t.Run("row of 9, three pairs", func(t *testing.T) {
		// Nearest the centre alone would give 4-5, 6-7, then 2-3, leaving
		// seat 1 by itself while 8-9 leaves none.
		e := newTestEngine(t, rowsSpec("p", 9, 1))
		holds(t, e, "p", 2, []string{"A/1/4", "A/1/5"}, []string{"A/1/6", "A/1/7"}, []string{"A/1/8", "A/1/9"})
	})
	t.Run("allowed", func(t *testing.T) {
		spec := rowsSpec("p", 9, 1)
		spec.AllowOrphans = true
		e := newTestEngine(t, spec)
		holds(t, e, "p", 2, []string{"A/1/4", "A/1/5"}, []string{"A/1/6", "A/1/7"}, []string{"A/1/2", "A/1/3"})
	})
	t.Run("another row of the same rank", func(t *testing.T) {
		// Row 1 has 1-3 free: every pair there strands a seat. Row 2, of
		// the same rank, has 1-4: its centre pair 2-3 strands two, so 1-2.
		e := newTestEngine(t, rowsSpec("p", 4, 1, 1, 2))
		e.Block(0, &BlockRequest{Program: "p", Seats: []string{"A/1/4"}})
		holds(t, e, "p", 2, []string{"A/2/1", "A/2/2"})
	})
	t.Run("rank comes first", func(t *testing.T) {
		// Row 1 strands a seat whatever it gives; row 2 is a worse rank
		// with room to spare: row 1 still wins, its pair nearest the
		// centre.
		e := newTestEngine(t, rowsSpec("p", 4, 1, 2))
		e.Block(0, &BlockRequest{Program: "p", Seats: []string{"A/1/4"}})
		holds(t, e, "p", 2, []string{"A/1/2", "A/1/3"})
	})
	t.Run("an aisle is a row end", func(t *testing.T) {
		// Columns 1-3 and 5-9 (an aisle at 4): 3 taken leaves 1-2 and 5-9.
		spec := rowsSpec("p", 9, 1)
		spec.Layout.Sections[0].Rows[0].Seats = slices.Delete(spec.Layout.Sections[0].Rows[0].Seats, 3, 4)
		e := newTestEngine(t, spec)
		e.Block(0, &BlockRequest{Program: "p", Seats: []string{"A/1/3"}})
		// 5-6 is nearest the centre and leaves nothing alone (the aisle
		// is no seat). Then 7-8 would leave 9 at the row's end: 1-2 and
		// 8-9 leave none, equally far, and the lower column wins. Then
		// every pair strands one: the nearest.
		holds(t, e, "p", 2, []string{"A/1/5", "A/1/6"}, []string{"A/1/1", "A/1/2"}, []string{"A/1/7", "A/1/8"})
	})
	t.Run("manual holds", func(t *testing.T) {
		spec := rowsSpec("r", 9, 1)
		spec.RefuseOrphans = true
		e := newTestEngine(t, rowsSpec("p", 9, 1), spec)
		// Allowed by default.
		if out := e.Hold(sec, &HoldRequest{Program: "p", User: 1, Seats: []string{"A/1/2", "A/1/3"}}); out.Result != ResultOK {
			t.Fatalf("Hold(A/1/2 A/1/3) without the rule = %v", out.Result)
		}
		// Each names, in request order, the first seat beside one it
		// would leave alone: 1 (row end), 4 (between two picks), 2.
		before := e.AppendSnapshot(nil)
		for _, seats := range [][]string{{"A/1/2", "A/1/3"}, {"A/1/5", "A/1/3"}, {"A/1/1", "A/1/3"}} {
			out := e.Hold(sec, &HoldRequest{Program: "r", User: 1, Seats: seats})
			if out.Result != ResultOrphanSeat || out.BadSeat != seats[0] {
				t.Fatalf("Hold(%v) = %v %q; want orphan_seat naming the seat beside the orphan", seats, out.Result, out.BadSeat)
			}
		}
		if !slices.Equal(before, e.AppendSnapshot(nil)) {
			t.Fatal("a refused hold changed the state")
		}
		for i, seats := range [][]string{{"A/1/1", "A/1/2"}, {"A/1/5", "A/1/6", "A/1/4", "A/1/3"}, {"A/1/9"}} {
			if out := e.Hold(sec, &HoldRequest{Program: "r", User: uint64(i + 2), Seats: seats}); out.Result != ResultOK {
				t.Fatalf("Hold(%v) = %v %q; want ok", seats, out.Result, out.BadSeat)
			}
		}
	})
}

// TestAccessibleSeats: a general request takes accessible seats only when
// nothing else fits it, adjacent or split; a program can keep them for
// requests that ask for them; an accessible request takes only them.
func TestAccessibleSeats(t *testing.T) {
	// One row of 6, seats 3 and 4 accessible (the centre), rank 1; a row
	// of 2 behind it, rank 2.
	spec := rowsSpec("p", 6, 1)
	spec.Layout.Sections[0].Rows[0].Seats[2].Accessible = true
	spec.Layout.Sections[0].Rows[0].Seats[3].Accessible = true
	spec.Layout.Sections[0].Rows = append(spec.Layout.Sections[0].Rows, Row{ID: "2", Rank: 2, Seats: []Seat{{Col: 1, Category: "a"}, {Col: 2, Category: "a"}}})
	reserved := spec
	reserved.ID, reserved.ReserveAccessible = "r", true
	hold := func(t *testing.T, e *Engine, program string, user uint64, k int, together, accessible bool, want []string, res Result) {
		t.Helper()
		out := e.Hold(sec, &HoldRequest{Program: program, User: user, Count: k, Together: together, Accessible: accessible})
		if out.Result != res || res == ResultOK && !slices.Equal(seatIDs(out.Hold), want) {
			t.Fatalf("Hold(%d, together %v, accessible %v) = %v %v; want %v %v", k, together, accessible, out.Result, seatIDs(out.Hold), res, want)
		}
	}
	for _, program := range []string{"p", "r"} {
		t.Run(program, func(t *testing.T) {
			e := newTestEngine(t, spec, reserved)
			// The centre pair is accessible: a worse rank first, then the
			// sides of the row, never the centre.
			hold(t, e, program, 1, 2, true, false, []string{"A/1/1", "A/1/2"}, ResultOK)
			hold(t, e, program, 2, 2, true, false, []string{"A/1/5", "A/1/6"}, ResultOK)
			hold(t, e, program, 3, 2, true, false, []string{"A/2/1", "A/2/2"}, ResultOK)
			if program == "r" {
				// Kept: a general buyer is told sold out, split or not.
				hold(t, e, program, 4, 1, false, false, nil, ResultSoldOut)
				hold(t, e, program, 4, 2, true, false, nil, ResultSoldOut)
			} else {
				// Nothing else fits: the accessible seats, as a last resort.
				hold(t, e, program, 4, 2, true, false, []string{"A/1/3", "A/1/4"}, ResultOK)
				hold(t, e, program, 5, 1, false, false, nil, ResultSoldOut)
				return
			}
			hold(t, e, program, 5, 2, true, true, []string{"A/1/3", "A/1/4"}, ResultOK)
		})
	}
	t.Run("split before accessible", func(t *testing.T) {
		// Free: 1, 3 (accessible), 4 (accessible), 6; and row 2's pair
		// taken. Two apart without accessible seats fit: 1 and 6.
		e := newTestEngine(t, spec)
		e.Block(0, &BlockRequest{Program: "p", Seats: []string{"A/1/2", "A/1/5", "A/2/1", "A/2/2"}})
		hold(t, e, "p", 1, 2, false, false, []string{"A/1/1", "A/1/6"}, ResultOK)
	})
}
