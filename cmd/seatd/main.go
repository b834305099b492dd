// Command seatd is an inventory node: its Raft groups (raftfsm), the Kitex
// server over them (noderpc), and an admin HTTP server with /metrics,
// /healthz, /readyz and pprof.
//
//	seatd [run] [flags]                   run a node: -bootstrap a new cluster, or -join one
//	seatd status -rpc ADDR                print a node's view of the cluster as JSON
//	seatd leaders -rpc ADDR,...           print which node leads which group
//	seatd rebalance -rpc ADDR,...         spread the group leaders over the undrained voters now
//	seatd drain -rpc ADDR,... -node ID    move every leadership off a node and keep it off
//	seatd undrain -rpc ADDR,... -node ID  give a drained node its share of leaderships again
//	seatd remove -rpc ADDR,... -node ID   take a node out of every group
//	seatd backup -admin ADDR,... -out DIR copy every group's state from its leader (docs/backup.md)
//	seatd run -bootstrap -peers ... -restore DIR  form a new cluster from a backup
//	seatd move -rpc ADDR,... -program ID -group N
//	                                      move a program to group N while it is on sale (docs/move-program.md)
//
// run's settings come from flags, SEATD_* environment variables or a
// -config file; see parseConfig. The admin commands (all but run) exit
// with 0 when done, 1 when the cluster refused or could not be reached,
// and 2 for a usage error; see docs/cluster.md.
package main

import (
	"context"
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
	case "leaders":
		err = leaders(args)
	case "rebalance":
		err = rebalance(args)
	case "drain":
		err = drain(args, true)
	case "undrain":
		err = drain(args, false)
	case "backup":
		err = backup(args)
	case "move":
		err = move(args)
	default:
		err = usageError{fmt.Errorf("unknown command %q (want run, status, leaders, rebalance, drain, undrain, remove, backup or move)", cmd)}
	}
	if errors.Is(err, flag.ErrHelp) {
		// The subcommands' flag sets print their own usage.
		if usage := strings.TrimPrefix(err.Error(), flag.ErrHelp.Error()); usage != "" {
			fmt.Println(strings.TrimSpace(usage))
		}
		if cmd == "run" {
			fmt.Print(commands)
		}
		return
	}
	if err != nil {
		settings.Report(os.Stderr, "seatd", err)
		if errors.As(err, new(usageError)) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// commands follows run's usage: the other commands, each with its own -h.
const commands = `
commands (each with its own -h; docs/cluster.md, docs/move-program.md, docs/backup.md):
  seatd [run]      run a node (the flags above)
  seatd status     a node's view of the cluster, as JSON
  seatd leaders    which node leads which group
  seatd rebalance  spread the group leaders now
  seatd drain      move every leadership off a node and keep it off
  seatd undrain    give a drained node its share again
  seatd remove     take a node out of every group
  seatd backup     copy every group's state from its leader
  seatd move       move a program to another group while it is on sale
`

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
	if cfg.RestoreDir != "" {
		if nc.Restore, err = loadBackup(cfg.RestoreDir, nc.Groups, nc.Engine); err != nil {
			ln.Close()
			return fmt.Errorf("restore from %s: %w", cfg.RestoreDir, err)
		}
		log.Info("seatd_restoring", "from", cfg.RestoreDir, "groups", len(nc.Restore))
	}
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
	if len(cfg.Join) > 0 && !raftfsm.HasStore(nc.Dir) {
		// Before the Raft listener opens: the leaders of a member under
		// this id at this address would replicate to it at once.
		if err := checkNewID(cfg, log); err != nil {
			ln.Close()
			return err
		}
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
		// Ready when every group this node hosts has a leader and the
		// node is not drained: a load balancer in front of the nodes
		// then stops sending to a node being taken out for maintenance.
		if node.Drained() {
			http.Error(w, "drained", http.StatusServiceUnavailable)
			return
		}
		for _, g := range node.Stats() {
			if g.LeaderID == "" {
				http.Error(w, fmt.Sprintf("group %d has no leader", g.Group), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("/backup/group/{g}", backupHandler(node))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// checkNewID refuses to start a new node under the id of a member (see
// seatclient.ErrMember and docs/cluster.md, "Replace a dead node"), or
// with another -groups than the cluster's.
func checkNewID(cfg Config, log *slog.Logger) error {
	c, err := seatclient.New(seatclient.Config{Seeds: cfg.Join, MaxBackoff: time.Second, Log: log})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.JoinTimeout)
	defer cancel()
	if err := c.CheckNewNode(ctx, cfg.Node.ID, cfg.Node.Groups); err != nil {
		return fmt.Errorf("join %v: %w", cfg.Join, err)
	}
	return nil
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
	if err := c.Join(ctx, id, raftAddr, cfg.Node.Groups); err != nil {
		return fmt.Errorf("join %v: %w", cfg.Join, err)
	}
	log.Info("seatd_joined")
	return nil
}
