package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/endpoint"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/server"
	"github.com/golang-jwt/jwt/v5"

	"seatd/inventory"
	invsvc "seatd/kitex_gen/inventoryrpc/inventory"
	"seatd/noderpc"
	"seatd/raftfsm"
	"seatd/seatclient"
)

const adminToken = "test-admin-token-0123456789"

var testSecret = []byte("test-secret-test-secret-test-secret!")

// testSystem is a seatd cluster (one node unless asked) behind real
// Kitex, the routing client and a real gateway, all on loopback.
type testSystem struct {
	t     testing.TB
	url   string
	gw    *Gateway
	nodes []*raftfsm.Node
	edKey ed25519.PrivateKey
	seen  []exchange // every answer, when recording; do's callers only
	// client keeps a connection per concurrent caller (http.DefaultClient
	// keeps 2 per host idle, and opens one per request beyond them).
	client *http.Client

	calls *callCounts // RPCs the nodes served
	// served, when set, runs on the node that served an RPC after it did,
	// before the answer leaves: a test's way to make things happen
	// between a call and the next.
	served *atomic.Pointer[func(method string, node *raftfsm.Node, resp any)]

	stopSeatd func() // stops the nodes' Kitex servers: seatd is out of reach
}

// exchange is one request and its answer, for the contract test.
type exchange struct {
	req     *http.Request // its body already sent: see reqBody
	reqBody []byte
	reply
}

// maxTestCallers is the most goroutines a test or benchmark sends
// requests from at once (BenchmarkPaidOrders' buyers).
const maxTestCallers = 64

// startSystem starts one seatd node and a gateway over it.
func startSystem(t *testing.T, tune ...func(*Config)) *testSystem {
	return startCluster(t, 1, time.Second, tune...)
}

// startSystemEngine is startSystem with the node's engines bounded by
// engine.
func startSystemEngine(t *testing.T, engine inventory.Config, tune ...func(*Config)) *testSystem {
	return startClusterNodes(t, 1, time.Second, func(c *raftfsm.NodeConfig) { c.Engine = engine }, tune...)
}

// startCluster starts n seatd nodes whose leaders tick every tick, and a
// gateway whose routing client knows them all.
func startCluster(t *testing.T, n int, tick time.Duration, tune ...func(*Config)) *testSystem {
	return startClusterNodes(t, n, tick, func(*raftfsm.NodeConfig) {}, tune...)
}

// startClusterNodes is startCluster with each node's configuration
// tuned by tuneNode.
func startClusterNodes(t testing.TB, n int, tick time.Duration, tuneNode func(*raftfsm.NodeConfig), tune ...func(*Config)) *testSystem {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = maxTestCallers
	t.Cleanup(tr.CloseIdleConnections)
	s := &testSystem{t: t, calls: &callCounts{n: map[string]int{}}, served: new(atomic.Pointer[func(string, *raftfsm.Node, any)]),
		client: &http.Client{Transport: tr}}
	count := func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req, resp any) error {
			s.calls.mu.Lock()
			s.calls.n[rpcinfo.GetRPCInfo(ctx).To().Method()]++
			s.calls.mu.Unlock()
			return next(ctx, req, resp)
		}
	}
	var seeds []string
	var peers []raftfsm.Peer
	var stops []func()
	s.stopSeatd = func() {
		for _, stop := range stops {
			stop()
		}
	}
	for i := range n {
		rpcLn, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		nc := raftfsm.NodeConfig{ID: fmt.Sprintf("n%d", i+1), Dir: t.TempDir(), Addr: "127.0.0.1:0", Groups: 2,
			RPCAddr: rpcLn.Addr().String(), HeartbeatTimeout: 100 * time.Millisecond * time.Duration(min(n, 2)),
			ElectionTimeout: 100 * time.Millisecond * time.Duration(min(n, 2)), TickInterval: tick}
		tuneNode(&nc)
		node, err := raftfsm.StartNode(nc)
		if err != nil {
			t.Fatal(err)
		}
		handler, err := noderpc.New(node, noderpc.Config{})
		if err != nil {
			t.Fatal(err)
		}
		served := func(next endpoint.Endpoint) endpoint.Endpoint {
			return func(ctx context.Context, req, resp any) error {
				err := next(ctx, req, resp)
				if f := s.served.Load(); f != nil && err == nil {
					(*f)(rpcinfo.GetRPCInfo(ctx).To().Method(), node, resp)
				}
				return err
			}
		}
		svr := invsvc.NewServer(handler, server.WithListener(rpcLn), server.WithExitWaitTime(time.Millisecond), server.WithMiddleware(count),
			server.WithMiddleware(served))
		go svr.Run()
		var stopOnce sync.Once
		stopSvr := func() { stopOnce.Do(func() { svr.Stop() }) }
		stops = append(stops, stopSvr)
		t.Cleanup(func() {
			stopSvr()
			node.Shutdown(false)
		})
		s.nodes = append(s.nodes, node)
		seeds = append(seeds, rpcLn.Addr().String())
		peers = append(peers, raftfsm.Peer{ID: node.ID(), Addr: node.Addr()})
	}
	if err := s.nodes[0].Bootstrap(peers); err != nil {
		t.Fatal(err)
	}
	client, err := seatclient.New(seatclient.Config{Seeds: seeds})
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	cfg := Config{Auth: AuthConfig{HS256Secret: testSecret, Ed25519Key: pub, AdminToken: adminToken, DevTokens: true}, Inventory: client,
		UserRate: 1000, UserBurst: 1000}
	for _, f := range tune {
		f(&cfg)
	}
	gw, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gw.Start(ln)
	t.Cleanup(func() { // before the nodes stop: cleanups run last first
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gw.Stop(ctx)
	})
	s.url, s.gw, s.edKey = "http://"+ln.Addr().String(), gw, priv
	for deadline := time.Now().Add(15 * time.Second); ; {
		if r := s.do("GET", "/readyz", "", nil, nil); r.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gateway never ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// callCounts counts the RPCs the nodes served, by method.
type callCounts struct {
	mu sync.Mutex // guards n
	n  map[string]int
}

// rpcCalls returns how many calls of an RPC method the nodes served.
func (s *testSystem) rpcCalls(method string) int {
	s.calls.mu.Lock()
	defer s.calls.mu.Unlock()
	return s.calls.n[method]
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %v\n%s", r.status, err, r.body)
	}
	return m
}

