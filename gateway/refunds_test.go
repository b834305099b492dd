package gateway

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"seatd/inventory"
	"seatd/orderflow/events"
	"seatd/orderflow/orders"
	"seatd/paysim"
)

// paidOrder holds count seats for the buyer, pays them through channel
// (paysim pays at once) and waits until the order is PAID with its seats
// confirmed in seatd.
func (ps *paySystem) paidOrder(buyer, program string, count int, channel string) orders.Order {
	t := ps.t
	t.Helper()
	no, _ := ps.order(buyer, program, count)
	r := ps.do("POST", "/v1/orders/"+no+"/pay", buyer, fmt.Sprintf(`{"channel":%q}`, channel), nil)
	ps.want(r, 201, "")
	if st := ps.sim.Pay(t, channel, r.json(t)["out_trade_no"].(string)); st != 200 {
		t.Fatalf("paysim pay = %d", st)
	}
	ps.awaitOrder(no, "PAID")
	return ps.awaitConfirm(no)
}

// awaitConfirm waits until a paid order's seats are confirmed in seatd.
func (ps *paySystem) awaitConfirm(no string) orders.Order {
	ps.t.Helper()
	n, _ := strconv.ParseUint(no, 10, 64)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		o, err := ps.orders.Order(inventory.OrderNo(n))
		if err == nil && o.Confirm == orders.ConfirmDone {
			return o
		}
		if time.Now().After(deadline) {
			ps.t.Fatalf("order %s never confirmed: %+v, %v", no, o, err)
		}
	}
}

// seatStatus reads one seat's status from the seat map, read through the
// leader.
func (ps *paySystem) seatStatus(program, seat string) string {
	ps.t.Helper()
	r := ps.do("GET", "/v1/programs/"+program+"/seats?consistent=true", "", nil, nil)
	ps.want(r, 200, "")
	for _, s := range r.json(ps.t)["seats"].([]any) {
		if m := s.(map[string]any); m["id"] == seat {
			return m["status"].(string)
		}
	}
	ps.t.Fatalf("seat %s not in the seat map of %s", seat, program)
	return ""
}

// awaitSeat waits until a seat has status.
func (ps *paySystem) awaitSeat(program, seat, status string) {
	ps.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got := ps.seatStatus(program, seat)
		if got == status {
			return
		}
		if time.Now().After(deadline) {
			ps.t.Fatalf("seat %s is %s; want %s", seat, got, status)
		}
	}
}

// resellingArena creates and opens a program whose refunded seats go
// back on sale: one row of 20 seats at 100.00 (room for several orders
// while refunded seats are still on their way back).
func (ps *paySystem) resellingArena(id string) {
	ps.t.Helper()
	ps.want(ps.do("POST", "/v1/programs", adminToken, map[string]any{
		"id": id, "name": "Hall", "max_seats_per_hold": 4, "max_seats_per_user": 8, "refund_resells": true,
		"categories": []map[string]any{{"id": "std", "name": "Standard", "price_cents": 10000}},
		"grid":       map[string]any{"sections": 1, "rows": 1, "cols": 20, "categories": []map[string]any{{"id": "std", "rows": []int{1, 1}}}},
	}, nil), 201, "")
	ps.want(ps.do("POST", "/v1/programs/"+id+"/open", adminToken, nil, nil), 200, "")
}

