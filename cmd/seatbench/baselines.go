package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"seatd/bench/audit"
	"seatd/bench/baseline/httpapi"
	"seatd/bench/baseline/pgseats"
	"seatd/bench/baseline/redislua"
	"seatd/bench/load"
	"seatd/bench/target"
	"seatd/gateway"
	"seatd/internal/pgserver"
	"seatd/internal/redisserver"
	"seatd/inventory"
)

// The -target-opt names the baselines read, and the environment
// variables that stand in for them when they are not given.
const (
	// OptRedisAddr is the Redis server's host:port (redis-lua,
	// redis-lua-http); EnvRedisAddr stands in for it.
	OptRedisAddr = "redis-addr"
	EnvRedisAddr = "SEATBENCH_REDIS_ADDR"
	// OptRedisAlways, "true", runs Redis with the append-only file and
	// appendfsync always; "false" (the default), with no persistence.
	// The driver sets the server so when it connects (CONFIG SET).
	OptRedisAlways = "redis-appendfsync-always"
	// OptPostgresDSN is the PostgreSQL connection string (postgres,
	// postgres-http); EnvPostgresDSN stands in for it. A password is
	// better given in PGPASSWORD, which pgx reads: the command line goes
	// into the report.
	OptPostgresDSN = "postgres-dsn"
	EnvPostgresDSN = "SEATBENCH_POSTGRES_DSN"
	// OptRedisLocal, "true" (or 1), runs the Redis baselines against a
	// redis-server that seatbench starts for each of their runs on a
	// loopback port, in a temporary directory (internal/redisserver),
	// persisting as OptRedisAlways says, and stops and removes after
	// it; no address is then read. A fresh server a run makes the runs
	// independent, as seatd-local's fresh cluster does for seatd.
	OptRedisLocal = "redis-local"
	// OptPostgresLocal, "true" (or 1), likewise runs the PostgreSQL
	// baselines against a new cluster for each run (internal/pgserver:
	// initdb in a temporary directory, synchronous_commit on, fsync on).
	OptPostgresLocal = "postgres-local"
)

// baselineTargets are the targets of BASELINE.md's designs: unless
// -baseline says otherwise, every other target of a run is compared
// against each of them that ran.
var baselineTargets = []string{"redis-lua", "redis-lua-http", "postgres", "postgres-http"}

// redisOpts and postgresOpts are the options the baselines read.
var (
	redisOpts    = []string{OptRedisAddr, OptRedisAlways, OptRedisLocal}
	postgresOpts = []string{OptPostgresDSN, OptPostgresLocal}
)

// frontWait bounds the wait for the in-process HTTP front's first
// answer: it answers in milliseconds; the rest is for a busy machine.
const frontWait = 10 * time.Second

// concurrency is how many requests the load has in flight at most (at
// least 1, as load.Config.Validate checks): the size of a baseline's
// pool and of the HTTP client's connections.
func concurrency(cfg *Config) int {
	if cfg.Load.Model == load.Open {
		return cfg.Load.MaxInFlight
	}
	return cfg.Load.Buyers
}

// setting is a target option, or else its environment variable.
func setting(cfg *Config, opt, env string) string {
	if v, ok := cfg.TargetOpts[opt]; ok {
		return v
	}
	return os.Getenv(env)
}

// boolOpt is a boolean -target-opt (OptRedisLocal, OptRedisAlways,
// OptPostgresLocal): false when not given.
func boolOpt(cfg *Config, opt string) (bool, error) {
	v, ok := cfg.TargetOpts[opt]
	if !ok {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("-target-opt %s=%q: want true or false", opt, v)
	}
	return b, nil
}

// redisConfig is the Redis driver's configuration from cfg, and whether
// seatbench starts the server (its address is then empty), or what is
// missing or wrong in it.
func redisConfig(cfg *Config) (c redislua.Config, start bool, err error) {
	c = redislua.Config{PoolSize: min(concurrency(cfg), redislua.MaxPoolSize)}
	start, err = boolOpt(cfg, OptRedisLocal)
	errs := []error{err}
	_, addrGiven := cfg.TargetOpts[OptRedisAddr]
	switch {
	case start && addrGiven:
		errs = append(errs, fmt.Errorf("-target-opt %s and %s: give one, a server's address or a server seatbench starts", OptRedisLocal, OptRedisAddr))
	case start:
		errs = append(errs, redisserver.Installed())
	default:
		if c.Addr = setting(cfg, OptRedisAddr, EnvRedisAddr); c.Addr == "" {
			errs = append(errs, fmt.Errorf("no Redis address: give -target-opt %s=HOST:PORT or set %s, or -target-opt %s=true to have seatbench start one",
				OptRedisAddr, EnvRedisAddr, OptRedisLocal))
		}
	}
	if c.AppendFsyncAlways, err = boolOpt(cfg, OptRedisAlways); err != nil {
		errs = append(errs, err)
	}
	return c, start, errors.Join(errs...)
}

