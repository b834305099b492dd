package inventory

import (
	"fmt"
	"math/bits"
)

// Check verifies every invariant of the engine's state and returns the first
// violation. It runs after every step in tests and after decoding a
// snapshot; it is O(seats x legs + holds) and never changes state.
//
//   - per seat and leg, at most one of free, sold, blocked; no bits outside
//     the layout
//   - every held seat-leg belongs to exactly one live hold, every sold one
//     to exactly one confirmed hold's unrefunded seat, and no seat is in two
//     such holds on an overlapping leg
//   - free + held + sold + blocked = capacity per shard and leg, and the
//     counters match the bitsets
//   - the longest-run summary never understates a row, and is exact
//     unless flagged stale; rows in a list's full prefix have no free seat
//   - the outbox numbers its events without gaps after the acknowledged one
//   - per-user seats, the real-name index, the live count, the request-id
//     table and the expiry heap match the holds; held and released holds
//     wait in the heap
func (e *Engine) Check() error {
	owner := make(map[*Program][]HoldID)
	for _, p := range e.programs {
		owner[p] = make([]HoldID, len(p.seatRow)*p.legs)
	}
	live, inHeap, withReq := 0, 0, 0
	users := make(map[*Program]map[uint64]int32)
	holders := make(map[*Program]map[string]int)
	for id, h := range e.holds {
		p := h.prog
		if h.id != id {
			return fmt.Errorf("hold %d: filed under %d", h.id, id)
		}
		if h.createdAt > e.now || uint64(id)>>GroupBits > e.seq {
			return fmt.Errorf("hold %d: from the future (created %d, now %d)", id, h.createdAt, e.now)
		}
		if h.inHeap {
			inHeap++
		}
		if (h.inHeap || h.parked) && !h.retiring && h.req != (RequestID{}) {
			withReq++
		}
		if h.parked && (h.inHeap || h.status != HoldHeld || p.moveSt == moveNone) {
			return fmt.Errorf("hold %d: parked but %v, program moving %v", id, h.status, p.moveSt)
		}
		if !h.inHeap && !h.parked && (h.status == HoldHeld || h.status == HoldReleased) {
			return fmt.Errorf("hold %d: %v but not waiting for expiry", id, h.status)
		}
		if h.retiring && (h.status != HoldReleased || !h.inHeap) {
			return fmt.Errorf("hold %d: retiring but %v", id, h.status)
		}
		if h.lingering && (h.retiring || !h.inHeap || h.status == HoldHeld || !h.lingers()) {
			return fmt.Errorf("hold %d: lingering but %v, retiring %v", id, h.status, h.retiring)
		}
		if h.from >= h.to || int(h.to) > p.legs || len(h.seats) == 0 || len(h.seats) > MaxSeatsPerHoldLimit {
			return fmt.Errorf("hold %d: range %d-%d, %d seats", id, h.from, h.to, len(h.seats))
		}
		if h.holders != nil && len(h.holders) != len(h.seats) {
			return fmt.Errorf("hold %d: %d holders for %d seats", id, len(h.holders), len(h.seats))
		}
		for i := range h.holders {
			if f := checkHolder(&h.holders[i], e.now); f != FieldNone {
				return fmt.Errorf("hold %d: holder %d: bad %v", id, i, f)
			}
		}
		var total int64
		for i, s := range h.seats {
			if int(s) >= len(p.seatRow) || (i > 0 && s <= h.seats[i-1]) {
				return fmt.Errorf("hold %d: seats not ascending or out of range", id)
			}
			total += p.cats[p.seatCat[s]].PriceCents
		}
		if total != h.total {
			return fmt.Errorf("hold %d: total %d, seats add up to %d", id, h.total, total)
		}
		if h.refunded>>len(h.seats) != 0 || (h.refunded != 0 && h.status != HoldConfirmed && h.status != HoldRefunded) ||
			(h.status == HoldRefunded) != (bits.OnesCount64(h.refunded) == len(h.seats)) {
			return fmt.Errorf("hold %d: %v with refunded mask %b", id, h.status, h.refunded)
		}
		if h.status != HoldHeld && h.status != HoldConfirmed {
			continue
		}
		if h.status == HoldHeld {
			live++
		}
		if users[p] == nil {
			users[p] = make(map[uint64]int32)
			holders[p] = make(map[string]int)
		}
		for i, s := range h.seats {
			if h.refunded&(1<<i) != 0 {
				continue
			}
			users[p][h.user]++
			if h.holders != nil {
				holders[p][holderKey(&h.holders[i])]++
			}
			for l := h.from; l < h.to; l++ {
				o := &owner[p][int(s)*p.legs+int(l)]
				if *o != 0 {
					return fmt.Errorf("seat %s leg %d: in holds %d and %d", p.seatID(s), l, *o, id)
				}
				*o = id
				want := SeatHeld
				if h.status == HoldConfirmed {
					want = SeatSold
				}
				if got := p.status(s, l); got != want {
					return fmt.Errorf("seat %s leg %d: %v, hold %d says %v", p.seatID(s), l, got, id, want)
				}
			}
		}
	}
	kept := 0
	for i, h := range e.order {
		if i > 0 && h.id <= e.order[i-1].id {
			return fmt.Errorf("hold order: %d after %d", h.id, e.order[i-1].id)
		}
		if !h.purged {
			kept++
			if e.holds[h.id] != h {
				return fmt.Errorf("hold order: %d not kept", h.id)
			}
		}
	}
	if kept != len(e.holds) || len(e.order)-kept != e.purged {
		return fmt.Errorf("hold order: %d kept, %d purged, for %d holds and %d purged", kept, len(e.order)-kept, len(e.holds), e.purged)
	}
	if live != e.live {
		return fmt.Errorf("live holds: counted %d, kept %d", live, e.live)
	}
	if inHeap != len(e.expiry) {
		return fmt.Errorf("expiry heap: %d entries for %d waiting holds", len(e.expiry), inHeap)
	}
	for i, ent := range e.expiry {
		h, ok := e.holds[ent.id]
		if !ok || !h.inHeap || ent.at != h.heapAt() || (i > 0 && ent.less(e.expiry[(i-1)/2])) {
			return fmt.Errorf("expiry heap: bad entry %d for hold %d", i, ent.id)
		}
	}
	if withReq != len(e.requests)-e.refusals {
		return fmt.Errorf("request id table: %d holds' entries for %d holds with request ids", len(e.requests)-e.refusals, withReq)
	}
	for k, rec := range e.requests {
		if rec.refusal != nil {
			continue
		}
		id := rec.hold
		h, ok := e.holds[id]
		if !ok || !h.inHeap && !h.parked || h.retiring || h.req != k.req || h.user != k.user || h.prog.idx != k.prog {
			return fmt.Errorf("request id table: stale entry for hold %d", id)
		}
	}
	if err := e.checkRefusals(); err != nil {
		return err
	}
	for i, p := range e.programs {
		if p.idx != int32(i) || e.programIndex[p.id] != p.idx {
			return fmt.Errorf("program %s: index %d at %d", p.id, p.idx, i)
		}
		if err := p.check(owner[p], users[p], holders[p]); err != nil {
			return fmt.Errorf("program %s: %w", p.id, err)
		}
	}
	pending := e.pending()
	if uint64(len(pending)) != e.outSeq-e.acked || e.acked > e.outSeq {
		return fmt.Errorf("outbox: %d events between acknowledged %d and last %d", len(pending), e.acked, e.outSeq)
	}
	for i, ev := range pending {
		if int(ev.prog) >= len(e.programs) || ev.at > e.now || ev.from >= ev.to || int(ev.to) > e.programs[ev.prog].legs {
			return fmt.Errorf("outbox: event %d malformed", e.acked+uint64(i)+1)
		}
	}
	if len(e.programIndex) != len(e.programs) {
		return fmt.Errorf("program index: %d entries for %d programs", len(e.programIndex), len(e.programs))
	}
	return nil
}

