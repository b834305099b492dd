package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestConfigSources: flags win over ORDERFLOW_* variables, which win over
// the file; KAFKA_BROKERS is the brokers' fallback.
func TestConfigSources(t *testing.T) {
	file := filepath.Join(t.TempDir(), "orderflow.conf")
	os.WriteFile(file, []byte("# test\ninstances = 3\ndata = /from/file\npartitions = 12\n"), 0o644)
	cfg, err := parseConfig([]string{"-config", file, "-instance", "2"},
		env(map[string]string{"KAFKA_BROKERS": "k1:9092,k2:9092", "ORDERFLOW_DATA": "/from/env"}))
	if err != nil {
		t.Fatal(err)
	}
	sc := cfg.Service
	if sc.Instance != 2 || sc.Instances != 3 || sc.DataDir != "/from/env" || sc.Partitions != 12 ||
		strings.Join(sc.Brokers, ",") != "k1:9092,k2:9092" || sc.Replicas != 1 {
		t.Errorf("parseConfig = %+v; want instance 2 of 3, data /from/env, 12 partitions, brokers k1,k2", sc)
	}
	cfg, err = parseConfig([]string{"-data", "d"}, env(map[string]string{"KAFKA_BROKERS": "k1:9092", "ORDERFLOW_BROKERS": "k3:9092"}))
	if err != nil || strings.Join(cfg.Service.Brokers, ",") != "k3:9092" {
		t.Errorf("ORDERFLOW_BROKERS over KAFKA_BROKERS: %v, %v; want k3:9092", cfg.Service.Brokers, err)
	}
}

// TestConfigErrors: every violation is reported at once.
func TestConfigErrors(t *testing.T) {
	_, err := parseConfig([]string{"-instance", "4", "-instances", "2", "-partitions", "65", "-log-level", "loud"}, env(nil))
	if err == nil {
		t.Fatal("parseConfig accepted a bad configuration")
	}
	for _, want := range []string{"brokers: required", "instance 4 of 2", "partitions 65", "no data directory", "log-level"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("parseConfig error %q; want it to mention %q", err, want)
		}
	}
	_, err = parseConfig([]string{"-brokers", "127.0.0.1:9092", "-data", t.TempDir(), "-partitions", "0"}, env(nil))
	if err == nil || !strings.Contains(err.Error(), "partitions 0: want 1-64") {
		t.Errorf("parseConfig(-partitions 0) = %v; want the range named", err)
	}
}

// TestWechatSerialFile: the merchant certificate's serial comes inline or
// from a file (a paysim keys directory's, in deploy/), one of the two.
func TestWechatSerialFile(t *testing.T) {
	base := []string{"-brokers", "127.0.0.1:9092", "-data", t.TempDir(), "-notify-base-url", "http://gw:8080",
		"-wechat-mch-id", "1900000109", "-wechat-app-id", "wx1", "-wechat-key-file", "k.pem", "-wechat-apiv3-key-file", "v3",
		"-wechat-platform-cert-file", "cert.pem"}
	for _, tc := range []struct {
		name  string
		args  []string
		error string // "" for none
	}{
		{"file", []string{"-wechat-serial-file", "/keys/wechat_merchant_serial"}, ""},
		{"inline", []string{"-wechat-serial", "ABC123"}, ""},
		{"neither", nil, "-wechat-serial (or -wechat-serial-file)"},
		{"both", []string{"-wechat-serial", "ABC123", "-wechat-serial-file", "/keys/wechat_merchant_serial"}, "give one"},
		{"key id file", []string{"-wechat-serial", "ABC123", "-wechat-platform-public-key-id-file", "/keys/wechat_platform_public_key_id"}, ""},
		{"both key ids", []string{"-wechat-serial", "ABC123", "-wechat-platform-public-key-id", "PUB_KEY_ID_1",
			"-wechat-platform-public-key-id-file", "/keys/wechat_platform_public_key_id"}, "-wechat-platform-public-key-id-file: give one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig(append(append([]string{}, base...), tc.args...), env(nil))
			switch {
			case tc.error == "" && err != nil:
				t.Fatalf("parseConfig(%v) = %v; want no error", tc.args, err)
			case tc.error != "" && (err == nil || !strings.Contains(err.Error(), tc.error)):
				t.Fatalf("parseConfig(%v) = %v; want an error naming %q", tc.args, err, tc.error)
			case tc.name == "file" && cfg.Wechat.SerialFromFile != "/keys/wechat_merchant_serial":
				t.Errorf("parseConfig(%v): SerialFromFile = %q; want the file", tc.args, cfg.Wechat.SerialFromFile)
			}
		})
	}
}
