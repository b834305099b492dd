package pgseats

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"seatd/bench/target"
	"seatd/internal/pgtest"
	"seatd/inventory"
)

// venue is a small hand-made program. Category "a" (1000 cents): row
// A/1 (rank 1) has columns 1-3 and 5-6 (an aisle at 4), B/1 (rank 1)
// columns 1-4, A/2 (rank 2) columns 1-8. Category "b" (500 cents): A/3
// (rank 3) columns 1-4. Scanned in (rank, row, col, section) order, rank
// 1 reads A/1/1 B/1/1 A/1/2 B/1/2 A/1/3 B/1/3 B/1/4 A/1/5 A/1/6.
func venue(id string) *inventory.ProgramSpec {
	row := func(id string, rank int, cat string, cols ...int) inventory.Row {
		r := inventory.Row{ID: id, Rank: rank}
		for _, c := range cols {
			r.Seats = append(r.Seats, inventory.Seat{Col: c, Category: cat})
		}
		return r
	}
	return &inventory.ProgramSpec{
		ID:         id,
		Stops:      []string{"in", "out"},
		Categories: []inventory.Category{{ID: "a", PriceCents: 1000}, {ID: "b", PriceCents: 500}},
		Layout: inventory.Layout{Sections: []inventory.Section{
			{ID: "A", Rows: []inventory.Row{row("1", 1, "a", 1, 2, 3, 5, 6), row("2", 2, "a", 1, 2, 3, 4, 5, 6, 7, 8), row("3", 3, "b", 1, 2, 3, 4)}},
			{ID: "B", Rows: []inventory.Row{row("1", 1, "a", 1, 2, 3, 4)}},
		}},
	}
}

// grid is a program of one category "a" of sections×rows×cols seats at
// 1000 cents each.
func grid(t testing.TB, id string, sections, rows, cols int) *inventory.ProgramSpec {
	l, err := inventory.Grid{Sections: sections, Rows: rows, Cols: cols, Categories: []inventory.GridCategory{{ID: "a", First: 1, Last: rows}}}.Layout()
	if err != nil {
		t.Fatal(err)
	}
	return &inventory.ProgramSpec{ID: id, Stops: []string{"in", "out"}, Categories: []inventory.Category{{ID: "a", PriceCents: 1000}}, Layout: l}
}

func newTarget(t testing.TB, dsn string, conns, page int) *Target {
	t.Helper()
	tg, err := New(context.Background(), Config{DSN: dsn, Conns: conns, PageSeats: page})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

func load(t testing.TB, tg *Target, spec *inventory.ProgramSpec) {
	t.Helper()
	if err := tg.Load(context.Background(), spec); err != nil {
		t.Fatalf("Load(%s): %v", spec.ID, err)
	}
}

// check compares the program's held seats in the table with the holds
// the test made (hold id -> seats), and runs the target's Check.
func check(t testing.TB, tg *Target, program string, want map[string][]string) {
	t.Helper()
	ctx := context.Background()
	if err := tg.Check(ctx, program); err != nil {
		t.Error(err)
	}
	rows, err := tg.pool.Query(ctx, `SELECT hold_id, section || '/' || row_no || '/' || col FROM seat
		WHERE program = $1 AND status = 1`, program)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for rows.Next() {
		var id int64
		var seat string
		if err := rows.Scan(&id, &seat); err != nil {
			t.Fatal(err)
		}
		got[strconv.FormatInt(id, 10)] = append(got[strconv.FormatInt(id, 10)], seat)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for id, seats := range want {
		w := slices.Sorted(slices.Values(seats))
		if g := slices.Sorted(slices.Values(got[id])); !slices.Equal(g, w) {
			t.Errorf("hold %s of %s: the table holds %v; want %v", id, program, g, w)
		}
	}
	for id, seats := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("hold %s of %s: the table holds %v; want no such hold", id, program, seats)
		}
	}
}

