// Package scenarios holds seatbench's scenario files (README.md beside
// them describes each), built into the binary so that seatbench finds
// one by its name from any directory. The files are read-only; any
// goroutine may call its functions.
package scenarios

import (
	"embed"
	"io/fs"
	"slices"
	"strings"
)

//go:embed *.json
var files embed.FS

// Names are the scenarios' names, each its file's name without .json,
// sorted.
func Names() []string {
	ents, err := fs.ReadDir(files, ".")
	if err != nil {
		panic("scenarios: the embedded files cannot be listed: " + err.Error())
	}
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".json"))
	}
	slices.Sort(out)
	return out
}

// Lookup returns the file of the scenario named name, and whether there
// is one.
func Lookup(name string) ([]byte, bool) {
	if !slices.Contains(Names(), name) {
		return nil, false
	}
	b, err := files.ReadFile(name + ".json")
	if err != nil {
		panic("scenarios: a listed file cannot be read: " + err.Error())
	}
	return b, true
}
