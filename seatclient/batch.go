package seatclient

import (
	"context"
	"fmt"
	"slices"
	"sync"

	rpc "seatd/kitex_gen/inventoryrpc"
)

// holdBatcher carries holds to one node in PlaceHolds calls. A hold
// leaves at once, in a call of its own, while fewer than
// Config.HoldCallsPerNode calls to the node are under way; otherwise it
// waits and leaves with the next call, which takes everything waiting, up
// to rpc.MAX_HOLD_BATCH holds. So a quiet client adds no delay, a busy one
// pays one call for many holds, and no timer is involved: the calls under
// way set the pace. The node proposes a call's holds together.
type holdBatcher struct {
	c    *Client
	addr string

	mu      sync.Mutex // guards waiting and calls
	waiting []*queuedHold
	calls   int // calls under way, at most HoldCallsPerNode
}

type queuedHold struct {
	req  *rpc.HoldRequest
	done chan holdAnswer // buffered: the sender never blocks on a caller
}

type holdAnswer struct {
	resp *rpc.HoldResponse
	err  error
}

// place sends a hold with the next call and waits for its answer. A full
// queue answers ErrOverloaded at once. A caller that gives up before its
// hold left takes it out of the queue; a hold still waiting when the node
// becomes suspect comes back unsent (see drop).
func (b *holdBatcher) place(ctx context.Context, req *rpc.HoldRequest) (*rpc.HoldResponse, error) {
	q := &queuedHold{req: req, done: make(chan holdAnswer, 1)}
	b.mu.Lock()
	if len(b.waiting) >= b.c.cfg.MaxQueuedHolds {
		b.mu.Unlock()
		return nil, ErrOverloaded
	}
	b.waiting = append(b.waiting, q)
	start := b.calls < b.c.cfg.HoldCallsPerNode
	if start {
		b.calls++
	}
	b.mu.Unlock()
	if start {
		go b.send()
	}
	select {
	case a := <-q.done:
		return a.resp, a.err
	case <-ctx.Done():
		b.mu.Lock()
		if i := slices.Index(b.waiting, q); i >= 0 {
			b.waiting = slices.Delete(b.waiting, i, i+1)
		}
		b.mu.Unlock()
		return nil, ctx.Err()
	}
}

// drop hands every waiting hold back to its caller with errNotSent, to
// be routed again: the node left a call unanswered, and the holds queued
// behind its other calls would otherwise wait for those to time out too,
// only to be sent to the same node.
func (b *holdBatcher) drop() {
	b.mu.Lock()
	waiting := b.waiting
	b.waiting = nil
	b.mu.Unlock()
	for _, q := range waiting {
		q.done <- holdAnswer{err: errNotSent}
	}
}

// send makes calls until nothing waits, then gives its slot back.
func (b *holdBatcher) send() {
	for {
		b.mu.Lock()
		n := min(len(b.waiting), int(rpc.MAX_HOLD_BATCH))
		if n == 0 {
			b.calls--
			b.mu.Unlock()
			return
		}
		batch := slices.Clone(b.waiting[:n])
		b.waiting = slices.Delete(b.waiting, 0, n)
		b.mu.Unlock()
		b.call(batch)
	}
}

// call sends one batch and hands each hold its answer. A failed call
// fails every hold in it: each may or may not have been placed, and the
// caller retries it with its request id. A batch refused whole gives
// each hold the batch's status.
func (b *holdBatcher) call(batch []*queuedHold) {
	req := &rpc.PlaceHoldsRequest{Holds: make([]*rpc.HoldRequest, len(batch))}
	for i, q := range batch {
		req.Holds[i] = q.req
	}
	b.c.holdCalls.Add(1)
	b.c.batchedHolds.Add(uint64(len(batch)))
	cl, err := b.c.conn(b.addr)
	var resp *rpc.PlaceHoldsResponse
	if err == nil {
		// The call serves many callers, so no one caller's context bounds
		// it; AttemptTimeout does, like any one attempt.
		ctx, cancel := context.WithTimeout(context.Background(), b.c.cfg.AttemptTimeout)
		resp, err = cl.PlaceHolds(ctx, req)
		cancel()
	}
	if err == nil && resp.Status.Route == rpc.Route_OK && len(resp.Holds) != len(batch) {
		err = fmt.Errorf("seatclient: %s answered %d holds for a batch of %d", b.addr, len(resp.Holds), len(batch))
	}
	for i, q := range batch {
		switch {
		case err != nil:
			q.done <- holdAnswer{err: err}
		case resp.Status.Route != rpc.Route_OK:
			q.done <- holdAnswer{resp: &rpc.HoldResponse{Status: resp.Status}}
		default:
			q.done <- holdAnswer{resp: resp.Holds[i]}
		}
	}
}
