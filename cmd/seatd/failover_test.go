package main

import (
	"context"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	rpc "seatd/kitex_gen/inventoryrpc"
	"seatd/seatclient"
)

// maxMedianStall bounds the median stall of TestFailoverStall's trials
// of each kind. The target is 2 s at p99 over many trials (measure it with
// SEATD_FAILOVER_TRIALS; docs/replication.md, "Failover"). A run of a few trials
// asserts the median instead of the worst: on the shared 2-core machine
// a burst of load now and then starves every process for a second, and
// even healthy followers miss heartbeats then, so a single trial can stall
// past 2 s (3 of 228 did, at 2.3, 2.4 and 4.1 s). Before the routing
// client's per-attempt timeouts every pause trial stalled 4-5 s.
const maxMedianStall = 2 * time.Second

// ackLog records when holds were acknowledged.
type ackLog struct {
	mu    sync.Mutex
	times []time.Time // in order of recording, nearly time order; at most one per seat of the venue
}

func (l *ackLog) add(t time.Time) {
	l.mu.Lock()
	l.times = append(l.times, t)
	l.mu.Unlock()
}

// last returns the time of the latest acknowledgement, and how many
// there were.
func (l *ackLog) last() (time.Time, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.times) == 0 {
		return time.Time{}, 0
	}
	return slices.MaxFunc(l.times, time.Time.Compare), len(l.times)
}

// stall returns the longest time without an acknowledgement from the
// last one before from to the first one after to (the time callers saw no
// hold go through), and when it began.
func (l *ackLog) stall(from, to time.Time) (time.Duration, time.Time) {
	l.mu.Lock()
	ts := slices.Clone(l.times)
	l.mu.Unlock()
	slices.SortFunc(ts, time.Time.Compare)
	var longest time.Duration
	var began time.Time
	for i := 1; i < len(ts); i++ {
		if d := ts[i].Sub(ts[i-1]); ts[i].After(from) && ts[i-1].Before(to) && d > longest {
			longest, began = d, ts[i-1]
		}
	}
	return longest, began
}

// leaderOf returns the process leading a group, as the processes report
// it: the one that says it is leader in the newest term.
func leaderOf(procs []*proc, group int32) *proc {
	var lead *proc
	var term int64
	for _, p := range procs {
		st, err := statusOf(p.rpc)
		if err != nil {
			continue
		}
		for _, g := range st.Groups {
			if g.Group == group && g.State == "Leader" && g.Term > term {
				lead, term = p, g.Term
			}
		}
	}
	return lead
}

// waitLeaderOf is leaderOf waiting up to 30 s for a leader (an election
// after a kill, on a loaded machine): it fails the test if none leads by
// then.
func waitLeaderOf(t testing.TB, procs []*proc, group int32) *proc {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if lead := leaderOf(procs, group); lead != nil {
			return lead
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader of group %d within 30 s", group)
		}
	}
}

// waitSettled waits until every process answers, every group has a
// writable leader, and every replica has applied nearly (within 100
// entries) what its leader committed, so that a trial starts from a
// cluster that could elect any of its nodes.
func waitSettled(t *testing.T, procs []*proc) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		settled := true
		writable := map[int32]bool{}
		commit := map[int32]int64{}
		var applied []map[int32]int64
		for _, p := range procs {
			st, err := statusOf(p.rpc)
			if err != nil {
				settled = false
				break
			}
			a := map[int32]int64{}
			for _, g := range st.Groups {
				a[g.Group] = g.AppliedIndex
				if g.Writable {
					writable[g.Group] = true
					commit[g.Group] = g.CommitIndex
				}
			}
			applied = append(applied, a)
		}
		for _, a := range applied {
			for g, idx := range a {
				settled = settled && writable[g] && idx+100 >= commit[g]
			}
		}
		if settled && len(applied) == len(procs) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the cluster did not settle after a trial")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFailoverStall measures how long holds stop when the leader of the
