package inventory

import (
	"errors"
	"fmt"
	"slices"
)

// GeneBits is k in the order-number gene: the low GeneBits bits of an order
// number equal the user id mod 2^GeneBits, so that a store or a Kafka topic
// split into at most 2^GeneBits partitions routes by user id and by order
// number alike. 6 bits allow up to 64 order partitions.
const GeneBits = 6

// GroupBits is how many bits of hold ids and order numbers name the Raft
// group that issued them, so that any id routes back to its group.
const GroupBits = 10

// MaxGroup is the largest Config.Group.
const MaxGroup = 1<<GroupBits - 1

// Config bounds one Engine. Zero fields take the defaults below.
type Config struct {
	// Group is the Raft group this engine serves (0..MaxGroup); it is part
	// of every hold id and order number.
	Group int
	// MaxPrograms bounds programs per engine. Default 4096.
	MaxPrograms int
	// MaxSeats bounds the seats of all programs together. Default 1<<25
	// (about 33 million: some 300 MiB of engine state per group).
	MaxSeats int
	// MaxLiveHolds bounds holds waiting for payment. Default 1<<20: a
	// flash sale of a million buyers in one group.
	MaxLiveHolds int
	// MaxHolds bounds every hold record kept: live, confirmed (kept for
	// refunds) and released ones kept until their TTL ends (for idempotent
	// retries). Default 1<<23.
	MaxHolds int
	// MaxSeatsPerBlock bounds the seats of one block or unblock command.
	// Default 65536.
	MaxSeatsPerBlock int
	// MaxOutbox bounds the events waiting for the relay before new holds
	// are refused (ResultOutboxFull): if Kafka is out of reach for long, the
	// sale pauses rather than losing events. Confirms, releases, expiries
	// and refunds still add theirs, bounded by the holds they belong to.
	// Default 1<<20.
	MaxOutbox int
	// MaxRefusals bounds the refusals remembered for idempotent retries
	// (see request.go): each costs about 150 bytes of memory and 40 of
	// snapshot. Default 1<<20, some 150 MiB: at 50,000 refused holds a
	// second, 20 s of refusals, well past RefusalGrace's reason.
	MaxRefusals int
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.MaxPrograms == 0 {
		d.MaxPrograms = 4096
	}
	if d.MaxSeats == 0 {
		d.MaxSeats = 1 << 25
	}
	if d.MaxLiveHolds == 0 {
		d.MaxLiveHolds = 1 << 20
	}
	if d.MaxHolds == 0 {
		d.MaxHolds = 1 << 23
	}
	if d.MaxSeatsPerBlock == 0 {
		d.MaxSeatsPerBlock = 1 << 16
	}
	if d.MaxOutbox == 0 {
		d.MaxOutbox = 1 << 20
	}
	if d.MaxRefusals == 0 {
		d.MaxRefusals = 1 << 20
	}
	return d
}

// Validate reports every field out of range.
func (c *Config) Validate() error {
	var errs []error
	if c.Group < 0 || c.Group > MaxGroup {
		errs = append(errs, fmt.Errorf("inventory: group %d, want 0-%d", c.Group, MaxGroup))
	}
	d := c.withDefaults()
	if d.MaxPrograms < 1 || d.MaxPrograms > 1<<20 {
		errs = append(errs, fmt.Errorf("inventory: max programs %d, want 1-%d", d.MaxPrograms, 1<<20))
	}
	if d.MaxSeats < 1 || d.MaxSeats > 1<<30 {
		errs = append(errs, fmt.Errorf("inventory: max seats %d, want 1-%d", d.MaxSeats, 1<<30))
	}
	if d.MaxLiveHolds < 1 || d.MaxLiveHolds > d.MaxHolds {
		errs = append(errs, fmt.Errorf("inventory: max live holds %d, want 1-max holds (%d)", d.MaxLiveHolds, d.MaxHolds))
	}
	if d.MaxHolds > 1<<28 {
		errs = append(errs, fmt.Errorf("inventory: max holds %d, want at most %d", d.MaxHolds, 1<<28))
	}
	if d.MaxOutbox < 1 || d.MaxOutbox > 1<<26 {
		errs = append(errs, fmt.Errorf("inventory: max outbox %d, want 1-%d", d.MaxOutbox, 1<<26))
	}
	if d.MaxRefusals < 1 || d.MaxRefusals > 1<<26 {
		errs = append(errs, fmt.Errorf("inventory: max refusals %d, want 1-%d", d.MaxRefusals, 1<<26))
	}
	if d.MaxSeatsPerBlock < 1 || d.MaxSeatsPerBlock > MaxSeatsPerProgram {
		errs = append(errs, fmt.Errorf("inventory: max seats per block %d, want 1-%d", d.MaxSeatsPerBlock, MaxSeatsPerProgram))
	}
	return errors.Join(errs...)
}

