// Command seatdev runs the whole seatd system in one process for a
// laptop: one inventory node (Raft groups on pebble, the Kitex server)
// with its outbox relay, an embedded Kafka-protocol broker (or the
// brokers of KAFKA_BROKERS), the order service, the routing clients and
// the HTTP gateway with its live seat-map page, a demo arena and a demo
// train on sale. It prints the URLs, tokens and
// ready-to-paste curl commands, and runs until Ctrl-C (SIGINT) or SIGTERM,
// which stop it with exit status 0, while it starts too: a stop asked for
// is not a failure. A second signal while it stops kills it.
//
//	seatdev [-http ADDR] [-rpc ADDR] [-raft ADDR] [-orders-rpc ADDR] [-data-dir DIR] [-kafka-brokers LIST]
//	seatdev -walkthrough   a guided tour of the inventory engine alone
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"seatd/internal/settings"
	"seatd/orderflow/events"
)

func main() {
	var cfg systemConfig
	fs := flag.NewFlagSet("seatdev", flag.ExitOnError)
	tour := fs.Bool("walkthrough", false, "print a guided tour of the inventory engine and exit")
	fs.StringVar(&cfg.HTTPAddr, "http", "127.0.0.1:8080", "the gateway's HTTP address")
	fs.StringVar(&cfg.RPCAddr, "rpc", "127.0.0.1:7100", "the node's Kitex address")
	fs.StringVar(&cfg.RaftAddr, "raft", "127.0.0.1:7000", "the node's Raft address")
	fs.StringVar(&cfg.OrdersAddr, "orders-rpc", "127.0.0.1:7300", "the order service's Kitex address")
	fs.StringVar(&cfg.MetricsAddr, "metrics", "127.0.0.1:7301", "/metrics of the outbox relay and the order service")
	fs.StringVar(&cfg.PaysimAddr, "paysim", "127.0.0.1:8090", "the payment simulator's address (Alipay and WeChat Pay for the pay service)")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "where the node and the order service keep their state (default: a temporary directory, removed at exit)")
	brokers := fs.String("kafka-brokers", os.Getenv("KAFKA_BROKERS"), "Kafka brokers (host:port,...; default $KAFKA_BROKERS); none: an embedded Kafka-protocol broker in memory")
	fs.Parse(os.Args[1:])
	if *brokers != "" {
		list, err := events.Brokers(*brokers)
		if err != nil {
			settings.Report(os.Stderr, "seatdev", err)
			os.Exit(2)
		}
		cfg.Brokers = list
	}
	var err error
	if *tour {
		err = walkthrough(os.Stdout)
	} else {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		context.AfterFunc(ctx, stop)
		fmt.Println("seatdev: starting (Ctrl-C stops)")
		err = runSystem(ctx, cfg, os.Stdout, nil)
		if ctx.Err() != nil {
			// Stopped by a signal: a start step it cut short fails, and
			// that is the stop's doing, not the run's failure.
			err = nil
		}
	}
	if err != nil {
		settings.Report(os.Stderr, "seatdev", err)
		os.Exit(1)
	}
}
