// Package pgserver runs a private PostgreSQL server: Start makes a new
// cluster in a temporary directory (initdb, then postgres on a free
// loopback port, its unix socket in that directory too) with durable
// commits (fsync on, synchronous_commit on), and Close stops it and
// removes the directory. seatbench starts one per baseline run
// (-target-opt postgres-local), and internal/pgtest one per test, so
// that neither needs a server someone else runs.
//
// The binaries are Debian's (package postgresql, under
// /usr/lib/postgresql/<version>/bin; the newest version there is used),
// or else initdb and postgres on PATH.
//
// postgres refuses to run as root. When the caller runs as root (as CI
// does), initdb and postgres run as the OS user "postgres" (which
// Debian's package creates): the process is started with that user's
// credentials directly (os/exec with SysProcAttr.Credential), with no
// su or runuser in between, and the cluster's directory is made in the
// system's temporary directory and given to that user. Its parent must
// be one that user can enter (/tmp is).
//
// A Server's fields are set by Start and only read after; Close may be
// called from any goroutine, once or more.
package pgserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"seatd/internal/localserver"
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
	// osUser runs the server when the caller runs as root.
	osUser = "postgres"
)

// ErrNotInstalled means PostgreSQL cannot run here: its binaries are
// missing, or, as root, the postgres OS user its Debian package creates.
// Callers test for it with errors.Is: a test skips, outside CI, rather
// than fail.
var ErrNotInstalled = errors.New("pgserver: PostgreSQL is not installed (Debian: apt-get install postgresql)")

// Server is a running PostgreSQL server.
type Server struct {
	// DSN connects to the database "postgres" as the superuser
	// "postgres" over loopback TCP, with no password (trust).
	DSN string
	// Port is the loopback TCP port.
	Port int
	// Dir holds the cluster (Dir/data), the unix socket and the log;
	// Close removes it.
	Dir string

	stop      func()
	closeOnce sync.Once
	closeErr  error // set inside closeOnce
}

// Installed returns nil if PostgreSQL can run here, else an error that
// wraps ErrNotInstalled and says what is missing.
func Installed() error {
	_, _, err := binaries()
	return err
}

// Start runs a new PostgreSQL cluster and returns it once it accepts
// connections. It returns an error wrapping ErrNotInstalled if
// PostgreSQL cannot run here, and one with initdb's output or the end of
// the server's log if the cluster cannot be made or the server does not
// start (within MaxStartWait, or before ctx is done); its directory is
// then removed.
func Start(ctx context.Context) (*Server, error) {
	bin, cred, err := binaries()
	if err != nil {
		return nil, err
	}
	dir, err := localserver.MkdirTemp("pgserver-")
	if err != nil {
		return nil, fmt.Errorf("pgserver: %w", err)
	}
	s := &Server{Dir: dir}
	if err := s.init(ctx, bin, cred); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	s.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
	return s, nil
}

// init makes the cluster in s.Dir and starts the server.
func (s *Server) init(ctx context.Context, bin string, cred *syscall.Credential) error {
	if cred != nil {
		if err := os.Chown(s.Dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("pgserver: giving %s to the %s user: %w", s.Dir, osUser, err)
		}
	}
	ictx, cancel := context.WithTimeout(ctx, MaxInitWait)
	defer cancel()
	// --no-sync: a cluster that is removed when its run ends need not
	// survive a crash of the machine before its first checkpoint; the
	// server itself runs with fsync on. Locale C: text sorts by bytes,
	// the same on every machine.
	initdb := exec.CommandContext(ictx, filepath.Join(bin, "initdb"), "-D", s.data(), "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("pgserver: initdb: %w\n%s", err, out)
	}

	// A port is reserved for this process until it exits; a new one is
	// tried if a process outside the reservation took it.
	err := localserver.StartOnFreePorts(1, func(ports []int) error {
		s.Port = ports[0]
		var err error
		s.stop, err = s.start(ctx, bin, cred)
		return err
	}, func(error) bool { return strings.Contains(s.LogTail(), "could not bind") })
	if err != nil {
		return fmt.Errorf("pgserver: %w; the end of its log:\n%s", err, s.LogTail())
	}
	return nil
}

// Close stops the server (a fast shutdown, then SIGKILL to its whole
// process group after MaxStopWait) and removes its directory. Later
// calls return the first's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		if err := os.RemoveAll(s.Dir); err != nil {
			s.closeErr = fmt.Errorf("pgserver: %w", err)
		}
	})
	return s.closeErr
}

// start runs postgres and waits until it accepts connections. It returns
// the function that stops it; on failure the server is already stopped.
func (s *Server) start(ctx context.Context, bin string, cred *syscall.Credential) (stop func(), err error) {
	log, err := os.OpenFile(s.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
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
		// Its own process group, so that a kill reaches the backends
		// too, and a Ctrl-C at the terminal reaches the program that
		// started it, which closes it, and not the server mid-run.
		Setpgid: true,
		// A program that dies without closing it takes the server with
		// it instead of leaving it bound to the port. (Go sets this
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

	ctx, cancel := context.WithTimeout(ctx, MaxStartWait)
	defer cancel()
	for {
		// The postmaster writes its pid file's last line ("ready") only
		// once it accepts connections; a TCP connect alone may reach it
		// while it still refuses them ("the database system is starting
		// up").
		if s.ready() {
			return stop, nil
		}
		select {
		case <-done:
			stop()
			return nil, fmt.Errorf("postgres on port %d exited while starting", s.Port)
		case <-ctx.Done():
			stop()
			return nil, fmt.Errorf("postgres on port %d did not accept connections (within %v at most): %w", s.Port, MaxStartWait, ctx.Err())
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

func (s *Server) data() string { return filepath.Join(s.Dir, "data") }

// LogPath is the server's log file, until Close removes it.
func (s *Server) LogPath() string { return filepath.Join(s.Dir, "postgres.log") }

// LogTail returns the last lines of the server's log, or why it cannot
// be read.
func (s *Server) LogTail() string {
	return localserver.Tail(s.LogPath())
}

// binaries finds the directory of initdb and postgres (the newest of
// Debian's /usr/lib/postgresql/<version>/bin, else the one on PATH) and,
// when run as root, the credentials of the OS user that runs them.
func binaries() (string, *syscall.Credential, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	version := func(p string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
		return n
	}
	slices.SortFunc(found, func(a, b string) int { return version(a) - version(b) })
	var bin string
	if len(found) > 0 {
		bin = filepath.Dir(found[len(found)-1])
	} else if p, err := exec.LookPath("initdb"); err == nil {
		bin = filepath.Dir(p)
	} else {
		return "", nil, fmt.Errorf("%w: no /usr/lib/postgresql/*/bin/initdb and no initdb on PATH", ErrNotInstalled)
	}
	if os.Geteuid() != 0 {
		return bin, nil, nil
	}
	u, err := user.Lookup(osUser)
	if err != nil {
		return "", nil, fmt.Errorf("%w: running as root, and postgres refuses to; the %q user it would run as instead: %v", ErrNotInstalled, osUser, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return "", nil, fmt.Errorf("pgserver: the %q user: %w", osUser, err)
	}
	// No supplementary groups: root's are not the server's.
	return bin, &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
