package gateway

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudwego/kitex/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"seatd/internal/kafkatest"
	"seatd/internal/merchant"
	"seatd/inventory"
	ofsvc "seatd/kitex_gen/orderflowrpc/orderflow"
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
)

// paySystem is the whole purchase on loopback: a seatd node with its
// relay, a broker (kafkatest.Brokers), the order service confirming in
// seatd, the pay service beside it behind one Kitex server, paysim, and
// the gateway, whose notify routes paysim calls.
type paySystem struct {
	*testSystem
	brokers []string
	sim     *paysimtest.Sim
	api     *providerProxy // between the pay service and paysim's API
	orders  *orderflow.Service
	pay     *pay.Service
	reg     *prometheus.Registry // both services' metrics
	// notified, when set, runs as each notification reaches the pay
	// service (through the gateway's notify route and a Kitex call),
	// before it is applied.
	notified *atomic.Pointer[func(channel string, body []byte)]
}

// notifyHook is the pay service as the order service's Kitex server
// calls it, with paySystem.notified run first.
type notifyHook struct {
	*pay.Service
	notified *atomic.Pointer[func(channel string, body []byte)]
}

func (h notifyHook) Notify(ctx context.Context, channel string, header http.Header, body []byte) (payment.Answer, error) {
	if f := h.notified.Load(); f != nil {
		(*f)(channel, body)
	}
	return h.Service.Notify(ctx, channel, header, body)
}

const payPartitions = 4

