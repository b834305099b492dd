package report

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"seatd/bench/replay"
)

// Comparison is a target's holds per second against a baseline's, both
// run on the same scenario and load, one after the other, in one
// seatbench run.
type Comparison struct {
	Target   Side `json:"target"`
	Baseline Side `json:"baseline"`
	// Ratio is Target's holds per second over Baseline's; nil when the
	// baseline placed no hold, so that there is no ratio to give.
	Ratio *float64 `json:"ratio"`
}

// Side is one target's figures in a Comparison: holds placed per
// second, and the latency of every hold request (best-available and
// named together, any outcome) in the measured window, as the report's
// table gives them.
type Side struct {
	Name           string  `json:"name"`
	Persists       string  `json:"persists"`
	HoldsPerSecond float64 `json:"holds_per_second"`
	P50            float64 `json:"p50_us"`
	P99            float64 `json:"p99_us"`
}

// Compare pairs every run whose target is not one of baselines with
// every run whose target is, in the order of runs: each target against
// each baseline. Targets that did not run (a failed set-up) are in no
// pair.
func Compare(runs []*replay.Result, baselines []string) []Comparison {
	var out []Comparison
	for _, t := range runs {
		if slices.Contains(baselines, t.Target) {
			continue
		}
		for _, b := range runs {
			if !slices.Contains(baselines, b.Target) {
				continue
			}
			c := Comparison{Target: side(t), Baseline: side(b)}
			if b.Figures.HoldsPerSecond > 0 {
				r := t.Figures.HoldsPerSecond / b.Figures.HoldsPerSecond
				c.Ratio = &r
			}
			out = append(out, c)
		}
	}
	return out
}

func side(r *replay.Result) Side {
	f := &r.Figures
	return Side{Name: r.Target, Persists: r.Persists, HoldsPerSecond: f.HoldsPerSecond, P50: f.Holds.Latency.P50, P99: f.Holds.Latency.P99}
}

// comparisonAbout says what the comparison's columns are, in the
// report's words.
const comparisonAbout = "holds/s: holds placed per second; p50, p99: every hold request (best-available and named together, any outcome) in the measured window; ratio: the target's holds/s over the baseline's (- when the baseline placed none)."

// ComparisonText is the comparisons as a plain-text table, for a
// terminal, then what each target persists; "" when there are none.
func ComparisonText(cs []Comparison) string {
	if len(cs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("against the baselines:\n")
	// Columns are aligned by characters, not bytes: µ and × take two.
	row := func(cells ...string) {
		for i, c := range cells {
			w := 10
			if i == 0 || i == 4 {
				w = -15 // the names, on the left
			}
			if i > 0 {
				b.WriteString(" ")
			}
			b.WriteString(align(c, w))
		}
		b.WriteString("\n")
	}
	row("target", "holds/s", "p50", "p99", "baseline", "holds/s", "p50", "p99", "ratio")
	for _, c := range cs {
		t, bl := &c.Target, &c.Baseline
		row(t.Name, thousands(t.HoldsPerSecond), us(t.P50), us(t.P99),
			bl.Name, thousands(bl.HoldsPerSecond), us(bl.P50), us(bl.P99), ratio(c.Ratio))
	}
	b.WriteString(comparisonAbout + "\n")
	for _, s := range persists(cs) {
		fmt.Fprintf(&b, "%s persists: %s\n", s.Name, s.Persists)
	}
	return b.String()
}

// align pads s with spaces to w characters, on the left, or on the
// right for a negative w, as fmt's %*s would for ASCII.
func align(s string, w int) string {
	n := utf8.RuneCountInString(s)
	switch {
	case w < 0 && n < -w:
		return s + strings.Repeat(" ", -w-n)
	case w > 0 && n < w:
		return strings.Repeat(" ", w-n) + s
	}
	return s
}

// comparisonMarkdown writes the comparisons' section of report.md, if
// there are any.
func comparisonMarkdown(b *strings.Builder, cs []Comparison) {
	if len(cs) == 0 {
		return
	}
	fmt.Fprintf(b, "\n## Against the baselines\n\n%s\n\n", comparisonAbout)
	b.WriteString("| target | holds/s | p50 | p99 | baseline | holds/s | p50 | p99 | ratio |\n| --- | --: | --: | --: | --- | --: | --: | --: | --: |\n")
	for _, c := range cs {
		t, bl := &c.Target, &c.Baseline
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", t.Name, thousands(t.HoldsPerSecond), us(t.P50), us(t.P99),
			bl.Name, thousands(bl.HoldsPerSecond), us(bl.P50), us(bl.P99), ratio(c.Ratio))
	}
	b.WriteString("\n")
	for _, s := range persists(cs) {
		fmt.Fprintf(b, "- %s persists: %s\n", s.Name, s.Persists)
	}
}

// persists are the sides of cs, each once, in their order: what each
// persists goes next to the figures.
func persists(cs []Comparison) []Side {
	var out []Side
	for _, c := range cs {
		for _, s := range []Side{c.Target, c.Baseline} {
			if !slices.ContainsFunc(out, func(o Side) bool { return o.Name == s.Name }) {
				out = append(out, s)
			}
		}
	}
	return out
}

// ratio is a Comparison's ratio: three significant figures below 100,
// whole numbers with thousands separators above.
func ratio(r *float64) string {
	switch {
	case r == nil:
		return "-"
	case *r >= 100:
		return thousands(*r) + "×"
	case *r >= 10:
		return fmt.Sprintf("%.1f×", *r)
	}
	return fmt.Sprintf("%.2f×", *r)
}
