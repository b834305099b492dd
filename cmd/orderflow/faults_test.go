package main

// The order flow under faults, end to end and against a real broker
// (issue 10, "How it is proved"): three seatd processes publish their
// outboxes through the relay to an Apache Kafka 4.4 broker
// (kafkatest.Real), orderflow processes turn the events into orders, and
// buyers place and release holds through the routing client while a
// fault strikes. Each test ends with an audit (sale.audit): every
// acknowledged hold has exactly one order, in the state of its hold, with
// its seats and total; no order is left unexplained; no event applied
// twice.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"

	"seatd/gateway"
	"seatd/internal/kafkatest"
	"seatd/internal/localserver"
	"seatd/inventory"
	rpc "seatd/kitex_gen/inventoryrpc"
	invsvc "seatd/kitex_gen/inventoryrpc/inventory"
	"seatd/orderflow/events"
	"seatd/orderflow/orderclient"
	"seatd/orderflow/orders"
	"seatd/seatclient"
)

const (
	// faultPartitions is the partition count of both topics: a few, so
	// that two instances own several each without a reader per core.
	faultPartitions = 4
	// faultBuyers place holds at once, each as its own user (ids 1-16,
	// genes 1-16, so every partition has buyers).
	faultBuyers = 16
	// faultProgram is the program on sale: 5,000 seats.
	faultProgram             = "show"
	faultRows, faultCols     = 100, 50
	faultPriceCents          = 2500
	maxCatchUp               = 60 * time.Second // for the order service to apply everything the relay published
	maxProcessStop           = 30 * time.Second
	maxReady                 = 60 * time.Second
	holdsEvery               = 40 * time.Millisecond // each buyer's pace: at most 400 holds/s in all
	releaseShare             = 3                     // buyers release 2 holds of every releaseShare
	faultRequestDeadlineSpan = 15 * time.Second
)

// built are the binaries the fault tests run, built once per test
// binary (each build links for seconds) and removed by TestMain.
var built struct {
	once                         sync.Once
	dir, seatd, orderflow, fails string
}

// buildFaultBinaries builds seatd and orderflow into a temporary
// directory, once.
func buildFaultBinaries(t *testing.T) (seatdBin, orderflowBin string) {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "orderflow-faults-")
		if err != nil {
			built.fails = err.Error()
			return
		}
		built.dir, built.seatd, built.orderflow = dir, filepath.Join(dir, "seatd"), filepath.Join(dir, "orderflow")
		for _, b := range [][2]string{{built.seatd, "seatd/cmd/seatd"}, {built.orderflow, "."}} {
			if out, err := exec.Command("go", "build", "-o", b[0], b[1]).CombinedOutput(); err != nil {
				built.fails = fmt.Sprintf("go build %s: %v\n%s", b[1], err, out)
				return
			}
		}
	})
	if built.fails != "" {
		t.Fatal(built.fails)
	}
	return built.seatd, built.orderflow
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// freeAddrs returns n distinct loopback addresses reserved for this test
// binary (localserver.FreePorts): a process killed and started again
// binds them again, and no other process is given them meanwhile.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	addrs, err := localserver.FreeAddrs(n)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

// proc is a seatd or orderflow process, which a test kills and starts
// again with the same arguments (so the same ports and data).
type proc struct {
	name string
	bin  string
	args []string
	rpc  string // Kitex address
	http string // seatd's admin or orderflow's metrics address: /metrics, /readyz
	log  string // its stderr, across restarts
	cmd  *exec.Cmd
	runs int
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // the child has its own copy
	p.runs++
	fmt.Fprintf(f, "=== run %d at %s\n", p.runs, time.Now().Format(time.RFC3339Nano))
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test binary
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
}

// stop sends sig and waits for the process to exit.
func (p *proc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() {
		p.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(maxProcessStop):
		p.cmd.Process.Kill()
		<-done
		t.Errorf("%s ignored %v for %v", p.name, sig, maxProcessStop)
	}
	p.cmd = nil
}

