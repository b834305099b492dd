package alipay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"seatd/orderflow/payment"
	"seatd/orderflow/payment/alipay"
	"seatd/paysim"
	"seatd/paysim/paysimtest"
)

var seq atomic.Int64

func outTradeNo(prefix string) string {
	return fmt.Sprintf("%s%d%d", prefix, time.Now().UnixNano()%1e9, seq.Add(1))
}

type env struct {
	sim  *paysimtest.Sim
	p    *alipay.Provider
	recv *paysimtest.Receiver
	logs *bytes.Buffer
	dir  string
}

// setup runs paysim, writes its keys to a directory and makes a provider
// from those files, as cmd/orderflow will.
func setup(t *testing.T, cfg paysim.Config) *env {
	t.Helper()
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewJSONHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Logger = log
	sim := paysimtest.Start(t, cfg)
	dir := t.TempDir()
	if err := sim.Keys.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	key, err := payment.LoadSecret(filepath.Join(dir, paysim.FileAlipayAppPrivateKey), "")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(filepath.Join(dir, paysim.FileAlipayPublicKey))
	if err != nil {
		t.Fatal(err)
	}
	p, err := alipay.New(alipay.Config{Gateway: sim.URL + "/gateway.do", AppID: sim.Keys.AlipayAppID,
		PrivateKey: key, AlipayPublicKey: string(pub), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return &env{sim: sim, p: p, recv: paysimtest.NewReceiver(t, p), logs: logs, dir: dir}
}

type lockedWriter struct {
	mu chan struct{}
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	if l.mu == nil {
		l.mu = make(chan struct{}, 1)
	}
	l.mu <- struct{}{}
	defer func() { <-l.mu }()
	return l.w.Write(b)
}

func (e *env) create(t *testing.T, no string, cents int64, expire time.Time) payment.Trade {
	t.Helper()
	tr, err := e.p.CreateTrade(context.Background(), payment.TradeRequest{OutTradeNo: no, AmountCents: cents,
		Subject: "seatd order " + no, TimeExpire: expire, Mode: payment.ModeQR, NotifyURL: e.recv.URL})
	if err != nil {
		t.Fatalf("CreateTrade(%s) = %v", no, err)
	}
	return tr
}

func verified(no string, kind payment.NotificationKind, n int) func([]paysimtest.Got) bool {
	return func(got []paysimtest.Got) bool {
		c := 0
		for _, g := range got {
			if g.Err == nil && g.N.OutTradeNo == no && g.N.Kind == kind {
				c++
			}
		}
		return c >= n
	}
}

func TestTradeLifecycle(t *testing.T) {
	e := setup(t, paysim.Config{})
	ctx := context.Background()
	no := outTradeNo("A")
	tr := e.create(t, no, 12345, time.Now().Add(15*time.Minute))
	if !strings.HasPrefix(tr.QRCode, e.sim.URL+"/pay/alipay/") {
		t.Fatalf("QRCode = %q; want paysim's pay page", tr.QRCode)
	}
	st, err := e.p.QueryTrade(ctx, no)
	if err != nil || st.State != payment.TradeWaitBuyerPay || st.AmountCents != 12345 {
		t.Fatalf("QueryTrade before paying = %+v, %v; want WAIT_BUYER_PAY 12345", st, err)
	}
	if code := e.sim.Pay(t, paysim.Alipay, no); code != http.StatusOK {
		t.Fatalf("pay = %d", code)
	}
	got := e.recv.WaitFor(t, 5*time.Second, "the payment notification", verified(no, payment.NotifyPayment, 1))
	var n payment.Notification
	for _, g := range got {
		if g.Err == nil && g.N.OutTradeNo == no {
			n = g.N
		}
	}
	if n.AmountCents != 12345 || n.TradeState != payment.TradeSuccess || n.AppID != e.sim.Keys.AlipayAppID || n.TradeNo == "" || n.At.IsZero() {
		t.Fatalf("notification = %+v; want SUCCESS 12345 from app %s", n, e.sim.Keys.AlipayAppID)
	}
	st, err = e.p.QueryTrade(ctx, no)
	if err != nil || st.State != payment.TradeSuccess || st.TradeNo != n.TradeNo || st.PaidAt.IsZero() {
		t.Fatalf("QueryTrade after paying = %+v, %v; want SUCCESS, trade %s, a payment time", st, err, n.TradeNo)
	}
	if err := e.p.CloseTrade(ctx, no); !errors.Is(err, payment.ErrTradeState) {
		t.Fatalf("CloseTrade(paid) = %v; want ErrTradeState", err)
	}

	// Partial refund, its repeat, an over-refund, then the rest.
	r1 := payment.RefundRequest{OutTradeNo: no, OutRequestNo: no + "-r1", AmountCents: 2345, TotalCents: 12345, Reason: "seat A/1/1"}
	for i := range 2 {
		r, err := e.p.Refund(ctx, r1)
		if err != nil || r.State != payment.RefundSuccess || r.AmountCents != 2345 {
			t.Fatalf("Refund(r1) #%d = %+v, %v; want SUCCESS 2345", i+1, r, err)
		}
	}
	over := payment.RefundRequest{OutTradeNo: no, OutRequestNo: no + "-r2", AmountCents: 10001, TotalCents: 12345}
	if _, err := e.p.Refund(ctx, over); !errors.Is(err, payment.ErrRefundExceeds) {
		t.Fatalf("Refund(10001 of the 10000 left) = %v; want ErrRefundExceeds", err)
	}
	over.AmountCents = 10000
	if r, err := e.p.Refund(ctx, over); err != nil || r.State != payment.RefundSuccess {
		t.Fatalf("Refund(the 10000 left) = %+v, %v", r, err)
	}
	if _, err := e.p.Refund(ctx, payment.RefundRequest{OutTradeNo: no, OutRequestNo: no + "-r3", AmountCents: 1, TotalCents: 12345}); !errors.Is(err, payment.ErrRefundExceeds) {
		t.Fatalf("Refund(after a full refund) = %v; want ErrRefundExceeds", err)
	}
	st, err = e.p.QueryTrade(ctx, no)
	if err != nil || st.State != payment.TradeRefunded {
		t.Fatalf("QueryTrade after refunding all = %+v, %v; want REFUNDED", st, err)
	}
	rq, err := e.p.QueryRefund(ctx, no, no+"-r1")
	if err != nil || rq.State != payment.RefundSuccess || rq.AmountCents != 2345 || rq.RefundedAt.IsZero() {
		t.Fatalf("QueryRefund(r1) = %+v, %v; want SUCCESS 2345", rq, err)
	}
	if rq, err := e.p.QueryRefund(ctx, no, no+"-nope"); err != nil || rq.State != payment.RefundNotFound {
		t.Fatalf("QueryRefund(unknown) = %+v, %v; want NOT_FOUND", rq, err)
	}
	// Two refund notifications (the repeat made none), with each refund's amount.
	got = e.recv.WaitFor(t, 5*time.Second, "two refund notifications", verified(no, payment.NotifyRefund, 2))
	amounts := map[string]int64{}
	for _, g := range got {
		if g.Err == nil && g.N.Kind == payment.NotifyRefund && g.N.OutTradeNo == no {
			amounts[g.N.OutRequestNo] = g.N.AmountCents
		}
	}
	if amounts[no+"-r1"] != 2345 || amounts[no+"-r2"] != 10000 || len(amounts) != 2 {
		t.Fatalf("refund notifications = %v; want r1 2345 and r2 10000", amounts)
	}

	// The bill of the day: one payment, two refunds.
	lines, err := e.p.Bill(ctx, time.Now())
	if err != nil {
		t.Fatalf("Bill = %v", err)
	}
	var mine []string
	for _, l := range lines {
		if l.OutTradeNo == no {
			mine = append(mine, fmt.Sprintf("%s %s %d %v", l.Kind, l.OutRequestNo, l.AmountCents, l.TradeNo == n.TradeNo))
		}
	}
	want := []string{"pay  12345 true", "refund " + no + "-r1 2345 true", "refund " + no + "-r2 10000 true"}
	if strings.Join(mine, "|") != strings.Join(want, "|") {
		t.Fatalf("bill lines = %q; want %q", mine, want)
	}
	if _, err := e.p.Bill(ctx, time.Now().AddDate(0, 0, -3)); !errors.Is(err, payment.ErrNoBill) {
		t.Fatalf("Bill(a day without trades) = %v; want ErrNoBill", err)
	}
}

func TestCloseAndExpire(t *testing.T) {
	e := setup(t, paysim.Config{})
	ctx := context.Background()
	no := outTradeNo("C")
	e.create(t, no, 500, time.Now().Add(15*time.Minute))
	if err := e.p.CloseTrade(ctx, no); err != nil {
		t.Fatalf("CloseTrade(unpaid) = %v", err)
	}
	if err := e.p.CloseTrade(ctx, no); err != nil {
		t.Fatalf("CloseTrade(closed) = %v; want nil", err)
	}
	if st, err := e.p.QueryTrade(ctx, no); err != nil || st.State != payment.TradeClosed {
		t.Fatalf("QueryTrade(closed) = %+v, %v; want CLOSED", st, err)
	}
	if code := e.sim.Pay(t, paysim.Alipay, no); code != http.StatusConflict {
		t.Fatalf("pay(closed) = %d; want 409", code)
	}
	if err := e.p.CloseTrade(ctx, "never-made"); !errors.Is(err, payment.ErrUnknownTrade) {
		t.Fatalf("CloseTrade(unknown) = %v; want ErrUnknownTrade", err)
	}
	if st, err := e.p.QueryTrade(ctx, "never-made"); err != nil || st.State != payment.TradeNotFound {
		t.Fatalf("QueryTrade(unknown) = %+v, %v; want NOT_FOUND", st, err)
	}
	if _, err := e.p.Refund(ctx, payment.RefundRequest{OutTradeNo: no, OutRequestNo: no + "-r", AmountCents: 1, TotalCents: 500}); !errors.Is(err, payment.ErrTradeState) {
		t.Fatalf("Refund(closed unpaid) = %v; want ErrTradeState", err)
	}

	// time_expire: the hold's expiry passes, the trade cannot be paid.
	exp := outTradeNo("E")
	e.create(t, exp, 800, time.Now().Add(time.Minute))
	e.sim.Advance(2 * time.Minute)
	if code := e.sim.Pay(t, paysim.Alipay, exp); code != http.StatusConflict {
		t.Fatalf("pay(past time_expire) = %d; want 409", code)
	}
	if st, err := e.p.QueryTrade(ctx, exp); err != nil || st.State != payment.TradeClosed || !st.PaidAt.IsZero() {
		t.Fatalf("QueryTrade(past time_expire) = %+v, %v; want CLOSED, unpaid", st, err)
	}
	if _, err := e.p.CreateTrade(ctx, payment.TradeRequest{OutTradeNo: exp, AmountCents: 800, Subject: "seatd order " + exp, Mode: payment.ModeQR}); !errors.Is(err, payment.ErrTradeState) {
		t.Fatalf("CreateTrade(a closed trade's number) = %v; want ErrTradeState", err)
	}
}

// TestPagePay: page mode signs a gateway URL; the buyer's browser opens
// it, sees paysim's page, presses pay, and is sent back to return_url.
func TestPagePay(t *testing.T) {
	e := setup(t, paysim.Config{})
	ctx := context.Background()
	no := outTradeNo("P")
	tr, err := e.p.CreateTrade(ctx, payment.TradeRequest{OutTradeNo: no, AmountCents: 8800, Subject: "VIP seat",
		TimeExpire: time.Now().Add(10 * time.Minute), Mode: payment.ModePage, NotifyURL: e.recv.URL, ReturnURL: "http://merchant.test/paid"})
	if err != nil || !strings.HasPrefix(tr.PayURL, e.sim.URL+"/gateway.do?") {
		t.Fatalf("CreateTrade(page) = %+v, %v; want a gateway URL", tr, err)
	}
	if st, _ := e.p.QueryTrade(ctx, no); st.State != payment.TradeNotFound {
		t.Fatalf("QueryTrade before the buyer opened the page = %v; want NOT_FOUND", st.State)
	}
	resp, err := http.Get(tr.PayURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte("¥88.00")) || !bytes.Contains(page, []byte(`<form method="post"`)) {
		t.Fatalf("GET pay URL = %d\n%s", resp.StatusCode, page)
	}
	action := regexp.MustCompile(`action="([^"]+)"`).FindSubmatch(page)
	if action == nil {
		t.Fatalf("no form action in\n%s", page)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirect.PostForm(string(action[1]), url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "http://merchant.test/paid?") {
		t.Fatalf("POST pay form = %d, Location %q; want 303 to return_url", resp.StatusCode, loc)
	}
	e.recv.WaitFor(t, 5*time.Second, "the payment notification", verified(no, payment.NotifyPayment, 1))

	// A URL whose signature was tampered with is refused.
	bad := strings.Replace(tr.PayURL, "total_amount%22%3A%2288.00", "total_amount%22%3A%220.01", 1)
	if bad == tr.PayURL {
		t.Fatalf("test bug: amount not found in %s", tr.PayURL)
	}
	resp, err = http.Get(bad)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("GET tampered pay URL = %d; want 400", resp.StatusCode)
	}
}

// TestNotificationFaults: forged, tampered and other-app notifications
// are refused with the right errors and answered "fail", so paysim sends
// them again; a duplicated one arrives N times.
func TestNotificationFaults(t *testing.T) {
	cases := []struct {
		name    string
		faults  paysim.Faults
		wantErr error
	}{
		{"forged", paysim.Faults{Forge: 1}, payment.ErrBadSignature},
		{"tampered", paysim.Faults{Tamper: 1}, payment.ErrBadSignature},
		{"wrong app", paysim.Faults{WrongApp: 1}, payment.ErrWrongApp},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, paysim.Config{Faults: tc.faults})
			no := outTradeNo("F")
			e.create(t, no, 1000, time.Now().Add(time.Hour))
			e.sim.Pay(t, paysim.Alipay, no)
			got := e.recv.WaitFor(t, 5*time.Second, "two refused attempts", func(got []paysimtest.Got) bool { return len(got) >= 2 })
			for _, g := range got {
				if !errors.Is(g.Err, tc.wantErr) {
					t.Fatalf("ParseNotification = %+v, %v; want %v", g.N, g.Err, tc.wantErr)
				}
			}
			// Refused means answered "fail": paysim resends, and a good
			// notification goes through once the fault stops.
			if err := e.sim.SetFaults(paysim.Faults{}); err != nil {
				t.Fatal(err)
			}
			e.recv.WaitFor(t, 5*time.Second, "the genuine notification", verified(no, payment.NotifyPayment, 1))
		})
	}
	t.Run("wrong amount", func(t *testing.T) {
		e := setup(t, paysim.Config{Faults: paysim.Faults{WrongAmount: 1}})
		no := outTradeNo("W")
		e.create(t, no, 1000, time.Now().Add(time.Hour))
		e.sim.Pay(t, paysim.Alipay, no)
		got := e.recv.WaitFor(t, 5*time.Second, "the notification", verified(no, payment.NotifyPayment, 1))
		// Correctly signed: only the pay service, which knows the trade,
		// can refuse it.
		if got[0].N.AmountCents != 1001 {
			t.Fatalf("notification amount = %d; want the signed wrong 1001", got[0].N.AmountCents)
		}
	})
	t.Run("duplicated", func(t *testing.T) {
		e := setup(t, paysim.Config{Faults: paysim.Faults{Duplicate: 3}})
		no := outTradeNo("D")
		e.create(t, no, 1000, time.Now().Add(time.Hour))
		e.sim.Pay(t, paysim.Alipay, no)
		e.recv.WaitFor(t, 5*time.Second, "three copies", verified(no, payment.NotifyPayment, 3))
		time.Sleep(300 * time.Millisecond) // past the first resend (4 min x 0.0005 = 120 ms)
		got := e.recv.Got(no)
		ids := map[string]int{}
		for _, g := range got {
			if g.Err != nil {
				t.Fatalf("duplicate refused: %v", g.Err)
			}
			ids[g.N.ID]++
		}
		if len(got) != 3 || len(ids) != 1 {
			t.Fatalf("received %d notifications with ids %v; want the same one 3 times", len(got), ids)
		}
	})
	t.Run("dropped then resent", func(t *testing.T) {
		e := setup(t, paysim.Config{Faults: paysim.Faults{Drop: 1}})
		no := outTradeNo("R")
		e.create(t, no, 1000, time.Now().Add(time.Hour))
		e.sim.Pay(t, paysim.Alipay, no)
		time.Sleep(100 * time.Millisecond)
		if got := e.recv.Got(no); len(got) != 0 {
			t.Fatalf("received %d notifications while every attempt is dropped", len(got))
		}
		if st := e.sim.Stats(); st.Dropped == 0 {
			t.Fatalf("stats = %+v; want dropped attempts", st)
		}
		_ = e.sim.SetFaults(paysim.Faults{})
		e.recv.WaitFor(t, 5*time.Second, "the resent notification", verified(no, payment.NotifyPayment, 1))
	})
}

