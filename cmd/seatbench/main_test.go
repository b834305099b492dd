package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"seatd/bench/audit"
	"seatd/bench/measure"
	"seatd/bench/report"
	"seatd/bench/scenario"
	"seatd/bench/scenarios"
	"seatd/bench/target"
	"seatd/bench/target/engine"
	"seatd/inventory"
)

// engineDef is a target of name that is eng.
func engineDef(name string, eng *engine.Target) targetDef {
	return targetDef{name: name, about: "the engine", new: func(context.Context, *Config) (target.Target, string, error) { return eng, "here", nil }}
}

// placed is the holds placed over the whole run, warm-up included.
func placed(f *measure.Figures) int64 {
	n := int64(0)
	for _, s := range f.Timeline {
		n += s.Holds
	}
	return n
}

// TestEveryScenario runs each scenario for about two seconds against the
// engine and checks the report: holds were placed, the engine's own
// state is sound and sold exactly the seats the harness saw paid (some,
// in a scenario where buyers pay), the JSON parses, the Markdown has the
// table, the charts are PNGs.
func TestEveryScenario(t *testing.T) {
	names := scenarios.Names()
	if len(names) < 6 {
		t.Fatalf("scenarios: %v", names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			b, _ := scenarios.Lookup(name)
			sc, err := scenario.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			pays := sc.Outcome.Pay > 0
			eng := engine.New()
			known := []targetDef{engineDef("engine", eng)}
			out := t.TempDir()
			var stderr bytes.Buffer
			cfg, err := parseFlags([]string{"-scenario", name, "-buyers", "8", "-warmup", "500ms", "-ramp", "200ms",
				"-duration", "1500ms", "-out", out}, &stderr, known)
			if err != nil {
				t.Fatal(err)
			}
			var stdout bytes.Buffer
			rep, err := run(context.Background(), cfg, known, &stdout, &stderr)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Runs) != 1 || len(rep.Failed) != 0 {
				t.Fatalf("runs %d, failed %v; want one run", len(rep.Runs), rep.Failed)
			}
			r := rep.Runs[0]
			f := &r.Figures
			placed := placed(f)
			if placed == 0 || f.Holds.Requests == 0 || f.AnswersPerSecond <= 0 {
				t.Errorf("holds placed %d, requests measured %d, answers/s %v; want each above 0", placed, f.Holds.Requests, f.AnswersPerSecond)
			}
			if f.Holds.Latency.P50 <= 0 || f.Holds.Latency.P99 < f.Holds.Latency.P50 {
				t.Errorf("hold latency %+v; want 0 < p50 <= p99", f.Holds.Latency)
			}
			if f.Buyers.Tried == 0 || f.Buyers.GotSeats == 0 || f.Buyers.GotSeats > f.Buyers.Tried {
				t.Errorf("buyers %+v; want some tried, some got seats", f.Buyers)
			}
			if f.Errors["other"] > 0 {
				t.Errorf("failures %v", f.OtherErrors)
			}
			if r.Check != "ok" {
				t.Errorf("engine check: %s", r.Check)
			}
			// The audit ran every check the engine can show, and passed.
			if a := r.Audit; a == nil || a.Failed() || r.Failed() || !slices.Equal(a.Ran(), []string{"ledger", "seats", "counts", "holds"}) || pays != (a.Paid > 0) {
				t.Errorf("audit %s: %+v\n%s", r.AuditError, a, a.Text())
			}
			// No seat sold twice: the engine's sold seat-legs are exactly
			// those of the holds the harness confirmed.
			sold := int64(0)
			for _, sh := range eng.Stats().Shards {
				for _, l := range sh.Legs {
					sold += int64(l.Sold)
				}
			}
			if sold != f.SeatLegsPaid || pays != (sold > 0) {
				t.Errorf("engine sold %d seat-legs; the harness confirmed %d", sold, f.SeatLegsPaid)
			}
			if r.CPU.Error != "" || len(r.CPU.Processes) == 0 {
				t.Errorf("cpu %+v", r.CPU)
			}

			b, err = os.ReadFile(filepath.Join(out, report.JSONFile))
			if err != nil {
				t.Fatal(err)
			}
			var back report.Report
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("report.json: %v", err)
			}
			if back.Scenario.Name != name || back.Scenario.File != name+" (built in)" || len(back.Runs) != 1 || back.Runs[0].Figures.Holds.Requests != f.Holds.Requests ||
				back.Machine.Cores == 0 || back.Machine.GoVersion == "" {
				t.Errorf("report.json read back: scenario %q, %d runs, machine %+v", back.Scenario.Name, len(back.Runs), back.Machine)
			}
			md, err := os.ReadFile(filepath.Join(out, report.MarkdownFile))
			if err != nil || !bytes.Contains(md, []byte("| engine | nothing: in process, no replication |")) ||
				!bytes.Contains(md, []byte("### Audit: passed (ledger, seats, counts, holds)")) {
				t.Errorf("report.md: %v\n%s", err, md)
			}
			for _, png := range []string{report.ThroughputFile, report.LatencyFile} {
				b, err := os.ReadFile(filepath.Join(out, png))
				if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
					t.Errorf("%s: %v, not a PNG", png, err)
				}
			}
			if !strings.HasPrefix(stdout.String(), report.SummaryText(rep.Runs)) || !strings.Contains(stdout.String(), "report.json") {
				t.Errorf("stdout %q; want the summary and the report's files", stdout.String())
			}
		})
	}
}