// TestRefundSeats: through the gateway, a buyer refunds one seat of a
// paid order (Alipay refunds at once: 201 SUCCEEDED), the seat goes
// back on sale and the order is PARTIALLY_REFUNDED; then the rest with
// no seats named (REFUNDED, the amount what is left), each refund once
// on pay.events and at paysim. Every refusal names what was wrong, a
// repeat under the same Idempotency-Key answers the same refund, and
// another buyer sees none of it.
func TestRefundSeats(t *testing.T) {
	ps := startPaySystem(t, paysim.Config{}, nil)
	ps.resellingArena("hall")
	buyer := ps.token(5)
	o := ps.paidOrder(buyer, "hall", 3, "alipay")
	seat := o.Seats[1].ID
	path := "/v1/orders/" + o.OrderNo + "/refunds"

	// Refusals before anything changes.
	ps.refused(ps.do("POST", path, buyer, `{"seat_ids":["Z/9/9"]}`, nil), 422, "SEAT_NOT_IN_ORDER", map[string]any{"field": "seat_ids", "seat": "Z/9/9"}, "Z/9/9")
	ps.refused(ps.do("POST", path, buyer, fmt.Sprintf(`{"seat_ids":[%q,%q]}`, seat, seat), nil), 422, "INVALID_ARGUMENT", map[string]any{"field": "seat_ids"})
	ps.refused(ps.do("POST", path, buyer, fmt.Sprintf(`{"reason":%q}`, strings.Repeat("x", 81)), nil), 422, "INVALID_ARGUMENT", map[string]any{"field": "reason"})
	// The reason goes to the provider and back to pages: one line of text.
	for _, reason := range []string{"bad \xff byte", `NUL \u0000`, `two\nlines`, `line\u2028sep`, `tab\there`, `flip \u202e text`, `lone \ud800 surrogate`, `\ufffd`} {
		ps.refused(ps.do("POST", path, buyer, `{"reason":"`+reason+`"}`, nil), 422, "INVALID_ARGUMENT", map[string]any{"field": "reason"})
	}
	ps.refused(ps.do("POST", path, buyer, `{"seat_ids":[]}`, nil), 422, "INVALID_ARGUMENT", map[string]any{"field": "seat_ids"})
	ps.refused(ps.do("POST", path, ps.token(6), `{}`, nil), 404, "NOT_FOUND", nil)
	ps.refused(ps.do("POST", "/v1/orders/"+o.OrderNo+"1/refunds", buyer, `{}`, nil), 404, "NOT_FOUND", nil)

	key := map[string]string{"Idempotency-Key": "refund-one"}
	r := ps.do("POST", path, buyer, fmt.Sprintf(`{"seat_ids":[%q],"reason":"cannot come"}`, seat), key)
	ps.want(r, 201, "")
	one := r.json(t)
	no := one["refund_no"].(string)
	if no != o.OrderNo+"_R01" || one["status"] != "SUCCEEDED" || one["amount_cents"].(float64) != 10000 || one["order_no"] != o.OrderNo ||
		one["initiator"] != "buyer" || fmt.Sprint(one["seat_ids"]) != "["+seat+"]" || one["reason"] != "cannot come" {
		t.Fatalf("refund = %s", r.body)
	}
	created, _ := time.Parse(time.RFC3339Nano, one["created_at"].(string))
	updated, _ := time.Parse(time.RFC3339Nano, one["updated_at"].(string))
	if one["refunded_at"] == nil || created.IsZero() || updated.Before(created) {
		t.Errorf("refund times = %s; want refunded_at, and updated_at not before created_at", r.body)
	}
	again := ps.do("POST", path, buyer, fmt.Sprintf(`{"seat_ids":[%q],"reason":"cannot come"}`, seat), key)
	if ps.want(again, 201, ""); again.json(t)["refund_no"] != no || again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("repeat = %d %s %v; want the same refund, replayed", again.status, again.body, again.header)
	}
	ps.refused(ps.do("POST", path, buyer, `{"reason":"cannot come"}`, key), 422, "IDEMPOTENCY_KEY_REUSED", map[string]any{"field": "Idempotency-Key"})

	got := ps.awaitOrder(o.OrderNo, "PARTIALLY_REFUNDED")
	if got.RefundedCents != 10000 || !slices.Equal(got.RefundedSeatIDs, []string{seat}) && len(got.Refunds) != 1 {
		t.Errorf("order after one seat's refund = %+v", got)
	}
	ps.awaitSeat("hall", seat, "free")
	if st := ps.seatStatus("hall", o.Seats[0].ID); st != "sold" {
		t.Errorf("an unrefunded seat is %s; want sold", st)
	}
	ps.refused(ps.do("POST", path, buyer, fmt.Sprintf(`{"seat_ids":[%q]}`, seat), nil), 409, "SEAT_ALREADY_REFUNDED", map[string]any{"field": "seat_ids", "seat": seat}, seat)

	g := ps.do("GET", "/v1/refunds/"+no, buyer, nil, nil)
	if ps.want(g, 200, ""); g.json(t)["status"] != "SUCCEEDED" || g.json(t)["amount_cents"].(float64) != 10000 {
		t.Errorf("GET refund = %s", g.body)
	}
	ps.want(ps.do("GET", "/v1/refunds/"+no, adminToken, nil, nil), 200, "")
	ps.refused(ps.do("GET", "/v1/refunds/"+no, ps.token(6), nil, nil), 404, "NOT_FOUND", nil)
	ps.refused(ps.do("GET", "/v1/refunds/"+o.OrderNo+"_R09", buyer, nil, nil), 404, "NOT_FOUND", nil)
	ps.refused(ps.do("GET", "/v1/refunds/nonsense", buyer, nil, nil), 404, "NOT_FOUND", nil)

	// The rest, with no seats named.
	rest := ps.do("POST", path, buyer, `{"reason":"plans changed"}`, nil)
	ps.want(rest, 201, "")
	if rest.json(t)["amount_cents"].(float64) != 20000 || len(rest.json(t)["seat_ids"].([]any)) != 2 {
		t.Errorf("refund of the rest = %s", rest.body)
	}
	got = ps.awaitOrder(o.OrderNo, "REFUNDED")
	if got.RefundedCents != got.PaidCents || got.PaidCents != 30000 {
		t.Errorf("refunded order = %+v", got)
	}
	for _, s := range o.Seats {
		ps.awaitSeat("hall", s.ID, "free")
	}
	ps.refused(ps.do("POST", path, buyer, `{}`, nil), 409, "NOTHING_TO_REFUND", nil)
	ord := ps.do("GET", "/v1/orders/"+o.OrderNo, buyer, nil, nil)
	ps.want(ord, 200, "")
	if rs, _ := ord.json(t)["refunds"].([]any); len(rs) != 2 || rs[0].(map[string]any)["refund_no"] != no ||
		rs[0].(map[string]any)["status"] != "SUCCEEDED" || fmt.Sprint(rs[0].(map[string]any)["seat_ids"]) != "["+seat+"]" {
		t.Errorf("the order's refunds = %v; want %s and the rest, SUCCEEDED", ord.json(t)["refunds"], no)
	}
	ps.waitMetric("pay_events_pending", nil, "outcomes published", func(v float64) bool { return v == 0 })
	if evs := ps.payEvents(o.OrderNo); evs[events.RefundSucceeded] != 2 || evs[events.PaymentSucceeded] != 1 {
		t.Errorf("pay.events of the order = %v; want one payment and two refunds", evs)
	}
	tr := ps.simTrade("alipay", o.Payment.OutTradeNo)
	if tr["refunded_cents"].(float64) != 30000 || len(tr["refunds"].([]any)) != 2 {
		t.Errorf("paysim's trade = %v; want 300.00 refunded in two refunds", tr)
	}
}

