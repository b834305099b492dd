package orderflow

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"seatd/internal/kafkatest"
	"seatd/orderflow/events"
	"seatd/orderflow/orders"
)

const testPartitions = 4

// TestPlacedIsPendingPayment: a placed hold is an order PENDING_PAYMENT,
// readable by its number and in its buyer's list, newest first, a page at
// a time.
func TestPlacedIsPendingPayment(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	s := startService(t, testConfig(brokers, t.TempDir(), 0, 1, testPartitions))
	const user = 77
	var evs []events.HoldEvent
	for n := uint64(1); n <= 5; n++ {
		evs = append(evs, placed(1, n, user, n))
	}
	other := placed(1, 6, user+testPartitions, 6) // same partition, another buyer
	produce(t, brokers, append(evs, other)...)

	o := waitOrder(t, s, no(evs[0]), 1)
	want := orders.Order{
		OrderNo: evs[0].OrderNo, HoldID: evs[0].HoldID, ProgramID: "p1", UserID: "77", Status: orders.StatusPendingPayment,
		Seats:      []orders.Seat{{ID: "A/1/2", Label: "A1", Category: "vip", PriceCents: 5000}, {ID: "A/1/3", Label: "A2", Category: "vip", PriceCents: 5000}},
		TotalCents: 10000, CreatedAt: evs[0].At, ExpiresAt: *evs[0].ExpiresAt, From: 0, To: 1, FromStop: "doors", ToStop: "end",
		HoldStatus: orders.HoldHeld, UpdatedAt: evs[0].At, Version: 1,
		LastEvent: orders.Source{Cluster: testCluster, EventID: "1-1", Group: 1, Seq: 1, Topic: events.TopicHolds, Partition: s.PartitionOfOrder(no(evs[0])), Offset: 0},
		Offsets:   &orders.Offsets{Holds: 0, Pay: -1},
	}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("Order(%d) = %+v; want %+v", no(evs[0]), o, want)
	}
	waitOrder(t, s, no(other), 1)

	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		page, err := s.Orders(user, cursor, 2)
		if err != nil {
			t.Fatalf("Orders(%d, %q, 2): %v", user, cursor, err)
		}
		if len(page.Orders) > 2 || pages > 3 {
			t.Fatalf("Orders(%d, %q, 2) = %d orders, page %d", user, cursor, len(page.Orders), pages)
		}
		for _, o := range page.Orders {
			got = append(got, o.OrderNo)
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	var wantNos []string
	for i := len(evs) - 1; i >= 0; i-- {
		wantNos = append(wantNos, evs[i].OrderNo)
	}
	if !reflect.DeepEqual(got, wantNos) {
		t.Errorf("Orders(%d) pages = %v; want newest first %v", user, got, wantNos)
	}
	if _, err := s.Orders(user, "", orders.MaxListLimit+1); !errors.Is(err, orders.ErrBadLimit) {
		t.Errorf("Orders(limit %d) error = %v; want ErrBadLimit", orders.MaxListLimit+1, err)
	}
	if _, err := s.Orders(user, "!!", 2); !errors.Is(err, orders.ErrBadCursor) {
		t.Errorf("Orders(cursor !!) error = %v; want ErrBadCursor", err)
	}
	if _, err := s.Order(orderNo(99, 1, user)); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("Order(unknown) error = %v; want ErrNotFound", err)
	}
}

