package inventory

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// seatFlag bits, one byte per seat.
const (
	flagAccessible uint8 = 1 << iota
	flagAisle
)

// counts are one shard's seat counts on one leg. They always add up to the
// shard's capacity (Check verifies it).
type counts struct {
	free, held, sold, blocked int32
}

// catMask is a category's seats in a row that mixes categories: an offset
// into Program.masks, and the row's place in the category's row list.
type catMask struct {
	cat uint8
	off uint32
	pos uint32
}

// rowList is rows in rank order, best first, for best-available search.
// Its first full rows have no free seat on any leg: searches start after
// them, so a program that sells out front to back (as on-sales do) is not
// searched more slowly. Freeing a seat in one of them moves full back. It
// is derived state: not in the snapshot, and it never changes a choice.
type rowList struct {
	rows []uint32
	full int
}

// row is one row of the compiled layout. Its seats are the contiguous seat
// indexes [firstSeat, firstSeat+nSeats), sorted by column.
type row struct {
	id        string
	section   uint16
	rank      int32
	firstSeat uint32
	nSeats    uint32
	minCol    uint16
	width     uint16 // maxCol - minCol + 1
	nWords    uint32
	word0     uint32    // first word of the row in every per-leg bitset
	exists    uint32    // offset in masks of the bits that are seats
	access    int32     // offset in masks of the accessible seats, -1 if none
	cat       int16     // the row's only category, or -1 if it mixes
	catMasks  []catMask // when cat == -1
}

type section struct {
	id, name string
	at       Point             // when the program is placed
	rows     []uint32          // row indexes in layout order
	rowIndex map[string]uint32 // row id -> row index
}

// Program is a compiled ProgramSpec plus its seat state. Its exported
// methods are read-only views for adapters; the Engine owns every change.
//
// Seat state per leg is three bitsets over every row's words, interleaved by
// leg (word w of leg l is at w*legs+l, so a leg range is contiguous):
// free, sold and blocked; a seat that exists and is none of these is held.
type Program struct {
	idx           int32 // position in Engine.programs
	id, name      string
	stops         []string
	cats          []Category
	catIndex      map[string]uint8
	ttl           int64 // hold TTL in nanoseconds
	maxPerHold    int
	maxPerUser    int
	realName      bool
	refundResells bool
	allowOrphans  bool // see ProgramSpec
	refuseOrphans bool
	reserveAccess bool // ReserveAccessible
	anyAccessible bool // some seat is accessible
	open          bool
	legs          int
	version       uint64    // the log index of the last change to its seats, holds or sale but expiries (Engine.SetLogIndex)
	expired       uint32    // holds expired since version
	moveSt        moveState // see move.go
	moveGroup     uint16    // the other group of a move

	sections     []section
	sectionIndex map[string]uint16
	rows         []row
	byRank       rowList   // every row
	capacity     []int32   // seats per category
	catRows      []rowList // per category: the rows holding it
	rankPos      []uint32  // per row: its place in byRank
	catPos       []uint32  // per single-category row: its place in its category's list

	seatRow   []uint32
	seatPos   []uint16 // col - row.minCol
	seatCat   []uint8
	seatFlags []uint8
	labels    []string // nil when every label is the column number

	masks  []uint64 // static row masks (exists, accessible, per category)
	words  int      // words per leg
	free   []uint64
	sold   []uint64
	block  []uint64
	maxRun []uint16 // longest free run per row and leg, [row*legs+leg]; see runStale
	counts []counts // [cat*legs+leg]

	userSeats map[uint64]int32         // seats held or sold per user
	holders   map[string][]holderRange // real-name index: id number -> ranges

	placed bool // every section has a position (else none has)
	// focal is ProgramSpec.Focal, nil when off; rowAt is then, per row,
	// its column minCol's place on the plan (see focalTarget).
	focal *Point
	rowAt []Point
}

// holderRange is one seat held by an ID number for legs [from, to).
type holderRange struct {
	from, to uint8
	hold     HoldID
}