// tail returns the end of the process's log.
func (p *proc) tail(lines int) string {
	data, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// saleConfig shapes a test's system.
type saleConfig struct {
	instances int           // orderflow instances; default 1
	maxOutbox int           // seatd -max-outbox; 0: its default
	holdTTL   time.Duration // the program's hold TTL; 0: the default, 15 minutes
	seatdArgs []string      // more seatd flags
	// embedded runs the sale on kafkatest.Brokers (the in-process kfake
	// broker, or a real one with SEATD_KAFKA=real) rather than Real: for
	// tests about the order flow's own stores, not the broker's faults
	// (sale.broker is then nil).
	embedded bool
	// pay, when set, runs the payment side too (payfaults_test.go):
	// paysim and the gateway in the test process, both providers in
	// every orderflow process, which confirm in seatd.
	pay *payConfig
}

// sale is the system under test: a real broker, three seatd nodes with
// their relays, the orderflow instances, and clients of both.
type sale struct {
	t      *testing.T
	cfg    saleConfig
	broker *kafkatest.Broker
	nodes  []*proc
	flows  []*proc
	inv    *seatclient.Client
	orders *orderclient.Client
	group  int32 // the program's group

	seeds   []string // seatd RPC addresses
	flowBin string   // the orderflow binary, for `orderflow reconcile`
	paySide          // with saleConfig.pay: paysim and the gateway
}

// startSale starts the broker, seatd and orderflow, creates the program
// and opens its sale, and waits until every orderflow instance is ready.
func startSale(t *testing.T, cfg saleConfig) *sale {
	if cfg.instances == 0 {
		cfg.instances = 1
	}
	s := &sale{t: t, cfg: cfg}
	var brokerAddrs []string
	if cfg.embedded {
		brokerAddrs = kafkatest.Brokers(t)
	} else {
		s.broker = kafkatest.Real(t)
		brokerAddrs = s.broker.Addrs()
	}
	seatdBin, orderflowBin := buildFaultBinaries(t)
	brokers := strings.Join(brokerAddrs, ",")
	logs := t.TempDir()
	t.Cleanup(func() {
		for _, p := range append(slices.Clone(s.flows), s.nodes...) {
			if p.cmd != nil {
				p.cmd.Process.Kill()
				p.cmd.Wait()
			}
			if t.Failed() {
				t.Logf("the end of %s's log:\n%s", p.name, p.tail(30))
			}
		}
	})

	// Every address at once: freeAddr, one at a time, may hand out a port
	// it handed out a moment ago.
	addrs := freeAddrs(t, 3*3+2*cfg.instances)
	next := func() string {
		a := addrs[0]
		addrs = addrs[1:]
		return a
	}
	raftAddrs := []string{next(), next(), next()}
	var peers, seeds []string
	for i, a := range raftAddrs {
		peers = append(peers, fmt.Sprintf("n%d=%s", i+1, a))
	}
	for i := range 3 {
		p := &proc{name: fmt.Sprintf("seatd n%d", i+1), bin: seatdBin, rpc: next(), http: next(),
			log: filepath.Join(logs, fmt.Sprintf("seatd-n%d.log", i+1))}
		p.args = []string{"run", "-id", fmt.Sprintf("n%d", i+1), "-data-dir", t.TempDir(), "-raft-addr", raftAddrs[i],
			"-rpc-addr", p.rpc, "-admin-addr", p.http, "-groups", "2", "-log-level", "warn",
			"-bootstrap", "-peers", strings.Join(peers, ","),
			"-kafka-brokers", brokers, "-kafka-partitions", strconv.Itoa(faultPartitions)}
		if cfg.maxOutbox > 0 {
			p.args = append(p.args, "-max-outbox", strconv.Itoa(cfg.maxOutbox))
		}
		p.args = append(p.args, cfg.seatdArgs...)
		p.start(t)
		s.nodes = append(s.nodes, p)
		seeds = append(seeds, p.rpc)
	}
	s.seeds, s.flowBin = seeds, orderflowBin
	var err error
	if s.inv, err = seatclient.New(seatclient.Config{Seeds: seeds, MaxBackoff: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	s.group = s.createOpen()

	var payArgs []string
	if cfg.pay != nil {
		payArgs = s.preparePay()
	}
	var flowAddrs []string
	for i := range cfg.instances {
		p := &proc{name: fmt.Sprintf("orderflow %d", i), bin: orderflowBin, rpc: next(), http: next(),
			log: filepath.Join(logs, fmt.Sprintf("orderflow-%d.log", i))}
		p.args = []string{"-brokers", brokers, "-instance", strconv.Itoa(i), "-instances", strconv.Itoa(cfg.instances),
			"-partitions", strconv.Itoa(faultPartitions), "-data", t.TempDir(), "-rpc", p.rpc, "-metrics", p.http, "-log-level", "warn"}
		p.args = append(p.args, payArgs...)
		p.start(t)
		s.flows = append(s.flows, p)
		flowAddrs = append(flowAddrs, p.rpc)
	}
	for _, p := range s.flows {
		s.waitReady(p)
	}
	if s.orders, err = orderclient.New(orderclient.Config{Addrs: flowAddrs}); err != nil {
		t.Fatal(err)
	}
	if cfg.pay != nil {
		s.startGateway()
	}
	return s
}

// createOpen creates the program, retrying while the cluster elects its
// leaders, opens its sale, and returns its group.
func (s *sale) createOpen() int32 {
	t := s.t
	spec := &rpc.ProgramSpec{Id: faultProgram, HoldTtlSeconds: int64(s.cfg.holdTTL / time.Second), MaxSeatsPerHold: 4,
		MaxSeatsPerUser: 1 << 16, Categories: []*rpc.Category{{Id: "a", PriceCents: faultPriceCents}}}
	sec := &rpc.Section{Id: "A"}
	for r := range faultRows {
		row := &rpc.Row{Id: strconv.Itoa(r + 1), Rank: int32(r + 1)}
		for c := range faultCols {
			row.Seats = append(row.Seats, &rpc.Seat{Col: int32(c + 1), Category: "a"})
		}
		sec.Rows = append(sec.Rows, row)
	}
	spec.Sections = []*rpc.Section{sec}
	ctx := context.Background()
	for deadline := time.Now().Add(60 * time.Second); ; {
		cp, err := s.inv.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: spec})
		if err == nil && cp.Status.Route == rpc.Route_OK && (cp.Status.CodeName == "ok" || cp.Identical) {
			if r, err := s.inv.SetSale(ctx, &rpc.SetSaleRequest{ProgramId: faultProgram, Open: true}); err != nil || r.Status.CodeName != "ok" {
				t.Fatalf("SetSale = %v, %v", r, err)
			}
			return cp.Status.Group
		}
		if time.Now().After(deadline) {
			t.Fatalf("CreateProgram = %v, %v", cp, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readyz returns the status and body of a process's /readyz.
func readyz(p *proc) (int, string, error) {
	resp, err := http.Get("http://" + p.http + "/readyz")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body)), nil
}

// waitReady waits until an orderflow process's /readyz answers 200.
func (s *sale) waitReady(p *proc) {
	s.t.Helper()
	for deadline := time.Now().Add(maxReady); ; {
		code, body, err := readyz(p)
		if err == nil && code == http.StatusOK {
			return
		}
		if p.cmd.ProcessState != nil {
			s.t.Fatalf("%s exited before it was ready", p.name)
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s not ready in %v: %d %s %v", p.name, maxReady, code, body, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metrics are one scrape of a /metrics page: series ("name{labels}") to
// value.
type metrics map[string]float64

func scrape(addr string) (metrics, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", addr, resp.Status)
	}
	m := metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("%s/metrics: %q: %v", addr, line, err)
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// sum adds up every series of a metric.
func (m metrics) sum(name string) float64 {
	var total float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			total += v
		}
	}
	return total
}

// flowMetric sums a metric over the orderflow processes.
func (s *sale) flowMetric(name string) (float64, error) {
	var total float64
	for _, p := range s.flows {
		m, err := scrape(p.http)
		if err != nil {
			return 0, err
		}
		total += m.sum(name)
	}
	return total, nil
}

// outbox reads the outbox of the program's group from every seatd node:
// its last seq (the group's distinct events: seqs run from 1 without
// gaps) and the most any replica still holds unacknowledged.
func (s *sale) outbox() (last, pending uint64, err error) {
	group := fmt.Sprintf(`{group="%d"}`, s.group)
	for _, p := range s.nodes {
		m, err := scrape(p.http)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", p.name, err)
		}
		l, ok := m["seatd_outbox_last_seq"+group]
		if !ok {
			return 0, 0, fmt.Errorf("%s: no seatd_outbox_last_seq%s", p.name, group)
		}
		last = max(last, uint64(l))
		pending = max(pending, uint64(m["seatd_outbox_events"+group]))
	}
	return last, pending, nil
}

func directClient(addr string) (invsvc.Client, error) {
	return invsvc.NewClient("seatd", client.WithHostPorts(addr), client.WithRPCTimeout(2*time.Second))
}

// leader returns the seatd node leading the program's group in the
// newest term, as the nodes report it, waiting up to 15 s for one (an
// election after a kill); nil if none leads by then.
func (s *sale) leader() *proc {
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if lead := s.leaderNow(); lead != nil || time.Now().After(deadline) {
			return lead
		}
	}
}

// leaderNow is leader without waiting: nil while no node leads.
func (s *sale) leaderNow() *proc {
	var lead *proc
	var term int64
	for _, p := range s.nodes {
		c, err := directClient(p.rpc)
		if err != nil {
			continue
		}
		st, err := c.ClusterStatus(context.Background(), &rpc.ClusterStatusRequest{})
		if err != nil {
			continue
		}
		for _, g := range st.Groups {
			if g.Group == s.group && g.State == "Leader" && g.Term > term {
				lead, term = p, g.Term
			}
		}
	}
	return lead
}

// ledger is what the buyers were told.
type ledger struct {
	mu       sync.Mutex
	holds    map[int64]*rpc.Hold // acknowledged holds by id, as placed
	released map[int64]bool      // holds whose release (cancelled) was acknowledged
	// ambiguous counts PlaceHold calls that ended without an answer:
	// each may have placed a hold, which the audit reads back from seatd.
	ambiguous int
	refused   map[string]int // answers other than ok, by code name
}

func newLedger() *ledger {
	return &ledger{holds: map[int64]*rpc.Hold{}, released: map[int64]bool{}, refused: map[string]int{}}
}

func (l *ledger) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%d holds acknowledged, %d releases acknowledged, %d ambiguous calls, refusals %v",
		len(l.holds), len(l.released), l.ambiguous, l.refused)
}

