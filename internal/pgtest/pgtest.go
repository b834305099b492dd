// Package pgtest gives tests a private PostgreSQL server: a
// pgserver.Server (a new cluster in a temporary directory, postgres on a
// loopback port, fsync and synchronous_commit on; as the postgres OS user
// when run as root) per test, closed by the test's cleanup. Each call
// starts one server for the test that asked; call it from that test's
// goroutine.
//
// Where PostgreSQL cannot run (pgserver.ErrNotInstalled), Start skips
// the test, saying why; with CI set in the environment it fails the test
// instead, so that CI never passes by skipping.
package pgtest

import (
	"context"
	"errors"
	"os"
	"testing"

	"seatd/internal/pgserver"
)

// Start runs a new PostgreSQL cluster for t and returns it once it
// accepts connections; t's cleanup closes it (stops it and removes its
// directory), showing the end of its log if t failed. It skips t, or
// fails it when CI is set, if PostgreSQL is not installed; it fails t if
// the server does not start, showing why.
func Start(t testing.TB) *pgserver.Server {
	t.Helper()
	RequireInstalled(t)
	s, err := pgserver.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgtest: the end of the server's log (%s):\n%s", s.LogPath(), s.LogTail())
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// RequireInstalled skips t if PostgreSQL cannot run here, saying why, or
// fails it when CI is set: CI must run every test.
func RequireInstalled(t testing.TB) {
	t.Helper()
	switch err := pgserver.Installed(); {
	case err == nil:
	case !errors.Is(err, pgserver.ErrNotInstalled):
		t.Fatal(err)
	case os.Getenv("CI") != "":
		t.Fatalf("%v (CI is set, so this fails instead of skipping)", err)
	default:
		t.Skip(err)
	}
}
