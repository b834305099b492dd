package report

import (
	"fmt"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"seatd/bench/measure"
	"seatd/bench/replay"
)

// Chart sizes: wide enough for a run's seconds, one latency panel per
// target; the legend goes to the right of each plot's area, never over
// its lines.
const (
	chartWidth  = 9 * vg.Inch
	chartHeight = 4 * vg.Inch
	panelWidth  = 6 * vg.Inch
	chartDPI    = 96
	legendGap   = 3 * vg.Millimeter
	// MinChartSecond is the least part of a second a chart draws: the
	// run's last second is partial, and a rate over a sliver of one is
	// noise.
	MinChartSecond = 0.25
)

// span is the part of the timeline's second s that the run covered, in
// seconds: 1, but less for the last second of a run whose length is not
// whole; and whether a chart draws it: not when it is shorter than
// MinChartSecond after whole seconds.
func span(run *replay.Result, s *measure.Second) (float64, bool) {
	end := run.Figures.RunSeconds
	if end <= 0 { // a report without the run's length: every second whole
		return 1, true
	}
	w := min(1, end-float64(s.At))
	return w, w > 0 && (w >= MinChartSecond || s.At == 0)
}

// throughputChart draws holds placed and hold requests answered per
// second over the run, two lines per target. The last second, when the
// run ended inside it, is its count over the part of it the run covered,
// drawn at that part's middle.
func (r *Report) throughputChart(path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: holds placed and hold requests answered per second (warm-up until %s)", r.Scenario.Name, r.Settings.WarmUp)
	p.X.Label.Text = "seconds from the start"
	p.Y.Label.Text = "per second"
	p.Y.Tick.Marker = plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		ticks := plot.DefaultTicks{}.Ticks(lo, hi)
		for i := range ticks {
			if ticks[i].Label != "" {
				ticks[i].Label = thousands(ticks[i].Value)
			}
		}
		return ticks
	})
	var lines []any
	for _, run := range r.Runs {
		if placed, answered := throughputPoints(run); len(placed) > 0 {
			lines = append(lines, run.Target+" placed", placed, run.Target+" answered", answered)
		}
	}
	if err := plotutil.AddLinePoints(p, lines...); err != nil {
		return fmt.Errorf("report: throughput chart: %w", err)
	}
	p.Y.Min = 0
	return save(path, [][]*plot.Plot{{p}}, chartWidth, chartHeight)
}

// throughputPoints are a run's holds placed and hold requests answered
// per second, each second's count over the part of it the run covered
// (all of it but for the last), at that part's middle; a last second
// shorter than MinChartSecond after whole ones is left out.
func throughputPoints(run *replay.Result) (placed, answered plotter.XYs) {
	for i := range run.Figures.Timeline {
		s := &run.Figures.Timeline[i]
		w, ok := span(run, s)
		if !ok {
			continue
		}
		x := float64(s.At) + w/2
		placed = append(placed, plotter.XY{X: x, Y: float64(s.Holds) / w})
		answered = append(answered, plotter.XY{X: x, Y: float64(s.Answered) / w})
	}
	return placed, answered
}

// latencyChart draws hold latency percentiles per second, a panel per
// target side by side on one log scale, ticked at 1, 2 and 5 of each
// power of ten with their units (µs, ms, s).
func (r *Report) latencyChart(path string) error {
	row := []*plot.Plot{}
	lo, hi := 0.0, 0.0
	for _, run := range r.Runs {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s: %s hold latency, any outcome", r.Scenario.Name, run.Target)
		p.X.Label.Text = "seconds from the start"
		p.Y.Label.Text = "latency (log scale)"
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.TickerFunc(LatencyTicks)
		series := []struct {
			name string
			v    func(s *measure.Second) float64
		}{
			{"max", func(s *measure.Second) float64 { return s.HoldsMax }},
			{"p99", func(s *measure.Second) float64 { return s.HoldsP99 }},
			{"p90", func(s *measure.Second) float64 { return s.HoldsP90 }},
			{"p50", func(s *measure.Second) float64 { return s.HoldsP50 }},
		}
		var lines []any
		for _, se := range series {
			var pts plotter.XYs
			for i := range run.Figures.Timeline {
				s := &run.Figures.Timeline[i]
				w, ok := span(run, s)
				if v := se.v(s); v > 0 && ok { // a log scale has no 0: seconds without holds are left out
					pts = append(pts, plotter.XY{X: float64(s.At) + w/2, Y: v})
					if lo == 0 || v < lo {
						lo = v
					}
					hi = max(hi, v)
				}
			}
			if len(pts) > 0 {
				lines = append(lines, se.name, pts)
			}
		}
		if err := plotutil.AddLinePoints(p, lines...); err != nil {
			return fmt.Errorf("report: latency chart: %w", err)
		}
		row = append(row, p)
	}
	if len(row) == 0 {
		row = append(row, plot.New())
	}
	if lo == 0 { // no hold at all: a log axis still needs a range above 0
		lo, hi = 1, 1000
	}
	for _, p := range row {
		p.Y.Min, p.Y.Max = lo/1.5, hi*1.5
	}
	return save(path, [][]*plot.Plot{row}, panelWidth*vg.Length(len(row)), chartHeight)
}

// LatencyTicks are the ticks of a log axis of latencies in µs from lo
// to hi: labelled at 1, 2 and 5 of each power of ten with their units
// ("500 µs", "1 ms", "2 s"), or at the powers of ten alone when the
// range spans more than three of them; unlabelled at the other whole
// multiples, unless fewer than two would be labelled.
func LatencyTicks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return nil
	}
	labelled := []float64{1, 2, 5}
	if math.Log10(hi/lo) > 3 {
		labelled = []float64{1}
	}
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for m := 1.0; m < 10; m++ {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			for _, l := range labelled {
				if m == l {
					t.Label = latencyLabel(v)
				}
			}
			ticks = append(ticks, t)
		}
	}
	labels := 0
	for _, t := range ticks {
		if t.Label != "" {
			labels++
		}
	}
	if labels < 2 {
		for i := range ticks { // too few labels to read the scale by: label them all
			ticks[i].Label = latencyLabel(ticks[i].Value)
		}
	}
	return ticks
}

// latencyLabel is a tick's latency, v µs, in the unit that keeps it a
// whole number under 1,000: 1 µs, 20 ms, 5 s.
func latencyLabel(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%g s", math.Round(v/1e4)/100)
	case v >= 1e3:
		return fmt.Sprintf("%g ms", math.Round(v/10)/100)
	}
	return fmt.Sprintf("%g µs", math.Round(v*100)/100)
}

// save draws a grid of plots into a PNG file, each plot's legend to the
// right of its area.
func save(path string, plots [][]*plot.Plot, w, h vg.Length) error {
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(chartDPI))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(plots), Cols: len(plots[0]), PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		for j, p := range plots[i] {
			c := canvases[i][j]
			legend := p.Legend
			p.Legend = plot.NewLegend() // drawn below, beside the plot's area
			lw := legend.Rectangle(c).Size().X + legendGap
			p.Draw(draw.Crop(c, 0, -lw, 0, 0))
			legend.Top, legend.Left = true, true
			legend.Draw(draw.Crop(c, c.Size().X-lw+legendGap, 0, 0, 0))
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("report: %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