// placeHold places a hold of n seats for user and records the outcome:
// the response's code name ("ok", a refusal's name, or "" for a call that
// failed without an answer).
func (s *sale) placeHold(l *ledger, user int64, n int32) (*rpc.Hold, string) {
	ctx, cancel := context.WithTimeout(context.Background(), faultRequestDeadlineSpan)
	defer cancel()
	r, err := s.inv.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: faultProgram, UserId: user, Count: n, Together: true})
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil:
		l.ambiguous++
		return nil, ""
	case r.Status.Route != rpc.Route_OK:
		l.refused["route_"+r.Status.Route.String()]++
		return nil, "route_" + r.Status.Route.String()
	case r.Status.CodeName != "ok":
		l.refused[r.Status.CodeName]++
		return nil, r.Status.CodeName
	}
	l.holds[r.Hold.HoldId] = r.Hold
	return r.Hold, "ok"
}

// release cancels a hold as its buyer, recording an acknowledged release.
func (s *sale) release(l *ledger, h *rpc.Hold) {
	ctx, cancel := context.WithTimeout(context.Background(), faultRequestDeadlineSpan)
	defer cancel()
	r, err := s.inv.Release(ctx, &rpc.ReleaseRequest{HoldId: h.HoldId, UserId: h.UserId, Reason: "cancelled"})
	if err == nil && r.Status.Route == rpc.Route_OK && r.Status.CodeName == "ok" {
		l.mu.Lock()
		l.released[h.HoldId] = true
		l.mu.Unlock()
	}
}

