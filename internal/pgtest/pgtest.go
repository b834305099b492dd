// Package pgtest gives tests a private PostgreSQL server: Start runs a
// new cluster in a temporary directory (initdb, then postgres on a
// loopback port, its unix socket in that directory too) with durable
// commits (fsync on, synchronous_commit on), and the test's cleanup stops
// it and removes the directory. Each call starts one server for the test
// that asked; call it from that test's goroutine.
//
// The binaries are Debian's (package postgresql, under
// /usr/lib/postgresql/<version>/bin; the newest version there is used),
// or else initdb and postgres on PATH. Where neither is found, Start
// skips the test, saying why; with CI set in the environment it fails
// the test instead, so that CI never passes by skipping.
//
// postgres refuses to run as root. When the test runs as root (as CI
// does), initdb and postgres run as the OS user "postgres" (which
// Debian's package creates): the process is started with that user's
// credentials directly (os/exec with SysProcAttr.Credential), with no
// su or runuser in between, and the cluster's directory is made in the
// system's temporary directory and given to that user. Its parent must
// be one that user can enter (/tmp is).
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	// MaxStartWait bounds how long a new server may take to accept
	// connections after postgres starts. It does in well under a second
	// on a quiet machine; the rest is headroom for a busy 2-core one.
	MaxStartWait = 30 * time.Second
	// MaxInitWait bounds initdb, which takes 1-3 s here.
	MaxInitWait = 2 * time.Minute
	// MaxStopWait bounds a fast shutdown (SIGINT: roll back sessions,
	// checkpoint, exit) before SIGKILL.
	MaxStopWait = 20 * time.Second
	// logTail is how many lines of the server's log a failure shows.
	logTail = 40
	// osUser runs the server when the test runs as root.
	osUser = "postgres"
)

// Server is a running PostgreSQL server of one test.
type Server struct {
	// DSN connects to the database "postgres" as the superuser
	// "postgres" over loopback TCP, with no password (trust).
	DSN string
	// Port is the loopback TCP port.
	Port int
	// Dir holds the cluster (Dir/data), the unix socket and the log.
	Dir string
}

// Start runs a new PostgreSQL cluster for t and returns it once it
// accepts connections; t's cleanup stops it (fast shutdown, then SIGKILL
// after MaxStopWait) and removes its directory. It skips t, or fails it
// when CI is set, if the binaries are missing; it fails t if the server
// does not start, showing the end of its log.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := binDir()
	if err != nil {
		unavailable(t, "%v", err)
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		if cred, err = credential(); err != nil {
			unavailable(t, "%v", err)
		}
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatalf("pgtest: giving %s to the %s user: %v", dir, osUser, err)
		}
	}
	s := &Server{Dir: dir}

	ctx, cancel := context.WithTimeout(context.Background(), MaxInitWait)
	defer cancel()
	// --no-sync: a cluster that dies with the test need not survive a
	// crash of the machine before its first checkpoint; the server
	// itself runs with fsync on. Locale C: text sorts by bytes, the same
	// on every machine.
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", s.data(), "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}

	// Another process may take the port between our probe and the
	// server's bind; new ports are then tried.
	var stop func()
	for attempt := 1; ; attempt++ {
		if s.Port, err = freePort(); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		stop, err = s.start(bin, cred)
		if err == nil || attempt == 3 || !strings.Contains(s.tail(), "could not bind") {
			break
		}
	}
	if err != nil {
		t.Fatalf("pgtest: %v; the end of its log:\n%s", err, s.tail())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgtest: the end of the server's log (%s):\n%s", s.logPath(), s.tail())
		}
		stop()
	})
	s.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
	return s
}

// start runs postgres and waits until it accepts connections. It returns
// the function that stops it; on failure the server is already stopped.
func (s *Server) start(bin string, cred *syscall.Credential) (stop func(), err error) {
	log, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer log.Close() // the child has its own copy
	if cred != nil {
		if err := log.Chown(int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", s.data(),
		"-c", "listen_addresses=127.0.0.1", "-c", "port="+strconv.Itoa(s.Port), "-c", "unix_socket_directories="+s.Dir,
		"-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "full_page_writes=on")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		// Its own process group, so that a kill reaches the backends too.
		Setpgid: true,
		// A test binary that dies without its cleanups takes the server
		// with it instead of leaving it bound to the port. (Go sets this
		// after the credentials, which would clear it.)
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting postgres: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	stop = func() {
		pgid := cmd.Process.Pid
		_ = syscall.Kill(pgid, syscall.SIGINT) // fast shutdown
		select {
		case <-done:
		case <-time.After(MaxStopWait):
		}
		// Also after a clean exit: nothing of the group may stay behind.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}

	deadline := time.Now().Add(MaxStartWait)
	for {
		// The postmaster creates its pid file's last line ("ready") only
		// once it accepts connections; a TCP connect alone may reach it
		// while it still refuses them ("the database system is starting
		// up").
		if s.ready() {
			return stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("postgres on port %d did not accept connections within %v", s.Port, MaxStartWait)
		}
		select {
		case <-done:
			stop()
			return nil, fmt.Errorf("postgres on port %d exited while starting", s.Port)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ready reports whether the postmaster says it accepts connections: the
// status line of postmaster.pid (its eighth line) reads "ready".
func (s *Server) ready() bool {
	b, err := os.ReadFile(filepath.Join(s.data(), "postmaster.pid"))
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	return len(lines) > 7 && strings.TrimSpace(lines[7]) == "ready"
}

func (s *Server) data() string    { return filepath.Join(s.Dir, "data") }
func (s *Server) logPath() string { return filepath.Join(s.Dir, "postgres.log") }

// tail returns the last lines of the server's log.
func (s *Server) tail() string {
	data, err := os.ReadFile(s.logPath())
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-logTail):], "\n")
}

// binDir finds the directory of initdb and postgres: the newest of
// Debian's /usr/lib/postgresql/<version>/bin, else the one on PATH.
func binDir() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	version := func(p string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
		return n
	}
	slices.SortFunc(found, func(a, b string) int { return version(a) - version(b) })
	if len(found) > 0 {
		return filepath.Dir(found[len(found)-1]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("pgtest: PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/initdb and no initdb on PATH (Debian: apt-get install postgresql)")
}

// credential returns the credentials of the OS user that runs the
// server when the test runs as root.
func credential() (*syscall.Credential, error) {
	u, err := user.Lookup(osUser)
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, and postgres refuses to; the %q user it would run as instead: %w", osUser, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgtest: the %q user: %w", osUser, err)
	}
	// No supplementary groups: root's are not the server's.
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// unavailable skips t because PostgreSQL cannot be had here, or fails
// it when CI is set: CI must run every test.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format+" (CI is set, so this fails instead of skipping)", args...)
	}
	t.Skipf(format, args...)
}