// postgresConfig is the PostgreSQL baseline's configuration from cfg,
// and whether seatbench starts the server (its DSN is then empty), or
// what is missing or wrong in it.
func postgresConfig(cfg *Config) (c pgseats.Config, start bool, err error) {
	c = pgseats.Config{Conns: min(concurrency(cfg), pgseats.MaxConns)}
	if start, err = boolOpt(cfg, OptPostgresLocal); err != nil {
		return c, false, err
	}
	_, dsnGiven := cfg.TargetOpts[OptPostgresDSN]
	switch {
	case start && dsnGiven:
		return c, start, fmt.Errorf("-target-opt %s and %s: give one, a server's DSN or a server seatbench starts", OptPostgresLocal, OptPostgresDSN)
	case start:
		return c, start, pgserver.Installed()
	}
	if c.DSN = setting(cfg, OptPostgresDSN, EnvPostgresDSN); c.DSN == "" {
		return c, false, fmt.Errorf("no PostgreSQL DSN: give -target-opt %s=postgres://USER@HOST:PORT/DB or set %s, or -target-opt %s=true to have seatbench start one",
			OptPostgresDSN, EnvPostgresDSN, OptPostgresLocal)
	}
	if _, err := pgconn.ParseConfig(c.DSN); err != nil {
		return c, false, fmt.Errorf("-target-opt %s: %w", OptPostgresDSN, err)
	}
	return c, false, nil
}

// checkRedis and checkPostgres say what a baseline lacks, before any
// target runs.
func checkRedis(cfg *Config) error {
	_, _, err := redisConfig(cfg)
	return err
}

func checkPostgres(cfg *Config) error {
	_, _, err := postgresConfig(cfg)
	return err
}

// store is a baseline's bare target as seatbench runs it: its own check
// of a program, and its server's processes.
type store interface {
	target.Target
	Check(ctx context.Context, program string) error
}

// baseline is a baseline as replay runs it: the target (the bare one,
// or a client of the HTTP front over it), the bare target's check of the
// program loaded (replay.Checker), its state for the audit
// (audit.Stater), its server's processes when they run on this machine
// (replay.Processes), and what Close stops.
type baseline struct {
	target.Target
	bare    store
	pids    []int
	program string       // set by Load, before the load starts
	stop    func() error // stops what runs in front of bare; nil for none
	// server stops and removes the database server seatbench started
	// for this run (OptRedisLocal, OptPostgresLocal); nil for one it
	// did not start.
	server func() error
}

// Load loads the venue and remembers its program for Check.
func (b *baseline) Load(ctx context.Context, spec *inventory.ProgramSpec) error {
	if err := b.Target.Load(ctx, spec); err != nil {
		return err
	}
	b.program = spec.ID
	return nil
}

// Check runs the bare target's check of the program loaded.
func (b *baseline) Check(ctx context.Context) error { return b.bare.Check(ctx, b.program) }

// AuditState shows the audit the state as the target run shows it (the
// bare target's, through the HTTP client's ids behind the front).
func (b *baseline) AuditState(ctx context.Context, q audit.Query) (audit.State, error) {
	st, ok := b.Target.(audit.Stater)
	if !ok {
		return audit.State{Notes: []string{b.Name() + " shows no state"}}, nil
	}
	return st.AuditState(ctx, q)
}

// PIDs are the server's processes on this machine, if any.
func (b *baseline) PIDs() []int { return b.pids }

// Close stops the front, if any, then the bare target, then the server
// seatbench started, if any.
func (b *baseline) Close() error {
	var front, server error
	if b.stop != nil {
		front = b.stop()
	}
	bare := b.bare.Close()
	if b.server != nil {
		server = b.server()
	}
	return errors.Join(front, bare, server)
}

// newRedis connects the Redis driver as cfg says, first starting its
// server if seatbench is to.
func newRedis(ctx context.Context, cfg *Config) (*baseline, string, error) {
	rc, start, err := redisConfig(cfg)
	if err != nil {
		return nil, "", err
	}
	where := "the Redis server at " + rc.Addr
	var server func() error
	if start {
		srv, err := redisserver.Start(ctx, redisserver.Options{AppendFsyncAlways: rc.AppendFsyncAlways})
		if err != nil {
			return nil, "", err
		}
		rc.Addr, server = srv.Addr(), srv.Close
		where = "a redis-server that seatbench started for this run on " + rc.Addr + " (internal/redisserver; stopped and removed after it)"
	}
	d, err := redislua.New(ctx, rc)
	if err != nil {
		if server != nil {
			err = errors.Join(err, server())
		}
		return nil, "", err
	}
	b := &baseline{Target: d, bare: d, server: server}
	if host, _, err := net.SplitHostPort(rc.Addr); err == nil {
		if pid, err := d.ServerPID(ctx); err == nil {
			b.pids = local(host, []int{pid}, "redis-server")
		}
	}
	return b, fmt.Sprintf("the redislua driver, a pool of %d connections, to %s%s", rc.PoolSize, where, cpuNote(b.pids)), nil
}

