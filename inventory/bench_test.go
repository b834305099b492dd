package inventory

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// venue is a benchmark program: a layout and its categories.
type venue struct {
	name  string
	stops int
	spec  func() ProgramSpec
}

var venues = []venue{
	{"arena10k", 2, func() ProgramSpec {
		return benchSpec(Grid{Sections: 1, Rows: 100, Cols: 100, Categories: []GridCategory{{"vip", 1, 10}, {"a", 11, 40}, {"b", 41, 70}, {"c", 71, 100}}}.Layout())
	}},
	{"stadium80k", 2, func() ProgramSpec {
		return benchSpec(Grid{Sections: 8, Rows: 50, Cols: 200, Categories: []GridCategory{{"vip", 1, 5}, {"a", 6, 20}, {"b", 21, 35}, {"c", 36, 50}}}.Layout())
	}},
	{"train16x12", 12, func() ProgramSpec {
		return benchSpec(Train{Carriages: 16, Rows: 18, Categories: []GridCategory{{"first", 1, 3}, {"second", 4, 16}}}.Layout())
	}},
}

func benchSpec(l Layout, err error) ProgramSpec {
	if err != nil {
		panic(err)
	}
	spec := ProgramSpec{ID: "bench", Layout: l, HoldTTL: time.Minute, MaxSeatsPerHold: 6, MaxSeatsPerUser: MaxSeatsPerUserLimit}
	seen := map[string]bool{}
	for _, s := range l.Sections {
		for _, r := range s.Rows {
			for _, st := range r.Seats {
				if !seen[st.Category] {
					seen[st.Category] = true
					spec.Categories = append(spec.Categories, Category{ID: st.Category, PriceCents: 10000})
				}
			}
		}
	}
	return spec
}

// benchEngine builds the venue and sells seats at random (single-seat
// holds, confirmed, on random leg ranges) until about free percent of the
// seat-legs are left.
func benchEngine(tb testing.TB, v venue, free int) (*Engine, *Program, *rand.Rand) {
	spec := v.spec()
	for i := range v.stops {
		spec.Stops = append(spec.Stops, "s"+strconv.Itoa(i))
	}
	e, err := New(Config{MaxLiveHolds: 1 << 22, MaxHolds: 1 << 24})
	if err != nil {
		tb.Fatal(err)
	}
	if r, err := e.CreateProgram(0, &spec); r != ResultOK {
		tb.Fatal(r, err)
	}
	e.OpenSale(0, spec.ID)
	p, _ := e.Program(spec.ID)
	r := rand.New(rand.NewPCG(uint64(free), 42))
	legs := v.stops - 1
	total := p.NumSeats() * legs
	target := total * (100 - free) / 100
	taken := 0
	ids := make([]string, p.NumSeats())
	for s := range ids {
		ids[s] = p.Seat(uint32(s)).ID
	}
	req := HoldRequest{Program: spec.ID, Seats: make([]string, 1)}
	for taken < target {
		req.User = uint64(1 + r.IntN(1<<20))
		req.Seats[0] = ids[r.IntN(len(ids))]
		req.From, req.To = randomRange(r, legs)
		if out := e.Hold(0, &req); out.Result == ResultOK {
			e.Confirm(0, out.Hold.ID)
			taken += req.To - req.From
		}
	}
	last, _ := e.OutboxSeq()
	e.AckOutbox(0, last)
	return e, p, r
}

func randomRange(r *rand.Rand, legs int) (int, int) {
	from := r.IntN(legs)
	return from, from + 1 + r.IntN(legs-from)
}

// BenchmarkHoldBestAvailable measures one best-available hold (any
// category, together). Holds are released (untimed) in batches small enough
// that the inventory stays near its starting fill.
func BenchmarkHoldBestAvailable(b *testing.B) {
	for _, v := range venues {
		for _, free := range []int{100, 50, 10} {
			for _, k := range []int{1, 2, 6} {
				b.Run(fmt.Sprintf("venue=%s/free=%d/k=%d", v.name, free, k), func(b *testing.B) {
					benchHold(b, v, free, func(r *rand.Rand, req *HoldRequest) {
						req.Count, req.Together = k, true
						req.From, req.To = randomRange(r, v.stops-1)
					}, k)
				})
			}
		}
	}
}

