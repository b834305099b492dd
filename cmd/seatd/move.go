package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"seatd/internal/settings"
	"seatd/inventory"
	rpc "seatd/kitex_gen/inventoryrpc"
	"seatd/seatclient"
)

// moveConfig is the configuration of `seatd move`.
type moveConfig struct {
	Seeds      []string // cluster members' RPC addresses
	Program    string
	Group      int // the target; 0 with Abort
	Abort      bool
	Timeout    time.Duration
	OutboxWait time.Duration
}

// parseMove reads `seatd move`'s settings (flags, then SEATD_MOVE_*
// environment variables, then a -config file), reporting every problem at
// once.
func parseMove(args []string, getenv func(string) string) (moveConfig, error) {
	var cfg moveConfig
	fs := flag.NewFlagSet("seatd move", flag.ContinueOnError)
	var rpcAddrs string
	fs.StringVar(&rpcAddrs, "rpc", "127.0.0.1:7100", "RPC addresses of cluster members: host:port,...")
	fs.StringVar(&cfg.Program, "program", "", "the id of the program to move (required)")
	fs.IntVar(&cfg.Group, "group", 0, "the group to move it to, 1..groups (required, unless -abort)")
	fs.BoolVar(&cfg.Abort, "abort", false, "undo a move that stopped before its export (once exported, finish it)")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Minute, "give up after this long; the move can be run again")
	fs.DurationVar(&cfg.OutboxWait, "outbox-wait", time.Minute,
		"how long to wait for the source group's relay to publish its events up to the freeze; 0 skips the wait (a cluster without -kafka-brokers)")
	var errs []error
	if err := settings.Parse(fs, args, "SEATD_MOVE", getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		errs = append(errs, err)
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	for _, a := range strings.Split(rpcAddrs, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("-rpc: %q, want host:port", a))
		}
		cfg.Seeds = append(cfg.Seeds, a)
	}
	if len(cfg.Seeds) == 0 {
		errs = append(errs, errors.New("-rpc: no address, want host:port,..."))
	}
	if cfg.Program == "" || len(cfg.Program) > inventory.MaxIDLen {
		errs = append(errs, fmt.Errorf("-program: %q, want a program id of 1-%d bytes", cfg.Program, inventory.MaxIDLen))
	}
	switch {
	case cfg.Abort && cfg.Group != 0:
		errs = append(errs, errors.New("-group: not with -abort (the group a program is frozen for is known)"))
	case !cfg.Abort && cfg.Group == 0:
		errs = append(errs, errors.New("-group: required: the group to move the program to (seatd leaders lists them)"))
	case !cfg.Abort && (cfg.Group < 1 || cfg.Group > inventory.MaxGroup):
		errs = append(errs, fmt.Errorf("-group: %d, want a group of the cluster (seatd leaders lists them)", cfg.Group))
	}
	if cfg.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("-timeout: %v, want more than 0", cfg.Timeout))
	}
	if cfg.OutboxWait < 0 {
		errs = append(errs, fmt.Errorf("-outbox-wait: %v, want 0 or more", cfg.OutboxWait))
	}
	return cfg, errors.Join(errs...)
}

