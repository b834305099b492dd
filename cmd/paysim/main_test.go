package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"seatd/paysim"
)

func TestFlagsValidated(t *testing.T) {
	_, err := parseFlags([]string{"-drop", "2", "-forge", "-1", "-max-trades", "0", "-resend-scale", "0"}, noEnv)
	if err == nil {
		t.Fatal("bad flags accepted")
	}
	for _, want := range []string{"drop", "forge", "-max-trades", "-resend-scale"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("parseFlags error %q does not name %s", err, want)
		}
	}
	c, err := parseFlags([]string{"-duplicate", "3", "-delay", "1s", "-resend-scale", "0.001"}, noEnv)
	if err != nil || c.Sim.Faults.Duplicate != 3 || c.Sim.Faults.Delay != time.Second || c.Sim.ResendScale != 0.001 {
		t.Fatalf("parseFlags = %+v, %v", c.Sim, err)
	}
}

// TestRunWritesKeys: paysim -keys DIR writes the keys a merchant config
// points at, serves on loopback, and loads the same keys the next time.
func TestRunWritesKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	c, err := parseFlags([]string{"-addr", "127.0.0.1:0", "-keys", dir, "-log-level", "error"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, c, ready) }()
	base := <-ready
	resp, err := http.Get(base + "/sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	var stats map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&stats)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || stats["trades"] != float64(0) {
		t.Fatalf("GET /sim/stats = %d %v", resp.StatusCode, stats)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run = %v", err)
	}
	for _, f := range []string{paysim.FileAlipayAppPrivateKey, paysim.FileAlipayPublicKey, paysim.FileWechatMerchantKey,
		paysim.FileWechatPublicKey, paysim.FileWechatPlatformCert, paysim.FileWechatAPIv3Key} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v; want a 0600 file", f, fi, err)
		}
	}
	k1, err := paysim.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, made, err := paysim.LoadOrCreateDir(dir)
	if err != nil || made || !k1.Alipay.Equal(k2.Alipay) || k1.WechatPublicKeyID != k2.WechatPublicKeyID {
		t.Fatalf("LoadOrCreateDir again = made %v, %v; want the same keys loaded", made, err)
	}
}

func noEnv(string) string { return "" }
