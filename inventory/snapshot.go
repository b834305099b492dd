package inventory

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/bits"
	"time"
)

// Snapshot format. All integers are varints (signed ones zig-zag), strings
// are a length and bytes.
//
//	magic "seatdsn" | version byte
//	group | now | seq | programs | holds | outbox | refusals
//	CRC-32C of everything before it, 4 bytes little endian
//
// A program is its description in canonical form (sections, rows, and seats
// sorted by column; per row the column gaps, category runs, flagged seats
// and custom labels, each only when present) plus its blocked seat-legs,
// then its version. Its flags byte says whether a focal point follows it
// (bit 128) and whether a position follows each section's name (bit 64):
// a program without them, as every one written before they existed,
// encodes to the same bytes as then. A hold is its fields in id order,
// status and flags in one byte, seats as deltas, and, while its request id
// is remembered, the id and the request's fingerprint.
// Version 3 added, after each program, its move state (a byte) and, when
// it moves, the other group (see move.go). An engine none of whose
// programs ever moved writes version 2, as before moves existed, so that
// its snapshot stays readable by a node not upgraded yet. Version 4 is
// version 3 with one more move state, exported (MarkExported), written
// only while a program is in it, for the same reason: a node that does
// not know the state refuses the snapshot by its version.
// The outbox is its last sequence number, the events not yet acknowledged
// (their count gives the acknowledged number) and their fields.
// Refusals are the remembered ones, oldest first, with their key,
// fingerprint and fault.
// Everything else - free, held and sold bitsets, counters, run summaries,
// per-user and real-name indexes, the request-id table and the expiry
// heap - is rebuilt from those on restore, so the size is
// O(seats x legs / 8) plus holds, and the encoding of a given state is
// unique: a restored engine encodes to the same bytes.
const (
	snapshotMagic   = "seatdsn"
	snapshotVersion = 4
)

