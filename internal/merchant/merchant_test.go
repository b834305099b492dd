package merchant

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"seatd/orderflow/payment"
	"seatd/paysim"
	"seatd/paysim/paysimtest"
)

// TestWechatSerialFromFile: a WeChat Pay merchant set up from a paysim keys
// directory as deploy/ does it (the serial read from its file, paysim's
// platform certificate) trades with paysim; a serial file that is not
// there is an error.
func TestWechatSerialFromFile(t *testing.T) {
	sim := paysimtest.Start(t, paysim.Config{})
	dir := t.TempDir()
	if err := sim.Keys.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	w := Wechat{BaseURL: sim.URL, MchID: sim.Keys.WechatMchID, AppID: sim.Keys.WechatAppID,
		SerialFromFile: filepath.Join(dir, paysim.FileWechatMerchantSN),
		KeyFile:        filepath.Join(dir, paysim.FileWechatMerchantKey), APIv3KeyFile: filepath.Join(dir, paysim.FileWechatAPIv3Key),
		CertFile: filepath.Join(dir, paysim.FileWechatPlatformCert)}
	providers, err := Providers(Alipay{}, w, nil)
	if err != nil || len(providers) != 1 || providers[0].Channel() != "wechat" {
		t.Fatalf("Providers(wechat with a serial file) = %v, %v; want the WeChat provider", providers, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	trade, err := providers[0].CreateTrade(ctx, payment.TradeRequest{OutTradeNo: "T1", AmountCents: 100, Subject: "seat",
		TimeExpire: time.Now().Add(time.Hour), Mode: payment.ModeQR, NotifyURL: "http://127.0.0.1:1/notify"})
	if err != nil || trade.QRCode == "" {
		t.Fatalf("CreateTrade = %+v, %v; want a QR code", trade, err)
	}
	w.SerialFromFile = filepath.Join(dir, "missing")
	if _, err := Providers(Alipay{}, w, nil); err == nil {
		t.Errorf("Providers(wechat with a missing serial file) = nil error; want one")
	}
}
