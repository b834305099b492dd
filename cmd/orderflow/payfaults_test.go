package main

// The payment faults of issue 11, end to end against a real broker: the
// sale of faults_test.go (three seatd processes with their relays, a real
// Kafka broker, orderflow processes) with the payment side on. paysim
// plays both providers in the test process, every orderflow process runs
// the pay service beside the order service with both providers against
// it and confirms paid holds in seatd, and the real gateway runs in the
// test process: buyers hold, pay, and refund over HTTP through it, paysim
// pays through its control endpoint and notifies the gateway's routes.
//
// Each test strikes with a fault while buyers pay, then ends with a
// payment audit (sale.payAudit): once everything has settled, every paid
// order's hold is CONFIRMED in seatd, no seat is sold twice and seatd
// sells exactly the live orders' seats, the money paysim took equals the
// paid orders' payments plus what was owed back, the money paysim gave
// back equals the succeeded refunds, every payment and refund a buyer was
// told of is in its order, and `orderflow reconcile` (the real subcommand
// of the built binary) finds no difference.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"seatd/gateway"
	"seatd/internal/merchant"
	"seatd/inventory"
	rpc "seatd/kitex_gen/inventoryrpc"
	"seatd/orderflow/events"
	"seatd/orderflow/orders"
	"seatd/paysim"
	"seatd/paysim/paysimtest"
)

const (
	// payQueryAfter is the pay service's first query of an unpaid trade
	// (-pay-query-after) unless a test says otherwise; the longest wait
	// between queries is twice it.
	payQueryAfter = time.Second
	// payScanInterval is how often the scheduler looks at open trades
	// and refunds (-pay-scan-interval).
	payScanInterval = 200 * time.Millisecond
	// maxSettle bounds the wait for everything under way to finish before
	// the audit: notifications resent on paysim's (scaled) schedule,
	// queries, confirms, refunds, the publishers catching up after a
	// fault.
	maxSettle = 120 * time.Second
	// maxBuyStep bounds one step of a buyer's purchase (the order appearing,
	// its payment made) while a fault is on.
	maxBuyStep = 30 * time.Second
	// reconcileSettle is `orderflow reconcile -settle`: a difference must
	// persist that long to be reported.
	reconcileSettle = 3 * time.Second
	payAdminToken   = "payfaults-operator-token"
)

// payConfig turns the payment side of a sale on (saleConfig.pay).
type payConfig struct {
	faults paysim.Faults // paysim's notification faults at start
	// queryAfter is -pay-query-after (default payQueryAfter); the
	// longest interval between queries is twice it.
	queryAfter time.Duration
}

// paySide is the payment side of a sale: paysim and the gateway, both in
// the test process.
type paySide struct {
	sim    *paysimtest.Sim
	gwLn   net.Listener // the gateway's, made before the orderflow processes learn its URL
	gwURL  string
	secret []byte // the gateway's HS256 secret: buyers' tokens
	client *http.Client
}

// preparePay starts paysim, writes its keys for the orderflow processes,
// reserves the gateway's address (the providers' notify URL), and
// returns the orderflow flags of the pay service.
func (s *sale) preparePay() []string {
	t := s.t
	s.sim = paysimtest.Start(t, paysim.Config{Faults: s.cfg.pay.faults})
	dir := t.TempDir()
	if err := s.sim.Keys.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	a, w, err := merchant.FromPaysim(dir, s.sim.URL)
	if err != nil {
		t.Fatal(err)
	}
	if s.gwLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	s.gwURL = "http://" + s.gwLn.Addr().String()
	s.client = &http.Client{Timeout: 30 * time.Second} // above the gateway's 20 s bound on provider calls
	qa := s.cfg.pay.queryAfter
	if qa == 0 {
		qa = payQueryAfter
	}
	return []string{"-seatd", strings.Join(s.seeds, ","), "-notify-base-url", s.gwURL,
		"-alipay-gateway", a.Gateway, "-alipay-app-id", a.AppID, "-alipay-key-file", a.KeyFile, "-alipay-public-key-file", a.PublicKeyFile,
		"-wechat-base-url", w.BaseURL, "-wechat-mch-id", w.MchID, "-wechat-app-id", w.AppID, "-wechat-serial", w.Serial,
		"-wechat-key-file", w.KeyFile, "-wechat-apiv3-key-file", w.APIv3KeyFile,
		"-wechat-platform-public-key-file", w.PublicKeyFile, "-wechat-platform-public-key-id", w.PublicKeyID,
		"-pay-query-after", qa.String(), "-pay-max-query-interval", (2 * qa).String(), "-pay-scan-interval", payScanInterval.String()}
}

// startGateway serves the gateway on the reserved listener, over the
// sale's seatd and orderflow clients, until the test ends. Buyers are
// not rate-limited: the tests make bursts on purpose.
func (s *sale) startGateway() {
	t := s.t
	s.secret = bytes.Repeat([]byte("p"), 32)
	gw, err := gateway.New(gateway.Config{Inventory: s.inv, Orders: s.orders, UserRate: 10000, UserBurst: 10000,
		Auth: gateway.AuthConfig{HS256Secret: s.secret, AdminToken: payAdminToken}})
	if err != nil {
		t.Fatal(err)
	}
	gw.Start(s.gwLn)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gw.Stop(ctx)
	})
}

// answer is the gateway's (or paysim's) answer to one request; err is
// set when there was none.
type answer struct {
	status int
	body   []byte
	err    error
}

