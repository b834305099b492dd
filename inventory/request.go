package inventory

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"time"
)

// Idempotent holds: the engine remembers the outcome of each request id
// (per user and program) for the program's window (its hold TTL, never
// less than RefusalGrace), counted from the first outcome, so that every
// attempt of one request gets the answer the first one to apply got: its
// hold or its refusal (Engine.requests). Each record keeps a fingerprint of the request,
// so that a request id reused for a different request is refused
// (ResultRequestReused) instead of answered with another request's outcome.
//
// Not every refusal is remembered:
//
//   - refusals that follow from the request and the program's fixed settings
//     alone (malformed fields, an unknown category or seat, more seats than a
//     hold may take, holders that do not match) are not: the same request is
//     refused the same way every time, so there is nothing to remember, and
//     the request id stays unused, as a request that failed validation;
//   - refusals for capacity (TooManyHolds, OutboxFull, RefusalsFull) are
//     not: they say "retry", and a retry must be able to succeed;
//   - every other refusal depends on the state of the sale (SaleNotOpen,
//     HolderLimitExceeded, UserLimitExceeded, SeatBlocked, SeatTaken, SoldOut,
//     NoAdjacentSeats, PriceMismatch) and is remembered.
//
// The refusal table is bounded by Config.MaxRefusals. When it is full, the
// oldest refusal is forgotten if it is older than RefusalGrace (an attempt
// of its request can no longer be in flight, so forgetting it cannot turn a
// definite answer into another); otherwise the hold is refused with
// RefusalsFull, which callers answer as "overloaded, retry".

// RefusalGrace is how long a remembered refusal is kept even when the
// refusal table is full: longer than any attempt of a request can stay in
// flight (a gateway gives up on a request after seconds, and a Raft entry
// proposed to a deposed leader is committed or dropped within an election).
const RefusalGrace = int64(time.Minute)

// Field names the part of a command that a refusal is about, in the
// engine's terms; adapters name it as their callers wrote it.
type Field uint8

// Fields. Never renumber: remembered refusals keep them.
const (
	FieldNone           Field = 0
	FieldUser           Field = 1  // HoldRequest.User
	FieldFrom           Field = 2  // HoldRequest.From, BlockRequest.From
	FieldTo             Field = 3  // HoldRequest.To, BlockRequest.To
	FieldCount          Field = 4  // HoldRequest.Count
	FieldSeats          Field = 5  // HoldRequest.Seats, BlockRequest.Seats, refund seats
	FieldHolders        Field = 6  // HoldRequest.Holders as a whole (their number)
	FieldHolderName     Field = 7  // HoldRequest.Holders[Index].Name
	FieldHolderIDNumber Field = 8  // HoldRequest.Holders[Index].IDNumber
	FieldHolderIDType   Field = 9  // HoldRequest.Holders[Index].IDType
	FieldExpectedTotal  Field = 10 // HoldRequest.ExpectedTotalCents
	FieldCategory       Field = 11 // HoldRequest.Category
	FieldReason         Field = 12 // a release's reason
	FieldPrefer         Field = 13 // HoldRequest.Prefer
)

var fieldNames = [...]string{"", "user", "from", "to", "count", "seats", "holders", "holders.name", "holders.id_number",
	"holders.id_type", "expected_total_cents", "category", "reason", "prefer"}

// String returns the field's name in the engine's terms.
func (f Field) String() string {
	if int(f) < len(fieldNames) {
		return fieldNames[f]
	}
	return "field"
}

// Fault is the machine-readable part of a refusal: which field was wrong,
// which item of a list field, the bound that was passed and the value
// found. Each part is set only where the result's documentation says so;
// the zero value (with Index -1) says nothing more than the result.
type Fault struct {
	Field  Field
	Index  int   // position in HoldRequest.Seats or Holders, or -1
	Limit  int64 // the bound passed, or the largest value allowed; 0 if none
	Actual int64 // what was found: a real total in cents, the seats a user has; 0 if none
}

// noFault is a Fault that says nothing.
var noFault = Fault{Index: -1}

