package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"seatd/internal/settings"
	"seatd/orderflow/events"
	"seatd/orderflow/orderclient"
	"seatd/orderflow/payment"
	"seatd/orderflow/reconcile"
	"seatd/seatclient"
)

// Exit codes of `orderflow reconcile`.
const (
	exitAgree     = 0 // no differences
	exitDiffer    = 1 // differences, printed
	exitUsageOrIO = 2 // a bad flag, or a service that did not answer
)

// reconcileConfig is the configuration of `orderflow reconcile`.
type reconcileConfig struct {
	OrderflowAddrs []string // any instance, in instance order
	SeatdAddrs     []string
	Days           []time.Time
	Settle         time.Duration
	Timeout        time.Duration
	JSON           bool
}

// parseReconcile reads the subcommand's settings (flags, then
// ORDERFLOW_RECONCILE_* environment variables, then a -config file),
// reporting every problem at once.
func parseReconcile(args []string, getenv func(string) string) (reconcileConfig, error) {
	var cfg reconcileConfig
	fs := flag.NewFlagSet("orderflow reconcile", flag.ContinueOnError)
	var flows, seatd, days string
	fs.StringVar(&flows, "orderflow", "", "the orderflow instances' RPC addresses, host:port,... in instance order (required)")
	fs.StringVar(&seatd, "seatd", "", "seatd RPC addresses, host:port,... (required)")
	fs.StringVar(&days, "days", "", "bill days to compare, YYYY-MM-DD,... in China Standard Time (default: the days the trades and refunds touch)")
	fs.DurationVar(&cfg.Settle, "settle", reconcile.DefaultSettle, "how long to wait before checking a difference again; only those that persist are reported (0: report at once)")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Minute, "how long the whole reconciliation may take")
	fs.BoolVar(&cfg.JSON, "json", false, "print the report as one JSON object")
	var errs []error
	if err := settings.Parse(fs, args, "ORDERFLOW_RECONCILE", getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		errs = append(errs, err)
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	for _, f := range []struct {
		name, value string
		dst         *[]string
	}{{"orderflow", flows, &cfg.OrderflowAddrs}, {"seatd", seatd, &cfg.SeatdAddrs}} {
		if f.value == "" {
			errs = append(errs, fmt.Errorf("%s: required", f.name))
			continue
		}
		list, err := events.Brokers(f.value)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
		}
		*f.dst = list
	}
	for _, d := range settings.List(days) {
		t, err := time.ParseInLocation(time.DateOnly, d, payment.CST)
		if err != nil {
			errs = append(errs, fmt.Errorf("days: %q: want YYYY-MM-DD", d))
			continue
		}
		cfg.Days = append(cfg.Days, t)
	}
	if cfg.Settle < 0 || cfg.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("settle %v, timeout %v: want settle >= 0, timeout > 0", cfg.Settle, cfg.Timeout))
	}
	return cfg, errors.Join(errs...)
}

// runReconcile runs `orderflow reconcile args`: it prints each
// difference that persists on a line of stdout (or the report as JSON
// with -json), and returns the exit code: exitAgree, exitDiffer, or
// exitUsageOrIO with the problem on stderr.
func runReconcile(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseReconcile(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, strings.TrimSpace(strings.TrimPrefix(err.Error(), flag.ErrHelp.Error())))
		return exitAgree
	}
	if err != nil {
		settings.Report(stderr, "orderflow reconcile", err)
		return exitUsageOrIO
	}
	flows, err := orderclient.New(orderclient.Config{Addrs: cfg.OrderflowAddrs})
	if err != nil {
		settings.Report(stderr, "orderflow reconcile", err)
		return exitUsageOrIO
	}
	inv, err := seatclient.New(seatclient.Config{Seeds: cfg.SeatdAddrs})
	if err != nil {
		settings.Report(stderr, "orderflow reconcile", err)
		return exitUsageOrIO
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	r, err := reconcile.Run(ctx, reconcile.Config{Orders: flows, Inventory: inv, Days: cfg.Days, Settle: cfg.Settle})
	if err != nil {
		settings.Report(stderr, "orderflow reconcile", err)
		return exitUsageOrIO
	}
	if cfg.JSON {
		out := struct {
			Differences []reconcile.Difference `json:"differences"`
			Notes       []string               `json:"notes"`
			Orders      int                    `json:"orders"`
			Trades      int                    `json:"trades"`
			Refunds     int                    `json:"refunds"`
			BillLines   int                    `json:"bill_lines"`
		}{r.Differences, r.Notes, r.Orders, r.Trades, r.Refunds, r.BillLines}
		if out.Differences == nil {
			out.Differences = []reconcile.Difference{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
	} else {
		for _, n := range r.Notes {
			fmt.Fprintln(stderr, "orderflow reconcile: note: "+n)
		}
		for _, d := range r.Differences {
			fmt.Fprintln(stdout, d.String())
		}
		if len(r.Differences) == 0 {
			fmt.Fprintf(stdout, "no differences: %d orders, %d trades, %d refunds, %d bill lines\n", r.Orders, r.Trades, r.Refunds, r.BillLines)
		}
	}
	if len(r.Differences) > 0 {
		return exitDiffer
	}
	return exitAgree
}
