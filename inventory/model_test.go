package inventory

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// model is the reference the engine is tested against: the same rules
// written the obvious way, with a status per seat per leg and loops over
// seats everywhere. It shares nothing with the engine but the public types.

type modelSeat struct {
	id         string
	row        int // index of the row in layout order
	col        int
	cat        string
	price      int64
	accessible bool
	aisle      bool
	x, y       int // on the plan, when the sections have positions
}

type modelRow struct {
	rank           int
	section        int   // index of the section in layout order
	seats          []int // seat indexes, by column
	minCol, maxCol int
}

type modelProgram struct {
	spec    ProgramSpec
	idx     int
	legs    int
	open    bool
	version uint64 // the model's log index at the last change but expiries
	expired int    // holds expired since
	seats   []modelSeat
	rows    []modelRow
	byID    map[string]int
	status  [][]SeatStatus // [seat][leg]
	users   map[uint64]int
	holders map[string][][2]int // id number -> ranges
}

type modelHold struct {
	id        HoldID
	user      uint64
	prog      *modelProgram
	from, to  int
	status    HoldStatus
	reason    ReleaseReason
	createdAt int64
	expiresAt int64
	waiting   bool // not yet passed by a Tick
	lingering bool // past expiry, its request id remembered until its window ends
	retiring  bool // released, past expiry and window, purged one TTL after expiry (or at the window's end)
	req       RequestID
	canon     string // the request, canonical (see canonical)
	seats     []int
	refunded  []bool
	holders   []Holder
	total     int64
}

// modelEvent is an outbox entry as the model keeps it.
type modelEvent struct {
	seq    uint64
	kind   EventKind
	hold   HoldID
	reason ReleaseReason
	amount int64
	seats  []int
}

// modelKey is what a request id is remembered under.
type modelKey struct {
	user uint64
	prog *modelProgram
	req  RequestID
}

// modelRefusal is a remembered refusal.
type modelRefusal struct {
	key   modelKey
	canon string
	out   modelOutcome
	at    int64
}

type model struct {
	index       uint64          // the log index of the command being applied
	refusals    []*modelRefusal // oldest first
	maxRefusals int
	events      []modelEvent
	outSeq      uint64
	acked       uint64
	maxOutbox   int
	group       int
	maxLive     int
	maxHolds    int
	now         int64
	seq         uint64
	programs    map[string]*modelProgram
	nProgs      int
	holds       map[HoldID]*modelHold
}

func (m *model) emit(kind EventKind, h *modelHold, seats []int, amount int64) {
	m.outSeq++
	m.events = append(m.events, modelEvent{seq: m.outSeq, kind: kind, hold: h.id, reason: h.reason, amount: amount, seats: seats})
}

func (m *model) ack(now int64, seq uint64) Result {
	m.advance(now)
	if seq > m.outSeq {
		return ResultInvalidArgument
	}
	for len(m.events) > 0 && m.events[0].seq <= seq {
		m.events = m.events[1:]
	}
	m.acked = max(m.acked, seq)
	return ResultOK
}

func newModel(group, maxLive, maxHolds, maxOutbox, maxRefusals int) *model {
	return &model{group: group, maxLive: maxLive, maxHolds: maxHolds, maxOutbox: maxOutbox, maxRefusals: maxRefusals,
		programs: map[string]*modelProgram{}, holds: map[HoldID]*modelHold{}}
}

// advance moves the clock and does what a Tick would, as every command
// does first.
func (m *model) advance(now int64) {
	m.now = max(m.now, now)
	m.tick(m.now)
}

func (m *model) touch(p *modelProgram) { p.version, p.expired = m.index, 0 }

// window is how long a program's request ids are remembered: its TTL, at
// least a minute.
func (p *modelProgram) window() int64 { return max(int64(p.spec.HoldTTL), int64(time.Minute)) }

