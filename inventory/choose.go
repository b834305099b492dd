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

// strandingPick returns the request position of the first picked seat,
// in request order, that leaves a single empty seat beside it (see
// strandsIn), or -1 if none does.
func (e *Engine) strandingPick(p *Program, from, to uint8) int {
	q := search{p: p, from: from, to: to}
	var empty []uint64
	row := ^uint32(0) // the row empty holds
	for _, pk := range e.picks {
		if ri := p.seatRow[pk.seat]; ri != row {
			empty, row = e.emptySeats(&q, ri), ri
		}
		if strandsIn(empty, int(p.seatPos[pk.seat]), 1) {
			return pk.order
		}
	}
	return -1
}

// search is one best-available request.
type search struct {
	p          *Program
	list       *rowList // candidate rows, best first
	cat        int      // -1: any
	from, to   uint8
	accessible bool // accessible seats only
	general    bool // no accessible seats: a general request's first pass
	// prefer, when set, keeps only blocks holding a seat at that position
	// (a pass of pickBestOnce; see keepPreferred).
	prefer  SeatPosition
	section int // the only section searched (splitInSection), -1 for all
}

// pickBest chooses n seats: the best block of n adjacent seats (see
// takeBlock); failing that, if splitting is allowed, the greedy fewest
// blocks: again and again the largest block still available (at most the
// seats still needed), chosen by the same rule. It never picks fewer than
// n.
//
// A general request (not asking for accessible seats) on a program with
// accessible seats searches first without them, block and split; then,
// unless the program reserves them, with them. So it takes an accessible
// seat only when nothing else fits, and a refusal is the last pass's.
//
// A request that prefers a seat position (window, aisle) looks, in each
// of those passes, first for the best block that holds a seat there, and
// then as if it had no preference: the preference ranks before the row,
// as a traveller asking for the window cares less which row it is.
func (e *Engine) pickBest(p *Program, cat, n int, from, to uint8, accessible, together bool, prefer SeatPosition) Result {
	q := search{p: p, list: &p.byRank, cat: cat, from: from, to: to, accessible: accessible, prefer: prefer, section: -1}
	if cat >= 0 {
		q.list = &p.catRows[cat]
	}
	if accessible || !p.anyAccessible {
		return e.pickBestOnce(&q, n, together)
	}
	q.general = true
	if r := e.pickBestOnce(&q, n, together); r == ResultOK || p.reserveAccess {
		return r
	}
	q.general = false
	return e.pickBestOnce(&q, n, together)
}

