// Package noderpc serves an inventory node (raftfsm.Node) over Kitex. Its
// handlers are thin: bind the generated request, convert it to a domain
// command or query, run it on the node, map the outcome to the response's
// Status. Generated types stop here.
//
// Concurrency: Kitex calls the handlers from many goroutines; the node is
// safe for concurrent use, and a Server keeps no state of its own.
package noderpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"seatd/inventory"
	rpc "seatd/kitex_gen/inventoryrpc"
	"seatd/raftfsm"
)

// Server implements the generated Inventory service over a node.
type Server struct {
	node *raftfsm.Node
	cfg  Config
}

var _ rpc.Inventory = (*Server)(nil)

// Config holds the defaults the server fills into requests before they
// reach the log. They live here, at the edge, and not in the engine: a
// default inside Apply would make replicas with different settings
// diverge, while a filled-in request is the same command everywhere.
type Config struct {
	// DefaultHoldTTL is the hold TTL of a program created without one.
	// Zero leaves it to the engine (inventory.DefaultHoldTTL).
	DefaultHoldTTL time.Duration
}

// Validate reports a default out of the engine's range.
func (c Config) Validate() error {
	if c.DefaultHoldTTL != 0 && (c.DefaultHoldTTL < inventory.MinHoldTTL || c.DefaultHoldTTL > inventory.MaxHoldTTL) {
		return fmt.Errorf("noderpc: default hold TTL %v, want %v-%v", c.DefaultHoldTTL, inventory.MinHoldTTL, inventory.MaxHoldTTL)
	}
	return nil
}

// New returns a Server for node.
func New(node *raftfsm.Node, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Server{node: node, cfg: cfg}, nil
}

// fieldNames are the engine's fields as this RPC names them.
var fieldNames = map[inventory.Field]string{
	inventory.FieldUser: "user_id", inventory.FieldFrom: "from_leg", inventory.FieldTo: "to_leg", inventory.FieldCount: "count",
	inventory.FieldSeats: "seat_ids", inventory.FieldHolders: "holders", inventory.FieldHolderName: "holders.name",
	inventory.FieldHolderIDNumber: "holders.id_number", inventory.FieldHolderIDType: "holders.id_type",
	inventory.FieldExpectedTotal: "expected_total_cents", inventory.FieldCategory: "category", inventory.FieldReason: "reason",
	inventory.FieldPrefer: "seat_preference",
}

// setFault puts a refusal's machine-readable part on a status.
func setFault(st *rpc.Status, f inventory.Fault) {
	if f.Field == inventory.FieldNone {
		return
	}
	st.Field = fieldNames[f.Field]
	if f.Index >= 0 {
		st.Index = thrift32(int32(f.Index))
	}
	if f.Limit != 0 {
		st.Limit = &f.Limit
	}
	if f.Actual != 0 || f.Field == inventory.FieldExpectedTotal {
		st.Actual = &f.Actual
	}
}

func thrift32(v int32) *int32 { return &v }

// status maps a call's outcome or adapter error to the RPC Status.
func status(group uint16, o raftfsm.Outcome, err error) *rpc.Status {
	st := &rpc.Status{Group: int32(group)}
	var nle *raftfsm.NotLeaderError
	switch {
	case err == nil:
		st.Route = rpc.Route_OK
		st.Code, st.CodeName, st.Detail = int32(o.Result), o.Result.String(), o.Detail
		st.AppliedIndex = int64(o.Index)
		if o.Result != inventory.ResultOK {
			setFault(st, o.Fault)
		}
	case errors.As(err, &nle):
		st.Route, st.LeaderId, st.LeaderAddr, st.Group = rpc.Route_NOT_LEADER, nle.LeaderID, nle.LeaderRPCAddr, int32(nle.Group)
		st.Term = int64(nle.Term)
	case errors.Is(err, raftfsm.ErrNotLeader):
		st.Route = rpc.Route_NOT_LEADER
	case errors.Is(err, raftfsm.ErrOverloaded):
		st.Route = rpc.Route_OVERLOADED
	case errors.Is(err, raftfsm.ErrAmbiguous):
		st.Route = rpc.Route_AMBIGUOUS
	case errors.Is(err, raftfsm.ErrBadCommand), errors.Is(err, raftfsm.ErrNotMember), errors.Is(err, raftfsm.ErrLastVoter), errors.Is(err, raftfsm.ErrNoLiveMajority),
		errors.Is(err, raftfsm.ErrDrained):
		st.Route, st.Detail = rpc.Route_BAD_REQUEST, err.Error()
	default:
		st.Route, st.Detail = rpc.Route_UNAVAILABLE, err.Error()
	}
	return st
}

func badRequest(detail string) *rpc.Status {
	return &rpc.Status{Route: rpc.Route_BAD_REQUEST, Detail: detail}
}

// badField refuses a request for one field, as the RPC names it, with the
// largest value it may take when there is one (limit 0: none).
func badField(field, detail string, limit int64) *rpc.Status {
	st := &rpc.Status{Route: rpc.Route_BAD_REQUEST, Field: field, Detail: field + ": " + detail}
	if limit != 0 {
		st.Limit = &limit
	}
	return st
}

// unplaced answers for a program this node has no placement for. Only the
// meta group's leader, once it has applied every earlier entry, knows for
// sure that a program does not exist; any other node may simply not have
// applied the placement yet, so it sends the caller to the meta leader.
func (s *Server) unplaced(id string) *rpc.Status {
	if err := s.node.MetaLeader(); err != nil {
		st := status(raftfsm.MetaGroup, raftfsm.Outcome{}, err)
		st.Detail = id
		return st
	}
	return &rpc.Status{Route: rpc.Route_NO_PROGRAM, Detail: id}
}

// propose runs a command on the program's group.
func (s *Server) propose(ctx context.Context, program string, cmd *raftfsm.Command) (uint16, raftfsm.Outcome, *rpc.Status) {
	g, ok := s.node.Placement(program)
	if !ok {
		return 0, raftfsm.Outcome{}, s.unplaced(program)
	}
	o, err := s.node.Propose(ctx, g, cmd)
	st := status(g, o, err)
	return g, o, st
}

