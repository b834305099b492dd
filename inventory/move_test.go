package inventory

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"slices"
	"testing"
	"time"
)

// moveFixture is a source engine of group 5 with program "p" on sale and
// holds in every state: held with a request id, confirmed, released,
// partly refunded; and a target engine of group 7 with program "q" and a
// hold of its own.
type moveFixture struct {
	src, dst                               *Engine
	held, confirmed, released, refunded    HoldID
	heldReq                                HoldRequest
	srcHeld, srcConfirmed, srcHeldAtFreeze int
}

func newMoveFixture(t *testing.T) *moveFixture {
	t.Helper()
	f := &moveFixture{src: newTestEngine(t, arenaSpec(t, "p", 4, 10))}
	dst, err := New(Config{Group: 7})
	if err != nil {
		t.Fatal(err)
	}
	q := arenaSpec(t, "q", 2, 5)
	if r, err := dst.CreateProgram(0, &q); r != ResultOK {
		t.Fatalf("CreateProgram(q) = %v, %v", r, err)
	}
	dst.OpenSale(0, "q")
	// The target has issued more holds than the source, and fewer: its
	// sequence must end above every imported id either way.
	for range 3 {
		if out := dst.Hold(sec, &HoldRequest{Program: "q", User: 9, Count: 1}); out.Result != ResultOK {
			t.Fatalf("Hold(q) = %v", out.Result)
		}
	}
	f.dst = dst
	t.Cleanup(func() {
		if err := dst.Check(); err != nil {
			t.Errorf("target Check() = %v", err)
		}
	})
	hold := func(user uint64, req RequestID) HoldID {
		t.Helper()
		out := f.src.Hold(sec, &HoldRequest{Program: "p", User: user, Count: 2, RequestID: req})
		if out.Result != ResultOK {
			t.Fatalf("Hold(p, user %d) = %v", user, out.Result)
		}
		return out.Hold.ID
	}
	f.heldReq = HoldRequest{Program: "p", User: 11, Count: 2, RequestID: RequestID{1}}
	f.held = hold(11, RequestID{1})
	f.confirmed = hold(12, RequestID{2})
	f.released = hold(13, RequestID{})
	f.refunded = hold(14, RequestID{})
	for _, c := range []struct {
		name string
		r    Result
	}{
		{"confirm", f.src.Confirm(2*sec, f.confirmed)},
		{"release", f.src.Release(2*sec, f.released, 13, ReleaseCancelled)},
		{"confirm refunded", f.src.Confirm(2*sec, f.refunded)},
	} {
		if c.r != ResultOK {
			t.Fatalf("%s = %v", c.name, c.r)
		}
	}
	info, _ := f.src.GetHold(f.refunded, 2*sec)
	if r, _, _ := f.src.Refund(3*sec, f.refunded, []string{info.Program.Seat(info.Seats[0]).ID}); r != ResultOK {
		t.Fatalf("Refund = %v", r)
	}
	return f
}

// move runs every step but CompleteMove and returns the parcel.
func (f *moveFixture) move(t *testing.T, at int64) []byte {
	t.Helper()
	if r := f.src.Freeze(at, "p", 7); r != ResultOK {
		t.Fatalf("Freeze = %v", r)
	}
	if r := f.src.MarkExported(at, "p", 7); r != ResultOK {
		t.Fatalf("MarkExported = %v", r)
	}
	parcel, r := f.src.ExportProgram("p")
	if r != ResultOK {
		t.Fatalf("ExportProgram = %v", r)
	}
	if r, err := f.dst.ImportProgram(at, parcel); r != ResultOK {
		t.Fatalf("ImportProgram = %v, %v", r, err)
	}
	return parcel
}

func availability(t *testing.T, e *Engine, now int64) []CategoryAvailability {
	t.Helper()
	cats, _, r := e.Availability("p", 0, 0, now)
	if r != ResultOK {
		t.Fatalf("Availability(p) = %v", r)
	}
	return cats
}

