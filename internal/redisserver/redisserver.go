// Package redisserver runs a private Redis: Debian's redis-server, one
// process on a free loopback port with its data in a temporary directory
// of its own, which Close stops and removes. seatbench starts one per
// baseline run (-target-opt redis-local), and internal/redistest one per
// test, so that neither needs a Redis someone else runs.
//
// A Server's methods may be called from any goroutine; Kill, Restart and
// Close are serialized by its lock.
package redisserver

import (
	"bufio"
	"context"
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
	"time"

	"seatd/internal/localserver"
)

const (
	// MaxStartWait bounds how long redis-server may take to answer PING
	// after it is started: it does in milliseconds, or in about a second
	// when it replays a large AOF on Restart; the rest is headroom for a
	// busy machine.
	MaxStartWait = 20 * time.Second
)

// ErrNotInstalled means there is no redis-server on PATH. Callers test
// for it with errors.Is: a test skips, outside CI, rather than fail.
var ErrNotInstalled = errors.New("redisserver: redis-server is not installed (Debian: apt-get install redis-server)")

// Options are the settings of a server.
type Options struct {
	// AppendFsyncAlways turns the append-only file on with appendfsync
	// always: every write is fsynced before Redis answers it, and a
	// killed server finds it on Restart. Off, the server persists
	// nothing (no AOF, no RDB snapshots).
	AppendFsyncAlways bool
}

// Server is a redis-server this package started.
type Server struct {
	opts Options
	dir  string // its data and log; removed by Close
	port int
	addr string

	mu     sync.Mutex // guards proc and closed
	proc   *process   // nil when stopped
	closed bool
}

// process is one run of redis-server.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, set before done is closed
}

// Installed returns nil if redis-server is on PATH, else an error that
// wraps ErrNotInstalled.
func Installed() error {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return ErrNotInstalled
	}
	return nil
}

// Start runs a new redis-server on a free loopback port, with its data
// in a new temporary directory, and returns it once it answers PING. It
// returns an error wrapping ErrNotInstalled if redis-server is missing,
// and one with the end of the server's log if it does not answer within
// MaxStartWait or before ctx is done; the directory is then removed.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if err := Installed(); err != nil {
		return nil, err
	}
	dir, err := localserver.MkdirTemp("redisserver-")
	if err != nil {
		return nil, fmt.Errorf("redisserver: %w", err)
	}
	s := &Server{opts: opts, dir: dir}
	// A port is reserved for this process until it exits, so Restart
	// binds it again; a new one is tried if a process outside the
	// reservation took it.
	err = localserver.StartOnFreePorts(1, func(ports []int) error {
		s.port = ports[0]
		s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		return s.start(ctx)
	}, func(error) bool { return strings.Contains(s.LogTail(), "Address already in use") })
	if err != nil {
		err = fmt.Errorf("redisserver: %w; the end of its log:\n%s", err, s.LogTail())
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	return s, nil
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Dir is the directory of the server's data and log, until Close
// removes it.
func (s *Server) Dir() string { return s.dir }

// LogPath is the server's log file, until Close removes it.
func (s *Server) LogPath() string { return filepath.Join(s.dir, "redis.log") }

// LogTail returns the last lines of the server's log, or why it cannot
// be read.
func (s *Server) LogTail() string {
	return localserver.Tail(s.LogPath())
}

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
// every write it answered before it stopped. Restarting a running or
// closed server is an error.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.start(ctx); err != nil {
		return fmt.Errorf("redisserver: %w; the end of its log:\n%s", err, s.LogTail())
	}
	return nil
}

// Close kills the server and removes its directory. Closing twice does
// nothing.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.killLocked()
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("redisserver: %w", err)
	}
	return nil
}

// args are redis-server's settings: loopback only, no RDB snapshots, the
// append-only file as Options say.
func (s *Server) args() []string {
	a := []string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir, "--logfile", s.LogPath(),
		"--daemonize", "no", "--save", "", "--protected-mode", "yes"}
	if s.opts.AppendFsyncAlways {
		return append(a, "--appendonly", "yes", "--appendfsync", "always")
	}
	return append(a, "--appendonly", "no")
}

// start runs the server and waits until it answers; on failure it is
// killed.
func (s *Server) start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return errors.New("the server is closed")
	case s.proc != nil:
		return errors.New("the server is already running")
	}
	cmd := exec.Command("redis-server", s.args()...)
	// Its own output goes to --logfile; what it prints before opening
	// the log (a bad argument) goes there too.
	out, err := os.OpenFile(s.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("starting redis-server: %w", err)
	}
	defer out.Close() // the child has its own copy
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group: a Ctrl-C at the terminal reaches the
		// program that started it, which closes it, and not the server
		// in the middle of a run.
		Setpgid: true,
		// A program that dies without closing it takes the server with
		// it instead of leaving it bound to the port.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting redis-server: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.proc = p

	ctx, cancel := context.WithTimeout(ctx, MaxStartWait)
	defer cancel()
	for {
		err := ping(s.addr)
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			s.proc = nil
			return fmt.Errorf("the server on %s exited while starting: %v", s.addr, p.err)
		case <-ctx.Done():
			s.killLocked()
			return fmt.Errorf("the server on %s did not answer (within %v at most): %w", s.addr, MaxStartWait, err)
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
