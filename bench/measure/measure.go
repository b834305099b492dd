// Package measure keeps seatbench's figures for one run of one target:
// an HDR histogram of latency per operation, throughput and hold latency
// per second, errors by code, which buyers got seats, when each category
// first answered "sold out", and the CPU time of every process involved
// (cpu.go).
//
// Concurrency: a Recorder is safe for use from many goroutines. Each load
// goroutine fills its own Batch and hands it over in one locked step per
// BatchSize samples, so that the lock is not taken per request.
package measure

import (
	"errors"
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"seatd/bench/target"
)

// Op is what a sample measured.
type Op uint8

// Ops, as reports name them.
const (
	OpBest    Op = iota // a best-available hold
	OpNamed             // a hold of named seats
	OpPoll              // a seat-map read
	OpConfirm           // a payment's confirm of a hold
	OpCancel            // a buyer's release of a hold
	OpExpire            // the harness's release of a lapsed hold, for a target that does not lapse holds itself
	NumOps
)

var opNames = [NumOps]string{"best", "named", "poll", "confirm", "cancel", "expire"}

// String names the op.
func (o Op) String() string { return opNames[o] }

// IsHold reports whether the op places a hold.
func (o Op) IsHold() bool { return o == OpBest || o == OpNamed }

// Code is an outcome, by the refusals of package target.
type Code uint8

// Codes, as reports name them.
const (
	CodeOK Code = iota
	CodeSoldOut
	CodeNoAdjacent
	CodeTaken
	CodePriceMismatch
	CodeUnknownHold
	CodeOther // any other error: a failure of the target, kept with its message
	numCodes
)

var codeNames = [numCodes]string{"ok", "sold_out", "no_adjacent", "taken", "price_mismatch", "unknown_hold", "other"}

// String names the code.
func (c Code) String() string { return codeNames[c] }

// Classify returns err's code: CodeOK for nil, a refusal of package
// target by errors.Is, else CodeOther.
func Classify(err error) Code {
	switch {
	case err == nil:
		return CodeOK
	case errors.Is(err, target.ErrSoldOut):
		return CodeSoldOut
	case errors.Is(err, target.ErrNoAdjacent):
		return CodeNoAdjacent
	case errors.Is(err, target.ErrTaken):
		return CodeTaken
	case errors.Is(err, target.ErrPriceMismatch):
		return CodePriceMismatch
	case errors.Is(err, target.ErrUnknownHold):
		return CodeUnknownHold
	}
	return CodeOther
}

// Bounds of a Recorder.
const (
	// BatchSize is how many samples a Batch keeps before it hands them to
	// the Recorder.
	BatchSize = 256
	// MaxRunTime bounds warm-up plus duration: the timeline keeps one
	// entry per second, with a hold-latency histogram (about 28 KiB) for
	// each second that had holds.
	MaxRunTime = time.Hour
	// MaxErrorKinds bounds the distinct messages of CodeOther kept; later
	// ones are counted under "(other messages)".
	MaxErrorKinds = 32
	// MaxLatency is the largest latency a histogram tells apart; longer
	// ones are recorded as MaxLatency (and counted in Figures.Clamped).
	MaxLatency = time.Minute
)

// Sample is one answered request.
type Sample struct {
	Op   Op
	Code Code
	// Start is when the request was meant to start (open loop) or
	// started (closed loop), from the run's start. It places the sample
	// in the timeline and in or out of the measured window.
	Start   time.Duration
	Latency time.Duration // from Start to the answer
	Buyer   uint64        // 1..population
	Cat     int           // the category's index; -1 for none
	// SeatLegs is, for a confirm, the seats times the legs of its hold.
	SeatLegs int
	Err      string // CodeOther: the error's message
}

// Recorder gathers one run's samples.
type Recorder struct {
	window   [2]time.Duration // [from, to) from the run's start: the measured part
	cats     []string
	inFlight atomic.Int64

	// live counts for the progress line, the whole run
	liveHolds, liveOK, liveErr atomic.Int64

	mu        sync.Mutex // guards the fields below
	ops       [NumOps]opStats
	timeline  []second
	other     map[string]int64
	clamped   int64
	pop       int
	tried     []uint64        // bit per buyer: came (hold asked)
	got       []uint64        // bit per buyer: got a hold
	soldOut   []time.Duration // per category: the first sold-out answer, -1 none
	asked     []bool          // per category: a hold was asked for
	seatLegs  int64
	lastStart time.Duration // the latest sample's Start
}

