package inventory

import (
	"math/bits"
	"slices"
)

// HoldID identifies a hold: the issuing sequence number above GroupBits
// bits of group, so that a hold id routes back to its Raft group.
type HoldID uint64

// Group returns the Raft group that issued the hold.
func (id HoldID) Group() int { return int(id & MaxGroup) }

// OrderNo is a hold's order number: the sequence number, then GroupBits
// bits of group, then GeneBits bits of the user's gene (user id mod
// 2^GeneBits).
type OrderNo uint64

// Gene returns the user gene in the order number's low bits.
func (o OrderNo) Gene() uint64 { return uint64(o) & (1<<GeneBits - 1) }

// Group returns the Raft group that issued the order number.
func (o OrderNo) Group() int { return int(uint64(o)>>GeneBits) & MaxGroup }

// UserGene returns the gene of a user id, as it appears in its order numbers.
func UserGene(user uint64) uint64 { return user & (1<<GeneBits - 1) }

// HoldStatus is where a hold is in its life.
type HoldStatus uint8

// Hold statuses.
const (
	HoldHeld      HoldStatus = 1 // seats locked, waiting for payment
	HoldConfirmed HoldStatus = 2 // paid: seats sold
	HoldReleased  HoldStatus = 3 // given back before payment
	HoldRefunded  HoldStatus = 4 // every seat refunded
)

var holdStatusNames = [...]string{"", "HELD", "CONFIRMED", "RELEASED", "REFUNDED"}

// String returns the status as the HTTP contract spells it.
func (s HoldStatus) String() string { return holdStatusNames[s] }

// ReleaseReason says why a hold was released.
type ReleaseReason uint8

// Release reasons.
const (
	ReleaseNone      ReleaseReason = 0
	ReleaseCancelled ReleaseReason = 1 // by the buyer
	ReleaseExpired   ReleaseReason = 2 // TTL passed without payment
	ReleaseRefused   ReleaseReason = 3 // by the system: payment closed or failed, operator
)

var releaseReasonNames = [...]string{"", "cancelled", "expired", "refused"}

// String returns the reason's stable name.
func (r ReleaseReason) String() string { return releaseReasonNames[r] }

// RequestID is a client request id (an idempotency key, hashed by the
// caller to 16 bytes). The zero value means "no idempotency".
type RequestID [16]byte

// HoldRequest asks for seats. Either Seats names them (manual choice) or
// Count asks for best-available seats.
type HoldRequest struct {
	Program    string
	User       uint64    // the buyer, >= 1
	RequestID  RequestID // same user, program and id within the TTL: the first outcome again (see request.go)
	Category   string    // "" = any category
	Count      int       // best-available: 1..MaxSeatsPerHold; manual: 0 or len(Seats)
	Together   bool      // best-available: all seats in one block; false allows splitting when no block exists
	Accessible bool      // best-available: accessible seats only
	// Prefer asks best-available for a block holding a seat at that
	// position (window, aisle), falling back to any (see pickBest).
	Prefer   SeatPosition
	From, To int      // leg range [From, To); To == 0 means the last stop
	Seats    []string // manual choice: seat ids
	Holders  []Holder // real-name programs: one per seat, in seat order of the request, IDNumber normalised
	// CheckTotal asks the engine to refuse the hold when ExpectedTotalCents
	// is below the real total (the client saw an older, lower price).
	CheckTotal         bool
	ExpectedTotalCents int64
}

// HoldOutcome is the result of Hold.
type HoldOutcome struct {
	Result   Result
	BadSeat  string // the first offending seat id, for seat results
	Fault    Fault  // what was wrong, for refusals (see Hold)
	Replayed bool   // the request id matched an earlier attempt: this is its outcome
	Hold     HoldInfo
}

