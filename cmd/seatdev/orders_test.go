package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"seatd/internal/kafkatest"
)

// TestOrdersFollowHolds: through the gateway's HTTP API of what `make run`
// runs (the relay, the embedded broker, the order service), a hold
// becomes an order PENDING_PAYMENT readable by number and in "my orders",
// a released hold's order turns CANCELLED, and a lapsed one's EXPIRED.
func TestOrdersFollowHolds(t *testing.T) {
	ordersFollowHolds(t, systemConfig{HoldTTL: 10 * time.Second})
}

// TestOrdersFollowHoldsOnRealKafka is the same through a real Apache
// Kafka broker, as `KAFKA_BROKERS=... make run` uses one.
func TestOrdersFollowHoldsOnRealKafka(t *testing.T) {
	b := kafkatest.Real(t)
	ordersFollowHolds(t, systemConfig{Brokers: b.Addrs(), HoldTTL: 10 * time.Second})
}

func ordersFollowHolds(t *testing.T, cfg systemConfig) {
	info, _, _ := startDev(t, cfg)
	h := httpClient{t: t, base: info.URL}
	buyer := info.BuyerToken
	other := h.devToken("someone-else@example.com")

	status, first := h.do("POST", "/v1/programs/demo-arena/holds", buyer, `{"category":"vip","count":2}`, "order-1")
	if status != 201 {
		t.Fatalf("hold = %d %v", status, first)
	}
	status, second := h.do("POST", "/v1/programs/demo-arena/holds", buyer, `{"category":"a","count":1}`, "order-2")
	if status != 201 {
		t.Fatalf("hold = %d %v", status, second)
	}
	no1, no2 := first["order_no"].(string), second["order_no"].(string)

	o1 := h.awaitOrder(no1, buyer, "PENDING_PAYMENT", 20*time.Second)
	if o1["hold_id"] != first["hold_id"] || o1["user_id"] != "1001" || o1["program_id"] != "demo-arena" ||
		o1["total_cents"].(float64) != 256000 || len(o1["seats"].([]any)) != 2 || o1["expires_at"] != first["expires_at"] {
		t.Errorf("order %v of hold %v", o1, first)
	}
	h.awaitOrder(no2, buyer, "PENDING_PAYMENT", 20*time.Second)

	// My orders: newest first, a page at a time.
	status, page := h.do("GET", "/v1/orders?limit=1", buyer, "", "")
	orders, _ := page["orders"].([]any)
	if status != 200 || len(orders) != 1 || orders[0].(map[string]any)["order_no"] != no2 || page["next_cursor"] == nil {
		t.Fatalf("first page = %d %v", status, page)
	}
	status, page = h.do("GET", "/v1/orders?limit=1&cursor="+page["next_cursor"].(string), buyer, "", "")
	if orders, _ = page["orders"].([]any); status != 200 || len(orders) != 1 || orders[0].(map[string]any)["order_no"] != no1 {
		t.Fatalf("second page = %d %v", status, page)
	}

	// Another buyer sees neither, as if they did not exist; an operator
	// sees both.
	if status, body := h.do("GET", "/v1/orders/"+no1, other, "", ""); status != 404 {
		t.Errorf("another buyer's read of an order = %d %v", status, body)
	}
	if status, body := h.do("GET", "/v1/orders", other, "", ""); status != 200 || len(body["orders"].([]any)) != 0 {
		t.Errorf("another buyer's list = %d %v", status, body)
	}
	if status, body := h.do("GET", "/v1/orders/"+no1, info.AdminToken, "", ""); status != 200 || body["order_no"] != no1 {
		t.Errorf("an operator's read = %d %v", status, body)
	}
	if status, body := h.do("GET", "/v1/orders?user_id=1001", info.AdminToken, "", ""); status != 200 || len(body["orders"].([]any)) != 2 {
		t.Errorf("an operator's list of buyer 1001 = %d %v", status, body)
	}

	// Released by the buyer: CANCELLED. Left to lapse: EXPIRED.
	if status, body := h.do("DELETE", "/v1/holds/"+second["hold_id"].(string), buyer, "", ""); status != 200 {
		t.Fatalf("release = %d %v", status, body)
	}
	if o := h.awaitOrder(no2, buyer, "CANCELLED", 20*time.Second); o["reason"] != "cancelled" || o["hold_status"] != "RELEASED" {
		t.Errorf("cancelled order %v", o)
	}
	if o := h.awaitOrder(no1, buyer, "EXPIRED", 40*time.Second); o["reason"] != "expired" {
		t.Errorf("expired order %v", o)
	}

	// The relay's and the order service's metrics: 4 events published
	// and applied (2 placed, 1 released, 1 expired).
	resp, err := http.Get(info.Metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`seatd_relay_published_events_total{group="`, `orderflow_events_applied_total{type="HoldPlaced"} 2`,
		`orderflow_events_applied_total{type="HoldReleased"} 2`, "orderflow_partition_lag"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("%s lacks %s", info.Metrics, want)
		}
	}
}

