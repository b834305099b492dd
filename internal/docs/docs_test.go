package docs

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// root is the repository's top, from this package's directory.
const root = "../.."

// TestLinks: every relative link of README.md and docs/*.md names a file
// or directory that exists, and an anchor names a heading of its file.
func TestLinks(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(root, "README.md"))
	checked := 0
	for _, f := range files {
		problems, n := brokenLinks(t, f)
		checked += n
		for _, p := range problems {
			t.Error(p)
		}
	}
	// The README alone links to a dozen documents: far fewer means the
	// links were not read.
	if checked < 50 {
		t.Fatalf("%d relative links checked in %d files; the parser found too few", checked, len(files))
	}
}

// TestLinksFindBreakage: a link to a missing file, to a missing heading
// of another file or of its own, and a good link beside them.
func TestLinksFindBreakage(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("docs/a.md", "# A\n\n## `make bench`: seatd\n")
	readme := write("README.md", strings.Join([]string{
		"## Limits",
		"[good](docs/a.md#make-bench-seatd) [self](#limits) [dir](docs/) [web](https://example.com/x)",
		"[gone](docs/gone.md) [no heading](docs/a.md#nothing) [no self](#nowhere)",
		"```sh",
		"[in code](docs/also-gone.md)",
		"```",
		"`[in a span](docs/span-gone.md)`",
	}, "\n"))
	problems, n := brokenLinks(t, readme)
	if n != 6 || len(problems) != 3 ||
		!strings.Contains(problems[0], "docs/gone.md") || !strings.Contains(problems[1], "docs/a.md#nothing") || !strings.Contains(problems[2], "#nowhere") {
		t.Fatalf("%d links checked, problems %q; want 6 checked and gone.md, a.md#nothing and #nowhere reported", n, problems)
	}
}

// brokenLinks checks file's relative links, returning what is wrong and
// how many it checked.
func brokenLinks(t *testing.T, file string) ([]string, int) {
	t.Helper()
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	n := 0
	for _, l := range Links(string(text)) {
		if !l.Relative() {
			continue
		}
		n++
		path, anchor, _ := strings.Cut(l.Target, "#")
		target := file
		if path != "" {
			target = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
		}
		info, err := os.Stat(target)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s:%d: %s: no such file", file, l.Line, l.Target))
			continue
		}
		if anchor == "" {
			continue
		}
		if info.IsDir() || !strings.HasSuffix(target, ".md") {
			problems = append(problems, fmt.Sprintf("%s:%d: %s: an anchor in a file that is not Markdown", file, l.Line, l.Target))
			continue
		}
		md, err := os.ReadFile(target)
		if err != nil {
			t.Fatal(err)
		}
		if !Anchors(string(md))[anchor] {
			problems = append(problems, fmt.Sprintf("%s:%d: %s: no heading with that anchor", file, l.Line, l.Target))
		}
	}
	return problems, n
}

func TestSlug(t *testing.T) {
	for text, want := range map[string]string{
		"Limits":       "limits",
		"The HTTP API": "the-http-api",
		"`make bench`: seatd against the baselines":    "make-bench-seatd-against-the-baselines",
		"The inventory node (`cmd/seatd`) and its RPC": "the-inventory-node-cmdseatd-and-its-rpc",
		"Snapshot format (version 2)":                  "snapshot-format-version-2",
		"Ids and order numbers":                        "ids-and-order-numbers",
		"On `make run`'s system":                       "on-make-runs-system",
		"max_seats_per_hold":                           "max_seats_per_hold",
		"See [the docs](docs/x.md)":                    "see-the-docs",
		"Partitions: the gene":                         "partitions-the-gene",
	} {
		if got := Slug(text); got != want {
			t.Errorf("Slug(%q) = %q, want %q", text, got, want)
		}
	}
}

func TestAnchors(t *testing.T) {
	md := "# Title\n## Tests\n```sh\n# not a heading\n```\n### Tests\n#### Tests ##\n"
	got := Anchors(md)
	want := map[string]bool{"title": true, "tests": true, "tests-1": true, "tests-2": true}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Anchors = %v, want %v", got, want)
	}
}

func TestLinksParsed(t *testing.T) {
	md := "a [x](docs/a.md) and ![img](i.png \"title\") `[not](code.md)`\n[ref]: deploy/README.md\n"
	var got []string
	for _, l := range Links(md) {
		got = append(got, l.Target)
	}
	if want := []string{"docs/a.md", "i.png", "deploy/README.md"}; !slices.Equal(got, want) {
		t.Fatalf("Links = %q, want %q", got, want)
	}
}

func TestCurls(t *testing.T) {
	md := strings.Join([]string{
		"```sh",
		`curl -s http://127.0.0.1:8080/v1/programs   # list`,
		`curl -s -X POST http://127.0.0.1:8080/v1/programs/a/holds -H "Authorization: Bearer $TOKEN" \`,
		`     -H 'Content-Type: application/json' -d '{"count":2}'`,
		`curl -s -d '{}' -H 'Content-Type: application/json' 'http://127.0.0.1:8080/v1/dev/tokens?x=1' | jq -r .token`,
		`OUT=$(curl -s -X DELETE http://127.0.0.1:8080/v1/holds/$HOLD) && curl -s http://127.0.0.1:8080/healthz`,
		`curl -s -I http://127.0.0.1:8080/healthz`,
		`curl -s -X POST http://127.0.0.1:8080/v1/programs -H 'Content-Type: application/json' -d '{"id":"x",`,
		`       "categories":[]}'`,
		"```",
		"```json",
		`curl -s http://not.shell/`,
		"```",
	}, "\n")
	got, err := Curls(md)
	if err != nil {
		t.Fatal(err)
	}
	want := []Curl{
		{2, "GET", "http://127.0.0.1:8080/v1/programs"},
		{3, "POST", "http://127.0.0.1:8080/v1/programs/a/holds"},
		{5, "POST", "http://127.0.0.1:8080/v1/dev/tokens?x=1"},
		{6, "DELETE", "http://127.0.0.1:8080/v1/holds/$HOLD"},
		{6, "GET", "http://127.0.0.1:8080/healthz"},
		{7, "HEAD", "http://127.0.0.1:8080/healthz"},
		{8, "POST", "http://127.0.0.1:8080/v1/programs"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Curls =\n%v\nwant\n%v", got, want)
	}
	for _, bad := range []string{"```sh\ncurl -s -H 'X: y'\n```", "```sh\ncurl -s 'http://a/b\n```", "```sh\ncurl -s \\\n```"} {
		if _, err := Curls(bad); err == nil {
			t.Errorf("Curls(%q): no error", bad)
		}
	}
}
