package orderclient

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/server"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"seatd/inventory"
	rpc "seatd/kitex_gen/orderflowrpc"
	ofsvc "seatd/kitex_gen/orderflowrpc/orderflow"
	"seatd/orderflow"
	"seatd/orderflow/events"
	"seatd/orderflow/orderrpc"
	"seatd/orderflow/orders"
)

// instance is one order service with its Kitex server on loopback.
type instance struct {
	svc  *orderflow.Service
	svr  server.Server
	addr string
}

// startInstances starts n instances over one kfake broker, each serving
// Kitex on a loopback port, and waits for them to be ready.
func startInstances(t *testing.T, n, partitions int) ([]string, []*instance) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	brokers := c.ListenAddrs()
	var out []*instance
	for i := range n {
		svc, err := orderflow.New(orderflow.Config{Brokers: brokers, Instance: i, Instances: n, Partitions: partitions, DataDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := svc.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := svc.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		svr := ofsvc.NewServer(orderrpc.New(svc), server.WithListener(ln), server.WithExitWaitTime(time.Millisecond))
		go svr.Run()
		inst := &instance{svc: svc, svr: svr, addr: ln.Addr().String()}
		t.Cleanup(func() {
			inst.svr.Stop()
			inst.svc.Close()
		})
		out = append(out, inst)
	}
	return brokers, out
}

func orderNo(seq uint64, group int, user uint64) inventory.OrderNo {
	return inventory.OrderNo(seq<<(inventory.GroupBits+inventory.GeneBits) | uint64(group)<<inventory.GeneBits | inventory.UserGene(user))
}

// place publishes a HoldPlaced of group's seq: user's order with sequence n.
func place(t *testing.T, brokers []string, group int, seq, user, n uint64) inventory.OrderNo {
	t.Helper()
	no := orderNo(n, group, user)
	at := time.Date(2026, 3, 1, 10, 0, int(n), 0, time.UTC)
	exp := at.Add(15 * time.Minute)
	ev := events.HoldEvent{Version: events.Version, Cluster: "0123456789abcdef0123456789abcdef", ID: events.EventID(group, seq), Group: group, Seq: seq, Type: events.HoldPlaced,
		At: at, OrderNo: strconv.FormatUint(uint64(no), 10), HoldID: strconv.FormatUint(n, 10), ProgramID: "p1",
		UserID: strconv.FormatUint(user, 10), To: 1, FromStop: "doors", ToStop: "end",
		Seats: []events.Seat{{ID: "A/1/1", Label: "A1", Category: "vip", PriceCents: 5000}}, TotalCents: 5000, ExpiresAt: &exp}
	v, _ := json.Marshal(ev)
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: events.TopicHolds, Balancer: events.GeneBalancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(context.Background(), kafka.Message{Key: events.Key(no), Value: v}); err != nil {
		t.Fatal(err)
	}
	return no
}

// TestRoutingClient: through real Kitex servers, the client finds each
// order and each buyer's list at its owner; a missing order is
// ErrNotFound; a request sent to the wrong instance is refused NOT_OWNER
// naming the owner; a down owner is ErrUnavailable while the other
// instance still answers for its own partitions.
func TestRoutingClient(t *testing.T) {
	const partitions = 4
	brokers, insts := startInstances(t, 2, partitions)
	c, err := New(Config{Addrs: []string{insts[0].addr, insts[1].addr}, AttemptTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if topo, err := c.Topology(ctx); err != nil || topo != (Topology{Instances: 2, Partitions: partitions}) {
		t.Fatalf("Topology() = %+v, %v; want 2 instances, %d partitions", topo, err, partitions)
	}
	// User 5: partition 1, instance 1. User 6: partition 2, instance 0.
	a := place(t, brokers, 1, 1, 5, 1)
	b := place(t, brokers, 1, 2, 5, 2)
	d := place(t, brokers, 1, 3, 6, 3)
	var o orders.Order
	deadline := time.Now().Add(20 * time.Second)
	for {
		o, err = c.Order(ctx, b)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || o.Status != orders.StatusPendingPayment || o.UserID != "5" || o.ExpiresAt.IsZero() {
		t.Fatalf("Order(%d) = %+v, %v; want PENDING_PAYMENT of user 5", b, o, err)
	}
	for time.Now().Before(deadline) {
		if _, err = c.Order(ctx, d); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Order(%d) at instance 0: %v", d, err)
	}
	page, err := c.Orders(ctx, 5, "", 1)
	if err != nil || len(page.Orders) != 1 || page.Orders[0].OrderNo != strconv.FormatUint(uint64(b), 10) || page.Next == "" {
		t.Fatalf("Orders(5, limit 1) = %+v, %v; want the newer order %d and a cursor", page, err, b)
	}
	page, err = c.Orders(ctx, 5, page.Next, 1)
	if err != nil || len(page.Orders) != 1 || page.Orders[0].OrderNo != strconv.FormatUint(uint64(a), 10) {
		t.Fatalf("Orders(5, page 2) = %+v, %v; want order %d", page, err, a)
	}
	if _, err := c.Order(ctx, orderNo(99, 1, 5)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Order(unknown) error = %v; want ErrNotFound", err)
	}
	if _, err := c.Orders(ctx, 5, "", orders.MaxListLimit+1); !errors.Is(err, ErrBadRequest) {
		t.Errorf("Orders(limit 101) error = %v; want ErrBadRequest", err)
	}

	// The wrong instance, asked directly, names the owner.
	wrong, err := ofsvc.NewClient("orderflow", clientHostPorts(insts[0].addr)...)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := wrong.GetOrder(ctx, &rpc.GetOrderRequest{OrderNo: strconv.FormatUint(uint64(a), 10)})
	if err != nil || resp.Status.Code != rpc.Code_NOT_OWNER || resp.Status.Owner != 1 || resp.Status.Partition != 1 || resp.Order != nil {
		t.Errorf("GetOrder at instance 0 = %+v, %v; want NOT_OWNER, owner 1, partition 1", resp, err)
	}
	if resp, err := wrong.GetOrder(ctx, &rpc.GetOrderRequest{OrderNo: "x"}); err != nil || resp.Status.Code != rpc.Code_BAD_REQUEST {
		t.Errorf("GetOrder(x) = %+v, %v; want BAD_REQUEST", resp, err)
	}
	if resp, err := wrong.Describe(ctx, &rpc.DescribeRequest{}); err != nil || resp.Instance != 0 || resp.Instances != 2 ||
		resp.Partitions != partitions || len(resp.Owned) != 2 || !resp.Ready {
		t.Errorf("Describe at instance 0 = %+v, %v; want instance 0 of 2, owning 2 of %d, ready", resp, err, partitions)
	}

	// Instance 1 goes down: its partitions are unavailable, not missing.
	insts[1].svr.Stop()
	if _, err := c.Order(ctx, a); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Order with its owner down: %v; want ErrUnavailable", err)
	}
	if _, err := c.Order(ctx, d); err != nil {
		t.Errorf("Order(%d) at the live instance 0: %v", d, err)
	}
}

// TestMisconfigured: addresses not in instance order are refused.
func TestMisconfigured(t *testing.T) {
	_, insts := startInstances(t, 2, 4)
	c, err := New(Config{Addrs: []string{insts[1].addr, insts[0].addr}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Order(context.Background(), orderNo(1, 1, 1)); !errors.Is(err, ErrMisrouted) {
		t.Errorf("Order with swapped addresses: %v; want ErrMisrouted", err)
	}
}

func clientHostPorts(addr string) []client.Option {
	return []client.Option{client.WithHostPorts(addr), client.WithRPCTimeout(time.Second)}
}
