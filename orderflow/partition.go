package orderflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"seatd/orderflow/events"
	"seatd/orderflow/orders"
)

// Reader settings of both topics.
const (
	// readerQueue bounds the messages a kafka-go Reader holds fetched
	// ahead of its caller.
	readerQueue = 1024
	// maxFetchBytes bounds one fetch response.
	maxFetchBytes = 8 << 20
	// fetchWait is how long the broker holds a fetch that finds nothing
	// new: a consumer's latency on an idle partition is below it, and so
	// is Close's wait for a fetch under way.
	fetchWait = 250 * time.Millisecond
	// retryWait is the pause after a failed rebuild, fetch or publish.
	retryWait = 500 * time.Millisecond
)

func (p *partition) reader(topic string) *kafka.Reader {
	cfg := p.svc.cfg
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers: cfg.Brokers, Topic: topic, Partition: p.id,
		MinBytes: 1, MaxBytes: maxFetchBytes, MaxWait: fetchWait, QueueCapacity: readerQueue,
		ReadLagInterval: -1, // the consumer reports lag itself, from each fetch's watermark
		ReadBackoffMin:  50 * time.Millisecond, ReadBackoffMax: time.Second,
	})
}

// run rebuilds the store if it must, then consumes and publishes until ctx
// ends.
func (p *partition) run(ctx context.Context) {
	st := p.store.State()
	for !st.Initialized {
		err := p.rebuild(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		p.log.Error("rebuild_failed", "err", err)
		sleep(ctx, retryWait)
	}
	st = p.store.State()
	p.applied.Store(st.Offset)
	p.payApplied.Store(st.PayOffset)
	p.serving.Store(true)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		p.publish(ctx)
	}()
	go func() {
		defer wg.Done()
		p.call(ctx)
	}()
	p.consume(ctx, st)
	wg.Wait()
}

// rebuild restores the store from the partition of the orders changelog,
// read from its first offset to the end offset it has now (see
// orders.Rebuild for why that is sound).
func (p *partition) rebuild(ctx context.Context) error {
	m := p.svc.metrics
	start := time.Now()
	offs, err := p.svc.offsets(ctx, events.TopicOrders)
	if err != nil {
		return err
	}
	first, end := offs[p.id].FirstOffset, offs[p.id].LastOffset
	rb, err := p.store.BeginRebuild()
	if err != nil {
		return err
	}
	if end > first {
		r := p.reader(events.TopicOrders)
		defer r.Close()
		if err := r.SetOffset(first); err != nil {
			rb.Abandon()
			return err
		}
		for {
			msg, err := r.FetchMessage(ctx)
			if err != nil {
				rb.Abandon()
				return fmt.Errorf("orderflow: rebuild partition %d: %w", p.id, err)
			}
			if err := rb.Add(msg.Value); errors.Is(err, orders.ErrBadRecord) {
				m.skipped.WithLabelValues("bad_changelog_record").Inc()
				p.log.Warn("changelog_record_skipped", "offset", msg.Offset, "err", err)
			} else if err != nil {
				rb.Abandon()
				return err
			}
			if msg.Offset >= end-1 {
				break
			}
		}
	}
	stats, err := rb.Finish()
	if err != nil {
		return err
	}
	if end > first {
		m.rebuilds.Inc()
	}
	m.rebuiltOrders.Add(float64(stats.Orders))
	p.log.Info("partition_rebuilt", "orders", stats.Orders, "changelog_end", end, "holds_offset", stats.Offset,
		"pay_offset", stats.PayOffset, "groups", len(stats.HWM), "seat_calls_due", stats.Tasks, "refunds_due", stats.RefundsDue,
		"seconds", time.Since(start).Seconds())
	return nil
}