// refusal is a remembered refusal. It keeps the offending item's index,
// not the item: a replay carries the same request (the fingerprint says
// so), so the item is the replay's own.
type refusal struct {
	fp     uint64
	at     int64 // when the request was refused
	actual int64
	limit  int64
	result Result
	field  Field
	index  int16 // -1 none
}

// request is a remembered request id: the hold it placed, or its refusal.
type request struct {
	hold    HoldID   // 0 for a refusal
	refusal *refusal // nil for a hold
}

// rememberHold keeps a hold's request id for its window. A lapsed refusal
// of the same id gives way (its queue entry goes stale).
func (e *Engine) rememberHold(k dedupeKey, id HoldID) {
	if old, ok := e.requests[k]; ok && old.refusal != nil {
		e.refusals--
	}
	e.requests[k] = request{hold: id}
}

// forgetHold forgets a hold's request id at the end of its window.
func (e *Engine) forgetHold(k dedupeKey, id HoldID) {
	if e.requests[k].hold == id {
		delete(e.requests, k)
	}
}

// refusalEntry is a refusal's place in Engine.refusalQ, oldest first.
type refusalEntry struct {
	key dedupeKey
	at  int64
}

// remembered reports whether a refusal with result r is kept for replays.
func remembered(r Result) bool {
	switch r {
	case ResultSaleNotOpen, ResultHolderLimitExceeded, ResultUserLimitExceeded, ResultSeatBlocked, ResultSeatTaken,
		ResultSoldOut, ResultNoAdjacentSeats, ResultPriceMismatch, ResultOrphanSeat:
		return true
	}
	return false
}

// fingerprint hashes what makes two hold requests the same request: every
// field but the request id, user and program (which key the record), with
// the defaults resolved (To 0 is the last stop; a manual Count 0 is the
// number of seats), in a length-prefixed encoding, through SHA-256, of
// which it keeps 64 bits. It is deterministic on every replica. Making a
// request with the fingerprint of a given one takes about 2^64 hashes, so
// a different request is never answered with another's outcome; two
// colliding requests of one's own choosing take about 2^32, and answer
// that buyer with the buyer's own other request.
func (e *Engine) fingerprint(r *HoldRequest, legs int) uint64 {
	to, count := r.To, r.Count
	if to == 0 {
		to = legs
	}
	if len(r.Seats) > 0 && count == 0 {
		count = len(r.Seats)
	}
	var flags byte
	if r.Together {
		flags |= 1
	}
	if r.Accessible {
		flags |= 2
	}
	if r.CheckTotal {
		flags |= 4
	}
	flags |= byte(r.Prefer) << 3 // 0 without one: older fingerprints stay as they were
	str := func(b []byte, s string) []byte { return append(binary.AppendUvarint(b, uint64(len(s))), s...) }
	b := str(e.fpBuf[:0], r.Category)
	b = binary.AppendVarint(b, int64(count))
	b = append(b, flags)
	b = binary.AppendVarint(b, int64(r.From))
	b = binary.AppendVarint(b, int64(to))
	b = binary.AppendVarint(b, r.ExpectedTotalCents)
	b = binary.AppendUvarint(b, uint64(len(r.Seats)))
	for _, s := range r.Seats {
		b = str(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Holders)))
	for _, hd := range r.Holders {
		b = append(str(b, hd.Name), byte(hd.IDType))
		b = str(b, hd.IDNumber)
	}
	sum := sha256.Sum256(b)
	// Keep the scratch for the next hold, unless a rare big request grew it.
	if cap(b) <= maxFingerprintScratch {
		e.fpBuf = b
	}
	return binary.LittleEndian.Uint64(sum[:8])
}

// maxFingerprintScratch bounds the buffer the engine keeps for
// fingerprints: enough for any usual hold request.
const maxFingerprintScratch = 4 << 10

