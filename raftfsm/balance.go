package raftfsm

import (
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
// node leads more than its share, ceil(groups / voters). Every node sees
// every group's leader, so each decides alone; one transfer per interval
// keeps leaderships from flapping.
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
					if s.Suffrage == raft.Voter {
						voters = append(voters, s)
					}
				}
			}
		}
	}
	if len(voters) < 2 {
		return
	}
	share := (len(n.groups) + len(voters) - 1) / len(voters)
	if len(mine) <= share {
		return
	}
	answering := n.answers.answering(voters, n.cfg.HeartbeatTimeout)
	var target *raft.Server
	for i := range voters {
		v := &voters[i]
		if string(v.ID) != n.cfg.ID && answering[v.ID] && (target == nil || led[string(v.ID)] < led[string(target.ID)]) {
			target = v
		}
	}
	if target == nil || led[string(target.ID)]+1 >= len(mine) {
		return // no one to hand a group to, or moving one would not even things out
	}
	g := mine[len(mine)-1]
	if err := g.raft.LeadershipTransferToServer(target.ID, target.Address).Error(); err != nil {
		n.cfg.Log.Warn("leadership_balance_failed", "group", g.id, "to", string(target.ID), "err", err)
		return
	}
	n.cfg.Log.Info("leadership_balanced", "group", g.id, "to", string(target.ID))
}
