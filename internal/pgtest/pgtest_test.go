package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestStart starts a server (as the postgres user when run as root,
// since postgres exits at once when started as root),
// checks that it commits durably, and that its cleanup stops it.
func TestStart(t *testing.T) {
	var dsn string
	t.Run("server", func(t *testing.T) {
		s := Start(t)
		dsn = s.DSN
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, s.DSN)
		if err != nil {
			t.Fatalf("Connect(%s) = %v", s.DSN, err)
		}
		defer conn.Close(ctx)
		for name, want := range map[string]string{"fsync": "on", "synchronous_commit": "on", "lc_collate": "C"} {
			var got string
			if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&got); err != nil {
				t.Fatalf("current_setting(%s): %v", name, err)
			}
			if got != want {
				t.Errorf("current_setting(%s) = %q; want %q", name, got, want)
			}
		}
	})
	if dsn == "" {
		// The server subtest skipped (no PostgreSQL here, outside CI: it
		// says so) or failed (which fails this test too): there is no
		// server whose cleanup to check.
		t.Skip("the server subtest started no server; its own result says why")
	}
	ctx := context.Background()
	if conn, err := pgx.Connect(ctx, dsn); err == nil {
		conn.Close(ctx)
		t.Errorf("Connect(%s) after cleanup succeeded; want the server stopped", dsn)
	}
}
