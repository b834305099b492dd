// Package replay plays a scenario's request stream against one target
// under one load and measures it: each visit asks for seats (or reads the
// seat map), and the buyer then pays, cancels, or lets the hold lapse, as
// the scenario's stream says.
//
// What a target cannot do is said, not faked. A target is a
// target.Target; it may also implement the optional interfaces below.
// Without LegHolder a journey shorter than the whole way is sold as the
// whole way (a baseline sells whole journeys); without Confirmer a paid
// hold stays held (a baseline has no sold state apart from locked);
// without SeatMapper a poll is skipped; without Expirer the harness gives
// a lapsed hold back itself when the program's hold TTL has passed. Each
// is counted in Result.Notes.
//
// Every run ends with the audit (bench/audit): the harness keeps a
// ledger of what buyers were told (each hold granted, with its seats and
// legs, and what became of it), a target that implements audit.Stater
// shows its state, and audit.Audit compares them; Result.Audit carries
// the report.
//
// Concurrency: Run drives the target from the load's goroutines; the
// target must be safe for that (target.Target says so).
package replay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"seatd/bench/audit"
	"seatd/bench/load"
	"seatd/bench/measure"
	"seatd/bench/scenario"
	"seatd/bench/target"
	"seatd/inventory"
)

// LegHolder is a target that sells leg ranges (seatd): stops [from, to).
type LegHolder interface {
	HoldBestLegs(ctx context.Context, program, category string, buyer uint64, n, from, to int) (target.Hold, error)
	HoldNamedLegs(ctx context.Context, program string, buyer uint64, seatIDs []string, expectedCents int64, from, to int) (target.Hold, error)
}

// Confirmer is a target that marks a paid hold's seats sold.
type Confirmer interface {
	Confirm(ctx context.Context, program string, h target.Hold) error
}

// SeatMapper is a target that serves a seat map: it returns the free
// seats of category over stops [from, to).
type SeatMapper interface {
	SeatMap(ctx context.Context, program, category string, from, to int) (int, error)
}

// Expirer is a target that lapses unpaid holds itself at the program's
// hold TTL when ExpiresHolds says so.
type Expirer interface {
	ExpiresHolds() bool
}

// Checker is a target that checks its own state after a run (no seat
// sold twice, counts that add up); an error fails the run.
type Checker interface {
	Check(ctx context.Context) error
}

// Processes is a target that runs in processes of its own (a server, a
// database): their CPU time counts with the harness's.
type Processes interface {
	PIDs() []int
}

// MaxLapses bounds the holds waiting for the harness to lapse them. When
// it is full the oldest is given back early, and counted so in the notes.
const MaxLapses = 1 << 20

// MaxLedgerHolds bounds the holds the audit's ledger keeps, at about
// 200 bytes each (200 MiB at most). A run grants far fewer: every hold
// takes seats, and seats come back only by cancels and lapses. Past it
// holds are counted, not kept, and the audit leaves out the checks that
// need every hold (its report says so).
const MaxLedgerHolds = 1 << 20

// Result is one target's run.
type Result struct {
	Target   string          `json:"target"`
	Persists string          `json:"persists"`
	Visits   uint64          `json:"visits"`
	Backlog  uint64          `json:"open_loop_backlog,omitempty"` // visits due and never sent (load.Result)
	Stopped  bool            `json:"stopped,omitempty"`           // interrupted before its end
	Figures  measure.Figures `json:"figures"`
	CPU      measure.CPU     `json:"cpu"`
	Check    string          `json:"check"` // "ok", "not offered by the target", or what the target found wrong
	// Audit is the audit's report; nil when the target's state could
	// not be read (AuditError says why).
	Audit      *audit.Report `json:"audit"`
	AuditError string        `json:"audit_error,omitempty"`
	Notes      []string      `json:"notes,omitempty"`
}

// Failed reports whether the target's own check or the audit failed.
func (r *Result) Failed() bool {
	return r.CheckFailed() || r.AuditError != "" || r.Audit != nil && r.Audit.Failed()
}

// CheckFailed reports whether the target's own check failed.
func (r *Result) CheckFailed() bool { return r.Check != "ok" && r.Check != checkNone }

const checkNone = "not offered by the target"

// Options are a run's settings beyond the load.
type Options struct {
	// Progress, if not nil, shows the live progress line.
	Progress *load.Line
	// Tick is how often the progress line changes. Default 500 ms.
	Tick time.Duration
}