// TestTarget runs the target against a real PostgreSQL, one server for
// all the subtests, each on its own programs.
func TestTarget(t *testing.T) {
	dsn := pgtest.Start(t).DSN
	t.Run("Persists", func(t *testing.T) {
		tg := newTarget(t, dsn, 1, 0)
		if got, want := tg.Persists(), "PostgreSQL, synchronous_commit on, fsync on"; got != want {
			t.Errorf("Persists() = %q; want %q", got, want)
		}
	})
	t.Run("HoldBest", func(t *testing.T) { testHoldBest(t, dsn) })
	t.Run("HoldBestSkipsLocked", func(t *testing.T) { testHoldBestSkipsLocked(t, dsn) })
	t.Run("HoldNamed", func(t *testing.T) { testHoldNamed(t, dsn) })
	t.Run("Release", func(t *testing.T) { testRelease(t, dsn) })
	t.Run("ReleaseLockOrder", func(t *testing.T) { testReleaseLockOrder(t, dsn) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, dsn) })
	t.Run("Check", func(t *testing.T) { testCheck(t, dsn) })
	t.Run("CheckStaleStatistics", func(t *testing.T) { testCheckStaleStatistics(t, dsn) })
	t.Run("Config", func(t *testing.T) {
		for _, c := range []Config{{}, {DSN: dsn, Conns: MaxConns + 1}, {DSN: dsn, Conns: 1, PageSeats: -1}, {DSN: dsn, Conns: 1, PageSeats: MaxPageSeats + 1}} {
			if _, err := New(context.Background(), c); err == nil {
				t.Errorf("New(%+v) = nil error; want a refusal", c)
			}
		}
	})
}

func testHoldBest(t *testing.T, dsn string) {
	tests := []struct {
		name     string
		category string
		named    []string // held first
		n        int
		want     []string
		err      error
	}{
		{"pair: first run in (rank, row, col) order", "a", nil, 2, []string{"A/1/1", "A/1/2"}, nil},
		{"three", "a", nil, 3, []string{"A/1/1", "A/1/2", "A/1/3"}, nil},
		{"four: the aisle breaks A/1", "a", nil, 4, []string{"B/1/1", "B/1/2", "B/1/3", "B/1/4"}, nil},
		{"five: the next rank", "a", nil, 5, []string{"A/2/1", "A/2/2", "A/2/3", "A/2/4", "A/2/5"}, nil},
		{"held seat splits a run", "a", []string{"A/1/2"}, 2, []string{"B/1/1", "B/1/2"}, nil},
		{"held front", "a", []string{"A/1/1", "A/1/2", "A/1/3", "A/1/5", "B/1/1", "B/1/2", "B/1/3", "B/1/4"}, 1, []string{"A/1/6"}, nil},
		{"one", "b", nil, 1, []string{"A/3/1"}, nil},
		{"no run of 9", "a", nil, 9, nil, target.ErrNoAdjacent},
		{"no run of 2, 2 free", "b", []string{"A/3/2", "A/3/3"}, 2, nil, target.ErrNoAdjacent},
		{"fewer free than asked", "b", []string{"A/3/2"}, 4, nil, target.ErrSoldOut},
		{"all held", "b", []string{"A/3/1", "A/3/2", "A/3/3", "A/3/4"}, 1, nil, target.ErrSoldOut},
		{"unknown category", "z", nil, 1, nil, target.ErrSoldOut},
		{"n 0", "a", nil, 0, nil, ErrBadRequest},
		{"n above the limit", "a", nil, MaxSeatsPerHold + 1, nil, ErrBadRequest},
	}
	ctx := context.Background()
	// Page sizes that split the scan inside rank 1's ties of (rank,
	// row, col) across sections, and one that reads it whole.
	for _, page := range []int{1, 2, 3, 0} {
		tg := newTarget(t, dsn, 2, page)
		for i, tc := range tests {
			t.Run(fmt.Sprintf("page=%d/%s", page, tc.name), func(t *testing.T) {
				program := fmt.Sprintf("best-%d-%d", page, i)
				load(t, tg, venue(program))
				want := map[string][]string{}
				if tc.named != nil {
					h, err := tg.HoldNamed(ctx, program, 1, tc.named, 1<<40)
					if err != nil {
						t.Fatalf("HoldNamed(%v) = %v", tc.named, err)
					}
					want[h.ID] = h.Seats
				}
				h, err := tg.HoldBest(ctx, program, tc.category, 2, tc.n)
				if !errors.Is(err, tc.err) || !slices.Equal(h.Seats, tc.want) {
					t.Fatalf("HoldBest(%s, %d) = %v, %v; want %v, %v", tc.category, tc.n, h.Seats, err, tc.want, tc.err)
				}
				if err == nil {
					price := map[string]int64{"a": 1000, "b": 500}[tc.category]
					prices := slices.Repeat([]target.SeatPrice{{Category: tc.category, PriceCents: price}}, tc.n)
					if h.TotalCents != price*int64(tc.n) || !slices.Equal(h.Prices, prices) {
						t.Errorf("HoldBest(%s, %d) = %+v; want %d cents, prices %v", tc.category, tc.n, h, price*int64(tc.n), prices)
					}
					want[h.ID] = h.Seats
				}
				check(t, tg, program, want)
			})
		}
	}
}

