package report

import (
	"strings"
	"testing"

	"seatd/bench/measure"
	"seatd/bench/replay"
)

// result is a run of target with the figures the comparison reads.
func result(target, persists string, holdsPerSecond, p50, p99 float64) *replay.Result {
	r := &replay.Result{Target: target, Persists: persists}
	r.Figures.HoldsPerSecond = holdsPerSecond
	r.Figures.Holds.Latency = measure.Latency{P50: p50, P99: p99}
	return r
}

// TestCompare: each target that is not a baseline against each that
// is, in run order; the ratio is the target's holds/s over the
// baseline's, absent when the baseline placed none.
func TestCompare(t *testing.T) {
	runs := []*replay.Result{
		result("engine", "nothing", 480000, 1, 12.2),
		result("redis-lua", "nothing: one Redis process", 37, 244842.5, 319553.5),
		result("seatd-http", "seatd, 3 replicas", 3700, 4436, 10928.1),
		result("postgres", "PostgreSQL", 0, 0, 0),
	}
	got := Compare(runs, []string{"redis-lua", "postgres", "postgres-http"})
	want := []struct {
		target, baseline string
		ratio            float64 // 0: none
	}{
		{"engine", "redis-lua", 480000.0 / 37},
		{"engine", "postgres", 0},
		{"seatd-http", "redis-lua", 3700.0 / 37},
		{"seatd-http", "postgres", 0},
	}
	if len(got) != len(want) {
		t.Fatalf("Compare = %d comparisons %+v; want %d", len(got), got, len(want))
	}
	for i, w := range want {
		c := got[i]
		if c.Target.Name != w.target || c.Baseline.Name != w.baseline {
			t.Errorf("Compare[%d] = %s against %s; want %s against %s", i, c.Target.Name, c.Baseline.Name, w.target, w.baseline)
		}
		switch {
		case w.ratio == 0 && c.Ratio != nil:
			t.Errorf("Compare[%d].Ratio = %v; want none (the baseline placed no hold)", i, *c.Ratio)
		case w.ratio != 0 && (c.Ratio == nil || *c.Ratio != w.ratio):
			t.Errorf("Compare[%d].Ratio = %v; want %v", i, c.Ratio, w.ratio)
		}
	}
	if c := got[0]; c.Target.HoldsPerSecond != 480000 || c.Target.P99 != 12.2 || c.Baseline.P50 != 244842.5 || c.Baseline.Persists != "nothing: one Redis process" {
		t.Errorf("Compare[0] = %+v; want the runs' figures", c)
	}
	if got := Compare(runs[:1], []string{"redis-lua"}); got != nil {
		t.Errorf("Compare with no baseline run = %+v; want none", got)
	}
	if got := Compare(runs[1:2], []string{"redis-lua"}); got != nil {
		t.Errorf("Compare of a baseline alone = %+v; want none", got)
	}
}

func TestRatio(t *testing.T) {
	for _, tc := range []struct {
		r    float64
		want string
	}{
		{0, "0.00×"}, {0.5349, "0.53×"}, {3.456, "3.46×"}, {9.994, "9.99×"}, {10, "10.0×"}, {98.16, "98.2×"},
		{100, "100×"}, {404.4, "404×"}, {12925.3, "12,925×"},
	} {
		if got := ratio(&tc.r); got != tc.want {
			t.Errorf("ratio(%v) = %q; want %q", tc.r, got, tc.want)
		}
	}
	if got := ratio(nil); got != "-" {
		t.Errorf("ratio(nil) = %q; want -", got)
	}
}

// TestComparisonTables: the terminal's table and report.md's have a row
// per comparison with both sides' figures in the report's units, and
// say what each target persists, once.
func TestComparisonTables(t *testing.T) {
	cs := Compare([]*replay.Result{
		result("engine", "nothing: in process", 478207, 1.04, 12.2),
		result("redis-lua", "nothing: one Redis process", 37, 244842.5, 319553.5),
		result("postgres", "PostgreSQL, synchronous_commit on", 0, 0, 0),
	}, []string{"redis-lua", "postgres"})
	text := ComparisonText(cs)
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	wantLines := []string{
		"against the baselines:",
		"target             holds/s        p50        p99 baseline           holds/s        p50        p99      ratio",
		"engine             478,207     1.0 µs    12.2 µs redis-lua               37  244.84 ms  319.55 ms    12,925×",
		"engine             478,207     1.0 µs    12.2 µs postgres                 0     0.0 µs     0.0 µs          -",
		comparisonAbout,
		"engine persists: nothing: in process",
		"redis-lua persists: nothing: one Redis process",
		"postgres persists: PostgreSQL, synchronous_commit on",
	}
	if strings.Join(lines, "\n") != strings.Join(wantLines, "\n") {
		t.Errorf("ComparisonText =\n%s\nwant\n%s", text, strings.Join(wantLines, "\n"))
	}
	if got := ComparisonText(nil); got != "" {
		t.Errorf("ComparisonText(nil) = %q; want nothing", got)
	}

	md := (&Report{Comparisons: cs}).Markdown()
	for _, want := range []string{
		"## Against the baselines\n\n" + comparisonAbout,
		"| target | holds/s | p50 | p99 | baseline | holds/s | p50 | p99 | ratio |\n",
		"| engine | 478,207 | 1.0 µs | 12.2 µs | redis-lua | 37 | 244.84 ms | 319.55 ms | 12,925× |\n",
		"| engine | 478,207 | 1.0 µs | 12.2 µs | postgres | 0 | 0.0 µs | 0.0 µs | - |\n",
		"- redis-lua persists: nothing: one Redis process\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown has no %q:\n%s", want, md)
		}
	}
	if strings.Count(md, "- engine persists:") != 1 {
		t.Errorf("Markdown says what engine persists %d times; want once:\n%s", strings.Count(md, "- engine persists:"), md)
	}
	if md := (&Report{}).Markdown(); strings.Contains(md, "Against the baselines") {
		t.Errorf("Markdown of a run with no comparison has the section:\n%s", md)
	}
}

// TestThousands: rounded as the terminal's %.0f rounds (a rate of 292
// holds in 8 s is 36.5: 36 in both tables), with separators.
func TestThousands(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{{0, "0"}, {36.5, "36"}, {37.5, "38"}, {999.4, "999"}, {1000, "1,000"}, {469729.2, "469,729"}, {1234567, "1,234,567"}} {
		if got := thousands(tc.v); got != tc.want {
			t.Errorf("thousands(%v) = %q; want %q", tc.v, got, tc.want)
		}
	}
}