// TestMoveRoundTrip moves a program with holds in every state and checks
// that the target has the same seats and holds under the same ids and
// order numbers, refuses changes until activated, then serves them; and
// that the source refuses every change from the freeze on and forwards
// old hold ids once the move is complete.
func TestMoveRoundTrip(t *testing.T) {
	f := newMoveFixture(t)
	before := availability(t, f.src, 4*sec)
	var infos []HoldInfo
	for _, id := range []HoldID{f.held, f.confirmed, f.released, f.refunded} {
		h, _ := f.src.GetHold(id, 4*sec)
		infos = append(infos, h)
	}
	f.move(t, 4*sec)

	for name, r := range map[string]Result{
		"Hold":                                f.src.Hold(5*sec, &HoldRequest{Program: "p", User: 20, Count: 1}).Result,
		"Confirm":                             f.src.Confirm(5*sec, f.held),
		"Release":                             f.src.Release(5*sec, f.held, 11, ReleaseCancelled),
		"Close":                               f.src.CloseSale(5*sec, "p"),
		"Import":                              f.dst.Hold(5*sec, &HoldRequest{Program: "p", User: 20, Count: 1}).Result,
		"Confirm in target before activation": f.dst.Confirm(5*sec, f.held),
	} {
		if r != ResultProgramMoving {
			t.Errorf("%s while moving = %v; want program_moving", name, r)
		}
	}
	if got := availability(t, f.dst, 4*sec); !slices.Equal(got, before) {
		t.Fatalf("target availability %+v; want the source's %+v", got, before)
	}
	for _, want := range infos {
		got, ok := f.dst.GetHold(want.ID, 4*sec)
		if !ok || got.OrderNo != want.OrderNo || got.Status != want.Status || got.Refunded != want.Refunded ||
			!slices.Equal(seatIDs(got), seatIDs(want)) || got.ExpiresAt != want.ExpiresAt || got.OrderNo.Group() != 5 {
			t.Fatalf("target GetHold(%d) = %+v, %v; want %+v", want.ID, got, ok, want)
		}
	}

	if r := f.dst.ActivateProgram(5*sec, "p"); r != ResultOK {
		t.Fatalf("ActivateProgram = %v", r)
	}
	if r := f.src.CompleteMove(5*sec, "p"); r != ResultOK {
		t.Fatalf("CompleteMove = %v", r)
	}
	if g, ok := f.src.HoldForward(f.held); !ok || g != 7 {
		t.Fatalf("HoldForward(held) = %d, %v; want 7", g, ok)
	}
	if r := f.src.Confirm(6*sec, f.held); r != ResultProgramMoved {
		t.Fatalf("source Confirm after the move = %v; want program_moved", r)
	}
	// The retried request of the held hold replays it in the target.
	if out := f.dst.Hold(6*sec, &f.heldReq); !out.Replayed || out.Hold.ID != f.held {
		t.Fatalf("retried Hold in target = %+v; want a replay of %d", out, f.held)
	}
	if r := f.dst.Confirm(6*sec, f.held); r != ResultOK {
		t.Fatalf("target Confirm(imported hold) = %v", r)
	}
	if r := f.dst.Release(6*sec, f.released, 13, ReleaseCancelled); r != ResultOK {
		t.Fatalf("target Release(released hold) = %v; want ok (a no-op)", r)
	}
	if r, amount, _ := f.dst.Refund(6*sec, f.refunded, nil); r != ResultOK || amount == 0 {
		t.Fatalf("target Refund(rest) = %v, %d", r, amount)
	}
	out := f.dst.Hold(6*sec, &HoldRequest{Program: "p", User: 21, Count: 1})
	if out.Result != ResultOK || out.Hold.ID.Group() != 7 {
		t.Fatalf("new Hold in target = %v, id %d; want ok in group 7", out.Result, out.Hold.ID)
	}
	for _, id := range []HoldID{f.held, f.confirmed, f.released, f.refunded} {
		if out.Hold.ID <= id {
			t.Fatalf("new hold %d not above imported hold %d", out.Hold.ID, id)
		}
	}
	evs := f.dst.Outbox(0, 100)
	if len(evs) == 0 || evs[len(evs)-1].OrderNo.Group() != 7 || evs[len(evs)-3].OrderNo != infos[0].OrderNo {
		t.Fatalf("target outbox %+v: want the confirm of order %d, then the refund, then the new hold", evs, infos[0].OrderNo)
	}
	for _, e := range []*Engine{f.src, f.dst} {
		if err := e.Check(); err != nil {
			t.Fatal(err)
		}
		snap := e.AppendSnapshot(nil)
		r, err := Restore(e.cfg, snap)
		if err != nil {
			t.Fatalf("Restore after a move = %v", err)
		}
		if !bytes.Equal(r.AppendSnapshot(nil), snap) {
			t.Fatalf("group %d: a snapshot after a move does not restore to the same bytes", e.cfg.Group)
		}
	}
}