type httpClient struct {
	t    *testing.T
	base string
}

// do sends a request (a JSON body if any, an Idempotency-Key if key) and
// returns the status and the decoded answer. A 429 (a buyer may send 5
// requests a second) is waited out and sent again.
func (h httpClient) do(method, path, token, body, key string) (int, map[string]any) {
	h.t.Helper()
	for {
		status, m := h.once(method, path, token, body, key)
		if status != http.StatusTooManyRequests {
			return status, m
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (h httpClient) once(method, path, token, body, key string) (int, map[string]any) {
	h.t.Helper()
	var rd io.Reader = http.NoBody
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.base+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		h.t.Fatalf("%s %s = %d %q: %v", method, path, resp.StatusCode, b, err)
	}
	return resp.StatusCode, m
}

func (h httpClient) devToken(sub string) string {
	h.t.Helper()
	status, m := h.do("POST", "/v1/dev/tokens", "", fmt.Sprintf(`{"sub":%q}`, sub), "")
	if status != 200 && status != 201 {
		h.t.Fatalf("dev token = %d %v", status, m)
	}
	return m["token"].(string)
}

// awaitOrder reads an order until it has status, for up to wait.
func (h httpClient) awaitOrder(no, token, status string, wait time.Duration) map[string]any {
	h.t.Helper()
	var last map[string]any
	var code int
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if code, last = h.do("GET", "/v1/orders/"+no, token, "", ""); code == 200 && last["status"] == status {
			return last
		}
	}
	h.t.Fatalf("order %s after %v: %d %v, want status %s", no, wait, code, last, status)
	return nil
}

// TestPayInDev: what `make run` runs pays an order end to end: the pay
// route answers a pay page at the in-process paysim, the buyer pays
// there (its page's button), paysim notifies the gateway, and the order
// turns PAID with its hold CONFIRMED.
func TestPayInDev(t *testing.T) {
	info, _, _ := startDev(t, systemConfig{})
	h := httpClient{t: t, base: info.URL}
	buyer := info.BuyerToken
	status, hold := h.do("POST", "/v1/programs/demo-arena/holds", buyer, `{"category":"b","count":1}`, "pay-1")
	if status != 201 {
		t.Fatalf("hold = %d %v", status, hold)
	}
	no := hold["order_no"].(string)
	h.awaitOrder(no, buyer, "PENDING_PAYMENT", 20*time.Second)
	status, p := h.do("POST", "/v1/orders/"+no+"/pay", buyer, `{"channel":"wechat","mode":"qr"}`, "")
	if status != 201 || p["qr_code"] == nil || p["amount_cents"].(float64) != 38000 {
		t.Fatalf("pay = %d %v", status, p)
	}
	// The buyer's page: the QR code's URL at paysim, and its Pay button.
	page := info.Paysim + "/pay/wechat/" + p["out_trade_no"].(string)
	resp, err := http.PostForm(page, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 && resp.StatusCode != 303 {
		t.Fatalf("POST %s = %d", page, resp.StatusCode)
	}
	h.awaitOrder(no, buyer, "PAID", 20*time.Second)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if status, hd := h.do("GET", "/v1/holds/"+hold["hold_id"].(string), buyer, "", ""); status == 200 && hd["status"] == "CONFIRMED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("hold never CONFIRMED")
		}
	}
	if status, st := h.do("GET", "/v1/orders/"+no+"/payment", buyer, "", ""); status != 200 || st["status"] != "SUCCESS" {
		t.Errorf("payment status = %d %v", status, st)
	}
}
