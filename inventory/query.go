package inventory

import "math/bits"

// ID returns the program's id.
func (p *Program) ID() string { return p.id }

// Spec returns the program's description (seats sorted by column, defaults
// filled in).
func (p *Program) Spec() ProgramSpec { return p.spec() }

// SaleOpen reports whether holds are accepted.
func (p *Program) SaleOpen() bool { return p.open }

// Legs returns the number of legs (stops - 1).
func (p *Program) Legs() int { return p.legs }

// NumSeats returns the number of seats.
func (p *Program) NumSeats() int { return len(p.seatRow) }

// LookupSeat returns the index of the seat with id "section/row/col".
func (p *Program) LookupSeat(id string) (uint32, bool) { return p.lookupSeat(id) }

// SeatInfo describes one seat of a program.
type SeatInfo struct {
	Index      uint32
	ID         string // "section/row/col"
	Section    string
	Row        string
	Col        int
	Label      string
	Category   string
	PriceCents int64
	Accessible bool
	Aisle      bool
}

// Seat describes seat s (an index below NumSeats).
func (p *Program) Seat(s uint32) SeatInfo {
	r := &p.rows[p.seatRow[s]]
	c := &p.cats[p.seatCat[s]]
	return SeatInfo{
		Index: s, ID: p.seatID(s), Section: p.sections[r.section].id, Row: r.id,
		Col: int(r.minCol) + int(p.seatPos[s]), Label: p.seatLabel(s),
		Category: c.ID, PriceCents: c.PriceCents,
		Accessible: p.seatFlags[s]&flagAccessible != 0, Aisle: p.seatFlags[s]&flagAisle != 0,
	}
}

// CategoryAvailability is one category's seats over a leg range. A seat
// counts once, under its worst leg: blocked, then sold, then held; free
// means free on every leg. The four add up to Capacity.
type CategoryAvailability struct {
	ID                        string
	Capacity                  int
	Free, Held, Sold, Blocked int
}

// programRange resolves a query's program and leg range.
func (e *Engine) programRange(programID string, from, to int) (*Program, uint8, uint8, Result) {
	p, ok := e.Program(programID)
	if !ok {
		return nil, 0, 0, ResultProgramNotFound
	}
	f, t, ok := p.legRange(from, to)
	if !ok {
		return nil, 0, 0, ResultInvalidArgument
	}
	return p, f, t, ResultOK
}

// Availability counts each category's seats over legs [from, to) (to == 0:
// the last stop). A one-leg range reads the counters; a longer one combines
// the rows' bitsets word by word, never seat by seat. Results:
// ProgramNotFound, InvalidArgument.
func (e *Engine) Availability(programID string, from, to int) ([]CategoryAvailability, Result) {
	p, f, t, r := e.programRange(programID, from, to)
	if r != ResultOK {
		return nil, r
	}
	out := make([]CategoryAvailability, len(p.cats))
	for c := range out {
		out[c] = CategoryAvailability{ID: p.cats[c].ID, Capacity: int(p.capacity[c])}
	}
	if t-f == 1 {
		for c := range out {
			n := p.counts[c*p.legs+int(f)]
			out[c].Free, out[c].Held, out[c].Sold, out[c].Blocked = int(n.free), int(n.held), int(n.sold), int(n.blocked)
		}
		return out, ResultOK
	}
	p.countRange(f, t, out)
	for c := range out {
		a := &out[c]
		a.Held = a.Capacity - a.Free - a.Sold - a.Blocked
	}
	return out, ResultOK
}

// countRange adds each category's free, sold and blocked seats over legs
// [from, to) to out, one pass over every row's words. Bits outside a row's
// seats are always zero, so single-category rows need no mask.
func (p *Program) countRange(from, to uint8, out []CategoryAvailability) {
	n := int(to - from)
	for ri := range p.rows {
		r := &p.rows[ri]
		for w := range r.nWords {
			base := int(r.word0+w)*p.legs + int(from)
			free, sold, block := p.free[base:base+n], p.sold[base:base+n], p.block[base:base+n]
			f, s, b := free[0], sold[0], block[0]
			for l := 1; l < n; l++ {
				f &= free[l]
				s |= sold[l]
				b |= block[l]
			}
			s &^= b
			if r.cat >= 0 {
				a := &out[r.cat]
				a.Free += bits.OnesCount64(f)
				a.Sold += bits.OnesCount64(s)
				a.Blocked += bits.OnesCount64(b)
				continue
			}
			for _, cm := range r.catMasks {
				m := p.masks[cm.off+w]
				a := &out[cm.cat]
				a.Free += bits.OnesCount64(f & m)
				a.Sold += bits.OnesCount64(s & m)
				a.Blocked += bits.OnesCount64(b & m)
			}
		}
	}
}

// SeatState is one seat's status over a leg range.
type SeatState struct {
	Seat   uint32
	Status SeatStatus
}

// SeatMap returns every seat of the program (of one category if category is
// not empty) in layout order with its status over legs [from, to). Results:
// ProgramNotFound, InvalidArgument, UnknownCategory.
func (e *Engine) SeatMap(programID, category string, from, to int) ([]SeatState, Result) {
	p, f, t, r := e.programRange(programID, from, to)
	if r != ResultOK {
		return nil, r
	}
	cat := -1
	if category != "" {
		c, ok := p.catIndex[category]
		if !ok {
			return nil, ResultUnknownCategory
		}
		cat = int(c)
	}
	out := make([]SeatState, 0, len(p.seatRow))
	for s := range uint32(len(p.seatRow)) {
		if cat >= 0 && int(p.seatCat[s]) != cat {
			continue
		}
		out = append(out, SeatState{Seat: s, Status: p.rangeStatus(s, f, t)})
	}
	return out, ResultOK
}

// rangeStatus is seat s's worst status over legs [from, to).
func (p *Program) rangeStatus(s uint32, from, to uint8) SeatStatus {
	worst := SeatFree
	for l := from; l < to; l++ {
		st := p.status(s, l)
		if st == SeatBlocked {
			return st
		}
		worst = max(worst, st) // statuses are numbered by precedence
	}
	return worst
}

// Stats is a plain snapshot of the engine's counters for metrics.
type Stats struct {
	Programs  int
	Holds     int // hold records kept
	LiveHolds int // holds waiting for payment
	Dedupe    int // request ids remembered
	Expiries  int // entries in the expiry heap
	Shards    []ShardStats
}

// ShardStats is one (program, category) shard's counts per leg.
type ShardStats struct {
	Program  string
	Category string
	Capacity int
	Legs     []LegCounts
}

// LegCounts are a shard's seats on one leg.
type LegCounts struct {
	Free, Held, Sold, Blocked int
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	st := Stats{
		Programs: len(e.programs), Holds: len(e.holds), LiveHolds: e.live,
		Dedupe: len(e.dedupe), Expiries: len(e.expiry),
	}
	for _, p := range e.programs {
		for c := range p.cats {
			sh := ShardStats{Program: p.id, Category: p.cats[c].ID, Legs: make([]LegCounts, p.legs)}
			for l := range p.legs {
				n := p.counts[c*p.legs+l]
				sh.Legs[l] = LegCounts{int(n.free), int(n.held), int(n.sold), int(n.blocked)}
			}
			sh.Capacity = sh.Legs[0].Free + sh.Legs[0].Held + sh.Legs[0].Sold + sh.Legs[0].Blocked
			st.Shards = append(st.Shards, sh)
		}
	}
	return st
}
