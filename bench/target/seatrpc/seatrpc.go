// Package seatrpc is seatbench's target over a running seatd cluster
// through its Kitex RPC and the routing client (seatclient), as the
// gateway and the order flow call it: every hold is replicated by Raft
// and synced to disk on a majority of the program group's replicas
// before it is answered.
//
// seatd never deletes a program, so Load creates the scenario's program
// under a name of its own each time (the scenario's id, "-", and 8 random
// hex digits: Target.Program), and every call maps the scenario's id to
// it: runs may follow one another on one cluster.
//
// Concurrency: a Target is safe for use from many goroutines once
// loaded; Load must not run while other calls do.
package seatrpc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"seatd/bench/audit"
	"seatd/bench/measure"
	"seatd/bench/target"
	"seatd/inventory"
	rpc "seatd/kitex_gen/inventoryrpc"
	"seatd/noderpc"
	"seatd/seatclient"
)

// Config is what a Target needs.
type Config struct {
	// Client reaches the cluster; it is its maker's to keep.
	Client *seatclient.Client
	// PIDs are the cluster's processes on this machine, if any, whose CPU
	// time counts with seatbench's (replay.Processes).
	PIDs []int
	// OnClose, if not nil, is run by Close: it stops what the target's
	// maker started for it (seatbench's in-process cluster).
	OnClose func() error
}

// Target is seatd over Kitex. Make it with New.
type Target struct {
	cfg Config

	// Set by Load, read-only after it.
	program  string         // the program as created: the scenario's id and a suffix
	legs     int            // the program's legs
	seats    []target.Seat  // in the seat map's order (the program's canonical layout)
	seatAt   map[string]int // seat id -> index in seats
	capacity map[string]int // category -> seats
	replicas int            // voters of the program's group

	mu      sync.Mutex // guards the fields below
	sold    []uint64   // per seat: the legs confirmed holds of this target sold
	twice   int        // seat-legs a confirm sold that an earlier confirm had sold
	example string     // the first of them
	unsure  int        // confirms whose answer was lost: they may have applied
}

// New returns a target over cfg.Client.
func New(cfg Config) (*Target, error) {
	if cfg.Client == nil {
		return nil, errors.New("seatrpc: no client")
	}
	return &Target{cfg: cfg}, nil
}

// Name returns "seatd-rpc".
func (t *Target) Name() string { return "seatd-rpc" }

// Persists says how many replicas the program's group has and that each
// syncs its log: seatd answers a change once a majority of them have
// its log entry on disk (raftfsm's pebble store syncs every write).
func (t *Target) Persists() string { return Persistence(t.replicas) }

// Persistence is Persists' words for a group of n replicas, shared with
// seatd's HTTP target (gatewayhttp), whose holds are the same RPCs behind
// the gateway.
func Persistence(n int) string {
	if n == 0 {
		return "seatd: the program was never loaded"
	}
	return fmt.Sprintf("seatd, %d replica(s) of the program's Raft group, each syncing its log to pebble (fsync) on every write; "+
		"a hold is answered once a majority (%d of %d) have its entry on disk", n, n/2+1, n)
}

// Program returns the name Load created the program under.
func (t *Target) Program() string { return t.program }

// FreshID returns the name a run's program is created under: id, "-"
// and 8 random hex digits, shortened to fit inventory.MaxIDLen.
func FreshID(id string) string {
	var b [4]byte
	rand.Read(b[:]) // never fails
	suffix := "-" + hex.EncodeToString(b[:])
	return id[:min(len(id), inventory.MaxIDLen-len(suffix))] + suffix
}