// consume reads seat.holds and pay.events, each from its stored offset
// + 1, and applies what it reads, with the inventory's answers to the
// seat calls, in batches until ctx ends.
//
// One writer for two topics: a fetching goroutine per topic hands
// messages over through a channel of MaxBatch, and this goroutine, the
// store's only writer, takes from both and from the confirmer's results:
// the first thing that arrives, then whatever else is buffered, up to
// MaxBatch and MaxBatchBytes, applied and committed in one synced batch
// with both offsets. So the two topics never race on an order, and each
// commit holds whole steps of both.
//
// A pay event of an order not placed yet (its HoldPlaced, on the other
// topic, not applied yet) waits, with every pay event after it, and
// pay.events' offset stays before it; no pay message is taken while one
// waits (so at most MaxBatch wait), and they are tried again after every
// batch and every retryWait.
func (p *partition) consume(ctx context.Context, st orders.State) {
	cfg := p.svc.cfg
	var wg sync.WaitGroup
	fctx, stopFetch := context.WithCancel(ctx)
	defer wg.Wait()
	defer stopFetch()
	holds := p.fetch(fctx, &wg, events.TopicHolds, st.Offset)
	pays := p.fetch(fctx, &wg, events.TopicPay, st.PayOffset)

	var wait []kafka.Message
	var msgs []kafka.Message
	var results []taskResult
	retry := time.NewTicker(retryWait)
	defer retry.Stop()
	for {
		for p.store.PendingCount() >= cfg.MaxPending {
			// Back-pressure: the changelog is behind by MaxPending.
			select {
			case <-p.drained:
			case <-time.After(retryWait):
			case <-ctx.Done():
				return
			}
		}
		msgs, results = msgs[:0], results[:0]
		payIn := pays
		if len(wait) > 0 {
			payIn = nil
		}
		select {
		case msg := <-holds:
			msgs = append(msgs, msg)
		case msg := <-payIn:
			msgs = append(msgs, msg)
		case r := <-p.results:
			results = append(results, r)
		case <-retry.C:
			if len(wait) == 0 {
				continue
			}
		case <-ctx.Done():
			return
		}
		size := 0
		for _, m := range msgs {
			size += len(m.Value)
		}
	drain:
		for len(msgs)+len(results) < cfg.MaxBatch && size < cfg.MaxBatchBytes {
			select {
			case msg := <-holds:
				msgs = append(msgs, msg)
				size += len(msg.Value)
			case msg := <-payIn:
				msgs = append(msgs, msg)
				size += len(msg.Value)
			case r := <-p.results:
				results = append(results, r)
			default:
				break drain
			}
		}
		var err error
		if wait, err = p.apply(wait, msgs, results); err != nil {
			p.stopped.Store(&err)
			p.svc.metrics.stopped.WithLabelValues(reasonOf(err)).Inc()
			p.log.Error("partition_stopped", "err", err)
			return
		}
		waiting := 0.0
		if len(wait) > 0 {
			waiting = 1
		}
		p.svc.metrics.payWaiting.WithLabelValues(partLabel(p.id)).Set(waiting)
	}
}

// fetch starts a goroutine that reads topic's partition from offset+1
// (the first offset when offset is -1) into the returned channel, of
// MaxBatch, until ctx ends.
func (p *partition) fetch(ctx context.Context, wg *sync.WaitGroup, topic string, offset int64) <-chan kafka.Message {
	r := p.reader(topic)
	next := offset + 1
	if offset < 0 {
		next = kafka.FirstOffset
	}
	if err := r.SetOffset(next); err != nil {
		panic(fmt.Sprintf("orderflow: set offset of a new reader: %v", err))
	}
	msgs := make(chan kafka.Message, p.svc.cfg.MaxBatch)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer r.Close()
		for {
			msg, err := r.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				p.log.Warn("fetch_failed", "topic", topic, "err", err)
				sleep(ctx, retryWait)
				continue
			}
			select {
			case msgs <- msg:
			case <-ctx.Done():
				return
			}
		}
	}()
	return msgs
}

// errNewerVersion stops a partition at an event of a newer schema version
// than this build knows. Skipping it would lose it for good (the offset
// would move past it), and applying it as version 1 could misread a field
// whose meaning changed; stopping keeps it for a build that knows the
// version, and the partition's lag and /readyz say so loudly.
var errNewerVersion = errors.New("orderflow: event of a newer schema version")

func reasonOf(err error) string {
	switch {
	case errors.Is(err, errNewerVersion):
		return "newer_version"
	case errors.Is(err, orders.ErrOtherCluster):
		return "other_cluster"
	}
	return "commit_failed"
}

