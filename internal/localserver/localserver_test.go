package localserver

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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

// TestMkdirTempRemovesStale: MkdirTemp removes a directory of its prefix
// whose owner is gone, keeps one whose owner lock is held and one without
// an owner file, and holds the lock of the directory it makes.
func TestMkdirTempRemovesStale(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	mkdir := func(name string, owner bool) string {
		t.Helper()
		dir := filepath.Join(tmp, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if owner {
			if err := os.WriteFile(filepath.Join(dir, OwnerFile), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	exists := func(dir string) bool {
		_, err := os.Stat(dir)
		return err == nil
	}
	stale, live, foreign, other := mkdir("run-stale", true), mkdir("run-live", true), mkdir("run-foreign", false), mkdir("walk-stale", true)
	held, err := lock(filepath.Join(live, OwnerFile), 0)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := MkdirTemp("run-")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dir  string
		want bool
	}{{stale, false}, {live, true}, {foreign, true}, {other, true}, {dir, true}} {
		if got := exists(c.dir); got != c.want {
			t.Errorf("after MkdirTemp(%q): %s exists = %v; want %v", "run-", c.dir, got, c.want)
		}
	}
	if !strings.HasPrefix(filepath.Base(dir), "run-") || filepath.Dir(dir) != tmp {
		t.Errorf("MkdirTemp(%q) = %s; want a run-* directory in %s", "run-", dir, tmp)
	}
	if f, err := lock(filepath.Join(dir, OwnerFile), 0); err == nil {
		f.Close()
		t.Errorf("the owner file of %s could be locked; want it held by MkdirTemp", dir)
	}

	// The live directory's owner goes: the next call removes it, and keeps
	// the directory this process still owns.
	held.Close()
	dir2, err := MkdirTemp("run-")
	if err != nil {
		t.Fatal(err)
	}
	if exists(live) || !exists(dir) || !exists(dir2) {
		t.Errorf("after its owner went, %s exists = %v, owned %s = %v, %s = %v; want false, true, true",
			live, exists(live), dir, exists(dir), dir2, exists(dir2))
	}
}
