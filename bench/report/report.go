// Package report writes seatbench's results: report.json with every
// figure, the settings and the machine; report.md, a summary a person
// reads first, with the targets against the baselines (compare.go); and
// PNG charts of throughput and hold latency over time, every target of
// the run side by side (charts.go).
//
// A Report is built once by the caller and only read by Write.
package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"seatd/bench/replay"
	"seatd/bench/scenario"
)

// Report is one seatbench run: one scenario, one load, each target in
// turn on the same request stream.
type Report struct {
	Started  time.Time         `json:"started"`
	Scenario Scenario          `json:"scenario"`
	Settings Settings          `json:"settings"`
	Machine  Machine           `json:"machine"`
	Runs     []*replay.Result  `json:"runs"`
	Failed   map[string]string `json:"failed,omitempty"` // target -> why its run could not be made
	// Comparisons are the runs' targets against its baselines
	// (Settings.Baselines), as Compare pairs them.
	Comparisons []Comparison `json:"comparisons,omitempty"`
	// Expectations are the figures the run was asked to reach
	// (seatbench -expect), each judged.
	Expectations []Outcome `json:"expectations,omitempty"`
	// InterruptedAt, when a signal stopped the run early, is when, in
	// seconds from Started, and Interrupted says which and what it
	// stopped; the runs then cover the time until it.
	InterruptedAt *float64      `json:"interrupted_at_s,omitempty"`
	Interrupted   *Interruption `json:"interrupted,omitempty"`
}

// Interruption is a signal that stopped a run early.
type Interruption struct {
	Signal string `json:"signal"`
	// During is the target whose run it stopped; "" between runs.
	During string `json:"during,omitempty"`
	// NotRun are the targets of the run that did not start.
	NotRun []string `json:"not_run,omitempty"`
}

// Scenario is what the report says of the scenario.
type Scenario struct {
	Name     string   `json:"name"`
	File     string   `json:"file"`
	About    string   `json:"about"`
	Seed     uint64   `json:"seed"`
	Program  string   `json:"program"`
	Seats    int      `json:"seats"`
	Legs     int      `json:"legs"`
	Capacity []CatCap `json:"categories"`
}

// CatCap is a category's seats.
type CatCap struct {
	ID    string `json:"id"`
	Seats int    `json:"seats"`
}

// NewScenario describes a stream's scenario, read from file.
func NewScenario(s *scenario.Stream, file string) Scenario {
	sc := s.Scenario()
	out := Scenario{Name: sc.Name, File: file, About: sc.About, Seed: sc.Seed, Program: sc.Program.ID, Legs: s.Legs()}
	capac := s.Capacity()
	for i, id := range s.Categories() {
		out.Capacity = append(out.Capacity, CatCap{ID: id, Seats: capac[i]})
		out.Seats += capac[i]
	}
	return out
}

// Settings are the load's settings, as given.
type Settings struct {
	Load        string   `json:"load"` // the model in words
	Model       string   `json:"model"`
	Buyers      int      `json:"buyers,omitempty"`
	Rate        float64  `json:"rate_per_second,omitempty"`
	MaxInFlight int      `json:"max_in_flight,omitempty"`
	WarmUp      string   `json:"warm_up"`
	Ramp        string   `json:"ramp"`
	Duration    string   `json:"duration"`
	Targets     []string `json:"targets"`
	// Baselines are the targets the others are compared against.
	Baselines []string `json:"baselines,omitempty"`
	// Setups say how seatbench ran each target made: in its process,
	// or the server it reached and what it started in front of it.
	Setups  map[string]string `json:"target_setups"`
	Command string            `json:"command"`
	Out     string            `json:"out"` // the report's directory
}

// Machine is where the run ran.
type Machine struct {
	CPU         string `json:"cpu"`
	Cores       int    `json:"cores"`
	MemoryBytes int64  `json:"memory_bytes"`
	GoVersion   string `json:"go_version"`
	OS          string `json:"os"`
	Arch        string `json:"arch"`
	GOMAXPROCS  int    `json:"gomaxprocs"`
}

// ThisMachine describes this machine from /proc/cpuinfo and
// /proc/meminfo; what cannot be read is left empty.
func ThisMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		GOMAXPROCS: runtime.GOMAXPROCS(0)}
	m.CPU = procField("/proc/cpuinfo", "model name")
	if kb := strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB"); kb != "" {
		if n, err := strconv.ParseInt(strings.TrimSpace(kb), 10, 64); err == nil {
			m.MemoryBytes = n << 10
		}
	}
	return m
}

