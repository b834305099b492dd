package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"seatd/bench/report"
	"seatd/bench/scenarios"
	"seatd/bench/target/engine"
)

// binary builds seatbench once for the tests that run it as a user
// does, and returns its path.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "seatbench-test")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "seatbench")
	if out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput(); err != nil {
		return "", errors.New(string(out))
	}
	return path, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if path, err := binary(); err == nil {
		os.RemoveAll(filepath.Dir(path))
	}
	os.Exit(code)
}

// seatbench runs the binary with args in dir ("" for the package's)
// and returns its exit status, stdout and stderr.
func seatbench(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	path, err := binary()
	if err != nil {
		t.Fatalf("go build: %v", err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("seatbench %q: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// TestExpect: a malformed -expect, or one naming a target not run, is
// refused with exit status 2 and one line saying why; expectations are
// judged after the run, printed and in both reports, and one not met
// leaves the exit status 0.
func TestExpect(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"engine", `seatbench: invalid value "engine" for flag -expect: "engine": no >= or <; want TARGET/BASELINE>=RATIO`},
		{"engine:p95<1ms", `for flag -expect: "engine:p95<1ms": unknown percentile "p95"`},
		{"engine/redis-lua>=x", `for flag -expect: "engine/redis-lua>=x": ratio "x" is not a number above 0`},
		{"engine/redis-lua>=2", `seatbench: -expect engine/redis-lua>=2: "redis-lua" is not a target of -target`},
	} {
		code, _, stderr := seatbench(t, "", "-expect", tc.arg)
		if code != 2 || !strings.HasPrefix(stderr, "seatbench: ") || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("seatbench -expect %q: exit %d, stderr %q; want 2 and one line saying %q", tc.arg, code, stderr, tc.want)
		}
	}

	out := t.TempDir()
	code, stdout, stderr := seatbench(t, "", "-scenario", "../../bench/scenarios/hotblock.json", "-buyers", "4", "-warmup", "0s",
		"-ramp", "0s", "-duration", "500ms", "-out", out, "-expect", "engine:max<1ns", "-expect", "engine:p50<1h")
	if code != 0 {
		t.Fatalf("seatbench with an expectation not met: exit %d; want 0\n%s", code, stderr)
	}
	for _, want := range []string{"expect engine:max<1ns: NOT met (engine max: ", "expect engine:p50<1h: met (engine p50: "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout %q; want %q", stdout, want)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, report.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if e := rep.Expectations; len(e) != 2 || e[0].Met || e[0].Measured == nil || !e[1].Met || e[1].Percentile != "p50" || e[1].Below != 3.6e9 {
		t.Errorf("report.json expectations %+v; want max NOT met, p50 met, with their figures", e)
	}
	md, err := os.ReadFile(filepath.Join(out, report.MarkdownFile))
	if err != nil || !bytes.Contains(md, []byte("- expect engine:max<1ns: **NOT met** (engine max: ")) {
		t.Errorf("report.md: %v\n%s", err, md)
	}
}

// TestScenarioByName: -scenario takes a built-in scenario's name from
// any directory, or a file's path; stadium by default.
func TestScenarioByName(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard, targets)
	if err != nil || cfg.scenario.Name != "stadium" || cfg.scenarioFile != "stadium (built in)" {
		t.Fatalf("parseFlags(no -scenario) = %v; want the built-in stadium", err)
	}
	elsewhere := t.TempDir() // no bench/scenarios below it
	file := filepath.Join(t.TempDir(), "mine.json")
	b, _ := scenarios.Lookup("hotblock")
	if err := os.WriteFile(file, bytes.Replace(b, []byte(`"name": "hotblock"`), []byte(`"name": "mine"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ arg, name, file string }{
		{"hotblock", "hotblock", "hotblock (built in)"},
		{file, "mine", file},
	} {
		out := filepath.Join(elsewhere, tc.name)
		code, _, stderr := seatbench(t, elsewhere, "-scenario", tc.arg, "-buyers", "2", "-warmup", "0s", "-ramp", "0s", "-duration", "200ms", "-out", out)
		if code != 0 {
			t.Fatalf("seatbench -scenario %s in %s: exit %d\n%s", tc.arg, elsewhere, code, stderr)
		}
		b, err := os.ReadFile(filepath.Join(out, report.JSONFile))
		var rep report.Report
		if err == nil {
			err = json.Unmarshal(b, &rep)
		}
		if err != nil || rep.Scenario.Name != tc.name || rep.Scenario.File != tc.file || len(rep.Runs) != 1 {
			t.Errorf("seatbench -scenario %s: report %v, scenario %+v; want %s from %s", tc.arg, err, rep.Scenario, tc.name, tc.file)
		}
	}
	code, _, stderr := seatbench(t, elsewhere, "-scenario", "hotblock.json")
	if want := `seatbench: -scenario: "hotblock.json" is neither a built-in scenario (bestavail10k, hotblock, mixed, named10k, stadium, train) nor a file`; code != 2 || strings.TrimSpace(stderr) != want {
		t.Errorf("seatbench -scenario hotblock.json in %s: exit %d, %q; want 2, %q", elsewhere, code, stderr, want)
	}
}

// refused runs seatbench with args in dir and checks that it exits 2
// having said exactly want on stderr, one line each.
func refused(t *testing.T, dir string, args []string, want ...string) {
	t.Helper()
	code, stdout, stderr := seatbench(t, dir, args...)
	if got := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n"); code != 2 || stdout != "" || !slices.Equal(got, want) {
		t.Errorf("seatbench %q: exit %d, stdout %q, stderr:\n%s\nwant exit 2, nothing on stdout, and:\n%s", args, code, stdout, stderr, strings.Join(want, "\n"))
	}
}

// TestOptionConflicts: options that contradict each other or name what
// is not there are refused before anything runs, exit 2, one line each
// naming the option.
func TestOptionConflicts(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-rate", "2000"}, []string{"seatbench: -rate: a setting of -load open, and the load is closed"}},
		{[]string{"-load", "closed", "-max-in-flight", "16"}, []string{"seatbench: -max-in-flight: a setting of -load open, and the load is closed"}},
		{[]string{"-load", "open", "-buyers", "64"}, []string{"seatbench: -buyers: a setting of -load closed, and the load is open"}},
		{[]string{"-target", "engine,redsi-lua"}, []string{`seatbench: -target: unknown target "redsi-lua"; known: engine, redis-lua, redis-lua-http, postgres, postgres-http, seatd-rpc, seatd-http, seatd-system`}},
		{[]string{"-target", "engine,engine"}, []string{`seatbench: -target: "engine" twice`}},
		{[]string{"-target-opt", "redis-local=true"}, []string{"seatbench: -target-opt redis-local: no target of -target reads it"}},
		{[]string{"-target", "engine,redis-lua", "-target-opt", "redis-addr=127.0.0.1:1", "-baseline", "redis-lua,engine"},
			[]string{"seatbench: -baseline: names every target of -target, so there is nothing to compare with them"}},
		{[]string{"-baseline", "postgres"}, []string{`seatbench: -baseline: "postgres" is not a target of -target`}},
		{[]string{"-expect", "engine/postgres>=3"}, []string{`seatbench: -expect engine/postgres>=3: "postgres" is not a target of -target`}},
		{[]string{"-out", file}, []string{"seatbench: -out " + file + ": a file, not a directory"}},
		{[]string{"-ramp", "30s", "-warmup", "1s", "-duration", "2s"}, []string{"seatbench: -ramp 30s: longer than the run (-warmup + -duration, 3s)"}},
		// Every mistake at once.
		{[]string{"-load", "open", "-buyers", "8", "-rate", "0", "-target-opt", "postgres-dsn=x"}, []string{
			"seatbench: -rate 0: want above 0 visits per second, at most 10000000",
			"seatbench: -buyers: a setting of -load closed, and the load is open",
			"seatbench: -target-opt postgres-dsn: no target of -target reads it",
		}},
	} {
		refused(t, "", tc.args, tc.want...)
	}
}

// TestUsageErrors: malformed flags, arguments and scenario files are
// refused before anything runs, exit 2, one line each naming the
// option.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	hotblock, _ := scenarios.Lookup("hotblock")
	syntax := write("syntax.json", "{\n  \"name\": \"x\",\n  oops\n}\n")
	unknown := write("unknown.json", `{"name": "x", "sede": 7}`)
	invalid := write("invalid.json", strings.Replace(string(hotblock), `"hold_ttl": "10s"`, `"hold_ttl": "1s"`, 1))
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-buyers", "many"}, []string{`seatbench: invalid value "many" for flag -buyers: parse error`}},
		{[]string{"-duration", "10"}, []string{`seatbench: invalid value "10" for flag -duration: parse error`}},
		{[]string{"-bogus"}, []string{"seatbench: flag provided but not defined: -bogus"}},
		{[]string{"-target-opt", "novalue"}, []string{`seatbench: invalid value "novalue" for flag -target-opt: want name=value, got "novalue"`}},
		{[]string{"stadium"}, []string{`seatbench: unexpected arguments ["stadium"]: seatbench takes flags only (-scenario NAME, -target NAMES; -h lists them)`}},
		{[]string{"-load", "half"}, []string{`seatbench: -load: load: model "half", want closed or open`}},
		{[]string{"-buyers", "0"}, []string{"seatbench: -buyers 0: want 1-100000"}},
		{[]string{"-scenario", "stadum"}, []string{`seatbench: -scenario: "stadum" is neither a built-in scenario (bestavail10k, hotblock, mixed, named10k, stadium, train) nor a file`}},
		{[]string{"-scenario", dir}, []string{"seatbench: -scenario: scenario: read " + dir + ": is a directory"}},
		{[]string{"-scenario", syntax}, []string{"seatbench: -scenario: scenario syntax.json: line 3: invalid character 'o' looking for beginning of object key string"}},
		{[]string{"-scenario", unknown}, []string{`seatbench: -scenario: scenario unknown.json: line 1: json: unknown field "sede"`}},
		{[]string{"-scenario", invalid}, []string{"seatbench: -scenario: scenario invalid.json: program.hold_ttl 1s: want 10s-24h0m0s"}},
	} {
		refused(t, "", tc.args, tc.want...)
	}
}

// TestHelp: -h exits 0 and lists every flag with its value's form and
// its default, every target, and every target option with its form,
// default and the targets that read it.
func TestHelp(t *testing.T) {
	code, stdout, help := seatbench(t, "", "-h")
	if code != 0 || stdout != "" {
		t.Fatalf("seatbench -h: exit %d, stdout %q; want 0 and the help on stderr", code, stdout)
	}
	flags := map[string]string{ // flag -> its line, then its default
		"-baseline NAMES":        "(default those of -target among redis-lua, redis-lua-http, postgres, postgres-http)",
		"-buyers N":              "(default 64)",
		"-cpuprofile FILE":       "(default none: no profile)",
		"-duration DURATION":     "(default 20s)",
		"-expect EXPECTATION":    "(default none)",
		"-load MODEL":            "(default closed)",
		"-max-in-flight N":       "(default 256)",
		"-out DIR":               "(default seatbench-out)",
		"-ramp DURATION":         "(default 1s)",
		"-rate VISITS":           "per second, once ramped up (default 10000)",
		"-scenario NAME or PATH": "(default stadium)",
		"-target NAMES":          "(default engine)",
		"-target-opt NAME=VALUE": "(default none)",
		"-warmup DURATION":       "(default 2s)",
	}
	lines := strings.Split(help, "\n")
	seen := 0
	for i, l := range lines {
		if !strings.HasPrefix(l, "  -") {
			continue
		}
		seen++
		want, ok := flags[strings.TrimSpace(l)]
		if !ok || i+1 == len(lines) || !strings.HasSuffix(lines[i+1], want) {
			t.Errorf("-h lists %q; want one of %v, its next line ending %q", l, slices.Sorted(maps.Keys(flags)), want)
		}
	}
	if seen != len(flags) {
		t.Errorf("-h lists %d flags; want %d:\n%s", seen, len(flags), help)
	}
	for _, d := range targets {
		if !strings.Contains(help, "\n  "+d.name+" ") {
			t.Errorf("-h does not list the target %s", d.name)
		}
		for _, o := range d.opts {
			i := slices.IndexFunc(targetOptHelp, func(h struct{ name, value, def, about string }) bool { return h.name == o })
			if i < 0 {
				t.Errorf("target %s reads %s, which targetOptHelp does not describe", d.name, o)
				continue
			}
			h := targetOptHelp[i]
			j := slices.Index(lines, "  "+o+"="+h.value)
			if j < 0 || !strings.Contains(lines[j+1], "(default "+h.def+"; read by ") || !strings.Contains(lines[j+1], d.name) {
				t.Errorf("-h on -target-opt %s: %q; want it with its form, default, and %s among its readers", o, lines[max(j, 0):min(j+2, len(lines))], d.name)
			}
		}
	}
	for _, h := range targetOptHelp {
		if !slices.ContainsFunc(targets, func(d targetDef) bool { return slices.Contains(d.opts, h.name) }) {
			t.Errorf("targetOptHelp describes %s, which no target reads", h.name)
		}
	}
}

// TestInterrupted: SIGINT or SIGTERM stops the run; seatbench still
// checks, audits and reports it, marked interrupted, and exits 130 or
// 143, as a shell reports a process the signal ended.
func TestInterrupted(t *testing.T) {
	path, err := binary()
	if err != nil {
		t.Fatalf("go build: %v", err)
	}
	for _, tc := range []struct {
		sig  syscall.Signal
		name string
		code int
	}{{syscall.SIGINT, "SIGINT", 130}, {syscall.SIGTERM, "SIGTERM", 143}} {
		out := t.TempDir()
		cmd := exec.Command(path, "-scenario", "hotblock", "-buyers", "4", "-warmup", "0s", "-ramp", "0s", "-duration", "60s", "-out", out)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
		sent := time.Now()
		if err := cmd.Process.Signal(tc.sig); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != tc.code || time.Since(sent) > 20*time.Second {
			t.Errorf("seatbench after %s: exit %d after %v; want %d at once\n%s", tc.name, code, time.Since(sent), tc.code, stderr.String())
		}
		b, err := os.ReadFile(filepath.Join(out, report.JSONFile))
		var rep report.Report
		if err == nil {
			err = json.Unmarshal(b, &rep)
		}
		if err != nil || rep.InterruptedAt == nil || *rep.InterruptedAt < 1 || *rep.InterruptedAt > 10 || rep.Interrupted == nil ||
			rep.Interrupted.Signal != tc.name || rep.Interrupted.During != "engine" || len(rep.Runs) != 1 || !rep.Runs[0].Stopped ||
			rep.Runs[0].Failed() || rep.Runs[0].Audit == nil {
			t.Errorf("%s: report.json %v: interrupted at %v, %+v, runs %+v; want engine's run stopped, audited and passed", tc.name, err, rep.InterruptedAt, rep.Interrupted, rep.Runs)
		}
		md, err := os.ReadFile(filepath.Join(out, report.MarkdownFile))
		if want := "- **interrupted** by " + tc.name + " at "; err != nil || !bytes.Contains(md, []byte(want)) {
			t.Errorf("%s: report.md %v; want %q", tc.name, err, want)
		}
	}
}

// TestInterruptedBetweenTargets: an interruption during the first of
// two targets stops it, and the second does not run; the report says
// which did not.
func TestInterruptedBetweenTargets(t *testing.T) {
	known := []targetDef{engineDef("engine", engine.New()), engineDef("engine2", engine.New())}
	cfg, err := parseFlags([]string{"-scenario", "hotblock", "-target", "engine,engine2", "-buyers", "4", "-warmup", "0s", "-ramp", "0s",
		"-duration", "60s", "-out", t.TempDir()}, io.Discard, known)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	time.AfterFunc(800*time.Millisecond, func() { cancel(&interrupt{sig: syscall.SIGTERM, at: time.Now()}) })
	var stdout bytes.Buffer
	rep, err := run(ctx, cfg, known, &stdout, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	in := rep.Interrupted
	if in == nil || rep.InterruptedAt == nil || *rep.InterruptedAt < 0.7 || in.Signal != "SIGTERM" || in.During != "engine" ||
		!slices.Equal(in.NotRun, []string{"engine2"}) || len(rep.Runs) != 1 || rep.Runs[0].Failed() {
		t.Errorf("interrupted %+v at %v, runs %d; want engine stopped and passed, engine2 not run", in, rep.InterruptedAt, len(rep.Runs))
	}
	if want := "; not run: engine2\n"; !strings.Contains(rep.Markdown(), want) {
		t.Errorf("report.md:\n%s\nwant %q", rep.Markdown(), want)
	}
}
