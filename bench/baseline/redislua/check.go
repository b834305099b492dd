package redislua

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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
