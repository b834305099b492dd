package pgseats

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"

	"seatd/bench/target"
	"seatd/internal/pgtest"
)

// benchClients is the benchmark's concurrent buyers, each with its own
// connection: enough to keep 2 cores and the WAL writer busy, as a load
// of many buyers does.
const benchClients = 16

// BenchmarkHoldBest measures best-available holds of k adjacent seats of
// a 10,000-seat category (one section of 100 rows of 100, as seatd's
// arena10k) at full inventory, by benchClients buyers at once, and
// reports holds/s. Full inventory: the holds are spread over fresh
// copies of the program, loaded before the timer starts, each taking
// holds until 5% of its seats are held (seatd's engine benchmark
// releases its holds, untimed, as often).
func BenchmarkHoldBest(b *testing.B) {
	dsn := pgtest.Start(b).DSN
	for _, k := range []int{1, 2, 6} {
		b.Run("k="+strconv.Itoa(k), func(b *testing.B) {
			ctx := context.Background()
			tg := newTarget(b, dsn, benchClients, 0)
			const seats = 10000
			perProgram := seats * 5 / 100 / k
			programs := (b.N + perProgram - 1) / perProgram
			for p := range programs {
				spec := grid(b, "bench-"+strconv.Itoa(p), 1, 100, 100)
				if n := len(target.Seats(spec)); n != seats {
					b.Fatalf("%d seats; want %d", n, seats)
				}
				load(b, tg, spec)
			}
			var next, refused atomic.Int64
			b.SetParallelism((benchClients + 1) / 2) // GOMAXPROCS is 2 here
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					program := "bench-" + strconv.FormatInt(i/int64(perProgram), 10)
					_, err := tg.HoldBest(ctx, program, "a", uint64(i+1), k)
					switch {
					case errors.Is(err, target.ErrNoAdjacent), errors.Is(err, target.ErrSoldOut):
						refused.Add(1)
					case err != nil:
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "holds/s")
			b.ReportMetric(float64(refused.Load())/float64(b.N)*100, "%refused")
		})
	}
}
