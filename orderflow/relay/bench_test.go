package relay

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"seatd/internal/kafkatest"
	"seatd/inventory"
	"seatd/orderflow/events"
	"seatd/raftfsm"
)

// BenchmarkHolds measures what the relay costs the hold path: holds
// proposed by 256 callers to a one-node cluster (fsynced Raft log, group
// commit), with the relay publishing every event to an embedded broker
// and acknowledging it, and without a relay, in one run. Reports holds
// per second; ns/op is the wall time per hold over all callers, so the
// ratio of the two is the relay's share of a 2-core machine (the broker
// runs in the same process).
//
//	go test -run '^$' -bench Holds -benchtime 50000x -count 3 ./orderflow/relay
func BenchmarkHolds(b *testing.B) {
	for _, relayed := range []bool{false, true} {
		b.Run(fmt.Sprintf("relay=%v", relayed), func(b *testing.B) {
			const seats = 200_000
			if b.N > seats {
				b.Fatalf("-benchtime %dx: the venue has %d seats", b.N, seats)
			}
			cfg := raftfsm.NodeConfig{ID: "n1", Dir: b.TempDir(), Addr: "127.0.0.1:0", Groups: 1,
				HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond}
			if relayed {
				r, err := New(Config{Brokers: kafkatest.Embedded(b), Topics: events.Topics(16, 1)})
				if err != nil {
					b.Fatal(err)
				}
				cfg.Duty = r.Duty
			}
			n, err := raftfsm.StartNode(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer n.Shutdown(false)
			if err := n.Bootstrap([]raftfsm.Peer{{ID: "n1", Addr: n.Addr()}}); err != nil {
				b.Fatal(err)
			}
			waitFor(b, "writable groups", func() bool { st := n.Stats(); return len(st) == 2 && st[0].Writable && st[1].Writable })
			layout, err := inventory.Grid{Sections: 1, Rows: 200, Cols: seats / 200, Categories: []inventory.GridCategory{{ID: "a", First: 1, Last: 200}}}.Layout()
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if _, err := n.Place(ctx, "show"); err != nil {
				b.Fatal(err)
			}
			spec := &inventory.ProgramSpec{ID: "show", Name: "Show", Categories: []inventory.Category{{ID: "a", Name: "A", PriceCents: 5000}}, Layout: layout}
			for _, cmd := range []*raftfsm.Command{{Op: raftfsm.OpCreateProgram, Spec: spec}, {Op: raftfsm.OpOpenSale, Program: "show"}} {
				if out, err := n.Propose(ctx, 1, cmd); err != nil || out.Result != inventory.ResultOK {
					b.Fatalf("%v: %v %v", cmd.Op, err, out.Result)
				}
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range 256 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						var id inventory.RequestID
						for k := range 8 {
							id[k] = byte(i >> (8 * k))
						}
						out, err := n.Propose(ctx, 1, &raftfsm.Command{Op: raftfsm.OpHold, Hold: &inventory.HoldRequest{
							Program: "show", User: uint64(i + 1), RequestID: id, Count: 1, Together: true}})
						if err != nil || out.Result != inventory.ResultOK {
							panic(fmt.Sprintf("hold %d: %v %v", i, err, out.Result))
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "holds/s")
		})
	}
}
