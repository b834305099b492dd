package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"seatd/internal/localserver"
)

// stopWait bounds seatdev's exit after SIGINT: the gateway's graceful
// stop takes up to 5 s, the rest is for a busy machine.
const stopWait = 30 * time.Second

// TestStopsOnSignal: seatdev exits with status 0 on SIGINT, sent while it
// starts and once it is up, so that Ctrl-C on make run is no failure.
func TestStopsOnSignal(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "seatdev")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, c := range []struct {
		name  string
		after string // the line of its output after which SIGINT is sent
	}{{"starting", "seatdev: starting"}, {"up", "export TOKEN="}} {
		t.Run(c.name, func(t *testing.T) {
			ports, err := localserver.FreePorts(6)
			if err != nil {
				t.Fatal(err)
			}
			var args []string
			for i, flag := range []string{"-http", "-rpc", "-raft", "-orders-rpc", "-metrics", "-paysim"} {
				args = append(args, flag, fmt.Sprintf("127.0.0.1:%d", ports[i]))
			}
			cmd := exec.Command(bin, append(args, "-kafka-brokers", "")...)
			cmd.Stderr = os.Stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			seen := make(chan struct{})
			go func() {
				sc := bufio.NewScanner(stdout)
				signalled := false
				for sc.Scan() {
					if !signalled && strings.HasPrefix(strings.TrimSpace(sc.Text()), c.after) {
						signalled = true
						close(seen)
					}
				}
				exited <- cmd.Wait()
			}()
			select {
			case <-seen:
			case err := <-exited:
				t.Fatalf("seatdev exited (%v) before printing %q", err, c.after)
			case <-time.After(time.Minute):
				cmd.Process.Kill()
				t.Fatalf("seatdev did not print %q within a minute", c.after)
			}
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("seatdev after SIGINT while %s: %v; want exit status 0", c.name, err)
				}
			case <-time.After(stopWait):
				cmd.Process.Kill()
				t.Fatalf("seatdev still running %v after SIGINT while %s", stopWait, c.name)
			}
		})
	}
}
