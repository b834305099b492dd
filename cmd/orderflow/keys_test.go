package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"seatd/internal/kafkatest"
	"seatd/internal/merchant"
	"seatd/paysim"
	"seatd/paysim/paysimtest"
)

// TestReloadKeysOnSIGHUP runs the orderflow binary with both providers
// (paysim's keys in files) and rotates Alipay's public key file under
// it, as docs/keys.md says: SIGHUP with a file that holds no key is
// refused (pay_key_reloads_total{outcome="refused"}, logged, the process
// serving on); SIGHUP with the new key beside the old is taken
// ({outcome="ok"}). Which signatures the reloaded keys take is
// internal/merchant's TestReloadKeys.
func TestReloadKeysOnSIGHUP(t *testing.T) {
	_, bin := buildFaultBinaries(t)
	brokers := kafkatest.Embedded(t)
	sim := paysimtest.Start(t, paysim.Config{})
	keys := t.TempDir()
	if err := sim.Keys.WriteDir(keys); err != nil {
		t.Fatal(err)
	}
	a, w, err := merchant.FromPaysim(keys, sim.URL)
	if err != nil {
		t.Fatal(err)
	}
	addrs := freeAddrs(t, 2)
	p := &proc{name: "orderflow", bin: bin, rpc: addrs[0], http: addrs[1], log: filepath.Join(t.TempDir(), "orderflow.log"),
		args: []string{"-brokers", strings.Join(brokers, ","), "-data", t.TempDir(), "-partitions", "2", "-rpc", addrs[0], "-metrics", addrs[1],
			"-notify-base-url", "http://127.0.0.1:1",
			"-alipay-gateway", a.Gateway, "-alipay-app-id", a.AppID, "-alipay-key-file", a.KeyFile, "-alipay-public-key-file", a.PublicKeyFile,
			"-wechat-base-url", w.BaseURL, "-wechat-mch-id", w.MchID, "-wechat-app-id", w.AppID, "-wechat-serial", w.Serial,
			"-wechat-key-file", w.KeyFile, "-wechat-apiv3-key-file", w.APIv3KeyFile,
			"-wechat-platform-public-key-file", w.PublicKeyFile, "-wechat-platform-public-key-id", w.PublicKeyID}}
	p.start(t)
	t.Cleanup(func() { p.stop(t, syscall.SIGTERM) })
	for deadline := time.Now().Add(maxReady); ; time.Sleep(100 * time.Millisecond) {
		if status, _, err := readyz(p); err == nil && status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("orderflow never ready:\n%s", p.tail(30))
		}
	}
	reloads := func(outcome string) float64 {
		m, err := scrape(p.http)
		if err != nil {
			t.Fatal(err)
		}
		return m.sum(`pay_key_reloads_total{outcome="` + outcome + `"}`)
	}
	hup := func(outcome string) {
		t.Helper()
		before := reloads(outcome)
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); reloads(outcome) <= before; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("SIGHUP: pay_key_reloads_total{outcome=%q} stayed at %v:\n%s", outcome, before, p.tail(30))
			}
		}
	}
	good, err := os.ReadFile(a.PublicKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.PublicKeyFile, []byte("-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hup("refused")
	if log := p.tail(50); !strings.Contains(log, "pay_keys_reload_refused") || !strings.Contains(log, "alipay keys") {
		t.Errorf("a refused reload is not logged naming Alipay's keys:\n%s", log)
	}
	if status, _, err := readyz(p); err != nil || status != http.StatusOK {
		t.Fatalf("after a refused reload, /readyz = %d, %v; want the process serving", status, err)
	}
	next, err := paysim.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := next.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	newKey, err := os.ReadFile(filepath.Join(dir, paysim.FileAlipayPublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.PublicKeyFile, append(newKey, good...), 0o600); err != nil {
		t.Fatal(err)
	}
	hup("ok")
	if log := p.tail(50); !strings.Contains(log, "pay_keys_reloaded") {
		t.Errorf("a reload is not logged:\n%s", log)
	}
}