// code is the error code of an error answer.
func (r reply) code(t testing.TB) string {
	e, _ := r.json(t)["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// do sends a request and returns its answer. A body (a string, bytes,
// or anything else as JSON) goes as application/json unless header
// names another Content-Type; an empty value in header leaves that
// header out.
func (s *testSystem) do(method, path, token string, body any, header map[string]string) reply {
	s.t.Helper()
	r, err := s.send(method, path, token, body, header)
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// send is do for goroutines other than the test's, which must not fail
// it: a request that gets no answer is an error.
func (s *testSystem) send(method, path, token string, body any, header map[string]string) (reply, error) {
	var b []byte
	switch v := body.(type) {
	case nil:
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		b, _ = json.Marshal(v)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.url+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	r := reply{resp.StatusCode, resp.Header, answer}
	if s.seen != nil {
		s.seen = append(s.seen, exchange{req, b, r})
	}
	return r, nil
}

func (s *testSystem) token(user int64) string {
	tok, err := MintHS256(testSecret, strconv.FormatInt(user, 10), time.Now(), time.Hour)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

func (s *testSystem) want(r reply, status int, code string) {
	s.t.Helper()
	if r.status != status || (code != "" && r.code(s.t) != code) {
		s.t.Fatalf("answer %d %s; want %d %s", r.status, r.body, status, code)
	}
}

// arena is a 2-category grid program open for sale: 3 rows of 10.
func (s *testSystem) arena(id string) {
	s.t.Helper()
	r := s.do("POST", "/v1/programs", adminToken, map[string]any{
		"id": id, "name": "Arena", "max_seats_per_hold": 4, "max_seats_per_user": 8,
		"categories": []map[string]any{{"id": "vip", "name": "VIP", "price_cents": 50000}, {"id": "std", "name": "Standard", "price_cents": 20000}},
		"grid":       map[string]any{"sections": 1, "rows": 3, "cols": 10, "categories": []map[string]any{{"id": "vip", "rows": []int{1, 1}}, {"id": "std", "rows": []int{2, 3}}}},
	}, nil)
	s.want(r, http.StatusCreated, "")
	s.want(s.do("POST", "/v1/programs/"+id+"/open", adminToken, nil, nil), http.StatusOK, "")
}

func TestProgramsAndHolds(t *testing.T) {
	s := startSystem(t)
	s.arena("show")
	p := s.do("GET", "/v1/programs/show", "", nil, nil)
	if p.status != 200 || p.json(t)["sale_open"] != true || len(p.json(t)["layout"].(map[string]any)["sections"].([]any)) != 1 {
		t.Fatalf("GET program = %d %s", p.status, p.body)
	}
	s.want(s.do("GET", "/v1/programs/nope", "", nil, nil), 404, "NOT_FOUND")
	// Operators block seats: the VIP row is now 2 | 4 | 2 free seats.
	s.want(s.do("POST", "/v1/programs/show/blocks", adminToken, map[string]any{"seats": []string{"A/1/3", "A/1/8"}}, nil), 200, "")

	buyer := s.token(7)
	h := s.do("POST", "/v1/programs/show/holds", buyer, map[string]any{"category": "vip", "count": 2}, nil)
	s.want(h, http.StatusCreated, "")
	hold := h.json(t)
	seats := hold["seats"].([]any)
	if len(seats) != 2 || hold["total_cents"].(float64) != 100000 || hold["status"] != "HELD" || hold["to"].(float64) != 1 {
		t.Fatalf("hold = %s", h.body)
	}
	id := hold["hold_id"].(string)
	if _, err := time.Parse(time.RFC3339, hold["expires_at"].(string)); err != nil {
		t.Fatalf("expires_at %v: %v", hold["expires_at"], err)
	}
	got := s.do("GET", "/v1/holds/"+id, buyer, nil, nil)
	if got.status != 200 || got.json(t)["order_no"] != hold["order_no"] {
		t.Fatalf("GET hold = %d %s", got.status, got.body)
	}
	// Another buyer neither sees nor releases it.
	s.want(s.do("GET", "/v1/holds/"+id, s.token(8), nil, nil), 404, "NOT_FOUND")
	s.want(s.do("DELETE", "/v1/holds/"+id, s.token(8), nil, nil), 404, "NOT_FOUND")

	// Manual choice: a taken seat is refused, a low price too.
	taken := seats[0].(map[string]any)["id"].(string)
	s.want(s.do("POST", "/v1/programs/show/holds", s.token(9), map[string]any{"seats": []string{taken}}, nil), 409, "SEAT_TAKEN")
	s.want(s.do("POST", "/v1/programs/show/holds", s.token(9), map[string]any{"seats": []string{"A/2/1"}, "expected_total_cents": 100}, nil), 409, "PRICE_MISMATCH")
	s.want(s.do("POST", "/v1/programs/show/holds", s.token(9), map[string]any{"seats": []string{"A/9/1"}}, nil), 422, "UNKNOWN_SEAT")
	s.want(s.do("POST", "/v1/programs/show/holds", s.token(9), map[string]any{"count": 5}, nil), 422, "LIMIT_EXCEEDED")
	// Buyer 7 got 1-2, not the centre: 5 and 6 are the grid's wheelchair
	// spaces, which a general request takes only when nothing else fits,
	// as now: three together exist only across them (4-6, leaving 7).
	three := s.do("POST", "/v1/programs/show/holds", s.token(9), map[string]any{"category": "vip", "count": 3, "together": true}, nil)
	s.want(three, http.StatusCreated, "")
	if !strings.Contains(string(three.body), `"id":"A/1/4"`) || !strings.Contains(string(three.body), `"id":"A/1/6"`) {
		t.Fatalf("three together = %s; want A/1/4-6", three.body)
	}
	s.want(s.do("POST", "/v1/programs/show/holds", s.token(10), map[string]any{"category": "vip", "count": 3, "together": true}, nil), 409, "NO_ADJACENT_SEATS")
	s.want(s.do("POST", "/v1/programs/show/holds", s.token(9), map[string]any{"category": "balcony", "count": 1}, nil), 422, "UNKNOWN_CATEGORY")
	s.want(s.do("POST", "/v1/programs/nope/holds", s.token(9), map[string]any{"count": 1}, nil), 404, "NOT_FOUND")

	// A blocked seat cannot be held, nor a free one unblocked.
	s.want(s.do("POST", "/v1/programs/show/holds", s.token(9), map[string]any{"seats": []string{"A/1/3"}}, nil), 409, "SEAT_BLOCKED")
	s.want(s.do("POST", "/v1/programs/show/blocks", adminToken, map[string]any{"seats": []string{"A/3/9"}, "unblock": true}, nil), 409, "NOT_BLOCKED")

	av := s.do("GET", "/v1/programs/show/availability", "", nil, nil)
	cats := av.json(t)["categories"].([]any)
	vip := cats[0].(map[string]any)
	if av.status != 200 || vip["id"] != "vip" || vip["held"].(float64) != 5 || vip["free"].(float64) != 3 || vip["blocked"].(float64) != 2 {
		t.Fatalf("availability = %d %s", av.status, av.body)
	}
	sm := s.do("GET", "/v1/programs/show/seats?category=vip", "", nil, nil)
	if sm.status != 200 || len(sm.json(t)["seats"].([]any)) != 10 || !strings.Contains(string(sm.body), `"id":"A/1/3","section":"A","row":"1","col":3,"label":"3","category":"vip","status":"blocked"`) {
		t.Fatalf("seat map = %d %s", sm.status, sm.body)
	}

	// Give the hold back; the seats are free again.
	rel := s.do("DELETE", "/v1/holds/"+id, buyer, nil, nil)
	if rel.status != 200 || rel.json(t)["status"] != "RELEASED" || rel.json(t)["reason"] != "cancelled" {
		t.Fatalf("DELETE hold = %d %s", rel.status, rel.body)
	}
	s.want(s.do("POST", "/v1/programs/show/close", adminToken, nil, nil), 200, "")
	s.want(s.do("POST", "/v1/programs/show/holds", buyer, map[string]any{"count": 1}, nil), 409, "SALE_NOT_OPEN")

	// A repeated create of the same program answers with it; a different
	// one with the same id is a conflict.
	cl := s.do("GET", "/v1/cluster", adminToken, nil, nil)
	if cl.status != 200 || len(cl.json(t)["groups"].([]any)) != 3 || len(cl.json(t)["placements"].([]any)) != 1 {
		t.Fatalf("cluster = %d %s", cl.status, cl.body)
	}
}

func TestIdempotentHold(t *testing.T) {
	s := startSystem(t)
	s.arena("show")
	buyer := s.token(7)
	key := map[string]string{"Idempotency-Key": "order-attempt-1"}
	first := s.do("POST", "/v1/programs/show/holds", buyer, map[string]any{"count": 2}, key)
	again := s.do("POST", "/v1/programs/show/holds", buyer, map[string]any{"count": 2}, key)
	s.want(first, 201, "")
	s.want(again, 201, "")
	if first.json(t)["hold_id"] != again.json(t)["hold_id"] || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry with the same key = %s; want the first hold %s", again.body, first.body)
	}
	// The same key from another buyer is another request.
	other := s.do("POST", "/v1/programs/show/holds", s.token(8), map[string]any{"count": 2}, key)
	if other.status != 201 || other.json(t)["hold_id"] == first.json(t)["hold_id"] {
		t.Fatalf("another buyer's hold with the same key = %d %s", other.status, other.body)
	}
	av := s.do("GET", "/v1/programs/show/availability", "", nil, nil).json(t)["categories"].([]any)
	held := av[0].(map[string]any)["held"].(float64) + av[1].(map[string]any)["held"].(float64)
	if held != 4 {
		t.Fatalf("%v seats held after a retried hold and another; want 4", held)
	}
	// A repeated program create is answered with the program.
	spec := map[string]any{"id": "twice", "categories": []map[string]any{{"id": "a", "price_cents": 100}},
		"grid": map[string]any{"sections": 1, "rows": 1, "cols": 4, "categories": []map[string]any{{"id": "a", "rows": []int{1, 1}}}}}
	s.want(s.do("POST", "/v1/programs", adminToken, spec, nil), 201, "")
	s.want(s.do("POST", "/v1/programs", adminToken, spec, nil), 201, "")
	spec["name"] = "changed"
	s.want(s.do("POST", "/v1/programs", adminToken, spec, nil), 409, "PROGRAM_EXISTS")
}

func TestAuth(t *testing.T) {
	s := startSystem(t)
	s.arena("show")
	path := "/v1/programs/show/holds"
	body := map[string]any{"count": 1}
	expired, _ := MintHS256(testSecret, "7", time.Now().Add(-2*time.Hour), time.Hour)
	wrongKey, _ := MintHS256([]byte("another-secret-another-secret-xyz"), "7", time.Now(), time.Hour)
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: "7"}).SignedString(testSecret)
	noSub, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}).SignedString(testSecret)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.RegisteredClaims{Subject: "7",
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	for name, tok := range map[string]string{"none": "", "garbage": "not-a-jwt", "expired": expired, "wrong key": wrongKey,
		"no exp": noExp, "no sub": noSub, "alg none": none} {
		if r := s.do("POST", path, tok, body, nil); r.status != 401 || r.code(t) != "UNAUTHENTICATED" ||
			r.header.Get("WWW-Authenticate") != `Bearer realm="seatd"` {
			t.Errorf("hold with %s token = %d %s %v; want 401 UNAUTHENTICATED with a bearer challenge", name, r.status, r.body, r.header)
		}
	}
	// The admin token is no buyer's: 403, saying which token the route
	// takes, not that the admin token is a malformed JWT.
	s.refused(s.do("POST", path, adminToken, body, nil), 403, "FORBIDDEN", nil, "buyer's token")
	ed, _ := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.RegisteredClaims{Subject: "11",
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}).SignedString(s.edKey)
	s.want(s.do("POST", path, ed, body, nil), 201, "")

	// Operators' routes take the admin token only.
	s.want(s.do("POST", "/v1/programs/show/close", "", nil, nil), 401, "UNAUTHENTICATED")
	s.want(s.do("POST", "/v1/programs/show/close", s.token(7), nil, nil), 403, "FORBIDDEN")
	s.want(s.do("GET", "/v1/cluster", "wrong-admin-token-wrong", nil, nil), 403, "FORBIDDEN")

	// Dev tokens, when enabled, are buyer tokens.
	d := s.do("POST", "/v1/dev/tokens", "", map[string]any{"user_id": "42"}, nil)
	s.want(d, 201, "")
	s.want(s.do("POST", path, d.json(t)["token"].(string), body, nil), 201, "")
	s.want(s.do("POST", "/v1/dev/tokens", "", map[string]any{"user_id": ""}, nil), 422, "INVALID_ARGUMENT")
}

