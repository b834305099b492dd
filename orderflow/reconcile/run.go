package reconcile

import (
	"context"
	"time"
)

// Report is the outcome of a reconciliation.
type Report struct {
	// Differences are those that persisted through the settle period (all
	// of them when it is 0), sorted.
	Differences []Difference
	// Notes say what could not be compared, and why.
	Notes []string
	// What the last snapshot held.
	Orders, Trades, Refunds, BillLines int
}

// Run collects a snapshot and compares it. When something differs and
// cfg.Settle is positive it waits that long, collects and compares
// again, and reports only the differences found both times (by
// Difference.Key): a payment being confirmed, a refund under way, a
// trade about to close at its expiry are differences for a moment, and
// a live system always has some. A difference that arose during the wait
// is left to the next run. The errors are Collect's, or ctx's.
func Run(ctx context.Context, cfg Config) (Report, error) {
	s, notes, err := Collect(ctx, cfg)
	if err != nil {
		return Report{}, err
	}
	diffs := Compare(s)
	if len(diffs) > 0 && cfg.Settle > 0 {
		first := map[string]bool{}
		for _, d := range diffs {
			first[d.Key()] = true
		}
		t := time.NewTimer(cfg.Settle)
		select {
		case <-ctx.Done():
			t.Stop()
			return Report{}, ctx.Err()
		case <-t.C:
		}
		if s, notes, err = Collect(ctx, cfg); err != nil {
			return Report{}, err
		}
		diffs = nil
		for _, d := range Compare(s) {
			if first[d.Key()] {
				diffs = append(diffs, d)
			}
		}
	}
	r := Report{Differences: diffs, Notes: notes, Orders: len(s.Orders), Trades: len(s.Trades), Refunds: len(s.Refunds)}
	for _, b := range s.Bills {
		r.BillLines += len(b.Lines)
	}
	return r, nil
}
