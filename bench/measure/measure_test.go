package measure

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"seatd/bench/target"
)

func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want Code
	}{
		{nil, CodeOK},
		{fmt.Errorf("redis: %w", target.ErrSoldOut), CodeSoldOut},
		{fmt.Errorf("pg: %w", target.ErrNoAdjacent), CodeNoAdjacent},
		{target.ErrTaken, CodeTaken},
		{target.ErrPriceMismatch, CodePriceMismatch},
		{target.ErrUnknownHold, CodeUnknownHold},
		{errors.New("connection refused"), CodeOther},
	} {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("Classify(%v) = %v; want %v", tt.err, got, tt.want)
		}
	}
}

// TestFigures: the warm-up counts for the sale (buyers, sell-out,
// timeline) but not for the histograms and rates.
func TestFigures(t *testing.T) {
	r := NewRecorder(time.Second, 2*time.Second, []string{"a", "b", "c"}, 10)
	b := r.Batch()
	ms := time.Millisecond
	b.Add(Sample{Op: OpBest, Code: CodeOK, Start: 100 * ms, Latency: 5 * ms, Buyer: 1, Cat: 0})                    // warm-up
	b.Add(Sample{Op: OpConfirm, Code: CodeOK, Start: 106 * ms, Latency: ms, Buyer: 1, Cat: 0, SeatLegs: 2})        // warm-up
	b.Add(Sample{Op: OpBest, Code: CodeSoldOut, Start: 1500 * ms, Latency: 10 * ms, Buyer: 2, Cat: 0})             // measured
	b.Add(Sample{Op: OpNamed, Code: CodeTaken, Start: 1600 * ms, Latency: 20 * ms, Buyer: 3, Cat: 1})              // measured
	b.Add(Sample{Op: OpNamed, Code: CodeOther, Start: 2500 * ms, Latency: 30 * ms, Buyer: 3, Cat: 1, Err: "boom"}) // measured
	b.Add(Sample{Op: OpPoll, Code: CodeOK, Start: 2600 * ms, Latency: 40 * ms, Buyer: 4, Cat: 2})                  // not a hold
	b.Flush()
	f := r.Figures(3 * time.Second)
	if f.MeasuredSeconds != 2 || f.Holds.Requests != 3 || f.Holds.OK != 0 || f.AnswersPerSecond != 1.5 {
		t.Errorf("measured %v s, holds %+v, answers/s %v; want 2 s, 3 requests, none ok, 1.5/s", f.MeasuredSeconds, f.Holds, f.AnswersPerSecond)
	}
	if f.Errors["sold_out"] != 1 || f.Errors["taken"] != 1 || f.Errors["other"] != 1 || len(f.OtherErrors) != 1 || f.OtherErrors[0].Message != "boom" {
		t.Errorf("errors %v, other %v", f.Errors, f.OtherErrors)
	}
	if f.Buyers.Tried != 3 || f.Buyers.GotSeats != 1 || f.Buyers.Population != 10 {
		t.Errorf("buyers %+v; want 3 tried (polls do not count), 1 got seats", f.Buyers)
	}
	if a := f.SoldOut.Categories["a"]; a == nil || *a != 1.51 || f.SoldOut.Categories["b"] != nil || f.SoldOut.All != nil {
		t.Errorf("sold out %+v; want a at 1.51 s, b never, so not all (c was never asked for)", f.SoldOut)
	}
	if len(f.Timeline) != 3 || f.Timeline[0].Holds != 1 || f.Timeline[1].Answered != 2 || f.Timeline[2].Errors != 1 {
		t.Errorf("timeline %+v", f.Timeline)
	}
	if f.SeatLegsPaid != 2 {
		t.Errorf("seat-legs paid %d; want 2", f.SeatLegsPaid)
	}
	if f.RunSeconds != 3 {
		t.Errorf("run %v s; want 3", f.RunSeconds)
	}
	for _, tc := range []struct {
		end           time.Duration
		run, measured float64
	}{{2750 * ms, 2.75, 1.75}, {500 * ms, 0.5, 0}, {4 * time.Second, 3, 2}} {
		if f := r.Figures(tc.end); f.RunSeconds != tc.run || f.MeasuredSeconds != tc.measured {
			t.Errorf("Figures(%v): run %v s, measured %v s; want %v, %v", tc.end, f.RunSeconds, f.MeasuredSeconds, tc.run, tc.measured)
		}
	}
}

func TestReadCPU(t *testing.T) {
	c, err := ReadCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	if c.PID != os.Getpid() || c.Name == "" || c.Seconds < 0 {
		t.Errorf("ReadCPU(0) = %+v", c)
	}
	if _, err := ReadCPU(1 << 30); err == nil {
		t.Error("ReadCPU(no such pid) = nil error")
	}
	m, err := StartCPU(nil)
	if err != nil {
		t.Fatal(err)
	}
	for x, end := 0, time.Now().Add(50*time.Millisecond); time.Now().Before(end); x++ {
		_ = x
	}
	if got := m.Stop(10, 20); len(got.Processes) != 1 || got.Error != "" {
		t.Errorf("Stop = %+v", got)
	}

	// A process that ended before the window is left out (a server's
	// list of its processes goes stale: a backend ends); one that ends
	// during it is reported, not fatal.
	cmd := exec.Command("sleep", "0.2")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	live := cmd.Process.Pid
	m, err = StartCPU([]int{1 << 30, live})
	if err != nil {
		t.Fatalf("StartCPU(an ended pid, a live one) = %v; want the ended one left out", err)
	}
	cmd.Wait()
	if got := m.Stop(1, 1); len(got.Processes) != 1 || got.Processes[0].PID != os.Getpid() || got.Error == "" {
		t.Errorf("Stop after the live one ended = %+v; want this process alone and the ended one named in Error", got)
	}
}