// testHoldBestSkipsLocked shows SKIP LOCKED: seats another transaction
// has locked are passed over, and when only those remain the answer is
// "no adjacent seats", not "sold out", since they are still free.
func testHoldBestSkipsLocked(t *testing.T, dsn string) {
	ctx := context.Background()
	tg := newTarget(t, dsn, 2, 0)
	load(t, tg, venue("skip"))
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM seat WHERE program = 'skip' AND ((section = 'A' AND row_no = '1') OR category = 'b') FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	if h, err := tg.HoldBest(ctx, "skip", "a", 1, 2); err != nil || !slices.Equal(h.Seats, []string{"B/1/1", "B/1/2"}) {
		t.Errorf("HoldBest(a, 2) with A/1 locked = %v, %v; want [B/1/1 B/1/2]", h.Seats, err)
	}
	if h, err := tg.HoldBest(ctx, "skip", "b", 1, 2); !errors.Is(err, target.ErrNoAdjacent) {
		t.Errorf("HoldBest(b, 2) with all of b locked = %v, %v; want %v", h.Seats, err, target.ErrNoAdjacent)
	}
}

func testHoldNamed(t *testing.T, dsn string) {
	ctx := context.Background()
	tg := newTarget(t, dsn, 2, 0)
	load(t, tg, venue("named"))
	want := map[string][]string{}
	// Named out of key order: the prices come in the order named.
	h, err := tg.HoldNamed(ctx, "named", 1, []string{"A/3/1", "A/2/2"}, 1500)
	if err != nil || h.TotalCents != 1500 || !slices.Equal(h.Seats, []string{"A/3/1", "A/2/2"}) || h.ID == "" ||
		!slices.Equal(h.Prices, []target.SeatPrice{{Category: "b", PriceCents: 500}, {Category: "a", PriceCents: 1000}}) {
		t.Fatalf("HoldNamed(A/3/1 A/2/2, 1500) = %+v, %v; want both held, b 500 and a 1000 cents", h, err)
	}
	want[h.ID] = h.Seats
	refusals := []struct {
		seats    []string
		expected int64
		err      error
	}{
		{[]string{"A/2/1", "A/2/2"}, 2000, target.ErrTaken},
		{[]string{"A/2/3", "A/2/4"}, 1999, target.ErrPriceMismatch},
		{[]string{"A/2/3", "Z/1/1"}, 2000, ErrUnknownSeat},
		{[]string{"A/2/3", "A/2"}, 2000, ErrUnknownSeat},
		{[]string{"A/2/3", "A/2/x"}, 2000, ErrUnknownSeat},
		{[]string{"A/2/3", "A/2/3"}, 2000, ErrBadRequest},
		{nil, 0, ErrBadRequest},
		{slices.Repeat([]string{"A/2/3"}, MaxSeatsPerHold+1), 1 << 40, ErrBadRequest},
	}
	for _, r := range refusals {
		if h, err := tg.HoldNamed(ctx, "named", 1, r.seats, r.expected); !errors.Is(err, r.err) {
			t.Errorf("HoldNamed(%v, %d) = %+v, %v; want %v", r.seats, r.expected, h, err, r.err)
		}
	}
	// The refusals rolled back: A/2/1, A/2/3 and A/2/4 are still free.
	h, err = tg.HoldNamed(ctx, "named", 1, []string{"A/2/1", "A/2/3", "A/2/4"}, 3000)
	if err != nil {
		t.Fatalf("HoldNamed(A/2/1 A/2/3 A/2/4, 3000) = %v", err)
	}
	want[h.ID] = h.Seats
	check(t, tg, "named", want)
}