// TestKeysNeverLogged: the provider's and paysim's logs, the config
// printed every way, and the errors of bad keys never show key material.
func TestKeysNeverLogged(t *testing.T) {
	e := setup(t, paysim.Config{Faults: paysim.Faults{Forge: 0.5}})
	ctx := context.Background()
	no := outTradeNo("K")
	e.create(t, no, 1000, time.Now().Add(time.Hour))
	e.sim.Pay(t, paysim.Alipay, no)
	e.recv.WaitFor(t, 5*time.Second, "a notification", verified(no, payment.NotifyPayment, 1))
	_, _ = e.p.Refund(ctx, payment.RefundRequest{OutTradeNo: no, OutRequestNo: "x", AmountCents: 99999, TotalCents: 1000})

	key, _ := payment.LoadSecret(filepath.Join(e.dir, paysim.FileAlipayAppPrivateKey), "")
	cfg := alipay.Config{AppID: "1", PrivateKey: key, AlipayPublicKey: "x"}
	var printed bytes.Buffer
	fmt.Fprintf(&printed, "%v %+v %#v %s", cfg, cfg, cfg, cfg.PrivateKey)
	slog.New(slog.NewJSONHandler(&printed, nil)).Info("config", "cfg", cfg, "raw", cfg.PrivateKey)
	slog.New(slog.NewTextHandler(&printed, nil)).Info("config", "cfg", cfg)
	_, err := alipay.New(alipay.Config{AppID: "1", PrivateKey: payment.NewSecret(key.Reveal()[:200]), AlipayPublicKey: "x"})
	if err == nil {
		t.Fatal("New with half a key succeeded")
	}
	fmt.Fprint(&printed, err)
	t.Setenv("SEATD_TEST_ALIPAY_KEY", string(key.Reveal()))
	if s, err := payment.LoadSecret("", "SEATD_TEST_ALIPAY_KEY"); err != nil || !bytes.Equal(s.Reveal(), key.Reveal()) {
		t.Fatalf("LoadSecret(env) = %v", err)
	}
	_, err = payment.LoadSecret(filepath.Join(e.dir, "missing.pem"), "")
	fmt.Fprint(&printed, err)

	everything := e.logs.String() + printed.String()
	if !strings.Contains(everything, "[secret]") {
		t.Fatalf("the redacted config was not printed: %s", printed.String())
	}
	for _, f := range []string{paysim.FileAlipayAppPrivateKey, paysim.FileAlipayPrivateKey, paysim.FileWechatMerchantKey, paysim.FileWechatPlatformKey} {
		b, _ := os.ReadFile(filepath.Join(e.dir, f))
		for _, line := range strings.Split(string(b), "\n") {
			if len(line) >= 40 && !strings.HasPrefix(line, "-----") && strings.Contains(everything, line) {
				t.Fatalf("a line of %s is in the logs or printed config", f)
			}
		}
	}
	if strings.Contains(everything, string(e.sim.Keys.WechatAPIv3Key)) {
		t.Fatal("the APIv3 key is in the logs")
	}
}
