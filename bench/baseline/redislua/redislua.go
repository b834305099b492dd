// Package redislua is the first baseline of ../shared/BASELINE.md, the
// design of the Java ticketing projects seatd is measured against: seat
// inventory in Redis, each purchase one Lua script that checks and locks
// atomically. Driver runs the scripts (hold_best.lua, hold_named.lua,
// release.lua, embedded here) on a Redis server and is a target.Target
// for seatbench.
//
// It is written from that description and not improved: the automatic
// choice decodes every unsold seat of the category from JSON, sorts them
// all by (rowCode, colCode) and scans for a run, inside Redis, on every
// purchase, and Redis runs one script at a time. That cost is the point:
// every seatd speed claim is a ratio against it.
//
// Data in Redis, per program P and ticket category C (all keys of P start
// with the prefix "redislua:{P}:"):
//
//	redislua:{P}:C:unsold   hash seat id -> seat JSON, sellStatus 1 (free)
//	redislua:{P}:C:locked   hash seat id -> seat JSON, sellStatus 2 (locked)
//	redislua:{P}:C:remain   hash C -> seats unsold
//	redislua:{P}:seats      hash seat id -> C, for named seats (the
//	                        Java projects' requests carry the category)
//	redislua:{P}:categories set of the categories, for Load to replace
//	redislua:holdseq        counter that hold id blocks are taken from
//
// A seat's JSON is {id, ticketCategoryId, rowCode, colCode, price,
// sellStatus}: id is seatd's "section/row/col"; rowCode numbers the
// venue's rows 1, 2, ... in layout order (section by section), so that a
// row of one section never runs on into another's; colCode is the column;
// price is in cents.
//
// What it persists is the Redis server's: nothing by default; with
// Config.AppendFsyncAlways, every write, fsynced before Redis answers.
// Persists says which.
//
// A Driver is safe for concurrent use; its scripts are atomic in Redis,
// so any number of drivers may share a server. A call that fails (not a
// refusal: a timeout, a lost connection) may still have run its script:
// there is no way to know whether seats were held.
package redislua

import (
	"context"
	_ "embed" // the scripts
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"seatd/bench/target"
	"seatd/inventory"
)

var (
	//go:embed hold_best.lua
	holdBestLua string
	//go:embed hold_named.lua
	holdNamedLua string
	//go:embed release.lua
	releaseLua string
)

const (
	// MaxSeatsPerHold bounds the seats of one hold, as seatd's
	// inventory.MaxSeatsPerHoldLimit does, so that both sides answer the
	// same requests.
	MaxSeatsPerHold = inventory.MaxSeatsPerHoldLimit

	// MaxPoolSize bounds Config.PoolSize: past it, connections only
	// queue inside the one Redis thread.
	MaxPoolSize = 4096

	// idBlock is how many hold ids a driver takes from redislua:holdseq
	// at once: one round trip per million holds, not one per hold.
	idBlock = 1 << 20

	// loadChunk bounds the fields of one HSET that Load sends, and so
	// the size of one command (about 100 bytes a seat).
	loadChunk = 1000
)

// What Persists says.
const (
	PersistsNothing = "nothing: one Redis process, no persistence"
	PersistsAlways  = "every write: one Redis process, append-only file with appendfsync always (fsync before each answer)"
)

// Config is what a Driver needs.
type Config struct {
	// Addr is the Redis server's host:port.
	Addr string
	// PoolSize bounds the connections to Redis, and so the scripts in
	// flight; a call past it waits up to Timeout for a connection.
	// Redis runs one script at a time, so more connections only queue
	// inside it. Default 64, at least the concurrent buyers of a
	// seatbench run on a 2-core machine; 1 to MaxPoolSize.
	PoolSize int
	// Timeout bounds dialing, the wait for a pooled connection, and each
	// command's round trip, a script queued behind the others included.
	// Default 10 s: a best-available hold on a full 10,000-seat category
	// takes 35-50 ms on a busy 2-core machine, so 64 queued take about
	// 3 s. The context's deadline, when sooner, bounds them too.
	Timeout time.Duration
	// AppendFsyncAlways makes New turn the server's append-only file on
	// with appendfsync always, so that every write is on disk before
	// Redis answers it; false turns it off. Either way New turns RDB
	// snapshots off, so that Persists is the whole truth.
	AppendFsyncAlways bool
}