// read runs a query on a group, through the leader if consistent, and
// returns an OK status carrying the log index the answer reflects.
func (s *Server) read(ctx context.Context, g uint16, consistent bool, fn func(e *inventory.Engine)) *rpc.Status {
	var applied uint64
	run := func(e *inventory.Engine, a uint64) { applied = a; fn(e) }
	var err error
	if consistent {
		err = s.node.ConsistentRead(ctx, g, run)
	} else {
		err = s.node.Read(g, run)
	}
	if err != nil {
		return status(g, raftfsm.Outcome{}, err)
	}
	return &rpc.Status{Route: rpc.Route_OK, Group: int32(g), CodeName: inventory.ResultOK.String(), AppliedIndex: int64(applied)}
}

// readProgram reads a program's group as read does; fn runs the query
// and returns its result. A plain read that does not find a program the
// placement table names asks the group's leader (a consistent read)
// before it says so: this replica may not have applied the create yet (a
// follower, or a leader whose barrier has not run), and "no such
// program" is an answer callers take as final. A program is never
// removed, so a plain read that finds it is right about that much.
func (s *Server) readProgram(ctx context.Context, g uint16, consistent bool, fn func(e *inventory.Engine) inventory.Result) *rpc.Status {
	var res inventory.Result
	st := s.read(ctx, g, consistent, func(e *inventory.Engine) { res = fn(e) })
	if !consistent && st.Route == rpc.Route_OK && res == inventory.ResultProgramNotFound {
		st = s.read(ctx, g, true, func(e *inventory.Engine) { res = fn(e) })
	}
	setResult(st, res)
	return st
}

// readRange runs a query over a leg range through readProgram, and names
// the end of a bad range and its limit, which the engine's queries refuse
// with invalid_argument alone.
func (s *Server) readRange(ctx context.Context, g uint16, consistent bool, program string, from, to int32,
	fn func(e *inventory.Engine) inventory.Result) *rpc.Status {
	var fault inventory.Fault
	st := s.readProgram(ctx, g, consistent, func(e *inventory.Engine) inventory.Result {
		res := fn(e)
		if p, ok := e.Program(program); ok && res == inventory.ResultInvalidArgument {
			fault = p.CheckRange(int(from), int(to))
		}
		return res
	})
	if st.Route == rpc.Route_OK {
		setFault(st, fault)
	}
	return st
}

// setResult puts a query's engine result on an OK status.
func setResult(st *rpc.Status, r inventory.Result) {
	if st.Route == rpc.Route_OK {
		st.Code, st.CodeName = int32(r), r.String()
	}
}

// MaxPlacementWait bounds how long the leader of the group a program was
// placed on waits for its own replica of the meta group to apply the
// placement (see createGroup). A healthy replica applies it a commit
// round after the meta leader, tens of milliseconds; one that has not in
// 2 s is cut off from the meta leader, and the meta leader had better
// answer. It is below the routing client's CallTimeout, so that the
// answer arrives before the caller gives up on it.
const MaxPlacementWait = 2 * time.Second

// createGroup returns the group to create a program on. A request that
// names a group was sent here by the meta leader, which had placed the
// program there. When this node leads that group it waits, bounded, for
// its own copy of the placement: sending the caller back to the meta
// leader would only bounce it between the two until the placement
// arrived. Otherwise, and when the wait ends without the placement, the
// program is placed through the meta leader. A program is only ever
// created on the group this node's replicated placement table names,
// whatever the request says.
func (s *Server) createGroup(ctx context.Context, program string, named int32) (uint16, error) {
	if g, ok := s.node.Placement(program); ok {
		return g, nil
	}
	if named >= 1 && int(named) <= s.node.Groups() && s.node.MetaLeader() != nil {
		wctx, cancel := context.WithTimeout(ctx, MaxPlacementWait)
		g, err := s.node.AwaitPlacement(wctx, program, uint16(named))
		cancel()
		if nle := (*raftfsm.NotLeaderError)(nil); err == nil || errors.As(err, &nle) {
			return g, err
		}
	}
	return s.node.Place(ctx, program)
}

// CreateProgram places the program on a group (through the meta group's
// leader) and creates it there. A create that reaches the meta leader
// when another node leads the program's group is answered NOT_LEADER
// naming that group; the caller sends it there with the group named (see
// createGroup). The answer carries the program as this node applied it,
// so that the caller need not read it back from a replica that may not
// have applied it yet. Creating a created program answers
// program_exists with the stored program and whether it is the one asked
// for (see existing), so a retried create is safe.
func (s *Server) CreateProgram(ctx context.Context, req *rpc.CreateProgramRequest) (*rpc.CreateProgramResponse, error) {
	if req.Spec == nil {
		return &rpc.CreateProgramResponse{Status: badRequest("spec is missing")}, nil
	}
	if st := checkSpec(req.Spec); st != nil {
		return &rpc.CreateProgramResponse{Status: st}, nil
	}
	spec := specFromRPC(req.Spec)
	ttlLeftOut := spec.HoldTTL == 0
	if ttlLeftOut {
		spec.HoldTTL = s.cfg.DefaultHoldTTL
	}
	// Validate before placing, so a refused program takes no place.
	asked, err := inventory.AppendProgramSpec(nil, &spec)
	if err != nil {
		return &rpc.CreateProgramResponse{Status: badRequest(err.Error())}, nil
	}
	g, err := s.createGroup(ctx, spec.ID, req.Group)
	if err != nil {
		return &rpc.CreateProgramResponse{Status: status(raftfsm.MetaGroup, raftfsm.Outcome{}, err)}, nil
	}
	o, err := s.node.Propose(ctx, g, &raftfsm.Command{Op: raftfsm.OpCreateProgram, Spec: &spec})
	resp := &rpc.CreateProgramResponse{Status: status(g, o, err)}
	switch {
	case err != nil:
	case o.Result == inventory.ResultOK:
		// The engine stores what asked encodes, and the encoding is
		// canonical: the stored program encodes to these very bytes.
		resp.Spec = asked
	case o.Result == inventory.ResultProgramExists:
		s.existing(resp, g, &spec, asked, ttlLeftOut)
	}
	return resp, nil
}

