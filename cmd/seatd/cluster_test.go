package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	rpc "seatd/kitex_gen/inventoryrpc"
	"seatd/raftfsm"
	"seatd/seatclient"
)

// The cluster operations of docs/cluster.md, each through the seatd
// commands an operator runs, on real processes.

// startCluster bootstraps n nodes n1..n with extra flags (after the
// defaults of startProc, so they win) and returns them and a client.
func startCluster(t *testing.T, bin string, n int, extra ...string) ([]*proc, *seatclient.Client) {
	t.Helper()
	var raftAddrs, peers, seeds []string
	for i := range n {
		raftAddrs = append(raftAddrs, freePort(t))
		peers = append(peers, fmt.Sprintf("n%d=%s", i+1, raftAddrs[i]))
	}
	var procs []*proc
	for i := range n {
		args := append([]string{"-bootstrap", "-peers", strings.Join(peers, ",")}, extra...)
		p := startProc(t, bin, fmt.Sprintf("n%d", i+1), raftAddrs[i], args...)
		procs = append(procs, p)
		seeds = append(seeds, p.rpc)
	}
	c, err := seatclient.New(seatclient.Config{Seeds: seeds, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return procs, c
}

// seatdCmd runs an admin command and returns its stdout, stderr and exit
// status.
func seatdCmd(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errOut.String(), 0
	case errors.As(err, &exit):
		return out.String(), errOut.String(), exit.ExitCode()
	}
	t.Fatalf("seatd %v: %v", args, err)
	return "", "", -1
}

// mustSeatd runs an admin command that must succeed.
func mustSeatd(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, errOut, code := seatdCmd(t, bin, args...)
	if code != 0 {
		t.Fatalf("seatd %v: exit %d\n%s%s", args, code, out, errOut)
	}
	return out
}

// rpcList is the -rpc value naming every process.
func rpcList(procs ...*proc) string {
	var addrs []string
	for _, p := range procs {
		addrs = append(addrs, p.rpc)
	}
	return strings.Join(addrs, ",")
}

// argOf returns the value of a flag in a process's command line.
func argOf(p *proc, name string) string {
	i := slices.Index(p.args, name)
	if i < 0 || i+1 >= len(p.args) {
		return ""
	}
	return p.args[i+1]
}

var leadsRow = regexp.MustCompile(`(?m)^(n\d+)\s+(\d+)\s+(\d+)\s+(yes|no)$`)

// ledIn parses the node table of `seatd leaders`: node -> groups led, and
// which nodes it shows drained.
func ledIn(t *testing.T, out string) (map[string]int, map[string]bool) {
	t.Helper()
	led, drained := map[string]int{}, map[string]bool{}
	for _, m := range leadsRow.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[2])
		led[m[1]], drained[m[1]] = n, m[4] == "yes"
	}
	if len(led) == 0 {
		t.Fatalf("no node table in:\n%s", out)
	}
	return led, drained
}

// ledByProcs counts the groups each node leads, as the leaders say
// themselves (state Leader in the newest term of each group).
func ledByProcs(procs []*proc, groups int) map[string]int {
	led := map[string]int{}
	for g := range groups + 1 {
		var id string
		var term int64 = -1
		for _, p := range procs {
			st, err := statusOf(p.rpc)
			if err != nil {
				continue
			}
			for _, gs := range st.Groups {
				if gs.Group == int32(g) && gs.State == "Leader" && gs.Term > term {
					id, term = st.NodeId, gs.Term
				}
			}
		}
		if id != "" {
			led[id]++
		}
	}
	return led
}

