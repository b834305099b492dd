package raftfsm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"seatd/inventory"
)

// Op is what a command does to the engine.
type Op uint8

// Ops. Never renumber: they are in the log.
const (
	OpCreateProgram Op = 1
	OpOpenSale      Op = 2
	OpCloseSale     Op = 3
	OpBlock         Op = 4
	OpUnblock       Op = 5
	OpHold          Op = 6
	OpConfirm       Op = 7
	OpRelease       Op = 8
	OpRefund        Op = 9
	OpTick          Op = 10
	OpAckOutbox     Op = 11
	// Moving a program to another group (inventory/move.go).
	OpFreeze       Op = 12 // Program, Group: the target
	OpAbortMove    Op = 13 // Program
	OpImport       Op = 14 // Parcel
	OpActivate     Op = 15 // Program
	OpCompleteMove Op = 16 // Program
	OpMarkExported Op = 17 // Program, Group: the target
)

// Command is one engine command. Only the fields its Op names are used.
type Command struct {
	Op      Op
	Program string                  // OpenSale, CloseSale, and the move ops but Import
	Spec    *inventory.ProgramSpec  // CreateProgram
	Hold    *inventory.HoldRequest  // Hold
	Block   *inventory.BlockRequest // Block, Unblock
	HoldID  inventory.HoldID        // Confirm, Release, Refund
	Owner   uint64                  // Release: the user, 0 for the system
	Reason  inventory.ReleaseReason // Release
	Seats   []string                // Refund: seat ids, none for every seat
	Seq     uint64                  // AckOutbox
	Group   int                     // Freeze, MarkExported: the target group
	Parcel  []byte                  // Import: inventory.ExportProgram's parcel, at most inventory.MaxParcelBytes
}

// Outcome is what a command did, handed back to the caller that proposed it.
// Hold.Seats and Hold.Program are shared with the engine and read-only;
// the program's layout (Seat, SeatID) is safe to read from any goroutine.
type Outcome struct {
	Result   inventory.Result
	Detail   string             // CreateProgram: which rule was broken; seat results: the seat
	Fault    inventory.Fault    // Hold, Block: what was wrong, for refusals
	Hold     inventory.HoldInfo // Hold
	Replayed bool               // Hold: the request id matched an earlier hold
	Amount   int64              // Refund: cents refunded
	Expired  []inventory.HoldID // Tick
	Index    uint64             // the log index the command was applied at
}

// Entry encoding errors.
var (
	ErrBadCommand = errors.New("raftfsm: bad command")
)

// entryVersion is the first byte of every command entry. Version 2 added
// the holders' ID types.
const entryVersion = 2

// Limits on what one command may carry, so that an entry stays well under
// raft's SuggestedMaxDataSize whatever a client sends.
const (
	maxCommandSeats = 1 << 16 // seat ids in one block or refund command
	maxStringLen    = 1 << 10
)

// appendEntry encodes a log entry: the leader's stamp and a batch of
// commands, applied in order at that time.
func appendEntry(b []byte, stamp int64, cmds []encodedCommand) []byte {
	b = append(b, entryVersion)
	b = binary.AppendVarint(b, stamp)
	b = binary.AppendUvarint(b, uint64(len(cmds)))
	for _, c := range cmds {
		b = append(b, c...)
	}
	return b
}

// encodedCommand is one command in its log form.
type encodedCommand []byte

