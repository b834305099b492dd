package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"seatd/internal/kafkatest"
	"seatd/inventory"
	"seatd/orderflow/events"
	"seatd/orderflow/orderclient"
	"seatd/orderflow/orders"
)

// freeAddr returns a loopback address reserved for this test binary
// (localserver.FreePorts).
func freeAddr(t *testing.T) string {
	t.Helper()
	return freeAddrs(t, 1)[0]
}

// TestProcess runs the binary's run on kfake: it becomes ready, serves an
// order over Kitex, exports its metrics, and stops on SIGTERM with its
// stores closed, so that a second run on the same data serves the order
// without a rebuild.
func TestProcess(t *testing.T) {
	addrs := kafkatest.Embedded(t)
	brokers := strings.Join(addrs, ",")
	dir := t.TempDir()
	rpcAddr, metricsAddr := freeAddr(t), freeAddr(t)
	args := []string{"-instances", "1", "-partitions", "4", "-data", dir, "-rpc", rpcAddr, "-metrics", metricsAddr, "-log-level", "error"}
	getenv := func(k string) string {
		if k == "KAFKA_BROKERS" {
			return brokers
		}
		return ""
	}
	start := func() chan error {
		done := make(chan error, 1)
		go func() { done <- run(args, getenv) }()
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get("http://" + metricsAddr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return done
				}
			}
			select {
			case err := <-done:
				t.Fatalf("run ended before ready: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatal("not ready in 30s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	stop := func(done chan error) {
		syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run after SIGTERM: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("run did not stop on SIGTERM")
		}
	}

	done := start()
	const user = 9
	no := inventory.OrderNo(1<<(inventory.GroupBits+inventory.GeneBits) | 1<<inventory.GeneBits | inventory.UserGene(user))
	ev := events.HoldEvent{Version: 1, Cluster: "0123456789abcdef0123456789abcdef", ID: "1-1", Group: 1, Seq: 1, Type: events.HoldPlaced, At: time.Now().UTC(),
		OrderNo: strconv.FormatUint(uint64(no), 10), HoldID: "1", ProgramID: "p", UserID: strconv.Itoa(user), To: 1, TotalCents: 100,
		Seats: []events.Seat{{ID: "A/1/1", Label: "A1", Category: "c", PriceCents: 100}}}
	v, _ := json.Marshal(ev)
	w := &kafka.Writer{Addr: kafka.TCP(addrs...), Topic: events.TopicHolds, Balancer: events.GeneBalancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	if err := w.WriteMessages(context.Background(), kafka.Message{Key: events.Key(no), Value: v}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	cl, err := orderclient.New(orderclient.Config{Addrs: []string{rpcAddr}})
	if err != nil {
		t.Fatal(err)
	}
	var o orders.Order
	deadline := time.Now().Add(20 * time.Second)
	for {
		o, err = cl.Order(context.Background(), no)
		if err == nil || !errors.Is(err, orderclient.ErrNotFound) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || o.Status != orders.StatusPendingPayment {
		t.Fatalf("Order(%d) = %+v, %v; want PENDING_PAYMENT", no, o, err)
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`orderflow_events_applied_total{type="HoldPlaced"} 1`, "orderflow_commit_seconds_bucket", `orderflow_partition_ready{partition="3"} 1`, "orderflow_store_bytes"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	stop(done)

	done = start()
	if o, err := cl.Order(context.Background(), no); err != nil || o.Version != 1 {
		t.Errorf("Order after a restart = %+v, %v; want version 1", o, err)
	}
	resp, err = http.Get("http://" + metricsAddr + "/metrics")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "orderflow_rebuilds_total 0") {
			t.Errorf("a restart rebuilt a store it had")
		}
	}
	stop(done)
}