// TestReleases: a release by the buyer cancels the order, an unpaid expiry
// expires it, a refusal cancels it with its reason kept; a confirm marks
// the hold CONFIRMED and refunds count up to REFUNDED.
func TestReleases(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	s := startService(t, testConfig(brokers, t.TempDir(), 0, 1, testPartitions))
	a, b, c, d := placed(2, 1, 10, 1), placed(2, 2, 11, 2), placed(2, 3, 12, 3), placed(2, 4, 13, 4)
	produce(t, brokers, a, b, c, d,
		then(a, 5, events.HoldReleased, "cancelled"), then(b, 6, events.HoldReleased, "expired"),
		then(c, 7, events.HoldReleased, "refused"), then(d, 8, events.HoldConfirmed, ""))
	for _, tc := range []struct {
		ev     events.HoldEvent
		status orders.Status
		hold   orders.HoldStatus
		reason string
	}{
		{a, orders.StatusCancelled, orders.HoldReleased, "cancelled"},
		{b, orders.StatusExpired, orders.HoldReleased, "expired"},
		{c, orders.StatusCancelled, orders.HoldReleased, "refused"},
		{d, orders.StatusPendingPayment, orders.HoldConfirmed, ""},
	} {
		o := waitOrder(t, s, no(tc.ev), 2)
		if o.Status != tc.status || o.HoldStatus != tc.hold || o.Reason != tc.reason || o.Version != 2 {
			t.Errorf("order %s = %s/%s/%q v%d; want %s/%s/%q v2", tc.ev.OrderNo, o.Status, o.HoldStatus, o.Reason, o.Version, tc.status, tc.hold, tc.reason)
		}
	}
	// Refunds of a confirmed hold: one seat, then the other.
	produce(t, brokers, refund(d, 9, 0))
	o := waitOrder(t, s, no(d), 3)
	if o.Status != orders.StatusPartiallyRefunded || o.RefundedCents != 5000 {
		t.Errorf("after one refund: %s, %d cents; want PARTIALLY_REFUNDED, 5000", o.Status, o.RefundedCents)
	}
	// An illegal transition (confirming a cancelled order) changes nothing.
	produce(t, brokers, then(a, 10, events.HoldConfirmed, ""), refund(d, 11, 1))
	o = waitOrder(t, s, no(d), 4)
	if o.Status != orders.StatusRefunded || o.RefundedCents != 10000 || o.HoldStatus != orders.HoldRefunded {
		t.Errorf("after both refunds: %s/%s, %d cents; want REFUNDED/REFUNDED, 10000", o.Status, o.HoldStatus, o.RefundedCents)
	}
	caughtUp(t, s) // a's confirm may sit in another partition than d's refund
	if o, _ := s.Order(no(a)); o.Status != orders.StatusCancelled || o.Version != 2 {
		t.Errorf("cancelled order after a confirm = %s v%d; want CANCELLED v2", o.Status, o.Version)
	}
	if n := testutil.ToFloat64(s.metrics.illegal.WithLabelValues("HoldConfirmed")); n != 1 {
		t.Errorf("illegal transitions = %v; want 1", n)
	}
}

// TestDuplicatesAppliedOnce: the same events published again, and a new
// leader resuming from an older seq, change nothing; later events apply.
func TestDuplicatesAppliedOnce(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	s := startService(t, testConfig(brokers, t.TempDir(), 0, 1, testPartitions))
	a := placed(3, 1, 20, 1)
	b := placed(3, 2, 20, 2)
	evs := []events.HoldEvent{a, b, then(a, 3, events.HoldConfirmed, ""), refund(a, 4, 0), then(b, 5, events.HoldReleased, "cancelled")}
	produce(t, brokers, evs...)
	caughtUp(t, s)
	before := map[string]orders.Order{}
	for _, ev := range evs[:2] {
		before[ev.OrderNo], _ = s.Order(no(ev))
	}
	// A retried batch: everything again. A new leader resuming from seq 2:
	// seqs 2-5 again, then a new event, seq 6.
	produce(t, brokers, evs...)
	produce(t, brokers, append(evs[1:], refund(a, 6, 1))...)
	o := waitOrder(t, s, no(a), 4)
	caughtUp(t, s)
	if o.RefundedCents != 10000 || o.Status != orders.StatusRefunded || o.Version != 4 {
		t.Errorf("order a = %s %d cents v%d; want REFUNDED 10000 v4", o.Status, o.RefundedCents, o.Version)
	}
	if got, _ := s.Order(no(b)); !reflect.DeepEqual(got, before[b.OrderNo]) {
		t.Errorf("order b after duplicates = %+v; want %+v", got, before[b.OrderNo])
	}
	if n := testutil.ToFloat64(s.metrics.duplicates); n != 9 {
		t.Errorf("duplicates = %v; want 9", n)
	}
}

