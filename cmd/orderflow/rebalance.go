package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"seatd/internal/settings"
	"seatd/orderflow"
)

// rebalanceConfig is the configuration of `orderflow rebalance-plan`.
type rebalanceConfig struct {
	Partitions int
	From, To   int
	DataDirs   []string // one per instance ordinal, max(From, To) of them; none: print the plan only
	Apply      bool
}

func parseRebalance(args []string, getenv func(string) string) (rebalanceConfig, error) {
	var cfg rebalanceConfig
	fs := flag.NewFlagSet("orderflow rebalance-plan", flag.ContinueOnError)
	var dirs string
	fs.IntVar(&cfg.Partitions, "partitions", orderflow.DefaultPartitions, "partitions of the topics (the instances' -partitions)")
	fs.IntVar(&cfg.From, "from", 0, "the instance count now (required)")
	fs.IntVar(&cfg.To, "to", 0, "the instance count to run with (required)")
	fs.StringVar(&dirs, "data", "", "the instances' data directories on this machine, in instance order, one per instance of the larger count: print the moves as mv commands")
	fs.BoolVar(&cfg.Apply, "apply", false, "with -data: make the moves (every instance stopped: a store in use is refused)")
	var errs []error
	if err := settings.Parse(fs, args, "ORDERFLOW_REBALANCE", getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		errs = append(errs, err)
	}
	if _, err := orderflow.Moves(cfg.Partitions, cfg.From, cfg.To); err != nil {
		errs = append(errs, fmt.Errorf("-partitions %d -from %d -to %d: %w", cfg.Partitions, cfg.From, cfg.To, err))
	}
	cfg.DataDirs = settings.List(dirs)
	if n := max(cfg.From, cfg.To); len(cfg.DataDirs) > 0 && len(cfg.DataDirs) != n {
		errs = append(errs, fmt.Errorf("-data: %d directories; want %d, one per instance in instance order", len(cfg.DataDirs), n))
	}
	if cfg.Apply && len(cfg.DataDirs) == 0 {
		errs = append(errs, errors.New("-apply: needs -data"))
	}
	return cfg, errors.Join(errs...)
}

// runRebalancePlan runs `orderflow rebalance-plan args`: it prints, for a
// change of the instance count, each partition whose stores change
// instance ("partition 2: instance 0 -> instance 2"). With -data it
// prints the moves as mv commands of the stores that exist (the order
// store partition-NN and the pay store pay/pay-NN), refusing a move
// whose source is missing while its target is missing too, or whose
// target exists; with -apply it makes them (renames: the directories
// share a file system), after checking that no store is open.
func runRebalancePlan(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseRebalance(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, strings.TrimSpace(strings.TrimPrefix(err.Error(), flag.ErrHelp.Error())))
		return exitDone
	}
	if err == nil {
		err = rebalance(cfg, stdout)
	}
	if err != nil {
		settings.Report(stderr, "orderflow rebalance-plan", err)
		return exitFailed
	}
	return exitDone
}

// storeMove is one directory to move.
type storeMove struct{ from, to string }

func rebalance(cfg rebalanceConfig, stdout io.Writer) error {
	moves, _ := orderflow.Moves(cfg.Partitions, cfg.From, cfg.To) // checked by parseRebalance
	if len(moves) == 0 {
		fmt.Fprintf(stdout, "nothing moves: every partition of %d keeps its instance from %d to %d instances\n", cfg.Partitions, cfg.From, cfg.To)
		return nil
	}
	if len(cfg.DataDirs) == 0 {
		for _, m := range moves {
			fmt.Fprintf(stdout, "partition %d: instance %d -> instance %d (partition-%02d, pay/pay-%02d)\n", m.Partition, m.From, m.To, m.Partition, m.Partition)
		}
		return nil
	}
	var todo []storeMove
	var problems []string
	for _, m := range moves {
		for i, sub := range []string{fmt.Sprintf("partition-%02d", m.Partition), filepath.Join("pay", fmt.Sprintf("pay-%02d", m.Partition))} {
			mv := storeMove{filepath.Join(cfg.DataDirs[m.From], sub), filepath.Join(cfg.DataDirs[m.To], sub)}
			_, errFrom := os.Stat(mv.from)
			_, errTo := os.Stat(mv.to)
			switch {
			case errFrom == nil && errTo == nil:
				problems = append(problems, fmt.Sprintf("partition %d: both %s and %s exist", m.Partition, mv.from, mv.to))
			case errFrom == nil:
				if busy, err := orderflow.InUse(mv.from); err != nil {
					problems = append(problems, fmt.Sprintf("partition %d: %s: %v", m.Partition, mv.from, err))
				} else if busy {
					problems = append(problems, fmt.Sprintf("partition %d: %s is open in a running orderflow (stop every instance first)", m.Partition, mv.from))
				}
				todo = append(todo, mv)
			case errTo == nil:
				// Already moved.
			case i == 0:
				problems = append(problems, fmt.Sprintf("partition %d: no store at %s (nor at %s)", m.Partition, mv.from, mv.to))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", errRebalance, strings.Join(problems, "; "))
	}
	if len(todo) == 0 {
		fmt.Fprintf(stdout, "nothing to move: every store is at its owner under %d instances\n", cfg.To)
	}
	for _, mv := range todo {
		if !cfg.Apply {
			fmt.Fprintf(stdout, "mkdir -p %s && mv %s %s\n", filepath.Dir(mv.to), mv.from, mv.to)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(mv.to), 0o755); err != nil {
			return err
		}
		if err := os.Rename(mv.from, mv.to); err != nil {
			return fmt.Errorf("%w: %w (on another file system: orderflow backup and restore move it)", errRebalance, err)
		}
		fmt.Fprintf(stdout, "moved %s to %s\n", mv.from, mv.to)
	}
	return nil
}

// errRebalance is a move that cannot be made as planned.
var errRebalance = errors.New("REBALANCE_REFUSED")
