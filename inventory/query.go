package inventory

import (
	"math/bits"
	"slices"
	"strconv"
	"time"
)

// ID returns the program's id.
func (p *Program) ID() string { return p.id }

// Name returns the program's name ("" if it was created without one).
func (p *Program) Name() string { return p.name }

// Spec returns the program's description (seats sorted by column, defaults
// filled in).
func (p *Program) Spec() ProgramSpec { return p.spec() }

// Version returns the log index of the last change to the program's seats,
// holds or sale other than an expiry (see Engine.SetLogIndex, and Version
// the type for expiries).
func (p *Program) Version() uint64 { return p.version }

// SaleOpen reports whether holds are accepted.
func (p *Program) SaleOpen() bool { return p.open }

// Legs returns the number of legs (stops - 1).
func (p *Program) Legs() int { return p.legs }

// Stop returns the name of stop i (0 <= i <= Legs()); a program created
// without stops has "doors" and "end".
func (p *Program) Stop(i int) string { return p.stops[i] }

// HoldTTL returns how long the program's holds wait for payment.
func (p *Program) HoldTTL() time.Duration { return time.Duration(p.ttl) }

// CheckRange says what is wrong with a leg range of stop indexes (to == 0
// means the last stop), as a refused hold's Fault would: the end at fault
// and the largest index it may take. Queries and blocks refuse a bad
// range with ResultInvalidArgument alone; this names the field.
func (p *Program) CheckRange(from, to int) Fault {
	_, _, f := p.checkRange(from, to)
	return f
}

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

// Version names a program's state as a read at some clock saw it: the log
// index of the program's last change other than an expiry, and how many of
// its holds have expired since, whether a command expired them or the
// read's clock is past their TTL (a read shows those expired too). After
// Index only expiries change the program, and holds expire in the order
// of their expiry, so the number names the set: two reads with equal
// Versions saw the same state, and a tick that expires the holds a read
// already showed expired leaves the version as it was.
type Version struct {
	Index   uint64
	Expired int
}

// String formats the version as the contract's opaque version string:
// the index, then "." and Expired when it is not zero.
func (v Version) String() string {
	s := strconv.FormatUint(v.Index, 10)
	if v.Expired > 0 {
		s += "." + strconv.Itoa(v.Expired)
	}
	return s
}

// Availability counts each category's seats over legs [from, to) (to == 0:
// the last stop) as they are at now, the reader's clock: seats of holds
// whose TTL has ended count as free, though no command has expired them
// yet. A one-leg range reads the counters; a longer one combines the rows'
// bitsets word by word, never seat by seat. Results: ProgramNotFound,
// InvalidArgument.
func (e *Engine) Availability(programID string, from, to int, now int64) ([]CategoryAvailability, Version, Result) {
	p, f, t, r := e.programRange(programID, from, to)
	if r != ResultOK {
		return nil, Version{}, r
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
	} else {
		p.countRange(f, t, out)
		for c := range out {
			a := &out[c]
			a.Held = a.Capacity - a.Free - a.Sold - a.Blocked
		}
	}
	lapsed := e.lapsed(p, now)
	for _, ls := range lapsedSeats(lapsed) {
		was, is := p.rangeStatus(ls.seat, f, t), p.rangeStatusFreed(ls.seat, f, t, ls.legs)
		if was != is {
			a := &out[p.seatCat[ls.seat]]
			*a.count(was)--
			*a.count(is)++
		}
	}
	return out, Version{Index: p.version, Expired: int(p.expired) + len(lapsed)}, ResultOK
}

// count returns the counter of one status.
func (a *CategoryAvailability) count(s SeatStatus) *int {
	switch s {
	case SeatFree:
		return &a.Free
	case SeatHeld:
		return &a.Held
	case SeatSold:
		return &a.Sold
	}
	return &a.Blocked
}

// lapsed returns program p's (every program's, for nil) held holds whose
// TTL has ended by now. They are the expiry heap's entries due by now,
// which form a subtree at its root: the walk visits only them and their
// children.
func (e *Engine) lapsed(p *Program, now int64) []*hold {
	var out []*hold
	var walk func(i int)
	walk = func(i int) {
		if i >= len(e.expiry) || e.expiry[i].at > now {
			return
		}
		if h := e.holds[e.expiry[i].id]; (p == nil || h.prog == p) && !h.retiring && h.lapsed(now) {
			out = append(out, h)
		}
		walk(2*i + 1)
		walk(2*i + 2)
	}
	walk(0)
	return out
}