// TestMoveExpiry: a hold whose TTL ends while its program moves expires
// in the target after activation, with one HoldReleased event there and
// none in the source.
func TestMoveExpiry(t *testing.T) {
	f := newMoveFixture(t)
	if r := f.src.Freeze(4*sec, "p", 7); r != ResultOK {
		t.Fatalf("Freeze = %v", r)
	}
	srcSeq, _ := f.src.OutboxSeq()
	late := sec + int64(time.Minute) + sec
	f.src.Tick(late, nil)
	if seq, _ := f.src.OutboxSeq(); seq != srcSeq {
		t.Fatalf("source emitted %d events for a frozen program", seq-srcSeq)
	}
	// A snapshot taken with a parked hold restores to the same bytes.
	snap := f.src.AppendSnapshot(nil)
	if r, err := Restore(f.src.cfg, snap); err != nil || !bytes.Equal(r.AppendSnapshot(nil), snap) {
		t.Fatalf("Restore(frozen source) = %v, or re-encodes differently", err)
	}
	f.src.MarkExported(late, "p", 7)
	parcel, _ := f.src.ExportProgram("p")
	if r, err := f.dst.ImportProgram(late, parcel); r != ResultOK {
		t.Fatalf("ImportProgram = %v, %v", r, err)
	}
	dstSeq, _ := f.dst.OutboxSeq()
	f.dst.Tick(late+sec, nil)
	if seq, _ := f.dst.OutboxSeq(); seq != dstSeq {
		t.Fatalf("target emitted events before activation")
	}
	f.dst.ActivateProgram(late+sec, "p")
	evs := f.dst.Outbox(dstSeq, 10)
	if len(evs) != 1 || evs[0].Kind != EventHoldReleased || evs[0].Reason != ReleaseExpired || evs[0].Hold != f.held {
		t.Fatalf("target events after activation = %+v; want hold %d expired", evs, f.held)
	}
	f.src.CompleteMove(late+sec, "p")
	f.src.Tick(late+10*int64(time.Minute), nil)
	if seq, _ := f.src.OutboxSeq(); seq != srcSeq {
		t.Fatalf("source emitted events for a moved program")
	}
}

