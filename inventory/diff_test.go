package inventory

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
)

// chooser is where a command sequence gets its choices: a seeded RNG for
// the differential test, fuzz input bytes for FuzzCommands.
type chooser interface {
	intn(n int) int
}

type rngChooser struct{ r *rand.Rand }

func (c rngChooser) intn(n int) int { return c.r.IntN(n) }

// bytesChooser reads choices from fuzz input; past its end every choice is 0.
type bytesChooser struct{ b []byte }

func (c *bytesChooser) intn(n int) int {
	if len(c.b) == 0 || n <= 1 {
		return 0
	}
	v := int(c.b[0])
	c.b = c.b[1:]
	if n > 256 && len(c.b) > 0 {
		v = v<<8 | int(c.b[0])
		c.b = c.b[1:]
	}
	return v % n
}

// randomSpec makes a small program: arenas and trains, gaps in rows,
// mixed-category rows, accessible seats, rank ties, custom labels. A wide
// one has holds of up to MaxSeatsPerHoldLimit seats and rows of one to
// four words with few aisles, so that blocks of 63 and 64 seats and
// starts at the words' edges get tried.
func randomSpec(c chooser, id string, wide bool) ProgramSpec {
	legs := 1
	if c.intn(2) == 0 {
		legs = 1 + c.intn(5)
	}
	spec := ProgramSpec{
		ID: id, Name: "program " + id,
		HoldTTL:           time.Duration(10+c.intn(50)) * time.Second,
		MaxSeatsPerHold:   1 + c.intn(6),
		RealName:          c.intn(5) == 0,
		RefundResells:     c.intn(2) == 0,
		AllowOrphans:      c.intn(4) == 0,
		RefuseOrphans:     c.intn(3) == 0,
		ReserveAccessible: c.intn(3) == 0,
	}
	if wide {
		spec.MaxSeatsPerHold = 1 + c.intn(MaxSeatsPerHoldLimit)
	}
	spec.MaxSeatsPerUser = spec.MaxSeatsPerHold + c.intn(6)
	if wide {
		spec.MaxSeatsPerUser = 4*spec.MaxSeatsPerHold + c.intn(6)
	}
	for i := 0; i <= legs; i++ {
		spec.Stops = append(spec.Stops, "stop"+strconv.Itoa(i))
	}
	nCats := 1 + c.intn(3)
	for i := range nCats {
		spec.Categories = append(spec.Categories, Category{ID: "c" + strconv.Itoa(i), PriceCents: int64(100 * (1 + c.intn(5)))})
	}
	nSec := 1 + c.intn(3)
	for s := range nSec {
		sec := Section{ID: sectionName(s)}
		nRows := 1 + c.intn(4)
		for r := range nRows {
			row := Row{ID: strconv.Itoa(r + 1), Rank: 1 + c.intn(4)}
			cat := spec.Categories[c.intn(nCats)].ID
			mixed := c.intn(4) == 0
			col := 1 + c.intn(3)
			n := 1 + c.intn(14)
			if c.intn(10) == 0 || wide && c.intn(2) == 0 {
				n = 60 + c.intn(80) // several bitset words
				if wide {
					n = 60 + c.intn(150)
				}
			}
			for range n {
				st := Seat{Col: col, Category: cat, Accessible: c.intn(8) == 0, Aisle: c.intn(5) == 0}
				if mixed {
					st.Category = spec.Categories[c.intn(nCats)].ID
				}
				if c.intn(10) == 0 {
					st.Label = "L" + strconv.Itoa(col)
				}
				row.Seats = append(row.Seats, st)
				col++
				if c.intn(6) == 0 && (!wide || c.intn(6) == 0) {
					col++ // an aisle
				}
			}
			sec.Rows = append(sec.Rows, row)
		}
		spec.Layout.Sections = append(spec.Layout.Sections, sec)
	}
	// Half the programs are on a plan, and half of those have a focal
	// point: near the sections, so that it falls beside, between and on
	// seats and rows, and equal distances happen.
	if c.intn(2) == 0 {
		for i := range spec.Layout.Sections {
			spec.Layout.Sections[i].At = &Point{X: c.intn(80) - 40, Y: c.intn(60) - 20}
		}
		if c.intn(2) == 0 {
			spec.Focal = &Point{X: c.intn(120) - 20, Y: c.intn(60) - 40}
		}
	}
	return spec
}