// load runs faultBuyers buyers until the returned stop is called: each
// holds 1-2 seats every holdsEvery and cancels two of every three of its
// holds at once, so that orders are placed and cancelled while the fault
// strikes and the venue does not sell out.
func (s *sale) load(l *ledger) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for b := range faultBuyers {
		wg.Go(func() {
			tick := time.NewTicker(holdsEvery)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				h, code := s.placeHold(l, int64(b+1), 1+int32(i%2))
				if code == "ok" && i%releaseShare != 0 {
					s.release(l, h)
				}
			}
		})
	}
	return func() {
		close(done)
		wg.Wait()
	}
}

// waitHolds waits until at least n more holds than before are
// acknowledged, failing after d.
func (s *sale) waitHolds(l *ledger, n int, d time.Duration) {
	s.t.Helper()
	l.mu.Lock()
	want := len(l.holds) + n
	l.mu.Unlock()
	for deadline := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		l.mu.Lock()
		got := len(l.holds)
		l.mu.Unlock()
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%d holds acknowledged in %v, want %d: %s", got-want+n, d, n, l)
		}
	}
}

// allOrders reads every order of every buyer from the order service,
// page by page; the caller retries on an error (an instance restarting).
func (s *sale) allOrders() (map[string]orders.Order, error) {
	all := map[string]orders.Order{}
	ctx := context.Background()
	for user := uint64(1); user <= faultBuyers; user++ {
		for cursor := ""; ; {
			page, err := s.orders.Orders(ctx, user, cursor, orders.MaxListLimit)
			if err != nil {
				return nil, fmt.Errorf("orders of user %d: %w", user, err)
			}
			for _, o := range page.Orders {
				if _, dup := all[o.OrderNo]; dup {
					return nil, fmt.Errorf("order %s listed twice", o.OrderNo)
				}
				all[o.OrderNo] = o
			}
			if cursor = page.Next; cursor == "" {
				break
			}
		}
	}
	return all, nil
}

// versions adds up the versions of the orders keep takes (all when nil):
// the transitions they went through.
func versions(all map[string]orders.Order, keep func(orders.Order) bool) uint64 {
	var v uint64
	for _, o := range all {
		if keep == nil || keep(o) {
			v += o.Version
		}
	}
	return v
}

// caughtUp waits until the relay has published every event of the
// program's group and the order service has applied each: the sum of the
// orders' versions (one per transition) is the group's event count. Load
// has stopped, but holds may still lapse, adding events. A sum above the
// count is an event applied twice, which waiting does not mend.
func (s *sale) caughtUp() map[string]orders.Order {
	t := s.t
	t.Helper()
	var why string
	for deadline := time.Now().Add(maxCatchUp); ; time.Sleep(200 * time.Millisecond) {
		before, pending, err1 := s.outbox()
		all, err2 := s.allOrders()
		after, _, err3 := s.outbox()
		if err := errors.Join(err1, err2, err3); err != nil {
			why = err.Error()
		} else {
			v := versions(all, nil)
			if v > after {
				t.Fatalf("the orders' versions add up to %d, but group %d has %d events: an event was applied twice", v, s.group, after)
			}
			if pending == 0 && v == before && before == after {
				return all
			}
			why = fmt.Sprintf("%d events, %d unacknowledged by the relay, %d applied to orders", after, pending, v)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the order service did not catch up in %v: %s", maxCatchUp, why)
		}
	}
}

// auditReport is what an audit found.
type auditReport struct {
	orders, pending, cancelled, expired int
	explained                           int // orders of calls that failed ambiguously but had placed their hold
	events                              uint64
	duplicates                          float64 // re-deliveries the order service absorbed, as its processes count them now
	took                                time.Duration
}

func (r auditReport) String() string {
	return fmt.Sprintf("audit in %v: %d orders (checked %d PENDING_PAYMENT, %d CANCELLED, %d EXPIRED; %d from ambiguous calls), %d events, %.0f duplicates absorbed",
		r.took.Round(time.Millisecond), r.orders, r.pending, r.cancelled, r.expired, r.explained, r.events, r.duplicates)
}