// program's group dies (SIGKILL, restarted once holds flow again) or
// freezes (SIGSTOP for 5 s, then SIGCONT), under a steady load of holds
// through the routing client from 16 callers. A trial's stall is the
// longest time in it with no hold acknowledged, from the last hold before
// the fault to the first after it, and any stall that follows (the
// restart, the wake-up) counts too. It runs 3 trials of each kind,
// alternating, in about 35 s; SEATD_FAILOVER_TRIALS=n runs n of each, for
// percentiles.
func TestFailoverStall(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and pauses processes for half a minute")
	}
	trials := 3
	if s := os.Getenv("SEATD_FAILOVER_TRIALS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("SEATD_FAILOVER_TRIALS=%q: want a positive count", s)
		}
		trials = n
	}
	// 1,000 holds a second at most, a seat each: enough seats for about
	// 7 minutes, room for SEATD_FAILOVER_TRIALS=20.
	procs, _, cp := startProcesses(t, arenaRPC(400, 1000))
	// The load goes through a client with the default settings, as the
	// gateway's.
	var seeds []string
	for _, p := range procs {
		seeds = append(seeds, p.rpc)
	}
	c, err := seatclient.New(seatclient.Config{Seeds: seeds})
	if err != nil {
		t.Fatal(err)
	}
	acks := &ackLog{times: make([]time.Time, 0, 1<<16)}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		close(stop)
		wg.Wait()
	}()
	for w := range 16 {
		wg.Go(func() {
			tick := time.NewTicker(16 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				r, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: int64(w*1_000_000 + i + 1), Count: 1})
				cancel()
				if err == nil && r.Status.CodeName == "ok" {
					acks.add(time.Now())
				}
			}
		})
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if last, _ := acks.last(); time.Since(last) < 100*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("holds never started flowing")
		}
		time.Sleep(10 * time.Millisecond)
	}

	stalls := map[string][]time.Duration{}
	for trial := range 2 * trials {
		kind := [2]string{"kill", "pause"}[trial%2]
		victim := waitLeaderOf(t, procs, cp.Status.Group)
		fault := time.Now()
		switch kind {
		case "kill":
			victim.cmd.Process.Signal(syscall.SIGKILL)
			victim.cmd.Wait()
			// Restart once holds flow again, or after 10 s.
			for last, _ := acks.last(); time.Since(fault) < 10*time.Second && !last.After(fault); last, _ = acks.last() {
				time.Sleep(10 * time.Millisecond)
			}
			victim.start(t)
		case "pause":
			victim.cmd.Process.Signal(syscall.SIGSTOP)
			time.Sleep(5 * time.Second)
			victim.cmd.Process.Signal(syscall.SIGCONT)
		}
		time.Sleep(time.Second) // the stall after a restart or a wake-up counts too
		waitSettled(t, procs)
		stall, began := acks.stall(fault, time.Now())
		stalls[kind] = append(stalls[kind], stall)
		t.Logf("trial %d: %s of the leader of group %d at %s: holds stalled %v from %+v", trial+1, kind, cp.Status.Group,
			fault.Format("15:04:05.000"), stall.Round(time.Millisecond), began.Sub(fault).Round(time.Millisecond))
	}
	_, n := acks.last()
	t.Logf("%d holds acknowledged in %d calls", n, c.Stats().HoldCalls)
	for _, kind := range []string{"kill", "pause"} {
		s := slices.Clone(stalls[kind])
		slices.Sort(s)
		p50 := s[len(s)/2]
		t.Logf("%s: %d trials, stall p50 %v, p99 %v, max %v", kind, len(s), p50.Round(time.Millisecond),
			s[(len(s)*99+99)/100-1].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
		if p50 > maxMedianStall {
			t.Errorf("%s: median stall %v over %d trials; want at most %v", kind, p50.Round(time.Millisecond), len(s), maxMedianStall)
		}
	}
}
