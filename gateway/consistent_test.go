package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"seatd/raftfsm"
)

// TestConsistentReadSeesOwnHold: with the cache serving answers an hour
// old, a buyer's consistent read right after their hold sees it, in the
// availability counts and in the seat map; bad values of consistent are
// refused, naming it.
func TestConsistentReadSeesOwnHold(t *testing.T) {
	s := startSystem(t, func(c *Config) { c.SeatMapMaxAge = time.Hour })
	s.arena("show")
	free := func(r reply) float64 {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("availability = %d %s", r.status, r.body)
		}
		return r.json(t)["categories"].([]any)[0].(map[string]any)["free"].(float64)
	}
	// Fill the cache with the map before the hold.
	if n := free(s.do("GET", "/v1/programs/show/availability", "", nil, nil)); n != 10 {
		t.Fatalf("%v VIP seats free at first; want 10", n)
	}
	s.do("GET", "/v1/programs/show/seats?category=vip", "", nil, nil)

	buyer := s.token(7)
	h := s.do("POST", "/v1/programs/show/holds", buyer, map[string]any{"category": "vip", "count": 2}, nil)
	s.want(h, 201, "")
	if n := free(s.do("GET", "/v1/programs/show/availability?consistent=true", buyer, nil, nil)); n != 8 {
		t.Fatalf("a consistent read right after a hold of 2 sees %v VIP seats free; want 8", n)
	}
	sm := s.do("GET", "/v1/programs/show/seats?category=vip&consistent=true", buyer, nil, nil)
	for _, seat := range h.json(t)["seats"].([]any) {
		id := seat.(map[string]any)["id"].(string)
		if !strings.Contains(string(sm.body), `"id":"`+id+`",`) || !strings.Contains(string(sm.body), `"category":"vip","status":"held"`) {
			t.Fatalf("the consistent seat map does not show %s held: %s", id, sm.body)
		}
	}
	compact := s.do("GET", "/v1/programs/show/seats?format=compact&category=vip&consistent=true", buyer, nil, nil)
	if compact.status != 200 || !strings.Contains(string(compact.body), `"statuses":"`) ||
		strings.Count(strings.Split(string(compact.body), `"statuses":"`)[1], "h") != 2 {
		t.Fatalf("the consistent compact map = %d %s; want 2 seats held", compact.status, compact.body)
	}
	// A consistent read is never kept: the next plain read still comes
	// from the cache, as its age allows.
	if n := free(s.do("GET", "/v1/programs/show/availability", "", nil, nil)); n != 10 {
		t.Fatalf("a plain read within the cache's age = %v free; want the cached 10", n)
	}
	m := string(s.do("GET", "/metrics", "", nil, nil).body)
	for _, line := range []string{`gateway_versioned_answers_total{kind="availability",served="consistent"} 1`,
		`gateway_versioned_answers_total{kind="seats",served="consistent"} 2`} {
		if !strings.Contains(m, line+"\n") {
			t.Errorf("/metrics lacks %s", line)
		}
	}

	for _, q := range []string{"consistent=yes", "consistent=1", "consistent=TRUE", "consistent=", "consistent", "consistent=true&consistent=false"} {
		for _, path := range []string{"/v1/programs/show/availability?", "/v1/programs/show/seats?"} {
			r := s.do("GET", path+q, "", nil, nil)
			msg, _ := r.json(t)["error"].(map[string]any)["message"].(string)
			if r.status != 422 || r.code(t) != "INVALID_ARGUMENT" || !strings.HasPrefix(msg, "consistent: ") {
				t.Errorf("GET %s%s = %d %s; want 422 INVALID_ARGUMENT naming consistent", path, q, r.status, r.body)
			}
		}
	}
}

// freeModel is the free seat count of a one-category program, as
// porcupine sees holds, releases and consistent availability reads.
type freeIn struct {
	op    string // "hold", "release" or "read"
	seats int    // hold: asked; release: the hold's
}

