package inventory

import (
	"testing"
	"time"
)

// TestRememberedOutcomes: the first outcome of a request id, refusal or
// hold, answers every later attempt within the window; a different request
// under the id is refused; the refusal table keeps its bound.
func TestRememberedOutcomes(t *testing.T) {
	spec := arenaSpec(t, "p", 2, 5) // TTL one minute
	e := newTestEngine(t, spec)
	ttl := int64(time.Minute)
	k1, k2, k3 := RequestID{1}, RequestID{2}, RequestID{3}

	b := e.Hold(sec, &HoldRequest{Program: "p", User: 2, Seats: []string{"A/1/1"}})
	want := &HoldRequest{Program: "p", User: 1, RequestID: k1, Seats: []string{"A/1/1"}}
	if out := e.Hold(sec, want); out.Result != ResultSeatTaken || out.Replayed {
		t.Fatalf("Hold(taken seat) = %v replayed %v", out.Result, out.Replayed)
	}
	e.Release(2*sec, b.Hold.ID, 2, ReleaseCancelled)
	out := e.Hold(3*sec, want)
	if out.Result != ResultSeatTaken || !out.Replayed || out.BadSeat != "A/1/1" || out.Fault != (Fault{Field: FieldSeats}) {
		t.Fatalf("Hold(k1 again, seat now free) = %v replayed %v %q %+v; want the first refusal again", out.Result, out.Replayed, out.BadSeat, out.Fault)
	}
	other := *want
	other.Seats = []string{"A/1/2"}
	if out := e.Hold(3*sec, &other); out.Result != ResultRequestReused {
		t.Fatalf("Hold(k1, another seat) = %v; want request_reused", out.Result)
	}
	// To 0 and the last stop, a manual Count 0 and the number of seats: the same request.
	same := *want
	same.To, same.Count = 1, 1
	if out := e.Hold(3*sec, &same); out.Result != ResultSeatTaken || !out.Replayed {
		t.Fatalf("Hold(k1 with defaults spelt out) = %v replayed %v", out.Result, out.Replayed)
	}

	// A hold given back: its replay is the hold as it is now.
	h := e.Hold(4*sec, &HoldRequest{Program: "p", User: 1, RequestID: k2, Count: 2, Together: true})
	e.Release(5*sec, h.Hold.ID, 1, ReleaseCancelled)
	if out := e.Hold(6*sec, &HoldRequest{Program: "p", User: 1, RequestID: k2, Count: 2, Together: true}); out.Result != ResultOK ||
		!out.Replayed || out.Hold.ID != h.Hold.ID || out.Hold.Status != HoldReleased {
		t.Fatalf("Hold(k2 after release) = %+v; want hold %d, released", out, h.Hold.ID)
	}

	// A refusal that follows from the request alone is not remembered.
	if out := e.Hold(7*sec, &HoldRequest{Program: "p", User: 1, RequestID: k3, Count: 1, Category: "nope"}); out.Result != ResultUnknownCategory {
		t.Fatalf("Hold(unknown category) = %v", out.Result)
	}
	if out := e.Hold(7*sec, &HoldRequest{Program: "p", User: 1, RequestID: k3, Count: 1}); out.Result != ResultOK || out.Replayed {
		t.Fatalf("Hold(k3, now valid) = %v replayed %v; want a new hold", out.Result, out.Replayed)
	}

	// A snapshot keeps what was remembered.
	e2, err := Restore(e.cfg, e.AppendSnapshot(nil))
	if err != nil {
		t.Fatal(err)
	}
	if out := e2.Hold(8*sec, want); out.Result != ResultSeatTaken || !out.Replayed {
		t.Fatalf("restored Hold(k1) = %v replayed %v", out.Result, out.Replayed)
	}

	// After the window the request is decided anew.
	if out := e.Hold(sec+ttl, want); out.Result != ResultOK || out.Replayed {
		t.Fatalf("Hold(k1 after its window) = %v replayed %v; want a new hold", out.Result, out.Replayed)
	}
}