// addProgram takes the spec as the engine returns it (defaults filled in,
// seats by column), so the model tests behaviour, not validation.
func (m *model) addProgram(spec ProgramSpec) {
	p := &modelProgram{spec: spec, idx: m.nProgs, legs: len(spec.Stops) - 1, byID: map[string]int{},
		users: map[uint64]int{}, holders: map[string][][2]int{}}
	m.nProgs++
	price := map[string]int64{}
	for _, c := range spec.Categories {
		price[c.ID] = c.PriceCents
	}
	for si, sec := range spec.Layout.Sections {
		for i, r := range sec.Rows {
			mr := modelRow{rank: r.Rank, section: si, minCol: r.Seats[0].Col, maxCol: r.Seats[len(r.Seats)-1].Col}
			for _, s := range r.Seats {
				id := sec.ID + "/" + r.ID + "/" + strconv.Itoa(s.Col)
				p.byID[id] = len(p.seats)
				mr.seats = append(mr.seats, len(p.seats))
				ms := modelSeat{id: id, row: len(p.rows), col: s.Col, cat: s.Category, price: price[s.Category], accessible: s.Accessible,
					aisle: s.Aisle}
				if sec.At != nil {
					ms.x, ms.y = sec.At.X+s.Col*SeatPitch, sec.At.Y+i*RowPitch
				}
				p.seats = append(p.seats, ms)
				p.status = append(p.status, make([]SeatStatus, p.legs))
			}
			p.rows = append(p.rows, mr)
		}
	}
	m.programs[spec.ID] = p
}

func (m *model) live() int {
	n := 0
	for _, h := range m.holds {
		if h.status == HoldHeld {
			n++
		}
	}
	return n
}

func (p *modelProgram) legRange(from, to int) (int, int, bool) {
	if to == 0 {
		to = p.legs
	}
	return from, to, from >= 0 && from < to && to <= p.legs
}

type modelOutcome struct {
	result Result
	bad    string
	fault  Fault
	id     HoldID
	seats  []string
	total  int64
	replay bool
}

// canonical writes a hold request the way two requests compare as the
// same: every field but user, program and request id, with To 0 as the
// last stop and a manual Count 0 as the number of seats.
func (p *modelProgram) canonical(req *HoldRequest) string {
	to, count := req.To, req.Count
	if to == 0 {
		to = p.legs
	}
	if len(req.Seats) > 0 && count == 0 {
		count = len(req.Seats)
	}
	return fmt.Sprintf("%q %d %v %v %d %d %d %v %d %q %+v", req.Category, count, req.Together, req.Accessible, req.Prefer, req.From, to,
		req.CheckTotal, req.ExpectedTotalCents, req.Seats, req.Holders)
}

// modelRemembered are the refusals that depend on the state of the sale.
var modelRemembered = []Result{ResultSaleNotOpen, ResultHolderLimitExceeded, ResultUserLimitExceeded, ResultSeatBlocked,
	ResultSeatTaken, ResultSoldOut, ResultNoAdjacentSeats, ResultPriceMismatch, ResultOrphanSeat}

func (m *model) hold(now int64, req *HoldRequest) modelOutcome {
	m.advance(now)
	p := m.programs[req.Program]
	if p == nil {
		return modelOutcome{result: ResultProgramNotFound, fault: noFault}
	}
	if req.RequestID == (RequestID{}) {
		return m.place(p, req, "")
	}
	key, canon := modelKey{req.User, p, req.RequestID}, p.canonical(req)
	for _, h := range m.holds {
		if h.waiting && !h.retiring && h.user == req.User && h.prog == p && h.req == req.RequestID {
			if h.canon != canon {
				return modelOutcome{result: ResultRequestReused, fault: noFault}
			}
			return modelOutcome{result: ResultOK, fault: noFault, id: h.id, seats: p.ids(h.seats), total: h.total, replay: true}
		}
	}
	i := slices.IndexFunc(m.refusals, func(r *modelRefusal) bool { return r.key == key })
	if i >= 0 && m.now < m.refusals[i].at+p.window() {
		r := m.refusals[i]
		if r.canon != canon {
			return modelOutcome{result: ResultRequestReused, fault: noFault}
		}
		out := r.out
		out.replay = true
		return out
	}
	out := m.place(p, req, canon)
	if out.result == ResultOK {
		// a lapsed refusal of the id gives way to the hold
		m.refusals = slices.DeleteFunc(m.refusals, func(r *modelRefusal) bool { return r.key == key })
	}
	if slices.Contains(modelRemembered, out.result) {
		if len(m.refusals) >= m.maxRefusals {
			if m.now-m.refusals[0].at < int64(time.Minute) {
				return modelOutcome{result: ResultRefusalsFull, fault: noFault}
			}
			m.refusals = m.refusals[1:]
		}
		if i := slices.IndexFunc(m.refusals, func(r *modelRefusal) bool { return r.key == key }); i >= 0 {
			m.refusals = slices.Delete(m.refusals, i, i+1) // lapsed: the new one replaces it
		}
		m.refusals = append(m.refusals, &modelRefusal{key: key, canon: canon, out: out, at: m.now})
	}
	return out
}