// TestRefundOperator: an operator refunds any buyer's order (the
// initiator says so); a buyer cannot refund an order that is not paid.
func TestRefundOperator(t *testing.T) {
	ps := startPaySystem(t, paysim.Config{}, nil)
	ps.resellingArena("hall")
	buyer := ps.token(7)
	unpaid, _ := ps.order(buyer, "hall", 1)
	ps.refused(ps.do("POST", "/v1/orders/"+unpaid+"/refunds", buyer, `{}`, nil), 409, "ORDER_NOT_REFUNDABLE", nil)
	o := ps.paidOrder(buyer, "hall", 2, "alipay")
	path := "/v1/orders/" + o.OrderNo + "/refunds"
	key := map[string]string{"Idempotency-Key": "k1"}
	ps.refused(ps.do("POST", path, buyer, `{}`, map[string]string{"Idempotency-Key": "k\xff"}), 422, "INVALID_ARGUMENT",
		map[string]any{"field": "Idempotency-Key"})
	ps.want(ps.do("POST", path, buyer, fmt.Sprintf(`{"seat_ids":[%q]}`, o.Seats[0].ID), key), 201, "")
	// The operator's key is the operator's: the buyer's refund under the
	// same key is not an answer to it.
	r := ps.do("POST", path, adminToken, `{"reason":"event moved"}`, key)
	ps.want(r, 201, "")
	if r.json(t)["initiator"] != "operator" || r.json(t)["amount_cents"].(float64) != 10000 || r.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("operator's refund = %s %v", r.body, r.header)
	}
	ps.awaitOrder(o.OrderNo, "REFUNDED")
}