// Engine is the state of every program of one Raft group. See the package
// comment for its concurrency and determinism contract.
type Engine struct {
	cfg Config

	now      int64  // the largest now seen
	seq      uint64 // holds issued
	logIndex uint64 // the log index of the command being applied (SetLogIndex)

	programs     []*Program // in creation order
	programIndex map[string]int32
	seats        int // seats of all programs

	holds  map[HoldID]*hold
	order  []*hold // every kept hold in id order, with purged ones until compacted
	purged int     // purged holds still in order
	live   int     // holds in HoldHeld
	expiry expiryHeap

	// requests remembers request ids (request.go): the hold each placed,
	// or its refusal. One table, so the hold path looks a request id up
	// once.
	requests    map[dedupeKey]request
	refusals    int            // refusals in requests
	refusalQ    []refusalEntry // refusalQ[refusalHead:] in the order they were made, oldest first
	refusalHead int

	outbox  []event // outbox[outHead:] are the events after acked, oldest first
	outHead int
	outSeq  uint64 // the last event's sequence number
	acked   uint64 // the last sequence number the relay acknowledged

	// scratch for the current command, reused to keep the hold path free
	// of allocations
	mask  [MaxRowWidth / 64]uint64
	empty [MaxRowWidth / 64]uint64 // a row's empty seats, for the orphan rule (see keepStarts)
	keep  [MaxRowWidth / 64]uint64 // a row's block starts holding a preferred seat (see keepPreferred)
	// sectionSeats and sectionOrder are splitInSection's: eligible seats
	// per section, and the sections in the order it met them. Sized to
	// the largest program's sections, at most MaxSectionsPerProgram.
	sectionSeats []int
	sectionOrder []uint16
	picks        []pick
	fpBuf        []byte // a hold request's encoding, for its fingerprint
}

// New returns an empty engine. cfg must pass Validate.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return newEngine(cfg.withDefaults()), nil
}

func newEngine(cfg Config) *Engine {
	return &Engine{
		cfg:          cfg,
		programIndex: make(map[string]int32),
		holds:        make(map[HoldID]*hold),
		requests:     make(map[dedupeKey]request),
	}
}

// advance moves the engine's clock to now unless that would go backwards
// (a new leader's clock may be behind the old one's, and holds must never
// outlive their TTL twice), then does what a Tick would: from the instant
// a hold's TTL ends, every command finds it expired, whether or not a Tick
// has come since.
func (e *Engine) advance(now int64) int64 {
	e.now = max(e.now, now)
	if len(e.expiry) > 0 && e.expiry[0].at <= e.now || e.refusalHead < len(e.refusalQ) &&
		e.now >= e.refusalQ[e.refusalHead].at+e.programs[e.refusalQ[e.refusalHead].key.prog].window() {
		e.tidy(nil)
	}
	return e.now
}

// SetLogIndex tells the engine the log index of the commands it applies
// next, so that each program's Version names the index of its last change.
// Replicas apply the same commands at the same indexes, so versions agree.
func (e *Engine) SetLogIndex(i uint64) { e.logIndex = i }

// touch records that p's seats, holds or sale changed at this log index
// (expiries are counted instead: see Version).
func (e *Engine) touch(p *Program) { p.version, p.expired = e.logIndex, 0 }

// Now returns the engine's clock: the largest now any command carried.
func (e *Engine) Now() int64 { return e.now }

// Program returns the program with the given id.
func (e *Engine) Program(id string) (*Program, bool) {
	i, ok := e.programIndex[id]
	if !ok {
		return nil, false
	}
	return e.programs[i], true
}

