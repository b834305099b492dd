package pgserver_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"seatd/internal/pgserver"
	"seatd/internal/pgtest"
)

// TestServer starts a server (as the postgres user when run as root,
// since postgres exits at once when started as root), checks that it
// serves with durable commits, and closes it: it stops accepting
// connections and its directory is gone.
func TestServer(t *testing.T) {
	pgtest.RequireInstalled(t)
	ctx := context.Background()
	s, err := pgserver.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := pgx.Connect(ctx, s.DSN)
	if err != nil {
		t.Fatalf("Connect(%s) = %v", s.DSN, err)
	}
	for name, want := range map[string]string{"fsync": "on", "synchronous_commit": "on", "lc_collate": "C"} {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&got); err != nil {
			t.Fatalf("current_setting(%s): %v", name, err)
		}
		if got != want {
			t.Errorf("current_setting(%s) = %q; want %q", name, got, want)
		}
	}
	var n int
	if _, err := conn.Exec(ctx, "CREATE TABLE seat (id int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO seat VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM seat").Scan(&n); err != nil || n != 2 {
		t.Errorf("SELECT count(*) = %d, %v; want 2", n, err)
	}
	conn.Close(ctx)

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if conn, err := pgx.Connect(ctx, s.DSN); err == nil {
		conn.Close(ctx)
		t.Errorf("Connect(%s) after Close succeeded; want the server stopped", s.DSN)
	}
	if _, err := os.Stat(s.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat(%s) after Close = %v; want it removed", s.Dir, err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("a second Close = %v; want nil", err)
	}
}