// audit checks the order service against what the buyers were told and
// what seatd holds; call it once the load has stopped. restarted marks
// the orderflow instances started again during the test, whose
// counters begin anew.
//
//   - Every acknowledged hold has exactly one order, with its hold id,
//     buyer, program, seats and total, in its hold's state as seatd has
//     it now (HELD: PENDING_PAYMENT, version 1; released by the buyer:
//     CANCELLED, version 2; lapsed: EXPIRED, version 2); a release the
//     buyer was told of is CANCELLED.
//   - Any other order is a hold placed by a call that failed without an
//     answer: seatd has it, with the order's number and buyer, and there
//     are no more of them than such calls. No hold has two orders.
//   - No event applied twice: the versions add up to the group's event
//     count, and each instance that ran throughout counted exactly its
//     partitions' versions as applied (a restarted one at most that).
//     No illegal transition, no skipped event.
func (s *sale) audit(l *ledger, restarted ...int) auditReport {
	t := s.t
	t.Helper()
	began := time.Now()
	all := s.caughtUp()
	l.mu.Lock()
	defer l.mu.Unlock()

	var rep auditReport
	byHold := map[string]string{} // hold id -> order number
	for no, o := range all {
		if other, ok := byHold[o.HoldID]; ok {
			t.Errorf("hold %s has orders %s and %s", o.HoldID, other, no)
		}
		byHold[o.HoldID] = no
	}
	type check struct {
		o        orders.Order
		hold     *rpc.Hold // as acknowledged; nil for an order of an ambiguous call
		released bool
	}
	var checks []check
	for id, h := range l.holds {
		o, ok := all[strconv.FormatInt(h.OrderNo, 10)]
		if !ok {
			t.Errorf("acknowledged hold %d (order %d, user %d) has no order", id, h.OrderNo, h.UserId)
			continue
		}
		checks = append(checks, check{o: o, hold: h, released: l.released[id]})
	}
	for no, o := range all {
		id, err := strconv.ParseInt(o.HoldID, 10, 64)
		if err != nil {
			t.Errorf("order %s: hold id %q", no, o.HoldID)
			continue
		}
		if _, ok := l.holds[id]; !ok {
			checks = append(checks, check{o: o})
			rep.explained++
		}
	}
	if rep.explained > l.ambiguous {
		t.Errorf("%d orders of holds no buyer was told of, from %d ambiguous calls", rep.explained, l.ambiguous)
	}

	// Each order against its hold as seatd has it now, 8 at a time.
	type result struct {
		status orders.Status // as verified
		err    error
	}
	results := make(chan result, len(checks))
	work := make(chan check)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for c := range work {
				st, err := s.checkOrder(c.o, c.hold, c.released)
				results <- result{st, err}
			}
		})
	}
	for _, c := range checks {
		work <- c
	}
	close(work)
	wg.Wait()
	close(results)
	failures := 0
	for r := range results {
		switch {
		case r.err != nil:
			if failures++; failures <= 20 {
				t.Error(r.err)
			}
		case r.status == orders.StatusPendingPayment:
			rep.pending++
		case r.status == orders.StatusCancelled:
			rep.cancelled++
		case r.status == orders.StatusExpired:
			rep.expired++
		}
	}
	if failures > 20 {
		t.Errorf("... %d orders wrong in all", failures)
	}

	// No event applied twice, by the counters. Holds still lapse while
	// the audit runs (each lapse is one more event), so the orders, the
	// group's event count and the counters are read until they were taken
	// with no event between them.
	var final map[string]orders.Order
	var problems []string
	for attempt := 0; ; attempt++ {
		problems = problems[:0]
		// caughtUp returns the orders once their versions add up to the
		// group's event count, read before and after them.
		final = s.caughtUp()
		rep.events, rep.duplicates = versions(final, nil), 0
		for i, p := range s.flows {
			m, err := scrape(p.http)
			if err != nil {
				t.Fatal(err)
			}
			owned := versions(final, func(o orders.Order) bool {
				no, _ := o.Number()
				return events.PartitionOfOrder(no, faultPartitions)%len(s.flows) == i
			})
			applied := uint64(m.sum("orderflow_events_applied_total"))
			switch {
			case slices.Contains(restarted, i) && applied > owned:
				problems = append(problems, fmt.Sprintf("%s applied %d events since its restart; its partitions' orders went through %d", p.name, applied, owned))
			case !slices.Contains(restarted, i) && applied != owned:
				problems = append(problems, fmt.Sprintf("%s applied %d events; its partitions' orders went through %d transitions", p.name, applied, owned))
			}
			if n := m.sum("orderflow_illegal_transitions_total") + m.sum("orderflow_events_skipped_total"); n != 0 {
				problems = append(problems, fmt.Sprintf("%s: %v illegal transitions or skipped events", p.name, n))
			}
			rep.duplicates += m.sum("orderflow_events_duplicate_total")
		}
		after, _, err := s.outbox()
		if err != nil {
			t.Fatal(err)
		}
		if after == rep.events || attempt == 20 {
			break // nothing happened while reading: the figures are one moment's
		}
	}
	for _, p := range problems {
		t.Error(p)
	}
	rep.orders = len(final)
	rep.took = time.Since(began)
	return rep
}

func (s *sale) allOrdersRetry() (map[string]orders.Order, error) {
	var err error
	for deadline := time.Now().Add(maxReady); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var all map[string]orders.Order
		if all, err = s.allOrders(); err == nil {
			return all, nil
		}
	}
	return nil, err
}

