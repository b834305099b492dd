package gateway

import (
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
