// Package pgseats is the second baseline of ../shared/BASELINE.md: seats
// as rows in PostgreSQL, claimed inside a transaction. It is the design
// most teams build first for seat inventory (a table of seats, a status
// column, SELECT ... FOR UPDATE), so seatbench runs it beside seatd to
// show what seatd's engine is measured against. It is written from that
// description, as a team would write it, not tuned to lose or to win.
//
// One table holds every program's seats:
//
//	seat(program, category, section, row_no, col, rank, status, hold_id, price_cents)
//	PRIMARY KEY (program, section, row_no, col)
//	INDEX seat_free (program, category, status, rank, row_no, col)
//
// status is 0 (free) or 1 (held, with hold_id set); hold ids come from
// the sequence seat_hold_id. Text columns sort with the "C" collation, by
// bytes, so that the order of rows is the same on every server.
//
// HoldBest reads the category's free seats in (rank, row_no, col) order
// from seat_free, FOR UPDATE SKIP LOCKED, a page of Config.PageSeats at a
// time, and takes the first run of n consecutive columns of one row (one
// section and row_no) it finds; the seats of the pages it locked and did
// not take are released at commit. HoldNamed locks the named seats with
// SELECT ... FOR UPDATE in key order (so that two buyers naming the same
// seats cannot deadlock) and refuses unless all are free and within the
// expected total. Release sets a hold's seats free again, locking them
// in the same key order. Each is one transaction over the pool's
// connections; pgx prepares and caches each statement per connection.
//
// A Target is safe for use by many goroutines; each call takes one of
// the pool's connections for its transaction, so Config.Conns bounds the
// transactions in flight and further callers wait for a connection.
// Commits are durable before a call returns: New checks that the server
// runs with fsync and synchronous_commit on.
package pgseats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"seatd/bench/audit"
	"seatd/bench/target"
	"seatd/inventory"
	"seatd/orderflow/orders"
	"seatd/orderflow/reconcile"
)

const (
	// DefaultPageSeats is the default Config.PageSeats: 64 free seats
	// hold a run of up to 6 in all but a fragmented category, and each
	// seat read is a row lock written to its tuple, which concurrent
	// buyers then skip, so a page much larger than a run costs every
	// hold more locks and pushes concurrent buyers further back.
	DefaultPageSeats = 64
	// MaxPageSeats bounds Config.PageSeats: one page is held in memory.
	MaxPageSeats = 10000
	// MaxConns bounds Config.Conns: PostgreSQL's default max_connections
	// is 100, some of them reserved.
	MaxConns = 90
	// MaxSeatsPerHold bounds n and the seats named in one hold, as
	// seatd's inventory.MaxSeatsPerHoldLimit does.
	MaxSeatsPerHold = inventory.MaxSeatsPerHoldLimit
)

// Seat statuses in the status column.
const (
	statusFree = 0
	statusHeld = 1
)

// Errors besides target's refusals.
var (
	// ErrUnknownSeat: a named seat is not a seat of the program (or is
	// not a seat id "section/row/col" at all).
	ErrUnknownSeat = errors.New("pgseats: unknown seat")
	// ErrBadRequest: a request seatd would refuse before looking at any
	// seat: n or the seats named outside 1..MaxSeatsPerHold, a seat
	// named twice.
	ErrBadRequest = errors.New("pgseats: bad request")
)

// Config configures a Target.
type Config struct {
	// DSN is the PostgreSQL connection string (URL or key=value).
	DSN string
	// Conns is the pool's size: as many as the load has concurrent
	// clients, so that no client waits for a connection another could
	// have opened. 1..MaxConns.
	Conns int
	// PageSeats is the number of free seats HoldBest reads and locks in
	// one statement. 0 = DefaultPageSeats; at most MaxPageSeats.
	PageSeats int
}