// Programs returns every program in creation order.
func (e *Engine) Programs() []*Program { return slices.Clone(e.programs) }

// CreateProgram adds a program with every seat free and its sale closed.
// Results, in order: ProgramExists, TooManyPrograms, InvalidLayout (the
// error says which rule was broken where), TooManySeats.
func (e *Engine) CreateProgram(now int64, spec *ProgramSpec) (Result, error) {
	e.advance(now)
	if _, ok := e.programIndex[spec.ID]; ok {
		return ResultProgramExists, fmt.Errorf("program %q exists", spec.ID)
	}
	if len(e.programs) >= e.cfg.MaxPrograms {
		return ResultTooManyPrograms, fmt.Errorf("%d programs, the most this group keeps", e.cfg.MaxPrograms)
	}
	p, err := compile(spec)
	if err != nil {
		return ResultInvalidLayout, err
	}
	if e.seats+p.NumSeats() > e.cfg.MaxSeats {
		return ResultTooManySeats, fmt.Errorf("%d more seats would pass the %d this group keeps", p.NumSeats(), e.cfg.MaxSeats)
	}
	e.addProgram(p)
	e.touch(p)
	return ResultOK, nil
}

func (e *Engine) addProgram(p *Program) {
	p.idx = int32(len(e.programs))
	e.programs = append(e.programs, p)
	e.programIndex[p.id] = p.idx
	e.seats += p.NumSeats()
}

// OpenSale opens a program's sale; opening an open sale is a no-op.
// Results: ProgramNotFound, ProgramMoving, ProgramMoved.
func (e *Engine) OpenSale(now int64, programID string) Result {
	return e.setOpen(now, programID, true)
}

// CloseSale closes a program's sale: new holds are refused, existing ones
// can still be confirmed, released and refunded. Results: ProgramNotFound,
// ProgramMoving, ProgramMoved.
func (e *Engine) CloseSale(now int64, programID string) Result {
	return e.setOpen(now, programID, false)
}

func (e *Engine) setOpen(now int64, programID string, open bool) Result {
	e.advance(now)
	p, ok := e.Program(programID)
	if !ok {
		return ResultProgramNotFound
	}
	if r := p.moving(); r != ResultOK {
		return r
	}
	if p.open != open {
		p.open = open
		e.touch(p)
	}
	return ResultOK
}

// BlockRequest names seats to block (operator kills) or unblock for a leg
// range.
type BlockRequest struct {
	Program  string
	Seats    []string // seat ids, at most Config.MaxSeatsPerBlock
	From, To int      // leg range [From, To); To == 0 means the last stop
}

// Block marks seats as not for sale on a leg range, all or nothing.
// Results, in order: ProgramNotFound, ProgramMoving or ProgramMoved,
// InvalidArgument (range, count or a repeated seat), then per seat in request order: UnknownSeat, SeatBlocked,
// SeatTaken. The returned string is the offending seat id, if any.
func (e *Engine) Block(now int64, req *BlockRequest) (Result, string) {
	return e.block(now, req, true)
}

// Unblock puts blocked seats back on sale, all or nothing. Results, in
// order: ProgramNotFound, InvalidArgument, then per seat: UnknownSeat,
// NotBlocked.
func (e *Engine) Unblock(now int64, req *BlockRequest) (Result, string) {
	return e.block(now, req, false)
}

