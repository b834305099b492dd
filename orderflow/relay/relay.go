// Package relay publishes each inventory group's outbox to Kafka: the
// leader of a group reads the events its state machine appended, publishes
// them in sequence order to seat.holds, and then proposes OutboxAck(seq)
// through Raft, which lets the state machine drop them.
//
// Delivery is at least once. A leader that dies between publishing and its
// acknowledgement leaves those events unacknowledged in the replicated
// state, and the next leader publishes them again; consumers recognise a
// repeat by the event's id (group, seq). What consumers rely on, and what
// this package keeps, is the order of first deliveries: within one
// partition, a group's events first arrive in increasing seq. Each publish
// is one kafka-go batch per partition (the writer's BatchSize and
// BatchBytes are above a publish's), and the next publish starts only
// after the previous one was acknowledged by every in-sync replica, so a
// later event never lands while an earlier one of the same partition
// failed.
package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"seatd/inventory"
	"seatd/orderflow/events"
	"seatd/raftfsm"
)

// Config configures a relay. Zero fields take the defaults noted.
type Config struct {
	Brokers []string // Kafka bootstrap addresses, host:port; required
	// Topics are created if missing, and checked, before the first
	// publish (events.Topics); none: topics are made by other means.
	Topics []events.TopicSpec
	// MaxBatch bounds the events of one publish; default 1,000. Larger
	// batches publish a backlog faster, at more memory per group.
	MaxBatch int
	// MaxBatchBytes bounds the encoded events of one publish; default
	// 768 KiB (an event is a few hundred bytes, about 20 KiB for a hold of
	// 256 seats). A publish is at most one record batch per partition,
	// and the broker refuses a record batch above its message.max.bytes
	// (1 MiB by default), so MaxBatchBytes + MessageOverhead·MaxBatch may
	// not pass MaxRecordBatch.
	MaxBatchBytes int
	// WriteTimeout bounds one publish attempt; default 10s.
	WriteTimeout time.Duration
	// MaxBackoff is the longest pause between failed publishes; default
	// 2s. Failures back off from 50ms, doubling.
	MaxBackoff time.Duration
	// Idle is how long a relay with nothing to publish waits before
	// looking again, should a wake-up be missed; default 1s.
	Idle time.Duration
	Log  *slog.Logger // default: discard
}

// Bounds that follow from the broker's defaults.
const (
	// MaxRecordBatch is Kafka's default message.max.bytes, the largest
	// record batch a broker takes (its documentation, "Broker Configs").
	MaxRecordBatch = 1048588
	// MessageOverhead bounds what a record adds to its key and value in
	// kafka-go's accounting of a batch.
	MessageOverhead = 128
)

