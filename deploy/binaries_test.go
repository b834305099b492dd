package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// flagSpec is one flag as a binary's -h lists it.
type flagSpec struct {
	isBool bool
	def    string // the default -h prints, "" when it prints none
}

// flagSet is a binary's (or subcommand's) flags by name.
type flagSet map[string]flagSpec

var (
	binariesOnce sync.Once
	binariesDir  string             // the binaries, removed by TestMain
	binariesSets map[string]flagSet // by command: "seatd", "orderflow", "orderflow reconcile", ...
	binariesErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binariesDir != "" {
		os.RemoveAll(binariesDir)
	}
	os.Exit(code)
}

// dockerfileBinaries returns the command directories the Dockerfile's go
// build builds, by binary name: "seatd" -> "./cmd/seatd".
func dockerfileBinaries(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "RUN ") || !strings.Contains(line, "go build") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "./cmd/") {
				out[filepath.Base(f)] = f
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("Dockerfile: no RUN go build of ./cmd/... found")
	}
	return out
}

// binaryFlags builds the binaries the Dockerfile builds into binariesDir,
// once per test binary, and returns each command's flags as its -h prints
// them. The subcommand "orderflow reconcile" is read too.
func binaryFlags(t *testing.T) map[string]flagSet {
	t.Helper()
	cmds := dockerfileBinaries(t)
	binariesOnce.Do(func() {
		dir, err := os.MkdirTemp("", "deploy-binaries")
		if err != nil {
			binariesErr = err
			return
		}
		binariesDir = dir
		args := []string{"build", "-o", dir + string(filepath.Separator)}
		for _, c := range cmds {
			args = append(args, c)
		}
		build := exec.Command("go", args...)
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			binariesErr = &buildError{out: string(out), err: err}
			return
		}
		binariesSets = map[string]flagSet{}
		runs := map[string][]string{}
		for name := range cmds {
			runs[name] = []string{name}
		}
		if _, ok := cmds["orderflow"]; ok {
			runs["orderflow reconcile"] = []string{"orderflow", "reconcile"}
		}
		for cmd, argv := range runs {
			h := exec.Command(filepath.Join(dir, argv[0]), append(argv[1:], "-h")...)
			out, err := h.CombinedOutput()
			if err != nil {
				binariesErr = &buildError{out: string(out), err: err}
				return
			}
			binariesSets[cmd] = parseUsage(string(out))
		}
	})
	if binariesErr != nil {
		t.Fatal(binariesErr)
	}
	for cmd, fs := range binariesSets {
		if len(fs) < 3 {
			t.Fatalf("%s -h lists %d flags; the usage format changed?", cmd, len(fs))
		}
	}
	return binariesSets
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

var (
	usageFlag    = regexp.MustCompile(`^  -([a-z0-9][a-z0-9-]*)(?: (\S+))?$`)
	usageDefault = regexp.MustCompile(`\(default (?:"([^"]*)"|([^)]*))\)$`)
)

// parseUsage reads the flag package's PrintDefaults format: "  -name type"
// (no type for a bool), then the usage on the next lines, ending in
// "(default ...)" when the default is not the zero value.
func parseUsage(usage string) flagSet {
	fs := flagSet{}
	var last string
	sc := bufio.NewScanner(strings.NewReader(usage))
	for sc.Scan() {
		line := sc.Text()
		if m := usageFlag.FindStringSubmatch(line); m != nil {
			last = m[1]
			fs[last] = flagSpec{isBool: m[2] == ""}
			continue
		}
		if m := usageDefault.FindStringSubmatch(strings.TrimSpace(line)); m != nil && last != "" {
			f := fs[last]
			f.def = m[1] + m[2]
			fs[last] = f
		}
	}
	return fs
}

func TestParseUsage(t *testing.T) {
	fs := parseUsage(`usage: seatd [flags]
  -admin-addr string
    	admin HTTP address (default "127.0.0.1:7200")
  -bootstrap
    	form a new cluster
  -groups int
    	inventory groups (default 8)
`)
	want := flagSet{"admin-addr": {def: "127.0.0.1:7200"}, "bootstrap": {isBool: true}, "groups": {def: "8"}}
	if len(fs) != len(want) {
		t.Fatalf("parseUsage = %v; want %v", fs, want)
	}
	for k, v := range want {
		if fs[k] != v {
			t.Errorf("parseUsage: %s = %+v; want %+v", k, fs[k], v)
		}
	}
}

// TestDockerignore: the build context keeps what the Dockerfile's build
// reads: go.mod, go.sum and every package of this module the binaries
// import.
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile("Dockerfile.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum"}
	for dir := range modulePackages(t) {
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		needed = append(needed, rel)
	}
	for _, line := range strings.Split(string(b), "\n") {
		pattern := strings.TrimSpace(line)
		if pattern == "" || strings.HasPrefix(pattern, "#") {
			continue
		}
		for _, n := range needed {
			for p := n; p != "."; p = filepath.Dir(p) {
				if ok, _ := filepath.Match(pattern, p); ok {
					t.Errorf("Dockerfile.dockerignore: %q leaves %s out of the build context", pattern, n)
				}
			}
		}
	}
}
