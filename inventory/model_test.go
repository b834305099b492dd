package inventory

import (
	"slices"
	"strconv"
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
}

type modelRow struct {
	rank           int
	seats          []int // seat indexes, by column
	minCol, maxCol int
}

type modelProgram struct {
	spec    ProgramSpec
	idx     int
	legs    int
	open    bool
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
	retiring  bool // released, past expiry, purged one TTL later
	req       RequestID
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

type model struct {
	events    []modelEvent
	outSeq    uint64
	acked     uint64
	maxOutbox int
	group     int
	maxLive   int
	maxHolds  int
	now       int64
	seq       uint64
	programs  map[string]*modelProgram
	nProgs    int
	holds     map[HoldID]*modelHold
}

func (m *model) emit(kind EventKind, h *modelHold, seats []int, amount int64) {
	m.outSeq++
	m.events = append(m.events, modelEvent{seq: m.outSeq, kind: kind, hold: h.id, reason: h.reason, amount: amount, seats: seats})
}

func (m *model) ack(now int64, seq uint64) Result {
	m.now = max(m.now, now)
	if seq > m.outSeq {
		return ResultInvalidArgument
	}
	for len(m.events) > 0 && m.events[0].seq <= seq {
		m.events = m.events[1:]
	}
	m.acked = max(m.acked, seq)
	return ResultOK
}

func newModel(group, maxLive, maxHolds, maxOutbox int) *model {
	return &model{group: group, maxLive: maxLive, maxHolds: maxHolds, maxOutbox: maxOutbox,
		programs: map[string]*modelProgram{}, holds: map[HoldID]*modelHold{}}
}

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
	for _, sec := range spec.Layout.Sections {
		for _, r := range sec.Rows {
			mr := modelRow{rank: r.Rank, minCol: r.Seats[0].Col, maxCol: r.Seats[len(r.Seats)-1].Col}
			for _, s := range r.Seats {
				id := sec.ID + "/" + r.ID + "/" + strconv.Itoa(s.Col)
				p.byID[id] = len(p.seats)
				mr.seats = append(mr.seats, len(p.seats))
				p.seats = append(p.seats, modelSeat{id: id, row: len(p.rows), col: s.Col, cat: s.Category, price: price[s.Category], accessible: s.Accessible})
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
	id     HoldID
	seats  []string
	total  int64
	replay bool
}

func (m *model) hold(now int64, req *HoldRequest) modelOutcome {
	m.now = max(m.now, now)
	p := m.programs[req.Program]
	if p == nil {
		return modelOutcome{result: ResultProgramNotFound}
	}
	if req.RequestID != (RequestID{}) {
		for _, h := range m.holds {
			if h.waiting && !h.retiring && h.user == req.User && h.prog == p && h.req == req.RequestID {
				return modelOutcome{result: ResultOK, id: h.id, seats: p.ids(h.seats), total: h.total, replay: true}
			}
		}
	}
	if !p.open {
		return modelOutcome{result: ResultSaleNotOpen}
	}
	from, to, ok := p.legRange(req.From, req.To)
	n := req.Count
	if len(req.Seats) > 0 {
		if n != 0 && n != len(req.Seats) {
			ok = false
		}
		n = len(req.Seats)
	}
	if !ok || req.User == 0 || n < 1 || req.ExpectedTotalCents < 0 || (!p.spec.RealName && len(req.Holders) > 0) {
		return modelOutcome{result: ResultInvalidArgument}
	}
	if req.Category != "" && !slices.ContainsFunc(p.spec.Categories, func(c Category) bool { return c.ID == req.Category }) {
		return modelOutcome{result: ResultUnknownCategory}
	}
	if n > p.spec.MaxSeatsPerHold {
		return modelOutcome{result: ResultHoldLimitExceeded}
	}
	if p.spec.RealName {
		if len(req.Holders) != n {
			return modelOutcome{result: ResultHoldersMismatch}
		}
		for i, h := range req.Holders {
			if h.Name == "" || h.IDNumber == "" || len(h.Name) > MaxNameLen || len(h.IDNumber) > MaxIDLen {
				return modelOutcome{result: ResultHoldersMismatch}
			}
			for _, o := range req.Holders[:i] {
				if o.IDNumber == h.IDNumber {
					return modelOutcome{result: ResultHolderLimitExceeded}
				}
			}
			for _, r := range p.holders[h.IDNumber] {
				if r[0] < to && from < r[1] {
					return modelOutcome{result: ResultHolderLimitExceeded}
				}
			}
		}
	}
	if p.users[req.User]+n > p.spec.MaxSeatsPerUser {
		return modelOutcome{result: ResultUserLimitExceeded}
	}
	if m.live() >= m.maxLive || len(m.holds) >= m.maxHolds {
		return modelOutcome{result: ResultTooManyHolds}
	}
	if len(m.events) >= m.maxOutbox {
		return modelOutcome{result: ResultOutboxFull}
	}
	var picked []int
	if len(req.Seats) > 0 {
		for _, id := range req.Seats {
			s, ok := p.byID[id]
			if !ok {
				return modelOutcome{result: ResultUnknownSeat, bad: id}
			}
			if slices.Contains(picked, s) {
				return modelOutcome{result: ResultInvalidArgument, bad: id}
			}
			if req.Category != "" && p.seats[s].cat != req.Category {
				return modelOutcome{result: ResultWrongCategory, bad: id}
			}
			if slices.Contains(p.status[s][from:to], SeatBlocked) {
				return modelOutcome{result: ResultSeatBlocked, bad: id}
			}
			for l := from; l < to; l++ {
				if p.status[s][l] != SeatFree {
					return modelOutcome{result: ResultSeatTaken, bad: id}
				}
			}
			picked = append(picked, s)
		}
	} else {
		var r Result
		picked, r = p.best(req, n, from, to)
		if r != ResultOK {
			return modelOutcome{result: r}
		}
	}
	var total int64
	for _, s := range picked {
		total += p.seats[s].price
	}
	if req.CheckTotal && req.ExpectedTotalCents < total {
		return modelOutcome{result: ResultPriceMismatch}
	}
	m.seq++
	h := &modelHold{id: HoldID(m.seq<<GroupBits | uint64(m.group)), user: req.User, prog: p, from: from, to: to,
		status: HoldHeld, createdAt: m.now, expiresAt: m.now + int64(p.spec.HoldTTL), waiting: true,
		req: req.RequestID, total: total}
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
			p.holders[h.holders[i].IDNumber] = append(p.holders[h.holders[i].IDNumber], [2]int{from, to})
		}
	}
	m.holds[h.id] = h
	m.emit(EventHoldPlaced, h, h.seats, total)
	return modelOutcome{result: ResultOK, id: h.id, seats: p.ids(h.seats), total: total}
}

func (p *modelProgram) ids(seats []int) []string {
	var out []string
	for _, s := range seats {
		out = append(out, p.seats[s].id)
	}
	return out
}

// best is best-available the obvious way: try every row in rank order and
// every start in the row; then split greedily by the largest block.
func (p *modelProgram) best(req *HoldRequest, n, from, to int) ([]int, Result) {
	var picked []int
	eligible := func(s int) bool {
		st := &p.seats[s]
		if req.Category != "" && st.cat != req.Category || req.Accessible && !st.accessible || slices.Contains(picked, s) {
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
	block := func(k int) []int {
		for _, ri := range rows {
			r := &p.rows[ri]
			bestStart, bestDist := -1, 0
			for i := 0; i+k <= len(r.seats); i++ {
				ok := true
				for j := 0; j < k; j++ {
					s := r.seats[i+j]
					if !eligible(s) || p.seats[s].col != p.seats[r.seats[i]].col+j {
						ok = false
						break
					}
				}
				if !ok {
					continue
				}
				width := r.maxCol - r.minCol + 1
				d := abs(2*(p.seats[r.seats[i]].col-r.minCol) + k - width)
				if bestStart < 0 || d < bestDist {
					bestStart, bestDist = i, d
				}
			}
			if bestStart >= 0 {
				return slices.Clone(r.seats[bestStart : bestStart+k])
			}
		}
		return nil
	}
	if b := block(n); b != nil {
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
	for len(picked) < n {
		k := n - len(picked)
		for ; k > 1 && block(k) == nil; k-- {
		}
		picked = append(picked, block(k)...)
	}
	return picked, ResultOK
}

func (m *model) confirm(now int64, id HoldID) Result {
	m.now = max(m.now, now)
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
	if m.now >= h.expiresAt {
		m.release(h, ReleaseExpired)
		return ResultHoldExpired
	}
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
	m.now = max(m.now, now)
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
	m.now = max(m.now, now)
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
	var expired []HoldID
	for {
		// the next due hold: earliest due time, then lowest id
		var next *modelHold
		var nextAt int64
		for _, h := range m.holds {
			at := h.expiresAt
			if h.retiring {
				at += int64(h.prog.spec.HoldTTL)
			}
			if h.waiting && at <= m.now && (next == nil || at < nextAt || at == nextAt && h.id < next.id) {
				next, nextAt = h, at
			}
		}
		if next == nil {
			return expired
		}
		h := next
		switch {
		case h.retiring:
			delete(m.holds, h.id)
		case h.status == HoldHeld:
			m.release(h, ReleaseExpired)
			expired = append(expired, h.id)
			h.retiring = true
		case h.status == HoldReleased:
			h.retiring = true
		default:
			h.waiting = false
		}
	}
}

func (m *model) block(now int64, req *BlockRequest, block bool) (Result, string) {
	m.now = max(m.now, now)
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
