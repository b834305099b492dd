package raftfsm

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"seatd/inventory"
)

// MetaGroup is the group that holds the placement table.
const MetaGroup = 0

// Peer is a cluster member: its Raft server id and address.
type Peer struct {
	ID   string
	Addr string
}

// NodeConfig configures a node. Zero fields take the defaults noted.
type NodeConfig struct {
	ID   string // this node's Raft server id, unique in the cluster
	Dir  string // data directory: pebble/ and snapshots/<group>/
	Addr string // Raft listen address for every group, host:port
	// Advertise is the address peers dial; default the listener's.
	Advertise string
	// RPCAddr is the address callers reach this node's RPC server at. The
	// node announces it in the meta group's directory, so that not-leader
	// answers can name where the leader is and a client that knows one
	// node finds the others. Empty: not announced.
	RPCAddr string
	// Groups is the number of inventory groups, 1..inventory.MaxGroup;
	// default 8. Group 0 (meta) comes in addition. Every node of a
	// cluster must have the same number.
	Groups int
	// Bootstrap forms a new cluster of Peers (which must include this
	// node) when the node has no Raft state yet. Without it a new node
	// waits to be added by the leaders (Join).
	Bootstrap bool
	Peers     []Peer
	// Restore, with Bootstrap, starts every group of a new cluster from a
	// backup (Node.Backup of each group, index = group id, the meta group
	// first) rather than empty: a group without Raft state is seeded with
	// it as a snapshot whose configuration is Peers, so every node given
	// the same backup and peers starts alike. A group with state (a
	// restart) keeps its own. The meta group's cluster id is dropped: the
	// restored cluster gets a new one (see restoreData).
	Restore []GroupBackup

	HeartbeatTimeout  time.Duration // default 500ms
	ElectionTimeout   time.Duration // default 500ms
	SnapshotThreshold uint64        // entries between snapshots; default 8192
	SnapshotInterval  time.Duration // how often to check the threshold; default 30s
	TrailingLogs      uint64        // entries kept after a snapshot; default 10240

	// TickInterval is how often a group leader proposes Tick to expire
	// holds; default 1s.
	TickInterval time.Duration
	// BalanceInterval is how often the node checks whether it leads more
	// than its share of groups and hands one over; default 5s.
	BalanceInterval time.Duration
	Proposer        ProposerConfig
	// Engine bounds each group's engine (its Group field is set per group).
	// Apply enforces these bounds, so every node of a cluster must have
	// the same, or replicas could answer one command differently; the
	// seatd binary uses the defaults but for MaxOutbox (-max-outbox).
	Engine inventory.Config
	// Duty, if set, runs for each inventory group this node leads, while
	// its leader duties run (the outbox relay).
	Duty Duty

	Log *slog.Logger // default: discard
	// Clock is the node's time source; default SystemClock(). A leader
	// stamps entries with a term clock started from it (docs/replication.md,
	// "Clocks"), and reads count holds whose TTL has ended as expired by
	// the replica's reckoning of the log's time (Node.Now).
	Clock Clock
}

func (c NodeConfig) withDefaults() NodeConfig {
	if c.Groups == 0 {
		c.Groups = 8
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = 500 * time.Millisecond
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = 500 * time.Millisecond
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 8192
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = 30 * time.Second
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 10240
	}
	if c.TickInterval == 0 {
		c.TickInterval = time.Second
	}
	if c.BalanceInterval == 0 {
		c.BalanceInterval = 5 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = SystemClock()
	}
	return c
}

