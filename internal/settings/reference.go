package settings

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// Reference renders a binary's settings as a Markdown table, one row per
// flag in name order: the flag, its environment variable, its default and
// what it sets, from the flag set that fills the binary's Config (so the
// reference says what the binary reads, not what a document remembers).
func Reference(fs *flag.FlagSet, prefix string) string {
	var b strings.Builder
	b.WriteString("| flag | environment | default | what it sets |\n| --- | --- | --- | --- |\n")
	fs.VisitAll(func(f *flag.Flag) {
		def := "none"
		if f.DefValue != "" {
			def = "`" + f.DefValue + "`"
		}
		if f.Name == "config" {
			def = "none"
		}
		fmt.Fprintf(&b, "| `-%s` | `%s` | %s | %s |\n", f.Name, envName(prefix, f.Name), def, cell(f.Usage))
	})
	return b.String()
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// BeginMarker is the line before binary name's generated settings in a
// document; EndMarker is the line after them.
func BeginMarker(name string) string {
	return "<!-- settings:" + name + " (generated: do not edit) -->"
}

// EndMarker is the line after a binary's generated settings.
const EndMarker = "<!-- end settings -->"

// CheckReference compares the reference of the flag set that help carries
// (the error a binary's configuration parser answers -h with, a
// *HelpError) with the section of the document at path marked for name.
// With update it rewrites that section instead. The error says what
// differs and how to bring the document up to date.
func CheckReference(path, name string, help error, update bool) error {
	var he *HelpError
	if !errors.As(help, &he) {
		return fmt.Errorf("%s -h answered %v; want a *settings.HelpError", name, help)
	}
	want := Reference(he.FlagSet, he.Prefix)
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	begin, end := []byte(BeginMarker(name)+"\n"), []byte(EndMarker)
	i := bytes.Index(doc, begin)
	if i < 0 {
		return fmt.Errorf("%s has no line %q", path, begin)
	}
	j := bytes.Index(doc[i:], end)
	if j < 0 {
		return fmt.Errorf("%s: no %q after %q", path, end, begin)
	}
	start, stop := i+len(begin), i+j
	if got := string(doc[start:stop]); got != want {
		if !update {
			return fmt.Errorf("%s's settings of %s are not the binary's: run the test with SEATD_UPDATE_DOCS=1 to rewrite them\ngot:\n%s\nwant:\n%s", path, name, got, want)
		}
		out := append(append(append([]byte{}, doc[:start]...), want...), doc[stop:]...)
		return os.WriteFile(path, out, 0o644)
	}
	return nil
}
