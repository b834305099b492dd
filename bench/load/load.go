// Package load drives visits at a target the way seatbench's load models
// say: a closed loop of N buyers, each waiting for its answer before it
// comes again, or an open loop of visits arriving at a fixed rate, each
// due at its own time whether or not earlier ones were answered. Both
// ramp up, run a warm-up that is not measured, then a measured duration,
// with at most a bounded number of visits in flight.
//
// In the open loop a visit's latency must be taken from its due time, not
// from when a goroutine got round to sending it: when the target falls
// behind, visits wait for a free slot, and that wait is the queueing a
// real buyer would see (coordinated omission, if it were hidden). Run
// hands each visit its due time for that reason.
//
// Concurrency: Run calls each Worker from one goroutine of its own;
// different Workers run at once.
package load

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Model is a load model.
type Model uint8

// Models.
const (
	Closed Model = iota // Buyers goroutines, each visiting again as soon as answered
	Open                // visits due at Rate per second, up to MaxInFlight at once
)

// String names the model as the flags do.
func (m Model) String() string {
	if m == Open {
		return "open"
	}
	return "closed"
}

// ParseModel reads a model's name.
func ParseModel(s string) (Model, error) {
	switch s {
	case "closed":
		return Closed, nil
	case "open":
		return Open, nil
	}
	return 0, fmt.Errorf("load: model %q, want closed or open", s)
}

// Bounds of a Config.
const (
	// MaxWorkers bounds Buyers and MaxInFlight: each is a goroutine and a
	// batch of samples (some 20 KiB).
	MaxWorkers = 100_000
	// MaxRate bounds Rate, visits per second.
	MaxRate = 10_000_000
	// MaxRunTime bounds WarmUp + Duration.
	MaxRunTime = time.Hour
)

// Config is a load.
type Config struct {
	Model Model
	// Buyers is the closed loop's number of buyers (goroutines).
	Buyers int
	// Rate is the open loop's visits per second once ramped up.
	Rate float64
	// MaxInFlight bounds the open loop's visits in flight (goroutines);
	// a visit due while all are busy waits, and its latency shows it.
	MaxInFlight int
	// WarmUp is how long the run goes before it is measured; Ramp is how
	// long the load takes to rise from nothing to full (the closed loop
	// starts its buyers one by one, the open loop raises its rate
	// linearly). Both count from the start; Duration is measured after
	// WarmUp.
	WarmUp, Ramp, Duration time.Duration
}

// Validate reports every setting out of range, each naming its
// seatbench flag.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch c.Model {
	case Closed:
		if c.Buyers < 1 || c.Buyers > MaxWorkers {
			bad("-buyers %d: want 1-%d", c.Buyers, MaxWorkers)
		}
	case Open:
		if !(c.Rate > 0 && c.Rate <= MaxRate) {
			bad("-rate %v: want above 0 visits per second, at most %d", c.Rate, MaxRate)
		}
		if c.MaxInFlight < 1 || c.MaxInFlight > MaxWorkers {
			bad("-max-in-flight %d: want 1-%d", c.MaxInFlight, MaxWorkers)
		}
	default:
		bad("-load: model %d unknown", c.Model)
	}
	if c.Duration <= 0 {
		bad("-duration %v: want above 0", c.Duration)
	}
	if c.WarmUp < 0 {
		bad("-warmup %v: want 0 or more", c.WarmUp)
	}
	if c.Ramp < 0 {
		bad("-ramp %v: want 0 or more", c.Ramp)
	}
	if c.WarmUp+c.Duration > MaxRunTime {
		bad("-warmup %v + -duration %v: want at most %v", c.WarmUp, c.Duration, MaxRunTime)
	}
	if c.Ramp > c.WarmUp+c.Duration {
		bad("-ramp %v: longer than the run (-warmup + -duration, %v)", c.Ramp, c.WarmUp+c.Duration)
	}
	return errors.Join(errs...)
}

// Workers returns how many goroutines the load runs: its bound on visits
// in flight.
func (c *Config) Workers() int {
	if c.Model == Open {
		return c.MaxInFlight
	}
	return c.Buyers
}

// String describes the load in a few words.
func (c *Config) String() string {
	var b strings.Builder
	if c.Model == Open {
		fmt.Fprintf(&b, "open loop, %g visits/s, at most %d in flight", c.Rate, c.MaxInFlight)
	} else {
		fmt.Fprintf(&b, "closed loop, %d buyers", c.Buyers)
	}
	fmt.Fprintf(&b, ", warm-up %v, ramp %v, measured %v", c.WarmUp, c.Ramp, c.Duration)
	return b.String()
}