// Validate reports every field out of range.
func (c NodeConfig) Validate() error {
	d := c.withDefaults()
	var errs []error
	if d.ID == "" {
		errs = append(errs, errors.New("raftfsm: node id is empty"))
	}
	if d.Dir == "" {
		errs = append(errs, errors.New("raftfsm: data directory is empty"))
	}
	if d.Addr == "" {
		errs = append(errs, errors.New("raftfsm: raft address is empty"))
	}
	if d.Groups < 1 || d.Groups > inventory.MaxGroup {
		errs = append(errs, fmt.Errorf("raftfsm: groups %d, want 1-%d", d.Groups, inventory.MaxGroup))
	}
	if len(d.Restore) > 0 {
		if !d.Bootstrap {
			errs = append(errs, fmt.Errorf("%w: a restore forms a new cluster: it needs bootstrap and its peers", ErrRestore))
		}
		if len(d.Restore) != d.Groups+1 {
			errs = append(errs, fmt.Errorf("%w: the backup has %d groups with meta, the node %d", ErrRestore, len(d.Restore), d.Groups+1))
		}
		for i, b := range d.Restore {
			if int(b.Group) != i {
				errs = append(errs, fmt.Errorf("%w: backup %d is of group %d", ErrRestore, i, b.Group))
				break
			}
		}
	}
	if d.Bootstrap && !containsPeer(d.Peers, d.ID) {
		errs = append(errs, fmt.Errorf("raftfsm: bootstrap peers do not include this node %q", d.ID))
	}
	if d.ElectionTimeout < d.HeartbeatTimeout {
		errs = append(errs, fmt.Errorf("raftfsm: election timeout %v below heartbeat timeout %v", d.ElectionTimeout, d.HeartbeatTimeout))
	}
	if d.TickInterval < 10*time.Millisecond || d.TickInterval > time.Minute {
		errs = append(errs, fmt.Errorf("raftfsm: tick interval %v, want 10ms-1m", d.TickInterval))
	}
	if d.BalanceInterval < 10*time.Millisecond || d.BalanceInterval > 24*time.Hour {
		errs = append(errs, fmt.Errorf("raftfsm: balance interval %v, want 10ms-24h", d.BalanceInterval))
	}
	if d.TrailingLogs < 1 || d.SnapshotThreshold < 1 {
		errs = append(errs, errors.New("raftfsm: trailing logs and snapshot threshold must be positive"))
	}
	if err := d.Proposer.Validate(); err != nil {
		errs = append(errs, err)
	}
	eng := d.Engine
	eng.Group = 1
	if err := eng.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func containsPeer(ps []Peer, id string) bool {
	for _, p := range ps {
		if p.ID == id {
			return true
		}
	}
	return false
}

// Node hosts a meta group and Groups inventory groups on one Raft
// listener and one pebble store.
type Node struct {
	cfg    NodeConfig
	store  *Store
	mux    *Mux
	meta   *group
	groups []*group // index = group id; groups[0] is meta

	quit         chan struct{} // closed by Shutdown
	balanceDone  chan struct{}
	announceDone chan struct{}
	answers      peerAnswers // for balance: which voters answer this node
}

// group is one Raft group on this node.
type group struct {
	id     uint16
	node   *Node
	raft   *raft.Raft
	trans  *raft.NetworkTransport
	fsm    *FSM     // inventory groups
	tables *metaFSM // the meta group

	mu       sync.Mutex // guards proposer and stopDuty
	proposer *Proposer  // set while this node leads the group and has caught up
	stopDuty chan struct{}
	dutyDone chan struct{}

	hasState  bool          // the group had Raft state when the node started
	quit      chan struct{} // closed by Shutdown
	watchDone chan struct{}

	// clockSteps counts the wall clock steps this node found while
	// leading the group (see leaderClock and checkClock).
	clockSteps atomic.Uint64
}

// Node errors.
var (
	ErrNoGroup = errors.New("raftfsm: no such group")
	// ErrNotMember: the node named is not a voter of the group (for a
	// drain, of the meta group: not in the cluster).
	ErrNotMember = errors.New("raftfsm: node is not a member")
	// ErrLastVoter: the change would leave a group no voter to lead it:
	// removing its last voter, or draining the last undrained one.
	ErrLastVoter = errors.New("raftfsm: no other voter would be left")
	// ErrNoLiveMajority: removing the node would leave a group whose
	// remaining voters that answer are no majority of them, so the group
	// could not commit (a member already down, and a live one removed).
	ErrNoLiveMajority = errors.New("raftfsm: no live majority would be left")
	// ErrDrained: a group may not be handed to a drained node.
	ErrDrained = errors.New("raftfsm: node is drained")
)

// NotLeaderError says which node leads a group, when known.
type NotLeaderError struct {
	Group      uint16
	LeaderID   string
	LeaderAddr string // its Raft address
	// LeaderRPCAddr is its RPC address from the node directory; empty
	// until the leader has announced it.
	LeaderRPCAddr string
	// Term is this node's current term in the group. A node that has not
	// heard of a newer election still names the old leader; the term
	// lets a caller holding several answers keep the newest.
	Term uint64
}

func (e *NotLeaderError) Error() string {
	return fmt.Sprintf("raftfsm: group %d is led by %q at %q (rpc %q) in term %d", e.Group, e.LeaderID, e.LeaderAddr, e.LeaderRPCAddr, e.Term)
}

func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }

// HasStore reports whether dir holds a node's store (StartNode has run on
// it). A node without one is new: before it starts, and its Raft listener
// with it, it can check that the id it is to join under is free (see
// seatclient.Client.CheckNewNode).
func HasStore(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "pebble"))
	return err == nil
}

// StartNode opens the store, the listener and every group.
func StartNode(cfg NodeConfig) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	store, err := OpenStore(filepath.Join(cfg.Dir, "pebble"), cfg.Log)
	if err != nil {
		return nil, err
	}
	mux, err := Listen(cfg.Addr, cfg.Log)
	if err != nil {
		store.Close()
		return nil, err
	}
	if cfg.Advertise == "" {
		cfg.Advertise = mux.Addr().String()
	}
	n := &Node{cfg: cfg, store: store, mux: mux, quit: make(chan struct{}),
		balanceDone: make(chan struct{}), announceDone: make(chan struct{})}
	for g := 0; g <= cfg.Groups; g++ {
		grp, err := n.startGroup(uint16(g))
		if err != nil {
			n.Shutdown(false)
			return nil, err
		}
		n.groups = append(n.groups, grp)
	}
	n.meta = n.groups[MetaGroup]
	mux.HandleAnnounce(n.acceptAnnouncement)
	go n.every(cfg.BalanceInterval, n.balanceDone, n.balance)
	if cfg.RPCAddr != "" {
		go n.every(announceInterval, n.announceDone, n.announceSelf)
	} else {
		close(n.announceDone)
	}
	if cfg.Bootstrap {
		if err := n.Bootstrap(cfg.Peers); err != nil {
			n.Shutdown(false)
			return nil, err
		}
	}
	return n, nil
}