func (a answer) json() map[string]any {
	var m map[string]any
	json.Unmarshal(a.body, &m)
	return m
}

// code is an error answer's code, "" for a success, and "no_answer" for
// a request that got none.
func (a answer) code() string {
	if a.err != nil {
		return "no_answer"
	}
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(a.body, &e)
	return e.Error.Code
}

func (a answer) String() string {
	if a.err != nil {
		return a.err.Error()
	}
	return fmt.Sprintf("%d %s", a.status, bytes.TrimSpace(a.body))
}

// call sends one request to base+path as user (0: nobody).
func (s *sale) call(ctx context.Context, method, base, path string, user int64, body any) answer {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	if user != 0 {
		token, err := gateway.MintHS256(s.secret, strconv.FormatInt(user, 10), time.Now(), time.Hour)
		if err != nil {
			return answer{err: err}
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: b, err: err}
}

// payLedger is what the buyers were told.
type payLedger struct {
	mu sync.Mutex
	// paid are the orders paysim said it paid (200 from its pay
	// endpoint), with the trade.
	paid map[string]string
	// refunds are the refunds the gateway answered as made (201, 202)
	// by refund number: the answer's status and amount, and the order.
	refunds map[string]refundTold
	// answers counts the answers by step and code ("refund 201",
	// "pay no_answer", ...), for the log and the tests' checks.
	answers map[string]int
}

type refundTold struct {
	order  string
	status string
	amount int64
}

func newPayLedger() *payLedger {
	return &payLedger{paid: map[string]string{}, refunds: map[string]refundTold{}, answers: map[string]int{}}
}

func (l *payLedger) count(step string, a answer) {
	what := strconv.Itoa(a.status)
	if c := a.code(); c != "" {
		what = c
	}
	l.mu.Lock()
	l.answers[step+" "+what]++
	l.mu.Unlock()
}

func (l *payLedger) paidCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.paid)
}

func (l *payLedger) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range l.answers {
			if !yield(k) {
				return
			}
		}
	})
	var b strings.Builder
	fmt.Fprintf(&b, "%d orders paid, %d refunds made; answers:", len(l.paid), len(l.refunds))
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, l.answers[k])
	}
	return b.String()
}

// retryable says whether a buyer tries a step again: no answer, the
// gateway or a service out of reach, or an order the order service has
// not applied yet.
func retryable(a answer) bool {
	return a.err != nil || a.status >= 500 || a.status == http.StatusTooManyRequests || a.code() == "NOT_FOUND"
}

// hold holds n seats for user through the gateway and returns the order
// number ("" when the hold was not acknowledged).
func (s *sale) holdSeats(ctx context.Context, l *payLedger, user int64, n int) string {
	a := s.call(ctx, "POST", s.gwURL, "/v1/programs/"+faultProgram+"/holds", user, map[string]any{"count": n})
	l.count("hold", a)
	if a.status != http.StatusCreated {
		return ""
	}
	no, _ := a.json()["order_no"].(string)
	return no
}

// payOrder starts a payment of an order through channel (QR mode),
// trying again while the order is not applied yet or a service is out of
// reach, and returns the trade ("" when none was made).
func (s *sale) payOrder(ctx context.Context, l *payLedger, user int64, no, channel string) string {
	for deadline := time.Now().Add(maxBuyStep); ctx.Err() == nil; time.Sleep(50 * time.Millisecond) {
		a := s.call(ctx, "POST", s.gwURL, "/v1/orders/"+no+"/pay", user, map[string]string{"channel": channel, "mode": "qr"})
		l.count("pay", a)
		if a.status == http.StatusCreated {
			otn, _ := a.json()["out_trade_no"].(string)
			return otn
		}
		if !retryable(a) || time.Now().After(deadline) {
			return ""
		}
	}
	return ""
}

// simPay has paysim pay a trade, as a buyer scanning its QR code; the
// ledger records the order paid when paysim says so.
func (s *sale) simPay(ctx context.Context, l *payLedger, no, channel, otn string) bool {
	a := s.call(ctx, "POST", s.sim.URL, "/sim/trades/"+channel+"/"+otn+"/pay", 0, nil)
	l.count("simpay", a)
	if a.status != http.StatusOK {
		return false
	}
	l.mu.Lock()
	l.paid[no] = otn
	l.mu.Unlock()
	return true
}

// buyPaid holds n seats for user, pays them through channel and has
// paysim pay the trade; it returns the order number, or "" when a step
// failed (the ledger counts why).
func (s *sale) buyPaid(ctx context.Context, l *payLedger, user int64, n int, channel string) string {
	no := s.holdSeats(ctx, l, user, n)
	if no == "" {
		return ""
	}
	otn := s.payOrder(ctx, l, user, no, channel)
	if otn == "" || !s.simPay(ctx, l, no, channel, otn) {
		return ""
	}
	return no
}

