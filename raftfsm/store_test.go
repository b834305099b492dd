package raftfsm

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func openTestStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := OpenStore(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testLog(i uint64) *raft.Log {
	return &raft.Log{Index: i, Term: i / 3, Type: raft.LogCommand, Data: []byte{byte(i), 1, 2},
		AppendedAt: time.Unix(1_700_000_000, int64(i))}
}

// TestGroupStoreLogContract checks raft's LogStore contract on groups that
// share one database, across a restart.
func TestGroupStoreLogContract(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	groups := []uint16{0, 1, 0xff, 0x100, 0xffff} // neighbours in key order
	for _, id := range groups {
		g := s.Group(id)
		if first, _ := g.FirstIndex(); first != 0 {
			t.Fatalf("group %d: FirstIndex of empty store = %d", id, first)
		}
		if last, _ := g.LastIndex(); last != 0 {
			t.Fatalf("group %d: LastIndex of empty store = %d", id, last)
		}
		var logs []*raft.Log
		for i := uint64(1); i <= 20; i++ {
			logs = append(logs, testLog(i+uint64(id)))
		}
		if err := g.StoreLogs(logs); err != nil {
			t.Fatal(err)
		}
		if err := g.StoreLog(testLog(21 + uint64(id))); err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *Store, id uint16, first, last uint64) {
		t.Helper()
		g := s.Group(id)
		if got, err := g.FirstIndex(); got != first || err != nil {
			t.Fatalf("group %d: FirstIndex() = %d, %v; want %d", id, got, err, first)
		}
		if got, err := g.LastIndex(); got != last || err != nil {
			t.Fatalf("group %d: LastIndex() = %d, %v; want %d", id, got, err, last)
		}
		var l raft.Log
		if err := g.GetLog(first, &l); err != nil {
			t.Fatalf("group %d: GetLog(%d) = %v", id, first, err)
		}
		want := testLog(first)
		if l.Index != want.Index || l.Term != want.Term || l.Type != want.Type || !bytes.Equal(l.Data, want.Data) || !l.AppendedAt.Equal(want.AppendedAt) {
			t.Fatalf("group %d: GetLog(%d) = %+v; want %+v", id, first, l, *want)
		}
		if err := g.GetLog(last+1, &l); !errors.Is(err, raft.ErrLogNotFound) {
			t.Fatalf("group %d: GetLog(past end) = %v; want ErrLogNotFound", id, err)
		}
	}
	for _, id := range groups {
		check(s, id, 1+uint64(id), 21+uint64(id))
	}
	// DeleteRange is inclusive and stays inside its group: compact the head
	// of group 0xff, the tail of group 1 (as after a conflicting append).
	if err := s.Group(0xff).DeleteRange(0x100, 0x100+9); err != nil {
		t.Fatal(err)
	}
	if err := s.Group(1).DeleteRange(12, 22); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	if err := s.Group(0xff).GetLog(0x100+9, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog(deleted) = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, dir)
	defer s.Close()
	check(s, 0, 1, 21)
	check(s, 1, 2, 11)
	check(s, 0xff, 0x100+10, 21+0xff)
	check(s, 0x100, 1+0x100, 21+0x100)
	check(s, 0xffff, 1+0xffff, 21+0xffff)
}

func TestGroupStoreStable(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	a, b := s.Group(1), s.Group(2)
	if v, err := a.Get([]byte("k")); err != nil || len(v) != 0 {
		t.Fatalf("Get(missing) = %q, %v; want empty", v, err)
	}
	if v, err := a.GetUint64([]byte("term")); err != nil || v != 0 {
		t.Fatalf("GetUint64(missing) = %d, %v; want 0", v, err)
	}
	a.Set([]byte("k"), []byte("va"))
	b.Set([]byte("k"), []byte("vb"))
	a.SetUint64([]byte("term"), 42)
	s.Close()
	s = openTestStore(t, dir)
	defer s.Close()
	a, b = s.Group(1), s.Group(2)
	if v, _ := a.Get([]byte("k")); string(v) != "va" {
		t.Fatalf("Get(k) in group 1 = %q", v)
	}
	if v, _ := b.Get([]byte("k")); string(v) != "vb" {
		t.Fatalf("Get(k) in group 2 = %q", v)
	}
	if v, _ := a.GetUint64([]byte("term")); v != 42 {
		t.Fatalf("GetUint64(term) after restart = %d", v)
	}
	if v, _ := b.GetUint64([]byte("term")); v != 0 {
		t.Fatalf("GetUint64(term) leaked across groups = %d", v)
	}
}

// TestStoreClosed: calls after Close (a raft transport handler that
// outlives raft.Shutdown) fail with ErrStoreClosed instead of panicking.
func TestStoreClosed(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	g := s.Group(3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	for name, err := range map[string]error{
		"SetUint64":   g.SetUint64([]byte("term"), 2),
		"StoreLog":    g.StoreLog(testLog(1)),
		"GetLog":      g.GetLog(1, &l),
		"DeleteRange": g.DeleteRange(1, 2),
	} {
		if !errors.Is(err, ErrStoreClosed) {
			t.Errorf("%s after Close = %v; want ErrStoreClosed", name, err)
		}
	}
	if _, err := g.LastIndex(); !errors.Is(err, ErrStoreClosed) {
		t.Errorf("LastIndex after Close = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}
