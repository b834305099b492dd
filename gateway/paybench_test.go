package gateway

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	rpc "seatd/kitex_gen/inventoryrpc"
	"seatd/paysim"
	"seatd/raftfsm"
)

var paidOrderBuyers = flag.Int("paid-orders.buyers", 32, "BenchmarkPaidOrders: buyers at once, each its own user (at most 64)")

// BenchmarkPaidOrders measures paid orders per second end to end, on
// startPaySystem's whole purchase (one seatd node, the broker of
// kafkatest.Brokers, the order and pay services, paysim, the gateway).
// Each of -paid-orders.buyers buyers (default 32, each its own user)
// loops: POST a hold of one seat through the gateway, wait for its order
// (read from the order service's store every 2 ms), POST
// /v1/orders/{no}/pay (Alipay, QR), tell paysim to pay the trade at once
// (its control endpoint), and wait until seatd has served the confirm of
// the hold: the seats are sold (a hook on seatd's RPC server says so, so
// nothing polls). paysim's notification goes to the gateway's notify
// route, the pay service applies it and publishes PaymentSucceeded, the
// order service applies that and confirms the hold in seatd.
//
// Reports orders/s; hold-sold p50/p99 (from sending the hold to seatd's
// confirm, each order); notify-sold p50/p99 (from the notification's
// arrival at the pay service, through the gateway's route and its Kitex
// call, to seatd's confirm); paid-confirmed-mean-ms, the mean of
// orderflow_paid_to_confirmed_seconds (the order service's share: from
// committing the PaymentSucceeded to committing seatd's ok); and
// cpu-ms/order, the test process's user+system CPU over the timed run
// (everything but a real broker's JVM).
//
//	go test -run '^$' -bench PaidOrders -benchtime 2000x -count 3 ./gateway
//	SEATD_KAFKA=real go test -run '^$' -bench PaidOrders -benchtime 2000x -count 3 ./gateway
func BenchmarkPaidOrders(b *testing.B) {
	buyers := *paidOrderBuyers
	if buyers < 1 || buyers > maxTestCallers {
		b.Fatalf("-paid-orders.buyers %d: want 1 to %d", buyers, maxTestCallers)
	}
	ps := startPaySystem(b, paysim.Config{}, nil)
	seats := (max(b.N, buyers) + 99) / 100 * 100
	ps.want(ps.do("POST", "/v1/programs", adminToken, map[string]any{
		"id": "bench", "name": "Bench", "max_seats_per_hold": 1, "max_seats_per_user": min(seats, 1<<16),
		"categories": []map[string]any{{"id": "a", "name": "A", "price_cents": 10000}},
		"grid":       map[string]any{"sections": 1, "rows": seats / 100, "cols": 100, "categories": []map[string]any{{"id": "a", "rows": []int{1, seats / 100}}}},
	}, nil), 201, "")
	ps.want(ps.do("POST", "/v1/programs/bench/open", adminToken, nil, nil), 200, "")

	tr := &paidOrders{orders: map[int64]*paidOrder{}}
	notified := func(channel string, body []byte) {
		form, err := url.ParseQuery(string(body))
		no, _, ok := strings.Cut(form.Get("out_trade_no"), "_")
		if err != nil || !ok || channel != "alipay" {
			return
		}
		n, _ := strconv.ParseInt(no, 10, 64)
		tr.notified(n, time.Now())
	}
	ps.notified.Store(&notified)
	sold := func(method string, _ *raftfsm.Node, resp any) {
		r, ok := resp.(*rpc.InventoryConfirmResult)
		if method == "Confirm" && ok && r.Success != nil && r.Success.Status.Route == rpc.Route_OK && r.Success.Status.Code == 0 &&
			r.Success.Hold != nil {
			tr.sold(r.Success.Hold.OrderNo, time.Now())
		}
	}
	ps.served.Store(&sold)
	tokens := make([]string, buyers)
	for i := range tokens {
		tokens[i] = ps.token(int64(1000 + i))
	}

	holdSold := make([]*hdrhistogram.Histogram, buyers)
	notifySold := make([]*hdrhistogram.Histogram, buyers)
	var next atomic.Int64
	var wg sync.WaitGroup
	cpu0 := cpuTime(b)
	b.ResetTimer()
	start := time.Now()
	for w := range buyers {
		holdSold[w] = hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
		notifySold[w] = hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				notifiedAt, soldAt, err := tr.buy(ps, tokens[w])
				if err != nil {
					b.Errorf("buyer %d: %v", w, err)
					return
				}
				_ = holdSold[w].RecordValue(soldAt.Sub(t0).Microseconds())
				_ = notifySold[w].RecordValue(soldAt.Sub(notifiedAt).Microseconds())
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime(b) - cpu0
	b.StopTimer()
	if b.Failed() {
		return
	}
	// The order service records seatd's answers just after seatd serves
	// them.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if n, _ := ps.histogram("orderflow_paid_to_confirmed_seconds"); n >= uint64(b.N) {
			break
		}
		if time.Now().After(deadline) {
			n, _ := ps.histogram("orderflow_paid_to_confirmed_seconds")
			b.Fatalf("orderflow_paid_to_confirmed_seconds observed %d confirms; want %d", n, b.N)
		}
	}
	n, sum := ps.histogram("orderflow_paid_to_confirmed_seconds")
	hs, ns := merged(holdSold), merged(notifySold)
	ms := func(us int64) float64 { return float64(us) / 1000 }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "orders/s")
	b.ReportMetric(ms(hs.ValueAtQuantile(50)), "hold-sold-p50-ms")
	b.ReportMetric(ms(hs.ValueAtQuantile(99)), "hold-sold-p99-ms")
	b.ReportMetric(ms(ns.ValueAtQuantile(50)), "notify-sold-p50-ms")
	b.ReportMetric(ms(ns.ValueAtQuantile(99)), "notify-sold-p99-ms")
	b.ReportMetric(sum/float64(n)*1000, "paid-confirmed-mean-ms")
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/order")
	b.ReportMetric(0, "ns/op")
}

