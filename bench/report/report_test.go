package report

import (
	"strings"
	"testing"
)

// The machine line names the Go processors the run had, which moves the
// in-process cluster's rate, beside the cores.
func TestMarkdownMachine(t *testing.T) {
	r := &Report{Machine: Machine{CPU: "AMD EPYC", Cores: 2, GOMAXPROCS: 8, MemoryBytes: 24 << 30, GoVersion: "go1.26", OS: "linux", Arch: "amd64"}}
	want := "- machine: AMD EPYC, 2 cores, GOMAXPROCS 8, 24.0 GiB, go1.26 linux/amd64; started "
	if md := r.Markdown(); !strings.Contains(md, want) {
		t.Errorf("report.md:\n%s\nwant the line %q", md, want)
	}
}
