package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudwego/kitex/server"
	"github.com/prometheus/client_golang/prometheus"

	"seatd/internal/kafkatest"
	"seatd/internal/merchant"
	"seatd/inventory"
	rpc "seatd/kitex_gen/inventoryrpc"
	invsvc "seatd/kitex_gen/inventoryrpc/inventory"
	ofsvc "seatd/kitex_gen/orderflowrpc/orderflow"
	"seatd/noderpc"
	"seatd/orderflow"
	"seatd/orderflow/events"
	"seatd/orderflow/orderclient"
	"seatd/orderflow/orderrpc"
	"seatd/orderflow/orders"
	"seatd/orderflow/pay"
	"seatd/orderflow/payment"
	"seatd/orderflow/reconcile"
	"seatd/orderflow/relay"
	"seatd/paysim"
	"seatd/paysim/paysimtest"
	"seatd/raftfsm"
	"seatd/seatclient"
)

// paidSystem is the whole purchase in one process, on loopback: a seatd
// node with its relay, an embedded Kafka broker, the order and pay
// services behind their Kitex server, paysim, and a notify endpoint that
// hands paysim's notifications to the pay service (the gateway's part).
type paidSystem struct {
	t         *testing.T
	seatdAddr string
	flowAddr  string
	inv       *seatclient.Client
	orders    *orderclient.Client
	sim       *paysimtest.Sim

	// The services themselves, for tests that copy their stores.
	brokers   []string
	flowDir   string
	svc       *orderflow.Service
	paySvc    *pay.Service
	providers []payment.Provider
}

const reconcilePartitions = 4

func startPaidSystem(t *testing.T) *paidSystem {
	t.Helper()
	brokers := kafkatest.Embedded(t)
	rel, err := relay.New(relay.Config{Brokers: brokers, Topics: events.Topics(reconcilePartitions, 1)})
	if err != nil {
		t.Fatal(err)
	}
	rpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	node, err := raftfsm.StartNode(raftfsm.NodeConfig{ID: "n1", Dir: t.TempDir(), Addr: "127.0.0.1:0", Groups: 2, RPCAddr: rpcLn.Addr().String(),
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond, TickInterval: time.Second, Duty: rel.Duty})
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Bootstrap([]raftfsm.Peer{{ID: node.ID(), Addr: node.Addr()}}); err != nil {
		t.Fatal(err)
	}
	handler, err := noderpc.New(node, noderpc.Config{})
	if err != nil {
		t.Fatal(err)
	}
	seatdSvr := invsvc.NewServer(handler, server.WithListener(rpcLn), server.WithExitWaitTime(time.Millisecond))
	go seatdSvr.Run()
	s := &paidSystem{t: t, seatdAddr: rpcLn.Addr().String(), sim: paysimtest.Start(t, paysim.Config{})}
	if s.inv, err = seatclient.New(seatclient.Config{Seeds: []string{s.seatdAddr}}); err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	if err := s.sim.Keys.WriteDir(keys); err != nil {
		t.Fatal(err)
	}
	a, w, err := merchant.FromPaysim(keys, s.sim.URL)
	if err != nil {
		t.Fatal(err)
	}
	providers, err := merchant.Providers(a, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.brokers, s.flowDir, s.providers = brokers, t.TempDir(), providers
	svc, err := orderflow.New(orderflow.Config{Brokers: brokers, Instance: 0, Instances: 1, Partitions: reconcilePartitions,
		DataDir: s.flowDir, Inventory: s.inv, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	notify := httptest.NewUnstartedServer(nil)
	ps, err := pay.New(pay.Config{Brokers: brokers, DataDir: t.TempDir(), Orders: svc, Providers: providers,
		NotifyURLs: map[string]string{"alipay": "http://" + notify.Listener.Addr().String() + "/alipay",
			"wechat": "http://" + notify.Listener.Addr().String() + "/wechat"},
		QueryAfter: time.Hour, MaxQueryInterval: time.Hour, ScanInterval: 50 * time.Millisecond, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s.svc, s.paySvc = svc, ps
	notify.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a, _ := ps.Notify(r.Context(), strings.TrimPrefix(r.URL.Path, "/"), r.Header, body)
		a.Write(w)
	})
	notify.Start()
	flowLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.flowAddr = flowLn.Addr().String()
	flowSvr := ofsvc.NewServer(orderrpc.New(svc).WithPay(ps), server.WithListener(flowLn), server.WithExitWaitTime(time.Millisecond))
	go flowSvr.Run()
	if s.orders, err = orderclient.New(orderclient.Config{Addrs: []string{s.flowAddr}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		flowSvr.Stop()
		notify.Close()
		ps.Close()
		svc.Close()
		seatdSvr.Stop()
		node.Shutdown(false)
	})
	s.createProgram()
	return s
}

// createProgram creates and opens "show": one row of 10 seats at 100
// yuan, retrying while the node elects itself.
func (s *paidSystem) createProgram() {
	row := &rpc.Row{Id: "1", Rank: 1}
	for c := range 10 {
		row.Seats = append(row.Seats, &rpc.Seat{Col: int32(c + 1), Category: "std"})
	}
	spec := &rpc.ProgramSpec{Id: "show", MaxSeatsPerHold: 4, MaxSeatsPerUser: 8, Categories: []*rpc.Category{{Id: "std", PriceCents: 10000}},
		Sections: []*rpc.Section{{Id: "A", Rows: []*rpc.Row{row}}}}
	ctx := context.Background()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		cp, err := s.inv.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: spec})
		if err == nil && cp.Status.Route == rpc.Route_OK && (cp.Status.CodeName == "ok" || cp.Identical) {
			break
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("CreateProgram = %v, %v", cp, err)
		}
	}
	if r, err := s.inv.SetSale(ctx, &rpc.SetSaleRequest{ProgramId: "show", Open: true}); err != nil || r.Status.CodeName != "ok" {
		s.t.Fatalf("SetSale = %v, %v", r, err)
	}
}