// TestProcessesAddNodeAndRebalance: a fourth node joins a running
// three-node cluster (`seatd run -join`) and catches up, holds placed
// before it joined included, leading nothing; `seatd rebalance` gives it
// a share, after which every node leads 2 or 3 groups
// (floor and ceil of 9/4), as the leaders report themselves and as `seatd
// leaders` prints it. Also the commands' refusals: an unknown node id,
// a missing -node, no node reachable.
func TestProcessesAddNodeAndRebalance(t *testing.T) {
	bin := buildSeatd(t)
	// The nodes' own balancer is slowed to an hour, so that only seatd
	// rebalance moves leaders.
	procs, c := startCluster(t, bin, 3, "-groups", "8", "-balance-interval", "1h")
	createOpen(t, c, arenaRPC(10, 10))
	ctx := context.Background()
	for i := range 5 {
		r, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: int64(i + 1), Count: 2, Together: true})
		if err != nil || r.Status.CodeName != "ok" {
			t.Fatalf("PlaceHold = %v, %v", r, err)
		}
	}

	n4 := startProc(t, bin, "n4", freePort(t), "-groups", "8", "-balance-interval", "1h", "-join", rpcList(procs...))
	all := append(slices.Clone(procs), n4)
	waitStatus(t, procs[0].rpc, "four voters in every group, four nodes in the directory", func(st *rpc.ClusterStatusResponse) bool {
		return everyGroupHas(4)(st) && len(st.Nodes) == 4
	})
	want := fmt.Sprint(seatMapOf(t, procs[0].rpc))
	for deadline := time.Now().Add(30 * time.Second); fmt.Sprint(seatMapOf(t, n4.rpc)) != want; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("n4 never caught up")
		}
	}
	if held := strings.Count(want, ":held"); held != 10 {
		t.Fatalf("%d seats held on n4; want 10", held)
	}

	out := mustSeatd(t, bin, "rebalance", "-rpc", procs[0].rpc)
	t.Logf("seatd rebalance:\n%s", out)
	if !strings.Contains(out, "GROUP") || !strings.Contains(out, "NODE") {
		t.Fatalf("seatd rebalance printed no leaders:\n%s", out)
	}
	check := func(led map[string]int, from string) {
		t.Helper()
		for _, id := range []string{"n1", "n2", "n3", "n4"} {
			if led[id] < 2 || led[id] > 3 {
				t.Fatalf("%s after rebalance: %v; want every node leading 2-3 of 9 groups", from, led)
			}
		}
	}
	// The leaders' own word: a transfer's last step may be a commit round
	// from showing on every node.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		led := ledByProcs(all, 8)
		if led["n4"] >= 2 || time.Now().After(deadline) {
			check(led, "the processes")
			break
		}
	}
	led, drained := ledIn(t, mustSeatd(t, bin, "leaders", "-rpc", rpcList(all...)))
	check(led, "seatd leaders")
	if len(drained) != 4 || drained["n1"] {
		t.Fatalf("seatd leaders: drained %v; want four nodes, none drained", drained)
	}

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"remove", "-rpc", procs[0].rpc, "-node", "n9"}, 1, `node is not in the cluster: "n9" (members n1, n2, n3, n4)`},
		{[]string{"drain", "-rpc", procs[0].rpc, "-node", "n9"}, 1, `node is not in the cluster: "n9" (members n1, n2, n3, n4)`},
		{[]string{"drain", "-rpc", procs[0].rpc}, 2, "drain: -node is required"},
		{[]string{"leaders", "-rpc", "127.0.0.1:1", "-timeout", "1s"}, 1, "cannot reach any node of 127.0.0.1:1"},
		{[]string{"rebalance", "-rpc", procs[0].rpc, "extra"}, 2, "unexpected arguments"},
		{[]string{"shuffle"}, 2, `unknown command "shuffle"`},
		{[]string{"move", "-rpc", procs[0].rpc, "-group", "2"}, 2, "-program"},
	} {
		out, errOut, code := seatdCmd(t, bin, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("seatd %v: exit %d, %q; want exit %d saying %q", tc.args, code, errOut, tc.code, tc.msg)
		}
		if out != "" {
			t.Errorf("seatd %v refused, and printed %q on stdout; want nothing there", tc.args, out)
		}
	}
	if usage, _, code := seatdCmd(t, bin, "-h"); code != 0 || !strings.Contains(usage, "-bootstrap") ||
		!strings.Contains(usage, "seatd drain ") || !strings.Contains(usage, "seatd move ") || !strings.Contains(usage, "seatd backup ") {
		t.Errorf("seatd -h: exit %d, %q; want 0, run's flags and the other commands", code, usage)
	}
	if _, usage, code := seatdCmd(t, bin, "undrain", "-h"); code != 0 || !strings.Contains(usage, "usage: seatd undrain") || !strings.Contains(usage, "-node") {
		t.Errorf("seatd undrain -h: exit %d, %q; want 0 and the usage", code, usage)
	}
}