// Validate reports every problem with the settings.
func (c Config) Validate() error {
	var errs []error
	if c.DSN == "" {
		errs = append(errs, errors.New("pgseats: no DSN"))
	}
	if c.Conns < 1 || c.Conns > MaxConns {
		errs = append(errs, fmt.Errorf("pgseats: conns %d, want 1-%d", c.Conns, MaxConns))
	}
	if c.PageSeats < 0 || c.PageSeats > MaxPageSeats {
		errs = append(errs, fmt.Errorf("pgseats: page seats %d, want 0 (default %d) or 1-%d", c.PageSeats, DefaultPageSeats, MaxPageSeats))
	}
	return errors.Join(errs...)
}

// Target is the PostgreSQL baseline, a target.Target.
type Target struct {
	pool *pgxpool.Pool
	page int
}

// New connects a pool of cfg.Conns connections (opened now, so that the
// first holds do not pay for them) and checks that the server commits
// durably, as Persists says.
func New(ctx context.Context, cfg Config) (*Target, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("pgseats: %w", err)
	}
	pc.MaxConns, pc.MinConns = int32(cfg.Conns), int32(cfg.Conns)
	// Durable commits for every session, whatever the server's default.
	pc.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("pgseats: %w", err)
	}
	var fsync string
	if err := pool.QueryRow(ctx, "SELECT current_setting('fsync')").Scan(&fsync); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgseats: %w", err)
	}
	if fsync != "on" {
		pool.Close()
		return nil, fmt.Errorf("pgseats: the server runs with fsync %s; the baseline is measured with fsync on", fsync)
	}
	page := cfg.PageSeats
	if page == 0 {
		page = DefaultPageSeats
	}
	return &Target{pool: pool, page: page}, nil
}

// Name is "postgres".
func (t *Target) Name() string { return "postgres" }

// Persists says what a hold has made durable when it returns.
func (t *Target) Persists() string { return "PostgreSQL, synchronous_commit on, fsync on" }

// Close closes the pool's connections.
func (t *Target) Close() error {
	t.pool.Close()
	return nil
}

// schema creates what Load needs, where it is absent.
const schema = `
CREATE TABLE IF NOT EXISTS seat (
	program     text COLLATE "C" NOT NULL,
	category    text COLLATE "C" NOT NULL,
	section     text COLLATE "C" NOT NULL,
	row_no      text COLLATE "C" NOT NULL,
	col         integer NOT NULL,
	rank        integer NOT NULL,
	status      smallint NOT NULL,
	hold_id     bigint,
	price_cents bigint NOT NULL,
	PRIMARY KEY (program, section, row_no, col)
);
CREATE INDEX IF NOT EXISTS seat_free ON seat (program, category, status, rank, row_no, col);
CREATE SEQUENCE IF NOT EXISTS seat_hold_id`

// schemaLock is the advisory lock key that serializes Loads, so that
// two creating the schema at once do not collide.
const schemaLock = 0x7365617464 // "seatd"

// Load creates the table, index and sequence where absent, replaces the
// program's seats with the venue's, all free, with COPY, and analyzes
// the table so that the planner reads free seats through seat_free. It
// is one transaction.
func (t *Target) Load(ctx context.Context, spec *inventory.ProgramSpec) error {
	seats := target.Seats(spec)
	err := pgx.BeginFunc(ctx, t.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", schemaLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM seat WHERE program = $1", spec.ID); err != nil {
			return err
		}
		rows := make([][]any, len(seats))
		for i, s := range seats {
			rows[i] = []any{spec.ID, s.Category, s.Section, s.Row, int32(s.Col), int32(s.Rank), int16(statusFree), s.PriceCents}
		}
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"seat"},
			[]string{"program", "category", "section", "row_no", "col", "rank", "status", "price_cents"}, pgx.CopyFromRows(rows))
		if err != nil {
			return err
		}
		if n != int64(len(seats)) {
			panic(fmt.Sprintf("pgseats: COPY wrote %d seats of %d", n, len(seats)))
		}
		_, err = tx.Exec(ctx, "ANALYZE seat")
		return err
	})
	if err != nil {
		return fmt.Errorf("pgseats: load %s: %w", spec.ID, err)
	}
	return nil
}