// hold holds count seats for user and waits for its order.
func (s *paidSystem) hold(user int64, count int32) (inventory.OrderNo, int64) {
	s.t.Helper()
	r, err := s.inv.PlaceHold(context.Background(), &rpc.HoldRequest{ProgramId: "show", UserId: user, Count: count, Together: true})
	if err != nil || r.Status.CodeName != "ok" {
		s.t.Fatalf("PlaceHold = %v, %v", r, err)
	}
	no := inventory.OrderNo(uint64(r.Hold.OrderNo))
	s.await(no, func(o orders.Order) bool { return o.Status == orders.StatusPendingPayment })
	return no, r.Hold.HoldId
}

// await waits until the order satisfies ok.
func (s *paidSystem) await(no inventory.OrderNo, ok func(orders.Order) bool) {
	s.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		o, err := s.orders.Order(context.Background(), no)
		if err == nil && ok(o) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("order %d: %+v, %v", no, o, err)
		}
	}
}

// pay makes an Alipay trade of the order and pays it in paysim.
func (s *paidSystem) pay(no inventory.OrderNo, user int64) string {
	s.t.Helper()
	p, err := s.orders.Pay(context.Background(), no, uint64(user), "alipay", payment.ModeQR)
	if err != nil {
		s.t.Fatalf("Pay(%d) = %v", no, err)
	}
	if st := s.sim.Pay(s.t, "alipay", p.OutTradeNo); st != http.StatusOK {
		s.t.Fatalf("paysim pay of %s = %d", p.OutTradeNo, st)
	}
	return p.OutTradeNo
}