// move moves a program to another group while it is on sale, or undoes a
// move that stopped before its export (-abort). See
// docs/move-program.md.
func move(args []string) error {
	cfg, err := parseMove(args, os.Getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	c, err := seatclient.New(seatclient.Config{Seeds: cfg.Seeds})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	m := &mover{c: c, program: cfg.Program, target: int32(cfg.Group), outboxWait: cfg.OutboxWait, out: os.Stdout}
	if cfg.Abort {
		return m.abort(ctx)
	}
	return m.run(ctx)
}

// mover runs the steps of a program move (rpc.MoveStep), each idempotent:
// it first finds where the move stands, from every group's STATUS, and
// goes on from there, so a mover that stopped anywhere is run again.
type mover struct {
	c          *seatclient.Client
	program    string
	target     int32
	outboxWait time.Duration
	out        io.Writer
}

// step runs one step and fails unless it answered ok.
func (m *mover) step(ctx context.Context, req *rpc.MoveRequest) (*rpc.MoveResponse, error) {
	req.ProgramId = m.program
	r, err := m.c.Move(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("move %s: %v in group %d: %w", m.program, req.Step, req.Group, err)
	}
	if st := r.Status; st.Route != rpc.Route_OK || st.Code != 0 {
		return r, fmt.Errorf("move %s: %v in group %d: route %v, %s: %s", m.program, req.Step, req.Group, st.Route, st.CodeName, st.Detail)
	}
	return r, nil
}

// where returns each group's STATUS of the program (index = group) and
// the number of groups.
func (m *mover) where(ctx context.Context) ([]*rpc.MoveResponse, error) {
	cs, err := m.c.ClusterStatus(ctx)
	if err != nil {
		return nil, err
	}
	groups := int32(len(cs.Groups)) - 1
	if m.target > groups {
		return nil, fmt.Errorf("move: -group %d, the cluster has groups 1-%d", m.target, groups)
	}
	sts := make([]*rpc.MoveResponse, groups+1)
	for g := int32(1); g <= groups; g++ {
		if sts[g], err = m.step(ctx, &rpc.MoveRequest{Step: rpc.MoveStep_STATUS, Group: g}); err != nil {
			return nil, err
		}
	}
	return sts, nil
}

// source returns the group the program moves from: the one where it is on
// sale (not the target), or frozen, exported or moved for the target; 0
// if none.
func (m *mover) source(sts []*rpc.MoveResponse) int32 {
	for g, st := range sts {
		if st == nil || !st.Exists || int32(g) == m.target {
			continue
		}
		if st.State == "" || (st.State == "frozen" || st.State == "exported" || st.State == "moved") && st.OtherGroup == m.target {
			return int32(g)
		}
	}
	return 0
}

// imported reports whether in, the target's STATUS, is the copy this
// move from group from (STATUS src) imported: incoming from it, or on
// sale after its activation while the source is not (frozen, exported or
// moved for the target). Any other copy is the program's past there, a
// forward record left by an earlier move away from that group, which can
// neither import nor activate the program again.
func imported(in, src *rpc.MoveResponse, from int32) bool {
	switch {
	case !in.Exists:
		return false
	case in.State == "incoming":
		return in.OtherGroup == from
	}
	return in.State == "" && src.State != ""
}

func (m *mover) run(ctx context.Context) error {
	sts, err := m.where(ctx)
	if err != nil {
		return err
	}
	src := m.source(sts)
	if src == 0 {
		if st := sts[m.target]; st.Exists && st.State == "" {
			fmt.Fprintf(m.out, "program %s is on group %d\n", m.program, m.target)
			return nil
		}
		return fmt.Errorf("move: program %s is on no group it can move from", m.program)
	}
	in := sts[m.target]
	if in.Exists && !imported(in, sts[src], src) {
		return fmt.Errorf("move: program %s once lived in group %d (%q there, other group %d): a move back to a group it left is not supported",
			m.program, m.target, in.State, in.OtherGroup)
	}
	if sts[src].State == "moved" && in.Exists && in.State == "" {
		// COMPLETE, the last step, has run (after REPLACE): nothing is left.
		fmt.Fprintf(m.out, "program %s moved to group %d already; group %d forwards its old hold ids\n", m.program, m.target, src)
		return nil
	}
	if sts[src].State == "" && (!in.Exists || in.State == "incoming") {
		// The relay must be publishing before the program stops selling:
		// a cluster without Kafka, or with Kafka out of reach, would
		// otherwise keep it frozen for the whole wait below.
		if err := m.awaitOutbox(ctx, src, false); err != nil {
			return err
		}
	}
	fmt.Fprintf(m.out, "moving program %s from group %d to group %d\n", m.program, src, m.target)
	if _, err := m.step(ctx, &rpc.MoveRequest{Step: rpc.MoveStep_FREEZE, Group: src, TargetGroup: m.target}); err != nil {
		return err
	}
	fmt.Fprintf(m.out, "frozen in group %d\n", src)
	if !in.Exists || in.State == "incoming" {
		// The target must not emit events for the program before the
		// source's relay has published every one it made: an order's
		// events would reach Kafka out of order.
		if err := m.awaitOutbox(ctx, src, true); err != nil {
			return err
		}
	}
	if st := sts[src].State; !in.Exists || st == "" || st == "frozen" {
		// The export is marked in the source's log before the parcel is
		// read: an abort applied before it refuses the export, one after
		// it is refused, so no parcel is imported from a source put back
		// on sale. A source frozen by a mover of before the mark, whose
		// target has imported, is marked here so that it completes.
		r, err := m.step(ctx, &rpc.MoveRequest{Step: rpc.MoveStep_EXPORT, Group: src, TargetGroup: m.target})
		if err != nil {
			return err
		}
		if !in.Exists {
			if _, err := m.step(ctx, &rpc.MoveRequest{Step: rpc.MoveStep_IMPORT, Group: m.target, Parcel: r.Parcel}); err != nil {
				return err
			}
			fmt.Fprintf(m.out, "imported in group %d (%d bytes)\n", m.target, len(r.Parcel))
		}
	}
	for _, s := range []*rpc.MoveRequest{
		{Step: rpc.MoveStep_ACTIVATE, Group: m.target},
		{Step: rpc.MoveStep_REPLACE, Group: src, TargetGroup: m.target},
		{Step: rpc.MoveStep_COMPLETE, Group: src},
	} {
		if _, err := m.step(ctx, s); err != nil {
			return err
		}
	}
	fmt.Fprintf(m.out, "program %s moved to group %d; group %d forwards its old hold ids\n", m.program, m.target, src)
	return nil
}

// awaitOutbox waits until the source group's relay has published every
// event made up to now, for at most outboxWait: once before the freeze,
// while the program still sells, to find a relay that publishes nothing
// (frozen false: nothing has changed yet), and after it, when the freeze
// has stopped the program's events there.
func (m *mover) awaitOutbox(ctx context.Context, src int32, frozen bool) error {
	if m.outboxWait == 0 {
		return nil
	}
	st, err := m.step(ctx, &rpc.MoveRequest{Step: rpc.MoveStep_STATUS, Group: src})
	if err != nil {
		return err
	}
	upTo := st.OutboxSeq
	deadline := time.Now().Add(m.outboxWait)
	for st.OutboxAcked < upTo {
		if time.Now().After(deadline) {
			if !frozen {
				return fmt.Errorf("move: group %d's relay published events up to %d of %d within -outbox-wait %v, so nothing was frozen: is Kafka reachable? "+
					"(a cluster without -kafka-brokers publishes none: move with -outbox-wait 0)", src, st.OutboxAcked, upTo, m.outboxWait)
			}
			return fmt.Errorf("move: group %d's relay published events up to %d of %d within -outbox-wait %v: is Kafka reachable? Run the move again (it resumes), or -abort",
				src, st.OutboxAcked, upTo, m.outboxWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if st, err = m.step(ctx, &rpc.MoveRequest{Step: rpc.MoveStep_STATUS, Group: src}); err != nil {
			return err
		}
	}
	return nil
}

// abort undoes a freeze that has not been exported. The source's engine
// decides (an export marked after the STATUS read makes ABORT refuse);
// the checks here name the way out.
func (m *mover) abort(ctx context.Context) error {
	sts, err := m.where(ctx)
	if err != nil {
		return err
	}
	for g, st := range sts {
		if st == nil || !st.Exists || st.State != "frozen" && st.State != "exported" {
			continue
		}
		exported := fmt.Errorf("move: program %s is exported to group %d: finish the move with -group %d", m.program, st.OtherGroup, st.OtherGroup)
		if in := sts[st.OtherGroup]; st.State == "exported" || in != nil && imported(in, st, int32(g)) {
			return exported
		}
		if r, err := m.step(ctx, &rpc.MoveRequest{Step: rpc.MoveStep_ABORT, Group: int32(g)}); err != nil {
			if r != nil && r.Status.Code == int32(inventory.ResultProgramMoving) {
				return exported
			}
			return err
		}
		fmt.Fprintf(m.out, "program %s is on sale in group %d again\n", m.program, g)
		return nil
	}
	return fmt.Errorf("move: program %s is not frozen in any group", m.program)
}
