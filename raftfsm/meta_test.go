package raftfsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func metaApply(f *metaFSM, index uint64, entry []byte) any {
	return f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: entry})
}

func nodeEntry(t *testing.T, id, addr string) []byte {
	b, err := encodeNodeAddr(id, addr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMetaFSM: placement spreads programs and is stable; the directory
// records, replaces and forgets addresses, and refuses past its bound;
// drain marks follow their entries; a snapshot restores all of it, and a damaged one is refused with the
// old state kept.
func TestMetaFSM(t *testing.T) {
	f := newMetaFSM(3)
	var idx uint64
	apply := func(entry []byte) any { idx++; return metaApply(f, idx, entry) }
	var got []uint16
	for _, p := range []string{"a", "b", "c", "d", "a"} {
		got = append(got, apply(encodePlace(p)).(placeResult).group)
	}
	if want := []uint16{1, 2, 3, 1, 1}; !slices.Equal(got, want) {
		t.Fatalf("places = %v; want %v", got, want)
	}
	for _, e := range [][]byte{nodeEntry(t, "n1", "10.0.0.1:7100"), nodeEntry(t, "n2", "10.0.0.2:7100"),
		nodeEntry(t, "n1", "10.0.0.9:7100"), nodeEntry(t, "n3", "x:1"), nodeEntry(t, "n3", "")} {
		if err := apply(e); err != nil {
			t.Fatalf("node entry = %v", err)
		}
	}
	// A move's switch: from the group it is on, again (a resumed mover),
	// and refused from a group it is not on, or for a program not placed.
	for _, c := range []struct {
		program  string
		from, to uint16
		want     uint16
		err      bool
	}{
		{"b", 2, 3, 3, false}, {"b", 2, 3, 3, false}, {"b", 1, 2, 3, true}, {"z", 1, 2, 0, true},
	} {
		res := apply(encodeReplace(c.program, c.from, c.to)).(placeResult)
		if res.group != c.want || (res.err != nil) != c.err || c.err && !errors.Is(res.err, ErrBadCommand) {
			t.Fatalf("replace %s %d->%d = %d, %v; want %d, error %v", c.program, c.from, c.to, res.group, res.err, c.want, c.err)
		}
	}
	if g, _ := f.lookup("b"); g != 3 || !slices.Equal(f.counts, []int{0, 2, 0, 2}) {
		t.Fatalf("after the replace: b on %d, counts %v; want 3, [0 2 0 2]", g, f.counts)
	}
	want := []NodeInfo{{"n1", "10.0.0.9:7100"}, {"n2", "10.0.0.2:7100"}}
	if d := f.directory(); !slices.Equal(d, want) {
		t.Fatalf("directory = %v; want %v", d, want)
	}
	if _, err := encodeNodeAddr("", "x"); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("encodeNodeAddr(no id) = %v; want ErrBadCommand", err)
	}

	// The first name sticks; a later one (a second meta leader that had
	// not seen the first yet) changes nothing.
	first, second := strings.Repeat("a", ClusterIDLen), strings.Repeat("b", ClusterIDLen)
	apply(encodeCluster(first))
	apply(encodeCluster(second))
	if id := f.clusterID(); id != first {
		t.Fatalf("cluster id %q; want the first named, %q", id, first)
	}

	// Drain marks stick until undrained; an undrain of a node never
	// drained changes nothing.
	for _, e := range []struct {
		id string
		on bool
	}{{"n2", true}, {"n1", true}, {"n1", false}, {"n9", false}, {"n2", true}} {
		b, err := encodeDrain(e.id, e.on, []string{"n1", "n2", "n3"})
		if err != nil {
			t.Fatal(err)
		}
		if err := apply(b); err != nil {
			t.Fatalf("drain entry = %v", err)
		}
	}
	if d := f.drainedNodes(); !slices.Equal(d, []string{"n2"}) || !f.isDrained("n2") || f.isDrained("n1") {
		t.Fatalf("drained = %v; want [n2]", d)
	}
	// Two drains proposed at once, each checked against the voters before
	// either applied: the second to apply would leave no voter undrained,
	// and is refused in log order.
	for i, id := range []string{"n1", "n3"} {
		b, err := encodeDrain(id, true, []string{"n1", "n2", "n3"})
		if err != nil {
			t.Fatal(err)
		}
		err, _ = apply(b).(error)
		if (i == 1) != errors.Is(err, ErrLastVoter) {
			t.Fatalf("drain of %s with n2 drained = %v; want ErrLastVoter only for the second", id, err)
		}
	}
	if d := f.drainedNodes(); !slices.Equal(d, []string{"n1", "n2"}) {
		t.Fatalf("drained = %v; want [n1 n2]", d)
	}
	undrain, _ := encodeDrain("n1", false, nil)
	if err := apply(undrain); err != nil {
		t.Fatal(err)
	}
	if _, err := encodeDrain("", true, nil); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("encodeDrain(no id) = %v; want ErrBadCommand", err)
	}

	snap := func(f *metaFSM) []byte {
		s, err := f.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		return s.(snapshot)
	}
	data := snap(f)
	g := newMetaFSM(3)
	if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snap(g), data) || !slices.Equal(g.directory(), want) || !slices.Equal(g.table(), f.table()) || g.clusterID() != first ||
		!slices.Equal(g.drainedNodes(), []string{"n2"}) {
		t.Fatalf("restored meta state differs: %v %v", g.directory(), g.table())
	}
	for i := range data {
		damaged := append([]byte(nil), data[:i]...)
		if err := g.Restore(io.NopCloser(bytes.NewReader(damaged))); err == nil {
			t.Fatalf("Restore(first %d of %d bytes) = nil; want an error", i, len(data))
		}
	}
	if err := newMetaFSM(4).Restore(io.NopCloser(bytes.NewReader(data))); err == nil {
		t.Fatal("Restore(snapshot of 3 groups) on a node of 4 = nil; want an error")
	}
	if !bytes.Equal(snap(g), data) {
		t.Fatal("a refused restore changed the state")
	}

	for i := len(f.directory()); i < MaxDirectoryNodes; i++ {
		if err := apply(nodeEntry(t, fmt.Sprintf("m%03d", i), "a:1")); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	if err := apply(nodeEntry(t, "one-too-many", "a:1")); !errors.Is(err.(error), ErrDirectoryFull) {
		t.Fatalf("node past the bound = %v; want ErrDirectoryFull", err)
	}
	if err := apply(nodeEntry(t, "n1", "a:2")); err != nil {
		t.Fatalf("a known node's new address in a full directory = %v", err)
	}
}