// lookupRequest returns the remembered outcome of a request id, if any:
// the first hold or refusal again, or RequestReused when the id was used
// for a different request.
func (e *Engine) lookupRequest(p *Program, req *HoldRequest, k dedupeKey, fp uint64) (HoldOutcome, bool) {
	rec, ok := e.requests[k]
	if !ok {
		return HoldOutcome{}, false
	}
	if rec.refusal == nil {
		h := e.holds[rec.hold]
		if h.fp != fp {
			return HoldOutcome{Result: ResultRequestReused, Fault: noFault}, true
		}
		return HoldOutcome{Result: ResultOK, Replayed: true, Hold: e.info(h), Fault: noFault}, true
	}
	r := rec.refusal
	if e.now >= r.at+p.window() {
		return HoldOutcome{}, false
	}
	if r.fp != fp {
		return HoldOutcome{Result: ResultRequestReused, Fault: noFault}, true
	}
	out := HoldOutcome{Result: r.result, Replayed: true,
		Fault: Fault{Field: r.field, Index: int(r.index), Limit: r.limit, Actual: r.actual}}
	if r.field == FieldSeats && r.index >= 0 && int(r.index) < len(req.Seats) {
		out.BadSeat = req.Seats[r.index]
	}
	return out, true
}

// rememberRefusal keeps a refusal for the request's window. It reports
// false when the table is full and its oldest refusal is younger than
// RefusalGrace.
func (e *Engine) rememberRefusal(k dedupeKey, fp uint64, r Result, f Fault) bool {
	if e.refusals >= e.cfg.MaxRefusals {
		e.skipStaleRefusals()
		if e.now-e.refusalQ[e.refusalHead].at < RefusalGrace {
			return false
		}
		e.popRefusal()
	}
	if _, lapsed := e.requests[k]; !lapsed {
		e.refusals++
	}
	e.requests[k] = request{refusal: &refusal{fp: fp, at: e.now, result: r, field: f.Field, index: int16(f.Index), limit: f.Limit, actual: f.Actual}}
	e.refusalQ = append(e.refusalQ, refusalEntry{key: k, at: e.now})
	if len(e.refusalQ)-e.refusalHead > 2*e.cfg.MaxRefusals {
		// Stale entries (see popRefusal) are more than half: drop them,
		// so the queue stays within twice the table.
		live := slices.DeleteFunc(e.refusalQ[e.refusalHead:], func(en refusalEntry) bool { return !e.liveRefusal(en) })
		n := copy(e.refusalQ, live)
		clear(e.refusalQ[n:])
		e.refusalQ, e.refusalHead = e.refusalQ[:n], 0
	}
	return true
}

// liveRefusal reports whether a queue entry is its key's current record.
// A key refused again, or given a hold, after its refusal lapsed has a
// newer record; the older entry is stale and stands for nothing.
func (e *Engine) liveRefusal(en refusalEntry) bool {
	r := e.requests[en.key].refusal
	return r != nil && r.at == en.at
}

// skipStaleRefusals drops stale entries from the front of the queue, so
// that its head is the oldest remembered refusal.
func (e *Engine) skipStaleRefusals() {
	for e.refusalHead < len(e.refusalQ) && !e.liveRefusal(e.refusalQ[e.refusalHead]) {
		e.popRefusal()
	}
}

// popRefusal forgets the queue's head.
func (e *Engine) popRefusal() {
	head := e.refusalQ[e.refusalHead]
	if e.liveRefusal(head) {
		delete(e.requests, head.key)
		e.refusals--
	}
	e.refusalQ[e.refusalHead] = refusalEntry{}
	e.refusalQ, e.refusalHead = reclaim(e.refusalQ, e.refusalHead+1)
}

// expireRefusals forgets the refusals whose window has ended, oldest
// first. A long-TTL program's refusal at the head keeps younger ones of
// short-TTL programs a little longer than their window; lookups check the
// window, so this only delays freeing memory.
func (e *Engine) expireRefusals() {
	for e.refusalHead < len(e.refusalQ) {
		head := e.refusalQ[e.refusalHead]
		if e.now < head.at+e.programs[head.key.prog].window() {
			return
		}
		e.popRefusal()
	}
}
