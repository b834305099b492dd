// Command seatdev runs the whole seatd system in one process for a
// laptop: one inventory node (Raft groups on pebble, the Kitex server),
// the routing client and the HTTP gateway with its live seat-map page, a
// demo arena and a demo train on sale. It prints the URLs, tokens and
// ready-to-paste curl commands, and runs until Ctrl-C.
//
//	seatdev [-http ADDR] [-rpc ADDR] [-raft ADDR] [-data-dir DIR]
//	seatdev -walkthrough   a guided tour of the inventory engine alone
package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"

	"seatd/internal/settings"
)

func main() {
	var cfg systemConfig
	fs := flag.NewFlagSet("seatdev", flag.ExitOnError)
	tour := fs.Bool("walkthrough", false, "print a guided tour of the inventory engine and exit")
	fs.StringVar(&cfg.HTTPAddr, "http", "127.0.0.1:8080", "the gateway's HTTP address")
	fs.StringVar(&cfg.RPCAddr, "rpc", "127.0.0.1:7100", "the node's Kitex address")
	fs.StringVar(&cfg.RaftAddr, "raft", "127.0.0.1:7000", "the node's Raft address")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "where the node keeps its state (default: a temporary directory, removed at exit)")
	fs.Parse(os.Args[1:])
	var err error
	if *tour {
		err = walkthrough(os.Stdout)
	} else {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		err = runSystem(ctx, cfg, os.Stdout, nil)
	}
	if err != nil {
		settings.Report(os.Stderr, "seatdev", err)
		os.Exit(1)
	}
}