func testRelease(t *testing.T, dsn string) {
	ctx := context.Background()
	tg := newTarget(t, dsn, 2, 0)
	load(t, tg, venue("release"))
	a, err := tg.HoldBest(ctx, "release", "a", 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tg.HoldNamed(ctx, "release", 1, []string{"A/3/4"}, 500)
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Release(ctx, "release", a); err != nil {
		t.Fatalf("Release(%+v) = %v", a, err)
	}
	check(t, tg, "release", map[string][]string{b.ID: b.Seats})
	for _, h := range []target.Hold{a, {ID: "x"}, {ID: b.ID, Seats: a.Seats}, {ID: a.ID, Seats: b.Seats}} {
		if err := tg.Release(ctx, "release", h); !errors.Is(err, target.ErrUnknownHold) {
			t.Errorf("Release(%+v) = %v; want %v", h, err, target.ErrUnknownHold)
		}
	}
	// The released seats are the best again.
	if h, err := tg.HoldBest(ctx, "release", "a", 1, 3); err != nil || !slices.Equal(h.Seats, a.Seats) {
		t.Errorf("HoldBest(a, 3) after the release = %v, %v; want %v", h.Seats, err, a.Seats)
	}
}

// testReleaseLockOrder: Release locks a hold's seats in key order, as
// HoldNamed does, whatever order the hold lists them in; locked in the
// hold's order instead, a release and a hold naming the same seats in
// crossed orders deadlock. With the higher seat locked by another
// transaction, the release waits there having locked the lower one, so a
// NOWAIT lock of the lower one fails. The target's sessions scan the
// table in its physical order (no index scans), where the lower seat
// comes last: fails on an UPDATE that locks in the order its plan visits
// rows (the lower seat is still free to lock).
func testReleaseLockOrder(t *testing.T, dsn string) {
	ctx := context.Background()
	tg := newTarget(t, dsn+"&options="+strings.NewReplacer(" ", "%20", "=", "%3D").Replace("-c enable_indexscan=off -c enable_bitmapscan=off"), 2, 0)
	load(t, tg, venue("order"))
	h, err := tg.HoldNamed(ctx, "order", 1, []string{"A/2/5", "A/2/4"}, 2000) // listed high key first
	if err != nil {
		t.Fatal(err)
	}
	// A new version of A/2/4's row, after A/2/5's in the table.
	if _, err := tg.pool.Exec(ctx, `UPDATE seat SET price_cents = price_cents WHERE program = 'order' AND section = 'A' AND row_no = '2' AND col = 4`); err != nil {
		t.Fatal(err)
	}
	lockSeat := func(tx pgx.Tx, col int, nowait string) error {
		_, err := tx.Exec(ctx, `SELECT 1 FROM seat WHERE program = 'order' AND section = 'A' AND row_no = '2' AND col = $1 FOR UPDATE `+nowait, col)
		return err
	}
	begin := func() pgx.Tx {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(ctx) })
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}
	blocker := begin()
	if err := lockSeat(blocker, 5, ""); err != nil {
		t.Fatal(err)
	}
	released := make(chan error, 1)
	go func() { released <- tg.Release(ctx, "order", h) }()
	probe := begin()
	defer probe.Rollback(ctx)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var waiting int
		if err := probe.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break // the release waits for A/2/5
		}
		if time.Now().After(deadline) {
			t.Fatal("the release never waited for the locked seat")
		}
	}
	if _, err := probe.Exec(ctx, "SAVEPOINT nowait"); err != nil {
		t.Fatal(err)
	}
	err = lockSeat(probe, 4, "NOWAIT")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "55P03" {
		t.Errorf("locking A/2/4 while the release waits for A/2/5 = %v; want lock_not_available (55P03): the release locks A/2/4 first", err)
	}
	if _, err := probe.Exec(ctx, "ROLLBACK TO SAVEPOINT nowait"); err != nil { // a lock it got goes too
		t.Fatal(err)
	}
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-released; err != nil {
		t.Fatalf("Release(%+v) = %v", h, err)
	}
	check(t, tg, "order", map[string][]string{})
}

