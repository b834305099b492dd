package gateway

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/cloudwego/kitex/server"
	"github.com/prometheus/client_golang/prometheus"

	"seatd/internal/kafkatest"
	ofsvc "seatd/kitex_gen/orderflowrpc/orderflow"
	"seatd/orderflow"
	"seatd/orderflow/events"
	"seatd/orderflow/orderclient"
	"seatd/orderflow/orderrpc"
	"seatd/orderflow/relay"
	"seatd/raftfsm"
)

// startSystemWithOrders is startSystem with the order flow: an embedded
// Kafka-protocol broker, the node's outbox relay, one order-service
// instance behind its Kitex server, and the gateway's order client.
func startSystemWithOrders(t *testing.T, tune ...func(*Config)) *testSystem {
	t.Helper()
	const partitions = 4
	brokers := kafkatest.Embedded(t)
	rel, err := relay.New(relay.Config{Brokers: brokers, Topics: events.Topics(partitions, 1)})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := orderflow.New(orderflow.Config{Brokers: brokers, Instance: 0, Instances: 1, Partitions: partitions, DataDir: t.TempDir(),
		Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svr := ofsvc.NewServer(orderrpc.New(svc), server.WithListener(ln), server.WithExitWaitTime(time.Millisecond))
	go svr.Run()
	t.Cleanup(func() {
		svr.Stop()
		svc.Close()
	})
	orders, err := orderclient.New(orderclient.Config{Addrs: []string{ln.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	return startClusterNodes(t, 1, time.Second, func(c *raftfsm.NodeConfig) { c.Duty = rel.Duty },
		append([]func(*Config){func(c *Config) { c.Orders = orders }}, tune...)...)
}

// TestOrderRoutes: what the order routes refuse, and how alike their
// refusals are; an order's answer is the API's shape.
func TestOrderRoutes(t *testing.T) {
	s := startSystemWithOrders(t)
	s.arena("show")
	buyer, other := s.token(5), s.token(6)
	h := s.do("POST", "/v1/programs/show/holds", buyer, `{"count":2}`, map[string]string{"Idempotency-Key": "o1"})
	s.want(h, 201, "")
	no := h.json(t)["order_no"].(string)
	var order reply
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if order = s.do("GET", "/v1/orders/"+no, buyer, nil, nil); order.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s never readable: %d %s", no, order.status, order.body)
		}
	}
	o := order.json(t)
	if o["status"] != "PENDING_PAYMENT" || o["hold_id"] != h.json(t)["hold_id"] || o["user_id"] != "5" || o["total_cents"].(float64) != 100000 {
		t.Errorf("order %s of hold %s", order.body, h.body)
	}

	// Every order a caller may not see is the same 404, byte for byte.
	missing := s.do("GET", "/v1/orders/"+no+"0", buyer, nil, nil)
	s.want(missing, 404, "NOT_FOUND")
	for _, path := range []string{"/v1/orders/0" + no, "/v1/orders/+" + no, "/v1/orders/-1", "/v1/orders/0", "/v1/orders/abc",
		"/v1/orders/99999999999999999999999", "/v1/orders/18446744073709551615"} {
		if r := s.do("GET", path, buyer, nil, nil); r.status != 404 || !bytes.Equal(r.body, missing.body) {
			t.Errorf("GET %s = %d %s; want the 404 of a missing order, %s", path, r.status, r.body, missing.body)
		}
	}
	if r := s.do("GET", "/v1/orders/"+no, other, nil, nil); r.status != 404 || !bytes.Equal(r.body, missing.body) {
		t.Errorf("another buyer's read = %d %s; want %s", r.status, r.body, missing.body)
	}
	s.want(s.do("GET", "/v1/orders/"+no, adminToken, nil, nil), 200, "")

	for _, q := range []string{"limit=0", "limit=101", "limit=abc", "limit=01", "limit=%2B5", "limit=1&limit=2", "cursor=zz", "user_id=5"} {
		s.refused(s.do("GET", "/v1/orders?"+q, buyer, nil, nil), 422, "INVALID_ARGUMENT", nil, "")
	}
	s.refused(s.do("GET", "/v1/orders", adminToken, nil, nil), 422, "INVALID_ARGUMENT", map[string]any{"field": "user_id"}, "")
	s.refused(s.do("GET", "/v1/orders?user_id=05", adminToken, nil, nil), 422, "INVALID_ARGUMENT", map[string]any{"field": "user_id"}, "")
	list := s.do("GET", "/v1/orders?user_id=5", adminToken, nil, nil)
	if s.want(list, 200, ""); list.status == 200 && len(list.json(t)["orders"].([]any)) != 1 {
		t.Errorf("an operator's list of buyer 5 = %s", list.body)
	}
	if r := s.do("GET", "/v1/orders", other, nil, nil); r.status != 200 || len(r.json(t)["orders"].([]any)) != 0 {
		t.Errorf("another buyer's list = %d %s", r.status, r.body)
	}
}
