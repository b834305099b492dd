// Command seatbench replays a scenario's on-sale against one or more
// designs of seat locking (targets), one after another on the same
// request stream, and writes a report: report.json, report.md and PNG
// charts. docs/seatbench.md shows how to run it and read the
// report. A scenario is named (those of bench/scenarios, built in) or
// read from a file.
//
//	seatbench -scenario stadium -target engine -load closed -buyers 64 -duration 20s -out DIR
//	seatbench -target engine,redis-lua,postgres -target-opt redis-addr=127.0.0.1:6379 \
//		-target-opt postgres-dsn=postgres://postgres@127.0.0.1:5432/postgres -out DIR
//	seatbench -scenario bestavail10k -target engine,redis-lua,postgres \
//		-target-opt redis-local=true -target-opt postgres-local=true -out DIR
//
// Every target that is not a baseline (-baseline) is compared with each
// baseline that ran, at the ratio of their holds per second: make bench
// runs three such comparisons.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/cloudwego/hertz/pkg/common/hlog"
	"github.com/cloudwego/kitex/pkg/klog"

	"seatd/bench/load"
	"seatd/bench/replay"
	"seatd/bench/report"
	"seatd/bench/scenario"
	"seatd/bench/scenarios"
	"seatd/bench/target"
	"seatd/bench/target/engine"
)

// targetDef is a design seatbench can run.
type targetDef struct {
	name  string
	about string
	// opts are the -target-opt names it reads.
	opts []string
	// check, if not nil, says what cfg lacks for it (a server's
	// address), before any target runs.
	check func(cfg *Config) error
	// new makes it, and says how seatbench runs it, for the report's
	// settings.
	new func(ctx context.Context, cfg *Config) (target.Target, string, error)
}

// targets are the designs seatbench knows, in the order -h lists them.
// A new target is one entry here.
var targets = []targetDef{
	{"engine", "seatd's inventory engine in process: no network, no replication", nil, nil,
		func(context.Context, *Config) (target.Target, string, error) {
			return engine.New(), "in seatbench's process", nil
		}},
	{"redis-lua", "BASELINE.md's Redis+Lua seat locking, bare (-target-opt redis-addr, or redis-local=true to start one; redis-appendfsync-always)",
		redisOpts, checkRedis, bareTarget(newRedis)},
	{"redis-lua-http", "redis-lua behind the baselines' HTTP front, which seatbench runs on loopback",
		redisOpts, checkRedis, httpTarget(newRedis)},
	{"postgres", "BASELINE.md's seats as rows in PostgreSQL, FOR UPDATE SKIP LOCKED, bare (-target-opt postgres-dsn, or postgres-local=true to start one)",
		postgresOpts, checkPostgres, bareTarget(newPostgres)},
	{"postgres-http", "postgres behind the baselines' HTTP front, which seatbench runs on loopback",
		postgresOpts, checkPostgres, httpTarget(newPostgres)},
	{"seatd-rpc", "seatd over Kitex through the routing client (-target-opt seatd-addrs, or seatd-local=N to run N nodes here)",
		append([]string{OptSeatdAddrs}, seatdOpts...), checkSeatdRPC, newSeatdRPC},
	{"seatd-http", "seatd through the gateway's HTTP API (-target-opt gateway-url, jwt-secret, admin-token, and seatd-addrs for the audit; or seatd-local=N)",
		append([]string{OptGatewayURL, OptJWTSecret, OptAdminToken, OptSeatdAddrs}, seatdOpts...), checkSeatdHTTP, newSeatdHTTP},
	{"seatd-system", "the whole system: seatd-http with Kafka, the order and pay services and paysim; paid holds paid and sold " +
		"(-target-opt seatd-local=N [kafka-brokers], or gateway-url, jwt-secret, admin-token, paysim-url, seatd-addrs, orderflow-addrs)",
		append([]string{OptGatewayURL, OptJWTSecret, OptAdminToken, OptPaysimURL, OptSeatdAddrs, OptOrderflowAddrs, OptKafkaBrokers}, seatdOpts...),
		checkSystem, newSystem},
}

