package seatclient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	rpc "seatd/kitex_gen/inventoryrpc"
)

// Errors of the cluster operations (Leaders, Rebalance, Drain, Join,
// Remove) besides ErrUnavailable.
var (
	// ErrNotMember means the node named is not a voter of the cluster
	// (and, for an undrain, not drained either): a mistyped id, or a
	// node already removed.
	ErrNotMember = errors.New("seatclient: node is not in the cluster")
	// ErrMember means a node asked to join under an id that is still a
	// voter. A fresh node under the id of a member whose disk was lost
	// would vote and acknowledge entries again having forgotten what it
	// did before (docs/cluster.md, "Replace a dead node"): remove the
	// old member first, or give the new node a new id.
	ErrMember = errors.New("seatclient: node id is already a member")
	// ErrGroupsDiffer means a new node runs another number of inventory
	// groups than the cluster: added as a voter of every group, it would
	// count in the quorum of groups it does not run (a silent loss of
	// fault tolerance) or lack some.
	ErrGroupsDiffer = errors.New("seatclient: the node's groups differ from the cluster's")
	// ErrRefused means a node refused the operation as invalid: the
	// answer's detail says why (removing a group's last voter, draining
	// the last undrained voter, a transfer to a drained node).
	ErrRefused = errors.New("seatclient: refused")
)

// GroupLeader is who leads a group, by the newest term any node reported.
type GroupLeader struct {
	Group  int32
	Leader string // node id; "" while an election is under way
	Term   int64
}

// Leadership is the cluster's leaders as the nodes report them.
type Leadership struct {
	Groups  []GroupLeader // every group, meta (0) first
	Voters  []string      // the meta group's voters, sorted
	Drained []string      // drained nodes, sorted
	// Members are the voters of any group as any node reports them,
	// sorted: a membership change under way shows in some groups first.
	Members []string
	Nodes   []*rpc.NodeInfo // the directory: member id -> RPC address
}

// Move hands one group from its leader to another node.
type Move struct {
	Group    int32
	From, To string
}

// Led counts the groups each voter leads (zero for a voter leading none).
func (l *Leadership) Led() map[string]int {
	led := map[string]int{}
	for _, v := range l.Voters {
		led[v] = 0
	}
	for _, g := range l.Groups {
		if g.Leader != "" {
			led[g.Leader]++
		}
	}
	return led
}

// eligible returns the voters that may lead: those not drained, sorted.
func (l *Leadership) eligible() []string {
	var out []string
	for _, v := range l.Voters {
		if !slices.Contains(l.Drained, v) {
			out = append(out, v)
		}
	}
	return out
}

// Share is the most groups an undrained voter leads in a balanced
// spread: ceil(groups / undrained voters), as the nodes' own balancer
// counts it (raftfsm.Node.balance); 0 when every voter is drained.
func (l *Leadership) Share() int {
	e := len(l.eligible())
	if e == 0 {
		return 0
	}
	return (len(l.Groups) + e - 1) / e
}

// Plan returns the moves that leave no group led by a drained node or a
// non-voter, and every undrained voter leading between floor(groups /
// undrained voters) and Share groups: a new or undrained node gets a
// share even when no other node leads more than Share (the nodes' own
// balancer only trims leaders above Share). Each move takes a group off
// the node leading the most and gives it to the undrained voter leading
// fewest (the lowest id on a tie), groups in order, so the plan is the
// same for the same view. It is nil for a balanced cluster, and an
// error while some group has no leader or when no voter may lead.
func (l *Leadership) Plan() ([]Move, error) {
	eligible := l.eligible()
	if len(eligible) == 0 {
		return nil, fmt.Errorf("%w: every voter is drained (voters %v)", ErrRefused, l.Voters)
	}
	share, floor := l.Share(), len(l.Groups)/len(eligible)
	led := map[string]int{}
	leaders := make([]string, len(l.Groups))
	for i, g := range l.Groups {
		if g.Leader == "" {
			return nil, fmt.Errorf("%w: group %d has no leader", ErrUnavailable, g.Group)
		}
		led[g.Leader]++
		leaders[i] = g.Leader
	}
	fewest := func() string {
		return slices.MinFunc(eligible, func(a, b string) int { return cmp.Compare(led[a], led[b]) })
	}
	var moves []Move
	move := func(i int) {
		from, to := leaders[i], fewest()
		led[from]--
		led[to]++
		leaders[i] = to
		moves = append(moves, Move{Group: l.Groups[i].Group, From: from, To: to})
	}
	for i, id := range leaders {
		if !slices.Contains(eligible, id) || led[id] > share {
			move(i)
		}
	}
	for led[fewest()] < floor {
		most := slices.MaxFunc(eligible, func(a, b string) int { return cmp.Compare(led[a], led[b]) })
		move(slices.Index(leaders, most))
	}
	return moves, nil
}