// signed signs a token with the test secret over claims given as raw
// JSON, as an identity provider (or an attacker holding a buyer's
// token's secret) could write them, and over a header of alg.
func signed(t *testing.T, alg, claims string) string {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	input := enc([]byte(`{"alg":"`+alg+`","typ":"JWT"}`)) + "." + enc([]byte(claims))
	sig, err := jwt.SigningMethodHS256.Sign(input, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + enc(sig)
}

// TestTokenRefusals: every refused buyer token is a 401 whose message
// says, in the API's words, what was wrong; time claims past any real
// date are refused, not wrapped; and a sub that is not text names no
// buyer, in a token or at the dev-token endpoint.
func TestTokenRefusals(t *testing.T) {
	s := startSystem(t)
	s.arena("show")
	path, body := "/v1/programs/show/holds", `{"count":1}`
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	wrongKey, _ := MintHS256([]byte("another-secret-another-secret-xyz"), "7", time.Now(), time.Hour)
	goNames := regexp.MustCompile(`Go |json\.|NumericData|NumericDate|RegisteredClaims|struct|unmarshal|could not|keyfunc|signing method|of type`)
	for _, tc := range []struct{ token, says string }{
		{signed(t, "HS256", `{"sub":"7","exp":`+exp+`,"nbf":1e19}`), "nbf: out of range: want seconds since 1970 from 0 to 253402300799"},
		{signed(t, "HS256", `{"sub":"7","exp":`+exp+`,"nbf":9.3e18}`), "nbf: out of range"},
		{signed(t, "HS256", `{"sub":"7","exp":`+exp+`,"nbf":1e30}`), "nbf: out of range"},
		{signed(t, "HS256", `{"sub":"7","exp":1e30}`), "exp: out of range"},
		{signed(t, "HS256", `{"sub":"7","exp":-1}`), "exp: out of range"},
		{signed(t, "HS256", `{"sub":"7","exp":`+exp+`,"iat":1e19}`), "iat: out of range"},
		{signed(t, "HS256", `{"sub":"7","exp":`+exp+`,"iat":true}`), "iat: want a number of seconds since 1970, got true"},
		{signed(t, "HS256", `{"sub":"7","exp":`+exp+`,"nbf":"x"}`), "nbf: want a number of seconds since 1970, got a string"},
		{signed(t, "HS256", `{"sub":"7","exp":"`+exp+`"}`), "exp: want a number of seconds since 1970, got a string"},
		{signed(t, "HS256", `{"sub":"7","exp":null}`), "exp: want a number of seconds since 1970, got null"},
		{signed(t, "HS256", `{"sub":42,"exp":`+exp+`}`), "sub: want a string, got a number"},
		{signed(t, "HS256", `{"sub":["7"],"exp":`+exp+`}`), "sub: want a string, got a list"},
		{signed(t, "HS256", `{"sub":"\ud800","exp":`+exp+`}`), "sub: holds U+FFFD"},
		{signed(t, "HS256", `{"sub":"\udbff","exp":`+exp+`}`), "sub: holds U+FFFD"},
		{signed(t, "HS256", `{"sub":"\ufffd","exp":`+exp+`}`), "sub: holds U+FFFD"},
		{signed(t, "HS256", "{\"sub\":\"a\xffb\",\"exp\":"+exp+"}"), "sub: holds U+FFFD"},
		{signed(t, "HS256", `{"sub":"a\u0000b","exp":`+exp+`}`), "sub: holds a control character"},
		{signed(t, "HS256", `{"sub":"a\u0085","exp":`+exp+`}`), "sub: holds a control character"},
		{signed(t, "HS256", `{"sub":"","exp":`+exp+`}`), "it has no sub"},
		{signed(t, "HS256", `{"exp":`+exp+`}`), "it has no sub"},
		{signed(t, "HS256", `{"sub":"7"}`), "it has no exp"},
		{signed(t, "HS256", `{"sub":"7","exp":1000}`), "it expired at 1970-01-01T00:16:40Z"},
		{signed(t, "HS256", `{"sub":"7","exp":`+exp+`,"nbf":253402300799}`), "it is not valid until 9999-12-31T23:59:59Z (nbf)"},
		{signed(t, "HS256", `["7"]`), "malformed"},
		{signed(t, "HS256", `{"sub":"7"`), "malformed"},
		{"not-a-jwt", "malformed"},
		{"a.b.c", "malformed"},
		{signed(t, "none", `{"sub":"7","exp":`+exp+`}`), "want alg HS256 or EdDSA"},
		{signed(t, "RS256", `{"sub":"7","exp":`+exp+`}`), "want alg HS256 or EdDSA"},
		{signed(t, "XYZ", `{"sub":"7","exp":`+exp+`}`), "want alg HS256 or EdDSA"},
		{wrongKey, "bad signature"},
	} {
		r := s.do("POST", path, tc.token, body, nil)
		s.refused(r, 401, "UNAUTHENTICATED", nil, "token refused: "+tc.says)
		if goNames.Match(r.body) {
			t.Errorf("token %s: %s names Go's or golang-jwt's internals", tc.token, r.body)
		}
	}
	// Time claims within range are taken, fractions too (RFC 7519
	// NumericDate).
	for _, claims := range []string{`{"sub":"7","exp":` + exp + `.5,"nbf":0,"iat":0}`, `{"sub":"7","exp":253402300799,"iat":1.5e9}`} {
		s.want(s.do("POST", path, signed(t, "HS256", claims), body, nil), 201, "")
	}
	// The dev endpoint mints no token the gateway would refuse.
	for _, tc := range []struct{ body, field, says string }{
		{`{"sub":"\ud800"}`, "sub", "sub: holds U+FFFD"},
		{`{"sub":"\ufffd"}`, "sub", "sub: holds U+FFFD"},
		{`{"user_id":"\udbff"}`, "user_id", "user_id: holds U+FFFD"},
		{`{"sub":"bell\u0007"}`, "sub", "sub: holds a control character"},
		{`{"sub":""}`, "sub", "sub: empty"},
	} {
		s.refused(s.do("POST", "/v1/dev/tokens", "", tc.body, nil), 422, "INVALID_ARGUMENT", map[string]any{"field": tc.field}, tc.says)
	}
}

func TestBadInput(t *testing.T) {
	s := startSystem(t)
	s.arena("show")
	buyer := s.token(7)
	path := "/v1/programs/show/holds"
	for _, tc := range []struct {
		body   any
		status int
		code   string
		says   string
	}{
		{"", 400, "INVALID_JSON", "empty"},
		{`{"count": 1`, 400, "INVALID_JSON", "malformed JSON"},
		{`{"count": "two"}`, 400, "INVALID_JSON", "count: want an integer, got a string"},
		{`{"count": 1, "colour": "red"}`, 400, "INVALID_JSON", `unknown field "colour"`},
		{`{"count": 1} {}`, 400, "INVALID_JSON", "data after"},
		{`{"count": -1}`, 422, "INVALID_ARGUMENT", "count: -1"},
		{`{"count": 1000000}`, 422, "INVALID_ARGUMENT", "count: 1000000"},
		{`{"count": 0}`, 422, "INVALID_ARGUMENT", "count: 0"},
		{`{"count": 1, "from": -2}`, 422, "INVALID_ARGUMENT", "from"},
		{`{"count": 1, "from": 1, "to": 1}`, 422, "INVALID_ARGUMENT", "to"},
		{`{"count": 1, "expected_total_cents": -5}`, 422, "INVALID_ARGUMENT", "expected_total_cents"},
		{strings.Repeat(" ", 70<<10) + `{}`, 413, "BODY_TOO_LARGE", "at most"},
		// What encoding/json lets through and openapi.yaml does not.
		{`{"count": 1, "category": null}`, 400, "INVALID_JSON", "category: null is not a value"},
		{`{"seats": ["A/1/1"], "holders": [{"name": "a", "id_number": "x", "id_type": null}]}`, 400, "INVALID_JSON", "holders[0].id_type: null"},
		{`null`, 400, "INVALID_JSON", "the body: want an object, got null"},
		{`{"COUNT": 1}`, 400, "INVALID_JSON", `unknown field "COUNT"`},
		{`{"count": 1, "holders": [{"Name": "a", "id_number": "x"}]}`, 400, "INVALID_JSON", `holders[0]: unknown field "Name"`},
		{`{"seats": ["A/1/1"], "count": 0}`, 422, "INVALID_ARGUMENT", "count: 0"},
		{`{"seats": [], "count": 1}`, 422, "INVALID_ARGUMENT", "seats: an empty list"},
		{`{}`, 422, "INVALID_ARGUMENT", "count: left out"},
		{`{"seats": ["A/1/1"], "holders": [{"name": "a", "id_number": "x", "id_type": ""}]}`, 422, "HOLDERS_MISMATCH", "holders[0].id_type"},
	} {
		r := s.do("POST", path, buyer, tc.body, nil)
		msg, _ := r.json(t)["error"].(map[string]any)["message"].(string)
		if r.status != tc.status || r.code(t) != tc.code || !strings.Contains(msg, tc.says) {
			b := fmt.Sprint(tc.body)
			t.Errorf("hold %.40q = %d %s; want %d %s saying %q", b, r.status, r.body, tc.status, tc.code, tc.says)
		}
	}
	s.want(s.do("POST", "/v1/programs", adminToken, `{"id":"g","categories":[{"id":"a","price_cents":1}],"grid":{"sections":1,"rows":2,"cols":3,"categories":[{"id":"a","rows":[1,1]}]}}`, nil), 422, "INVALID_LAYOUT")
	s.want(s.do("POST", "/v1/programs", adminToken, `{"id":"g","categories":[{"id":"a","price_cents":1}]}`, nil), 422, "INVALID_ARGUMENT")
	s.want(s.do("GET", "/v1/programs/show/seats?from=x", "", nil, nil), 422, "INVALID_ARGUMENT")
	s.want(s.do("GET", "/v1/programs/show/availability?from=1", "", nil, nil), 422, "INVALID_ARGUMENT")
	s.want(s.do("GET", "/v1/holds/abc", buyer, nil, nil), 404, "NOT_FOUND")
	s.want(s.do("GET", "/v1/holds/999999", buyer, nil, nil), 404, "NOT_FOUND")
	s.want(s.do("GET", "/v1/nowhere", "", nil, nil), 404, "NOT_FOUND")
	s.want(s.do("PUT", "/v1/programs/show", "", nil, nil), 405, "METHOD_NOT_ALLOWED")
	s.want(s.do("GET", "/v1/programs/show/seats?category=", "", nil, nil), 422, "INVALID_ARGUMENT")
	// An escaped slash stays in its segment: no program has this id, and
	// the path takes GET, not the holds route's POST.
	s.want(s.do("GET", "/v1/programs/show%2Fholds", "", nil, nil), 404, "NOT_FOUND")
	if r := s.do("PUT", "/v1/programs/show%2Fholds", "", nil, nil); r.status != 405 || r.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("PUT /v1/programs/show%%2Fholds = %d Allow %q; want 405 Allow GET, HEAD", r.status, r.header.Get("Allow"))
	}
	// Bodies are JSON sent as JSON: curl -d sends a form, a browser
	// text/plain without asking first.
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "", "application/json; charset=latin1", "application/jsonx"} {
		r := s.do("POST", path, buyer, `{"count":1}`, map[string]string{"Content-Type": ct})
		s.want(r, 415, "UNSUPPORTED_MEDIA_TYPE")
		if msg := r.json(t)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "application/json") && !strings.Contains(msg, "utf-8") {
			t.Errorf("hold sent as %q: %s; want it to say what to send", ct, msg)
		}
	}
	for _, route := range []string{"/v1/programs", "/v1/programs/show/blocks", "/v1/dev/tokens"} {
		s.want(s.do("POST", route, adminToken, `{}`, map[string]string{"Content-Type": "text/plain"}), 415, "UNSUPPORTED_MEDIA_TYPE")
	}
	s.want(s.do("POST", path, buyer, `{"count":1}`, map[string]string{"Content-Type": "Application/JSON; Charset=UTF-8"}), 201, "")
	for _, path := range []string{"/v1/orders/1", "/v1/orders", "/v1/refunds/1"} {
		s.want(s.do("GET", path, buyer, nil, nil), 501, "NOT_IMPLEMENTED")
	}
	// Nothing above but the last hold changed the inventory.
	av := s.do("GET", "/v1/programs/show/availability", "", nil, nil).json(t)["categories"].([]any)
	held := 0.0
	for _, c := range av {
		held += c.(map[string]any)["held"].(float64)
	}
	if held != 1 {
		t.Fatalf("bad requests held seats: %v", av)
	}
}