// modelHolderFault is the holder rule written out: a trimmed, printable name,
// a known type, and a well-formed number in normal form.
func modelHolderFault(h Holder, now int64) Field {
	if h.Name == "" || len(h.Name) > MaxNameLen || h.Name != NormalizeName(h.Name) || slices.ContainsFunc([]rune(h.Name), func(r rune) bool {
		return r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0xfffd // 0xfffd: what was not text
	}) {
		return FieldHolderName
	}
	switch h.IDType {
	case IDResident:
		ok := len(h.IDNumber) == 18
		sum := 0
		for i := 0; ok && i < 17; i++ {
			d, err := strconv.Atoi(h.IDNumber[i : i+1])
			ok = err == nil
			w := 1
			for range 17 - i {
				w = w * 2 % 11
			}
			sum += d * w
		}
		if ok {
			ok = "10X98765432"[sum%11] == h.IDNumber[17]
			y, _ := strconv.Atoi(h.IDNumber[6:10])
			cst := time.FixedZone("CST", 8*3600)
			d, err := time.ParseInLocation("20060102", h.IDNumber[6:14], cst)
			ok = ok && err == nil && y >= 1900 && d.Format("20060102") == h.IDNumber[6:14] && !d.After(time.Unix(0, now).In(cst)) &&
				slices.Contains(strings.Fields("11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82 83"), h.IDNumber[:2])
		}
		if !ok {
			return FieldHolderIDNumber
		}
	case IDPassport:
		if len(h.IDNumber) < 5 || len(h.IDNumber) > 20 || strings.Trim(h.IDNumber, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			return FieldHolderIDNumber
		}
	default:
		return FieldHolderIDType
	}
	return FieldNone
}