// Run loads the stream's program into tgt, runs the load against it, and
// returns what was measured. When ctx ends, the load stops (Result.Stopped)
// and the run is checked and audited as far as it went. An error is a failure to set the run up
// (the program could not be loaded, /proc could not be read); refusals
// and failures of single requests are figures.
func Run(ctx context.Context, s *scenario.Stream, tgt target.Target, cfg load.Config, opt Options) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	spec := s.Spec()
	if err := tgt.Load(ctx, spec); err != nil {
		return nil, fmt.Errorf("replay: %s: load %s: %w", tgt.Name(), spec.ID, err)
	}
	var pids []int
	if p, ok := tgt.(Processes); ok {
		pids = p.PIDs()
	}
	if _, err := measure.StartCPU(pids); err != nil { // fail now, not after the run
		return nil, fmt.Errorf("replay: %s: %w", tgt.Name(), err)
	}
	rec := measure.NewRecorder(cfg.WarmUp, cfg.Duration, s.Categories(), s.Scenario().Buyers.Population)
	d := &driver{s: s, t: tgt, rec: rec, program: spec.ID, legs: s.Legs()}
	d.legHolder, _ = tgt.(LegHolder)
	d.confirmer, _ = tgt.(Confirmer)
	d.mapper, _ = tgt.(SeatMapper)
	if ex, ok := tgt.(Expirer); !ok || !ex.ExpiresHolds() {
		d.lapses = &lapseQueue{ttl: spec.HoldTTL}
		if d.lapses.ttl == 0 {
			d.lapses.ttl = inventory.DefaultHoldTTL
		}
	}

	// The CPU meter starts when the measured window does.
	var cpu *measure.CPUMeter
	var cpuErr error
	var cpuWG sync.WaitGroup
	cpuCtx, stopCPU := context.WithCancel(ctx)
	defer stopCPU()
	cpuWG.Go(func() {
		t := time.NewTimer(cfg.WarmUp)
		defer t.Stop()
		select {
		case <-t.C:
			cpu, cpuErr = measure.StartCPU(pids)
		case <-cpuCtx.Done():
		}
	})

	var progress func(time.Duration, bool)
	if opt.Progress != nil {
		progress = d.progress(opt.Progress, &cfg)
	}
	tick := opt.Tick
	if tick == 0 {
		tick = 500 * time.Millisecond
	}
	newWorker := func(i int, start time.Time) load.Worker {
		if i == 0 {
			d.start = start
		}
		return d.worker()
	}
	res, err := load.Run(ctx, cfg, newWorker, progress, tick)
	if err != nil {
		return nil, err
	}
	stopCPU()
	cpuWG.Wait()
	fig := rec.Figures(res.End)
	run := &Result{Target: tgt.Name(), Persists: tgt.Persists(), Visits: res.Visits, Backlog: res.Backlog,
		Stopped: res.Stopped, Figures: fig, Check: checkNone}
	switch {
	case cpuErr != nil:
		run.CPU.Error = cpuErr.Error()
	case cpu != nil:
		run.CPU = cpu.Stop(fig.Holds.OK, fig.Holds.Requests)
	default:
		run.CPU.Error = "the run ended before its measured window"
	}
	// A load that ctx stopped early (an interrupted seatbench) is still
	// checked and audited: its figures and ledger are as sound as a
	// whole run's.
	judge := context.WithoutCancel(ctx)
	if c, ok := tgt.(Checker); ok {
		run.Check = "ok"
		if err := c.Check(judge); err != nil {
			run.Check = err.Error()
		}
	}
	run.Audit, err = d.audit(judge, spec)
	if err != nil {
		run.AuditError = err.Error()
	}
	run.Notes = d.notes()
	return run, nil
}