// testConcurrent runs buyers at once (best-available, named, releases),
// then has them take the rest one seat at a time until sold out, and
// checks that no seat was held twice and the table holds what they were
// told.
func testConcurrent(t *testing.T, dsn string) {
	const (
		buyers = 16
		ops    = 60
	)
	ctx := context.Background()
	spec := grid(t, "concurrent", 2, 10, 20)
	capacity := len(target.Seats(spec))
	tg := newTarget(t, dsn, buyers, 8)
	load(t, tg, spec)

	var (
		mu    sync.Mutex
		holds = map[string][]string{} // guarded by mu
		owner = map[string]string{}   // seat -> hold; guarded by mu
	)
	took := func(h target.Hold) error {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := holds[h.ID]; dup {
			return fmt.Errorf("hold id %s given twice", h.ID)
		}
		for _, s := range h.Seats {
			if o, ok := owner[s]; ok {
				return fmt.Errorf("seat %s in holds %s and %s", s, o, h.ID)
			}
			owner[s] = h.ID
		}
		holds[h.ID] = h.Seats
		return nil
	}
	gave := func(h target.Hold) {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range h.Seats {
			delete(owner, s)
		}
		delete(holds, h.ID)
	}
	errs := make(chan error, buyers)
	var wg sync.WaitGroup
	for b := range buyers {
		wg.Go(func() {
			errs <- func() error {
				r := rand.New(rand.NewPCG(uint64(b), 7))
				var mine []target.Hold
				for range ops {
					var (
						h   target.Hold
						err error
					)
					switch p := r.IntN(10); {
					case p < 6:
						h, err = tg.HoldBest(ctx, "concurrent", "a", uint64(b), 1+r.IntN(4))
					case p < 8:
						sec, row, col := string(rune('A'+r.IntN(2))), 1+r.IntN(10), 1+r.IntN(19)
						h, err = tg.HoldNamed(ctx, "concurrent", uint64(b), []string{
							fmt.Sprintf("%s/%d/%d", sec, row, col), fmt.Sprintf("%s/%d/%d", sec, row, col+1)}, 2000)
					default:
						if len(mine) == 0 {
							continue
						}
						i := r.IntN(len(mine))
						gave(mine[i])
						if err := tg.Release(ctx, "concurrent", mine[i]); err != nil {
							return fmt.Errorf("Release(%+v) = %v", mine[i], err)
						}
						mine = slices.Delete(mine, i, i+1)
						continue
					}
					switch {
					case err == nil:
						if err := took(h); err != nil {
							return err
						}
						mine = append(mine, h)
					case errors.Is(err, target.ErrNoAdjacent), errors.Is(err, target.ErrTaken), errors.Is(err, target.ErrSoldOut):
					default:
						return err
					}
				}
				// Take the rest, a seat at a time. "No adjacent" here
				// means every free seat is locked by another buyer.
				for {
					h, err := tg.HoldBest(ctx, "concurrent", "a", uint64(b), 1)
					switch {
					case err == nil:
						if err := took(h); err != nil {
							return err
						}
					case errors.Is(err, target.ErrSoldOut):
						return nil
					case !errors.Is(err, target.ErrNoAdjacent):
						return err
					}
				}
			}()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if len(owner) != capacity {
		t.Errorf("%d seats held at the end; want all %d", len(owner), capacity)
	}
	check(t, tg, "concurrent", holds)
}

// testCheck corrupts a program's seats in each way Check looks for, and
// checks that it says so.
func testCheck(t *testing.T, dsn string) {
	ctx := context.Background()
	tg := newTarget(t, dsn, 2, 0)
	tests := []struct {
		name, corrupt, want string
	}{
		{"odd status", `UPDATE seat SET status = 7 WHERE program = $1 AND section = 'A' AND row_no = '1' AND col = 1`, "1 seats are neither free nor held"},
		{"held, no id", `UPDATE seat SET status = 1 WHERE program = $1 AND section = 'A' AND row_no = '1' AND col = 1`, "1 seats are held without a hold id"},
		{"free with an id", `UPDATE seat SET hold_id = -1 WHERE program = $1 AND section = 'A' AND row_no = '1' AND col = 1`, "1 seats are held without a hold id, or free with one"},
		{"a hold in two programs", `UPDATE seat SET status = 1, hold_id = (SELECT hold_id FROM seat WHERE program = 'check-other' AND status = 1)
			WHERE program = $1 AND section = 'A' AND row_no = '1' AND col = 1`, "seats in 2 programs"},
	}
	load(t, tg, venue("check-other"))
	if _, err := tg.HoldBest(ctx, "check-other", "a", 1, 1); err != nil {
		t.Fatal(err)
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			program := fmt.Sprintf("check-%d", i)
			load(t, tg, venue(program))
			if err := tg.Check(ctx, program); err != nil {
				t.Fatalf("Check of a new program = %v", err)
			}
			if _, err := tg.pool.Exec(ctx, tc.corrupt, program); err != nil {
				t.Fatal(err)
			}
			if err := tg.Check(ctx, program); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check after %s = %v; want it to say %q", tc.name, err, tc.want)
			}
		})
	}
}