// BenchmarkHoldFocal is BenchmarkHoldBestAvailable's half-full k=2 case on
// programs with a focal point: the sections side by side, 2 m apart, and
// the point off-centre in front of them. The stadium's ranks are a row of
// each of its 8 sections, all on one line, so every search reads all 8
// (none is skipped for being farther off); the arena's are one row each.
func BenchmarkHoldFocal(b *testing.B) {
	for _, v := range venues[:2] {
		placed := venue{v.name, v.stops, func() ProgramSpec {
			spec := v.spec()
			x := 0
			for i := range spec.Layout.Sections {
				spec.Layout.Sections[i].At = &Point{X: x}
				x += (len(spec.Layout.Sections[i].Rows[0].Seats) + 4) * SeatPitch
			}
			spec.Focal = &Point{X: x / 3, Y: -30}
			return spec
		}}
		b.Run("venue="+v.name+"/free=50/k=2", func(b *testing.B) {
			benchHold(b, placed, 50, func(r *rand.Rand, req *HoldRequest) {
				req.Count, req.Together = 2, true
				req.From, req.To = randomRange(r, v.stops-1)
			}, 2)
		})
	}
}

// BenchmarkHoldManual measures a manual hold of 2 named seats that are free
// on the first leg (the only one of an arena).
func BenchmarkHoldManual(b *testing.B) {
	for _, v := range venues {
		b.Run("venue="+v.name+"/free=50/k=2", func(b *testing.B) {
			var pairs [][]string
			benchHold(b, v, 50, func(r *rand.Rand, req *HoldRequest) {
				req.Seats = pairs[r.IntN(len(pairs))]
				req.From, req.To = 0, 1
			}, 2, func(e *Engine, p *Program) int {
				// disjoint pairs of neighbours free on the first leg
				states, _, _ := e.SeatMap("bench", 0, 1, 0, nil)
				for i := 0; i+1 < len(states); i++ {
					a, c := p.Seat(uint32(i)), p.Seat(uint32(i+1))
					if states[i] == SeatFree && states[i+1] == SeatFree && a.Row == c.Row && a.Section == c.Section {
						pairs = append(pairs, []string{a.ID, c.ID})
						i++
					}
				}
				// a batch far smaller than the pairs, so that few requests
				// find their pair taken
				return len(pairs) / 16
			})
		})
	}
}

// benchHold runs holds made by fill. setup, if given, prepares the engine
// and returns a cap on the release batch.
func benchHold(b *testing.B, v venue, free int, fill func(*rand.Rand, *HoldRequest), k int, setup ...func(*Engine, *Program) int) {
	e, p, _ := benchEngine(b, v, free)
	batch := max(1, min(64, p.NumSeats()*free/100/(8*k)))
	for _, f := range setup {
		batch = max(1, min(batch, f(e, p)))
	}
	benchHoldOn(b, e, batch, fill)
}

