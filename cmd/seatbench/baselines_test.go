package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"seatd/bench/baseline/redislua"
	"seatd/bench/measure"
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
}
