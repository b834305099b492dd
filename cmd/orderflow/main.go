// Command orderflow runs the order service (package orderflow) and,
// when a payment provider is configured (-alipay-app-id, -wechat-mch-id),
// the pay service beside it (package orderflow/pay): it owns
// the partitions p of seat.holds and orders with p % instances ==
// instance, turns hold events into orders, publishes the orders
// changelog, and serves orders over Kitex (idl/orderflow.thrift). An HTTP
// server beside it answers /metrics, /healthz and /readyz (ready once
// every owned partition is rebuilt and caught up with what seat.holds
// held at start).
//
//	orderflow -brokers HOST:PORT -instance 0 -instances 2 -data DIR
//
// `orderflow backup`, `orderflow restore` and `orderflow rebalance-plan`
// copy a running instance's stores, place them in a data directory, and
// move them when the instance count changes (docs/backup.md,
// docs/orderflow.md#scaling; see runBackup, runRestore,
// runRebalancePlan):
//
//	orderflow backup -metrics HOST:PORT -out DIR
//	orderflow restore -from DIR,... -data DIR [-instance I -instances N]
//	orderflow rebalance-plan -partitions P -from N -to M [-data DIR,... [-apply]]
//
// `orderflow reconcile` compares seatd's holds and sold seats, the
// orders, the trades and refunds, and the providers' bills, and prints
// every difference that persists (docs/reconcile.md; see runReconcile):
//
//	orderflow reconcile -orderflow HOST:PORT,... -seatd HOST:PORT,... [-days 2026-03-01,...] [-settle 10s] [-json]
//
// Settings come from flags, ORDERFLOW_* environment variables (and
// KAFKA_BROKERS for -brokers) or a -config file; see parseConfig.
// SIGTERM or SIGINT stops it gracefully: the batch being applied is
// committed and the stores are closed. SIGHUP reads the payment
// providers' key files again and swaps the keys in without a restart, or
// keeps the keys in use when a file holds none it can use
// (pay_key_reloads_total, docs/keys.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cloudwego/kitex/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"seatd/internal/merchant"
	"seatd/internal/settings"
	ofsvc "seatd/kitex_gen/orderflowrpc/orderflow"
	"seatd/orderflow"
	"seatd/orderflow/orderrpc"
	"seatd/orderflow/pay"
	"seatd/orderflow/payment"
	"seatd/seatclient"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "reconcile":
			os.Exit(runReconcile(context.Background(), os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
		case "backup":
			os.Exit(runBackup(context.Background(), os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
		case "restore":
			os.Exit(runRestore(os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
		case "rebalance-plan":
			os.Exit(runRebalancePlan(os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
		}
	}
	err := run(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Println(strings.TrimSpace(strings.TrimPrefix(err.Error(), flag.ErrHelp.Error())))
		return
	}
	if err != nil {
		settings.Report(os.Stderr, "orderflow", err)
		os.Exit(1)
	}
}

func run(args []string, getenv func(string) string) error {
	cfg, err := parseConfig(args, getenv)
	if err != nil {
		return err
	}
	// Signals are caught from the start: one that comes during start-up
	// is acted on once start-up ends, so the stores are always closed.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	// SIGHUP would end the process by default: caught from the start,
	// and acted on once serving.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sc := cfg.Service
	sc.Log, sc.Registerer = log, reg
	if len(cfg.SeatdAddrs) > 0 {
		inv, err := seatclient.New(seatclient.Config{Seeds: cfg.SeatdAddrs, Log: log})
		if err != nil {
			return err
		}
		sc.Inventory = inv
	} else {
		log.Warn("no_seatd", "detail", "without -seatd, confirms of paid holds and releases of refunded seats wait in the stores")
	}
	svc, err := orderflow.New(sc)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.RPCAddr)
	if err != nil {
		return fmt.Errorf("listen rpc %s: %w", cfg.RPCAddr, err)
	}
	var paySvcRef atomic.Pointer[pay.Service] // set once the pay service serves: backups wait for it
	mux := adminHandler(reg, svc)
	mux.Handle("/backup", backupHandler(cfg.Service.DataDir, svc, cfg.PayEnabled(), &paySvcRef))
	admin := &http.Server{Addr: cfg.MetricsAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := admin.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics_server_failed", "err", err)
		}
	}()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		admin.Shutdown(ctx)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.StartTimeout)
	err = svc.Start(ctx)
	cancel()
	if err != nil {
		ln.Close()
		return err
	}
	handler := orderrpc.New(svc)
	var paySvc *pay.Service
	var providers []payment.Provider
	if cfg.PayEnabled() {
		if paySvc, providers, err = startPay(cfg, svc, log, reg); err != nil {
			ln.Close()
			svc.Close()
			return err
		}
		handler = handler.WithPay(paySvc)
		paySvcRef.Store(paySvc)
	}
	svr := ofsvc.NewServer(handler, server.WithListener(ln), server.WithExitWaitTime(2*time.Second))
	go func() {
		if err := svr.Run(); err != nil {
			log.Error("rpc_server_failed", "err", err)
		}
	}()
	log.Info("orderflow_serving", "rpc", ln.Addr().String(), "metrics", cfg.MetricsAddr)

	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pay_key_reloads_total",
		Help: "reloads of the payment providers' key files on SIGHUP, by outcome: ok, or refused (the keys in use kept)"}, []string{"outcome"})
	reg.MustRegister(reloads)
	for stop := false; !stop; {
		select {
		case <-sig:
			stop = true
		case <-hup:
			reloadKeys(cfg, providers, log, reloads)
		}
	}
	log.Info("orderflow_stopping")
	svr.Stop()
	var errs []error
	if paySvc != nil {
		errs = append(errs, paySvc.Close())
	}
	return errors.Join(append(errs, svc.Close())...)
}

