package audit

import (
	"math"
	"time"
)

// Ledger is the harness's record of what buyers were told in one run:
// each hold granted, with its seats and legs, and what became of it.
// Times are from the run's start, on the harness's clock.
type Ledger struct {
	// TTL is the program's hold TTL.
	TTL time.Duration
	// TargetLapses: the target lapses unpaid holds itself at TTL; else
	// the harness releases them (End Released, or Held while still
	// waiting at the end).
	TargetLapses bool
	// Holds are every hold granted, up to the harness's bound. On a
	// target with no confirm a paid hold stays held (End Kept).
	Holds []Hold
	// Dropped counts holds granted past the harness's bound, not in
	// Holds: the checks that need every hold are then not run.
	Dropped int64
	// Unanswered counts hold requests that failed with an error other
	// than a refusal (a timeout, a broken connection): the target may
	// have held seats for them that no buyer was told of.
	// LastUnanswered is when the last of their answers came.
	Unanswered     int64
	LastUnanswered time.Duration
}

// Span is when a request was sent and when its answer came, from the
// run's start: the target acted at some instant between the two.
type Span struct {
	Sent, Answered time.Duration
}

// End is what became of a hold by the end of the run.
type End uint8

// Ends of a hold.
const (
	Held     End = iota // nothing after the hold: it lapses, or waits for the harness to release it
	Paid                // confirmed: its seats are sold
	Kept                // paid on a target with no confirm: it stays held, until it lapses on a target that lapses holds
	Released            // given back: cancelled, or lapsed by the harness
	Gone                // its confirm or release answered that the target no longer had it
	Unknown             // its confirm or release failed: the target may or may not have acted
)

var endNames = [...]string{"held", "paid", "kept", "released", "gone", "unknown"}

// String names the end.
func (e End) String() string { return endNames[e] }

// Hold is one hold granted to a buyer.
type Hold struct {
	ID         string   // target.Hold.ID
	Buyer      uint64   // 1..population
	Seats      []string // "section/row/col"
	From, To   int      // the legs [From, To)
	TotalCents int64
	Granted    Span
	End        End
	// Ended is the span of the confirm or release that ended it (zero
	// for Held).
	Ended Span
}

// forever is a time after every run.
const forever = time.Duration(math.MaxInt64)

// ClockSlack is what the target's clock may differ from the harness's
// by (both read this machine's clock, one its wall time, one its
// monotonic time) when the audit decides whether a hold the target
// lapses itself had lapsed: within it, the hold's state is not judged.
const ClockSlack = 100 * time.Millisecond

// heldUntil returns until when the hold was certainly held (or sold) in
// the target: from Granted.Answered until this.
func (l *Ledger) heldUntil(h *Hold) time.Duration {
	until := forever
	switch {
	case l.final(h):
		return forever
	case h.End == Released || h.End == Gone || h.End == Unknown:
		until = h.Ended.Sent
	}
	if l.TargetLapses {
		until = min(until, h.Granted.Sent+l.TTL-ClockSlack)
	}
	return until
}

// final says whether the hold never ends: paid, or kept on a target that
// does not lapse holds. A kept hold on a target that does (seatd over
// HTTP, which only the order flow confirms) is a hold left to lapse,
// and its seats go to other buyers after it.
func (l *Ledger) final(h *Hold) bool {
	return h.End == Paid || h.End == Kept && !l.TargetLapses
}

// status is what a seat on a leg, or a hold, should be at the end.
type status uint8

const (
	free status = iota
	held
	sold
	unsure // the audit cannot tell: a failed confirm or release, a lapse at the read's time
)

var statusNames = [...]string{"free", "held", "sold", "unsure"}

func (s status) String() string { return statusNames[s] }

// statusAt is what the hold should be in a state read during read.
func (l *Ledger) statusAt(h *Hold, read Span) status {
	switch h.End {
	case Paid:
		return sold
	case Kept:
		if !l.TargetLapses {
			return held
		}
	case Released, Gone:
		return free
	case Unknown:
		return unsure
	}
	switch {
	case !l.TargetLapses:
		return held // waiting in the harness's lapse queue
	case read.Answered < h.Granted.Sent+l.TTL-ClockSlack:
		return held
	case read.Sent > h.Granted.Answered+l.TTL+ClockSlack:
		return free
	}
	return unsure
}

// mayHoldUnknown says whether a hold request that failed without an
// answer may still hold seats no buyer was told of at read.
func (l *Ledger) mayHoldUnknown(read Span) bool {
	return l.Unanswered > 0 && (!l.TargetLapses || read.Sent <= l.LastUnanswered+l.TTL+ClockSlack)
}