func startPaySystem(t testing.TB, sim paysim.Config, tune func(*pay.Config)) *paySystem {
	t.Helper()
	ps := &paySystem{brokers: kafkatest.Brokers(t), reg: prometheus.NewRegistry(), notified: new(atomic.Pointer[func(string, []byte)])}
	rel, err := relay.New(relay.Config{Brokers: ps.brokers, Topics: events.Topics(payPartitions, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	client, err := orderclient.New(orderclient.Config{Addrs: []string{ln.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	// The gateway first (the notify URLs are its), then the services
	// behind the address its client already has (it connects lazily).
	ps.testSystem = startClusterNodes(t, 1, time.Second, func(c *raftfsm.NodeConfig) { c.Duty = rel.Duty }, func(c *Config) { c.Orders = client })
	ps.sim = paysimtest.Start(t, sim)
	ps.api = startProviderProxy(t, ps.sim.URL)
	dir := t.TempDir()
	if err := ps.sim.Keys.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	a, w, err := merchant.FromPaysim(dir, ps.api.url)
	if err != nil {
		t.Fatal(err)
	}
	providers, err := merchant.Providers(a, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	ps.orders, err = orderflow.New(orderflow.Config{Brokers: ps.brokers, Instance: 0, Instances: 1, Partitions: payPartitions,
		DataDir: t.TempDir(), Inventory: ps.gw.inv, Registerer: ps.reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ps.orders.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pc := pay.Config{Brokers: ps.brokers, DataDir: t.TempDir(), Orders: ps.orders, Providers: providers,
		NotifyURLs: map[string]string{"alipay": ps.url + "/v1/payments/alipay/notify", "wechat": ps.url + "/v1/payments/wechat/notify"},
		QueryAfter: time.Hour, MaxQueryInterval: time.Hour, // the tests that want queries say so
		ScanInterval: 50 * time.Millisecond, Registerer: ps.reg}
	if tune != nil {
		tune(&pc)
	}
	ps.pay, err = pay.New(pc)
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.pay.Start(ctx); err != nil {
		t.Fatal(err)
	}
	svr := ofsvc.NewServer(orderrpc.New(ps.orders).WithPay(notifyHook{ps.pay, ps.notified}), server.WithListener(ln),
		server.WithExitWaitTime(time.Millisecond))
	go svr.Run()
	t.Cleanup(func() {
		svr.Stop()
		ps.pay.Close()
		ps.orders.Close()
	})
	// Registered after the services' cleanup, so it runs before it: every
	// payment test ends with a reconciliation that finds no difference
	// (docs/reconcile.md). The settle period lets refunds and closes the
	// test did not wait for finish (the pay service scans every 50 ms).
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		r, err := reconcile.Run(ctx, reconcile.Config{Orders: client, Inventory: ps.gw.inv, Settle: time.Second})
		if err != nil {
			t.Errorf("reconcile: %v", err)
			return
		}
		for _, d := range r.Differences {
			t.Errorf("reconcile: %s", d)
		}
		t.Logf("reconcile: %d differences: %d orders, %d trades, %d refunds, %d bill lines; notes %q", len(r.Differences), r.Orders, r.Trades, r.Refunds, r.BillLines, r.Notes)
	})
	return ps
}

// order holds count seats for the buyer and waits for its order.
func (ps *paySystem) order(buyer string, program string, count int) (no, holdID string) {
	t := ps.t
	t.Helper()
	h := ps.do("POST", "/v1/programs/"+program+"/holds", buyer, map[string]any{"count": count}, nil)
	ps.want(h, 201, "")
	no, holdID = h.json(t)["order_no"].(string), h.json(t)["hold_id"].(string)
	ps.awaitOrder(no, "PENDING_PAYMENT")
	return no, holdID
}

// awaitOrder waits until the order has status and returns it.
func (ps *paySystem) awaitOrder(no, status string) orders.Order {
	ps.t.Helper()
	o, err := ps.waitOrder(no, status, 10*time.Millisecond)
	if err != nil {
		var got struct {
			Stats      paysim.Stats      `json:"stats"`
			Deliveries []paysim.Delivery `json:"deliveries"`
		}
		ps.sim.GetJSON(ps.t, "/sim/notifications", &got)
		ps.t.Fatalf("%v; paysim's notifications: %+v", err, got)
	}
	return o
}

// waitOrder is awaitOrder for goroutines other than the test's, reading
// the order from the order service's store every poll: after 30 s it
// gives up with an error.
func (ps *paySystem) waitOrder(no, status string, poll time.Duration) (orders.Order, error) {
	n, _ := strconv.ParseUint(no, 10, 64)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(poll) {
		o, err := ps.orders.Order(inventory.OrderNo(n))
		if err == nil && string(o.Status) == status {
			return o, nil
		}
		if time.Now().After(deadline) {
			return o, fmt.Errorf("order %s never %s: %+v, %v", no, status, o, err)
		}
	}
}

// metric reads a counter of the pay service's registry: name with the
// labels given (a subset), summed.
func (ps *paySystem) metric(name string, labels map[string]string) float64 {
	mfs, err := ps.reg.Gather()
	if err != nil {
		ps.t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			if m.Counter != nil {
				sum += m.Counter.GetValue()
			} else if m.Gauge != nil {
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

// histogram reads a histogram of the services' registry: its
// observations and their sum.
func (ps *paySystem) histogram(name string) (count uint64, sum float64) {
	mfs, err := ps.reg.Gather()
	if err != nil {
		ps.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				count += m.GetHistogram().GetSampleCount()
				sum += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return count, sum
}

func (ps *paySystem) waitMetric(name string, labels map[string]string, what string, ok func(float64) bool) {
	ps.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !ok(ps.metric(name, labels)); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			ps.t.Fatalf("%s: %s%v = %v", what, name, labels, ps.metric(name, labels))
		}
	}
}

// payEvents reads every pay.events message of an order's partition and
// counts the order's by type.
func (ps *paySystem) payEvents(no string) map[events.Type]int {
	ps.t.Helper()
	n, _ := strconv.ParseUint(no, 10, 64)
	p := events.PartitionOfOrder(inventory.OrderNo(n), payPartitions)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := kafka.DialLeader(ctx, "tcp", ps.brokers[0], events.TopicPay, p)
	if err != nil {
		ps.t.Fatal(err)
	}
	defer conn.Close()
	last, err := conn.ReadLastOffset()
	if err != nil {
		ps.t.Fatal(err)
	}
	out := map[events.Type]int{}
	if last == 0 {
		return out
	}
	if _, err := conn.Seek(0, kafka.SeekAbsolute); err != nil {
		ps.t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for off := int64(0); off < last; off++ {
		m, err := conn.ReadMessage(1 << 20)
		if err != nil {
			ps.t.Fatalf("read pay.events %d/%d: %v", off, last, err)
		}
		ev, err := events.DecodePay(m.Value)
		if err != nil {
			ps.t.Fatalf("pay.events message %s: %v", m.Value, err)
		}
		if ev.OrderNo == no {
			out[ev.Type]++
		}
	}
	return out
}

// simTrade reads paysim's view of a trade.
func (ps *paySystem) simTrade(channel, outTradeNo string) map[string]any {
	var tr map[string]any
	ps.sim.GetJSON(ps.t, "/sim/trades/"+channel+"/"+outTradeNo, &tr)
	return tr
}

// TestPayNotifiedEightTimes: through the gateway, a buyer pays with
// Alipay (QR); paysim pays it and sends each notification attempt 8
// times to the gateway's notify route; the pay service applies it once
// (one PaymentSucceeded on pay.events), the order turns PAID, the hold
// CONFIRMED in seatd and its seats sold. The payment route says
// SUCCESS; a second attempt is refused 409.
func TestPayNotifiedEightTimes(t *testing.T) {
	ps := startPaySystem(t, paysim.Config{Faults: paysim.Faults{Duplicate: 8}}, nil)
	ps.arena("show")
	buyer := ps.token(5)
	no, holdID := ps.order(buyer, "show", 2)

	r := ps.do("POST", "/v1/orders/"+no+"/pay", buyer, `{"channel":"alipay","mode":"qr"}`, nil)
	ps.want(r, 201, "")
	p := r.json(t)
	otn, _ := p["out_trade_no"].(string)
	if otn != no+"_01" || p["amount_cents"].(float64) != 100000 || p["qr_code"] == "" || p["status"] != "WAIT_BUYER_PAY" || p["channel"] != "alipay" {
		t.Fatalf("pay = %s", r.body)
	}
	if st := ps.sim.Pay(t, "alipay", otn); st != 200 {
		t.Fatalf("paysim pay = %d", st)
	}
	o := ps.awaitOrder(no, "PAID")
	if o.PaidCents != 100000 || o.Payment == nil || o.Payment.OutTradeNo != otn {
		t.Errorf("paid order = %+v", o)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		h := ps.do("GET", "/v1/holds/"+holdID, buyer, nil, nil)
		if h.status == 200 && h.json(t)["status"] == "CONFIRMED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hold never confirmed: %d %s", h.status, h.body)
		}
	}
	// The confirm is timed once, from the payment's apply to seatd's ok.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		n, sum := ps.histogram("orderflow_paid_to_confirmed_seconds")
		if n == 1 && sum > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("orderflow_paid_to_confirmed_seconds: %d observations, sum %v; want 1", n, sum)
		}
	}
	a := ps.do("GET", "/v1/programs/show/availability?consistent=true", "", nil, nil)
	if cats := a.json(t)["categories"].([]any); cats[0].(map[string]any)["sold"].(float64) != 2 {
		t.Errorf("availability after payment = %s; want 2 sold", a.body)
	}
	// Every copy of every attempt was answered: 8 notifications, one
	// applied.
	ps.waitMetric("pay_notifications_total", map[string]string{"channel": "alipay"}, "8 copies received", func(v float64) bool { return v >= 8 })
	if got := ps.metric("pay_notifications_total", map[string]string{"outcome": "applied"}); got != 1 {
		t.Errorf("notifications applied = %v; want 1", got)
	}
	if got := ps.metric("pay_payments_total", nil); got != 1 {
		t.Errorf("payments = %v; want 1", got)
	}
	ps.waitMetric("pay_events_pending", nil, "outcomes published", func(v float64) bool { return v == 0 })
	if evs := ps.payEvents(no); evs[events.PaymentSucceeded] != 1 || len(evs) != 1 {
		t.Errorf("pay.events of the order = %v; want one PaymentSucceeded", evs)
	}
	var stats struct {
		Stats paysim.Stats `json:"stats"`
	}
	ps.sim.GetJSON(t, "/sim/notifications", &stats)
	if stats.Stats.Sent < 8 || stats.Stats.Answered != 1 || stats.Stats.Unanswered != 0 {
		t.Errorf("paysim notifications = %+v; want 8 copies sent, answered", stats.Stats)
	}

	st := ps.do("GET", "/v1/orders/"+no+"/payment", buyer, nil, nil)
	if ps.want(st, 200, ""); st.json(t)["status"] != "SUCCESS" || st.json(t)["out_trade_no"] != otn {
		t.Errorf("payment status = %s", st.body)
	}
	ps.refused(ps.do("POST", "/v1/orders/"+no+"/pay", buyer, `{"channel":"wechat"}`, nil), 409, "ORDER_NOT_PAYABLE", nil, "")
}

// TestPayRefusals: what the pay routes refuse, with their codes.
func TestPayRefusals(t *testing.T) {
	ps := startPaySystem(t, paysim.Config{}, nil)
	ps.arena("show")
	buyer, other := ps.token(5), ps.token(6)
	no, _ := ps.order(buyer, "show", 1)
	for _, c := range []struct {
		body   string
		status int
		code   string
	}{
		{`{"channel":"paypal"}`, 422, "UNKNOWN_CHANNEL"},
		{`{}`, 422, "INVALID_ARGUMENT"},
		{`{"channel":"alipay","mode":"app"}`, 422, "INVALID_ARGUMENT"},
		{`{"channel":"alipay","mode":""}`, 422, "INVALID_ARGUMENT"}, // only a mode left out means qr
		{`{"channel":"wechat","mode":"page"}`, 422, "UNSUPPORTED_MODE"},
		{`{"channel":"alipay","extra":1}`, 400, "INVALID_JSON"},
		{`{"channel":1}`, 400, "INVALID_JSON"},
	} {
		r := ps.do("POST", "/v1/orders/"+no+"/pay", buyer, c.body, nil)
		if r.status != c.status || r.code(t) != c.code {
			t.Errorf("pay %s = %d %s; want %d %s", c.body, r.status, r.body, c.status, c.code)
		}
	}
	missing := ps.do("POST", "/v1/orders/"+no+"0/pay", buyer, `{"channel":"alipay"}`, nil)
	ps.want(missing, 404, "NOT_FOUND")
	ps.want(ps.do("POST", "/v1/orders/"+no+"/pay", other, `{"channel":"alipay"}`, nil), 404, "NOT_FOUND")
	ps.want(ps.do("GET", "/v1/orders/"+no+"/payment", buyer, nil, nil), 404, "NO_PAYMENT")
	ps.want(ps.do("GET", "/v1/orders/"+no+"/payment", other, nil, nil), 404, "NOT_FOUND")
	// A cancelled order cannot be paid.
	o := ps.awaitOrder(no, "PENDING_PAYMENT")
	ps.want(ps.do("DELETE", "/v1/holds/"+o.HoldID, buyer, nil, nil), 200, "")
	ps.awaitOrder(no, "CANCELLED")
	ps.refused(ps.do("POST", "/v1/orders/"+no+"/pay", buyer, `{"channel":"alipay"}`, nil), 409, "ORDER_NOT_PAYABLE", nil, "")
	// A notification that is not a provider's is refused as the provider
	// expects a failure to be answered, and counted.
	r := ps.do("POST", "/v1/payments/alipay/notify", "", "out_trade_no="+no+"_01&trade_status=TRADE_SUCCESS&sign=abc",
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if r.status != 200 || string(r.body) != "fail" {
		t.Errorf("forged alipay notify = %d %q; want 200 fail", r.status, r.body)
	}
	r = ps.do("POST", "/v1/payments/wechat/notify", "", `{"id":"x","resource":{}}`, nil)
	if r.status != 500 || !strings.Contains(string(r.body), "FAIL") {
		t.Errorf("forged wechat notify = %d %s; want 500 FAIL", r.status, r.body)
	}
	if got := ps.metric("pay_notifications_total", nil); got != 2 {
		t.Errorf("refused notifications counted = %v; want 2", got)
	}
	// A mode the channel does not offer is refused before anything
	// changes: the open trade stays open, and no attempt is spent.
	no2, _ := ps.order(buyer, "show", 1)
	ps.awaitOrder(no2, "PENDING_PAYMENT")
	open := ps.do("POST", "/v1/orders/"+no2+"/pay", buyer, `{"channel":"alipay","mode":"qr"}`, nil)
	ps.want(open, 201, "")
	for range 12 {
		ps.refused(ps.do("POST", "/v1/orders/"+no2+"/pay", buyer, `{"channel":"wechat","mode":"page"}`, nil), 422, "UNSUPPORTED_MODE", nil, "")
	}
	st := ps.do("GET", "/v1/orders/"+no2+"/payment", buyer, nil, nil)
	if ps.want(st, 200, ""); st.json(t)["status"] != "WAIT_BUYER_PAY" || st.json(t)["out_trade_no"] != open.json(t)["out_trade_no"] {
		t.Errorf("after refused modes, payment = %s; want the alipay trade %s still open", st.body, open.json(t)["out_trade_no"])
	}
	ps.want(ps.do("POST", "/v1/orders/"+no2+"/pay", buyer, `{"channel":"wechat","mode":"qr"}`, nil), 201, "")
}

// TestPayForgedNotifications: paysim forges, tampers with, misaddresses
// and misprices notification attempts of both channels; each such copy
// is refused (answered as a failure, counted by reason), the genuine
// attempt that follows is applied, and each order is paid once.
func TestPayForgedNotifications(t *testing.T) {
	ps := startPaySystem(t, paysim.Config{Seed: 3, Faults: paysim.Faults{Forge: 0.2, Tamper: 0.2, WrongApp: 0.15, WrongAmount: 0.2}}, nil)
	ps.arena("show")
	var nos []string
	for i, ch := range []string{"alipay", "wechat", "alipay", "wechat"} {
		buyer := ps.token(int64(10 + i))
		no, _ := ps.order(buyer, "show", 1)
		r := ps.do("POST", "/v1/orders/"+no+"/pay", buyer, `{"channel":"`+ch+`"}`, nil)
		ps.want(r, 201, "")
		if st := ps.sim.Pay(t, ch, r.json(t)["out_trade_no"].(string)); st != 200 {
			t.Fatalf("paysim pay = %d", st)
		}
		nos = append(nos, no)
	}
	var got struct {
		Stats      paysim.Stats      `json:"stats"`
		Deliveries []paysim.Delivery `json:"deliveries"`
	}
	for _, no := range nos {
		ps.awaitOrder(no, "PAID")
	}
	ps.sim.GetJSON(t, "/sim/notifications", &got)
	spoilt := 0
	for _, d := range got.Deliveries {
		if d.Faults == "" {
			continue
		}
		spoilt += len(d.Statuses)
		for _, s := range d.Statuses {
			if s >= 0 && s != 0 {
				t.Errorf("spoilt attempt %+v answered as a success", d)
			}
		}
	}
	if spoilt == 0 {
		t.Fatalf("no attempt was spoilt: the test proved nothing (%+v)", got.Stats)
	}
	refused := 0.0
	for _, reason := range []string{"bad_signature", "wrong_app", "wrong_amount", "malformed"} {
		refused += ps.metric("pay_notifications_total", map[string]string{"outcome": reason})
	}
	if refused != float64(spoilt) {
		t.Errorf("refused notifications = %v; paysim spoilt %d copies (%+v)", refused, spoilt, got.Stats)
	}
	// A copy spoilt only by the amount is caught by the trade's record,
	// not by the provider's checks.
	amountOnly := 0
	for _, d := range got.Deliveries {
		if d.Faults == "wrong-amount" {
			amountOnly += len(d.Statuses)
		}
	}
	if v := ps.metric("pay_notifications_total", map[string]string{"outcome": "wrong_amount"}); v != float64(amountOnly) {
		t.Errorf("wrong_amount refusals = %v; paysim sent %d copies spoilt only by the amount", v, amountOnly)
	}
	if ps.metric("pay_notifications_total", map[string]string{"outcome": "bad_signature"}) == 0 {
		t.Errorf("no bad_signature refusal counted")
	}
	if n := ps.metric("pay_payments_total", nil); n != 4 {
		t.Errorf("payments = %v; want 4", n)
	}
}

// TestPayFoundByQuery: no notification ever arrives (paysim drops every
// attempt); the scheduler's query finds the payment and the order is
// paid, once.
func TestPayFoundByQuery(t *testing.T) {
	ps := startPaySystem(t, paysim.Config{Faults: paysim.Faults{Drop: 1}}, func(c *pay.Config) {
		c.QueryAfter, c.MaxQueryInterval = 200*time.Millisecond, time.Second
	})
	ps.arena("show")
	buyer := ps.token(8)
	no, _ := ps.order(buyer, "show", 2)
	r := ps.do("POST", "/v1/orders/"+no+"/pay", buyer, `{"channel":"wechat","mode":"qr"}`, nil)
	ps.want(r, 201, "")
	otn := r.json(t)["out_trade_no"].(string)
	// Unpaid, the queries find it waiting.
	ps.waitMetric("pay_queries_total", map[string]string{"state": "WAIT_BUYER_PAY"}, "a query of the unpaid trade", func(v float64) bool { return v >= 1 })
	if st := ps.sim.Pay(t, "wechat", otn); st != 200 {
		t.Fatalf("paysim pay = %d", st)
	}
	ps.awaitOrder(no, "PAID")
	if v := ps.metric("pay_payments_total", map[string]string{"via": "query"}); v != 1 {
		t.Errorf("payments found by query = %v; want 1", v)
	}
	if v := ps.metric("pay_notifications_total", nil); v != 0 {
		t.Errorf("notifications = %v; want none (all dropped)", v)
	}
	time.Sleep(300 * time.Millisecond) // queries would have come again
	if v := ps.metric("pay_payments_total", nil); v != 1 {
		t.Errorf("payments = %v; want 1", v)
	}
	if v := ps.metric("pay_active_trades", nil); v != 0 {
		t.Errorf("active trades = %v; want 0", v)
	}
}

// TestPayChannelSwitch: a buyer starts with Alipay, then switches to
// WeChat Pay: the Alipay trade is closed at paysim first (it cannot be
// paid any more) and PaymentClosed (superseded) reaches the order; the
// WeChat trade pays the order.
func TestPayChannelSwitch(t *testing.T) {
	ps := startPaySystem(t, paysim.Config{}, nil)
	ps.arena("show")
	buyer := ps.token(9)
	no, _ := ps.order(buyer, "show", 1)
	first := ps.do("POST", "/v1/orders/"+no+"/pay", buyer, `{"channel":"alipay"}`, nil)
	ps.want(first, 201, "")
	second := ps.do("POST", "/v1/orders/"+no+"/pay", buyer, `{"channel":"wechat"}`, nil)
	ps.want(second, 201, "")
	t1, t2 := first.json(t)["out_trade_no"].(string), second.json(t)["out_trade_no"].(string)
	if t1 != no+"_01" || t2 != no+"_02" {
		t.Fatalf("trades %s, %s", t1, t2)
	}
	if st := ps.simTrade("alipay", t1)["state"]; st != "CLOSED" {
		t.Errorf("the superseded alipay trade at paysim is %v; want CLOSED", st)
	}
	if st := ps.sim.Pay(t, "alipay", t1); st != 409 {
		t.Errorf("paying the superseded trade = %d; want 409", st)
	}
	if st := ps.sim.Pay(t, "wechat", t2); st != 200 {
		t.Fatalf("paysim pay = %d", st)
	}
	o := ps.awaitOrder(no, "PAID")
	if o.Payment == nil || o.Payment.OutTradeNo != t2 {
		t.Errorf("paid by %+v; want %s", o.Payment, t2)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		o = ps.awaitOrder(no, "PAID")
		if len(o.Trades) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order's trades = %+v", o.Trades)
		}
	}
	closed := fmt.Sprint(o.Trades)
	if !strings.Contains(closed, t1) || !strings.Contains(closed, "PaymentClosed") || !strings.Contains(closed, "superseded") {
		t.Errorf("order's trades = %s; want %s closed, superseded", closed, t1)
	}
	if v := ps.metric("pay_trades_closed_total", map[string]string{"reason": "superseded"}); v != 1 {
		t.Errorf("closed superseded = %v; want 1", v)
	}
}

// TestPayHoldLapses: a trade not paid by its hold's expiry is closed with
// the provider (PaymentClosed, reason expired) as the hold lapses; the
// order is EXPIRED and cannot be paid again.
func TestPayHoldLapses(t *testing.T) {
	ps := startPaySystem(t, paysim.Config{}, nil)
	r := ps.do("POST", "/v1/programs", adminToken, map[string]any{
		"id": "brief", "name": "Brief", "hold_ttl_seconds": 10, "max_seats_per_hold": 4, "max_seats_per_user": 8,
		"categories": []map[string]any{{"id": "std", "name": "Standard", "price_cents": 20000}},
		"grid":       map[string]any{"sections": 1, "rows": 1, "cols": 10, "categories": []map[string]any{{"id": "std", "rows": []int{1, 1}}}},
	}, nil)
	ps.want(r, 201, "")
	ps.want(ps.do("POST", "/v1/programs/brief/open", adminToken, nil, nil), 200, "")
	buyer := ps.token(11)
	no, _ := ps.order(buyer, "brief", 1)
	p := ps.do("POST", "/v1/orders/"+no+"/pay", buyer, `{"channel":"alipay"}`, nil)
	ps.want(p, 201, "")
	otn := p.json(t)["out_trade_no"].(string)
	ps.waitMetric("pay_trades_closed_total", map[string]string{"reason": "expired"}, "the trade closed at expiry", func(v float64) bool { return v == 1 })
	if st := ps.simTrade("alipay", otn)["state"]; st != "CLOSED" {
		t.Errorf("the lapsed trade at paysim is %v; want CLOSED", st)
	}
	o := ps.awaitOrder(no, "EXPIRED")
	for deadline := time.Now().Add(10 * time.Second); len(o.Trades) == 0; time.Sleep(10 * time.Millisecond) {
		o = ps.awaitOrder(no, "EXPIRED")
		if time.Now().After(deadline) {
			t.Fatal("PaymentClosed never reached the order")
		}
	}
	if o.Trades[0].OutTradeNo != otn || o.Trades[0].Reason != "expired" {
		t.Errorf("order's trades = %+v", o.Trades)
	}
	ps.refused(ps.do("POST", "/v1/orders/"+no+"/pay", buyer, `{"channel":"alipay"}`, nil), 409, "ORDER_NOT_PAYABLE", nil, "")
	if v := ps.metric("pay_active_trades", nil); v != 0 {
		t.Errorf("active trades = %v; want 0", v)
	}
}

// TestPayHoldCancelled: a hold given back closes its order's open trade
// (reason released), so the buyer cannot pay it by mistake and be
// refunded later.
func TestPayHoldCancelled(t *testing.T) {
	ps := startPaySystem(t, paysim.Config{}, nil)
	ps.arena("show")
	buyer := ps.token(12)
	no, holdID := ps.order(buyer, "show", 1)
	p := ps.do("POST", "/v1/orders/"+no+"/pay", buyer, `{"channel":"alipay"}`, nil)
	ps.want(p, 201, "")
	otn := p.json(t)["out_trade_no"].(string)
	ps.want(ps.do("DELETE", "/v1/holds/"+holdID, buyer, nil, nil), 200, "")
	ps.awaitOrder(no, "CANCELLED")
	ps.waitMetric("pay_trades_closed_total", map[string]string{"reason": "released"}, "the trade closed once its hold was given back", func(v float64) bool { return v == 1 })
	if st := ps.simTrade("alipay", otn)["state"]; st != "CLOSED" {
		t.Errorf("the trade of a cancelled order at paysim is %v; want CLOSED", st)
	}
	if v := ps.metric("pay_active_trades", nil); v != 0 {
		t.Errorf("active trades = %v; want 0", v)
	}
}

// TestPayLateRefunded: a payment whose news comes only after its hold
// lapsed (every notification dropped; the close at expiry finds the
// trade paid) buys nothing: the order service owes it back, and the pay
// service refunds it in full under R<out_trade_no>, once; the order ends
// REFUNDED and paysim's trade REFUNDED.
func TestPayLateRefunded(t *testing.T) {
	ps := startPaySystem(t, paysim.Config{Faults: paysim.Faults{Drop: 1}}, nil)
	r := ps.do("POST", "/v1/programs", adminToken, map[string]any{
		"id": "brief", "name": "Brief", "hold_ttl_seconds": 10, "max_seats_per_hold": 4, "max_seats_per_user": 8,
		"categories": []map[string]any{{"id": "std", "name": "Standard", "price_cents": 20000}},
		"grid":       map[string]any{"sections": 1, "rows": 1, "cols": 10, "categories": []map[string]any{{"id": "std", "rows": []int{1, 1}}}},
	}, nil)
	ps.want(r, 201, "")
	ps.want(ps.do("POST", "/v1/programs/brief/open", adminToken, nil, nil), 200, "")
	buyer := ps.token(12)
	no, _ := ps.order(buyer, "brief", 1)
	p := ps.do("POST", "/v1/orders/"+no+"/pay", buyer, `{"channel":"alipay"}`, nil)
	ps.want(p, 201, "")
	otn := p.json(t)["out_trade_no"].(string)
	if st := ps.sim.Pay(t, "alipay", otn); st != 200 {
		t.Fatalf("paysim pay = %d", st)
	}
	o := ps.awaitOrder(no, "REFUNDED")
	if len(o.Refunds) != 1 || o.Refunds[0].OutRequestNo != pay.RefundNo(otn) || o.Refunds[0].AmountCents != 20000 {
		t.Errorf("order's refunds = %+v", o.Refunds)
	}
	if st := ps.simTrade("alipay", otn); st["state"] != "REFUNDED" || st["refunded_cents"].(float64) != 20000 {
		t.Errorf("paysim's trade = %v; want REFUNDED in full", st)
	}
	// The payment bought no seat, so its refund names none, as the buyer
	// reads the order.
	g := ps.do("GET", "/v1/orders/"+no, buyer, nil, nil)
	ps.want(g, 200, "")
	if refunds, _ := g.json(t)["refunds"].([]any); len(refunds) != 1 || fmt.Sprint(refunds[0].(map[string]any)["seat_ids"]) != "[]" ||
		g.json(t)["refunded_seat_ids"] != nil {
		t.Errorf("GET order: refunds %v, refunded_seat_ids %v; want one refund naming no seat", g.json(t)["refunds"], g.json(t)["refunded_seat_ids"])
	}
	time.Sleep(200 * time.Millisecond) // scans would refund again
	if v := ps.metric("pay_refunds_total", map[string]string{"outcome": "SUCCEEDED"}); v != 1 {
		t.Errorf("refunds = %v; want 1", v)
	}
	if evs := ps.payEvents(no); evs[events.RefundSucceeded] != 1 || evs[events.PaymentSucceeded] != 1 {
		t.Errorf("pay.events of the order = %v", evs)
	}
}