type opStats struct {
	hist  *hdrhistogram.Histogram // measured window, ns
	codes [numCodes]int64         // measured window
}

type second struct {
	ok       [NumOps]int64
	err      int64
	answered int64                   // hold requests answered, whatever the outcome
	holds    *hdrhistogram.Histogram // their latency, ns
}

// NewRecorder returns a recorder for a run whose measured part is
// [warmUp, warmUp+duration) from its start, of a program with the
// categories cats and population buyers. warmUp+duration must be at most
// MaxRunTime.
func NewRecorder(warmUp, duration time.Duration, cats []string, population int) *Recorder {
	total := min(warmUp+duration, MaxRunTime)
	r := &Recorder{
		window:   [2]time.Duration{warmUp, warmUp + duration},
		cats:     slices.Clone(cats),
		timeline: make([]second, int(total/time.Second)+1),
		other:    map[string]int64{},
		tried:    make([]uint64, (population+64)/64),
		got:      make([]uint64, (population+64)/64),
		soldOut:  make([]time.Duration, len(cats)),
		asked:    make([]bool, len(cats)),
		pop:      population,
	}
	for i := range r.soldOut {
		r.soldOut[i] = -1
	}
	for i := range r.ops {
		r.ops[i].hist = hdrhistogram.New(1, int64(MaxLatency), 3)
	}
	return r
}

// Batch is one goroutine's samples on their way to the Recorder. It is
// not safe for concurrent use.
type Batch struct {
	r   *Recorder
	buf [BatchSize]Sample
	n   int
}

// Batch returns a new batch for one goroutine; Flush it when done.
func (r *Recorder) Batch() *Batch { return &Batch{r: r} }

// Add records a sample.
func (b *Batch) Add(s Sample) {
	if s.Op.IsHold() {
		b.r.liveHolds.Add(1)
	}
	if s.Code == CodeOK {
		b.r.liveOK.Add(1)
	} else {
		b.r.liveErr.Add(1)
	}
	b.buf[b.n] = s
	b.n++
	if b.n == len(b.buf) {
		b.Flush()
	}
}

// Flush hands the batch's samples to the recorder.
func (b *Batch) Flush() {
	r := b.r
	r.mu.Lock()
	for i := range b.buf[:b.n] {
		r.addLocked(&b.buf[i])
		b.buf[i] = Sample{}
	}
	r.mu.Unlock()
	b.n = 0
}

// InFlight counts requests sent and not yet answered (the load's gauge,
// shown on the progress line): add 1 before a request, -1 after.
func (r *Recorder) InFlight(delta int64) { r.inFlight.Add(delta) }

func (r *Recorder) addLocked(s *Sample) {
	lat := s.Latency
	if lat > MaxLatency {
		lat = MaxLatency
		r.clamped++
	}
	lat = max(lat, 1)
	r.lastStart = max(r.lastStart, s.Start)
	sec := &r.timeline[min(int(s.Start/time.Second), len(r.timeline)-1)]
	if s.Code == CodeOK {
		sec.ok[s.Op]++
	} else {
		sec.err++
	}
	if s.Op.IsHold() {
		sec.answered++
		if sec.holds == nil {
			sec.holds = hdrhistogram.New(1, int64(MaxLatency), 2)
		}
		_ = sec.holds.RecordValue(int64(lat)) // in range: clamped above
	}
	if s.Start >= r.window[0] && s.Start < r.window[1] {
		o := &r.ops[s.Op]
		_ = o.hist.RecordValue(int64(lat))
		o.codes[s.Code]++
		if s.Code == CodeOther {
			switch _, ok := r.other[s.Err]; {
			case ok || len(r.other) < MaxErrorKinds:
				r.other[s.Err]++
			default:
				r.other["(other messages)"]++
			}
		}
	}
	if s.Op.IsHold() && s.Buyer > 0 && int(s.Buyer/64) < len(r.tried) {
		r.tried[s.Buyer/64] |= 1 << (s.Buyer % 64)
		if s.Code == CodeOK {
			r.got[s.Buyer/64] |= 1 << (s.Buyer % 64)
		}
	}
	if s.Op.IsHold() && s.Cat >= 0 && s.Cat < len(r.asked) {
		r.asked[s.Cat] = true
	}
	if s.Code == CodeSoldOut && s.Cat >= 0 && s.Cat < len(r.soldOut) && r.soldOut[s.Cat] < 0 {
		r.soldOut[s.Cat] = s.Start + s.Latency
	}
	if s.Op == OpConfirm && s.Code == CodeOK {
		r.seatLegs += int64(s.SeatLegs)
	}
}

