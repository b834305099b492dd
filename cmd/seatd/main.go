// Command seatd is an inventory node: its Raft groups (raftfsm), the Kitex
// server over them (noderpc), and an admin HTTP server with /metrics,
// /healthz, /readyz and pprof.
//
//	seatd [run] [flags]      run a node (flags below, or SEATD_* environment variables)
//	seatd status -rpc ADDR   print a node's view of the cluster as JSON
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	rpc "seatd/kitex_gen/inventoryrpc"
	invsvc "seatd/kitex_gen/inventoryrpc/inventory"
	"seatd/noderpc"
	"seatd/raftfsm"
)

func main() {
	args := os.Args[1:]
	cmd := "run"
	if len(args) > 0 && (args[0] == "run" || args[0] == "status") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run":
		err = run(args)
	case "status":
		err = status(args)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "seatd:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg, err := parseConfig(args, os.Getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	nc := cfg.Node
	nc.Log = log
	node, err := raftfsm.StartNode(nc)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.RPCAddr)
	if err != nil {
		node.Shutdown(false)
		return fmt.Errorf("listen rpc %s: %w", cfg.RPCAddr, err)
	}
	svr := invsvc.NewServer(noderpc.New(node), server.WithListener(ln), server.WithExitWaitTime(2*time.Second))
	go func() {
		if err := svr.Run(); err != nil {
			log.Error("rpc_server_failed", "err", err)
		}
	}()
	admin := &http.Server{Addr: cfg.AdminAddr, Handler: adminHandler(node), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := admin.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin_server_failed", "err", err)
		}
	}()
	log.Info("seatd_started", "id", nc.ID, "raft", node.Addr(), "rpc", ln.Addr().String(), "admin", cfg.AdminAddr, "groups", nc.Groups)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	log.Info("seatd_stopping")
	// Hand leaderships over first, so the cluster does not wait out an
	// election timeout; then stop serving.
	err = node.Shutdown(true)
	svr.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	admin.Shutdown(ctx)
	return err
}

// adminHandler serves metrics, health, readiness and pprof.
func adminHandler(node *raftfsm.Node) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), newNodeCollector(node))
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

// status prints a node's ClusterStatus.
func status(args []string) error {
	addr := "127.0.0.1:7100"
	for i := 0; i < len(args); i++ {
		if args[i] == "-rpc" && i+1 < len(args) {
			addr = args[i+1]
			i++
		} else {
			return fmt.Errorf("status: unknown argument %q (want -rpc ADDR)", args[i])
		}
	}
	c, err := invsvc.NewClient("seatd", client.WithHostPorts(addr), client.WithRPCTimeout(5*time.Second))
	if err != nil {
		return err
	}
	st, err := c.ClusterStatus(context.Background(), &rpc.ClusterStatusRequest{})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(st)
}
