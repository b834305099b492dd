package redislua

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"seatd/bench/audit"
	"seatd/bench/target"
	"seatd/inventory"
)

// Check verifies a program's whole state in Redis and reports every
// difference: each seat of the seat index is in exactly one of its
// category's unsold and locked hashes, as JSON of its own id and
// category with the hash's status; no hash holds a seat the index does
// not; and each category's remaining count is its unsold seats. It reads
// key by key, not atomically: run it when no hold is under way.
func (d *Driver) Check(ctx context.Context, program string) error {
	index, err := d.rdb.HGetAll(ctx, seatIndexKey(program)).Result()
	if err != nil {
		return fmt.Errorf("redislua: check: reading the seat index: %w", err)
	}
	cats, err := d.rdb.SMembers(ctx, categoriesKey(program)).Result()
	if err != nil {
		return fmt.Errorf("redislua: check: reading the categories: %w", err)
	}
	var errs []error
	found := map[string]int{} // seat id -> the hashes it is in
	for _, c := range cats {
		keys := categoryKeys(program, c)
		unsold := 0
		for i, status := range []int{free, locked} {
			h, err := d.rdb.HGetAll(ctx, keys[i]).Result()
			if err != nil {
				return fmt.Errorf("redislua: check: reading %s: %w", keys[i], err)
			}
			if status == free {
				unsold = len(h)
			}
			for id, v := range h {
				found[id]++
				var s Seat
				switch err := json.Unmarshal([]byte(v), &s); {
				case err != nil:
					errs = append(errs, fmt.Errorf("%s: seat %s: %v", keys[i], id, err))
				case s.ID != id || s.Category != c || s.SellStatus != status:
					errs = append(errs, fmt.Errorf("%s: seat %s is %s", keys[i], id, v))
				case index[id] != c:
					errs = append(errs, fmt.Errorf("%s: seat %s is of category %q in the seat index", keys[i], id, index[id]))
				}
			}
		}
		remain, err := d.rdb.HGet(ctx, keys[2], c).Result()
		if err != nil {
			return fmt.Errorf("redislua: check: reading %s: %w", keys[2], err)
		}
		if remain != strconv.Itoa(unsold) {
			errs = append(errs, fmt.Errorf("%s: %s remaining, %d unsold", keys[2], remain, unsold))
		}
	}
	for id := range index {
		if found[id] != 1 {
			errs = append(errs, fmt.Errorf("seat %s is in %d hashes, want 1", id, found[id]))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("redislua: check of program %s: %w", program, err)
	}
	return nil
}

// AuditState shows the audit the program as Redis keeps it: each seat of
// q.Spec free when its category's unsold hash has it, held when the
// locked hash has it (the design has no sold state: a paid hold stays
// locked), and blocked, a seat no one can buy, when neither has it; the
// same on every leg (a baseline sells whole journeys). Its counters per
// category: the seat index's seats (capacity), the remaining count
// (free) and the locked seats (held). Holds are not shown: Redis keeps
// a hold's seats, not the hold. It reads key by key, not atomically:
// call it when no hold is under way.
func (d *Driver) AuditState(ctx context.Context, q audit.Query) (audit.State, error) {
	program := q.Spec.ID
	index, err := d.rdb.HGetAll(ctx, seatIndexKey(program)).Result()
	if err != nil {
		return audit.State{}, fmt.Errorf("redislua: audit: reading the seat index: %w", err)
	}
	seats := target.Seats(q.Spec)
	at := make(map[string]int, len(seats))
	statuses := make([]inventory.SeatStatus, len(seats))
	for i, s := range seats {
		at[s.ID] = i
		statuses[i] = inventory.SeatBlocked
	}
	capacity := map[string]int{}
	for _, c := range index {
		capacity[c]++
	}
	var counts []audit.Counts
	for _, c := range q.Spec.Categories {
		keys := categoryKeys(program, c.ID)
		n := audit.Counts{Category: c.ID, Capacity: capacity[c.ID]}
		for i, st := range []inventory.SeatStatus{inventory.SeatFree, inventory.SeatHeld} {
			ids, err := d.rdb.HKeys(ctx, keys[i]).Result()
			if err != nil {
				return audit.State{}, fmt.Errorf("redislua: audit: reading %s: %w", keys[i], err)
			}
			for _, id := range ids {
				if s, ok := at[id]; ok && statuses[s] != inventory.SeatHeld {
					statuses[s] = st
				}
			}
			if st == inventory.SeatHeld {
				n.Held = len(ids)
			}
		}
		remain, err := d.rdb.HGet(ctx, keys[2], c.ID).Int()
		if err != nil {
			return audit.State{}, fmt.Errorf("redislua: audit: reading %s: %w", keys[2], err)
		}
		n.Free = remain
		counts = append(counts, n)
	}
	var st audit.State
	for leg := range audit.Legs(q.Spec) {
		st.Seats = append(st.Seats, statuses)
		for _, n := range counts {
			n.Leg = leg
			st.Counts = append(st.Counts, n)
		}
	}
	st.Notes = []string{"redis-lua keeps no holds, only their seats: the holds check does not run"}
	return st, nil
}