// Snapshot errors.
var (
	ErrSnapshotCorrupt = errors.New("inventory: snapshot corrupt")
	ErrSnapshotVersion = errors.New("inventory: snapshot version not supported")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// row record bits: which per-seat lists follow
const (
	rowGaps   = 1 << iota // column deltas (else columns minCol, minCol+1, ...)
	rowFlags              // flagged seats
	rowLabels             // a label per seat
)

// A hold's state byte: the low 3 bits are its status and release reason,
// the rest flags.
const (
	stateHeld byte = iota
	stateConfirmed
	stateRefunded
	stateCancelled
	stateExpired
	stateRefused
	stateCount

	holdInHeap    byte = 1 << 3
	holdHasReq    byte = 1 << 4
	holdRetiring  byte = 1 << 5
	holdRefunds   byte = 1 << 6
	holdLingering byte = 1 << 7
)

func stateOf(h *hold) byte {
	switch h.status {
	case HoldHeld:
		return stateHeld
	case HoldConfirmed:
		return stateConfirmed
	case HoldRefunded:
		return stateRefunded
	}
	return stateCancelled + byte(h.reason-ReleaseCancelled)
}

func setState(h *hold, st byte) {
	switch st {
	case stateHeld:
		h.status = HoldHeld
	case stateConfirmed:
		h.status = HoldConfirmed
	case stateRefunded:
		h.status = HoldRefunded
	default:
		h.status, h.reason = HoldReleased, ReleaseCancelled+ReleaseReason(st-stateCancelled)
	}
}

// AppendSnapshot appends the engine's encoded state to b.
func (e *Engine) AppendSnapshot(b []byte) []byte {
	start := len(b)
	b = append(b, snapshotMagic...)
	version := byte(2)
	for _, p := range e.programs {
		switch p.moveSt {
		case moveNone:
		case moveExported:
			version = snapshotVersion
		default:
			version = max(version, 3)
		}
	}
	b = append(b, version)
	b = binary.AppendUvarint(b, uint64(e.cfg.Group))
	b = binary.AppendVarint(b, e.now)
	b = binary.AppendUvarint(b, e.seq)
	b = binary.AppendUvarint(b, uint64(len(e.programs)))
	for _, p := range e.programs {
		b = p.appendTo(b)
		b = binary.AppendUvarint(b, p.version)
		b = binary.AppendUvarint(b, uint64(p.expired))
		if version >= 3 {
			b = p.appendMove(b)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(e.holds)))
	var prevID HoldID
	var prevAt int64
	for _, h := range e.order {
		if h.purged {
			continue
		}
		b = appendHold(b, h, prevID, prevAt, true)
		prevID, prevAt = h.id, h.createdAt
	}
	b = e.appendOutbox(b)
	b = e.appendRefusals(b)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// appendHold encodes one hold after the one with id prevID created at
// prevAt, with its program's index unless withProg is false (a parcel
// holds one program). A parked hold is encoded as waiting in the heap:
// restored, it is pushed back and parks again when it comes up.
func appendHold(b []byte, h *hold, prevID HoldID, prevAt int64, withProg bool) []byte {
	b = binary.AppendUvarint(b, uint64(h.id-prevID))
	b = binary.AppendUvarint(b, h.user)
	if withProg {
		b = binary.AppendUvarint(b, uint64(h.prog.idx))
	}
	f := stateOf(h)
	if h.inHeap || h.parked {
		f |= holdInHeap
		if h.retiring {
			f |= holdRetiring
		} else if h.req != (RequestID{}) {
			f |= holdHasReq
		}
		if h.lingering {
			f |= holdLingering
		}
	}
	if h.refunded != 0 {
		f |= holdRefunds
	}
	b = append(b, f)
	if h.from == 0 && int(h.to) == h.prog.legs {
		b = append(b, 0)
	} else {
		b = append(b, h.from+1, h.to)
	}
	if f&holdHasReq != 0 {
		b = append(b, h.req[:]...)
		b = binary.LittleEndian.AppendUint64(b, h.fp)
	}
	b = binary.AppendVarint(b, h.createdAt-prevAt)
	if f&holdRefunds != 0 {
		b = binary.AppendUvarint(b, h.refunded)
	}
	b = binary.AppendUvarint(b, uint64(len(h.seats)))
	prev := uint32(0)
	for _, s := range h.seats {
		b = binary.AppendUvarint(b, uint64(s-prev))
		prev = s
	}
	if h.prog.realName {
		for _, hd := range h.holders {
			b = appendString(b, hd.Name)
			b = append(b, byte(hd.IDType))
			b = appendString(b, hd.IDNumber)
		}
	}
	return b
}

// appendRefusals encodes the remembered refusals in the order they were
// made (stale queue entries stand for nothing and are left out).
func (e *Engine) appendRefusals(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(e.refusals))
	prevAt := e.now
	for _, en := range e.refusalQ[e.refusalHead:] {
		if !e.liveRefusal(en) {
			continue
		}
		b = e.appendRefusal(b, en, prevAt, uint64(en.key.prog))
		prevAt = en.at
	}
	return b
}

// appendRefusal encodes the remembered refusal of queue entry en, after
// one made at prevAt, under program index prog.
func (e *Engine) appendRefusal(b []byte, en refusalEntry, prevAt int64, prog uint64) []byte {
	r := e.requests[en.key].refusal
	b = binary.AppendUvarint(b, en.key.user)
	b = binary.AppendUvarint(b, prog)
	b = append(b, en.key.req[:]...)
	b = binary.LittleEndian.AppendUint64(b, r.fp)
	b = binary.AppendVarint(b, r.at-prevAt)
	b = append(b, byte(r.result), byte(r.field))
	b = binary.AppendVarint(b, int64(r.index))
	b = binary.AppendVarint(b, r.limit)
	return binary.AppendVarint(b, r.actual)
}

func (d *decoder) refusals(e *Engine) {
	n := d.count(30, uint64(e.cfg.MaxRefusals))
	at := e.now
	for range n {
		var k dedupeKey
		k.user = d.uvarint()
		pi := d.uvarint()
		copy(k.req[:], d.bytes(len(k.req)))
		var r refusal
		if fp := d.bytes(8); fp != nil {
			r.fp = binary.LittleEndian.Uint64(fp)
		}
		at += d.varint()
		r.at = at
		r.result, r.field = Result(d.byte()), Field(d.byte())
		index := d.varint()
		r.limit, r.actual = d.varint(), d.varint()
		if d.err != nil {
			return
		}
		if pi >= uint64(len(e.programs)) || k.user == 0 || k.req == (RequestID{}) || !remembered(r.result) ||
			int(r.field) >= len(fieldNames) || index < -1 || index >= MaxSeatsPerHoldLimit || r.at > e.now {
			d.fail("refusal malformed")
			return
		}
		if n := len(e.refusalQ); n > 0 && e.refusalQ[n-1].at > r.at {
			d.fail("refusals out of order")
			return
		}
		k.prog, r.index = int32(pi), int16(index)
		if _, dup := e.requests[k]; dup {
			d.fail("refusal twice, or of a remembered hold")
			return
		}
		e.requests[k] = request{refusal: &r}
		e.refusals++
		e.refusalQ = append(e.refusalQ, refusalEntry{key: k, at: r.at})
	}
}

func (e *Engine) appendOutbox(b []byte) []byte {
	b = binary.AppendUvarint(b, e.outSeq)
	pending := e.pending()
	b = binary.AppendUvarint(b, uint64(len(pending)))
	prevAt := e.now
	for i := range pending {
		ev := &pending[i]
		b = append(b, byte(ev.kind), byte(ev.reason), ev.from, ev.to)
		b = binary.AppendVarint(b, ev.at-prevAt)
		prevAt = ev.at
		b = binary.AppendUvarint(b, uint64(ev.hold))
		b = binary.AppendUvarint(b, ev.user)
		b = binary.AppendUvarint(b, uint64(ev.prog))
		b = binary.AppendUvarint(b, uint64(ev.amount))
		b = binary.AppendUvarint(b, uint64(len(ev.seats)))
		prev := uint32(0)
		for _, s := range ev.seats {
			b = binary.AppendUvarint(b, uint64(s-prev))
			prev = s
		}
	}
	return b
}

func (d *decoder) outbox(e *Engine) {
	e.outSeq = d.uvarint()
	n := d.count(10, uint64(e.cfg.MaxOutbox+e.cfg.MaxHolds*(MaxSeatsPerHoldLimit+2)))
	if uint64(n) > e.outSeq {
		d.fail("%d events after sequence %d", n, e.outSeq)
		return
	}
	e.acked = e.outSeq - uint64(n)
	e.outbox = make([]event, n)
	at := e.now
	for i := range e.outbox {
		ev := &e.outbox[i]
		ev.kind, ev.reason, ev.from, ev.to = EventKind(d.byte()), ReleaseReason(d.byte()), d.byte(), d.byte()
		at += d.varint()
		ev.at = at
		ev.hold = HoldID(d.uvarint())
		ev.user = d.uvarint()
		pi := d.uvarint()
		ev.amount = int64(min(d.uvarint(), MaxPriceCents*MaxSeatsPerHoldLimit+1))
		ns := d.count(1, MaxSeatsPerHoldLimit)
		if d.err != nil {
			return
		}
		if pi >= uint64(len(e.programs)) || ev.kind < EventHoldPlaced || ev.kind > EventSeatsRefunded || ev.reason > ReleaseRefused ||
			uint64(ev.hold)>>GroupBits == 0 || uint64(ev.hold)>>GroupBits > e.seq || ev.user == 0 {
			d.fail("event %d malformed", e.acked+uint64(i)+1)
			return
		}
		ev.prog = int32(pi)
		if ns > 0 {
			ev.seats = make([]uint32, ns)
		}
		s := uint64(0)
		for j := range ev.seats {
			s += d.uvarint()
			if s >= uint64(len(e.programs[pi].seatRow)) {
				d.fail("event seat out of range")
				return
			}
			ev.seats[j] = uint32(s)
		}
	}
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func (p *Program) appendTo(b []byte) []byte {
	b = p.appendDescription(b, p.open)
	// Blocked seat-legs: per seat blocked on some leg, the seat (as a delta)
	// and its legs as a mask. Rows are scanned a word at a time.
	var blocked []uint32
	for ri := range p.rows {
		r := &p.rows[ri]
		for w := range r.nWords {
			base := int(r.word0+w) * p.legs
			var any uint64
			for _, x := range p.block[base : base+p.legs] {
				any |= x
			}
			for ; any != 0; any &= any - 1 {
				blocked = append(blocked, p.seatAt(uint32(ri), uint16(w<<6)+uint16(bits.TrailingZeros64(any))))
			}
		}
	}
	b = binary.AppendUvarint(b, uint64(len(blocked)))
	prev := uint32(0)
	for _, s := range blocked {
		b = binary.AppendUvarint(b, uint64(s-prev))
		b = binary.AppendUvarint(b, p.blockedLegs(s))
		prev = s
	}
	return b
}

// AppendSpec appends the canonical encoding of the program's description,
// without its state (the sale, blocked seats): the bytes AppendProgramSpec
// gives for Spec(), without building the spec. A description never
// changes, but the caller holds the engine's lock as for any read.
func (p *Program) AppendSpec(b []byte) []byte {
	return binary.AppendUvarint(p.appendDescription(b, false), 0) // no blocked seats
}

// appendDescription appends everything but the blocked seats, with the
// sale open or not.
func (p *Program) appendDescription(b []byte, open bool) []byte {
	b = appendString(b, p.id)
	b = appendString(b, p.name)
	b = binary.AppendUvarint(b, uint64(len(p.stops)))
	for _, s := range p.stops {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(p.cats)))
	for _, c := range p.cats {
		b = appendString(b, c.ID)
		b = appendString(b, c.Name)
		b = binary.AppendUvarint(b, uint64(c.PriceCents))
	}
	b = binary.AppendUvarint(b, uint64(p.ttl))
	b = binary.AppendUvarint(b, uint64(p.maxPerHold))
	b = binary.AppendUvarint(b, uint64(p.maxPerUser))
	var f byte
	if p.realName {
		f |= 1
	}
	if p.refundResells {
		f |= 2
	}
	if open {
		f |= 4
	}
	if p.allowOrphans {
		f |= 8
	}
	if p.refuseOrphans {
		f |= 16
	}
	if p.reserveAccess {
		f |= 32
	}
	if p.placed {
		f |= 64
	}
	if p.focal != nil {
		f |= 128
	}
	b = append(b, f)
	if p.focal != nil {
		b = binary.AppendVarint(b, int64(p.focal.X))
		b = binary.AppendVarint(b, int64(p.focal.Y))
	}
	b = binary.AppendUvarint(b, uint64(len(p.sections)))
	for si := range p.sections {
		sec := &p.sections[si]
		b = appendString(b, sec.id)
		b = appendString(b, sec.name)
		if p.placed {
			b = binary.AppendVarint(b, int64(sec.at.X))
			b = binary.AppendVarint(b, int64(sec.at.Y))
		}
		b = binary.AppendUvarint(b, uint64(len(sec.rows)))
		for _, ri := range sec.rows {
			b = p.appendRow(b, &p.rows[ri])
		}
	}
	return b
}

func anyBlocked(p *Program) bool {
	for _, c := range p.counts {
		if c.blocked != 0 {
			return true
		}
	}
	return false
}

// blockedLegs returns the legs on which seat s is blocked, as a mask.
func (p *Program) blockedLegs(s uint32) uint64 {
	i, bit := p.bit(s, 0)
	var legs uint64
	for l := range p.legs {
		if p.block[i+l]&bit != 0 {
			legs |= 1 << l
		}
	}
	return legs
}

func (p *Program) appendRow(b []byte, r *row) []byte {
	b = appendString(b, r.id)
	b = binary.AppendVarint(b, int64(r.rank))
	b = binary.AppendUvarint(b, uint64(r.nSeats))
	b = binary.AppendUvarint(b, uint64(r.minCol))
	seats := r.firstSeat + r.nSeats
	var kind byte
	nFlags := 0
	if int(r.nSeats) != int(r.width) {
		kind |= rowGaps
	}
	for s := r.firstSeat; s < seats; s++ {
		if p.seatFlags[s] != 0 {
			kind |= rowFlags
			nFlags++
		}
		if p.labels != nil && p.labels[s] != "" {
			kind |= rowLabels
		}
	}
	b = append(b, kind)
	if kind&rowGaps != 0 {
		for s := r.firstSeat + 1; s < seats; s++ {
			b = binary.AppendUvarint(b, uint64(p.seatPos[s]-p.seatPos[s-1]))
		}
	}
	// categories as runs of (length, category)
	runs := 0
	for s := r.firstSeat; s < seats; s++ {
		if s == r.firstSeat || p.seatCat[s] != p.seatCat[s-1] {
			runs++
		}
	}
	b = binary.AppendUvarint(b, uint64(runs))
	for s := r.firstSeat; s < seats; {
		n := uint32(1)
		for s+n < seats && p.seatCat[s+n] == p.seatCat[s] {
			n++
		}
		b = binary.AppendUvarint(b, uint64(n))
		b = append(b, p.seatCat[s])
		s += n
	}
	if kind&rowFlags != 0 {
		b = binary.AppendUvarint(b, uint64(nFlags))
		prev := r.firstSeat
		for s := r.firstSeat; s < seats; s++ {
			if p.seatFlags[s] != 0 {
				b = binary.AppendUvarint(b, uint64(s-prev))
				b = append(b, p.seatFlags[s])
				prev = s
			}
		}
	}
	if kind&rowLabels != 0 {
		for s := r.firstSeat; s < seats; s++ {
			b = appendString(b, p.labels[s])
		}
	}
	return b
}

// decoder reads a snapshot; the first error sticks and every later read
// returns zero values, so decoding code reads straight through.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrSnapshotCorrupt, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length that announces items of at least min bytes each, and
// refuses one the remaining input cannot hold (so garbage cannot make the
// decoder allocate without bound).
func (d *decoder) count(min int, limit uint64) int {
	n := d.uvarint()
	if n > limit || n*uint64(min) > uint64(len(d.b)) {
		d.fail("count %d out of range", n)
		return 0
	}
	return int(n)
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.fail("truncated")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	v := d.bytes(1)
	if v == nil {
		return 0
	}
	return v[0]
}

// point reads a Point: two varints, each clamped to one past MaxCoord
// so that compile refuses it by its value, never a wrapped one.
func (d *decoder) point() *Point {
	coord := func() int { return int(max(-MaxCoord-1, min(d.varint(), MaxCoord+1))) }
	x := coord()
	return &Point{X: x, Y: coord()}
}

func (d *decoder) string() string {
	return string(d.bytes(d.count(1, MaxNameLen)))
}

// Restore decodes a snapshot into a new engine with cfg's limits. It
// returns an error, never a partial engine, for input that is truncated,
// corrupt, of another version or group, or decodes to a state that fails
// Check.
func Restore(cfg Config, data []byte) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(data) < len(snapshotMagic)+1+4 || string(data[:len(snapshotMagic)]) != snapshotMagic {
		return nil, fmt.Errorf("%w: not a seatd snapshot", ErrSnapshotCorrupt)
	}
	v := data[len(snapshotMagic)]
	if v < 2 || v > snapshotVersion {
		return nil, fmt.Errorf("%w: version %d", ErrSnapshotVersion, v)
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrSnapshotCorrupt)
	}
	return decodeBody(cfg.withDefaults(), body[len(snapshotMagic)+1:], v)
}

