package orderflow

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudwego/kitex/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"seatd/internal/clocktest"
	"seatd/internal/kafkatest"
	"seatd/inventory"
	rpc "seatd/kitex_gen/inventoryrpc"
	invsvc "seatd/kitex_gen/inventoryrpc/inventory"
	"seatd/noderpc"
	"seatd/orderflow/events"
	"seatd/orderflow/orders"
	"seatd/orderflow/relay"
	"seatd/raftfsm"
	"seatd/seatclient"
)

// seatSystem is a one-node seatd cluster behind a real Kitex server, its
// relay publishing to a kfake broker, and a routing client of it, with a
// clock the test moves. Holds expire only when a command comes (no ticks):
// so a test decides whether the expiry or the payment comes first.
type seatSystem struct {
	brokers []string
	client  *seatclient.Client
	clock   *clocktest.Clock
}

func startSeats(t *testing.T) *seatSystem {
	t.Helper()
	sys := &seatSystem{brokers: kafkatest.Embedded(t), clock: clocktest.New(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))}
	rel, err := relay.New(relay.Config{Brokers: sys.brokers, Topics: events.Topics(testPartitions, 1), Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	node, err := raftfsm.StartNode(raftfsm.NodeConfig{ID: "n1", Dir: t.TempDir(), Addr: "127.0.0.1:0", Groups: 1, Duty: rel.Duty,
		RPCAddr: ln.Addr().String(), Clock: sys.clock, TickInterval: time.Minute,
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Bootstrap([]raftfsm.Peer{{ID: "n1", Addr: node.Addr()}}); err != nil {
		t.Fatal(err)
	}
	h, err := noderpc.New(node, noderpc.Config{})
	if err != nil {
		t.Fatal(err)
	}
	svr := invsvc.NewServer(h, server.WithListener(ln), server.WithExitWaitTime(time.Millisecond))
	go svr.Run()
	t.Cleanup(func() {
		svr.Stop()
		node.Shutdown(false)
	})
	sys.client, err = seatclient.New(seatclient.Config{Seeds: []string{ln.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a writable group", func() bool {
		st := node.Stats()
		return len(st) == 2 && st[0].Writable && st[1].Writable
	})
	ctx := context.Background()
	spec := &rpc.ProgramSpec{Id: "show", Name: "Show", HoldTtlSeconds: 600, RefundResells: true,
		Categories: []*rpc.Category{{Id: "a", PriceCents: 5000}}}
	row := &rpc.Row{Id: "1", Rank: 1}
	for c := int32(1); c <= 10; c++ {
		row.Seats = append(row.Seats, &rpc.Seat{Col: c, Category: "a"})
	}
	spec.Sections = []*rpc.Section{{Id: "A", Rows: []*rpc.Row{row}}}
	if r, err := sys.client.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: spec}); err != nil || r.Status.CodeName != "ok" {
		t.Fatalf("CreateProgram = %v, %v", r, err)
	}
	if r, err := sys.client.SetSale(ctx, &rpc.SetSaleRequest{ProgramId: "show", Open: true}); err != nil || r.Status.CodeName != "ok" {
		t.Fatalf("SetSale = %v, %v", r, err)
	}
	return sys
}

// hold holds two seats for user and returns the hold.
func (sys *seatSystem) hold(t *testing.T, user int64) *rpc.Hold {
	t.Helper()
	r, err := sys.client.PlaceHold(context.Background(), &rpc.HoldRequest{ProgramId: "show", UserId: user, Count: 2})
	if err != nil || r.Status.CodeName != "ok" {
		t.Fatalf("PlaceHold(user %d) = %v, %v", user, r, err)
	}
	return r.Hold
}

func (sys *seatSystem) holdStatus(t *testing.T, id int64) string {
	t.Helper()
	r, err := sys.client.GetHold(context.Background(), &rpc.GetHoldRequest{HoldId: id, Consistent: true})
	if err != nil || r.Hold == nil {
		t.Fatalf("GetHold(%d) = %v, %v", id, r, err)
	}
	return r.Hold.Status
}

// free counts the program's free seats.
func (sys *seatSystem) free(t *testing.T) int32 {
	t.Helper()
	r, err := sys.client.Availability(context.Background(), &rpc.AvailabilityRequest{ProgramId: "show", Consistent: true})
	if err != nil || len(r.Categories) != 1 {
		t.Fatalf("Availability = %v, %v", r, err)
	}
	return r.Categories[0].Free
}

// payEvent is an outcome of the pay service for a hold's order.
func payEvent(h *rpc.Hold, typ events.Type, number string, amount int64) events.PayEvent {
	ev := events.PayEvent{Version: events.Version, ID: events.PayEventID(number, typ), Type: typ, At: time.Now().UTC(),
		OrderNo: strconv.FormatInt(h.OrderNo, 10), UserID: strconv.FormatInt(h.UserId, 10), HoldID: strconv.FormatInt(h.HoldId, 10),
		Channel: events.ChannelAlipay, OutTradeNo: number, TradeNo: "2027" + number, AmountCents: amount}
	if typ == events.PaymentClosed {
		ev.AmountCents, ev.Reason = 0, "superseded"
	}
	return ev
}

// refundEvent is a refund's outcome of trade for the seats named.
func refundEvent(h *rpc.Hold, typ events.Type, trade, number string, amount int64, seats ...string) events.PayEvent {
	ev := payEvent(h, typ, trade, amount)
	ev.ID, ev.OutRequestNo, ev.SeatIDs = events.PayEventID(number, typ), number, seats
	return ev
}

// producePay publishes to pay.events as the pay service will: key the
// order number, partition by its gene.
func producePay(tb testing.TB, brokers []string, evs ...events.PayEvent) {
	tb.Helper()
	msgs := make([]kafka.Message, len(evs))
	for i, ev := range evs {
		v, err := json.Marshal(ev)
		if err != nil {
			tb.Fatal(err)
		}
		n, _ := strconv.ParseUint(ev.OrderNo, 10, 64)
		msgs[i] = kafka.Message{Key: events.Key(inventory.OrderNo(n)), Value: v}
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: events.TopicPay, Balancer: events.GeneBalancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		tb.Fatalf("produce pay: %v", err)
	}
}

// waitStatus waits until cond holds of the hold's order and returns it.
func waitStatus(tb testing.TB, s *Service, h *rpc.Hold, what string, cond func(o orders.Order) bool) orders.Order {
	tb.Helper()
	var o orders.Order
	waitFor(tb, what, func() bool {
		var err error
		o, err = s.Order(inventory.OrderNo(h.OrderNo))
		return err == nil && cond(o)
	})
	return o
}

// counting is an Inventory that counts the calls it passes on.
type counting struct {
	Inventory
	confirms, refunds atomic.Int64
}

func (c *counting) Confirm(ctx context.Context, req *rpc.ConfirmRequest) (*rpc.HoldResponse, error) {
	c.confirms.Add(1)
	return c.Inventory.Confirm(ctx, req)
}

func (c *counting) Refund(ctx context.Context, req *rpc.RefundRequest) (*rpc.RefundResponse, error) {
	c.refunds.Add(1)
	return c.Inventory.Refund(ctx, req)
}

// gated is an Inventory whose confirms wait until open is closed.
type gated struct {
	Inventory
	open chan struct{}
}

func (g gated) Confirm(ctx context.Context, req *rpc.ConfirmRequest) (*rpc.HoldResponse, error) {
	select {
	case <-g.open:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Inventory.Confirm(ctx, req)
}

// unanswered is an Inventory that never answers: a process that dies
// before its call reaches the inventory.
type unanswered struct{ Inventory }

func (unanswered) Confirm(ctx context.Context, _ *rpc.ConfirmRequest) (*rpc.HoldResponse, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func payConfig(sys *seatSystem, dir string, inv Inventory) Config {
	cfg := testConfig(sys.brokers, dir, 0, 1, testPartitions)
	cfg.Inventory = inv
	cfg.Registerer = prometheus.NewRegistry()
	return cfg
}

// TestPaymentConfirmsHold: a payment delivered 8 times, interleaved with
// the close of an earlier trade delivered 3 times, makes the order PAID
// once and confirms the hold in seatd once (its seats sold); the
// HoldConfirmed that follows agrees. Then refunds of one seat and of the
// other release each in seatd: PARTIALLY_REFUNDED, then REFUNDED, the
// money counted once although SeatsRefunded also arrives.
func TestPaymentConfirmsHold(t *testing.T) {
	sys := startSeats(t)
	inv := &counting{Inventory: sys.client}
	s := startService(t, payConfig(sys, t.TempDir(), inv))
	h := sys.hold(t, 7)
	waitStatus(t, s, h, "order placed", func(o orders.Order) bool { return o.Status == orders.StatusPendingPayment })

	paid := payEvent(h, events.PaymentSucceeded, "T2", 10000)
	closed := payEvent(h, events.PaymentClosed, "T1", 0)
	var evs []events.PayEvent
	for i := range 8 {
		evs = append(evs, paid)
		if i%3 == 0 {
			evs = append(evs, closed)
		}
	}
	evs[0], evs[1] = evs[1], evs[0] // the close first
	producePay(t, sys.brokers, evs...)
	o := waitStatus(t, s, h, "order paid and hold confirmed", func(o orders.Order) bool {
		return o.Status == orders.StatusPaid && o.Confirm == orders.ConfirmDone && o.HoldStatus == orders.HoldConfirmed
	})
	if o.PaidCents != 10000 || len(o.PayEventIDs) != 2 || len(o.Trades) != 2 || o.Payment.OutTradeNo != "T2" || len(o.RefundsDue) != 0 {
		t.Errorf("paid order = %+v; want 10000 paid by T2, 2 pay events, 2 trades, nothing due", o)
	}
	if got := sys.holdStatus(t, h.HoldId); got != "CONFIRMED" {
		t.Errorf("hold in seatd = %s; want CONFIRMED", got)
	}
	if free := sys.free(t); free != 8 {
		t.Errorf("free seats = %d; want 8 (two sold)", free)
	}
	payCaughtUp(t, s) // the copies after the one applied are counted as they are read
	if got := testutil.ToFloat64(s.metrics.applied.WithLabelValues("PaymentSucceeded")); got != 1 {
		t.Errorf("PaymentSucceeded applied %v times; want 1", got)
	}
	if got := testutil.ToFloat64(s.metrics.duplicates); got != 7+2 {
		t.Errorf("duplicates = %v; want 9", got)
	}
	if n := inv.confirms.Load(); n > 1 {
		t.Errorf("%d confirms; want at most 1 (the HoldConfirmed may come first)", n)
	}

	// Refund one seat, then the other.
	seat0, seat1 := h.Seats[0].Id, h.Seats[1].Id
	producePay(t, sys.brokers, refundEvent(h, events.RefundSucceeded, "T2", "R1", 5000, seat0))
	o = waitStatus(t, s, h, "one seat refunded and released", func(o orders.Order) bool {
		return o.Status == orders.StatusPartiallyRefunded && len(o.Refunds) == 1 && o.Refunds[0].Release == orders.ReleaseDone &&
			len(o.RefundedSeatIDs) == 1
	})
	if o.RefundedCents != 5000 || o.HoldStatus != orders.HoldConfirmed {
		t.Errorf("after one refund: %d cents, hold %s; want 5000, CONFIRMED", o.RefundedCents, o.HoldStatus)
	}
	if free := sys.free(t); free != 9 {
		t.Errorf("free seats = %d; want 9 (one back on sale)", free)
	}
	producePay(t, sys.brokers, refundEvent(h, events.RefundSucceeded, "T2", "R2", 5000, seat1),
		refundEvent(h, events.RefundSucceeded, "T2", "R1", 5000, seat0)) // R1 again
	o = waitStatus(t, s, h, "both seats refunded and released", func(o orders.Order) bool {
		return o.Status == orders.StatusRefunded && o.HoldStatus == orders.HoldRefunded && len(o.Refunds) == 2 &&
			o.Refunds[1].Release == orders.ReleaseDone
	})
	if o.RefundedCents != 10000 {
		t.Errorf("refunded %d cents; want 10000 (once each, never above paid)", o.RefundedCents)
	}
	if got := sys.holdStatus(t, h.HoldId); got != "REFUNDED" {
		t.Errorf("hold in seatd = %s; want REFUNDED", got)
	}
	if free := sys.free(t); free != 10 {
		t.Errorf("free seats = %d; want 10", free)
	}
	if n := inv.refunds.Load(); n != 2 {
		t.Errorf("%d seat releases; want 2", n)
	}
}

// TestLatePayment: a payment that races the expiry (applied while the
// order is pending, its confirm reaching seatd after the hold lapsed) is
// refused by seatd's confirm: the order is REFUND_DUE with a refund due
// for the pay service. A payment after the hold expired (and the order
// said so) ends the same way, without a confirm. The seats stay free. Then the store is
// deleted and rebuilt: the orders, both offsets, the refunds due come
// back, and nothing is applied twice.
func TestLatePayment(t *testing.T) {
	sys := startSeats(t)
	inv := &counting{Inventory: sys.client}
	gate := gated{Inventory: inv, open: make(chan struct{})}
	dir := t.TempDir()
	s := startService(t, payConfig(sys, dir, gate))
	a := sys.hold(t, 1) // expires, and the order says so, before its payment
	b := sys.hold(t, 2) // paid in time for the order service, confirmed too late for seatd
	waitStatus(t, s, a, "order placed", func(o orders.Order) bool { return o.Version == 1 })
	waitStatus(t, s, b, "order placed", func(o orders.Order) bool { return o.Version == 1 })

	producePay(t, sys.brokers, payEvent(b, events.PaymentSucceeded, "TB", 10000))
	waitStatus(t, s, b, "order b paid, confirm due", func(o orders.Order) bool {
		return o.Status == orders.StatusPaid && o.Confirm == orders.ConfirmDue
	})
	sys.clock.Advance(11 * time.Minute) // the TTL is 10 minutes; no tick has run
	close(gate.open)                    // the confirm finds the hold lapsed, and expires it
	o := waitStatus(t, s, b, "order b refund due, hold released", func(o orders.Order) bool {
		return o.Status == orders.StatusRefundDue && o.HoldStatus == orders.HoldReleased
	})
	if len(o.RefundsDue) != 1 || o.RefundsDue[0].OutTradeNo != "TB" || o.Confirm != orders.ConfirmRefused || o.PaidCents != 10000 {
		t.Errorf("racing payment: %+v; want TB's 10000 due back, confirm REFUSED", o)
	}
	if got := sys.holdStatus(t, b.HoldId); got != "RELEASED" {
		t.Errorf("hold b in seatd = %s; want RELEASED", got)
	}

	waitStatus(t, s, a, "order a expired", func(o orders.Order) bool { return o.Status == orders.StatusExpired })
	producePay(t, sys.brokers, payEvent(a, events.PaymentSucceeded, "TA", 10000))
	o = waitStatus(t, s, a, "order a refund due", func(o orders.Order) bool { return o.Status == orders.StatusRefundDue })
	if len(o.RefundsDue) != 1 || o.RefundsDue[0].OutTradeNo != "TA" || o.RefundsDue[0].AmountCents != 10000 ||
		o.RefundsDue[0].Reason != "hold_expired" || o.PaidCents != 10000 || o.Confirm != orders.ConfirmNone {
		t.Errorf("late payment: %+v; want 10000 paid and due back (hold_expired), no confirm", o)
	}
	if free := sys.free(t); free != 10 {
		t.Errorf("free seats = %d; want 10 (nothing sold)", free)
	}
	dues := map[string]bool{}
	for p := range testPartitions {
		page, err := s.RefundsDue(p, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Refunds {
			dues[d.OutTradeNo] = d.OrderNo == strconv.FormatInt(a.OrderNo, 10) || d.OrderNo == strconv.FormatInt(b.OrderNo, 10)
		}
	}
	if !dues["TA"] || !dues["TB"] || len(dues) != 2 {
		t.Errorf("refunds due = %v; want TA and TB, with their orders", dues)
	}

	// The pay service refunds TA: no seats to release (none were sold).
	producePay(t, sys.brokers, refundEvent(a, events.RefundSucceeded, "TA", "RA", 10000))
	o = waitStatus(t, s, a, "order a refunded", func(o orders.Order) bool { return o.Status == orders.StatusRefunded })
	if !o.RefundsDue[0].Settled || o.RefundedCents != 10000 || o.Refunds[0].Release != orders.ReleaseNone {
		t.Errorf("refunded late payment: %+v; want settled, 10000 back, no release", o)
	}
	if n := inv.refunds.Load(); n != 0 {
		t.Errorf("%d seat releases; want 0", n)
	}

	// Every store deleted and rebuilt from the changelog.
	caughtUp(t, s)
	payCaughtUp(t, s)
	before := map[int]orders.State{}
	for _, p := range s.owned {
		before[p] = s.parts[p].store.State()
	}
	oa, _ := s.Order(inventory.OrderNo(a.OrderNo))
	ob, _ := s.Order(inventory.OrderNo(b.OrderNo))
	s.Close()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	rc := payConfig(sys, dir, inv)
	rc.RebuildMissing = true
	s2 := startService(t, rc)
	withOrders := map[int]bool{s2.PartitionOfOrder(inventory.OrderNo(a.OrderNo)): true, s2.PartitionOfOrder(inventory.OrderNo(b.OrderNo)): true}
	if got := testutil.ToFloat64(s2.metrics.rebuilds); got != float64(len(withOrders)) {
		t.Errorf("rebuilds = %v; want %d (the partitions with orders)", got, len(withOrders))
	}
	for _, p := range s2.owned {
		now, was := s2.parts[p].store.State(), before[p]
		if now.Offset != was.Offset || now.PayOffset != was.PayOffset || now.RefundsDue != was.RefundsDue || now.Tasks != 0 {
			t.Errorf("partition %d rebuilt: %+v; want offsets %d/%d and %d refunds due as before, no seat call", p, now, was.Offset, was.PayOffset, was.RefundsDue)
		}
	}
	producePay(t, sys.brokers, payEvent(b, events.PaymentSucceeded, "TB", 10000)) // a re-delivery after the rebuild
	pb := s2.parts[s2.PartitionOfOrder(inventory.OrderNo(b.OrderNo))]
	waitFor(t, "the re-delivery read", func() bool { return pb.payApplied.Load() > before[pb.id].PayOffset })
	for _, want := range []orders.Order{oa, ob} {
		n, _ := want.Number()
		got, err := s2.Order(n)
		if err != nil || got.Version != want.Version || got.Status != want.Status {
			t.Errorf("rebuilt order %s = %s v%d, %v; want %s v%d", want.OrderNo, got.Status, got.Version, err, want.Status, want.Version)
		}
	}
	for _, typ := range []string{"PaymentSucceeded", "RefundSucceeded"} {
		if got := testutil.ToFloat64(s2.metrics.applied.WithLabelValues(typ)); got != 0 {
			t.Errorf("%s applied %v times after the rebuild; want 0", typ, got)
		}
	}
	if got := testutil.ToFloat64(s2.metrics.duplicates); got != 1 {
		t.Errorf("duplicates after the rebuild = %v; want 1", got)
	}
}

// TestConfirmAfterRestart: the service is closed after it recorded a
// payment's confirm as due and before the call reached seatd; started
// again on its store, it confirms the hold, exactly once.
func TestConfirmAfterRestart(t *testing.T) {
	sys := startSeats(t)
	dir := t.TempDir()
	s := startService(t, payConfig(sys, dir, unanswered{sys.client}))
	h := sys.hold(t, 5)
	waitStatus(t, s, h, "order placed", func(o orders.Order) bool { return o.Version == 1 })
	producePay(t, sys.brokers, payEvent(h, events.PaymentSucceeded, "T1", 10000))
	waitStatus(t, s, h, "order paid, confirm due", func(o orders.Order) bool {
		return o.Status == orders.StatusPaid && o.Confirm == orders.ConfirmDue
	})
	part := s.parts[s.PartitionOfOrder(inventory.OrderNo(h.OrderNo))]
	// The count follows the commit that made the order readable.
	waitFor(t, "one seat call due", func() bool { return part.store.State().Tasks == 1 })
	s.Close()
	if got := sys.holdStatus(t, h.HoldId); got != "HELD" {
		t.Fatalf("hold in seatd = %s before the restart; want HELD", got)
	}

	inv := &counting{Inventory: sys.client}
	rc := payConfig(sys, dir, inv)
	rc.RebuildMissing = true
	s2 := startService(t, rc)
	o := waitStatus(t, s2, h, "hold confirmed after the restart", func(o orders.Order) bool {
		return o.Status == orders.StatusPaid && o.Confirm == orders.ConfirmDone && o.HoldStatus == orders.HoldConfirmed
	})
	if got := sys.holdStatus(t, h.HoldId); got != "CONFIRMED" {
		t.Errorf("hold in seatd = %s; want CONFIRMED", got)
	}
	time.Sleep(3 * retryWait) // time for a second call, were there one
	if n := inv.confirms.Load(); n != 1 {
		t.Errorf("%d confirms after the restart; want 1", n)
	}
	if n := s2.parts[s2.PartitionOfOrder(inventory.OrderNo(h.OrderNo))].store.State().Tasks; n != 0 {
		t.Errorf("seat calls due = %d; want 0", n)
	}
	if o.PaidCents != 10000 || len(o.RefundsDue) != 0 {
		t.Errorf("order = %+v; want 10000 paid, nothing due", o)
	}
}