// statusAll asks every known node for its cluster status at once, each
// within AttemptTimeout, and returns the answers, retrying with backoff
// until at least one answers or ctx ends.
func (c *Client) statusAll(ctx context.Context) ([]*rpc.ClusterStatusResponse, error) {
	var last error
	for attempt := 0; ; attempt++ {
		if _, err := c.ClusterStatus(ctx); err != nil {
			last = errors.New(strings.TrimPrefix(err.Error(), ErrUnavailable.Error()+": "))
		} else {
			addrs := c.knownAddrs()
			answers := make(chan *rpc.ClusterStatusResponse, len(addrs))
			for _, addr := range addrs {
				go func() {
					cl, err := c.conn(addr)
					if err != nil {
						answers <- nil
						return
					}
					actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
					defer cancel()
					st, err := cl.ClusterStatus(actx, &rpc.ClusterStatusRequest{})
					if err != nil {
						st = nil
					}
					answers <- st
				}()
			}
			var out []*rpc.ClusterStatusResponse
			for range addrs {
				if st := <-answers; st != nil {
					out = append(out, st)
				}
			}
			if len(out) > 0 {
				return out, nil
			}
			last = errors.New("no node answered")
		}
		if c.backoff(ctx, attempt) != nil {
			return nil, fmt.Errorf("%w: cannot reach any node of %s: %v", ErrUnavailable, strings.Join(c.cfg.Seeds, ","), last)
		}
	}
}

// Leaders returns who leads each group: for each group the leader named
// in the newest term any reachable node reports, so a node that has not
// heard of an election yet does not hide it. Voters and drained nodes
// come from the answer with the newest meta term.
func (c *Client) Leaders(ctx context.Context) (*Leadership, error) {
	ctx, cancel := c.retryContext(ctx)
	defer cancel()
	answers, err := c.statusAll(ctx)
	if err != nil {
		return nil, err
	}
	l := &Leadership{}
	newest := map[int32]GroupLeader{}
	var metaTerm int64 = -1
	// The meta leader's answer first: it applied a drain before it
	// acknowledged it, where a follower may be a commit round behind.
	slices.SortStableFunc(answers, func(a, b *rpc.ClusterStatusResponse) int {
		return cmp.Compare(metaLeaderTerm(b), metaLeaderTerm(a))
	})
	for _, st := range answers {
		for _, g := range st.Groups {
			for _, v := range g.Voters {
				if !slices.Contains(l.Members, v) {
					l.Members = append(l.Members, v)
				}
			}
			cur, seen := newest[g.Group]
			if !seen || g.Term > cur.Term || g.Term == cur.Term && cur.Leader == "" {
				newest[g.Group] = GroupLeader{Group: g.Group, Leader: g.LeaderId, Term: g.Term}
			}
			if g.Group == 0 && g.Term > metaTerm {
				metaTerm = g.Term
				l.Voters = slices.Sorted(slices.Values(g.Voters))
				l.Drained, l.Nodes = st.Drained, st.Nodes
			}
		}
	}
	for _, g := range newest {
		l.Groups = append(l.Groups, g)
	}
	slices.SortFunc(l.Groups, func(a, b GroupLeader) int { return cmp.Compare(a.Group, b.Group) })
	slices.Sort(l.Members)
	return l, nil
}

// metaLeaderTerm is the meta group's term in an answer from its leader
// once writable (it has applied every entry of earlier terms: a leader
// just elected may not have applied the last drain mark yet), -1 in one
// from any other node.
func metaLeaderTerm(st *rpc.ClusterStatusResponse) int64 {
	for _, g := range st.Groups {
		if g.Group == 0 && g.State == "Leader" && g.Writable {
			return g.Term
		}
	}
	return -1
}

// CheckNewNode returns ErrMember when nodeID is a voter of some group: a
// node without Raft state must not take it (see ErrMember); and
// ErrGroupsDiffer when the cluster has other than groups inventory
// groups. A node checks before it starts its Raft listener, since the
// leaders of a member at the same address would replicate to it at once.
func (c *Client) CheckNewNode(ctx context.Context, nodeID string, groups int) error {
	l, err := c.Leaders(ctx)
	if err != nil {
		return err
	}
	if slices.Contains(l.Members, nodeID) {
		return fmt.Errorf("%w: %q is a voter (members %s): remove it first, or join under a new id",
			ErrMember, nodeID, strings.Join(l.Members, ", "))
	}
	if have := len(l.Groups) - 1; have != groups {
		return fmt.Errorf("%w: the cluster has %d inventory groups and this node -groups %d: start it with -groups %d",
			ErrGroupsDiffer, have, groups, have)
	}
	return nil
}

// addrOfNode returns a member's RPC address from the directory, "" if it
// has none.
func (l *Leadership) addrOfNode(id string) string {
	for _, n := range l.Nodes {
		if n.Id == id {
			return n.RpcAddr
		}
	}
	return ""
}

// checkMember returns ErrNotMember, naming the members, unless id is a
// voter of some group (or, with drained true, a drained node).
func (l *Leadership) checkMember(id string, drained bool) error {
	if slices.Contains(l.Members, id) || drained && slices.Contains(l.Drained, id) {
		return nil
	}
	return fmt.Errorf("%w: %q (members %s)", ErrNotMember, id, strings.Join(l.Members, ", "))
}