// TestRefusalBound: a full refusal table forgets its oldest refusal once
// it is older than RefusalGrace, and until then refuses holds whose
// refusal it could not keep, as a capacity refusal.
func TestRefusalBound(t *testing.T) {
	spec := arenaSpec(t, "p", 2, 1)
	spec.HoldTTL = 10 * time.Minute
	e, err := New(Config{Group: 1, MaxRefusals: 2})
	if err != nil {
		t.Fatal(err)
	}
	e.CreateProgram(0, &spec)
	e.OpenSale(0, "p")
	e.Hold(0, &HoldRequest{Program: "p", User: 9, Count: 2})
	ask := func(now int64, id byte) HoldOutcome {
		return e.Hold(now, &HoldRequest{Program: "p", User: 1, RequestID: RequestID{id}, Count: 1})
	}
	for id := byte(1); id <= 2; id++ {
		if out := ask(sec, id); out.Result != ResultSoldOut {
			t.Fatalf("Hold(%d) = %v; want sold_out", id, out.Result)
		}
	}
	if out := ask(2*sec, 3); out.Result != ResultRefusalsFull {
		t.Fatalf("Hold(third refusal, table full) = %v; want refusals_full", out.Result)
	}
	if st := e.Stats(e.Now()); st.Refusals != 2 {
		t.Fatalf("refusals kept = %d; want 2", st.Refusals)
	}
	late := sec + RefusalGrace
	if out := ask(late, 3); out.Result != ResultSoldOut || out.Replayed {
		t.Fatalf("Hold(third refusal after the grace) = %v replayed %v; want sold_out", out.Result, out.Replayed)
	}
	if out := ask(late, 2); out.Result != ResultSoldOut || !out.Replayed {
		t.Fatalf("Hold(2 again) = %v replayed %v; want its refusal again", out.Result, out.Replayed)
	}
	if out := ask(late, 1); out.Result != ResultSoldOut || out.Replayed {
		t.Fatalf("Hold(1 again, forgotten) = %v replayed %v; want decided anew", out.Result, out.Replayed)
	}
	if err := e.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestExpiryAtItsInstant: from expires_at on, commands and reads treat a
// hold as expired, whether or not a Tick has run.
func TestExpiryAtItsInstant(t *testing.T) {
	spec := arenaSpec(t, "p", 2, 1) // two seats, one a row
	spec.MaxSeatsPerUser = 2
	spec.MaxSeatsPerHold = 2
	e := newTestEngine(t, spec)
	e.SetLogIndex(10)
	h := e.Hold(sec, &HoldRequest{Program: "p", User: 1, Count: 2}).Hold
	at := h.ExpiresAt
	if got, _ := e.GetHold(h.ID, at-1); got.Status != HoldHeld {
		t.Fatalf("GetHold(just before expiry) = %v", got.Status)
	}
	if got, _ := e.GetHold(h.ID, at); got.Status != HoldReleased || got.Reason != ReleaseExpired {
		t.Fatalf("GetHold(at expiry) = %v %v; want released, expired", got.Status, got.Reason)
	}
	avail, v, _ := e.Availability("p", 0, 0, at)
	if avail[0].Free+avail[1].Free != 2 || avail[0].Held+avail[1].Held != 0 || v != (Version{Index: 10, Expired: 1}) {
		t.Fatalf("Availability(at expiry) = %+v %v; want 2 free, version 10.1", avail, v)
	}
	seats, v, _ := e.SeatMap("p", 0, 0, at, nil)
	if seats[0] != SeatFree || seats[1] != SeatFree || v.String() != "10.1" {
		t.Fatalf("SeatMap(at expiry) = %v %v", seats, v)
	}
	if _, v, _ := e.SeatMap("p", 0, 0, at-1, nil); v.String() != "10" {
		t.Fatalf("SeatMap version before expiry = %v; want 10", v)
	}
	// The same user takes both seats again, at the very instant: the
	// expired hold no longer counts against the limit or holds the seats.
	e.SetLogIndex(11)
	if out := e.Hold(at, &HoldRequest{Program: "p", User: 1, Count: 2}); out.Result != ResultOK {
		t.Fatalf("Hold(at the old hold's expiry) = %v", out.Result)
	}
	if r := e.Confirm(at, h.ID); r != ResultHoldExpired {
		t.Fatalf("Confirm(expired) = %v", r)
	}
	if _, v, _ := e.SeatMap("p", 0, 0, at, nil); v.String() != "11" {
		t.Fatalf("version after the new hold = %v; want 11", v)
	}
}

// TestVersionMovesOnlyWithChanges: ticks with nothing to do, refusals and
// reads leave a program's version alone; its seats changing moves it.
func TestVersionMovesOnlyWithChanges(t *testing.T) {
	e := newTestEngine(t, arenaSpec(t, "p", 2, 5))
	q := arenaSpec(t, "q", 2, 1)
	e.SetLogIndex(1)
	e.CreateProgram(0, &q)
	version := func() string {
		_, v, _ := e.Availability("p", 0, 0, e.Now())
		return v.String()
	}
	start := version()
	steps := []struct {
		name  string
		run   func()
		moves bool
	}{
		{"tick with nothing due", func() { e.Tick(2*sec, nil) }, false},
		{"a refusal", func() { e.Hold(2*sec, &HoldRequest{Program: "p", User: 1, Count: 99}) }, false},
		{"a hold of another program", func() { e.OpenSale(2*sec, "q") }, false},
		{"opening an open sale", func() { e.OpenSale(2*sec, "p") }, false},
		{"a hold", func() { e.Hold(2*sec, &HoldRequest{Program: "p", User: 1, Count: 1}) }, true},
		{"a block", func() { e.Block(2*sec, &BlockRequest{Program: "p", Seats: []string{"A/2/5"}}) }, true},
		{"the expiry tick", func() { e.Tick(2*sec+int64(time.Minute), nil) }, true},
		{"another tick", func() { e.Tick(3*sec+int64(time.Minute), nil) }, false},
	}
	for i, st := range steps {
		e.SetLogIndex(uint64(100 + i))
		before := version()
		st.run()
		if moved := version() != before; moved != st.moves {
			t.Errorf("%s: version %s -> %s; moved %v, want %v", st.name, before, version(), moved, st.moves)
		}
	}
	if version() == start {
		t.Fatalf("version never moved")
	}
	// A read at a clock past an expiry sees the version the tick that
	// expires the hold will leave: the tick does not move it again.
	e.SetLogIndex(200)
	h := e.Hold(4*sec+int64(time.Minute), &HoldRequest{Program: "p", User: 2, Count: 1}).Hold
	_, seen, _ := e.Availability("p", 0, 0, h.ExpiresAt)
	e.SetLogIndex(201)
	e.Tick(h.ExpiresAt, nil)
	if _, after, _ := e.Availability("p", 0, 0, h.ExpiresAt); after != seen || seen.String() != "200.1" {
		t.Fatalf("version read at the expiry %v, after the tick %v; want 200.1 both", seen, after)
	}
}

// TestLapsedRefusalGivesWay: a request id whose refusal has lapsed, but
// waits in the queue behind a longer-lived one, is free for a hold, and
// the hold's record replaces the refusal's in the count the bound uses.
func TestLapsedRefusalGivesWay(t *testing.T) {
	long := arenaSpec(t, "long", 2, 1)
	long.HoldTTL = time.Hour
	short := arenaSpec(t, "short", 2, 1)
	short.HoldTTL = 10 * time.Second
	e := newTestEngine(t, long, short)
	e.Hold(0, &HoldRequest{Program: "long", User: 9, Count: 2})
	e.Hold(0, &HoldRequest{Program: "short", User: 9, Count: 2})
	if out := e.Hold(sec, &HoldRequest{Program: "long", User: 1, RequestID: RequestID{1}, Count: 1}); out.Result != ResultSoldOut {
		t.Fatalf("Hold(long) = %v", out.Result)
	}
	req := &HoldRequest{Program: "short", User: 1, RequestID: RequestID{2}, Count: 1}
	if out := e.Hold(2*sec, req); out.Result != ResultSoldOut {
		t.Fatalf("Hold(short) = %v", out.Result)
	}
	if n := e.Stats(e.Now()).Refusals; n != 2 {
		t.Fatalf("refusals = %d; want 2", n)
	}
	// The holds of user 9 expire at 10 s; the short refusal lapses at 62 s
	// (a window is never shorter than RefusalGrace, a minute).
	if out := e.Hold(61*sec, req); out.Result != ResultSoldOut || !out.Replayed {
		t.Fatalf("Hold(short, within its window) = %v replayed %v; want the refusal again", out.Result, out.Replayed)
	}
	if out := e.Hold(63*sec, req); out.Result != ResultOK || out.Replayed {
		t.Fatalf("Hold(short, after its refusal lapsed) = %v replayed %v; want a new hold", out.Result, out.Replayed)
	}
	if n := e.Stats(e.Now()).Refusals; n != 1 {
		t.Fatalf("refusals = %d; want 1 (the hold replaced the lapsed refusal)", n)
	}
	if out := e.Hold(64*sec, req); !out.Replayed || out.Result != ResultOK {
		t.Fatalf("Hold(short again) = %v replayed %v; want the hold again", out.Result, out.Replayed)
	}
}

// TestShortTTLWindow: a program whose holds live less than RefusalGrace
// still remembers its request ids for RefusalGrace: a hold's replay after
// its expiry gets the hold, and the released record is kept that long.
func TestShortTTLWindow(t *testing.T) {
	spec := arenaSpec(t, "p", 2, 5)
	spec.HoldTTL = 10 * time.Second
	e := newTestEngine(t, spec)
	req := &HoldRequest{Program: "p", User: 1, RequestID: RequestID{7}, Count: 1}
	first := e.Hold(0, req)
	if r := e.Release(sec, first.Hold.ID, 1, ReleaseCancelled); r != ResultOK {
		t.Fatalf("Release = %v", r)
	}
	for _, at := range []int64{11 * sec, 30 * sec, 59 * sec} {
		out := e.Hold(at, req)
		if out.Result != ResultOK || !out.Replayed || out.Hold.ID != first.Hold.ID || out.Hold.Status != HoldReleased {
			t.Fatalf("Hold(replay at %ds) = %v replayed %v hold %d %v; want hold %d, released", at/sec, out.Result, out.Replayed,
				out.Hold.ID, out.Hold.Status, first.Hold.ID)
		}
	}
	if out := e.Hold(60*sec, req); out.Replayed || out.Result != ResultOK {
		t.Fatalf("Hold(after the window) = %v replayed %v; want a new hold", out.Result, out.Replayed)
	}
	if _, ok := e.GetHold(first.Hold.ID, 60*sec); ok {
		t.Fatalf("the released hold outlived its window")
	}
}
