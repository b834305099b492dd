package orderflow

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"seatd/inventory"
	"seatd/orderflow/events"
	"seatd/orderflow/orders"
)

// testLog is a logger for tests: warnings and errors to stderr when
// ORDERFLOW_TEST_LOG is set, else nothing.
func testLog() *slog.Logger {
	if os.Getenv("ORDERFLOW_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testConfig is instance i of n over brokers, with its data in dir.
func testConfig(brokers []string, dir string, i, n, partitions int) Config {
	return Config{Brokers: brokers, Instance: i, Instances: n, Partitions: partitions, DataDir: dir, Log: testLog()}
}

// startService starts a service and waits for it to be ready; Close runs
// at the test's end unless the test closed it first.
func startService(tb testing.TB, cfg Config) *Service {
	tb.Helper()
	s, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	if err := s.WaitReady(ctx); err != nil {
		tb.Fatalf("WaitReady: %v", err)
	}
	return s
}

// orderNo makes an order number as the inventory does: the sequence,
// then the group, then the user's gene.
func orderNo(seq uint64, group int, user uint64) inventory.OrderNo {
	return inventory.OrderNo(seq<<(inventory.GroupBits+inventory.GeneBits) | uint64(group)<<inventory.GeneBits | inventory.UserGene(user))
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// testCluster is the seatd cluster the test events come from.
const testCluster = "0123456789abcdef0123456789abcdef"

// placed is a HoldPlaced event of group's seq for user's order n (its
// number's sequence), two seats at 5000 cents, made at t0 + n seconds.
func placed(group int, seq uint64, user uint64, n uint64) events.HoldEvent {
	no := orderNo(n, group, user)
	at := t0.Add(time.Duration(n) * time.Second)
	exp := at.Add(15 * time.Minute)
	return events.HoldEvent{
		Version: events.Version, Cluster: testCluster, ID: events.EventID(group, seq), Group: group, Seq: seq, Type: events.HoldPlaced, At: at,
		OrderNo: strconv.FormatUint(uint64(no), 10), HoldID: strconv.FormatUint(n<<10|uint64(group), 10),
		ProgramID: "p1", UserID: strconv.FormatUint(user, 10), From: 0, To: 1, FromStop: "doors", ToStop: "end",
		Seats: []events.Seat{
			{ID: "A/1/" + strconv.FormatUint(2*n, 10), Label: "A1", Category: "vip", PriceCents: 5000},
			{ID: "A/1/" + strconv.FormatUint(2*n+1, 10), Label: "A2", Category: "vip", PriceCents: 5000},
		},
		TotalCents: 10000, ExpiresAt: &exp,
	}
}

// then is a later event of the same order: of type typ, group's seq.
func then(ev events.HoldEvent, seq uint64, typ events.Type, reason string) events.HoldEvent {
	ev.ID, ev.Seq, ev.Type, ev.Reason = events.EventID(ev.Group, seq), seq, typ, reason
	ev.At = ev.At.Add(time.Minute)
	ev.Seats, ev.TotalCents, ev.ExpiresAt = nil, 0, nil
	return ev
}

// refund is a SeatsRefunded event of the order's seat i.
func refund(placedEv events.HoldEvent, seq uint64, i int) events.HoldEvent {
	ev := then(placedEv, seq, events.SeatsRefunded, "")
	ev.Seats = []events.Seat{placedEv.Seats[i]}
	ev.AmountCents = placedEv.Seats[i].PriceCents
	return ev
}

// produce publishes events to seat.holds as the outbox relay does: key the
// order number, partition by its gene, every replica acknowledging.
func produce(tb testing.TB, brokers []string, evs ...events.HoldEvent) {
	tb.Helper()
	msgs := make([]kafka.Message, len(evs))
	for i, ev := range evs {
		v, err := json.Marshal(ev)
		if err != nil {
			tb.Fatal(err)
		}
		n, _ := strconv.ParseUint(ev.OrderNo, 10, 64)
		msgs[i] = kafka.Message{Key: events.Key(inventory.OrderNo(n)), Value: v}
	}
	produceRaw(tb, brokers, msgs...)
}

func produceRaw(tb testing.TB, brokers []string, msgs ...kafka.Message) {
	tb.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: events.TopicHolds, Balancer: events.GeneBalancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchSize: 10_000, BatchBytes: 64 << 20}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		tb.Fatalf("produce: %v", err)
	}
}

// waitFor polls cond until it holds, failing the test after 20 s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitOrder waits until an order is at version v and returns it.
func waitOrder(tb testing.TB, s *Service, no inventory.OrderNo, v uint64) orders.Order {
	tb.Helper()
	var o orders.Order
	waitFor(tb, fmt.Sprintf("order %d at version %d", no, v), func() bool {
		var err error
		o, err = s.Order(no)
		return err == nil && o.Version >= v
	})
	return o
}

// caughtUp waits until every owned partition has applied all that
// seat.holds has now, and published every change.
func caughtUp(tb testing.TB, s *Service) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := s.offsets(ctx, events.TopicHolds)
	if err != nil {
		tb.Fatal(err)
	}
	waitFor(tb, "partitions caught up and published", func() bool {
		for _, p := range s.owned {
			part := s.parts[p]
			if part.applied.Load()+1 < ends[p].LastOffset || part.store.PendingCount() > 0 {
				return false
			}
		}
		return true
	})
}

// payCaughtUp waits until every owned partition's store has applied
// pay.events through its end as it is now: an order is readable the
// moment its batch commits, the store's State a moment later.
func payCaughtUp(tb testing.TB, s *Service) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := s.offsets(ctx, events.TopicPay)
	if err != nil {
		tb.Fatal(err)
	}
	waitFor(tb, "pay.events applied", func() bool {
		for _, p := range s.owned {
			if s.parts[p].store.State().PayOffset+1 < ends[p].LastOffset {
				return false
			}
		}
		return true
	})
}

func no(ev events.HoldEvent) inventory.OrderNo {
	n, _ := strconv.ParseUint(ev.OrderNo, 10, 64)
	return inventory.OrderNo(n)
}