// TestProcessesReplaceDeadNode: a node is killed (SIGKILL) and its data
// directory deleted. A fresh node under the dead node's id is refused
// while the id is a member (it would vote and acknowledge again having
// forgotten its log); `seatd remove` takes the dead id out, a fresh n4
// joins, and every hold placed before stays readable and confirmable. To
// show that n4 holds the data, the leader of the program's group is then
// killed as well: n4 and the other survivor carry on, and new holds and
// the old ones still work.
func TestProcessesReplaceDeadNode(t *testing.T) {
	bin := buildSeatd(t)
	procs, c := startCluster(t, bin, 3)
	cp := createOpen(t, c, arenaRPC(20, 20))
	ctx := context.Background()
	var holds []int64
	for i := range 20 {
		r, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: int64(i + 1), Count: 2, Together: true})
		if err != nil || r.Status.CodeName != "ok" {
			t.Fatalf("PlaceHold = %v, %v", r, err)
		}
		holds = append(holds, r.Hold.HoldId)
	}

	dead := procs[2]
	dead.cmd.Process.Signal(syscall.SIGKILL)
	dead.cmd.Wait()
	if err := os.RemoveAll(argOf(dead, "-data-dir")); err != nil {
		t.Fatal(err)
	}
	live := procs[:2]

	// The wrong way: the dead node's id and address with an empty disk.
	// It is refused before its Raft listener opens (the leaders would
	// replicate to it at once), so it stores nothing.
	emptied := t.TempDir()
	again := exec.Command(bin, "run", "-id", "n3", "-data-dir", emptied, "-raft-addr", argOf(dead, "-raft-addr"), "-rpc-addr", freePort(t),
		"-admin-addr", freePort(t), "-groups", "2", "-log-level", "warn", "-join", rpcList(live...), "-join-timeout", "20s")
	out, err := again.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `"n3" is a voter`) || !strings.Contains(string(out), "remove it first") {
		t.Fatalf("a fresh n3 joining while n3 is a member: %v\n%s\nwant it refused", err, out)
	}
	if raftfsm.HasStore(emptied) {
		t.Fatal("the refused n3 created a store")
	}

	if out := mustSeatd(t, bin, "remove", "-rpc", rpcList(live...), "-node", "n3"); !strings.Contains(out, "n3 removed") {
		t.Fatalf("seatd remove printed %q", out)
	}
	// A new node with another -groups than the cluster's would be a voter
	// of groups it does not run: refused before it stores anything.
	wrong := t.TempDir()
	out, err = exec.Command(bin, "run", "-id", "n4", "-data-dir", wrong, "-raft-addr", freePort(t), "-rpc-addr", freePort(t),
		"-admin-addr", freePort(t), "-groups", "3", "-log-level", "warn", "-join", rpcList(live...), "-join-timeout", "20s").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "the cluster has 2 inventory groups and this node -groups 3") {
		t.Fatalf("n4 joining with -groups 3 in a cluster of 2: %v\n%s\nwant it refused", err, out)
	}
	if raftfsm.HasStore(wrong) {
		t.Fatal("the refused n4 created a store")
	}
	n4 := startProc(t, bin, "n4", freePort(t), "-join", rpcList(live...))
	members := append(slices.Clone(live), n4)
	waitStatus(t, live[0].rpc, "n1, n2, n4 in every group and the directory", func(st *rpc.ClusterStatusResponse) bool {
		if !everyGroupHas(3)(st) || len(st.Nodes) != 3 {
			return false
		}
		for _, g := range st.Groups {
			if !slices.Equal(slices.Sorted(slices.Values(g.Voters)), []string{"n1", "n2", "n4"}) {
				return false
			}
		}
		return true
	})
	want := fmt.Sprint(seatMapOf(t, live[0].rpc))
	for deadline := time.Now().Add(30 * time.Second); fmt.Sprint(seatMapOf(t, n4.rpc)) != want; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("n4 never caught up")
		}
	}

	// Kill the program group's leader (n1 or n2): n4 is now needed for a
	// majority, and must have every hold.
	victim := leaderOf(members, cp.Status.Group)
	if victim == nil || victim == n4 {
		victim = live[0]
	}
	victim.cmd.Process.Signal(syscall.SIGKILL)
	victim.cmd.Wait()
	for i, id := range holds {
		r, err := c.GetHold(ctx, &rpc.GetHoldRequest{HoldId: id, Consistent: true})
		if err != nil || r.Status.CodeName != "ok" || r.Hold.Status != "HELD" || len(r.Hold.Seats) != 2 {
			t.Fatalf("hold %d placed before the replacement: %v, %v; want it held with 2 seats", id, r, err)
		}
		if i%2 == 0 {
			r, err := c.Confirm(ctx, &rpc.ConfirmRequest{HoldId: id})
			if err != nil || r.Status.CodeName != "ok" {
				t.Fatalf("Confirm(%d) = %v, %v", id, r, err)
			}
		}
	}
	r, err := c.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: 99, Count: 2, Together: true})
	if err != nil || r.Status.CodeName != "ok" {
		t.Fatalf("PlaceHold after the replacement = %v, %v", r, err)
	}
}