// Live is the whole run's counts so far, for the progress line.
type Live struct {
	Holds, OK, Errors, InFlight int64
}

// Live returns the counts so far.
func (r *Recorder) Live() Live {
	return Live{Holds: r.liveHolds.Load(), OK: r.liveOK.Load(), Errors: r.liveErr.Load(), InFlight: r.inFlight.Load()}
}

// Latency is a histogram's summary, in microseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
}

func summary(h *hdrhistogram.Histogram) Latency {
	us := func(v int64) float64 { return math.Round(float64(v)/10) / 100 }
	return Latency{
		Count: h.TotalCount(), Mean: math.Round(h.Mean()/10) / 100,
		P50: us(h.ValueAtQuantile(50)), P90: us(h.ValueAtQuantile(90)), P99: us(h.ValueAtQuantile(99)),
		P999: us(h.ValueAtQuantile(99.9)), Max: us(h.Max()),
	}
}

// OpFigures is one operation's figures over the measured window.
type OpFigures struct {
	Op        string           `json:"op"`
	Requests  int64            `json:"requests"`
	OK        int64            `json:"ok"`
	PerSecond float64          `json:"ok_per_second"`
	Latency   Latency          `json:"latency"`
	Codes     map[string]int64 `json:"codes"` // every outcome, "ok" included
}

// Second is one second of the run (from its start, warm-up included).
// The latencies are of every hold request answered in it, refusals
// included: after a sell-out, answering "sold out" quickly is the work.
type Second struct {
	At       int              `json:"t"` // seconds from the start
	Holds    int64            `json:"holds_ok"`
	Answered int64            `json:"holds_answered"` // hold requests answered, placed or refused
	OK       map[string]int64 `json:"ok,omitempty"`   // per op
	Errors   int64            `json:"errors"`
	HoldsP50 float64          `json:"holds_p50_us"`
	HoldsP90 float64          `json:"holds_p90_us"`
	HoldsP99 float64          `json:"holds_p99_us"`
	HoldsMax float64          `json:"holds_max_us"`
}

// Buyers is how many buyers came and how many got seats (the whole run).
type Buyers struct {
	Population int     `json:"population"`
	Tried      int     `json:"tried"`
	GotSeats   int     `json:"got_seats"`
	Share      float64 `json:"share_got_seats"` // GotSeats / Tried
}

// SoldOut is when each category first answered "sold out", in seconds
// from the run's start (nil: never), and All when the last of the
// categories buyers asked for did (nil: one of them never did).
type SoldOut struct {
	Categories map[string]*float64 `json:"categories"`
	All        *float64            `json:"all"`
}

// ErrorCount is one message of CodeOther and its count.
type ErrorCount struct {
	Message string `json:"message"`
	Count   int64  `json:"count"`
}

// Figures is what a run measured.
type Figures struct {
	// RunSeconds is the load's length, from its start, warm-up
	// included: WarmUp + Duration, or less when it was stopped. The
	// timeline's last second is partial when it is not whole.
	RunSeconds      float64   `json:"run_seconds"`
	MeasuredSeconds float64   `json:"measured_seconds"`
	Holds           OpFigures `json:"holds"`            // best and named together, every outcome
	HoldsPerSecond  float64   `json:"holds_per_second"` // holds placed per second
	// AnswersPerSecond is hold requests answered per second, placed or
	// refused: after a sell-out, the rate of "sold out" answers.
	AnswersPerSecond float64          `json:"hold_answers_per_second"`
	Ops              []OpFigures      `json:"ops"`
	Errors           map[string]int64 `json:"errors"` // by code over every op, the measured window
	OtherErrors      []ErrorCount     `json:"other_errors,omitempty"`
	Clamped          int64            `json:"latencies_clamped,omitempty"` // latencies above MaxLatency
	Timeline         []Second         `json:"timeline"`
	Buyers           Buyers           `json:"buyers"`
	SoldOut          SoldOut          `json:"sold_out"`
	SeatLegsPaid     int64            `json:"seat_legs_paid"` // seats x legs of every confirmed hold, the whole run
}