// procField returns the value of the first "key: value" line of a /proc
// file, or "".
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Files written by Write, in dir.
const (
	JSONFile       = "report.json"
	MarkdownFile   = "report.md"
	ThroughputFile = "throughput.png"
	LatencyFile    = "latency.png"
)

// Write writes the report's files into dir (made if missing) and returns
// their paths.
func (r *Report) Write(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	files := []string{filepath.Join(dir, JSONFile), filepath.Join(dir, MarkdownFile),
		filepath.Join(dir, ThroughputFile), filepath.Join(dir, LatencyFile)}
	if err := os.WriteFile(files[0], append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(files[1], []byte(r.Markdown()), 0o644); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if err := r.throughputChart(files[2]); err != nil {
		return nil, err
	}
	if err := r.latencyChart(files[3]); err != nil {
		return nil, err
	}
	return files, nil
}

// Markdown returns the summary: settings, machine, one row per target of
// the headline figures, the targets against the baselines, then each
// target's operations, errors and notes.
func (r *Report) Markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	sc := &r.Scenario
	p("# seatbench: %s\n\n", sc.Name)
	p("%s\n\n", sc.About)
	p("- program `%s`: %d seats, %d leg(s), %d categories; seed %d (`%s`)\n", sc.Program, sc.Seats, sc.Legs, len(sc.Capacity), sc.Seed, sc.File)
	p("- load: %s\n", r.Settings.Load)
	m := &r.Machine
	// GOMAXPROCS is shown because it moves the in-process cluster's rate
	// as much as a quarter on 2 cores (docs/seatbench.md, "Processors
	// held in system calls").
	p("- machine: %s, %d cores, GOMAXPROCS %d, %.1f GiB, %s %s/%s; started %s\n", m.CPU, m.Cores, m.GOMAXPROCS,
		float64(m.MemoryBytes)/(1<<30), m.GoVersion, m.OS, m.Arch, r.Started.Format(time.RFC3339))
	for _, name := range r.Settings.Targets {
		if s, ok := r.Settings.Setups[name]; ok {
			p("- %s: %s\n", name, s)
		}
	}
	p("- command: `%s`\n", r.Settings.Command)
	if in := r.Interrupted; in != nil && r.InterruptedAt != nil {
		p("- **interrupted** by %s at %.1f s", in.Signal, *r.InterruptedAt)
		if in.During != "" {
			p(", during %s's run, whose figures, check and audit cover the run until then", in.During)
		}
		if len(in.NotRun) > 0 {
			p("; not run: %s", strings.Join(in.NotRun, ", "))
		}
		p("\n")
	}
	p("\n")
	p("holds/s: holds placed per second; answers/s: hold requests answered per second, placed or refused. Latencies are of every hold request (best-available and named together, any outcome) in the measured window; in the open loop they count from each visit's due time, so queueing shows. Sold out: the first \"sold out\" answer of the last category asked for, in seconds from the start (warm-up included). CPU: every process involved, over the measured window.\n\n")
	p("| target | persists | holds/s | answers/s | p50 | p99 | p99.9 | max | buyers with seats | sold out | CPU per hold | CPU per answer | check | audit |\n")
	p("| --- | --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --- | --- |\n")
	for _, run := range r.Runs {
		f := &run.Figures
		l := f.Holds.Latency
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %.1f%% of %d | %s | %s | %s | %s | %s |\n", run.Target, run.Persists,
			thousands(f.HoldsPerSecond), thousands(f.AnswersPerSecond), us(l.P50), us(l.P99), us(l.P999), us(l.Max),
			f.Buyers.Share*100, f.Buyers.Tried, seconds(f.SoldOut.All), cpuPerHold(run.CPU.PerHold),
			cpuPerHold(run.CPU.PerRequest), run.Check, AuditSummary(run))
	}
	for name, why := range r.Failed {
		p("| %s | | failed: %s | | | | | | | | | | | |\n", name, why)
	}
	comparisonMarkdown(&b, r.Comparisons)
	expectationMarkdown(&b, r.Expectations)
	for _, run := range r.Runs {
		f := &run.Figures
		p("\n## %s\n\n", run.Target)
		p("%d visits, %.1f s measured.", run.Visits, f.MeasuredSeconds)
		if run.Backlog > 0 {
			p(" **%d visits were due and never sent**: the target fell behind the rate.", run.Backlog)
		}
		p("\n\n| op | requests | ok | ok/s | p50 | p90 | p99 | max | outcomes |\n| --- | --: | --: | --: | --: | --: | --: | --: | --- |\n")
		for _, o := range f.Ops {
			l := o.Latency
			p("| %s | %d | %d | %s | %s | %s | %s | %s | %s |\n", o.Op, o.Requests, o.OK, thousands(o.PerSecond),
				us(l.P50), us(l.P90), us(l.P99), us(l.Max), codes(o.Codes))
		}
		p("\nSold out per category (s from the start): ")
		for i, c := range r.Scenario.Capacity {
			if i > 0 {
				p(", ")
			}
			p("%s %s", c.ID, seconds(f.SoldOut.Categories[c.ID]))
		}
		p(".\n")
		p("\nCPU: %.2f s in the measured window", run.CPU.Seconds)
		for _, pc := range run.CPU.Processes {
			p("; %s (pid %d) %.2f s", pc.Name, pc.PID, pc.Seconds)
		}
		if run.CPU.Error != "" {
			p("; %s", run.CPU.Error)
		}
		p(".\n")
		for _, e := range f.OtherErrors {
			p("\n- error ×%d: `%s`", e.Count, e.Message)
		}
		for _, n := range run.Notes {
			p("\n- %s", n)
		}
		p("\n")
		auditMarkdown(&b, run)
	}
	p("\n![throughput](%s)\n\n![latency](%s)\n", ThroughputFile, LatencyFile)
	return b.String()
}

