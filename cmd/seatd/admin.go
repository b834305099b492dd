package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cloudwego/kitex/pkg/klog"

	"seatd/seatclient"
)

// usageError is a command line the admin commands cannot run: exit
// status 2, where a refusal or an unreachable cluster is 1.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// adminCommand is an admin subcommand's flags: -rpc, the members to ask,
// -timeout, and any others its flag set declares.
type adminCommand struct {
	fs      *flag.FlagSet
	rpc     *string
	timeout *time.Duration
}

// newAdmin declares the common flags of an admin subcommand and its
// usage: synopsis, then what it does.
func newAdmin(name, synopsis, about string, timeout time.Duration) *adminCommand {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	a := &adminCommand{fs: fs,
		rpc:     fs.String("rpc", "127.0.0.1:7100", "RPC addresses of cluster members: addr,addr,... (one that answers is enough)"),
		timeout: fs.Duration("timeout", timeout, "how long to keep trying before giving up"),
	}
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "usage: seatd %s %s\n\n%s\n\nflags:\n", name, synopsis, about)
		fs.PrintDefaults()
	}
	return a
}

// parse parses args and returns a client of the members in -rpc and a
// context bounded by -timeout.
func (a *adminCommand) parse(args []string) (*seatclient.Client, context.Context, context.CancelFunc, error) {
	if err := a.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, nil, err
		}
		return nil, nil, nil, usageError{fmt.Errorf("%s: %w", a.fs.Name(), err)}
	}
	if a.fs.NArg() > 0 {
		return nil, nil, nil, usageError{fmt.Errorf("%s: unexpected arguments %q", a.fs.Name(), a.fs.Args())}
	}
	if *a.timeout <= 0 {
		return nil, nil, nil, usageError{fmt.Errorf("%s: -timeout %v: want a positive duration", a.fs.Name(), *a.timeout)}
	}
	// Kitex logs each failed dial; the command reports what failed itself.
	klog.SetOutput(io.Discard)
	seeds := strings.Split(*a.rpc, ",")
	c, err := seatclient.New(seatclient.Config{Seeds: seeds, MaxBackoff: time.Second, RetryTimeout: *a.timeout})
	if err != nil {
		return nil, nil, nil, usageError{fmt.Errorf("%s: %w", a.fs.Name(), err)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *a.timeout)
	return c, ctx, cancel, nil
}

// nodeFlag declares -node, required.
func (a *adminCommand) nodeFlag() func() (string, error) {
	id := a.fs.String("node", "", "the node's id (required)")
	return func() (string, error) {
		if *id == "" {
			return "", usageError{fmt.Errorf("%s: -node is required", a.fs.Name())}
		}
		return *id, nil
	}
}

// status prints the cluster status of the first member that answers.
func status(args []string) error {
	a := newAdmin("status", "[-rpc ADDR,...]", "Print the first answering node's view of the cluster as JSON.", 10*time.Second)
	c, ctx, cancel, err := a.parse(args)
	if err != nil {
		return err
	}
	defer cancel()
	st, err := c.ClusterStatus(ctx)
	if err != nil {
		return fmt.Errorf("status: cannot reach any node of %s: %w", *a.rpc, err)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(st)
}

// leaders prints who leads each group and how many groups each node leads.
func leaders(args []string) error {
	a := newAdmin("leaders", "[-rpc ADDR,...]",
		"Print which node leads which group (the newest term any node reports),\nand how many groups each voter leads against its share.", 10*time.Second)
	c, ctx, cancel, err := a.parse(args)
	if err != nil {
		return err
	}
	defer cancel()
	l, err := c.Leaders(ctx)
	if err != nil {
		return fmt.Errorf("leaders: %w", err)
	}
	printLeaders(os.Stdout, l)
	return nil
}

// printLeaders writes the two tables of `seatd leaders`: group, leader,
// term; then node, groups led, share, drained.
func printLeaders(w io.Writer, l *seatclient.Leadership) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tLEADER\tTERM")
	for _, g := range l.Groups {
		leader := g.Leader
		if leader == "" {
			leader = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\n", g.Group, leader, g.Term)
	}
	tw.Flush()
	fmt.Fprintln(w)
	led := l.Led()
	fmt.Fprintln(tw, "NODE\tLEADS\tSHARE\tDRAINED")
	for _, id := range l.Voters {
		share, drained := l.Share(), "no"
		for _, d := range l.Drained {
			if d == id {
				share, drained = 0, "yes"
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", id, led[id], share, drained)
	}
	tw.Flush()
}

// printMoves writes one line per leadership moved, and, when none moved
// and the command did not fail (err), says so: a refused command prints
// only the moves it made before, on stdout, and its error on stderr.
func printMoves(w io.Writer, moves []seatclient.Move, err error) {
	if len(moves) == 0 && err == nil {
		fmt.Fprintln(w, "no group moved")
	}
	for _, m := range moves {
		fmt.Fprintf(w, "group %d: %s -> %s\n", m.Group, m.From, m.To)
	}
}

// rebalance moves leaderships until every undrained voter leads at most
// its share and no drained node leads any.
func rebalance(args []string) error {
	a := newAdmin("rebalance", "[-rpc ADDR,...] [-timeout D]",
		"Spread the group leaders now: no drained node leads a group, and no other\nvoter leads more than ceil(groups / undrained voters). Prints each move,\nthen the leaders.", time.Minute)
	c, ctx, cancel, err := a.parse(args)
	if err != nil {
		return err
	}
	defer cancel()
	moves, err := c.Rebalance(ctx)
	printMoves(os.Stdout, moves, err)
	if err != nil {
		return fmt.Errorf("rebalance: %w", err)
	}
	return printLeadersNow(ctx, c)
}

func printLeadersNow(ctx context.Context, c *seatclient.Client) error {
	l, err := c.Leaders(ctx)
	if err != nil {
		return err
	}
	fmt.Println()
	printLeaders(os.Stdout, l)
	return nil
}

// drain marks a node drained (or undrained) and rebalances.
func drain(args []string, on bool) error {
	name, about := "drain", "Mark a node drained: it hands every group it leads to other voters now,\nand no node's balancer gives it one until `seatd undrain`. The mark is\nreplicated: it outlasts restarts. /readyz of a drained node answers 503\n\"drained\". Prints each move, then the leaders."
	if !on {
		name, about = "undrain", "Clear a node's drain mark and give it its share of the group leaders\nnow. Prints each move, then the leaders."
	}
	a := newAdmin(name, "[-rpc ADDR,...] -node ID [-timeout D]", about, time.Minute)
	node := a.nodeFlag()
	c, ctx, cancel, err := a.parse(args)
	if err != nil {
		return err
	}
	defer cancel()
	id, err := node()
	if err != nil {
		return err
	}
	var moves []seatclient.Move
	if on {
		moves, err = c.Drain(ctx, id)
	} else {
		moves, err = c.Undrain(ctx, id)
	}
	printMoves(os.Stdout, moves, err)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return printLeadersNow(ctx, c)
}

// remove takes a node out of every group and the directory.
func remove(args []string) error {
	a := newAdmin("remove", "[-rpc ADDR,...] -node ID [-timeout D]",
		"Take a node out of every group and out of the node directory. The node\nmay be dead. Refused for a node that is not a member, and for a group's\nlast voter.", time.Minute)
	node := a.nodeFlag()
	c, ctx, cancel, err := a.parse(args)
	if err != nil {
		return err
	}
	defer cancel()
	id, err := node()
	if err != nil {
		return err
	}
	if err := c.Remove(ctx, id); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	fmt.Printf("%s removed\n", id)
	return nil
}
