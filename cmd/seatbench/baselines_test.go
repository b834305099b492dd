package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"seatd/bench/baseline/redislua"
	"seatd/bench/measure"
	"seatd/bench/replay"
	"seatd/bench/report"
	"seatd/internal/pgtest"
	"seatd/internal/redistest"
)

// TestBaselines runs seatbench's replay of the stadium and hot-block
// scenarios, about two seconds a target, against the baselines on real
// servers: bare on the stadium; bare and behind the in-process HTTP front
// on the hot block, Redis with appendfsync always. Each run placed holds,
// none failed, the baseline's own check of its store passed (no seat in
// two places, counts that add up), and the report says what each
// persists, next to its figures, and how seatbench ran it.
func TestBaselines(t *testing.T) {
	redisAddr := redistest.Start(t, redistest.Options{}).Addr()
	dsn := pgtest.Start(t).DSN
	persists := map[string]string{"postgres": "PostgreSQL, synchronous_commit on, fsync on", "postgres-http": "PostgreSQL, synchronous_commit on, fsync on"}
	for _, tc := range []struct {
		scenario, targets, always string
	}{
		{"stadium", "redis-lua,postgres", "false"},
		{"hotblock", "redis-lua,redis-lua-http,postgres,postgres-http", "true"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			persists["redis-lua"], persists["redis-lua-http"] = redislua.PersistsNothing, redislua.PersistsNothing
			if tc.always == "true" {
				persists["redis-lua"], persists["redis-lua-http"] = redislua.PersistsAlways, redislua.PersistsAlways
			}
			out := t.TempDir()
			var stdout, stderr bytes.Buffer
			cfg, err := parseFlags([]string{"-scenario", "../../bench/scenarios/" + tc.scenario + ".json", "-target", tc.targets,
				"-target-opt", OptRedisAddr + "=" + redisAddr, "-target-opt", OptRedisAlways + "=" + tc.always,
				"-target-opt", OptPostgresDSN + "=" + dsn,
				"-buyers", "8", "-warmup", "500ms", "-ramp", "200ms", "-duration", "1500ms", "-out", out}, &stderr, targets)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := run(context.Background(), cfg, targets, &stdout, &stderr)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Failed) != 0 || len(rep.Runs) != len(cfg.Targets) {
				t.Fatalf("failed %v, %d runs; want a run of each of %v\n%s", rep.Failed, len(rep.Runs), cfg.Targets, stderr.String())
			}
			md, err := os.ReadFile(filepath.Join(out, report.MarkdownFile))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rep.Runs {
				f := &r.Figures
				// The hot block's 200 seats may sell out within the warm-up.
				if placed(f) == 0 || f.Holds.Requests == 0 {
					t.Errorf("%s: holds placed %d, %d asked in the measured window; want some", r.Target, placed(f), f.Holds.Requests)
				}
				if f.Errors["other"] > 0 {
					t.Errorf("%s: failures %v", r.Target, f.OtherErrors)
				}
				if r.Check != "ok" {
					t.Errorf("%s: check: %s", r.Target, r.Check)
				}
				// The audit passes on what each baseline shows: Redis its
				// seats and counters, PostgreSQL its seats and holds.
				want := map[bool][]string{true: {"ledger", "seats", "holds"}, false: {"ledger", "seats", "counts"}}[strings.HasPrefix(r.Target, "postgres")]
				if a := r.Audit; r.Failed() || a == nil || !slices.Equal(a.Ran(), want) || a.Paid == 0 {
					t.Errorf("%s: audit %s; want it passed, checks %v:\n%s", r.Target, r.AuditError, want, a.Text())
				}
				if r.Persists != persists[r.Target] || !bytes.Contains(md, []byte("| "+r.Target+" | "+persists[r.Target]+" | ")) {
					t.Errorf("%s: persists %q, and report.md's row says:\n%s", r.Target, r.Persists, md)
				}
				// The server's processes count in the CPU figures.
				server := map[bool]string{true: "postgres", false: "redis-server"}[strings.HasPrefix(r.Target, "postgres")]
				if !slices.ContainsFunc(r.CPU.Processes, func(p measure.ProcCPU) bool { return p.Name == server }) {
					t.Errorf("%s: CPU of %+v; want %s's among them", r.Target, r.CPU.Processes, server)
				}
				setup := rep.Settings.Setups[r.Target]
				if http := strings.HasSuffix(r.Target, "-http"); http != strings.Contains(setup, "HTTP front") || !bytes.Contains(md, []byte(setup)) {
					t.Errorf("%s: setup %q, in report.md:\n%s", r.Target, setup, md)
				}
			}
		})
	}
}