func (n *Node) startGroup(id uint16) (*group, error) {
	g := &group{id: id, node: n, quit: make(chan struct{}), watchDone: make(chan struct{})}
	var fsm raft.FSM
	if id == MetaGroup {
		g.tables = newMetaFSM(n.cfg.Groups)
		fsm = g.tables
	} else {
		ec := n.cfg.Engine
		ec.Group = int(id)
		f, err := NewFSM(ec)
		if err != nil {
			return nil, err
		}
		g.fsm, fsm = f, f
	}
	gs := n.store.Group(id)
	if g.fsm != nil {
		last, err := gs.LastIndex()
		if err != nil {
			return nil, err
		}
		g.fsm.time = &logClock{clock: n.cfg.Clock, liveAfter: last}
	}
	logw := slogWriter{log: n.cfg.Log.With("group", id)}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.cfg.ID)
	rc.HeartbeatTimeout = n.cfg.HeartbeatTimeout
	rc.ElectionTimeout = n.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = n.cfg.HeartbeatTimeout / 2
	rc.SnapshotThreshold = n.cfg.SnapshotThreshold
	rc.SnapshotInterval = n.cfg.SnapshotInterval
	rc.TrailingLogs = n.cfg.TrailingLogs
	rc.BatchApplyCh = true
	rc.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Output: logw, Level: hclog.Info, DisableTime: true})
	snaps, err := raft.NewFileSnapshotStore(filepath.Join(n.cfg.Dir, "snapshots", strconv.Itoa(int(id))), 2, logw)
	if err != nil {
		return nil, err
	}
	g.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: n.mux.Layer(id), MaxPool: 4, Timeout: 5 * time.Second, Logger: rc.Logger,
	})
	if g.hasState, err = raft.HasExistingState(gs, gs, snaps); err != nil {
		return nil, err
	}
	if len(n.cfg.Restore) > 0 && !g.hasState {
		if err := n.seed(g, snaps, gs, n.cfg.Restore[id]); err != nil {
			return nil, fmt.Errorf("raftfsm: restore group %d: %w", id, err)
		}
		g.hasState = true
		n.cfg.Log.Info("group_restored", "group", id, "index", n.cfg.Restore[id].Index, "bytes", len(n.cfg.Restore[id].Data))
	}
	var received func([]*raft.Log)
	if g.fsm != nil {
		received = g.fsm.time.received
	}
	g.raft, err = raft.NewRaft(rc, fsm, gs, gs, snaps, guardTransport(g.trans, n.answers.record, received))
	if err != nil {
		return nil, err
	}
	go g.watchLeadership()
	return g, nil
}

// Bootstrap forms a new cluster of peers (which must include this node) in
// every group that has no Raft state yet; groups with state are left as
// they are, so calling it on a restarted node is harmless.
func (n *Node) Bootstrap(peers []Peer) error {
	if !containsPeer(peers, n.cfg.ID) {
		return fmt.Errorf("raftfsm: bootstrap peers do not include this node %q", n.cfg.ID)
	}
	servers := n.servers(peers)
	for _, g := range n.groups {
		if g.hasState {
			continue
		}
		if err := g.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return fmt.Errorf("raftfsm: bootstrap group %d: %w", g.id, err)
		}
	}
	return nil
}

// servers are peers as a Raft configuration's voters, this node at its
// advertised address.
func (n *Node) servers(peers []Peer) []raft.Server {
	var servers []raft.Server
	for _, p := range peers {
		addr := p.Addr
		if p.ID == n.cfg.ID {
			addr = n.cfg.Advertise
		}
		servers = append(servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(addr)})
	}
	return servers
}

// watchLeadership starts the leader's duties when this node becomes leader
// and stops them when it stops being leader. (Raft never closes LeaderCh,
// so Shutdown ends the loop through quit.)
func (g *group) watchLeadership() {
	defer close(g.watchDone)
	for {
		select {
		case <-g.quit:
			return
		case isLeader := <-g.raft.LeaderCh():
			if isLeader && g.raft.State() == raft.Leader {
				g.startDuties()
			} else {
				g.stopDuties()
			}
		}
	}
}