// MaxTargetOpts bounds -target-opt.
const MaxTargetOpts = 64

// MaxExpectations bounds -expect.
const MaxExpectations = 64

// Config is seatbench's configuration, from flags.
type Config struct {
	// Scenario is -scenario as given: a built-in scenario's name, or a
	// file.
	Scenario string
	// scenario is Scenario read and validated, and scenarioFile where
	// it came from, for the report.
	scenario     *scenario.Scenario
	scenarioFile string
	Targets      []string
	// Baselines are the targets of Targets the others are compared
	// against (-baseline).
	Baselines []string
	Load      load.Config
	Out       string
	// TargetOpts are -target-opt name=value settings, read by the targets
	// that document them (a server's address, a pool's size).
	TargetOpts map[string]string
	Command    string // the command line, for the report
	// Expectations are the figures the run should reach (-expect),
	// judged and reported after it.
	Expectations []report.Expectation
	// CPUProfile, if set, is where main writes a pprof CPU profile of
	// the whole run.
	CPUProfile string
}

func parseFlags(args []string, stderr io.Writer, known []targetDef) (*Config, error) {
	c := &Config{TargetOpts: map[string]string{}, Command: strings.Join(append([]string{"seatbench"}, args...), " ")}
	fs := flag.NewFlagSet("seatbench", flag.ContinueOnError)
	// flag would print the usage after every mistake: seatbench says
	// the mistake in one line, and the usage only when asked (-h).
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&c.Scenario, "scenario", "stadium", "`NAME or PATH`: the name of a scenario built into seatbench ("+strings.Join(scenarios.Names(), ", ")+
		"; bench/scenarios/README.md), or a scenario file's path")
	tgts := fs.String("target", "engine", "`NAMES`, comma-separated: the targets to run (Targets, above), one after another on the same request stream")
	bases := fs.String("baseline", "", "`NAMES`, comma-separated: the targets of -target that the others are compared against")
	model := fs.String("load", "closed", "`MODEL`: closed (-buyers buyers, each waiting for its answer) or open (-rate visits a second, whatever the answers)")
	fs.IntVar(&c.Load.Buyers, "buyers", 64, "closed loop: `N` buyers at once, each asking again once answered")
	fs.Float64Var(&c.Load.Rate, "rate", 10000, "open loop: `VISITS` per second, once ramped up")
	fs.IntVar(&c.Load.MaxInFlight, "max-in-flight", 256, "open loop: `N` visits in flight at most (a visit due while all are busy waits, and its latency shows it)")
	fs.DurationVar(&c.Load.WarmUp, "warmup", 2*time.Second, "`DURATION` (e.g. 2s, 500ms) before measuring starts (its requests count for the sale, not for the latencies)")
	fs.DurationVar(&c.Load.Ramp, "ramp", time.Second, "`DURATION` the load takes to rise to full, from the start")
	fs.DurationVar(&c.Load.Duration, "duration", 20*time.Second, "`DURATION` measured, after the warm-up")
	fs.StringVar(&c.Out, "out", "seatbench-out", "`DIR`, the directory for report.json, report.md and the charts (made if missing)")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of seatbench's process, every target's run, to `FILE` "+
		"(go tool pprof reads it): where in-process targets spend")
	fs.Func("target-opt", "`NAME=VALUE`: an option of a target of -target (Target options, above; repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fmt.Errorf("want name=value, got %q", s)
		}
		if len(c.TargetOpts) >= MaxTargetOpts {
			return fmt.Errorf("more than %d", MaxTargetOpts)
		}
		c.TargetOpts[k] = v
		return nil
	})
	fs.Func("expect", "`EXPECTATION`: a figure the run should reach, judged and reported after it, met or NOT met (repeatable; it does not change the "+
		"exit status): TARGET/BASELINE>=RATIO, the target's holds/s over the baseline's, e.g. seatd-http/redis-lua-http>=20; "+
		"or TARGET:PERCENTILE<DURATION, a bound on the target's hold latency (p50, p90, p99, p99.9 or max), e.g. seatd-http:p99<50ms",
		func(s string) error {
			if len(c.Expectations) >= MaxExpectations {
				return fmt.Errorf("more than %d", MaxExpectations)
			}
			e, err := report.ParseExpectation(s)
			if err != nil {
				return err
			}
			c.Expectations = append(c.Expectations, e)
			return nil
		})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stderr, fs, known)
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q: seatbench takes flags only (-scenario NAME, -target NAMES; -h lists them)", fs.Args())
	}
	var errs []error
	sc, file, err := loadScenario(c.Scenario)
	if err != nil {
		errs = append(errs, fmt.Errorf("-scenario: %s", strings.ReplaceAll(err.Error(), "\n", "; ")))
	}
	c.scenario, c.scenarioFile = sc, file
	m, modelErr := load.ParseModel(*model)
	if modelErr != nil {
		errs = append(errs, fmt.Errorf("-load: %w", modelErr))
	}
	c.Load.Model = m
	if err := c.Load.Validate(); err != nil {
		errs = append(errs, err)
	}
	set := map[string]bool{} // the flags given
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, o := range []struct {
		name  string
		model load.Model
	}{{"buyers", load.Closed}, {"rate", load.Open}, {"max-in-flight", load.Open}} {
		if set[o.name] && modelErr == nil && m != o.model {
			errs = append(errs, fmt.Errorf("-%s: a setting of -load %s, and the load is %s", o.name, o.model, m))
		}
	}
	for _, name := range strings.Split(*tgts, ",") {
		name = strings.TrimSpace(name)
		if !slices.ContainsFunc(known, func(t targetDef) bool { return t.name == name }) {
			names := make([]string, len(known))
			for i, t := range known {
				names[i] = t.name
			}
			errs = append(errs, fmt.Errorf("-target: unknown target %q; known: %s", name, strings.Join(names, ", ")))
			continue
		}
		if slices.Contains(c.Targets, name) {
			errs = append(errs, fmt.Errorf("-target: %q twice", name))
			continue
		}
		c.Targets = append(c.Targets, name)
	}
	if *bases == "" {
		for _, name := range c.Targets {
			if slices.Contains(baselineTargets, name) {
				c.Baselines = append(c.Baselines, name)
			}
		}
	} else {
		for _, name := range strings.Split(*bases, ",") {
			switch name = strings.TrimSpace(name); {
			case !slices.Contains(c.Targets, name):
				errs = append(errs, fmt.Errorf("-baseline: %q is not a target of -target", name))
			case slices.Contains(c.Baselines, name):
				errs = append(errs, fmt.Errorf("-baseline: %q twice", name))
			default:
				c.Baselines = append(c.Baselines, name)
			}
		}
	}
	if set["baseline"] && len(c.Baselines) == len(c.Targets) {
		errs = append(errs, errors.New("-baseline: names every target of -target, so there is nothing to compare with them"))
	}
	for _, e := range c.Expectations {
		for _, name := range e.Targets() {
			if !slices.Contains(c.Targets, name) {
				errs = append(errs, fmt.Errorf("-expect %s: %q is not a target of -target", e.Text, name))
			}
		}
	}
	read := map[string]bool{} // the options the targets chosen read
	for _, name := range c.Targets {
		def := known[slices.IndexFunc(known, func(t targetDef) bool { return t.name == name })]
		for _, o := range def.opts {
			read[o] = true
		}
		if def.check == nil {
			continue
		}
		if err := def.check(c); err != nil {
			errs = append(errs, fmt.Errorf("-target %s: %w", name, err))
		}
	}
	for _, o := range slices.Sorted(maps.Keys(c.TargetOpts)) {
		if !read[o] {
			errs = append(errs, fmt.Errorf("-target-opt %s: no target of -target reads it", o))
		}
	}
	if c.Out == "" {
		errs = append(errs, errors.New("-out: empty"))
	} else if st, err := os.Stat(c.Out); err == nil && !st.IsDir() {
		errs = append(errs, fmt.Errorf("-out %s: a file, not a directory", c.Out))
	}
	return c, errors.Join(errs...)
}

