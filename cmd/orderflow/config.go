package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"seatd/internal/settings"
	"seatd/orderflow"
	"seatd/orderflow/events"
)

// Config is the orderflow binary's configuration.
type Config struct {
	Service      orderflow.Config
	SeatdAddrs   []string // seatd RPC seeds: the confirms and releases of seats (none: they stay due)
	RPCAddr      string   // the Kitex listener
	MetricsAddr  string   // /metrics, /healthz, /readyz
	StartTimeout time.Duration
	LogLevel     slog.Level
}

// parseConfig reads the configuration (see package settings: flags, then
// ORDERFLOW_* environment variables, then a -config file; -brokers also
// from KAFKA_BROKERS) and validates it, reporting every violation at once.
func parseConfig(args []string, getenv func(string) string) (Config, error) {
	var cfg Config
	sc := &cfg.Service
	fs := flag.NewFlagSet("orderflow", flag.ContinueOnError)
	var brokers, logLevel, seatd string
	fs.StringVar(&brokers, "brokers", "", "Kafka bootstrap brokers: host:port,host:port (default: $KAFKA_BROKERS)")
	fs.IntVar(&sc.Instance, "instance", 0, "this instance's number, 0 to instances-1 (a StatefulSet ordinal)")
	fs.IntVar(&sc.Instances, "instances", 1, "how many instances share the partitions")
	fs.IntVar(&sc.Partitions, "partitions", orderflow.DefaultPartitions, fmt.Sprintf("partitions of seat.holds and orders (1-%d; must match existing topics)", events.MaxPartitions))
	fs.IntVar(&sc.Replicas, "replicas", 1, "replication factor of the topics it creates")
	fs.StringVar(&sc.DataDir, "data", "", "data directory: one pebble store per owned partition")
	fs.StringVar(&seatd, "seatd", "", "seatd RPC addresses (host:port,...) to confirm paid holds and release refunded seats; without them these calls wait in the stores")
	fs.IntVar(&sc.MaxSeatCalls, "max-seat-calls", orderflow.DefaultMaxSeatCalls, "seatd calls under way per partition")
	fs.StringVar(&cfg.RPCAddr, "rpc", "127.0.0.1:7300", "Kitex listen address")
	fs.StringVar(&cfg.MetricsAddr, "metrics", "127.0.0.1:7301", "HTTP listen address of /metrics, /healthz, /readyz")
	fs.IntVar(&sc.MaxBatch, "max-batch", orderflow.DefaultMaxBatch, "events applied per synced batch")
	fs.Int64Var(&sc.MaxPending, "max-pending", orderflow.DefaultMaxPending, "changes waiting for the changelog per partition before consuming pauses")
	fs.IntVar(&sc.PublishBatch, "publish-batch", orderflow.DefaultPublishBatch, "changelog messages per write")
	fs.DurationVar(&sc.PublishLinger, "publish-linger", orderflow.DefaultPublishLinger, "how long a changelog write waits to fill")
	fs.DurationVar(&cfg.StartTimeout, "start-timeout", time.Minute, "how long start-up may take to reach Kafka and check the topics")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")

	var errs []error
	if err := settings.Parse(fs, args, "ORDERFLOW", getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		errs = append(errs, err)
	}
	if brokers == "" {
		brokers = getenv("KAFKA_BROKERS")
	}
	if brokers == "" {
		errs = append(errs, errors.New("brokers: required (-brokers, ORDERFLOW_BROKERS or KAFKA_BROKERS)"))
	} else if list, err := events.Brokers(brokers); err != nil {
		errs = append(errs, err)
	} else {
		sc.Brokers = list
	}
	if seatd != "" {
		if list, err := events.Brokers(seatd); err != nil {
			errs = append(errs, fmt.Errorf("seatd: %w", err))
		} else {
			cfg.SeatdAddrs = list
		}
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("log-level: %w", err))
	}
	if cfg.RPCAddr == "" || cfg.MetricsAddr == "" {
		errs = append(errs, errors.New("rpc and metrics addresses are required"))
	}
	if sc.Partitions < 1 {
		// Config takes 0 for the default; a flag of 0 is a mistake.
		errs = append(errs, fmt.Errorf("partitions %d: want 1-%d", sc.Partitions, events.MaxPartitions))
	}
	if cfg.StartTimeout <= 0 {
		errs = append(errs, fmt.Errorf("start-timeout %v: want a positive duration", cfg.StartTimeout))
	}
	probe := *sc
	if len(probe.Brokers) == 0 {
		probe.Brokers = []string{"unset"} // the brokers' problem is reported above
	}
	if err := probe.Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}
