package inventory

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
	"time"
)

// Moving a program to another group (docs/move-program.md). The source
// group freezes the program (Freeze): every change to it is refused with
// ResultProgramMoving, reads go on, and its held holds whose TTL ends
// while it is frozen are parked instead of expired, so that the source
// emits no event for it from then on. The frozen program and its holds
// travel as a parcel (ExportProgram), which the target imports
// (ImportProgram) frozen in turn: its holds keep their ids, which name the
// source group. Once the source's outbox has been published past the
// freeze, the target activates it (ActivateProgram: parked holds wait for
// expiry again, and expire there, emitting their events once), and the
// source keeps the program as a forward record (CompleteMove): every
// command on it or on one of its holds is refused with ResultProgramMoved,
// and HoldForward names the group that has the hold now. The source can
// undo the freeze (AbortMove) until it exports: the export is a command
// of its own (MarkExported) before the parcel is read, so that the
// source's log orders it against an abort. Once exported, the program
// can only move on, and a parcel is only ever read from a program no
// abort can put back on sale: it is never on sale in two groups.
//
// Each step is idempotent, so a mover that stops anywhere runs again.

// moveState is where a program is in a move.
type moveState uint8

const (
	moveNone     moveState = iota // on sale here
	moveOut                       // frozen here, moving to moveGroup
	moveDone                      // moved to moveGroup: a forward record
	moveIn                        // imported from moveGroup, frozen until activated
	moveExported                  // frozen here and exported to moveGroup: no abort (snapshot version 4)
	moveStateMax = moveExported
)

// MaxParcelBytes bounds an encoded parcel (ExportProgram): it travels as
// one RPC and one Raft log entry. 64 MiB holds a program of MaxSeatsPerProgram seats on
// MaxLegs legs (their blocked seats, if every one were blocked) with a
// million live holds of a few seats, each some 20 bytes.
const MaxParcelBytes = 64 << 20

// MaxParcelSkew bounds how far the source's clock in a parcel may be ahead
// of the importing group's: the import moves the group's clock up to it,
// expiring its holds that much early. Leaders' clocks agree within
// milliseconds under NTP; a minute ahead is a damaged parcel or a clock to
// fix first.
const MaxParcelSkew = int64(time.Minute)

// parcel format: magic "seatdmv" | version byte | source group | the
// source's clock | the program as a snapshot has it (its description and
// blocked seats, version, expired count) | holds of the program in id
// order, as a snapshot has them without the program index | the refusals
// the source remembers for the program's requests (request.go), oldest
// first, as a snapshot has them with program index 0 | CRC-32C, 4 bytes
// little endian.
const (
	parcelMagic   = "seatdmv"
	parcelVersion = 1
)

// moving returns the result that refuses a change to p while it moves or
// after it moved, else ResultOK.
func (p *Program) moving() Result {
	switch p.moveSt {
	case moveOut, moveIn, moveExported:
		return ResultProgramMoving
	case moveDone:
		return ResultProgramMoved
	}
	return ResultOK
}

// Moving reports where the program is in a move: the other group (the
// target while frozen, exported or moved here, the source while imported and not
// activated) and the state as a stable name: "" (not moving), "frozen",
// "moved", "incoming", "exported".
func (p *Program) Moving() (group int, state string) {
	return int(p.moveGroup), [...]string{"", "frozen", "moved", "incoming", "exported"}[p.moveSt]
}

func (p *Program) appendMove(b []byte) []byte {
	b = append(b, byte(p.moveSt))
	if p.moveSt != moveNone {
		b = binary.AppendUvarint(b, uint64(p.moveGroup))
	}
	return b
}

// move decodes p's move state as appendMove wrote it in a snapshot of
// the given version: moveExported came with version 4.
func (d *decoder) move(p *Program, version byte) {
	st := moveState(d.byte())
	if st == moveNone {
		return
	}
	g := d.uvarint()
	if st > moveStateMax || st == moveExported && version < 4 || g > MaxGroup {
		d.fail("program %q: move state %d to group %d", p.id, st, g)
		return
	}
	p.moveSt, p.moveGroup = st, uint16(g)
}