// benchHoldOn times holds made by fill on program "bench" of e, releasing
// them (untimed) every batch successes.
func benchHoldOn(b *testing.B, e *Engine, batch int, fill func(*rand.Rand, *HoldRequest)) {
	r := rand.New(rand.NewPCG(1, 2))
	const nReqs = 1024
	reqs := make([]HoldRequest, nReqs)
	for i := range reqs {
		reqs[i] = HoldRequest{Program: "bench", User: uint64(1 + r.IntN(1<<20))}
		fill(r, &reqs[i])
	}
	ids := make([]HoldID, 0, batch)
	now := e.Now()
	var seq uint64
	ok := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		req := &reqs[i%nReqs]
		seq++
		binary.LittleEndian.PutUint64(req.RequestID[:], seq)
		out := e.Hold(now, req)
		if out.Result == ResultOK {
			ok++
			ids = append(ids, out.Hold.ID)
			if len(ids) == batch {
				b.StopTimer()
				for _, id := range ids {
					e.Release(now, id, 0, ReleaseCancelled)
				}
				ids = ids[:0]
				now += 2*int64(time.Minute) + 1
				e.Tick(now, nil)
				last, _ := e.OutboxSeq()
				e.AckOutbox(now, last) // as the relay does
				b.StartTimer()
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(ok)/float64(b.N)*100, "%ok")
	if err := e.Check(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAvailability measures availability of every category over a
// random leg range.
func BenchmarkAvailability(b *testing.B) {
	for _, v := range venues {
		b.Run("venue="+v.name+"/free=50", func(b *testing.B) {
			e, _, r := benchEngine(b, v, 50)
			ranges := make([][2]int, 256)
			for i := range ranges {
				ranges[i][0], ranges[i][1] = randomRange(r, v.stops-1)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				rg := ranges[i%len(ranges)]
				if _, _, res := e.Availability("bench", rg[0], rg[1], 0); res != ResultOK {
					b.Fatal(res)
				}
			}
		})
	}
}

// BenchmarkSnapshot measures encoding the whole engine, and reports its size.
func BenchmarkSnapshot(b *testing.B) {
	for _, v := range venues {
		b.Run("venue="+v.name+"/free=50", func(b *testing.B) {
			e, _, _ := benchEngine(b, v, 50)
			buf := e.AppendSnapshot(nil)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				buf = e.AppendSnapshot(buf[:0])
			}
			b.ReportMetric(float64(len(buf)), "bytes")
			b.ReportMetric(float64(e.Stats(e.Now()).Holds), "holds")
		})
	}
}

// BenchmarkRestore measures decoding and rebuilding the engine.
func BenchmarkRestore(b *testing.B) {
	e, _, _ := benchEngine(b, venues[1], 50)
	buf := e.AppendSnapshot(nil)
	b.ResetTimer()
	for range b.N {
		if _, err := Restore(Config{MaxLiveHolds: 1 << 22, MaxHolds: 1 << 24}, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// engineBytesPerSeat builds a program of cols x 1000 rows and returns the
// heap its engine state keeps per seat (labels are default: none kept).
func engineBytesPerSeat(tb testing.TB, rows, cols int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e := func() *Engine {
		spec := benchSpec(Grid{Sections: 10, Rows: rows / 10, Cols: cols, Categories: []GridCategory{{"a", 1, rows / 20}, {"b", rows/20 + 1, rows / 10}}}.Layout())
		e, _ := New(Config{})
		if r, err := e.CreateProgram(0, &spec); r != ResultOK {
			tb.Fatal(r, err)
		}
		return e
	}()
	runtime.GC()
	runtime.ReadMemStats(&after)
	p, _ := e.Program("bench")
	perSeat := float64(after.HeapAlloc-before.HeapAlloc) / float64(p.NumSeats())
	runtime.KeepAlive(e)
	return perSeat
}

// TestMemoryPerSeat checks a 1,000,000-seat program costs at most 16 bytes
// of engine state per seat.
func TestMemoryPerSeat(t *testing.T) {
	perSeat := engineBytesPerSeat(t, 1000, 1000)
	t.Logf("engine state: %.2f bytes per seat (1,000,000 seats)", perSeat)
	if perSeat > 16 {
		t.Fatalf("engine state = %.2f bytes per seat; want at most 16", perSeat)
	}
}

// BenchmarkHoldSellingOut measures a best-available hold in a 1,000,000
// seat venue whose best rows sold first, as they do in an on-sale: the
// first soldPct percent of the rows in rank order are full.
func BenchmarkHoldSellingOut(b *testing.B) {
	for _, soldPct := range []int{0, 50, 90} {
		b.Run(fmt.Sprintf("venue=arena1m/sold=%d/k=2", soldPct), func(b *testing.B) {
			spec := benchSpec(Grid{Sections: 10, Rows: 100, Cols: 1000, Categories: []GridCategory{{"a", 1, 100}}}.Layout())
			e, _ := New(Config{MaxLiveHolds: 1 << 22, MaxHolds: 1 << 23, MaxOutbox: 1 << 23})
			spec.Stops = []string{"a", "b"}
			e.CreateProgram(0, &spec)
			e.OpenSale(0, "bench")
			p, _ := e.Program("bench")
			// Block whole rows, best first (blocked seats are as taken as sold
			// ones for the search, and cheap to make).
			full := len(p.byRank.rows) * soldPct / 100
			req := BlockRequest{Program: "bench"}
			for _, ri := range p.byRank.rows[:full] {
				r := &p.rows[ri]
				for s := r.firstSeat; s < r.firstSeat+r.nSeats; s++ {
					req.Seats = append(req.Seats, p.seatID(s))
				}
				if len(req.Seats) >= 60000 {
					e.Block(0, &req)
					req.Seats = req.Seats[:0]
				}
			}
			if len(req.Seats) > 0 {
				e.Block(0, &req)
			}
			benchHoldOn(b, e, 64, func(_ *rand.Rand, hr *HoldRequest) { hr.Count = 2 })
		})
	}
}
