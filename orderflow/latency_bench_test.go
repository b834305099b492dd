package orderflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"seatd/internal/kafkatest"
	"seatd/inventory"
	"seatd/orderflow/events"
	"seatd/orderflow/orders"
	"seatd/orderflow/relay"
	"seatd/raftfsm"
)

// BenchmarkHoldToOrder measures the time from a hold's acknowledgement to
// its order being readable: a one-node seatd (2 groups, fsynced Raft log)
// whose relay publishes to Kafka, and one order-service instance owning
// every partition. Holds arrive at a fixed rate (open loop, 2,000 a
// second, each from its own caller); each latency runs from the
// moment Propose returned the hold to the first read of the order from
// the service's store (polled every millisecond; the Kitex call a buyer
// makes adds its round trip on top). Reports p50, p99 and max in ms, and
// the holds per second reached.
//
//	go test -run '^$' -bench HoldToOrder -benchtime 20000x ./orderflow
//	SEATD_KAFKA=real go test -run '^$' -bench HoldToOrder -benchtime 20000x ./orderflow
func BenchmarkHoldToOrder(b *testing.B) {
	const partitions, seats = 16, 100_000
	if b.N > seats {
		b.Fatalf("-benchtime %dx: the venue has %d seats; ask for at most that many holds", b.N, seats)
	}
	brokers := kafkatest.Brokers(b)
	rel, err := relay.New(relay.Config{Brokers: brokers, Topics: events.Topics(partitions, 1)})
	if err != nil {
		b.Fatal(err)
	}
	node, err := raftfsm.StartNode(raftfsm.NodeConfig{ID: "n1", Dir: b.TempDir(), Addr: "127.0.0.1:0", Groups: 2, Duty: rel.Duty,
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer node.Shutdown(false)
	if err := node.Bootstrap([]raftfsm.Peer{{ID: "n1", Addr: node.Addr()}}); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st := node.Stats()
		if st[1].Writable && st[2].Writable {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the node did not lead its groups")
		}
	}
	svc := startService(b, testConfig(brokers, b.TempDir(), 0, 1, partitions))
	group := benchProgram(b, node, seats)

	holds := make([]inventory.HoldInfo, b.N)
	acked := make([]time.Time, b.N)
	ready := make([]time.Time, b.N)
	var mu sync.Mutex
	pending := map[int]inventory.OrderNo{}

	// The reader: every millisecond, look up each order not yet seen.
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			mu.Lock()
			for i, no := range pending {
				if _, err := svc.Order(no); err == nil {
					ready[i] = time.Now()
					delete(pending, i)
				} else if !errors.Is(err, orders.ErrNotFound) {
					panic(err)
				}
			}
			mu.Unlock()
		}
	}()

	const interval = time.Second / 2000
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range b.N {
		// Open loop: hold i is due at start + i·interval, whatever the
		// earlier ones are doing.
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := node.Propose(ctx, group, &raftfsm.Command{Op: raftfsm.OpHold, Hold: &inventory.HoldRequest{
				Program: "bench", User: uint64(1000 + i), RequestID: requestID(i), Count: 1, Together: true}})
			if err != nil || out.Result != inventory.ResultOK {
				panic(fmt.Sprintf("hold %d: %v %v", i, err, out.Result))
			}
			mu.Lock()
			holds[i], acked[i] = out.Hold, time.Now()
			pending[i] = out.Hold.OrderNo
			mu.Unlock()
		}()
	}
	wg.Wait()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		left := len(pending)
		mu.Unlock()
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d orders not readable 60s after the last hold", left)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	close(stop)
	<-readerDone

	lat := make([]time.Duration, b.N)
	for i := range lat {
		lat[i] = ready[i].Sub(acked[i])
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "holds/s")
	b.ReportMetric(0, "ns/op")
}

// benchProgram creates and opens a program of n seats (100 rows of n/100)
// and returns its group.
func benchProgram(b *testing.B, node *raftfsm.Node, n int) uint16 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	layout, err := inventory.Grid{Sections: 1, Rows: 100, Cols: n / 100, Categories: []inventory.GridCategory{{ID: "a", First: 1, Last: 100}}}.Layout()
	if err != nil {
		b.Fatal(err)
	}
	group, err := node.Place(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	spec := &inventory.ProgramSpec{ID: "bench", Name: "Bench", Categories: []inventory.Category{{ID: "a", Name: "A", PriceCents: 1000}},
		Layout: layout, MaxSeatsPerUser: 6}
	for _, cmd := range []*raftfsm.Command{{Op: raftfsm.OpCreateProgram, Spec: spec}, {Op: raftfsm.OpOpenSale, Program: "bench"}} {
		out, err := node.Propose(ctx, group, cmd)
		if err != nil || out.Result != inventory.ResultOK {
			b.Fatalf("%v: %v %v %s", cmd.Op, err, out.Result, out.Detail)
		}
	}
	return group
}

func requestID(i int) inventory.RequestID {
	var id inventory.RequestID
	for k := range 8 {
		id[k] = byte(i >> (8 * k))
	}
	return id
}