// lapsedSeat is a seat of lapsed holds with the legs they free.
type lapsedSeat struct {
	seat uint32
	legs uint64 // bit l: leg l
}

// lapsedSeats lists the seats of holds, each once, by seat.
func lapsedSeats(hs []*hold) []lapsedSeat {
	var out []lapsedSeat
	for _, h := range hs {
		var legs uint64
		for l := h.from; l < h.to; l++ {
			legs |= 1 << l
		}
		for _, s := range h.seats {
			out = append(out, lapsedSeat{seat: s, legs: legs})
		}
	}
	slices.SortFunc(out, func(a, b lapsedSeat) int { return int(a.seat) - int(b.seat) })
	merged := out[:0]
	for _, ls := range out {
		if n := len(merged); n > 0 && merged[n-1].seat == ls.seat {
			merged[n-1].legs |= ls.legs
			continue
		}
		merged = append(merged, ls)
	}
	return merged
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

// SeatMap returns every seat's status over legs [from, to) (to == 0: the
// last stop), indexed by seat in the program's seat order (sections, rows
// and seats by column, as Spec lists them), as they are at now, the
// reader's clock (see Availability). It reuses dst's memory. Results:
// ProgramNotFound, InvalidArgument.
func (e *Engine) SeatMap(programID string, from, to int, now int64, dst []SeatStatus) ([]SeatStatus, Version, Result) {
	p, f, t, r := e.programRange(programID, from, to)
	if r != ResultOK {
		return dst[:0], Version{}, r
	}
	out := slices.Grow(dst[:0], len(p.seatRow))[:len(p.seatRow)]
	n := int(t - f)
	for ri := range p.rows {
		r := &p.rows[ri]
		word := ^uint32(0)
		var fr, so, bl uint64 // the row's current word over the range: free on every leg, sold or blocked on some
		for s := r.firstSeat; s < r.firstSeat+r.nSeats; s++ {
			pos := uint32(p.seatPos[s])
			if w := pos >> 6; w != word {
				word = w
				base := int(r.word0+w)*p.legs + int(f)
				fr, so, bl = p.free[base], p.sold[base], p.block[base]
				for l := 1; l < n; l++ {
					fr &= p.free[base+l]
					so |= p.sold[base+l]
					bl |= p.block[base+l]
				}
			}
			bit := uint64(1) << (pos & 63)
			switch {
			case bl&bit != 0:
				out[s] = SeatBlocked
			case so&bit != 0:
				out[s] = SeatSold
			case fr&bit != 0:
				out[s] = SeatFree
			default:
				out[s] = SeatHeld
			}
		}
	}
	lapsed := e.lapsed(p, now)
	for _, ls := range lapsedSeats(lapsed) {
		out[ls.seat] = p.rangeStatusFreed(ls.seat, f, t, ls.legs)
	}
	return out, Version{Index: p.version, Expired: int(p.expired) + len(lapsed)}, ResultOK
}

// rangeStatusFreed is rangeStatus with the legs in freed counted free.
func (p *Program) rangeStatusFreed(s uint32, from, to uint8, freed uint64) SeatStatus {
	worst := SeatFree
	for l := from; l < to; l++ {
		if freed&(1<<l) != 0 {
			continue
		}
		st := p.status(s, l)
		if st == SeatBlocked {
			return st
		}
		worst = max(worst, st)
	}
	return worst
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
	Dedupe    int // request ids of holds remembered
	Refusals  int // refusals remembered
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

// Stats returns the engine's counters as they are at now, the reader's
// clock: holds whose TTL has ended count as expired and their seats as
// free, as every read shows them (see Availability).
func (e *Engine) Stats(now int64) Stats {
	st := Stats{
		Programs: len(e.programs), Holds: len(e.holds), LiveHolds: e.live,
		Dedupe: len(e.requests) - e.refusals, Refusals: e.refusals, Expiries: len(e.expiry),
	}
	first := make([]int, len(e.programs)) // each program's first shard in st.Shards
	for i, p := range e.programs {
		first[i] = len(st.Shards)
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
	for _, h := range e.lapsed(nil, now) {
		st.LiveHolds--
		p := h.prog
		for _, s := range h.seats {
			legs := st.Shards[first[p.idx]+int(p.seatCat[s])].Legs
			for l := h.from; l < h.to; l++ {
				legs[l].Held--
				legs[l].Free++
			}
		}
	}
	return st
}
