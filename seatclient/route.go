package seatclient

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	rpc "seatd/kitex_gen/inventoryrpc"
)

// probeGap is the least time between two rounds of status probes while
// callers wait for a group's leader. A new leader takes about this long
// from winning its election to taking writes (a barrier: one replication
// and fsync round), so probing more often would mostly find nothing new,
// and probing less often would add to every failover.
const probeGap = 50 * time.Millisecond

// leadership is a group's leader as the client knows it: a node id and
// the term it was seen leading in. An empty id means that a newer term
// has begun whose leader the client does not know yet.
type leadership struct {
	id   string
	term int64
}

// probe is one status call to a node, shared by everyone who asked for
// it; a node has at most one under way.
type probe struct {
	done chan struct{} // closed when the call ended
	err  error         // set before done is closed
}

// Refresh asks every known node (the seeds and the directory) for cluster
// status at once, each within AttemptTimeout, and learns from each answer
// as it arrives: the directory, the placements, and each group's leader
// with its term, where the newest term wins. It returns when each node
// not suspect has answered or timed out (a suspect's answer still counts
// when it comes), and fails only when none answered.
func (c *Client) Refresh(ctx context.Context) error {
	c.mu.Lock()
	probes := c.probeAllLocked()
	c.mu.Unlock()
	var errs []error
	for _, p := range probes {
		select {
		case <-p.done:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
		if p.err != nil {
			errs = append(errs, p.err)
		}
	}
	if len(errs) == len(probes) {
		return fmt.Errorf("%w: no node answered: %w", ErrUnavailable, errors.Join(errs...))
	}
	return nil
}

// probeAllLocked starts a status probe of every known node that has none
// under way, and returns the probes of the nodes not suspect.
func (c *Client) probeAllLocked() []*probe {
	c.lastRound = time.Now()
	var wait []*probe
	for _, addr := range c.knownAddrsLocked() {
		p, ok := c.probes[addr]
		if !ok {
			p = &probe{done: make(chan struct{})}
			c.probes[addr] = p
			go c.probe(addr, p)
		}
		if !c.suspect[addr] {
			wait = append(wait, p)
		}
	}
	return wait
}

func (c *Client) probe(addr string, p *probe) {
	st, err := c.status(addr)
	c.mu.Lock()
	if err == nil {
		c.learnStatusLocked(addr, st)
	} else {
		p.err = fmt.Errorf("%s: %w", addr, err)
	}
	delete(c.probes, addr)
	c.mu.Unlock()
	close(p.done)
}

func (c *Client) status(addr string) (*rpc.ClusterStatusResponse, error) {
	cl, err := c.conn(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.AttemptTimeout)
	defer cancel()
	return cl.ClusterStatus(ctx, &rpc.ClusterStatusRequest{})
}

// learnStatusLocked takes in a node's cluster status. The node answered,
// so it is no longer suspect; a node reached at an address is known
// there, whatever it announced.
func (c *Client) learnStatusLocked(addr string, st *rpc.ClusterStatusResponse) {
	delete(c.suspect, addr)
	for _, n := range st.Nodes {
		c.rememberLocked(n.Id, n.RpcAddr)
	}
	c.rememberLocked(st.NodeId, addr)
	c.groups = int32(len(st.Groups)) - 1
	for _, g := range st.Groups {
		c.learnLeaderLocked(g.Group, g.LeaderId, g.Term)
	}
	for _, p := range st.Placements {
		c.placement[p.ProgramId] = p.Group
	}
	c.wakeLocked()
}

// learnLeaderLocked records that a node saw id leading group in term (id
// empty: no leader known in that term), unless the client knows of a
// newer term, or already knows this term's leader. It reports whether
// the client's view changed.
func (c *Client) learnLeaderLocked(group int32, id string, term int64) bool {
	cur, ok := c.leader[group]
	if ok && (term < cur.term || term == cur.term && (id == "" || cur.id != "")) {
		return false
	}
	c.leader[group] = leadership{id: id, term: term}
	return true
}

// learnLeader takes in a not-leader answer (see learnLeaderLocked), with
// the leader's RPC address when the answer had it.
func (c *Client) learnLeader(group int32, id, addr string, term int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rememberLocked(id, addr)
	changed := c.learnLeaderLocked(group, id, term)
	if changed {
		c.wakeLocked()
	}
	return changed
}

// wakeLocked wakes the callers waiting in awaitLeader.
func (c *Client) wakeLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// rememberLocked records a node's RPC address, within MaxNodes.
func (c *Client) rememberLocked(id, addr string) {
	if id != "" && addr != "" && (len(c.addrOf) < c.cfg.MaxNodes || c.addrOf[id] != "") {
		c.addrOf[id] = addr
	}
}

// leaderAddrLocked returns where the leader of a group serves, if the
// client knows it and the node is not suspect. A group the cluster does
// not have (the group bits of a hold id from elsewhere) has no leader,
// and any node that is not suspect answers for it: no such hold.
func (c *Client) leaderAddrLocked(group int32) (string, bool) {
	if c.groups > 0 && group > c.groups {
		for _, addr := range c.knownAddrsLocked() {
			if !c.suspect[addr] {
				return addr, true
			}
		}
		return "", false
	}
	l := c.leader[group]
	addr, ok := c.addrOf[l.id]
	if l.id == "" || !ok || c.suspect[addr] {
		return "", false
	}
	return addr, true
}

// awaitLeader returns where a group's leader serves, once the client
// knows a leader that is not suspect. Until then it probes every node,
// a round at most every probeGap, and wakes as soon as any answer names
// one.
func (c *Client) awaitLeader(ctx context.Context, group int32) (string, error) {
	for {
		c.mu.Lock()
		if addr, ok := c.leaderAddrLocked(group); ok {
			c.mu.Unlock()
			return addr, nil
		}
		changed := c.changed
		wait := probeGap - time.Since(c.lastRound)
		if wait <= 0 {
			c.probeAllLocked()
			wait = probeGap
		}
		c.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-changed:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		if err := ctx.Err(); err != nil {
			return "", err
		}
	}
}

// suspectNode notes that a node left an attempt unanswered: it may be
// dead, paused or cut off, while the others elect a new leader. Until it
// answers a status probe itself, the client sends it nothing, whoever
// names it leader (the others do until their election timeout), and holds
// and releases queued for it go back to their callers to be routed again.
func (c *Client) suspectNode(addr string, err error) {
	c.mu.Lock()
	was := c.suspect[addr]
	c.suspect[addr] = true
	b := c.batchersOf[addr]
	c.mu.Unlock()
	if !was {
		c.cfg.Log.Warn("seatd_node_suspect", "addr", addr, "err", err)
	}
	if b != nil {
		b.holds.drop()
		b.releases.drop()
	}
}

// placementOf returns a program's group, if the client knows it.
func (c *Client) placementOf(program string) (int32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.placement[program]
	return g, ok
}

// knownAddrs returns the seeds and then every other node's address, in
// a stable order.
func (c *Client) knownAddrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.knownAddrsLocked()
}

func (c *Client) knownAddrsLocked() []string {
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
