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
// hold left takes it out of the queue.
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
// caller retries it with its request id.
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
		// it; the client's CallTimeout does.
		resp, err = cl.PlaceHolds(context.Background(), req)
	}
	if err == nil && (resp.Status.Route != rpc.Route_OK || len(resp.Holds) != len(batch)) {
		err = fmt.Errorf("seatclient: %s refused a batch of %d holds: route %v: %s", b.addr, len(batch), resp.Status.Route, resp.Status.Detail)
	}
	for i, q := range batch {
		if err != nil {
			q.done <- holdAnswer{err: err}
		} else {
			q.done <- holdAnswer{resp: resp.Holds[i]}
		}
	}
}