// TestMetaAwait: a wait for a placement ends when a place entry or a
// snapshot brings it, and with the context's error when neither does.
func TestMetaAwait(t *testing.T) {
	f := newMetaFSM(2)
	metaApply(f, 1, encodePlace("a"))
	if g, err := f.await(context.Background(), "a"); err != nil || g != 1 {
		t.Fatalf("await(placed a) = %d, %v; want 1", g, err)
	}
	got := make(chan error, 2)
	go func() {
		g, err := f.await(context.Background(), "b")
		if err == nil && g != 1 {
			err = fmt.Errorf("group %d; want 1", g)
		}
		got <- err
	}()
	go func() {
		g, err := f.await(context.Background(), "c")
		if err == nil && g != 1 {
			err = fmt.Errorf("group %d; want 1", g)
		}
		got <- err
	}()
	metaApply(f, 2, encodePlace("x")) // group 2; wakes both, for neither
	metaApply(f, 3, encodePlace("b"))
	if err := <-got; err != nil {
		t.Fatalf("await(b): %v", err)
	}
	donor := newMetaFSM(2)
	for i, p := range []string{"a", "b", "c"} {
		metaApply(donor, uint64(i+1), encodePlace(p))
	}
	s, _ := donor.Snapshot()
	if err := f.Restore(io.NopCloser(bytes.NewReader(s.(snapshot)))); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("await(c) through a snapshot: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := f.await(ctx, "never"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("await(never placed) = %v; want the context's deadline", err)
	}
}