// loadScenario reads the scenario built into seatbench under the name
// s or, when there is none, the file s; it returns the scenario and
// where it came from.
func loadScenario(s string) (*scenario.Scenario, string, error) {
	if b, ok := scenarios.Lookup(s); ok {
		sc, err := scenario.Parse(b)
		if err != nil {
			return nil, "", fmt.Errorf("built-in scenario %s: %w", s, err)
		}
		return sc, s + " (built in)", nil
	}
	sc, err := scenario.Load(s)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", fmt.Errorf("%q is neither a built-in scenario (%s) nor a file", s, strings.Join(scenarios.Names(), ", "))
	}
	return sc, s, err
}

// targetOptHelp is -h's account of each -target-opt, in the order it
// lists them: the value's form, its default, what it does. Every
// option a target reads has one (TestHelp).
var targetOptHelp = []struct{ name, value, def, about string }{
	{OptRedisLocal, "true|false", "false", "start a redis-server for each of the target's runs (loopback, a temporary directory), stop and remove it after; no address is read"},
	{OptRedisAddr, "HOST:PORT", "$" + EnvRedisAddr, "a Redis server of yours; not with " + OptRedisLocal},
	{OptRedisAlways, "true|false", "false: nothing persisted", "Redis with the append-only file and appendfsync always (a started server is started so; yours is set so)"},
	{OptPostgresLocal, "true|false", "false", "start a PostgreSQL cluster for each of the target's runs (fsync, synchronous_commit on), stop and remove it after; no DSN is read"},
	{OptPostgresDSN, "DSN", "$" + EnvPostgresDSN, "a PostgreSQL server of yours (a password better in PGPASSWORD: the command line goes into the report); not with " + OptPostgresLocal},
	{OptSeatdLocal, "N", "none: a cluster of yours", "run an N-node seatd cluster (and the gateway, the order flow) in seatbench's process on loopback for each of the target's runs; no address is read"},
	{OptSeatdAddrs, "HOST:PORT,...", "$" + EnvSeatdAddrs, "RPC addresses of a running cluster's nodes"},
	{OptGatewayURL, "URL", "$" + EnvGatewayURL, "a running gateway's base URL"},
	{OptJWTSecret, "SECRET", "$" + EnvJWTSecret, "the gateway's HS256 secret of buyer tokens (better in the environment: the command line goes into the report)"},
	{OptAdminToken, "TOKEN", "$" + EnvAdminToken, "the gateway's admin token (better in the environment)"},
	{OptSeatdPIDs, "PID,...", "none: seatbench's CPU alone", "process ids of a running cluster's nodes and gateway here, whose CPU time counts with seatbench's"},
	{OptKafkaBrokers, "HOST:PORT,...", "none: an embedded broker in memory", "Kafka's bootstrap addresses for a local system's order flow; a broker no earlier system wrote to"},
	{OptPaysimURL, "URL", "$" + EnvPaysimURL, "a running system's payment simulator"},
	{OptOrderflowAddrs, "HOST:PORT,...", "$" + EnvOrderflowAddrs, "a running order flow's Kitex addresses, instance 0 first"},
}

