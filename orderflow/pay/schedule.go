package pay

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"seatd/inventory"
	"seatd/orderflow/events"
	"seatd/orderflow/orders"
	"seatd/orderflow/payment"
)

// retryWait is the pause after a failed publish or store read.
const retryWait = 500 * time.Millisecond

// publish sends a partition's recorded outcomes to pay.events in the
// order recorded, at most publishBatch per write, and deletes them once
// every in-sync replica has them. A write is retried until it succeeds
// (the outcomes wait in the store meanwhile, and at a restart).
func (s *Service) publish(ctx context.Context, part *partitionPay) {
	for ctx.Err() == nil {
		outs, err := part.store.toPublish(publishBatch)
		if err != nil {
			s.cfg.Log.Error("pay_pending_read_failed", "partition", part.id, "err", err)
			sleep(ctx, retryWait)
			continue
		}
		if len(outs) == 0 {
			select {
			case <-part.wake:
			case <-ctx.Done():
			}
			continue
		}
		msgs := make([]kafka.Message, len(outs))
		for i, o := range outs {
			if events.PartitionOfOrder(o.order, s.partitions) != part.id {
				panic(fmt.Sprintf("pay: outcome of order %d recorded on partition %d", o.order, part.id))
			}
			msgs[i] = kafka.Message{Key: events.Key(o.order), Value: o.value}
		}
		if err := s.writer.WriteMessages(ctx, msgs...); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.metrics.publishErrors.Inc()
			s.cfg.Log.Warn("pay_publish_failed", "partition", part.id, "outcomes", len(outs), "err", err)
			sleep(ctx, retryWait)
			continue
		}
		if err := part.store.published(outs[len(outs)-1].seq, len(outs)); err != nil {
			s.cfg.Log.Error("pay_pending_delete_failed", "partition", part.id, "err", err)
			sleep(ctx, retryWait)
		}
		s.metrics.published.Add(float64(len(outs)))
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// schedule, every ScanInterval, goes through the partition's active
// trades (querying those due, closing those past their time_expire and
// those whose close was deferred) and its refunds due.
func (s *Service) schedule(ctx context.Context, part *partitionPay) {
	t := time.NewTicker(s.cfg.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.scanTrades(ctx, part)
		s.scanRefunds(ctx, part)
	}
}

// scanTrades handles each active trade that is due, a batch at a time.
func (s *Service) scanTrades(ctx context.Context, part *partitionPay) {
	var after []byte
	for ctx.Err() == nil {
		trades, last, err := part.store.activeTrades(after, scanBatch)
		if err != nil {
			s.cfg.Log.Error("pay_scan_failed", "partition", part.id, "err", err)
			return
		}
		for i := range trades {
			s.tend(ctx, part, trades[i].number(), trades[i].Attempt)
		}
		if len(trades) < scanBatch {
			return
		}
		after = last
	}
}

// tend handles one active trade under its order's lock: a CLOSING trade
// is closed again; an OPEN one whose order no longer waits for payment is
// closed (reason released, or superseded when another trade paid); an
// OPEN one past its time_expire is closed (reason expired; paysim and the providers close it themselves then, and the
// close makes sure); an OPEN one whose query is due is queried, and the
// next query backs off (QueryAfter doubling up to MaxQueryInterval).
func (s *Service) tend(ctx context.Context, part *partitionPay, no inventory.OrderNo, attempt int) {
	unlock, err := s.lock(no)
	if err != nil {
		return
	}
	defer unlock()
	t, ok, err := part.store.trade(no, attempt)
	if err != nil || !ok || (t.State != StateOpen && t.State != StateClosing) {
		return
	}
	now := s.cfg.Now()
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	if t.State == StateOpen && t.CloseReason == "" {
		// An order that no longer waits for payment (its hold given back
		// or lapsed, or paid through another trade) has no use for an
		// open trade: closed now, the buyer cannot pay it by mistake.
		if o, err := s.cfg.Orders.Order(no); err == nil && o.Status != orders.StatusPendingPayment {
			t.CloseReason = "superseded"
			if o.Status == orders.StatusCancelled || o.Status == orders.StatusExpired {
				t.CloseReason = "released"
			}
		}
	}
	switch {
	case t.State == StateClosing || t.CloseReason != "" || !now.Before(t.TimeExpire):
		if t.State == StateClosing && now.Before(t.NextQuery) {
			return
		}
		reason := t.CloseReason
		if reason == "" {
			reason = "expired"
		}
		if _, err := s.closeLocked(cctx, part, &t, reason); err != nil {
			s.cfg.Log.Warn("pay_close_failed", "out_trade_no", t.OutTradeNo, "err", err)
			s.backoff(part, &t, now)
		}
	case !now.Before(t.NextQuery):
		if _, err := s.queryLocked(cctx, part, &t, "query"); err != nil {
			s.cfg.Log.Warn("pay_query_failed", "out_trade_no", t.OutTradeNo, "err", err)
		}
		if t.State == StateOpen {
			s.backoff(part, &t, now)
		}
	}
}

// backoff sets a trade's next query (or close retry) after now.
func (s *Service) backoff(part *partitionPay, t *Trade, now time.Time) {
	wait := s.cfg.QueryAfter << min(t.Queries, 20)
	if wait <= 0 || wait > s.cfg.MaxQueryInterval {
		wait = s.cfg.MaxQueryInterval
	}
	t.Queries++
	t.NextQuery = now.Add(wait).UTC()
	if err := part.store.write(t, true); err != nil {
		s.cfg.Log.Error("pay_write_failed", "out_trade_no", t.OutTradeNo, "err", err)
	}
}

// scanRefunds refunds, in full, each payment the order service lists as
// owed back on the partition (orders.Store.RefundsDue), a page at a
// time.
func (s *Service) scanRefunds(ctx context.Context, part *partitionPay) {
	cursor := ""
	for ctx.Err() == nil {
		page, err := s.cfg.Orders.RefundsDue(part.id, cursor, orders.MaxListLimit)
		if err != nil {
			return // the order service is rebuilding or closing: next scan
		}
		for _, d := range page.Refunds {
			if !d.Settled {
				s.refundDue(ctx, part, d)
			}
		}
		if page.Next == "" {
			return
		}
		cursor = page.Next
	}
}

// refundDue refunds one trade owed back under its order's lock: the
// refund is recorded REQUESTED with its stable number before the
// provider is called, and called again with the same number until the
// provider answers. SUCCESS records a RefundSucceeded to publish;
// PROCESSING waits for the provider's notification (or a query, next
// scan); a refusal records a RefundFailed (left to an operator: the
// order stays REFUND_DUE).
func (s *Service) refundDue(ctx context.Context, part *partitionPay, d orders.DueRefund) {
	n, err := parseOrderNo(d.OrderNo)
	if err != nil {
		return
	}
	unlock, err := s.lock(n)
	if err != nil {
		return
	}
	defer unlock()
	r, found, err := part.store.refund(d.OutTradeNo)
	if err != nil {
		return
	}
	if found && (r.State == RefundSucceeded || r.State == RefundFailed) {
		return // published; the order service has yet to apply it, or an operator must look
	}
	prov, ok := s.providers[d.Channel]
	if !ok {
		s.metrics.refunds.WithLabelValues(d.Channel, "unknown_channel").Inc()
		return
	}
	if !found {
		r = Refund{OutRequestNo: RefundNo(d.OutTradeNo), OutTradeNo: d.OutTradeNo, OrderNo: d.OrderNo, UserID: d.UserID, HoldID: d.HoldID,
			Channel: d.Channel, TradeNo: d.TradeNo, AmountCents: d.AmountCents - d.RefundedCents, TotalCents: d.AmountCents,
			Reason: d.Reason, State: RefundRequested, At: s.cfg.Now().UTC()}
		if r.AmountCents <= 0 {
			return
		}
		if err := part.store.writeRefund(&r); err != nil {
			s.cfg.Log.Error("pay_write_failed", "out_request_no", r.OutRequestNo, "err", err)
			return
		}
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	var got payment.Refund
	if r.State == RefundProcessing {
		got, err = prov.QueryRefund(cctx, r.OutTradeNo, r.OutRequestNo)
	} else {
		got, err = prov.Refund(cctx, payment.RefundRequest{OutTradeNo: r.OutTradeNo, OutRequestNo: r.OutRequestNo,
			AmountCents: r.AmountCents, TotalCents: r.TotalCents, Reason: "seatd: " + r.Reason, NotifyURL: s.cfg.NotifyURLs[r.Channel]})
	}
	switch {
	case errors.Is(err, payment.ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		s.metrics.refunds.WithLabelValues(r.Channel, "retry").Inc()
		return
	case err != nil:
		s.refundOutcomeLocked(part, &r, RefundFailed, err.Error(), time.Time{})
		return
	}
	switch got.State {
	case payment.RefundSuccess:
		s.refundOutcomeLocked(part, &r, RefundSucceeded, "", got.RefundedAt)
	case payment.RefundFailed:
		s.refundOutcomeLocked(part, &r, RefundFailed, "the provider says the refund failed", time.Time{})
	case payment.RefundProcessing:
		if r.State != RefundProcessing {
			r.State = RefundProcessing
			if err := part.store.writeRefund(&r); err != nil {
				s.cfg.Log.Error("pay_write_failed", "out_request_no", r.OutRequestNo, "err", err)
			}
		}
	case payment.RefundNotFound:
		// Queried while PROCESSING but unknown: ask again with the same
		// number next scan.
		r.State = RefundRequested
		if err := part.store.writeRefund(&r); err != nil {
			s.cfg.Log.Error("pay_write_failed", "out_request_no", r.OutRequestNo, "err", err)
		}
	}
}

// refundOutcomeLocked records a refund's final outcome with its event in
// one synced batch. The order's lock is held.
func (s *Service) refundOutcomeLocked(part *partitionPay, r *Refund, st RefundState, detail string, at time.Time) {
	if at.IsZero() {
		at = s.cfg.Now()
	}
	typ := events.RefundSucceeded
	if st == RefundFailed {
		typ = events.RefundFailed
	}
	r.State, r.At = st, at.UTC()
	ev := events.PayEvent{Version: events.Version, ID: events.PayEventID(r.OutRequestNo, typ), Type: typ, At: r.At,
		OrderNo: r.OrderNo, UserID: r.UserID, HoldID: r.HoldID, Channel: r.Channel, OutTradeNo: r.OutTradeNo, TradeNo: r.TradeNo,
		AmountCents: r.AmountCents, OutRequestNo: r.OutRequestNo, Reason: r.Reason}
	if detail != "" {
		ev.Reason = detail
	}
	if err := part.store.writeRefund(r, ev); err != nil {
		s.cfg.Log.Error("pay_write_failed", "out_request_no", r.OutRequestNo, "err", err)
		return
	}
	s.metrics.refunds.WithLabelValues(r.Channel, string(st)).Inc()
	s.wake(part)
}

// refundNotified applies a refund notification of a refund this service
// made: SUCCESS settles it once. Others (a refund of another system, a
// state that is not final) are answered success and left to the
// scheduler, which queries.
func (s *Service) refundNotified(prov payment.Provider, n payment.Notification) (payment.Answer, error) {
	no, _, err := ParseOutTradeNo(n.OutTradeNo)
	if err != nil {
		s.metrics.notifications.WithLabelValues(prov.Channel(), "unknown_refund").Inc()
		return prov.Answer(true), nil
	}
	part, err := s.owned(no)
	if err != nil {
		return payment.Answer{}, err
	}
	unlock, err := s.lock(no)
	if err != nil {
		return prov.Answer(false), err
	}
	defer unlock()
	r, found, err := part.store.refund(n.OutTradeNo)
	if err != nil {
		return prov.Answer(false), err
	}
	if !found || r.OutRequestNo != n.OutRequestNo {
		s.metrics.notifications.WithLabelValues(prov.Channel(), "unknown_refund").Inc()
		return prov.Answer(true), nil
	}
	if n.RefundState == payment.RefundSuccess && (r.State == RefundRequested || r.State == RefundProcessing) {
		s.refundOutcomeLocked(part, &r, RefundSucceeded, "", n.At)
		s.metrics.notifications.WithLabelValues(prov.Channel(), "refund_applied").Inc()
	} else {
		s.metrics.notifications.WithLabelValues(prov.Channel(), "refund_duplicate").Inc()
	}
	return prov.Answer(true), nil
}

func parseOrderNo(s string) (inventory.OrderNo, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	return inventory.OrderNo(n), err
}