// existing answers a create of a program id that is taken with the
// stored program, its sale state, and whether it is the program asked
// for: equal canonical encodings, so that the same layout written in
// another order, or with labels equal to the columns, is the same
// program. A hold TTL left out is the stored one: it was this node's
// default, or another node's, when the program was created.
func (s *Server) existing(resp *rpc.CreateProgramResponse, g uint16, spec *inventory.ProgramSpec, asked []byte, ttlLeftOut bool) {
	var ttl time.Duration
	found := false
	err := s.node.Read(g, func(e *inventory.Engine, _ uint64) {
		p, ok := e.Program(spec.ID)
		if found = ok; ok {
			resp.Spec, resp.SaleOpen, ttl = p.AppendSpec(nil), p.SaleOpen(), p.HoldTTL()
		}
	})
	if err == nil && !found {
		// This replica applied the create that found the id taken, and
		// programs are never removed: a retry will tell.
		err = fmt.Errorf("noderpc: program %s: program_exists, but not on the replica that said so", spec.ID)
	}
	if err != nil {
		resp.Status = status(g, raftfsm.Outcome{}, err)
		return
	}
	if ttlLeftOut && ttl != spec.HoldTTL {
		spec.HoldTTL = ttl
		asked, _ = inventory.AppendProgramSpec(nil, spec) // the stored TTL is valid, and nothing else changed
	}
	resp.Identical = bytes.Equal(asked, resp.Spec)
}

// checkSpec refuses the fields of a program that a caller can be told
// about by name, each with its limit, before the engine checks the rest:
// what it refuses beyond these is the layout's (BAD_REQUEST naming no
// field).
func checkSpec(r *rpc.ProgramSpec) *rpc.Status {
	if ttl := r.HoldTtlSeconds; ttl != 0 && (ttl < int64(inventory.MinHoldTTL/time.Second) || ttl > int64(inventory.MaxHoldTTL/time.Second)) {
		// Checked before any arithmetic: seconds times time.Second wraps
		// past about 292 years.
		return badField("hold_ttl_seconds", fmt.Sprintf("%d, want %d-%d (0: the default)", ttl,
			int64(inventory.MinHoldTTL/time.Second), int64(inventory.MaxHoldTTL/time.Second)), int64(inventory.MaxHoldTTL/time.Second))
	}
	perHold := int64(r.MaxSeatsPerHold)
	if perHold < 0 || perHold > inventory.MaxSeatsPerHoldLimit {
		return badField("max_seats_per_hold", fmt.Sprintf("%d, want 1-%d (0: %d)", perHold, inventory.MaxSeatsPerHoldLimit,
			inventory.DefaultMaxSeatsPerHold), inventory.MaxSeatsPerHoldLimit)
	}
	if perHold == 0 {
		perHold = inventory.DefaultMaxSeatsPerHold
	}
	if m := int64(r.MaxSeatsPerUser); m != 0 && (m < perHold || m > inventory.MaxSeatsPerUserLimit) {
		return badField("max_seats_per_user", fmt.Sprintf("%d, want %d-%d (at least max_seats_per_hold; 0: the larger of %d and max_seats_per_hold)",
			m, perHold, inventory.MaxSeatsPerUserLimit, inventory.DefaultMaxSeatsPerUser), inventory.MaxSeatsPerUserLimit)
	}
	for i, c := range r.Categories {
		if c != nil && (c.PriceCents < 0 || c.PriceCents > inventory.MaxPriceCents) {
			st := badField("categories.price_cents", fmt.Sprintf("categories[%d] (%s): %d, want 0-%d", i, c.Id, c.PriceCents,
				int64(inventory.MaxPriceCents)), inventory.MaxPriceCents)
			st.Index = thrift32(int32(i))
			return st
		}
	}
	for _, sec := range r.Sections {
		for _, row := range sec.GetRows() {
			for _, st := range row.GetSeats() {
				if col := st.GetCol(); col < 0 || col > inventory.MaxCol {
					return badField("sections.rows.seats.col", fmt.Sprintf("seat %s/%s/%d: want a column of 0-%d", sec.GetId(), row.GetId(), col,
						inventory.MaxCol), inventory.MaxCol)
				}
			}
		}
	}
	return nil
}

// GetProgram returns a program's sale state and, unless asked for the
// sale state only, its description in the canonical encoding: about
// 13 ms and 80 KB for a grid of 4,194,304 seats, the most a program has,
// where Thrift structs took seconds and 130 MB. So a read of the largest
// program fits an attempt's deadline, and holds the engine's read lock
// (which Apply waits for) no longer than that.
func (s *Server) GetProgram(ctx context.Context, req *rpc.GetProgramRequest) (*rpc.GetProgramResponse, error) {
	g, ok := s.node.Placement(req.ProgramId)
	if !ok {
		return &rpc.GetProgramResponse{Status: s.unplaced(req.ProgramId)}, nil
	}
	resp := &rpc.GetProgramResponse{}
	resp.Status = s.readProgram(ctx, g, false, func(e *inventory.Engine) inventory.Result {
		p, ok := e.Program(req.ProgramId)
		if !ok {
			return inventory.ResultProgramNotFound
		}
		resp.SaleOpen, resp.Spec = p.SaleOpen(), nil
		if !req.SaleOnly {
			resp.Spec = p.AppendSpec(nil)
		}
		return inventory.ResultOK
	})
	return resp, nil
}

// SetSale opens or closes a program's sale.
func (s *Server) SetSale(ctx context.Context, req *rpc.SetSaleRequest) (*rpc.SetSaleResponse, error) {
	op := raftfsm.OpCloseSale
	if req.Open {
		op = raftfsm.OpOpenSale
	}
	_, _, st := s.propose(ctx, req.ProgramId, &raftfsm.Command{Op: op, Program: req.ProgramId})
	return &rpc.SetSaleResponse{Status: st}, nil
}

// Block blocks or unblocks seats.
func (s *Server) Block(ctx context.Context, req *rpc.BlockRequest) (*rpc.BlockResponse, error) {
	op := raftfsm.OpBlock
	if req.Unblock {
		op = raftfsm.OpUnblock
	}
	br := &inventory.BlockRequest{Program: req.ProgramId, Seats: req.SeatIds, From: int(req.FromLeg), To: int(req.ToLeg)}
	_, _, st := s.propose(ctx, req.ProgramId, &raftfsm.Command{Op: op, Block: br})
	return &rpc.BlockResponse{Status: st}, nil
}

// PlaceHold holds seats. The request id makes retries safe across leader
// changes: the same user, program and id within the TTL get the first hold.
func (s *Server) PlaceHold(ctx context.Context, req *rpc.HoldRequest) (*rpc.HoldResponse, error) {
	resp, err := s.PlaceHolds(ctx, &rpc.PlaceHoldsRequest{Holds: []*rpc.HoldRequest{req}})
	return resp.Holds[0], err
}

