package redislua

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"seatd/bench/target"
	"seatd/internal/redistest"
	"seatd/inventory"
)

// newDriver starts a Redis server and a driver on it, persisting as
// always says, and loads spec when it is not nil.
func newDriver(t testing.TB, always bool, spec *inventory.ProgramSpec) (*Driver, *redistest.Server) {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{AppendFsyncAlways: always})
	d := connect(t, srv, always)
	if spec != nil {
		if err := d.Load(context.Background(), spec); err != nil {
			t.Fatalf("Load: %v", err)
		}
		check(t, d, spec.ID)
	}
	return d, srv
}

func connect(t testing.TB, srv *redistest.Server, always bool) *Driver {
	t.Helper()
	d, err := New(context.Background(), Config{Addr: srv.Addr(), PoolSize: 8, AppendFsyncAlways: always})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func check(t testing.TB, d *Driver, program string) {
	t.Helper()
	if err := d.Check(context.Background(), program); err != nil {
		t.Fatal(err)
	}
}

// row is a row of the test venue: its seats' columns, all of category.
type row struct {
	section, id, category string
	cols                  []int
}

// venue builds program "p" of rows; category "a" costs 1000 cents, "b"
// 500.
func venue(rows ...row) *inventory.ProgramSpec {
	spec := &inventory.ProgramSpec{ID: "p", Stops: []string{"x", "y"},
		Categories: []inventory.Category{{ID: "a", PriceCents: 1000}, {ID: "b", PriceCents: 500}}}
	for _, r := range rows {
		if n := len(spec.Layout.Sections); n == 0 || spec.Layout.Sections[n-1].ID != r.section {
			spec.Layout.Sections = append(spec.Layout.Sections, inventory.Section{ID: r.section})
		}
		sec := &spec.Layout.Sections[len(spec.Layout.Sections)-1]
		ir := inventory.Row{ID: r.id}
		for _, c := range r.cols {
			ir.Seats = append(ir.Seats, inventory.Seat{Col: c, Category: r.category})
		}
		sec.Rows = append(sec.Rows, ir)
	}
	return spec
}

// smallVenue has category a in A/1 (5 seats), A/2 (an aisle after
// column 2) and B/2, whose row id is A/2's but which is another row; and
// category b in B/1.
func smallVenue() *inventory.ProgramSpec {
	return venue(
		row{"A", "1", "a", []int{1, 2, 3, 4, 5}},
		row{"A", "2", "a", []int{1, 2, 4, 5}},
		row{"B", "1", "b", []int{1, 2, 3}},
		row{"B", "2", "a", []int{6, 7}},
	)
}

func TestHoldBest(t *testing.T) {
	d, _ := newDriver(t, false, smallVenue())
	ctx := context.Background()
	steps := []struct {
		category string
		n        int
		want     []string
		err      error
	}{
		{"a", 2, []string{"A/1/1", "A/1/2"}, nil},
		{"a", 3, []string{"A/1/3", "A/1/4", "A/1/5"}, nil},
		{"a", 7, nil, target.ErrSoldOut},
		// 1, 2, 4, 5 of A/2 and 6, 7 of B/2: no three in one row.
		{"a", 3, nil, target.ErrNoAdjacent},
		{"a", 2, []string{"A/2/1", "A/2/2"}, nil},
		{"a", 1, []string{"A/2/4"}, nil},
		{"b", 3, []string{"B/1/1", "B/1/2", "B/1/3"}, nil},
		{"b", 1, nil, target.ErrSoldOut},
		{"nosuch", 1, nil, target.ErrSoldOut},
		{"a", 2, []string{"B/2/6", "B/2/7"}, nil},
		{"a", 1, []string{"A/2/5"}, nil},
		{"a", 1, nil, target.ErrSoldOut},
	}
	ids := map[string]bool{}
	for _, s := range steps {
		h, err := d.HoldBest(ctx, "p", s.category, 1, s.n)
		if !errors.Is(err, s.err) || !slices.Equal(h.Seats, s.want) {
			t.Fatalf("HoldBest(%s, %d) = %v, %v; want %v, %v", s.category, s.n, h.Seats, err, s.want, s.err)
		}
		if err == nil {
			price := int64(1000)
			if s.category == "b" {
				price = 500
			}
			if h.TotalCents != price*int64(s.n) || h.ID == "" || ids[h.ID] {
				t.Fatalf("HoldBest(%s, %d) = %+v: want a new id and %d cents", s.category, s.n, h, price*int64(s.n))
			}
			ids[h.ID] = true
		}
		check(t, d, "p")
	}
	for _, n := range []int{0, MaxSeatsPerHold + 1} {
		if _, err := d.HoldBest(ctx, "p", "a", 1, n); err == nil || errors.Is(err, target.ErrSoldOut) {
			t.Errorf("HoldBest(a, %d) = %v; want an error that is no refusal", n, err)
		}
	}
}

func TestHoldNamed(t *testing.T) {
	d, _ := newDriver(t, false, smallVenue())
	ctx := context.Background()
	a, b := target.SeatPrice{Category: "a", PriceCents: 1000}, target.SeatPrice{Category: "b", PriceCents: 500}
	steps := []struct {
		seats    []string
		expected int64
		total    int64
		err      error
		prices   []target.SeatPrice // each seat's, in the order named
	}{
		{[]string{"A/1/3", "B/1/2"}, 1500, 1500, nil, []target.SeatPrice{a, b}},
		{[]string{"A/1/4", "A/1/3"}, 5000, 0, target.ErrTaken, nil},
		{[]string{"B/1/2"}, 5000, 0, target.ErrTaken, nil},
		{[]string{"A/9/9"}, 5000, 0, target.ErrTaken, nil},
		{[]string{"A/1/1", "A/1/2"}, 1999, 0, target.ErrPriceMismatch, nil},
		{[]string{"A/1/1", "A/1/2"}, 2000, 2000, nil, []target.SeatPrice{a, a}},
		{[]string{"B/1/1", "B/1/3", "B/2/7"}, 9999, 2000, nil, []target.SeatPrice{b, b, a}},
	}
	for _, s := range steps {
		h, err := d.HoldNamed(ctx, "p", 1, s.seats, s.expected)
		switch {
		case !errors.Is(err, s.err):
			t.Fatalf("HoldNamed(%v, %d) = %v; want %v", s.seats, s.expected, err, s.err)
		case err == nil && (!slices.Equal(h.Seats, s.seats) || h.TotalCents != s.total || !slices.Equal(h.Prices, s.prices)):
			t.Fatalf("HoldNamed(%v, %d) = %+v; want those seats, %d cents, prices %v", s.seats, s.expected, h, s.total, s.prices)
		}
		check(t, d, "p")
	}
	// Best-available skips the seats named: A/1/1-3 are held.
	if h, err := d.HoldBest(ctx, "p", "a", 1, 2); err != nil || !slices.Equal(h.Seats, []string{"A/1/4", "A/1/5"}) {
		t.Fatalf("HoldBest(a, 2) = %v, %v; want [A/1/4 A/1/5]", h.Seats, err)
	}
	if _, err := d.HoldBest(ctx, "p", "b", 1, 1); !errors.Is(err, target.ErrSoldOut) {
		t.Fatalf("HoldBest(b, 1) = %v; want %v", err, target.ErrSoldOut)
	}
	for _, seats := range [][]string{nil, {"A/2/1", "A/2/1"}} {
		if _, err := d.HoldNamed(ctx, "p", 1, seats, 9999); err == nil || errors.Is(err, target.ErrTaken) {
			t.Errorf("HoldNamed(%v) = %v; want an error that is no refusal", seats, err)
		}
	}
	check(t, d, "p")
}

func TestRelease(t *testing.T) {
	d, _ := newDriver(t, false, smallVenue())
	ctx := context.Background()
	best, err := d.HoldBest(ctx, "p", "a", 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	named, err := d.HoldNamed(ctx, "p", 2, []string{"B/1/2", "A/2/4"}, 1500)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []target.Hold{best, named} {
		if err := d.Release(ctx, "p", h); err != nil {
			t.Fatalf("Release(%+v) = %v", h, err)
		}
		check(t, d, "p")
		if err := d.Release(ctx, "p", h); !errors.Is(err, target.ErrUnknownHold) {
			t.Fatalf("Release(%+v) again = %v; want %v", h, err, target.ErrUnknownHold)
		}
	}
	// A release naming a seat that is not locked releases nothing.
	part, err := d.HoldNamed(ctx, "p", 3, []string{"B/1/1"}, 500)
	if err != nil {
		t.Fatal(err)
	}
	mixed := target.Hold{ID: "x", Seats: []string{"B/1/1", "B/1/3"}}
	if err := d.Release(ctx, "p", mixed); !errors.Is(err, target.ErrUnknownHold) {
		t.Fatalf("Release(%+v) = %v; want %v", mixed, err, target.ErrUnknownHold)
	}
	if err := d.Release(ctx, "p", part); err != nil {
		t.Fatalf("Release(%+v) = %v", part, err)
	}
	// Everything is back: the first hold again, and all of b.
	if h, err := d.HoldBest(ctx, "p", "a", 1, 5); err != nil || !slices.Equal(h.Seats, best.Seats) {
		t.Fatalf("HoldBest(a, 5) = %v, %v; want %v", h.Seats, err, best.Seats)
	}
	if _, err := d.HoldBest(ctx, "p", "b", 1, 3); err != nil {
		t.Fatalf("HoldBest(b, 3) = %v", err)
	}
	check(t, d, "p")
}

func TestLoadReplaces(t *testing.T) {
	d, _ := newDriver(t, false, smallVenue())
	ctx := context.Background()
	if _, err := d.HoldBest(ctx, "p", "a", 1, 2); err != nil {
		t.Fatal(err)
	}
	spec := venue(row{"C", "1", "b", []int{1, 2}})
	if err := d.Load(ctx, spec); err != nil {
		t.Fatal(err)
	}
	check(t, d, "p")
	if _, err := d.HoldBest(ctx, "p", "a", 1, 1); !errors.Is(err, target.ErrSoldOut) {
		t.Fatalf("HoldBest(a, 1) = %v on a program without a's seats; want %v", err, target.ErrSoldOut)
	}
	if h, err := d.HoldBest(ctx, "p", "b", 1, 2); err != nil || !slices.Equal(h.Seats, []string{"C/1/1", "C/1/2"}) {
		t.Fatalf("HoldBest(b, 2) = %v, %v; want [C/1/1 C/1/2]", h.Seats, err)
	}
	if n, err := d.rdb.Exists(ctx, categoryKeys("p", "a")...).Result(); err != nil || n != 1 {
		// Only a's remaining count, 0, is there.
		t.Fatalf("%d of category a's keys left after the reload (%v); want 1", n, err)
	}
}

// TestConcurrentHolds has many buyers hold and release seats of one
// category at once until it is sold out: no seat is held twice, and the
// counts agree with the seats.
func TestConcurrentHolds(t *testing.T) {
	spec := &inventory.ProgramSpec{ID: "p", Stops: []string{"x", "y"}, Categories: []inventory.Category{{ID: "a", PriceCents: 700}}}
	var err error
	if spec.Layout, err = (inventory.Grid{Sections: 2, Rows: 10, Cols: 30, Categories: []inventory.GridCategory{{ID: "a", First: 1, Last: 10}}}).Layout(); err != nil {
		t.Fatal(err)
	}
	d, _ := newDriver(t, false, spec)
	ctx := context.Background()
	const buyers = 16
	var (
		mu   sync.Mutex
		kept []target.Hold
		errs []error
		wg   sync.WaitGroup
	)
	for b := range buyers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(b), 1))
			for {
				var h target.Hold
				var err error
				if r.IntN(4) == 0 {
					seat := fmt.Sprintf("%d/%d/%d", 1+r.IntN(2), 1+r.IntN(10), 1+r.IntN(30))
					h, err = d.HoldNamed(ctx, "p", uint64(b), []string{seat}, 700)
				} else {
					h, err = d.HoldBest(ctx, "p", "a", uint64(b), 1+r.IntN(4))
				}
				switch {
				case errors.Is(err, target.ErrSoldOut):
					return
				case errors.Is(err, target.ErrTaken), errors.Is(err, target.ErrNoAdjacent):
					continue
				case err != nil:
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				if r.IntN(5) == 0 {
					if err := d.Release(ctx, "p", h); err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("Release(%+v) = %w", h, err))
						mu.Unlock()
					}
					continue
				}
				mu.Lock()
				kept = append(kept, h)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	check(t, d, "p")
	held := map[string]string{}
	ids := map[string]bool{}
	for _, h := range kept {
		if ids[h.ID] {
			t.Errorf("hold id %s given twice", h.ID)
		}
		ids[h.ID] = true
		for _, s := range h.Seats {
			if other, ok := held[s]; ok {
				t.Errorf("seat %s is in holds %s and %s", s, other, h.ID)
			}
			held[s] = h.ID
		}
	}
	locked, err := d.rdb.HKeys(ctx, categoryKeys("p", "a")[1]).Result()
	if err != nil {
		t.Fatal(err)
	}
	remain, err := d.rdb.HGet(ctx, categoryKeys("p", "a")[2], "a").Int()
	if err != nil {
		t.Fatal(err)
	}
	if len(locked) != len(held) || remain+len(held) != 600 {
		t.Fatalf("%d seats locked, %d in the holds, %d remaining; want the holds' seats locked, and 600 in all", len(locked), len(held), remain)
	}
	for _, s := range locked {
		if held[s] == "" {
			t.Errorf("seat %s is locked but in no hold", s)
		}
	}
}

