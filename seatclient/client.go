// Package seatclient is the routing client of the inventory nodes, used by
// every caller of seatd (the gateway, the order flow, tools). It knows
// which group holds each program and which node leads each group, sends
// every call to that leader, follows not-leader answers, and retries
// ambiguous failures with the same request id, so that a retried hold
// takes effect once.
//
// Concurrency: a Client is safe for concurrent use.
package seatclient

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/connpool"

	rpc "seatd/kitex_gen/inventoryrpc"
	invsvc "seatd/kitex_gen/inventoryrpc/inventory"
)

// Errors a call can end with besides its response.
var (
	// ErrUnavailable means no attempt reached a leader that could answer
	// within MaxAttempts.
	ErrUnavailable = errors.New("seatclient: inventory unavailable")
	// ErrOverloaded means the leader kept refusing for load.
	ErrOverloaded = errors.New("seatclient: inventory overloaded")
)

// Config configures a Client. Zero fields take the defaults.
type Config struct {
	// Seeds are RPC addresses of some nodes; the client learns the rest.
	Seeds []string
	// MaxAttempts bounds tries per call, redirects included. Default 8.
	MaxAttempts int
	// BaseBackoff and MaxBackoff bound the jittered exponential wait
	// between retries. Defaults 10ms and 500ms.
	BaseBackoff, MaxBackoff time.Duration
	// CallTimeout bounds one RPC. Default 3s.
	CallTimeout time.Duration
	// MaxNodes bounds the nodes the client keeps connections to. Default 64.
	MaxNodes int
	// MaxIdleConnsPerNode bounds the pooled connections to one node. Kitex
	// suggests about calls per second x response time; too few and every
	// call past them opens and closes a TCP connection. Default 256.
	MaxIdleConnsPerNode int
	// HoldCallsPerNode bounds the PlaceHolds calls under way to one node;
	// holds that find them all busy wait for the next call and travel
	// together. Default 2: on the 2-core test machine 1 call capped the
	// throughput, and more calls meant smaller batches and more CPU per
	// hold.
	HoldCallsPerNode int
	// MaxQueuedHolds bounds the holds waiting for a call to one node;
	// past it a hold fails at once with ErrOverloaded. Default 4096.
	MaxQueuedHolds int
	Log            *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 8
	}
	if c.BaseBackoff == 0 {
		c.BaseBackoff = 10 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 500 * time.Millisecond
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 3 * time.Second
	}
	if c.MaxNodes == 0 {
		c.MaxNodes = 64
	}
	if c.MaxIdleConnsPerNode == 0 {
		c.MaxIdleConnsPerNode = 256
	}
	if c.HoldCallsPerNode == 0 {
		c.HoldCallsPerNode = 2
	}
	if c.MaxQueuedHolds == 0 {
		c.MaxQueuedHolds = 4096
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Client routes calls to the inventory nodes.
type Client struct {
	cfg Config

	mu        sync.Mutex // guards the fields below
	conns     map[string]invsvc.Client
	batchers  map[string]*holdBatcher // by RPC address, as conns
	addrOf    map[string]string       // node id -> RPC address
	leader    map[int32]string        // group -> node id
	placement map[string]int32        // program -> group
	groups    int32

	holdCalls, batchedHolds atomic.Uint64
}

// Stats counts the client's batched hold traffic.
type Stats struct {
	HoldCalls    uint64 // PlaceHolds calls made
	BatchedHolds uint64 // holds they carried (BatchedHolds/HoldCalls = mean batch)
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{HoldCalls: c.holdCalls.Load(), BatchedHolds: c.batchedHolds.Load()}
}

// New returns a client; it connects lazily.
func New(cfg Config) (*Client, error) {
	if len(cfg.Seeds) == 0 {
		return nil, errors.New("seatclient: no seed addresses")
	}
	cfg = cfg.withDefaults()
	if cfg.MaxAttempts < 1 || cfg.BaseBackoff <= 0 || cfg.MaxBackoff < cfg.BaseBackoff {
		return nil, fmt.Errorf("seatclient: attempts %d, backoff %v-%v: out of range", cfg.MaxAttempts, cfg.BaseBackoff, cfg.MaxBackoff)
	}
	if cfg.HoldCallsPerNode < 1 || cfg.HoldCallsPerNode > 64 || cfg.MaxQueuedHolds < 1 || cfg.MaxQueuedHolds > 1<<20 {
		return nil, fmt.Errorf("seatclient: hold calls per node %d (want 1-64), queued holds %d (want 1-%d): out of range",
			cfg.HoldCallsPerNode, cfg.MaxQueuedHolds, 1<<20)
	}
	return &Client{cfg: cfg, conns: map[string]invsvc.Client{}, batchers: map[string]*holdBatcher{}, addrOf: map[string]string{},
		leader: map[int32]string{}, placement: map[string]int32{}}, nil
}

func (c *Client) conn(addr string) (invsvc.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.conns[addr]; ok {
		return cl, nil
	}
	if len(c.conns) >= c.cfg.MaxNodes {
		return nil, fmt.Errorf("seatclient: more than %d nodes", c.cfg.MaxNodes)
	}
	cl, err := invsvc.NewClient("seatd", client.WithHostPorts(addr), client.WithRPCTimeout(c.cfg.CallTimeout),
		client.WithLongConnection(connpool.IdleConfig{
			MinIdlePerAddress: 2, MaxIdlePerAddress: c.cfg.MaxIdleConnsPerNode,
			MaxIdleGlobal: c.cfg.MaxIdleConnsPerNode * c.cfg.MaxNodes, MaxIdleTimeout: time.Minute,
		}))
	if err != nil {
		return nil, err
	}
	c.conns[addr] = cl
	return cl, nil
}

// Refresh asks the seeds and known nodes for cluster status: the node
// directory (every member's RPC address), group leaders and placements.
// A node reached at an address is known there, whatever it announced.
func (c *Client) Refresh(ctx context.Context) error {
	addrs := c.knownAddrs()
	var errs []error
	for _, addr := range addrs {
		cl, err := c.conn(addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st, err := cl.ClusterStatus(ctx, &rpc.ClusterStatusRequest{})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		c.mu.Lock()
		for _, n := range st.Nodes {
			c.rememberLocked(n.Id, n.RpcAddr)
		}
		c.addrOf[st.NodeId] = addr
		c.groups = int32(len(st.Groups)) - 1
		for _, g := range st.Groups {
			if g.LeaderId != "" {
				c.leader[g.Group] = g.LeaderId
			}
		}
		for _, p := range st.Placements {
			c.placement[p.ProgramId] = p.Group
		}
		c.mu.Unlock()
	}
	if len(errs) == len(addrs) {
		return fmt.Errorf("%w: %w", ErrUnavailable, errors.Join(errs...))
	}
	return nil
}

// rememberLocked records a node's RPC address, within MaxNodes.
func (c *Client) rememberLocked(id, addr string) {
	if addr != "" && (len(c.addrOf) < c.cfg.MaxNodes || c.addrOf[id] != "") {
		c.addrOf[id] = addr
	}
}

// target returns the address to try for a group: its leader if known,
// else a seed chosen by attempt.
func (c *Client) target(group int32, attempt int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id, ok := c.leader[group]; ok {
		if addr, ok := c.addrOf[id]; ok {
			return addr
		}
	}
	return c.cfg.Seeds[attempt%len(c.cfg.Seeds)]
}

// knowsLeader reports whether the client knows where a group's leader
// serves.
func (c *Client) knowsLeader(group int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.leader[group]
	if ok {
		_, ok = c.addrOf[id]
	}
	return ok
}

func (c *Client) forgetLeader(group int32) {
	c.mu.Lock()
	delete(c.leader, group)
	c.mu.Unlock()
}

// setLeader records a group's leader and, when the answer named it, the
// leader's RPC address; for a leader of unknown address it refreshes its
// view from cluster status. It reports whether the address is known.
func (c *Client) setLeader(group int32, id, addr string) bool {
	c.mu.Lock()
	c.leader[group] = id
	c.rememberLocked(id, addr)
	_, known := c.addrOf[id]
	c.mu.Unlock()
	if known {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.CallTimeout)
	defer cancel()
	c.Refresh(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	_, known = c.addrOf[id]
	return known
}

func (c *Client) backoff(ctx context.Context, attempt int) error {
	d := min(c.cfg.MaxBackoff, c.cfg.BaseBackoff<<min(attempt, 16))
	d = d/2 + rand.N(d/2+1) // jitter: spread retries of many clients
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// do runs call against the leader of group until it gets an answer it can
// return: an engine result, a bad request, or no program. A group of -1
// means "the program's group", resolved (and refreshed) from placement. A
// not-leader answer names the group it is about (the program's group for a
// create that was placed) and the client goes to that group's leader.
func (c *Client) do(ctx context.Context, group int32, program string, call func(invsvc.Client) (*rpc.Status, error)) error {
	var last error
	target := group
attempts:
	for attempt := range c.cfg.MaxAttempts {
		if target < 0 {
			c.mu.Lock()
			pg, ok := c.placement[program]
			c.mu.Unlock()
			if !ok {
				c.Refresh(ctx)
				c.mu.Lock()
				pg = c.placement[program] // unknown: group 0, which answers NO_PROGRAM
				c.mu.Unlock()
			}
			target = pg
		}
		if attempt == 0 && !c.knowsLeader(target) {
			c.Refresh(ctx) // a cold start: learn the leaders, not only this answer
		}
		cl, err := c.conn(c.target(target, attempt))
		if err != nil {
			return err
		}
		st, err := call(cl)
		if err != nil {
			// The call may or may not have run: retry the same request.
			last = err
			c.forgetLeader(target)
			if c.backoff(ctx, attempt) != nil {
				break attempts
			}
			continue
		}
		switch st.Route {
		case rpc.Route_OK, rpc.Route_BAD_REQUEST:
			return nil
		case rpc.Route_NO_PROGRAM:
			if group >= 0 || attempt > 0 {
				return nil
			}
			c.Refresh(ctx)
			target = group
		case rpc.Route_NOT_LEADER:
			last = fmt.Errorf("group %d: not the leader", st.Group)
			target = st.Group
			if st.Group == 0 && group != 0 {
				// Sent to the meta leader to learn the placement: come back
				// to the program's group after it.
				target = -1
			}
			if st.LeaderId != "" {
				// A redirect can bounce while a placement or a leadership
				// is still replicating: wait a little after the first.
				wait := 0
				if !c.setLeader(st.Group, st.LeaderId, st.LeaderAddr) {
					// Nobody knows where the leader serves yet (it has not
					// announced its address): back off as for no leader.
					wait = attempt
				}
				if attempt > 0 && c.backoff(ctx, wait) != nil {
					break attempts
				}
			} else {
				c.forgetLeader(st.Group)
				if c.backoff(ctx, attempt) != nil {
					break attempts
				}
			}
		case rpc.Route_OVERLOADED:
			last = ErrOverloaded
			if c.backoff(ctx, attempt) != nil {
				break attempts
			}
		default: // AMBIGUOUS, UNAVAILABLE: the same request again
			last = fmt.Errorf("route %v: %s", st.Route, st.Detail)
			if c.backoff(ctx, attempt) != nil {
				break attempts
			}
		}
	}
	if errors.Is(last, ErrOverloaded) {
		return ErrOverloaded
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, last)
}

// holdGroup is the group in a hold id's low bits.
func holdGroup(id int64) int32 { return int32(id & 1023) }

// CreateProgram creates a program. It goes to the meta group's leader,
// which places the program on a group; when another node leads that
// group, the answer names the group and the client sends the create there
// with the group named in it, so that the group's leader waits for the
// placement to reach it (see noderpc's CreateProgram). A create whose
// answer was lost is sent again and may answer program_exists: a caller
// that retries treats program_exists with its own spec as success, as
// the gateway does.
func (c *Client) CreateProgram(ctx context.Context, req *rpc.CreateProgramRequest) (*rpc.CreateProgramResponse, error) {
	var resp *rpc.CreateProgramResponse
	var placed int32 // the group a redirect named
	err := c.do(ctx, 0, "", func(cl invsvc.Client) (*rpc.Status, error) {
		r, err := cl.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: req.Spec, Group: placed})
		if err != nil {
			return nil, err
		}
		resp = r
		if r.Status.Route == rpc.Route_NOT_LEADER && r.Status.Group != 0 {
			placed = r.Status.Group
		}
		if r.Status.Route == rpc.Route_OK && r.Status.Code == 0 {
			c.mu.Lock()
			c.placement[req.Spec.Id] = r.Status.Group
			c.mu.Unlock()
		}
		return r.Status, nil
	})
	return resp, err
}

// SetSale opens or closes a sale.
func (c *Client) SetSale(ctx context.Context, req *rpc.SetSaleRequest) (*rpc.SetSaleResponse, error) {
	return routed(ctx, c, -1, req.ProgramId, func(cl invsvc.Client) (*rpc.SetSaleResponse, error) { return cl.SetSale(ctx, req) })
}

// PlaceHold holds seats. A request without a request id gets a random one,
// so that the client's own retries take effect once; callers pass their
// Idempotency-Key (hashed to 16 bytes) to make their retries safe too.
//
// When the program's leader is known the hold travels in a batch (see
// holdBatcher); an answer that is not final (not the leader, no answer,
// ambiguous) sends it through the routing loop with the same request id.
// A full batch queue fails at once with ErrOverloaded.
func (c *Client) PlaceHold(ctx context.Context, req *rpc.HoldRequest) (*rpc.HoldResponse, error) {
	if len(req.RequestId) == 0 {
		req.RequestId = make([]byte, 16)
		crand.Read(req.RequestId) // never fails
	}
	if b := c.holdBatcher(req.ProgramId); b != nil {
		r, err := b.place(ctx, req)
		switch {
		case err == nil && (r.Status.Route == rpc.Route_OK || r.Status.Route == rpc.Route_BAD_REQUEST):
			return r, nil
		case errors.Is(err, ErrOverloaded), ctx.Err() != nil:
			return nil, err
		case err == nil && r.Status.Route == rpc.Route_NOT_LEADER && r.Status.LeaderId != "":
			c.setLeader(r.Status.Group, r.Status.LeaderId, r.Status.LeaderAddr)
		}
	}
	return routed(ctx, c, -1, req.ProgramId, func(cl invsvc.Client) (*rpc.HoldResponse, error) { return cl.PlaceHold(ctx, req) })
}

// holdBatcher returns the batcher of the node leading a program's group,
// or nil when the client does not know it yet.
func (c *Client) holdBatcher(program string) *holdBatcher {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.placement[program]
	if !ok {
		return nil
	}
	addr, ok := c.addrOf[c.leader[g]]
	if !ok {
		return nil
	}
	b, ok := c.batchers[addr]
	if !ok {
		if len(c.batchers) >= c.cfg.MaxNodes {
			return nil
		}
		b = &holdBatcher{c: c, addr: addr}
		c.batchers[addr] = b
	}
	return b
}

// Confirm marks a hold paid (idempotent).
func (c *Client) Confirm(ctx context.Context, req *rpc.ConfirmRequest) (*rpc.HoldResponse, error) {
	return routed(ctx, c, holdGroup(req.HoldId), "", func(cl invsvc.Client) (*rpc.HoldResponse, error) { return cl.Confirm(ctx, req) })
}

// Release gives a hold back (idempotent).
func (c *Client) Release(ctx context.Context, req *rpc.ReleaseRequest) (*rpc.HoldResponse, error) {
	return routed(ctx, c, holdGroup(req.HoldId), "", func(cl invsvc.Client) (*rpc.HoldResponse, error) { return cl.Release(ctx, req) })
}

// GetHold reads a hold.
func (c *Client) GetHold(ctx context.Context, req *rpc.GetHoldRequest) (*rpc.HoldResponse, error) {
	return routed(ctx, c, holdGroup(req.HoldId), "", func(cl invsvc.Client) (*rpc.HoldResponse, error) { return cl.GetHold(ctx, req) })
}

// Availability counts a program's seats.
func (c *Client) Availability(ctx context.Context, req *rpc.AvailabilityRequest) (*rpc.AvailabilityResponse, error) {
	return routed(ctx, c, -1, req.ProgramId, func(cl invsvc.Client) (*rpc.AvailabilityResponse, error) { return cl.Availability(ctx, req) })
}

// response is any generated response with a Status.
type response interface{ GetStatus() *rpc.Status }

// routed runs call through do (see there for group and program) and
// returns the last answer.
func routed[R response](ctx context.Context, c *Client, group int32, program string, call func(invsvc.Client) (R, error)) (R, error) {
	var resp R
	err := c.do(ctx, group, program, func(cl invsvc.Client) (*rpc.Status, error) {
		r, err := call(cl)
		resp = r
		if err != nil {
			return nil, err
		}
		return r.GetStatus(), nil
	})
	return resp, err
}

// ClusterStatus returns the first answer of a seed or known node.
func (c *Client) ClusterStatus(ctx context.Context) (*rpc.ClusterStatusResponse, error) {
	var errs []error
	for _, addr := range c.knownAddrs() {
		cl, err := c.conn(addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st, err := cl.ClusterStatus(ctx, &rpc.ClusterStatusRequest{})
		if err == nil {
			return st, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return nil, fmt.Errorf("%w: %w", ErrUnavailable, errors.Join(errs...))
}

// knownAddrs returns the seeds and then every other node's address, in
// a stable order.
func (c *Client) knownAddrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	addrs := append([]string(nil), c.cfg.Seeds...)
	ids := make([]string, 0, len(c.addrOf))
	for id := range c.addrOf {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if a := c.addrOf[id]; !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// Join adds a node (its id and Raft address) to every group, meta
// included. See changeMembership.
func (c *Client) Join(ctx context.Context, nodeID, raftAddr string) error {
	return c.changeMembership(ctx, func(cl invsvc.Client) (*rpc.MembershipResponse, error) {
		return cl.Join(ctx, &rpc.JoinRequest{NodeId: nodeID, RaftAddr: raftAddr})
	})
}

// Remove takes a node out of every group and out of the directory.
func (c *Client) Remove(ctx context.Context, nodeID string) error {
	return c.changeMembership(ctx, func(cl invsvc.Client) (*rpc.MembershipResponse, error) {
		return cl.Remove(ctx, &rpc.RemoveRequest{NodeId: nodeID})
	})
}

// changeMembership runs a membership change on every group. A node
// applies it to the groups it leads and names the others, so the client
// asks every node it knows, keeps the groups that none of them led, and
// asks again (refreshing its view, with backoff) until none is left:
// leaders move while it works. Applying a change twice is harmless.
func (c *Client) changeMembership(ctx context.Context, call func(invsvc.Client) (*rpc.MembershipResponse, error)) error {
	var pending map[int32]bool
	var last error
	for attempt := range c.cfg.MaxAttempts {
		if err := c.Refresh(ctx); err != nil {
			last = err
		} else if pending == nil {
			c.mu.Lock()
			pending = map[int32]bool{}
			for g := range c.groups + 1 {
				pending[g] = true
			}
			c.mu.Unlock()
		}
		if pending != nil {
			for _, addr := range c.knownAddrs() {
				cl, err := c.conn(addr)
				if err != nil {
					last = err
					continue
				}
				r, err := call(cl)
				if err != nil {
					last = fmt.Errorf("%s: %w", addr, err)
					continue
				}
				if r.Status.Route != rpc.Route_OK {
					last = fmt.Errorf("%s: route %v: %s", addr, r.Status.Route, r.Status.Detail)
					if r.Status.Route == rpc.Route_BAD_REQUEST {
						return last
					}
					continue
				}
				notLed := map[int32]bool{}
				for _, g := range r.NotLedGroups {
					notLed[g] = true
				}
				for g := range pending {
					if !notLed[g] {
						delete(pending, g)
					}
				}
			}
			if len(pending) == 0 {
				return nil
			}
			last = fmt.Errorf("groups %v: no leader reached", slices.Sorted(maps.Keys(pending)))
		}
		if c.backoff(ctx, attempt) != nil {
			break
		}
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, last)
}

// GetProgram reads a program's description and sale state.
func (c *Client) GetProgram(ctx context.Context, req *rpc.GetProgramRequest) (*rpc.GetProgramResponse, error) {
	return routed(ctx, c, -1, req.ProgramId, func(cl invsvc.Client) (*rpc.GetProgramResponse, error) { return cl.GetProgram(ctx, req) })
}

// Block blocks or unblocks seats.
func (c *Client) Block(ctx context.Context, req *rpc.BlockRequest) (*rpc.BlockResponse, error) {
	return routed(ctx, c, -1, req.ProgramId, func(cl invsvc.Client) (*rpc.BlockResponse, error) { return cl.Block(ctx, req) })
}

// SeatMap reads a program's seats with their status.
func (c *Client) SeatMap(ctx context.Context, req *rpc.SeatMapRequest) (*rpc.SeatMapResponse, error) {
	return routed(ctx, c, -1, req.ProgramId, func(cl invsvc.Client) (*rpc.SeatMapResponse, error) { return cl.SeatMap(ctx, req) })
}