// freePage reads and locks the next page of free seats of a category
// after the seat at (rank, row_no, col, section), in that order. The
// index gives (rank, row_no, col); seats of different sections may
// share it, so section breaks the tie (a sort of those few rows).
const freePage = `
SELECT section, row_no, col, rank, price_cents FROM seat
WHERE program = $1 AND category = $2 AND status = 0
  AND (rank, row_no, col) >= ($3, $4, $5) AND (rank, row_no, col, section) > ($3, $4, $5, $6)
ORDER BY rank, row_no, col, section
LIMIT $7
FOR UPDATE SKIP LOCKED`

// holdRun holds a run of seats of one row: cols from..to, and returns
// each seat's column and price. The new hold id is drawn in a CTE, which
// PostgreSQL evaluates once because nextval is volatile; in a subquery
// of FROM it would be drawn again for each seat the join visits.
const holdRun = `
WITH h AS (SELECT nextval('seat_hold_id') AS id)
UPDATE seat SET status = 1, hold_id = h.id
FROM h
WHERE program = $1 AND section = $2 AND row_no = $3 AND col BETWEEN $4 AND $5
RETURNING h.id, col, price_cents`

// freeAtLeast counts the free seats of a category, up to $3. The order
// is seat_free's, so that the planner reads that index, which ends where
// the free seats do: its statistics, from Load, think most seats free
// and would otherwise pick a scan of the table, reading all of it when
// none is.
const freeAtLeast = `
SELECT count(*) FROM (SELECT 1 FROM seat WHERE program = $1 AND category = $2 AND status = 0
	ORDER BY rank, row_no, col LIMIT $3) f`

// seatRow is a free seat as freePage reads it.
type seatRow struct {
	section, row string
	col, rank    int32
	price        int64
}

// run follows runs of consecutive columns in each row of the seats a
// scan reads in (rank, row_no, col, section) order: rows of one rank and
// row_no in different sections interleave, so it keeps one run per
// section, and forgets them when the (rank, row_no) changes.
type run struct {
	rank  int32
	row   string
	bySec map[string]*span // per section of the current (rank, row_no)
}

// span is a run of seats of one row: consecutive columns from first to
// last.
type span struct {
	first, last int32
	cents       int64 // of the seats from first to last
}

// add extends the runs with s and returns the run s ends if it is n
// long. A scan stops adding at the first such run, so no run grows past
// n.
func (r *run) add(s seatRow, n int) (span, bool) {
	if r.bySec == nil || s.rank != r.rank || s.row != r.row {
		r.rank, r.row, r.bySec = s.rank, s.row, map[string]*span{}
	}
	sp := r.bySec[s.section]
	if sp == nil || s.col != sp.last+1 {
		sp = &span{first: s.col}
		r.bySec[s.section] = sp
	}
	sp.last = s.col
	sp.cents += s.price
	return *sp, sp.last-sp.first+1 == int32(n)
}

