package replay

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"seatd/bench/audit"
	"seatd/bench/load"
	"seatd/bench/scenario"
	"seatd/bench/target"
	"seatd/inventory"
)

// slowTarget is a target.Target and nothing more: it serves one request
// at a time, each taking service, and always has seats.
type slowTarget struct {
	service time.Duration
	mu      sync.Mutex
	holds   int
}

func (t *slowTarget) Name() string                                       { return "slow" }
func (t *slowTarget) Persists() string                                   { return "nothing" }
func (t *slowTarget) Load(context.Context, *inventory.ProgramSpec) error { return nil }
func (t *slowTarget) Close() error                                       { return nil }

func (t *slowTarget) HoldBest(_ context.Context, _, _ string, _ uint64, n int) (target.Hold, error) {
	return t.hold(n)
}

func (t *slowTarget) HoldNamed(_ context.Context, _ string, _ uint64, seats []string, _ int64) (target.Hold, error) {
	return t.hold(len(seats))
}

func (t *slowTarget) hold(n int) (target.Hold, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	time.Sleep(t.service)
	t.holds++
	return target.Hold{ID: strconv.Itoa(t.holds), Seats: make([]string, n)}, nil
}

func (t *slowTarget) Release(context.Context, string, target.Hold) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	time.Sleep(t.service)
	return nil
}

func trainStream(t *testing.T) *scenario.Stream {
	t.Helper()
	sc, err := scenario.Load("../scenarios/train.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := scenario.NewStream(sc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOpenLoopQueueing: visits due at 1,000/s at a target that serves
// about 300/s wait for it, and the hold latency, taken from each visit's
// due time, shows that wait, not the 2-3 ms a request takes.
func TestOpenLoopQueueing(t *testing.T) {
	tgt := &slowTarget{service: 2 * time.Millisecond}
	cfg := load.Config{Model: load.Open, Rate: 1000, MaxInFlight: 4, Duration: 1500 * time.Millisecond}
	res, err := Run(context.Background(), trainStream(t), tgt, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := res.Figures.Holds.Latency
	if l.P99 < 200_000 {
		t.Errorf("hold p99 %.0f µs; want the queueing (hundreds of ms) to show", l.P99)
	}
	if res.Backlog == 0 {
		t.Errorf("backlog 0; want the visits due and never sent counted")
	}
	if res.Check != checkNone {
		t.Errorf("check %q; want %q", res.Check, checkNone)
	}
	// slowTarget grants seats with no ids: the audit fails the run.
	if a := res.Audit; !res.Failed() || a == nil || a.Checks[0].Codes[audit.HoldSeatUnknown] == 0 || a.Holds == 0 {
		t.Errorf("audit %+v; want holds granted seats the program does not have", a)
	}
	notes := strings.Join(res.Notes, "\n")
	for _, w := range []string{"for the whole journey", "no confirm", "no seat map", "harness gave lapsed holds back"} {
		if !strings.Contains(notes, w) {
			t.Errorf("notes %q; want them to say %q", notes, w)
		}
	}
}

// TestClosedLoopNoQueueing: the same target in a closed loop of one buyer
// shows the service time.
func TestClosedLoopNoQueueing(t *testing.T) {
	tgt := &slowTarget{service: 2 * time.Millisecond}
	cfg := load.Config{Model: load.Closed, Buyers: 1, Duration: 500 * time.Millisecond}
	res, err := Run(context.Background(), trainStream(t), tgt, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l := res.Figures.Holds.Latency; l.P50 < 2000 || l.P50 > 20_000 {
		t.Errorf("hold p50 %.0f µs; want about the 2 ms service time", l.P50)
	}
}

func TestLapseQueue(t *testing.T) {
	q := &lapseQueue{ttl: time.Second}
	t0 := time.Unix(0, 0)
	for i := range 100 {
		if _, early := q.push(t0.Add(time.Duration(i)*time.Millisecond), lapse{h: target.Hold{ID: strconv.Itoa(i)}}); early {
			t.Fatalf("push %d: early release with room left", i)
		}
	}
	if _, ok := q.due(t0.Add(999 * time.Millisecond)); ok {
		t.Fatal("due before the TTL")
	}
	for i := range 50 {
		l, ok := q.due(t0.Add(time.Second + 49*time.Millisecond))
		if !ok || l.h.ID != strconv.Itoa(i) {
			t.Fatalf("due #%d = %v, %v; want hold %d", i, l.h, ok, i)
		}
	}
	if _, ok := q.due(t0.Add(time.Second + 49*time.Millisecond)); ok {
		t.Fatal("hold 50 due 1 ms early")
	}
	if early, left := q.counts(); early != 0 || left != 50 {
		t.Errorf("counts = %d early, %d left; want 0, 50", early, left)
	}
}

// TestProgressFinalRate: the progress line's last tick gives the
// measured rate of hold requests, the report's, not the rate since the
// tick before, which the load's end makes about 0; a run stopped in its
// warm-up, the rate over it.
func TestProgressFinalRate(t *testing.T) {
	for _, tc := range []struct {
		warmUp, stop time.Duration // stop: 0 for none
		per          string
	}{
		{300 * time.Millisecond, 0, "/s measured)"},
		{0, 0, "/s measured)"},
		{5 * time.Second, 600 * time.Millisecond, "/s over the warm-up)"},
	} {
		var out bytes.Buffer
		tgt := &slowTarget{service: time.Millisecond}
		cfg := load.Config{Model: load.Closed, Buyers: 1, WarmUp: tc.warmUp, Duration: 700 * time.Millisecond}
		ctx, cancel := context.WithCancel(context.Background())
		if tc.stop > 0 {
			time.AfterFunc(tc.stop, cancel)
		}
		res, err := Run(ctx, trainStream(t), tgt, cfg, Options{Progress: load.NewLine(&out), Tick: 350 * time.Millisecond})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		final := lines[len(lines)-1]
		rate := res.Figures.AnswersPerSecond
		if tc.stop > 0 {
			rate = float64(res.Figures.Timeline[0].Answered) / tc.stop.Seconds()
		}
		want := fmt.Sprintf("(%.0f%s", rate, tc.per)
		if rate < 50 || !strings.Contains(final, " done ") || !strings.Contains(final, tc.per) || (tc.stop == 0 && !strings.Contains(final, want)) {
			t.Errorf("warm-up %v, stopped at %v: final progress %q; want it done, with about %q", tc.warmUp, tc.stop, final, want)
		}
	}
}