// startDuties waits until the new leader has applied every earlier entry
// (Barrier), then opens the proposer and the ticker.
func (g *group) startDuties() {
	g.stopDuties()
	stop, done := make(chan struct{}), make(chan struct{})
	g.mu.Lock()
	g.stopDuty, g.dutyDone = stop, done
	g.mu.Unlock()
	go func() {
		defer close(done)
		if err := g.raft.Barrier(10 * time.Second).Error(); err != nil {
			g.node.cfg.Log.Warn("raft_barrier_failed", "group", g.id, "err", err)
			return
		}
		if g.fsm == nil {
			tc := newTermClock(g.node.cfg.Clock, g.node.cfg.Clock.Wall().UnixNano())
			if g.setProposer(stop, tc) != nil {
				g.node.nameCluster(stop)
			}
			<-stop
			return
		}
		tc, skew := g.leaderClock()
		p := g.setProposer(stop, tc)
		if p == nil {
			return
		}
		if duty := g.node.cfg.Duty; duty != nil {
			ctx, cancel := context.WithCancel(context.Background())
			dutyDone := make(chan struct{})
			go func() {
				defer close(dutyDone)
				duty(ctx, &LedGroup{node: g.node, id: g.id, fsm: g.fsm, proposer: p})
			}()
			defer func() { cancel(); <-dutyDone }()
		}
		t := time.NewTicker(g.node.cfg.TickInterval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				skew = g.checkClock(tc, skew)
				ctx, cancel := context.WithTimeout(context.Background(), g.node.cfg.TickInterval)
				if _, err := p.Propose(ctx, &Command{Op: OpTick}); err != nil && !errors.Is(err, ErrClosed) {
					g.node.cfg.Log.Debug("raft_tick_failed", "group", g.id, "err", err)
				}
				cancel()
			}
		}
	}()
}

// Duty is work a group's leader does while its leader duties run, such as
// publishing the outbox to Kafka. It starts after the new leader's barrier,
// so the state it reads includes every entry of earlier terms, and it must
// return soon after ctx ends: when the node stops leading the group, or
// shuts down. One runs per led group; it may block for as long as it likes.
type Duty func(ctx context.Context, g *LedGroup)

// LedGroup is an inventory group as its leader's duty sees it.
type LedGroup struct {
	node     *Node
	id       uint16
	fsm      *FSM
	proposer *Proposer
}

// ID returns the group's id.
func (g *LedGroup) ID() uint16 { return g.id }

// Read runs fn on the group's engine under its read lock; see FSM.Read.
func (g *LedGroup) Read(fn func(e *inventory.Engine, applied uint64)) { g.fsm.Read(fn) }

// Propose replicates and applies one command, as Node.Propose does; it
// fails with ErrClosed once this node's leadership has ended.
func (g *LedGroup) Propose(ctx context.Context, cmd *Command) (Outcome, error) {
	return g.proposer.Propose(ctx, cmd)
}

// OutboxGrew delivers a token after applies that added outbox events.
func (g *LedGroup) OutboxGrew() <-chan struct{} { return g.fsm.OutboxGrew() }

// ClusterID returns the cluster's id; see Node.ClusterID.
func (g *LedGroup) ClusterID() string { return g.node.ClusterID() }

// leaderClock starts the term clock of a new leader of an inventory
// group, once it has applied every earlier entry: from the wall clock,
// unless that is more than MaxClockStep from the log's time as this
// replica reckons it (startTime). A step is logged and counted. skew is
// where the wall clock stands from the term clock, for checkClock.
func (g *group) leaderClock() (tc *termClock, skew time.Duration) {
	wall := g.node.cfg.Clock.Wall().UnixNano()
	base, step := g.fsm.time.start(wall)
	if step != 0 {
		g.clockSteps.Add(1)
		g.node.cfg.Log.Warn("clock_step_detected", "group", g.id, "step", step, "wall", time.Unix(0, wall).UTC(),
			"log_time", time.Unix(0, base).UTC(), "why", "the wall clock is this far from the log's time: the new leader keeps the log's time")
	}
	return newTermClock(g.node.cfg.Clock, base), time.Duration(wall - base)
}

// checkClock reports a wall clock step during a term: the wall clock
// has moved more than MaxClockStep from where it stood from the term
// clock (skew) at the term's start or the last step reported. The term
// clock does not follow it. It returns the skew to compare with next.
func (g *group) checkClock(tc *termClock, skew time.Duration) time.Duration {
	wall := g.node.cfg.Clock.Wall().UnixNano()
	now := tc.now()
	d := time.Duration(wall - now)
	if step := d - skew; step > MaxClockStep || step < -MaxClockStep {
		g.clockSteps.Add(1)
		g.node.cfg.Log.Warn("clock_step_detected", "group", g.id, "step", step, "wall", time.Unix(0, wall).UTC(),
			"log_time", time.Unix(0, now).UTC(), "why", "the wall clock stepped while this node leads the group: its stamps do not follow")
		return d
	}
	return skew
}

func (g *group) setProposer(stop chan struct{}, tc *termClock) *Proposer {
	p, err := NewProposer(g.raft, g.node.cfg.Proposer, tc.time)
	if err != nil {
		g.node.cfg.Log.Error("proposer_failed", "group", g.id, "err", err)
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-stop:
		p.Close()
		return nil
	default:
	}
	g.proposer = p
	return p
}

