package report

import (
	"strings"
	"testing"

	"seatd/bench/replay"
)

func TestParseExpectation(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Expectation
	}{
		{"seatd-http/redis-lua-http>=20", Expectation{Target: "seatd-http", Baseline: "redis-lua-http", Min: 20}},
		{"engine/redis-lua>=1000", Expectation{Target: "engine", Baseline: "redis-lua", Min: 1000}},
		{"seatd-http/postgres-http>=0.5", Expectation{Target: "seatd-http", Baseline: "postgres-http", Min: 0.5}},
		{"seatd-http:p99<50ms", Expectation{Target: "seatd-http", Percentile: "p99", Below: 50000}},
		{"engine:p99.9<1.5ms", Expectation{Target: "engine", Percentile: "p99.9", Below: 1500}},
		{"engine:max<2s", Expectation{Target: "engine", Percentile: "max", Below: 2e6}},
	} {
		got, err := ParseExpectation(tc.in)
		tc.want.Text = tc.in
		if err != nil || got != tc.want {
			t.Errorf("ParseExpectation(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, why string }{
		{"", "no >= or <"},
		{"seatd-http>=20", "a ratio names a target and a baseline"},
		{"/redis-lua>=20", "a ratio names a target and a baseline"},
		{"seatd-http/>=20", "a ratio names a target and a baseline"},
		{"seatd-http/redis-lua>=", `ratio "" is not a number above 0`},
		{"seatd-http/redis-lua>=x", `ratio "x" is not a number above 0`},
		{"seatd-http/redis-lua>=0", `ratio "0" is not a number above 0`},
		{"seatd-http/redis-lua>=NaN", `ratio "NaN" is not a number above 0`},
		{"seatd-http/redis-lua=20", "no >= or <"},
		{"seatd-http:p99>50ms", "no >= or <"},
		{"seatd-http p99<50ms", "a latency bound names a target and a percentile"},
		{":p99<50ms", "a latency bound names a target and a percentile"},
		{"seatd-http:p95<50ms", `unknown percentile "p95"`},
		{"seatd-http:p99<50", `bound "50" is not a duration above 0`},
		{"seatd-http:p99<=50ms", `bound "=50ms" is not a duration above 0`},
		{"seatd-http:p99<-1ms", `bound "-1ms" is not a duration above 0`},
	} {
		_, err := ParseExpectation(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.why) || !strings.Contains(err.Error(), "want TARGET/BASELINE>=RATIO") {
			t.Errorf("ParseExpectation(%q) = %v; want an error saying %q and the forms", tc.in, err, tc.why)
		}
	}
}

func TestEvaluate(t *testing.T) {
	lat := func(r *replay.Result, count int64) *replay.Result {
		r.Figures.Holds.Latency.Count = count
		return r
	}
	runs := []*replay.Result{
		lat(result("seatd-http", "seatd", 3000, 4000, 49999), 10),
		lat(result("redis-lua-http", "redis", 150, 50000, 90000), 10),
		lat(result("postgres-http", "pg", 1000, 9000, 20000), 10),
		lat(result("idle", "pg", 0, 0, 0), 0),
	}
	runs[0].Figures.Holds.Latency.Max = 50000
	parse := func(s string) Expectation {
		e, err := ParseExpectation(s)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	for _, tc := range []struct {
		in       string
		met      bool
		measured float64 // -1: none
		line     string
	}{
		{"seatd-http/redis-lua-http>=20", true, 20, "expect seatd-http/redis-lua-http>=20: met (seatd-http holds/s over redis-lua-http's: 20.0×)"},
		{"seatd-http/redis-lua-http>=20.01", false, 20, "expect seatd-http/redis-lua-http>=20.01: NOT met (seatd-http holds/s over redis-lua-http's: 20.0×)"},
		{"seatd-http/postgres-http>=3", true, 3, "met"},
		{"redis-lua-http/postgres-http>=1", false, 0.15, "NOT met (redis-lua-http holds/s over postgres-http's: 0.15×)"},
		{"seatd-http:p99<50ms", true, 49999, "expect seatd-http:p99<50ms: met (seatd-http p99: 50.00 ms)"},
		{"seatd-http:max<50ms", false, 50000, "NOT met (seatd-http max: 50.00 ms)"},
		{"seatd-http:p50<4ms", false, 4000, "NOT met"},
		{"seatd-http:p50<4001us", true, 4000, "met"},
		{"seatd-http/idle>=1", false, -1, "expect seatd-http/idle>=1: NOT met (idle placed no hold)"},
		{"idle:p99<1s", false, -1, "NOT met (idle measured no hold request)"},
		{"gone/redis-lua-http>=1", false, -1, "NOT met (gone did not run)"},
		{"seatd-http/gone>=1", false, -1, "NOT met (gone did not run)"},
		{"gone:p99<1s", false, -1, "NOT met (gone did not run)"},
	} {
		got := Evaluate([]Expectation{parse(tc.in)}, runs)
		if len(got) != 1 {
			t.Fatalf("Evaluate(%q) = %d outcomes; want 1", tc.in, len(got))
		}
		o := got[0]
		switch {
		case o.Met != tc.met:
			t.Errorf("Evaluate(%q).Met = %v; want %v", tc.in, o.Met, tc.met)
		case tc.measured < 0 && o.Measured != nil:
			t.Errorf("Evaluate(%q).Measured = %v; want none", tc.in, *o.Measured)
		case tc.measured >= 0 && (o.Measured == nil || *o.Measured != tc.measured):
			t.Errorf("Evaluate(%q).Measured = %v; want %v", tc.in, o.Measured, tc.measured)
		case !strings.Contains(o.String(), tc.line):
			t.Errorf("Evaluate(%q).String() = %q; want it to contain %q", tc.in, o.String(), tc.line)
		}
	}
	if got := Evaluate(nil, runs); got != nil {
		t.Errorf("Evaluate(nil) = %+v; want none", got)
	}
	two := Evaluate([]Expectation{parse("seatd-http:p99<50ms"), parse("seatd-http/postgres-http>=4")}, runs)
	text := ExpectationText(two)
	if lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n"); len(lines) != 2 ||
		!strings.HasSuffix(lines[0], ": met (seatd-http p99: 50.00 ms)") || !strings.Contains(lines[1], ": NOT met (") {
		t.Errorf("ExpectationText = %q; want one line each, met then NOT met", text)
	}
	md := (&Report{Expectations: two}).Markdown()
	if !strings.Contains(md, "## Expectations\n") || !strings.Contains(md, "- expect seatd-http/postgres-http>=4: **NOT met** (") ||
		!strings.Contains(md, "does not change seatbench's exit status") {
		t.Errorf("Markdown:\n%s\nwant the expectations' section", md)
	}
}
