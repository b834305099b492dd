package main

import (
	"os"
	"testing"

	"seatd/internal/settings"
)

// TestConfigReference: docs/config.md's table of orderflow's settings is the
// one its flag set makes (SEATD_UPDATE_DOCS=1 rewrites it).
func TestConfigReference(t *testing.T) {
	_, help := parseConfig([]string{"-h"}, func(string) string { return "" })
	if err := settings.CheckReference("../../docs/config.md", "orderflow", help, os.Getenv("SEATD_UPDATE_DOCS") != ""); err != nil {
		t.Error(err)
	}
	for name, parse := range map[string]func([]string, func(string) string) error{
		"orderflow reconcile":      func(a []string, g func(string) string) error { _, err := parseReconcile(a, g); return err },
		"orderflow backup":         func(a []string, g func(string) string) error { _, err := parseBackup(a, g); return err },
		"orderflow restore":        func(a []string, g func(string) string) error { _, err := parseRestore(a, g); return err },
		"orderflow rebalance-plan": func(a []string, g func(string) string) error { _, err := parseRebalance(a, g); return err },
	} {
		help := parse([]string{"-h"}, func(string) string { return "" })
		if err := settings.CheckReference("../../docs/config.md", name, help, os.Getenv("SEATD_UPDATE_DOCS") != ""); err != nil {
			t.Error(err)
		}
	}
}
