package report

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gonum.org/v1/plot/plotter"

	"seatd/bench/measure"
	"seatd/bench/replay"
)

// TestThroughputPoints: whole seconds are drawn as counted, at their
// middle; the last, partial second as its count over its part, not as
// a drop; a last sliver of a second not at all.
func TestThroughputPoints(t *testing.T) {
	run := &replay.Result{Target: "engine"}
	run.Figures.Timeline = []measure.Second{{At: 0, Holds: 600, Answered: 700}, {At: 1, Holds: 1000, Answered: 1000}, {At: 2, Holds: 500, Answered: 600}}
	for _, tc := range []struct {
		runSeconds       float64
		placed, answered plotter.XYs
	}{
		{3, plotter.XYs{{X: 0.5, Y: 600}, {X: 1.5, Y: 1000}, {X: 2.5, Y: 500}}, plotter.XYs{{X: 0.5, Y: 700}, {X: 1.5, Y: 1000}, {X: 2.5, Y: 600}}},
		{2.5, plotter.XYs{{X: 0.5, Y: 600}, {X: 1.5, Y: 1000}, {X: 2.25, Y: 1000}}, plotter.XYs{{X: 0.5, Y: 700}, {X: 1.5, Y: 1000}, {X: 2.25, Y: 1200}}},
		{2.1, plotter.XYs{{X: 0.5, Y: 600}, {X: 1.5, Y: 1000}}, plotter.XYs{{X: 0.5, Y: 700}, {X: 1.5, Y: 1000}}},
		{0.2, plotter.XYs{{X: 0.1, Y: 3000}}, plotter.XYs{{X: 0.1, Y: 3500}}},
		{0, plotter.XYs{{X: 0.5, Y: 600}, {X: 1.5, Y: 1000}, {X: 2.5, Y: 500}}, plotter.XYs{{X: 0.5, Y: 700}, {X: 1.5, Y: 1000}, {X: 2.5, Y: 600}}},
	} {
		run.Figures.RunSeconds = tc.runSeconds
		placed, answered := throughputPoints(run)
		if !slices.Equal(placed, tc.placed) || !slices.Equal(answered, tc.answered) {
			t.Errorf("run of %v s: throughputPoints = %v, %v; want %v, %v", tc.runSeconds, placed, answered, tc.placed, tc.answered)
		}
	}
}

func TestLatencyTicks(t *testing.T) {
	labels := func(lo, hi float64) (labelled []string, minor int) {
		for _, tk := range LatencyTicks(lo, hi) {
			if tk.Label == "" {
				minor++
			} else {
				labelled = append(labelled, tk.Label)
			}
		}
		return labelled, minor
	}
	for _, tc := range []struct {
		lo, hi float64
		want   []string
		minor  int
	}{
		{300, 12000, []string{"500 µs", "1 ms", "2 ms", "5 ms", "10 ms"}, 12},
		{0.8, 30, []string{"1 µs", "2 µs", "5 µs", "10 µs", "20 µs"}, 9},
		{1.5, 2.5e6, []string{"10 µs", "100 µs", "1 ms", "10 ms", "100 ms", "1 s"}, 49},
		{600, 900, []string{"600 µs", "700 µs", "800 µs", "900 µs"}, 0},
		{1500, 4500, []string{"2 ms", "3 ms", "4 ms"}, 0},
	} {
		got, minor := labels(tc.lo, tc.hi)
		if !slices.Equal(got, tc.want) || minor != tc.minor {
			t.Errorf("LatencyTicks(%v, %v): labels %q and %d unlabelled; want %q and %d", tc.lo, tc.hi, got, minor, tc.want, tc.minor)
		}
	}
	if got := LatencyTicks(0, 10); got != nil {
		t.Errorf("LatencyTicks(0, 10) = %v; want none (a log axis has no 0)", got)
	}
}

// TestCharts: both charts are written as PNGs: two targets, one of
// them with no hold at all; that one alone; a run shorter than
// MinChartSecond.
func TestCharts(t *testing.T) {
	a := &replay.Result{Target: "engine"}
	a.Figures.RunSeconds = 2.5
	a.Figures.Timeline = []measure.Second{{At: 0, Holds: 10, Answered: 10, HoldsP50: 5, HoldsP90: 9, HoldsP99: 20, HoldsMax: 30},
		{At: 1, Holds: 10, Answered: 12, HoldsP50: 6, HoldsP90: 8, HoldsP99: 25, HoldsMax: 3000}, {At: 2, Holds: 4, Answered: 5, HoldsP50: 7, HoldsP90: 9, HoldsP99: 21, HoldsMax: 40}}
	b := &replay.Result{Target: "idle"}
	b.Figures.Timeline = []measure.Second{{At: 0}}
	short := &replay.Result{Target: "short"}
	short.Figures.RunSeconds = 0.2
	short.Figures.Timeline = []measure.Second{{At: 0, Holds: 3, Answered: 3, HoldsP50: 5, HoldsP90: 6, HoldsP99: 7, HoldsMax: 8}}
	for _, runs := range [][]*replay.Result{{a, b}, {b}, {short}} {
		r := &Report{Runs: runs}
		dir := t.TempDir()
		if err := r.throughputChart(filepath.Join(dir, ThroughputFile)); err != nil {
			t.Fatal(err)
		}
		if err := r.latencyChart(filepath.Join(dir, LatencyFile)); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{ThroughputFile, LatencyFile} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
				t.Errorf("%s: %v, not a PNG", f, err)
			}
		}
	}
}
