// Command seatd is an inventory node: its Raft groups (raftfsm), the Kitex
// server over them (noderpc), and an admin HTTP server with /metrics,
// /healthz, /readyz and pprof.
//
//	seatd [run] [flags]                  run a node: -bootstrap a new cluster, or -join one
//	seatd status -rpc ADDR               print a node's view of the cluster as JSON
//	seatd remove -rpc ADDR,... -node ID  take a node out of every group
//	seatd move -rpc ADDR,... -program ID -group N
//	                                     move a program to group N while it is on sale (docs/move-program.md)
//
// run's settings come from flags, SEATD_* environment variables or a
// -config file; see parseConfig.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cloudwego/kitex/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"seatd/internal/settings"
	invsvc "seatd/kitex_gen/inventoryrpc/inventory"
	"seatd/noderpc"
	"seatd/orderflow/events"
	"seatd/orderflow/relay"
	"seatd/raftfsm"
	"seatd/seatclient"
)

func main() {
	args := os.Args[1:]
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run":
		err = run(args)
	case "status":
		err = status(args)
	case "remove":
		err = remove(args)
	case "move":
		err = move(args)
	default:
		err = fmt.Errorf("unknown command %q (want run, status, remove or move)", cmd)
	}
	if errors.Is(err, flag.ErrHelp) {
		// The subcommands' flag sets print their own usage.
		if usage := strings.TrimPrefix(err.Error(), flag.ErrHelp.Error()); usage != "" {
			fmt.Println(strings.TrimSpace(usage))
		}
		return
	}
	if err != nil {
		settings.Report(os.Stderr, "seatd", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg, err := parseConfig(args, os.Getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ln, err := net.Listen("tcp", cfg.RPCAddr)
	if err != nil {
		return fmt.Errorf("listen rpc %s: %w", cfg.RPCAddr, err)
	}
	nc := cfg.Node
	nc.Log = log
	var relayMetrics []prometheus.Collector
	if len(cfg.Relay.Brokers) > 0 {
		rc := cfg.Relay
		rc.Log = log
		r, err := relay.New(rc)
		if err != nil {
			ln.Close()
			return err
		}
		if err := ensureTopics(r, log); err != nil {
			ln.Close()
			return err
		}
		nc.Duty = r.Duty
		relayMetrics = r.Collectors()
	} else {
		log.Warn("seatd_no_relay", "why", "no -kafka-brokers: outbox events are not published, and each group refuses holds once its outbox is full")
	}
	if nc.RPCAddr == cfg.RPCAddr {
		nc.RPCAddr = ln.Addr().String() // the port, when asked for any
	}
	node, err := raftfsm.StartNode(nc)
	if err != nil {
		ln.Close()
		return err
	}
	handler, err := noderpc.New(node, cfg.Server)
	if err != nil {
		ln.Close()
		node.Shutdown(false)
		return err
	}
	svr := invsvc.NewServer(handler, server.WithListener(ln), server.WithExitWaitTime(2*time.Second))
	go func() {
		if err := svr.Run(); err != nil {
			log.Error("rpc_server_failed", "err", err)
		}
	}()
	admin := &http.Server{Addr: cfg.AdminAddr, Handler: adminHandler(node, relayMetrics...), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := admin.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin_server_failed", "err", err)
		}
	}()
	stop := func() {
		svr.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		admin.Shutdown(ctx)
	}
	if len(cfg.Join) > 0 && node.Fresh() {
		if err := join(cfg, node.ID(), node.Addr(), log); err != nil {
			node.Shutdown(false)
			stop()
			return err
		}
	}
	log.Info("seatd_started", "id", nc.ID, "raft", node.Addr(), "rpc", nc.RPCAddr, "admin", cfg.AdminAddr, "groups", nc.Groups)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	log.Info("seatd_stopping")
	// Hand leaderships over first, so the cluster does not wait out an
	// election timeout; then stop serving.
	err = node.Shutdown(true)
	stop()
	return err
}

// adminHandler serves metrics, health, readiness and pprof.
// ensureTopics makes or checks the Kafka topics once at start: a topic
// that differs from its spec stops the node here, where an operator sees
// it; a broker out of reach does not (the relay tries again before it
// publishes, and events wait in the outbox meanwhile).
func ensureTopics(r *relay.Relay, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := r.EnsureTopics(ctx)
	switch {
	case errors.Is(err, events.ErrTopicMismatch):
		return err
	case err != nil:
		log.Warn("seatd_kafka_unreachable", "err", err)
	}
	return nil
}

func adminHandler(node *raftfsm.Node, extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), newNodeCollector(node))
	reg.MustRegister(extra...)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		// Ready when every group this node hosts has a leader.
		for _, g := range node.Stats() {
			if g.LeaderID == "" {
				http.Error(w, fmt.Sprintf("group %d has no leader", g.Group), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// join asks the members in cfg.Join to add this new node to every group.
// The node announces its RPC address itself once it is a member.
func join(cfg Config, id, raftAddr string, log *slog.Logger) error {
	c, err := seatclient.New(seatclient.Config{Seeds: cfg.Join, MaxBackoff: time.Second, Log: log})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.JoinTimeout)
	defer cancel()
	log.Info("seatd_joining", "via", cfg.Join)
	if err := c.Join(ctx, id, raftAddr); err != nil {
		return fmt.Errorf("join %v: %w", cfg.Join, err)
	}
	log.Info("seatd_joined")
	return nil
}

// adminFlags parses an admin subcommand's flags: -rpc, the members to
// ask, and any others fs declares.
func adminFlags(fs *flag.FlagSet, args []string) (*seatclient.Client, error) {
	rpcAddrs := fs.String("rpc", "127.0.0.1:7100", "RPC addresses of cluster members: addr,addr,...")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	return seatclient.New(seatclient.Config{Seeds: strings.Split(*rpcAddrs, ",")})
}

// status prints the cluster status of the first member that answers.
func status(args []string) error {
	c, err := adminFlags(flag.NewFlagSet("status", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.ClusterStatus(ctx)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(st)
}

// remove takes a node out of every group and the directory.
func remove(args []string) error {
	fs := flag.NewFlagSet("remove", flag.ContinueOnError)
	id := fs.String("node", "", "the id of the node to remove")
	c, err := adminFlags(fs, args)
	if err != nil {
		return err
	}
	if *id == "" {
		return errors.New("remove: -node is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return c.Remove(ctx, *id)
}