func (m *model) place(p *modelProgram, req *HoldRequest, canon string) modelOutcome {
	refuse := func(r Result, f Fault) modelOutcome { return modelOutcome{result: r, fault: f} }
	if !p.open {
		return refuse(ResultSaleNotOpen, noFault)
	}
	from, to := req.From, req.To
	if to == 0 {
		to = p.legs
	}
	n := req.Count
	countField := FieldCount
	var f Fault
	switch {
	case from < 0 || from >= p.legs:
		f = Fault{Field: FieldFrom, Index: -1, Limit: int64(p.legs - 1), Actual: int64(from)}
	case to <= from || to > p.legs:
		f = Fault{Field: FieldTo, Index: -1, Limit: int64(p.legs), Actual: int64(to)}
	case len(req.Seats) > 0 && n != 0 && n != len(req.Seats):
		f = Fault{Field: FieldCount, Index: -1, Limit: int64(len(req.Seats)), Actual: int64(n)}
	}
	if len(req.Seats) > 0 {
		n, countField = len(req.Seats), FieldSeats
	}
	switch {
	case f.Field != FieldNone:
	case req.User == 0:
		f = Fault{Field: FieldUser, Index: -1}
	case n < 1:
		f = Fault{Field: FieldCount, Index: -1, Actual: int64(n)}
	case req.ExpectedTotalCents < 0:
		f = Fault{Field: FieldExpectedTotal, Index: -1, Actual: req.ExpectedTotalCents}
	case req.Prefer != PositionAny && req.Prefer != PositionWindow && req.Prefer != PositionAisle:
		f = Fault{Field: FieldPrefer, Index: -1, Actual: int64(req.Prefer)}
	case !p.spec.RealName && len(req.Holders) > 0:
		f = Fault{Field: FieldHolders, Index: -1, Actual: int64(len(req.Holders))}
	}
	if f.Field != FieldNone {
		return refuse(ResultInvalidArgument, f)
	}
	if req.Category != "" && !slices.ContainsFunc(p.spec.Categories, func(c Category) bool { return c.ID == req.Category }) {
		return refuse(ResultUnknownCategory, Fault{Field: FieldCategory, Index: -1})
	}
	if n > p.spec.MaxSeatsPerHold {
		return refuse(ResultHoldLimitExceeded, Fault{Field: countField, Index: -1, Limit: int64(p.spec.MaxSeatsPerHold), Actual: int64(n)})
	}
	if p.spec.RealName {
		if len(req.Holders) != n {
			return refuse(ResultHoldersMismatch, Fault{Field: FieldHolders, Index: -1, Limit: int64(n), Actual: int64(len(req.Holders))})
		}
		for i, h := range req.Holders {
			if f := modelHolderFault(h, m.now); f != FieldNone {
				return refuse(ResultHoldersMismatch, Fault{Field: f, Index: i})
			}
			for _, o := range req.Holders[:i] {
				if o.IDNumber == h.IDNumber {
					return refuse(ResultHoldersMismatch, Fault{Field: FieldHolderIDNumber, Index: i})
				}
			}
			for _, r := range p.holders[h.IDNumber] {
				if r[0] < to && from < r[1] {
					return refuse(ResultHolderLimitExceeded, Fault{Field: FieldHolderIDNumber, Index: i})
				}
			}
		}
	}
	if p.users[req.User]+n > p.spec.MaxSeatsPerUser {
		return refuse(ResultUserLimitExceeded, Fault{Field: countField, Index: -1, Limit: int64(p.spec.MaxSeatsPerUser), Actual: int64(p.users[req.User])})
	}
	if m.live() >= m.maxLive || len(m.holds) >= m.maxHolds {
		return refuse(ResultTooManyHolds, noFault)
	}
	if len(m.events) >= m.maxOutbox {
		return refuse(ResultOutboxFull, noFault)
	}
	var picked []int
	if len(req.Seats) > 0 {
		for i, id := range req.Seats {
			bad := func(r Result) modelOutcome {
				return modelOutcome{result: r, bad: id, fault: Fault{Field: FieldSeats, Index: i}}
			}
			s, ok := p.byID[id]
			if !ok {
				return bad(ResultUnknownSeat)
			}
			if slices.Contains(picked, s) {
				return bad(ResultInvalidArgument)
			}
			if req.Category != "" && p.seats[s].cat != req.Category {
				return bad(ResultWrongCategory)
			}
			if slices.Contains(p.status[s][from:to], SeatBlocked) {
				return bad(ResultSeatBlocked)
			}
			for l := from; l < to; l++ {
				if p.status[s][l] != SeatFree {
					return bad(ResultSeatTaken)
				}
			}
			picked = append(picked, s)
		}
		if p.spec.RefuseOrphans {
			for i, s := range picked {
				st := &p.seats[s]
				if p.strands(st.row, st.col, st.col, from, to, picked) {
					return modelOutcome{result: ResultOrphanSeat, bad: req.Seats[i], fault: Fault{Field: FieldSeats, Index: i}}
				}
			}
		}
	} else {
		var r Result
		picked, r = p.best(req, n, from, to)
		if r != ResultOK {
			return refuse(r, noFault)
		}
	}
	var total int64
	for _, s := range picked {
		total += p.seats[s].price
	}
	if req.CheckTotal && req.ExpectedTotalCents < total {
		return refuse(ResultPriceMismatch, Fault{Field: FieldExpectedTotal, Index: -1, Actual: total})
	}
	m.seq++
	m.touch(p)
	h := &modelHold{id: HoldID(m.seq<<GroupBits | uint64(m.group)), user: req.User, prog: p, from: from, to: to,
		status: HoldHeld, createdAt: m.now, expiresAt: m.now + int64(p.spec.HoldTTL), waiting: true,
		req: req.RequestID, canon: canon, total: total}
	order := make([]int, len(picked))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return picked[a] - picked[b] })
	for i, o := range order {
		h.seats = append(h.seats, picked[o])
		if p.spec.RealName {
			if len(req.Seats) > 0 {
				h.holders = append(h.holders, req.Holders[o])
			} else {
				h.holders = append(h.holders, req.Holders[i])
			}
		}
	}
	h.refunded = make([]bool, len(h.seats))
	for i, s := range h.seats {
		for l := from; l < to; l++ {
			p.status[s][l] = SeatHeld
		}
		p.users[h.user]++
		if h.holders != nil {
			k := h.holders[i].IDNumber
			p.holders[k] = append(p.holders[k], [2]int{from, to})
		}
	}
	m.holds[h.id] = h
	m.emit(EventHoldPlaced, h, h.seats, total)
	return modelOutcome{result: ResultOK, fault: noFault, id: h.id, seats: p.ids(h.seats), total: total}
}

