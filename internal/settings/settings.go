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
	"time"
)

// Parse declares -config on fs, parses args, and fills each flag not
// given on the command line from the environment or the file. -h answers
// a *HelpError, which wraps flag.ErrHelp and carries the usage.
func Parse(fs *flag.FlagSet, args []string, prefix string, getenv func(string) string) error {
	fs.SetOutput(io.Discard)
	configFile := fs.String("config", "", "configuration file of name = value lines")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &HelpError{FlagSet: fs, Prefix: prefix}
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
	file := map[string]fileValue{}
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
			fv := file[f.Name]
			v, from = fv.value, fmt.Sprintf("%s:%d: %s", path, fv.line, f.Name)
		}
		if v == "" {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s = %q: want %s (%w)", from, v, want(f), err))
		}
	})
	return errors.Join(errs...)
}

// HelpError is Parse's answer to -h. Its message is flag.ErrHelp's, a
// line "usage: NAME [flags]" and the flags' defaults; it carries the flag
// set so that the binary's configuration reference can be made from it
// (Reference).
type HelpError struct {
	FlagSet *flag.FlagSet
	Prefix  string // of the environment variables
}

func (e *HelpError) Error() string {
	var usage strings.Builder
	e.FlagSet.SetOutput(&usage)
	e.FlagSet.PrintDefaults()
	e.FlagSet.SetOutput(io.Discard)
	return fmt.Sprintf("%v\nusage: %s [flags]\n%s", flag.ErrHelp, e.FlagSet.Name(), usage.String())
}

// Unwrap returns flag.ErrHelp.
func (e *HelpError) Unwrap() error { return flag.ErrHelp }

// envName is the environment variable of a flag.
func envName(prefix, flagName string) string {
	return prefix + "_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// want says what kind of value a flag takes, for errors.
func want(f *flag.Flag) string {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return "a value like " + f.DefValue
	}
	switch g.Get().(type) {
	case bool:
		return "true or false"
	case int, int64, uint, uint64:
		return "an integer"
	case float64:
		return "a number"
	case time.Duration:
		return "a duration such as 500ms or 2m"
	}
	return "a value like " + f.DefValue
}

// fileValue is a setting from the configuration file, with its line.
type fileValue struct {
	value string
	line  int
}

// readFile reads "name = value" lines, checking each name against the
// flags.
func readFile(path string, fs *flag.FlagSet) (map[string]fileValue, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	out := map[string]fileValue{}
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
			out[name] = fileValue{value, n}
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

// Report writes a binary's error to w, one problem a line, each prefixed
// with the binary's name once: configuration errors come joined, one per
// violation, and some already name the package that found them.
func Report(w io.Writer, prog string, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(w, prog+": "+strings.TrimPrefix(line, prog+": "))
	}
}