// PlaceHolds places a batch of holds, each as PlaceHold would: its own
// request id, route and result. The holds of one group are proposed
// together, so they tend to share log entries.
func (s *Server) PlaceHolds(ctx context.Context, req *rpc.PlaceHoldsRequest) (*rpc.PlaceHoldsResponse, error) {
	if n := len(req.Holds); n == 0 || n > int(rpc.MAX_HOLD_BATCH) {
		return &rpc.PlaceHoldsResponse{Status: badRequest(fmt.Sprintf("holds: %d in a batch, want 1-%d", n, rpc.MAX_HOLD_BATCH))}, nil
	}
	resp := &rpc.PlaceHoldsResponse{Status: &rpc.Status{Route: rpc.Route_OK, CodeName: inventory.ResultOK.String()}, Holds: make([]*rpc.HoldResponse, len(req.Holds))}
	var batches []*groupBatch // in order of first appearance
	for i, h := range req.Holds {
		cmd, bad := holdFromRPC(h)
		if bad != nil {
			resp.Holds[i] = &rpc.HoldResponse{Status: bad}
			continue
		}
		g, ok := s.node.Placement(h.ProgramId)
		if !ok {
			resp.Holds[i] = &rpc.HoldResponse{Status: s.unplaced(h.ProgramId)}
			continue
		}
		batches = addToGroupBatch(batches, g, i, cmd)
	}
	runGroupBatches(batches, func(b *groupBatch) {
		outs, errs := s.node.ProposeAll(ctx, b.group, b.cmds)
		for j, i := range b.index {
			resp.Holds[i] = holdResponse(status(b.group, outs[j], errs[j]), &outs[j])
		}
	})
	return resp, nil
}

// groupBatch is the commands of one group in a batch call, with where
// each came in the call.
type groupBatch struct {
	group uint16
	index []int // into the call's requests
	cmds  []*raftfsm.Command
}

// addToGroupBatch adds the call's request i, a command of group g, to
// g's batch, a new one at the end when g has none yet.
func addToGroupBatch(batches []*groupBatch, g uint16, i int, cmd *raftfsm.Command) []*groupBatch {
	j := slices.IndexFunc(batches, func(b *groupBatch) bool { return b.group == g })
	if j < 0 {
		j = len(batches)
		batches = append(batches, &groupBatch{group: g})
	}
	batches[j].index = append(batches[j].index, i)
	batches[j].cmds = append(batches[j].cmds, cmd)
	return batches
}

// runGroupBatches runs each group's batch, the groups at once. The usual
// call has one group: it runs on the caller's goroutine.
func runGroupBatches(batches []*groupBatch, run func(*groupBatch)) {
	var wg sync.WaitGroup
	for _, b := range batches[min(1, len(batches)):] {
		wg.Go(func() { run(b) })
	}
	if len(batches) > 0 {
		run(batches[0])
	}
	wg.Wait()
}

// holdFromRPC converts a hold request to its command, or says what is
// wrong with it. Holders are normalised here, before the log, so that
// every replica stores the same bytes (see inventory.NormalizeIDNumber).
func holdFromRPC(req *rpc.HoldRequest) (*raftfsm.Command, *rpc.Status) {
	if req == nil {
		return nil, badRequest("hold request is missing")
	}
	if len(req.RequestId) != 0 && len(req.RequestId) != len(inventory.RequestID{}) {
		return nil, badField("request_id", "want 16 bytes or none", 0)
	}
	if req.UserId <= 0 {
		return nil, badField("user_id", "want a positive id", 0)
	}
	hr := &inventory.HoldRequest{
		Program: req.ProgramId, User: uint64(req.UserId), Category: req.Category, Count: int(req.Count),
		Together: req.Together, Accessible: req.Accessible, From: int(req.FromLeg), To: int(req.ToLeg), Seats: req.SeatIds,
	}
	if req.SeatPreference < 0 || !inventory.SeatPosition(req.SeatPreference).Valid() {
		return nil, badField("seat_preference", "want 0 (none), 1 (window) or 2 (aisle)", 0)
	}
	if req.SeatPreference != 0 && len(req.SeatIds) > 0 {
		return nil, badField("seat_preference", "is for best-available holds: named seats are where they are", 0)
	}
	hr.Prefer = inventory.SeatPosition(req.SeatPreference)
	copy(hr.RequestID[:], req.RequestId)
	for i, h := range req.Holders {
		if h == nil {
			continue
		}
		t, ok := inventory.ParseIDType(h.IdType)
		if !ok {
			st := badField("holders.id_type", fmt.Sprintf("holder %d: %q, want resident_id or passport", i, h.IdType), 0)
			st.Index = thrift32(int32(i))
			return nil, st
		}
		hr.Holders = append(hr.Holders, inventory.Holder{Name: inventory.NormalizeName(h.Name), IDType: t,
			IDNumber: inventory.NormalizeIDNumber(h.IdNumber)})
	}
	if req.ExpectedTotalCents != nil {
		hr.CheckTotal, hr.ExpectedTotalCents = true, *req.ExpectedTotalCents
	}
	return &raftfsm.Command{Op: raftfsm.OpHold, Hold: hr}, nil
}

// holdResponse is a hold command's answer: the hold when it was placed.
func holdResponse(st *rpc.Status, o *raftfsm.Outcome) *rpc.HoldResponse {
	resp := &rpc.HoldResponse{Status: st, Replayed: o.Replayed}
	if st.Route == rpc.Route_OK && o.Result == inventory.ResultOK {
		resp.Hold = holdToRPC(&o.Hold)
	}
	return resp
}

// holdGroup returns the group that has a hold: the group its id names,
// if this cluster has it, or where this node's replicas of it forward the
// hold since its program moved (inventory.HoldForward, at most
// maxForwardHops). A replica that has not applied a move's end yet sends
// the request to the old group, whose leader answers program_moving or
// program_moved, which callers retry.
func (s *Server) holdGroup(id inventory.HoldID) (uint16, bool) {
	g := id.Group()
	if g < 1 || g > s.node.Groups() {
		return 0, false
	}
	for range maxForwardHops {
		next, ok := 0, false
		s.node.Read(uint16(g), func(e *inventory.Engine, _ uint64) { next, ok = e.HoldForward(id) })
		if !ok || next < 1 || next > s.node.Groups() {
			break
		}
		g = next
	}
	return uint16(g), true
}