func (g *group) stopDuties() {
	g.mu.Lock()
	stop, done, p := g.stopDuty, g.dutyDone, g.proposer
	g.stopDuty, g.dutyDone, g.proposer = nil, nil, nil
	g.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	if p != nil {
		p.Close()
	}
}

func (g *group) activeProposer() (*Proposer, error) {
	g.mu.Lock()
	p := g.proposer
	g.mu.Unlock()
	if p == nil {
		return nil, g.notLeader()
	}
	return p, nil
}

// notLeader names the group's leader as this node sees it. The term is
// read first: a leader learned after it is at least as new.
func (g *group) notLeader() *NotLeaderError {
	term := g.raft.CurrentTerm()
	addr, id := g.raft.LeaderWithID()
	return &NotLeaderError{Group: g.id, LeaderID: string(id), LeaderAddr: string(addr),
		LeaderRPCAddr: g.node.NodeRPCAddr(string(id)), Term: term}
}

func (n *Node) group(id uint16) (*group, error) {
	if int(id) >= len(n.groups) || id == MetaGroup {
		return nil, fmt.Errorf("%w: %d", ErrNoGroup, id)
	}
	return n.groups[id], nil
}

// Groups returns the number of inventory groups (ids 1..Groups).
func (n *Node) Groups() int { return n.cfg.Groups }

// ID returns the node's server id.
func (n *Node) ID() string { return n.cfg.ID }

// Addr returns the address peers dial.
func (n *Node) Addr() string { return n.cfg.Advertise }

// Fresh reports whether the node started without Raft state: a new node
// that is not a member of any cluster until it bootstraps one or joins.
func (n *Node) Fresh() bool {
	for _, g := range n.groups {
		if g.hasState {
			return false
		}
	}
	return true
}

// RPCAddr returns the RPC address this node announces.
func (n *Node) RPCAddr() string { return n.cfg.RPCAddr }

// NodeRPCAddr returns a node's RPC address from this replica's copy of
// the directory, or "" if it has not announced one.
func (n *Node) NodeRPCAddr(id string) string {
	if id == "" {
		return ""
	}
	return n.meta.tables.nodeAddr(id)
}

// Directory returns every node that announced its RPC address, by id.
func (n *Node) Directory() []NodeInfo { return n.meta.tables.directory() }

// Propose runs a command on a group whose leader this node is. Elsewhere it
// fails with a *NotLeaderError naming the leader.
func (n *Node) Propose(ctx context.Context, groupID uint16, cmd *Command) (Outcome, error) {
	outs, errs := n.ProposeAll(ctx, groupID, []*Command{cmd})
	return outs[0], errs[0]
}

// ProposeAll runs commands together on a group whose leader this node
// is; see Proposer.ProposeAll. Elsewhere every command fails with a
// *NotLeaderError naming the leader.
func (n *Node) ProposeAll(ctx context.Context, groupID uint16, cmds []*Command) ([]Outcome, []error) {
	g, err := n.group(groupID)
	if err == nil {
		var p *Proposer
		if p, err = g.activeProposer(); err == nil {
			return p.ProposeAll(ctx, cmds)
		}
	}
	errs := make([]error, len(cmds))
	for i := range errs {
		errs[i] = err
	}
	return make([]Outcome, len(cmds)), errs
}

// Place returns the group of a program, placing it (through the meta
// group's leader, which must be this node) if it has none.
func (n *Node) Place(ctx context.Context, program string) (uint16, error) {
	if g, ok := n.meta.tables.lookup(program); ok {
		return g, nil
	}
	if len(program) > inventory.MaxIDLen {
		return 0, fmt.Errorf("%w: program id of %d bytes", ErrBadCommand, len(program))
	}
	resp, err := n.applyMeta(ctx, encodePlace(program))
	if err != nil {
		return 0, err
	}
	res := resp.(placeResult)
	return res.group, res.err
}

// Replace switches a placed program from group from to group to: the
// placement step of a program move (inventory/move.go), proposed once the
// target has imported the program. It must run on the meta leader; a
// program already on to is OK, one on neither group an ErrBadCommand
// naming where it is.
func (n *Node) Replace(ctx context.Context, program string, from, to uint16) error {
	if len(program) > inventory.MaxIDLen || from < 1 || to < 1 || int(from) > n.cfg.Groups || int(to) > n.cfg.Groups || from == to {
		return fmt.Errorf("%w: replace %q from group %d to %d", ErrBadCommand, program, from, to)
	}
	resp, err := n.applyMeta(ctx, encodeReplace(program, from, to))
	if err != nil {
		return err
	}
	return resp.(placeResult).err
}

// applyMeta runs an entry on the meta group, whose leader this node must
// be, and returns what Apply answered.
func (n *Node) applyMeta(ctx context.Context, entry []byte) (any, error) {
	p, err := n.meta.activeProposer()
	if err != nil {
		return nil, err
	}
	f := p.raft.Apply(entry, p.cfg.ApplyTimeout)
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return nil, classify(err)
		}
		return f.Response(), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrAmbiguous, ctx.Err())
	}
}

