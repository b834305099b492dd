package raftfsm

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"seatd/inventory"
)

// BenchmarkReplicatedHold measures best-available holds through the group
// commit proposer of a 3-node cluster on loopback TCP, pebble syncing
// every write. It reports holds per second and the 99th percentile
// latency of one hold as a caller sees it.
func BenchmarkReplicatedHold(b *testing.B) {
	for _, batching := range []bool{true, false} {
		for _, callers := range []int{512, 64} {
			name := fmt.Sprintf("batching=%s/callers=%d", map[bool]string{true: "on", false: "off"}[batching], callers)
			b.Run(name, func(b *testing.B) { benchReplicatedHold(b, batching, callers) })
		}
	}
}

func benchReplicatedHold(b *testing.B, batching bool, callers int) {
	var nodes []*Node
	var peers []Peer
	for i := range 3 {
		cfg := testNodeConfig(fmt.Sprintf("n%d", i+1), b.TempDir(), "127.0.0.1:0")
		cfg.Groups = 1
		// One leader for the whole run: no rebalancing, and timeouts that a
		// saturated 2-core machine does not trip.
		cfg.BalanceInterval = time.Hour
		cfg.HeartbeatTimeout, cfg.ElectionTimeout = time.Second, time.Second
		cfg.Engine = inventory.Config{MaxLiveHolds: 1 << 22, MaxHolds: 1 << 23, MaxOutbox: 1 << 23}
		if !batching {
			cfg.Proposer.MaxBatch = 1
		}
		n, err := StartNode(cfg)
		if err != nil {
			b.Fatal(err)
		}
		nodes = append(nodes, n)
		peers = append(peers, Peer{ID: n.ID(), Addr: n.Addr()})
	}
	defer func() {
		for _, n := range nodes {
			n.Shutdown(false)
		}
	}()
	for _, n := range nodes {
		n.Bootstrap(peers)
	}
	c := &testCluster{t: &testing.T{}, nodes: nodes}
	var lead *Node
	for deadline := time.Now().Add(10 * time.Second); lead == nil; {
		if lead = c.leaderNow(1); lead == nil {
			if time.Now().After(deadline) {
				b.Fatal("no leader")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	l, _ := inventory.Grid{Sections: 10, Rows: 100, Cols: 1000, Categories: []inventory.GridCategory{{ID: "a", First: 1, Last: 100}}}.Layout()
	spec := &inventory.ProgramSpec{ID: "big", Layout: l, Categories: []inventory.Category{{ID: "a", PriceCents: 100}}}
	ctx := context.Background()
	for _, cmd := range []*Command{{Op: OpCreateProgram, Spec: spec}, {Op: OpOpenSale, Program: "big"}} {
		if o, err := lead.Propose(ctx, 1, cmd); err != nil || o.Result != inventory.ResultOK {
			b.Fatalf("%v = %v, %v", cmd.Op, o.Result, err)
		}
	}
	if b.N > 1_000_000 {
		// One seat each; changing b.N would leave the framework asking
		// for more runs forever.
		b.Fatalf("b.N = %d: the venue has 1,000,000 seats; run with -benchtime 1000000x or less", b.N)
	}
	// Acknowledge the outbox as the Kafka relay does, so that it stays
	// short.
	relayDone := make(chan struct{})
	stopRelay := make(chan struct{})
	go func() {
		defer close(relayDone)
		for {
			select {
			case <-stopRelay:
				return
			case <-time.After(20 * time.Millisecond):
			}
			var last uint64
			lead.Read(1, func(e *inventory.Engine, _ uint64) { last, _ = e.OutboxSeq() })
			lead.Propose(ctx, 1, &Command{Op: OpAckOutbox, Seq: last})
		}
	}()
	defer func() { close(stopRelay); <-relayDone }()
	var next atomic.Int64
	var failed atomic.Int64
	hists := make([]*hdrhistogram.Histogram, callers)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range callers {
		hists[w] = hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				req := &inventory.HoldRequest{Program: "big", User: uint64(i), Count: 1}
				t0 := time.Now()
				o, err := lead.Propose(ctx, 1, &Command{Op: OpHold, Hold: req})
				hists[w].RecordValue(time.Since(t0).Microseconds())
				if err != nil || o.Result != inventory.ResultOK {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)
	for _, h := range hists {
		all.Merge(h)
	}
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d holds failed", f, b.N)
	}
	entries, commands := lead.groups[1].proposer.Batches()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "holds/s")
	b.ReportMetric(float64(all.ValueAtQuantile(99))/1000, "p99-ms")
	b.ReportMetric(float64(commands)/float64(max(entries, 1)), "holds/entry")
}