func TestAdmission(t *testing.T) {
	s := startSystem(t, func(c *Config) { c.UserRate, c.UserBurst = 1, 3 })
	s.arena("show")
	buyer := s.token(7)
	var codes []int
	for range 5 {
		codes = append(codes, s.do("GET", "/v1/holds/1", buyer, nil, nil).status)
	}
	r := s.do("GET", "/v1/holds/1", buyer, nil, nil)
	if fmt.Sprint(codes[:3]) != "[404 404 404]" || r.status != 429 || r.code(t) != "RATE_LIMITED" || r.header.Get("Retry-After") == "" {
		t.Fatalf("a burst of 3 then more: %v, then %d %s (Retry-After %q)", codes, r.status, r.body, r.header.Get("Retry-After"))
	}
	// Another buyer has a budget of their own.
	s.want(s.do("GET", "/v1/holds/1", s.token(8), nil, nil), 404, "NOT_FOUND")

	// A full gateway answers 503 at once rather than queueing.
	for range cap(s.gw.inFlight) {
		s.gw.inFlight <- struct{}{}
	}
	full := s.do("GET", "/v1/programs/show", "", nil, nil)
	for range cap(s.gw.inFlight) {
		<-s.gw.inFlight
	}
	if full.status != 503 || full.code(t) != "OVERLOADED" || full.header.Get("Retry-After") != "1" {
		t.Fatalf("request to a full gateway = %d %s", full.status, full.body)
	}
	m := s.do("GET", "/metrics", "", nil, nil)
	for _, line := range []string{`gateway_rejected_total{reason="rate_limited"}`, `gateway_rejected_total{reason="overloaded"} 1`,
		`gateway_requests_total{code="404",route="get_hold"}`} {
		if !strings.Contains(string(m.body), line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}

// TestSeatMapCache: buyers refreshing a seat map cost one render per
// change; If-None-Match with the current version answers 304.
func TestSeatMapCache(t *testing.T) {
	s := startSystem(t, func(c *Config) { c.SeatMapMaxAge = time.Hour })
	s.arena("show")
	first := s.do("GET", "/v1/programs/show/seats", "", nil, nil)
	etag := first.header.Get("ETag")
	if first.status != 200 || etag == "" || etag != `"`+first.json(t)["version"].(string)+`"` {
		t.Fatalf("seat map = %d ETag %q %s", first.status, etag, first.body)
	}
	for range 20 {
		r := s.do("GET", "/v1/programs/show/seats", "", nil, nil)
		if !bytes.Equal(r.body, first.body) {
			t.Fatal("a cached seat map changed")
		}
	}
	s.want(s.do("GET", "/v1/programs/show/seats", "", nil, map[string]string{"If-None-Match": etag}), 304, "")
	m := s.do("GET", "/metrics", "", nil, nil)
	if !strings.Contains(string(m.body), `gateway_versioned_answers_total{kind="seats",served="rendered"} 1`+"\n") ||
		!strings.Contains(string(m.body), `gateway_versioned_answers_total{kind="seats",served="cached"} 21`+"\n") {
		t.Fatalf("22 reads of an unchanged map: want 1 render and 21 cache hits\n%s", m.body)
	}

	// With no cache age, a change shows at once under a new version.
	s2 := startSystem(t, func(c *Config) { c.SeatMapMaxAge = time.Nanosecond })
	s2.arena("show")
	before := s2.do("GET", "/v1/programs/show/seats", "", nil, nil)
	s2.want(s2.do("POST", "/v1/programs/show/holds", s2.token(1), map[string]any{"seats": []string{"A/1/1"}}, nil), 201, "")
	after := s2.do("GET", "/v1/programs/show/seats", "", nil, map[string]string{"If-None-Match": before.header.Get("ETag")})
	if after.status != 200 || after.header.Get("ETag") == before.header.Get("ETag") || !strings.Contains(string(after.body), `"id":"A/1/1","section":"A","row":"1","col":1,"label":"1","category":"vip","status":"held"`) {
		t.Fatalf("seat map after a hold = %d %s", after.status, after.body)
	}
}

// TestTokenCache: a verified token is served from the cache until its
// expiry (plus leeway), and never after.
func TestTokenCache(t *testing.T) {
	a := &AuthConfig{HS256Secret: testSecret, AdminToken: adminToken}
	cache := newTokenCache(1 << 20)
	now := time.Now()
	tok, _ := MintHS256(testSecret, "5", now, time.Minute)
	if id, err := a.verify("Bearer "+tok, cache, now); err != nil || id.user != 5 {
		t.Fatalf("verify(fresh token) = %v, %v", id, err)
	}
	// Another key would refuse the token: a hit shows the cache answered.
	other := &AuthConfig{HS256Secret: []byte("another-secret-another-secret-xyz"), AdminToken: adminToken}
	if id, err := other.verify("Bearer "+tok, cache, now.Add(time.Second)); err != nil || id.user != 5 {
		t.Fatalf("verify(cached token) = %v, %v; want the cached user", id, err)
	}
	for _, at := range []time.Duration{time.Minute + 31*time.Second, time.Hour} {
		if _, err := a.verify("Bearer "+tok, cache, now.Add(at)); err == nil || err.Code != "UNAUTHENTICATED" {
			t.Fatalf("verify(token %v after it was minted, exp 1m, leeway 30s) = %v; want refused", at, err)
		}
	}
	if _, err := other.verify("Bearer "+tok+"x", cache, now); err == nil {
		t.Fatal("a token that differs from the cached one was taken")
	}
}