// harness drives an engine and the model with the same commands and fails
// on the first difference or broken invariant.
type harness struct {
	t     testing.TB
	c     chooser
	e     *Engine
	m     *model
	cfg   Config
	now   int64
	specs []ProgramSpec
	ids   []HoldID       // every hold id issued, to pick from
	reqs  []*HoldRequest // recent hold requests, to retry
	step  int
}

func newHarness(t testing.TB, c chooser, wide bool) *harness {
	cfg := Config{Group: c.intn(4), MaxLiveHolds: 6 + c.intn(10), MaxHolds: 30 + c.intn(30), MaxOutbox: 10 + c.intn(40),
		MaxRefusals: 2 + c.intn(12)}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A clock of today's, so that holders' dates of birth are in the past.
	h := &harness{t: t, c: c, e: e, cfg: cfg, now: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(),
		m: newModel(cfg.Group, cfg.MaxLiveHolds, cfg.MaxHolds, cfg.MaxOutbox, cfg.MaxRefusals)}
	for i := range 1 + c.intn(3) {
		spec := randomSpec(c, "p"+strconv.Itoa(i), wide)
		if r, err := e.CreateProgram(h.now, &spec); r != ResultOK {
			t.Fatalf("CreateProgram(%s) = %v, %v", spec.ID, r, err)
		}
		p, _ := e.Program(spec.ID)
		h.m.addProgram(p.Spec())
		h.specs = append(h.specs, p.Spec())
		h.openSale(spec.ID, true)
	}
	return h
}

func (h *harness) fatalf(format string, args ...any) {
	h.t.Helper()
	h.t.Fatalf("step %d: "+format, append([]any{h.step}, args...)...)
}

func (h *harness) openSale(id string, open bool) {
	var r Result
	if open {
		r = h.e.OpenSale(h.now, id)
	} else {
		r = h.e.CloseSale(h.now, id)
	}
	if r != ResultOK {
		h.fatalf("sale %s open=%v: %v", id, open, r)
	}
	h.m.advance(h.now)
	if p := h.m.programs[id]; p.open != open {
		p.open = open
		h.m.touch(p)
	}
}

func (h *harness) pickSpec() *ProgramSpec { return &h.specs[h.c.intn(len(h.specs))] }

func (h *harness) seatID(spec *ProgramSpec) string {
	switch h.c.intn(12) {
	case 0:
		return "Z/1/1"
	case 1:
		return spec.Layout.Sections[0].ID + "/1/99"
	}
	sec := spec.Layout.Sections[h.c.intn(len(spec.Layout.Sections))]
	r := sec.Rows[h.c.intn(len(sec.Rows))]
	return sec.ID + "/" + r.ID + "/" + strconv.Itoa(r.Seats[h.c.intn(len(r.Seats))].Col)
}

func (h *harness) holdID() HoldID {
	if len(h.ids) == 0 || h.c.intn(10) == 0 {
		return HoldID(h.c.intn(1 << 14))
	}
	return h.ids[h.c.intn(len(h.ids))]
}

func (h *harness) legs(spec *ProgramSpec) (int, int) {
	legs := len(spec.Stops) - 1
	if h.c.intn(3) == 0 {
		return 0, 0
	}
	from := h.c.intn(legs)
	to := from + 1 + h.c.intn(legs-from)
	if h.c.intn(30) == 0 {
		to = legs + 1 // out of range
	}
	return from, to
}

// testIDs are well-formed ID numbers: resident IDs (GB 11643-1999, check
// characters computed by hand) and passports, with their types.
var testIDs = []Holder{
	{IDType: IDResident, IDNumber: "11010519491231002X"},
	{IDType: IDResident, IDNumber: "110101199003077774"},
	{IDType: IDResident, IDNumber: "44030820000229001X"}, // 29 February 2000
	{IDType: IDResident, IDNumber: "51010419700101001X"},
	{IDType: IDResident, IDNumber: "320102198511151230"},
	{IDType: IDPassport, IDNumber: "E12345678"},
	{IDType: IDPassport, IDNumber: "K1234567"},
	{IDType: IDPassport, IDNumber: "110101199003077774"}, // a resident ID's number sent as a passport's: the same person
}

// badIDs are malformed holders' ID numbers, each for a reason.
var badIDs = []Holder{
	{IDType: IDResident, IDNumber: "110105194912310022"}, // check character
	{IDType: IDResident, IDNumber: "11010519491231002x"}, // not normalised
	{IDType: IDResident, IDNumber: "110101190002290054"}, // 29 February 1900: checksum right, no such day
	{IDType: IDResident, IDNumber: "1101051949123100"},   // short
	{IDType: IDPassport, IDNumber: "E1234"},
	{IDType: IDPassport, IDNumber: "E-1234567"},
	{IDType: 7, IDNumber: "E12345678"},
}