// holdNotFound answers for a hold id whose group does not exist: no such
// hold exists anywhere.
func holdNotFound() *rpc.Status {
	return &rpc.Status{Route: rpc.Route_OK, Code: int32(inventory.ResultHoldNotFound), CodeName: inventory.ResultHoldNotFound.String()}
}

// GetHold reads a hold from its group (the group is in the hold id).
func (s *Server) GetHold(ctx context.Context, req *rpc.GetHoldRequest) (*rpc.HoldResponse, error) {
	id := inventory.HoldID(req.HoldId)
	g, ok := s.holdGroup(id)
	if !ok {
		return &rpc.HoldResponse{Status: holdNotFound()}, nil
	}
	resp := &rpc.HoldResponse{}
	get := func(e *inventory.Engine) {
		if h, ok := e.GetHold(id, s.node.Now(g)); ok {
			resp.Hold = holdToRPC(&h)
		}
	}
	resp.Status = s.read(ctx, g, req.Consistent, get)
	if resp.Hold == nil && !req.Consistent && resp.Status.Route == rpc.Route_OK {
		// "No such hold" is final for callers, and this replica may not
		// have applied the hold yet (a follower; or the import of a moved
		// program, whose forward record it has): ask the leader, as
		// readProgram does for programs.
		resp.Status = s.read(ctx, g, true, get)
	}
	if resp.Hold == nil {
		setResult(resp.Status, inventory.ResultHoldNotFound)
	}
	return resp, nil
}

// holdCommand runs a command on the hold's group and returns the hold as
// it is after it.
func (s *Server) holdCommand(ctx context.Context, id inventory.HoldID, cmd *raftfsm.Command) (*rpc.HoldResponse, raftfsm.Outcome) {
	g, ok := s.holdGroup(id)
	if !ok {
		return &rpc.HoldResponse{Status: holdNotFound()}, raftfsm.Outcome{}
	}
	o, err := s.node.Propose(ctx, g, cmd)
	resp := &rpc.HoldResponse{Status: status(g, o, err)}
	if err == nil {
		s.node.Read(g, func(e *inventory.Engine, _ uint64) {
			if h, ok := e.GetHold(id, s.node.Now(g)); ok {
				resp.Hold = holdToRPC(&h)
			}
		})
	}
	return resp, o
}

// Confirm marks a hold paid.
func (s *Server) Confirm(ctx context.Context, req *rpc.ConfirmRequest) (*rpc.HoldResponse, error) {
	resp, _ := s.holdCommand(ctx, inventory.HoldID(req.HoldId), &raftfsm.Command{Op: raftfsm.OpConfirm, HoldID: inventory.HoldID(req.HoldId)})
	return resp, nil
}

// Release gives a hold back.
func (s *Server) Release(ctx context.Context, req *rpc.ReleaseRequest) (*rpc.HoldResponse, error) {
	resp, err := s.ReleaseHolds(ctx, &rpc.ReleaseHoldsRequest{Releases: []*rpc.ReleaseRequest{req}})
	if resp.Status.Route != rpc.Route_OK {
		return &rpc.HoldResponse{Status: resp.Status}, err
	}
	return resp.Holds[0], err
}

// ReleaseHolds gives a batch of holds back, each as Release would: its
// own hold, route and result. The releases of one group are proposed
// together, as PlaceHolds proposes holds, and each answer carries the
// hold as it is after its group's batch: a refused release (not_owner)
// of a hold that a later release in the batch gave back shows it
// released.
func (s *Server) ReleaseHolds(ctx context.Context, req *rpc.ReleaseHoldsRequest) (*rpc.ReleaseHoldsResponse, error) {
	if n := len(req.Releases); n == 0 || n > int(rpc.MAX_HOLD_BATCH) {
		return &rpc.ReleaseHoldsResponse{Status: badRequest(fmt.Sprintf("releases: %d in a batch, want 1-%d", n, rpc.MAX_HOLD_BATCH))}, nil
	}
	resp := &rpc.ReleaseHoldsResponse{Status: &rpc.Status{Route: rpc.Route_OK, CodeName: inventory.ResultOK.String()},
		Holds: make([]*rpc.HoldResponse, len(req.Releases))}
	var batches []*groupBatch // in order of first appearance
	for i, r := range req.Releases {
		cmd, bad := releaseFromRPC(r)
		if bad != nil {
			resp.Holds[i] = &rpc.HoldResponse{Status: bad}
			continue
		}
		g, ok := s.holdGroup(cmd.HoldID)
		if !ok {
			resp.Holds[i] = &rpc.HoldResponse{Status: holdNotFound()}
			continue
		}
		batches = addToGroupBatch(batches, g, i, cmd)
	}
	runGroupBatches(batches, func(b *groupBatch) {
		outs, errs := s.node.ProposeAll(ctx, b.group, b.cmds)
		for j, i := range b.index {
			resp.Holds[i] = &rpc.HoldResponse{Status: status(b.group, outs[j], errs[j])}
		}
		s.node.Read(b.group, func(e *inventory.Engine, _ uint64) {
			now := s.node.Now(b.group)
			for j, i := range b.index {
				if errs[j] != nil {
					continue
				}
				if h, ok := e.GetHold(b.cmds[j].HoldID, now); ok {
					resp.Holds[i].Hold = holdToRPC(&h)
				}
			}
		})
	})
	return resp, nil
}

// releaseFromRPC converts a release request to its command, or says what
// is wrong with it.
func releaseFromRPC(req *rpc.ReleaseRequest) (*raftfsm.Command, *rpc.Status) {
	if req == nil {
		return nil, badRequest("release request is missing")
	}
	reason := inventory.ReleaseCancelled
	switch req.Reason {
	case "", "cancelled":
	case "refused":
		reason = inventory.ReleaseRefused
	default:
		return nil, badRequest("reason: want cancelled or refused")
	}
	if req.UserId < 0 {
		return nil, badRequest("user_id: negative")
	}
	return &raftfsm.Command{Op: raftfsm.OpRelease, HoldID: inventory.HoldID(req.HoldId), Owner: uint64(req.UserId), Reason: reason}, nil
}

