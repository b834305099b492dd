package scenario

import (
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"

	"seatd/inventory"
)

// Op is what one visit asks of a target.
type Op uint8

// Ops of a visit.
const (
	OpBest  Op = iota // best available: Count adjacent seats of Category
	OpNamed           // the seats named in Seats, at most ExpectedCents
	OpPoll            // read Category's seat map for the journey
)

var opNames = [...]string{OpBest: "best", OpNamed: "named", OpPoll: "poll"}

// String names the op as reports do.
func (o Op) String() string { return opNames[o] }

// Fate is what the buyer does with a hold.
type Fate uint8

// Fates of a hold.
const (
	FatePay    Fate = iota // confirm it
	FateCancel             // release it
	FateLapse              // do nothing: it lapses at the hold TTL
)

// Request is one visit of one buyer: the same for a given scenario and
// visit number in every run and for every target.
type Request struct {
	N        uint64 // the visit number, from 0
	Buyer    uint64 // the user id, 1..Population
	Op       Op
	Cat      int    // the category's index in the program
	Category string // its id
	Count    int    // seats wanted (OpBest, OpNamed)
	// From and To are the journey as stop indexes [From, To); To is the
	// last stop's index for a whole journey.
	From, To      int
	Seats         []string // OpNamed: seat ids "section/row/col", side by side in one row
	ExpectedCents int64    // OpNamed: the seats' total price
	Fate          Fate     // what the buyer does with the hold
}

// Whole reports whether the request is for the whole journey (every
// request of a program with one leg is).
func (r *Request) Whole(legs int) bool { return r.From == 0 && r.To == legs }

// Stream makes a scenario's requests. Its methods may be called from
// many goroutines at once.
type Stream struct {
	sc      *Scenario
	spec    *inventory.ProgramSpec
	legs    int
	perm    [2]uint64 // buyer number = (i*perm[0] + perm[1]) mod population
	seats   picker
	cats    picker
	catIDs  []string
	prices  []int64
	rows    [][]row // per category: its rows, for named seats
	capac   []int   // per category: its seats
	journey picker  // 0: other journeys; i: Journeys[i-1]
	ranges  [][2]int
	mix     picker // Op
	fate    picker // Fate
}

// row is one row of a category's seats, as named seats are picked.
type row struct {
	prefix string // "section/row/"
	cols   []int
}

// picker draws an index with the given weights.
type picker struct{ cum []int }

func newPicker(ws []int) picker {
	p := picker{cum: make([]int, len(ws))}
	sum := 0
	for i, w := range ws {
		sum += w
		p.cum[i] = sum
	}
	return p
}

func (p picker) pick(r *rand.Rand) int {
	return sort.SearchInts(p.cum, 1+r.IntN(p.cum[len(p.cum)-1]))
}