func (p *modelProgram) ids(seats []int) []string {
	var out []string
	for _, s := range seats {
		out = append(out, p.seats[s].id)
	}
	return out
}

// best is best-available: a general request on a program with accessible
// seats looks without them first, then (unless the program reserves them)
// with them.
func (p *modelProgram) best(req *HoldRequest, n, from, to int) ([]int, Result) {
	if req.Accessible || !slices.ContainsFunc(p.seats, func(s modelSeat) bool { return s.accessible }) {
		return p.bestPass(req, n, from, to, false)
	}
	picked, r := p.bestPass(req, n, from, to, true)
	if r == ResultOK || p.spec.ReserveAccessible {
		return picked, r
	}
	return p.bestPass(req, n, from, to, false)
}

// bestPass is best-available the obvious way, without accessible seats if
// general: try every row in rank order and every start in the row, first
// for blocks holding a seat at the preferred position if the request has
// one; then split greedily by the largest block, inside the first section
// (in the order of its best row with an eligible seat) that has enough
// eligible seats, else anywhere.
func (p *modelProgram) bestPass(req *HoldRequest, n, from, to int, general bool) ([]int, Result) {
	var picked []int
	eligible := func(s int) bool {
		st := &p.seats[s]
		if req.Category != "" && st.cat != req.Category || req.Accessible && !st.accessible || general && st.accessible ||
			slices.Contains(picked, s) {
			return false
		}
		for l := from; l < to; l++ {
			if p.status[s][l] != SeatFree {
				return false
			}
		}
		return true
	}
	rows := make([]int, len(p.rows))
	for i := range rows {
		rows[i] = i
	}
	slices.SortStableFunc(rows, func(a, b int) int { return p.rows[a].rank - p.rows[b].rank })
	preferred := func(s int) bool {
		r := &p.rows[p.seats[s].row]
		switch req.Prefer {
		case PositionWindow:
			return p.seats[s].col == r.minCol || p.seats[s].col == r.maxCol
		case PositionAisle:
			return p.seats[s].aisle
		}
		return true
	}
	section := -1 // the only section searched, -1 for any
	block := func(k int, prefer bool) []int {
		if p.spec.Focal != nil {
			return p.focalBlock(rows, k, func(ri int, seats []int) bool {
				return (section < 0 || p.rows[ri].section == section) && (!prefer || slices.ContainsFunc(seats, preferred))
			}, eligible, from, to, picked)
		}
		var fallback []int // the first block that strands a seat, in the rank being read
		fallbackRank := 0
		for _, ri := range rows {
			r := &p.rows[ri]
			if section >= 0 && r.section != section {
				continue
			}
			if fallback != nil && r.rank != fallbackRank {
				break
			}
			bestStart, bestDist := -1, 0 // the nearest block that strands no seat
			anyStart, anyDist := -1, 0   // the nearest block
			for i := 0; i+k <= len(r.seats); i++ {
				ok := true
				for j := 0; j < k; j++ {
					s := r.seats[i+j]
					if !eligible(s) || p.seats[s].col != p.seats[r.seats[i]].col+j {
						ok = false
						break
					}
				}
				if !ok || prefer && !slices.ContainsFunc(r.seats[i:i+k], preferred) {
					continue
				}
				width := r.maxCol - r.minCol + 1
				first := p.seats[r.seats[i]].col
				d := abs(2*(first-r.minCol) + k - width)
				if anyStart < 0 || d < anyDist {
					anyStart, anyDist = i, d
				}
				if (p.spec.AllowOrphans || !p.strands(ri, first, first+k-1, from, to, picked)) && (bestStart < 0 || d < bestDist) {
					bestStart, bestDist = i, d
				}
			}
			if bestStart >= 0 {
				return slices.Clone(r.seats[bestStart : bestStart+k])
			}
			if anyStart >= 0 && fallback == nil {
				fallback, fallbackRank = slices.Clone(r.seats[anyStart:anyStart+k]), r.rank
			}
		}
		return fallback
	}
	if req.Prefer != PositionAny {
		if b := block(n, true); b != nil {
			return b, ResultOK
		}
	}
	if b := block(n, false); b != nil {
		return b, ResultOK
	}
	count := 0
	for s := range p.seats {
		if eligible(s) {
			count++
		}
	}
	if count < n {
		return nil, ResultSoldOut
	}
	if req.Together {
		return nil, ResultNoAdjacentSeats
	}
	seen := map[int]int{} // section -> eligible seats
	var order []int
	for _, ri := range rows {
		for _, s := range p.rows[ri].seats {
			if eligible(s) {
				if seen[p.rows[ri].section] == 0 {
					order = append(order, p.rows[ri].section)
				}
				seen[p.rows[ri].section]++
			}
		}
	}
	for _, sec := range order {
		if seen[sec] >= n {
			section = sec
			break
		}
	}
	for len(picked) < n {
		k := n - len(picked)
		for ; k > 1 && block(k, false) == nil; k-- {
		}
		picked = append(picked, block(k, false)...)
	}
	return picked, ResultOK
}

