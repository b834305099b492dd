package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"seatd/bench/measure"
	"seatd/bench/scenario"
	"seatd/internal/kafkatest"
)

// TestSystemEveryScenario replays every scenario, about two seconds each,
// against the whole system on one node that seatbench starts in its own
// process (seatd-system, -target-opt seatd-local=1): the gateway, seatd
// with its outbox relay, Kafka (the embedded broker, or with
// SEATD_KAFKA=real a real one, started for each), the order and pay
// services and paysim. Where the scenario's buyers pay, every paid hold
// was paid through the pay service and confirmed; and the audit ran
// every check, orders and orderflow reconcile included, and passed.
func TestSystemEveryScenario(t *testing.T) {
	files, err := filepath.Glob("../../bench/scenarios/*.json")
	if err != nil || len(files) < 4 {
		t.Fatalf("scenarios: %v, %v", files, err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			// A broker each: the order flow stops at events of another
			// cluster, as each run's is.
			brokers := strings.Join(kafkatest.Brokers(t), ",")
			sc, err := scenario.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			pays := sc.Outcome.Pay > 0
			var stdout, stderr bytes.Buffer
			cfg, err := parseFlags([]string{"-scenario", file, "-target", "seatd-system", "-target-opt", OptSeatdLocal + "=1",
				"-target-opt", OptKafkaBrokers + "=" + brokers, "-buyers", "8", "-warmup", "300ms", "-ramp", "200ms", "-duration", "1700ms",
				"-out", t.TempDir()}, &stderr, targets)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := run(context.Background(), cfg, targets, &stdout, &stderr)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Runs) != 1 || len(rep.Failed) != 0 {
				t.Fatalf("runs %d, failed %v; want one run\n%s", len(rep.Runs), rep.Failed, stderr.String())
			}
			r := rep.Runs[0]
			f := &r.Figures
			if placed(f) == 0 || f.Errors["other"] > 0 {
				t.Errorf("holds placed %d, failures %v; want holds and no failure", placed(f), f.OtherErrors)
			}
			i := slices.IndexFunc(f.Ops, func(o measure.OpFigures) bool { return o.Op == "confirm" })
			if pays && (i < 0 || f.Ops[i].OK == 0 || f.Ops[i].OK != f.Ops[i].Requests) || !pays && i >= 0 {
				t.Errorf("ops %+v; want confirms if the buyers pay (%v), every paid hold paid and sold", f.Ops, pays)
			}
			all := []string{"ledger", "seats", "counts", "holds", "orders", "reconcile"}
			if a := r.Audit; a == nil || a.Failed() || r.Failed() || !slices.Equal(a.Ran(), all) || pays != (a.Paid > 0) {
				t.Errorf("audit %s: %+v; want %v run and passed\n%s", r.AuditError, a, all, a.Text())
			}
			if !slices.ContainsFunc(r.Audit.Notes, func(n string) bool { return strings.Contains(n, "the order flow settled") }) {
				t.Errorf("audit notes %q; want the order flow's settling", r.Audit.Notes)
			}
			if r.CPU.Error != "" || len(r.CPU.Processes) == 0 {
				t.Errorf("cpu %+v", r.CPU)
			}
			if setup := rep.Settings.Setups["seatd-system"]; !strings.Contains(setup, "the order and pay services") {
				t.Errorf("setup %q", setup)
			}
		})
	}
	if os.Getenv("SEATD_KAFKA") != "real" {
		t.Log("on the embedded broker; SEATD_KAFKA=real runs this on Apache Kafka")
	}
}
