// Package settings reads a binary's settings from its flag set. Each
// setting comes from, in order of precedence: its flag; its environment
// variable (the prefix, then the flag name upper-cased with dashes as
// underscores, e.g. SEATD_DATA_DIR); a configuration file (-config FILE
// or the prefix's _CONFIG variable: "name = value" lines with the flags'
// names, "#" comments); its default. Every problem is reported at once,
// with the file and line it came from.
package settings

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Parse declares -config on fs, parses args, and fills each flag not
// given on the command line from the environment or the file. -h answers
// an error wrapping flag.ErrHelp that carries the usage.
func Parse(fs *flag.FlagSet, args []string, prefix string, getenv func(string) string) error {
	fs.SetOutput(io.Discard)
	configFile := fs.String("config", "", "configuration file of name = value lines")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			var usage strings.Builder
			fs.SetOutput(&usage)
			fs.PrintDefaults()
			return fmt.Errorf("%w\nusage: %s [flags]\n%s", err, fs.Name(), usage.String())
		}
		return err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	path := *configFile
	if path == "" {
		path = getenv(envName(prefix, "config"))
	}
	file := map[string]string{}
	if path != "" {
		var err error
		if file, err = readFile(path, fs); err != nil {
			errs = append(errs, err)
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if explicit[f.Name] || f.Name == "config" {
			return
		}
		name := envName(prefix, f.Name)
		v, from := getenv(name), name
		if v == "" {
			v, from = file[f.Name], path+": "+f.Name
		}
		if v == "" {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", from, err))
		}
	})
	return errors.Join(errs...)
}

// envName is the environment variable of a flag.
func envName(prefix, flagName string) string {
	return prefix + "_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// readFile reads "name = value" lines, checking each name against the
// flags.
func readFile(path string, fs *flag.FlagSet) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	var errs []error
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s:%d: want name = value", path, n))
		case name == "config" || fs.Lookup(name) == nil:
			errs = append(errs, fmt.Errorf("%s:%d: unknown setting %q", path, n, name))
		default:
			out[name] = value
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("config: %w", err))
	}
	return out, errors.Join(errs...)
}

// List splits a comma-separated setting, dropping empty items.
func List(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