// Freeze starts moving a program to group target: from this command on,
// every change to it is refused with ProgramMoving (see the file comment).
// Freezing it again for the same target (also once exported or moved
// there) is a no-op, so a mover can resume.
// Results, in order: ProgramNotFound, InvalidArgument (target is this
// group or not a group), ProgramMoving (frozen for another target, or
// imported and not activated), ProgramMoved (moved to another group; to
// target itself: OK).
func (e *Engine) Freeze(now int64, programID string, target int) Result {
	e.advance(now)
	p, ok := e.Program(programID)
	if !ok {
		return ResultProgramNotFound
	}
	if target < 1 || target > MaxGroup || target == e.cfg.Group {
		return ResultInvalidArgument
	}
	switch p.moveSt {
	case moveNone:
		p.moveSt, p.moveGroup = moveOut, uint16(target)
		e.touch(p)
		return ResultOK
	case moveOut, moveExported, moveDone:
		if int(p.moveGroup) == target {
			return ResultOK
		}
	}
	return p.moving()
}

// MarkExported records, in the source's log, that the program frozen for
// target is exported there, before its parcel is read (ExportProgram):
// from this command on AbortMove refuses, and an abort applied before it
// makes it refuse, so an import only ever follows an export that no abort
// can undo. Marking it again, or once moved to target, is a no-op, so a
// mover can resume. The parcel is encoded here once, on every replica,
// to refuse one past MaxParcelBytes while the move can still be aborted
// (it only shrinks afterwards: holds are purged, refusals forgotten).
// Results, in order: ProgramNotFound, InvalidArgument (target is not a
// group, or the program is not frozen here: never frozen, or aborted),
// ProgramMoving (frozen for another target, or imported and not
// activated), ProgramMoved (moved to another group), MoveTooLarge (the
// parcel would pass MaxParcelBytes: still frozen, abort it).
func (e *Engine) MarkExported(now int64, programID string, target int) Result {
	e.advance(now)
	p, ok := e.Program(programID)
	if !ok {
		return ResultProgramNotFound
	}
	if target < 1 || target > MaxGroup || p.moveSt == moveNone {
		return ResultInvalidArgument
	}
	if p.moveSt == moveIn || int(p.moveGroup) != target {
		return p.moving()
	}
	if p.moveSt == moveOut {
		if _, r := e.parcel(p); r != ResultOK {
			return r
		}
		p.moveSt = moveExported
		e.touch(p)
	}
	return ResultOK
}

// AbortMove undoes Freeze: the program is on sale here again and its
// parked holds wait for expiry (a hold whose TTL ended meanwhile expires
// at once). It is refused once the program is exported (MarkExported):
// the target may have imported the parcel, and both would sell the same
// seats. Results: ProgramNotFound, InvalidArgument (imported here, not
// frozen here; an abort of a program not moving is OK), ProgramMoving
// (exported: finish the move), ProgramMoved.
func (e *Engine) AbortMove(now int64, programID string) Result {
	e.advance(now)
	p, ok := e.Program(programID)
	if !ok {
		return ResultProgramNotFound
	}
	switch p.moveSt {
	case moveNone:
		return ResultOK
	case moveDone:
		return ResultProgramMoved
	case moveExported:
		return ResultProgramMoving
	case moveIn:
		return ResultInvalidArgument
	}
	e.thaw(p)
	return ResultOK
}

// CompleteMove ends a move in the source: the frozen program becomes a
// forward record of its holds (HoldForward). Its holds stay as they were
// at the freeze, in MaxHolds like any, and parked ones never expire here:
// the target has them. Only an exported program completes: the target can
// have it only then. Completing it again is a no-op. Results:
// ProgramNotFound, InvalidArgument (not exported here).
func (e *Engine) CompleteMove(now int64, programID string) Result {
	e.advance(now)
	p, ok := e.Program(programID)
	if !ok {
		return ResultProgramNotFound
	}
	switch p.moveSt {
	case moveDone:
		return ResultOK
	case moveExported:
		p.moveSt = moveDone
		e.touch(p)
		return ResultOK
	}
	return ResultInvalidArgument
}