// audit reads the target's state, if it shows it, and audits it against
// the ledger.
func (d *driver) audit(ctx context.Context, spec *inventory.ProgramSpec) (*audit.Report, error) {
	s := &audit.Snapshot{Spec: spec, Ledger: d.ledger(spec)}
	if st, ok := d.t.(audit.Stater); ok {
		ids := make([]string, len(s.Ledger.Holds))
		for i := range s.Ledger.Holds {
			ids[i] = s.Ledger.Holds[i].ID
		}
		q := audit.Query{Spec: spec, Holds: ids}
		var settled string
		if se, ok := d.t.(audit.Settler); ok {
			var err error
			if settled, err = se.Settle(ctx, q); err != nil {
				return nil, fmt.Errorf("waiting for the target to settle: %w", err)
			}
		}
		s.Read.Sent = time.Since(d.start)
		state, err := st.AuditState(ctx, q)
		s.Read.Answered = time.Since(d.start)
		if err != nil {
			return nil, fmt.Errorf("reading the target's state: %w", err)
		}
		if settled != "" {
			state.Notes = append(state.Notes, settled)
		}
		s.State = state
	} else {
		s.State.Notes = []string{"the target shows no state: only the harness's ledger is audited"}
	}
	r := audit.Audit(s)
	return &r, nil
}

// ledger is what buyers were told, once every worker is done.
func (d *driver) ledger(spec *inventory.ProgramSpec) audit.Ledger {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := audit.Ledger{TTL: spec.HoldTTL, TargetLapses: d.lapses == nil,
		Holds: make([]audit.Hold, len(d.granted)), Dropped: d.dropped.Load(), Unanswered: d.unanswered, LastUnanswered: d.lastUnanswered}
	if l.TTL == 0 {
		l.TTL = inventory.DefaultHoldTTL
	}
	for i, h := range d.granted {
		l.Holds[i] = *h
	}
	return l
}

// driver is one run's shared state.
type driver struct {
	s       *scenario.Stream
	t       target.Target
	rec     *measure.Recorder
	program string
	legs    int
	start   time.Time // the load's start: set before the first visit, read-only after

	legHolder LegHolder
	confirmer Confirmer
	mapper    SeatMapper
	lapses    *lapseQueue // nil: the target lapses holds itself

	// The ledger: holds granted, kept up to MaxLedgerHolds (recorded
	// counts them all, dropped those past the bound).
	recorded atomic.Int64
	dropped  atomic.Int64

	mu             sync.Mutex    // guards the fields below
	granted        []*audit.Hold // the workers' ledgers, handed over when each is done
	unanswered     int64         // hold requests failed without an answer
	lastUnanswered time.Duration // when the last of them failed
	wholeWay       int64         // shorter journeys sold as the whole way
	kept           int64         // paid holds kept as holds (no Confirmer)
	skipped        int64         // polls skipped (no SeatMapper)
	lastHolds      int64         // the progress line's last count
}

func (d *driver) notes() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	if d.wholeWay > 0 {
		out = append(out, fmt.Sprintf("%d holds for part of the journey were asked for the whole journey: the target sells whole journeys only", d.wholeWay))
	}
	if d.kept > 0 {
		out = append(out, fmt.Sprintf("%d paid holds were kept as holds: the target has no confirm", d.kept))
	}
	if d.skipped > 0 {
		out = append(out, fmt.Sprintf("%d seat-map polls were skipped: the target has no seat map", d.skipped))
	}
	if d.lapses != nil {
		early, left := d.lapses.counts()
		out = append(out, fmt.Sprintf("the harness gave lapsed holds back after the hold TTL (the target does not lapse holds); %d were still waiting at the end", left))
		if early > 0 {
			out = append(out, fmt.Sprintf("%d lapsed holds were given back before their TTL: more than %d waited", early, MaxLapses))
		}
	}
	return out
}

func (d *driver) progress(line *load.Line, cfg *load.Config) func(time.Duration, bool) {
	total := cfg.WarmUp + cfg.Duration
	name := d.s.Scenario().Name + "/" + d.t.Name()
	var last time.Duration
	return func(el time.Duration, final bool) {
		lv := d.rec.Live()
		d.mu.Lock()
		rate := 0.0
		if dt := (el - last).Seconds(); dt > 0 {
			rate = float64(lv.Holds-d.lastHolds) / dt
		}
		d.lastHolds, last = lv.Holds, el
		d.mu.Unlock()
		phase, per := "measuring", "/s"
		if el < cfg.WarmUp {
			phase = "warming up"
		}
		if final {
			// The load is over, every sample is in: the rate since the
			// last tick would be of its stragglers. The final line
			// gives the report's rate, hold requests answered per
			// second in the measured window, or over the whole run when
			// it ended before the window opened.
			phase = "done"
			if f := d.rec.Figures(el); f.MeasuredSeconds > 0 {
				rate, per = f.AnswersPerSecond, "/s measured"
			} else if el > 0 {
				rate, per = float64(lv.Holds)/el.Seconds(), "/s over the warm-up"
			}
		}
		s := fmt.Sprintf("%s  %5.1fs/%.0fs %-10s  holds asked %d (%.0f%s)  ok %d  refused or failed %d  in flight %d",
			name, el.Seconds(), total.Seconds(), phase, lv.Holds, rate, per, lv.OK, lv.Errors, lv.InFlight)
		if final {
			line.Done(s)
		} else {
			line.Show(s)
		}
	}
}