// apply applies, in one batch, seat.holds messages, the pay.events
// messages that waited (wait) and those read since, and the inventory's
// answers to seat calls, and commits it. It returns the pay messages
// that must wait for their order (see consume). An error stops the
// partition: an event of a newer version or of another seatd cluster
// (orders.ErrOtherCluster; what came before it is committed), or a
// failed commit.
func (p *partition) apply(wait, msgs []kafka.Message, results []taskResult) ([]kafka.Message, error) {
	m := p.svc.metrics
	b := p.store.NewBatch()
	clear(p.paid)
	var stop error
	payMsgs := wait
	var last *kafka.Message
loop:
	for i := range msgs {
		msg := &msgs[i]
		if msg.Topic == events.TopicPay {
			payMsgs = append(payMsgs, *msg)
			continue
		}
		last = msg
		if stop = p.applyHold(b, msg); stop != nil {
			break loop
		}
	}
	var held []kafka.Message
	if stop == nil {
		for i := range payMsgs {
			var err error
			if held, err = p.applyPay(b, payMsgs[i:]); err != nil {
				stop = err
			}
			if held != nil || err != nil {
				break
			}
		}
	}
	for _, r := range results {
		out, in, err := b.ApplyResult(r.task, r.result, time.Now().UTC())
		switch {
		case err != nil:
			p.log.Error("seat_call_result_failed", "order_no", uint64(r.task.OrderNo), "err", err)
		case out == orders.Illegal:
			m.illegal.WithLabelValues("seat_call").Inc()
			p.log.Warn("illegal_transition", "order_no", uint64(r.task.OrderNo), "kind", r.task.Kind.String(), "input", in.String())
		case out == orders.Applied && in == orders.InputConfirmRefused:
			p.log.Warn("confirm_refused_refund_due", "order_no", uint64(r.task.OrderNo), "code", r.result.Code)
		}
	}
	start := time.Now()
	if err := b.Commit(); err != nil {
		return held, err
	}
	p.clearCalls(results)
	m.commitSeconds.Observe(time.Since(start).Seconds())
	p.timeConfirms(b, time.Now())
	m.batchEvents.Observe(float64(len(msgs) + len(results)))
	st := p.store.State()
	p.applied.Store(st.Offset)
	p.payApplied.Store(st.PayOffset)
	if b.Changes() > 0 {
		select {
		case p.wake <- struct{}{}:
		default:
		}
		select {
		case p.callWake <- struct{}{}:
		default:
		}
	}
	if last != nil {
		m.lag.WithLabelValues(partLabel(p.id)).Set(float64(max(last.HighWaterMark-st.Offset-1, 0)))
	}
	return held, stop
}

// maxTimedConfirms bounds the confirms a partition times at once: past
// it, a confirm made due is not timed. At most MaxSeatCalls are under
// way at a time, so 10,000 due means seatd has been out of reach for a
// while (orderflow_seat_calls_due says so); an entry costs about 50
// bytes.
const maxTimedConfirms = 10_000

// timeConfirms times paid holds' confirms, once b is committed at now,
// into orderflow_paid_to_confirmed_seconds: a confirm b recorded done
// (seatd's ok, or its HoldConfirmed) is observed from the commit of the
// batch that made it due, the one that applied the PaymentSucceeded; a
// confirm b ended otherwise (refused) is forgotten; one b made due is
// timed from now. A confirm already due when the partition started is
// not timed. The writer's.
func (p *partition) timeConfirms(b *orders.Batch, now time.Time) {
	for no, o := range b.Changed() {
		since, timed := p.confirmsDue[no]
		switch {
		case o.Confirm == orders.ConfirmDue:
			if !timed && p.paid[no] && len(p.confirmsDue) < maxTimedConfirms {
				p.confirmsDue[no] = now
			}
		case timed:
			if o.Confirm == orders.ConfirmDone {
				p.svc.metrics.paidToConfirmed.Observe(now.Sub(since).Seconds())
			}
			delete(p.confirmsDue, no)
		}
	}
}

// applyHold applies one seat.holds message to b; an error stops the
// partition.
func (p *partition) applyHold(b *orders.Batch, msg *kafka.Message) error {
	m := p.svc.metrics
	ev, err := events.Decode(msg.Value)
	switch {
	case errors.Is(err, events.ErrVersion):
		return fmt.Errorf("%w: %s offset %d: %v", errNewerVersion, msg.Topic, msg.Offset, err)
	case errors.Is(err, events.ErrUnknownType):
		m.skipped.WithLabelValues("unknown_type").Inc()
		p.log.Warn("event_skipped", "offset", msg.Offset, "reason", "unknown_type", "err", err)
		b.Skip(msg.Offset)
		return nil
	case err != nil:
		m.skipped.WithLabelValues("malformed").Inc()
		p.log.Warn("event_skipped", "offset", msg.Offset, "reason", "malformed", "err", err)
		b.Skip(msg.Offset)
		return nil
	}
	src := orders.Source{EventID: ev.ID, Group: ev.Group, Seq: ev.Seq, Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset}
	out, in, err := b.Apply(&ev, src)
	switch {
	case errors.Is(err, orders.ErrOtherCluster):
		return err
	case errors.Is(err, orders.ErrMisrouted):
		m.skipped.WithLabelValues("misrouted").Inc()
		p.log.Warn("event_skipped", "offset", msg.Offset, "reason", "misrouted", "err", err)
	case errors.Is(err, orders.ErrBadID):
		m.skipped.WithLabelValues("bad_id").Inc()
		p.log.Warn("event_skipped", "offset", msg.Offset, "reason", "bad_id", "err", err)
	case err != nil:
		m.skipped.WithLabelValues("bad_field").Inc()
		p.log.Warn("event_skipped", "offset", msg.Offset, "reason", "bad_field", "err", err)
	case out == orders.Applied:
		m.applied.WithLabelValues(string(ev.Type)).Inc()
	case out == orders.Duplicate:
		m.duplicates.Inc()
	case out == orders.Illegal:
		m.illegal.WithLabelValues(string(ev.Type)).Inc()
		p.log.Warn("illegal_transition", "offset", msg.Offset, "event_id", ev.ID, "type", ev.Type, "input", in.String(), "order_no", ev.OrderNo)
	}
	return nil
}