// HoldBest holds n adjacent seats of a category, best first: the first
// run of n consecutive columns of one row in (rank, row_no, col) order
// among the free seats no concurrent transaction has locked. It reads
// pages of free seats, locking them (SKIP LOCKED), until a run is found
// or the category's free seats end.
//
// Without a run it answers target.ErrSoldOut if fewer than n seats of
// the category are free, else target.ErrNoAdjacent. The seats it read
// count them when there are n or more; otherwise a second statement
// counts the free seats, up to n, including those that concurrent
// transactions have locked (they are free until those commit, and most
// go back): it reads at most n live index entries and runs only on a
// refusal, where a remaining-seats counter kept in the table would be
// one row updated by every hold of the category, serializing them all.
// So, as in any design with SKIP LOCKED, a buyer may be told "no
// adjacent seats" while the run they wanted was locked by a concurrent
// buyer's page. buyer is not stored: BASELINE.md's table has no column
// for it. The hold carries its seats' category and prices.
func (t *Target) HoldBest(ctx context.Context, program, category string, buyer uint64, n int) (target.Hold, error) {
	if n < 1 || n > MaxSeatsPerHold {
		return target.Hold{}, fmt.Errorf("%w: %d seats, want 1-%d", ErrBadRequest, n, MaxSeatsPerHold)
	}
	var h target.Hold
	err := pgx.BeginFunc(ctx, t.pool, func(tx pgx.Tx) error {
		var (
			r     run
			seen  int
			after = seatRow{rank: -1 << 31} // before every seat: ids are not empty
			found span
			ok    bool
			row   seatRow
		)
		for !ok {
			rows, err := tx.Query(ctx, freePage, program, category, after.rank, after.row, after.col, after.section, t.page)
			if err != nil {
				return err
			}
			read := 0
			for rows.Next() {
				var s seatRow
				if err := rows.Scan(&s.section, &s.row, &s.col, &s.rank, &s.price); err != nil {
					return err
				}
				read++
				after = s
				if !ok {
					if found, ok = r.add(s, n); ok {
						row = s
					}
				}
			}
			if err := rows.Err(); err != nil {
				return err
			}
			seen += read
			if read < t.page {
				break // the category's free seats have ended
			}
		}
		if !ok {
			if seen >= n {
				return target.ErrNoAdjacent
			}
			var free int
			if err := tx.QueryRow(ctx, freeAtLeast, program, category, n).Scan(&free); err != nil {
				return err
			}
			if free < n {
				return target.ErrSoldOut
			}
			return target.ErrNoAdjacent
		}
		h = target.Hold{TotalCents: found.cents, Seats: make([]string, n), Prices: make([]target.SeatPrice, n)}
		rows, err := tx.Query(ctx, holdRun, program, row.section, row.row, found.first, found.last)
		if err != nil {
			return err
		}
		var (
			id, price int64
			col       int32
		)
		tag, err := pgx.ForEachRow(rows, []any{&id, &col, &price}, func() error {
			i := col - found.first
			h.Seats[i] = row.section + "/" + row.row + "/" + strconv.Itoa(int(col))
			h.Prices[i] = target.SeatPrice{Category: category, PriceCents: price}
			return nil
		})
		if err != nil {
			return err
		}
		if held := tag.RowsAffected(); held != int64(n) {
			panic(fmt.Sprintf("pgseats: held %d seats of a run of %d", held, n)) // the run's rows are locked
		}
		h.ID = strconv.FormatInt(id, 10)
		return nil
	})
	if err != nil {
		return target.Hold{}, fmt.Errorf("pgseats: hold %d of %s/%s: %w", n, program, category, err)
	}
	return h, nil
}

// lockNamed locks the named seats, in key order, and reads them.
const lockNamed = `
SELECT section, row_no, col, status, category, price_cents FROM seat
WHERE program = $1 AND (section, row_no, col) IN (SELECT * FROM unnest($2::text[], $3::text[], $4::integer[]))
ORDER BY section, row_no, col
FOR UPDATE`

// holdNamed holds the named seats, locked by lockNamed, under one new
// hold id (drawn once, as in holdRun).
const holdNamed = `
WITH h AS (SELECT nextval('seat_hold_id') AS id)
UPDATE seat SET status = 1, hold_id = h.id
FROM h
WHERE program = $1 AND (section, row_no, col) IN (SELECT * FROM unnest($2::text[], $3::text[], $4::integer[]))
RETURNING h.id`