// Load creates the venue's program under a fresh name and opens its sale.
func (t *Target) Load(ctx context.Context, spec *inventory.ProgramSpec) error {
	s := *spec
	s.ID = FreshID(spec.ID)
	resp, err := t.cfg.Client.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: noderpc.SpecToRPC(&s)})
	if err != nil {
		return fmt.Errorf("seatrpc: create %s: %w", s.ID, err)
	}
	if err := statusError(resp.Status); err != nil {
		return fmt.Errorf("seatrpc: create %s: %w", s.ID, err)
	}
	created, _, err := inventory.ReadProgramSpec(resp.Spec)
	if err != nil {
		return fmt.Errorf("seatrpc: create %s: the answer's program: %w", s.ID, err)
	}
	sale, err := t.cfg.Client.SetSale(ctx, &rpc.SetSaleRequest{ProgramId: s.ID, Open: true})
	if err == nil {
		err = statusError(sale.Status)
	}
	if err != nil {
		return fmt.Errorf("seatrpc: open %s: %w", s.ID, err)
	}
	replicas, err := Replicas(ctx, t.cfg.Client, s.ID)
	if err != nil {
		return err
	}
	t.program, t.legs, t.replicas = s.ID, max(len(created.Stops)-1, 1), replicas
	t.seats = target.Seats(&created)
	t.seatAt = make(map[string]int, len(t.seats))
	t.capacity = map[string]int{}
	for i, st := range t.seats {
		t.seatAt[st.ID] = i
		t.capacity[st.Category]++
	}
	t.mu.Lock()
	t.sold, t.twice, t.example, t.unsure = make([]uint64, len(t.seats)), 0, "", 0
	t.mu.Unlock()
	return nil
}

// PlacementWait bounds how long Replicas waits for a node to learn a
// new program's placement: the meta group replicates it, and the node
// asked may be a follower a moment behind.
const PlacementWait = 10 * time.Second