// TestMoveIdempotentAndDeterministic: every step repeats as a no-op; the
// parcel is the same from a restored replica; two targets importing it
// end in the same state.
func TestMoveIdempotentAndDeterministic(t *testing.T) {
	f := newMoveFixture(t)
	parcel := f.move(t, 4*sec)
	if r := f.src.Freeze(4*sec, "p", 7); r != ResultOK {
		t.Fatalf("Freeze again = %v", r)
	}
	if r := f.src.Freeze(4*sec, "p", 8); r != ResultProgramMoving {
		t.Fatalf("Freeze for another target = %v; want program_moving", r)
	}
	again, _ := f.src.ExportProgram("p")
	restored, err := Restore(f.src.cfg, f.src.AppendSnapshot(nil))
	if err != nil {
		t.Fatal(err)
	}
	fromReplica, _ := restored.ExportProgram("p")
	if !bytes.Equal(again, parcel) || !bytes.Equal(fromReplica, parcel) {
		t.Fatalf("ExportProgram not deterministic")
	}
	before := f.dst.AppendSnapshot(nil)
	if r, err := f.dst.ImportProgram(4*sec, parcel); r != ResultOK || !bytes.Equal(f.dst.AppendSnapshot(nil), before) {
		t.Fatalf("ImportProgram again = %v, %v, or changed state", r, err)
	}
	other, _ := Restore(f.dst.cfg, f.dst.AppendSnapshot(nil))
	for _, e := range []*Engine{f.dst, other} {
		if r := e.ActivateProgram(5*sec, "p"); r != ResultOK {
			t.Fatalf("ActivateProgram = %v", r)
		}
		if r := e.ActivateProgram(5*sec, "p"); r != ResultOK {
			t.Fatalf("ActivateProgram again = %v", r)
		}
	}
	if !bytes.Equal(f.dst.AppendSnapshot(nil), other.AppendSnapshot(nil)) {
		t.Fatalf("two targets diverged")
	}
	for range 2 {
		if r := f.src.CompleteMove(5*sec, "p"); r != ResultOK {
			t.Fatalf("CompleteMove = %v", r)
		}
	}
	if r := f.src.Freeze(5*sec, "p", 7); r != ResultOK {
		t.Fatalf("Freeze after the move = %v; want ok (a resumed mover)", r)
	}
	if r := f.src.AbortMove(5*sec, "p"); r != ResultProgramMoved {
		t.Fatalf("AbortMove after the move = %v; want program_moved", r)
	}
}

// TestAbortMove: an aborted move puts the program back on sale, and a
// hold whose TTL ended meanwhile expires at once, with its event.
func TestAbortMove(t *testing.T) {
	f := newMoveFixture(t)
	f.src.Freeze(4*sec, "p", 7)
	seq, _ := f.src.OutboxSeq()
	late := sec + int64(time.Minute) + sec
	if r := f.src.AbortMove(late, "p"); r != ResultOK {
		t.Fatalf("AbortMove = %v", r)
	}
	if evs := f.src.Outbox(seq, 10); len(evs) != 1 || evs[0].Hold != f.held || evs[0].Reason != ReleaseExpired {
		t.Fatalf("events after abort = %+v; want hold %d expired", evs, f.held)
	}
	if out := f.src.Hold(late, &HoldRequest{Program: "p", User: 30, Count: 1}); out.Result != ResultOK {
		t.Fatalf("Hold after abort = %v", out.Result)
	}
	if r := f.src.CompleteMove(late, "p"); r != ResultInvalidArgument {
		t.Fatalf("CompleteMove after abort = %v; want invalid_argument", r)
	}
}

