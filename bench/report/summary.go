package report

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"seatd/bench/replay"
)

// SummaryText is the runs' headline figures as a plain-text table for a
// terminal, one row per target under a header and a separator, each
// column as wide as its widest cell (in characters: µ is one), numbers
// on the right with their units: holds/s with thousands separators,
// latencies in µs, ms or s. "" when there are no runs.
func SummaryText(runs []*replay.Result) string {
	if len(runs) == 0 {
		return ""
	}
	rows := [][]string{{"target", "holds/s", "answers/s", "p50", "p99", "max", "got seats", "sold out", "check", "audit"}}
	for _, r := range runs {
		f := &r.Figures
		l := f.Holds.Latency
		rows = append(rows, []string{r.Target, thousands(f.HoldsPerSecond), thousands(f.AnswersPerSecond), us(l.P50), us(l.P99), us(l.Max),
			fmt.Sprintf("%.1f%%", f.Buyers.Share*100), seconds(f.SoldOut.All), r.Check, strings.ReplaceAll(AuditSummary(r), "**", "")})
	}
	left := func(col int) bool { return col == 0 || col >= 8 } // names and words on the left, figures on the right
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		var l strings.Builder
		for i, c := range cells {
			if i > 0 {
				l.WriteString("  ")
			}
			w := widths[i]
			if left(i) {
				w = -w
			}
			l.WriteString(align(c, w))
		}
		b.WriteString(strings.TrimRight(l.String(), " ") + "\n")
	}
	line(rows[0])
	sep := make([]string, len(widths))
	for i, w := range widths {
		sep[i] = strings.Repeat("-", w)
	}
	line(sep)
	for _, row := range rows[1:] {
		line(row)
	}
	return b.String()
}
