package orderflow

import (
	"context"
	"errors"
	"fmt"
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
	p.serving.Store(true)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.publish(ctx)
	}()
	p.consume(ctx, st.Offset)
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
		"groups", len(stats.HWM), "seconds", time.Since(start).Seconds())
	return nil
}

// consume reads seat.holds from offset+1 and applies what it reads in
// batches until ctx ends. A fetching goroutine hands messages over through
// a channel of MaxBatch, so that a batch is whatever has arrived: the
// first message waited for, then what is buffered, up to MaxBatch events
// and MaxBatchBytes.
func (p *partition) consume(ctx context.Context, offset int64) {
	cfg := p.svc.cfg
	r := p.reader(events.TopicHolds)
	defer r.Close()
	next := offset + 1
	if offset < 0 {
		next = kafka.FirstOffset
	}
	if err := r.SetOffset(next); err != nil {
		panic(fmt.Sprintf("orderflow: set offset of a new reader: %v", err))
	}
	msgs := make(chan kafka.Message, cfg.MaxBatch)
	fctx, stopFetch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopFetch()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			msg, err := r.FetchMessage(fctx)
			if err != nil {
				if fctx.Err() != nil {
					return
				}
				p.log.Warn("fetch_failed", "err", err)
				sleep(fctx, retryWait)
				continue
			}
			select {
			case msgs <- msg:
			case <-fctx.Done():
				return
			}
		}
	}()

	batch := make([]kafka.Message, 0, cfg.MaxBatch)
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
		batch = batch[:0]
		select {
		case msg := <-msgs:
			batch = append(batch, msg)
		case <-ctx.Done():
			return
		}
		size := len(batch[0].Value)
	drain:
		for len(batch) < cfg.MaxBatch && size < cfg.MaxBatchBytes {
			select {
			case msg := <-msgs:
				batch = append(batch, msg)
				size += len(msg.Value)
			default:
				break drain
			}
		}
		if err := p.apply(batch); err != nil {
			p.stopped.Store(&err)
			p.svc.metrics.stopped.WithLabelValues(reasonOf(err)).Inc()
			p.log.Error("partition_stopped", "err", err)
			return
		}
	}
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

// apply applies a batch of seat.holds messages and commits it. An error
// stops the partition: an event of a newer version or of another seatd
// cluster (orders.ErrOtherCluster; what came before it is committed), or
// a failed commit.
func (p *partition) apply(msgs []kafka.Message) error {
	m := p.svc.metrics
	b := p.store.NewBatch()
	var stop error
loop:
	for _, msg := range msgs {
		ev, err := events.Decode(msg.Value)
		switch {
		case errors.Is(err, events.ErrVersion):
			stop = fmt.Errorf("%w: offset %d: %v", errNewerVersion, msg.Offset, err)
			break loop
		case errors.Is(err, events.ErrUnknownType):
			m.skipped.WithLabelValues("unknown_type").Inc()
			p.log.Warn("event_skipped", "offset", msg.Offset, "reason", "unknown_type", "err", err)
			b.Skip(msg.Offset)
			continue
		case err != nil:
			m.skipped.WithLabelValues("malformed").Inc()
			p.log.Warn("event_skipped", "offset", msg.Offset, "reason", "malformed", "err", err)
			b.Skip(msg.Offset)
			continue
		}
		src := orders.Source{EventID: ev.ID, Group: ev.Group, Seq: ev.Seq, Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset}
		out, in, err := b.Apply(&ev, src)
		switch {
		case errors.Is(err, orders.ErrOtherCluster):
			stop = err
			break loop
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
	}
	start := time.Now()
	if err := b.Commit(); err != nil {
		return err
	}
	m.commitSeconds.Observe(time.Since(start).Seconds())
	m.batchEvents.Observe(float64(len(msgs)))
	st := p.store.State()
	p.applied.Store(st.Offset)
	if b.Changes() > 0 {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	last := msgs[len(msgs)-1]
	m.lag.WithLabelValues(partLabel(p.id)).Set(float64(max(last.HighWaterMark-st.Offset-1, 0)))
	return stop
}

// publish sends the store's pending changes to the orders changelog, in
// offset order, until ctx ends; at start it sends those a previous run
// left. Each write is at most PublishBatch messages and
// PublishBatchBytes, within the Writer's batch bounds, so kafka-go sends
// it as one batch, which the broker appends whole or not at all, and the
// next write starts only after it succeeded: the changelog is always a
// prefix of the changes in order, which is what makes a rebuild sound
// (orders.Rebuild). A write that fails (after the Writer's retries) is
// tried again after retryWait; its entries stay pending meanwhile.
func (p *partition) publish(ctx context.Context) {
	cfg := p.svc.cfg
	m := p.svc.metrics
	for ctx.Err() == nil {
		changes, err := p.store.Pending(cfg.PublishBatch, cfg.PublishBatchBytes)
		if err != nil {
			p.log.Error("pending_read_failed", "err", err)
			sleep(ctx, retryWait)
			continue
		}
		if len(changes) == 0 {
			select {
			case <-p.wake:
			case <-ctx.Done():
			}
			continue
		}
		msgs := make([]kafka.Message, len(changes))
		for i, c := range changes {
			if events.PartitionOfOrder(c.OrderNo, cfg.Partitions) != p.id {
				panic(fmt.Sprintf("orderflow: order %d pending on partition %d", c.OrderNo, p.id))
			}
			msgs[i] = kafka.Message{Key: events.Key(c.OrderNo), Value: c.Value}
		}
		if err := p.svc.writer.WriteMessages(ctx, msgs...); err != nil {
			if ctx.Err() != nil {
				return
			}
			m.publishErrors.Inc()
			p.log.Warn("changelog_write_failed", "changes", len(changes), "err", err)
			sleep(ctx, retryWait)
			continue
		}
		last := changes[len(changes)-1].Offset
		if err := p.store.Published(last, len(changes)); err != nil {
			p.log.Error("pending_delete_failed", "err", err)
		}
		m.published.Add(float64(len(changes)))
		select {
		case p.drained <- struct{}{}:
		default:
		}
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
