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
// sold; then hold a third seat and give it back. The inventory and the
// order service agree with what the page shows. Screenshots of each step
// go to browsertest.ArtefactDir, at a laptop's and a phone's size.
func TestBuyInBrowser(t *testing.T) {
	ctx := browsertest.Browse(t, 4*time.Minute)
	info, _, _ := startDev(t, systemConfig{})
	shots := browsertest.ArtefactDir(t)
	const seat1, seat2, seat3 = "A/3/10", "A/3/11", "A/4/1" // category A, 680.00 each

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
	var orderNo string // the order of seat1 and seat2
	order := func(status string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#orders li.order[data-order=%q][data-status=%q]`, orderNo, status)))
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
		chromedp.WaitVisible(chromedp.Search(`//p[@id="status"][contains(., "Signed in")]`)),
	)
	step("hold two seats",
		browsertest.ClickSeat(seat1),
		browsertest.ClickSeat(seat2),
		chromedp.Click(chromedp.CSS(`#holdSelected`)),
		browsertest.WaitSeat(seat1, "held"),
		browsertest.WaitSeat(seat2, "held"),
		chromedp.WaitVisible(chromedp.Search(`//li[@class="order"]//p[@class="countdown"][starts-with(., "Pay within ")]`)),
	)
	no, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#orders li.order`), "data-order"))
	if err != nil {
		t.Fatal(err)
	}
	orderNo = no.Value
	if seats, total := text(`#orders li.order .seats`), text(`#orders li.order .total`); orderNo == "" ||
		seats != "Section A, row 3, seat 10, 680.00 Section A, row 3, seat 11, 680.00 " || total != "Total 1360.00" {
		t.Fatalf("my holds: order %q, seats %q, %q; want both seats, 1360.00", orderNo, seats, total)
	}
	countdown := text(`#orders li.order .countdown`)
	step("the countdown runs",
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`(t => t !== %s && t.startsWith("Pay within "))(document.querySelector("#orders li.order .countdown").textContent)`,
			browsertest.JSString(countdown)), chromedp.WithPollingTimeout(5*time.Second)),
	)
	t.Logf("countdown: %q, then %q", countdown, text(`#orders li.order .countdown`))
	browsertest.Screenshots(t, ctx, shots, "1-held")

	payButton := fmt.Sprintf(`#orders li.order[data-order=%q] button.pay`, orderNo)
	step("pay on paysim's page",
		order("PENDING_PAYMENT"),
		chromedp.WaitEnabled(chromedp.CSS(payButton)),
		chromedp.Click(chromedp.CSS(payButton)),
		chromedp.WaitVisible(chromedp.CSS(`form button#pay`)),
	)
	if where, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasPrefix(where, info.Paysim+"/pay/alipay/") {
		t.Fatalf("after Pay the browser is at %s; want paysim's Alipay page at %s", where, info.Paysim)
	}
	browsertest.Screenshot(t, ctx, shots, "2-paysim")
	refundButton := func(seat string) string {
		return fmt.Sprintf(`#orders li.order[data-order=%q] button.refund[data-seat=%q]`, orderNo, seat)
	}
	step("come back paid",
		chromedp.Click(chromedp.CSS(`form button#pay`)),
		order("PAID"),
		browsertest.WaitSeat(seat1, "sold"),
		browsertest.WaitSeat(seat2, "sold"),
		chromedp.WaitVisible(chromedp.CSS(refundButton(seat1))),
		chromedp.WaitVisible(chromedp.Search(`//p[@id="status"][.="Paid: the seats are yours."]`)),
	)
	if where, _ := chromedp.Run(ctx, chromedp.Location()); where != info.URL+"/?program=demo-arena" {
		t.Errorf("back from paying, the browser is at %s; want the live page of the demo arena", where)
	}
	browsertest.Screenshots(t, ctx, shots, "3-paid")

	step("refund one seat",
		chromedp.Click(chromedp.CSS(refundButton(seat1))),
		order("PARTIALLY_REFUNDED"),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#orders li.order[data-order=%q] li[data-seat=%q] .refunded`, orderNo, seat1))),
		browsertest.WaitSeat(seat1, "free"),
	)
	browsertest.Screenshots(t, ctx, shots, "4-refunded")
	if class, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(fmt.Sprintf(`button.seat[data-seat=%q]`, seat2)), "class")); err != nil || class.Value != "seat cat1 sold" {
		t.Errorf("after the refund of %s, %s is %q (%v); want still sold", seat1, seat2, class.Value, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Query(chromedp.CSS(refundButton(seat2)))); err != nil {
		t.Errorf("after the refund of %s, %s has no Refund button: %v", seat1, seat2, err)
	}

	step("hold a seat and give it back",
		browsertest.ClickSeat(seat3),
		chromedp.Click(chromedp.CSS(`#holdSelected`)),
		browsertest.WaitSeat(seat3, "held"),
		chromedp.Click(chromedp.CSS(`#orders li.order[data-status=""] button.release, #orders li.order[data-status="PENDING_PAYMENT"] button.release`)),
		browsertest.WaitSeat(seat3, "free"),
		chromedp.WaitVisible(chromedp.Search(`//li[@class="order"][@data-status="CANCELLED"]//li[contains(., "row 4, seat 1 (aisle),")]`)),
	)
	browsertest.Screenshots(t, ctx, shots, "5-given-back")

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