// TestImportRefusesBadInput: a parcel that is damaged, from this group,
// for a program here, or past a bound is refused, and changes nothing.
func TestImportRefusesBadInput(t *testing.T) {
	f := newMoveFixture(t)
	f.src.Freeze(4*sec, "p", 7)
	f.src.MarkExported(4*sec, "p", 7)
	parcel, _ := f.src.ExportProgram("p")
	fix := func(b []byte) []byte {
		b = slices.Clone(b)
		body := b[:len(b)-4]
		binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(body, castagnoli))
		return b
	}
	flipped := slices.Clone(parcel)
	flipped[len(flipped)/2] ^= 0x40
	seatTwice := func() []byte { // the first hold's seats given to the second too
		e, _ := Restore(f.src.cfg, f.src.AppendSnapshot(nil))
		a, b := e.holds[f.held], e.holds[f.confirmed]
		b.seats = slices.Clone(a.seats)
		p, _ := e.ExportProgram("p")
		return p
	}
	small, _ := New(Config{Group: 7, MaxHolds: 3, MaxLiveHolds: 3})
	fresh := func() *Engine { e, _ := New(Config{Group: 7}); return e }
	parcelAt := func(src *Engine, now int64) []byte { // the source's clock moved on
		e, _ := Restore(src.cfg, src.AppendSnapshot(nil))
		e.Tick(now, nil)
		p, _ := e.ExportProgram("p")
		return p
	}
	for _, c := range []struct {
		name   string
		e      *Engine
		parcel []byte
		want   Result
	}{
		{"empty", f.dst, nil, ResultInvalidArgument},
		{"a snapshot", f.dst, f.src.AppendSnapshot(nil), ResultInvalidArgument},
		{"bad checksum", f.dst, flipped, ResultInvalidArgument},
		{"truncated", f.dst, fix(parcel[:len(parcel)-9]), ResultInvalidArgument},
		{"trailing bytes", f.dst, fix(append(slices.Clone(parcel[:len(parcel)-4]), 0, 0, 0, 0, 0)), ResultInvalidArgument},
		{"seat in two holds", f.dst, seatTwice(), ResultInvalidArgument},
		{"into its own group", f.src, parcel, ResultInvalidArgument},
		{"from a clock two minutes ahead", fresh(), parcelAt(f.src, 3*int64(time.Minute)), ResultInvalidArgument},
		{"too many holds", small, parcel, ResultTooManyHolds},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.e.Tick(5*sec, nil) // a refused import still advances the clock, as every command
			before := c.e.AppendSnapshot(nil)
			r, err := c.e.ImportProgram(5*sec, c.parcel)
			if r != c.want || err == nil {
				t.Fatalf("ImportProgram = %v, %v; want %v with an error", r, err, c.want)
			}
			if !bytes.Equal(c.e.AppendSnapshot(nil), before) {
				t.Fatalf("a refused import changed state")
			}
		})
	}
	q, _ := New(Config{Group: 7})
	spec := arenaSpec(t, "p", 2, 2)
	q.CreateProgram(0, &spec)
	if r, _ := q.ImportProgram(5*sec, parcel); r != ResultProgramExists {
		t.Fatalf("ImportProgram over a program of that id = %v; want program_exists", r)
	}
	// Every single damaged byte, checksum fixed up: refused, or an
	// import that passes Check.
	for i := len(parcelMagic) + 1; i < len(parcel)-4; i++ {
		b := slices.Clone(parcel)
		b[i] ^= 0xff
		e, _ := Restore(f.dst.cfg, f.dst.AppendSnapshot(nil))
		if r, _ := e.ImportProgram(5*sec, fix(b)); r == ResultOK {
			if err := e.Check(); err != nil {
				t.Fatalf("byte %d damaged: imported, and Check() = %v", i, err)
			}
		}
	}
}

func FuzzImportProgram(f *testing.F) {
	src, _ := New(Config{Group: 1})
	spec := ProgramSpec{ID: "p", Name: "p", HoldTTL: time.Minute, Categories: []Category{{ID: "a", Name: "a", PriceCents: 100}},
		Layout: Layout{Sections: []Section{{ID: "S", Name: "S", Rows: []Row{{ID: "1", Seats: []Seat{{Col: 1, Category: "a"}, {Col: 2, Category: "a"}, {Col: 3, Category: "a"}}}}}}}}
	src.CreateProgram(0, &spec)
	src.OpenSale(0, "p")
	src.Hold(1, &HoldRequest{Program: "p", User: 3, Count: 2, RequestID: RequestID{9}})
	src.Freeze(2, "p", 2)
	src.MarkExported(2, "p", 2)
	parcel, _ := src.ExportProgram("p")
	f.Add(parcel)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4 {
			binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
		}
		e, _ := New(Config{Group: 2, MaxHolds: 16, MaxLiveHolds: 16, MaxSeats: 4096})
		if r, _ := e.ImportProgram(3, b); r == ResultOK {
			if err := e.Check(); err != nil {
				t.Fatalf("imported, and Check() = %v", err)
			}
		}
	})
}