// newPostgres connects the PostgreSQL baseline as cfg says, first
// starting its server if seatbench is to.
func newPostgres(ctx context.Context, cfg *Config) (*baseline, string, error) {
	pc, start, err := postgresConfig(cfg)
	if err != nil {
		return nil, "", err
	}
	var server func() error
	started := ""
	if start {
		srv, err := pgserver.Start(ctx)
		if err != nil {
			return nil, "", err
		}
		pc.DSN, server = srv.DSN, srv.Close
		started = ", a cluster that seatbench started for this run (internal/pgserver; stopped and removed after it)"
	}
	t, err := pgseats.New(ctx, pc)
	if err != nil {
		if server != nil {
			err = errors.Join(err, server())
		}
		return nil, "", err
	}
	b := &baseline{Target: t, bare: t, server: server}
	dsn, _ := pgconn.ParseConfig(pc.DSN) // postgresConfig or pgserver made it
	if pids, err := t.ServerPIDs(ctx); err == nil {
		b.pids = local(dsn.Host, pids, "postgres")
	}
	return b, fmt.Sprintf("the pgseats target, a pool of %d connections, to PostgreSQL at %s database %s%s%s", pc.Conns,
		net.JoinHostPort(dsn.Host, strconv.Itoa(int(dsn.Port))), dsn.Database, started, cpuNote(b.pids)), nil
}

// local returns the pids that are processes named comm of this machine,
// if the server's host is this machine (loopback, or a unix socket's
// directory); none otherwise, where a server's own idea of its pids may
// name other processes here (in a container's namespace, or on another
// machine).
func local(host string, pids []int, comm string) []int {
	if ip := net.ParseIP(host); host != "localhost" && !strings.HasPrefix(host, "/") && (ip == nil || !ip.IsLoopback()) {
		return nil
	}
	var out []int
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		if err == nil && bytes.Equal(bytes.TrimSpace(b), []byte(comm)) {
			out = append(out, pid)
		}
	}
	return out
}

// cpuNote says, when no server process was found here, that the CPU
// figures are seatbench's alone.
func cpuNote(pids []int) string {
	if len(pids) > 0 {
		return ""
	}
	return " (its processes were not found on this machine: the CPU figures are seatbench's alone)"
}

// bareTarget makes a baseline's bare target, as open connects it.
func bareTarget(open func(context.Context, *Config) (*baseline, string, error)) func(context.Context, *Config) (target.Target, string, error) {
	return func(ctx context.Context, cfg *Config) (target.Target, string, error) {
		b, setup, err := open(ctx, cfg)
		if err != nil {
			return nil, "", err
		}
		return b, setup, nil
	}
}

// httpTarget makes a baseline behind the baselines' HTTP front
// (bench/baseline/httpapi), which seatbench starts in its own process on
// a loopback port over the bare target open connects, with a buyer
// token secret of its own; the target is seatbench's client of it.
func httpTarget(open func(context.Context, *Config) (*baseline, string, error)) func(context.Context, *Config) (target.Target, string, error) {
	return func(ctx context.Context, cfg *Config) (target.Target, string, error) {
		b, setup, err := open(ctx, cfg)
		if err != nil {
			return nil, "", err
		}
		secret := make([]byte, 32)
		rand.Read(secret)
		srv, err := httpapi.New(b.bare, httpapi.Config{Auth: gateway.AuthConfig{HS256Secret: secret}})
		if err != nil {
			return nil, "", errors.Join(err, b.Close())
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, "", errors.Join(fmt.Errorf("the HTTP front: %w", err), b.Close())
		}
		url := "http://" + ln.Addr().String()
		c, err := httpapi.NewClient(httpapi.ClientConfig{URL: url, Secret: secret, Target: b.bare,
			MaxConns: min(concurrency(cfg), httpapi.MaxClientConns)})
		if err != nil {
			ln.Close()
			return nil, "", errors.Join(err, b.Close())
		}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		b.Target = c
		b.stop = func() error {
			ctx, cancel := context.WithTimeout(context.Background(), frontWait)
			defer cancel()
			return errors.Join(c.Close(), srv.Shutdown(ctx), <-served)
		}
		if err := answers(ctx, url); err != nil {
			return nil, "", errors.Join(fmt.Errorf("the HTTP front on %s: %w", url, err), b.Close())
		}
		return b, fmt.Sprintf("the baselines' HTTP front (bench/baseline/httpapi: Hertz, the gateway's hold routes, JSON and buyer tokens) "+
			"run inside seatbench's process, on %s, over %s; seatbench's HTTP client sends the holds on up to %d connections",
			ln.Addr(), setup, min(concurrency(cfg), httpapi.MaxClientConns)), nil
	}
}

// answers waits, up to frontWait, for the front at url to answer a
// request (its no-route answer): the listener is bound, and Hertz
// serves it once its loop runs.
func answers(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, frontWait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/", nil)
	if err != nil {
		return err
	}
	req.Close = true // no idle connection for Hertz's shutdown to wait for
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}
