package orderflow

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"seatd/internal/kafkatest"
	"seatd/orderflow/events"
)

// startErr starts a service on cfg and returns it (closed at the test's
// end by the caller) with Start's error.
func startErr(cfg Config) (*Service, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func TestMoves(t *testing.T) {
	for _, c := range []struct {
		partitions, from, to int
		want                 []Move
	}{
		{4, 2, 3, []Move{{2, 0, 2}, {3, 1, 0}}},
		{4, 3, 2, []Move{{2, 2, 0}, {3, 0, 1}}},
		{4, 2, 2, nil},
		{6, 1, 2, []Move{{1, 0, 1}, {3, 0, 1}, {5, 0, 1}}},
		{16, 2, 4, []Move{{2, 0, 2}, {3, 1, 3}, {6, 0, 2}, {7, 1, 3}, {10, 0, 2}, {11, 1, 3}, {14, 0, 2}, {15, 1, 3}}},
	} {
		got, err := Moves(c.partitions, c.from, c.to)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("Moves(%d, %d, %d) = %v, %v; want %v", c.partitions, c.from, c.to, got, err, c.want)
		}
	}
	for _, c := range [][3]int{{0, 1, 1}, {65, 1, 1}, {4, 0, 2}, {4, 2, 5}} {
		if got, err := Moves(c[0], c[1], c[2]); err == nil {
			t.Errorf("Moves(%v) = %v; want an error", c, got)
		}
	}
}

// TestStartChecksStores: after 2 instances consumed, a start under 3
// instances refuses a data directory holding a store another instance
// owns now (ErrForeignStore, naming it and its owner), and an owned
// partition without a store whose changelog has records
// (ErrStoreMissing, naming it); once the store is moved both start,
// serve the orders they had, and apply what comes next once.
func TestStartChecksStores(t *testing.T) {
	const partitions = 4
	brokers := kafkatest.Embedded(t)
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	s0 := startService(t, testConfig(brokers, dirs[0], 0, 2, partitions))
	s1 := startService(t, testConfig(brokers, dirs[1], 1, 2, partitions))
	// Users 2 and 3 map to partitions 2 and 3, which move under 3 instances.
	a, b := placed(1, 1, 2, 1), placed(1, 2, 3, 2)
	produce(t, brokers, a, b)
	waitOrder(t, s0, no(a), 1)
	waitOrder(t, s1, no(b), 1)
	caughtUp(t, s0)
	caughtUp(t, s1)
	waitFor(t, "the changelog to be published", func() bool {
		return s0.parts[2].store.PendingCount() == 0 && s1.parts[3].store.PendingCount() == 0
	})
	s0.Close()
	s1.Close()

	_, err := startErr(testConfig(brokers, dirs[0], 0, 3, partitions))
	if !errors.Is(err, ErrForeignStore) || !strings.Contains(err.Error(), "partition-02 (owned by instance 2)") {
		t.Fatalf("Start of instance 0 of 3 with partition-02 = %v; want ErrForeignStore naming partition-02 and instance 2", err)
	}
	_, err = startErr(testConfig(brokers, dirs[2], 2, 3, partitions))
	if !errors.Is(err, ErrStoreMissing) || !strings.Contains(err.Error(), "partition 2 (") {
		t.Fatalf("Start of instance 2 of 3 without partition-02 = %v; want ErrStoreMissing naming partition 2", err)
	}
	if entries, _ := os.ReadDir(dirs[2]); len(entries) != 0 {
		t.Errorf("a refused start left %d entries in its data directory", len(entries))
	}
	for _, m := range []struct{ p, from, to int }{{2, 0, 2}, {3, 1, 0}} {
		if err := os.Rename(filepath.Join(dirs[m.from], partitionDir(m.p)), filepath.Join(dirs[m.to], partitionDir(m.p))); err != nil {
			t.Fatal(err)
		}
	}
	var now []*Service
	for i := range 3 {
		now = append(now, startService(t, testConfig(brokers, dirs[i], i, 3, partitions)))
	}
	if o, err := now[2].Order(no(a)); err != nil || o.Version != 1 {
		t.Errorf("moved order %s at instance 2 = %+v, %v; want version 1", a.OrderNo, o, err)
	}
	// A release of each, and a re-delivery of a's placement, which its
	// moved store's mark makes a duplicate.
	produce(t, brokers, then(a, 3, events.HoldReleased, "cancelled"), then(b, 4, events.HoldReleased, "cancelled"), a)
	waitOrder(t, now[2], no(a), 2)
	waitOrder(t, now[0], no(b), 2)
	waitFor(t, "the re-delivery", func() bool { return testutil.ToFloat64(now[2].metrics.duplicates) == 1 })
	for i, want := range []float64{1, 0, 1} {
		if got := testutil.ToFloat64(now[i].metrics.applied.WithLabelValues(string(events.HoldReleased))); got != want {
			t.Errorf("instance %d applied %v releases after the move; want %v", i, got, want)
		}
		if got := testutil.ToFloat64(now[i].metrics.applied.WithLabelValues(string(events.HoldPlaced))); got != 0 {
			t.Errorf("instance %d applied %v placements after the move; want 0 (each was applied before it)", i, got)
		}
	}
}