type freeOut struct {
	ok      bool // hold: got the seats
	unknown bool // hold or release: no definite answer, possibly applied
	free    int  // read: free seats seen
}

const linSeats = 24

var freeModel = porcupine.Model{
	Init: func() any { return linSeats },
	Step: func(state, input, output any) (bool, any) {
		free, in, out := state.(int), input.(freeIn), output.(freeOut)
		switch {
		case in.op == "read":
			return out.free == free, free
		case in.op == "release":
			return true, free + in.seats
		case out.unknown:
			// Possibly applied: porcupine may place it last, where it
			// changes nothing observed.
			if free >= in.seats {
				return true, free - in.seats
			}
			return true, free
		case out.ok:
			return free >= in.seats, free - in.seats
		default: // refused: sold out
			return free < in.seats, free
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(freeIn), output.(freeOut)
		switch {
		case in.op == "read":
			return fmt.Sprintf("read -> %d free", out.free)
		case out.unknown:
			return fmt.Sprintf("%s(%d) -> unknown", in.op, in.seats)
		}
		return fmt.Sprintf("%s(%d) -> ok=%v", in.op, in.seats, out.ok)
	},
}

// TestConsistentReadsLinearizable: buyers hold and release seats of one
// program and read its availability with consistent=true, concurrently,
// over HTTP, through a gateway in front of three seatd nodes, while the
// program's group changes leader; porcupine checks that the history of
// the free count is linearizable. The plain cache, whose answers may be
// 200 ms old, would fail it.
func TestConsistentReadsLinearizable(t *testing.T) {
	s := startCluster(t, 3, time.Second, func(c *Config) { c.UserRate, c.UserBurst = 1e6, 1e6 })
	s.want(s.do("POST", "/v1/programs", adminToken, map[string]any{
		"id": "lin", "max_seats_per_hold": 2, "max_seats_per_user": linSeats,
		"categories": []map[string]any{{"id": "a", "name": "A", "price_cents": 100}},
		"grid":       map[string]any{"sections": 1, "rows": 4, "cols": linSeats / 4, "categories": []map[string]any{{"id": "a", "rows": []int{1, 4}}}},
	}, nil), 201, "")
	s.want(s.do("POST", "/v1/programs/lin/open", adminToken, nil, nil), 200, "")
	before, ok := s.programLeader("lin")
	if !ok {
		t.Fatal("the program's group has no leader")
	}

	const clients = 6
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	start := time.Now()
	now := func() int64 { return time.Since(start).Nanoseconds() }
	// call sends a request until it gets an answer that is not a 503 or
	// the deadline passes; an Idempotency-Key makes a hold's retries one
	// hold. It returns the status and body, or 0 for no definite answer.
	call := func(method, path, token, key, body string) (int, []byte) {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			if body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if key != "" {
				req.Header.Set("Idempotency-Key", key)
			}
			resp, err := client.Do(req)
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				return resp.StatusCode, b
			}
		}
		return 0, nil
	}

	var mu sync.Mutex
	var history []porcupine.Operation
	var reads, holds, releases, unknown atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for cl := range clients {
		token := s.token(int64(cl + 1))
		rng := rand.New(rand.NewPCG(uint64(cl), 7))
		wg.Go(func() {
			type held struct {
				id    string
				seats int
			}
			var mine []held
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				var in freeIn
				var out freeOut
				callAt := now()
				switch r := rng.IntN(10); {
				case r < 4:
					in.op = "read"
					status, b := call("GET", "/v1/programs/lin/availability?consistent=true", token, "", "")
					var av struct{ Categories []struct{ Free int } }
					if status != 200 || json.Unmarshal(b, &av) != nil || len(av.Categories) != 1 {
						t.Errorf("consistent availability = %d %s", status, b)
						return
					}
					out.free = av.Categories[0].Free
					reads.Add(1)
				case r < 7 || len(mine) == 0:
					in.op, in.seats = "hold", 1+rng.IntN(2)
					status, b := call("POST", "/v1/programs/lin/holds", token, fmt.Sprintf("c%d-%d", cl, n),
						fmt.Sprintf(`{"count":%d,"together":false}`, in.seats))
					var h struct {
						HoldID string `json:"hold_id"`
						Seats  []any
						Error  struct{ Code string }
					}
					json.Unmarshal(b, &h)
					switch {
					case status == 0:
						out.unknown = true
						unknown.Add(1)
					case status == 201 && len(h.Seats) == in.seats:
						out.ok = true
						mine = append(mine, held{h.HoldID, in.seats})
						holds.Add(1)
					case status != 409 || h.Error.Code != "SOLD_OUT":
						t.Errorf("hold of %d = %d %s", in.seats, status, b)
						return
					}
				default:
					i := rng.IntN(len(mine))
					h := mine[i]
					mine = append(mine[:i], mine[i+1:]...)
					in.op, in.seats = "release", h.seats
					switch status, b := call("DELETE", "/v1/holds/"+h.id, token, "", ""); status {
					case 200:
						releases.Add(1)
					case 0:
						out.unknown = true
						unknown.Add(1)
					default:
						t.Errorf("release = %d %s", status, b)
						return
					}
				}
				ret := now()
				if out.unknown {
					ret = math.MaxInt64
				}
				mu.Lock()
				history = append(history, porcupine.Operation{ClientId: cl, Input: in, Call: callAt, Output: out, Return: ret})
				mu.Unlock()
			}
		})
	}

	// Halfway, the program's group changes leader under the load.
	time.Sleep(1500 * time.Millisecond)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if l, ok := s.programLeader("lin"); ok && l.id != before.id {
			t.Logf("leader of group %d: %s, then %s", before.group, before.id, l.id)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the program's group never changed leader")
		}
		before.node.TransferLeadership()
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()

	if reads.Load() < 50 || holds.Load() < 20 || releases.Load() < 10 {
		t.Fatalf("%d reads, %d holds, %d releases: too few to say anything", reads.Load(), holds.Load(), releases.Load())
	}
	res, info := porcupine.CheckOperationsVerbose(freeModel, history, time.Minute)
	if res != porcupine.Ok {
		path := t.TempDir() + "/history.html"
		porcupine.VisualizePath(freeModel, info, path)
		t.Fatalf("the history of %d operations is %v (visualized in %s)", len(history), res, path)
	}
	t.Logf("%d operations: %d consistent reads, %d holds, %d releases, %d without a definite answer; linearizable",
		len(history), reads.Load(), holds.Load(), releases.Load(), unknown.Load())
}