// keys splits seat ids "section/row/col" into the key's columns.
func keys(ids []string) (secs, rows []string, cols []int32, err error) {
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		sec, rest, ok1 := strings.Cut(id, "/")
		row, col, ok2 := strings.Cut(rest, "/")
		c, err := strconv.ParseInt(col, 10, 32)
		if !ok1 || !ok2 || err != nil {
			return nil, nil, nil, fmt.Errorf("%w %q", ErrUnknownSeat, id)
		}
		if seen[id] {
			return nil, nil, nil, fmt.Errorf("%w: seat %q named twice", ErrBadRequest, id)
		}
		seen[id] = true
		secs, rows, cols = append(secs, sec), append(rows, row), append(cols, int32(c))
	}
	return secs, rows, cols, nil
}

// HoldNamed holds the named seats ("section/row/col") in one
// transaction: it locks them (FOR UPDATE, waiting for transactions that
// have them locked), and rolls back with ErrUnknownSeat if one is not a
// seat of the program, target.ErrTaken if one is not free, or
// target.ErrPriceMismatch if they cost more than expectedCents; else it
// holds them all under one new hold id. The hold lists the seats, and
// their categories and prices, as named. buyer is not stored, as in
// HoldBest.
func (t *Target) HoldNamed(ctx context.Context, program string, buyer uint64, seatIDs []string, expectedCents int64) (target.Hold, error) {
	if len(seatIDs) < 1 || len(seatIDs) > MaxSeatsPerHold {
		return target.Hold{}, fmt.Errorf("pgseats: hold: %w: %d seats named, want 1-%d", ErrBadRequest, len(seatIDs), MaxSeatsPerHold)
	}
	secs, rows, cols, err := keys(seatIDs)
	if err != nil {
		return target.Hold{}, fmt.Errorf("pgseats: hold: %w", err)
	}
	order := make(map[string]int, len(seatIDs)) // a seat's key, as the table spells it -> its place in seatIDs
	for i := range seatIDs {
		order[secs[i]+"/"+rows[i]+"/"+strconv.Itoa(int(cols[i]))] = i
	}
	h := target.Hold{Seats: slices.Clone(seatIDs), Prices: make([]target.SeatPrice, len(seatIDs))}
	err = pgx.BeginFunc(ctx, t.pool, func(tx pgx.Tx) error {
		rs, err := tx.Query(ctx, lockNamed, program, secs, rows, cols)
		if err != nil {
			return err
		}
		var (
			n     int
			total int64
			taken string
		)
		for rs.Next() {
			var (
				sec, row, cat string
				col           int32
				status, price int64
			)
			if err := rs.Scan(&sec, &row, &col, &status, &cat, &price); err != nil {
				return err
			}
			id := sec + "/" + row + "/" + strconv.Itoa(int(col))
			n++
			total += price
			h.Prices[order[id]] = target.SeatPrice{Category: cat, PriceCents: price}
			if status != statusFree && taken == "" {
				taken = id
			}
		}
		if err := rs.Err(); err != nil {
			return err
		}
		switch {
		case n != len(seatIDs):
			return fmt.Errorf("%w: %d of the %d seats named are not seats of the program", ErrUnknownSeat, len(seatIDs)-n, len(seatIDs))
		case taken != "":
			return fmt.Errorf("%w: %s", target.ErrTaken, taken)
		case total > expectedCents:
			return fmt.Errorf("%w: the seats cost %d, expected %d", target.ErrPriceMismatch, total, expectedCents)
		}
		var id int64
		if err := tx.QueryRow(ctx, holdNamed, program, secs, rows, cols).Scan(&id); err != nil {
			return err
		}
		h.ID, h.TotalCents = strconv.FormatInt(id, 10), total
		return nil
	})
	if err != nil {
		return target.Hold{}, fmt.Errorf("pgseats: hold %v: %w", seatIDs, err)
	}
	return h, nil
}