// applyPay applies the first of msgs, pay.events messages in offset
// order, to b. When its order is not placed yet it returns msgs, which
// wait; an error stops the partition.
func (p *partition) applyPay(b *orders.Batch, msgs []kafka.Message) ([]kafka.Message, error) {
	m := p.svc.metrics
	msg := &msgs[0]
	ev, err := events.DecodePay(msg.Value)
	switch {
	case errors.Is(err, events.ErrVersion):
		return nil, fmt.Errorf("%w: %s offset %d: %v", errNewerVersion, msg.Topic, msg.Offset, err)
	case errors.Is(err, events.ErrUnknownType):
		m.skipped.WithLabelValues("unknown_type").Inc()
		p.log.Warn("event_skipped", "topic", msg.Topic, "offset", msg.Offset, "reason", "unknown_type", "err", err)
		b.SkipPay(msg.Offset)
		return nil, nil
	case err != nil:
		m.skipped.WithLabelValues("malformed").Inc()
		p.log.Warn("event_skipped", "topic", msg.Topic, "offset", msg.Offset, "reason", "malformed", "err", err)
		b.SkipPay(msg.Offset)
		return nil, nil
	}
	src := orders.Source{EventID: ev.ID, Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset}
	out, in, err := b.ApplyPay(&ev, src)
	switch {
	case errors.Is(err, orders.ErrOrderUnknown):
		if len(msgs) > 0 && !p.waitLogged {
			p.log.Warn("pay_event_waits_for_order", "offset", msg.Offset, "event_id", ev.ID, "order_no", ev.OrderNo)
		}
		p.waitLogged = true
		return slices.Clone(msgs), nil
	case errors.Is(err, orders.ErrMisrouted):
		m.skipped.WithLabelValues("misrouted").Inc()
		p.log.Warn("event_skipped", "topic", msg.Topic, "offset", msg.Offset, "reason", "misrouted", "err", err)
	case errors.Is(err, orders.ErrBadID):
		m.skipped.WithLabelValues("bad_id").Inc()
		p.log.Warn("event_skipped", "topic", msg.Topic, "offset", msg.Offset, "reason", "bad_id", "err", err)
	case errors.Is(err, orders.ErrTooManyPayEvents):
		m.skipped.WithLabelValues("too_many_pay_events").Inc()
		p.log.Error("event_skipped", "topic", msg.Topic, "offset", msg.Offset, "reason", "too_many_pay_events", "err", err)
	case err != nil:
		return nil, err
	case out == orders.Applied:
		m.applied.WithLabelValues(string(ev.Type)).Inc()
		if o, ok := b.Touched(ev.OrderNo); ok && in == orders.InputPaid {
			if o.Status == orders.StatusRefundDue {
				p.log.Warn("late_payment_refund_due", "event_id", ev.ID, "order_no", ev.OrderNo)
			}
			if no, err := o.Number(); err == nil {
				p.paid[no] = true
			}
		}
	case out == orders.Duplicate:
		m.duplicates.Inc()
	case out == orders.Illegal:
		m.illegal.WithLabelValues(string(ev.Type)).Inc()
		p.log.Warn("illegal_transition", "topic", msg.Topic, "offset", msg.Offset, "event_id", ev.ID, "type", ev.Type,
			"input", in.String(), "order_no", ev.OrderNo)
	}
	p.waitLogged = false
	return nil, nil
}

// publish sends the store's pending changes to the orders changelog, in
// offset order, until ctx ends; at start it sends those a previous run
// left (Publisher). Each write is at most PublishBatch messages and
// PublishBatchBytes, within the Writer's batch bounds, so the changelog
// is always a prefix of the changes in order, which is what makes a
// rebuild sound (orders.Rebuild).
func (p *partition) publish(ctx context.Context) {
	cfg, m := p.svc.cfg, p.svc.metrics
	(&Publisher{Partition: p.id, Partitions: cfg.Partitions, Writer: p.svc.writer,
		Next: func() ([]orders.Change, error) { return p.store.Pending(cfg.PublishBatch, cfg.PublishBatchBytes) },
		Done: p.store.Published, Wake: p.wake, Drained: p.drained,
		Errors: m.publishErrors, Published: m.published, Log: p.log}).Run(ctx)
}
