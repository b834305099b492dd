package pay

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"seatd/inventory"
	"seatd/orderflow"
	"seatd/orderflow/events"
	"seatd/orderflow/orders"
	"seatd/orderflow/payment"
)

// publish sends a partition's recorded outcomes to pay.events in the
// order recorded, at most publishBatch per write, and deletes them once
// every in-sync replica has them (orderflow.Publisher). A write is
// retried until it succeeds (the outcomes wait in the store meanwhile,
// and at a restart).
func (s *Service) publish(ctx context.Context, part *partitionPay) {
	(&orderflow.Publisher{Partition: part.id, Partitions: s.partitions, Writer: s.writer,
		Next: func() ([]orders.Change, error) { return part.store.toPublish(publishBatch) },
		Done: part.store.published, Wake: part.wake,
		Errors: s.metrics.publishErrors, Published: s.metrics.published, Log: s.cfg.Log.With("partition", part.id)}).Run(ctx)
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

// scanWorkers bounds the provider calls one partition's scheduler makes
// at once. A provider that hangs holds up at most this many, each for at
// most CallTimeout (and backs off after), not every other trade and
// refund of the partition behind them.
const scanWorkers = 8

// fanOut runs fn(0..n-1), at most scanWorkers at a time, and returns
// when all have (or, once ctx ends, without starting more). Calls about
// one order are still serialized by its lock.
func (s *Service) fanOut(ctx context.Context, n int, fn func(i int)) {
	sem := make(chan struct{}, scanWorkers)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(i)
		}()
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
		s.fanOut(ctx, len(trades), func(i int) { s.tend(ctx, part, trades[i].number(), trades[i].Attempt) })
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

// scanRefunds starts the refund of each payment the order service lists
// as owed back on the partition (orders.Store.RefundsDue), a page at a
// time, then calls the provider again about each refund not final whose
// next try is due (refunds of seats as well as of payments owed back).
func (s *Service) scanRefunds(ctx context.Context, part *partitionPay) {
	cursor := ""
	for ctx.Err() == nil {
		page, err := s.cfg.Orders.RefundsDue(part.id, cursor, orders.MaxListLimit)
		if err != nil {
			break // the order service is rebuilding or closing: next scan
		}
		s.fanOut(ctx, len(page.Refunds), func(i int) {
			if d := page.Refunds[i]; !d.Settled {
				s.refundDue(ctx, part, d)
			}
		})
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	var after []byte
	for ctx.Err() == nil {
		open, last, err := part.store.openRefunds(after, scanBatch)
		if err != nil {
			s.cfg.Log.Error("pay_scan_failed", "partition", part.id, "err", err)
			return
		}
		now := s.cfg.Now()
		s.fanOut(ctx, len(open), func(i int) {
			if !now.Before(open[i].NextTry) {
				s.retryRefund(ctx, part, open[i].number(), open[i].OutRequestNo)
			}
		})
		if len(open) < scanBatch {
			return
		}
		after = last
	}
}

// refundDue records the refund of one trade owed back, in full, under its
// order's lock, with its stable number (RefundNo) before the provider is
// called, and calls it. A refund already recorded is the open refunds'
// scan's to retry.
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
	no := RefundNo(d.OutTradeNo)
	if _, found, err := part.store.refund(n, no); err != nil || found {
		return
	}
	if _, ok := s.providers[d.Channel]; !ok {
		s.metrics.refunds.WithLabelValues(d.Channel, "unknown_channel").Inc()
		return
	}
	now := s.cfg.Now().UTC()
	r := Refund{OutRequestNo: no, OutTradeNo: d.OutTradeNo, OrderNo: d.OrderNo, UserID: d.UserID, HoldID: d.HoldID,
		Channel: d.Channel, TradeNo: d.TradeNo, AmountCents: d.AmountCents - d.RefundedCents, TotalCents: d.AmountCents,
		Initiator: InitiatorSystem, Reason: d.Reason, State: RefundRequested, CreatedAt: now, At: now}
	if r.AmountCents <= 0 {
		return
	}
	if err := part.store.writeRefund(&r, false); err != nil {
		s.cfg.Log.Error("pay_write_failed", "out_request_no", r.OutRequestNo, "err", err)
		return
	}
	s.driveRefundLocked(ctx, part, &r)
}

// retryRefund calls the provider again about a refund not final, under
// its order's lock.
func (s *Service) retryRefund(ctx context.Context, part *partitionPay, no inventory.OrderNo, outRequestNo string) {
	unlock, err := s.lock(no)
	if err != nil {
		return
	}
	defer unlock()
	r, found, err := part.store.refund(no, outRequestNo)
	if err != nil || !found || r.Final() {
		return
	}
	s.driveRefundLocked(ctx, part, &r)
}

// driveRefundLocked calls the provider about a recorded refund not final:
// the refund again with the same number while REQUESTED (both providers
// refund once per number), a refund query while PROCESSING. SUCCESS
// records a RefundSucceeded to publish; PROCESSING waits for the
// provider's notification or the next try; a refusal records a
// RefundFailed with the provider's words; no answer leaves it for the
// next try, backing off. The order's lock is held.
func (s *Service) driveRefundLocked(ctx context.Context, part *partitionPay, r *Refund) {
	prov, ok := s.providers[r.Channel]
	if !ok {
		s.metrics.refunds.WithLabelValues(r.Channel, "unknown_channel").Inc()
		return
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	var got payment.Refund
	var err error
	if r.State == RefundProcessing {
		got, err = prov.QueryRefund(cctx, r.OutTradeNo, r.OutRequestNo)
	} else {
		got, err = prov.Refund(cctx, payment.RefundRequest{OutTradeNo: r.OutTradeNo, OutRequestNo: r.OutRequestNo,
			AmountCents: r.AmountCents, TotalCents: r.TotalCents, Reason: providerReason(r.Reason), NotifyURL: s.cfg.NotifyURLs[r.Channel]})
	}
	switch {
	case err != nil && r.State != RefundProcessing && refusal(err):
		s.refundOutcomeLocked(part, r, RefundFailed, err.Error(), time.Time{})
		return
	case err != nil:
		// No answer, or one that says nothing for sure (malformed, a bad
		// signature, a query's error): the refund may have happened.
		// Ask again with the same number later; never call it failed.
		s.metrics.refunds.WithLabelValues(r.Channel, "retry").Inc()
		s.cfg.Log.Warn("pay_refund_retry", "out_request_no", r.OutRequestNo, "err", err)
		s.refundLater(part, r)
		return
	}
	switch got.State {
	case payment.RefundSuccess:
		s.refundOutcomeLocked(part, r, RefundSucceeded, "", got.RefundedAt)
	case payment.RefundFailed:
		s.refundOutcomeLocked(part, r, RefundFailed, "the provider says the refund failed", time.Time{})
	case payment.RefundProcessing:
		r.State = RefundProcessing
		s.refundLater(part, r)
	default:
		// Queried while PROCESSING but unknown: ask again with the same
		// number next time.
		r.State = RefundRequested
		s.refundLater(part, r)
	}
}

// refusal says whether a provider's error to a refund call is its
// refusal, final: the refund did not and will not happen with that
// number. Anything else (unreachable, a malformed or badly signed answer)
// leaves the outcome unknown.
func refusal(err error) bool {
	return errors.Is(err, payment.ErrRefundExceeds) || errors.Is(err, payment.ErrTradeState) ||
		errors.Is(err, payment.ErrUnknownTrade) || errors.Is(err, payment.ErrRejected)
}

// providerReason is a refund's reason as the providers take it: WeChat
// Pay's reason is at most 80 characters (Alipay's refund_reason 256).
func providerReason(reason string) string {
	out := []rune("seatd: " + reason)
	return string(out[:min(len(out), MaxRefundReason)])
}

// refundLater records that a refund not final is tried again after a
// back-off: ScanInterval doubling up to MaxQueryInterval.
func (s *Service) refundLater(part *partitionPay, r *Refund) {
	wait := s.cfg.ScanInterval << min(r.Tries, 20)
	if wait <= 0 || wait > s.cfg.MaxQueryInterval {
		wait = s.cfg.MaxQueryInterval
	}
	now := s.cfg.Now().UTC()
	r.Tries++
	r.NextTry, r.At = now.Add(wait), now
	if err := part.store.writeRefund(r, true); err != nil {
		s.cfg.Log.Error("pay_write_failed", "out_request_no", r.OutRequestNo, "err", err)
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
	wasOpen := !r.Final()
	r.State, r.At, r.Detail, r.NextTry = st, s.cfg.Now().UTC(), detail, time.Time{}
	if st == RefundSucceeded {
		r.RefundedAt = at.UTC()
	}
	ev := events.PayEvent{Version: events.Version, ID: events.PayEventID(r.OutRequestNo, typ), Type: typ, At: at.UTC(),
		OrderNo: r.OrderNo, UserID: r.UserID, HoldID: r.HoldID, Channel: r.Channel, OutTradeNo: r.OutTradeNo, TradeNo: r.TradeNo,
		AmountCents: r.AmountCents, OutRequestNo: r.OutRequestNo, SeatIDs: r.SeatIDs, Reason: r.Reason}
	if detail != "" {
		ev.Reason = detail
	}
	if err := part.store.writeRefund(r, wasOpen, ev); err != nil {
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
	no, err := ParseRefundNo(n.OutRequestNo)
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
	r, found, err := part.store.refund(no, n.OutRequestNo)
	if err != nil {
		return prov.Answer(false), err
	}
	if !found || r.OutTradeNo != n.OutTradeNo || r.Channel != prov.Channel() {
		s.metrics.notifications.WithLabelValues(prov.Channel(), "unknown_refund").Inc()
		return prov.Answer(true), nil
	}
	if n.AmountCents != r.AmountCents {
		s.metrics.notifications.WithLabelValues(prov.Channel(), "wrong_amount").Inc()
		s.cfg.Log.Warn("pay_notification_refused", "channel", prov.Channel(), "outcome", "wrong_amount", "out_request_no", r.OutRequestNo,
			"notified_cents", n.AmountCents, "refund_cents", r.AmountCents)
		return prov.Answer(false), nil
	}
	switch {
	case n.RefundState == payment.RefundSuccess && !r.Final():
		s.refundOutcomeLocked(part, &r, RefundSucceeded, "", n.At)
		s.metrics.notifications.WithLabelValues(prov.Channel(), "refund_applied").Inc()
	case n.RefundState == payment.RefundSuccess && r.State == RefundFailed:
		// The provider's word wins: money that went back is never
		// ignored. RefundSucceeded follows the RefundFailed.
		s.cfg.Log.Error("pay_refund_failed_then_succeeded", "out_request_no", r.OutRequestNo)
		s.refundOutcomeLocked(part, &r, RefundSucceeded, "", n.At)
		s.metrics.notifications.WithLabelValues(prov.Channel(), "refund_applied_after_failure").Inc()
	default:
		s.metrics.notifications.WithLabelValues(prov.Channel(), "refund_duplicate").Inc()
	}
	return prov.Answer(true), nil
}

func parseOrderNo(s string) (inventory.OrderNo, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	return inventory.OrderNo(n), err
}
