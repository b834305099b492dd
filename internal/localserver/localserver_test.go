package localserver

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFreePorts: the ports asked for together differ and can be bound.
func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(3)
	if err != nil || len(ports) != 3 || ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
		t.Fatalf("FreePorts(3) = %v, %v; want three different ports", ports, err)
	}
}

// TestTail: the last LogLines lines of a log, all of a short one, and
// why a missing one cannot be read.
func TestTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	var b strings.Builder
	for i := 1; i <= LogLines+5; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(Tail(path), "\n")
	if len(got) != LogLines || got[0] != "line 6" || got[LogLines-1] != fmt.Sprintf("line %d", LogLines+5) {
		t.Errorf("Tail = %d lines from %q to %q; want lines 6 to %d", len(got), got[0], got[len(got)-1], LogLines+5)
	}
	if err := os.WriteFile(path, []byte("one\ntwo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := Tail(path); got != "one\ntwo" {
		t.Errorf("Tail(short log) = %q", got)
	}
	if got := Tail(path + ".missing"); !strings.Contains(got, "no such file") {
		t.Errorf("Tail(missing) = %q; want why", got)
	}
}
