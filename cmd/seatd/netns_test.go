package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"seatd/internal/browsertest"
)

// netnsCluster is three seatd nodes, each in a network namespace of its
// own, joined by veth pairs to a bridge in the test's namespace: their
// Raft and RPC traffic crosses real network devices, so a link can be
// cut or made lossy for one node alone.
type netnsCluster struct {
	t      *testing.T
	bridge string
	ns     []string // the nodes' namespaces
	host   []string // the host ends of their veth pairs
	dev    []string // their ends inside the namespaces
	procs  []*proc
	addrs  []string // the nodes' RPC addresses
}

// run runs a command that sets the network up, failing the test on error.
func (c *netnsCluster) run(args ...string) {
	c.t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		c.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// needNetworkTools skips the test unless it can make namespaces (root,
// ip, tc and nft), or fails it in CI, where .ci/run installs them.
func needNetworkTools(t *testing.T) {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, tool := range []string{"ip", "tc", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("network namespace tests need %v (.ci/run installs iproute2 and nftables, and runs as root)", missing)
	}
	t.Skipf("network namespace tests need %v; CI has them", missing)
}

// startNetnsCluster makes the namespaces and runs a node in each, all of
// them torn down when the test ends. The subnet, 10.201.N.0/24, and the
// device names carry the test process's id, so that two runs on one
// machine do not meet.
func startNetnsCluster(t *testing.T, bin string) *netnsCluster {
	id := os.Getpid() % 10000
	c := &netnsCluster{t: t, bridge: fmt.Sprintf("sdbr%d", id)}
	subnet := fmt.Sprintf("10.201.%d", id%250)
	t.Cleanup(func() {
		for _, p := range c.procs {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
		for _, ns := range c.ns {
			exec.Command("ip", "netns", "del", ns).Run() // takes its veth pair with it
		}
		exec.Command("ip", "link", "del", c.bridge).Run()
	})
	c.run("ip", "link", "add", c.bridge, "type", "bridge")
	c.run("ip", "addr", "add", subnet+".1/24", "dev", c.bridge)
	c.run("ip", "link", "set", c.bridge, "up")
	var peers []string
	for i := range 3 {
		ns, host, dev := fmt.Sprintf("sdt%d-n%d", id, i+1), fmt.Sprintf("sdh%d-%d", id, i+1), fmt.Sprintf("sdn%d-%d", id, i+1)
		c.ns, c.host, c.dev = append(c.ns, ns), append(c.host, host), append(c.dev, dev)
		c.run("ip", "netns", "add", ns)
		c.run("ip", "link", "add", host, "type", "veth", "peer", "name", dev)
		c.run("ip", "link", "set", host, "master", c.bridge, "up")
		c.run("ip", "link", "set", dev, "netns", ns)
		c.run("ip", "-n", ns, "addr", "add", fmt.Sprintf("%s.%d/24", subnet, 11+i), "dev", dev)
		c.run("ip", "-n", ns, "link", "set", dev, "up")
		c.run("ip", "-n", ns, "link", "set", "lo", "up")
		peers = append(peers, fmt.Sprintf("n%d=%s.%d:7000", i+1, subnet, 11+i))
	}
	for i, ns := range c.ns {
		ip := fmt.Sprintf("%s.%d", subnet, 11+i)
		p := &proc{bin: "ip", rpc: ip + ":7100", admin: ip + ":7200"}
		p.args = []string{"netns", "exec", ns, bin, "run", "-id", fmt.Sprintf("n%d", i+1), "-data-dir", t.TempDir(),
			"-raft-addr", ip + ":7000", "-rpc-addr", p.rpc, "-admin-addr", p.admin, "-groups", "1", "-log-level", "warn",
			"-bootstrap", "-peers", strings.Join(peers, ",")}
		p.start(t)
		c.procs, c.addrs = append(c.procs, p), append(c.addrs, p.rpc)
	}
	return c
}

// programLeader is the node among the given ones leading the group of
// the program whose id begins with prefix (seatbench names its program
// after the scenario's, with a suffix), as the nodes report it, or -1 if
// none says so yet.
func (c *netnsCluster) programLeader(prefix string, among []int) int {
	group := int32(-1)
	for _, p := range c.procs {
		if st, err := statusOf(p.rpc); err == nil {
			for _, pl := range st.Placements {
				if strings.HasPrefix(pl.ProgramId, prefix) {
					group = pl.Group
				}
			}
		}
	}
	if group < 0 {
		return -1
	}
	var ps []*proc
	for _, i := range among {
		ps = append(ps, c.procs[i])
	}
	lead := leaderOf(ps, group)
	for _, i := range among {
		if c.procs[i] == lead {
			return i
		}
	}
	return -1
}

// seatbenchUnder runs seatbench's scenario against the cluster over
// Kitex for 10 seconds, calls fault 3 seconds in (after seatbench has
// made its program and the load runs) and heal 4 seconds later, and
// fails the test unless seatbench passes: its check and its audit of
// every seat, hold and count (docs/seatbench.md).
func (c *netnsCluster) seatbenchUnder(bench, scenario string, fault func(), heal func()) {
	t := c.t
	t.Helper()
	cmd := exec.Command(bench, "-scenario", scenario, "-target", "seatd-rpc", "-target-opt", "seatd-addrs="+strings.Join(c.addrs, ","),
		"-buyers", "16", "-warmup", "1s", "-duration", "9s", "-out", browsertest.ArtefactDir(t))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() }) // a no-op once it ended
	select {
	case err := <-done:
		t.Fatalf("seatbench ended before the fault: %v\n%s", err, out.String())
	case <-time.After(3 * time.Second):
	}
	fault()
	time.Sleep(4 * time.Second)
	heal()
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), "passed") {
			t.Fatalf("seatbench %s: %v\n%s", scenario, err, out.String())
		}
		t.Logf("seatbench %s:\n%s", scenario, lastLines(out.String(), 3))
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("seatbench %s did not end\n%s", scenario, out.String())
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestAcrossNetworkNamespaces runs three seatd nodes in network
// namespaces of their own and seatbench's audited load against them
// while, in turn: the leader of the load's program loses its link and
// gets it back (a new leader takes over; the old one rejoins); one node
// drops a tenth of its packets each way (nftables); and one node's link
// is cut to 2 Mbit/s (tc's token bucket), so its packets queue. The
// kernel here has no netem (CONFIG_NET_SCH_NETEM is not set), so the
// loss is nftables' and the delay is the queue's. After each, seatbench's
// audit must pass: no seat sold twice, every count and hold as the
// acknowledged answers say.
func TestAcrossNetworkNamespaces(t *testing.T) {
	needNetworkTools(t)
	if testing.Short() {
		t.Skip("-short: three nodes and 30 seconds of load")
	}
	bin := buildSeatd(t)
	bench := filepath.Join(t.TempDir(), "seatbench")
	if out, err := exec.Command("go", "build", "-o", bench, "seatd/cmd/seatbench").CombinedOutput(); err != nil {
		t.Fatalf("go build seatbench: %v\n%s", err, out)
	}
	c := startNetnsCluster(t, bin)
	waitSettled(t, c.procs)
	all := []int{0, 1, 2}

	t.Run("leader link cut", func(t *testing.T) {
		c.t = t
		victim := -1
		c.seatbenchUnder(bench, "mixed", func() {
			for deadline := time.Now().Add(5 * time.Second); victim < 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				victim = c.programLeader("arena-steady-", all)
			}
			if victim < 0 {
				t.Fatal("no node leads the load's program")
			}
			c.run("ip", "link", "set", c.host[victim], "down")
			var others []int
			for _, i := range all {
				if i != victim {
					others = append(others, i)
				}
			}
			// An election takes 0.5-1.5 s; make test runs other packages'
			// tests beside this one, so it is given more.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				if c.programLeader("arena-steady-", others) >= 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no new leader among the nodes still linked, 10 s after n%d's link was cut", victim+1)
				}
			}
		}, func() { c.run("ip", "link", "set", c.host[victim], "up") })
		waitSettled(t, c.procs)
	})

	t.Run("packet loss", func(t *testing.T) {
		c.t = t
		ns := c.ns[1]
		c.seatbenchUnder(bench, "mixed", func() {
			c.run("ip", "netns", "exec", ns, "nft", "add", "table", "inet", "seatdloss")
			for _, hook := range []string{"input", "output"} {
				c.run("ip", "netns", "exec", ns, "nft", "add", "chain", "inet", "seatdloss", hook,
					fmt.Sprintf("{ type filter hook %s priority 0; }", hook))
				c.run("ip", "netns", "exec", ns, "nft", "add", "rule", "inet", "seatdloss", hook, "numgen", "random", "mod", "100", "<", "10", "drop")
			}
		}, func() { c.run("ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "seatdloss") })
		waitSettled(t, c.procs)
	})

	t.Run("slow link", func(t *testing.T) {
		c.t = t
		ns, dev := c.ns[2], c.dev[2]
		c.seatbenchUnder(bench, "mixed", func() {
			c.run("tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "tbf", "rate", "2mbit", "burst", "16kb", "latency", "200ms")
		}, func() { c.run("tc", "-n", ns, "qdisc", "del", "dev", dev, "root") })
		waitSettled(t, c.procs)
	})
}