func (c Config) withDefaults() Config {
	if c.PoolSize == 0 {
		c.PoolSize = 64
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	return c
}

// Validate reports every problem with the settings.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("redislua: no Redis address"))
	}
	if c.PoolSize < 0 || c.PoolSize > MaxPoolSize {
		errs = append(errs, fmt.Errorf("redislua: pool size %d, want 1-%d (0 for the default)", c.PoolSize, MaxPoolSize))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("redislua: timeout %v, want more than 0 (0 for the default)", c.Timeout))
	}
	return errors.Join(errs...)
}

// Driver runs the baseline's scripts on one Redis server.
type Driver struct {
	cfg                          Config
	rdb                          *redis.Client
	holdBest, holdNamed, release *redis.Script

	mu     sync.Mutex // guards nextID and lastID
	nextID int64      // the next hold id to give; none left when past lastID
	lastID int64
}

// New connects to the Redis server at cfg.Addr, sets its persistence as
// cfg says (CONFIG SET; with AppendFsyncAlways it waits, up to
// cfg.Timeout, for the append-only file's first rewrite, before which
// writes are not yet fsynced one by one) and loads the scripts.
func New(ctx context.Context, cfg Config) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	rdb := redis.NewClient(&redis.Options{
		Addr:         cfg.Addr,
		PoolSize:     cfg.PoolSize,
		PoolTimeout:  cfg.Timeout,
		DialTimeout:  cfg.Timeout,
		ReadTimeout:  cfg.Timeout,
		WriteTimeout: cfg.Timeout,
		// A call's context bounds it too.
		ContextTimeoutEnabled: true,
		// Never retried: a script that timed out may have run, and
		// running it again would hold other seats too. go-redis retries
		// three times by default.
		MaxRetries: -1,
		// Debian's Redis 7.0 has no CLIENT SETINFO.
		DisableIdentity: true,
	})
	d := &Driver{cfg: cfg, rdb: rdb, holdBest: redis.NewScript(holdBestLua), holdNamed: redis.NewScript(holdNamedLua),
		release: redis.NewScript(releaseLua)}
	if err := d.setup(ctx); err != nil {
		rdb.Close()
		return nil, err
	}
	return d, nil
}

// setup sets the server's persistence and loads the scripts.
func (d *Driver) setup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	aof := "no"
	if d.cfg.AppendFsyncAlways {
		aof = "yes"
	}
	if err := d.rdb.ConfigSet(ctx, "save", "").Err(); err != nil {
		return fmt.Errorf("redislua: turning RDB snapshots off on %s: %w", d.cfg.Addr, err)
	}
	if err := d.rdb.ConfigSet(ctx, "appendfsync", "always").Err(); err != nil {
		return fmt.Errorf("redislua: setting appendfsync always on %s: %w", d.cfg.Addr, err)
	}
	if err := d.rdb.ConfigSet(ctx, "appendonly", aof).Err(); err != nil {
		return fmt.Errorf("redislua: setting appendonly %s on %s: %w", aof, d.cfg.Addr, err)
	}
	if d.cfg.AppendFsyncAlways {
		if err := d.awaitAOF(ctx); err != nil {
			return err
		}
	}
	for _, s := range []*redis.Script{d.holdBest, d.holdNamed, d.release} {
		if err := s.Load(ctx, d.rdb).Err(); err != nil {
			return fmt.Errorf("redislua: loading a script into %s: %w", d.cfg.Addr, err)
		}
	}
	return nil
}

