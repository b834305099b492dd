// Command paysim runs the payment provider simulator (package paysim): the
// server side of Alipay's OpenAPI and WeChat Pay API v3 on one loopback
// HTTP server, for development, tests and the load harness. Every flag
// and endpoint is in docs/paysim.md.
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
	"strings"
	"syscall"
	"time"

	"seatd/internal/settings"
	"seatd/paysim"
)

// Config is paysim's configuration: flags, then PAYSIM_* environment
// variables, then a -config file (package settings).
type Config struct {
	Addr     string
	BaseURL  string
	KeysDir  string
	LogLevel slog.Level
	Sim      paysim.Config
}

func parseFlags(args []string, getenv func(string) string) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("paysim", flag.ContinueOnError)
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8090", "listen address (loopback by default)")
	fs.StringVar(&c.BaseURL, "base-url", "", "URL merchants and browsers use to reach paysim (default http://ADDR)")
	fs.StringVar(&c.KeysDir, "keys", "", "keys directory: loaded if it holds keys, else generated and written there (empty: generate, keep in memory)")
	fs.Float64Var(&c.Sim.ResendScale, "resend-scale", 1, "multiplies the providers' resend schedules (0.001: Alipay's 4m becomes 240ms)")
	fs.Float64Var(&c.Sim.Faults.Drop, "drop", 0, "probability that a notification attempt is dropped (resent on schedule)")
	fs.IntVar(&c.Sim.Faults.Duplicate, "duplicate", 0, "send each notification attempt N times")
	fs.DurationVar(&c.Sim.Faults.Delay, "delay", 0, "hold back each notification's first attempt this long")
	fs.DurationVar(&c.Sim.Faults.Reorder, "reorder", 0, "add a random wait in [0, D) to every attempt, so notifications arrive in any order")
	fs.Float64Var(&c.Sim.Faults.Forge, "forge", 0, "probability that an attempt is signed with a key that is not the provider's")
	fs.Float64Var(&c.Sim.Faults.Tamper, "tamper", 0, "probability that an attempt's amount (Alipay) or body (WeChat) is changed after signing")
	fs.Float64Var(&c.Sim.Faults.WrongApp, "wrong-app", 0, "probability that an attempt names another app id / merchant, correctly signed")
	fs.Float64Var(&c.Sim.Faults.WrongAmount, "wrong-amount", 0, "probability that an attempt carries the amount plus one cent, correctly signed")
	seed := fs.Uint64("seed", 0, "seed of the fault dice (0: from the clock)")
	fs.IntVar(&c.Sim.MaxTrades, "max-trades", paysim.DefaultMaxTrades, "trades kept; more are refused as a system error")
	fs.IntVar(&c.Sim.MaxPendingNotifications, "max-pending-notifications", paysim.DefaultMaxPendingNotifications, "notifications waiting to be sent; more are dropped and counted")
	fs.IntVar(&c.Sim.NotifyWorkers, "notify-workers", paysim.DefaultNotifyWorkers, "notifications in flight at once")
	fs.DurationVar(&c.Sim.NotifyTimeout, "notify-timeout", paysim.DefaultNotifyTimeout, "bound on one notification exchange")
	fs.DurationVar(&c.Sim.WechatRefundDelay, "wechat-refund-delay", paysim.DefaultWechatRefundDelay, "how long a WeChat refund stays PROCESSING")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	var errs []error
	if err := settings.Parse(fs, args, "PAYSIM", getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		errs = append(errs, err)
	}
	c.Sim.Seed = *seed
	if err := c.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		errs = append(errs, fmt.Errorf("-log-level: %w", err))
	}
	if c.Sim.ResendScale <= 0 {
		errs = append(errs, errors.New("-resend-scale must be positive"))
	}
	if err := c.Sim.Faults.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"-max-trades", c.Sim.MaxTrades}, {"-max-pending-notifications", c.Sim.MaxPendingNotifications}, {"-notify-workers", c.Sim.NotifyWorkers}} {
		if v.n < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1", v.name))
		}
	}
	if c.Sim.NotifyTimeout <= 0 || c.Sim.WechatRefundDelay <= 0 {
		errs = append(errs, errors.New("-notify-timeout and -wechat-refund-delay must be positive"))
	}
	return c, errors.Join(errs...)
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Println(strings.TrimSpace(strings.TrimPrefix(err.Error(), flag.ErrHelp.Error())))
		return
	}
	if err != nil {
		settings.Report(os.Stderr, "paysim", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, nil); err != nil {
		fmt.Fprintln(os.Stderr, "paysim:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends. ready, when not nil, gets the base URL once
// listening.
func run(ctx context.Context, cfg Config, ready chan<- string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	keys, made := (*paysim.Keys)(nil), false
	var err error
	if cfg.KeysDir != "" {
		keys, made, err = paysim.LoadOrCreateDir(cfg.KeysDir)
	} else {
		keys, err = paysim.GenerateKeys()
		made = true
	}
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://" + ln.Addr().String()
	}
	cfg.Sim.Keys, cfg.Sim.BaseURL, cfg.Sim.Logger = keys, cfg.BaseURL, log
	sim, err := paysim.New(cfg.Sim)
	if err != nil {
		ln.Close()
		return err
	}
	defer sim.Close()
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10}
	log.Info("paysim_listening", "base_url", cfg.BaseURL, "keys_dir", cfg.KeysDir, "keys_generated", made,
		"alipay_gateway", cfg.BaseURL+"/gateway.do", "alipay_app_id", keys.AlipayAppID,
		"wechat_base_url", cfg.BaseURL, "wechat_mch_id", keys.WechatMchID)
	if ready != nil {
		ready <- cfg.BaseURL
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shut)
}