// TestBaselineOptions: a baseline without its server's address is
// refused before any target runs, saying how to give it; the
// environment gives it too; options no target reads, or malformed, are
// refused.
func TestBaselineOptions(t *testing.T) {
	t.Setenv(EnvRedisAddr, "")
	t.Setenv(EnvPostgresDSN, "")
	var stderr bytes.Buffer
	_, err := parseFlags([]string{"-target", "redis-lua,postgres-http", "-target-opt", "redis-adr=x:1", "-target-opt", OptRedisAlways + "=yes please"}, &stderr, targets)
	for _, want := range []string{
		"-target redis-lua: no Redis address: give -target-opt redis-addr=HOST:PORT or set SEATBENCH_REDIS_ADDR",
		"-target postgres-http: no PostgreSQL DSN: give -target-opt postgres-dsn=",
		"-target-opt redis-adr: no target of -target reads it",
		`redis-appendfsync-always="yes please": want true or false`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseFlags = %v; want it to say %q", err, want)
		}
	}
	t.Setenv(EnvRedisAddr, "127.0.0.1:6379")
	t.Setenv(EnvPostgresDSN, "postgres://postgres@127.0.0.1:5432/postgres")
	if _, err := parseFlags([]string{"-target", "redis-lua-http,postgres"}, &stderr, targets); err != nil {
		t.Errorf("parseFlags with the addresses in the environment = %v", err)
	}
	if _, err := parseFlags([]string{"-target", "engine", "-target-opt", OptPostgresDSN + "=x"}, &stderr, targets); err == nil ||
		!strings.Contains(err.Error(), "no target of -target reads it") {
		t.Errorf("parseFlags(-target engine -target-opt postgres-dsn=x) = %v; want the option refused", err)
	}
	// A server seatbench starts, or one's address: not both.
	_, err = parseFlags([]string{"-target", "redis-lua,postgres", "-target-opt", OptRedisLocal + "=true", "-target-opt", OptRedisAddr + "=x:1",
		"-target-opt", OptPostgresLocal + "=1", "-target-opt", OptPostgresDSN + "=postgres://x", "-target-opt", OptRedisAlways + "=always"}, &stderr, targets)
	for _, want := range []string{
		"-target redis-lua: -target-opt redis-local and redis-addr: give one",
		"-target postgres: -target-opt postgres-local and postgres-dsn: give one",
		`redis-appendfsync-always="always": want true or false`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseFlags = %v; want it to say %q", err, want)
		}
	}
	if _, err := parseFlags([]string{"-target", "postgres", "-target-opt", OptPostgresLocal + "=sometimes"}, &stderr, targets); err == nil ||
		!strings.Contains(err.Error(), `postgres-local="sometimes": want true or false`) {
		t.Errorf("parseFlags(-target-opt postgres-local=sometimes) = %v; want it refused", err)
	}
	// Without redis-server, redis-local says which package installs it,
	// before any target runs.
	t.Setenv("PATH", t.TempDir())
	if _, err := parseFlags([]string{"-target", "engine,redis-lua-http", "-target-opt", OptRedisLocal + "=true"}, &stderr, targets); err == nil ||
		!strings.Contains(err.Error(), "-target redis-lua-http: redisserver: redis-server is not installed (Debian: apt-get install redis-server)") {
		t.Errorf("parseFlags(-target-opt redis-local=true) with no redis-server on PATH = %v; want it refused, naming the package", err)
	}
}

// TestBaselineFlag: by default the baselines are BASELINE.md's designs
// among -target; -baseline names others, each a target of the run, once.
func TestBaselineFlag(t *testing.T) {
	t.Setenv(EnvRedisAddr, "127.0.0.1:6379")
	t.Setenv(EnvPostgresDSN, "postgres://postgres@127.0.0.1:5432/postgres")
	for _, name := range baselineTargets {
		if !slices.ContainsFunc(targets, func(d targetDef) bool { return d.name == name }) {
			t.Errorf("baselineTargets has %q, which is no target", name)
		}
	}
	var stderr bytes.Buffer
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-target", "engine,postgres-http,redis-lua"}, []string{"postgres-http", "redis-lua"}},
		{[]string{"-target", "engine"}, nil},
		{[]string{"-target", "engine,redis-lua", "-baseline", "engine"}, []string{"engine"}},
		{[]string{"-target", "engine,redis-lua,postgres", "-baseline", "postgres, engine"}, []string{"postgres", "engine"}},
	} {
		cfg, err := parseFlags(tc.args, &stderr, targets)
		if err != nil || !slices.Equal(cfg.Baselines, tc.want) {
			t.Errorf("parseFlags(%q): baselines %q, %v; want %q", tc.args, cfg.Baselines, err, tc.want)
		}
	}
	_, err := parseFlags([]string{"-target", "engine,redis-lua", "-baseline", "postgres,redis-lua,redis-lua"}, &stderr, targets)
	for _, want := range []string{`-baseline: "postgres" is not a target of -target`, `-baseline: "redis-lua" twice`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseFlags = %v; want it to say %q", err, want)
		}
	}
}