// ActivateProgram puts an imported program on sale here: changes are
// taken again and its parked holds wait for expiry. Activating a program
// that is not moving is a no-op. Results: ProgramNotFound,
// InvalidArgument (frozen or moved away from here).
func (e *Engine) ActivateProgram(now int64, programID string) Result {
	e.advance(now)
	p, ok := e.Program(programID)
	if !ok {
		return ResultProgramNotFound
	}
	switch p.moveSt {
	case moveNone:
		return ResultOK
	case moveIn:
		e.thaw(p)
		return ResultOK
	}
	return ResultInvalidArgument
}

// thaw ends p's freeze and puts its parked holds back in the expiry heap,
// in id order.
func (e *Engine) thaw(p *Program) {
	p.moveSt, p.moveGroup = moveNone, 0
	e.touch(p)
	for _, h := range e.order {
		if h.parked && h.prog == p {
			h.parked, h.inHeap = false, true
			e.expiry.push(expiryEntry{at: h.heapAt(), id: h.id})
		}
	}
	e.tidy(nil)
}

// HoldForward returns the group a hold now lives in when its program
// moved away from this group (CompleteMove), so that a request routed by
// the hold id's group is sent on.
func (e *Engine) HoldForward(id HoldID) (int, bool) {
	h, ok := e.holds[id]
	if !ok || h.prog.moveSt != moveDone {
		return 0, false
	}
	return int(h.prog.moveGroup), true
}

// ExportProgram encodes an exported program (MarkExported) and its kept
// holds as a parcel for ImportProgram in its target group (format above):
// deterministic, the same bytes on every replica at the same applied
// index. Results: ProgramNotFound, InvalidArgument (not exported here),
// MoveTooLarge (the parcel would pass MaxParcelBytes; MarkExported
// refuses it first).
func (e *Engine) ExportProgram(programID string) ([]byte, Result) {
	p, ok := e.Program(programID)
	if !ok {
		return nil, ResultProgramNotFound
	}
	if p.moveSt != moveExported {
		return nil, ResultInvalidArgument
	}
	return e.parcel(p)
}

// parcel encodes p and its kept holds as ExportProgram's parcel.
func (e *Engine) parcel(p *Program) ([]byte, Result) {
	b := append([]byte(parcelMagic), parcelVersion)
	b = binary.AppendUvarint(b, uint64(e.cfg.Group))
	b = binary.AppendVarint(b, e.now)
	b = p.appendTo(b)
	b = binary.AppendUvarint(b, p.version)
	b = binary.AppendUvarint(b, uint64(p.expired))
	n := 0
	for _, h := range e.order {
		if !h.purged && h.prog == p {
			n++
		}
	}
	b = binary.AppendUvarint(b, uint64(n))
	var prevID HoldID
	var prevAt int64
	for _, h := range e.order {
		if h.purged || h.prog != p {
			continue
		}
		b = appendHold(b, h, prevID, prevAt, false)
		prevID, prevAt = h.id, h.createdAt
		if len(b) > MaxParcelBytes-4 {
			return nil, ResultMoveTooLarge
		}
	}
	var refused []refusalEntry
	for _, en := range e.refusalQ[e.refusalHead:] {
		if en.key.prog == p.idx && e.liveRefusal(en) {
			refused = append(refused, en)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(refused)))
	prevAt = e.now
	for _, en := range refused {
		b = e.appendRefusal(b, en, prevAt, 0)
		prevAt = en.at
	}
	if len(b) > MaxParcelBytes-4 {
		return nil, ResultMoveTooLarge
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), ResultOK
}

