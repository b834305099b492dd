package wechat_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"seatd/orderflow/payment"
	"seatd/orderflow/payment/wechat"
	"seatd/paysim"
	"seatd/paysim/paysimtest"
)

var seq atomic.Int64

func outTradeNo(prefix string) string {
	return fmt.Sprintf("%s%d%d", prefix, time.Now().UnixNano()%1e9, seq.Add(1))
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	sim  *paysimtest.Sim
	p    *wechat.Provider
	recv *paysimtest.Receiver
	logs *syncBuffer
	dir  string
}

// setup runs paysim, writes its keys to a directory and makes a provider
// from the files: public-key mode, or certificate mode when cert is set.
func setup(t *testing.T, cfg paysim.Config, cert bool) *env {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Logger = log
	sim := paysimtest.Start(t, cfg)
	dir := t.TempDir()
	if err := sim.Keys.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	key, err := payment.LoadSecret(filepath.Join(dir, paysim.FileWechatMerchantKey), "")
	if err != nil {
		t.Fatal(err)
	}
	v3, err := payment.LoadSecret(filepath.Join(dir, paysim.FileWechatAPIv3Key), "")
	if err != nil {
		t.Fatal(err)
	}
	c := wechat.Config{BaseURL: sim.URL, MchID: read(paysim.FileWechatMchID), AppID: read(paysim.FileWechatAppID),
		MerchantSerial: read(paysim.FileWechatMerchantSN), MerchantPrivateKey: key, APIv3Key: v3, Logger: log}
	if cert {
		c.PlatformCertificate = read(paysim.FileWechatPlatformCert)
	} else {
		c.PlatformPublicKey, c.PlatformPublicKeyID = read(paysim.FileWechatPublicKey), read(paysim.FileWechatPublicKeyID)
	}
	p, err := wechat.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return &env{sim: sim, p: p, recv: paysimtest.NewReceiver(t, p), logs: logs, dir: dir}
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
	for _, mode := range []struct {
		name string
		cert bool
	}{{"public key", false}, {"platform certificate", true}} {
		t.Run(mode.name, func(t *testing.T) { lifecycle(t, mode.cert) })
	}
}