// refundSeats asks for a refund of seats of an order (every seat not
// refunded yet when none are named) as its buyer, trying again while the
// order's seats are being confirmed or a service is out of reach, and
// records the answer.
func (s *sale) refundSeats(ctx context.Context, l *payLedger, user int64, no string, seats []string) answer {
	body := map[string]any{"reason": "payfaults"}
	if len(seats) > 0 {
		body["seat_ids"] = seats
	}
	a := answer{err: context.Canceled} // if the buyer stopped before asking
	for deadline := time.Now().Add(maxBuyStep); ctx.Err() == nil; time.Sleep(100 * time.Millisecond) {
		a = s.call(ctx, "POST", s.gwURL, "/v1/orders/"+no+"/refunds", user, body)
		if a.status == http.StatusCreated || a.status == http.StatusAccepted {
			r := a.json()
			amount, _ := r["amount_cents"].(float64)
			l.mu.Lock()
			l.refunds[r["refund_no"].(string)] = refundTold{order: no, status: r["status"].(string), amount: int64(amount)}
			l.mu.Unlock()
			break
		}
		if !(retryable(a) || a.code() == "ORDER_NOT_REFUNDABLE") || time.Now().After(deadline) {
			break
		}
	}
	l.count("refund", a)
	return a
}

// partitionOrders reads every order of a partition from its owner, as
// the orders changelog carries them (with the payment, trades, refunds,
// refunds due and seat calls, which the order reads leave out).
func (s *sale) partitionOrders(ctx context.Context, p int) ([]orders.Order, error) {
	var all []orders.Order
	for cursor := ""; ; {
		page, err := s.orders.ExportOrders(ctx, p, cursor, 1000)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Orders...)
		if cursor = page.Next; cursor == "" {
			return all, nil
		}
	}
}

// fullOrders reads every order of every partition (partitionOrders).
func (s *sale) fullOrders() (map[string]orders.Order, error) {
	all := map[string]orders.Order{}
	for p := range faultPartitions {
		list, err := s.partitionOrders(context.Background(), p)
		if err != nil {
			return nil, err
		}
		for _, o := range list {
			all[o.OrderNo] = o
		}
	}
	return all, nil
}

// order reads an order in full (partitionOrders).
func (s *sale) order(ctx context.Context, no string) (orders.Order, error) {
	n, err := strconv.ParseUint(no, 10, 64)
	if err != nil {
		return orders.Order{}, err
	}
	list, err := s.partitionOrders(ctx, events.PartitionOfOrder(inventory.OrderNo(n), faultPartitions))
	if err != nil {
		return orders.Order{}, err
	}
	for _, o := range list {
		if o.OrderNo == no {
			return o, nil
		}
	}
	return orders.Order{}, fmt.Errorf("order %s: not found", no)
}

// awaitOrder waits until ok holds for an order, failing after maxSettle.
func (s *sale) awaitOrder(no, what string, ok func(orders.Order) bool) orders.Order {
	s.t.Helper()
	var o orders.Order
	var err error
	for deadline := time.Now().Add(maxSettle); ; time.Sleep(50 * time.Millisecond) {
		if o, err = s.order(context.Background(), no); err == nil && ok(o) {
			return o
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("order %s never %s in %v: %+v, %v", no, what, maxSettle, o, err)
		}
	}
}

// payLoad runs buyers (users 1 to buyers) until the returned stop is
// called: each holds 1 or 2 seats, pays through Alipay and WeChat Pay in
// turn, and has paysim pay; of its paid orders, every third gets one
// seat refunded and every fifth is refunded in full, once confirmed.
func (s *sale) payLoad(l *payLedger, buyers int) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for b := range buyers {
		user := int64(b + 1)
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				channel := [2]string{"alipay", "wechat"}[(b+i)%2]
				no := s.buyPaid(ctx, l, user, 1+i%2, channel)
				switch {
				case no == "":
					time.Sleep(100 * time.Millisecond) // a fault: do not spin
				case i%3 == 1:
					o, err := s.order(ctx, no)
					if err == nil && len(o.Seats) > 0 {
						s.refundSeats(ctx, l, user, no, []string{o.Seats[0].ID})
					}
				case i%5 == 2:
					s.refundSeats(ctx, l, user, no, nil)
				}
			}
		})
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// waitPaid waits until at least n more orders than now are paid at
// paysim, failing after d.
func (s *sale) waitPaid(l *payLedger, n int, d time.Duration) {
	s.t.Helper()
	want := l.paidCount() + n
	for deadline := time.Now().Add(d); l.paidCount() < want; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			s.t.Fatalf("%d orders paid in %v, want %d more: %s", l.paidCount()-want+n, d, n, l)
		}
	}
}

// simTrade is a trade as paysim lists it.
type simTrade struct {
	Channel     string    `json:"channel"`
	OutTradeNo  string    `json:"out_trade_no"`
	State       string    `json:"state"`
	AmountCents int64     `json:"amount_cents"`
	Refunded    int64     `json:"refunded_cents"`
	PaidAt      time.Time `json:"paid_at"`
	Refunds     []struct {
		OutRequestNo string `json:"out_request_no"`
		AmountCents  int64  `json:"amount_cents"`
		Done         bool   `json:"done"`
	} `json:"refunds"`
}

// simTrades lists every trade paysim has, of both channels.
func (s *sale) simTrades() ([]simTrade, error) {
	a := s.call(context.Background(), "GET", s.sim.URL, "/sim/trades?limit="+strconv.Itoa(paysim.MaxListTrades), 0, nil)
	if a.err != nil || a.status != http.StatusOK {
		return nil, fmt.Errorf("GET /sim/trades: %v", a)
	}
	var list struct {
		Total  int        `json:"total"`
		Trades []simTrade `json:"trades"`
	}
	if err := json.Unmarshal(a.body, &list); err != nil {
		return nil, err
	}
	if list.Total > len(list.Trades) {
		return nil, fmt.Errorf("paysim has %d trades, more than a list holds", list.Total)
	}
	return list.Trades, nil
}