// TestRefundConcurrent: many refunds of one order at once never refund
// more than was paid, nor a seat twice: of eight requests for every
// seat, one refunds; of requests for each seat apart, each seat's
// first refunds it; paysim refunded exactly what was paid.
func TestRefundConcurrent(t *testing.T) {
	ps := startPaySystem(t, paysim.Config{}, nil)
	ps.resellingArena("hall")
	for i, perSeat := range []bool{false, true} {
		buyer := ps.token(int64(10 + i))
		o := ps.paidOrder(buyer, "hall", 4, "alipay")
		var mu sync.Mutex
		codes := map[string]int{}
		var wg sync.WaitGroup
		for j := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := `{}`
				if perSeat {
					body = fmt.Sprintf(`{"seat_ids":[%q]}`, o.Seats[j%len(o.Seats)].ID)
				}
				r := ps.do("POST", "/v1/orders/"+o.OrderNo+"/refunds", buyer, body, nil)
				code := strconv.Itoa(r.status)
				if r.status >= 300 {
					code = r.code(t)
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		want := map[string]int{"201": 1}
		if perSeat {
			want = map[string]int{"201": 4, "SEAT_ALREADY_REFUNDED": 4}
		}
		// Every seat refunded: a later request for every seat finds
		// nothing (NOTHING_TO_REFUND), one for a seat finds it refunded.
		if !perSeat {
			want["NOTHING_TO_REFUND"] = 7
		}
		if fmt.Sprint(codes) != fmt.Sprint(want) {
			t.Errorf("per seat %v: answers %v; want %v", perSeat, codes, want)
		}
		got := ps.awaitOrder(o.OrderNo, "REFUNDED")
		tr := ps.simTrade("alipay", o.Payment.OutTradeNo)
		if got.RefundedCents != 40000 || tr["refunded_cents"].(float64) != 40000 {
			t.Errorf("per seat %v: order refunded %d, paysim %v; want 40000 both", perSeat, got.RefundedCents, tr["refunded_cents"])
		}
	}
}

// TestRefundWechatAsync: WeChat Pay accepts a refund and says its outcome
// later: the answer is 202 PROCESSING, and the refund notification makes
// it SUCCEEDED, once; the order becomes PARTIALLY_REFUNDED and the seat
// free.
func TestRefundWechatAsync(t *testing.T) {
	ps := startPaySystem(t, paysim.Config{Faults: paysim.Faults{Duplicate: 3}}, nil)
	ps.resellingArena("hall")
	buyer := ps.token(8)
	o := ps.paidOrder(buyer, "hall", 2, "wechat")
	seat := o.Seats[0].ID
	r := ps.do("POST", "/v1/orders/"+o.OrderNo+"/refunds", buyer, fmt.Sprintf(`{"seat_ids":[%q]}`, seat), nil)
	if r.status != 202 && r.status != 201 {
		t.Fatalf("refund = %d %s", r.status, r.body)
	}
	no := r.json(t)["refund_no"].(string)
	ps.awaitOrder(o.OrderNo, "PARTIALLY_REFUNDED")
	ps.awaitSeat("hall", seat, "free")
	g := ps.do("GET", "/v1/refunds/"+no, buyer, nil, nil)
	if ps.want(g, 200, ""); g.json(t)["status"] != "SUCCEEDED" || g.json(t)["channel"] != "wechat" {
		t.Errorf("refund = %s", g.body)
	}
	ps.waitMetric("pay_events_pending", nil, "outcomes published", func(v float64) bool { return v == 0 })
	if evs := ps.payEvents(o.OrderNo); evs[events.RefundSucceeded] != 1 {
		t.Errorf("pay.events of the order = %v; want one RefundSucceeded", evs)
	}
}

// TestRefundUnclearAnswer: a refund call the provider acted on but whose
// answer cannot be read (garbled, or its signature broken on the way) is
// no refusal: the refund stays REQUESTED (202), its seat cannot be
// refunded again meanwhile, and the scheduler asks again with the same
// number, so the provider refunds once and the order and the provider
// agree.
func TestRefundUnclearAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, channel string
		mode          proxyMode
	}{{"alipay garbled", "alipay", proxyGarble}, {"alipay bad signature", "alipay", proxyBadSig},
		{"wechat garbled", "wechat", proxyGarble}, {"wechat bad signature", "wechat", proxyBadSig}} {
		t.Run(tc.name, func(t *testing.T) {
			ps := startPaySystem(t, paysim.Config{}, nil)
			ps.resellingArena("hall")
			buyer := ps.token(5)
			o := ps.paidOrder(buyer, "hall", 2, tc.channel)
			path := "/v1/orders/" + o.OrderNo + "/refunds"
			seat := fmt.Sprintf(`{"seat_ids":[%q]}`, o.Seats[0].ID)
			ps.api.spoil(tc.mode, refundCalls(false))
			r := ps.do("POST", path, buyer, seat, nil)
			if r.status != 202 || r.json(t)["status"] != "REQUESTED" {
				t.Fatalf("refund with its answer spoiled = %d %s; want 202 REQUESTED", r.status, r.body)
			}
			ps.refused(ps.do("POST", path, buyer, seat, nil), 409, "SEAT_ALREADY_REFUNDED", nil)
			ps.api.spoil(proxyPass, nil)
			ps.awaitOrder(o.OrderNo, "PARTIALLY_REFUNDED")
			g := ps.do("GET", "/v1/refunds/"+r.json(t)["refund_no"].(string), buyer, nil, nil)
			if ps.want(g, 200, ""); g.json(t)["status"] != "SUCCEEDED" {
				t.Errorf("refund = %s; want SUCCEEDED", g.body)
			}
			if rest := ps.do("POST", path, buyer, `{}`, nil); rest.status != 201 && rest.status != 202 {
				t.Fatalf("refund of the rest = %d %s", rest.status, rest.body)
			}
			got := ps.awaitOrder(o.OrderNo, "REFUNDED")
			if tr := ps.simTrade(tc.channel, o.Payment.OutTradeNo); tr["refunded_cents"].(float64) != 20000 || got.RefundedCents != 20000 {
				t.Errorf("refunded: paysim %v, the order %d; want 20000 both", tr["refunded_cents"], got.RefundedCents)
			}
		})
	}
}