// checkOrder checks an order against its hold as acknowledged (nil for a
// hold of an ambiguous call) and as seatd has it now. An order read
// PENDING_PAYMENT whose hold seatd has released since is read again
// until the release reaches it.
func (s *sale) checkOrder(o orders.Order, acked *rpc.Hold, released bool) (orders.Status, error) {
	ctx := context.Background()
	id, _ := strconv.ParseInt(o.HoldID, 10, 64)
	var h *rpc.Hold
	for deadline := time.Now().Add(maxCatchUp); ; time.Sleep(20 * time.Millisecond) {
		r, err := s.inv.GetHold(ctx, &rpc.GetHoldRequest{HoldId: id, Consistent: true})
		switch {
		case err == nil && r.Status.CodeName == "ok":
			h = r.Hold
		case err == nil:
			return "", fmt.Errorf("order %s: GetHold(%d) = %s; the order's hold is not in seatd", o.OrderNo, id, r.Status.CodeName)
		case time.Now().After(deadline):
			return "", fmt.Errorf("order %s: GetHold(%d): %v", o.OrderNo, id, err)
		default:
			continue
		}
		if o.Status != orders.StatusPendingPayment || h.Status == "HELD" || time.Now().After(deadline) {
			break
		}
		no, _ := o.Number()
		if next, err := s.orders.Order(ctx, no); err == nil {
			o = next
		}
	}
	if acked == nil {
		acked = h
	}
	var problems []string
	want := func(field string, got, want any) {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			problems = append(problems, fmt.Sprintf("%s %v, want %v", field, got, want))
		}
	}
	want("order_no", o.OrderNo, acked.OrderNo)
	want("user_id", o.UserID, acked.UserId)
	want("program_id", o.ProgramID, acked.ProgramId)
	want("total_cents", o.TotalCents, acked.TotalCents)
	var seats, wantSeats []string
	for _, st := range o.Seats {
		seats = append(seats, fmt.Sprintf("%s %s %s %d", st.ID, st.Label, st.Category, st.PriceCents))
	}
	for _, st := range acked.Seats {
		wantSeats = append(wantSeats, fmt.Sprintf("%s %s %s %d", st.Id, st.Label, st.Category, st.PriceCents))
	}
	want("seats", seats, wantSeats)
	want("seatd's order_no", h.OrderNo, acked.OrderNo)
	switch {
	case h.Status == "HELD":
		want("status", o.Status, orders.StatusPendingPayment)
		want("version", o.Version, 1)
	case h.Status == "RELEASED" && h.Reason == "cancelled":
		want("status", o.Status, orders.StatusCancelled)
		want("version", o.Version, 2)
	case h.Status == "RELEASED" && h.Reason == "expired":
		want("status", o.Status, orders.StatusExpired)
		want("version", o.Version, 2)
	default:
		problems = append(problems, fmt.Sprintf("seatd has the hold %s (%s), which no buyer asked for", h.Status, h.Reason))
	}
	if released && (h.Status != "RELEASED" || h.Reason != "cancelled") {
		problems = append(problems, fmt.Sprintf("its release was acknowledged, but seatd has it %s (%s)", h.Status, h.Reason))
	}
	if len(problems) > 0 {
		return "", fmt.Errorf("order %s of hold %d: %s", o.OrderNo, id, strings.Join(problems, "; "))
	}
	return o.Status, nil
}

// TestLeaderKilledBeforeAck kills the leader of the program's group with
// SIGKILL, again and again while buyers hold and cancel, until a kill
// lands between a publish and its OutboxAck: the next leader publishes
// those events again, and the order service must absorb them (its
// duplicates counter moves). Then the audit.
func TestLeaderKilledBeforeAck(t *testing.T) {
	// A kill re-delivers only if it lands after a publish and before its
	// OutboxAck reaches a follower's log, a window of a millisecond or two
	// in a relay cycle of a few: 5 kills missed it in one run of 6. A
	// -linger of 10ms keeps a lone command, such as the ack, waiting that
	// long for company before Raft sees it, which makes the window most
	// of the cycle (holds come in batches and hardly wait).
	s := startSale(t, saleConfig{holdTTL: 10 * time.Second, seatdArgs: []string{"-linger", "10ms"}})
	l := newLedger()
	began := time.Now()
	stop := s.load(l)
	s.waitHolds(l, 200, 20*time.Second)
	// A re-delivery reaches the order service as a duplicate, or, were
	// its dedupe broken, as a second HoldPlaced or HoldReleased of an
	// order, an illegal transition (which the audit reports).
	var redelivered float64
	kills := 0
	for kills < 5 && redelivered == 0 {
		victim := s.leader()
		if victim == nil {
			t.Fatal("no leader of the program's group")
		}
		victim.stop(t, syscall.SIGKILL)
		kills++
		t.Logf("kill %d: %s, the leader of group %d", kills, victim.name, s.group)
		s.waitHolds(l, 100, 20*time.Second) // a new leader took over
		victim.start(t)
		s.waitHolds(l, 200, 20*time.Second)
		dups, err1 := s.flowMetric("orderflow_events_duplicate_total")
		illegal, err2 := s.flowMetric("orderflow_illegal_transitions_total")
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		redelivered = dups + illegal
	}
	// The first holds lapse while load goes on: expiries are events too.
	time.Sleep(time.Until(began.Add(12 * time.Second)))
	stop()
	if redelivered == 0 {
		t.Fatalf("%d kills of the leader and no re-delivery reached the order service: the test proved nothing", kills)
	}
	rep := s.audit(l)
	t.Logf("%d kills of the leader; %s; %s", kills, l, rep)
}

