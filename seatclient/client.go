// Package seatclient is the routing client of the inventory nodes, used by
// every caller of seatd (the gateway, the order flow, tools). It knows
// which group holds each program and which node leads each group, sends
// every call to that leader, follows not-leader answers, and retries
// answers that are not final with the same request id, so that a retried
// hold takes effect once, until the caller's context ends.
//
// A leader that stops answering (killed, paused, cut off) costs a caller
// one AttemptTimeout, not its whole deadline: the node becomes suspect and
// gets nothing more until it answers a status probe itself, while the
// client probes every node for the group's new leader and trusts the
// answer with the newest term. See docs/replication.md, "The routing
// client".
//
// Concurrency: a Client is safe for concurrent use. Status probes and
// hold and release batches run on goroutines of their own, at most one
// probe and HoldCallsPerNode batches of each kind per node.
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
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/connpool"

	rpc "seatd/kitex_gen/inventoryrpc"
	invsvc "seatd/kitex_gen/inventoryrpc/inventory"
)

// Errors a call can end with besides its response.
var (
	// ErrUnavailable means the caller's context (or RetryTimeout) ended
	// before a leader gave an answer that could be returned. A hold or
	// other change may or may not have taken effect; retrying it with
	// the same request id is safe.
	ErrUnavailable = errors.New("seatclient: inventory unavailable")
	// ErrOverloaded means the leader kept refusing for load, or the
	// client's own queue of holds for a node was full.
	ErrOverloaded = errors.New("seatclient: inventory overloaded")
)

// errNotSent hands a queued hold or release back to its caller unsent:
// its node became suspect while it waited (see batcher.drop).
var errNotSent = errors.New("seatclient: not sent: its node stopped answering")

// Config configures a Client. Zero fields take the defaults.
type Config struct {
	// Seeds are RPC addresses of some nodes; the client learns the rest.
	Seeds []string
	// RetryTimeout bounds how long a call whose context has no deadline
	// keeps trying; a call with a deadline tries until it. Default 10s:
	// longer than any failover, shorter than forever.
	RetryTimeout time.Duration
	// AttemptTimeout bounds one attempt of a call at a node (a batch of
	// holds, a read, a confirm, a sale change) and one status probe. A
	// node that leaves an attempt unanswered becomes suspect. Default
	// 500ms: far above a healthy leader's slowest answers (p99 about 15 ms
	// at 45,000 holds/s on the 2-core test machine), and below the 0.5-1.5 s
	// its followers take to notice a dead leader and elect another, so
	// that a frozen leader costs a caller no more than the election does.
	AttemptTimeout time.Duration
	// CallTimeout bounds one attempt of the calls that are slow by nature:
	// creating a program (a large layout to replicate, and a placement to
	// wait for, up to noderpc.MaxPlacementWait) and membership changes.
	// Default 30s: a program of millions of seats in narrow rows takes a
	// replica seconds to validate and apply on a small machine.
	CallTimeout time.Duration
	// BaseBackoff and MaxBackoff bound the jittered exponential wait
	// between retries of answers that ask for one (overloaded, ambiguous,
	// unavailable, a redirect that names no one new). Defaults 10ms and
	// 500ms.
	BaseBackoff, MaxBackoff time.Duration
	// MaxNodes bounds the nodes the client keeps connections to. Default 64.
	MaxNodes int
	// MaxIdleConnsPerNode bounds the pooled connections to one node. Kitex
	// suggests about calls per second x response time; too few and every
	// call past them opens and closes a TCP connection. Default 256.
	MaxIdleConnsPerNode int
	// HoldCallsPerNode bounds the PlaceHolds calls under way to one node,
	// and apart from them its ReleaseHolds calls; holds (releases) that
	// find them all busy wait for the next call and travel together.
	// Default 2: on the 2-core test machine 1 call capped the throughput,
	// and more calls meant smaller batches and more CPU per hold.
	HoldCallsPerNode int
	// MaxQueuedHolds bounds the holds waiting for a call to one node, and
	// apart from them the releases, so a burst of one kind never fails
	// the other; past it a hold or release fails at once with
	// ErrOverloaded. Default 4096.
	MaxQueuedHolds int
	Log            *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.RetryTimeout == 0 {
		c.RetryTimeout = 10 * time.Second
	}
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = 500 * time.Millisecond
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 30 * time.Second
	}
	if c.BaseBackoff == 0 {
		c.BaseBackoff = 10 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 500 * time.Millisecond
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

	mu         sync.Mutex // guards the fields below
	conns      map[string]invsvc.Client
	batchersOf map[string]*nodeBatchers // by RPC address, as conns
	addrOf     map[string]string        // node id -> RPC address
	leader     map[int32]leadership     // group -> its newest known leader
	placement  map[string]int32         // program -> group
	groups     int32
	suspect    map[string]bool   // RPC addresses that left an attempt unanswered (see suspectNode)
	probes     map[string]*probe // status probes under way, by RPC address
	lastRound  time.Time         // when the last round of probes started
	changed    chan struct{}     // closed, and replaced, when the client learns a status (see awaitLeader)

	holdBatches    batchKind[*rpc.HoldRequest]
	releaseBatches batchKind[*rpc.ReleaseRequest]
}

