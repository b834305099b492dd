package inventory

// pick is one seat chosen for the hold being placed; order is its position
// in a manual request (to pair it with its holder; best-available holds
// give holders to seats in seat order).
type pick struct {
	seat  uint32
	order int
}

// pickManual checks the named seats in request order and picks them all, or
// returns the first offending seat's position in ids with its result.
func (e *Engine) pickManual(p *Program, ids []string, cat int, from, to uint8) (Result, int) {
	for i, id := range ids {
		s, ok := p.lookupSeat(id)
		if !ok {
			return ResultUnknownSeat, i
		}
		for _, pk := range e.picks {
			if pk.seat == s {
				return ResultInvalidArgument, i
			}
		}
		if cat >= 0 && int(p.seatCat[s]) != cat {
			return ResultWrongCategory, i
		}
		taken := false
		for l := from; l < to; l++ {
			switch p.status(s, l) {
			case SeatBlocked:
				return ResultSeatBlocked, i
			case SeatHeld, SeatSold:
				taken = true
			}
		}
		if taken {
			return ResultSeatTaken, i
		}
		e.picks = append(e.picks, pick{seat: s, order: i})
	}
	return ResultOK, -1
}

// search is one best-available request.
type search struct {
	p          *Program
	list       *rowList // candidate rows, best first
	cat        int      // -1: any
	from, to   uint8
	accessible bool
}

// pickBest chooses n seats: the best block of n adjacent seats (rows in
// rank order, the block nearest the row's centre, the leftmost on a tie);
// failing that, if splitting is allowed, the greedy fewest blocks: again and
// again the largest block still available (at most the seats still needed),
// chosen by the same rule. It never picks fewer than n.
func (e *Engine) pickBest(p *Program, cat, n int, from, to uint8, accessible, together bool) Result {
	q := search{p: p, list: &p.byRank, cat: cat, from: from, to: to, accessible: accessible}
	if cat >= 0 {
		q.list = &p.catRows[cat]
	}
	if e.freeBound(&q) < n {
		return ResultSoldOut
	}
	if e.takeBlock(&q, n) {
		return ResultOK
	}
	// On one leg without the accessible filter the counters are exact, so
	// freeBound has already shown there are n free seats.
	if (q.to-q.from > 1 || q.accessible) && !e.eligibleAtLeast(&q, n) {
		return ResultSoldOut
	}
	if together {
		return ResultNoAdjacentSeats
	}
	for rem := n; rem > 0; {
		k := min(rem, e.longestEligible(&q))
		if !e.takeBlock(&q, k) {
			panic("inventory: split search lost a block it measured")
		}
		rem -= k
	}
	return ResultOK
}

// freeBound is an upper bound on the eligible free seats, from counters:
// per category, the fewest free on any leg of the range.
func (e *Engine) freeBound(q *search) int {
	p := q.p
	total := 0
	for c := range p.cats {
		if q.cat >= 0 && c != q.cat {
			continue
		}
		cs := p.counts[c*p.legs:]
		least := cs[q.from].free
		for l := q.from + 1; l < q.to; l++ {
			least = min(least, cs[l].free)
		}
		total += int(least)
	}
	return total
}

// rowMask writes into e.mask the eligible free seats of row ri over the leg
// range: free on every leg, of the category, accessible if asked, and not
// already picked. It returns the row's words.
func (e *Engine) rowMask(q *search, ri uint32) []uint64 {
	p := q.p
	r := &p.rows[ri]
	m := e.mask[:r.nWords]
	for w := range m {
		base := (int(r.word0) + w) * p.legs
		legs := p.free[base+int(q.from) : base+int(q.to)]
		x := legs[0]
		for _, y := range legs[1:] {
			x &= y
		}
		m[w] = x
	}
	if q.cat >= 0 && r.cat < 0 {
		for _, cm := range r.catMasks {
			if int(cm.cat) == q.cat {
				for w := range m {
					m[w] &= p.masks[int(cm.off)+w]
				}
			}
		}
	}
	if q.accessible {
		for w := range m {
			m[w] &= p.masks[int(r.access)+w]
		}
	}
	for _, pk := range e.picks {
		if p.seatRow[pk.seat] == ri {
			pos := p.seatPos[pk.seat]
			m[pos>>6] &^= 1 << (pos & 63)
		}
	}
	return m
}

// mayHold reports whether row ri can have a block of k on the range, from
// the longest-run summary (an upper bound when the range spans legs or
// filters apply).
func (q *search) mayHold(ri uint32, k int) bool {
	p := q.p
	if q.accessible && p.rows[ri].access < 0 {
		return false
	}
	runs := p.maxRun[int(ri)*p.legs:]
	for l := q.from; l < q.to; l++ {
		if int(runs[l]&^runStale) < k {
			return false
		}
	}
	return true
}

// tighten recomputes row ri's stale run bounds on the search's legs, after
// the bounds let the search look at a row that had no block.
func (q *search) tighten(ri uint32) {
	p := q.p
	for l := q.from; l < q.to; l++ {
		if p.maxRun[int(ri)*p.legs+int(l)]&runStale != 0 {
			p.updateMaxRun(ri, int(l))
		}
	}
}

// rows returns the candidate rows after the list's full prefix.
func (q *search) rows() []uint32 { return q.list.rows[q.list.full:] }

// takeBlock finds the best block of k eligible seats and picks it. It
// extends the list's full prefix over full rows it meets at its front.
func (e *Engine) takeBlock(q *search, k int) bool {
	for i := q.list.full; i < len(q.list.rows); i++ {
		ri := q.list.rows[i]
		if i == q.list.full && q.p.rowFull(ri) {
			q.list.full++
			continue
		}
		if !q.mayHold(ri, k) {
			continue
		}
		m := e.rowMask(q, ri)
		runStarts(m, k)
		start := nearestStart(m, k, int(q.p.rows[ri].width))
		if start < 0 {
			q.tighten(ri)
			continue
		}
		e.pickRun(q.p, ri, start, k)
		return true
	}
	return false
}

// pickRun picks the k seats of row ri starting at bit position start.
func (e *Engine) pickRun(p *Program, ri uint32, start, k int) {
	// A run has no gaps, so its seats are consecutive indexes.
	first := p.seatAt(ri, uint16(start))
	for i := range k {
		e.picks = append(e.picks, pick{seat: first + uint32(i)})
	}
}

// eligibleAtLeast reports whether there are at least n eligible free
// seats, counting rows only until it knows.
func (e *Engine) eligibleAtLeast(q *search, n int) bool {
	for _, ri := range q.rows() {
		if q.accessible && q.p.rows[ri].access < 0 {
			continue
		}
		if n -= popcount(e.rowMask(q, ri)); n <= 0 {
			return true
		}
	}
	return false
}

// longestEligible returns the longest block of eligible free seats.
func (e *Engine) longestEligible(q *search) int {
	best := 0
	for _, ri := range q.rows() {
		if !q.mayHold(ri, best+1) {
			continue
		}
		best = max(best, longestRun(e.rowMask(q, ri)))
	}
	return best
}