func (c Config) withDefaults() Config {
	if c.MaxBatch == 0 {
		c.MaxBatch = 1000
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = 768 << 10
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 2 * time.Second
	}
	if c.Idle == 0 {
		c.Idle = time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Relay publishes the outboxes of the groups its node leads.
type Relay struct {
	cfg Config
	m   metrics

	mu      sync.Mutex // guards ensured
	ensured bool       // the topics exist as specified
}

// New checks cfg and returns a relay; its Duty goes in
// raftfsm.NodeConfig.Duty.
func New(cfg Config) (*Relay, error) {
	cfg = cfg.withDefaults()
	switch {
	case len(cfg.Brokers) == 0:
		return nil, errors.New("relay: no brokers")
	case cfg.MaxBatch < 1 || cfg.MaxBatch > 100_000:
		return nil, fmt.Errorf("relay: max batch %d, want 1-100000", cfg.MaxBatch)
	case cfg.MaxBatchBytes < 64<<10 || cfg.MaxBatchBytes+MessageOverhead*cfg.MaxBatch > MaxRecordBatch:
		return nil, fmt.Errorf("relay: max batch bytes %d with max batch %d, want 64 KiB up to %d - %d per event",
			cfg.MaxBatchBytes, cfg.MaxBatch, MaxRecordBatch, MessageOverhead)
	}
	return &Relay{cfg: cfg, m: newMetrics()}, nil
}

// Collectors returns the relay's metrics, to register.
func (r *Relay) Collectors() []prometheus.Collector { return r.m.collectors() }

// EnsureTopics creates the configured topics if missing and checks those
// that exist (events.EnsureTopics); once it succeeds it is not asked
// again. A topic that differs from its spec is events.ErrTopicMismatch.
func (r *Relay) EnsureTopics(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ensured || len(r.cfg.Topics) == 0 {
		return nil
	}
	if err := events.EnsureTopics(ctx, r.cfg.Brokers, r.cfg.Topics); err != nil {
		return err
	}
	r.ensured = true
	return nil
}

// Duty publishes group g's outbox until ctx ends. It starts from the last
// acknowledged event, as every new leader must. Until the topics are as
// configured (EnsureTopics) it publishes nothing: events wait in the
// outbox, where they are safe, and the mismatch is logged and counted on
// each try.
func (r *Relay) Duty(ctx context.Context, g *raftfsm.LedGroup) {
	w := &kafka.Writer{
		Addr: kafka.TCP(r.cfg.Brokers...), Topic: events.TopicHolds, Balancer: events.GeneBalancer{},
		RequiredAcks: kafka.RequireAll,
		// One publish is one batch per partition: see the package comment.
		BatchSize: r.cfg.MaxBatch, BatchBytes: MaxRecordBatch,
		// A publish is a whole batch already; waiting for more adds latency.
		BatchTimeout: time.Millisecond,
		WriteTimeout: r.cfg.WriteTimeout, ReadTimeout: r.cfg.WriteTimeout,
		MaxAttempts: 3, WriteBackoffMin: 50 * time.Millisecond, WriteBackoffMax: 500 * time.Millisecond,
	}
	defer w.Close()
	group := int(g.ID())
	label := fmt.Sprint(group)
	log := r.cfg.Log.With("group", group)

	var next uint64 // the first event not yet published
	g.Read(func(e *inventory.Engine, _ uint64) {
		_, acked := e.OutboxSeq()
		next = acked + 1
	})
	// Events name their cluster, which the first meta leader names a
	// moment after the cluster forms.
	var cluster string
	if !r.retry(ctx, label, "cluster", log, func() error {
		if cluster = g.ClusterID(); cluster == "" {
			return errors.New("the cluster has no id yet")
		}
		return nil
	}) {
		return
	}
	if !r.retry(ctx, label, "topics", log, func() error {
		tctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
		defer cancel()
		return r.EnsureTopics(tctx)
	}) {
		return
	}
	log.Info("relay_started", "from_seq", next)
	defer log.Info("relay_stopped", "next_seq", next)
	r.m.acked.WithLabelValues(label).Set(float64(next - 1))
	for _, kind := range []string{"cluster", "topics", "publish", "ack", "encode"} {
		r.m.errors.WithLabelValues(label, kind) // every series from the start, at 0
	}
	acked := next - 1 // the last acknowledgement that applied

	idle := time.NewTimer(r.cfg.Idle)
	defer idle.Stop()
	for ctx.Err() == nil {
		var evs []inventory.Event
		g.Read(func(e *inventory.Engine, _ uint64) { evs = e.Outbox(next-1, r.cfg.MaxBatch) })
		if len(evs) == 0 {
			if acked < next-1 && r.ack(ctx, g, label, log, next-1) {
				// The last publish's acknowledgement had failed: with
				// nothing new to publish, no later one would cover it.
				acked = next - 1
			}
			idle.Reset(r.cfg.Idle)
			select {
			case <-ctx.Done():
			case <-g.OutboxGrew():
			case <-idle.C:
			}
			continue
		}
		msgs, err := r.encode(cluster, group, evs)
		if err != nil {
			// An event that cannot be encoded is a bug, not a fault of
			// Kafka: stop relaying this group loudly rather than skip it.
			log.Error("relay_encode_failed", "err", err)
			r.m.errors.WithLabelValues(label, "encode").Inc()
			return
		}
		start := time.Now()
		if !r.retry(ctx, label, "publish", log, func() error { return w.WriteMessages(ctx, msgs...) }) {
			return
		}
		r.m.latency.Observe(time.Since(start).Seconds())
		last := evs[len(msgs)-1].Seq
		next = last + 1
		r.m.published.WithLabelValues(label).Add(float64(len(msgs)))
		if r.ack(ctx, g, label, log, last) {
			acked = last
		}
	}
}

// encode turns a prefix of evs into messages, as many as fit in
// MaxBatchBytes (at least one).
func (r *Relay) encode(cluster string, group int, evs []inventory.Event) ([]kafka.Message, error) {
	msgs := make([]kafka.Message, 0, len(evs))
	size := 0
	for i := range evs {
		v, err := json.Marshal(events.FromOutbox(cluster, group, &evs[i]))
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", evs[i].Seq, err)
		}
		if size += len(v); size > r.cfg.MaxBatchBytes && len(msgs) > 0 {
			break
		}
		msgs = append(msgs, kafka.Message{Key: events.Key(evs[i].OrderNo), Value: v})
	}
	return msgs, nil
}

// retry calls fn until it succeeds, backing off between failures, which
// it logs and counts under kind; false means ctx ended first.
func (r *Relay) retry(ctx context.Context, label, kind string, log *slog.Logger, fn func() error) bool {
	backoff := 50 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		r.m.errors.WithLabelValues(label, kind).Inc()
		log.Warn("relay_"+kind+"_failed", "retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, r.cfg.MaxBackoff)
	}
}

// ack proposes OutboxAck(seq) and reports whether it applied. A failed
// ack is covered by the next one (acks are cumulative), which Duty makes
// after its next publish or, with nothing to publish, before it waits;
// if this node lost leadership the next leader publishes the events
// again.
func (r *Relay) ack(ctx context.Context, g *raftfsm.LedGroup, label string, log *slog.Logger, seq uint64) bool {
	actx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
	defer cancel()
	out, err := g.Propose(actx, &raftfsm.Command{Op: raftfsm.OpAckOutbox, Seq: seq})
	switch {
	case err != nil:
		if ctx.Err() == nil {
			r.m.errors.WithLabelValues(label, "ack").Inc()
			log.Warn("relay_ack_failed", "seq", seq, "err", err)
		}
		return false
	case out.Result != inventory.ResultOK:
		r.m.errors.WithLabelValues(label, "ack").Inc()
		log.Error("relay_ack_refused", "seq", seq, "result", out.Result)
		return false
	}
	r.m.acked.WithLabelValues(label).Set(float64(seq))
	return true
}