// HoldInfo is a read-only view of a hold. Seats and Holders are shared with
// the engine: never modify them.
type HoldInfo struct {
	ID         HoldID
	OrderNo    OrderNo
	Program    *Program
	User       uint64
	Status     HoldStatus
	Reason     ReleaseReason
	From, To   int
	CreatedAt  int64
	ExpiresAt  int64
	TotalCents int64
	Seats      []uint32 // seat indexes in the program, ascending
	Refunded   uint64   // bit i set: Seats[i] was refunded
	Holders    []Holder // real-name: Holders[i] holds Seats[i]
}

// hold is a hold record. It lives in Engine.holds from Hold until it is
// purged: a released hold one TTL after its expiry, and never before its
// request id's window ends (so that retries and late confirms still get a
// precise answer), a confirmed or refunded one never (refunds need it).
type hold struct {
	id        HoldID
	user      uint64
	prog      *Program
	from, to  uint8
	status    HoldStatus
	reason    ReleaseReason
	inHeap    bool // it has an entry in the expiry heap
	lingering bool // past expiry, its request id still remembered: its entry is the window's end
	retiring  bool // released, past expiry and its window: its entry is the purge time
	purged    bool // removed from Engine.holds, awaiting compaction of Engine.order
	parked    bool // held, its TTL ended while its program moves: out of the heap until thawed (move.go)
	req       RequestID
	fp        uint64 // the request's fingerprint, when req is set
	createdAt int64
	total     int64
	refunded  uint64
	seats     []uint32
	holders   []Holder
	inline    [4]uint32 // seats of small holds, saving an allocation
}

func (h *hold) expiresAt() int64 { return h.createdAt + h.prog.ttl }

// heapAt is when the hold's expiry entry is due: at expiry (expire it if
// held); then, when its request id's window outlasts the TTL (a TTL under
// RefusalGrace), at the window's end (forget the request id); then, for a
// released hold, one TTL after expiry or at the window's end, whichever
// is later (purge it).
func (h *hold) heapAt() int64 {
	switch {
	case h.retiring:
		return max(h.expiresAt()+h.prog.ttl, h.createdAt+h.prog.window())
	case h.lingering:
		return h.createdAt + h.prog.window()
	}
	return h.expiresAt()
}

// lingers reports whether a hold past its expiry still has a request id
// to remember.
func (h *hold) lingers() bool {
	return h.req != (RequestID{}) && h.prog.window() > h.prog.ttl
}

// orderNo is the hold's order number, of the group that issued it (an
// imported hold keeps its number, move.go).
func (h *hold) orderNo() OrderNo {
	return orderNo(uint64(h.id)>>GroupBits, h.id.Group(), h.user)
}

// orderNo makes the order number of a hold's sequence number.
func orderNo(seq uint64, group int, user uint64) OrderNo {
	return OrderNo(seq<<(GroupBits+GeneBits) | uint64(group)<<GeneBits | UserGene(user))
}

func (e *Engine) info(h *hold) HoldInfo {
	return HoldInfo{
		ID: h.id, OrderNo: h.orderNo(), Program: h.prog, User: h.user,
		Status: h.status, Reason: h.reason, From: int(h.from), To: int(h.to),
		CreatedAt: h.createdAt, ExpiresAt: h.expiresAt(), TotalCents: h.total,
		Seats: h.seats, Refunded: h.refunded, Holders: h.holders,
	}
}

// lapsed reports whether a held hold's TTL has ended by now, though no
// command has expired it yet: reads show it expired.
func (h *hold) lapsed(now int64) bool { return h.status == HoldHeld && now >= h.expiresAt() }

// dedupeKey is a request id as the engine remembers it: per user and
// program, for the hold's TTL.
type dedupeKey struct {
	user uint64
	prog int32
	req  RequestID
}

// GetHold returns a hold by id as it is at now, the reader's clock: a held
// hold whose TTL has ended reads as released (expired), as every command
// from then on treats it, though no command has expired it yet.
func (e *Engine) GetHold(id HoldID, now int64) (HoldInfo, bool) {
	h, ok := e.holds[id]
	if !ok {
		return HoldInfo{}, false
	}
	info := e.info(h)
	if h.lapsed(now) {
		info.Status, info.Reason = HoldReleased, ReleaseExpired
	}
	return info, true
}

