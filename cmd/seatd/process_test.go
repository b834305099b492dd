package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"seatd/internal/localserver"
	rpc "seatd/kitex_gen/inventoryrpc"
	"seatd/seatclient"
)

// freePort returns a loopback address reserved for this test binary
// (localserver.FreePorts): a process killed and started again binds it
// again, and no other process is given it meanwhile.
func freePort(t testing.TB) string {
	addrs, err := localserver.FreeAddrs(1)
	if err != nil {
		t.Fatal(err)
	}
	return addrs[0]
}

type proc struct {
	bin        string
	args       []string
	cmd        *exec.Cmd
	rpc, admin string
}

func (p *proc) start(t testing.TB) {
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Stderr = os.Stderr
	if !testing.Verbose() {
		p.cmd.Stderr = nil
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

// TestProcessesSurviveSIGKILL builds seatd, runs three processes, holds
// seats from many goroutines through the routing client, kills the
// leader of the program's group with SIGKILL mid-load, restarts it, and
// checks: no acknowledged hold lost, no seat held twice, every replica the
// same.
func TestProcessesSurviveSIGKILL(t *testing.T) {
	procs, c, cp := startProcesses(t, arenaRPC(20, 30))
	ctx := context.Background()

	var mu sync.Mutex
	acked := map[int64][]string{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: int64(w + 1), Count: 1 + int32(i%2), Together: true})
				if err == nil && r.Status.Route == rpc.Route_OK && r.Status.CodeName == "ok" {
					var seats []string
					for _, s := range r.Hold.Seats {
						seats = append(seats, s.Id)
					}
					mu.Lock()
					acked[r.Hold.HoldId] = seats
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(time.Second)
	// SIGKILL the leader of the program's group.
	var victim *proc
	for _, p := range procs {
		st, err := statusOf(p.rpc)
		if err != nil {
			continue
		}
		for _, g := range st.Groups {
			if g.Group == cp.Status.Group && g.State == "Leader" {
				victim = p
			}
		}
	}
	if victim == nil {
		t.Fatal("no leader found for the program's group")
	}
	victim.cmd.Process.Signal(syscall.SIGKILL)
	victim.cmd.Wait()
	time.Sleep(time.Second)
	victim.start(t)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	// Every replica converges to the same seat map, and every acknowledged
	// hold is there with its seats, none sharing a seat.
	var maps []map[string]string
	for deadline := time.Now().Add(30 * time.Second); ; {
		maps = maps[:0]
		var indexes []int64
		for _, p := range procs {
			st, err := statusOf(p.rpc)
			if err != nil {
				break
			}
			for _, g := range st.Groups {
				if g.Group == cp.Status.Group {
					indexes = append(indexes, g.AppliedIndex)
				}
			}
		}
		if len(indexes) == 3 && indexes[0] == indexes[1] && indexes[1] == indexes[2] {
			for _, p := range procs {
				maps = append(maps, seatMapOf(t, p.rpc))
			}
			if fmt.Sprint(maps[0]) == fmt.Sprint(maps[1]) && fmt.Sprint(maps[1]) == fmt.Sprint(maps[2]) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas did not converge: applied %v", indexes)
		}
		time.Sleep(200 * time.Millisecond)
	}
	owner := map[string]int64{}
	for id, seats := range acked {
		r, err := c.GetHold(ctx, &rpc.GetHoldRequest{HoldId: id, Consistent: true})
		if err != nil || r.Status.CodeName != "ok" || len(r.Hold.Seats) != len(seats) {
			t.Fatalf("acknowledged hold %d lost: %v %v", id, r, err)
		}
		for i, s := range r.Hold.Seats {
			if s.Id != seats[i] {
				t.Fatalf("hold %d: seat %s, acknowledged %s", id, s.Id, seats[i])
			}
			if other, ok := owner[s.Id]; ok {
				t.Fatalf("seat %s in holds %d and %d", s.Id, other, id)
			}
			owner[s.Id] = id
			if maps[0][s.Id] != "held" {
				t.Fatalf("seat %s of hold %d is %q on the replicas", s.Id, id, maps[0][s.Id])
			}
		}
	}
	t.Logf("%d holds acknowledged across a SIGKILL of the group leader; replicas equal", len(acked))
	if len(acked) < 20 {
		t.Fatalf("only %d holds acknowledged", len(acked))
	}
}

// buildSeatd builds the seatd binary into a temporary directory.
func buildSeatd(t testing.TB) string {
	bin := filepath.Join(t.TempDir(), "seatd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startProc starts a seatd node with its own data directory and ports on
// loopback, killed at the end of the test.
func startProc(t testing.TB, bin, id, raftAddr string, extra ...string) *proc {
	p := &proc{bin: bin, rpc: freePort(t), admin: freePort(t)}
	p.args = append([]string{"run", "-id", id, "-data-dir", t.TempDir(), "-raft-addr", raftAddr, "-rpc-addr", p.rpc,
		"-admin-addr", p.admin, "-groups", "2", "-log-level", "warn"}, extra...)
	p.start(t)
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	})
	return p
}

// startProcesses builds seatd, runs three processes on loopback with
// extra flags (after the defaults, so they override them), creates spec
// through the routing client and opens its sale.
func startProcesses(t testing.TB, spec *rpc.ProgramSpec, extra ...string) ([]*proc, *seatclient.Client, *rpc.CreateProgramResponse) {
	bin := buildSeatd(t)
	var procs []*proc
	var peers, seeds []string
	raftAddrs := []string{freePort(t), freePort(t), freePort(t)}
	for i := range 3 {
		peers = append(peers, fmt.Sprintf("n%d=%s", i+1, raftAddrs[i]))
	}
	for i := range 3 {
		p := startProc(t, bin, fmt.Sprintf("n%d", i+1), raftAddrs[i], append([]string{"-bootstrap", "-peers", strings.Join(peers, ",")}, extra...)...)
		procs = append(procs, p)
		seeds = append(seeds, p.rpc)
	}
	c, err := seatclient.New(seatclient.Config{Seeds: seeds, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return procs, c, createOpen(t, c, spec)
}

// createOpen creates spec through the client, retrying while the cluster
// elects its leaders, and opens its sale.
func createOpen(t testing.TB, c *seatclient.Client, spec *rpc.ProgramSpec) *rpc.CreateProgramResponse {
	ctx := context.Background()
	var cp *rpc.CreateProgramResponse
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; {
		cp, err = c.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: spec})
		if err == nil && cp.Status.Route == rpc.Route_OK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CreateProgram = %v, %v", cp, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r, err := c.SetSale(ctx, &rpc.SetSaleRequest{ProgramId: spec.Id, Open: true}); err != nil || r.Status.CodeName != "ok" {
		t.Fatalf("SetSale = %v, %v", r, err)
	}
	return cp
}

// arenaRPC is a one-section venue of rows x cols seats, program "show".
func arenaRPC(rows, cols int) *rpc.ProgramSpec {
	spec := &rpc.ProgramSpec{Id: "show", MaxSeatsPerUser: 1 << 16, MaxSeatsPerHold: 4, Categories: []*rpc.Category{{Id: "a", PriceCents: 100}}}
	sec := &rpc.Section{Id: "A"}
	for r := range rows {
		row := &rpc.Row{Id: fmt.Sprint(r + 1), Rank: int32(r + 1)}
		for col := range cols {
			row.Seats = append(row.Seats, &rpc.Seat{Col: int32(col + 1), Category: "a"})
		}
		sec.Rows = append(sec.Rows, row)
	}
	spec.Sections = []*rpc.Section{sec}
	return spec
}
