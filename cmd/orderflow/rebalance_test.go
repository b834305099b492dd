package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRebalanceApply moves the stores of a 2-to-3 change between data
// directories: order and pay stores of each moving partition, only those
// that exist; a second run finds them moved and does nothing; a store at
// neither end, or at both, is refused before anything moves.
func TestRebalanceApply(t *testing.T) {
	root := t.TempDir()
	dirs := []string{filepath.Join(root, "d0"), filepath.Join(root, "d1"), filepath.Join(root, "d2")}
	for _, d := range []string{"d0/partition-00", "d0/partition-02", "d0/pay/pay-00", "d0/pay/pay-02", "d1/partition-01", "d1/partition-03"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := rebalanceConfig{Partitions: 4, From: 2, To: 3, DataDirs: dirs}
	var out bytes.Buffer
	if err := rebalance(cfg, &out); err != nil || strings.Count(out.String(), "mv ") != 3 {
		t.Fatalf("rebalance (print) = %v:\n%s\nwant 3 mv commands", err, out.String())
	}
	if _, err := os.Stat(filepath.Join(dirs[2], "partition-02")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("printing the plan moved a store: %v", err)
	}
	cfg.Apply = true
	out.Reset()
	if err := rebalance(cfg, &out); err != nil {
		t.Fatalf("rebalance -apply = %v", err)
	}
	for _, d := range []string{"d0/partition-00", "d0/pay/pay-00", "d2/partition-02", "d2/pay/pay-02", "d1/partition-01", "d0/partition-03"} {
		if _, err := os.Stat(filepath.Join(root, d)); err != nil {
			t.Errorf("after the moves %s: %v\n%s", d, err, out.String())
		}
	}
	for _, d := range []string{"d0/partition-02", "d0/pay/pay-02", "d1/partition-03"} {
		if _, err := os.Stat(filepath.Join(root, d)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after the moves %s is still there: %v", d, err)
		}
	}
	out.Reset()
	if err := rebalance(cfg, &out); err != nil || !strings.HasPrefix(out.String(), "nothing to move") {
		t.Errorf("a second rebalance -apply = %v, %q; want nothing to do", err, out.String())
	}
	if err := os.MkdirAll(filepath.Join(dirs[1], "partition-03"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dirs[2], "partition-02")); err != nil {
		t.Fatal(err)
	}
	err := rebalance(cfg, &out)
	if !errors.Is(err, errRebalance) || !strings.Contains(err.Error(), "partition 2: no store") || !strings.Contains(err.Error(), "partition 3: both") {
		t.Errorf("rebalance with a store lost and one at both ends = %v; want REBALANCE_REFUSED naming both", err)
	}
	if _, err := os.Stat(filepath.Join(dirs[1], "partition-03")); err != nil {
		t.Errorf("a refused rebalance moved a store: %v", err)
	}
}