// worker is one load goroutine.
type worker struct {
	d       *driver
	b       *measure.Batch
	granted []*audit.Hold // its part of the ledger
}

func (d *driver) worker() load.Worker { return &worker{d: d, b: d.rec.Batch()} }

// Done hands the worker's samples and ledger over.
func (w *worker) Done() {
	w.b.Flush()
	w.d.mu.Lock()
	w.d.granted = append(w.d.granted, w.granted...)
	w.d.mu.Unlock()
}

// record enters a hold granted into the ledger; nil past MaxLedgerHolds.
func (w *worker) record(h *target.Hold, req *scenario.Request, granted audit.Span) *audit.Hold {
	if w.d.recorded.Add(1) > MaxLedgerHolds {
		w.d.dropped.Add(1)
		return nil
	}
	rec := &audit.Hold{ID: h.ID, Buyer: req.Buyer, Seats: h.Seats, From: req.From, To: req.To, TotalCents: h.TotalCents, Granted: granted}
	w.granted = append(w.granted, rec)
	return rec
}

// ended records what became of a hold: end when err is nil, else what
// err says of it.
func ended(rec *audit.Hold, end audit.End, err error, span audit.Span) {
	if rec == nil {
		return
	}
	switch {
	case err == nil:
		rec.End = end
	case errors.Is(err, target.ErrUnknownHold):
		rec.End = audit.Gone
	default:
		rec.End = audit.Unknown
	}
	rec.Ended = span
}

// since is the time from the load's start.
func (d *driver) since() time.Duration { return time.Since(d.start) }

// Visit does visit n: its latency counts from due.
func (w *worker) Visit(ctx context.Context, n uint64, due time.Time) {
	d := w.d
	req := d.s.Request(n)
	if d.lapses != nil {
		w.lapse(ctx, time.Now())
	}
	at := due.Sub(d.start)
	d.rec.InFlight(1)
	defer d.rec.InFlight(-1)
	if req.Op == scenario.OpPoll {
		if d.mapper == nil {
			d.mu.Lock()
			d.skipped++
			d.mu.Unlock()
			return
		}
		_, err := d.mapper.SeatMap(ctx, d.program, req.Category, req.From, req.To)
		w.add(measure.OpPoll, err, at, time.Since(due), &req)
		return
	}
	sent := d.since()
	h, err := w.hold(ctx, &req)
	granted := audit.Span{Sent: sent, Answered: d.since()}
	op := measure.OpBest
	if req.Op == scenario.OpNamed {
		op = measure.OpNamed
	}
	w.add(op, err, at, time.Since(due), &req)
	if err != nil {
		if measure.Classify(err) == measure.CodeOther {
			d.mu.Lock()
			d.unanswered++
			d.lastUnanswered = granted.Answered
			d.mu.Unlock()
		}
		return
	}
	rec := w.record(&h, &req, granted)
	switch req.Fate {
	case scenario.FatePay:
		if d.confirmer == nil {
			d.mu.Lock()
			d.kept++
			d.mu.Unlock()
			ended(rec, audit.Kept, nil, audit.Span{})
			return
		}
		t0 := time.Now()
		sent := d.since()
		err := d.confirmer.Confirm(ctx, d.program, h)
		ended(rec, audit.Paid, err, audit.Span{Sent: sent, Answered: d.since()})
		w.b.Add(measure.Sample{Op: measure.OpConfirm, Code: measure.Classify(err), Start: t0.Sub(d.start),
			Latency: time.Since(t0), Buyer: req.Buyer, Cat: req.Cat, SeatLegs: len(h.Seats) * (req.To - req.From), Err: errText(err)})
	case scenario.FateCancel:
		t0 := time.Now()
		sent := d.since()
		err := d.t.Release(ctx, d.program, h)
		ended(rec, audit.Released, err, audit.Span{Sent: sent, Answered: d.since()})
		w.b.Add(measure.Sample{Op: measure.OpCancel, Code: measure.Classify(err), Start: t0.Sub(d.start),
			Latency: time.Since(t0), Buyer: req.Buyer, Cat: req.Cat, Err: errText(err)})
	case scenario.FateLapse:
		if d.lapses != nil {
			if early, ok := d.lapses.push(time.Now(), lapse{h: h, rec: rec}); ok {
				w.release(ctx, early)
			}
		}
	}
}

