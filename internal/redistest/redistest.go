// Package redistest gives tests a real Redis: Debian's redis-server, one
// process per test on a free loopback port with its data in the test's
// temporary directory, stopped by the test's cleanup.
//
// Start reports failures (t.Fatal, t.Skip) to the test that called it:
// call it, Kill and Restart from that test's goroutine, not from a
// subtest or a goroutine of its own. Addr may be called from anywhere.
//
// Where redis-server is not installed, Start skips the test, saying why;
// with CI set in the environment it fails the test instead, so that CI
// never passes by skipping (.ci/run installs it).
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// MaxStartWait bounds how long redis-server may take to answer PING
	// after it is started: it does in milliseconds, or in about a second
	// when it replays a large AOF on Restart; the rest is headroom for a
	// busy machine.
	MaxStartWait = 20 * time.Second

	// logTail is how many lines of the server's log a failure shows.
	logTail = 30
)

// Options are the settings of a server.
type Options struct {
	// AppendFsyncAlways turns the append-only file on with appendfsync
	// always: every write is fsynced before Redis answers it, and a
	// killed server finds it on Restart. Off, the server persists
	// nothing (no AOF, no RDB snapshots).
	AppendFsyncAlways bool
}

// Server is a redis-server started for one test.
type Server struct {
	t    testing.TB
	opts Options
	dir  string
	port int
	addr string

	mu   sync.Mutex // guards proc
	proc *process   // nil when stopped
}

// process is one run of redis-server.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, set before done is closed
}

// Start returns a new redis-server for t on a free loopback port, with
// its data in a temporary directory, answering PING; t's cleanup kills
// it. It skips t, or fails it when CI is set, if redis-server is not
// installed; it fails t if the server does not answer within
// MaxStartWait, showing the end of its log.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		msg := "redistest: redis-server is not installed (Debian: apt-get install redis-server)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set, so this fails instead of skipping)")
		}
		t.Skip(msg)
	}
	s := &Server{t: t, opts: opts, dir: t.TempDir()}
	var err error
	// Another process may take the port between our probe and the
	// server's bind; a new port is then tried, which Restart cannot do.
	for attempt := 1; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			t.Fatalf("redistest: %v", err)
		}
		s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		err = s.start()
		if err == nil || attempt == 3 || !strings.Contains(s.tail(), "Address already in use") {
			break
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("redistest: the end of the server's log (%s):\n%s", s.logPath(), s.tail())
		}
		s.Kill()
	})
	if err != nil {
		t.Fatalf("redistest: %v; the end of its log:\n%s", err, s.tail())
	}
	return s
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Kill stops the server at once with SIGKILL, as a crash would: what it
// had not written to its append-only file is lost. Killing a stopped
// server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}

// Restart starts a stopped server again on the same port and directory
// and waits until it answers: with AppendFsyncAlways, it has loaded
// every write it answered before it stopped. Restarting a running
// server is a bug in the test.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("redistest: %v; the end of its log:\n%s", err, s.tail())
	}
}

// args are redis-server's settings: loopback only, no RDB snapshots, the
// append-only file as Options say.
func (s *Server) args() []string {
	a := []string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir, "--logfile", s.logPath(),
		"--daemonize", "no", "--save", "", "--protected-mode", "yes"}
	if s.opts.AppendFsyncAlways {
		return append(a, "--appendonly", "yes", "--appendfsync", "always")
	}
	return append(a, "--appendonly", "no")
}

// start runs the server and waits until it answers; on failure it is
// killed.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.t.Fatalf("redistest: Restart: the server on %s is already running", s.addr)
	}
	cmd := exec.Command("redis-server", s.args()...)
	// Its own output goes to --logfile; what it prints before opening
	// the log (a bad argument) goes there too.
	out, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("starting redis-server: %w", err)
	}
	defer out.Close() // the child has its own copy
	cmd.Stdout, cmd.Stderr = out, out
	// A test binary that dies without its cleanups takes the server with
	// it instead of leaving it bound to the port.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting redis-server: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.proc = p

	deadline := time.Now().Add(MaxStartWait)
	for {
		err := ping(s.addr)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			s.killLocked()
			return fmt.Errorf("the server on %s did not answer within %v: %w", s.addr, MaxStartWait, err)
		}
		select {
		case <-p.done:
			s.proc = nil
			return fmt.Errorf("the server on %s exited while starting: %v", s.addr, p.err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// killLocked kills the server with SIGKILL and waits for it to exit.
func (s *Server) killLocked() {
	p := s.proc
	if p == nil {
		return
	}
	s.proc = nil
	_ = p.cmd.Process.Kill()
	<-p.done
}

// ping returns nil once the server at addr answers PING with PONG. A
// server loading its append-only file answers -LOADING, an error.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line = strings.TrimSpace(line); line != "+PONG" {
		return errors.New("PING answered " + line)
	}
	return nil
}

func (s *Server) logPath() string { return filepath.Join(s.dir, "redis.log") }

// tail returns the last lines of the server's log.
func (s *Server) tail() string {
	data, err := os.ReadFile(s.logPath())
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-logTail):], "\n")
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
