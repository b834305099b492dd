package localserver

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// envHoldPorts makes the test binary a child that reserves ports, prints
// them on a line, and holds them until its stdin closes.
const envHoldPorts = "LOCALSERVER_TEST_HOLD_PORTS"

func TestMain(m *testing.M) {
	if n, err := strconv.Atoi(os.Getenv(envHoldPorts)); err == nil {
		ports, err := FreePorts(n)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(strings.Trim(fmt.Sprint(ports), "[]"))
		bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestFreePorts: the ports asked for together differ, lie outside the
// kernel's ephemeral range, and can be bound; a later call gives none of
// them again.
func TestFreePorts(t *testing.T) {
	lo, hi := reservableRange()
	if lo == 0 {
		t.Fatalf("no reservable range beside the ephemeral range in %s", ephemeralRangeFile)
	}
	ports, err := FreePorts(3)
	if err != nil || len(ports) != 3 || ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
		t.Fatalf("FreePorts(3) = %v, %v; want three different ports", ports, err)
	}
	more, err := FreePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(ports, more...) {
		if p < lo || p > hi {
			t.Errorf("port %d outside %d-%d", p, lo, hi)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d cannot be bound: %v", p, err)
			continue
		}
		l.Close()
	}
	for _, p := range ports {
		if slices.Contains(more, p) {
			t.Errorf("port %d given twice", p)
		}
	}
}

// TestFreePortsSkipsTaken: a port another process reserved, and one a
// listener that does not use FreePorts holds, are passed over even when
// the search starts on them. Fails without the lock files (the child's
// ports are given again) or without the probe.
func TestFreePortsSkipsTaken(t *testing.T) {
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), envHoldPorts+"=5")
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); child.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("the child's ports: %v", err)
	}
	var theirs []int
	for _, f := range strings.Fields(line) {
		p, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("the child printed %q", line)
		}
		theirs = append(theirs, p)
	}
	if len(theirs) != 5 {
		t.Fatalf("the child reserved %v; want 5 ports", theirs)
	}
	// The child searched from its own start: its ports are consecutive
	// unless it passed over taken ones.
	mu.Lock()
	nextPort = theirs[0]
	mu.Unlock()
	ours, err := FreePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ours {
		if slices.Contains(theirs, p) {
			t.Fatalf("FreePorts gave %d, which the child holds (ours %v, the child's %v)", p, ours, theirs)
		}
	}

	// A listener outside the scheme, on the port the search starts at.
	var l net.Listener
	for p := ours[len(ours)-1] + 1; l == nil; p++ {
		l, _ = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	mu.Lock()
	nextPort = taken
	mu.Unlock()
	got, err := FreePorts(1)
	if err != nil || got[0] == taken {
		t.Fatalf("FreePorts(1) = %v, %v with %d bound by a listener at the search's start; want another port", got, err, taken)
	}
}

// TestStartOnFreePorts: a start that fails for another reason is not
// tried again and its error is returned; one whose port was taken is
// tried on new ports, MaxStartAttempts times at most, and its last error
// returned.
func TestStartOnFreePorts(t *testing.T) {
	errTaken := errors.New("address already in use")
	errBad := errors.New("bad config")
	taken := func(err error) bool { return errors.Is(err, errTaken) }
	for _, c := range []struct {
		name    string
		results []error
		want    error
		calls   int
	}{
		{"started", []error{nil}, nil, 1},
		{"other failure", []error{errBad, nil}, errBad, 1},
		{"taken, then started", []error{errTaken, errTaken, nil}, nil, 3},
		{"always taken", []error{errTaken, errTaken, errTaken, nil}, errTaken, MaxStartAttempts},
	} {
		t.Run(c.name, func(t *testing.T) {
			var seen [][]int
			err := StartOnFreePorts(2, func(ports []int) error {
				seen = append(seen, ports)
				return c.results[len(seen)-1]
			}, taken)
			if len(seen) != c.calls {
				t.Fatalf("start called %d times; want %d", len(seen), c.calls)
			}
			if err != c.want {
				t.Fatalf("StartOnFreePorts = %v; want %v", err, c.want)
			}
			for i := 1; i < len(seen); i++ {
				if slices.Equal(seen[i], seen[i-1]) {
					t.Fatalf("tried %v again after the port was taken", seen[i])
				}
			}
		})
	}
}