// Refund refunds some or all seats of a confirmed hold.
func (s *Server) Refund(ctx context.Context, req *rpc.RefundRequest) (*rpc.RefundResponse, error) {
	id := inventory.HoldID(req.HoldId)
	g, ok := s.holdGroup(id)
	if !ok {
		return &rpc.RefundResponse{Status: holdNotFound()}, nil
	}
	o, err := s.node.Propose(ctx, g, &raftfsm.Command{Op: raftfsm.OpRefund, HoldID: id, Seats: req.SeatIds})
	return &rpc.RefundResponse{Status: status(g, o, err), AmountCents: o.Amount}, nil
}

// Availability counts seats per category over a leg range.
func (s *Server) Availability(ctx context.Context, req *rpc.AvailabilityRequest) (*rpc.AvailabilityResponse, error) {
	g, ok := s.node.Placement(req.ProgramId)
	if !ok {
		return &rpc.AvailabilityResponse{Status: s.unplaced(req.ProgramId)}, nil
	}
	resp := &rpc.AvailabilityResponse{}
	resp.Status = s.readRange(ctx, g, req.Consistent, req.ProgramId, req.FromLeg, req.ToLeg, func(e *inventory.Engine) inventory.Result {
		cats, v, res := e.Availability(req.ProgramId, int(req.FromLeg), int(req.ToLeg), s.node.Now(g))
		resp.Version, resp.Categories = v.String(), nil
		for _, c := range cats {
			resp.Categories = append(resp.Categories, &rpc.CategoryAvailability{
				Id: c.ID, Capacity: int32(c.Capacity), Free: int32(c.Free), Held: int32(c.Held), Sold: int32(c.Sold), Blocked: int32(c.Blocked),
			})
		}
		return res
	})
	return resp, nil
}

// SeatMap returns every seat's status over a leg range, a byte per seat
// in the program's seat order.
func (s *Server) SeatMap(ctx context.Context, req *rpc.SeatMapRequest) (*rpc.SeatMapResponse, error) {
	g, ok := s.node.Placement(req.ProgramId)
	if !ok {
		return &rpc.SeatMapResponse{Status: s.unplaced(req.ProgramId)}, nil
	}
	resp := &rpc.SeatMapResponse{}
	resp.Status = s.readRange(ctx, g, req.Consistent, req.ProgramId, req.FromLeg, req.ToLeg, func(e *inventory.Engine) inventory.Result {
		states, v, res := e.SeatMap(req.ProgramId, int(req.FromLeg), int(req.ToLeg), s.node.Now(g), nil)
		resp.Version, resp.Statuses = "", nil
		if res != inventory.ResultOK {
			return res
		}
		resp.Version = v.String()
		resp.Statuses = make([]byte, len(states))
		for i, st := range states {
			resp.Statuses[i] = byte(st)
		}
		return res
	})
	return resp, nil
}

// ClusterStatus reports this node's view of every group and the placement
// table.
func (s *Server) ClusterStatus(ctx context.Context, _ *rpc.ClusterStatusRequest) (*rpc.ClusterStatusResponse, error) {
	resp := &rpc.ClusterStatusResponse{Status: &rpc.Status{Route: rpc.Route_OK}, NodeId: s.node.ID(), RaftAddr: s.node.Addr(),
		RpcAddr: s.node.RPCAddr()}
	for _, g := range s.node.Stats() {
		resp.Groups = append(resp.Groups, &rpc.GroupStatus{
			Group: int32(g.Group), State: g.State, LeaderId: g.LeaderID, Term: int64(g.Term),
			AppliedIndex: int64(g.Applied), CommitIndex: int64(g.Commit), LastIndex: int64(g.Last), Voters: g.Voters,
			Writable: g.Writable,
		})
	}
	for _, p := range s.node.PlacementTable() {
		resp.Placements = append(resp.Placements, &rpc.Placement{ProgramId: p.Program, Group: int32(p.Group)})
	}
	for _, n := range s.node.Directory() {
		resp.Nodes = append(resp.Nodes, &rpc.NodeInfo{Id: n.ID, RpcAddr: n.RPCAddr})
	}
	resp.Drained = s.node.DrainedNodes()
	return resp, nil
}

func membership(notLed []uint16, err error) *rpc.MembershipResponse {
	resp := &rpc.MembershipResponse{Status: status(0, raftfsm.Outcome{}, err)}
	for _, g := range notLed {
		resp.NotLedGroups = append(resp.NotLedGroups, int32(g))
	}
	return resp
}

// Join adds a node to every group this node leads.
func (s *Server) Join(ctx context.Context, req *rpc.JoinRequest) (*rpc.MembershipResponse, error) {
	if req.NodeId == "" || req.RaftAddr == "" {
		return &rpc.MembershipResponse{Status: badRequest("node_id and raft_addr are required")}, nil
	}
	return membership(s.node.AddVoter(req.NodeId, req.RaftAddr)), nil
}

// Remove removes a node from every group this node leads.
func (s *Server) Remove(ctx context.Context, req *rpc.RemoveRequest) (*rpc.MembershipResponse, error) {
	if req.NodeId == "" {
		return &rpc.MembershipResponse{Status: badRequest("node_id is required")}, nil
	}
	return membership(s.node.RemoveServer(req.NodeId)), nil
}

// TransferLeadership hands every group this node leads to another voter.
func (s *Server) TransferLeadership(ctx context.Context, _ *rpc.TransferRequest) (*rpc.MembershipResponse, error) {
	return membership(nil, s.node.TransferLeadership()), nil
}

// TransferGroup hands one group this node leads to another voter; see
// raftfsm.Node.TransferGroup. Elsewhere it answers NOT_LEADER naming the
// group's leader.
func (s *Server) TransferGroup(ctx context.Context, req *rpc.TransferGroupRequest) (*rpc.MembershipResponse, error) {
	if req.Group < 0 || int(req.Group) > s.node.Groups() || req.ToNode == "" {
		return &rpc.MembershipResponse{Status: badRequest(fmt.Sprintf("group %d, to_node %q: want a group of 0-%d and a node id",
			req.Group, req.ToNode, s.node.Groups()))}, nil
	}
	err := s.node.TransferGroup(uint16(req.Group), req.ToNode)
	return &rpc.MembershipResponse{Status: status(uint16(req.Group), raftfsm.Outcome{}, err)}, nil
}

