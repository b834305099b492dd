package orderflow

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"seatd/orderflow/events"
	"seatd/orderflow/orders"
)

// Publisher sends what one partition's store recorded for Kafka (the
// order service's changelog entries, the pay service's outcomes) in the
// order recorded, and has the store forget each batch once every in-sync
// replica has it. It is the crash-safe half of "write the effect and the
// message in one synced batch, publish after": a crash between the write
// and the forget publishes the batch again, which the consumers absorb
// (the changelog is compacted; pay outcomes are applied once by id).
type Publisher struct {
	// Partition is the store's; every message's order must route to it
	// (Partitions of them): one that does not is a bug, and panics.
	Partition, Partitions int
	// Writer writes to the topic (its Balancer events.GeneBalancer). Each
	// Next batch must fit its batch bounds, so that kafka-go sends it as
	// one record batch, appended whole or not at all.
	Writer *kafka.Writer
	// Next returns the next batch recorded, oldest first; Done forgets
	// it (through its last Seq) once written.
	Next func() ([]orders.Change, error)
	Done func(last int64) error
	// Wake is signalled (cap 1) when something was recorded.
	Wake <-chan struct{}
	// Drained, if not nil, is signalled (without blocking) after each
	// batch written: back-pressure for a writer waiting on the store.
	Drained chan<- struct{}
	// Errors counts failed writes (retried); Published the messages
	// written.
	Errors, Published prometheus.Counter
	Log               *slog.Logger
}

// Run publishes until ctx ends; at start it publishes what a previous
// run left. A failed read, write or forget is tried again after
// retryWait, the batch staying recorded meanwhile; a write starts only
// after the one before it succeeded, so the topic always holds a prefix
// of what was recorded, in order.
func (p *Publisher) Run(ctx context.Context) {
	for ctx.Err() == nil {
		batch, err := p.Next()
		if err != nil {
			p.Log.Error("publish_read_failed", "topic", p.Writer.Topic, "err", err)
			sleep(ctx, retryWait)
			continue
		}
		if len(batch) == 0 {
			select {
			case <-p.Wake:
			case <-ctx.Done():
			}
			continue
		}
		msgs := make([]kafka.Message, len(batch))
		for i, c := range batch {
			if events.PartitionOfOrder(c.OrderNo, p.Partitions) != p.Partition {
				panic(fmt.Sprintf("orderflow: %s: order %d recorded on partition %d", p.Writer.Topic, c.OrderNo, p.Partition))
			}
			msgs[i] = kafka.Message{Key: events.Key(c.OrderNo), Value: c.Value}
		}
		if err := p.Writer.WriteMessages(ctx, msgs...); err != nil {
			if ctx.Err() != nil {
				return
			}
			p.Errors.Inc()
			p.Log.Warn("publish_failed", "topic", p.Writer.Topic, "messages", len(batch), "err", err)
			sleep(ctx, retryWait)
			continue
		}
		if err := p.Done(batch[len(batch)-1].Seq); err != nil {
			p.Log.Error("publish_forget_failed", "topic", p.Writer.Topic, "err", err)
			sleep(ctx, retryWait)
		}
		p.Published.Add(float64(len(batch)))
		if p.Drained != nil {
			select {
			case p.Drained <- struct{}{}:
			default:
			}
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