func (h *harness) holders(n int) []Holder {
	var hs []Holder
	for range n {
		hd := testIDs[h.c.intn(len(testIDs))]
		hd.Name = "N"
		hs = append(hs, hd)
	}
	if n > 0 {
		switch h.c.intn(20) {
		case 0:
			hs[n-1].Name = ""
		case 1:
			hs[n-1].Name = " N"
		case 2:
			bad := badIDs[h.c.intn(len(badIDs))]
			hs[n-1].IDType, hs[n-1].IDNumber = bad.IDType, bad.IDNumber
		}
	}
	return hs
}

// run performs one random command on both sides and compares.
func (h *harness) run() {
	h.step++
	h.e.SetLogIndex(uint64(h.step))
	h.m.index = uint64(h.step)
	h.now += int64(h.c.intn(8)) * int64(time.Second)
	now := h.now
	if h.c.intn(20) == 0 {
		now -= int64(time.Minute) // a leader with a slower clock
	}
	spec := h.pickSpec()
	switch op := h.c.intn(20); {
	case op < 9:
		req := &HoldRequest{Program: spec.ID, User: uint64(1 + h.c.intn(6)), Together: h.c.intn(3) != 0}
		if h.c.intn(3) == 0 {
			req.RequestID[0] = byte(1 + h.c.intn(4))
		}
		req.From, req.To = h.legs(spec)
		if h.c.intn(3) == 0 {
			req.Category = spec.Categories[h.c.intn(len(spec.Categories))].ID
			if h.c.intn(20) == 0 {
				req.Category = "nope"
			}
		}
		n := 1 + h.c.intn(spec.MaxSeatsPerHold+1)
		if op < 3 {
			for range n {
				req.Seats = append(req.Seats, h.seatID(spec))
			}
		} else {
			req.Count = n
			req.Accessible = h.c.intn(8) == 0
			if h.c.intn(3) == 0 {
				req.Prefer = SeatPosition(1 + h.c.intn(2))
				if h.c.intn(20) == 0 {
					req.Prefer = SeatPosition(3 + h.c.intn(3)) // unknown
				}
			}
			if h.c.intn(30) == 0 {
				req.Count = 0
			}
		}
		if spec.RealName || h.c.intn(30) == 0 {
			req.Holders = h.holders(n + btoi(h.c.intn(15) == 0))
		}
		if h.c.intn(4) == 0 {
			req.CheckTotal, req.ExpectedTotalCents = true, int64(100*h.c.intn(20))
		}
		if h.c.intn(50) == 0 {
			req.Program = "missing"
		}
		if len(h.reqs) > 0 && h.c.intn(5) == 0 {
			req = h.reqs[h.c.intn(len(h.reqs))] // a retry
		} else if req.RequestID != (RequestID{}) {
			h.reqs = append(h.reqs, req)
			if len(h.reqs) > 8 {
				h.reqs = h.reqs[1:]
			}
		}
		got := h.e.Hold(now, req)
		want := h.m.hold(now, req)
		var seats []string
		if got.Result == ResultOK {
			for _, s := range got.Hold.Seats {
				seats = append(seats, got.Hold.Program.Seat(s).ID)
			}
			if !got.Replayed {
				h.ids = append(h.ids, got.Hold.ID)
			}
		}
		gotO := modelOutcome{result: got.Result, bad: got.BadSeat, fault: got.Fault, id: got.Hold.ID, seats: seats,
			total: got.Hold.TotalCents, replay: got.Replayed}
		if fmt.Sprint(gotO) != fmt.Sprint(want) {
			h.fatalf("Hold(%+v) = %+v; want %+v", *req, gotO, want)
		}
	case op < 12:
		id := h.holdID()
		if got, want := h.e.Confirm(now, id), h.m.confirm(now, id); got != want {
			h.fatalf("Confirm(%d) = %v; want %v", id, got, want)
		}
	case op < 14:
		id := h.holdID()
		owner := uint64(h.c.intn(7))
		reason := ReleaseReason(h.c.intn(4))
		if got, want := h.e.Release(now, id, owner, reason), h.m.releaseCmd(now, id, owner, reason); got != want {
			h.fatalf("Release(%d, %d, %v) = %v; want %v", id, owner, reason, got, want)
		}
	case op < 15:
		id := h.holdID()
		var seats []string
		if mh := h.m.holds[id]; mh != nil && h.c.intn(2) == 0 {
			for _, s := range mh.seats {
				if h.c.intn(2) == 0 {
					seats = append(seats, mh.prog.seats[s].id)
				}
			}
			if h.c.intn(6) == 0 {
				seats = append(seats, h.seatID(spec))
			}
		}
		gr, ga, gb := h.e.Refund(now, id, seats)
		wr, wa, wb := h.m.refund(now, id, seats)
		if gr != wr || ga != wa || gb != wb {
			h.fatalf("Refund(%d, %v) = %v %d %q; want %v %d %q", id, seats, gr, ga, gb, wr, wa, wb)
		}
	case op < 16:
		req := &BlockRequest{Program: spec.ID}
		req.From, req.To = h.legs(spec)
		for range 1 + h.c.intn(3) {
			req.Seats = append(req.Seats, h.seatID(spec))
		}
		block := h.c.intn(2) == 0
		var gr Result
		var gb string
		if block {
			gr, gb = h.e.Block(now, req)
		} else {
			gr, gb = h.e.Unblock(now, req)
		}
		wr, wb := h.m.block(now, req, block)
		if gr != wr || gb != wb {
			h.fatalf("Block(%+v, %v) = %v %q; want %v %q", *req, block, gr, gb, wr, wb)
		}
	case op < 18:
		h.now += int64(h.c.intn(40)) * int64(time.Second)
		got := h.e.Tick(h.now, nil)
		want := h.m.tick(h.now)
		if !slices.Equal(got, want) {
			h.fatalf("Tick(%d) = %v; want %v", h.now, got, want)
		}
	case op < 19:
		if h.c.intn(2) == 0 {
			h.openSale(spec.ID, h.c.intn(4) != 0)
			break
		}
		// the relay acknowledges some of the events
		seq := h.m.acked + uint64(h.c.intn(int(h.m.outSeq-h.m.acked)+2))
		if got, want := h.e.AckOutbox(now, seq), h.m.ack(now, seq); got != want {
			h.fatalf("AckOutbox(%d) = %v; want %v", seq, got, want)
		}
	default:
		h.compareQueries(spec)
	}
	if err := h.e.Check(); err != nil {
		h.fatalf("Check: %v", err)
	}
	h.compareOutbox()
	if h.c.intn(25) == 0 {
		h.roundTrip()
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// compareOutbox checks the engine's unacknowledged events against the model's.
func (h *harness) compareOutbox() {
	got := h.e.Outbox(0, 1<<20)
	if last, acked := h.e.OutboxSeq(); last != h.m.outSeq || acked != h.m.acked || len(got) != len(h.m.events) {
		h.fatalf("outbox: last %d acked %d, %d events; want %d %d %d", last, acked, len(got), h.m.outSeq, h.m.acked, len(h.m.events))
	}
	for i, ev := range got {
		want := h.m.events[i]
		var seats []int
		for _, s := range ev.Seats {
			seats = append(seats, int(s))
		}
		if ev.Seq != want.seq || ev.Kind != want.kind || ev.Hold != want.hold || ev.Reason != want.reason ||
			ev.AmountCents != want.amount || !slices.Equal(seats, want.seats) || ev.OrderNo.Gene() != UserGene(ev.User) {
			h.fatalf("outbox event %d = %+v; want %+v", i, ev, want)
		}
	}
}

// compareQueries checks availability and the seat map of a random range,
// and every hold's status.
//
// Reads come at a clock of their own, often past the engine's, so that
// holds whose TTL has ended but that no command has expired yet read as
// expired (their seats free), as they must.
func (h *harness) compareQueries(spec *ProgramSpec) {
	from, to := h.legs(spec)
	qnow := h.m.now + int64(h.c.intn(60))*int64(time.Second)
	got, ver, r := h.e.Availability(spec.ID, from, to, qnow)
	mp := h.m.programs[spec.ID]
	f, t, ok := mp.legRange(from, to)
	if !ok {
		if r != ResultInvalidArgument {
			h.fatalf("Availability(%d, %d) = %v; want invalid_argument", from, to, r)
		}
		return
	}
	view := h.m.view(mp, qnow)
	wantVer := Version{Index: mp.version, Expired: mp.expired + len(h.m.lapsed(mp, qnow))}
	if want := view.availability(f, t); !slices.Equal(got, want) || ver != wantVer {
		h.fatalf("Availability(%s, %d, %d, %d) = %v %v; want %v %v", spec.ID, from, to, qnow, got, ver, want, wantVer)
	}
	states, ver, r := h.e.SeatMap(spec.ID, from, to, qnow, nil)
	if r != ResultOK || len(states) != len(mp.seats) || ver != wantVer {
		h.fatalf("SeatMap = %v %v, %d seats; want %v, %d", r, ver, len(states), wantVer, len(mp.seats))
	}
	for s, st := range states {
		if want := view.rangeStatus(s, f, t); st != want {
			h.fatalf("SeatMap: seat %s %v; want %v", mp.seats[s].id, st, want)
		}
	}
	for id, mh := range h.m.holds {
		hi, ok := h.e.GetHold(id, qnow)
		status, reason := mh.status, mh.reason
		if status == HoldHeld && qnow >= mh.expiresAt {
			status, reason = HoldReleased, ReleaseExpired
		}
		if !ok || hi.Status != status || hi.Reason != reason || hi.ExpiresAt != mh.expiresAt {
			h.fatalf("GetHold(%d, %d) = %+v, %v; want %v %v", id, qnow, hi, ok, status, reason)
		}
	}
	if st := h.e.Stats(h.e.Now()); st.Holds != len(h.m.holds) || st.Refusals != len(h.m.refusals) {
		h.fatalf("Stats() holds %d, refusals %d; want %d, %d", st.Holds, st.Refusals, len(h.m.holds), len(h.m.refusals))
	}
	// At the read's clock, lapsed holds are not live and their seats free.
	st, live := h.e.Stats(qnow), 0
	for _, mh := range h.m.holds {
		if mh.status == HoldHeld && qnow < mh.expiresAt {
			live++
		}
	}
	if st.LiveHolds != live {
		h.fatalf("Stats(%d).LiveHolds = %d; want %d", qnow, st.LiveHolds, live)
	}
	for _, sh := range st.Shards {
		if sh.Program != spec.ID {
			continue
		}
		for l, got := range sh.Legs {
			a := view.availability(l, l+1)
			want := a[slices.IndexFunc(a, func(c CategoryAvailability) bool { return c.ID == sh.Category })]
			if got != (LegCounts{want.Free, want.Held, want.Sold, want.Blocked}) {
				h.fatalf("Stats(%d) %s/%s leg %d = %+v; want %+v", qnow, sh.Program, sh.Category, l, got, want)
			}
		}
	}
}

// roundTrip snapshots, restores, checks the restored engine encodes to the
// same bytes, and continues on it half the time.
func (h *harness) roundTrip() {
	snap := h.e.AppendSnapshot(nil)
	e2, err := Restore(h.cfg, snap)
	if err != nil {
		h.fatalf("Restore: %v", err)
	}
	if again := e2.AppendSnapshot(nil); !bytes.Equal(snap, again) {
		h.fatalf("snapshot of restored engine differs: %d vs %d bytes", len(snap), len(again))
	}
	if h.c.intn(2) == 0 {
		h.e = e2
	}
}

const maxFuzzSteps = 300

func TestDifferential(t *testing.T) {
	sequences := 3000
	if testing.Short() {
		sequences = 300
	}
	runDifferential(t, sequences, 150, 0x5ea7d, false)
}

// TestDifferentialWide is TestDifferential on wide programs (see
// randomSpec): the orphan rule's shifts across words and blocks up to the
// hold limit, which the small programs never reach.
func TestDifferentialWide(t *testing.T) {
	sequences := 400
	if testing.Short() {
		sequences = 40
	}
	runDifferential(t, sequences, 200, 0x31de, true)
}

// runDifferential runs sequences random command sequences of steps
// commands each against the engine and the model, seeded 0, 1, ... on
// the given stream, on wide programs or small ones.
func runDifferential(t *testing.T, sequences, steps int, stream uint64, wide bool) {
	for seed := range uint64(sequences) {
		c := rngChooser{rand.New(rand.NewPCG(seed, stream))}
		h := newHarness(t, c, wide)
		for range steps {
			h.run()
			if t.Failed() {
				t.Fatalf("seed %d", seed)
			}
		}
	}
}

// FuzzCommands drives the engine and the model with command sequences made
// from fuzz input, at most maxFuzzSteps commands per input so that every
// input runs in milliseconds.
func FuzzCommands(f *testing.F) {
	for seed := range uint64(8) {
		r := rand.New(rand.NewPCG(seed, 1))
		b := make([]byte, 600)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &bytesChooser{b: data}
		h := newHarness(t, c, false)
		for steps := 0; len(c.b) > 0 && steps < maxFuzzSteps; steps++ {
			h.run()
		}
	})
}
