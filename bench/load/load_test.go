package load

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowWorker takes service per visit and keeps each visit's latency from
// its due time.
type slowWorker struct {
	service time.Duration
	mu      *sync.Mutex
	lat     *[]time.Duration
}

func (w slowWorker) Visit(_ context.Context, _ uint64, due time.Time) {
	time.Sleep(w.service)
	w.mu.Lock()
	*w.lat = append(*w.lat, time.Since(due))
	w.mu.Unlock()
}

func (w slowWorker) Done() {}

func runSlow(t *testing.T, cfg Config, service time.Duration) ([]time.Duration, Result) {
	t.Helper()
	var mu sync.Mutex
	var lat []time.Duration
	res, err := Run(context.Background(), cfg, func(int, time.Time) Worker { return slowWorker{service, &mu, &lat} }, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lat)
	return lat, res
}

// TestOpenLoopShowsQueueing: visits due at 200/s at a target that serves
// 50/s through one slot wait for it, and their latency, taken from the
// due time, grows far past the service time; the visits never sent are
// the backlog.
func TestOpenLoopShowsQueueing(t *testing.T) {
	service := 20 * time.Millisecond
	lat, res := runSlow(t, Config{Model: Open, Rate: 200, MaxInFlight: 1, Duration: time.Second}, service)
	if len(lat) < 20 || len(lat) > 60 {
		t.Fatalf("%d visits answered; want about 50 (one slot, %v each, 1 s)", len(lat), service)
	}
	// Visit i is due at i*5ms and starts at about i*20ms: the last waited
	// some 750 ms.
	if worst := lat[len(lat)-1]; worst < 500*time.Millisecond {
		t.Errorf("worst latency %v; want the queueing (> 500ms) to show, not the %v service time", worst, service)
	}
	if res.Backlog < 100 {
		t.Errorf("backlog %d; want about 150 visits due and never sent", res.Backlog)
	}
}

// TestClosedLoopLatency: the same slow target in a closed
// loop shows its service time, since each buyer waits for its answer.
func TestClosedLoopLatency(t *testing.T) {
	service := 20 * time.Millisecond
	lat, res := runSlow(t, Config{Model: Closed, Buyers: 2, Duration: 500 * time.Millisecond}, service)
	if med := lat[len(lat)/2]; med < service || med > 4*service {
		t.Errorf("median latency %v; want about the %v service time", med, service)
	}
	if res.Backlog != 0 || res.Visits < 20 {
		t.Errorf("result %+v; want about 50 visits and no backlog", res)
	}
}

// TestOpenLoopKeepsRate: a fast target gets visits at the rate.
func TestOpenLoopKeepsRate(t *testing.T) {
	lat, res := runSlow(t, Config{Model: Open, Rate: 500, MaxInFlight: 8, Duration: time.Second}, 0)
	if res.Visits < 450 || res.Visits > 501 || res.Backlog > 5 {
		t.Errorf("result %+v; want about 500 visits and no backlog", res)
	}
	if med := lat[len(lat)/2]; med > 20*time.Millisecond {
		t.Errorf("median latency %v of an instant target; want the timer's slack only", med)
	}
}

func TestDueRamp(t *testing.T) {
	c := Config{Model: Open, Rate: 1000, Ramp: 2 * time.Second}
	// The ramp holds rate*ramp/2 = 1000 visits; visit 250 is at 1 s.
	for _, tt := range []struct {
		n    uint64
		want time.Duration
	}{{0, 0}, {250, time.Second}, {1000, 2 * time.Second}, {2000, 3 * time.Second}} {
		if got := c.Due(tt.n); (got - tt.want).Abs() > time.Millisecond {
			t.Errorf("Due(%d) = %v; want %v", tt.n, got, tt.want)
		}
	}
	if got := c.dueBefore(3 * time.Second); got < 1999 || got > 2001 {
		t.Errorf("dueBefore(3s) = %d; want 2000", got)
	}
}

func TestClosedRamp(t *testing.T) {
	var mu sync.Mutex
	first := map[int]time.Duration{}
	start := time.Now()
	cfg := Config{Model: Closed, Buyers: 4, Ramp: 400 * time.Millisecond, WarmUp: 400 * time.Millisecond, Duration: 100 * time.Millisecond}
	_, err := Run(context.Background(), cfg, func(i int, s time.Time) Worker {
		if i == 0 {
			start = s
		}
		return rampWorker{i: i, mu: &mu, first: first, start: &start}
	}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if first[3] < 250*time.Millisecond || first[0] > 50*time.Millisecond {
		t.Errorf("first visits %v; want buyer 0 at once, buyer 3 after about 300ms", first)
	}
}

type rampWorker struct {
	i     int
	mu    *sync.Mutex
	first map[int]time.Duration
	start *time.Time
}

func (w rampWorker) Visit(_ context.Context, _ uint64, due time.Time) {
	w.mu.Lock()
	if _, ok := w.first[w.i]; !ok {
		w.first[w.i] = due.Sub(*w.start)
	}
	w.mu.Unlock()
	time.Sleep(time.Millisecond)
}

func (w rampWorker) Done() {}

func TestConfigValidate(t *testing.T) {
	bad := Config{Model: Open, Rate: -1, MaxInFlight: 0, Duration: 0, Ramp: time.Hour, WarmUp: -time.Second}
	err := bad.Validate()
	for _, w := range []string{"-rate -1: want above 0", "-max-in-flight 0: want 1-", "-duration 0s: want above 0", "-warmup -1s: want 0 or more", "-ramp 1h0m0s: longer than the run"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() = %v; want it to say %q", err, w)
		}
	}
	if _, err := ParseModel("half-open"); err == nil {
		t.Error(`ParseModel("half-open") = nil error`)
	}
}
