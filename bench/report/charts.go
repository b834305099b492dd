package report

import (
	"fmt"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"seatd/bench/measure"
)

// Chart sizes: wide enough for a run's seconds, one latency panel per
// target.
const (
	chartWidth  = 8 * vg.Inch
	chartHeight = 4 * vg.Inch
	panelWidth  = 5 * vg.Inch
	chartDPI    = 96
)

// throughputChart draws holds placed and hold requests answered per
// second over the run, two lines per target.
func (r *Report) throughputChart(path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: holds placed and hold requests answered per second (warm-up until %s)", r.Scenario.Name, r.Settings.WarmUp)
	p.X.Label.Text = "seconds from the start"
	p.Y.Label.Text = "per second"
	p.Legend.Top = true
	var lines []any
	for _, run := range r.Runs {
		placed := make(plotter.XYs, len(run.Figures.Timeline))
		answered := make(plotter.XYs, len(run.Figures.Timeline))
		for i, s := range run.Figures.Timeline {
			placed[i] = plotter.XY{X: float64(s.At) + 0.5, Y: float64(s.Holds)}
			answered[i] = plotter.XY{X: float64(s.At) + 0.5, Y: float64(s.Answered)}
		}
		lines = append(lines, run.Target+" placed", placed, run.Target+" answered", answered)
	}
	if err := plotutil.AddLinePoints(p, lines...); err != nil {
		return fmt.Errorf("report: throughput chart: %w", err)
	}
	p.Y.Min = 0
	return save(path, [][]*plot.Plot{{p}}, chartWidth, chartHeight)
}

// latencyChart draws hold latency percentiles per second, a panel per
// target side by side on one log scale.
func (r *Report) latencyChart(path string) error {
	row := []*plot.Plot{}
	lo, hi := 0.0, 0.0
	for _, run := range r.Runs {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s: %s hold latency, any outcome", r.Scenario.Name, run.Target)
		p.X.Label.Text = "seconds from the start"
		p.Y.Label.Text = "µs (log scale)"
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Legend.Top = true
		series := []struct {
			name string
			v    func(s *measure.Second) float64
		}{
			{"p50", func(s *measure.Second) float64 { return s.HoldsP50 }},
			{"p90", func(s *measure.Second) float64 { return s.HoldsP90 }},
			{"p99", func(s *measure.Second) float64 { return s.HoldsP99 }},
			{"max", func(s *measure.Second) float64 { return s.HoldsMax }},
		}
		var lines []any
		for _, se := range series {
			var pts plotter.XYs
			for i := range run.Figures.Timeline {
				s := &run.Figures.Timeline[i]
				if v := se.v(s); v > 0 { // a log scale has no 0: seconds without holds are left out
					pts = append(pts, plotter.XY{X: float64(s.At) + 0.5, Y: v})
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
	if lo > 0 {
		for _, p := range row {
			p.Y.Min, p.Y.Max = lo/1.5, hi*1.5
		}
	}
	return save(path, [][]*plot.Plot{row}, panelWidth*vg.Length(len(row)), chartHeight)
}

// save draws a grid of plots into a PNG file.
func save(path string, plots [][]*plot.Plot, w, h vg.Length) error {
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(chartDPI))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(plots), Cols: len(plots[0]), PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		for j, p := range plots[i] {
			p.Draw(canvases[i][j])
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
