// Package orderstack runs the order flow inside the calling process: the
// order service owning every partition, the pay service beside it, their
// Kitex server, and paysim playing both payment providers, with keys
// generated at start. It is for the commands that run a whole system in
// one process (seatdev behind `make run`, seatbench's in-process system);
// a deployment runs cmd/orderflow and the providers' real gateways.
//
// Concurrency: Start and Close are for one goroutine; the client is safe
// for concurrent use.
package orderstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/cloudwego/kitex/server"
	"github.com/prometheus/client_golang/prometheus"

	"seatd/internal/merchant"
	ofsvc "seatd/kitex_gen/orderflowrpc/orderflow"
	"seatd/orderflow"
	"seatd/orderflow/orderclient"
	"seatd/orderflow/orderrpc"
	"seatd/orderflow/pay"
	"seatd/paysim"
)

// StartWait bounds the order service's start: it joins its consumer
// group and catches up with the topics.
const StartWait = time.Minute

// Config says where the stack runs and what it talks to.
type Config struct {
	// Brokers are Kafka's (required).
	Brokers []string
	// Partitions is the order flow topics' partition count (required):
	// the relay's, as events.Topics makes them.
	Partitions int
	// Dir holds the stores (orders/, orders/pay/) and paysim's key files
	// (paysim-keys/, 0600).
	Dir string
	// Inventory is seatd, which the order service confirms and releases
	// holds in (a *seatclient.Client).
	Inventory orderflow.Inventory
	// GatewayURL is the gateway's base URL ("http://host:port"): the
	// providers notify its /v1/payments/{channel}/notify routes and send
	// buyers back to it.
	GatewayURL string
	// PaysimAddr and OrdersAddr are where paysim and the order flow's
	// Kitex server listen ("": any loopback port).
	PaysimAddr, OrdersAddr string
	// QueryAfter, if set, replaces the pay service's first query of an
	// unpaid trade (tests).
	QueryAfter time.Duration
	// Registerer takes the services' metrics (required: they register
	// the same names, once per process).
	Registerer prometheus.Registerer
	Log        *slog.Logger // nil: discarded
}

// Stack is a running order flow. Close stops it.
type Stack struct {
	// Orders is a client of the order flow's Kitex server: the gateway's
	// Config.Orders, and what reconcile reads.
	Orders *orderclient.Client
	// OrdersAddr is that server's address.
	OrdersAddr string
	// PaysimURL is the simulator's base URL: its pages, and its control
	// endpoint (POST /sim/trades/{channel}/{out_trade_no}/pay) that pays
	// a trade as a buyer would (docs/paysim.md).
	PaysimURL string

	closers []func() error // in the order Close runs them
}

// Start starts paysim, then the order and pay services and their
// server. On an error what had started is stopped.
func Start(ctx context.Context, cfg Config) (st *Stack, err error) {
	if len(cfg.Brokers) == 0 || cfg.Partitions < 1 || cfg.Inventory == nil || cfg.Registerer == nil || cfg.GatewayURL == "" {
		return nil, errors.New("orderstack: Brokers, Partitions, Inventory, Registerer and GatewayURL are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	st = &Stack{}
	started := st // the error returns below set st to nil
	defer func() {
		if err != nil {
			err = errors.Join(err, started.Close())
		}
	}()
	keysDir := filepath.Join(cfg.Dir, "paysim-keys")
	if err := st.startPaysim(cfg.PaysimAddr, keysDir, cfg.Log); err != nil {
		return nil, err
	}
	a, w, err := merchant.FromPaysim(keysDir, st.PaysimURL)
	if err != nil {
		return nil, err
	}
	providers, err := merchant.Providers(a, w, cfg.Log)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.Dir, "orders")
	svc, err := orderflow.New(orderflow.Config{Brokers: cfg.Brokers, Instance: 0, Instances: 1, Partitions: cfg.Partitions, Replicas: 1,
		DataDir: dir, Inventory: cfg.Inventory, Log: cfg.Log, Registerer: cfg.Registerer,
		// One instance on a laptop: a store missing is one deleted, never
		// one left at another instance, so it is rebuilt.
		RebuildMissing: true})
	if err != nil {
		return nil, err
	}
	st.closers = append([]func() error{svc.Close}, st.closers...)
	startCtx, cancel := context.WithTimeout(ctx, StartWait)
	defer cancel()
	if err := svc.Start(startCtx); err != nil {
		return nil, fmt.Errorf("order service: %w", err)
	}
	pc := pay.Config{Providers: providers, Brokers: cfg.Brokers, DataDir: filepath.Join(dir, "pay"), Orders: svc, Log: cfg.Log,
		Registerer: cfg.Registerer, ReturnURL: cfg.GatewayURL + "/", QueryAfter: cfg.QueryAfter,
		NotifyURLs: map[string]string{"alipay": cfg.GatewayURL + "/v1/payments/alipay/notify", "wechat": cfg.GatewayURL + "/v1/payments/wechat/notify"}}
	if pc.QueryAfter > 0 {
		pc.MaxQueryInterval = max(pc.QueryAfter, pay.DefaultMaxQueryInterval)
	}
	ps, err := pay.New(pc)
	if err != nil {
		return nil, fmt.Errorf("pay service: %w", err)
	}
	st.closers = append([]func() error{ps.Close}, st.closers...)
	if err := ps.Start(ctx); err != nil {
		return nil, fmt.Errorf("pay service: %w", err)
	}
	addr := cfg.OrdersAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("orderstack: listen orders rpc: %w", err)
	}
	svr := ofsvc.NewServer(orderrpc.New(svc).WithPay(ps), server.WithListener(ln), server.WithExitWaitTime(time.Second))
	go svr.Run()
	st.closers = append([]func() error{svr.Stop}, st.closers...)
	st.OrdersAddr = ln.Addr().String()
	if st.Orders, err = orderclient.New(orderclient.Config{Addrs: []string{st.OrdersAddr}}); err != nil {
		return nil, err
	}
	return st, nil
}

// startPaysim runs the simulator on addr with keys generated now and
// written to keysDir, from which the providers are configured as
// cmd/orderflow configures them.
func (st *Stack) startPaysim(addr, keysDir string, log *slog.Logger) error {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	keys, err := paysim.GenerateKeys()
	if err != nil {
		return err
	}
	if err := keys.WriteDir(keysDir); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("orderstack: listen paysim: %w", err)
	}
	st.PaysimURL = "http://" + ln.Addr().String()
	sim, err := paysim.New(paysim.Config{Keys: keys, BaseURL: st.PaysimURL, Logger: log})
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	st.closers = append(st.closers, func() error {
		err := srv.Close()
		sim.Close()
		return err
	})
	return nil
}

// Close stops the server, the pay service, the order service and
// paysim, in that order.
func (st *Stack) Close() error {
	var errs []error
	for _, c := range st.closers {
		errs = append(errs, c())
	}
	st.closers = nil
	return errors.Join(errs...)
}
