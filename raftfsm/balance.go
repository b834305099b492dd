package raftfsm

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// peerAnswers records when each peer last answered an AppendEntries of
// this node (a heartbeat or entries) in any group this node leads. The
// zero value is ready to use.
type peerAnswers struct {
	mu   sync.Mutex // guards last
	last map[raft.ServerID]time.Time
}

// record notes an answer from a peer; guardedTransport calls it.
func (a *peerAnswers) record(id raft.ServerID) {
	now := time.Now()
	a.mu.Lock()
	if a.last == nil {
		a.last = map[raft.ServerID]time.Time{}
	}
	a.last[id] = now
	a.mu.Unlock()
}

// answering reports which of the voters answered within the last d, and
// forgets every peer that is not a voter, so that the table stays as
// small as the configuration.
func (a *peerAnswers) answering(voters []raft.Server, d time.Duration) map[raft.ServerID]bool {
	now := time.Now()
	ok := map[raft.ServerID]bool{}
	a.mu.Lock()
	defer a.mu.Unlock()
	keep := map[raft.ServerID]time.Time{}
	for _, v := range voters {
		if t, seen := a.last[v.ID]; seen {
			keep[v.ID] = t
			ok[v.ID] = now.Sub(t) < d
		}
	}
	a.last = keep
	return ok
}

// balance hands one group to the voter leading the fewest groups when this
// node leads more than its share, ceil(groups / undrained voters). Every
// node sees every group's leader, so each decides alone; one transfer per
// interval keeps leaderships from flapping. A drained node instead hands
// every group it leads over at once (an election may have given it one),
// and no node hands a group to a drained voter.
//
// Only a voter that answered this node's heartbeats within the last
// HeartbeatTimeout can receive a group. After a leader dies or freezes,
// the survivors lead its groups and the silent node leads none, so it
// looks like the best target; but a transfer to it stops the group's
// writes until raft gives up on it (an election timeout), again every
// interval.
func (n *Node) balance() {
	led := map[string]int{}
	var mine []*group
	var voters []raft.Server
	for _, g := range n.groups {
		_, id := g.raft.LeaderWithID()
		if id == "" {
			return // an election is under way: wait for a stable view
		}
		led[string(id)]++
		if g.raft.State() == raft.Leader {
			mine = append(mine, g)
		}
		if voters == nil {
			if f := g.raft.GetConfiguration(); f.Error() == nil {
				for _, s := range f.Configuration().Servers {
					if s.Suffrage == raft.Voter && !n.meta.tables.isDrained(string(s.ID)) {
						voters = append(voters, s)
					}
				}
			}
		}
	}
	drained := n.meta.tables.isDrained(n.cfg.ID)
	if len(mine) == 0 || len(voters) < 1 || (!drained && len(voters) < 2) {
		return
	}
	answering := n.answers.answering(voters, n.cfg.HeartbeatTimeout)
	target := func() *raft.Server {
		var t *raft.Server
		for i := range voters {
			v := &voters[i]
			if string(v.ID) != n.cfg.ID && answering[v.ID] && (t == nil || led[string(v.ID)] < led[string(t.ID)]) {
				t = v
			}
		}
		return t
	}
	if drained {
		for _, g := range mine {
			t := target()
			if t == nil {
				return
			}
			n.handOver(g, t, "leadership_drained", "leadership_drain_failed")
			led[string(t.ID)]++
		}
		return
	}
	share := (len(n.groups) + len(voters) - 1) / len(voters)
	if len(mine) <= share {
		return
	}
	t := target()
	if t == nil || led[string(t.ID)]+1 >= len(mine) {
		return // no one to hand a group to, or moving one would not even things out
	}
	n.handOver(mine[len(mine)-1], t, "leadership_balanced", "leadership_balance_failed")
}

// handOver transfers a group's leadership to a voter, and logs done or
// failed.
func (n *Node) handOver(g *group, to *raft.Server, done, failed string) {
	if err := g.raft.LeadershipTransferToServer(to.ID, to.Address).Error(); err != nil {
		n.cfg.Log.Warn(failed, "group", g.id, "to", string(to.ID), "err", err)
		return
	}
	n.cfg.Log.Info(done, "group", g.id, "to", string(to.ID))
}

// TransferGroup hands a group (meta included) this node leads to the voter
// to. It fails with a *NotLeaderError where this node does not lead the
// group, ErrNoGroup for a group out of range, ErrNotMember when to is not
// a voter of the group, and ErrDrained when to is drained. A transfer to
// the leader itself does nothing. It returns once to leads, or raft gave
// up (an election timeout).
func (n *Node) TransferGroup(id uint16, to string) error {
	if int(id) >= len(n.groups) {
		return fmt.Errorf("%w: %d", ErrNoGroup, id)
	}
	g := n.groups[id]
	if g.raft.State() != raft.Leader {
		return g.notLeader()
	}
	if to == n.cfg.ID {
		return nil
	}
	if n.meta.tables.isDrained(to) {
		return fmt.Errorf("%w: %q", ErrDrained, to)
	}
	f := g.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == to && s.Suffrage == raft.Voter {
			return g.raft.LeadershipTransferToServer(s.ID, s.Address).Error()
		}
	}
	return fmt.Errorf("%w: %q is not a voter of group %d", ErrNotMember, to, id)
}

// SetDrained marks a node drained, or with drained false undrained,
// through the meta group, whose leader this node must be (elsewhere a
// *NotLeaderError names it). Every node's balancer reads the mark: a
// drained node hands over the groups it leads within a BalanceInterval
// and is given none; an undrained one gets its share back through the
// balancer, or at once through a rebalance. The mark is replicated, so it
// outlasts restarts of any node until undrained or the node is removed.
// Draining fails with ErrNotMember for a node that is not a voter of the
// meta group, and with ErrLastVoter when every other voter is drained;
// undraining a node that is neither drained nor a member fails with
// ErrNotMember.
func (n *Node) SetDrained(id string, drained bool) error {
	if _, err := n.meta.activeProposer(); err != nil {
		return err
	}
	voters, err := n.meta.voters()
	if err != nil {
		return err
	}
	member := slices.Contains(voters, id)
	switch {
	case !member && (drained || !n.meta.tables.isDrained(id)):
		return fmt.Errorf("%w: node %q is not in the cluster (voters %v)", ErrNotMember, id, voters)
	case drained && !slices.ContainsFunc(voters, func(v string) bool { return v != id && !n.meta.tables.isDrained(v) }):
		return fmt.Errorf("%w: every voter but %q is drained, and a group needs one to lead it", ErrLastVoter, id)
	}
	_, err = n.applyMetaEntry(encodeDrain(id, drained, voters))
	return err
}

// Drained reports whether this node is drained, by its replica of the
// meta group.
func (n *Node) Drained() bool { return n.meta.tables.isDrained(n.cfg.ID) }

// DrainedNodes returns the drained nodes by id, by this node's replica of
// the meta group.
func (n *Node) DrainedNodes() []string { return n.meta.tables.drainedNodes() }
