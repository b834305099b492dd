package main

import (
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
	_, err = parseConfig([]string{"-peers", "oops", "-log-level", "loud", "-tick-interval", "1ms", "-max-batch", "-3"},
		func(k string) string { return map[string]string{"SEATD_GROUPS": "many"}[k] })
	for _, want := range []string{"SEATD_GROUPS", "peers", "log-level", "node id is empty", "data directory", "tick interval", "max batch"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseConfig(bad) = %v; want it to report %q", err, want)
		}
	}
}