// Hold locks seats for a user and a leg range until the program's TTL ends,
// all or nothing. Results, in this order, with what their Fault says:
//
//	ProgramNotFound
//	ProgramMoving, ProgramMoved (move.go)
//	(a request id seen within the TTL: its first outcome, Replayed set, or
//	 RequestReused when the id came with a different request; see request.go)
//	SaleNotOpen
//	InvalidArgument     Field: user 0, the leg range (From or To, Limit the
//	                    last stop), Count, Holders on a program that is not
//	                    real-name, a negative ExpectedTotal, an unknown
//	                    Prefer (Actual its value)
//	UnknownCategory     Field Category
//	HoldLimitExceeded   Field Count or Seats: Limit the program's MaxSeatsPerHold, Actual the seats asked
//	HoldersMismatch     real-name: Field Holders (not one per seat: Limit the
//	                    seats, Actual the holders), or Index and HolderName,
//	                    HolderIDType or HolderIDNumber (malformed, or the
//	                    same person as an earlier holder of the request)
//	HolderLimitExceeded real-name: Index, the holder already holding a seat on an overlapping range
//	UserLimitExceeded   Limit the program's MaxSeatsPerUser, Actual the seats the user has
//	TooManyHolds
//	OutboxFull
//	manual, per seat in request order: UnknownSeat, InvalidArgument (repeated),
//	  WrongCategory, SeatBlocked, SeatTaken — Field Seats, Index and BadSeat name the seat
//	best-available: SoldOut (fewer eligible free seats than Count),
//	  NoAdjacentSeats (Together and no block of Count)
//	PriceMismatch       Field ExpectedTotal, Actual the real total
//	RefusalsFull        a refusal to remember, and no room (see request.go)
func (e *Engine) Hold(now int64, req *HoldRequest) HoldOutcome {
	now = e.advance(now)
	p, ok := e.Program(req.Program)
	if !ok {
		return HoldOutcome{Result: ResultProgramNotFound, Fault: noFault}
	}
	if r := p.moving(); r != ResultOK {
		return HoldOutcome{Result: r, Fault: noFault}
	}
	var fp uint64
	var k dedupeKey
	keyed := req.RequestID != (RequestID{})
	if keyed {
		fp = e.fingerprint(req, p.legs)
		k = dedupeKey{req.User, p.idx, req.RequestID}
		if out, ok := e.lookupRequest(p, req, k, fp); ok {
			return out
		}
	}
	r, f, h := e.hold(now, p, req, fp)
	if keyed && remembered(r) && !e.rememberRefusal(k, fp, r, f) {
		return HoldOutcome{Result: ResultRefusalsFull, Fault: noFault}
	}
	out := HoldOutcome{Result: r, Fault: f}
	if h != nil {
		out.Hold = e.info(h)
	} else if f.Field == FieldSeats && f.Index >= 0 {
		out.BadSeat = req.Seats[f.Index]
	}
	return out
}