func lifecycle(t *testing.T, cert bool) {
	e := setup(t, paysim.Config{}, cert)
	ctx := context.Background()
	no := outTradeNo("W")
	tr := e.create(t, no, 12345, time.Now().Add(15*time.Minute))
	if !strings.HasPrefix(tr.QRCode, e.sim.URL+"/pay/wechat/") {
		t.Fatalf("QRCode = %q; want paysim's pay page", tr.QRCode)
	}
	if _, err := e.p.CreateTrade(ctx, payment.TradeRequest{OutTradeNo: no + "p", AmountCents: 1, Subject: "x", NotifyURL: e.recv.URL, Mode: payment.ModePage}); !errors.Is(err, payment.ErrUnsupported) {
		t.Fatalf("CreateTrade(page) = %v; want ErrUnsupported", err)
	}
	st, err := e.p.QueryTrade(ctx, no)
	if err != nil || st.State != payment.TradeWaitBuyerPay || st.AmountCents != 12345 {
		t.Fatalf("QueryTrade before paying = %+v, %v; want WAIT_BUYER_PAY 12345", st, err)
	}
	if code := e.sim.Pay(t, paysim.Wechat, no); code != http.StatusOK {
		t.Fatalf("pay = %d", code)
	}
	got := e.recv.WaitFor(t, 5*time.Second, "the payment notification", verified(no, payment.NotifyPayment, 1))
	var n payment.Notification
	for _, g := range got {
		if g.Err == nil && g.N.OutTradeNo == no {
			n = g.N
		}
	}
	if n.AmountCents != 12345 || n.TradeState != payment.TradeSuccess || n.MchID != e.sim.Keys.WechatMchID || n.AppID != e.sim.Keys.WechatAppID || n.TradeNo == "" || n.At.IsZero() {
		t.Fatalf("notification = %+v; want SUCCESS 12345 for merchant %s", n, e.sim.Keys.WechatMchID)
	}
	st, err = e.p.QueryTrade(ctx, no)
	if err != nil || st.State != payment.TradeSuccess || st.TradeNo != n.TradeNo || st.PaidAt.IsZero() {
		t.Fatalf("QueryTrade after paying = %+v, %v; want SUCCESS, trade %s", st, err, n.TradeNo)
	}
	if err := e.p.CloseTrade(ctx, no); !errors.Is(err, payment.ErrTradeState) {
		t.Fatalf("CloseTrade(paid) = %v; want ErrTradeState", err)
	}

	r1 := payment.RefundRequest{OutTradeNo: no, OutRequestNo: no + "-r1", AmountCents: 2345, TotalCents: 12345, Reason: "seat A/1/1", NotifyURL: e.recv.URL}
	for i := range 2 {
		r, err := e.p.Refund(ctx, r1)
		if err != nil || r.AmountCents != 2345 || (r.State != payment.RefundProcessing && r.State != payment.RefundSuccess) {
			t.Fatalf("Refund(r1) #%d = %+v, %v; want 2345 accepted", i+1, r, err)
		}
	}
	over := payment.RefundRequest{OutTradeNo: no, OutRequestNo: no + "-r2", AmountCents: 10001, TotalCents: 12345, NotifyURL: e.recv.URL}
	if _, err := e.p.Refund(ctx, over); !errors.Is(err, payment.ErrRefundExceeds) {
		t.Fatalf("Refund(10001 of the 10000 left) = %v; want ErrRefundExceeds", err)
	}
	over.AmountCents = 10000
	if _, err := e.p.Refund(ctx, over); err != nil {
		t.Fatalf("Refund(the 10000 left) = %v", err)
	}
	got = e.recv.WaitFor(t, 5*time.Second, "two refund notifications", verified(no, payment.NotifyRefund, 2))
	amounts := map[string]int64{}
	for _, g := range got {
		if g.Err == nil && g.N.Kind == payment.NotifyRefund && g.N.OutTradeNo == no {
			if g.N.RefundState != payment.RefundSuccess {
				t.Fatalf("refund notification = %+v; want SUCCESS", g.N)
			}
			amounts[g.N.OutRequestNo] = g.N.AmountCents
		}
	}
	if amounts[no+"-r1"] != 2345 || amounts[no+"-r2"] != 10000 || len(amounts) != 2 {
		t.Fatalf("refund notifications = %v; want r1 2345 and r2 10000", amounts)
	}
	rq, err := e.p.QueryRefund(ctx, no, no+"-r1")
	if err != nil || rq.State != payment.RefundSuccess || rq.AmountCents != 2345 || rq.RefundedAt.IsZero() {
		t.Fatalf("QueryRefund(r1) = %+v, %v; want SUCCESS 2345", rq, err)
	}
	if rq, err := e.p.QueryRefund(ctx, no, no+"-nope"); err != nil || rq.State != payment.RefundNotFound {
		t.Fatalf("QueryRefund(unknown) = %+v, %v; want NOT_FOUND", rq, err)
	}
	if st, err := e.p.QueryTrade(ctx, no); err != nil || st.State != payment.TradeRefunded {
		t.Fatalf("QueryTrade after refunding all = %+v, %v; want REFUNDED", st, err)
	}
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
	e := setup(t, paysim.Config{}, false)
	ctx := context.Background()
	no := outTradeNo("C")
	e.create(t, no, 500, time.Now().Add(15*time.Minute))
	if err := e.p.CloseTrade(ctx, no); err != nil {
		t.Fatalf("CloseTrade(unpaid) = %v", err)
	}
	if st, err := e.p.QueryTrade(ctx, no); err != nil || st.State != payment.TradeClosed {
		t.Fatalf("QueryTrade(closed) = %+v, %v; want CLOSED", st, err)
	}
	if code := e.sim.Pay(t, paysim.Wechat, no); code != http.StatusConflict {
		t.Fatalf("pay(closed) = %d; want 409", code)
	}
	if err := e.p.CloseTrade(ctx, "never-made"); !errors.Is(err, payment.ErrUnknownTrade) {
		t.Fatalf("CloseTrade(unknown) = %v; want ErrUnknownTrade", err)
	}
	if st, err := e.p.QueryTrade(ctx, "never-made"); err != nil || st.State != payment.TradeNotFound {
		t.Fatalf("QueryTrade(unknown) = %+v, %v; want NOT_FOUND", st, err)
	}
	exp := outTradeNo("E")
	e.create(t, exp, 800, time.Now().Add(time.Minute))
	e.sim.Advance(2 * time.Minute)
	if code := e.sim.Pay(t, paysim.Wechat, exp); code != http.StatusConflict {
		t.Fatalf("pay(past time_expire) = %d; want 409", code)
	}
	if st, err := e.p.QueryTrade(ctx, exp); err != nil || st.State != payment.TradeClosed {
		t.Fatalf("QueryTrade(past time_expire) = %+v, %v; want CLOSED", st, err)
	}
}

