package report

import (
	"strings"
	"testing"
	"unicode/utf8"

	"seatd/bench/audit"
	"seatd/bench/measure"
	"seatd/bench/replay"
)

func TestSummaryText(t *testing.T) {
	soldOut := 3.25
	engine := &replay.Result{Target: "engine", Check: "ok", Audit: &audit.Report{}}
	engine.Figures.HoldsPerSecond, engine.Figures.AnswersPerSecond = 469729.4, 1234567
	engine.Figures.Holds.Latency = measure.Latency{P50: 1.2, P99: 25.8, Max: 9470}
	engine.Figures.Buyers.Share = 0.5
	engine.Figures.SoldOut.All = &soldOut
	redis := &replay.Result{Target: "redis-lua-http", Check: "ok", AuditError: "no state"}
	redis.Figures.HoldsPerSecond, redis.Figures.AnswersPerSecond = 3334, 3400
	redis.Figures.Holds.Latency = measure.Latency{P50: 1.4e6, P99: 1.56e6, Max: 2e6}
	redis.Figures.Buyers.Share = 1
	want := `target          holds/s  answers/s     p50      p99      max  got seats  sold out  check  audit
--------------  -------  ---------  ------  -------  -------  ---------  --------  -----  -----------------
engine          469,729  1,234,567  1.2 µs  25.8 µs  9.47 ms      50.0%   3.250 s  ok     passed ()
redis-lua-http    3,334      3,400  1.40 s   1.56 s   2.00 s     100.0%     never  ok     not run: no state
`
	got := SummaryText([]*replay.Result{engine, redis})
	if got != want {
		t.Errorf("SummaryText =\n%s\nwant\n%s", got, want)
	}
	// Every line is as wide as the separator, or narrower by the blanks
	// trimmed at the end: the columns line up in characters, not bytes.
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > utf8.RuneCountInString(lines[1]) {
			t.Errorf("line %q is %d characters; the separator %d", l, n, utf8.RuneCountInString(lines[1]))
		}
	}
	if got := SummaryText(nil); got != "" {
		t.Errorf("SummaryText(nil) = %q; want none", got)
	}
}