// focalBlock is the block of k a program with a focal point picks: of all
// the blocks allowed (a section, a seat position) in the best rank that
// has one, the first by (strands a seat,
// squared distance from its centre to the focal point, row order,
// column). Distances are doubled so that a centre between two seats is an
// integer: the centre of seats a..b is (a+b)/2.
func (p *modelProgram) focalBlock(rows []int, k int, allowed func(ri int, seats []int) bool, eligible func(int) bool, from, to int, picked []int) []int {
	f := p.spec.Focal
	var best []int
	bestStrands, bestDist, bestRank := false, 0, 0
	for _, ri := range rows { // rank order, then row order
		r := &p.rows[ri]
		if best != nil && r.rank != bestRank {
			break
		}
		for i := 0; i+k <= len(r.seats); i++ { // column order
			seats := r.seats[i : i+k]
			a, b := &p.seats[seats[0]], &p.seats[seats[k-1]]
			if b.col-a.col != k-1 || slices.ContainsFunc(seats, func(s int) bool { return !eligible(s) }) || !allowed(ri, seats) {
				continue
			}
			dx, dy := a.x+b.x-2*f.X, a.y+b.y-2*f.Y
			d := dx*dx + dy*dy
			strands := !p.spec.AllowOrphans && p.strands(ri, a.col, b.col, from, to, picked)
			if best == nil || !strands && bestStrands || strands == bestStrands && d < bestDist {
				best, bestStrands, bestDist, bestRank = slices.Clone(seats), strands, d, r.rank
			}
		}
	}
	return best
}

// strands reports whether taking columns first..last of row ri leaves a
// single empty seat beside them: an empty seat (one free on every leg of
// the range and not in picked) whose other side is no seat (a row end, an
// aisle) or not empty.
func (p *modelProgram) strands(ri, first, last, from, to int, picked []int) bool {
	empty := func(col int) bool {
		for _, s := range p.rows[ri].seats {
			if p.seats[s].col != col {
				continue
			}
			if slices.Contains(picked, s) {
				return false
			}
			for l := from; l < to; l++ {
				if p.status[s][l] != SeatFree {
					return false
				}
			}
			return true
		}
		return false
	}
	return empty(first-1) && !empty(first-2) || empty(last+1) && !empty(last+2)
}

