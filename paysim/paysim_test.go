package paysim_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"seatd/orderflow/payment"
	"seatd/orderflow/payment/alipay"
	"seatd/orderflow/payment/wechat"
	"seatd/paysim"
	"seatd/paysim/paysimtest"
)

func otherKey(t *testing.T) payment.Secret {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return payment.NewSecret(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func pubPEM(k *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// TestRequestsMustBeSigned: a merchant signing with a key paysim does not
// know is refused by both protocols.
func TestRequestsMustBeSigned(t *testing.T) {
	sim := paysimtest.Start(t, paysim.Config{})
	ctx := context.Background()
	a, err := alipay.New(alipay.Config{Gateway: sim.URL + "/gateway.do", AppID: sim.Keys.AlipayAppID, PrivateKey: otherKey(t),
		AlipayPublicKey: pubPEM(&sim.Keys.Alipay.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateTrade(ctx, payment.TradeRequest{OutTradeNo: "s1", AmountCents: 100, Subject: "x"}); !errors.Is(err, payment.ErrRejected) || !strings.Contains(err.Error(), "isv.invalid-signature") {
		t.Fatalf("alipay CreateTrade with a foreign key = %v; want ErrRejected isv.invalid-signature", err)
	}
	// Answers signed by another "Alipay" are refused by the merchant.
	spoof, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(sim.Keys.AlipayApp)
	appKey := payment.NewSecret(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	a2, err := alipay.New(alipay.Config{Gateway: sim.URL + "/gateway.do", AppID: sim.Keys.AlipayAppID, PrivateKey: appKey, AlipayPublicKey: pubPEM(&spoof.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a2.QueryTrade(ctx, "s1"); !errors.Is(err, payment.ErrBadSignature) {
		t.Fatalf("alipay QueryTrade verifying with the wrong Alipay key = %v; want ErrBadSignature", err)
	}

	w, err := wechat.New(wechat.Config{BaseURL: sim.URL, MchID: sim.Keys.WechatMchID, AppID: sim.Keys.WechatAppID,
		MerchantSerial: paysim.CertSerial(sim.Keys.WechatMerchantCert), MerchantPrivateKey: otherKey(t),
		APIv3Key: payment.NewSecret(sim.Keys.WechatAPIv3Key), PlatformPublicKey: pubPEM(&sim.Keys.WechatPlatform.PublicKey),
		PlatformPublicKeyID: sim.Keys.WechatPublicKeyID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.QueryTrade(ctx, "s1"); !errors.Is(err, payment.ErrRejected) || !strings.Contains(err.Error(), "SIGN_ERROR") {
		t.Fatalf("wechat QueryTrade with a foreign key = %v; want ErrRejected SIGN_ERROR", err)
	}
	der, _ = x509.MarshalPKCS8PrivateKey(sim.Keys.WechatMerchant)
	w2, err := wechat.New(wechat.Config{BaseURL: sim.URL, MchID: sim.Keys.WechatMchID, AppID: sim.Keys.WechatAppID,
		MerchantSerial: paysim.CertSerial(sim.Keys.WechatMerchantCert), MerchantPrivateKey: payment.NewSecret(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		APIv3Key: payment.NewSecret(sim.Keys.WechatAPIv3Key), PlatformPublicKey: pubPEM(&spoof.PublicKey), PlatformPublicKeyID: sim.Keys.WechatPublicKeyID})
	if err != nil {
		t.Fatal(err)
	}
	// (Only 2xx answers are verified: wechatpay-go checks the status
	// before the signature, so an error answer, like a query's 404, is
	// taken unverified.)
	if _, err := w2.CreateTrade(ctx, payment.TradeRequest{OutTradeNo: "s2", AmountCents: 100, Subject: "x", NotifyURL: "http://127.0.0.1:1/n"}); !errors.Is(err, payment.ErrBadSignature) {
		t.Fatalf("wechat CreateTrade verifying with the wrong platform key = %v; want ErrBadSignature", err)
	}
}

// TestPageAndControl: the pay page, its form, and the JSON control
// endpoints, on a trade made straight through the Alipay gateway.
func TestPageAndControl(t *testing.T) {
	sim := paysimtest.Start(t, paysim.Config{})
	der, _ := x509.MarshalPKCS8PrivateKey(sim.Keys.AlipayApp)
	a, err := alipay.New(alipay.Config{Gateway: sim.URL + "/gateway.do", AppID: sim.Keys.AlipayAppID,
		PrivateKey:      payment.NewSecret(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		AlipayPublicKey: pubPEM(&sim.Keys.Alipay.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := a.CreateTrade(context.Background(), payment.TradeRequest{OutTradeNo: "page-1", AmountCents: 1999, Subject: "<b>Row 1</b>",
		TimeExpire: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(tr.QRCode)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "¥19.99") || strings.Contains(string(page), "<b>Row") {
		t.Fatalf("GET page = %d (want the amount, and the subject escaped)\n%s", resp.StatusCode, page)
	}
	resp, err = http.PostForm(tr.QRCode, url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), ">SUCCESS<") || strings.Contains(string(page), "<form") {
		t.Fatalf("POST page = %d; want paid, no form\n%s", resp.StatusCode, page)
	}
	var tv struct {
		State       string `json:"state"`
		AmountCents int64  `json:"amount_cents"`
		TradeNo     string `json:"trade_no"`
	}
	if code := sim.GetJSON(t, "/sim/trades/alipay/page-1", &tv); code != 200 || tv.State != "SUCCESS" || tv.AmountCents != 1999 || len(tv.TradeNo) != 28 {
		t.Fatalf("GET /sim/trades/alipay/page-1 = %d %+v", code, tv)
	}
	var list struct {
		Total  int         `json:"total"`
		Trades []tradeJSON `json:"trades"`
	}
	if code := sim.GetJSON(t, "/sim/trades?channel=alipay&state=SUCCESS", &list); code != 200 || list.Total != 1 {
		t.Fatalf("GET /sim/trades = %d %+v", code, list)
	}
	var bill struct {
		Lines []paysim.BillLine `json:"lines"`
	}
	if code := sim.GetJSON(t, "/sim/bill?channel=alipay", &bill); code != 200 || len(bill.Lines) != 1 || bill.Lines[0].AmountCents != 1999 {
		t.Fatalf("GET /sim/bill = %d %+v", code, bill)
	}
	if code := sim.Pay(t, paysim.Alipay, "page-1"); code != http.StatusOK {
		t.Fatalf("pay again = %d; want 200, no change", code)
	}
	if code := sim.Pay(t, paysim.Alipay, "nope"); code != http.StatusNotFound {
		t.Fatalf("pay unknown = %d; want 404", code)
	}
	// No notify_url: no notification made.
	if st := sim.Stats(); st.Notifications != 0 {
		t.Fatalf("stats = %+v; want no notifications without a notify_url", st)
	}
	resp, err = http.Post(sim.URL+"/sim/faults", "application/json", strings.NewReader(`{"drop":2}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("POST /sim/faults drop 2 = %d; want 400", resp.StatusCode)
	}
}

type tradeJSON = map[string]any

func TestConfigValidated(t *testing.T) {
	_, err := paysim.New(paysim.Config{Faults: paysim.Faults{Drop: -1, Duplicate: 1000}})
	if err == nil {
		t.Fatal("New accepted a config without keys and with bad faults")
	}
	for _, want := range []string{"Keys", "BaseURL", "drop", "duplicate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New error %q does not name %s", err, want)
		}
	}
}

func TestMaxTrades(t *testing.T) {
	sim := paysimtest.Start(t, paysim.Config{MaxTrades: 1})
	der, _ := x509.MarshalPKCS8PrivateKey(sim.Keys.AlipayApp)
	a, _ := alipay.New(alipay.Config{Gateway: sim.URL + "/gateway.do", AppID: sim.Keys.AlipayAppID,
		PrivateKey:      payment.NewSecret(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		AlipayPublicKey: pubPEM(&sim.Keys.Alipay.PublicKey)})
	ctx := context.Background()
	if _, err := a.CreateTrade(ctx, payment.TradeRequest{OutTradeNo: "m1", AmountCents: 1, Subject: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateTrade(ctx, payment.TradeRequest{OutTradeNo: "m2", AmountCents: 1, Subject: "x"}); !errors.Is(err, payment.ErrUnavailable) {
		t.Fatalf("CreateTrade past -max-trades = %v; want ErrUnavailable", err)
	}
}