// live says whether an order's seats are sold.
func live(o orders.Order) bool {
	return o.Status == orders.StatusPaid || o.Status == orders.StatusPartiallyRefunded
}

// unrefundedSeats are a live order's seats not refunded.
func unrefundedSeats(o orders.Order) []string {
	var out []string
	for _, st := range o.Seats {
		if !slices.Contains(o.RefundedSeatIDs, st.ID) {
			out = append(out, st.ID)
		}
	}
	return out
}

// orderOf is the order number of a trade (<order_no>_<attempt>) or of
// a refund (<order_no>_R<n>, R<out_trade_no>).
func orderOf(no string) string {
	no = strings.TrimPrefix(no, "R")
	before, _, _ := strings.Cut(no, "_")
	return before
}

// unsettled says what, if anything, is still under way: a payment paysim
// took that its order has not applied, a confirm or release in seatd not
// made, money owed back not refunded, a refund paysim has not finished or
// its order not applied, a refund a buyer was told of not applied.
func (s *sale) unsettled(l *payLedger, all map[string]orders.Order, trades []simTrade) []string {
	var why []string
	payments := map[string]bool{} // out_trade_no of every PaymentSucceeded applied
	refunds := map[string]bool{}  // out_request_no of every RefundSucceeded applied
	for no, o := range all {
		for _, tr := range o.Trades {
			if tr.Outcome == events.PaymentSucceeded {
				payments[tr.OutTradeNo] = true
			}
		}
		for _, r := range o.Refunds {
			if r.Outcome == events.RefundSucceeded {
				refunds[r.OutRequestNo] = true
			}
			if r.Release == orders.ReleaseDue {
				why = append(why, fmt.Sprintf("order %s: release of refund %s due", no, r.OutRequestNo))
			}
		}
		if o.Confirm == orders.ConfirmDue {
			why = append(why, fmt.Sprintf("order %s: confirm due", no))
		}
		for _, d := range o.RefundsDue {
			if !d.Settled {
				why = append(why, fmt.Sprintf("order %s: %d owed back for %s", no, d.AmountCents, d.OutTradeNo))
			}
		}
	}
	for _, tr := range trades {
		if !tr.PaidAt.IsZero() && !payments[tr.OutTradeNo] {
			why = append(why, fmt.Sprintf("trade %s paid at paysim, not in its order", tr.OutTradeNo))
		}
		for _, r := range tr.Refunds {
			if !r.Done || !refunds[r.OutRequestNo] {
				why = append(why, fmt.Sprintf("refund %s: done at paysim %v, in its order %v", r.OutRequestNo, r.Done, refunds[r.OutRequestNo]))
			}
		}
	}
	l.mu.Lock()
	for no, r := range l.refunds {
		if !refunds[no] {
			why = append(why, fmt.Sprintf("refund %s answered %s, not succeeded in its order", no, r.status))
		}
	}
	l.mu.Unlock()
	slices.Sort(why)
	return why
}

// payReport is what a payment audit found.
type payReport struct {
	orders, live, refunded, paidTrades, refunds int
	paidCents, refundedCents                    int64
	took                                        time.Duration
}

func (r payReport) String() string {
	return fmt.Sprintf("payment audit in %v: %d orders (%d with seats sold, %d refunded in full), %d trades paid (%d cents), %d refunds (%d cents)",
		r.took.Round(time.Millisecond), r.orders, r.live, r.refunded, r.paidTrades, r.paidCents, r.refunds, r.refundedCents)
}

