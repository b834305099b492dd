package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	env := map[string]string{"SEATD_ID": "n1", "SEATD_DATA_DIR": "/tmp/x", "SEATD_GROUPS": "4", "SEATD_LINGER": "1ms"}
	cfg, err := parseConfig([]string{"-groups", "6", "-peers", "n1=127.0.0.1:7000,n2=127.0.0.1:7001", "-bootstrap"},
		func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Node.ID != "n1" || cfg.Node.Groups != 6 || cfg.Node.Proposer.Linger != time.Millisecond || len(cfg.Node.Peers) != 2 || !cfg.Node.Bootstrap {
		t.Fatalf("parseConfig = %+v; want env defaults with the flag overriding groups", cfg.Node)
	}
	if cfg.Node.RPCAddr != cfg.RPCAddr || cfg.Server.DefaultHoldTTL != 15*time.Minute {
		t.Fatalf("parseConfig: rpc advertise %q, default hold TTL %v; want the listen address and 15m", cfg.Node.RPCAddr, cfg.Server.DefaultHoldTTL)
	}
	_, err = parseConfig([]string{"-peers", "oops", "-log-level", "loud", "-tick-interval", "1ms", "-max-batch", "-3",
		"-join", "127.0.0.1:7100", "-bootstrap", "-rpc-addr", "0.0.0.0:7100", "-default-hold-ttl", "1s"},
		func(k string) string { return map[string]string{"SEATD_GROUPS": "many"}[k] })
	for _, want := range []string{"SEATD_GROUPS", "peers", "log-level", "node id is empty", "data directory", "tick interval",
		"max batch", "join and bootstrap", "rpc-advertise is required", "default hold TTL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseConfig(bad) = %v; want it to report %q", err, want)
		}
	}
}

// TestConfigFile: a file's settings sit under the environment and the
// flags; a bad line or an unknown name is reported with its line.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "seatd.conf")
	os.WriteFile(path, []byte("# node 2\nid = n2\ndata-dir = /var/lib/seatd\ngroups = 3\njoin = 10.0.0.1:7100, 10.0.0.2:7100\nmax-batch = 64\n"), 0o644)
	env := map[string]string{"SEATD_CONFIG": path, "SEATD_MAX_BATCH": "128"}
	cfg, err := parseConfig([]string{"-groups", "5"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Node.ID != "n2" || cfg.Node.Dir != "/var/lib/seatd" || cfg.Node.Groups != 5 || cfg.Node.Proposer.MaxBatch != 128 ||
		strings.Join(cfg.Join, " ") != "10.0.0.1:7100 10.0.0.2:7100" {
		t.Fatalf("parseConfig(file) = %+v, join %v; want the file under env and flags", cfg.Node, cfg.Join)
	}

	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("id = n1\ndata-dir = /x\nno equals sign\ncolour = blue\ngroups = lots\n"), 0o644)
	_, err = parseConfig([]string{"-config", bad}, func(string) string { return "" })
	for _, want := range []string{"bad.conf:3: want name = value", `bad.conf:4: unknown setting "colour"`, `bad.conf:5: groups = "lots": want an integer`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseConfig(bad file) = %v; want it to report %q", err, want)
		}
	}
	if _, err := parseConfig([]string{"-config", filepath.Join(dir, "missing")}, func(string) string { return "" }); err == nil {
		t.Error("parseConfig(missing file) = nil error")
	}
}

// TestParseMove: `seatd move` takes its settings from flags and SEATD_MOVE_*
// variables, and names every bad one at once.
func TestParseMove(t *testing.T) {
	env := map[string]string{"SEATD_MOVE_RPC": "10.0.0.1:7100, 10.0.0.2:7100", "SEATD_MOVE_OUTBOX_WAIT": "0s"}
	cfg, err := parseMove([]string{"-program", "show", "-group", "3"}, func(k string) string { return env[k] })
	if err != nil || cfg.Program != "show" || cfg.Group != 3 || cfg.OutboxWait != 0 || len(cfg.Seeds) != 2 || cfg.Seeds[1] != "10.0.0.2:7100" {
		t.Fatalf("parseMove = %+v, %v", cfg, err)
	}
	if cfg, err := parseMove([]string{"-program", "show", "-abort"}, func(string) string { return "" }); err != nil || !cfg.Abort {
		t.Fatalf("parseMove(-abort) = %+v, %v", cfg, err)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"-group", "2"}, []string{"-program"}},
		{[]string{"-program", "show"}, []string{"-group: required"}},
		{[]string{"-program", "show", "-group", "1024"}, []string{"-group: 1024"}},
		{[]string{"-program", "show", "-abort", "-group", "2"}, []string{"not with -abort"}},
		{[]string{"-program", "show", "-group", "2", "-rpc", "nohost", "-outbox-wait", "-1s", "-timeout", "0s"},
			[]string{`-rpc: "nohost"`, "-outbox-wait: -1s", "-timeout: 0s"}},
		{[]string{"-program", "show", "-group", "2", "extra"}, []string{"unexpected arguments"}},
	} {
		_, err := parseMove(c.args, func(string) string { return "" })
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("parseMove(%q) = %v; want an error saying %q", c.args, err, w)
			}
		}
	}
}
