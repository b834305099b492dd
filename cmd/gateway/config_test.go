package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	keyFile := filepath.Join(t.TempDir(), "jwt.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	env := map[string]string{"GATEWAY_ADMIN_TOKEN": "admin-token-of-enough-length", "GATEWAY_JWT_ED25519_KEY": keyFile,
		"GATEWAY_USER_RATE": "20"}
	env["GATEWAY_CACHE_BYTES"] = "33554432"
	cfg, err := parseConfig([]string{"-seatd", "10.0.0.1:7100, 10.0.0.2:7100", "-seatmap-max-age", "1s", "-cache-max-entry-bytes", "1048576",
		"-seatmap-max-full-seats", "500", "-token-cache-bytes", "65536"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if g := cfg.Gateway; strings.Join(cfg.Client.Seeds, " ") != "10.0.0.1:7100 10.0.0.2:7100" || !pub.Equal(g.Auth.Ed25519Key) ||
		g.UserRate != 20 || g.SeatMapMaxAge != time.Second || g.CacheBytes != 32<<20 || g.MaxCacheEntryBytes != 1<<20 ||
		g.MaxFullSeatMapSeats != 500 || g.TokenCacheBytes != 64<<10 {
		t.Fatalf("parseConfig = %+v", cfg)
	}
	_, err = parseConfig([]string{"-jwt-secret", "short", "-dev-tokens", "-seatd", "", "-log-level", "loud", "-jwt-ed25519-key", "/nonexistent",
		"-cache-bytes", "1000", "-cache-max-entry-bytes", "-5", "-seatmap-max-full-seats", "-1", "-token-cache-bytes", "100", "-seatmap-max-age", "-1s",
		"-admin-token", "short-token", "-jwks-url", "ftp://idp.example/jwks", "-jwks-refresh", "10s", "-jwks-min-interval", "1m"},
		func(string) string { return "" })
	for _, want := range []string{"HS256 secret of 5 bytes", "admin token", "seatd: give", "log-level", "jwt-ed25519-key",
		"cache bytes 1000", "cache max entry bytes -5", "seat map max full seats -1", "token cache bytes 100", "seat map age",
		"admin token shorter than 16 bytes", `JWKS URL "ftp://idp.example/jwks" is not an http(s) URL`, "JWKS refresh 10s, min interval 1m0s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseConfig(bad) = %v; want it to report %q", err, want)
		}
	}
}