func (e *Engine) block(now int64, req *BlockRequest, block bool) (Result, string) {
	e.advance(now)
	p, ok := e.Program(req.Program)
	if !ok {
		return ResultProgramNotFound, ""
	}
	if r := p.moving(); r != ResultOK {
		return r, ""
	}
	from, to, f := p.checkRange(req.From, req.To)
	if f.Field != FieldNone || len(req.Seats) == 0 || len(req.Seats) > e.cfg.MaxSeatsPerBlock {
		return ResultInvalidArgument, ""
	}
	seats := make([]uint32, 0, len(req.Seats))
	for _, id := range req.Seats {
		s, ok := p.lookupSeat(id)
		if !ok {
			return ResultUnknownSeat, id
		}
		seats = append(seats, s)
	}
	sorted := slices.Clone(seats)
	slices.Sort(sorted)
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return ResultInvalidArgument, p.seatID(sorted[i])
		}
	}
	for i, s := range seats {
		for l := from; l < to; l++ {
			st := p.status(s, l)
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
	e.touch(p)
	for _, s := range sorted {
		if block {
			p.move(s, from, to, SeatFree, SeatBlocked)
		} else {
			p.move(s, from, to, SeatBlocked, SeatFree)
		}
	}
	p.updateRuns(sorted, from, to, !block)
	return ResultOK, ""
}

// legRange validates a leg range; to == 0 means the last stop.
func (p *Program) legRange(from, to int) (uint8, uint8, bool) {
	f, t, fault := p.checkRange(from, to)
	return f, t, fault.Field == FieldNone
}

// checkRange validates a leg range [from, to) of stop indexes (to == 0
// means the last stop) and says which end is wrong: Limit is the largest
// index that end may take.
func (p *Program) checkRange(from, to int) (uint8, uint8, Fault) {
	if to == 0 {
		to = p.legs
	}
	switch {
	case from < 0 || from >= p.legs:
		return 0, 0, Fault{Field: FieldFrom, Index: -1, Limit: int64(p.legs - 1), Actual: int64(from)}
	case to <= from || to > p.legs:
		return 0, 0, Fault{Field: FieldTo, Index: -1, Limit: int64(p.legs), Actual: int64(to)}
	}
	return uint8(from), uint8(to), noFault
}

// SeatStatus is a seat's state on one leg, or over a leg range (the worst
// leg wins: blocked, then sold, then held).
type SeatStatus uint8

// Seat statuses.
const (
	SeatFree SeatStatus = iota
	SeatHeld
	SeatSold
	SeatBlocked
)

var seatStatusNames = [...]string{"free", "held", "sold", "blocked"}

// String returns the status as the HTTP contract spells it.
func (s SeatStatus) String() string { return seatStatusNames[s] }

// bit returns the index of seat s's word on leg l and its bit.
func (p *Program) bit(s uint32, l uint8) (int, uint64) {
	r := &p.rows[p.seatRow[s]]
	pos := p.seatPos[s]
	return (int(r.word0)+int(pos>>6))*p.legs + int(l), 1 << (pos & 63)
}

// status returns seat s's status on leg l.
func (p *Program) status(s uint32, l uint8) SeatStatus {
	i, b := p.bit(s, l)
	switch {
	case p.free[i]&b != 0:
		return SeatFree
	case p.block[i]&b != 0:
		return SeatBlocked
	case p.sold[i]&b != 0:
		return SeatSold
	}
	return SeatHeld
}

// move changes seat s from one status to another on legs [from, to),
// keeping the bitsets and counters in step. The caller has checked the seat
// is in status was on every leg, and calls updateRuns afterwards if free
// bits changed.
func (p *Program) move(s uint32, from, to uint8, was, now SeatStatus) {
	c := p.counts[int(p.seatCat[s])*p.legs:]
	for l := from; l < to; l++ {
		i, b := p.bit(s, l)
		switch was {
		case SeatFree:
			p.free[i] &^= b
			c[l].free--
		case SeatHeld:
			c[l].held--
		case SeatSold:
			p.sold[i] &^= b
			c[l].sold--
		case SeatBlocked:
			p.block[i] &^= b
			c[l].blocked--
		}
		switch now {
		case SeatFree:
			p.free[i] |= b
			c[l].free++
		case SeatHeld:
			c[l].held++
		case SeatSold:
			p.sold[i] |= b
			c[l].sold++
		case SeatBlocked:
			p.block[i] |= b
			c[l].blocked++
		}
	}
}

// updateRuns refreshes the longest-free-run summary of the rows of seats
// (sorted by index, so by row) on legs [from, to): recomputed when seats
// were freed, flagged stale when they were taken (see runStale).
func (p *Program) updateRuns(seats []uint32, from, to uint8, freed bool) {
	last := ^uint32(0)
	for _, s := range seats {
		ri := p.seatRow[s]
		if ri == last {
			continue
		}
		last = ri
		for l := from; l < to; l++ {
			if freed {
				p.updateMaxRun(ri, int(l))
			} else {
				p.maxRun[int(ri)*p.legs+int(l)] |= runStale
			}
		}
		if freed {
			p.freedRow(ri)
		}
	}
}