// TestPersistence checks what each mode persists: with appendfsync
// always, a hold survives the server's crash (SIGKILL) and restart; with
// nothing persisted, it does not. New sets the server's persistence to
// its Config's either way.
func TestPersistence(t *testing.T) {
	for _, always := range []bool{false, true} {
		t.Run(fmt.Sprint("always=", always), func(t *testing.T) {
			d, srv := newDriver(t, always, smallVenue())
			ctx := context.Background()
			wantPersists, wantAOF := PersistsNothing, "no"
			if always {
				wantPersists, wantAOF = PersistsAlways, "yes"
			}
			if d.Persists() != wantPersists {
				t.Errorf("Persists() = %q; want %q", d.Persists(), wantPersists)
			}
			h, err := d.HoldBest(ctx, "p", "a", 1, 2)
			if err != nil {
				t.Fatal(err)
			}
			srv.Kill()
			srv.Restart()
			d = connect(t, srv, always)
			cfg, err := d.rdb.ConfigGet(ctx, "*").Result()
			if err != nil {
				t.Fatal(err)
			}
			if cfg["appendonly"] != wantAOF || cfg["appendfsync"] != "always" || cfg["save"] != "" {
				t.Errorf("appendonly %q, appendfsync %q, save %q; want %q, always, none", cfg["appendonly"], cfg["appendfsync"], cfg["save"], wantAOF)
			}
			err = d.Release(ctx, "p", h)
			if always {
				check(t, d, "p")
				if err != nil {
					t.Fatalf("Release(%+v) after a crash = %v; want the hold kept", h, err)
				}
			} else if !errors.Is(err, target.ErrUnknownHold) {
				t.Fatalf("Release(%+v) after a crash = %v; want %v (nothing kept)", h, err, target.ErrUnknownHold)
			}
		})
	}
}