// ImportProgram adds a program exported from another group, frozen
// (incoming) until ActivateProgram, with its holds under their ids. The
// parcel is decoded into an engine of its own and checked (Check) before
// anything here changes, so a bad parcel changes nothing. Importing the
// same program again while it is incoming is OK (a resumed mover reads
// the target first, and skips the import once it is activated). Results,
// in order, with an error saying what was wrong: InvalidArgument (not a
// parcel, corrupt, from this group, with a hold id of this group, or
// failing Check), ProgramExists (a
// program of that id that is not incoming from the parcel's group),
// TooManyPrograms, TooManySeats, TooManyHolds (MaxHolds
// or MaxLiveHolds would be passed, or a hold id is kept here already),
// RefusalsFull (MaxRefusals would be passed). The program's remembered
// refusals come along, so a retried refused request is answered as the
// first time.
func (e *Engine) ImportProgram(now int64, parcel []byte) (Result, error) {
	e.advance(now)
	src, in, err := e.decodeParcel(parcel)
	if err != nil {
		return ResultInvalidArgument, err
	}
	p := in.programs[0]
	if old, ok := e.Program(p.id); ok {
		if old.moveSt == moveIn && int(old.moveGroup) == src {
			return ResultOK, nil
		}
		return ResultProgramExists, fmt.Errorf("program %q exists", p.id)
	}
	if len(e.programs) >= e.cfg.MaxPrograms {
		return ResultTooManyPrograms, fmt.Errorf("%d programs, the most this group keeps", e.cfg.MaxPrograms)
	}
	if e.seats+p.NumSeats() > e.cfg.MaxSeats {
		return ResultTooManySeats, fmt.Errorf("%d more seats would pass the %d this group keeps", p.NumSeats(), e.cfg.MaxSeats)
	}
	if len(e.holds)+len(in.holds) > e.cfg.MaxHolds || e.live+in.live > e.cfg.MaxLiveHolds {
		return ResultTooManyHolds, fmt.Errorf("%d holds (%d live) would pass this group's bounds", len(in.holds), in.live)
	}
	for _, h := range in.order {
		if e.holds[h.id] != nil {
			return ResultTooManyHolds, fmt.Errorf("hold %d is kept here already", h.id)
		}
	}
	if e.refusals+in.refusals > e.cfg.MaxRefusals {
		return ResultRefusalsFull, fmt.Errorf("%d remembered refusals would pass the %d this group keeps", in.refusals, e.cfg.MaxRefusals)
	}
	p.moveSt, p.moveGroup = moveIn, uint16(src)
	e.now = max(e.now, in.now) // the source's clock may be ahead: its holds are not from the future
	e.addProgram(p)
	e.touch(p)
	for _, h := range in.order {
		e.holds[h.id] = h
		if h.status == HoldHeld {
			e.live++
		}
		if h.inHeap {
			e.expiry.push(expiryEntry{at: h.heapAt(), id: h.id})
			if !h.retiring && h.req != (RequestID{}) {
				e.rememberHold(dedupeKey{h.user, p.idx, h.req}, h.id)
			}
		}
		e.seq = max(e.seq, uint64(h.id)>>GroupBits)
	}
	e.importRefusals(p, in)
	// New holds here take ids above every imported one, so Engine.order
	// stays in id order with the imported holds merged in.
	e.order = slices.DeleteFunc(e.order, func(h *hold) bool { return h.purged })
	e.purged = 0
	e.order = append(e.order, in.order...)
	slices.SortFunc(e.order, func(a, b *hold) int { return compareIDs(a.id, b.id) })
	e.tidy(nil)
	return ResultOK, nil
}

// importRefusals remembers the parcel's refusals (of program p, now
// indexed here) and merges them into the refusal queue in the order they
// were made, ahead of equal times' later arrivals.
func (e *Engine) importRefusals(p *Program, in *Engine) {
	add := in.refusalQ[in.refusalHead:]
	if len(add) == 0 {
		return
	}
	old := e.refusalQ[e.refusalHead:]
	q := make([]refusalEntry, 0, len(old)+len(add))
	for len(old) > 0 || len(add) > 0 {
		if len(add) == 0 || len(old) > 0 && old[0].at <= add[0].at {
			q, old = append(q, old[0]), old[1:]
			continue
		}
		en := add[0]
		r := in.requests[en.key]
		en.key.prog = p.idx
		e.requests[en.key] = r
		e.refusals++
		q, add = append(q, en), add[1:]
	}
	e.refusalQ, e.refusalHead = q, 0
}