// Figures summarises what was recorded, for a load that ended at end
// from its start (at WarmUp + Duration, or earlier when it was stopped:
// the measured window is cut there). Flush every Batch first.
func (r *Recorder) Figures(end time.Duration) Figures {
	r.mu.Lock()
	defer r.mu.Unlock()
	run := math.Round(min(r.window[1], end).Seconds()*1000) / 1000
	end = max(r.window[0], min(r.window[1], end))
	secs := (end - r.window[0]).Seconds()
	f := Figures{RunSeconds: run, MeasuredSeconds: math.Round(secs*1000) / 1000, Errors: map[string]int64{}, Clamped: r.clamped}
	holds := hdrhistogram.New(1, int64(MaxLatency), 3)
	var holdCodes [numCodes]int64
	for op := range NumOps {
		o := &r.ops[op]
		n := int64(0)
		for c, v := range o.codes {
			n += v
			if op.IsHold() {
				holdCodes[c] += v
			}
			if c != int(CodeOK) && v > 0 {
				f.Errors[Code(c).String()] += v
			}
		}
		if n == 0 {
			continue
		}
		if op.IsHold() {
			holds.Merge(o.hist)
		}
		f.Ops = append(f.Ops, opFigures(op.String(), o.hist, o.codes, secs))
	}
	f.Holds = opFigures("holds", holds, holdCodes, secs)
	f.HoldsPerSecond = f.Holds.PerSecond
	if secs > 0 {
		f.AnswersPerSecond = math.Round(float64(f.Holds.Requests)/secs*10) / 10
	}
	for msg, n := range r.other {
		f.OtherErrors = append(f.OtherErrors, ErrorCount{msg, n})
	}
	slices.SortFunc(f.OtherErrors, func(a, b ErrorCount) int { return int(b.Count - a.Count) })
	last := min(int(max(r.lastStart, end-1)/time.Second), len(r.timeline)-1)
	for i, s := range r.timeline[:last+1] {
		sec := Second{At: i, Errors: s.err, Holds: s.ok[OpBest] + s.ok[OpNamed], Answered: s.answered, OK: map[string]int64{}}
		for op, v := range s.ok {
			if v > 0 {
				sec.OK[Op(op).String()] = v
			}
		}
		if s.holds != nil {
			l := summary(s.holds)
			sec.HoldsP50, sec.HoldsP90, sec.HoldsP99, sec.HoldsMax = l.P50, l.P90, l.P99, l.Max
		}
		f.Timeline = append(f.Timeline, sec)
	}
	for i := range r.tried {
		f.Buyers.Tried += bits.OnesCount64(r.tried[i])
		f.Buyers.GotSeats += bits.OnesCount64(r.got[i])
	}
	f.Buyers.Population = r.pop
	if f.Buyers.Tried > 0 {
		f.Buyers.Share = math.Round(float64(f.Buyers.GotSeats)/float64(f.Buyers.Tried)*1e4) / 1e4
	}
	f.SoldOut.Categories = map[string]*float64{}
	all, asked := 0.0, false
	for i, c := range r.cats {
		f.SoldOut.Categories[c] = nil
		if r.soldOut[i] >= 0 {
			v := math.Round(r.soldOut[i].Seconds()*1000) / 1000
			f.SoldOut.Categories[c] = &v
			all = max(all, v)
		} else if r.asked[i] {
			all = -1
		}
		asked = asked || r.asked[i]
	}
	if asked && all >= 0 {
		f.SoldOut.All = &all
	}
	f.SeatLegsPaid = r.seatLegs
	return f
}

func opFigures(name string, h *hdrhistogram.Histogram, codes [numCodes]int64, secs float64) OpFigures {
	o := OpFigures{Op: name, OK: codes[CodeOK], Latency: summary(h), Codes: map[string]int64{}}
	for c, v := range codes {
		o.Requests += v
		if v > 0 {
			o.Codes[Code(c).String()] = v
		}
	}
	if secs > 0 {
		o.PerSecond = math.Round(float64(o.OK)/secs*10) / 10
	}
	return o
}