func (m *model) confirm(now int64, id HoldID) Result {
	m.advance(now)
	h := m.holds[id]
	if h == nil {
		return ResultHoldNotFound
	}
	switch h.status {
	case HoldConfirmed, HoldRefunded:
		return ResultOK
	case HoldReleased:
		if h.reason == ReleaseExpired {
			return ResultHoldExpired
		}
		return ResultHoldReleased
	}
	m.touch(h.prog)
	for _, s := range h.seats {
		for l := h.from; l < h.to; l++ {
			h.prog.status[s][l] = SeatSold
		}
	}
	h.status = HoldConfirmed
	m.emit(EventHoldConfirmed, h, nil, 0)
	return ResultOK
}

func (m *model) releaseCmd(now int64, id HoldID, owner uint64, reason ReleaseReason) Result {
	m.advance(now)
	h := m.holds[id]
	switch {
	case h == nil:
		return ResultHoldNotFound
	case owner != 0 && owner != h.user:
		return ResultNotOwner
	case h.status == HoldReleased:
		return ResultOK
	case h.status != HoldHeld:
		return ResultHoldConfirmed
	case reason != ReleaseCancelled && reason != ReleaseRefused:
		return ResultInvalidArgument
	}
	m.release(h, reason)
	return ResultOK
}

func (m *model) release(h *modelHold, reason ReleaseReason) {
	if reason == ReleaseExpired {
		h.prog.expired++
	} else {
		m.touch(h.prog)
	}
	for i, s := range h.seats {
		for l := h.from; l < h.to; l++ {
			h.prog.status[s][l] = SeatFree
		}
		h.prog.dropSeat(h, i)
	}
	h.status, h.reason = HoldReleased, reason
	m.emit(EventHoldReleased, h, nil, 0)
}

func (p *modelProgram) dropSeat(h *modelHold, i int) {
	p.users[h.user]--
	if p.users[h.user] == 0 {
		delete(p.users, h.user)
	}
	if h.holders != nil {
		id := h.holders[i].IDNumber
		rs := p.holders[id]
		j := slices.Index(rs, [2]int{h.from, h.to})
		p.holders[id] = slices.Delete(rs, j, j+1)
		if len(p.holders[id]) == 0 {
			delete(p.holders, id)
		}
	}
}

func (m *model) refund(now int64, id HoldID, seats []string) (Result, int64, string) {
	m.advance(now)
	h := m.holds[id]
	if h == nil {
		return ResultHoldNotFound, 0, ""
	}
	switch h.status {
	case HoldHeld, HoldReleased:
		return ResultNotConfirmed, 0, ""
	case HoldRefunded:
		return ResultAlreadyRefunded, 0, ""
	}
	p := h.prog
	var which []int
	if len(seats) == 0 {
		for i := range h.seats {
			if !h.refunded[i] {
				which = append(which, i)
			}
		}
	} else {
		if len(seats) > len(h.seats) {
			return ResultInvalidArgument, 0, ""
		}
		for _, sid := range seats {
			s, ok := p.byID[sid]
			i := -1
			if ok {
				i = slices.Index(h.seats, s)
			}
			switch {
			case i < 0:
				return ResultSeatNotInHold, 0, sid
			case slices.Contains(which, i):
				return ResultInvalidArgument, 0, sid
			case h.refunded[i]:
				return ResultAlreadyRefunded, 0, sid
			}
			which = append(which, i)
		}
	}
	var amount int64
	m.touch(p)
	slices.Sort(which)
	var refunded []int
	for _, i := range which {
		refunded = append(refunded, h.seats[i])
		s := h.seats[i]
		next := SeatBlocked
		if p.spec.RefundResells {
			next = SeatFree
		}
		for l := h.from; l < h.to; l++ {
			p.status[s][l] = next
		}
		amount += p.seats[s].price
		h.refunded[i] = true
		p.dropSeat(h, i)
	}
	if !slices.Contains(h.refunded, false) {
		h.status = HoldRefunded
	}
	m.emit(EventSeatsRefunded, h, refunded, amount)
	return ResultOK, amount, ""
}

