package redisserver_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"seatd/internal/redisserver"
	"seatd/internal/redistest"
)

// TestServer starts a server in each mode, writes to it, crashes and
// restarts it (a write survives with appendfsync always, and not
// without), and closes it: the server stops answering and its directory
// is gone.
func TestServer(t *testing.T) {
	redistest.RequireInstalled(t)
	ctx := context.Background()
	for _, always := range []bool{false, true} {
		t.Run(fmt.Sprint("always=", always), func(t *testing.T) {
			s, err := redisserver.Start(ctx, redisserver.Options{AppendFsyncAlways: always})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			rdb := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
			defer rdb.Close()
			if err := rdb.Set(ctx, "seat", "held", 0).Err(); err != nil {
				t.Fatalf("SET on %s: %v", s.Addr(), err)
			}
			wantAOF := map[bool]string{false: "no", true: "yes"}[always]
			if cfg, err := rdb.ConfigGet(ctx, "appendonly").Result(); err != nil || cfg["appendonly"] != wantAOF {
				t.Errorf("CONFIG GET appendonly = %v, %v; want %q", cfg, err, wantAOF)
			}
			if err := s.Restart(ctx); err == nil {
				t.Errorf("Restart of a running server = nil; want an error")
			}
			s.Kill()
			if err := s.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := rdb.Get(ctx, "seat").Result()
			if always && (err != nil || got != "held") || !always && !errors.Is(err, redis.Nil) {
				t.Errorf("GET seat after a crash = %q, %v; want it kept only with appendfsync always", got, err)
			}

			dir := s.Dir()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := rdb.Ping(ctx).Err(); err == nil {
				t.Errorf("PING after Close answered; want the server stopped")
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Stat(%s) after Close = %v; want it removed", dir, err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("a second Close = %v; want nil", err)
			}
			if err := s.Restart(ctx); err == nil {
				t.Errorf("Restart after Close = nil; want an error")
			}
		})
	}
}

// TestNotInstalled: without redis-server on PATH, Start says which
// package installs it, as ErrNotInstalled.
func TestNotInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	s, err := redisserver.Start(context.Background(), redisserver.Options{})
	if !errors.Is(err, redisserver.ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get install redis-server") {
		t.Errorf("Start with no redis-server on PATH = %v, %v; want ErrNotInstalled, naming the package", s, err)
	}
}