// hold is Hold past the request id: the result and fault, and the hold
// when one was placed.
func (e *Engine) hold(now int64, p *Program, req *HoldRequest, fp uint64) (Result, Fault, *hold) {
	refuse := func(r Result, f Fault) (Result, Fault, *hold) { return r, f, nil }
	if !p.open {
		return refuse(ResultSaleNotOpen, noFault)
	}
	from, to, f := p.checkRange(req.From, req.To)
	manual := len(req.Seats) > 0
	n := req.Count
	countField := FieldCount
	if manual {
		if f.Field == FieldNone && n != 0 && n != len(req.Seats) {
			f = Fault{Field: FieldCount, Index: -1, Limit: int64(len(req.Seats)), Actual: int64(n)}
		}
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
	case !req.Prefer.Valid():
		f = Fault{Field: FieldPrefer, Index: -1, Actual: int64(req.Prefer)}
	case !p.realName && len(req.Holders) > 0:
		f = Fault{Field: FieldHolders, Index: -1, Actual: int64(len(req.Holders))}
	}
	if f.Field != FieldNone {
		return refuse(ResultInvalidArgument, f)
	}
	cat := -1
	if req.Category != "" {
		c, ok := p.catIndex[req.Category]
		if !ok {
			return refuse(ResultUnknownCategory, Fault{Field: FieldCategory, Index: -1})
		}
		cat = int(c)
	}
	if n > p.maxPerHold {
		return refuse(ResultHoldLimitExceeded, Fault{Field: countField, Index: -1, Limit: int64(p.maxPerHold), Actual: int64(n)})
	}
	if p.realName {
		if r, f := p.checkHolders(req.Holders, n, from, to, now); r != ResultOK {
			return refuse(r, f)
		}
	}
	if has := int(p.userSeats[req.User]); has+n > p.maxPerUser {
		return refuse(ResultUserLimitExceeded, Fault{Field: countField, Index: -1, Limit: int64(p.maxPerUser), Actual: int64(has)})
	}
	if e.live >= e.cfg.MaxLiveHolds || len(e.holds) >= e.cfg.MaxHolds {
		return refuse(ResultTooManyHolds, noFault)
	}
	if len(e.pending()) >= e.cfg.MaxOutbox {
		return refuse(ResultOutboxFull, noFault)
	}

	e.picks = e.picks[:0]
	if manual {
		if r, i := e.pickManual(p, req.Seats, cat, from, to); r != ResultOK {
			return refuse(r, Fault{Field: FieldSeats, Index: i})
		}
		if p.refuseOrphans {
			if i := e.strandingPick(p, from, to); i >= 0 {
				return refuse(ResultOrphanSeat, Fault{Field: FieldSeats, Index: i})
			}
		}
	} else if r := e.pickBest(p, cat, n, from, to, req.Accessible, req.Together, req.Prefer); r != ResultOK {
		return refuse(r, noFault)
	}
	var total int64
	for _, pk := range e.picks {
		total += p.cats[p.seatCat[pk.seat]].PriceCents
	}
	if req.CheckTotal && req.ExpectedTotalCents < total {
		return refuse(ResultPriceMismatch, Fault{Field: FieldExpectedTotal, Index: -1, Actual: total})
	}

	e.seq++
	h := &hold{
		id: HoldID(e.seq<<GroupBits | uint64(e.cfg.Group)), user: req.User, prog: p,
		from: from, to: to, status: HoldHeld, req: req.RequestID, fp: fp, createdAt: now, total: total, inHeap: true,
	}
	// Seats are kept sorted by index; holders follow their seats.
	if len(e.picks) > 1 {
		slices.SortFunc(e.picks, func(a, b pick) int { return int(a.seat) - int(b.seat) })
	}
	if n <= len(h.inline) {
		h.seats = h.inline[:n:n]
	} else {
		h.seats = make([]uint32, n)
	}
	for i, pk := range e.picks {
		h.seats[i] = pk.seat
	}
	if p.realName {
		// Manual holds name a holder per named seat; best-available holds
		// give the holders to the chosen seats in seat order.
		h.holders = make([]Holder, n)
		for i, pk := range e.picks {
			if manual {
				h.holders[i] = req.Holders[pk.order]
			} else {
				h.holders[i] = req.Holders[i]
			}
		}
	}
	e.place(h)
	e.emit(EventHoldPlaced, h, h.seats, h.total)
	return ResultOK, noFault, h
}

// place records a new hold: seats held, counters, indexes, expiry.
func (e *Engine) place(h *hold) {
	p := h.prog
	e.touch(p)
	for _, s := range h.seats {
		p.move(s, h.from, h.to, SeatFree, SeatHeld)
	}
	p.updateRuns(h.seats, h.from, h.to, false)
	e.index(h)
}