// awaitAOF waits until the server's append-only file is on and no
// rewrite is under way or scheduled: turned on by CONFIG SET, it starts
// with a rewrite, and only after it does appendfsync always hold.
func (d *Driver) awaitAOF(ctx context.Context) error {
	for {
		info, err := d.rdb.Info(ctx, "persistence").Result()
		if err != nil {
			return fmt.Errorf("redislua: reading the persistence of %s: %w", d.cfg.Addr, err)
		}
		if strings.Contains(info, "aof_enabled:1") && strings.Contains(info, "aof_rewrite_in_progress:0") &&
			strings.Contains(info, "aof_rewrite_scheduled:0") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redislua: the append-only file of %s is not on yet: %w", d.cfg.Addr, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Name is "redis-lua".
func (d *Driver) Name() string { return "redis-lua" }

// Persists says what the server makes durable before it answers:
// PersistsNothing or PersistsAlways.
func (d *Driver) Persists() string {
	if d.cfg.AppendFsyncAlways {
		return PersistsAlways
	}
	return PersistsNothing
}

// Close closes the connections to Redis.
func (d *Driver) Close() error { return d.rdb.Close() }

// prefix is the start of every key of a program.
func prefix(program string) string { return "redislua:{" + program + "}:" }

// categoryKeys are a category's unsold, locked and remaining-count keys.
func categoryKeys(program, category string) []string {
	p := prefix(program) + category
	return []string{p + ":unsold", p + ":locked", p + ":remain"}
}

// seatIndexKey is the program's hash of seat id -> category.
func seatIndexKey(program string) string { return prefix(program) + "seats" }

// categoriesKey is the program's set of categories.
func categoriesKey(program string) string { return prefix(program) + "categories" }

// Seat is a seat as the scripts store it.
type Seat struct {
	ID         string `json:"id"`
	Category   string `json:"ticketCategoryId"`
	RowCode    int    `json:"rowCode"` // the venue's rows 1, 2, ... in layout order
	ColCode    int    `json:"colCode"`
	PriceCents int64  `json:"price"`
	SellStatus int    `json:"sellStatus"` // 1 free, 2 locked
}

// Sell statuses.
const (
	free   = 1
	locked = 2
)

// Load writes a venue's seats, every one free, replacing a program of
// the same id: the hashes of every category, the seat index and the
// set of categories. It is not atomic; load a program before it is sold.
func (d *Driver) Load(ctx context.Context, spec *inventory.ProgramSpec) error {
	if !inventory.ValidID(spec.ID) {
		return fmt.Errorf("redislua: program id %q: want 1-%d letters, digits, '-', '_' or '.', starting with a letter or digit", spec.ID, inventory.MaxIDLen)
	}
	known := map[string]bool{}
	for _, c := range spec.Categories {
		if !inventory.ValidID(c.ID) {
			return fmt.Errorf("redislua: category id %q: want 1-%d letters, digits, '-', '_' or '.', starting with a letter or digit", c.ID, inventory.MaxIDLen)
		}
		known[c.ID] = true
	}
	if err := d.drop(ctx, spec.ID); err != nil {
		return err
	}
	// Seats come in layout order, a row's seats together.
	unsold := map[string][]any{} // category -> field, value, ...
	var index []any              // seat id, category, ...
	row, last := 0, ""
	for _, s := range target.Seats(spec) {
		if !known[s.Category] {
			return fmt.Errorf("redislua: seat %s: category %q is not one of the program's", s.ID, s.Category)
		}
		if r := s.Section + "/" + s.Row; r != last {
			row, last = row+1, r
		}
		v, err := json.Marshal(Seat{ID: s.ID, Category: s.Category, RowCode: row, ColCode: s.Col, PriceCents: s.PriceCents, SellStatus: free})
		if err != nil {
			return fmt.Errorf("redislua: encoding seat %s: %w", s.ID, err)
		}
		unsold[s.Category] = append(unsold[s.Category], s.ID, v)
		index = append(index, s.ID, s.Category)
	}
	pipe := d.rdb.Pipeline()
	for _, c := range spec.Categories {
		keys := categoryKeys(spec.ID, c.ID)
		for chunk := range slices.Chunk(unsold[c.ID], 2*loadChunk) {
			pipe.HSet(ctx, keys[0], chunk...)
		}
		pipe.HSet(ctx, keys[2], c.ID, len(unsold[c.ID])/2)
		pipe.SAdd(ctx, categoriesKey(spec.ID), c.ID)
		if err := exec(ctx, pipe); err != nil {
			return fmt.Errorf("redislua: loading category %s of program %s: %w", c.ID, spec.ID, err)
		}
	}
	for chunk := range slices.Chunk(index, 2*loadChunk) {
		pipe.HSet(ctx, seatIndexKey(spec.ID), chunk...)
		if pipe.Len() == 16 {
			if err := exec(ctx, pipe); err != nil {
				return fmt.Errorf("redislua: loading the seat index of program %s: %w", spec.ID, err)
			}
		}
	}
	if err := exec(ctx, pipe); err != nil {
		return fmt.Errorf("redislua: loading the seat index of program %s: %w", spec.ID, err)
	}
	return nil
}

// exec sends a pipeline's commands, if it has any.
func exec(ctx context.Context, pipe redis.Pipeliner) error {
	if pipe.Len() == 0 {
		return nil
	}
	_, err := pipe.Exec(ctx)
	return err
}

// drop deletes every key of a program.
func (d *Driver) drop(ctx context.Context, program string) error {
	cats, err := d.rdb.SMembers(ctx, categoriesKey(program)).Result()
	if err != nil {
		return fmt.Errorf("redislua: reading the categories of program %s: %w", program, err)
	}
	keys := []string{seatIndexKey(program), categoriesKey(program)}
	for _, c := range cats {
		keys = append(keys, categoryKeys(program, c)...)
	}
	if err := d.rdb.Del(ctx, keys...).Err(); err != nil {
		return fmt.Errorf("redislua: deleting program %s: %w", program, err)
	}
	return nil
}

// HoldBest holds n adjacent seats of a category with hold_best.lua: the
// first n consecutive columns of one row in row and column order. It
// refuses with target.ErrSoldOut (fewer than n unsold, or no such
// category) or target.ErrNoAdjacent. The buyer is not stored: the Java
// projects keep it in their order, outside Redis. The hold carries its
// seats' categories and prices, as the script's answer has them.
func (d *Driver) HoldBest(ctx context.Context, program, category string, _ uint64, n int) (target.Hold, error) {
	if n < 1 || n > MaxSeatsPerHold {
		return target.Hold{}, fmt.Errorf("redislua: %d seats asked, want 1-%d", n, MaxSeatsPerHold)
	}
	res, err := d.holdBest.Run(ctx, d.rdb, categoryKeys(program, category), category, n).Slice()
	if err != nil {
		return target.Hold{}, fmt.Errorf("redislua: hold_best.lua: %w", err)
	}
	switch answer(res) {
	case "ok":
		return d.held(ctx, res[1:])
	case "sold_out":
		return target.Hold{}, fmt.Errorf("redislua: fewer than %d unsold seats of category %q: %w", n, category, target.ErrSoldOut)
	case "no_adjacent":
		return target.Hold{}, fmt.Errorf("redislua: no %d adjacent unsold seats of category %q: %w", n, category, target.ErrNoAdjacent)
	}
	return target.Hold{}, fmt.Errorf("redislua: hold_best.lua answered %v", res)
}

// HoldNamed holds the seats named with hold_named.lua, if every one is
// free and together they cost at most expectedCents. It refuses with
// target.ErrTaken (a seat held, sold, or not the program's) or
// target.ErrPriceMismatch. The buyer is not stored, and the hold carries
// its seats' categories and prices (see HoldBest).
func (d *Driver) HoldNamed(ctx context.Context, program string, _ uint64, seatIDs []string, expectedCents int64) (target.Hold, error) {
	if err := checkSeatIDs(seatIDs); err != nil {
		return target.Hold{}, err
	}
	args := make([]any, 0, 2+len(seatIDs))
	args = append(args, prefix(program), expectedCents)
	for _, id := range seatIDs {
		args = append(args, id)
	}
	res, err := d.holdNamed.Run(ctx, d.rdb, []string{seatIndexKey(program)}, args...).Slice()
	if err != nil {
		return target.Hold{}, fmt.Errorf("redislua: hold_named.lua: %w", err)
	}
	switch answer(res) {
	case "ok":
		if len(res) < 2 {
			break
		}
		return d.held(ctx, res[2:])
	case "taken":
		if len(res) < 2 {
			break
		}
		return target.Hold{}, fmt.Errorf("redislua: seat %v is held, sold or not the program's: %w", res[1], target.ErrTaken)
	case "price_mismatch":
		if len(res) < 2 {
			break
		}
		return target.Hold{}, fmt.Errorf("redislua: the seats cost %v cents, %d expected: %w", res[1], expectedCents, target.ErrPriceMismatch)
	}
	return target.Hold{}, fmt.Errorf("redislua: hold_named.lua answered %v", res)
}

// Release gives a hold's seats back with release.lua. It refuses with
// target.ErrUnknownHold, releasing nothing, if any of h.Seats is not
// locked. The locked hash does not say which hold locked a seat, so a
// hold released twice is refused only while its seats are unsold: once
// another hold has them, a second release frees that hold's seats. The
// design trusts its caller here, as the Java projects trust their order.
func (d *Driver) Release(ctx context.Context, program string, h target.Hold) error {
	if err := checkSeatIDs(h.Seats); err != nil {
		return err
	}
	args := make([]any, 0, 1+len(h.Seats))
	args = append(args, prefix(program))
	for _, id := range h.Seats {
		args = append(args, id)
	}
	res, err := d.release.Run(ctx, d.rdb, []string{seatIndexKey(program)}, args...).Slice()
	if err != nil {
		return fmt.Errorf("redislua: release.lua: %w", err)
	}
	switch answer(res) {
	case "ok":
		return nil
	case "unknown_hold":
		if len(res) < 2 {
			break
		}
		return fmt.Errorf("redislua: hold %s: seat %v is not locked: %w", h.ID, res[1], target.ErrUnknownHold)
	}
	return fmt.Errorf("redislua: release.lua answered %v", res)
}

// checkSeatIDs checks the seats of a named hold or a release: 1 to
// MaxSeatsPerHold, none twice (the scripts would count it twice).
func checkSeatIDs(ids []string) error {
	if len(ids) < 1 || len(ids) > MaxSeatsPerHold {
		return fmt.Errorf("redislua: %d seats named, want 1-%d", len(ids), MaxSeatsPerHold)
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			return fmt.Errorf("redislua: seat %q named twice", id)
		}
		seen[id] = true
	}
	return nil
}

// answer is the first element of a script's answer, its outcome.
func answer(res []any) string {
	if len(res) == 0 {
		return ""
	}
	s, _ := res[0].(string)
	return s
}

// held makes a hold of the seats a script locked (their JSON) and gives
// it the next hold id.
func (d *Driver) held(ctx context.Context, res []any) (target.Hold, error) {
	h := target.Hold{Seats: make([]string, len(res)), Prices: make([]target.SeatPrice, len(res))}
	for i, v := range res {
		s, _ := v.(string)
		var seat Seat
		if err := json.Unmarshal([]byte(s), &seat); err != nil {
			return target.Hold{}, fmt.Errorf("redislua: a locked seat's JSON %q: %w", s, err)
		}
		h.Seats[i] = seat.ID
		h.Prices[i] = target.SeatPrice{Category: seat.Category, PriceCents: seat.PriceCents}
		h.TotalCents += seat.PriceCents
	}
	id, err := d.holdID(ctx)
	if err != nil {
		return target.Hold{}, err
	}
	h.ID = strconv.FormatInt(id, 10)
	return h, nil
}

// holdID returns a new hold id, unique among every driver of the server:
// a driver takes blocks of idBlock ids from the server's counter.
func (d *Driver) holdID(ctx context.Context) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.nextID == 0 || d.nextID > d.lastID {
		last, err := d.rdb.IncrBy(ctx, "redislua:holdseq", idBlock).Result()
		if err != nil {
			return 0, fmt.Errorf("redislua: taking hold ids: %w", err)
		}
		d.nextID, d.lastID = last-idBlock+1, last
	}
	id := d.nextID
	d.nextID++
	return id, nil
}

// ServerPID returns the Redis server's process id, as its INFO says: a
// process of this machine only if the server runs here, in this
// machine's process namespace.
func (d *Driver) ServerPID(ctx context.Context) (int, error) {
	info, err := d.rdb.Info(ctx, "server").Result()
	if err != nil {
		return 0, fmt.Errorf("redislua: reading the server's INFO: %w", err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, err := strconv.Atoi(v)
			if err != nil {
				return 0, fmt.Errorf("redislua: the server's process_id %q: %w", v, err)
			}
			return pid, nil
		}
	}
	return 0, errors.New("redislua: the server's INFO has no process_id")
}