func decodeBody(cfg Config, body []byte, version byte) (*Engine, error) {
	d := &decoder{b: body}
	if g := d.uvarint(); d.err == nil && g != uint64(cfg.Group) {
		return nil, fmt.Errorf("%w: snapshot of group %d, engine of group %d", ErrSnapshotCorrupt, g, cfg.Group)
	}
	e := newEngine(cfg)
	e.now = d.varint()
	e.seq = d.uvarint()
	nProg := d.count(8, uint64(cfg.MaxPrograms))
	for range nProg {
		p := d.program(cfg.MaxSeats - e.seats)
		if d.err != nil {
			return nil, d.err
		}
		if _, dup := e.programIndex[p.id]; dup {
			return nil, fmt.Errorf("%w: program %q twice", ErrSnapshotCorrupt, p.id)
		}
		e.addProgram(p)
		p.version = d.uvarint()
		p.expired = uint32(min(d.uvarint(), uint64(cfg.MaxHolds)))
		if version >= 3 {
			d.move(p, version)
		}
	}
	nHolds := d.count(8, uint64(cfg.MaxHolds))
	var id HoldID
	var at int64
	for range nHolds {
		if err := d.hold(e, &id, &at, true, 0); err != nil {
			return nil, err
		}
	}
	d.outbox(e)
	d.refusals(e)
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrSnapshotCorrupt, len(d.b))
	}
	for _, p := range e.programs {
		for ri := range p.rows {
			for l := range p.legs {
				p.updateMaxRun(uint32(ri), l)
			}
		}
	}
	if err := e.Check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSnapshotCorrupt, err)
	}
	return e, nil
}

