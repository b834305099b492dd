package relay

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"seatd/internal/kafkatest"
	"seatd/inventory"
	"seatd/orderflow/events"
	"seatd/raftfsm"
)

const partitions = 4

// startNode starts a one-node cluster of one group whose leader runs r.
func startNode(t *testing.T, r *Relay) *raftfsm.Node {
	t.Helper()
	n, err := raftfsm.StartNode(raftfsm.NodeConfig{
		ID: "n1", Dir: t.TempDir(), Addr: "127.0.0.1:0", Groups: 1, Duty: r.Duty,
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown(false) })
	if err := n.Bootstrap([]raftfsm.Peer{{ID: "n1", Addr: n.Addr()}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a writable group", func() bool {
		st := n.Stats()
		return len(st) == 2 && st[0].Writable && st[1].Writable
	})
	return n
}

func waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func propose(t *testing.T, n *raftfsm.Node, cmd *raftfsm.Command) raftfsm.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := n.Propose(ctx, 1, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sellingProgram creates an open program of 2 rows of 10 on the node.
func sellingProgram(t *testing.T, n *raftfsm.Node) {
	t.Helper()
	layout, err := inventory.Grid{Sections: 1, Rows: 2, Cols: 10, Categories: []inventory.GridCategory{{ID: "a", First: 1, Last: 2}}}.Layout()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := n.Place(ctx, "show"); err != nil {
		t.Fatal(err)
	}
	spec := &inventory.ProgramSpec{ID: "show", Name: "Show", Stops: []string{"doors", "end"},
		Categories: []inventory.Category{{ID: "a", Name: "A", PriceCents: 5000}}, Layout: layout}
	if out := propose(t, n, &raftfsm.Command{Op: raftfsm.OpCreateProgram, Spec: spec}); out.Result != inventory.ResultOK {
		t.Fatalf("create: %v %s", out.Result, out.Detail)
	}
	if out := propose(t, n, &raftfsm.Command{Op: raftfsm.OpOpenSale, Program: "show"}); out.Result != inventory.ResultOK {
		t.Fatalf("open: %v", out.Result)
	}
}

func hold(t *testing.T, n *raftfsm.Node, user uint64, count int) inventory.HoldInfo {
	t.Helper()
	out := propose(t, n, &raftfsm.Command{Op: raftfsm.OpHold, Hold: &inventory.HoldRequest{
		Program: "show", User: user, RequestID: inventory.RequestID{byte(user)}, Count: count, Together: true}})
	if out.Result != inventory.ResultOK {
		t.Fatalf("hold: %v", out.Result)
	}
	return out.Hold
}

// readAll reads every message of seat.holds, partition by partition.
func readAll(t *testing.T, brokers []string, want int) map[int][]events.HoldEvent {
	t.Helper()
	got := map[int][]events.HoldEvent{}
	total := 0
	deadline := time.Now().Add(20 * time.Second)
	for p := 0; p < partitions; p++ {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: events.TopicHolds, Partition: p, MaxWait: 20 * time.Millisecond})
		defer r.Close()
		for {
			lag, err := r.ReadLag(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if lag == 0 {
				break
			}
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			m, err := r.ReadMessage(ctx)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			ev, err := events.Decode(m.Value)
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Key) != ev.OrderNo {
				t.Errorf("key %s, order %s", m.Key, ev.OrderNo)
			}
			got[p] = append(got[p], ev)
			total++
		}
	}
	if total < want {
		t.Fatalf("%d events on seat.holds, want at least %d", total, want)
	}
	return got
}

func TestRelayPublishesAndAcknowledges(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	r, err := New(Config{Brokers: brokers, Topics: events.Topics(partitions, 1)})
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, r)
	sellingProgram(t, n)
	var holds []inventory.HoldInfo
	for u := uint64(1); u <= 6; u++ {
		holds = append(holds, hold(t, n, u, 2))
	}
	if out := propose(t, n, &raftfsm.Command{Op: raftfsm.OpRelease, HoldID: holds[0].ID, Owner: 1, Reason: inventory.ReleaseCancelled}); out.Result != inventory.ResultOK {
		t.Fatalf("release: %v", out.Result)
	}
	waitFor(t, "the relay's acknowledgement of 7 events", func() bool {
		st := n.Stats()[1]
		return st.OutboxLast == 7 && st.OutboxAcked == 7
	})
	got := readAll(t, brokers, 7)
	seen := 0
	for p, evs := range got {
		last := uint64(0)
		for _, ev := range evs {
			no, _ := strconv.ParseUint(ev.OrderNo, 10, 64)
			if want := events.PartitionOfOrder(inventory.OrderNo(no), partitions); want != p {
				t.Errorf("order %s on partition %d, want %d", ev.OrderNo, p, want)
			}
			user, _ := strconv.ParseUint(ev.UserID, 10, 64)
			if want := events.PartitionOfUser(user, partitions); want != p {
				t.Errorf("user %s's order on partition %d, want %d", ev.UserID, p, want)
			}
			if ev.Seq <= last {
				t.Errorf("partition %d: seq %d after %d", p, ev.Seq, last)
			}
			last = ev.Seq
			if ev.ID != events.EventID(1, ev.Seq) || ev.Group != 1 || ev.Cluster != n.ClusterID() || len(ev.Cluster) != raftfsm.ClusterIDLen {
				t.Errorf("event id %s group %d cluster %q (the node's %q)", ev.ID, ev.Group, ev.Cluster, n.ClusterID())
			}
			seen++
			if ev.Type == events.HoldPlaced {
				h := holds[user-1]
				if ev.HoldID != strconv.FormatUint(uint64(h.ID), 10) || ev.OrderNo != strconv.FormatUint(uint64(h.OrderNo), 10) {
					t.Errorf("placed %+v, hold %+v", ev, h)
				}
				if len(ev.Seats) != 2 || ev.TotalCents != 10000 || ev.Seats[0].PriceCents != 5000 || ev.Seats[0].Label == "" ||
					ev.ExpiresAt == nil || !ev.ExpiresAt.After(ev.At) || ev.ProgramID != "show" || ev.FromStop != "doors" || ev.ToStop != "end" {
					t.Errorf("placed event %+v", ev)
				}
			}
			if ev.Type == events.HoldReleased && (ev.Reason != "cancelled" || ev.UserID != "1") {
				t.Errorf("released event %+v", ev)
			}
		}
	}
	if seen != 7 {
		t.Errorf("%d events, want 7 (nothing re-published while the leader stays)", seen)
	}
}

// TestRelayWaitsForKafka: with the broker out of reach the events stay in
// the outbox, unacknowledged, and go out once it answers.
func TestRelayWaitsForKafka(t *testing.T) {
	ln := reserve(t)
	r, err := New(Config{Brokers: []string{ln}, Topics: events.Topics(partitions, 1), MaxBackoff: 100 * time.Millisecond, WriteTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, r)
	sellingProgram(t, n)
	hold(t, n, 1, 1)
	time.Sleep(500 * time.Millisecond)
	if st := n.Stats()[1]; st.OutboxAcked != 0 || st.OutboxLast != 1 {
		t.Fatalf("outbox last %d acked %d with no broker", st.OutboxLast, st.OutboxAcked)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port(t, ln)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "the event acknowledged once the broker answers", func() bool { return n.Stats()[1].OutboxAcked == 1 })
	readAll(t, c.ListenAddrs(), 1)
}

// reserve returns a loopback address nothing listens on.
func reserve(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	addr := c.ListenAddrs()[0]
	c.Close()
	return addr
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