// nameCluster gives the cluster its id if it has none yet: the first meta
// leader's job, retried until it applies or leadership ends.
func (n *Node) nameCluster(stop chan struct{}) {
	for n.meta.tables.clusterID() == "" {
		id := make([]byte, ClusterIDLen/2)
		rand.Read(id) // never fails
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := n.applyMeta(ctx, encodeCluster(hex.EncodeToString(id)))
		cancel()
		if err != nil {
			n.cfg.Log.Warn("cluster_naming_failed", "err", err)
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// ClusterID returns the cluster's id (ClusterIDLen hex digits), "" until
// the first meta leader has named it and this node has applied that.
func (n *Node) ClusterID() string { return n.meta.tables.clusterID() }

// recordNodeAddr puts a node's RPC address in the directory through the
// meta group, whose leader this node must be. It serves the announcements
// that reach this node's mux.
func (n *Node) recordNodeAddr(id, addr string) error {
	_, err := n.applyMetaEntry(encodeNodeAddr(id, addr))
	return err
}

// applyMetaEntry runs an entry (or an encoding error) on the meta group,
// whose leader this node must be, within announceInterval, and returns
// Apply's answer, an error answer as the error.
func (n *Node) applyMetaEntry(entry []byte, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), announceInterval)
	defer cancel()
	resp, err := n.applyMeta(ctx, entry)
	if err != nil {
		return nil, err
	}
	if err, _ := resp.(error); err != nil {
		return nil, err
	}
	return resp, nil
}

// acceptAnnouncement records the RPC address a member announced to this
// node's mux. A node that is not in the meta group's configuration (one
// removed but still running) is refused, so that it cannot put itself
// back in the directory.
func (n *Node) acceptAnnouncement(id, addr string) error {
	f := n.meta.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == id {
			return n.recordNodeAddr(id, addr)
		}
	}
	return fmt.Errorf("raftfsm: node %q is not a member", id)
}

// announceInterval is how often a node checks that the directory has its
// RPC address, and how long one announcement may take.
const announceInterval = 500 * time.Millisecond

// announceSelf keeps this node's RPC address in the directory: whenever
// this replica's copy lacks it (a new node, a changed address, a node
// removed and added again), the node records it itself if it leads the
// meta group, or sends it to the meta leader's mux. It runs every
// announceInterval.
func (n *Node) announceSelf() {
	if n.meta.tables.nodeAddr(n.cfg.ID) == n.cfg.RPCAddr {
		return
	}
	var err error
	if n.meta.raft.State() == raft.Leader {
		err = n.recordNodeAddr(n.cfg.ID, n.cfg.RPCAddr)
	} else if addr, _ := n.meta.raft.LeaderWithID(); addr != "" {
		err = announce(string(addr), n.cfg.ID, n.cfg.RPCAddr, announceInterval)
	} else {
		return // no meta leader known yet
	}
	if err != nil {
		n.cfg.Log.Debug("announce_failed", "err", err)
	}
}

// Placement returns the group of a program from this node's copy of the
// placement table.
func (n *Node) Placement(program string) (uint16, bool) { return n.meta.tables.lookup(program) }

// AwaitPlacement returns a program's group once this node's copy of the
// placement table has it, waiting until ctx ends. It serves the leader of
// the group a program was just placed on: the meta leader has applied the
// placement, and this node's replica applies it a commit round later. A
// node that does not take writes on group has nothing to wait for: it
// answers with a *NotLeaderError naming the group's leader.
func (n *Node) AwaitPlacement(ctx context.Context, program string, group uint16) (uint16, error) {
	g, err := n.group(group)
	if err != nil {
		return 0, err
	}
	if _, err := g.activeProposer(); err != nil {
		return 0, err
	}
	placed, err := n.meta.tables.await(ctx, program)
	if err != nil {
		return 0, fmt.Errorf("raftfsm: program %q: no placement applied on this node: %w", program, err)
	}
	return placed, nil
}

// MetaLeader returns nil when this node leads the meta group and has
// applied every entry committed before it took over, so that its
// placement table is complete; otherwise a *NotLeaderError naming the meta
// leader.
func (n *Node) MetaLeader() error {
	_, err := n.meta.activeProposer()
	return err
}

// PlacementTable returns every placement, sorted by program.
func (n *Node) PlacementTable() []Placement { return n.meta.tables.table() }

// Now returns the time a read of a group on this replica is made at, in
// Unix nanoseconds: holds whose TTL has ended by it read as expired. It
// is the replica's reckoning of the log's time (the latest stamp that
// came in, plus the monotonic time since: see logClock), or the wall clock
// within MaxClockStep above it, and never below the engine's time; until
// the replica has had a stamp come in since it started, the wall clock
// (startTime). So a step of this node's wall clock does not show live
// holds as expired, nor expired ones as held. An unknown group, and the
// meta group, have no time of their own: their time is the wall clock's.
// Now may be called from inside a Read's fn.
func (n *Node) Now(groupID uint16) int64 {
	wall := n.cfg.Clock.Wall().UnixNano()
	g, err := n.group(groupID)
	if err != nil {
		return wall
	}
	now, _ := g.fsm.time.start(wall)
	return now
}

