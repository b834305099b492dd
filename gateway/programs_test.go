package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	rpc "seatd/kitex_gen/inventoryrpc"
	"seatd/raftfsm"
)

// TestCreateWhileLeadershipsMove: right after each create, the leader
// that applied it hands its groups over and the gateway's routing client
// learns the new leader, which may not have applied the create yet (its
// barrier has not run). Every create still answers 201 with its
// program, and the program reads back: before, the gateway read the
// program back after creating it, and that read answered a definite 404
// NOT_FOUND for a program that existed.
func TestCreateWhileLeadershipsMove(t *testing.T) {
	s := startCluster(t, 3, time.Second)
	var mu sync.Mutex // one hand-over at a time
	after := func(method string, node *raftfsm.Node, resp any) {
		r, ok := resp.(*rpc.InventoryCreateProgramResult)
		if method != "CreateProgram" || !ok || r.Success.Status.Route != rpc.Route_OK || r.Success.Status.Code != 0 {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		g := uint16(r.Success.Status.Group)
		node.TransferLeadership()
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if l, ok := s.groupLeader(g); ok && l != node {
				break
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.gw.inv.Refresh(ctx)
	}
	s.served.Store(&after)
	for i := range 16 {
		id := fmt.Sprintf("moving-%d", i)
		r := s.do("POST", "/v1/programs", adminToken, map[string]any{"id": id, "categories": []map[string]any{{"id": "a", "name": "A", "price_cents": 1}},
			"grid": map[string]any{"sections": 1, "rows": 2, "cols": 3, "categories": []map[string]any{{"id": "a", "rows": []int{1, 2}}}}}, nil)
		if r.status != http.StatusCreated || r.json(t)["id"] != id {
			t.Fatalf("create %d while leaderships move = %d %s; want 201 with the program", i, r.status, r.body)
		}
		if g := s.do("GET", "/v1/programs/"+id, "", nil, nil); g.status != http.StatusOK || string(g.body) != string(r.body) {
			t.Fatalf("GET %s after its create = %d %s; want 200 with the program the create answered", id, g.status, g.body)
		}
	}
}

// forgetLayout drops a program's layout from the gateway's cache.
func (s *testSystem) forgetLayout(program string) {
	s.gw.cache.drop(s.gw.cache.entry(cacheKey{layout: true, program: program}))
}

// groupLeader returns the node that leads group g, as the nodes see it.
func (s *testSystem) groupLeader(g uint16) (*raftfsm.Node, bool) {
	for _, n := range s.nodes {
		for _, st := range n.Stats() {
			if st.Group == g && st.State == "Leader" {
				return n, true
			}
		}
	}
	return nil, false
}

// TestCreateRepeatsCanonical: a repeated create is decided on canonical
// forms: seats listed out of column order, labels equal to their column,
// a hold TTL left out: the repeat answers 201 with the program, and only
// a different program under the id is 409. Before, the gateway compared
// the request with the stored (sorted, normalised) program and answered
// 409 PROGRAM_EXISTS to the identical repeat.
func TestCreateRepeatsCanonical(t *testing.T) {
	s := startSystem(t)
	create := func(seats []map[string]any, ttl int) reply {
		body := map[string]any{"id": "canon", "name": "Canon", "categories": []map[string]any{{"id": "a", "name": "A", "price_cents": 100}},
			"layout": map[string]any{"sections": []map[string]any{{"id": "A", "name": "Stalls", "rows": []map[string]any{
				{"id": "1", "rank": 1, "seats": seats}}}}}}
		if ttl != 0 {
			body["hold_ttl_seconds"] = ttl
		}
		return s.do("POST", "/v1/programs", adminToken, body, nil)
	}
	asked := []map[string]any{{"col": 3, "category": "a"}, {"col": 1, "label": "1", "category": "a"}, {"col": 2, "label": "B", "category": "a"}}
	first := create(asked, 0)
	s.want(first, http.StatusCreated, "")
	seats := first.json(t)["layout"].(map[string]any)["sections"].([]any)[0].(map[string]any)["rows"].([]any)[0].(map[string]any)["seats"]
	var want any
	json.Unmarshal([]byte(`[{"col":1,"category":"a"},{"col":2,"label":"B","category":"a"},{"col":3,"category":"a"}]`), &want)
	if got, w := fmt.Sprint(seats), fmt.Sprint(want); got != w {
		t.Fatalf("created seats %s; want them in column order, the label equal to the column left out", got)
	}
	canonical := []map[string]any{{"col": 1, "category": "a"}, {"col": 2, "label": "B", "category": "a"}, {"col": 3, "category": "a"}}
	for name, r := range map[string]reply{
		"the same request":      create(asked, 0),
		"its canonical form":    create(canonical, 0),
		"the default TTL given": create(canonical, 900),
	} {
		if r.status != http.StatusCreated || string(r.body) != string(first.body) {
			t.Errorf("repeat (%s) = %d %s; want 201 and the first answer", name, r.status, r.body)
		}
	}
	s.want(s.do("POST", "/v1/programs/canon/open", adminToken, nil, nil), http.StatusOK, "")
	if r := create(asked, 0); r.status != http.StatusCreated || r.json(t)["sale_open"] != true {
		t.Errorf("repeat after the sale opened = %d %s; want 201 with the sale open", r.status, r.body)
	}
	for _, r := range []reply{ // another label, a seat less, another TTL, labels dropped
		create([]map[string]any{{"col": 1, "label": "x", "category": "a"}, {"col": 2, "label": "B", "category": "a"}, {"col": 3, "category": "a"}}, 0),
		create(canonical[1:], 0),
		create(canonical, 60),
		create([]map[string]any{{"col": 1, "category": "a"}, {"col": 2, "category": "a"}, {"col": 3, "category": "a"}}, 0),
	} {
		s.refused(r, http.StatusConflict, "PROGRAM_EXISTS", map[string]any{"field": "id", "result": "program_exists"})
	}
}

// TestLargeProgram: a grid program of a million seats is created and
// read back in the contract's shape, its seat map and availability
// answer, all within the routing client's attempt deadlines, and
// concurrent anonymous reads of it get the whole of it. Before, reading
// the program from seatd as Thrift structs took longer than an attempt
// (AttemptTimeout, 500 ms): every read of it answered 503. (The memory a
// read costs is measured by bench/gateway/program_memory.sh.)
func TestLargeProgram(t *testing.T) {
	if testing.Short() || raceDetector {
		t.Skip("a million seats: about 10 s, 80 s under the race detector; make test runs it without the race detector")
	}
	s := startSystem(t)
	start := time.Now()
	r := s.do("POST", "/v1/programs", adminToken, map[string]any{"id": "m1", "categories": []map[string]any{{"id": "a", "name": "A", "price_cents": 100}},
		"grid": map[string]any{"sections": 1, "rows": 1000, "cols": 1000, "categories": []map[string]any{{"id": "a", "rows": []int{1, 1000}}}}}, nil)
	if r.status != http.StatusCreated {
		t.Fatalf("create a million seats = %d %.200s after %v", r.status, r.body, time.Since(start))
	}
	created := r.body
	r = s.do("POST", "/v1/programs/m1/open", adminToken, nil, nil)
	s.want(r, http.StatusOK, "")
	s.forgetLayout("m1") // as a gateway that did not create it
	const readers = 6
	var wg sync.WaitGroup
	answers := make([]reply, readers)
	for i := range readers {
		wg.Go(func() { answers[i] = s.do("GET", "/v1/programs/m1", "", nil, nil) })
	}
	wg.Wait()
	var want map[string]any
	json.Unmarshal(created, &want)
	want["sale_open"] = true
	wantBody, _ := json.Marshal(want)
	for i, a := range answers {
		var got map[string]any
		json.Unmarshal(a.body, &got)
		gotBody, _ := json.Marshal(got)
		if a.status != http.StatusOK || string(gotBody) != string(wantBody) {
			t.Fatalf("reader %d: GET /v1/programs/m1 = %d, %d bytes; want 200 with the program the create answered, its sale open", i, a.status, len(a.body))
		}
	}
	s.want(s.do("GET", "/v1/programs/m1/seats?format=compact", "", nil, nil), http.StatusOK, "")
	s.want(s.do("GET", "/v1/programs/m1/availability", "", nil, nil), http.StatusOK, "")
	if n := s.gw.cache.stats().Layouts; n != 1 {
		t.Errorf("%d layouts cached; want 1", n)
	}
}