// Stats counts the client's batched traffic.
type Stats struct {
	HoldCalls       uint64 // PlaceHolds calls made
	BatchedHolds    uint64 // holds they carried (BatchedHolds/HoldCalls = mean batch)
	ReleaseCalls    uint64 // ReleaseHolds calls made
	BatchedReleases uint64 // releases they carried
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{HoldCalls: c.holdBatches.calls.Load(), BatchedHolds: c.holdBatches.requests.Load(),
		ReleaseCalls: c.releaseBatches.calls.Load(), BatchedReleases: c.releaseBatches.requests.Load()}
}

// New returns a client; it connects lazily.
func New(cfg Config) (*Client, error) {
	if len(cfg.Seeds) == 0 {
		return nil, errors.New("seatclient: no seed addresses")
	}
	cfg = cfg.withDefaults()
	var errs []error
	if cfg.RetryTimeout < 0 || cfg.AttemptTimeout < 0 || cfg.CallTimeout < cfg.AttemptTimeout {
		errs = append(errs, fmt.Errorf("seatclient: retry timeout %v, attempt timeout %v, call timeout %v: want positive, and calls at least attempts",
			cfg.RetryTimeout, cfg.AttemptTimeout, cfg.CallTimeout))
	}
	if cfg.BaseBackoff <= 0 || cfg.MaxBackoff < cfg.BaseBackoff {
		errs = append(errs, fmt.Errorf("seatclient: backoff %v-%v: out of range", cfg.BaseBackoff, cfg.MaxBackoff))
	}
	if cfg.HoldCallsPerNode < 1 || cfg.HoldCallsPerNode > 64 || cfg.MaxQueuedHolds < 1 || cfg.MaxQueuedHolds > 1<<20 {
		errs = append(errs, fmt.Errorf("seatclient: hold calls per node %d (want 1-64), queued holds %d (want 1-%d): out of range",
			cfg.HoldCallsPerNode, cfg.MaxQueuedHolds, 1<<20))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, conns: map[string]invsvc.Client{}, batchersOf: map[string]*nodeBatchers{}, addrOf: map[string]string{},
		leader: map[int32]leadership{}, placement: map[string]int32{}, suspect: map[string]bool{}, probes: map[string]*probe{},
		changed: make(chan struct{})}
	c.holdBatches.call = placeHolds
	c.releaseBatches.call = releaseHolds
	return c, nil
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

// retryContext bounds a call by RetryTimeout when its context has no
// deadline.
func (c *Client) retryContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.cfg.RetryTimeout)
}

