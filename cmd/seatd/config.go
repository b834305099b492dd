package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"seatd/raftfsm"
)

// Config is seatd's configuration: the node's and the servers'.
type Config struct {
	Node      raftfsm.NodeConfig
	RPCAddr   string
	AdminAddr string
	LogLevel  slog.Level
}

// parseConfig reads flags, with SEATD_<NAME> environment variables (the
// flag name upper-cased, dashes as underscores) as defaults, and validates
// the result, reporting every violation.
func parseConfig(args []string, getenv func(string) string) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("seatd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var peers, logLevel string
	fs.StringVar(&cfg.Node.ID, "id", "", "this node's id, unique in the cluster")
	fs.StringVar(&cfg.Node.Dir, "data-dir", "", "data directory (pebble store and snapshots)")
	fs.StringVar(&cfg.Node.Addr, "raft-addr", "127.0.0.1:7000", "Raft listen address for every group")
	fs.StringVar(&cfg.Node.Advertise, "raft-advertise", "", "Raft address peers dial (default: the listener's)")
	fs.StringVar(&cfg.RPCAddr, "rpc-addr", "127.0.0.1:7100", "Kitex listen address")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", "127.0.0.1:7200", "admin HTTP address: /metrics, /healthz, /readyz, /debug/pprof")
	fs.IntVar(&cfg.Node.Groups, "groups", 8, "inventory groups (the same on every node)")
	fs.BoolVar(&cfg.Node.Bootstrap, "bootstrap", false, "form a new cluster of -peers if this node has no state")
	fs.StringVar(&peers, "peers", "", "bootstrap peers: id=raftaddr,id=raftaddr,...")
	fs.Uint64Var(&cfg.Node.SnapshotThreshold, "snapshot-threshold", 8192, "log entries between snapshots")
	fs.Uint64Var(&cfg.Node.TrailingLogs, "trailing-logs", 10240, "log entries kept after a snapshot")
	fs.DurationVar(&cfg.Node.TickInterval, "tick-interval", time.Second, "how often a leader expires holds")
	fs.IntVar(&cfg.Node.Proposer.MaxQueue, "max-queue", 4096, "commands waiting for group commit before ErrOverloaded")
	fs.IntVar(&cfg.Node.Proposer.MaxBatch, "max-batch", 256, "commands per log entry (1 disables batching)")
	fs.DurationVar(&cfg.Node.Proposer.Linger, "linger", 200*time.Microsecond, "how long a lone command waits for a batch")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")

	// Environment variables are the defaults flags override.
	var envErrs []error
	fs.VisitAll(func(f *flag.Flag) {
		name := "SEATD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil {
				envErrs = append(envErrs, fmt.Errorf("%s: %w", name, err))
			}
		}
	})
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	errs := envErrs
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if peers != "" {
		for _, p := range strings.Split(peers, ",") {
			id, addr, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || id == "" || addr == "" {
				errs = append(errs, fmt.Errorf("peers: %q is not id=addr", p))
				continue
			}
			cfg.Node.Peers = append(cfg.Node.Peers, raftfsm.Peer{ID: id, Addr: addr})
		}
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("log-level: %w", err))
	}
	if cfg.RPCAddr == "" || cfg.AdminAddr == "" {
		errs = append(errs, errors.New("rpc-addr and admin-addr are required"))
	}
	if err := cfg.Node.Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}
