package report

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"seatd/bench/replay"
)

// Expectation is a figure a run should reach (seatbench -expect): a
// target's holds per second over a baseline's at least a ratio
// ("seatd-http/redis-lua-http>=20"), or a percentile of a target's hold
// latency below a bound ("seatd-http:p99<50ms").
type Expectation struct {
	// Text is the expectation as given.
	Text   string `json:"expectation"`
	Target string `json:"target"`
	// Baseline, for a ratio, is the target whose holds per second
	// Target's are divided by; "" for a latency bound.
	Baseline string `json:"baseline,omitempty"`
	// Min is the least ratio, for a ratio.
	Min float64 `json:"min_ratio,omitempty"`
	// Percentile, for a latency bound, is one of latencyFigures' names,
	// and Below the bound, in µs: the percentile must be under it.
	Percentile string  `json:"percentile,omitempty"`
	Below      float64 `json:"below_us,omitempty"`
}

// latencyFigures are the hold latency figures a bound can name.
var latencyFigures = []string{"p50", "p90", "p99", "p99.9", "max"}

// ParseExpectation reads TARGET/BASELINE>=RATIO or
// TARGET:PERCENTILE<DURATION (percentile p50, p90, p99, p99.9 or max;
// a duration as Go writes them, 50ms).
func ParseExpectation(s string) (Expectation, error) {
	e := Expectation{Text: s}
	bad := func(why string) (Expectation, error) {
		return Expectation{}, fmt.Errorf("%q: %s; want TARGET/BASELINE>=RATIO (e.g. seatd-http/redis-lua-http>=20) "+
			"or TARGET:PERCENTILE<DURATION (e.g. seatd-http:p99<50ms, percentile one of %s)", s, why, strings.Join(latencyFigures, ", "))
	}
	if lhs, rhs, ok := strings.Cut(s, ">="); ok {
		t, b, ok := strings.Cut(lhs, "/")
		if !ok || t == "" || b == "" {
			return bad("a ratio names a target and a baseline")
		}
		r, err := strconv.ParseFloat(rhs, 64)
		if err != nil || !(r > 0) || r > 1e12 {
			return bad(fmt.Sprintf("ratio %q is not a number above 0", rhs))
		}
		e.Target, e.Baseline, e.Min = t, b, r
		return e, nil
	}
	if lhs, rhs, ok := strings.Cut(s, "<"); ok {
		t, pc, ok := strings.Cut(lhs, ":")
		if !ok || t == "" {
			return bad("a latency bound names a target and a percentile")
		}
		if !slices.Contains(latencyFigures, pc) {
			return bad(fmt.Sprintf("unknown percentile %q", pc))
		}
		d, err := time.ParseDuration(rhs)
		if err != nil || d <= 0 {
			return bad(fmt.Sprintf("bound %q is not a duration above 0", rhs))
		}
		e.Target, e.Percentile, e.Below = t, pc, float64(d)/float64(time.Microsecond)
		return e, nil
	}
	return bad("no >= or <")
}

// Targets are the targets e names.
func (e Expectation) Targets() []string {
	if e.Baseline != "" {
		return []string{e.Target, e.Baseline}
	}
	return []string{e.Target}
}

// Outcome is an Expectation judged against a run's figures.
type Outcome struct {
	Expectation
	Met bool `json:"met"`
	// Measured is the figure judged: the ratio, or the percentile in
	// µs; nil when a target it names did not run or the baseline placed
	// no hold.
	Measured *float64 `json:"measured,omitempty"`
	// Why, when there is no figure, says why.
	Why string `json:"why,omitempty"`
}

// Evaluate judges each expectation against the runs: met or not, with
// the figure measured.
func Evaluate(es []Expectation, runs []*replay.Result) []Outcome {
	find := func(name string) *replay.Result {
		if i := slices.IndexFunc(runs, func(r *replay.Result) bool { return r.Target == name }); i >= 0 {
			return runs[i]
		}
		return nil
	}
	var out []Outcome
	for _, e := range es {
		o := Outcome{Expectation: e}
		t := find(e.Target)
		switch {
		case t == nil:
			o.Why = e.Target + " did not run"
		case e.Baseline == "":
			l := &t.Figures.Holds.Latency
			v := map[string]float64{"p50": l.P50, "p90": l.P90, "p99": l.P99, "p99.9": l.P999, "max": l.Max}[e.Percentile]
			if l.Count == 0 {
				o.Why = e.Target + " measured no hold request"
				break
			}
			o.Measured, o.Met = &v, v < e.Below
		default:
			b := find(e.Baseline)
			switch {
			case b == nil:
				o.Why = e.Baseline + " did not run"
			case b.Figures.HoldsPerSecond <= 0:
				o.Why = e.Baseline + " placed no hold"
			default:
				r := t.Figures.HoldsPerSecond / b.Figures.HoldsPerSecond
				o.Measured, o.Met = &r, r >= e.Min
			}
		}
		out = append(out, o)
	}
	return out
}

// String is the outcome in one line: the expectation, met or NOT met,
// and what was measured.
func (o Outcome) String() string {
	verdict := "NOT met"
	if o.Met {
		verdict = "met"
	}
	var got string
	switch {
	case o.Measured == nil:
		got = o.Why
	case o.Baseline != "":
		got = fmt.Sprintf("%s holds/s over %s's: %s", o.Target, o.Baseline, ratio(o.Measured))
	default:
		got = fmt.Sprintf("%s %s: %s", o.Target, o.Percentile, us(*o.Measured))
	}
	return fmt.Sprintf("expect %s: %s (%s)", o.Text, verdict, got)
}

// expectationsAbout says what an unmet expectation does.
const expectationsAbout = "An expectation not met is reported, and does not change seatbench's exit status, which is about the check and the audit."

// ExpectationText is the outcomes, one line each, for a terminal; ""
// when there are none.
func ExpectationText(outs []Outcome) string {
	var b strings.Builder
	for _, o := range outs {
		b.WriteString(o.String() + "\n")
	}
	return b.String()
}

// expectationMarkdown writes report.md's section of the outcomes, if
// there are any.
func expectationMarkdown(b *strings.Builder, outs []Outcome) {
	if len(outs) == 0 {
		return
	}
	fmt.Fprintf(b, "\n## Expectations\n\n%s\n\n", expectationsAbout)
	for _, o := range outs {
		fmt.Fprintf(b, "- %s\n", strings.Replace(o.String(), "NOT met", "**NOT met**", 1))
	}
}
