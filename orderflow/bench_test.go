package orderflow

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"seatd/internal/kafkatest"
	"seatd/orderflow/events"
)

// BenchmarkConsume measures events persisted per second through the real
// consumer path: seat.holds pre-filled on kfake with b.N events (a
// HoldPlaced and a HoldReleased per order, users spread over every
// partition, 8 groups), then one instance owning all 16 partitions starts
// and applies them in synced pebble batches, publishing the changelog as
// it goes. The time is from Start to every partition's offset reaching
// the end; pre-filling is not timed.
//
//	go test -run '^$' -bench Consume -benchtime 200000x ./orderflow
func BenchmarkConsume(b *testing.B) {
	const partitions, groups = 16, 8
	brokers := kafkatest.Brokers(b)
	if err := events.EnsureTopics(context.Background(), brokers, events.Topics(partitions, 1)); err != nil {
		b.Fatal(err)
	}
	n := max(b.N/2, 1)
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: events.TopicHolds, Balancer: events.GeneBalancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchSize: 5000, BatchBytes: 16 << 20}
	seq := make([]uint64, groups)
	msgs := make([]kafka.Message, 0, 10_000)
	flush := func() {
		if err := w.WriteMessages(context.Background(), msgs...); err != nil {
			b.Fatal(err)
		}
		msgs = msgs[:0]
	}
	add := func(ev events.HoldEvent) {
		v, err := json.Marshal(ev)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Key: events.Key(no(ev)), Value: v})
		if len(msgs) == cap(msgs) {
			flush()
		}
	}
	// Orders are placed in runs and released a run later, so that a
	// release usually finds its order in the store, not in its own batch.
	const run = 512
	var pending []events.HoldEvent
	for i := range n {
		g := i % groups
		seq[g]++
		user := uint64(1000 + i)
		p := placed(g, seq[g], user, uint64(i/groups+1))
		add(p)
		pending = append(pending, p)
		if len(pending) == 2*run || i == n-1 {
			k := run
			if i == n-1 {
				k = len(pending)
			}
			for _, p := range pending[:k] {
				seq[p.Group]++
				add(then(p, seq[p.Group], events.HoldReleased, "expired"))
			}
			pending = pending[k:]
		}
	}
	flush()
	w.Close()

	cfg := testConfig(brokers, b.TempDir(), 0, 1, partitions)
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	ends, err := s.offsets(ctx, events.TopicHolds)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	for {
		done := true
		for _, p := range s.owned {
			if s.parts[p].applied.Load()+1 < ends[p].LastOffset {
				done = false
			}
		}
		if done {
			break
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	total := 0
	for _, p := range s.owned {
		total += int(ends[p].LastOffset)
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "events/s")
	if got := testCountApplied(s); int(got) != total {
		b.Fatalf("applied %v events; want %d", got, total)
	}
	b.Logf("%d events in %v", total, elapsed)
}

func testCountApplied(s *Service) float64 {
	var n float64
	for _, t := range []events.Type{events.HoldPlaced, events.HoldReleased} {
		n += metricValue(s.metrics.applied.WithLabelValues(string(t)))
	}
	return n
}

func metricValue(c interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	c.Write(&m)
	return m.GetCounter().GetValue()
}