// TestRestartResumes: a restarted service resumes at its stored offset:
// what it applied is not applied again, what came while it was down is.
func TestRestartResumes(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	dir := t.TempDir()
	cfg := testConfig(brokers, dir, 0, 1, testPartitions)
	s := startService(t, cfg)
	a := placed(4, 1, 30, 1)
	produce(t, brokers, a, then(a, 2, events.HoldConfirmed, ""), refund(a, 3, 0))
	waitOrder(t, s, no(a), 3)
	caughtUp(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b := placed(4, 4, 31, 4)
	produce(t, brokers, b)
	s2 := startService(t, cfg)
	waitOrder(t, s2, no(b), 1)
	o, err := s2.Order(no(a))
	if err != nil || o.RefundedCents != 5000 || o.Version != 3 {
		t.Errorf("order a after restart = %d cents v%d (%v); want 5000 v3", o.RefundedCents, o.Version, err)
	}
	if n := testutil.ToFloat64(s2.metrics.applied.WithLabelValues(string(events.HoldPlaced))) +
		testutil.ToFloat64(s2.metrics.applied.WithLabelValues(string(events.HoldConfirmed))) +
		testutil.ToFloat64(s2.metrics.applied.WithLabelValues(string(events.SeatsRefunded))) +
		testutil.ToFloat64(s2.metrics.duplicates); n != 1 {
		t.Errorf("events read after restart = %v; want 1 (only the new one)", n)
	}
}

// TestRebuild: a partition store deleted while the service is down is
// rebuilt from the orders changelog, with the same records, the same
// offset and marks; later events, and re-deliveries of older ones, apply
// once.
func TestRebuild(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	dir := t.TempDir()
	cfg := testConfig(brokers, dir, 0, 1, testPartitions)
	s := startService(t, cfg)
	var evs []events.HoldEvent
	for n := uint64(1); n <= 12; n++ {
		evs = append(evs, placed(5, n, 40+n, n))
	}
	evs = append(evs, then(evs[0], 13, events.HoldReleased, "expired"), then(evs[1], 14, events.HoldConfirmed, ""), refund(evs[1], 15, 1))
	produce(t, brokers, evs...)
	caughtUp(t, s)
	before := map[string]orders.Order{}
	for _, ev := range evs[:12] {
		before[ev.OrderNo], _ = s.Order(no(ev))
	}
	states := map[int]orders.State{}
	for _, p := range s.owned {
		states[p] = s.parts[p].store.State()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range s.owned {
		if err := os.RemoveAll(filepath.Join(dir, partitionDir(p))); err != nil {
			t.Fatal(err)
		}
	}
	// While it is down: a re-delivery of an applied event, and new ones.
	produce(t, brokers, evs[14], refund(evs[1], 16, 0), placed(5, 17, 41, 17))
	// Without the operator's word a lost store stops the start.
	if _, err := startErr(cfg); !errors.Is(err, ErrStoreMissing) {
		t.Fatalf("Start with stores lost = %v; want ErrStoreMissing", err)
	}
	cfg.RebuildMissing = true
	s2 := startService(t, cfg)
	if n := testutil.ToFloat64(s2.metrics.rebuilds); n != float64(len(s2.owned)) {
		t.Errorf("rebuilds = %v; want %d", n, len(s2.owned))
	}
	o := waitOrder(t, s2, no(evs[1]), 4)
	if o.Status != orders.StatusRefunded || o.RefundedCents != 10000 {
		t.Errorf("order after rebuild and refund = %s %d cents; want REFUNDED 10000", o.Status, o.RefundedCents)
	}
	waitOrder(t, s2, orderNo(17, 5, 41), 1)
	caughtUp(t, s2)
	for _, ev := range evs[:12] {
		got, err := s2.Order(no(ev))
		want := before[ev.OrderNo]
		if ev.OrderNo == evs[1].OrderNo {
			continue // changed since
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("rebuilt order %s = %+v (%v); want %+v", ev.OrderNo, got, err, want)
		}
	}
	if n := testutil.ToFloat64(s2.metrics.duplicates); n != 1 {
		t.Errorf("duplicates after rebuild = %v; want 1 (the re-delivered refund)", n)
	}
	// The marks and offsets before the loss were restored, then moved on.
	for p, st := range states {
		now := s2.parts[p].store.State()
		for g, m := range st.HWM {
			if now.HWM[g] < m {
				t.Errorf("partition %d group %d mark %d after rebuild; want at least %d", p, g, now.HWM[g], m)
			}
		}
		if now.Offset < st.Offset {
			t.Errorf("partition %d offset %d after rebuild; want at least %d", p, now.Offset, st.Offset)
		}
	}
}

// TestWrongOwner: a read of a partition another instance owns names the
// owner, never "not found"; each instance applies only its partitions.
func TestWrongOwner(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	s0 := startService(t, testConfig(brokers, t.TempDir(), 0, 2, testPartitions))
	s1 := startService(t, testConfig(brokers, t.TempDir(), 1, 2, testPartitions))
	a := placed(6, 1, 1, 1) // user 1: partition 1, instance 1
	produce(t, brokers, a)
	waitOrder(t, s1, no(a), 1)
	_, err := s0.Order(no(a))
	var noe *NotOwnerError
	if !errors.As(err, &noe) || !errors.Is(err, ErrNotOwner) || noe.Owner != 1 || noe.Partition != 1 {
		t.Errorf("Order on instance 0 = %v; want NotOwnerError{Partition: 1, Owner: 1}", err)
	}
	if _, err := s0.Orders(1, "", 0); !errors.As(err, &noe) || noe.Owner != 1 {
		t.Errorf("Orders on instance 0 = %v; want NotOwnerError naming 1", err)
	}
	if d := s0.Describe(); !reflect.DeepEqual(d.Owned, []int{0, 2}) || !d.Ready {
		t.Errorf("Describe() = %+v; want owned [0 2], ready", d)
	}
}

// TestSkipsAndStops: malformed events and unknown types are skipped and
// counted, the offset moving past them; an event of a newer schema
// version stops its partition before it, nothing after it applies, and
// the partition's lag grows.
func TestSkipsAndStops(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	s := startService(t, testConfig(brokers, t.TempDir(), 0, 1, testPartitions))
	a := placed(7, 1, 2, 1) // partition 2
	key := events.Key(no(a))
	unknown, _ := json.Marshal(map[string]any{"version": 1, "cluster": testCluster, "id": "7-2", "group": 7, "seq": 2, "type": "HoldTeleported",
		"order_no": a.OrderNo, "hold_id": "1", "user_id": "2"})
	newer, _ := json.Marshal(map[string]any{"version": events.Version + 1, "id": "7-4", "group": 7, "seq": 4, "type": "HoldPlaced",
		"order_no": a.OrderNo, "hold_id": "1", "user_id": "2"})
	after, _ := json.Marshal(then(a, 5, events.HoldReleased, "cancelled"))
	first, _ := json.Marshal(a)
	produceRaw(t, brokers, kafka.Message{Key: key, Value: first}, kafka.Message{Key: key, Value: []byte("{not json")},
		kafka.Message{Key: key, Value: unknown})
	waitOrder(t, s, no(a), 1)
	caughtUp(t, s)
	if n := testutil.ToFloat64(s.metrics.skipped.WithLabelValues("malformed")); n != 1 {
		t.Errorf("skipped malformed = %v; want 1", n)
	}
	if n := testutil.ToFloat64(s.metrics.skipped.WithLabelValues("unknown_type")); n != 1 {
		t.Errorf("skipped unknown_type = %v; want 1", n)
	}
	produceRaw(t, brokers, kafka.Message{Key: key, Value: newer}, kafka.Message{Key: key, Value: after})
	waitFor(t, "partition 2 to stop", func() bool { return s.Ready() != nil })
	if err := s.Ready(); !errors.Is(err, ErrNotReady) {
		t.Errorf("Ready() = %v; want ErrNotReady", err)
	}
	if o, _ := s.Order(no(a)); o.Version != 1 {
		t.Errorf("order after the newer event = v%d %s; want v1 (nothing after it applied)", o.Version, o.Status)
	}
	if off := s.parts[2].store.State().Offset; off != 2 {
		t.Errorf("partition 2 offset = %d; want 2 (before the newer event)", off)
	}
	// Stopped, it applies nothing, and its lag says so: the newer event
	// and the one after it wait.
	waitFor(t, "the stopped partition's lag to show its 2 waiting events", func() bool {
		return testutil.ToFloat64(s.metrics.lag.WithLabelValues("2")) == 2
	})
}

// TestOtherClusterStops: a new seatd cluster publishing to an old one's
// topics reuses its numbers, so the partition that meets the second
// cluster's event stops before it, loudly, instead of taking its orders
// for the old ones or its events for duplicates; and a store rebuilt from
// the changelog remembers which cluster it applied.
func TestOtherClusterStops(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	dir := t.TempDir()
	s := startService(t, testConfig(brokers, dir, 0, 1, testPartitions))
	a := placed(1, 1, 2, 1)
	produce(t, brokers, a)
	waitOrder(t, s, no(a), 1)
	// The same numbers from a cluster formed anew.
	b := placed(1, 1, 2, 1)
	b.Cluster = "fedcba9876543210fedcba9876543210"
	b.Seats[0].ID, b.TotalCents = "B/9/9", 99
	produce(t, brokers, b, then(b, 2, events.HoldReleased, "cancelled"))
	waitFor(t, "the partition to stop", func() bool { return s.Ready() != nil })
	if n := testutil.ToFloat64(s.metrics.stopped.WithLabelValues("other_cluster")); n != 1 {
		t.Errorf("stops for another cluster = %v; want 1", n)
	}
	if o, _ := s.Order(no(a)); o.Version != 1 || o.TotalCents != 10000 || o.Status != orders.StatusPendingPayment {
		t.Errorf("the first cluster's order = %+v; want it untouched", o)
	}
	if st := s.parts[events.PartitionOfOrder(no(a), testPartitions)].store.State(); st.Cluster != testCluster {
		t.Errorf("store cluster %q; want %q", st.Cluster, testCluster)
	}
	s.Close()

	// Rebuilt from the changelog, the store still knows its cluster.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	rc := testConfig(brokers, dir, 0, 1, testPartitions)
	rc.RebuildMissing = true
	r, err := New(rc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	part := r.parts[events.PartitionOfOrder(no(a), testPartitions)]
	waitFor(t, "the rebuilt partition to stop at the other cluster's event", func() bool {
		err := r.Ready()
		return err != nil && strings.Contains(err.Error(), "another seatd cluster")
	})
	if st := part.store.State(); st.Cluster != testCluster || !st.Initialized {
		t.Errorf("rebuilt store: cluster %q, initialized %v; want %q, true", st.Cluster, st.Initialized, testCluster)
	}
	if o, _ := r.Order(no(a)); o.Version != 1 || o.TotalCents != 10000 {
		t.Errorf("the first cluster's order after the rebuild = %+v; want it as it was", o)
	}
}
