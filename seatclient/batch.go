package seatclient

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	rpc "seatd/kitex_gen/inventoryrpc"
	invsvc "seatd/kitex_gen/inventoryrpc/inventory"
)

// batcher carries requests of one kind (holds, or releases) to one node
// in batch calls (PlaceHolds, ReleaseHolds). A request leaves at once, in
// a call of its own, while fewer than Config.HoldCallsPerNode calls of its
// kind to the node are under way; otherwise it waits and leaves with the
// next call, which takes everything waiting, up to rpc.MAX_HOLD_BATCH. So
// a quiet client adds no delay, a busy one pays one call for many
// requests, and no timer is involved: the calls under way set the pace.
// The node proposes a call's commands together.
type batcher[Req any] struct {
	c    *Client
	addr string
	kind *batchKind[Req]

	mu      sync.Mutex // guards waiting and calls
	waiting []*queued[Req]
	calls   int // calls under way, at most HoldCallsPerNode
}

// nodeBatchers are a node's two batchers.
type nodeBatchers struct {
	holds    *batcher[*rpc.HoldRequest]
	releases *batcher[*rpc.ReleaseRequest]
}

// batchKind is what differs between the batch calls: the call itself,
// and its counters.
type batchKind[Req any] struct {
	// call sends one batch; it returns the batch's status and, when that
	// is OK, one answer per request, in order.
	call     func(ctx context.Context, cl invsvc.Client, reqs []Req) (*rpc.Status, []*rpc.HoldResponse, error)
	calls    atomic.Uint64 // batch calls made
	requests atomic.Uint64 // requests they carried
}

type queued[Req any] struct {
	req  Req
	done chan holdAnswer // buffered: the sender never blocks on a caller
}

type holdAnswer struct {
	resp *rpc.HoldResponse
	err  error
}

// place sends a request with the next call and waits for its answer. A
// full queue answers ErrOverloaded at once. A caller that gives up before
// its request left takes it out of the queue; a request still waiting
// when the node becomes suspect comes back unsent (see drop).
func (b *batcher[Req]) place(ctx context.Context, req Req) (*rpc.HoldResponse, error) {
	q := &queued[Req]{req: req, done: make(chan holdAnswer, 1)}
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

// drop hands every waiting request back to its caller with errNotSent,
// to be routed again: the node left a call unanswered, and the requests
// queued behind its other calls would otherwise wait for those to time
// out too, only to be sent to the same node.
func (b *batcher[Req]) drop() {
	b.mu.Lock()
	waiting := b.waiting
	b.waiting = nil
	b.mu.Unlock()
	for _, q := range waiting {
		q.done <- holdAnswer{err: errNotSent}
	}
}

// send makes calls until nothing waits, then gives its slot back.
func (b *batcher[Req]) send() {
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

// call sends one batch and hands each request its answer. A failed call
// fails every request in it: each may or may not have taken effect, and
// the caller retries it (a hold with its request id; a release is
// idempotent). A batch refused whole gives each request the batch's
// status.
func (b *batcher[Req]) call(batch []*queued[Req]) {
	reqs := make([]Req, len(batch))
	for i, q := range batch {
		reqs[i] = q.req
	}
	b.kind.calls.Add(1)
	b.kind.requests.Add(uint64(len(batch)))
	cl, err := b.c.conn(b.addr)
	var st *rpc.Status
	var answers []*rpc.HoldResponse
	if err == nil {
		// The call serves many callers, so no one caller's context bounds
		// it; AttemptTimeout does, like any one attempt.
		ctx, cancel := context.WithTimeout(context.Background(), b.c.cfg.AttemptTimeout)
		st, answers, err = b.kind.call(ctx, cl, reqs)
		cancel()
	}
	if err == nil && st.Route == rpc.Route_OK && len(answers) != len(batch) {
		err = fmt.Errorf("seatclient: %s answered %d of a batch of %d", b.addr, len(answers), len(batch))
	}
	for i, q := range batch {
		switch {
		case err != nil:
			q.done <- holdAnswer{err: err}
		case st.Route != rpc.Route_OK:
			q.done <- holdAnswer{resp: &rpc.HoldResponse{Status: st}}
		default:
			q.done <- holdAnswer{resp: answers[i]}
		}
	}
}

// placeHolds and releaseHolds are the two batch calls.
func placeHolds(ctx context.Context, cl invsvc.Client, reqs []*rpc.HoldRequest) (*rpc.Status, []*rpc.HoldResponse, error) {
	resp, err := cl.PlaceHolds(ctx, &rpc.PlaceHoldsRequest{Holds: reqs})
	if err != nil {
		return nil, nil, err
	}
	return resp.Status, resp.Holds, nil
}

func releaseHolds(ctx context.Context, cl invsvc.Client, reqs []*rpc.ReleaseRequest) (*rpc.Status, []*rpc.HoldResponse, error) {
	resp, err := cl.ReleaseHolds(ctx, &rpc.ReleaseHoldsRequest{Releases: reqs})
	if err != nil {
		return nil, nil, err
	}
	return resp.Status, resp.Holds, nil
}