// TestProcessesDrain: under a steady load of holds through the routing
// client, `seatd drain` of the leader of the program's group moves every
// leadership off it with no hold failing (callers only retry); /readyz
// says drained and seatd_drained is 1; it still leads nothing after the
// nodes' balancer has run (BalanceInterval, 5 s) and after a restart (the
// mark is replicated); `seatd undrain` gives it its share back and makes
// it ready again.
func TestProcessesDrain(t *testing.T) {
	bin := buildSeatd(t)
	procs, c := startCluster(t, bin, 3)
	cp := createOpen(t, c, arenaRPC(400, 1000))
	var acked, failed atomic.Int64
	var lastErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		close(stop)
		wg.Wait()
	}()
	for w := range 8 {
		wg.Go(func() {
			tick := time.NewTicker(10 * time.Millisecond)
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
					acked.Add(1)
				} else {
					failed.Add(1)
					lastErr.Store(fmt.Sprint(r, err))
				}
			}
		})
	}
	waitHolds := func(what string) {
		t.Helper()
		from := acked.Load()
		for deadline := time.Now().Add(10 * time.Second); acked.Load() < from+50; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("holds stopped %s", what)
			}
		}
	}
	waitHolds("before the drain")

	victim := waitLeaderOf(t, procs, cp.Status.Group)
	id := fmt.Sprintf("n%d", slices.Index(procs, victim)+1)
	out := mustSeatd(t, bin, "drain", "-rpc", rpcList(procs...), "-node", id)
	if !strings.Contains(out, fmt.Sprintf("group %d: %s -> ", cp.Status.Group, id)) {
		t.Fatalf("seatd drain -node %s printed no move of group %d:\n%s", id, cp.Status.Group, out)
	}
	led, drained := ledIn(t, out)
	if led[id] != 0 || !drained[id] {
		t.Fatalf("seatd drain -node %s: leaders table %v drained %v; want it drained, leading nothing", id, led, drained)
	}
	waitHolds("after the drain")

	body := func(path string) (int, string) {
		resp, err := http.Get("http://" + victim.admin + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The node's own replica of the meta group applies the mark within a
	// commit round or two.
	waitBody := func(path string, code int, want string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			c, b := body(path)
			if c == code && strings.Contains(b, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s of %s = %d %q; want %d %q", path, id, c, b, code, want)
			}
		}
	}
	waitBody("/readyz", http.StatusServiceUnavailable, "drained")
	waitBody("/metrics", http.StatusOK, "\nseatd_drained 1\n")
	// notLeading waits up to a balance interval for the drained node to
	// lead nothing: an election on a loaded machine may make it a leader
	// for a moment, and its balancer then hands the group over (a lost
	// mark would keep it a leader).
	notLeading := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(6 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			led := ledByProcs(procs, 2)
			if led[id] == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("drained %s leads %v %s", id, led, what)
			}
		}
	}
	// Two balance intervals: the balancer must not give it a group back.
	leading := 0
	for range 10 {
		time.Sleep(time.Second)
		if led := ledByProcs(procs, 2); led[id] != 0 {
			leading++
			t.Logf("drained %s leads %v (an election?)", id, led)
		}
	}
	if leading > 2 {
		t.Fatalf("drained %s led a group in %d of 10 samples over two balance intervals", id, leading)
	}
	notLeading("after two balance intervals")

	// A restart keeps the mark (it lives in the meta group).
	victim.cmd.Process.Signal(syscall.SIGTERM)
	victim.cmd.Wait()
	victim.start(t)
	waitSettled(t, procs)
	time.Sleep(6 * time.Second)
	notLeading("after a restart")
	waitBody("/readyz", http.StatusServiceUnavailable, "drained")
	waitHolds("after the drained node's restart")

	out = mustSeatd(t, bin, "undrain", "-rpc", rpcList(procs...), "-node", id)
	if led, drained := ledIn(t, out); led[id] < 1 || drained[id] {
		t.Fatalf("seatd undrain -node %s: leaders %v drained %v; want it leading its share", id, led, drained)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if led := ledByProcs(procs, 2); led[id] >= 1 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("undrained %s leads %v", id, led)
		}
	}
	waitBody("/readyz", http.StatusOK, "ready")
	waitBody("/metrics", http.StatusOK, "\nseatd_drained 0\n")
	waitHolds("after the undrain")
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d holds failed across drain, restart and undrain; want none (last: %v)", n, n+acked.Load(), lastErr.Load())
	}
	t.Logf("%d holds acknowledged across drain, restart and undrain, none failed", acked.Load())
}