// TestParcelOfAMillionSeats: a program of a million seats, every seat in
// a live hold of two with a request id (the largest parcel a sale of it
// makes: held holds carry their request ids), travels in one parcel under
// MaxParcelBytes, and imports.
func TestParcelOfAMillionSeats(t *testing.T) {
	l, err := Grid{Sections: 1, Rows: 1000, Cols: 1000, Categories: []GridCategory{{"a", 1, 1000}}}.Layout()
	if err != nil {
		t.Fatal(err)
	}
	spec := ProgramSpec{ID: "big", Name: "Big", Layout: l, HoldTTL: time.Hour, MaxSeatsPerUser: MaxSeatsPerUserLimit,
		Categories: []Category{{ID: "a", Name: "a", PriceCents: 100}}}
	src, _ := New(Config{Group: 1})
	if r, err := src.CreateProgram(0, &spec); r != ResultOK {
		t.Fatalf("CreateProgram = %v, %v", r, err)
	}
	src.OpenSale(0, "big")
	req := HoldRequest{Program: "big", Count: 2}
	for i := range 500_000 {
		req.User = uint64(i%50_000 + 1)
		binary.LittleEndian.PutUint64(req.RequestID[:], uint64(i+1))
		if out := src.Hold(sec, &req); out.Result != ResultOK {
			t.Fatalf("hold %d = %v", i, out.Result)
		}
	}
	src.Freeze(2*sec, "big", 2)
	if r := src.MarkExported(2*sec, "big", 2); r != ResultOK {
		t.Fatalf("MarkExported = %v", r)
	}
	parcel, r := src.ExportProgram("big")
	if r != ResultOK || len(parcel) > MaxParcelBytes {
		t.Fatalf("ExportProgram = %v, %d bytes; want ok within %d", r, len(parcel), MaxParcelBytes)
	}
	dst, _ := New(Config{Group: 2})
	if r, err := dst.ImportProgram(2*sec, parcel); r != ResultOK {
		t.Fatalf("ImportProgram = %v, %v", r, err)
	}
	t.Logf("a parcel of 1,000,000 seats in 500,000 live holds: %d bytes (%.0f a hold)", len(parcel), float64(len(parcel))/500_000)
}