// TestFreeModelRejectsStaleRead checks the checker: a read that misses a
// hold which returned before it began is not linearizable.
func TestFreeModelRejectsStaleRead(t *testing.T) {
	hold := porcupine.Operation{ClientId: 0, Input: freeIn{op: "hold", seats: 2}, Call: 0, Output: freeOut{ok: true}, Return: 10}
	read := func(free int) porcupine.Operation {
		return porcupine.Operation{ClientId: 1, Input: freeIn{op: "read"}, Call: 20, Output: freeOut{free: free}, Return: 30}
	}
	if porcupine.CheckOperations(freeModel, []porcupine.Operation{hold, read(linSeats)}) {
		t.Fatal("a read that misses an earlier hold was accepted")
	}
	if !porcupine.CheckOperations(freeModel, []porcupine.Operation{hold, read(linSeats - 2)}) {
		t.Fatal("a read that sees an earlier hold was refused")
	}
}

// testNodeLeader is the node leading a program's group.
type testNodeLeader struct {
	id    string
	group uint16
	node  *raftfsm.Node
}

// programLeader finds the node that leads a program's group.
func (s *testSystem) programLeader(program string) (*testNodeLeader, bool) {
	for _, n := range s.nodes {
		g, ok := n.Placement(program)
		if !ok {
			continue
		}
		for _, st := range n.Stats() {
			if st.Group == g && st.State == "Leader" {
				return &testNodeLeader{id: n.ID(), group: g, node: n}, true
			}
		}
	}
	return nil, false
}