// reconcile runs `orderflow reconcile` against the system with more
// flags and returns its exit code and output.
func (s *paidSystem) reconcile(flags ...string) (int, string) {
	var out, errOut bytes.Buffer
	args := append([]string{"-orderflow", s.flowAddr, "-seatd", s.seatdAddr}, flags...)
	code := runReconcile(context.Background(), args, func(string) string { return "" }, &out, &errOut)
	if code == exitUsageOrIO {
		s.t.Fatalf("orderflow reconcile %s: exit %d: %s", strings.Join(args, " "), code, errOut.String())
	}
	return code, out.String()
}

// TestReconcileEndToEnd sells and pays an order through paysim and
// reconciles the whole system through the real subcommand: no
// differences, with the bill compared. Then two things go wrong where
// only a reconciliation sees them: an operator confirms a hold in seatd
// with no payment (seats sold, the order still waits for payment), and a
// buyer pays in paysim while every notification is lost (the bill has a
// payment the pay service never recorded). The subcommand reports
// exactly those differences, after its settle period too, and exits 1.
func TestReconcileEndToEnd(t *testing.T) {
	s := startPaidSystem(t)
	const buyer, other, third = 7, 8, 9
	no, _ := s.hold(buyer, 2)
	otn := s.pay(no, buyer)
	s.await(no, func(o orders.Order) bool {
		return o.Status == orders.StatusPaid && o.HoldStatus == orders.HoldConfirmed
	})

	code, out := s.reconcile("-settle", "0")
	if want := "no differences: 1 orders, 1 trades, 0 refunds, 1 bill lines\n"; code != exitAgree || out != want {
		t.Fatalf("reconcile of a consistent system = %d, %q; want %d, %q", code, out, exitAgree, want)
	}

	unpaid, hold := s.hold(other, 1)
	if r, err := s.inv.Confirm(context.Background(), &rpc.ConfirmRequest{HoldId: hold}); err != nil || r.Status.CodeName != "ok" {
		t.Fatalf("Confirm(%d) = %v, %v", hold, r, err)
	}
	if err := s.sim.SetFaults(paysim.Faults{Drop: 1}); err != nil {
		t.Fatal(err)
	}
	lost, _ := s.hold(third, 1)
	lostTrade := s.pay(lost, third)
	day := time.Now().In(payment.CST).Format(time.DateOnly)
	h := strconv.FormatInt(hold, 10)
	want := []string{
		"BILL_PAY_UNKNOWN bill=alipay/" + day + " trade=" + lostTrade,
		"HOLD_CONFIRMED_UNPAID order=" + strconv.FormatUint(uint64(unpaid), 10) + " hold=" + h,
		"SEAT_SOLD_UNPAID seat=show:A/1/",
	}
	for _, settle := range []string{"0", "300ms"} {
		code, out = s.reconcile("-settle", settle)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != exitDiffer || len(lines) != len(want) {
			t.Fatalf("reconcile -settle %s = %d:\n%s\nwant %d and %d lines", settle, code, out, exitDiffer, len(want))
		}
		for i, w := range want {
			if !strings.HasPrefix(lines[i], w) {
				t.Errorf("reconcile -settle %s: line %d = %q; want it to start %q", settle, i, lines[i], w)
			}
		}
		if !strings.Contains(lines[2], "hold="+h) {
			t.Errorf("reconcile: %q does not name hold %s", lines[2], h)
		}
	}
	if strings.Contains(out, otn) {
		t.Errorf("reconcile names the trade paid and recorded, %s:\n%s", otn, out)
	}

	code, out = s.reconcile("-settle", "0", "-json", "-days", day)
	var report struct {
		Differences []reconcile.Difference `json:"differences"`
		Orders      int                    `json:"orders"`
		Trades      int                    `json:"trades"`
		BillLines   int                    `json:"bill_lines"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("reconcile -json: %v\n%s", err, out)
	}
	if code != exitDiffer || len(report.Differences) != len(want) || report.Differences[1].Code != reconcile.HoldConfirmedUnpaid ||
		report.Orders != 3 || report.Trades != 2 || report.BillLines != 2 {
		t.Errorf("reconcile -json = %d, %+v", code, report)
	}
}
