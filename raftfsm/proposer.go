package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Proposer errors.
var (
	// ErrOverloaded means the proposal queue is full: the caller should
	// back off (HTTP 429/503). Nothing was proposed.
	ErrOverloaded = errors.New("raftfsm: overloaded")
	// ErrNotLeader means this node does not lead the group. Nothing was
	// applied; the caller should go to the leader.
	ErrNotLeader = errors.New("raftfsm: not the leader")
	// ErrAmbiguous means the command may or may not have been applied
	// (leadership was lost, or the wait timed out). Retry with the same
	// request id: holds are deduplicated, confirms and releases are
	// idempotent.
	ErrAmbiguous = errors.New("raftfsm: outcome unknown")
	// ErrClosed means the proposer was closed.
	ErrClosed = errors.New("raftfsm: proposer closed")
)

// ProposerConfig bounds group commit. Zero fields take the defaults.
type ProposerConfig struct {
	// MaxQueue bounds commands waiting to be batched. Default 4096.
	MaxQueue int
	// MaxBatch bounds commands per log entry; 1 turns batching off.
	// Default 256.
	MaxBatch int
	// MaxBatchBytes bounds an entry's size, well under raft's
	// SuggestedMaxDataSize (512 KiB). Default 256 KiB.
	MaxBatchBytes int
	// Linger is how long the first command of a batch waits for company
	// when the queue is empty. Default 200µs.
	Linger time.Duration
	// MaxInFlight bounds entries proposed and not yet applied, so that
	// fsyncs overlap with batching. Default 4: fewer entries in flight make
	// each carry more commands, and per-entry costs (encoding, the RPC, the
	// fsync, three applies) dominate; on the 2-core test machine 4 gave
	// 70k holds/s where 8 gave 36k and 2 gave 60k.
	MaxInFlight int
	// ApplyTimeout bounds raft's enqueue of one entry. Default 5s.
	ApplyTimeout time.Duration
}

func (c ProposerConfig) withDefaults() ProposerConfig {
	if c.MaxQueue == 0 {
		c.MaxQueue = 4096
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 256
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = 256 << 10
	}
	if c.Linger == 0 {
		c.Linger = 200 * time.Microsecond
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 4
	}
	if c.ApplyTimeout == 0 {
		c.ApplyTimeout = 5 * time.Second
	}
	return c
}

// Validate reports every field out of range.
func (c ProposerConfig) Validate() error {
	d := c.withDefaults()
	var errs []error
	if d.MaxQueue < 1 || d.MaxQueue > 1<<20 {
		errs = append(errs, fmt.Errorf("raftfsm: max queue %d, want 1-%d", d.MaxQueue, 1<<20))
	}
	if d.MaxBatch < 1 || d.MaxBatch > 1<<16 {
		errs = append(errs, fmt.Errorf("raftfsm: max batch %d, want 1-%d", d.MaxBatch, 1<<16))
	}
	if d.MaxBatchBytes < 1<<10 || d.MaxBatchBytes > raft.SuggestedMaxDataSize {
		errs = append(errs, fmt.Errorf("raftfsm: max batch bytes %d, want %d-%d", d.MaxBatchBytes, 1<<10, raft.SuggestedMaxDataSize))
	}
	if d.Linger < 0 || d.Linger > 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("raftfsm: linger %v, want 0-100ms", d.Linger))
	}
	if d.MaxInFlight < 1 || d.MaxInFlight > 1024 {
		errs = append(errs, fmt.Errorf("raftfsm: max in flight %d, want 1-1024", d.MaxInFlight))
	}
	return errors.Join(errs...)
}

// Proposer is a group leader's group commit: callers propose commands
// concurrently, one goroutine packs them into log entries stamped with the
// leader's clock, and a second hands each caller its own outcome as the
// entries apply.
type Proposer struct {
	cfg   ProposerConfig
	raft  *raft.Raft
	clock func() time.Time

	// mu guards closing: proposals join the queue under the read lock, so
	// that none joins after Close has drained it (it would wait forever).
	mu       sync.RWMutex
	closing  bool
	queue    chan *proposal
	inflight chan inflight
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	batches  atomic.Uint64 // entries proposed
	commands atomic.Uint64 // commands proposed
}

type proposal struct {
	cmd  encodedCommand
	done chan result // buffered: the dispatcher never blocks on a caller
}

type result struct {
	out Outcome
	err error
}

type inflight struct {
	future raft.ApplyFuture
	props  []*proposal
}

// NewProposer starts a proposer for r. clock stamps each entry: a node's
// leader uses its term clock, which never goes back and does not follow
// wall clock steps (docs/replication.md, "Clocks").
func NewProposer(r *raft.Raft, cfg ProposerConfig, clock func() time.Time) (*Proposer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := newProposer(r, cfg.withDefaults(), clock)
	p.wg.Add(2)
	go p.batchLoop()
	go p.dispatchLoop()
	return p, nil
}

func newProposer(r *raft.Raft, cfg ProposerConfig, clock func() time.Time) *Proposer {
	return &Proposer{
		cfg: cfg, raft: r, clock: clock,
		queue:    make(chan *proposal, cfg.MaxQueue),
		inflight: make(chan inflight, cfg.MaxInFlight),
		stop:     make(chan struct{}),
	}
}

