package orderflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"seatd/inventory"
	rpc "seatd/kitex_gen/inventoryrpc"
	"seatd/orderflow/orders"
)

// Inventory is what the order service asks of seatd: the confirm of a
// paid hold and the release of refunded seats. *seatclient.Client is
// one; both calls are idempotent by hold id (a confirm of a confirmed
// hold answers ok, a refund of refunded seats already_refunded).
type Inventory interface {
	Confirm(ctx context.Context, req *rpc.ConfirmRequest) (*rpc.HoldResponse, error)
	Refund(ctx context.Context, req *rpc.RefundRequest) (*rpc.RefundResponse, error)
}

// taskResult is the inventory's final answer to a seat call, on its way
// to the partition's writer.
type taskResult struct {
	task   orders.Task
	result orders.Result
}

// errNotFinal is an answer that asks for the call again later (the
// outbox full, a route that is not an answer).
var errNotFinal = errors.New("orderflow: seat call not answered finally")

// call makes the partition's seat calls due until ctx ends: it reads the
// tasks the store holds (orders.Store.Tasks: written in the batch that
// made them due, so a crash between the commit and the call loses
// nothing), makes at most MaxSeatCalls at once, one per order at a time
// and an order's tasks in key order (its confirm before its releases),
// and hands each final answer to the writer (p.results), which records
// it and ends the task in one synced batch. An order stays in p.calls
// from the call until that batch is committed, so a task is not called
// twice by one run; a crash after the call and before the commit makes
// it once more at the next start, which the inventory answers as it did
// (idempotent). A call without a final answer (the inventory out of
// reach, overloaded, its outbox full) is made again after retryWait.
func (p *partition) call(ctx context.Context) {
	cfg := p.svc.cfg
	if cfg.Inventory == nil {
		return // seat calls stay due (see Config.Inventory)
	}
	sem := make(chan struct{}, cfg.MaxSeatCalls)
	done := make(chan struct{})
	running := 0
	defer func() {
		for ; running > 0; running-- {
			<-done
		}
	}()
	for ctx.Err() == nil {
		for _, t := range p.nextCalls(sem) {
			running++
			go func() {
				defer func() { done <- struct{}{} }()
				defer func() { <-sem }()
				p.callOnce(ctx, t)
			}()
		}
		select {
		case <-p.callWake:
		case <-done:
			running--
		case <-time.After(retryWait):
		case <-ctx.Done():
		}
	}
}

// nextCalls picks the tasks to call now, a slot of sem taken for each,
// and marks their orders busy. The tasks are read and the orders marked
// under callMu, which clearCalls takes after the answers' batch is
// committed: so a task read here either is still due, or its order is
// still busy; a read from before the commit never meets an order
// cleared after it (which would call it twice).
func (p *partition) nextCalls(sem chan struct{}) []orders.Task {
	p.callMu.Lock()
	defer p.callMu.Unlock()
	tasks, err := p.store.Tasks(orders.MaxTasks)
	if err != nil {
		p.log.Error("tasks_read_failed", "err", err)
	}
	var out []orders.Task
	seen := map[inventory.OrderNo]bool{}
	for _, t := range tasks {
		if seen[t.OrderNo] || p.calls[t.OrderNo] {
			seen[t.OrderNo] = true
			continue // busy, or its earlier task first
		}
		seen[t.OrderNo] = true
		select {
		case sem <- struct{}{}:
		default:
			return out
		}
		p.calls[t.OrderNo] = true
		out = append(out, t)
	}
	return out
}

// callOnce makes one seat call and hands a final answer to the writer;
// otherwise it waits retryWait and lets the task be called again.
func (p *partition) callOnce(ctx context.Context, t orders.Task) {
	m := p.svc.metrics
	res, err := p.ask(ctx, t)
	if err != nil {
		if ctx.Err() == nil {
			m.seatCalls.WithLabelValues(t.Kind.String(), "retry").Inc()
			p.log.Warn("seat_call_failed", "kind", t.Kind.String(), "order_no", uint64(t.OrderNo), "hold_id", t.HoldID, "err", err)
			sleep(ctx, retryWait)
		}
		p.clearCall(t.OrderNo)
		return
	}
	outcome := "ok"
	if res.Refused {
		outcome = "refused"
		p.log.Warn("seat_call_refused", "kind", t.Kind.String(), "order_no", uint64(t.OrderNo), "hold_id", t.HoldID, "code", res.Code)
	}
	m.seatCalls.WithLabelValues(t.Kind.String(), outcome).Inc()
	select {
	case p.results <- taskResult{task: t, result: res}:
	case <-ctx.Done():
		p.clearCall(t.OrderNo)
	}
}

// ask makes the call and reads the inventory's answer.
func (p *partition) ask(ctx context.Context, t orders.Task) (orders.Result, error) {
	inv := p.svc.cfg.Inventory
	var st *rpc.Status
	switch t.Kind {
	case orders.TaskConfirm:
		resp, err := inv.Confirm(ctx, &rpc.ConfirmRequest{HoldId: t.HoldID})
		if err != nil {
			return orders.Result{}, err
		}
		st = resp.Status
	case orders.TaskRelease:
		resp, err := inv.Refund(ctx, &rpc.RefundRequest{HoldId: t.HoldID, SeatIds: t.SeatIDs})
		if err != nil {
			return orders.Result{}, err
		}
		st = resp.Status
	default:
		panic(fmt.Sprintf("orderflow: task kind %q", t.Kind))
	}
	if st == nil {
		return orders.Result{}, fmt.Errorf("%w: no status", errNotFinal)
	}
	if st.Route == rpc.Route_BAD_REQUEST {
		return orders.Result{Refused: true, Code: "bad_request"}, nil
	}
	if st.Route != rpc.Route_OK {
		return orders.Result{}, fmt.Errorf("%w: route %v: %s", errNotFinal, st.Route, st.Detail)
	}
	return classify(t.Kind, st.CodeName)
}

// classify reads a seat call's result code: done, refused, or to be
// asked again.
func classify(kind orders.TaskKind, code string) (orders.Result, error) {
	switch code {
	case inventory.ResultOK.String():
		return orders.Result{}, nil
	case inventory.ResultAlreadyRefunded.String():
		if kind == orders.TaskRelease {
			return orders.Result{}, nil // a repeat of a release that took effect
		}
	case inventory.ResultHoldExpired.String(), inventory.ResultHoldReleased.String(), inventory.ResultHoldNotFound.String(),
		inventory.ResultNotConfirmed.String(), inventory.ResultSeatNotInHold.String(), inventory.ResultInvalidArgument.String():
		return orders.Result{Refused: true, Code: code}, nil
	}
	return orders.Result{}, fmt.Errorf("%w: %s", errNotFinal, code)
}

// clearCall lets an order's tasks be called again.
func (p *partition) clearCall(no inventory.OrderNo) {
	p.callMu.Lock()
	delete(p.calls, no)
	p.callMu.Unlock()
}

// clearCalls ends the calls whose answers a batch committed.
func (p *partition) clearCalls(results []taskResult) {
	if len(results) == 0 {
		return
	}
	p.callMu.Lock()
	for _, r := range results {
		delete(p.calls, r.task.OrderNo)
	}
	p.callMu.Unlock()
	select {
	case p.callWake <- struct{}{}:
	default:
	}
}
