package scenarios

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"seatd/bench/scenario"
)

// TestEveryFile: every .json file of the directory is built in under
// its name, byte for byte, and is a valid scenario of that name.
func TestEveryFile(t *testing.T) {
	disk, err := filepath.Glob("*.json")
	if err != nil || len(disk) == 0 {
		t.Fatalf("Glob = %v, %v", disk, err)
	}
	var want []string
	for _, f := range disk {
		want = append(want, f[:len(f)-len(".json")])
	}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v; want %v", got, want)
	}
	for i, name := range want {
		b, ok := Lookup(name)
		onDisk, err := os.ReadFile(disk[i])
		if !ok || err != nil || !bytes.Equal(b, onDisk) {
			t.Errorf("Lookup(%q) = %d bytes, %v; want %s's %d bytes (%v)", name, len(b), ok, disk[i], len(onDisk), err)
			continue
		}
		sc, err := scenario.Parse(b)
		if err != nil || sc.Name != name {
			t.Errorf("scenario.Parse(%s) = %v; want the scenario %q", disk[i], err, name)
		}
	}
}

func TestLookupUnknown(t *testing.T) {
	for _, name := range []string{"", "stadium.json", "nope", "../scenario/scenario", "*"} {
		if b, ok := Lookup(name); ok || b != nil {
			t.Errorf("Lookup(%q) = %d bytes, %v; want none", name, len(b), ok)
		}
	}
}