func (m *model) tick(now int64) []HoldID {
	m.now = max(m.now, now)
	for len(m.refusals) > 0 && m.now >= m.refusals[0].at+m.refusals[0].key.prog.window() {
		m.refusals = m.refusals[1:]
	}
	var expired []HoldID
	for {
		// the next due hold: earliest due time, then lowest id
		var next *modelHold
		var nextAt int64
		for _, h := range m.holds {
			at := h.expiresAt
			switch {
			case h.retiring:
				at = max(h.expiresAt+int64(h.prog.spec.HoldTTL), h.createdAt+h.prog.window())
			case h.lingering:
				at = h.createdAt + h.prog.window()
			}
			if h.waiting && at <= m.now && (next == nil || at < nextAt || at == nextAt && h.id < next.id) {
				next, nextAt = h, at
			}
		}
		if next == nil {
			return expired
		}
		h := next
		if h.retiring {
			delete(m.holds, h.id)
			continue
		}
		if h.status == HoldHeld {
			m.release(h, ReleaseExpired)
			expired = append(expired, h.id)
		}
		if !h.lingering && h.req != (RequestID{}) && h.prog.window() > int64(h.prog.spec.HoldTTL) {
			h.lingering = true
			continue
		}
		h.lingering = false
		if h.status == HoldReleased {
			h.retiring = true
		} else {
			h.waiting = false
		}
	}
}

func (m *model) block(now int64, req *BlockRequest, block bool) (Result, string) {
	m.advance(now)
	p := m.programs[req.Program]
	if p == nil {
		return ResultProgramNotFound, ""
	}
	from, to, ok := p.legRange(req.From, req.To)
	if !ok || len(req.Seats) == 0 || len(req.Seats) > 1<<16 {
		return ResultInvalidArgument, ""
	}
	var seats []int
	for _, id := range req.Seats {
		s, ok := p.byID[id]
		if !ok {
			return ResultUnknownSeat, id
		}
		seats = append(seats, s)
	}
	sorted := slices.Clone(seats)
	slices.Sort(sorted)
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return ResultInvalidArgument, p.seats[sorted[i]].id
		}
	}
	for i, s := range seats {
		for l := from; l < to; l++ {
			st := p.status[s][l]
			if block {
				if st == SeatBlocked {
					return ResultSeatBlocked, req.Seats[i]
				}
				if st != SeatFree {
					return ResultSeatTaken, req.Seats[i]
				}
			} else if st != SeatBlocked {
				return ResultNotBlocked, req.Seats[i]
			}
		}
	}
	m.touch(p)
	for _, s := range seats {
		for l := from; l < to; l++ {
			if block {
				p.status[s][l] = SeatBlocked
			} else {
				p.status[s][l] = SeatFree
			}
		}
	}
	return ResultOK, ""
}

// lapsed returns the held holds of p whose TTL has ended by now.
func (m *model) lapsed(p *modelProgram, now int64) []*modelHold {
	var out []*modelHold
	for _, h := range m.holds {
		if h.prog == p && h.status == HoldHeld && now >= h.expiresAt {
			out = append(out, h)
		}
	}
	return out
}

// view is p's seat status per leg as a read at now sees it: the seats of
// lapsed holds free.
func (m *model) view(p *modelProgram, now int64) *modelProgram {
	v := *p
	v.status = make([][]SeatStatus, len(p.status))
	for s := range p.status {
		v.status[s] = slices.Clone(p.status[s])
	}
	for _, h := range m.lapsed(p, now) {
		for _, s := range h.seats {
			for l := h.from; l < h.to; l++ {
				v.status[s][l] = SeatFree
			}
		}
	}
	return &v
}

// availability counts per category over a range, seat by seat.
func (p *modelProgram) availability(from, to int) []CategoryAvailability {
	var out []CategoryAvailability
	for _, c := range p.spec.Categories {
		a := CategoryAvailability{ID: c.ID}
		for s, st := range p.seats {
			if st.cat != c.ID {
				continue
			}
			a.Capacity++
			switch p.rangeStatus(s, from, to) {
			case SeatFree:
				a.Free++
			case SeatHeld:
				a.Held++
			case SeatSold:
				a.Sold++
			case SeatBlocked:
				a.Blocked++
			}
		}
		out = append(out, a)
	}
	return out
}

func (p *modelProgram) rangeStatus(s, from, to int) SeatStatus {
	legs := p.status[s][from:to]
	for _, want := range []SeatStatus{SeatBlocked, SeatSold, SeatHeld} {
		if slices.Contains(legs, want) {
			return want
		}
	}
	return SeatFree
}