// Read runs fn on this replica's copy of a group's engine, with the log
// index it reflects (bounded staleness: a follower may lag the leader).
func (n *Node) Read(groupID uint16, fn func(e *inventory.Engine, applied uint64)) error {
	g, err := n.group(groupID)
	if err != nil {
		return err
	}
	g.fsm.Read(fn)
	return nil
}

// ConsistentRead runs fn on the leader's engine once it has confirmed it
// still leads and has applied everything committed before the call.
func (n *Node) ConsistentRead(ctx context.Context, groupID uint16, fn func(e *inventory.Engine, applied uint64)) error {
	g, err := n.group(groupID)
	if err != nil {
		return err
	}
	if _, err := g.activeProposer(); err != nil {
		return err
	}
	commit := g.raft.CommitIndex()
	if err := g.raft.VerifyLeader().Error(); err != nil {
		return classify(err)
	}
	for g.fsm.Applied() < commit {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	g.fsm.Read(fn)
	return nil
}

// forEachLed runs fn on every group (meta included) this node leads and
// returns the groups it does not lead.
func (n *Node) forEachLed(fn func(g *group) error) ([]uint16, error) {
	var notLed []uint16
	for _, g := range n.groups {
		if g.raft.State() != raft.Leader {
			notLed = append(notLed, g.id)
			continue
		}
		if err := fn(g); err != nil {
			return notLed, fmt.Errorf("group %d: %w", g.id, err)
		}
	}
	return notLed, nil
}

// AddVoter adds a node to every group this node leads, and returns the
// groups it does not lead (the caller asks their leaders).
func (n *Node) AddVoter(id, addr string) ([]uint16, error) {
	return n.forEachLed(func(g *group) error {
		return g.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, 10*time.Second).Error()
	})
}

// RemoveServer removes a node from every group this node leads, and
// returns the groups it does not lead. It fails with ErrLastVoter rather
// than remove a group's only voter: the group could never elect a leader
// again. The meta group's leader also takes the node out of the directory
// and clears its drain mark.
func (n *Node) RemoveServer(id string) ([]uint16, error) {
	return n.forEachLed(func(g *group) error {
		voters, err := g.voters()
		if err != nil {
			return err
		}
		if slices.Equal(voters, []string{id}) {
			return fmt.Errorf("%w: %q is the only voter", ErrLastVoter, id)
		}
		if slices.Contains(voters, id) && !slices.ContainsFunc(voters, func(v string) bool { return v != id && !n.meta.tables.isDrained(v) }) {
			return fmt.Errorf("%w: every voter but %q is drained, and a group needs one to lead it: undrain one first", ErrLastVoter, id)
		}
		if down := n.silentAfterRemoval(voters, id); down != nil {
			return fmt.Errorf("%w: of the voters left without %q, %v do not answer: bring them back (or remove them first) before removing a live node",
				ErrNoLiveMajority, id, down)
		}
		if err := g.raft.RemoveServer(raft.ServerID(id), 0, 10*time.Second).Error(); err != nil {
			return err
		}
		if g.id != MetaGroup {
			return nil
		}
		if err := n.recordNodeAddr(id, ""); err != nil {
			return err
		}
		if !n.meta.tables.isDrained(id) {
			return nil
		}
		_, err = n.applyMetaEntry(encodeDrain(id, false, nil))
		return err
	})
}

// voters returns the group's voters by id, in configuration order.
// silentAfterRemoval returns the voters that have not answered this
// leader within a heartbeat timeout, among those left once id is removed,
// when they are too many for the rest to be a majority; nil when a live
// majority stays (this node counts as live). Removing a dead node is
// never refused by it: the dead one does not count among those left.
func (n *Node) silentAfterRemoval(voters []string, id string) []string {
	servers := make([]raft.Server, len(voters))
	for i, v := range voters {
		servers[i] = raft.Server{ID: raft.ServerID(v)}
	}
	answering := n.answers.answering(servers, n.cfg.HeartbeatTimeout)
	var left, down []string
	for _, v := range voters {
		if v == id {
			continue
		}
		left = append(left, v)
		if v != n.cfg.ID && !answering[raft.ServerID(v)] {
			down = append(down, v)
		}
	}
	if 2*(len(left)-len(down)) > len(left) {
		return nil
	}
	return down
}

func (g *group) voters() ([]string, error) {
	f := g.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	var ids []string
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			ids = append(ids, string(s.ID))
		}
	}
	return ids, nil
}

// TransferLeadership hands every group this node leads to another voter
// (a group with no other member stays where it is).
func (n *Node) TransferLeadership() error {
	_, err := n.forEachLed(func(g *group) error {
		if f := g.raft.GetConfiguration(); f.Error() == nil && len(f.Configuration().Servers) < 2 {
			return nil // no one to hand it to: a one-node cluster
		}
		return g.raft.LeadershipTransfer().Error()
	})
	return err
}