// Drain marks a node drained or undrained through the meta group's
// leader; see raftfsm.Node.SetDrained. Elsewhere it answers NOT_LEADER
// naming the meta leader.
func (s *Server) Drain(ctx context.Context, req *rpc.DrainRequest) (*rpc.MembershipResponse, error) {
	if req.NodeId == "" {
		return &rpc.MembershipResponse{Status: badRequest("node_id is required")}, nil
	}
	err := s.node.SetDrained(req.NodeId, req.Drained)
	return &rpc.MembershipResponse{Status: status(raftfsm.MetaGroup, raftfsm.Outcome{}, err)}, nil
}

// SpecToRPC converts a program's description to the RPC's, for callers
// that hold an inventory.ProgramSpec (seatbench's targets); specFromRPC is
// its inverse, and a round trip gives the same spec back (TestSpecRoundTrip).
func SpecToRPC(s *inventory.ProgramSpec) *rpc.ProgramSpec {
	r := &rpc.ProgramSpec{Id: s.ID, Name: s.Name, Stops: s.Stops, HoldTtlSeconds: int64(s.HoldTTL / time.Second),
		MaxSeatsPerHold: int32(s.MaxSeatsPerHold), MaxSeatsPerUser: int32(s.MaxSeatsPerUser), RealName: s.RealName,
		RefundResells: s.RefundResells, AllowOrphans: s.AllowOrphans, RefuseOrphans: s.RefuseOrphans,
		ReserveAccessible: s.ReserveAccessible, FocalPoint: pointToRPC(s.Focal)}
	for _, c := range s.Categories {
		r.Categories = append(r.Categories, &rpc.Category{Id: c.ID, Name: c.Name, PriceCents: c.PriceCents})
	}
	for _, sec := range s.Layout.Sections {
		out := &rpc.Section{Id: sec.ID, Name: sec.Name, Position: pointToRPC(sec.At)}
		for _, row := range sec.Rows {
			rr := &rpc.Row{Id: row.ID, Rank: int32(row.Rank)}
			for _, st := range row.Seats {
				rr.Seats = append(rr.Seats, &rpc.Seat{Col: int32(st.Col), Label: st.Label, Category: st.Category, Accessible: st.Accessible, Aisle: st.Aisle})
			}
			out.Rows = append(out.Rows, rr)
		}
		r.Sections = append(r.Sections, out)
	}
	return r
}

func specFromRPC(r *rpc.ProgramSpec) inventory.ProgramSpec {
	spec := inventory.ProgramSpec{
		ID: r.Id, Name: r.Name, Stops: r.Stops, HoldTTL: time.Duration(r.HoldTtlSeconds) * time.Second,
		MaxSeatsPerHold: int(r.MaxSeatsPerHold), MaxSeatsPerUser: int(r.MaxSeatsPerUser),
		RealName: r.RealName, RefundResells: r.RefundResells, AllowOrphans: r.AllowOrphans, RefuseOrphans: r.RefuseOrphans,
		ReserveAccessible: r.ReserveAccessible, Focal: pointFromRPC(r.FocalPoint),
	}
	for _, c := range r.Categories {
		if c != nil {
			spec.Categories = append(spec.Categories, inventory.Category{ID: c.Id, Name: c.Name, PriceCents: c.PriceCents})
		}
	}
	for _, sec := range r.Sections {
		if sec == nil {
			continue
		}
		out := inventory.Section{ID: sec.Id, Name: sec.Name, At: pointFromRPC(sec.Position)}
		for _, row := range sec.Rows {
			if row == nil {
				continue
			}
			rr := inventory.Row{ID: row.Id, Rank: int(row.Rank)}
			for _, st := range row.Seats {
				if st != nil {
					rr.Seats = append(rr.Seats, inventory.Seat{Col: int(st.Col), Label: st.Label, Category: st.Category, Accessible: st.Accessible, Aisle: st.Aisle})
				}
			}
			out.Rows = append(out.Rows, rr)
		}
		spec.Layout.Sections = append(spec.Layout.Sections, out)
	}
	return spec
}

// pointToRPC converts a place on the plan; nil stays nil. A coordinate
// within inventory.MaxCoord fits an i32.
func pointToRPC(p *inventory.Point) *rpc.Point {
	if p == nil {
		return nil
	}
	return &rpc.Point{X: int32(p.X), Y: int32(p.Y)}
}

func pointFromRPC(p *rpc.Point) *inventory.Point {
	if p == nil {
		return nil
	}
	return &inventory.Point{X: int(p.X), Y: int(p.Y)}
}

func holdToRPC(h *inventory.HoldInfo) *rpc.Hold {
	r := &rpc.Hold{
		HoldId: int64(h.ID), OrderNo: int64(h.OrderNo), ProgramId: h.Program.ID(), UserId: int64(h.User),
		Status: h.Status.String(), Reason: h.Reason.String(), FromLeg: int32(h.From), ToLeg: int32(h.To),
		TotalCents: h.TotalCents, CreatedAtUnixMs: h.CreatedAt / int64(time.Millisecond), ExpiresAtUnixMs: h.ExpiresAt / int64(time.Millisecond),
		CreatedAtUnixNs: h.CreatedAt, ExpiresAtUnixNs: h.ExpiresAt,
	}
	for i, s := range h.Seats {
		info := h.Program.Seat(s)
		r.Seats = append(r.Seats, &rpc.HeldSeat{Id: info.ID, Label: info.Label, Category: info.Category, PriceCents: info.PriceCents,
			Refunded: h.Refunded&(1<<i) != 0})
	}
	for _, hd := range h.Holders {
		r.Holders = append(r.Holders, &rpc.Holder{Name: hd.Name, IdNumber: hd.IDNumber, IdType: hd.IDType.String()})
	}
	return r
}

