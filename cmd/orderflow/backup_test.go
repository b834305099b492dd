package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"seatd/orderflow"
	"seatd/orderflow/orderclient"
	"seatd/orderflow/orders"
	"seatd/orderflow/pay"
)

// orderflowCmd runs the built orderflow binary with args and returns its
// exit code, stdout and stderr.
func (s *sale) orderflowCmd(args ...string) (int, string, string) {
	s.t.Helper()
	cmd := exec.Command(s.flowBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	s.t.Fatalf("orderflow %s: %v", strings.Join(args, " "), err)
	return 0, "", ""
}

// arg returns the value of a process's flag.
func (p *proc) arg(name string) string { return p.args[slices.Index(p.args, name)+1] }

// setArg sets the value of a process's flag, adding it if missing.
func (p *proc) setArg(name, value string) {
	if i := slices.Index(p.args, name); i >= 0 {
		p.args[i+1] = value
		return
	}
	p.args = append(p.args, name, value)
}

// refused starts p, which must exit with an error within maxReady, and
// returns the end of its log.
func (s *sale) refused(p *proc) string {
	s.t.Helper()
	p.start(s.t)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		p.cmd = nil
		if err == nil {
			s.t.Fatalf("%s exited 0; want a refusal", p.name)
		}
	case <-time.After(maxReady):
		s.t.Fatalf("%s still runs after %v; want a refusal:\n%s", p.name, maxReady, p.tail(20))
	}
	return p.tail(5)
}

// useFlows makes the test's order client and audit use flows.
func (s *sale) useFlows(flows []*proc) {
	s.t.Helper()
	s.flows = flows
	var addrs []string
	for _, p := range flows {
		addrs = append(addrs, p.rpc)
	}
	var err error
	if s.orders, err = orderclient.New(orderclient.Config{Addrs: addrs}); err != nil {
		s.t.Fatal(err)
	}
}