// Due returns when open-loop visit n is due, from the start: arrivals
// rise linearly over Ramp to Rate, then keep to Rate.
func (c *Config) Due(n uint64) time.Duration {
	r, ramp, i := c.Rate, c.Ramp.Seconds(), float64(n)
	var t float64
	if rampVisits := r * ramp / 2; i < rampVisits {
		t = math.Sqrt(2 * ramp * i / r) // i = r t^2 / (2 ramp)
	} else {
		t = ramp + (i-rampVisits)/r
	}
	return time.Duration(t * float64(time.Second))
}

// dueBefore returns how many open-loop visits are due before d.
func (c *Config) dueBefore(d time.Duration) uint64 {
	r, ramp, t := c.Rate, c.Ramp.Seconds(), d.Seconds()
	if t < ramp {
		return uint64(math.Ceil(r * t * t / (2 * ramp)))
	}
	return uint64(math.Ceil(r*ramp/2 + (t-ramp)*r))
}

// Worker does visits, one at a time, for one goroutine of the load.
type Worker interface {
	// Visit does visit n (numbered from 0 across the load), due at due:
	// in the closed loop the moment it starts, in the open loop the
	// moment it was meant to start, which may be earlier.
	Visit(ctx context.Context, n uint64, due time.Time)
	// Done is called once when the load has no more visits for it.
	Done()
}

// Result is what the load did.
type Result struct {
	Start   time.Time     // the load's start: time 0 of every figure
	End     time.Duration // when the last visit ended, from Start
	Visits  uint64        // visits started
	Stopped bool          // ctx ended before the run did
	// Backlog counts open-loop visits due before the end that never
	// started because every slot was busy: the queue the target left.
	Backlog uint64
}

// Run runs the load, calling newWorker once per goroutine with the
// load's start (time 0 of its due times; worker 0 first, before any
// visit starts), and returns when every visit started has ended: at the
// run's end (WarmUp + Duration from the start) or when ctx ends. A visit
// in progress at the end is let finish. cfg must pass Validate.
// progress, if not nil, is called about every tick with the time since
// the start, from a goroutine of its own, and once more with final set
// when the load is over.
func Run(ctx context.Context, cfg Config, newWorker func(i int, start time.Time) Worker, progress func(elapsed time.Duration, final bool), tick time.Duration) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	res := Result{Start: time.Now()}
	end := res.Start.Add(cfg.WarmUp + cfg.Duration)
	parent := ctx
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	var next atomic.Uint64
	var started atomic.Uint64
	var wg sync.WaitGroup
	n := cfg.Workers()
	for i := range n {
		w := newWorker(i, res.Start)
		wg.Go(func() {
			defer w.Done()
			if cfg.Model == Closed {
				closedLoop(ctx, parent, &cfg, i, n, res.Start, end, w, &next, &started)
			} else {
				openLoop(ctx, parent, &cfg, res.Start, end, w, &next, &started)
			}
		})
	}
	stopProgress := make(chan struct{})
	var pwg sync.WaitGroup
	if progress != nil && tick > 0 {
		pwg.Go(func() {
			t := time.NewTicker(tick)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case now := <-t.C:
					progress(now.Sub(res.Start), false)
				}
			}
		})
	}
	wg.Wait()
	close(stopProgress)
	pwg.Wait()
	if progress != nil {
		progress(min(time.Since(res.Start), cfg.WarmUp+cfg.Duration), true)
	}
	res.End = time.Since(res.Start)
	res.Visits = started.Load()
	res.Stopped = parent.Err() != nil
	if cfg.Model == Open && !res.Stopped {
		if due := cfg.dueBefore(cfg.WarmUp + cfg.Duration); due > res.Visits {
			res.Backlog = due - res.Visits
		}
	}
	return res, nil
}

// closedLoop and openLoop stop starting visits when ctx ends (the run's
// end); a visit runs under parent, so that one in progress then finishes.
func closedLoop(ctx, parent context.Context, cfg *Config, i, n int, start, end time.Time, w Worker, next, started *atomic.Uint64) {
	if cfg.Ramp > 0 && !sleepUntil(ctx, start.Add(cfg.Ramp*time.Duration(i)/time.Duration(n))) {
		return
	}
	for ctx.Err() == nil {
		now := time.Now()
		if !now.Before(end) {
			return
		}
		started.Add(1)
		w.Visit(parent, next.Add(1)-1, now)
	}
}

func openLoop(ctx, parent context.Context, cfg *Config, start, end time.Time, w Worker, next, started *atomic.Uint64) {
	for ctx.Err() == nil {
		n := next.Add(1) - 1
		due := start.Add(cfg.Due(n))
		if !due.Before(end) || !sleepUntil(ctx, due) {
			return
		}
		started.Add(1)
		w.Visit(parent, n, due)
	}
}

// sleepUntil waits until t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
