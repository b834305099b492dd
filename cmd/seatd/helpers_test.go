package main

import (
	"context"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"

	rpc "seatd/kitex_gen/inventoryrpc"
	invsvc "seatd/kitex_gen/inventoryrpc/inventory"
)

func directClient(addr string) (invsvc.Client, error) {
	return invsvc.NewClient("seatd", client.WithHostPorts(addr), client.WithRPCTimeout(2*time.Second))
}

func statusOf(addr string) (*rpc.ClusterStatusResponse, error) {
	c, err := directClient(addr)
	if err != nil {
		return nil, err
	}
	return c.ClusterStatus(context.Background(), &rpc.ClusterStatusRequest{})
}

// seatMapOf reads one replica's own seat map (not through the leader).
func seatMapOf(t *testing.T, addr string) map[string]string {
	c, err := directClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.SeatMap(context.Background(), &rpc.SeatMapRequest{ProgramId: "show"})
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, s := range r.Seats {
		out[s.Id] = s.Status
	}
	return out
}