// TestRefundQueryUnclear: a WeChat Pay refund under way (PROCESSING)
// whose notification is lost and whose queries' answers are spoiled is
// never called failed: once the queries get through it is SUCCEEDED, once.
// And a refund the provider cannot be reached for is REQUESTED, then
// made once it can.
func TestRefundQueryUnclear(t *testing.T) {
	ps := startPaySystem(t, paysim.Config{}, nil)
	ps.resellingArena("hall")
	buyer := ps.token(5)
	o := ps.paidOrder(buyer, "hall", 3, "wechat")
	path := "/v1/orders/" + o.OrderNo + "/refunds"
	if err := ps.sim.SetFaults(paysim.Faults{Drop: 1}); err != nil {
		t.Fatal(err)
	}
	query := func(r *http.Request, body []byte) bool {
		return refundCalls(true)(r, body) && r.Method == http.MethodGet
	}
	ps.api.spoil(proxyBadSig, query)
	r := ps.do("POST", path, buyer, fmt.Sprintf(`{"seat_ids":[%q]}`, o.Seats[0].ID), nil)
	if r.status != 202 || r.json(t)["status"] != "PROCESSING" {
		t.Fatalf("refund = %d %s; want 202 PROCESSING", r.status, r.body)
	}
	for deadline := time.Now().Add(20 * time.Second); ps.api.hits.Load() < 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the scheduler queried the refund %d times; want 3", ps.api.hits.Load())
		}
	}
	no := r.json(t)["refund_no"].(string)
	if g := ps.do("GET", "/v1/refunds/"+no, buyer, nil, nil); g.json(t)["status"] != "PROCESSING" {
		t.Fatalf("refund after spoiled queries = %s; want PROCESSING still", g.body)
	}
	ps.api.spoil(proxyDown, refundCalls(false))
	down := ps.do("POST", path, buyer, fmt.Sprintf(`{"seat_ids":[%q]}`, o.Seats[1].ID), nil)
	if down.status != 202 || down.json(t)["status"] != "REQUESTED" {
		t.Fatalf("refund while the provider is out of reach = %d %s; want 202 REQUESTED", down.status, down.body)
	}
	ps.api.spoil(proxyPass, nil)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got := ps.awaitOrder(o.OrderNo, "PARTIALLY_REFUNDED")
		if got.RefundedCents == 20000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order refunded %d; want both refunds, 20000", got.RefundedCents)
		}
	}
	if tr := ps.simTrade("wechat", o.Payment.OutTradeNo); tr["refunded_cents"].(float64) != 20000 {
		t.Errorf("paysim refunded %v; want 20000", tr["refunded_cents"])
	}
	ps.sim.SetFaults(paysim.Faults{})
}
