package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	rpc "seatd/kitex_gen/inventoryrpc"
	"seatd/seatclient"
)

// waitStatus polls a node's cluster status until ok accepts it.
func waitStatus(t *testing.T, addr, what string, ok func(*rpc.ClusterStatusResponse) bool) *rpc.ClusterStatusResponse {
	t.Helper()
	var st *rpc.ClusterStatusResponse
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; {
		st, err = statusOf(addr)
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never happened: %v %v", what, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func everyGroupHas(voters int) func(*rpc.ClusterStatusResponse) bool {
	return func(st *rpc.ClusterStatusResponse) bool {
		for _, g := range st.Groups {
			if len(g.Voters) != voters || g.LeaderId == "" {
				return false
			}
		}
		return len(st.Groups) > 0
	}
}

// TestProcessesJoinAndRemove grows a one-node cluster to three with
// -join, checks that the new nodes caught up and that every member's RPC
// address is in the directory, reads the seat metrics, and removes a node
// with `seatd remove`.
func TestProcessesJoinAndRemove(t *testing.T) {
	bin := buildSeatd(t)
	raft1 := freePort(t)
	n1 := startProc(t, bin, "n1", raft1, "-bootstrap", "-peers", "n1="+raft1)
	c, err := seatclient.New(seatclient.Config{Seeds: []string{n1.rpc}, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cp := createOpen(t, c, arenaRPC(10, 10))
	ctx := context.Background()
	for i := range 5 {
		r, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: int64(i + 1), Count: 2, Together: true})
		if err != nil || r.Status.CodeName != "ok" {
			t.Fatalf("PlaceHold = %v, %v", r, err)
		}
	}

	n2 := startProc(t, bin, "n2", freePort(t), "-join", n1.rpc)
	n3 := startProc(t, bin, "n3", freePort(t), "-join", n2.rpc+","+n1.rpc)
	st := waitStatus(t, n1.rpc, "three voters in every group, three nodes in the directory", func(st *rpc.ClusterStatusResponse) bool {
		return everyGroupHas(3)(st) && len(st.Nodes) == 3
	})
	for i, p := range []*proc{n1, n2, n3} {
		if n := st.Nodes[i]; n.Id != fmt.Sprintf("n%d", i+1) || n.RpcAddr != p.rpc {
			t.Fatalf("directory row %d = %v; want n%d at %s", i, n, i+1, p.rpc)
		}
	}
	// The new replicas caught up: the same seat map everywhere, with the
	// 10 seats held before they joined.
	want := fmt.Sprint(seatMapOf(t, n1.rpc))
	for _, p := range []*proc{n2, n3} {
		for deadline := time.Now().Add(30 * time.Second); fmt.Sprint(seatMapOf(t, p.rpc)) != want; {
			if time.Now().After(deadline) {
				t.Fatalf("replica %s never caught up", p.rpc)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if held := strings.Count(want, ":held"); held != 10 {
		t.Fatalf("%d seats held on the replicas; want 10", held)
	}

	// The admin server exports the group's seats by status, and no clock
	// step.
	resp, err := http.Get("http://" + n2.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{
		fmt.Sprintf(`seatd_seat_legs{group="%d",status="held"} 10`, cp.Status.Group),
		fmt.Sprintf(`seatd_seat_legs{group="%d",status="free"} 90`, cp.Status.Group),
		fmt.Sprintf(`seatd_live_holds{group="%d"} 5`, cp.Status.Group),
		fmt.Sprintf(`seatd_clock_steps_total{group="%d"} 0`, cp.Status.Group),
	} {
		if !strings.Contains(string(body), line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}

	// `seatd status` prints the cluster; `seatd remove` takes n3 out.
	// n3 learns n2's address when it applies n2's announcement, which may
	// be a commit round behind.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, err := exec.Command(bin, "status", "-rpc", n3.rpc).CombinedOutput()
		if err == nil && strings.Contains(string(out), `"rpc_addr": "`+n2.rpc+`"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("seatd status = %v\n%s", err, out)
		}
	}
	if out, err := exec.Command(bin, "remove", "-rpc", n1.rpc, "-node", "n3").CombinedOutput(); err != nil {
		t.Fatalf("seatd remove = %v\n%s", err, out)
	}
	waitStatus(t, n1.rpc, "n3 gone from every group and the directory", func(st *rpc.ClusterStatusResponse) bool {
		return everyGroupHas(2)(st) && len(st.Nodes) == 2
	})
	if out, err := exec.Command(bin, "remove", "-rpc", n1.rpc).CombinedOutput(); err == nil {
		t.Fatalf("seatd remove without -node succeeded:\n%s", out)
	}
}
