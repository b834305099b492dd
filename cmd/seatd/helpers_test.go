package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"

	"seatd/inventory"
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

// seatMapOf reads one replica's own seat map (not through the leader):
// seat ids, in the program's seat order, to their status.
func seatMapOf(t *testing.T, addr string) map[string]string {
	c, err := directClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.SeatMap(context.Background(), &rpc.SeatMapRequest{ProgramId: "show"})
	if err != nil {
		return nil
	}
	p, err := c.GetProgram(context.Background(), &rpc.GetProgramRequest{ProgramId: "show"})
	if err != nil {
		return nil
	}
	spec, _, err := inventory.ReadProgramSpec(p.Spec)
	if err != nil {
		return nil
	}
	names := [4]string{"free", "held", "sold", "blocked"}
	out := map[string]string{}
	i := 0
	for _, sec := range spec.Layout.Sections {
		for _, row := range sec.Rows {
			for _, st := range row.Seats {
				if i < len(r.Statuses) {
					out[fmt.Sprintf("%s/%s/%d", sec.ID, row.ID, st.Col)] = names[r.Statuses[i]&3]
				}
				i++
			}
		}
	}
	return out
}
