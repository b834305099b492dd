package inventory

// SeatPosition is where a seat sits in its row, as a best-available
// request may ask for it (HoldRequest.Prefer): the seat letters of a
// train's carriage say it (on a Chinese high-speed train's second class,
// A B C | D F: A and F by the windows, C and D on the aisle, B in the
// middle), and a venue's rows have the same ends and aisles.
type SeatPosition uint8

// Seat positions. Never renumber: commands in the log carry them.
const (
	PositionAny    SeatPosition = 0 // no preference
	PositionWindow SeatPosition = 1 // a row's first or last seat: beside a train's window
	PositionAisle  SeatPosition = 2 // a seat the layout marks Aisle
	maxPosition                 = PositionAisle
)

var positionNames = [...]string{"", "window", "aisle"}

// String returns the position's name: "", "window" or "aisle".
func (s SeatPosition) String() string {
	if s <= maxPosition {
		return positionNames[s]
	}
	return "position"
}

// Valid reports whether s is one of the positions above.
func (s SeatPosition) Valid() bool { return s <= maxPosition }

// ParseSeatPosition reads a position's name ("" is PositionAny).
func ParseSeatPosition(name string) (SeatPosition, bool) {
	for i, n := range positionNames {
		if n == name {
			return SeatPosition(i), true
		}
	}
	return 0, false
}

// keepPreferred clears from starts, the block starts of k seats in row
// ri, every block that holds no seat at the search's preferred position.
// A block starting at s holds position p when s <= p < s+k, so the kept
// starts are the preferred positions and the k-1 below each.
func (e *Engine) keepPreferred(q *search, starts []uint64, ri uint32, k int) {
	p := q.p
	r := &p.rows[ri]
	keep := e.keep[:r.nWords]
	clear(keep)
	mark := func(pos int) {
		for s := max(0, pos-k+1); s <= pos; s++ {
			keep[s>>6] |= 1 << (s & 63)
		}
	}
	switch q.prefer {
	case PositionWindow:
		mark(0)
		mark(int(r.width) - 1)
	case PositionAisle:
		for s := r.firstSeat; s < r.firstSeat+r.nSeats; s++ {
			if p.seatFlags[s]&flagAisle != 0 {
				mark(int(p.seatPos[s]))
			}
		}
	}
	for w := range starts {
		starts[w] &= keep[w]
	}
}

// splitInSection picks n seats apart, all in one section (a train's
// carriage, a venue's stand), when a section has n eligible seats: the
// first such section in the order of the candidate rows, best first, a
// section coming where its first row with an eligible seat comes. Inside
// it the seats are chosen as pickBestOnce splits them: again and again
// the largest block still available, by takeBlock's rule. It reports
// false, having picked nothing, when no section has n.
func (e *Engine) splitInSection(q *search, n int) bool {
	p := q.p
	if cap(e.sectionSeats) < len(p.sections) {
		e.sectionSeats = make([]int, len(p.sections))
		e.sectionOrder = make([]uint16, 0, len(p.sections))
	}
	counts, order := e.sectionSeats[:len(p.sections)], e.sectionOrder[:0]
	clear(counts)
	for _, ri := range q.rows() {
		if q.accessible && p.rows[ri].access < 0 {
			continue
		}
		if c := popcount(e.rowMask(q, ri)); c > 0 {
			s := p.rows[ri].section
			if counts[s] == 0 {
				order = append(order, s)
			}
			counts[s] += c
			if counts[order[0]] >= n {
				break // the first section met has enough: no later row changes the choice
			}
		}
	}
	e.sectionOrder = order
	for _, s := range order {
		if counts[s] < n {
			continue
		}
		q.section = int(s)
		for rem := n; rem > 0; {
			k := min(rem, e.longestEligible(q))
			if !e.takeBlock(q, k) {
				panic("inventory: split search lost a block it measured")
			}
			rem -= k
		}
		q.section = -1
		return true
	}
	return false
}