// TestBrokerStoppedMidSale stops the broker during a sale whose outbox
// is bounded to 300 events: exactly 300 more holds are taken, then holds
// are refused with outbox_full (503 OUTBOX_FULL with Retry-After through
// the gateway) while reads and releases go on; once the broker is back,
// holds flow again within seconds, and the audit finds every event.
func TestBrokerStoppedMidSale(t *testing.T) {
	const maxOutbox = 300
	s := startSale(t, saleConfig{maxOutbox: maxOutbox})
	l := newLedger()
	stop := s.load(l)
	s.waitHolds(l, 300, 20*time.Second)
	stop()
	// Count exactly: from an empty outbox, with no holds lapsing (a
	// 15-minute TTL), every hold adds one event.
	for deadline := time.Now().Add(maxCatchUp); ; time.Sleep(50 * time.Millisecond) {
		_, pending, err := s.outbox()
		if err == nil && pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the relay did not acknowledge its events in %v: %d pending, %v", maxCatchUp, pending, err)
		}
	}
	s.broker.Stop()
	stopped := time.Now()
	taken := 0
	var last *rpc.Hold
	for {
		h, code := s.placeHold(l, int64(1+taken%faultBuyers), 1)
		if code == "ok" {
			taken++
			last = h
			continue
		}
		if code != "outbox_full" {
			t.Fatalf("hold %d after the broker stopped: %q; want ok, then outbox_full", taken+1, code)
		}
		break
	}
	t.Logf("broker stopped: %d holds taken in %v, then outbox_full", taken, time.Since(stopped).Round(time.Millisecond))
	if taken != maxOutbox {
		t.Errorf("%d holds taken after the broker stopped with an empty outbox; want -max-outbox, %d", taken, maxOutbox)
	}
	if _, pending, err := s.outbox(); err != nil || pending != maxOutbox {
		t.Errorf("seatd_outbox_events = %d, %v; want %d", pending, err, maxOutbox)
	}

	// While full: refused again, through the gateway too; reads answer;
	// a release goes on (its event waits beyond the bound).
	if _, code := s.placeHold(l, 1, 1); code != "outbox_full" {
		t.Errorf("a hold with the outbox full: %q; want outbox_full", code)
	}
	checkGatewayWhileFull(t, s)
	ctx := context.Background()
	if r, err := s.inv.Availability(ctx, &rpc.AvailabilityRequest{ProgramId: faultProgram, Consistent: true}); err != nil || r.Status.CodeName != "ok" {
		t.Errorf("Availability with the outbox full = %v, %v", r, err)
	}
	if r, err := s.inv.SeatMap(ctx, &rpc.SeatMapRequest{ProgramId: faultProgram}); err != nil || r.Status.CodeName != "ok" || len(r.Statuses) != faultRows*faultCols {
		t.Errorf("SeatMap with the outbox full = %v, %v", r.GetStatus(), err)
	}
	s.release(l, last)
	if !l.released[last.HoldId] {
		t.Errorf("the release of hold %d with the outbox full was not acknowledged", last.HoldId)
	}

	s.broker.Start()
	restarted := time.Now()
	for {
		if _, code := s.placeHold(l, 2, 1); code == "ok" {
			break
		}
		if time.Since(restarted) > 15*time.Second {
			t.Fatalf("holds still refused 15s after the broker came back: %s", l)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("holds flow again %v after the broker answered", time.Since(restarted).Round(time.Millisecond))
	stop = s.load(l)
	s.waitHolds(l, 300, 20*time.Second)
	stop()
	rep := s.audit(l)
	t.Logf("%s; %s", l, rep)
}

// checkGatewayWhileFull asks an in-process gateway over HTTP for a hold
// (503 OUTBOX_FULL with Retry-After) and for the program's availability
// and seat map (200).
func checkGatewayWhileFull(t *testing.T, s *sale) {
	t.Helper()
	secret := bytes.Repeat([]byte("k"), 32)
	gw, err := gateway.New(gateway.Config{Inventory: s.inv, Auth: gateway.AuthConfig{HS256Secret: secret, AdminToken: strings.Repeat("a", 16)}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gw.Start(ln)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gw.Stop(ctx)
	}()
	token, err := gateway.MintHS256(secret, "buyer-outbox", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	req, _ := http.NewRequest("POST", base+"/v1/programs/"+faultProgram+"/holds", strings.NewReader(`{"count":1}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	var resp *http.Response
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		// The gateway may answer before its client has found the leader.
		if resp, err = http.DefaultClient.Do(req); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(body, &e)
	if resp.StatusCode != http.StatusServiceUnavailable || e.Error.Code != "OUTBOX_FULL" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("POST holds with the outbox full = %d %s (Retry-After %q); want 503 OUTBOX_FULL with Retry-After",
			resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	for _, path := range []string{"/availability", "/seats"} {
		resp, err := http.Get(base + "/v1/programs/" + faultProgram + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s with the outbox full = %d; want 200", path, resp.StatusCode)
		}
	}
}

// TestOrderServiceKilled kills one of two orderflow instances with
// SIGKILL mid-load and starts it again on the same data: it resumes from
// its stores' offsets, and the audit finds nothing missing and nothing
// applied twice.
func TestOrderServiceKilled(t *testing.T) {
	s := startSale(t, saleConfig{instances: 2, holdTTL: 10 * time.Second})
	l := newLedger()
	began := time.Now()
	stop := s.load(l)
	s.waitHolds(l, 500, 20*time.Second)
	victim := s.flows[0]
	victim.stop(t, syscall.SIGKILL)
	s.waitHolds(l, 300, 20*time.Second) // the events wait in seat.holds
	victim.start(t)
	s.waitReady(victim)
	s.waitHolds(l, 300, 20*time.Second)
	// The first holds lapse while load goes on: expiries are events too.
	time.Sleep(time.Until(began.Add(12 * time.Second)))
	stop()
	rep := s.audit(l, 0)
	t.Logf("%s; %s", l, rep)
}

// TestStoreRebuilt stops one of two orderflow instances (SIGTERM),
// deletes its data, and starts it again: it rebuilds its stores from the
// orders changelog before it serves (never answering not-found for an
// order it had), every record comes back byte for byte, and holds placed
// afterwards become orders exactly once.
func TestStoreRebuilt(t *testing.T) {
	s := startSale(t, saleConfig{instances: 2}) // 15-minute holds: nothing changes while the store is gone
	l := newLedger()
	stop := s.load(l)
	s.waitHolds(l, 500, 20*time.Second)
	stop()
	before := s.caughtUp()

	victim := s.flows[1]
	victim.stop(t, syscall.SIGTERM)
	dataDir := victim.args[slices.Index(victim.args, "-data")+1]
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}
	victim.args = append(victim.args, "-rebuild-missing") // the operator's word: the store is lost
	victim.start(t)
	// Until it is ready, an order of its partitions is unavailable,
	// never not found.
	var probe inventory.OrderNo
	for _, o := range before {
		if n, _ := o.Number(); events.PartitionOfOrder(n, faultPartitions)%2 == 1 {
			probe = n
			break
		}
	}
	sawUnready := false
	for deadline := time.Now().Add(maxReady); ; time.Sleep(5 * time.Millisecond) {
		code, body, err := readyz(victim)
		if err == nil && code == http.StatusOK {
			break
		}
		if err == nil {
			sawUnready = true
			if code != http.StatusServiceUnavailable {
				t.Fatalf("/readyz while rebuilding = %d %s; want 503", code, body)
			}
		}
		if _, err := s.orders.Order(context.Background(), probe); errors.Is(err, orderclient.ErrNotFound) {
			t.Fatalf("order %d not found while its store rebuilds: %v", probe, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready in %v after the store was deleted: %d %s %v", maxReady, code, body, err)
		}
	}
	m, err := scrape(victim.http)
	if err != nil {
		t.Fatal(err)
	}
	owned := 0
	for no := range before {
		n, _ := strconv.ParseUint(no, 10, 64)
		if events.PartitionOfOrder(inventory.OrderNo(n), faultPartitions)%2 == 1 {
			owned++
		}
	}
	if m.sum("orderflow_rebuilds_total") != faultPartitions/2 || m.sum("orderflow_rebuilt_orders_total") < float64(owned) {
		t.Errorf("after the rebuild: %v rebuilds (want %d), %v orders restored (want at least %d)",
			m.sum("orderflow_rebuilds_total"), faultPartitions/2, m.sum("orderflow_rebuilt_orders_total"), owned)
	}
	after, err := s.allOrdersRetry()
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("%d orders after the rebuild, %d before", len(after), len(before))
	}
	for _, no := range slices.Sorted(maps.Keys(before)) {
		b, _ := json.Marshal(before[no])
		a, _ := json.Marshal(after[no])
		if !bytes.Equal(a, b) {
			t.Errorf("order %s after the rebuild:\n%s\nwant\n%s", no, a, b)
		}
	}
	t.Logf("rebuilt %d orders (readyz 503 seen: %v)", owned, sawUnready)

	// Holds after the rebuild become orders exactly once: the rebuilt
	// instance applies exactly the transitions its partitions went through
	// since (audit: restarted instances may only count fewer).
	stop = s.load(l)
	s.waitHolds(l, 500, 20*time.Second)
	stop()
	rep := s.audit(l, 1)
	final, err := s.allOrdersRetry()
	if err != nil {
		t.Fatal(err)
	}
	mine := func(o orders.Order) bool {
		n, _ := o.Number()
		return events.PartitionOfOrder(n, faultPartitions)%2 == 1
	}
	m, err = scrape(victim.http)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := uint64(m.sum("orderflow_events_applied_total")), versions(final, mine)-versions(before, mine); got != want {
		t.Errorf("the rebuilt instance applied %d events; its partitions' orders went through %d transitions since", got, want)
	}
	t.Logf("%s; %s", l, rep)
}