// ListPrograms pages through the placement table, by program id, with
// what this node's own replicas say of each program: a listing for
// people picking a program, so it reads no leader and may lag one
// (bounded staleness, as a plain read). A program whose group this node
// does not host, or whose create it has not applied yet, is listed by id
// and group alone (known false).
func (s *Server) ListPrograms(_ context.Context, req *rpc.ListProgramsRequest) (*rpc.ListProgramsResponse, error) {
	limit := int(req.Limit)
	switch {
	case limit == 0:
		limit = int(rpc.DEFAULT_LIST_PROGRAMS)
	case limit < 0 || limit > int(rpc.MAX_LIST_PROGRAMS):
		return &rpc.ListProgramsResponse{Status: badField("limit", fmt.Sprintf("want 1-%d", rpc.MAX_LIST_PROGRAMS), int64(rpc.MAX_LIST_PROGRAMS))}, nil
	}
	table := s.node.PlacementTable() // sorted by program id
	i, _ := slices.BinarySearchFunc(table, req.After, func(p raftfsm.Placement, after string) int { return strings.Compare(p.Program, after) })
	if i < len(table) && table[i].Program == req.After {
		i++
	}
	resp := &rpc.ListProgramsResponse{Status: &rpc.Status{Route: rpc.Route_OK, CodeName: inventory.ResultOK.String()}}
	for _, pl := range table[i:min(len(table), i+limit)] {
		sum := &rpc.ProgramSummary{Id: pl.Program, Group: int32(pl.Group)}
		s.node.Read(pl.Group, func(e *inventory.Engine, _ uint64) { // an error: not hosted here, listed by id
			p, ok := e.Program(pl.Program)
			if !ok {
				return
			}
			sum.Known, sum.Name, sum.SaleOpen = true, p.Name(), p.SaleOpen()
			for l := 0; l <= p.Legs(); l++ {
				sum.Stops = append(sum.Stops, p.Stop(l))
			}
		})
		resp.Programs = append(resp.Programs, sum)
	}
	resp.More = i+limit < len(table)
	return resp, nil
}

// maxForwardHops bounds how many forward records (inventory.HoldForward)
// a hold id is followed through: a program moved more often than this
// since the hold was placed answers from the last group reached. Each hop
// is a read of this node's replica.
const maxForwardHops = 8

// Move runs one step of moving a program to another group (see MoveStep
// in the IDL and docs/move-program.md). Engine steps are commands on the
// named group, STATUS a consistent read on its leader, EXPORT a command
// (the mark that refuses an abort from then on) and then a consistent
// read of the parcel, REPLACE a meta group entry.
func (s *Server) Move(ctx context.Context, req *rpc.MoveRequest) (*rpc.MoveResponse, error) {
	if req.ProgramId == "" || len(req.ProgramId) > inventory.MaxIDLen {
		return &rpc.MoveResponse{Status: badField("program_id", fmt.Sprintf("want 1-%d bytes", inventory.MaxIDLen), 0)}, nil
	}
	groups := int32(s.node.Groups())
	if req.Group < 1 || req.Group > groups {
		return &rpc.MoveResponse{Status: badField("group", fmt.Sprintf("%d is not an inventory group, want 1-%d", req.Group, groups), int64(groups))}, nil
	}
	g := uint16(req.Group)
	target := req.TargetGroup
	if (req.Step == rpc.MoveStep_FREEZE || req.Step == rpc.MoveStep_EXPORT || req.Step == rpc.MoveStep_REPLACE) && (target < 1 || target > groups || target == req.Group) {
		return &rpc.MoveResponse{Status: badField("target_group", fmt.Sprintf("%d, want 1-%d other than group", target, groups), int64(groups))}, nil
	}
	command := func(cmd *raftfsm.Command) *rpc.MoveResponse {
		o, err := s.node.Propose(ctx, g, cmd)
		return &rpc.MoveResponse{Status: status(g, o, err)}
	}
	switch req.Step {
	case rpc.MoveStep_STATUS:
		resp := &rpc.MoveResponse{}
		if placed, ok := s.node.Placement(req.ProgramId); ok {
			resp.PlacedGroup = int32(placed)
		}
		resp.Status = s.read(ctx, g, true, func(e *inventory.Engine) {
			last, acked := e.OutboxSeq()
			resp.OutboxSeq, resp.OutboxAcked = int64(last), int64(acked)
			if p, ok := e.Program(req.ProgramId); ok {
				other, state := p.Moving()
				resp.Exists, resp.State, resp.OtherGroup = true, state, int32(other)
			}
		})
		return resp, nil
	case rpc.MoveStep_FREEZE:
		return command(&raftfsm.Command{Op: raftfsm.OpFreeze, Program: req.ProgramId, Group: int(target)}), nil
	case rpc.MoveStep_EXPORT:
		// The read after the mark sees it: the leader answers a consistent
		// read at an index past it, and once marked the program waits
		// for the import.
		if resp := command(&raftfsm.Command{Op: raftfsm.OpMarkExported, Program: req.ProgramId, Group: int(target)}); resp.Status.Route != rpc.Route_OK || resp.Status.Code != 0 {
			return resp, nil
		}
		resp := &rpc.MoveResponse{}
		var res inventory.Result
		resp.Status = s.read(ctx, g, true, func(e *inventory.Engine) {
			resp.Parcel, res = e.ExportProgram(req.ProgramId)
		})
		setResult(resp.Status, res)
		return resp, nil
	case rpc.MoveStep_IMPORT:
		if len(req.Parcel) == 0 || len(req.Parcel) > inventory.MaxParcelBytes {
			return &rpc.MoveResponse{Status: badField("parcel", fmt.Sprintf("%d bytes, want 1-%d", len(req.Parcel), inventory.MaxParcelBytes), inventory.MaxParcelBytes)}, nil
		}
		return command(&raftfsm.Command{Op: raftfsm.OpImport, Parcel: req.Parcel}), nil
	case rpc.MoveStep_ACTIVATE:
		return command(&raftfsm.Command{Op: raftfsm.OpActivate, Program: req.ProgramId}), nil
	case rpc.MoveStep_COMPLETE:
		return command(&raftfsm.Command{Op: raftfsm.OpCompleteMove, Program: req.ProgramId}), nil
	case rpc.MoveStep_ABORT:
		return command(&raftfsm.Command{Op: raftfsm.OpAbortMove, Program: req.ProgramId}), nil
	case rpc.MoveStep_REPLACE:
		err := s.node.Replace(ctx, req.ProgramId, g, uint16(target))
		st := status(raftfsm.MetaGroup, raftfsm.Outcome{}, err)
		if err == nil {
			st.Group = target
		}
		return &rpc.MoveResponse{Status: st}, nil
	}
	return &rpc.MoveResponse{Status: badField("step", fmt.Sprintf("%d is not a step", req.Step), 0)}, nil
}