func (p *Program) check(owner []HoldID, users map[uint64]int32, holders map[string]int) error {
	want := make([]counts, len(p.cats)*p.legs)
	for ri := range p.rows {
		r := &p.rows[ri]
		for w := range r.nWords {
			m := p.masks[r.exists+w]
			for l := range p.legs {
				i := int(r.word0+w)*p.legs + l
				f, s, b := p.free[i], p.sold[i], p.block[i]
				if (f|s|b)&^m != 0 || f&s != 0 || f&b != 0 || s&b != 0 {
					return fmt.Errorf("row %s leg %d word %d: free %x sold %x blocked %x over seats %x", r.id, l, w, f, s, b, m)
				}
			}
		}
		for l := range p.legs {
			var buf [MaxRowWidth / 64]uint64
			for w := range r.nWords {
				buf[w] = p.free[int(r.word0+w)*p.legs+l]
			}
			v := p.maxRun[ri*p.legs+l]
			got, want := int(v&^runStale), longestRun(buf[:r.nWords])
			if got < want || (v&runStale == 0 && got != want) {
				return fmt.Errorf("row %d leg %d: longest free run %d (stale %v), really %d", ri, l, got, v&runStale != 0, want)
			}
		}
	}
	for _, list := range append([]rowList{p.byRank}, p.catRows...) {
		for _, ri := range list.rows[:list.full] {
			r := &p.rows[ri]
			for w := range r.nWords {
				for l := range p.legs {
					if p.free[int(r.word0+w)*p.legs+l] != 0 {
						return fmt.Errorf("row %d: in a list's full prefix with a free seat on leg %d", ri, l)
					}
				}
			}
		}
	}
	for s := range uint32(len(p.seatRow)) {
		for l := range uint8(p.legs) {
			st := p.status(s, l)
			c := &want[int(p.seatCat[s])*p.legs+int(l)]
			switch st {
			case SeatFree:
				c.free++
			case SeatHeld:
				c.held++
			case SeatSold:
				c.sold++
			case SeatBlocked:
				c.blocked++
			}
			if (st == SeatHeld || st == SeatSold) != (owner[int(s)*p.legs+int(l)] != 0) {
				return fmt.Errorf("seat %s leg %d: %v without a hold", p.seatID(s), l, st)
			}
		}
	}
	for i, c := range want {
		if p.counts[i] != c {
			return fmt.Errorf("category %s leg %d: counters %+v, seats %+v", p.cats[i/p.legs].ID, i%p.legs, p.counts[i], c)
		}
	}
	if len(users) != len(p.userSeats) {
		return fmt.Errorf("per-user seats: %d users, holds name %d", len(p.userSeats), len(users))
	}
	for u, n := range users {
		if p.userSeats[u] != n {
			return fmt.Errorf("user %d: %d seats counted, holds have %d", u, p.userSeats[u], n)
		}
	}
	if len(holders) != len(p.holders) {
		return fmt.Errorf("real-name index: %d id numbers, holds name %d", len(p.holders), len(holders))
	}
	for id, n := range holders {
		if len(p.holders[id]) != n {
			return fmt.Errorf("real-name index: an id number has %d ranges, holds have %d", len(p.holders[id]), n)
		}
	}
	return nil
}

// checkRefusals checks the remembered refusals: each has exactly one live
// entry in the queue, in the order they were made, within the bounds.
func (e *Engine) checkRefusals() error {
	if e.refusals > e.cfg.MaxRefusals || len(e.refusalQ)-e.refusalHead > 2*e.cfg.MaxRefusals {
		return fmt.Errorf("refusals: %d kept, %d queued, bound %d", e.refusals, len(e.refusalQ)-e.refusalHead, e.cfg.MaxRefusals)
	}
	live := 0
	var prev int64
	for i, en := range e.refusalQ[e.refusalHead:] {
		if i > 0 && en.at < prev {
			return fmt.Errorf("refusals: queue out of order at %d", i)
		}
		prev = en.at
		if !e.liveRefusal(en) {
			continue
		}
		live++
		r := e.requests[en.key].refusal
		if int(en.key.prog) >= len(e.programs) || !remembered(r.result) || r.at > e.now {
			return fmt.Errorf("refusals: entry %d malformed", i)
		}
	}
	if live != e.refusals {
		return fmt.Errorf("refusals: %d live queue entries for %d kept", live, e.refusals)
	}
	return nil
}
