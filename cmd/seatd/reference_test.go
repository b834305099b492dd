package main

import (
	"os"
	"testing"

	"seatd/internal/settings"
)

// TestConfigReference: docs/config.md's table of seatd's settings is the
// one its flag set makes (SEATD_UPDATE_DOCS=1 rewrites it).
func TestConfigReference(t *testing.T) {
	_, help := parseConfig([]string{"-h"}, func(string) string { return "" })
	if err := settings.CheckReference("../../docs/config.md", "seatd", help, os.Getenv("SEATD_UPDATE_DOCS") != ""); err != nil {
		t.Error(err)
	}
	_, help = parseBackup([]string{"-h"}, func(string) string { return "" })
	if err := settings.CheckReference("../../docs/config.md", "seatd backup", help, os.Getenv("SEATD_UPDATE_DOCS") != ""); err != nil {
		t.Error(err)
	}
	_, help = parseMove([]string{"-h"}, func(string) string { return "" })
	if err := settings.CheckReference("../../docs/config.md", "seatd move", help, os.Getenv("SEATD_UPDATE_DOCS") != ""); err != nil {
		t.Error(err)
	}
}
