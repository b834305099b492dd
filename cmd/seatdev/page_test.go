package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"seatd/internal/browsertest"
)

// TestBuyInBrowser walks a buyer through the live page of what `make run`
// runs, in headless Chromium: pick the demo arena, sign in with a dev
// token, click two free seats and hold them, watch the countdown run, pay
// on paysim's Alipay page, come back to the live page through the return
// URL, see the order PAID and both seats sold, refund one seat, and see
// the order PARTIALLY_REFUNDED with that seat free and the other still
// sold. The inventory and the order service agree with what the page
// shows. Screenshots of each step go to browsertest.ArtefactDir.
func TestBuyInBrowser(t *testing.T) {
	ctx := browsertest.Browse(t, 4*time.Minute)
	info, _, _ := startDev(t, systemConfig{})
	shots := browsertest.ArtefactDir(t)
	const seat1, seat2 = "A/3/10", "A/3/11" // category A, 680.00 each

	// step runs one step's actions, for up to 30 seconds; when they fail
	// it keeps a screenshot and says what the page said.
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("status") || {}).textContent || ""`))
			where, _ := chromedp.Run(ctx, chromedp.Location())
			browsertest.Screenshot(t, ctx, shots, "failed-"+strings.ReplaceAll(name, " ", "-"))
			t.Fatalf("%s: %v (at %s, the page says %q)", name, err, where, status)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return s
	}
	orderStatus := func(status string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#orderStatus[data-status=%q]`, status)))
	}

	step("open the page and pick the demo arena",
		chromedp.Navigate(info.URL+"/?program=demo-train"),
		chromedp.WaitVisible(chromedp.CSS(`button.seat`)),
		chromedp.SetValue(chromedp.CSS(`#program`), "demo-arena"),
		chromedp.Click(chromedp.CSS(`#load`)),
		browsertest.WaitSeat(seat1, "free"),
		browsertest.WaitSeat(seat2, "free"),
	)
	step("sign in",
		chromedp.Click(chromedp.CSS(`#devtoken`)),
		chromedp.WaitVisible(chromedp.Search(`//div[@id="status"][contains(., "signed in")]`)),
	)
	step("hold two seats",
		browsertest.ClickSeat(seat1),
		browsertest.ClickSeat(seat2),
		chromedp.Click(chromedp.CSS(`#holdSelected`)),
		browsertest.WaitSeat(seat1, "held"),
		browsertest.WaitSeat(seat2, "held"),
		chromedp.WaitVisible(chromedp.CSS(`#order`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@id="countdown"][starts-with(., "Pay within ")]`)),
	)
	orderNo := text(`#orderNo`)
	if seats, total := text(`#orderSeats`), text(`#orderTotal`); orderNo == "" || !strings.Contains(seats, seat1) || !strings.Contains(seats, seat2) || total != "1360.00" {
		t.Fatalf("the order panel: number %q, seats %q, total %q; want both seats, 1360.00", orderNo, seats, total)
	}
	countdown := text(`#countdown`)
	step("the countdown runs",
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`(t => t !== %s && t.startsWith("Pay within "))(document.getElementById("countdown").textContent)`,
			browsertest.JSString(countdown)), chromedp.WithPollingTimeout(5*time.Second)),
	)
	t.Logf("countdown: %q, then %q", countdown, text(`#countdown`))
	browsertest.Screenshot(t, ctx, shots, "1-held")

	step("pay on paysim's page",
		orderStatus("PENDING_PAYMENT"),
		chromedp.WaitEnabled(chromedp.CSS(`#payOrder`)),
		chromedp.Click(chromedp.CSS(`#payOrder`)),
		chromedp.WaitVisible(chromedp.CSS(`form button#pay`)),
	)
	if where, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasPrefix(where, info.Paysim+"/pay/alipay/") {
		t.Fatalf("after Pay the browser is at %s; want paysim's Alipay page at %s", where, info.Paysim)
	}
	browsertest.Screenshot(t, ctx, shots, "2-paysim")
	step("come back paid",
		chromedp.Click(chromedp.CSS(`form button#pay`)),
		chromedp.WaitVisible(chromedp.CSS(`#order`)),
		orderStatus("PAID"),
		browsertest.WaitSeat(seat1, "sold"),
		browsertest.WaitSeat(seat2, "sold"),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#orderSeats button.refund[data-seat=%q]`, seat1))),
	)
	if where, _ := chromedp.Run(ctx, chromedp.Location()); where != info.URL+"/?program=demo-arena" {
		t.Errorf("back from paying, the browser is at %s; want the live page of the demo arena", where)
	}
	if no := text(`#orderNo`); no != orderNo {
		t.Fatalf("back from paying, the page shows order %q; want %q", no, orderNo)
	}
	browsertest.Screenshot(t, ctx, shots, "3-paid")

	step("refund one seat",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#orderSeats button.refund[data-seat=%q]`, seat1))),
		orderStatus("PARTIALLY_REFUNDED"),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#orderSeats li[data-seat=%q] .refunded`, seat1))),
		browsertest.WaitSeat(seat1, "free"),
	)
	browsertest.Screenshot(t, ctx, shots, "4-refunded")
	if class, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(fmt.Sprintf(`button.seat[data-seat=%q]`, seat2)), "class")); err != nil || class.Value != "seat cat1 sold" {
		t.Errorf("after the refund of %s, %s is %q (%v); want still sold", seat1, seat2, class.Value, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Query(chromedp.CSS(fmt.Sprintf(`#orderSeats button.refund[data-seat=%q]`, seat2)))); err != nil {
		t.Errorf("after the refund of %s, %s has no Refund button: %v", seat1, seat2, err)
	}

	// What the page shows is what the services hold.
	token, err := chromedp.Run(ctx, chromedp.Evaluate[string](`localStorage.getItem("seatd-token")`))
	if err != nil {
		t.Fatal(err)
	}
	h := httpClient{t: t, base: info.URL}
	if status, o := h.do("GET", "/v1/orders/"+orderNo, token, "", ""); status != http.StatusOK || o["status"] != "PARTIALLY_REFUNDED" ||
		fmt.Sprint(o["refunded_seat_ids"]) != "["+seat1+"]" || o["refunded_cents"].(float64) != 68000 {
		t.Errorf("order %s = %d %v; want PARTIALLY_REFUNDED, %s refunded (680.00)", orderNo, status, o, seat1)
	}
	status, sm := h.do("GET", "/v1/programs/demo-arena/seats?category=a", "", "", "")
	if status != http.StatusOK {
		t.Fatalf("seat map = %d %v", status, sm)
	}
	b, _ := json.Marshal(sm["seats"])
	var seats []struct{ ID, Status string }
	json.Unmarshal(b, &seats)
	got := map[string]string{}
	for _, s := range seats {
		got[s.ID] = s.Status
	}
	if got[seat1] != "free" || got[seat2] != "sold" {
		t.Errorf("the inventory has %s %q, %s %q; want free, sold", seat1, got[seat1], seat2, got[seat2])
	}
}