// pickBestOnce is one pass of pickBest, over the seats q allows: a block
// (holding a seat at the preferred position, if any, first), then, if
// splitting is allowed, seats apart in one section (splitInSection),
// then apart anywhere.
func (e *Engine) pickBestOnce(q *search, n int, together bool) Result {
	if e.freeBound(q) < n {
		return ResultSoldOut
	}
	if q.prefer != PositionAny {
		if e.takeBlock(q, n) {
			return ResultOK
		}
		defer func(prefer SeatPosition) { q.prefer = prefer }(q.prefer)
		q.prefer = PositionAny
	}
	if e.takeBlock(q, n) {
		return ResultOK
	}
	// On one leg without the accessible filters the counters are exact, so
	// freeBound has already shown there are n free seats.
	if (q.to-q.from > 1 || q.accessible || q.general) && !e.eligibleAtLeast(q, n) {
		return ResultSoldOut
	}
	if together {
		return ResultNoAdjacentSeats
	}
	if e.splitInSection(q, n) {
		return ResultOK
	}
	for rem := n; rem > 0; {
		k := min(rem, e.longestEligible(q))
		if !e.takeBlock(q, k) {
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
// range: free on every leg, of the category, accessible if asked (not if
// the pass is a general one), and not already picked. It returns the row's words.
func (e *Engine) rowMask(q *search, ri uint32) []uint64 {
	p := q.p
	r := &p.rows[ri]
	m := e.emptyInto(e.mask[:r.nWords], q, ri)
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
	if q.general && r.access >= 0 {
		for w := range m {
			m[w] &^= p.masks[int(r.access)+w]
		}
	}
	return m
}

// mayHold reports whether row ri can have a block of k on the range, from
// the longest-run summary (an upper bound when the range spans legs or
// filters apply).
func (q *search) mayHold(ri uint32, k int) bool {
	p := q.p
	if q.accessible && p.rows[ri].access < 0 || q.section >= 0 && int(p.rows[ri].section) != q.section {
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
//
// The best block is the first by (rank, strands a seat, row order,
// distance from the row's centre, column): unless the program allows
// orphans, a block that leaves a single empty seat (see strandsIn) is taken
// only when no row of its rank has one that leaves none. So the search
// reads on past the first row with a block only while that row's blocks
// all strand a seat, and only through rows of the same rank. A program
// with a focal point orders blocks otherwise: see takeFocal.
func (e *Engine) takeBlock(q *search, k int) bool {
	if q.p.focal != nil {
		return e.takeFocal(q, k)
	}
	fallbackRow, fallbackStart := uint32(0), -1 // the first stranding block found
	for i := q.list.full; i < len(q.list.rows); i++ {
		ri := q.list.rows[i]
		if fallbackStart >= 0 && q.p.rows[ri].rank != q.p.rows[fallbackRow].rank {
			break
		}
		if i == q.list.full && q.p.rowFull(ri) {
			q.list.full++
			continue
		}
		start, strands := e.rowBlock(q, ri, k)
		if start < 0 {
			continue
		}
		if !strands {
			e.pickRun(q.p, ri, start, k)
			return true
		}
		if fallbackStart < 0 {
			fallbackRow, fallbackStart = ri, start
		}
	}
	if fallbackStart >= 0 {
		e.pickRun(q.p, fallbackRow, fallbackStart, k)
		return true
	}
	return false
}

// takeFocal is takeBlock for a program with a focal point: the best block
// is the first by (rank, strands a seat, distance from the focal point,
// row order, column). So the search reads every row of the first rank
// with a block, but skips a row whose line is already no nearer the focal
// point than the best block found that strands no seat (see rowDist).
func (e *Engine) takeFocal(q *search, k int) bool {
	p := q.p
	best := block{start: -1}
	for i := q.list.full; i < len(q.list.rows); i++ {
		ri := q.list.rows[i]
		if best.start >= 0 && p.rows[ri].rank != p.rows[best.row].rank {
			break
		}
		if i == q.list.full && p.rowFull(ri) {
			q.list.full++
			continue
		}
		if best.start >= 0 && !best.strands && p.rowDist(ri) >= best.dist {
			continue // no block of it can be nearer than best, nor as near and before it
		}
		start, strands := e.rowBlock(q, ri, k)
		if start < 0 {
			continue
		}
		b := block{row: ri, start: start, strands: strands, dist: p.focalDist(ri, start, k)}
		if best.start < 0 || b.before(&best) {
			best = b
		}
	}
	if best.start >= 0 {
		e.pickRun(p, best.row, best.start, k)
		return true
	}
	return false
}

// rowBlock is the best block of k in row ri that q allows, as bestStart
// picks it among the row's eligible starts (those holding a seat at the
// preferred position, if q has one); -1 when the row has none, after
// tightening the row's stale run bounds if it was read.
func (e *Engine) rowBlock(q *search, ri uint32, k int) (start int, strands bool) {
	if !q.mayHold(ri, k) {
		return -1, false
	}
	m := e.rowMask(q, ri)
	runStarts(m, k)
	if q.prefer != PositionAny {
		e.keepPreferred(q, m, ri, k)
	}
	start, strands = e.bestStart(q, m, ri, k)
	if start < 0 {
		q.tighten(ri)
	}
	return start, strands
}

// block is a candidate of takeFocal: the best block of k in row row,
// from bit position start (-1: none yet), whether it strands a seat, and
// its squared distance from the focal point (see focalDist).
type block struct {
	row     uint32
	start   int
	strands bool
	dist    int64
}

// before reports whether b comes before c by takeFocal's keys after rank:
// strands no seat, distance. Candidates are met in row order, and a
// row offers one, so a tie keeps the earlier.
func (b *block) before(c *block) bool {
	if b.strands != c.strands {
		return !b.strands
	}
	return b.dist < c.dist
}

// bestStart picks a block of k in row ri among the starts in m: the one
// nearest the row's centre (or the focal point) that strands no seat, or,
// when every one does (or none can, the program allowing orphans), the
// nearest; strands says which. It returns -1 when m is empty. A row where
// the nearest block strands nothing costs one look at its empty seats.
func (e *Engine) bestStart(q *search, m []uint64, ri uint32, k int) (start int, strands bool) {
	nearest := q.p.nearest(m, ri, k)
	if nearest < 0 || q.p.allowOrphans {
		return nearest, false
	}
	empty := e.emptySeats(q, ri)
	if !strandsIn(empty, nearest, k) {
		return nearest, false
	}
	keepStarts(m, empty, k)
	if s := q.p.nearest(m, ri, k); s >= 0 {
		return s, false
	}
	return nearest, true
}

// nearest returns the start in m of row ri whose block of k is nearest
// the row's centre, or with a focal point nearest it; -1 if m is empty.
func (p *Program) nearest(m []uint64, ri uint32, k int) int {
	if p.focal == nil {
		return nearestStart(m, k, int(p.rows[ri].width))
	}
	target, step := p.focalTarget(ri, k)
	return nearestTo(m, target, step)
}

// focalTarget gives, for blocks of k in row ri of a program with a focal
// point, the target and step of nearestTo: with x(s) the plan x of the
// block from bit position s's centre, step*s - target is 2*(x(s) - fx),
// twice its distance along the row from the focal point, as an integer.
// In one row y is fixed, so the start nearest along the row is the
// nearest.
func (p *Program) focalTarget(ri uint32, k int) (target, step int) {
	// 2*x(s) = 2*x0 + (2s + k - 1)*SeatPitch, x0 the row's column minCol.
	return 2*(p.focal.X-p.rowAt[ri].X) - (k-1)*SeatPitch, 2 * SeatPitch
}

// focalDist is the squared distance, doubled on each axis so that it is
// an integer, from the focal point to the centre of the block of k in row
// ri from bit position start.
func (p *Program) focalDist(ri uint32, start, k int) int64 {
	target, step := p.focalTarget(ri, k)
	dx := int64(step*start - target)
	return dx*dx + p.rowDist(ri)
}

// rowDist is the part of focalDist across the rows: the squared distance,
// doubled, between row ri's line and the focal point's. No block of the
// row is nearer.
func (p *Program) rowDist(ri uint32) int64 {
	dy := 2 * int64(p.rowAt[ri].Y-p.focal.Y)
	return dy * dy
}

// emptySeats writes into e.empty the seats of row ri that are free on
// every leg of the search's range and not picked for this hold, whatever
// their category: an empty seat is empty to everyone. It returns the
// row's words.
func (e *Engine) emptySeats(q *search, ri uint32) []uint64 {
	return e.emptyInto(e.empty[:q.p.rows[ri].nWords], q, ri)
}

// emptyInto writes into m, the size of row ri, the row's seats free on
// every leg of the search's range and not picked for this hold: what
// rowMask filters further, and what the orphan rule calls empty.
func (e *Engine) emptyInto(m []uint64, q *search, ri uint32) []uint64 {
	p := q.p
	r := &p.rows[ri]
	for w := range m {
		base := (int(r.word0) + w) * p.legs
		x := p.free[base+int(q.from)]
		for _, y := range p.free[base+int(q.from)+1 : base+int(q.to)] {
			x &= y
		}
		m[w] = x
	}
	for _, pk := range e.picks {
		if p.seatRow[pk.seat] == ri {
			pos := p.seatPos[pk.seat]
			m[pos>>6] &^= 1 << (pos & 63)
		}
	}
	return m
}

// bit reports whether position pos is set in m; positions outside m are
// not (a row's ends).
func bit(m []uint64, pos int) bool {
	return pos >= 0 && pos>>6 < len(m) && m[pos>>6]&(1<<(pos&63)) != 0
}

// strandsIn reports whether taking the k positions from start leaves a
// single empty position beside them: an empty one whose other side is not
// empty (taken, a row end, or an aisle, which is never a seat).
func strandsIn(empty []uint64, start, k int) bool {
	return bit(empty, start-1) && !bit(empty, start-2) || bit(empty, start+k) && !bit(empty, start+k+1)
}

// keepStarts clears from starts every block of k that strandsIn says
// strands a position, for all starts at once: a block starting at s
// strands on its left when s-1 begins a run of empty positions (empty,
// s-2 not), and on its right when s+k ends one. So the bad starts are the
// run beginnings shifted up by one and the run ends shifted down by k.
func keepStarts(starts, empty []uint64, k int) {
	n := len(empty)
	at := func(w int) uint64 { // empty word w, 0 past either end
		if w < 0 || w >= n {
			return 0
		}
		return empty[w]
	}
	begins := func(w int) uint64 { return at(w) &^ (at(w)<<1 | at(w-1)>>63) }
	ends := func(w int) uint64 { return at(w) &^ (at(w)>>1 | at(w+1)<<63) }
	for w := range starts {
		left := begins(w)<<1 | begins(w-1)>>63
		right := ends(w)>>k | ends(w+1)<<(64-k)
		starts[w] &^= left | right
	}
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