// index adds a hold to the engine's maps and the program's per-user and
// per-holder indexes (also used when decoding a snapshot).
func (e *Engine) index(h *hold) {
	p := h.prog
	e.holds[h.id] = h
	e.order = append(e.order, h)
	if h.status == HoldHeld {
		e.live++
	}
	if h.status == HoldHeld || h.status == HoldConfirmed {
		p.userSeats[h.user] += int32(len(h.seats) - bits.OnesCount64(h.refunded))
		for i := range h.holders {
			if h.refunded&(1<<i) == 0 {
				k := holderKey(&h.holders[i])
				p.holders[k] = append(p.holders[k], holderRange{h.from, h.to, h.id})
			}
		}
	}
	if h.inHeap {
		e.expiry.push(expiryEntry{at: h.heapAt(), id: h.id})
		if !h.retiring && h.req != (RequestID{}) {
			e.rememberHold(dedupeKey{h.user, p.idx, h.req}, h.id)
		}
	}
}

// checkHolders validates real-name holders: one per seat, each well
// formed (checkHolder), no person twice in the request, and none already
// holding a seat on an overlapping range. The Fault names the holder.
func (p *Program) checkHolders(hs []Holder, n int, from, to uint8, now int64) (Result, Fault) {
	if len(hs) != n {
		return ResultHoldersMismatch, Fault{Field: FieldHolders, Index: -1, Limit: int64(n), Actual: int64(len(hs))}
	}
	for i := range hs {
		h := &hs[i]
		if f := checkHolder(h, now); f != FieldNone {
			return ResultHoldersMismatch, Fault{Field: f, Index: i}
		}
		for j := range hs[:i] {
			if hs[j].IDNumber == h.IDNumber {
				return ResultHoldersMismatch, Fault{Field: FieldHolderIDNumber, Index: i}
			}
		}
		for _, r := range p.holders[holderKey(h)] {
			if r.from < to && from < r.to {
				return ResultHolderLimitExceeded, Fault{Field: FieldHolderIDNumber, Index: i}
			}
		}
	}
	return ResultOK, noFault
}

// unindexHolders removes the real-name ranges of the seats of h in mask.
func (p *Program) unindexHolders(h *hold, mask uint64) {
	for i := range h.holders {
		if mask&(1<<i) == 0 {
			continue
		}
		k := holderKey(&h.holders[i])
		rs := p.holders[k]
		if j := slices.IndexFunc(rs, func(r holderRange) bool { return r.hold == h.id }); j >= 0 {
			rs = slices.Delete(rs, j, j+1)
		}
		if len(rs) == 0 {
			delete(p.holders, k)
		} else {
			p.holders[k] = rs
		}
	}
}

// Confirm marks a hold's seats sold (the buyer paid). Confirming a confirmed
// or refunded hold is a no-op with ResultOK, so retries are safe. Results,
// in order: HoldNotFound, ProgramMoving or ProgramMoved (move.go),
// HoldReleased, HoldExpired (also when now is past
// the expiry and no Tick has run since: every command expires first).
func (e *Engine) Confirm(now int64, id HoldID) Result {
	e.advance(now)
	h, ok := e.holds[id]
	if !ok {
		return ResultHoldNotFound
	}
	if r := h.prog.moving(); r != ResultOK {
		return r
	}
	switch h.status {
	case HoldConfirmed, HoldRefunded:
		return ResultOK
	case HoldReleased:
		return releasedResult(h)
	}
	e.touch(h.prog)
	for _, s := range h.seats {
		h.prog.move(s, h.from, h.to, SeatHeld, SeatSold)
	}
	h.status = HoldConfirmed
	e.live--
	e.emit(EventHoldConfirmed, h, nil, 0)
	return ResultOK
}