// Shutdown stops the node. Graceful first hands its leaderships over, so
// that the cluster does not wait for an election timeout.
func (n *Node) Shutdown(graceful bool) error {
	if graceful {
		if err := n.TransferLeadership(); err != nil {
			n.cfg.Log.Warn("leadership_transfer_failed", "err", err)
		}
	}
	close(n.quit)
	if len(n.groups) == n.cfg.Groups+1 {
		<-n.balanceDone
		<-n.announceDone
	}
	var errs []error
	for _, g := range n.groups {
		if g.raft == nil {
			continue
		}
		close(g.quit)
		<-g.watchDone
		g.stopDuties()
		if err := g.raft.Shutdown().Error(); err != nil {
			errs = append(errs, err)
		}
		g.trans.Close()
	}
	if n.mux != nil {
		n.mux.Close()
	}
	if err := n.store.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// every runs fn every interval until the node shuts down, then closes
// done.
func (n *Node) every(interval time.Duration, done chan struct{}, fn func()) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-n.quit:
			return
		case <-t.C:
			fn()
		}
	}
}

// GroupStats is one group's state on this node.
type GroupStats struct {
	Group    uint16
	State    string // Leader, Follower, Candidate, Shutdown
	LeaderID string
	Term     uint64
	Applied  uint64
	Commit   uint64
	Last     uint64
	// Writable: this node leads the group and its leader duties run (the
	// barrier has passed), so it takes writes.
	Writable bool
	// ClockSteps counts the wall clock steps this node found while
	// leading the group: at the start of a term, a wall clock more than
	// MaxClockStep from the log's time; during one, a wall clock that
	// moved more than that. The group's time did not follow them.
	ClockSteps uint64
	QueueDepth int    // commands waiting for group commit (leader only)
	Entries    uint64 // entries proposed by this node's proposer while leader
	Commands   uint64 // commands in them
	Apply      ApplyStats
	Voters     []string
	// Seats counts this replica's seat-legs by status over every shard of
	// the group (a seat of a train with n legs counts n times), and
	// LiveHolds the holds waiting for payment. Inventory groups only.
	Seats     inventory.LegCounts
	LiveHolds int
	// OutboxLast is the group's last outbox event, OutboxAcked the last
	// one the relay acknowledged; the difference waits for Kafka.
	OutboxLast, OutboxAcked uint64
}

// Stats returns every group's state, meta first.
func (n *Node) Stats() []GroupStats {
	out := make([]GroupStats, 0, len(n.groups))
	for _, g := range n.groups {
		_, leader := g.raft.LeaderWithID()
		st := GroupStats{
			Group: g.id, State: g.raft.State().String(), LeaderID: string(leader), Term: g.raft.CurrentTerm(),
			Applied: g.raft.AppliedIndex(), Commit: g.raft.CommitIndex(), Last: g.raft.LastIndex(),
			ClockSteps: g.clockSteps.Load(),
		}
		g.mu.Lock()
		if g.proposer != nil {
			st.Writable = true
			st.QueueDepth = g.proposer.QueueDepth()
			st.Entries, st.Commands = g.proposer.Batches()
		}
		g.mu.Unlock()
		if g.fsm != nil {
			st.Apply = g.fsm.ApplyStats()
			g.fsm.Read(func(e *inventory.Engine, _ uint64) {
				es := e.Stats(n.Now(g.id))
				st.LiveHolds = es.LiveHolds
				st.OutboxLast, st.OutboxAcked = e.OutboxSeq()
				for _, sh := range es.Shards {
					for _, l := range sh.Legs {
						st.Seats.Free += l.Free
						st.Seats.Held += l.Held
						st.Seats.Sold += l.Sold
						st.Seats.Blocked += l.Blocked
					}
				}
			})
		}
		if f := g.raft.GetConfiguration(); f.Error() == nil {
			for _, s := range f.Configuration().Servers {
				if s.Suffrage == raft.Voter {
					st.Voters = append(st.Voters, string(s.ID))
				}
			}
		}
		out = append(out, st)
	}
	return out
}

// slogWriter bridges raft's hclog lines ("[INFO]  raft: message: k=v") to
// slog, keeping their level.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	sc := bufio.NewScanner(strings.NewReader(string(p)))
	for sc.Scan() {
		line := sc.Text()
		level := slog.LevelInfo
		switch {
		case strings.HasPrefix(line, "[ERROR]"):
			level = slog.LevelError
		case strings.HasPrefix(line, "[WARN]"):
			level = slog.LevelWarn
		case strings.HasPrefix(line, "[DEBUG]"), strings.HasPrefix(line, "[TRACE]"):
			level = slog.LevelDebug
		}
		if i := strings.IndexByte(line, ']'); i >= 0 {
			line = strings.TrimSpace(line[i+1:])
		}
		w.log.Log(context.Background(), level, "raft", "line", line)
	}
	return len(p), nil
}

var _ io.Writer = slogWriter{}