// TestBackupRestore backs up a running orderflow instance with
// `orderflow backup` while buyers hold and cancel, lets the sale go on,
// stops the instance, places the backup as a new data directory with
// `orderflow restore`, and starts the instance there: it resumes from the
// backup's offsets, reads again what came after, and applies it once
// (the audit: every acknowledged hold has its one order in its hold's
// state, the versions add up to the group's events), and `orderflow
// reconcile` finds no difference. A damaged backup, backups that do not
// fit the instance, and a data directory that already holds stores are
// refused with their codes, leaving the data directory as it was.
func TestBackupRestore(t *testing.T) {
	s := startSale(t, saleConfig{embedded: true, instances: 1})
	l := newLedger()
	stop := s.load(l)
	defer func() { stop() }()
	s.waitHolds(l, 200, 30*time.Second)
	flow := s.flows[0]
	backup := filepath.Join(t.TempDir(), "b")
	code, out, errOut := s.orderflowCmd("backup", "-metrics", flow.http, "-out", backup)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("backup of instance 0 of 1 (%d partitions): %d order stores", faultPartitions, faultPartitions)) {
		t.Fatalf("orderflow backup = %d: %s%s", code, out, errOut)
	}
	t.Logf("orderflow backup: %s", strings.TrimSpace(out))
	var m backupManifest
	data, err := os.ReadFile(filepath.Join(backup, manifestName))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &m); err != nil || len(m.Stores) != faultPartitions || len(m.Files) == 0 {
		t.Fatalf("manifest: %v: %s", err, data)
	}
	if code, _, errOut := s.orderflowCmd("backup", "-metrics", flow.http, "-out", backup); code != exitFailed || !strings.Contains(errOut, "BACKUP_OUT_EXISTS") {
		t.Errorf("a backup into a used directory = %d %s; want %d BACKUP_OUT_EXISTS", code, errOut, exitFailed)
	}
	s.waitHolds(l, 200, 30*time.Second) // orders the backup lacks
	stop()
	stop = func() {}
	before := s.caughtUp()
	flow.stop(t, syscall.SIGTERM)

	// Refusals first: nothing may be placed.
	fresh := filepath.Join(t.TempDir(), "data")
	damaged := filepath.Join(t.TempDir(), "damaged")
	if err := os.CopyFS(damaged, os.DirFS(backup)); err != nil {
		t.Fatal(err)
	}
	var victim string
	for _, f := range m.Files {
		if f.Size > 0 && strings.HasPrefix(f.Path, "partition-01/") {
			victim = filepath.Join(damaged, filepath.FromSlash(f.Path))
		}
	}
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(victim, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-from", damaged, "-data", fresh}, "BACKUP_DAMAGED"},
		{[]string{"-from", filepath.Dir(fresh), "-data", fresh}, "BACKUP_DAMAGED"}, // no manifest
		{[]string{"-from", backup + "," + backup, "-instances", "1", "-data", fresh}, "BACKUP_MISMATCH: partition 0 is in"},
		{[]string{"-from", backup, "-data", flow.arg("-data")}, "already holds stores"},
	} {
		code, _, errOut := s.orderflowCmd(append([]string{"restore"}, c.args...)...)
		if code != exitFailed || !strings.Contains(errOut, c.want) {
			t.Errorf("orderflow restore %s = %d %s; want %d and %q", strings.Join(c.args, " "), code, errOut, exitFailed, c.want)
		}
		if entries, _ := os.ReadDir(fresh); len(entries) > 0 {
			t.Errorf("a refused restore left %d entries in %s", len(entries), fresh)
		}
	}

	code, out, errOut = s.orderflowCmd("restore", "-from", backup, "-data", fresh)
	if code != 0 || !strings.Contains(out, "-instance 0 -instances 1 -partitions "+strconv.Itoa(faultPartitions)) {
		t.Fatalf("orderflow restore = %d: %s%s", code, out, errOut)
	}
	flow.setArg("-data", fresh)
	flow.start(t)
	s.waitReady(flow)
	after := s.caughtUp()
	if len(after) != len(before) {
		t.Errorf("%d orders after the restore; %d before", len(after), len(before))
	}
	for no, o := range before {
		if a := after[no]; a.Version != o.Version || a.Status != o.Status {
			t.Errorf("order %s after the restore: %s version %d; want %s version %d", no, a.Status, a.Version, o.Status, o.Version)
		}
	}
	m2, err := scrape(flow.http)
	if err != nil {
		t.Fatal(err)
	}
	if m2.sum("orderflow_rebuilds_total") != 0 || m2.sum("orderflow_events_applied_total") == 0 {
		t.Errorf("the restored instance rebuilt %v stores and applied %v events; want 0 rebuilds and the events after the backup applied",
			m2.sum("orderflow_rebuilds_total"), m2.sum("orderflow_events_applied_total"))
	}

	stop = s.load(l)
	s.waitHolds(l, 100, 30*time.Second)
	stop()
	stop = func() {}
	rep := s.audit(l, 0)
	s.reconcile()
	t.Logf("%s; %s", l, rep)
}