func releasedResult(h *hold) Result {
	if h.reason == ReleaseExpired {
		return ResultHoldExpired
	}
	return ResultHoldReleased
}

// Release gives a held hold's seats back. owner 0 is the system (no owner
// check). Releasing a released hold is a no-op with ResultOK. Results, in
// order: HoldNotFound, ProgramMoving or ProgramMoved, NotOwner, HoldConfirmed (confirmed or refunded
// holds are refunded, not released), InvalidArgument (reason).
func (e *Engine) Release(now int64, id HoldID, owner uint64, reason ReleaseReason) Result {
	e.advance(now)
	h, ok := e.holds[id]
	if !ok {
		return ResultHoldNotFound
	}
	if r := h.prog.moving(); r != ResultOK {
		return r
	}
	if owner != 0 && owner != h.user {
		return ResultNotOwner
	}
	switch h.status {
	case HoldReleased:
		return ResultOK
	case HoldConfirmed, HoldRefunded:
		return ResultHoldConfirmed
	}
	if reason != ReleaseCancelled && reason != ReleaseRefused {
		return ResultInvalidArgument
	}
	e.release(h, reason)
	return ResultOK
}

func (e *Engine) release(h *hold, reason ReleaseReason) {
	p := h.prog
	if reason == ReleaseExpired {
		p.expired++
	} else {
		e.touch(p)
	}
	for _, s := range h.seats {
		p.move(s, h.from, h.to, SeatHeld, SeatFree)
	}
	p.updateRuns(h.seats, h.from, h.to, true)
	e.dropUser(h, ^uint64(0)>>(64-len(h.seats)))
	h.status, h.reason = HoldReleased, reason
	e.live--
	e.emit(EventHoldReleased, h, nil, 0)
}

// dropUser removes the seats of h in mask from the per-user and real-name
// indexes.
func (e *Engine) dropUser(h *hold, mask uint64) {
	p := h.prog
	n := p.userSeats[h.user] - int32(bits.OnesCount64(mask))
	if n == 0 {
		delete(p.userSeats, h.user)
	} else {
		p.userSeats[h.user] = n
	}
	if h.holders != nil {
		p.unindexHolders(h, mask)
	}
}

// Refund gives back some or all seats of a confirmed hold (seats nil or
// empty: every seat not refunded yet). The seats go back on sale if the
// program resells refunds, else they are blocked. It returns the refunded
// amount. Results, in order: HoldNotFound, ProgramMoving or ProgramMoved,
// NotConfirmed (held or released),
// AlreadyRefunded (a refunded hold), InvalidArgument (too many or repeated
// seats), then per seat: SeatNotInHold, AlreadyRefunded.
func (e *Engine) Refund(now int64, id HoldID, seats []string) (Result, int64, string) {
	e.advance(now)
	h, ok := e.holds[id]
	if !ok {
		return ResultHoldNotFound, 0, ""
	}
	if r := h.prog.moving(); r != ResultOK {
		return r, 0, ""
	}
	switch h.status {
	case HoldHeld, HoldReleased:
		return ResultNotConfirmed, 0, ""
	case HoldRefunded:
		return ResultAlreadyRefunded, 0, ""
	}
	p := h.prog
	var mask uint64
	if len(seats) == 0 {
		mask = ^h.refunded & (^uint64(0) >> (64 - len(h.seats)))
	} else {
		if len(seats) > len(h.seats) {
			return ResultInvalidArgument, 0, ""
		}
		for _, sid := range seats {
			s, ok := p.lookupSeat(sid)
			i := -1
			if ok {
				i = slices.Index(h.seats, s)
			}
			switch {
			case i < 0:
				return ResultSeatNotInHold, 0, sid
			case mask&(1<<i) != 0:
				return ResultInvalidArgument, 0, sid
			case h.refunded&(1<<i) != 0:
				return ResultAlreadyRefunded, 0, sid
			}
			mask |= 1 << i
		}
	}
	next := SeatBlocked
	if p.refundResells {
		next = SeatFree
	}
	e.touch(p)
	var amount int64
	changed := make([]uint32, 0, bits.OnesCount64(mask))
	for i, s := range h.seats {
		if mask&(1<<i) == 0 {
			continue
		}
		p.move(s, h.from, h.to, SeatSold, next)
		amount += p.cats[p.seatCat[s]].PriceCents
		changed = append(changed, s)
	}
	if next == SeatFree {
		p.updateRuns(changed, h.from, h.to, true)
	}
	e.dropUser(h, mask)
	h.refunded |= mask
	if bits.OnesCount64(h.refunded) == len(h.seats) {
		h.status = HoldRefunded
	}
	e.emit(EventSeatsRefunded, h, changed, amount)
	return ResultOK, amount, ""
}

