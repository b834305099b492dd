package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"seatd/internal/kafkatest"
	"seatd/internal/localserver"
	rpc "seatd/kitex_gen/inventoryrpc"
	"seatd/orderflow/events"
)

// TestUnreachableBrokers: brokers nothing listens on fail the start
// within BrokerWait (and some slack for a busy machine), naming them.
func TestUnreachableBrokers(t *testing.T) {
	addrs, err := localserver.FreeAddrs(1) // reserved, so nothing listens on it
	if err != nil {
		t.Fatal(err)
	}
	addr := addrs[0]
	start := time.Now()
	c, err := Start(context.Background(), Config{Nodes: 1, Orders: true, Brokers: []string{addr}})
	took := time.Since(start)
	if err == nil {
		c.Close()
		t.Fatalf("Start with brokers %s = nil error; want one", addr)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("Start with brokers %s = %v; want the address in the error", addr, err)
	}
	if took > BrokerWait+5*time.Second {
		t.Errorf("Start with brokers %s failed after %v; want within %v", addr, took, BrokerWait)
	}
}

// TestOtherClusterIsLoud: a cluster pointed at the brokers of a running
// one, whose seat.holds has its events, refuses to start and says why,
// instead of running an order flow that stops at its first event.
func TestOtherClusterIsLoud(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := Start(ctx, Config{Nodes: 1, Orders: true, Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	row := &rpc.Row{Id: "1", Rank: 1}
	for col := int32(1); col <= 4; col++ {
		row.Seats = append(row.Seats, &rpc.Seat{Col: col, Category: "a"})
	}
	spec := &rpc.ProgramSpec{Id: "show", Categories: []*rpc.Category{{Id: "a", PriceCents: 100}},
		Sections: []*rpc.Section{{Id: "A", Rows: []*rpc.Row{row}}}}
	if r, err := a.Client.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: spec}); err != nil || r.Status.CodeName != "ok" {
		t.Fatalf("CreateProgram = %v, %v", r, err)
	}
	if r, err := a.Client.SetSale(ctx, &rpc.SetSaleRequest{ProgramId: "show", Open: true}); err != nil || r.Status.CodeName != "ok" {
		t.Fatalf("SetSale = %v, %v", r, err)
	}
	if h, err := a.Client.PlaceHold(ctx, &rpc.HoldRequest{ProgramId: "show", UserId: 7, Count: 1}); err != nil || h.Status.CodeName != "ok" {
		t.Fatalf("PlaceHold = %v, %v", h, err)
	}
	kc := &kafka.Client{Addr: kafka.TCP(brokers...)}
	for {
		req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
		for p := range OrderPartitions {
			req.Topics[events.TopicHolds] = append(req.Topics[events.TopicHolds], kafka.LastOffsetOf(p))
		}
		resp, err := kc.ListOffsets(ctx, req)
		var n int64
		if err == nil {
			for _, po := range resp.Topics[events.TopicHolds] {
				n += max(po.LastOffset, 0)
			}
		}
		if n > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the hold's event never reached %s (last error %v)", events.TopicHolds, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	b, err := Start(ctx, Config{Nodes: 1, Orders: true, Brokers: brokers})
	if err == nil {
		b.Close()
		t.Fatalf("Start on the brokers of a running cluster = nil error; want one")
	}
	for _, want := range []string{brokers[0], "another seatd cluster", events.TopicHolds} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start on the brokers of a running cluster = %v; want %q in it", err, want)
		}
	}
}
