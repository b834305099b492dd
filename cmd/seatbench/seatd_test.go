package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
)

// TestSeatdTargets replays the stadium and the train, about two seconds
// a target, against seatd-rpc and seatd-http, each on a cluster seatbench
// starts in its own process (-target-opt seatd-local: three nodes for
// the stadium, whose followers learn a new program's placement a moment
// after its create; one for the train). Each
// run placed holds, none failed, its check passed, and it says what it
// persists; the train's holds for part of the journey were sold as such
// (no note of holds asked for the whole journey), over RPC paid holds
// were confirmed, and both were audited against seatd's own state.
func TestSeatdTargets(t *testing.T) {
	for sc, nodes := range map[string]int{"stadium": 3, "train": 1} {
		t.Run(sc, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cfg, err := parseFlags([]string{"-scenario", "../../bench/scenarios/" + sc + ".json", "-target", "seatd-rpc,seatd-http",
				"-target-opt", OptSeatdLocal + "=" + strconv.Itoa(nodes), "-buyers", "8", "-warmup", "300ms", "-ramp", "200ms", "-duration", "1700ms",
				"-out", t.TempDir()}, &stderr, targets)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := run(context.Background(), cfg, targets, &stdout, &stderr)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Failed) != 0 || len(rep.Runs) != 2 {
				t.Fatalf("failed %v, %d runs; want a run of each of %v\n%s", rep.Failed, len(rep.Runs), cfg.Targets, stderr.String())
			}
			for _, r := range rep.Runs {
				f := &r.Figures
				if placed(f) == 0 || f.Holds.Requests == 0 {
					t.Errorf("%s: holds placed %d, %d asked in the measured window; want some", r.Target, placed(f), f.Holds.Requests)
				}
				if f.Errors["other"] > 0 {
					t.Errorf("%s: failures %v", r.Target, f.OtherErrors)
				}
				if r.Check != "ok" {
					t.Errorf("%s: check: %s", r.Target, r.Check)
				}
				// seatd shows its seat map, counters and holds to the audit
				// (audit.ReadSeatd; over HTTP through the cluster's routing
				// client), and each of them agrees.
				ran := map[string]bool{}
				if r.Audit != nil {
					for _, c := range r.Audit.Checks {
						ran[c.Name] = c.Ran
					}
				}
				if r.Audit == nil || r.Audit.Failed() || !ran["seats"] || !ran["counts"] || !ran["holds"] {
					t.Errorf("%s: audit %+v; want the seats, counts and holds checks run and passed", r.Target, r.Audit)
				}
				if !strings.HasPrefix(r.Persists, "seatd, "+strconv.Itoa(nodes)+" replica(s)") {
					t.Errorf("%s: persists %q; want seatd's one replica", r.Target, r.Persists)
				}
				for _, n := range r.Notes {
					if strings.Contains(n, "whole journey") || (r.Target == "seatd-rpc" && strings.Contains(n, "no confirm")) {
						t.Errorf("%s: note %q", r.Target, n)
					}
				}
				if !strings.Contains(rep.Settings.Setups[r.Target], "in-process seatd cluster of "+strconv.Itoa(nodes)+" node(s)") {
					t.Errorf("%s: setup %q", r.Target, rep.Settings.Setups[r.Target])
				}
			}
		})
	}
}

// TestSeatdOptions: seatd's targets say what they lack before any
// target runs, and take addresses from the environment.
func TestSeatdOptions(t *testing.T) {
	for _, env := range []string{EnvSeatdAddrs, EnvGatewayURL, EnvJWTSecret, EnvAdminToken} {
		t.Setenv(env, "")
	}
	var stderr bytes.Buffer
	_, err := parseFlags([]string{"-target", "seatd-rpc,seatd-http"}, &stderr, targets)
	for _, want := range []string{"-target seatd-rpc: no seatd address", "-target seatd-http: no gateway URL",
		"no gateway secret of at least 32 bytes", "no admin token"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseFlags(no addresses) = %v; want it to say %q", err, want)
		}
	}
	_, err = parseFlags([]string{"-target", "seatd-rpc", "-target-opt", OptSeatdLocal + "=9", "-target-opt", OptSeatdPIDs + "=x"}, &stderr, targets)
	for _, want := range []string{"seatd-local=\"9\": want a node count, 1-7", "seatd-pids: \"x\" is not a process id"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseFlags(bad options) = %v; want it to say %q", err, want)
		}
	}
	t.Setenv(EnvSeatdAddrs, "127.0.0.1:7100")
	t.Setenv(EnvGatewayURL, "http://127.0.0.1:8080")
	t.Setenv(EnvJWTSecret, strings.Repeat("s", 32))
	t.Setenv(EnvAdminToken, strings.Repeat("a", 16))
	if _, err := parseFlags([]string{"-target", "seatd-rpc,seatd-http"}, &stderr, targets); err != nil {
		t.Errorf("parseFlags(addresses in the environment) = %v", err)
	}
}