// interrupt is the cause of the run's context ending when a signal
// stops it: the load stops, and the run is reported as far as it went.
type interrupt struct {
	sig syscall.Signal
	at  time.Time
}

func (in *interrupt) Error() string { return "interrupted by " + in.name() }

// name is the signal's name: SIGINT (Ctrl-C) or SIGTERM.
func (in *interrupt) name() string {
	if in.sig == syscall.SIGINT {
		return "SIGINT"
	}
	return "SIGTERM"
}

// usage writes -h's text: what seatbench does, its targets, their
// options, its flags, each with its unit and default.
func usage(w io.Writer, fs *flag.FlagSet, known []targetDef) {
	fmt.Fprintf(w, "Usage: seatbench [flags]\n\nReplays a scenario against targets and writes a report (docs/seatbench.md).\n"+
		"Exit status: 0 the run passed; 1 a target failed to start, or its check or audit failed; 2 a mistake in the flags or the scenario;\n"+
		"130 or 143 stopped by SIGINT (Ctrl-C) or SIGTERM, after writing the report of the run until then (a second signal quits at once).\n\nTargets (-target):\n")
	for _, t := range known {
		fmt.Fprintf(w, "  %-15s %s\n", t.name, t.about)
		if len(t.opts) > 0 {
			fmt.Fprintf(w, "  %-15s target-opts: %s\n", "", strings.Join(t.opts, ", "))
		}
	}
	fmt.Fprintf(w, "\nTarget options (-target-opt NAME=VALUE, repeatable; refused unless a target of -target reads it):\n")
	for _, o := range targetOptHelp {
		var readers []string
		for _, t := range known {
			if slices.Contains(t.opts, o.name) {
				readers = append(readers, t.name)
			}
		}
		fmt.Fprintf(w, "  %s=%s\n    \t%s (default %s; read by %s)\n", o.name, o.value, o.about, o.def, strings.Join(readers, ", "))
	}
	fmt.Fprintf(w, "\nFlags:\n")
	defaults := map[string]string{ // where the flag's zero value means more than "none"
		"baseline":   "those of -target among " + strings.Join(baselineTargets, ", "),
		"cpuprofile": "none: no profile",
	}
	fs.VisitAll(func(f *flag.Flag) {
		name, about := flag.UnquoteUsage(f)
		def := f.DefValue
		switch {
		case defaults[f.Name] != "":
			def = defaults[f.Name]
		case def == "":
			def = "none"
		}
		fmt.Fprintf(w, "  -%s %s\n    \t%s (default %s)\n", f.Name, name, about, def)
	})
}

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		signal.Reset(os.Interrupt, syscall.SIGTERM) // a second one ends seatbench at once
		in := &interrupt{sig: sig.(syscall.Signal), at: time.Now()}
		fmt.Fprintf(os.Stderr, "\nseatbench: %s: stopping the load; the run is checked, audited and reported as far as it went (%s again to quit at once)\n", in, in.name())
		cancel(in)
	}()
	// Hertz's and Kitex's start and stop lines would break the progress
	// line.
	hlog.SetLevel(hlog.LevelWarn)
	klog.SetLevel(klog.LevelWarn)
	cfg, err := parseFlags(os.Args[1:], os.Stderr, targets)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		// One line for each mistake, each naming its flag.
		for _, l := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(os.Stderr, "seatbench:", l)
		}
		os.Exit(2)
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "seatbench: -cpuprofile:", err)
			os.Exit(2)
		}
		defer f.Close()
	}
	rep, err := run(ctx, cfg, targets, os.Stdout, os.Stderr)
	pprof.StopCPUProfile() // before any exit below
	if err != nil {
		fmt.Fprintln(os.Stderr, "seatbench:", err)
		os.Exit(1)
	}
	var in *interrupt
	if errors.As(context.Cause(ctx), &in) {
		os.Exit(128 + int(in.sig)) // as a shell reports a process the signal ended
	}
	if len(rep.Failed) > 0 || slices.ContainsFunc(rep.Runs, (*replay.Result).Failed) {
		os.Exit(1)
	}
}