// TestNewTurnsAOFOn starts a server that persists nothing and a driver
// that wants appendfsync always: New turns the append-only file on and
// waits for its first rewrite.
func TestNewTurnsAOFOn(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	d := connect(t, srv, true)
	info, err := d.rdb.Info(context.Background(), "persistence").Result()
	if err != nil {
		t.Fatal(err)
	}
	if !containsAll(info, "aof_enabled:1", "aof_rewrite_in_progress:0") {
		t.Fatalf("after New with AppendFsyncAlways, INFO persistence says:\n%s", info)
	}
}

// containsAll reports whether every one of lines is a line of s.
func containsAll(s string, lines ...string) bool {
	have := strings.Split(s, "\r\n")
	for _, l := range lines {
		if !slices.Contains(have, l) {
			return false
		}
	}
	return true
}

func TestConfigValidate(t *testing.T) {
	err := Config{PoolSize: MaxPoolSize + 1, Timeout: -time.Second}.Validate()
	if err == nil {
		t.Fatal("Validate() = nil; want three problems")
	}
	for _, want := range []string{"no Redis address", "pool size", "timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want it to say %q", err, want)
		}
	}
}

// BenchmarkHoldBest holds 2 adjacent seats at a time with hold_best.lua
// on a 10,000-seat category at full inventory (each hold is released,
// untimed, before the next), one client: the baseline's figure that
// issue 12's engine target is a ratio against. It reports holds/s.
func BenchmarkHoldBest(b *testing.B) {
	spec := &inventory.ProgramSpec{ID: "bench", Stops: []string{"x", "y"}, Categories: []inventory.Category{{ID: "a", PriceCents: 10000}}}
	var err error
	if spec.Layout, err = (inventory.Grid{Sections: 1, Rows: 100, Cols: 100, Categories: []inventory.GridCategory{{ID: "a", First: 1, Last: 100}}}).Layout(); err != nil {
		b.Fatal(err)
	}
	d, _ := newDriver(b, false, spec)
	ctx := context.Background()
	for b.Loop() {
		h, err := d.HoldBest(ctx, "bench", "a", 1, 2)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := d.Release(ctx, "bench", h); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "holds/s")
}