// NewStream makes sc's stream. sc must be valid (Load and Parse check).
func NewStream(sc *Scenario) (*Stream, error) {
	spec, err := sc.Spec()
	if err != nil {
		return nil, err
	}
	s := &Stream{sc: sc, spec: spec, legs: max(len(spec.Stops), 2) - 1}
	catIndex := map[string]int{}
	for i, c := range spec.Categories {
		catIndex[c.ID] = i
		s.catIDs = append(s.catIDs, c.ID)
		s.prices = append(s.prices, c.PriceCents)
	}
	s.rows = make([][]row, len(spec.Categories))
	s.capac = make([]int, len(spec.Categories))
	for _, sec := range spec.Layout.Sections {
		for _, r := range sec.Rows {
			byCat := map[int][]int{}
			for _, seat := range r.Seats {
				c := catIndex[seat.Category]
				byCat[c] = append(byCat[c], seat.Col)
				s.capac[c]++
			}
			for c, cols := range byCat {
				slices.Sort(cols)
				s.rows[c] = append(s.rows[c], row{prefix: sec.ID + "/" + r.ID + "/", cols: cols})
			}
		}
	}
	cw := make([]int, len(spec.Categories))
	for i, c := range spec.Categories {
		if sc.Buyers.CategoryWeights == nil {
			cw[i] = s.capac[i]
		} else {
			cw[i] = sc.Buyers.CategoryWeights[c.ID]
		}
	}
	s.cats = newPicker(cw)
	s.seats = newPicker(sc.Buyers.SeatWeights)
	jw := []int{sc.Buyers.OtherJourneys}
	s.ranges = [][2]int{{0, s.legs}}
	for _, j := range sc.Buyers.Journeys {
		jw = append(jw, j.Weight)
		s.ranges = append(s.ranges, [2]int{slices.Index(spec.Stops, j.From), slices.Index(spec.Stops, j.To)})
	}
	if len(jw) == 1 && jw[0] == 0 {
		jw[0] = 1 // no journeys: the whole way
	}
	s.journey = newPicker(jw)
	s.mix = newPicker([]int{sc.Mix.Best, sc.Mix.Named, sc.Mix.Poll})
	s.fate = newPicker([]int{sc.Outcome.Pay, sc.Outcome.Cancel, sc.Outcome.Lapse})
	pop := uint64(sc.Buyers.Population)
	mult := max(pop*618/1000, 1)
	for gcd(mult, pop) != 1 {
		mult++
	}
	s.perm = [2]uint64{mult, sc.Seed % pop}
	return s, nil
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Spec returns the venue (a new copy each call: a target may keep it).
func (s *Stream) Spec() *inventory.ProgramSpec {
	spec, _ := s.sc.Spec() // checked by NewStream
	return spec
}

// Scenario returns the scenario the stream was made from.
func (s *Stream) Scenario() *Scenario { return s.sc }

// Legs returns the program's legs (stops - 1).
func (s *Stream) Legs() int { return s.legs }

// Categories returns the category ids in the program's order.
func (s *Stream) Categories() []string { return slices.Clone(s.catIDs) }

// Capacity returns the seats of each category, in the program's order.
func (s *Stream) Capacity() []int { return slices.Clone(s.capac) }

// Request returns visit n. The buyer's own wishes (how many seats, which
// category, which journey) come from the seed and the buyer alone, so a
// buyer who comes back wants the same; what the visit does and the hold's
// fate come from the seed and n.
func (s *Stream) Request(n uint64) Request {
	pop := uint64(s.sc.Buyers.Population)
	buyer := 1 + ((n%pop)*s.perm[0]+s.perm[1])%pop
	br := rand.New(rand.NewPCG(s.sc.Seed^0x9e3779b97f4a7c15, buyer))
	req := Request{N: n, Buyer: buyer, Count: 1 + s.seats.pick(br), Cat: s.cats.pick(br)}
	req.Category = s.catIDs[req.Cat]
	j := s.journey.pick(br)
	req.From, req.To = s.ranges[j][0], s.ranges[j][1]
	if j == 0 && s.sc.Buyers.OtherJourneys > 0 {
		req.From = br.IntN(s.legs)
		req.To = req.From + 1 + br.IntN(s.legs-req.From)
	}
	vr := rand.New(rand.NewPCG(s.sc.Seed, n))
	req.Op = Op(s.mix.pick(vr))
	req.Fate = Fate(s.fate.pick(vr))
	if req.Op == OpNamed {
		rows := s.rows[req.Cat]
		r := rows[vr.IntN(len(rows))]
		if len(r.cols) < req.Count {
			req.Op = OpBest // the row picked is shorter than the party: ask for the best instead
			return req
		}
		start := vr.IntN(len(r.cols) - req.Count + 1)
		req.Seats = make([]string, req.Count)
		for i := range req.Seats {
			req.Seats[i] = r.prefix + strconv.Itoa(r.cols[start+i])
		}
		req.ExpectedCents = s.prices[req.Cat] * int64(req.Count)
	}
	return req
}