// TestPayPage: a person opens the QR target in a browser and presses pay.
func TestPayPage(t *testing.T) {
	e := setup(t, paysim.Config{}, false)
	no := outTradeNo("G")
	tr := e.create(t, no, 4200, time.Now().Add(10*time.Minute))
	resp, err := http.Get(tr.QRCode)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte("¥42.00")) || !bytes.Contains(page, []byte("WAIT_BUYER_PAY")) {
		t.Fatalf("GET %s = %d\n%s", tr.QRCode, resp.StatusCode, page)
	}
	action := regexp.MustCompile(`action="([^"]+)"`).FindSubmatch(page)
	if action == nil {
		t.Fatalf("no pay form in\n%s", page)
	}
	resp, err = http.Post(string(action[1]), "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte(">SUCCESS<")) {
		t.Fatalf("POST pay form = %d\n%s", resp.StatusCode, page)
	}
	e.recv.WaitFor(t, 5*time.Second, "the payment notification", verified(no, payment.NotifyPayment, 1))
}

func TestNotificationFaults(t *testing.T) {
	cases := []struct {
		name    string
		faults  paysim.Faults
		wantErr error
	}{
		{"forged", paysim.Faults{Forge: 1}, payment.ErrBadSignature},
		{"tampered", paysim.Faults{Tamper: 1}, payment.ErrBadSignature},
		{"wrong merchant", paysim.Faults{WrongApp: 1}, payment.ErrWrongApp},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, paysim.Config{Faults: tc.faults}, false)
			no := outTradeNo("F")
			e.create(t, no, 1000, time.Now().Add(time.Hour))
			e.sim.Pay(t, paysim.Wechat, no)
			got := e.recv.WaitFor(t, 5*time.Second, "two refused attempts", func(got []paysimtest.Got) bool { return len(got) >= 2 })
			for _, g := range got {
				if !errors.Is(g.Err, tc.wantErr) {
					t.Fatalf("ParseNotification = %+v, %v; want %v", g.N, g.Err, tc.wantErr)
				}
			}
			if err := e.sim.SetFaults(paysim.Faults{}); err != nil {
				t.Fatal(err)
			}
			e.recv.WaitFor(t, 5*time.Second, "the genuine notification", verified(no, payment.NotifyPayment, 1))
		})
	}
	t.Run("wrong amount", func(t *testing.T) {
		e := setup(t, paysim.Config{Faults: paysim.Faults{WrongAmount: 1}}, false)
		no := outTradeNo("M")
		e.create(t, no, 1000, time.Now().Add(time.Hour))
		e.sim.Pay(t, paysim.Wechat, no)
		got := e.recv.WaitFor(t, 5*time.Second, "the notification", verified(no, payment.NotifyPayment, 1))
		if got[0].N.AmountCents != 1001 {
			t.Fatalf("notification amount = %d; want the signed wrong 1001", got[0].N.AmountCents)
		}
	})
	t.Run("duplicated", func(t *testing.T) {
		e := setup(t, paysim.Config{Faults: paysim.Faults{Duplicate: 4}}, false)
		no := outTradeNo("D")
		e.create(t, no, 1000, time.Now().Add(time.Hour))
		e.sim.Pay(t, paysim.Wechat, no)
		e.recv.WaitFor(t, 5*time.Second, "four copies", verified(no, payment.NotifyPayment, 4))
		time.Sleep(100 * time.Millisecond) // past the first resend (15 s x 0.0005)
		got := e.recv.Got(no)
		ids := map[string]int{}
		for _, g := range got {
			if g.Err != nil {
				t.Fatalf("duplicate refused: %v", g.Err)
			}
			ids[g.N.ID]++
		}
		if len(got) != 4 || len(ids) != 1 {
			t.Fatalf("received %d notifications with ids %v; want the same one 4 times", len(got), ids)
		}
	})
	t.Run("stale replay", func(t *testing.T) {
		// A notification replayed with an old timestamp fails verification.
		e := setup(t, paysim.Config{}, false)
		h := http.Header{}
		h.Set("Wechatpay-Timestamp", fmt.Sprint(time.Now().Add(-10*time.Minute).Unix()))
		h.Set("Wechatpay-Nonce", "N")
		h.Set("Wechatpay-Serial", e.sim.Keys.WechatPublicKeyID)
		h.Set("Wechatpay-Signature", "AAAA")
		if _, err := e.p.ParseNotification(context.Background(), h, []byte(`{}`)); !errors.Is(err, payment.ErrBadSignature) {
			t.Fatalf("ParseNotification(stale) = %v; want ErrBadSignature", err)
		}
	})
}

