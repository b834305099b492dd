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