// backoff waits the n-th step of the jittered exponential backoff.
func (c *Client) backoff(ctx context.Context, n int) error {
	d := min(c.cfg.MaxBackoff, c.cfg.BaseBackoff<<min(n, 16))
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

// attemptFunc makes one attempt of a call at the node at addr (cl is its
// connection), about group. An error means no answer: the call may or may
// not have run.
type attemptFunc func(ctx context.Context, cl invsvc.Client, addr string, group int32) (*rpc.Status, error)

// do runs attempt against the leader of group until it gets an answer it
// can return (an engine result, a bad request, or no program) or the
// caller's context ends (RetryTimeout without a deadline). A group of -1
// means "the program's group", resolved (and refreshed) from placement.
//
//   - No answer (a lost connection, or AttemptTimeout passed): the node
//     becomes suspect (see suspectNode) and the same request goes to the
//     group's leader once the client knows one that is not suspect.
//   - Not the leader: the answer names the group it is about (the
//     program's group for a create that was placed) and, with its term,
//     the leader the answering node knows. The client goes there at once
//     when that is news or the call's first redirect, and after a backoff
//     otherwise: a redirect can repeat while a placement or a leadership
//     is still replicating.
//   - Overloaded, ambiguous, unavailable, or the program is moving to
//     another group or has moved (program_moving, program_moved): the same
//     request again after a backoff, refreshing the placement when a
//     program moved.
func (c *Client) do(ctx context.Context, group int32, program string, attempt attemptFunc) error {
	ctx, cancel := c.retryContext(ctx)
	defer cancel()
	var last error // why the latest attempt was not the end
	target, waits, redirected, refreshed := group, 0, false, false
	for ctx.Err() == nil {
		if target < 0 {
			g, ok := c.placementOf(program)
			if !ok {
				c.Refresh(ctx)
				g, _ = c.placementOf(program) // unknown: group 0, which answers NO_PROGRAM
			}
			target = g
		}
		addr, err := c.awaitLeader(ctx, target)
		if err != nil {
			last = fmt.Errorf("group %d: no leader known", target)
			break
		}
		cl, err := c.conn(addr)
		if err != nil {
			return err
		}
		st, err := attempt(ctx, cl, addr, target)
		if err != nil {
			switch {
			case errors.Is(err, ErrOverloaded):
				return err
			case ctx.Err() != nil:
			case errors.Is(err, errNotSent):
			default:
				last = fmt.Errorf("%s: %w", addr, err)
				c.suspectNode(addr, err)
			}
			continue
		}
		switch {
		case st.Route == rpc.Route_OK && (st.Code == codeProgramMoving || st.Code == codeProgramMoved):
			// The program is moving to another group, or moved: nothing
			// applied. Once it moved, the placement names its new group,
			// and the old group's nodes send hold ids on to it.
			last = fmt.Errorf("group %d: %s", st.Group, st.CodeName)
			if st.Code == codeProgramMoved && group < 0 {
				c.Refresh(ctx)
			}
			target = group
			c.backoff(ctx, waits)
			waits++
			continue
		}
		switch st.Route {
		case rpc.Route_OK, rpc.Route_BAD_REQUEST:
			return nil
		case rpc.Route_NO_PROGRAM:
			if group >= 0 || refreshed {
				return nil
			}
			// Perhaps placed since the client last looked: learn the
			// placement and try once more.
			refreshed = true
			c.Refresh(ctx)
			target = group
			continue
		case rpc.Route_NOT_LEADER:
			last = fmt.Errorf("group %d: %s is not the leader", st.Group, addr)
			news := c.learnLeader(st.Group, st.LeaderId, st.LeaderAddr, st.Term)
			if st.Group == 0 && group != 0 {
				// The node has no placement for the program (yet): come
				// back to the program's group, or learn that it has none.
				target = -1
			} else {
				target = st.Group
			}
			if news || !redirected {
				redirected, waits = true, 0
				continue
			}
		case rpc.Route_OVERLOADED:
			last = ErrOverloaded
		default: // AMBIGUOUS, UNAVAILABLE: the same request again
			last = fmt.Errorf("%s: route %v: %s", addr, st.Route, st.Detail)
		}
		c.backoff(ctx, waits)
		waits++
	}
	if errors.Is(last, ErrOverloaded) {
		return ErrOverloaded
	}
	if last == nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
	return fmt.Errorf("%w: %w (%w)", ErrUnavailable, last, ctx.Err())
}

// The engine results (inventory.ResultProgramMoving, ResultProgramMoved)
// that do retries: a program moving to another group refuses changes for
// a moment (docs/move-program.md).
const (
	codeProgramMoving = 34
	codeProgramMoved  = 35
)

// holdGroup is the group in a hold id's low bits.
func holdGroup(id int64) int32 { return int32(id & 1023) }

// CreateProgram creates a program. It goes to the meta group's leader,
// which places the program on a group; when another node leads that
// group, the answer names the group and the client sends the create there
// with the group named in it, so that the group's leader waits for the
// placement to reach it (see noderpc's CreateProgram). A create whose
// answer was lost is sent again and may answer program_exists: the
// answer's identical says whether the stored program is the one asked
// for, in which case the create succeeded, and its spec is the program
// either way.
func (c *Client) CreateProgram(ctx context.Context, req *rpc.CreateProgramRequest) (*rpc.CreateProgramResponse, error) {
	var resp *rpc.CreateProgramResponse
	err := c.do(ctx, 0, "", func(ctx context.Context, cl invsvc.Client, _ string, group int32) (*rpc.Status, error) {
		ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
		defer cancel()
		r, err := cl.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: req.Spec, Group: group})
		if err != nil {
			return nil, err
		}
		resp = r
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
	return routed(ctx, c, -1, req.ProgramId, func(ctx context.Context, cl invsvc.Client) (*rpc.SetSaleResponse, error) {
		return cl.SetSale(ctx, req)
	})
}

// PlaceHold holds seats. A request without a request id gets a random one,
// so that the client's own retries take effect once; callers pass their
// Idempotency-Key (hashed to 16 bytes) to make their retries safe too.
//
// The hold travels to the leader of the program's group in a batch (see
// batcher); an answer that is not final (not the leader, no answer,
// ambiguous) sends it round the routing loop (see do) with the same
// request id. A full batch queue fails at once with ErrOverloaded.
func (c *Client) PlaceHold(ctx context.Context, req *rpc.HoldRequest) (*rpc.HoldResponse, error) {
	if len(req.RequestId) == 0 {
		req.RequestId = make([]byte, 16)
		crand.Read(req.RequestId) // never fails
	}
	return batched(ctx, c, -1, req.ProgramId, func(b *nodeBatchers) *batcher[*rpc.HoldRequest] { return b.holds }, req)
}

// batched sends req round the routing loop (see do), each attempt in a
// batch to the node the loop chose: the batcher pick returns.
func batched[Req any](ctx context.Context, c *Client, group int32, program string, pick func(*nodeBatchers) *batcher[Req], req Req) (*rpc.HoldResponse, error) {
	var resp *rpc.HoldResponse
	err := c.do(ctx, group, program, func(ctx context.Context, _ invsvc.Client, addr string, _ int32) (*rpc.Status, error) {
		r, err := pick(c.batchers(addr)).place(ctx, req)
		if err != nil {
			return nil, err
		}
		resp = r
		return r.Status, nil
	})
	return resp, err
}

// batchers returns the batchers of the node at addr, a node the client
// has a connection to (so there are at most MaxNodes).
func (c *Client) batchers(addr string) *nodeBatchers {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.batchersOf[addr]
	if !ok {
		b = &nodeBatchers{
			holds:    &batcher[*rpc.HoldRequest]{c: c, addr: addr, kind: &c.holdBatches},
			releases: &batcher[*rpc.ReleaseRequest]{c: c, addr: addr, kind: &c.releaseBatches},
		}
		c.batchersOf[addr] = b
	}
	return b
}

// Confirm marks a hold paid (idempotent).
func (c *Client) Confirm(ctx context.Context, req *rpc.ConfirmRequest) (*rpc.HoldResponse, error) {
	return routed(ctx, c, holdGroup(req.HoldId), "", func(ctx context.Context, cl invsvc.Client) (*rpc.HoldResponse, error) {
		return cl.Confirm(ctx, req)
	})
}

// Release gives a hold back (idempotent). It travels to the leader of the
// hold's group in a batch, as a hold does (see PlaceHold): a flash sale
// releases nearly as many holds as it places. A full release queue fails
// at once with ErrOverloaded; the release may be sent again.
func (c *Client) Release(ctx context.Context, req *rpc.ReleaseRequest) (*rpc.HoldResponse, error) {
	return batched(ctx, c, holdGroup(req.HoldId), "", func(b *nodeBatchers) *batcher[*rpc.ReleaseRequest] { return b.releases }, req)
}

// Refund refunds some or all seats of a confirmed hold: they go back on
// sale or are blocked, as the program says. A repeat of a refund that took
// effect answers already_refunded.
func (c *Client) Refund(ctx context.Context, req *rpc.RefundRequest) (*rpc.RefundResponse, error) {
	return routed(ctx, c, holdGroup(req.HoldId), "", func(ctx context.Context, cl invsvc.Client) (*rpc.RefundResponse, error) {
		return cl.Refund(ctx, req)
	})
}

// GetHold reads a hold.
func (c *Client) GetHold(ctx context.Context, req *rpc.GetHoldRequest) (*rpc.HoldResponse, error) {
	return routed(ctx, c, holdGroup(req.HoldId), "", func(ctx context.Context, cl invsvc.Client) (*rpc.HoldResponse, error) {
		return cl.GetHold(ctx, req)
	})
}

// Availability counts a program's seats.
func (c *Client) Availability(ctx context.Context, req *rpc.AvailabilityRequest) (*rpc.AvailabilityResponse, error) {
	return routed(ctx, c, -1, req.ProgramId, func(ctx context.Context, cl invsvc.Client) (*rpc.AvailabilityResponse, error) {
		return cl.Availability(ctx, req)
	})
}

// response is any generated response with a Status.
type response interface{ GetStatus() *rpc.Status }

// routed runs call through do (see there for group and program), each
// attempt within AttemptTimeout, and returns the last answer.
func routed[R response](ctx context.Context, c *Client, group int32, program string, call func(context.Context, invsvc.Client) (R, error)) (R, error) {
	var resp R
	err := c.do(ctx, group, program, func(ctx context.Context, cl invsvc.Client, _ string, _ int32) (*rpc.Status, error) {
		ctx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
		defer cancel()
		r, err := call(ctx, cl)
		if err != nil {
			return nil, err
		}
		resp = r
		return r.GetStatus(), nil
	})
	return resp, err
}

// ClusterStatus returns the cluster as the first node to answer sees it.
// Every known node is asked at once, each within AttemptTimeout: a frozen
// node (a paused process keeps its connections open and says nothing)
// then costs nothing while another answers, where asking the nodes in
// turn waited out the caller's deadline on the first seed. The answer is
// taken in as a status probe's is (see learnStatusLocked).
func (c *Client) ClusterStatus(ctx context.Context) (*rpc.ClusterStatusResponse, error) {
	type answer struct {
		addr string
		st   *rpc.ClusterStatusResponse
		err  error
	}
	addrs := c.knownAddrs() // at most the seeds and MaxNodes
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()                           // the slower calls end with the first answer
	answers := make(chan answer, len(addrs)) // buffered: no call waits for a reader
	for _, addr := range addrs {
		go func() {
			cl, err := c.conn(addr)
			if err != nil {
				answers <- answer{addr: addr, err: err}
				return
			}
			actx, acancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
			defer acancel()
			st, err := cl.ClusterStatus(actx, &rpc.ClusterStatusRequest{})
			answers <- answer{addr, st, err}
		}()
	}
	var errs []error
	for range addrs {
		a := <-answers
		if a.err == nil {
			c.mu.Lock()
			c.learnStatusLocked(a.addr, a.st)
			c.mu.Unlock()
			return a.st, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", a.addr, a.err))
	}
	return nil, fmt.Errorf("%w: %w", ErrUnavailable, errors.Join(errs...))
}

// ListPrograms returns a page of the programs (noderpc.ListPrograms) as
// the first node to answer has them, asking the known nodes in turn,
// each within AttemptTimeout. A refusal of the request (a bad limit) is
// the answer's status, not an error.
func (c *Client) ListPrograms(ctx context.Context, req *rpc.ListProgramsRequest) (*rpc.ListProgramsResponse, error) {
	var errs []error
	for _, addr := range c.knownAddrs() {
		cl, err := c.conn(addr)
		if err == nil {
			actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
			var resp *rpc.ListProgramsResponse
			resp, err = cl.ListPrograms(actx, req)
			cancel()
			if err == nil {
				return resp, nil
			}
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("%w: %w", ErrUnavailable, errors.Join(errs...))
}

// Join adds a node (its id and Raft address, running groups inventory
// groups) to every group, meta included. See changeMembership. It fails,
// changing nothing, with ErrMember when the id is a voter of some group
// already (the caller is a node without Raft state, and a member under
// its id that lost its state must be removed first), and with
// ErrGroupsDiffer when the cluster runs another number of groups.
func (c *Client) Join(ctx context.Context, nodeID, raftAddr string, groups int) error {
	ctx, cancel := c.retryContext(ctx)
	defer cancel()
	if err := c.CheckNewNode(ctx, nodeID, groups); err != nil {
		return err
	}
	return c.changeMembership(ctx, func(cl invsvc.Client) (*rpc.MembershipResponse, error) {
		return cl.Join(ctx, &rpc.JoinRequest{NodeId: nodeID, RaftAddr: raftAddr})
	})
}

// Remove takes a node out of every group and out of the directory. It
// fails with ErrNotMember for a node that is a voter of no group, and
// with ErrRefused for the last voter of a group (which could never elect
// a leader again).
func (c *Client) Remove(ctx context.Context, nodeID string) error {
	ctx, cancel := c.retryContext(ctx)
	defer cancel()
	l, err := c.Leaders(ctx)
	if err != nil {
		return err
	}
	if err := l.checkMember(nodeID, false); err != nil {
		return err
	}
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
	ctx, cancel := c.retryContext(ctx)
	defer cancel()
	var pending map[int32]bool
	var last error
	for attempt := 0; ; attempt++ {
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
				if err := answerErr(addr, r, nil); err != nil {
					if errors.Is(err, ErrRefused) {
						return err
					}
					last = err
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
	return fmt.Errorf("%w: %w (%w)", ErrUnavailable, last, ctx.Err())
}

// GetProgram reads a program's description and sale state.
func (c *Client) GetProgram(ctx context.Context, req *rpc.GetProgramRequest) (*rpc.GetProgramResponse, error) {
	return routed(ctx, c, -1, req.ProgramId, func(ctx context.Context, cl invsvc.Client) (*rpc.GetProgramResponse, error) {
		return cl.GetProgram(ctx, req)
	})
}

// Block blocks or unblocks seats.
func (c *Client) Block(ctx context.Context, req *rpc.BlockRequest) (*rpc.BlockResponse, error) {
	return routed(ctx, c, -1, req.ProgramId, func(ctx context.Context, cl invsvc.Client) (*rpc.BlockResponse, error) {
		return cl.Block(ctx, req)
	})
}

// SeatMap reads a program's seats with their status.
func (c *Client) SeatMap(ctx context.Context, req *rpc.SeatMapRequest) (*rpc.SeatMapResponse, error) {
	return routed(ctx, c, -1, req.ProgramId, func(ctx context.Context, cl invsvc.Client) (*rpc.SeatMapResponse, error) {
		return cl.SeatMap(ctx, req)
	})
}

// Move runs one step of a program move on the leader of the request's
// group (the meta group's for REPLACE), following NOT_LEADER answers and
// retrying as do does, and returns the step's answer, program_moving and
// program_moved included: they are answers to the mover, not refusals to
// retry.
func (c *Client) Move(ctx context.Context, req *rpc.MoveRequest) (*rpc.MoveResponse, error) {
	group := req.Group
	if req.Step == rpc.MoveStep_REPLACE {
		group = 0
	}
	var resp *rpc.MoveResponse
	err := c.do(ctx, group, req.ProgramId, func(ctx context.Context, cl invsvc.Client, _ string, _ int32) (*rpc.Status, error) {
		ctx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
		defer cancel()
		r, err := cl.Move(ctx, req)
		if err != nil {
			return nil, err
		}
		resp = r
		st := *r.Status
		st.Code = 0 // do's routing only: the code is the caller's
		return &st, nil
	})
	return resp, err
}
