package merchant

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// TestReloadKeys rotates both providers' keys without a restart, as
// docs/keys.md tells an operator to: a second paysim plays each
// provider after its key changed (same merchant, new Alipay and WeChat
// Pay keys). Notifications signed with the old key are taken before the
// rotation; after the new keys are added beside the old and reloaded,
// those signed with the new key are taken, and so are the old key's
// (the overlap); a reload from a key file that holds no key is refused,
// naming the channel, and the keys in use stay; once the old keys are
// dropped, a notification signed with them is refused as badly signed.
func TestReloadKeys(t *testing.T) {
	before := paysimtest.Keys(t)
	after, err := paysim.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	after.AlipayAppID, after.AlipayApp = before.AlipayAppID, before.AlipayApp
	after.WechatMchID, after.WechatAppID, after.WechatAPIv3Key = before.WechatMchID, before.WechatAppID, before.WechatAPIv3Key
	after.WechatMerchant, after.WechatMerchantCert = before.WechatMerchant, before.WechatMerchantCert
	oldSim := paysimtest.Start(t, paysim.Config{Keys: before})
	newSim := paysimtest.Start(t, paysim.Config{Keys: after})
	oldDir, newDir, dir := t.TempDir(), t.TempDir(), t.TempDir()
	for d, k := range map[string]*paysim.Keys{oldDir: before, newDir: after, dir: before} {
		if err := k.WriteDir(d); err != nil {
			t.Fatal(err)
		}
	}
	a, w, err := FromPaysim(dir, oldSim.URL)
	if err != nil {
		t.Fatal(err)
	}
	// WeChat Pay's key ids from a file, so that they rotate with the keys.
	w.PublicKeyID, w.PublicKeyIDFromFile = "", filepath.Join(dir, paysim.FileWechatPublicKeyID)
	providers, err := Providers(a, w, nil)
	if err != nil || len(providers) != 2 {
		t.Fatalf("Providers = %v, %v", providers, err)
	}
	read := func(d, name string) string {
		b, err := os.ReadFile(filepath.Join(d, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	for _, p := range providers {
		t.Run(p.Channel(), func(t *testing.T) {
			recv := paysimtest.NewReceiver(t, p)
			var n int
			create := func() string {
				t.Helper()
				n++
				no := fmt.Sprintf("K%d%s%d", time.Now().UnixNano()%1e9, p.Channel()[:1], n)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if _, err := p.CreateTrade(ctx, payment.TradeRequest{OutTradeNo: no, AmountCents: 100, Subject: "seat",
					TimeExpire: time.Now().Add(time.Hour), Mode: payment.ModeQR, NotifyURL: recv.URL}); err != nil {
					t.Fatalf("CreateTrade(%s) = %v", no, err)
				}
				return no
			}
			taken := func(sim *paysimtest.Sim, no, what string) {
				t.Helper()
				sim.Pay(t, p.Channel(), no)
				recv.WaitFor(t, 10*time.Second, what, func(got []paysimtest.Got) bool {
					for _, g := range got {
						if g.Err == nil && g.N.OutTradeNo == no {
							return true
						}
					}
					return false
				})
			}
			reload := func() {
				t.Helper()
				if err := Reload(a, w, []payment.Provider{p}); err != nil {
					t.Fatalf("Reload = %v", err)
				}
			}
			// Trades made with the provider before its key changed.
			old1, old2, old3 := create(), create(), create()
			taken(oldSim, old1, "a notification signed with the old key, before the rotation")

			// The new key beside the old, current first, and the
			// provider (now the second paysim) reached after it.
			if p.Channel() == "alipay" {
				write(paysim.FileAlipayPublicKey, read(newDir, paysim.FileAlipayPublicKey)+read(oldDir, paysim.FileAlipayPublicKey))
				a.Gateway = newSim.URL + "/gateway.do"
			} else {
				write(paysim.FileWechatPublicKey, read(newDir, paysim.FileWechatPublicKey)+read(oldDir, paysim.FileWechatPublicKey))
				write(paysim.FileWechatPublicKeyID, after.WechatPublicKeyID+"\n"+before.WechatPublicKeyID+"\n")
				w.BaseURL = newSim.URL
			}
			reload()
			taken(newSim, create(), "a notification signed with the new key, after the reload")
			taken(oldSim, old2, "a notification signed with the old key, during the overlap")

			// A key file that holds no key: refused, the keys kept.
			name := map[string]string{"alipay": paysim.FileAlipayPublicKey, "wechat": paysim.FileWechatPublicKey}[p.Channel()]
			kept := read(dir, name)
			write(name, "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n")
			if err := Reload(a, w, []payment.Provider{p}); err == nil || !strings.Contains(err.Error(), p.Channel()+" keys") {
				t.Fatalf("Reload(a key file of garbage) = %v; want an error naming %s keys", err, p.Channel())
			}
			taken(newSim, create(), "a notification signed with the new key, after a refused reload")
			write(name, kept)

			// The old key dropped: its signatures are refused.
			write(name, read(newDir, name))
			if p.Channel() == "wechat" {
				write(paysim.FileWechatPublicKeyID, after.WechatPublicKeyID)
			}
			reload()
			recv.Reset()
			oldSim.Pay(t, p.Channel(), old3)
			recv.WaitFor(t, 10*time.Second, "the old key's notification refused", func(got []paysimtest.Got) bool {
				for _, g := range got {
					if errors.Is(g.Err, payment.ErrBadSignature) {
						return true
					}
					if g.Err == nil && g.N.OutTradeNo == old3 {
						t.Fatalf("a notification signed with a dropped key was taken: %+v", g.N)
					}
				}
				return false
			})
		})
	}
}