// TestScaleOut scales the order flow from 2 instances to 3 while buyers
// hold and cancel: `orderflow rebalance-plan` names the moves, and
// refuses to make them while the instances run; with the instances
// stopped and nothing moved, instance 0 under 3 refuses its
// data directory (it holds partition-02, instance 2's now) and the new
// instance 2 refuses to start without partition 2's store (its
// changelog has records); `rebalance-plan -data ... -apply` moves the
// stores; the 3 instances start on them and resume from the stores'
// offsets. The audit (nothing lost, nothing applied twice) and
// `orderflow reconcile` pass.
func TestScaleOut(t *testing.T) {
	s := startSale(t, saleConfig{embedded: true, instances: 2})
	l := newLedger()
	stop := s.load(l)
	defer func() { stop() }()
	s.waitHolds(l, 200, 30*time.Second)

	part := strconv.Itoa(faultPartitions)
	code, out, errOut := s.orderflowCmd("rebalance-plan", "-partitions", part, "-from", "2", "-to", "3")
	want := "partition 2: instance 0 -> instance 2 (partition-02, pay/pay-02)\npartition 3: instance 1 -> instance 0 (partition-03, pay/pay-03)\n"
	if code != 0 || out != want {
		t.Fatalf("orderflow rebalance-plan = %d %q %s; want %q", code, out, errOut, want)
	}
	addrs := freeAddrs(t, 2)
	third := &proc{name: "orderflow 2", bin: s.flowBin, rpc: addrs[0], http: addrs[1], log: filepath.Join(t.TempDir(), "orderflow-2.log"),
		args: slices.Clone(s.flows[0].args)}
	third.setArg("-rpc", third.rpc)
	third.setArg("-metrics", third.http)
	third.setArg("-data", t.TempDir())
	third.setArg("-instance", "2")
	flows := []*proc{s.flows[0], s.flows[1], third}
	for _, p := range flows {
		p.setArg("-instances", "3")
	}
	t.Cleanup(func() {
		if third.cmd != nil {
			third.cmd.Process.Kill()
			third.cmd.Wait()
		}
	})
	dirs := strings.Join([]string{flows[0].arg("-data"), flows[1].arg("-data"), third.arg("-data")}, ",")
	// While the instances run, their stores are open: no move.
	code, out, errOut = s.orderflowCmd("rebalance-plan", "-partitions", part, "-from", "2", "-to", "3", "-data", dirs, "-apply")
	if code != exitFailed || !strings.Contains(errOut, "REBALANCE_REFUSED") || !strings.Contains(errOut, "open in a running orderflow") {
		t.Errorf("rebalance-plan -apply with the instances running = %d %q %s; want a refusal", code, out, errOut)
	}
	for _, p := range s.flows {
		p.stop(t, syscall.SIGTERM) // holds go on: the relay publishes them for the instances to come
	}
	if log := s.refused(flows[0]); !strings.Contains(log, "partition-02 (owned by instance 2)") {
		t.Errorf("instance 0 of 3 on its old data: %s; want a refusal naming partition-02 and instance 2", log)
	}
	if log := s.refused(third); !strings.Contains(log, "no store for partition 2 (") {
		t.Errorf("instance 2 of 3 without partition 2's store: %s; want a refusal naming partition 2", log)
	}

	code, out, errOut = s.orderflowCmd("rebalance-plan", "-partitions", part, "-from", "2", "-to", "3", "-data", dirs, "-apply")
	if code != 0 || strings.Count(out, "moved ") != 2 {
		t.Fatalf("orderflow rebalance-plan -apply = %d %q %s; want 2 moves", code, out, errOut)
	}
	t.Logf("orderflow rebalance-plan -apply:\n%s", out)
	for _, p := range flows {
		p.start(t)
	}
	for _, p := range flows {
		s.waitReady(p)
	}
	s.useFlows(flows)
	s.waitHolds(l, 200, 30*time.Second)
	stop()
	stop = func() {}
	rep := s.audit(l, 0, 1, 2)
	s.reconcile()
	t.Logf("%s; %s", l, rep)
}

