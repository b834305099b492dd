package main

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	rpc "seatd/kitex_gen/inventoryrpc"
)

// BenchmarkRPCHold measures best-available holds of 1 seat through the
// routing client and Kitex to a 3-process seatd cluster on loopback (all
// on this machine), and reports holds per second with p50 and p99. The
// venue has 100,000 seats, so run it with -benchtime 100000x.
func BenchmarkRPCHold(b *testing.B) {
	const callers, seats = 256, 100_000
	if b.N > seats {
		// Each hold takes a seat, and changing b.N would leave the
		// framework asking for more runs forever.
		b.Fatalf("b.N = %d: the venue has %d seats; run with -benchtime %dx", b.N, seats, seats)
	}
	_, c, _ := startProcesses(b, arenaRPC(100, seats/100))
	ctx := context.Background()
	var next, failed atomic.Int64
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
				t0 := time.Now()
				r, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: i, Count: 1})
				hists[w].RecordValue(time.Since(t0).Microseconds())
				if err != nil || r.Status.CodeName != "ok" {
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
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "holds/s")
	b.ReportMetric(float64(all.ValueAtQuantile(50))/1000, "p50-ms")
	b.ReportMetric(float64(all.ValueAtQuantile(99))/1000, "p99-ms")
	if st := c.Stats(); st.HoldCalls > 0 {
		b.ReportMetric(float64(st.BatchedHolds)/float64(st.HoldCalls), "holds/call")
	}
}