// payAudit waits until nothing is under way (unsettled), then checks the
// payment side against seatd, paysim and what the buyers were told, and
// runs `orderflow reconcile`, which must find no difference. Call it
// once the load has stopped.
func (s *sale) payAudit(l *payLedger) payReport {
	t := s.t
	t.Helper()
	began := time.Now()
	var all map[string]orders.Order
	var trades []simTrade
	for deadline := time.Now().Add(maxSettle); ; time.Sleep(250 * time.Millisecond) {
		var err1, err2 error
		all, err1 = s.fullOrders()
		trades, err2 = s.simTrades()
		var why []string
		if err := errors.Join(err1, err2); err != nil {
			why = []string{err.Error()}
		} else if why = s.unsettled(l, all, trades); len(why) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled in %v: %d things under way, the first: %s", maxSettle, len(why), strings.Join(why[:min(10, len(why))], "; "))
		}
	}
	rep := payReport{orders: len(all)}

	// Seats: every live order's hold CONFIRMED, no seat of two live
	// orders, and seatd sells exactly the live orders' seats.
	sold := map[string]string{} // seat -> the live order selling it
	ctx := context.Background()
	for no, o := range all {
		if o.Status == orders.StatusRefunded {
			rep.refunded++
		}
		if !live(o) {
			continue
		}
		rep.live++
		if o.Confirm != orders.ConfirmDone {
			t.Errorf("order %s is %s with its confirm %q", no, o.Status, o.Confirm)
		}
		id, _ := strconv.ParseInt(o.HoldID, 10, 64)
		h, err := s.inv.GetHold(ctx, &rpc.GetHoldRequest{HoldId: id, Consistent: true})
		switch {
		case err != nil:
			t.Errorf("order %s: GetHold(%d): %v", no, id, err)
		case h.Status.CodeName != "ok" || h.Hold.Status != "CONFIRMED":
			t.Errorf("order %s is %s, its hold %d in seatd: %s %+v; want CONFIRMED", no, o.Status, id, h.Status.CodeName, h.Hold)
		}
		for _, seat := range unrefundedSeats(o) {
			if other, ok := sold[seat]; ok {
				t.Errorf("seat %s sold to orders %s and %s", seat, other, no)
			}
			sold[seat] = no
		}
	}
	seats := s.call(ctx, "GET", s.gwURL, "/v1/programs/"+faultProgram+"/seats?consistent=true", 0, nil)
	var seatMap struct {
		Seats []struct{ ID, Status string } `json:"seats"`
	}
	if err := json.Unmarshal(seats.body, &seatMap); seats.status != http.StatusOK || err != nil {
		t.Fatalf("seat map: %v (%v)", seats, err)
	}
	soldInSeatd := 0
	for _, st := range seatMap.Seats {
		if st.Status != "sold" {
			if no, ok := sold[st.ID]; ok {
				t.Errorf("seat %s of live order %s is %s in seatd; want sold", st.ID, no, st.Status)
			}
			continue
		}
		soldInSeatd++
		if _, ok := sold[st.ID]; !ok {
			t.Errorf("seatd sells seat %s, which no paid order has", st.ID)
		}
	}
	if soldInSeatd != len(sold) {
		t.Errorf("seatd sells %d seats; the paid orders have %d", soldInSeatd, len(sold))
	}

	// Money: what paysim took is the paying trades of the orders plus
	// what was owed back; what it gave back is the succeeded refunds;
	// never more back than paid, of a trade or an order.
	var simPaid, simRefunded int64
	for _, tr := range trades {
		if tr.PaidAt.IsZero() {
			continue
		}
		rep.paidTrades++
		simPaid += tr.AmountCents
		for _, r := range tr.Refunds {
			simRefunded += r.AmountCents
			rep.refunds++
		}
		if tr.Refunded > tr.AmountCents {
			t.Errorf("paysim: trade %s refunded %d of %d", tr.OutTradeNo, tr.Refunded, tr.AmountCents)
		}
	}
	var ordersPaid, ordersRefunded int64
	for no, o := range all {
		owed := map[string]bool{}
		for _, d := range o.RefundsDue {
			ordersPaid += d.AmountCents
			owed[d.OutTradeNo] = true
		}
		if o.Payment != nil && !owed[o.Payment.OutTradeNo] {
			ordersPaid += o.PaidCents
		}
		for _, r := range o.Refunds {
			if r.Outcome == events.RefundSucceeded {
				ordersRefunded += r.AmountCents
			}
		}
		if o.RefundedCents > o.PaidCents {
			t.Errorf("order %s: refunded %d of %d paid", no, o.RefundedCents, o.PaidCents)
		}
		if o.Status == orders.StatusRefunded && o.RefundedCents != o.PaidCents {
			t.Errorf("order %s is REFUNDED with %d of %d refunded", no, o.RefundedCents, o.PaidCents)
		}
	}
	rep.paidCents, rep.refundedCents = simPaid, simRefunded
	if simPaid != ordersPaid {
		t.Errorf("paysim took %d cents; the orders' payments and what they owe back come to %d", simPaid, ordersPaid)
	}
	if simRefunded != ordersRefunded {
		t.Errorf("paysim gave back %d cents; the orders' succeeded refunds come to %d", simRefunded, ordersRefunded)
	}

	// What the buyers were told: each payment paysim acknowledged is its
	// order's (or owed back), each refund made succeeded with the amount
	// the buyer was told.
	l.mu.Lock()
	for no, otn := range l.paid {
		o, ok := all[no]
		if !ok || !slices.ContainsFunc(o.Trades, func(tr orders.Trade) bool {
			return tr.OutTradeNo == otn && tr.Outcome == events.PaymentSucceeded
		}) {
			t.Errorf("order %s: paysim paid its trade %s, which the order does not have: %+v", no, otn, o)
		}
	}
	for rno, r := range l.refunds {
		o := all[r.order]
		if !slices.ContainsFunc(o.Refunds, func(x orders.Refund) bool {
			return x.OutRequestNo == rno && x.Outcome == events.RefundSucceeded && x.AmountCents == r.amount
		}) {
			t.Errorf("refund %s of order %s answered %s, %d cents; the order has %+v", rno, r.order, r.status, r.amount, o.Refunds)
		}
	}
	l.mu.Unlock()

	s.reconcile()
	rep.took = time.Since(began)
	return rep
}

// reconcile runs the built binary's `orderflow reconcile` against the
// sale, which must exit 0 (no difference).
func (s *sale) reconcile() {
	t := s.t
	t.Helper()
	var flows []string
	for _, p := range s.flows {
		flows = append(flows, p.rpc)
	}
	cmd := exec.Command(s.flowBin, "reconcile", "-orderflow", strings.Join(flows, ","), "-seatd", strings.Join(s.seeds, ","),
		"-settle", reconcileSettle.String(), "-timeout", "2m")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		t.Logf("orderflow reconcile: %s%s", strings.TrimSpace(stdout.String()), notes(stderr.String()))
	case errors.As(err, &exit):
		t.Errorf("orderflow reconcile exited %d:\n%s\n%s", exit.ExitCode(), stdout.String(), stderr.String())
	default:
		t.Errorf("orderflow reconcile: %v", err)
	}
}

func notes(stderr string) string {
	if stderr = strings.TrimSpace(stderr); stderr == "" {
		return ""
	}
	return " (notes: " + strings.ReplaceAll(stderr, "\n", "; ") + ")"
}

