// Package redistest gives tests a real Redis: a redisserver.Server (one
// redis-server on a free loopback port, its data in a temporary
// directory) per test, closed by the test's cleanup.
//
// Start reports failures (t.Fatal, t.Skip) to the test that called it:
// call it, and Restart, from that test's goroutine, not from a subtest
// or a goroutine of its own. Addr and Kill may be called from anywhere.
//
// Where redis-server is not installed, Start skips the test, saying why;
// with CI set in the environment it fails the test instead, so that CI
// never passes by skipping (.ci/run installs it).
package redistest

import (
	"context"
	"os"
	"testing"

	"seatd/internal/redisserver"
)

// Options are the settings of a server.
type Options = redisserver.Options

// Server is a redis-server started for one test.
type Server struct {
	*redisserver.Server
	t testing.TB
}

// Start returns a new redis-server for t, answering PING; t's cleanup
// closes it, showing the end of its log if t failed. It skips t, or
// fails it when CI is set, if redis-server is not installed; it fails t
// if the server does not start, showing the end of its log.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	RequireInstalled(t)
	s, err := redisserver.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("redistest: the end of the server's log (%s):\n%s", s.LogPath(), s.LogTail())
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return &Server{Server: s, t: t}
}

// Restart starts the stopped server again on the same port and
// directory (redisserver.Server.Restart), failing the test if it does
// not answer.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.Server.Restart(context.Background()); err != nil {
		s.t.Fatal(err)
	}
}

// RequireInstalled skips t if redis-server is not installed, saying
// why, or fails it when CI is set: CI must run every test.
func RequireInstalled(t testing.TB) {
	t.Helper()
	if err := redisserver.Installed(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI is set, so this fails instead of skipping)", err)
		}
		t.Skip(err)
	}
}
