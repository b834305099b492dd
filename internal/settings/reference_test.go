package settings

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckReference: a document whose generated section is not the flag
// set's is refused, naming the binary; update rewrites only that section,
// after which the check passes.
func TestCheckReference(t *testing.T) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.String("listen-addr", "127.0.0.1:1", "where it listens | a pipe")
	fs.Bool("dry", false, "do nothing")
	help := Parse(fs, []string{"-h"}, "DEMO", func(string) string { return "" })
	path := filepath.Join(t.TempDir(), "config.md")
	stale := "# before\n\n" + BeginMarker("demo") + "\n| old |\n" + EndMarker + "\n\n# after\n"
	if err := os.WriteFile(path, []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckReference(path, "demo", help, false); err == nil || !strings.Contains(err.Error(), "demo") {
		t.Fatalf("stale section: %v; want an error naming demo", err)
	}
	if err := CheckReference(path, "other", help, false); err == nil {
		t.Errorf("a document without the binary's section passed")
	}
	if err := CheckReference(path, "demo", help, true); err != nil {
		t.Fatal(err)
	}
	if err := CheckReference(path, "demo", help, false); err != nil {
		t.Errorf("after update: %v", err)
	}
	b, _ := os.ReadFile(path)
	for _, want := range []string{"# before\n", "# after\n", "| `-dry` | `DEMO_DRY` | `false` | do nothing |",
		"| `-listen-addr` | `DEMO_LISTEN_ADDR` | `127.0.0.1:1` | where it listens \\| a pipe |", "| `-config` | `DEMO_CONFIG` | none |"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("updated document lacks %q:\n%s", want, b)
		}
	}
	if err := CheckReference(path, "demo", fs.Parse(nil), false); err == nil {
		t.Errorf("an answer other than a HelpError passed")
	}
}