// TestBackupWithPay backs up an instance running the pay service through
// its admin handler after an order was paid (the order PAID, its hold
// confirmed), restores the backup into a new data directory, and starts
// the order and pay services on it: the order is PAID, and the pay
// service knows the paying trade (its out_trade_no), which no changelog
// could have given back. A backup asked while the pay service has not
// started is refused (503).
func TestBackupWithPay(t *testing.T) {
	s := startPaidSystem(t)
	const buyer = 7
	no, _ := s.hold(buyer, 2)
	otn := s.pay(no, buyer)
	s.await(no, func(o orders.Order) bool {
		return o.Status == orders.StatusPaid && o.HoldStatus == orders.HoldConfirmed
	})

	var ref atomic.Pointer[pay.Service]
	srv := httptest.NewServer(backupHandler(s.flowDir, s.svc, true, &ref))
	defer srv.Close()
	ctx := context.Background()
	addr := strings.TrimPrefix(srv.URL, "http://")
	out := filepath.Join(t.TempDir(), "b")
	var stdout, stderr bytes.Buffer
	noenv := func(string) string { return "" }
	if code := runBackup(ctx, []string{"-metrics", addr, "-out", out}, noenv, &stdout, &stderr); code != exitFailed || !strings.Contains(stderr.String(), "503") {
		t.Errorf("backup before the pay service started = %d %s; want %d and 503", code, stderr.String(), exitFailed)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused backup left %s: %v", out, err)
	}
	ref.Store(s.paySvc)
	stdout.Reset()
	stderr.Reset()
	if code := runBackup(ctx, []string{"-metrics", addr, "-out", out}, noenv, &stdout, &stderr); code != exitDone ||
		!strings.Contains(stdout.String(), fmt.Sprintf("%d order stores, %d pay stores", reconcilePartitions, reconcilePartitions)) {
		t.Fatalf("orderflow backup = %d %s%s", code, stdout.String(), stderr.String())
	}
	if entries, _ := os.ReadDir(filepath.Join(s.flowDir, backupTmp)); len(entries) > 0 {
		t.Errorf("the instance kept its checkpoints in %s", backupTmp)
	}
	s.svc.Close()
	s.paySvc.Close()

	data := t.TempDir()
	stdout.Reset()
	if code := runRestore([]string{"-from", out, "-data", data}, noenv, &stdout, &stderr); code != exitDone {
		t.Fatalf("orderflow restore = %d %s", code, stderr.String())
	}
	for p := range reconcilePartitions {
		for _, d := range []string{fmt.Sprintf("partition-%02d", p), fmt.Sprintf("pay/pay-%02d", p)} {
			if _, err := os.Stat(filepath.Join(data, d)); err != nil {
				t.Errorf("restored %s: %v", d, err)
			}
		}
	}
	svc, err := orderflow.New(orderflow.Config{Brokers: s.brokers, Instance: 0, Instances: 1, Partitions: reconcilePartitions, DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := svc.Start(sctx); err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	ps, err := pay.New(pay.Config{Brokers: s.brokers, DataDir: filepath.Join(data, "pay"), Orders: svc, Providers: s.providers,
		NotifyURLs: map[string]string{"alipay": "http://127.0.0.1:1/alipay", "wechat": "http://127.0.0.1:1/wechat"},
		QueryAfter: time.Hour, MaxQueryInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.Start(sctx); err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if err := svc.WaitReady(sctx); err != nil {
		t.Fatal(err)
	}
	if o, err := svc.Order(no); err != nil || o.Status != orders.StatusPaid {
		t.Errorf("restored order %d = %+v, %v; want PAID", no, o, err)
	}
	if p, err := ps.PaymentStatus(sctx, no, buyer); err != nil || p.OutTradeNo != otn {
		t.Errorf("restored pay service's trade of order %d = %+v, %v; want %s", no, p, err, otn)
	}

	// A pay store left at an instance that no longer owns its partition
	// stops the pay service's start: its trades are in no changelog.
	half, err := orderflow.New(orderflow.Config{Brokers: s.brokers, Instance: 0, Instances: 2, Partitions: reconcilePartitions, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	payDir := t.TempDir()
	if err := os.Mkdir(filepath.Join(payDir, "pay-01"), 0o755); err != nil {
		t.Fatal(err)
	}
	foreign, err := pay.New(pay.Config{Brokers: s.brokers, DataDir: payDir, Orders: half, Providers: s.providers,
		NotifyURLs: map[string]string{"alipay": "http://127.0.0.1:1/alipay", "wechat": "http://127.0.0.1:1/wechat"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := foreign.Start(sctx); !errors.Is(err, orderflow.ErrForeignStore) || !strings.Contains(err.Error(), "pay-01 (owned by instance 1)") {
		t.Errorf("pay service of instance 0 of 2 with pay-01 = %v; want ErrForeignStore naming pay-01", err)
	}
}