func TestKeysNeverLogged(t *testing.T) {
	e := setup(t, paysim.Config{Faults: paysim.Faults{Forge: 0.5}}, false)
	ctx := context.Background()
	no := outTradeNo("K")
	e.create(t, no, 1000, time.Now().Add(time.Hour))
	e.sim.Pay(t, paysim.Wechat, no)
	e.recv.WaitFor(t, 5*time.Second, "a notification", verified(no, payment.NotifyPayment, 1))
	_, _ = e.p.Refund(ctx, payment.RefundRequest{OutTradeNo: no, OutRequestNo: "x", AmountCents: 999, TotalCents: 1000, NotifyURL: e.recv.URL})

	key, _ := payment.LoadSecret(filepath.Join(e.dir, paysim.FileWechatMerchantKey), "")
	v3, _ := payment.LoadSecret(filepath.Join(e.dir, paysim.FileWechatAPIv3Key), "")
	cfg := wechat.Config{MchID: "1", MerchantPrivateKey: key, APIv3Key: v3}
	var printed bytes.Buffer
	fmt.Fprintf(&printed, "%v %+v %#v", cfg, cfg, cfg)
	slog.New(slog.NewJSONHandler(&printed, nil)).Info("config", "cfg", cfg)
	slog.New(slog.NewTextHandler(&printed, nil)).Info("config", "cfg", cfg)
	_, err := wechat.New(wechat.Config{MchID: "1", AppID: "a", MerchantSerial: "s", MerchantPrivateKey: payment.NewSecret(key.Reveal()[:300]),
		APIv3Key: payment.NewSecret(v3.Reveal()[:31]), PlatformPublicKey: "x", PlatformPublicKeyID: "y"})
	if err == nil {
		t.Fatal("New with broken keys succeeded")
	}
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
	if strings.Contains(everything, string(v3.Reveal())) || strings.Contains(everything, string(v3.Reveal()[:31])) {
		t.Fatal("the APIv3 key is in the logs")
	}
}