// hold decodes one hold written by appendHold after the hold *id, created
// at *at (both advanced to this hold's), into e, whose programs are
// decoded: of the program whose index follows when withProg, else of
// program pi. Hold ids may name another group: a program imported from
// it (ImportProgram) keeps its holds' ids.
func (d *decoder) hold(e *Engine, id *HoldID, at *int64, withProg bool, pi uint64) error {
	h := &hold{}
	*id += HoldID(d.uvarint())
	h.id = *id
	h.user = d.uvarint()
	if withProg {
		pi = d.uvarint()
	}
	f := d.byte()
	setState(h, f&7)
	h.inHeap = f&holdInHeap != 0
	h.retiring = f&holdRetiring != 0
	h.lingering = f&holdLingering != 0
	var from, to byte
	if from = d.byte(); from != 0 {
		to = d.byte()
	}
	if f&holdHasReq != 0 {
		copy(h.req[:], d.bytes(len(h.req)))
		if fp := d.bytes(8); fp != nil {
			h.fp = binary.LittleEndian.Uint64(fp)
		}
	}
	*at += d.varint()
	h.createdAt = *at
	if f&holdRefunds != 0 {
		if h.refunded = d.uvarint(); h.refunded == 0 {
			d.fail("empty refund mask")
		}
	}
	n := d.count(1, MaxSeatsPerHoldLimit)
	if d.err != nil {
		return d.err
	}
	if pi >= uint64(len(e.programs)) || h.user == 0 || n == 0 || f&7 >= stateCount ||
		h.lingering && (f&holdHasReq == 0 || f&7 == stateHeld) ||
		f&(holdHasReq|holdRetiring) == holdHasReq|holdRetiring || (f&(holdHasReq|holdRetiring) != 0 && f&holdInHeap == 0) ||
		uint64(h.id)>>GroupBits == 0 || uint64(h.id)>>GroupBits > e.seq || e.holds[h.id] != nil {
		return fmt.Errorf("%w: hold %d malformed", ErrSnapshotCorrupt, h.id)
	}
	h.from, h.to = 0, uint8(e.programs[pi].legs)
	if from != 0 {
		h.from, h.to = from-1, to
	}
	p := e.programs[pi]
	h.prog = p
	if h.from >= h.to || int(h.to) > p.legs || (from != 0 && h.from == 0 && int(h.to) == p.legs) || n < 64 && h.refunded>>n != 0 {
		return fmt.Errorf("%w: hold %d range or refunds malformed", ErrSnapshotCorrupt, h.id)
	}
	h.seats = h.inline[:0]
	if n > len(h.inline) {
		h.seats = make([]uint32, 0, n)
	}
	s := uint64(0)
	for i := range n {
		s += d.uvarint()
		if s >= uint64(len(p.seatRow)) || (i > 0 && s == uint64(h.seats[i-1])) {
			return fmt.Errorf("%w: hold %d seats malformed", ErrSnapshotCorrupt, h.id)
		}
		h.seats = append(h.seats, uint32(s))
		h.total += p.cats[p.seatCat[s]].PriceCents
	}
	if p.realName {
		h.holders = make([]Holder, n)
		for i := range h.holders {
			h.holders[i] = Holder{Name: d.string(), IDType: IDType(d.byte()), IDNumber: d.string()}
			if d.err == nil && checkHolder(&h.holders[i], e.now) != FieldNone {
				d.fail("hold %d: holder %d malformed", h.id, i)
			}
		}
	}
	if d.err != nil {
		return d.err
	}
	return e.restoreHold(h)
}