// run runs every target of cfg in turn, compares the others with the
// baselines, and writes the report. A target
// that cannot be made or set up is recorded in Report.Failed and the
// others still run; an error is a failure of the whole run (the scenario,
// the report). A run whose target's check or audit failed is printed to
// stderr, with every difference the audit listed.
func run(ctx context.Context, cfg *Config, known []targetDef, stdout, stderr io.Writer) (*report.Report, error) {
	stream, err := scenario.NewStream(cfg.scenario)
	if err != nil {
		return nil, err
	}
	rep := &report.Report{
		Started:  time.Now().UTC(),
		Scenario: report.NewScenario(stream, cfg.scenarioFile),
		Settings: settings(cfg),
		Machine:  report.ThisMachine(),
	}
	line := load.NewLine(stderr)
	for _, name := range cfg.Targets {
		if ctx.Err() != nil {
			break
		}
		i := slices.IndexFunc(known, func(t targetDef) bool { return t.name == name })
		res, setup, err := runOne(ctx, cfg, known[i], stream, line)
		if setup != "" {
			rep.Settings.Setups[name] = setup
		}
		if err != nil {
			if rep.Failed == nil {
				rep.Failed = map[string]string{}
			}
			rep.Failed[name] = err.Error()
			fmt.Fprintf(stderr, "seatbench: %s: %v\n", name, err)
			continue
		}
		rep.Runs = append(rep.Runs, res)
	}
	var in *interrupt
	if errors.As(context.Cause(ctx), &in) {
		at := in.at.Sub(rep.Started).Seconds()
		rep.InterruptedAt = &at
		rep.Interrupted = &report.Interruption{Signal: in.name()}
		for _, name := range cfg.Targets {
			i := slices.IndexFunc(rep.Runs, func(r *replay.Result) bool { return r.Target == name })
			switch _, failed := rep.Failed[name]; {
			case i >= 0 && rep.Runs[i].Stopped:
				rep.Interrupted.During = name
			case i < 0 && !failed:
				rep.Interrupted.NotRun = append(rep.Interrupted.NotRun, name)
			}
		}
	}
	rep.Comparisons = report.Compare(rep.Runs, cfg.Baselines)
	rep.Expectations = report.Evaluate(cfg.Expectations, rep.Runs)
	files, err := rep.Write(cfg.Out)
	if err != nil {
		return nil, err
	}
	fmt.Fprint(stdout, report.SummaryText(rep.Runs))
	fmt.Fprint(stdout, report.ComparisonText(rep.Comparisons))
	fmt.Fprint(stdout, report.ExpectationText(rep.Expectations))
	fmt.Fprintf(stdout, "report: %s\n", strings.Join(files, " "))
	for _, r := range rep.Runs {
		if r.CheckFailed() {
			fmt.Fprintf(stderr, "seatbench: %s: its check: %s\n", r.Target, r.Check)
		}
		switch {
		case r.AuditError != "":
			fmt.Fprintf(stderr, "seatbench: %s: the audit could not run: %s\n", r.Target, r.AuditError)
		case r.Audit.Failed():
			fmt.Fprintf(stderr, "seatbench: %s: the audit failed:\n%s", r.Target, r.Audit.Text())
		}
	}
	return rep, nil
}

// runOne makes a target, runs it and closes it; it returns how the target
// was run, once it was made.
func runOne(ctx context.Context, cfg *Config, def targetDef, stream *scenario.Stream, line *load.Line) (*replay.Result, string, error) {
	t, setup, err := def.new(ctx, cfg)
	if err != nil {
		return nil, "", err
	}
	res, err := replay.Run(ctx, stream, t, cfg.Load, replay.Options{Progress: line})
	if cerr := t.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("closing: %w", cerr)
	}
	return res, setup, err
}

func settings(cfg *Config) report.Settings {
	l := &cfg.Load
	s := report.Settings{Load: l.String(), Model: l.Model.String(), WarmUp: l.WarmUp.String(), Ramp: l.Ramp.String(),
		Duration: l.Duration.String(), Targets: cfg.Targets, Baselines: cfg.Baselines, Setups: map[string]string{}, Command: cfg.Command}
	if l.Model == load.Open {
		s.Rate, s.MaxInFlight = l.Rate, l.MaxInFlight
	} else {
		s.Buyers = l.Buyers
	}
	if abs, err := filepath.Abs(cfg.Out); err == nil {
		s.Out = abs
	}
	return s
}