// TestLocalBaselines runs the engine and the baselines on servers
// seatbench starts itself (redis-local, with appendfsync always, and
// postgres-local) on a best-available scenario for about a second each:
// each run placed holds and passed its audit, the report says seatbench
// started the servers, the terminal and report.md compare the engine with
// each baseline at the ratio of their holds per second, and the servers
// are stopped after their runs.
func TestLocalBaselines(t *testing.T) {
	redistest.RequireInstalled(t)
	pgtest.RequireInstalled(t)
	t.Setenv(EnvRedisAddr, "")
	t.Setenv(EnvPostgresDSN, "")
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	cfg, err := parseFlags([]string{"-scenario", "../../bench/scenarios/bestavail10k.json", "-target", "engine,redis-lua-http,postgres",
		"-target-opt", OptRedisLocal + "=true", "-target-opt", OptRedisAlways + "=true", "-target-opt", OptPostgresLocal + "=1",
		"-buyers", "4", "-warmup", "300ms", "-ramp", "0s", "-duration", "1s", "-out", out}, &stderr, targets)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := run(context.Background(), cfg, targets, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failed) != 0 || len(rep.Runs) != 3 {
		t.Fatalf("failed %v, %d runs; want a run of each of %v\n%s", rep.Failed, len(rep.Runs), cfg.Targets, stderr.String())
	}
	persists := map[string]string{"engine": "nothing: in process, no replication", "redis-lua-http": redislua.PersistsAlways,
		"postgres": "PostgreSQL, synchronous_commit on, fsync on"}
	servers := map[string]string{"redis-lua-http": "redis-server", "postgres": "postgres"}
	for _, r := range rep.Runs {
		if r.Figures.HoldsPerSecond <= 0 || r.Failed() || r.Persists != persists[r.Target] {
			t.Errorf("%s: %v holds/s, check %s, audit %s %s, persists %q; want holds placed, passed, persists %q",
				r.Target, r.Figures.HoldsPerSecond, r.Check, report.AuditSummary(r), r.AuditError, r.Persists, persists[r.Target])
		}
		server := servers[r.Target]
		if server == "" {
			continue
		}
		if setup := rep.Settings.Setups[r.Target]; !strings.Contains(setup, "that seatbench started for this run") {
			t.Errorf("%s: setup %q; want it to say seatbench started the server", r.Target, setup)
		}
		var pids []int
		for _, p := range r.CPU.Processes {
			if p.Name == server {
				pids = append(pids, p.PID)
			}
		}
		if len(pids) == 0 {
			t.Errorf("%s: CPU of %+v; want %s's among them", r.Target, r.CPU.Processes, server)
		}
		for _, pid := range pids {
			if alive(pid, server) {
				t.Errorf("%s: %s (pid %d) still runs after the run; want it stopped", r.Target, server, pid)
			}
		}
	}

	if len(rep.Comparisons) != 2 {
		t.Fatalf("comparisons %+v; want the engine against each baseline", rep.Comparisons)
	}
	for i, base := range []*replay.Result{rep.Runs[1], rep.Runs[2]} {
		c := rep.Comparisons[i]
		want := rep.Runs[0].Figures.HoldsPerSecond / base.Figures.HoldsPerSecond
		if c.Target.Name != "engine" || c.Baseline.Name != base.Target || c.Ratio == nil || *c.Ratio != want {
			t.Errorf("comparison %d: %s against %s, ratio %v; want engine against %s, %v", i, c.Target.Name, c.Baseline.Name, c.Ratio, base.Target, want)
		}
	}
	if text := report.ComparisonText(rep.Comparisons); !strings.Contains(stdout.String(), text) {
		t.Errorf("stdout:\n%s\nwant the comparison:\n%s", stdout.String(), text)
	}
	md, err := os.ReadFile(filepath.Join(out, report.MarkdownFile))
	if err != nil || !bytes.Contains(md, []byte("## Against the baselines")) || !bytes.Contains(md, []byte("| engine | ")) {
		t.Errorf("report.md: %v\n%s", err, md)
	}
}

// alive reports whether process pid runs and is named comm: not gone,
// not a zombie left to be reaped, not a new process that got its number.
func alive(pid int, comm string) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...
	open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || end < open || len(stat) < end+3 {
		return false
	}
	return string(stat[open+1:end]) == comm && stat[end+2] != 'Z'
}