// ValidID reports whether s can be a program or category id: 1-MaxIDLen
// of [A-Za-z0-9._-], starting with a letter or digit. Such ids travel in
// URL paths and queries as they are, with nothing to escape, and none is
// a dot segment ("." or ".."), which URL clients resolve away (RFC 3986
// section 5.2.4).
func ValidID(s string) bool {
	if s == "" || len(s) > MaxIDLen || !isAlnum(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// compile validates spec and builds a Program with every seat free. The error
// says which rule was broken and where; it is deterministic.
func compile(spec *ProgramSpec) (*Program, error) {
	p := &Program{id: spec.ID, name: spec.Name}
	if !ValidID(spec.ID) {
		return nil, fmt.Errorf("program id %q: want 1-%d of [A-Za-z0-9._-], starting with a letter or digit", spec.ID, MaxIDLen)
	}
	if len(spec.Name) > MaxNameLen {
		return nil, fmt.Errorf("name: longer than %d bytes", MaxNameLen)
	}
	p.stops = slices.Clone(spec.Stops)
	if len(p.stops) == 0 {
		p.stops = []string{"doors", "end"}
	}
	if len(p.stops) < 2 || len(p.stops) > MaxLegs+1 {
		return nil, fmt.Errorf("stops: %d stops, want 2-%d", len(p.stops), MaxLegs+1)
	}
	for i, s := range p.stops {
		if s == "" || len(s) > MaxNameLen {
			return nil, fmt.Errorf("stops[%d]: want a name of 1-%d bytes", i, MaxNameLen)
		}
	}
	p.legs = len(p.stops) - 1

	if len(spec.Categories) == 0 || len(spec.Categories) > MaxCategories {
		return nil, fmt.Errorf("categories: %d, want 1-%d", len(spec.Categories), MaxCategories)
	}
	p.cats = slices.Clone(spec.Categories)
	p.catIndex = make(map[string]uint8, len(p.cats))
	for i, c := range p.cats {
		if !ValidID(c.ID) {
			return nil, fmt.Errorf("categories[%d]: id %q: want 1-%d of [A-Za-z0-9._-], starting with a letter or digit", i, c.ID, MaxIDLen)
		}
		if _, dup := p.catIndex[c.ID]; dup {
			return nil, fmt.Errorf("categories[%d]: duplicate id %q", i, c.ID)
		}
		if len(c.Name) > MaxNameLen {
			return nil, fmt.Errorf("categories[%d]: name longer than %d bytes", i, MaxNameLen)
		}
		if c.PriceCents < 0 || c.PriceCents > MaxPriceCents {
			return nil, fmt.Errorf("categories[%d]: price_cents %d, want 0-%d", i, c.PriceCents, MaxPriceCents)
		}
		p.catIndex[c.ID] = uint8(i)
	}

	ttl := spec.HoldTTL
	if ttl == 0 {
		ttl = DefaultHoldTTL
	}
	if ttl < MinHoldTTL || ttl > MaxHoldTTL {
		return nil, fmt.Errorf("hold_ttl: %v, want %v-%v", ttl, MinHoldTTL, MaxHoldTTL)
	}
	p.ttl = int64(ttl)
	p.maxPerHold = spec.MaxSeatsPerHold
	if p.maxPerHold == 0 {
		p.maxPerHold = DefaultMaxSeatsPerHold
	}
	if p.maxPerHold < 1 || p.maxPerHold > MaxSeatsPerHoldLimit {
		return nil, fmt.Errorf("max_seats_per_hold: %d, want 1-%d", p.maxPerHold, MaxSeatsPerHoldLimit)
	}
	p.maxPerUser = spec.MaxSeatsPerUser
	if p.maxPerUser == 0 {
		p.maxPerUser = max(DefaultMaxSeatsPerUser, p.maxPerHold)
	}
	if p.maxPerUser < p.maxPerHold || p.maxPerUser > MaxSeatsPerUserLimit {
		return nil, fmt.Errorf("max_seats_per_user: %d, want %d-%d", p.maxPerUser, p.maxPerHold, MaxSeatsPerUserLimit)
	}
	p.realName = spec.RealName
	p.refundResells = spec.RefundResells
	p.allowOrphans, p.refuseOrphans = spec.AllowOrphans, spec.RefuseOrphans
	p.reserveAccess = spec.ReserveAccessible

	if err := p.compileLayout(&spec.Layout); err != nil {
		return nil, err
	}
	if f := spec.Focal; f != nil {
		if !inPlan(*f) {
			return nil, fmt.Errorf("focal point (%d, %d): want coordinates within ±%d", f.X, f.Y, MaxCoord)
		}
		if !p.placed {
			return nil, fmt.Errorf("focal point: the sections have no positions to measure from; place every section")
		}
		p.focal = &Point{X: f.X, Y: f.Y}
		p.placeRows()
	}
	p.initState()
	return p, nil
}

func (p *Program) compileLayout(l *Layout) error {
	if len(l.Sections) == 0 || len(l.Sections) > MaxSectionsPerProgram {
		return fmt.Errorf("layout: %d sections, want 1-%d", len(l.Sections), MaxSectionsPerProgram)
	}
	nRows, nSeats := 0, 0
	for _, s := range l.Sections {
		nRows += len(s.Rows)
		for _, r := range s.Rows {
			nSeats += len(r.Seats)
		}
	}
	if nRows > MaxRowsPerProgram {
		return fmt.Errorf("layout: %d rows, want at most %d", nRows, MaxRowsPerProgram)
	}
	if nSeats > MaxSeatsPerProgram {
		return fmt.Errorf("layout: %d seats, want at most %d", nSeats, MaxSeatsPerProgram)
	}
	p.sectionIndex = make(map[string]uint16, len(l.Sections))
	p.sections = make([]section, len(l.Sections))
	p.rows = make([]row, 0, nRows)
	p.seatRow = make([]uint32, 0, nSeats)
	p.seatPos = make([]uint16, 0, nSeats)
	p.seatCat = make([]uint8, 0, nSeats)
	p.seatFlags = make([]uint8, 0, nSeats)
	var order []int // seat order within a row, reused
	for si := range l.Sections {
		s := &l.Sections[si]
		where := "sections[" + strconv.Itoa(si) + "]"
		if !validPart(s.ID) {
			return fmt.Errorf("%s: id %q: want 1-%d bytes without '/'", where, s.ID, MaxIDLen)
		}
		if _, dup := p.sectionIndex[s.ID]; dup {
			return fmt.Errorf("%s: duplicate id %q", where, s.ID)
		}
		if len(s.Name) > MaxNameLen {
			return fmt.Errorf("%s: name longer than %d bytes", where, MaxNameLen)
		}
		if len(s.Rows) == 0 {
			return fmt.Errorf("%s (%s): no rows", where, s.ID)
		}
		if (s.At != nil) != (l.Sections[0].At != nil) {
			return fmt.Errorf("%s (%s): position: give every section a position or none", where, s.ID)
		}
		p.sectionIndex[s.ID] = uint16(si)
		sec := &p.sections[si]
		sec.id, sec.name = s.ID, s.Name
		if s.At != nil {
			if !inPlan(*s.At) {
				return fmt.Errorf("%s (%s): position (%d, %d): want coordinates within ±%d", where, s.ID, s.At.X, s.At.Y, MaxCoord)
			}
			sec.at, p.placed = *s.At, true
		}
		sec.rowIndex = make(map[string]uint32, len(s.Rows))
		for ri := range s.Rows {
			r := &s.Rows[ri]
			where := where + ".rows[" + strconv.Itoa(ri) + "]"
			if !validPart(r.ID) {
				return fmt.Errorf("%s: id %q: want 1-%d bytes without '/'", where, r.ID, MaxIDLen)
			}
			if _, dup := sec.rowIndex[r.ID]; dup {
				return fmt.Errorf("%s: duplicate row id %q in section %s", where, r.ID, s.ID)
			}
			if len(r.Seats) == 0 {
				return fmt.Errorf("%s (%s/%s): empty row", where, s.ID, r.ID)
			}
			if r.Rank < -1<<31 || r.Rank > 1<<31-1 {
				return fmt.Errorf("%s: rank %d out of range", where, r.Rank)
			}
			order = order[:0]
			for i := range r.Seats {
				order = append(order, i)
			}
			slices.SortFunc(order, func(a, b int) int { return r.Seats[a].Col - r.Seats[b].Col })
			minCol, maxCol := r.Seats[order[0]].Col, r.Seats[order[len(order)-1]].Col
			if minCol < 0 || maxCol > MaxCol {
				return fmt.Errorf("%s (%s/%s): column out of range 0-%d", where, s.ID, r.ID, MaxCol)
			}
			if maxCol-minCol+1 > MaxRowWidth {
				return fmt.Errorf("%s (%s/%s): columns %d-%d span more than %d", where, s.ID, r.ID, minCol, maxCol, MaxRowWidth)
			}
			rowIdx := uint32(len(p.rows))
			sec.rowIndex[r.ID] = rowIdx
			sec.rows = append(sec.rows, rowIdx)
			rw := row{
				id: r.ID, section: uint16(si), rank: int32(r.Rank),
				firstSeat: uint32(len(p.seatRow)), nSeats: uint32(len(r.Seats)),
				minCol: uint16(minCol), width: uint16(maxCol - minCol + 1),
			}
			for i, oi := range order {
				st := &r.Seats[oi]
				if i > 0 && st.Col == r.Seats[order[i-1]].Col {
					return fmt.Errorf("%s: duplicate seat %s/%s/%d", where, s.ID, r.ID, st.Col)
				}
				ci, ok := p.catIndex[st.Category]
				if !ok {
					return fmt.Errorf("%s: seat %s/%s/%d: unknown category %q", where, s.ID, r.ID, st.Col, st.Category)
				}
				if len(st.Label) > MaxNameLen {
					return fmt.Errorf("%s: seat %s/%s/%d: label longer than %d bytes", where, s.ID, r.ID, st.Col, MaxNameLen)
				}
				var f uint8
				if st.Accessible {
					f |= flagAccessible
				}
				if st.Aisle {
					f |= flagAisle
				}
				label := st.Label
				if label == strconv.Itoa(st.Col) {
					label = "" // the default, kept implicit
				}
				if label != "" && p.labels == nil {
					p.labels = make([]string, len(p.seatRow), nSeats)
				}
				if p.labels != nil {
					p.labels = append(p.labels, label)
				}
				p.seatRow = append(p.seatRow, rowIdx)
				p.seatPos = append(p.seatPos, uint16(st.Col-minCol))
				p.seatCat = append(p.seatCat, ci)
				p.seatFlags = append(p.seatFlags, f)
			}
			p.rows = append(p.rows, rw)
		}
	}
	p.buildIndexes()
	return nil
}

// inPlan reports whether pt's coordinates are within ±MaxCoord.
func inPlan(pt Point) bool {
	return pt.X >= -MaxCoord && pt.X <= MaxCoord && pt.Y >= -MaxCoord && pt.Y <= MaxCoord
}

// placeRows sets rowAt from the sections' positions (see SeatPitch).
func (p *Program) placeRows() {
	p.rowAt = make([]Point, len(p.rows))
	for si := range p.sections {
		sec := &p.sections[si]
		for i, ri := range sec.rows {
			p.rowAt[ri] = Point{X: sec.at.X + int(p.rows[ri].minCol)*SeatPitch, Y: sec.at.Y + i*RowPitch}
		}
	}
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// window is how long the program's request ids are remembered (see
// request.go): its hold TTL, but never less than RefusalGrace, so that no
// attempt of a request can still be in flight when its outcome is
// forgotten.
func (p *Program) window() int64 { return max(p.ttl, RefusalGrace) }

// validPart reports whether s can be a section or row id inside a seat id.
func validPart(s string) bool {
	if s == "" || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || s[i] < ' ' {
			return false
		}
	}
	return true
}

// buildIndexes derives the static masks, word offsets and rank orders from
// rows and seats. It is used by compile and by snapshot decoding.
func (p *Program) buildIndexes() {
	p.words = 0
	p.masks = p.masks[:0]
	p.catRows = make([]rowList, len(p.cats))
	p.capacity = make([]int32, len(p.cats))
	for _, c := range p.seatCat {
		p.capacity[c]++
	}
	for ri := range p.rows {
		r := &p.rows[ri]
		r.nWords = uint32(int(r.width)+63) >> 6
		r.word0 = uint32(p.words)
		p.words += int(r.nWords)
		r.exists = uint32(len(p.masks))
		p.masks = append(p.masks, make([]uint64, r.nWords)...)
		hasAccess := false
		r.cat = int16(p.seatCat[r.firstSeat])
		for s := r.firstSeat; s < r.firstSeat+r.nSeats; s++ {
			pos := p.seatPos[s]
			p.masks[int(r.exists)+int(pos>>6)] |= 1 << (pos & 63)
			if p.seatFlags[s]&flagAccessible != 0 {
				hasAccess = true
			}
			if int16(p.seatCat[s]) != r.cat {
				r.cat = -1
			}
		}
		r.access = -1
		if hasAccess {
			p.anyAccessible = true
			r.access = int32(len(p.masks))
			p.masks = append(p.masks, make([]uint64, r.nWords)...)
			for s := r.firstSeat; s < r.firstSeat+r.nSeats; s++ {
				if p.seatFlags[s]&flagAccessible != 0 {
					pos := p.seatPos[s]
					p.masks[int(r.access)+int(pos>>6)] |= 1 << (pos & 63)
				}
			}
		}
		r.catMasks = nil
		if r.cat < 0 {
			for s := r.firstSeat; s < r.firstSeat+r.nSeats; s++ {
				c := p.seatCat[s]
				i := slices.IndexFunc(r.catMasks, func(m catMask) bool { return m.cat == c })
				if i < 0 {
					r.catMasks = append(r.catMasks, catMask{cat: c, off: uint32(len(p.masks))})
					p.masks = append(p.masks, make([]uint64, r.nWords)...)
					i = len(r.catMasks) - 1
				}
				pos := p.seatPos[s]
				p.masks[int(r.catMasks[i].off)+int(pos>>6)] |= 1 << (pos & 63)
			}
			for _, m := range r.catMasks {
				p.catRows[m.cat].rows = append(p.catRows[m.cat].rows, uint32(ri))
			}
		} else {
			p.catRows[r.cat].rows = append(p.catRows[r.cat].rows, uint32(ri))
		}
	}
	p.byRank = rowList{rows: make([]uint32, len(p.rows))}
	for i := range p.byRank.rows {
		p.byRank.rows[i] = uint32(i)
	}
	byRank := func(a, b uint32) int {
		if ra, rb := p.rows[a].rank, p.rows[b].rank; ra != rb {
			if ra < rb {
				return -1
			}
			return 1
		}
		return int(a) - int(b)
	}
	slices.SortFunc(p.byRank.rows, byRank)
	p.rankPos = make([]uint32, len(p.rows))
	for i, ri := range p.byRank.rows {
		p.rankPos[ri] = uint32(i)
	}
	p.catPos = make([]uint32, len(p.rows))
	for c := range p.catRows {
		slices.SortFunc(p.catRows[c].rows, byRank)
		for i, ri := range p.catRows[c].rows {
			r := &p.rows[ri]
			if r.cat >= 0 {
				p.catPos[ri] = uint32(i)
				continue
			}
			for k := range r.catMasks {
				if int(r.catMasks[k].cat) == c {
					r.catMasks[k].pos = uint32(i)
				}
			}
		}
	}
}

// rowFull reports whether row ri has no free seat on any leg: its words
// are contiguous over all legs, so that is a few word reads.
func (p *Program) rowFull(ri uint32) bool {
	r := &p.rows[ri]
	base := int(r.word0) * p.legs
	for _, x := range p.free[base : base+int(r.nWords)*p.legs] {
		if x != 0 {
			return false
		}
	}
	return true
}

// freedRow keeps the row lists' full prefixes true after row ri got a free
// seat.
func (p *Program) freedRow(ri uint32) {
	p.byRank.full = min(p.byRank.full, int(p.rankPos[ri]))
	r := &p.rows[ri]
	if r.cat >= 0 {
		l := &p.catRows[r.cat]
		l.full = min(l.full, int(p.catPos[ri]))
		return
	}
	for _, cm := range r.catMasks {
		l := &p.catRows[cm.cat]
		l.full = min(l.full, int(cm.pos))
	}
}

// initState sets every seat free on every leg.
func (p *Program) initState() {
	n := p.words * p.legs
	p.free = make([]uint64, n)
	p.sold = make([]uint64, n)
	p.block = make([]uint64, n)
	p.maxRun = make([]uint16, len(p.rows)*p.legs)
	p.counts = make([]counts, len(p.cats)*p.legs)
	for ri := range p.rows {
		r := &p.rows[ri]
		for w := uint32(0); w < r.nWords; w++ {
			m := p.masks[r.exists+w]
			for l := 0; l < p.legs; l++ {
				p.free[int(r.word0+w)*p.legs+l] = m
			}
		}
		for l := 0; l < p.legs; l++ {
			p.updateMaxRun(uint32(ri), l)
		}
	}
	for s := range p.seatCat {
		for l := 0; l < p.legs; l++ {
			p.counts[int(p.seatCat[s])*p.legs+l].free++
		}
	}
	p.userSeats = make(map[uint64]int32)
	p.holders = make(map[string][]holderRange)
}

// runStale flags a maxRun entry as an upper bound rather than exact. Taking
// seats can only shorten runs, so the hold path just sets the flag; freeing
// seats recomputes the entry; a search that finds no block in a row whose
// bound said it might recomputes the stale entries it used. Either way the
// entry never understates the row, so skipping rows by it is always safe.
const runStale = 0x8000

// updateMaxRun recomputes the longest free run of row ri on leg l.
func (p *Program) updateMaxRun(ri uint32, l int) {
	r := &p.rows[ri]
	var buf [MaxRowWidth / 64]uint64
	m := buf[:r.nWords]
	for w := range m {
		m[w] = p.free[(int(r.word0)+w)*p.legs+l]
	}
	p.maxRun[int(ri)*p.legs+l] = uint16(longestRun(m))
}

// seatID formats seat s as "section/row/col".
func (p *Program) seatID(s uint32) string {
	r := &p.rows[p.seatRow[s]]
	return p.sections[r.section].id + "/" + r.id + "/" + strconv.Itoa(int(r.minCol)+int(p.seatPos[s]))
}

// seatLabel returns seat s's label.
func (p *Program) seatLabel(s uint32) string {
	if p.labels != nil && p.labels[s] != "" {
		return p.labels[s]
	}
	r := &p.rows[p.seatRow[s]]
	return strconv.Itoa(int(r.minCol) + int(p.seatPos[s]))
}

// seatAt returns the seat at bit position pos of row ri, which must be a
// seat. Rows without gaps map positions to seats directly.
func (p *Program) seatAt(ri uint32, pos uint16) uint32 {
	r := &p.rows[ri]
	if r.nSeats == uint32(r.width) {
		return r.firstSeat + uint32(pos)
	}
	k, _ := slices.BinarySearch(p.seatPos[r.firstSeat:r.firstSeat+r.nSeats], pos)
	return r.firstSeat + uint32(k)
}

// lookupSeat parses a seat id "section/row/col" and returns its index.
func (p *Program) lookupSeat(id string) (uint32, bool) {
	i := lastSlash(id)
	if i < 0 {
		return 0, false
	}
	j := lastSlash(id[:i])
	if j < 0 {
		return 0, false
	}
	si, ok := p.sectionIndex[id[:j]]
	if !ok {
		return 0, false
	}
	ri, ok := p.sections[si].rowIndex[id[j+1:i]]
	if !ok {
		return 0, false
	}
	col, err := strconv.Atoi(id[i+1:])
	r := &p.rows[ri]
	if err != nil || col < int(r.minCol) || col >= int(r.minCol)+int(r.width) {
		return 0, false
	}
	pos := uint16(col - int(r.minCol))
	seats := p.seatPos[r.firstSeat : r.firstSeat+r.nSeats]
	k, found := slices.BinarySearch(seats, pos)
	if !found {
		return 0, false
	}
	return r.firstSeat + uint32(k), true
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

// spec rebuilds the ProgramSpec the Program was created from (seats sorted
// by column, defaults filled in).
func (p *Program) spec() ProgramSpec {
	s := ProgramSpec{
		ID: p.id, Name: p.name, Stops: slices.Clone(p.stops), Categories: slices.Clone(p.cats),
		HoldTTL: time.Duration(p.ttl), MaxSeatsPerHold: p.maxPerHold, MaxSeatsPerUser: p.maxPerUser,
		RealName: p.realName, RefundResells: p.refundResells, AllowOrphans: p.allowOrphans, RefuseOrphans: p.refuseOrphans,
		ReserveAccessible: p.reserveAccess,
	}
	if p.focal != nil {
		s.Focal = &Point{X: p.focal.X, Y: p.focal.Y}
	}
	s.Layout.Sections = make([]Section, len(p.sections))
	for si := range p.sections {
		sec := &p.sections[si]
		out := &s.Layout.Sections[si]
		out.ID, out.Name = sec.id, sec.name
		if p.placed {
			out.At = &Point{X: sec.at.X, Y: sec.at.Y}
		}
		out.Rows = make([]Row, len(sec.rows))
		for i, ri := range sec.rows {
			r := &p.rows[ri]
			out.Rows[i] = Row{ID: r.id, Rank: int(r.rank), Seats: make([]Seat, r.nSeats)}
			for k := range r.nSeats {
				st := r.firstSeat + k
				seat := Seat{
					Col:        int(r.minCol) + int(p.seatPos[st]),
					Category:   p.cats[p.seatCat[st]].ID,
					Accessible: p.seatFlags[st]&flagAccessible != 0,
					Aisle:      p.seatFlags[st]&flagAisle != 0,
				}
				if p.labels != nil {
					seat.Label = p.labels[st]
				}
				out.Rows[i].Seats[k] = seat
			}
		}
	}
	return s
}