// encodeCommand validates and encodes a command. It is called on the
// proposing node, so malformed input is refused before it reaches the log.
func encodeCommand(c *Command) (encodedCommand, error) {
	b := []byte{byte(c.Op)}
	var err error
	switch c.Op {
	case OpCreateProgram:
		if c.Spec == nil {
			return nil, fmt.Errorf("%w: create program without a spec", ErrBadCommand)
		}
		b, err = inventory.AppendProgramSpec(b, c.Spec)
	case OpOpenSale, OpCloseSale, OpAbortMove, OpActivate, OpCompleteMove:
		b, err = appendStr(b, c.Program)
	case OpFreeze, OpMarkExported:
		if c.Group < 1 || c.Group > inventory.MaxGroup {
			return nil, fmt.Errorf("%w: op %d for group %d", ErrBadCommand, c.Op, c.Group)
		}
		if b, err = appendStr(b, c.Program); err == nil {
			b = binary.AppendUvarint(b, uint64(c.Group))
		}
	case OpImport:
		if len(c.Parcel) == 0 || len(c.Parcel) > inventory.MaxParcelBytes {
			return nil, fmt.Errorf("%w: a parcel of %d bytes, want 1-%d", ErrBadCommand, len(c.Parcel), inventory.MaxParcelBytes)
		}
		b = binary.AppendUvarint(b, uint64(len(c.Parcel)))
		b = append(b, c.Parcel...)
	case OpBlock, OpUnblock:
		if c.Block == nil {
			return nil, fmt.Errorf("%w: block without seats", ErrBadCommand)
		}
		if b, err = appendStr(b, c.Block.Program); err == nil {
			b = binary.AppendVarint(b, int64(c.Block.From))
			b = binary.AppendVarint(b, int64(c.Block.To))
			b, err = appendStrs(b, c.Block.Seats)
		}
	case OpHold:
		b, err = appendHold(b, c.Hold)
	case OpConfirm:
		b = binary.AppendUvarint(b, uint64(c.HoldID))
	case OpRelease:
		b = binary.AppendUvarint(b, uint64(c.HoldID))
		b = binary.AppendUvarint(b, c.Owner)
		b = append(b, byte(c.Reason))
	case OpRefund:
		b = binary.AppendUvarint(b, uint64(c.HoldID))
		b, err = appendStrs(b, c.Seats)
	case OpTick:
	case OpAckOutbox:
		b = binary.AppendUvarint(b, c.Seq)
	default:
		return nil, fmt.Errorf("%w: op %d", ErrBadCommand, c.Op)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	return b, nil
}

func appendHold(b []byte, h *inventory.HoldRequest) ([]byte, error) {
	if h == nil {
		return nil, errors.New("hold without a request")
	}
	var err error
	if b, err = appendStr(b, h.Program); err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(b, h.User)
	b = append(b, h.RequestID[:]...)
	if b, err = appendStr(b, h.Category); err != nil {
		return nil, err
	}
	b = binary.AppendVarint(b, int64(h.Count))
	var flags byte
	if h.Together {
		flags |= 1
	}
	if h.Accessible {
		flags |= 2
	}
	if h.CheckTotal {
		flags |= 4
	}
	if h.Prefer > 3 {
		return nil, fmt.Errorf("seat position %d", h.Prefer)
	}
	flags |= byte(h.Prefer) << 3 // bits 3-4; 0 in commands from before it
	b = append(b, flags)
	b = binary.AppendVarint(b, int64(h.From))
	b = binary.AppendVarint(b, int64(h.To))
	b = binary.AppendVarint(b, h.ExpectedTotalCents)
	if len(h.Seats) > inventory.MaxSeatsPerHoldLimit || len(h.Holders) > inventory.MaxSeatsPerHoldLimit {
		return nil, fmt.Errorf("more than %d seats or holders", inventory.MaxSeatsPerHoldLimit)
	}
	if b, err = appendStrs(b, h.Seats); err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(b, uint64(len(h.Holders)))
	for _, hd := range h.Holders {
		if b, err = appendStr(b, hd.Name); err != nil {
			return nil, err
		}
		b = append(b, byte(hd.IDType))
		if b, err = appendStr(b, hd.IDNumber); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func appendStr(b []byte, s string) ([]byte, error) {
	if len(s) > maxStringLen {
		return nil, fmt.Errorf("a string of %d bytes, more than %d", len(s), maxStringLen)
	}
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...), nil
}

func appendStrs(b []byte, ss []string) ([]byte, error) {
	if len(ss) > maxCommandSeats {
		return nil, fmt.Errorf("%d seat ids, more than %d", len(ss), maxCommandSeats)
	}
	b = binary.AppendUvarint(b, uint64(len(ss)))
	var err error
	for _, s := range ss {
		if b, err = appendStr(b, s); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// reader decodes an entry; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrBadCommand, what)
	}
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) str() string {
	n := r.uvarint()
	if n > maxStringLen || n > uint64(len(r.b)) {
		r.fail("string length")
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) strs(limit uint64) []string {
	n := r.uvarint()
	if n > limit || n > uint64(len(r.b)) {
		r.fail("list length")
		return nil
	}
	var ss []string
	if n > 0 {
		ss = make([]string, n)
	}
	for i := range ss {
		ss[i] = r.str()
	}
	return ss
}

// decodeEntry decodes a log entry's stamp and commands.
// entryStamp returns an entry's stamp without decoding its commands,
// and false when the entry does not begin as appendEntry writes it.
func entryStamp(data []byte) (int64, bool) {
	r := &reader{b: data}
	if v := r.byte(); r.err != nil || v != entryVersion {
		return 0, false
	}
	stamp := r.varint()
	return stamp, r.err == nil
}

func decodeEntry(data []byte) (int64, []Command, error) {
	r := &reader{b: data}
	if v := r.byte(); r.err == nil && v != entryVersion {
		return 0, nil, fmt.Errorf("%w: entry version %d", ErrBadCommand, v)
	}
	stamp := r.varint()
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("command count")
	}
	if r.err != nil {
		return 0, nil, r.err
	}
	cmds := make([]Command, n)
	for i := range cmds {
		r.command(&cmds[i])
		if r.err != nil {
			return 0, nil, r.err
		}
	}
	if len(r.b) != 0 {
		return 0, nil, fmt.Errorf("%w: %d trailing bytes", ErrBadCommand, len(r.b))
	}
	return stamp, cmds, nil
}

func (r *reader) command(c *Command) {
	c.Op = Op(r.byte())
	switch c.Op {
	case OpCreateProgram:
		spec, rest, err := inventory.ReadProgramSpec(r.b)
		if err != nil {
			r.fail(err.Error())
			return
		}
		c.Spec, r.b = &spec, rest
	case OpOpenSale, OpCloseSale, OpAbortMove, OpActivate, OpCompleteMove:
		c.Program = r.str()
	case OpFreeze, OpMarkExported:
		c.Program = r.str()
		c.Group = int(min(r.uvarint(), inventory.MaxGroup+1))
	case OpImport:
		n := r.uvarint()
		if n == 0 || n > inventory.MaxParcelBytes || n > uint64(len(r.b)) {
			r.fail("parcel length")
			return
		}
		c.Parcel, r.b = r.b[:n:n], r.b[n:]
	case OpBlock, OpUnblock:
		c.Block = &inventory.BlockRequest{Program: r.str(), From: int(r.varint()), To: int(r.varint())}
		c.Block.Seats = r.strs(maxCommandSeats)
	case OpHold:
		h := &inventory.HoldRequest{Program: r.str(), User: r.uvarint()}
		if len(r.b) < len(h.RequestID) {
			r.fail("request id")
			return
		}
		r.b = r.b[copy(h.RequestID[:], r.b):]
		h.Category = r.str()
		h.Count = int(r.varint())
		flags := r.byte()
		h.Together, h.Accessible, h.CheckTotal = flags&1 != 0, flags&2 != 0, flags&4 != 0
		h.Prefer = inventory.SeatPosition(flags >> 3 & 3)
		if flags>>5 != 0 {
			r.fail("hold flags")
			return
		}
		h.From, h.To = int(r.varint()), int(r.varint())
		h.ExpectedTotalCents = r.varint()
		h.Seats = r.strs(inventory.MaxSeatsPerHoldLimit)
		n := r.uvarint()
		if n > inventory.MaxSeatsPerHoldLimit {
			r.fail("holders")
			return
		}
		for range n {
			h.Holders = append(h.Holders, inventory.Holder{Name: r.str(), IDType: inventory.IDType(r.byte()), IDNumber: r.str()})
		}
		c.Hold = h
	case OpConfirm:
		c.HoldID = inventory.HoldID(r.uvarint())
	case OpRelease:
		c.HoldID = inventory.HoldID(r.uvarint())
		c.Owner = r.uvarint()
		c.Reason = inventory.ReleaseReason(r.byte())
	case OpRefund:
		c.HoldID = inventory.HoldID(r.uvarint())
		c.Seats = r.strs(inventory.MaxSeatsPerHoldLimit)
	case OpTick:
	case OpAckOutbox:
		c.Seq = r.uvarint()
	default:
		r.fail(fmt.Sprintf("op %d", c.Op))
	}
}

// apply runs one command on the engine at time now.
func apply(e *inventory.Engine, now int64, c *Command) Outcome {
	switch c.Op {
	case OpCreateProgram:
		r, err := e.CreateProgram(now, c.Spec)
		o := Outcome{Result: r}
		if err != nil {
			o.Detail = err.Error()
		}
		return o
	case OpOpenSale:
		return Outcome{Result: e.OpenSale(now, c.Program)}
	case OpCloseSale:
		return Outcome{Result: e.CloseSale(now, c.Program)}
	case OpBlock, OpUnblock:
		run := e.Block
		if c.Op == OpUnblock {
			run = e.Unblock
		}
		r, bad := run(now, c.Block)
		o := Outcome{Result: r, Detail: bad}
		if p, ok := e.Program(c.Block.Program); ok && r == inventory.ResultInvalidArgument && bad == "" {
			o.Fault = p.CheckRange(c.Block.From, c.Block.To) // none when the range is fine and the seat count is not
		}
		return o
	case OpHold:
		out := e.Hold(now, c.Hold)
		return Outcome{Result: out.Result, Detail: out.BadSeat, Fault: out.Fault, Hold: out.Hold, Replayed: out.Replayed}
	case OpConfirm:
		return Outcome{Result: e.Confirm(now, c.HoldID)}
	case OpRelease:
		return Outcome{Result: e.Release(now, c.HoldID, c.Owner, c.Reason)}
	case OpRefund:
		r, amount, bad := e.Refund(now, c.HoldID, c.Seats)
		return Outcome{Result: r, Amount: amount, Detail: bad}
	case OpTick:
		return Outcome{Result: inventory.ResultOK, Expired: e.Tick(now, nil)}
	case OpAckOutbox:
		return Outcome{Result: e.AckOutbox(now, c.Seq)}
	case OpFreeze:
		return Outcome{Result: e.Freeze(now, c.Program, c.Group)}
	case OpMarkExported:
		return Outcome{Result: e.MarkExported(now, c.Program, c.Group)}
	case OpAbortMove:
		return Outcome{Result: e.AbortMove(now, c.Program)}
	case OpImport:
		r, err := e.ImportProgram(now, c.Parcel)
		o := Outcome{Result: r}
		if err != nil {
			o.Detail = err.Error()
		}
		return o
	case OpActivate:
		return Outcome{Result: e.ActivateProgram(now, c.Program)}
	case OpCompleteMove:
		return Outcome{Result: e.CompleteMove(now, c.Program)}
	}
	panic(fmt.Sprintf("raftfsm: apply of unknown op %d", c.Op))
}