// TestTwoTargets: targets run one after another on the same stream, and
// the charts carry both.
func TestTwoTargets(t *testing.T) {
	known := []targetDef{engineDef("engine", engine.New()), engineDef("engine2", engine.New())}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	cfg, err := parseFlags([]string{"-scenario", "../../bench/scenarios/hotblock.json", "-target", "engine,engine2",
		"-load", "open", "-rate", "2000", "-max-in-flight", "16", "-warmup", "0s", "-ramp", "0s", "-duration", "1s", "-out", out}, &stderr, known)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := run(context.Background(), cfg, known, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 2 || rep.Runs[0].Visits == 0 || rep.Runs[1].Visits == 0 {
		t.Fatalf("runs %+v; want two with visits", rep.Runs)
	}
	// The same stream: the pit sells out for both.
	for _, r := range rep.Runs {
		if r.Figures.SoldOut.Categories["pit"] == nil {
			t.Errorf("%s: the pit never sold out", r.Target)
		}
	}
}

func TestFlagErrors(t *testing.T) {
	var stderr bytes.Buffer
	_, err := parseFlags([]string{"-target", "engine,redis", "-load", "half", "-buyers", "0", "-duration", "0s"}, &stderr, targets)
	if err == nil {
		t.Fatal("parseFlags = nil error")
	}
	for _, w := range []string{`unknown target "redis"; known: engine`, `-load: load: model "half"`, "-duration 0s: want above 0"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("parseFlags error %q; want it to say %q", err, w)
		}
	}
	_, err = parseFlags([]string{"-target-opt", "novalue"}, &stderr, targets)
	if err == nil || !strings.Contains(err.Error(), "want name=value") {
		t.Errorf("parseFlags(-target-opt novalue) = %v", err)
	}
}

// lyingEngine is the engine with its state corrupted as the audit reads
// it.
type lyingEngine struct {
	*engine.Target
	corrupt func(*audit.State)
}

func (l lyingEngine) AuditState(ctx context.Context, q audit.Query) (audit.State, error) {
	st, err := l.Target.AuditState(ctx, q)
	if err == nil {
		l.corrupt(&st)
	}
	return st, err
}

// TestAuditFailsRun: an engine whose state, as the audit reads it, lost
// a sold seat and miscounts a category fails the run: the differences
// are printed and in both reports.
func TestAuditFailsRun(t *testing.T) {
	lie := lyingEngine{Target: engine.New(), corrupt: func(st *audit.State) {
		for i, s := range st.Seats[0] {
			if s == inventory.SeatSold {
				st.Seats[0][i] = inventory.SeatFree
				break
			}
		}
		st.Counts[0].Free++
	}}
	known := []targetDef{{name: "liar", about: "the engine, lying", new: func(context.Context, *Config) (target.Target, string, error) {
		return lie, "here", nil
	}}}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	cfg, err := parseFlags([]string{"-scenario", "../../bench/scenarios/hotblock.json", "-target", "liar", "-buyers", "4",
		"-warmup", "0s", "-ramp", "0s", "-duration", "500ms", "-out", out}, &stderr, known)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := run(context.Background(), cfg, known, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Runs[0]
	if !r.Failed() || r.CheckFailed() || r.Audit == nil {
		t.Fatalf("run failed %v, check %q, audit %+v; want the audit to fail it", r.Failed(), r.Check, r.Audit)
	}
	codes := map[audit.Code]int{}
	for _, c := range r.Audit.Checks {
		maps.Copy(codes, c.Codes)
	}
	if codes[audit.SeatNotSold] != 1 || codes[audit.CapacityMismatch] != 1 || codes[audit.CountMismatch] != 1 || len(codes) != 3 {
		t.Errorf("audit codes %v; want one each of SEAT_NOT_SOLD, CAPACITY_MISMATCH, COUNT_MISMATCH", codes)
	}
	for _, want := range []string{"engine: the audit failed", "seats: SEAT_NOT_SOLD", "counts: CAPACITY_MISMATCH"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr %q; want %q", stderr.String(), want)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, report.MarkdownFile))
	if err != nil || !bytes.Contains(md, []byte("### Audit: **FAILED**: 3 differences")) || !bytes.Contains(md, []byte("SEAT_NOT_SOLD")) {
		t.Errorf("report.md: %v\n%s", err, md)
	}
}