// release frees a hold's seats, found by key and checked by hold id. It
// locks them first in key order, as lockNamed does: an UPDATE alone
// locks its rows in the order its plan visits them (the order the hold
// lists them, through unnest), and a release and a hold naming the same
// two seats in crossed orders deadlock (SQLSTATE 40P01). The CTE is
// MATERIALIZED so that the locking runs whole, in its ORDER BY, before
// the UPDATE reads it.
const release = `
WITH locked AS MATERIALIZED (
	SELECT section, row_no, col FROM seat
	WHERE program = $1 AND (section, row_no, col) IN (SELECT * FROM unnest($2::text[], $3::text[], $4::integer[]))
	  AND status = 1 AND hold_id = $5
	ORDER BY section, row_no, col
	FOR UPDATE)
UPDATE seat SET status = 0, hold_id = NULL
FROM locked
WHERE seat.program = $1 AND (seat.section, seat.row_no, seat.col) = (locked.section, locked.row_no, locked.col)
  AND seat.status = 1 AND seat.hold_id = $5`

// Release sets a hold's seats free in one statement (its own
// transaction), finding them by key, as the hold lists them, and
// checking the hold id; it locks them in key order, as HoldNamed does,
// so the two never deadlock. target.ErrUnknownHold: none of them is held
// by that hold (released before, or never held).
func (t *Target) Release(ctx context.Context, program string, h target.Hold) error {
	id, err := strconv.ParseInt(h.ID, 10, 64)
	if err != nil {
		return fmt.Errorf("pgseats: release %q: %w", h.ID, target.ErrUnknownHold)
	}
	if len(h.Seats) > MaxSeatsPerHold {
		return fmt.Errorf("pgseats: release %s: %w: %d seats, want at most %d", h.ID, ErrBadRequest, len(h.Seats), MaxSeatsPerHold)
	}
	secs, rows, cols, err := keys(h.Seats)
	if err != nil {
		return fmt.Errorf("pgseats: release %s: %w", h.ID, err)
	}
	tag, err := t.pool.Exec(ctx, release, program, secs, rows, cols, id)
	if err != nil {
		return fmt.Errorf("pgseats: release %s: %w", h.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgseats: release %s: %w", h.ID, target.ErrUnknownHold)
	}
	return nil
}

// checkSeats counts a program's seats whose status is neither free nor
// held, and those held without a hold id or free with one.
const checkSeats = `
SELECT count(*) FILTER (WHERE status NOT IN (0, 1)),
       count(*) FILTER (WHERE (status = 1) <> (hold_id IS NOT NULL))
FROM seat WHERE program = $1`

// checkHolds finds holds of a program with more seats than a hold takes,
// or with seats in another program too (hold ids are drawn from one
// sequence for all), the first few. It reads the held seats once,
// grouped by hold: a join of the held seats with themselves would be
// planned from the statistics Load left, which say nothing is held, and
// read the table once per held seat.
const checkHolds = `
SELECT hold_id, count(*), count(DISTINCT program) FROM seat
WHERE status = 1 AND hold_id IS NOT NULL
GROUP BY hold_id
HAVING bool_or(program = $1) AND (count(*) > $2 OR count(DISTINCT program) > 1)
ORDER BY hold_id LIMIT 10`

// Check verifies a program's seats in the table and reports every
// difference: each is free or held; held exactly when it has a hold id;
// no hold has more than MaxSeatsPerHold seats or seats of another
// program. (No seat is held twice: a seat is one row, keyed by its
// program, section, row and column.) Each statement reads one snapshot,
// but not both together: run it when no hold is under way.
func (t *Target) Check(ctx context.Context, program string) error {
	var odd, unlinked int64
	if err := t.pool.QueryRow(ctx, checkSeats, program).Scan(&odd, &unlinked); err != nil {
		return fmt.Errorf("pgseats: check of program %s: %w", program, err)
	}
	var errs []error
	if odd > 0 {
		errs = append(errs, fmt.Errorf("%d seats are neither free nor held", odd))
	}
	if unlinked > 0 {
		errs = append(errs, fmt.Errorf("%d seats are held without a hold id, or free with one", unlinked))
	}
	rows, err := t.pool.Query(ctx, checkHolds, program, MaxSeatsPerHold)
	if err != nil {
		return fmt.Errorf("pgseats: check of program %s: %w", program, err)
	}
	var id, seats, programs int64
	_, err = pgx.ForEachRow(rows, []any{&id, &seats, &programs}, func() error {
		errs = append(errs, fmt.Errorf("hold %d has %d seats in %d programs; want 1-%d in one", id, seats, programs, MaxSeatsPerHold))
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgseats: check of program %s: %w", program, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pgseats: check of program %s: %w", program, err)
	}
	return nil
}

// ServerPIDs returns the process ids of the server's processes that
// pg_stat_activity lists: every backend (the pool's among them) and the
// background processes (WAL writer, checkpointer, ...), not the
// postmaster. They are processes of this machine only if the server runs
// here, in this machine's process namespace.
func (t *Target) ServerPIDs(ctx context.Context) ([]int, error) {
	rows, err := t.pool.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL ORDER BY pid")
	if err != nil {
		return nil, fmt.Errorf("pgseats: listing the server's processes: %w", err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, fmt.Errorf("pgseats: listing the server's processes: %w", err)
	}
	out := make([]int, len(pids))
	for i, p := range pids {
		out[i] = int(p)
	}
	return out, nil
}

// auditSeats reads a program's seats for the audit.
const auditSeats = `SELECT section, row_no, col, status, hold_id FROM seat WHERE program = $1`

// AuditState shows the audit the program's seats as the table has them,
// in one statement: free (status 0) or held (1; the design has no sold
// state: a paid hold stays held), any other status as blocked; the same
// on every leg (a baseline sells whole journeys). The holds of q.Holds
// are the seats held under each id. There are no counters: the seats are
// rows, counted when asked.
func (t *Target) AuditState(ctx context.Context, q audit.Query) (audit.State, error) {
	seats := target.Seats(q.Spec)
	at := make(map[string]int, len(seats))
	statuses := make([]inventory.SeatStatus, len(seats))
	for i, s := range seats {
		at[s.ID] = i
		statuses[i] = inventory.SeatBlocked // a seat with no row
	}
	want := make(map[string]bool, len(q.Holds))
	for _, id := range q.Holds {
		want[id] = true
	}
	legs := audit.Legs(q.Spec)
	holds := map[string]reconcile.Hold{}
	rows, err := t.pool.Query(ctx, auditSeats, q.Spec.ID)
	if err != nil {
		return audit.State{}, fmt.Errorf("pgseats: audit of %s: %w", q.Spec.ID, err)
	}
	var sec, row string
	var col int32
	var status int16
	var holdID *int64
	_, err = pgx.ForEachRow(rows, []any{&sec, &row, &col, &status, &holdID}, func() error {
		id := sec + "/" + row + "/" + strconv.Itoa(int(col))
		i, ok := at[id]
		if !ok {
			return fmt.Errorf("seat %s is not in the spec", id)
		}
		switch status {
		case statusFree:
			statuses[i] = inventory.SeatFree
		case statusHeld:
			statuses[i] = inventory.SeatHeld
		}
		if holdID == nil {
			return nil
		}
		hid := strconv.FormatInt(*holdID, 10)
		if !want[hid] {
			return nil
		}
		h := holds[hid]
		h.Found, h.ID, h.ProgramID, h.Status, h.To = true, hid, q.Spec.ID, orders.HoldHeld, legs
		h.Seats = append(h.Seats, reconcile.HoldSeat{ID: id})
		holds[hid] = h
		return nil
	})
	if err != nil {
		return audit.State{}, fmt.Errorf("pgseats: audit of %s: %w", q.Spec.ID, err)
	}
	for id := range want {
		if _, ok := holds[id]; !ok {
			holds[id] = reconcile.Hold{ID: id}
		}
	}
	st := audit.State{Holds: holds, Notes: []string{"postgres keeps no counters, only seat rows: the counts check does not run"}}
	for range legs {
		st.Seats = append(st.Seats, statuses)
	}
	return st, nil
}
