package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"seatd/internal/settings"
	"seatd/noderpc"
	"seatd/orderflow/events"
	"seatd/orderflow/relay"
	"seatd/raftfsm"
)

// Config is seatd's configuration: the node's and the servers'.
type Config struct {
	Node      raftfsm.NodeConfig
	Server    noderpc.Config
	RPCAddr   string // the Kitex listener
	AdminAddr string
	// Join lists RPC addresses of members of an existing cluster. A node
	// with no Raft state asks them to add it to every group; a node that
	// has state (a restart) is a member already and skips it.
	Join        []string
	JoinTimeout time.Duration
	// RestoreDir, with Bootstrap, starts the node's groups from a backup
	// (`seatd backup`) when it has no Raft state: a new cluster, with a
	// new cluster id, at the backup's state (docs/backup.md).
	RestoreDir string
	LogLevel   slog.Level
	// Relay publishes the outboxes of the groups this node leads to
	// Kafka; without brokers there is no relay, and holds are refused
	// once a group's outbox is full (OUTBOX_FULL).
	Relay relay.Config
}

// parseConfig reads the configuration (see package settings: flags, then
// SEATD_* environment variables, then a -config file) and validates it,
// reporting every violation at once.
func parseConfig(args []string, getenv func(string) string) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("seatd", flag.ContinueOnError)
	var peers, join, logLevel string
	fs.StringVar(&cfg.Node.ID, "id", "", "this node's id, unique in the cluster")
	fs.StringVar(&cfg.Node.Dir, "data-dir", "", "data directory (pebble store and snapshots)")
	fs.StringVar(&cfg.Node.Addr, "raft-addr", "127.0.0.1:7000", "Raft listen address for every group")
	fs.StringVar(&cfg.Node.Advertise, "raft-advertise", "", "Raft address peers dial (default: the listener's)")
	fs.StringVar(&cfg.RPCAddr, "rpc-addr", "127.0.0.1:7100", "Kitex listen address")
	fs.StringVar(&cfg.Node.RPCAddr, "rpc-advertise", "", "RPC address clients dial, announced to the cluster (default: -rpc-addr)")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", "127.0.0.1:7200", "admin HTTP address: /metrics, /healthz, /readyz, /debug/pprof")
	fs.IntVar(&cfg.Node.Groups, "groups", 8, "inventory groups (the same on every node)")
	fs.BoolVar(&cfg.Node.Bootstrap, "bootstrap", false, "form a new cluster of -peers if this node has no state")
	fs.StringVar(&peers, "peers", "", "bootstrap peers: id=raftaddr,id=raftaddr,...")
	fs.StringVar(&join, "join", "", "join the cluster of these members' RPC addresses (addr,addr,...) if this node has no state")
	fs.DurationVar(&cfg.JoinTimeout, "join-timeout", time.Minute, "how long to try to join before giving up")
	fs.StringVar(&cfg.RestoreDir, "restore", "", "with -bootstrap: start a new cluster from this backup directory (seatd backup -out) if this node has no state; every node of it is given the same backup and -peers")
	fs.Uint64Var(&cfg.Node.SnapshotThreshold, "snapshot-threshold", 8192, "log entries between snapshots")
	fs.Uint64Var(&cfg.Node.TrailingLogs, "trailing-logs", 10240, "log entries kept after a snapshot")
	fs.DurationVar(&cfg.Node.TickInterval, "tick-interval", time.Second, "how often a leader expires holds")
	fs.DurationVar(&cfg.Node.BalanceInterval, "balance-interval", 5*time.Second,
		"how often a node leading more than its share of groups hands one over (seatd rebalance does it at once)")
	fs.IntVar(&cfg.Node.Proposer.MaxQueue, "max-queue", 4096, "commands waiting for group commit before ErrOverloaded")
	fs.IntVar(&cfg.Node.Proposer.MaxBatch, "max-batch", 256, "commands per log entry (1 disables batching)")
	fs.DurationVar(&cfg.Node.Proposer.Linger, "linger", 200*time.Microsecond, "how long a lone command waits for a batch")
	fs.DurationVar(&cfg.Server.DefaultHoldTTL, "default-hold-ttl", 15*time.Minute, "hold TTL of a program created without one")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	var brokers string
	var partitions, replicas int
	fs.StringVar(&brokers, "kafka-brokers", "", "Kafka bootstrap brokers (host:port,...) the outbox relay publishes seat.holds to; none: no relay")
	fs.IntVar(&partitions, "kafka-partitions", 16, "partitions of seat.holds and orders when this node creates them (1-64; must match the order service's)")
	fs.IntVar(&replicas, "kafka-replicas", 1, "replication factor of the topics this node creates (3 in production)")
	fs.IntVar(&cfg.Relay.MaxBatch, "relay-max-batch", 1000, "outbox events per publish to Kafka")
	fs.IntVar(&cfg.Node.Engine.MaxOutbox, "max-outbox", 1<<20,
		"outbox events a group keeps for Kafka before it refuses holds with OUTBOX_FULL (the same on every node: replicas apply it)")

	var errs []error
	if err := settings.Parse(fs, args, "SEATD", getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		errs = append(errs, err)
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
	cfg.Join = settings.List(join)
	if len(cfg.Join) > 0 && cfg.Node.Bootstrap {
		errs = append(errs, errors.New("join and bootstrap: a node forms a new cluster or joins one, not both"))
	}
	if cfg.RestoreDir != "" && !cfg.Node.Bootstrap {
		errs = append(errs, errors.New("restore: needs -bootstrap and -peers (a restore forms a new cluster)"))
	}
	if cfg.JoinTimeout <= 0 {
		errs = append(errs, fmt.Errorf("join-timeout %v: want a positive duration", cfg.JoinTimeout))
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("log-level: %w", err))
	}
	if cfg.RPCAddr == "" || cfg.AdminAddr == "" {
		errs = append(errs, errors.New("rpc-addr and admin-addr are required"))
	}
	if cfg.Node.RPCAddr == "" {
		cfg.Node.RPCAddr = cfg.RPCAddr
		if host, _, err := net.SplitHostPort(cfg.RPCAddr); err == nil && (host == "" || net.ParseIP(host).IsUnspecified()) {
			errs = append(errs, fmt.Errorf("rpc-advertise is required when rpc-addr %q listens on every interface", cfg.RPCAddr))
		}
	}
	if brokers != "" {
		list, err := events.Brokers(brokers)
		if err != nil {
			errs = append(errs, fmt.Errorf("kafka-brokers: %w", err))
		}
		cfg.Relay.Brokers = list
		if partitions < 1 || partitions > events.MaxPartitions || replicas < 1 {
			errs = append(errs, fmt.Errorf("kafka-partitions %d, kafka-replicas %d: want 1-%d partitions and at least 1 replica",
				partitions, replicas, events.MaxPartitions))
		}
		cfg.Relay.Topics = events.Topics(partitions, replicas)
	}
	if err := cfg.Server.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.Node.Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}