// flowSeries sums, over the orderflow processes, the series of a metric
// whose labels include every one of labels (`outcome="applied"`).
func (s *sale) flowSeries(name string, labels ...string) float64 {
	s.t.Helper()
	var total float64
	for _, p := range s.flows {
		m, err := scrape(p.http)
		if err != nil {
			s.t.Fatal(err)
		}
	next:
		for k, v := range m {
			if k != name && !strings.HasPrefix(k, name+"{") {
				continue
			}
			for _, l := range labels {
				if !strings.Contains(k, l) {
					continue next
				}
			}
			total += v
		}
	}
	return total
}

// simStats reads paysim's notification counters.
func (s *sale) simStats() paysim.Stats {
	var got struct {
		Stats paysim.Stats `json:"stats"`
	}
	s.sim.GetJSON(s.t, "/sim/notifications", &got)
	return got.Stats
}

// buyMany has each of n buyers (users 1 to n) buy perBuyer paid orders
// of 1 or 2 seats at once, channels in turn, and returns the orders
// paid.
func (s *sale) buyMany(l *payLedger, n, perBuyer int) []string {
	var mu sync.Mutex
	var nos []string
	var wg sync.WaitGroup
	for b := range n {
		wg.Go(func() {
			for i := range perBuyer {
				if no := s.buyPaid(context.Background(), l, int64(b+1), 1+(b+i)%2, [2]string{"alipay", "wechat"}[(b+i)%2]); no != "" {
					mu.Lock()
					nos = append(nos, no)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return nos
}

// TestPayNotificationFaults: paysim sends every notification attempt 8
// times, in any order (a random wait of up to 300 ms each), and spoils a
// share of them: forged signatures, amounts tampered with after signing,
// and correctly signed wrong amounts. Every spoilt copy is refused and
// counted (pay_notifications_total bad_signature and wrong_amount), each
// payment is applied once. Then every notification is dropped: the
// scheduler's queries find the payments. The payment audit and
// reconcile.
func TestPayNotificationFaults(t *testing.T) {
	s := startSale(t, saleConfig{instances: 2, pay: &payConfig{faults: paysim.Faults{
		Duplicate: 8, Reorder: 300 * time.Millisecond, Forge: 0.15, Tamper: 0.15, WrongAmount: 0.15}}})
	l := newPayLedger()
	first := s.buyMany(l, faultBuyers, 2)
	if len(first) < faultBuyers {
		t.Fatalf("%d orders paid of %d: %s", len(first), 2*faultBuyers, l)
	}
	for _, no := range first {
		s.awaitOrder(no, "PAID", func(o orders.Order) bool { return o.Status == orders.StatusPaid })
	}
	// Every copy is sent before they are counted: the last ones are
	// still on their way (reordered) when the orders turn PAID.
	stats := s.simStats()
	for deadline := time.Now().Add(30 * time.Second); stats.Pending > 0 && time.Now().Before(deadline); stats = s.simStats() {
		time.Sleep(50 * time.Millisecond)
	}
	refused := map[string]float64{}
	for _, outcome := range []string{"bad_signature", "wrong_amount", "duplicate", "applied"} {
		refused[outcome] = s.flowSeries("pay_notifications_total", `outcome="`+outcome+`"`)
	}
	t.Logf("spoilt notifications: paysim %+v; the pay service counted %v", stats, refused)
	if refused["bad_signature"] == 0 || refused["wrong_amount"] == 0 || refused["duplicate"] == 0 {
		t.Errorf("pay_notifications_total: %v; want bad_signature, wrong_amount and duplicate refusals (paysim: %+v)", refused, stats)
	}
	if stats.Sent < 8*len(first) {
		t.Errorf("paysim sent %d notifications for %d payments; want 8 copies each at least", stats.Sent, len(first))
	}
	if got := s.flowSeries("pay_payments_total"); got != float64(len(first)) {
		t.Errorf("pay_payments_total = %v; want %d, each payment once", got, len(first))
	}

	// No notification at all: the active query finds every payment.
	if err := s.sim.SetFaults(paysim.Faults{Drop: 1}); err != nil {
		t.Fatal(err)
	}
	viaQuery := s.flowSeries("pay_payments_total", `via="query"`)
	second := s.buyMany(l, faultBuyers, 1)
	if len(second) < faultBuyers/2 {
		t.Fatalf("%d orders paid of %d with notifications dropped: %s", len(second), faultBuyers, l)
	}
	for _, no := range second {
		s.awaitOrder(no, "PAID", func(o orders.Order) bool { return o.Status == orders.StatusPaid })
	}
	if got := s.flowSeries("pay_payments_total", `via="query"`) - viaQuery; got != float64(len(second)) {
		t.Errorf("payments found by query with every notification dropped: %v; want %d", got, len(second))
	}
	if err := s.sim.SetFaults(paysim.Faults{}); err != nil {
		t.Fatal(err)
	}
	rep := s.payAudit(l)
	t.Logf("%s; %s", l, rep)
}

// TestPayAfterExpiry: buyers pay at paysim within their hold's 10 s, but
// every notification is held back 12 s and the first query comes after
// 30 s: the pay service learns of each payment only as it closes the
// trade at the hold's expiry, after the hold lapsed. The order owes the
// money back, the pay service refunds it in full by itself, and the
// order ends REFUNDED, paysim's trade REFUNDED, no seat sold; the late
// notifications are absorbed as duplicates. The audit and reconcile.
func TestPayAfterExpiry(t *testing.T) {
	s := startSale(t, saleConfig{holdTTL: 10 * time.Second,
		pay: &payConfig{faults: paysim.Faults{Delay: 12 * time.Second}, queryAfter: 30 * time.Second}})
	l := newPayLedger()
	nos := s.buyMany(l, 6, 1)
	if len(nos) != 6 {
		t.Fatalf("%d of 6 orders paid: %s", len(nos), l)
	}
	for _, no := range nos {
		o := s.awaitOrder(no, "REFUNDED", func(o orders.Order) bool { return o.Status == orders.StatusRefunded })
		if len(o.RefundsDue) != 1 || !o.RefundsDue[0].Settled || len(o.Refunds) != 1 || o.Refunds[0].AmountCents != o.TotalCents ||
			o.Refunds[0].OutRequestNo != "R"+o.RefundsDue[0].OutTradeNo {
			t.Errorf("order %s refunded after its hold lapsed: %+v", no, o)
		}
	}
	trades, err := s.simTrades()
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range trades {
		if tr.State != "REFUNDED" || tr.Refunded != tr.AmountCents {
			t.Errorf("paysim's trade %s: %s, %d of %d refunded; want REFUNDED in full", tr.OutTradeNo, tr.State, tr.Refunded, tr.AmountCents)
		}
	}
	// The held-back notifications come, and change nothing.
	for deadline := time.Now().Add(maxSettle); s.flowSeries("pay_notifications_total", `outcome="duplicate"`) < float64(len(nos)); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the late notifications never came: %+v", s.simStats())
		}
	}
	if got := s.flowSeries("pay_payments_total"); got != float64(len(nos)) {
		t.Errorf("pay_payments_total = %v; want %d", got, len(nos))
	}
	rep := s.payAudit(l)
	t.Logf("%s; %s", l, rep)
}

// TestPayRefundsConcurrent: buyers ask for refunds of paid orders of 4
// seats, 8 requests at once per order: 8 for every seat; 8 for one seat
// each (two per seat); 4 for every seat and 4 for one seat each. Of
// each, only what was paid is refunded, each seat once: exactly the
// order's total at paysim, every order REFUNDED. The audit and reconcile.
func TestPayRefundsConcurrent(t *testing.T) {
	s := startSale(t, saleConfig{instances: 2, pay: &payConfig{}})
	l := newPayLedger()
	type paidOrder struct {
		user int64
		o    orders.Order
	}
	var paid []paidOrder
	for i := range 6 {
		user := int64(i + 1)
		no := s.buyPaid(context.Background(), l, user, 4, [2]string{"alipay", "wechat"}[i%2])
		if no == "" {
			t.Fatalf("order %d not paid: %s", i, l)
		}
		paid = append(paid, paidOrder{user, s.awaitOrder(no, "confirmed", func(o orders.Order) bool { return o.Confirm == orders.ConfirmDone })})
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := map[string]int64{} // order -> cents the answers said were refunded
	for i, p := range paid {
		for j := range 8 {
			var seats []string
			switch {
			case i < 2: // every seat, 8 times
			case i < 4 || j%2 == 1: // a seat each
				seats = []string{p.o.Seats[j%4].ID}
			}
			wg.Go(func() {
				a := s.refundSeats(context.Background(), l, p.user, p.o.OrderNo, seats)
				if a.status == http.StatusCreated || a.status == http.StatusAccepted {
					amount, _ := a.json()["amount_cents"].(float64)
					mu.Lock()
					accepted[p.o.OrderNo] += int64(amount)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	for _, p := range paid {
		if got := accepted[p.o.OrderNo]; got != p.o.PaidCents {
			t.Errorf("order %s: refunds answered as made come to %d cents; paid %d", p.o.OrderNo, got, p.o.PaidCents)
		}
		s.awaitOrder(p.o.OrderNo, "REFUNDED", func(o orders.Order) bool { return o.Status == orders.StatusRefunded })
	}
	rep := s.payAudit(l)
	if rep.refundedCents != rep.paidCents {
		t.Errorf("paysim gave back %d cents of %d paid; want all of it", rep.refundedCents, rep.paidCents)
	}
	t.Logf("%s; %s", l, rep)
}

// TestPayBrokerRestarted stops the broker while buyers pay and refund,
// and starts it again. While it is down, paysim pays trades made before
// (the pay service verifies the notifications and records the payments)
// and buyers refund confirmed orders (the providers refund them): the
// outcomes wait in the pay stores (pay_events_pending) and reach the
// orders once the broker is back. The audit and reconcile.
func TestPayBrokerRestarted(t *testing.T) {
	s := startSale(t, saleConfig{instances: 2, pay: &payConfig{}})
	l := newPayLedger()
	ctx := context.Background()
	type order struct {
		user             int64
		no, channel, otn string
	}
	var unpaid, confirmed []order
	for i := range 2 * faultBuyers {
		o := order{user: int64(1 + i%faultBuyers), channel: [2]string{"alipay", "wechat"}[i%2]}
		if o.no = s.holdSeats(ctx, l, o.user, 2); o.no == "" {
			t.Fatalf("hold %d: %s", i, l)
		}
		if o.otn = s.payOrder(ctx, l, o.user, o.no, o.channel); o.otn == "" {
			t.Fatalf("pay %d: %s", i, l)
		}
		if i < faultBuyers {
			unpaid = append(unpaid, o)
			continue
		}
		if !s.simPay(ctx, l, o.no, o.channel, o.otn) {
			t.Fatalf("paysim pay %d: %s", i, l)
		}
		confirmed = append(confirmed, o)
	}
	for _, o := range confirmed {
		s.awaitOrder(o.no, "confirmed", func(o orders.Order) bool { return o.Confirm == orders.ConfirmDone })
	}
	stop := s.payLoad(l, 8)
	s.waitPaid(l, 10, maxSettle)

	s.broker.Stop()
	t.Logf("broker stopped: %s", l)
	var wg sync.WaitGroup
	for _, o := range unpaid {
		wg.Go(func() {
			if !s.simPay(ctx, l, o.no, o.channel, o.otn) {
				t.Errorf("paysim pay of %s with the broker stopped: %s", o.otn, l)
			}
		})
	}
	for _, o := range confirmed {
		wg.Go(func() {
			if a := s.refundSeats(ctx, l, o.user, o.no, nil); a.status != http.StatusCreated && a.status != http.StatusAccepted {
				t.Errorf("refund of %s with the broker stopped: %v", o.no, a)
			}
		})
	}
	wg.Wait()
	for deadline := time.Now().Add(maxSettle); s.flowSeries("pay_events_pending") == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no outcome waited for the broker: the test proved nothing")
		}
	}
	t.Logf("with the broker stopped: %v outcomes wait to be published; %s", s.flowSeries("pay_events_pending"), l)
	s.broker.Start()
	t.Logf("broker started")
	s.waitPaid(l, 10, maxSettle)
	stop()
	rep := s.payAudit(l)
	t.Logf("%s; %s", l, rep)
}

// TestPayOrderflowKilled kills each of the two orderflow processes (the
// order and pay services of its partitions) with SIGKILL in turn while
// buyers pay and refund, and starts it again on its data. The audit and
// reconcile.
func TestPayOrderflowKilled(t *testing.T) {
	s := startSale(t, saleConfig{instances: 2, pay: &payConfig{}})
	l := newPayLedger()
	stop := s.payLoad(l, 8)
	s.waitPaid(l, 20, maxSettle)
	for _, victim := range s.flows {
		victim.stop(t, syscall.SIGKILL)
		t.Logf("%s killed: %s", victim.name, l)
		s.waitPaid(l, 5, maxSettle) // the other's buyers go on
		victim.start(t)
		s.waitReady(victim)
		s.waitPaid(l, 20, maxSettle)
	}
	stop()
	rep := s.payAudit(l)
	t.Logf("%s; %s", l, rep)
}

// TestPaySeatdLeaderKilled: many payments land at once, and the leader
// of the program's group is SIGKILLed while their confirms are in
// flight; it is started again. Every paid order's hold is confirmed
// once a new leader answers. The audit and reconcile.
func TestPaySeatdLeaderKilled(t *testing.T) {
	s := startSale(t, saleConfig{pay: &payConfig{}})
	l := newPayLedger()
	type pending struct {
		user        int64
		no, ch, otn string
	}
	var ready []pending
	for i := range 48 {
		user := int64(1 + i%faultBuyers)
		ch := [2]string{"alipay", "wechat"}[i%2]
		no := s.holdSeats(context.Background(), l, user, 1+i%2)
		if no == "" {
			t.Fatalf("hold %d: %s", i, l)
		}
		otn := s.payOrder(context.Background(), l, user, no, ch)
		if otn == "" {
			t.Fatalf("pay %d: %s", i, l)
		}
		ready = append(ready, pending{user, no, ch, otn})
	}
	victim := s.leader()
	if victim == nil {
		t.Fatal("no leader of the program's group")
	}
	var wg sync.WaitGroup
	for _, p := range ready {
		wg.Go(func() { s.simPay(context.Background(), l, p.no, p.ch, p.otn) })
	}
	// Kill the leader once the first confirm is answered: the others are
	// under way (16 at a time), some committed and not answered yet.
	for deadline := time.Now().Add(maxSettle); s.flowSeries("orderflow_seat_calls_total", `kind="confirm"`, `outcome="ok"`) == 0; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no confirm was made")
		}
	}
	victim.stop(t, syscall.SIGKILL)
	confirmed := s.flowSeries("orderflow_seat_calls_total", `kind="confirm"`, `outcome="ok"`)
	wg.Wait()
	t.Logf("killed %s, the leader of group %d, after %v confirms of %d; %s", victim.name, s.group, confirmed, len(ready), l)
	if confirmed >= float64(len(ready)) {
		t.Fatalf("every confirm was made before the leader was killed: the test proved nothing")
	}
	if l.paidCount() != len(ready) {
		t.Fatalf("%d of %d orders paid at paysim: %s", l.paidCount(), len(ready), l)
	}
	for _, p := range ready {
		s.awaitOrder(p.no, "confirmed", func(o orders.Order) bool { return o.Confirm == orders.ConfirmDone })
	}
	victim.start(t)
	t.Logf("confirms: %v ok, %v retried, %v refused", s.flowSeries("orderflow_seat_calls_total", `kind="confirm"`, `outcome="ok"`),
		s.flowSeries("orderflow_seat_calls_total", `kind="confirm"`, `outcome="retry"`), s.flowSeries("orderflow_seat_calls_total", `kind="confirm"`, `outcome="refused"`))
	rep := s.payAudit(l)
	t.Logf("%s; %s", l, rep)
}