// restoreHold applies a decoded hold's seats to the bitsets (refusing
// seats that are not free) and indexes it.
func (e *Engine) restoreHold(h *hold) error {
	p := h.prog
	for i, s := range h.seats {
		var to SeatStatus
		switch {
		case h.status == HoldHeld:
			to = SeatHeld
		case h.status == HoldReleased || h.refunded&(1<<i) != 0:
			continue
		default:
			to = SeatSold
		}
		for l := h.from; l < h.to; l++ {
			if p.status(s, l) != SeatFree {
				return fmt.Errorf("%w: hold %d: seat %s taken twice", ErrSnapshotCorrupt, h.id, p.seatID(s))
			}
		}
		p.move(s, h.from, h.to, SeatFree, to)
	}
	if h.status == HoldHeld && e.live >= e.cfg.MaxLiveHolds {
		return fmt.Errorf("%w: more live holds than this engine allows", ErrSnapshotCorrupt)
	}
	e.index(h)
	return nil
}

// program decodes one program through compile, so a snapshot is held to
// the same rules as CreateProgram.
func (d *decoder) program(maxSeats int) *Program {
	spec := ProgramSpec{ID: d.string(), Name: d.string()}
	spec.Stops = make([]string, d.count(1, MaxLegs+1))
	for i := range spec.Stops {
		spec.Stops[i] = d.string()
	}
	spec.Categories = make([]Category, d.count(3, MaxCategories))
	for i := range spec.Categories {
		spec.Categories[i] = Category{ID: d.string(), Name: d.string(), PriceCents: int64(min(d.uvarint(), MaxPriceCents+1))}
	}
	spec.HoldTTL = time.Duration(min(d.uvarint(), uint64(MaxHoldTTL)+1))
	spec.MaxSeatsPerHold = int(min(d.uvarint(), MaxSeatsPerHoldLimit+1))
	spec.MaxSeatsPerUser = int(min(d.uvarint(), MaxSeatsPerUserLimit+1))
	f := d.byte()
	spec.RealName, spec.RefundResells = f&1 != 0, f&2 != 0
	spec.AllowOrphans, spec.RefuseOrphans, spec.ReserveAccessible = f&8 != 0, f&16 != 0, f&32 != 0
	if f&128 != 0 {
		spec.Focal = d.point()
	}
	spec.Layout.Sections = make([]Section, d.count(3, MaxSectionsPerProgram))
	seats := 0
	for si := range spec.Layout.Sections {
		sec := &spec.Layout.Sections[si]
		sec.ID, sec.Name = d.string(), d.string()
		if f&64 != 0 {
			sec.At = d.point()
		}
		sec.Rows = make([]Row, d.count(6, MaxRowsPerProgram))
		for ri := range sec.Rows {
			r := &sec.Rows[ri]
			r.ID = d.string()
			r.Rank = int(d.varint())
			n := int(min(d.uvarint(), MaxRowWidth+1))
			col := int(min(d.uvarint(), MaxCol+1))
			seats += n
			if n > MaxRowWidth || seats > MaxSeatsPerProgram || seats > maxSeats {
				d.fail("row of %d seats", n)
				return nil
			}
			if n == 0 {
				d.fail("empty row")
				return nil
			}
			r.Seats = make([]Seat, n)
			kind := d.byte()
			if kind > rowGaps|rowFlags|rowLabels {
				d.fail("row kind %d", kind)
				return nil
			}
			for i := range r.Seats {
				if i > 0 {
					col++
					if kind&rowGaps != 0 {
						col += int(min(d.uvarint(), MaxCol+1)) - 1
					}
				}
				r.Seats[i].Col = col
			}
			for i, runs := 0, d.count(2, uint64(n)); runs > 0; runs-- {
				length, c := int(min(d.uvarint(), uint64(n+1))), d.byte()
				if length == 0 || i+length > n || int(c) >= len(spec.Categories) {
					d.fail("category run")
					return nil
				}
				for ; length > 0; length-- {
					r.Seats[i].Category = spec.Categories[c].ID
					i++
				}
			}
			if kind&rowFlags != 0 {
				for i, k := 0, d.count(2, uint64(n)); k > 0; k-- {
					i += int(min(d.uvarint(), uint64(n)))
					fl := d.byte()
					if i >= n || fl == 0 || fl > flagAccessible|flagAisle {
						d.fail("seat flags")
						return nil
					}
					r.Seats[i].Accessible, r.Seats[i].Aisle = fl&flagAccessible != 0, fl&flagAisle != 0
				}
			}
			if kind&rowLabels != 0 {
				for i := range r.Seats {
					r.Seats[i].Label = d.string()
				}
			}
			if d.err != nil {
				return nil
			}
		}
	}
	if d.err != nil {
		return nil
	}
	p, err := compile(&spec)
	if err != nil {
		d.fail("program %q: %v", spec.ID, err)
		return nil
	}
	p.open = f&4 != 0
	n := d.count(2, uint64(len(p.seatRow)))
	s := uint64(0)
	for i := range n {
		delta := d.uvarint()
		legs := d.uvarint()
		s += delta
		if d.err != nil || (i > 0 && delta == 0) || s >= uint64(len(p.seatRow)) || legs == 0 || bits.Len64(legs) > p.legs {
			d.fail("blocked seat malformed")
			return nil
		}
		for l := range uint8(p.legs) {
			if legs&(1<<l) != 0 {
				p.move(uint32(s), l, l+1, SeatFree, SeatBlocked)
			}
		}
	}
	return p
}

// AppendProgramSpec validates spec as CreateProgram would and appends its
// canonical encoding (the snapshot's) to b: the compact form in which a
// create-program command travels through the log.
func AppendProgramSpec(b []byte, spec *ProgramSpec) ([]byte, error) {
	p, err := compile(spec)
	if err != nil {
		return b, err
	}
	return p.appendTo(b), nil
}

// ReadProgramSpec decodes a spec written by AppendProgramSpec from the
// front of b and returns the rest of b.
func ReadProgramSpec(b []byte) (ProgramSpec, []byte, error) {
	d := &decoder{b: b}
	p := d.program(MaxSeatsPerProgram)
	if d.err != nil {
		return ProgramSpec{}, b, d.err
	}
	if p.open || anyBlocked(p) {
		return ProgramSpec{}, b, fmt.Errorf("%w: a program spec with state", ErrSnapshotCorrupt)
	}
	return p.spec(), d.b, nil
}