// Tick expires every held hold whose TTL has ended by now, forgets the
// request ids and refusals whose window has ended, and purges released
// holds one TTL after their expiry. It appends the ids of the holds it
// expired to expired and returns it. Every command does the same first
// (see advance), so Tick only tidies: it matters when no other command
// comes, to expire holds and emit their events.
func (e *Engine) Tick(now int64, expired []HoldID) []HoldID {
	e.now = max(e.now, now)
	return e.tidy(expired)
}

// tidy is Tick at the engine's clock.
func (e *Engine) tidy(expired []HoldID) []HoldID {
	now := e.now
	e.expireRefusals()
	for len(e.expiry) > 0 && e.expiry[0].at <= now {
		h := e.holds[e.expiry.pop().id]
		if h.retiring {
			e.purge(h)
			continue
		}
		if h.status == HoldHeld && h.prog.moveSt != moveNone {
			h.inHeap, h.parked = false, true // its group will expire it (move.go)
			continue
		}
		if h.status == HoldHeld {
			e.release(h, ReleaseExpired)
			expired = append(expired, h.id)
		}
		if !h.lingering && h.lingers() {
			h.lingering = true
			e.expiry.push(expiryEntry{at: h.heapAt(), id: h.id})
			continue
		}
		h.lingering = false
		if h.req != (RequestID{}) {
			e.forgetHold(dedupeKey{h.user, h.prog.idx, h.req}, h.id)
		}
		if h.status == HoldReleased {
			h.retiring = true
			e.expiry.push(expiryEntry{at: h.heapAt(), id: h.id})
		} else {
			h.inHeap = false
		}
	}
	return expired
}

// purge forgets a hold. Engine.order drops purged holds once they are half
// of it, so keeping ids in order costs O(1) amortized per hold.
func (e *Engine) purge(h *hold) {
	delete(e.holds, h.id)
	h.purged = true
	e.purged++
	if e.purged > len(e.order)/2 {
		e.order = slices.DeleteFunc(e.order, func(h *hold) bool { return h.purged })
		e.purged = 0
	}
}

// NextExpiry returns the earliest time a Tick has work to do, if any.
func (e *Engine) NextExpiry() (int64, bool) {
	if len(e.expiry) == 0 {
		return 0, false
	}
	return e.expiry[0].at, true
}

// expiryEntry is a hold's place in the expiry heap, ordered by time then id
// so that the order of expiry is total and the same on every replica.
type expiryEntry struct {
	at int64
	id HoldID
}

func (a expiryEntry) less(b expiryEntry) bool {
	return a.at < b.at || (a.at == b.at && a.id < b.id)
}

// expiryHeap is a binary min-heap of expiryEntry (typed, so that pushing
// does not box values the way container/heap does).
type expiryHeap []expiryEntry

func (h *expiryHeap) push(x expiryEntry) {
	*h = append(*h, x)
	s := *h
	i := len(s) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !s[i].less(s[parent]) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

func (h *expiryHeap) pop() expiryEntry {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(s) && s[l].less(s[m]) {
			m = l
		}
		if r < len(s) && s[r].less(s[m]) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}