// MaxMarkdownDifferences bounds the audit's differences report.md
// lists per target; report.json has them all (up to
// audit.MaxDifferences).
const MaxMarkdownDifferences = 50

// AuditSummary is a run's audit in a few words: passed or failed, and
// the checks that ran.
func AuditSummary(run *replay.Result) string {
	a := run.Audit
	switch {
	case run.AuditError != "":
		return "**not run**: " + run.AuditError
	case a == nil:
		return "-"
	case a.Failed():
		return fmt.Sprintf("**FAILED**: %d differences", len(a.Differences)+a.Left)
	}
	return "passed (" + strings.Join(a.Ran(), ", ") + ")"
}

// auditMarkdown writes a run's audit: each check, then the differences.
func auditMarkdown(b *strings.Builder, run *replay.Result) {
	a := run.Audit
	if a == nil {
		return
	}
	fmt.Fprintf(b, "\n### Audit: %s\n\n%d holds granted, %d paid.\n\n| check | ran | differences | codes | what it left out |\n| --- | --- | --: | --- | --- |\n",
		AuditSummary(run), a.Holds, a.Paid)
	for _, c := range a.Checks {
		ran, diffs := "no", "-"
		if c.Ran {
			ran, diffs = "yes", strconv.Itoa(c.Differences)
		}
		var codes []string
		for _, code := range slices.Sorted(maps.Keys(c.Codes)) {
			codes = append(codes, fmt.Sprintf("%s %d", code, c.Codes[code]))
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", c.Name, ran, diffs, strings.Join(codes, ", "), c.Why)
	}
	for i, d := range a.Differences {
		if i == MaxMarkdownDifferences {
			fmt.Fprintf(b, "\n- ... %d more in %s", len(a.Differences)+a.Left-i, JSONFile)
			break
		}
		fmt.Fprintf(b, "\n- `%s`", d)
	}
	for _, n := range a.Notes {
		fmt.Fprintf(b, "\n- note: %s", n)
	}
	b.WriteString("\n")
}

func us(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f s", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.2f ms", v/1e3)
	}
	return fmt.Sprintf("%.1f µs", v)
}

func seconds(v *float64) string {
	if v == nil {
		return "never"
	}
	return fmt.Sprintf("%.3f s", *v)
}

func cpuPerHold(v float64) string {
	if v == 0 {
		return "-"
	}
	return us(v * 1e6)
}

// thousands is v, a count or rate of at least 0, rounded to a whole
// number (half to even), with thousands separators.
func thousands(v float64) string {
	s := strconv.FormatFloat(v, 'f', 0, 64)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func codes(m map[string]int64) string {
	var parts []string
	for _, c := range []string{"ok", "sold_out", "no_adjacent", "taken", "price_mismatch", "unknown_hold", "other"} {
		if m[c] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", c, m[c]))
		}
	}
	return strings.Join(parts, ", ")
}