// reloadKeys reads the providers' key files again and gives the
// providers their keys; a provider whose files hold no usable key keeps
// the keys it has.
func reloadKeys(cfg Config, providers []payment.Provider, log *slog.Logger, reloads *prometheus.CounterVec) {
	if len(providers) == 0 {
		log.Warn("pay_keys_not_reloaded", "detail", "SIGHUP: no payment provider is configured")
		return
	}
	if err := merchant.Reload(cfg.Alipay, cfg.Wechat, providers); err != nil {
		reloads.WithLabelValues("refused").Inc()
		log.Error("pay_keys_reload_refused", "err", err, "detail", "the keys in use are kept")
		return
	}
	reloads.WithLabelValues("ok").Inc()
	log.Info("pay_keys_reloaded", "providers", len(providers))
}

// startPay starts the pay service beside the order service, over its
// partitions, with the providers configured.
func startPay(cfg Config, svc *orderflow.Service, log *slog.Logger, reg prometheus.Registerer) (*pay.Service, []payment.Provider, error) {
	providers, err := merchant.Providers(cfg.Alipay, cfg.Wechat, log)
	if err != nil {
		return nil, nil, err
	}
	pc := cfg.Pay
	pc.Brokers, pc.DataDir, pc.Orders, pc.Providers, pc.Log, pc.Registerer = cfg.Service.Brokers, filepath.Join(cfg.Service.DataDir, "pay"), svc, providers, log, reg
	pc.ReturnURL = cfg.ReturnURL
	pc.NotifyURLs = map[string]string{}
	for _, p := range providers {
		pc.NotifyURLs[p.Channel()] = cfg.NotifyURL + "/v1/payments/" + p.Channel() + "/notify"
	}
	ps, err := pay.New(pc)
	if err != nil {
		return nil, nil, err
	}
	if err := ps.Start(context.Background()); err != nil {
		return nil, nil, err
	}
	log.Info("pay_serving", "channels", len(providers))
	return ps, providers, nil
}

// adminHandler serves metrics, liveness and readiness (run adds
// /backup).
func adminHandler(reg *prometheus.Registry, svc *orderflow.Service) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := svc.Ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}