// Propose submits a command and waits for its outcome. It fails at once
// with ErrOverloaded when the queue is full and with ErrBadCommand when the
// command is malformed. If ctx ends first the command may still apply:
// ctx's error is returned wrapped in ErrAmbiguous.
func (p *Proposer) Propose(ctx context.Context, cmd *Command) (Outcome, error) {
	outs, errs := p.ProposeAll(ctx, []*Command{cmd})
	return outs[0], errs[0]
}

// ProposeAll submits commands together and waits for their outcomes: the
// i-th outcome or error is the i-th command's, as Propose would give it.
// The commands join the queue at once, so they tend to share entries, and
// the caller needs no goroutine per command. A command that does not fit
// in the queue gets ErrOverloaded, a malformed one ErrBadCommand; the
// others go ahead.
func (p *Proposer) ProposeAll(ctx context.Context, cmds []*Command) ([]Outcome, []error) {
	outs, errs := make([]Outcome, len(cmds)), make([]error, len(cmds))
	props := make([]*proposal, len(cmds))
	for i, cmd := range cmds {
		enc, err := encodeCommand(cmd)
		if err != nil {
			errs[i] = err
			continue
		}
		props[i] = &proposal{cmd: enc, done: make(chan result, 1)}
	}
	p.mu.RLock()
	for i, prop := range props {
		switch {
		case prop == nil:
		case p.closing:
			props[i], errs[i] = nil, ErrClosed
		default:
			select {
			case p.queue <- prop:
			default:
				props[i], errs[i] = nil, ErrOverloaded
			}
		}
	}
	p.mu.RUnlock()
	for i, prop := range props {
		if prop == nil {
			continue
		}
		select {
		case r := <-prop.done:
			outs[i], errs[i] = r.out, r.err
		case <-ctx.Done():
			errs[i] = fmt.Errorf("%w: %w", ErrAmbiguous, ctx.Err())
		}
	}
	return outs, errs
}

// QueueDepth returns the commands waiting to be batched.
func (p *Proposer) QueueDepth() int { return len(p.queue) }

// Batches returns the entries and commands proposed so far; their ratio is
// the mean batch size.
func (p *Proposer) Batches() (entries, commands uint64) {
	return p.batches.Load(), p.commands.Load()
}

// Close stops the proposer; queued and in-flight callers get ErrClosed or
// their outcome.
func (p *Proposer) Close() {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	p.stopOnce.Do(func() { close(p.stop) })
	p.wg.Wait()
	for {
		select {
		case prop := <-p.queue:
			prop.done <- result{err: ErrClosed}
		default:
			return
		}
	}
}

// batchLoop gathers proposals into entries: everything already queued, up
// to the bounds, and if that is a lone command, whatever arrives within
// the linger.
func (p *Proposer) batchLoop() {
	defer p.wg.Done()
	defer close(p.inflight)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	var props []*proposal
	var cmds []encodedCommand
	for {
		props, cmds = props[:0], cmds[:0]
		var first *proposal
		select {
		case first = <-p.queue:
		case <-p.stop:
			return
		}
		props, cmds = append(props, first), append(cmds, first.cmd)
		size := len(first.cmd)
		add := func(prop *proposal) bool {
			props, cmds = append(props, prop), append(cmds, prop.cmd)
			size += len(prop.cmd)
			return len(props) < p.cfg.MaxBatch && size < p.cfg.MaxBatchBytes
		}
		full := len(props) >= p.cfg.MaxBatch
	drain:
		for !full {
			select {
			case prop := <-p.queue:
				full = !add(prop)
			default:
				break drain
			}
		}
		if !full && len(props) == 1 && p.cfg.MaxBatch > 1 {
			linger.Reset(p.cfg.Linger)
		wait:
			for !full {
				select {
				case prop := <-p.queue:
					full = !add(prop)
				case <-linger.C:
					break wait
				}
			}
			linger.Stop()
		}
		entry := appendEntry(nil, p.clock().UnixNano(), cmds)
		f := p.raft.Apply(entry, p.cfg.ApplyTimeout)
		p.batches.Add(1)
		p.commands.Add(uint64(len(props)))
		p.inflight <- inflight{future: f, props: append([]*proposal(nil), props...)}
	}
}

// dispatchLoop waits for entries in proposal order and hands out outcomes.
func (p *Proposer) dispatchLoop() {
	defer p.wg.Done()
	for in := range p.inflight {
		err := in.future.Error()
		var outs []Outcome
		if err == nil {
			outs, _ = in.future.Response().([]Outcome)
			if len(outs) != len(in.props) {
				err = fmt.Errorf("raftfsm: %d outcomes for %d commands", len(outs), len(in.props))
			}
		}
		err = classify(err)
		for i, prop := range in.props {
			if err != nil {
				prop.done <- result{err: err}
			} else {
				prop.done <- result{out: outs[i]}
			}
		}
	}
}

// classify maps raft's errors to the proposer's. Raft refuses before
// enqueueing with ErrNotLeader, ErrLeadershipTransferInProgress and
// ErrEnqueueTimeout, so those were not applied; anything else (above all
// ErrLeadershipLost, which raft's api.go calls unknowable) may have been.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %w", ErrNotLeader, err)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %w", ErrOverloaded, err)
	}
	return fmt.Errorf("%w: %w", ErrAmbiguous, err)
}