// paidOrders are the orders under way in BenchmarkPaidOrders, for the
// hooks that time them.
type paidOrders struct {
	mu     sync.Mutex
	orders map[int64]*paidOrder // guarded by mu; by order number, one per buyer at most
}

// paidOrder is one order under way.
type paidOrder struct {
	notifiedAt time.Time      // guarded by paidOrders.mu; the first notification's arrival
	soldAt     chan time.Time // cap 1: seatd's first confirm
}

// buy makes one paid order for the buyer and returns when its first
// notification arrived and when seatd confirmed its hold.
func (tr *paidOrders) buy(ps *paySystem, buyer string) (notifiedAt, soldAt time.Time, err error) {
	h, err := ps.send("POST", "/v1/programs/bench/holds", buyer, map[string]any{"count": 1}, nil)
	if err != nil {
		return notifiedAt, soldAt, err
	}
	var held struct {
		OrderNo string `json:"order_no"`
	}
	if err := json.Unmarshal(h.body, &held); h.status != 201 || err != nil {
		return notifiedAt, soldAt, fmt.Errorf("hold = %d %s", h.status, h.body)
	}
	no, _ := strconv.ParseInt(held.OrderNo, 10, 64)
	o := &paidOrder{soldAt: make(chan time.Time, 1)}
	tr.mu.Lock()
	tr.orders[no] = o
	tr.mu.Unlock()
	defer func() {
		tr.mu.Lock()
		delete(tr.orders, no)
		tr.mu.Unlock()
	}()
	if _, err := ps.waitOrder(held.OrderNo, "PENDING_PAYMENT", 2*time.Millisecond); err != nil {
		return notifiedAt, soldAt, err
	}
	p, err := ps.send("POST", "/v1/orders/"+held.OrderNo+"/pay", buyer, `{"channel":"alipay","mode":"qr"}`, nil)
	if err != nil {
		return notifiedAt, soldAt, err
	}
	var trade struct {
		OutTradeNo string `json:"out_trade_no"`
	}
	if err := json.Unmarshal(p.body, &trade); p.status != 201 || err != nil {
		return notifiedAt, soldAt, fmt.Errorf("pay order %s = %d %s", held.OrderNo, p.status, p.body)
	}
	if st, err := ps.sim.TryPay("alipay", trade.OutTradeNo); err != nil || st != 200 {
		return notifiedAt, soldAt, fmt.Errorf("paysim pay %s = %d, %v", trade.OutTradeNo, st, err)
	}
	select {
	case soldAt = <-o.soldAt:
	case <-time.After(30 * time.Second):
		return notifiedAt, soldAt, fmt.Errorf("order %s paid, its hold not confirmed after 30 s", held.OrderNo)
	}
	tr.mu.Lock()
	notifiedAt = o.notifiedAt
	tr.mu.Unlock()
	if notifiedAt.IsZero() {
		return notifiedAt, soldAt, fmt.Errorf("order %s sold, and no notification of it arrived", held.OrderNo)
	}
	return notifiedAt, soldAt, nil
}

// notified records a notification of an order's trade arriving at at.
func (tr *paidOrders) notified(no int64, at time.Time) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if o := tr.orders[no]; o != nil && o.notifiedAt.IsZero() {
		o.notifiedAt = at
	}
}

// sold records seatd's confirm of an order's hold at at.
func (tr *paidOrders) sold(no int64, at time.Time) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if o := tr.orders[no]; o != nil {
		select {
		case o.soldAt <- at:
		default: // a repeated confirm
		}
	}
}

func merged(hs []*hdrhistogram.Histogram) *hdrhistogram.Histogram {
	all := hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
	for _, h := range hs {
		all.Merge(h)
	}
	return all
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