// Rebalance moves group leaderships until Plan has nothing left to do:
// no drained node leads a group and no undrained voter leads more than
// its share. Each round reads the leaders, asks each moving group's
// leader to hand it over (TransferGroup), and reads again; leaders move
// on their own meanwhile (elections, the nodes' balancer), so it repeats
// until the plan is empty or ctx ends. It returns the moves made.
func (c *Client) Rebalance(ctx context.Context) ([]Move, error) {
	ctx, cancel := c.retryContext(ctx)
	defer cancel()
	var done []Move
	var last error
	for attempt := 0; ; attempt++ {
		l, err := c.Leaders(ctx)
		if err != nil {
			return done, err
		}
		moves, err := l.Plan()
		switch {
		case errors.Is(err, ErrRefused):
			return done, err
		case err != nil:
			last = err
		case len(moves) == 0:
			return done, nil
		}
		for _, m := range moves {
			// A refusal too is tried again: the leader's replica of the
			// meta group may not have applied an undrain yet, or its
			// configuration a join.
			if err := c.transfer(ctx, l, m); err != nil {
				last = err
				continue
			}
			done = append(done, m)
		}
		if c.backoff(ctx, attempt) != nil {
			return done, fmt.Errorf("%w: leaders not balanced: %w (%w)", ErrUnavailable, last, ctx.Err())
		}
	}
}

// transfer asks a group's leader to hand it to m.To.
func (c *Client) transfer(ctx context.Context, l *Leadership, m Move) error {
	addr := l.addrOfNode(m.From)
	if addr == "" {
		return fmt.Errorf("group %d: leader %s has no RPC address in the directory", m.Group, m.From)
	}
	cl, err := c.conn(addr)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	r, err := cl.TransferGroup(actx, &rpc.TransferGroupRequest{Group: m.Group, ToNode: m.To})
	return answerErr(addr, r, err)
}

// answerErr turns a membership answer into an error: nil for OK,
// ErrRefused for BAD_REQUEST, a plain error otherwise (to try again).
func answerErr(addr string, r *rpc.MembershipResponse, err error) error {
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", addr, err)
	case r.Status.Route == rpc.Route_OK:
		return nil
	case r.Status.Route == rpc.Route_BAD_REQUEST:
		return fmt.Errorf("%w: %s", ErrRefused, r.Status.Detail)
	default:
		return fmt.Errorf("%s: route %v: %s", addr, r.Status.Route, r.Status.Detail)
	}
}

// Drain marks a node drained and then rebalances (see Rebalance), so
// that on success it leads no group: every group it led has another
// leader, and the nodes' balancer gives it none until Undrain. The mark
// is replicated and outlasts restarts. It fails with ErrNotMember for a
// node that is not a voter and ErrRefused for the last undrained voter.
func (c *Client) Drain(ctx context.Context, nodeID string) ([]Move, error) {
	return c.setDrained(ctx, nodeID, true)
}

// Undrain clears a node's drain mark and rebalances, so that on success
// it leads its share of the groups again. It fails with ErrNotMember for
// a node neither a voter nor drained.
func (c *Client) Undrain(ctx context.Context, nodeID string) ([]Move, error) {
	return c.setDrained(ctx, nodeID, false)
}

func (c *Client) setDrained(ctx context.Context, id string, on bool) ([]Move, error) {
	ctx, cancel := c.retryContext(ctx)
	defer cancel()
	var last error
	for attempt := 0; ; attempt++ {
		l, err := c.Leaders(ctx)
		if err != nil {
			return nil, err
		}
		if err := l.checkMember(id, !on); err != nil {
			return nil, err
		}
		last = fmt.Errorf("group 0: no leader known")
		if meta := l.addrOfNode(l.Groups[0].Leader); meta != "" {
			last = c.callDrain(ctx, meta, id, on)
		}
		if last == nil {
			return c.rebalanceAfterDrain(ctx, id, on)
		}
		if errors.Is(last, ErrRefused) {
			return nil, last
		}
		if c.backoff(ctx, attempt) != nil {
			return nil, fmt.Errorf("%w: %w (%w)", ErrUnavailable, last, ctx.Err())
		}
	}
}

// rebalanceAfterDrain waits until the leaders' view shows the node's new
// mark (the meta leader that applied it may have moved on to a replica a
// commit round behind), then rebalances.
func (c *Client) rebalanceAfterDrain(ctx context.Context, id string, on bool) ([]Move, error) {
	for attempt := 0; ; attempt++ {
		l, err := c.Leaders(ctx)
		if err != nil {
			return nil, err
		}
		if slices.Contains(l.Drained, id) == on {
			return c.Rebalance(ctx)
		}
		if c.backoff(ctx, attempt) != nil {
			return nil, fmt.Errorf("%w: node %q: the drain mark never showed (%w)", ErrUnavailable, id, ctx.Err())
		}
	}
}

func (c *Client) callDrain(ctx context.Context, addr, id string, on bool) error {
	cl, err := c.conn(addr)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	r, err := cl.Drain(actx, &rpc.DrainRequest{NodeId: id, Drained: on})
	return answerErr(addr, r, err)
}