// testCheckStaleStatistics runs Check where a run leaves the table: a
// big program all held since Load analyzed it all free. Planned from
// those statistics, a check that joined the held seats with themselves
// read the table once per held seat (80,000 held took 17 minutes); one
// pass over the held seats takes well under a second. The bound is only
// there so that the old plan fails rather than hangs.
func testCheckStaleStatistics(t *testing.T, dsn string) {
	ctx := context.Background()
	tg := newTarget(t, dsn, 2, 0)
	const program = "stale"
	load(t, tg, grid(t, program, 4, 100, 100))
	// Two seats a hold, side by side, as a run leaves them; no ANALYZE.
	if _, err := tg.pool.Exec(ctx, `UPDATE seat s SET status = 1, hold_id = 1000000 + n.i / 2
		FROM (SELECT ctid, row_number() OVER (ORDER BY section, row_no, col) AS i FROM seat WHERE program = $1) n
		WHERE s.ctid = n.ctid`, program); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := tg.Check(cctx, program); err != nil {
		t.Fatalf("Check of 40,000 held seats = %v", err)
	}
	// And it still finds a hold with too many seats there.
	if _, err := tg.pool.Exec(ctx, `UPDATE seat SET hold_id = 1000000 WHERE program = $1 AND hold_id <= 1000040`, program); err != nil {
		t.Fatal(err)
	}
	if err := tg.Check(cctx, program); err == nil || !strings.Contains(err.Error(), "hold 1000000 has") {
		t.Errorf("Check with a hold of 81 seats = %v; want it named", err)
	}
}