// TestMoveCarriesRefusals: a refusal the source remembers travels with the
// program, so a retry of the refused request in the target gets the same
// refusal, though the seat it wanted is free there by then; the target's
// own refusals stay, in the order they were made.
func TestMoveCarriesRefusals(t *testing.T) {
	f := newMoveFixture(t)
	held, _ := f.src.GetHold(f.held, 3*sec)
	heldSeat := held.Program.Seat(held.Seats[0]).ID
	refused := HoldRequest{Program: "p", User: 40, Seats: []string{heldSeat}, RequestID: RequestID{40}}
	if out := f.src.Hold(3*sec, &refused); out.Result != ResultSeatTaken {
		t.Fatalf("Hold(a held seat) = %v; want seat_taken", out.Result)
	}
	// The target's own remembered refusal, made after the source's: the
	// queue merges them by time.
	f.dst.CloseSale(5*sec, "q")
	closed := HoldRequest{Program: "q", User: 41, Count: 1, RequestID: RequestID{41}}
	if out := f.dst.Hold(5*sec, &closed); out.Result != ResultSaleNotOpen {
		t.Fatalf("Hold(q closed) = %v; want sale_not_open", out.Result)
	}
	f.move(t, 4*sec)
	f.dst.ActivateProgram(5*sec, "p")
	if r := f.dst.Release(5*sec, f.held, 11, ReleaseCancelled); r != ResultOK {
		t.Fatalf("Release = %v", r)
	}
	out := f.dst.Hold(6*sec, &refused)
	if out.Result != ResultSeatTaken || !out.Replayed {
		t.Fatalf("retried Hold(%s) in the target = %v, replayed %v; want the remembered seat_taken", heldSeat, out.Result, out.Replayed)
	}
	if out := f.dst.Hold(6*sec, &HoldRequest{Program: "p", User: 43, Seats: []string{heldSeat}}); out.Result != ResultOK {
		t.Fatalf("a new Hold(%s) in the target = %v; want ok (the seat is free)", heldSeat, out.Result)
	}
	f.dst.OpenSale(6*sec, "q")
	if out := f.dst.Hold(6*sec, &closed); out.Result != ResultSaleNotOpen || !out.Replayed {
		t.Fatalf("retried Hold(q) = %v, replayed %v; want its remembered sale_not_open", out.Result, out.Replayed)
	}
	if err := f.dst.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestExportSerializesAbort: the export is a command of the source's log
// (MarkExported), so an abort and an export are ordered: once exported the
// abort is refused (the target may import, and both groups would sell the
// same seats), also on a replica restored from a snapshot; once aborted
// the export is refused, and no parcel is read.
func TestExportSerializesAbort(t *testing.T) {
	f := newMoveFixture(t)
	f.src.Freeze(4*sec, "p", 7)
	if _, r := f.src.ExportProgram("p"); r != ResultInvalidArgument {
		t.Fatalf("ExportProgram before MarkExported = %v; want invalid_argument", r)
	}
	if r := f.src.CompleteMove(4*sec, "p"); r != ResultInvalidArgument {
		t.Fatalf("CompleteMove before MarkExported = %v; want invalid_argument", r)
	}
	if r := f.src.MarkExported(4*sec, "p", 8); r != ResultProgramMoving {
		t.Fatalf("MarkExported for another target = %v; want program_moving", r)
	}
	for range 2 {
		if r := f.src.MarkExported(4*sec, "p", 7); r != ResultOK {
			t.Fatalf("MarkExported = %v", r)
		}
	}
	if g, st := f.src.programs[0].Moving(); g != 7 || st != "exported" {
		t.Fatalf("Moving() = %d, %q; want 7, exported", g, st)
	}
	snap := f.src.AppendSnapshot(nil)
	if snap[len(snapshotMagic)] != 4 {
		t.Fatalf("snapshot of an exported program has version %d; want 4", snap[len(snapshotMagic)])
	}
	replica, err := Restore(f.src.cfg, snap)
	if err != nil || !bytes.Equal(replica.AppendSnapshot(nil), snap) {
		t.Fatalf("Restore(exported source) = %v, or re-encodes differently", err)
	}
	// Version 3 has no exported state: such a snapshot is damaged.
	v3 := slices.Clone(snap)
	v3[len(snapshotMagic)] = 3
	binary.LittleEndian.PutUint32(v3[len(v3)-4:], crc32.Checksum(v3[:len(v3)-4], castagnoli))
	if _, err := Restore(f.src.cfg, v3); err == nil {
		t.Fatalf("Restore(version 3 with the exported state) = nil error")
	}
	for _, e := range []*Engine{f.src, replica} {
		if r := e.AbortMove(5*sec, "p"); r != ResultProgramMoving {
			t.Fatalf("AbortMove after the export = %v; want program_moving", r)
		}
		if out := e.Hold(5*sec, &HoldRequest{Program: "p", User: 30, Count: 1}); out.Result != ResultProgramMoving {
			t.Fatalf("Hold after a refused abort = %v; want program_moving", out.Result)
		}
	}
	parcel, _ := f.src.ExportProgram("p")
	if r, err := f.dst.ImportProgram(5*sec, parcel); r != ResultOK {
		t.Fatalf("ImportProgram = %v, %v", r, err)
	}

	g := newMoveFixture(t)
	g.src.Freeze(4*sec, "p", 7)
	if snap := g.src.AppendSnapshot(nil); snap[len(snapshotMagic)] != 3 {
		t.Fatalf("snapshot of a frozen program has version %d; want 3, readable by a node not upgraded", snap[len(snapshotMagic)])
	}
	if r := g.src.AbortMove(4*sec, "p"); r != ResultOK {
		t.Fatalf("AbortMove = %v", r)
	}
	if r := g.src.MarkExported(5*sec, "p", 7); r != ResultInvalidArgument {
		t.Fatalf("MarkExported after the abort = %v; want invalid_argument", r)
	}
	if _, r := g.src.ExportProgram("p"); r != ResultInvalidArgument {
		t.Fatalf("ExportProgram after the abort = %v; want invalid_argument", r)
	}
	if out := g.src.Hold(5*sec, &HoldRequest{Program: "p", User: 30, Count: 1}); out.Result != ResultOK {
		t.Fatalf("Hold after the abort = %v", out.Result)
	}
}

// TestMoveTwice: a program moved from group 5 to 7 moves on to 9 with the
// holds of both groups' ids; each old id is forwarded hop by hop to 9,
// where it is served. A parcel with a hold id of the importing group
// itself is refused.
func TestMoveTwice(t *testing.T) {
	f := newMoveFixture(t)
	f.move(t, 4*sec)
	f.dst.ActivateProgram(4*sec, "p")
	f.src.CompleteMove(4*sec, "p")
	b := f.dst.Hold(5*sec, &HoldRequest{Program: "p", User: 40, Count: 1})
	if b.Result != ResultOK || b.Hold.ID.Group() != 7 {
		t.Fatalf("Hold in group 7 = %v, id %d", b.Result, b.Hold.ID)
	}
	f.dst.Freeze(6*sec, "p", 9)
	if r := f.dst.MarkExported(6*sec, "p", 9); r != ResultOK {
		t.Fatalf("MarkExported in group 7 = %v", r)
	}
	parcel, r := f.dst.ExportProgram("p")
	if r != ResultOK {
		t.Fatalf("ExportProgram in group 7 = %v", r)
	}
	back, _ := New(Config{Group: 5})
	if r, err := back.ImportProgram(6*sec, parcel); r != ResultInvalidArgument || err == nil {
		t.Fatalf("ImportProgram in group 5 of a parcel with its own hold ids = %v, %v; want invalid_argument", r, err)
	}
	c, _ := New(Config{Group: 9})
	if r, err := c.ImportProgram(6*sec, parcel); r != ResultOK {
		t.Fatalf("ImportProgram in group 9 = %v, %v", r, err)
	}
	c.ActivateProgram(6*sec, "p")
	f.dst.CompleteMove(6*sec, "p")
	if err := c.Check(); err != nil {
		t.Fatalf("group 9 Check() = %v", err)
	}
	// Follow each id as noderpc's holdGroup does, from the group it names.
	engines := map[int]*Engine{5: f.src, 7: f.dst, 9: c}
	for _, id := range []HoldID{f.held, f.confirmed, b.Hold.ID} {
		g := id.Group()
		for next, ok := engines[g].HoldForward(id); ok; next, ok = engines[g].HoldForward(id) {
			g = next
		}
		if g != 9 {
			t.Fatalf("hold %d is forwarded to group %d; want 9", id, g)
		}
	}
	if r := c.Release(7*sec, f.held, 11, ReleaseCancelled); r != ResultOK {
		t.Fatalf("Release(group 5's id) in group 9 = %v", r)
	}
	if r := c.Confirm(7*sec, b.Hold.ID); r != ResultOK {
		t.Fatalf("Confirm(group 7's id) in group 9 = %v", r)
	}
	if out := c.Hold(8*sec, &HoldRequest{Program: "p", User: 41, Count: 1}); out.Result != ResultOK || out.Hold.ID <= b.Hold.ID {
		t.Fatalf("new Hold in group 9 = %v, id %d; want ok above %d", out.Result, out.Hold.ID, b.Hold.ID)
	}
}