func compareIDs(a, b HoldID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// decodeParcel decodes and checks a parcel into an engine holding only
// its program, with this engine's group, limits and clock.
func (e *Engine) decodeParcel(b []byte) (int, *Engine, error) {
	if len(b) > MaxParcelBytes || len(b) < len(parcelMagic)+1+4 || string(b[:len(parcelMagic)]) != parcelMagic {
		return 0, nil, fmt.Errorf("%w: not a program parcel", ErrSnapshotCorrupt)
	}
	if v := b[len(parcelMagic)]; v != parcelVersion {
		return 0, nil, fmt.Errorf("%w: parcel version %d", ErrSnapshotVersion, v)
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return 0, nil, fmt.Errorf("%w: parcel checksum mismatch", ErrSnapshotCorrupt)
	}
	d := &decoder{b: body[len(parcelMagic)+1:]}
	src := d.uvarint()
	if d.err == nil && (src > MaxGroup || int(src) == e.cfg.Group) {
		return 0, nil, fmt.Errorf("%w: a parcel from group %d imported in group %d", ErrSnapshotCorrupt, src, e.cfg.Group)
	}
	// The parcel's own engine takes the largest bounds, so that a parcel
	// too big for this group is refused by its bound, not as corrupt.
	cfg := e.cfg
	cfg.MaxHolds, cfg.MaxLiveHolds, cfg.MaxSeats, cfg.MaxRefusals = 1<<28, 1<<28, MaxSeatsPerProgram, 1<<26
	in := newEngine(cfg)
	in.now = d.varint() // the source's: holds and refusals are not from the future there
	if d.err == nil && in.now > e.now+MaxParcelSkew {
		return 0, nil, fmt.Errorf("%w: the source's clock is %v ahead of this group's, more than %v", ErrSnapshotCorrupt,
			time.Duration(in.now-e.now), time.Duration(MaxParcelSkew))
	}
	in.seq = ^uint64(0) >> GroupBits // hold ids are checked against the source's sequence by Check below
	p := d.program(MaxSeatsPerProgram)
	if d.err != nil {
		return 0, nil, d.err
	}
	in.addProgram(p)
	p.version = d.uvarint()
	p.expired = uint32(min(d.uvarint(), uint64(e.cfg.MaxHolds)))
	n := d.count(8, uint64(cfg.MaxHolds))
	var id HoldID
	var at int64
	for range n {
		if err := d.hold(in, &id, &at, false, 0); err != nil {
			return 0, nil, err
		}
	}
	d.refusals(in)
	if d.err != nil {
		return 0, nil, d.err
	}
	if len(d.b) != 0 {
		return 0, nil, fmt.Errorf("%w: %d trailing bytes", ErrSnapshotCorrupt, len(d.b))
	}
	in.seq = 0
	for _, h := range in.order {
		// A program moved before brings holds whose ids name the groups
		// it left, the source's among them; none can name this group: a
		// program never moves back, and its ids would be this group's
		// own.
		if g := h.id.Group(); g == 0 || g == e.cfg.Group {
			return 0, nil, fmt.Errorf("%w: hold %d of group %d in a parcel from group %d imported in group %d", ErrSnapshotCorrupt, h.id, g, src, e.cfg.Group)
		}
		in.seq = max(in.seq, uint64(h.id)>>GroupBits)
	}
	for ri := range p.rows {
		for l := range p.legs {
			p.updateMaxRun(uint32(ri), l)
		}
	}
	if err := in.Check(); err != nil {
		return 0, nil, fmt.Errorf("%w: %v", ErrSnapshotCorrupt, err)
	}
	in.now = max(in.now, e.now)
	return int(src), in, nil
}