// Replicas returns the voters of the group a program is placed on, as
// the cluster's status says, waiting up to PlacementWait for the node
// asked to know the placement.
func Replicas(ctx context.Context, c *seatclient.Client, program string) (int, error) {
	deadline := time.Now().Add(PlacementWait)
	for {
		st, err := c.ClusterStatus(ctx)
		if err != nil {
			return 0, fmt.Errorf("seatrpc: cluster status: %w", err)
		}
		for _, p := range st.Placements {
			if p.ProgramId != program {
				continue
			}
			for _, g := range st.Groups {
				if g.Group == p.Group {
					return len(g.Voters), nil
				}
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, fmt.Errorf("seatrpc: the cluster status of node %s does not place %s on a group after %v", st.NodeId, program, PlacementWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// HoldBest holds n adjacent seats of category for the whole journey.
func (t *Target) HoldBest(ctx context.Context, program, category string, buyer uint64, n int) (target.Hold, error) {
	return t.HoldBestLegs(ctx, program, category, buyer, n, 0, 0)
}

// HoldBestLegs holds n adjacent seats of category for stops [from, to)
// (to 0: the last stop).
func (t *Target) HoldBestLegs(ctx context.Context, _, category string, buyer uint64, n, from, to int) (target.Hold, error) {
	return t.hold(ctx, &rpc.HoldRequest{ProgramId: t.program, UserId: int64(buyer), Category: category, Count: int32(n), Together: true,
		FromLeg: int32(from), ToLeg: int32(to)})
}

// HoldNamed holds the named seats for the whole journey if they cost at
// most expectedCents.
func (t *Target) HoldNamed(ctx context.Context, program string, buyer uint64, seatIDs []string, expectedCents int64) (target.Hold, error) {
	return t.HoldNamedLegs(ctx, program, buyer, seatIDs, expectedCents, 0, 0)
}

// HoldNamedLegs holds the named seats for stops [from, to) (to 0: the
// last stop) if they cost at most expectedCents.
func (t *Target) HoldNamedLegs(ctx context.Context, _ string, buyer uint64, seatIDs []string, expectedCents int64, from, to int) (target.Hold, error) {
	return t.hold(ctx, &rpc.HoldRequest{ProgramId: t.program, UserId: int64(buyer), SeatIds: seatIDs, ExpectedTotalCents: &expectedCents,
		FromLeg: int32(from), ToLeg: int32(to)})
}

// hold places a hold. Hold.ID is seatd's hold id and the buyer,
// "hold_id@buyer", as Release gives it back as that buyer.
func (t *Target) hold(ctx context.Context, req *rpc.HoldRequest) (target.Hold, error) {
	resp, err := t.cfg.Client.PlaceHold(ctx, req)
	if err != nil {
		return target.Hold{}, fmt.Errorf("seatrpc: hold: %w", err)
	}
	if err := statusError(resp.Status); err != nil {
		return target.Hold{}, err
	}
	rh := resp.Hold
	h := target.Hold{ID: strconv.FormatInt(rh.HoldId, 10) + "@" + strconv.FormatInt(req.UserId, 10), TotalCents: rh.TotalCents,
		Seats: make([]string, len(rh.Seats)), Prices: make([]target.SeatPrice, len(rh.Seats))}
	for i, s := range rh.Seats {
		h.Seats[i] = s.Id
		h.Prices[i] = target.SeatPrice{Category: s.Category, PriceCents: s.PriceCents}
	}
	return h, nil
}

// Confirm marks a hold's seats sold, as the order flow does once the
// hold is paid, and notes them for Check.
func (t *Target) Confirm(ctx context.Context, _ string, h target.Hold) error {
	id, _, err := holdID(h)
	if err != nil {
		return err
	}
	resp, err := t.cfg.Client.Confirm(ctx, &rpc.ConfirmRequest{HoldId: id})
	if err != nil {
		t.mu.Lock()
		t.unsure++
		t.mu.Unlock()
		return fmt.Errorf("seatrpc: confirm: %w", err)
	}
	if err := statusError(resp.Status); err != nil {
		return err
	}
	t.noteSold(resp.Hold)
	return nil
}

// noteSold notes a confirmed hold's seats on its legs, and any seat-leg
// an earlier confirm had sold.
func (t *Target) noteSold(h *rpc.Hold) {
	from, to := int(h.FromLeg), int(h.ToLeg)
	if to == 0 {
		to = t.legs
	}
	mask := (uint64(1)<<(to-from) - 1) << from // a shift by 64 is 0: 64 legs are every bit
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range h.Seats {
		i, ok := t.seatAt[s.Id]
		if !ok {
			t.twice++ // a seat the program does not have: as wrong
			t.example = fmt.Sprintf("hold %d confirmed seat %s, which the program does not have", h.HoldId, s.Id)
			continue
		}
		if t.sold[i]&mask != 0 {
			t.twice++
			if t.example == "" {
				t.example = fmt.Sprintf("hold %d confirmed seat %s on legs %d-%d, already sold", h.HoldId, s.Id, from, to)
			}
		}
		t.sold[i] |= mask
	}
}

// Release gives a hold back as its buyer.
func (t *Target) Release(ctx context.Context, _ string, h target.Hold) error {
	id, buyer, err := holdID(h)
	if err != nil {
		return err
	}
	resp, err := t.cfg.Client.Release(ctx, &rpc.ReleaseRequest{HoldId: id, UserId: buyer, Reason: "cancelled"})
	if err != nil {
		return fmt.Errorf("seatrpc: release: %w", err)
	}
	return statusError(resp.Status)
}

// ExpiresHolds reports that seatd lapses unpaid holds itself: each
// group's leader proposes a tick every second that expires them.
func (t *Target) ExpiresHolds() bool { return true }

// SeatMap reads the program's seat map for stops [from, to) from a
// replica, as the gateway's seat map does, and counts the free seats of
// category.
func (t *Target) SeatMap(ctx context.Context, _, category string, from, to int) (int, error) {
	if _, ok := t.capacity[category]; !ok {
		return 0, fmt.Errorf("seatrpc: seat map: no category %q", category)
	}
	st, err := t.seatMap(ctx, from, to, false)
	if err != nil {
		return 0, err
	}
	free := 0
	for i, v := range st {
		if v == byte(inventory.SeatFree) && t.seats[i].Category == category {
			free++
		}
	}
	return free, nil
}

func (t *Target) seatMap(ctx context.Context, from, to int, consistent bool) ([]byte, error) {
	resp, err := t.cfg.Client.SeatMap(ctx, &rpc.SeatMapRequest{ProgramId: t.program, FromLeg: int32(from), ToLeg: int32(to), Consistent: consistent})
	if err != nil {
		return nil, fmt.Errorf("seatrpc: seat map: %w", err)
	}
	if err := statusError(resp.Status); err != nil {
		return nil, err
	}
	if len(resp.Statuses) != len(t.seats) {
		return nil, fmt.Errorf("seatrpc: seat map of %d seats; the program has %d", len(resp.Statuses), len(t.seats))
	}
	return resp.Statuses, nil
}

// Check checks, leg by leg, what the RPCs show against what this
// target's confirms were answered, read through the leaders
// (consistent):
//   - no confirm answered ok sold a seat-leg another had sold;
//   - each category's free + held + sold + blocked is its capacity
//     (Availability);
//   - every seat-leg a confirm sold is sold in the seat map, and the
//     seat map's sold seats are exactly those (at least those when a
//     confirm's answer was lost, as it may have applied).
//
// seatd's own whole-state check (inventory.Engine.Check: no seat in two
// live holds, held seats in exactly one hold) runs inside the replicas
// in its tests; over the RPC the seat map is what can be seen.
func (t *Target) Check(ctx context.Context) error {
	if t.program == "" {
		return errors.New("seatrpc: no program loaded")
	}
	t.mu.Lock()
	twice, example, unsure, sold := t.twice, t.example, t.unsure, t.sold
	t.mu.Unlock()
	var errs []error
	if twice > 0 {
		errs = append(errs, fmt.Errorf("%d seat-legs were sold by two confirms, first: %s", twice, example))
	}
	for leg := range t.legs {
		av, err := t.cfg.Client.Availability(ctx, &rpc.AvailabilityRequest{ProgramId: t.program, FromLeg: int32(leg), ToLeg: int32(leg + 1),
			Consistent: true})
		if err == nil {
			err = statusError(av.Status)
		}
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("seatrpc: availability of leg %d: %w", leg, err))...)
		}
		for _, c := range av.Categories {
			if sum := c.Free + c.Held + c.Sold + c.Blocked; sum != c.Capacity || int(c.Capacity) != t.capacity[c.Id] {
				errs = append(errs, fmt.Errorf("leg %d, category %s: free %d + held %d + sold %d + blocked %d = %d; capacity %d, the layout has %d",
					leg, c.Id, c.Free, c.Held, c.Sold, c.Blocked, sum, c.Capacity, t.capacity[c.Id]))
			}
		}
		st, err := t.seatMap(ctx, leg, leg+1, true)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		var notSold, extra int
		var first string
		for i, v := range st {
			confirmed := sold[i]&(1<<leg) != 0
			switch {
			case confirmed && v != byte(inventory.SeatSold):
				notSold++
				if first == "" {
					first = fmt.Sprintf("seat %s was confirmed but is %d", t.seats[i].ID, v)
				}
			case !confirmed && v == byte(inventory.SeatSold):
				extra++
			}
		}
		if notSold > 0 {
			errs = append(errs, fmt.Errorf("leg %d: %d confirmed seats are not sold in the seat map (%s)", leg, notSold, first))
		}
		if extra > 0 && unsure == 0 {
			errs = append(errs, fmt.Errorf("leg %d: %d seats are sold that no confirm answered ok", leg, extra))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("seatrpc: %w", errors.Join(errs...))
	}
	return nil
}

// PIDs are the cluster's processes on this machine, as configured.
func (t *Target) PIDs() []int { return t.cfg.PIDs }

// Close runs Config.OnClose, if any; the client is its maker's.
func (t *Target) Close() error {
	if t.cfg.OnClose == nil {
		return nil
	}
	return t.cfg.OnClose()
}

// statusError turns a Status that is not a success into an error: an
// engine result as target.Refusal says, a route as its name and detail.
func statusError(st *rpc.Status) error {
	if st == nil {
		return errors.New("seatrpc: an answer with no status")
	}
	if st.Route != rpc.Route_OK {
		return fmt.Errorf("seatrpc: %s: %s", st.Route, st.Detail)
	}
	err := target.Refusal(inventory.Result(st.Code))
	if err != nil && measure.Classify(err) == measure.CodeOther {
		return fmt.Errorf("seatrpc: %w: %s", err, st.Detail)
	}
	return err
}

// holdID splits a Hold.ID of this target ("hold_id@buyer").
func holdID(h target.Hold) (id, buyer int64, err error) {
	i, b, ok := strings.Cut(h.ID, "@")
	id, err1 := strconv.ParseInt(i, 10, 64)
	buyer, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("seatrpc: hold id %q is not one of this target's (hold_id@buyer): %w", h.ID, target.ErrUnknownHold)
	}
	return id, buyer, nil
}

// AuditState shows the audit seatd's state of the run's program, read
// through each group's leader (audit.ReadSeatd): its seat map and
// counters leg by leg, and the holds the harness was granted.
// This target's hold ids are seatd's with "@buyer" after them; seatd
// is asked by its own, and the answers come back under this target's.
func (t *Target) AuditState(ctx context.Context, q audit.Query) (audit.State, error) {
	st, _, err := audit.ReadSeatdAs(ctx, t.cfg.Client, q, t.program)
	return st, err
}