func (w *worker) hold(ctx context.Context, req *scenario.Request) (target.Hold, error) {
	d := w.d
	partial := !req.Whole(d.legs)
	if partial && d.legHolder != nil {
		if req.Op == scenario.OpNamed {
			return d.legHolder.HoldNamedLegs(ctx, d.program, req.Buyer, req.Seats, req.ExpectedCents, req.From, req.To)
		}
		return d.legHolder.HoldBestLegs(ctx, d.program, req.Category, req.Buyer, req.Count, req.From, req.To)
	}
	if partial {
		d.mu.Lock()
		d.wholeWay++
		d.mu.Unlock()
		req.From, req.To = 0, d.legs
	}
	if req.Op == scenario.OpNamed {
		return d.t.HoldNamed(ctx, d.program, req.Buyer, req.Seats, req.ExpectedCents)
	}
	return d.t.HoldBest(ctx, d.program, req.Category, req.Buyer, req.Count)
}

func (w *worker) add(op measure.Op, err error, at, lat time.Duration, req *scenario.Request) {
	w.b.Add(measure.Sample{Op: op, Code: measure.Classify(err), Start: at, Latency: lat, Buyer: req.Buyer, Cat: req.Cat,
		Err: errText(err)})
}

// lapse gives back the holds whose TTL has passed, a few per visit so
// that no visit waits long behind them.
func (w *worker) lapse(ctx context.Context, now time.Time) {
	for range 4 {
		h, ok := w.d.lapses.due(now)
		if !ok {
			return
		}
		w.release(ctx, h)
	}
}

func (w *worker) release(ctx context.Context, l lapse) {
	t0 := time.Now()
	sent := w.d.since()
	err := w.d.t.Release(ctx, w.d.program, l.h)
	ended(l.rec, audit.Released, err, audit.Span{Sent: sent, Answered: w.d.since()})
	w.b.Add(measure.Sample{Op: measure.OpExpire, Code: measure.Classify(err), Start: t0.Sub(w.d.start),
		Latency: time.Since(t0), Cat: -1, Err: errText(err)})
}

func errText(err error) string {
	if err == nil || measure.Classify(err) != measure.CodeOther {
		return ""
	}
	return err.Error()
}

// lapseQueue keeps holds left to lapse, oldest first, until their TTL
// has passed. Every hold waits the same TTL, so a FIFO is in expiry
// order. It is safe for concurrent use.
type lapseQueue struct {
	ttl time.Duration

	mu    sync.Mutex // guards the fields below
	ring  []lapse    // ring[head : head+n] mod len, grown up to MaxLapses
	head  int
	n     int
	early int64 // given back early because the queue was full
}

// lapse is a hold waiting to lapse, and its ledger entry (nil past
// MaxLedgerHolds).
type lapse struct {
	at  time.Time // when the hold lapses; set by push
	h   target.Hold
	rec *audit.Hold
}

// push adds a hold placed at now. When the queue is full it returns the
// oldest hold, to be given back at once.
func (q *lapseQueue) push(now time.Time, l lapse) (lapse, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out lapse
	full := q.n == MaxLapses
	if full {
		out = q.ring[q.head]
		q.head = (q.head + 1) % len(q.ring)
		q.n--
		q.early++
	}
	if q.n == len(q.ring) {
		grown := make([]lapse, min(max(2*len(q.ring), 64), MaxLapses))
		for i := range q.n {
			grown[i] = q.ring[(q.head+i)%len(q.ring)]
		}
		q.ring, q.head = grown, 0
	}
	l.at = now.Add(q.ttl)
	q.ring[(q.head+q.n)%len(q.ring)] = l
	q.n++
	return out, full
}

// due pops the oldest hold if its TTL has passed at now.
func (q *lapseQueue) due(now time.Time) (lapse, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 || now.Before(q.ring[q.head].at) {
		return lapse{}, false
	}
	h := q.ring[q.head]
	q.ring[q.head] = lapse{}
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	return h, true
}

func (q *lapseQueue) counts() (early int64, left int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.early, q.n
}
