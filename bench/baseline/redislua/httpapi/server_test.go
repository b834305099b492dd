package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"seatd/bench/baseline/redislua"
	"seatd/bench/target"
	"seatd/gateway"
	"seatd/internal/redistest"
	"seatd/inventory"
)

var secret = []byte(strings.Repeat("s", 32))

// start starts Redis and a server on it with program "p" loaded: a row
// A/1 of 5 seats of category a (1000 cents) and a row A/2 of columns
// 1, 2, 4, 5 of category b (500 cents). It returns the server's base URL.
func start(t *testing.T, maxHolds int) (*Server, string) {
	t.Helper()
	rs := redistest.Start(t, redistest.Options{})
	s, err := New(Config{Redis: redislua.Config{Addr: rs.Addr(), PoolSize: 8}, Auth: gateway.AuthConfig{HS256Secret: secret}, MaxHolds: maxHolds})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		<-served
	})
	// Before the shutdown: Hertz waits for open connections to go.
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	spec := &inventory.ProgramSpec{ID: "p", Stops: []string{"x", "y"},
		Categories: []inventory.Category{{ID: "a", PriceCents: 1000}, {ID: "b", PriceCents: 500}},
		Layout: inventory.Layout{Sections: []inventory.Section{{ID: "A", Rows: []inventory.Row{
			{ID: "1", Seats: []inventory.Seat{{Col: 1, Category: "a"}, {Col: 2, Category: "a"}, {Col: 3, Category: "a"}, {Col: 4, Category: "a"}, {Col: 5, Category: "a"}}},
			{ID: "2", Seats: []inventory.Seat{{Col: 1, Category: "b"}, {Col: 2, Category: "b"}, {Col: 4, Category: "b"}, {Col: 5, Category: "b"}}},
		}}}}}
	if err := s.Driver().Load(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	// Hertz serves once Run has bound its listener's loop.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server on %s does not answer: %v", url, err)
		}
	}
	return s, url
}

func token(t *testing.T, key []byte, sub string, ttl time.Duration) string {
	t.Helper()
	tok, err := gateway.MintHS256(key, sub, time.Now(), ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// answer is an answer's status, error code and body.
type answer struct {
	status int
	code   string
	body   map[string]any
	header http.Header
}

func call(t *testing.T, method, url, auth, contentType, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(b, &a.body); err != nil {
		t.Fatalf("%s %s = %d %q: not JSON", method, url, resp.StatusCode, b)
	}
	if e, ok := a.body["error"].(map[string]any); ok {
		a.code, _ = e["code"].(string)
		if _, ok := e["details"].(map[string]any); !ok || e["message"] == "" {
			t.Errorf("%s %s = %s: not the gateway's error shape", method, url, b)
		}
	}
	return a
}

func TestAuth(t *testing.T) {
	_, url := start(t, 0)
	holds := url + "/v1/programs/p/holds"
	for _, tc := range []struct {
		name, auth string
	}{
		{"no token", ""},
		{"not bearer", "Basic eDp5"},
		{"bad signature", "Bearer " + token(t, []byte(strings.Repeat("x", 32)), "7", time.Hour)},
		{"expired", "Bearer " + token(t, secret, "7", -time.Hour)},
		{"not a JWT", "Bearer abc"},
	} {
		for _, method := range []string{"POST", "DELETE"} {
			target := holds
			if method == "DELETE" {
				target = url + "/v1/holds/1"
			}
			a := call(t, method, target, tc.auth, "application/json", `{"category":"a","count":1}`)
			if a.status != http.StatusUnauthorized || a.code != "UNAUTHENTICATED" || a.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s with %s = %d %s; want 401 UNAUTHENTICATED with a challenge", method, tc.name, a.status, a.code)
			}
		}
	}
}

func TestHoldsOverHTTP(t *testing.T) {
	s, url := start(t, 0)
	holds := url + "/v1/programs/p/holds"
	buyer := "Bearer " + token(t, secret, "7", time.Hour)
	other := "Bearer " + token(t, secret, "8", time.Hour)
	const js = "application/json"

	first := call(t, "POST", holds, buyer, js, `{"category":"a","count":2}`)
	seats, _ := first.body["seats"].([]any)
	if first.status != http.StatusCreated || len(seats) != 2 || first.body["total_cents"] != 2000.0 || first.body["hold_id"] == "" ||
		seats[0].(map[string]any)["id"] != "A/1/1" || seats[0].(map[string]any)["category"] != "a" || seats[0].(map[string]any)["price_cents"] != 1000.0 {
		t.Fatalf("POST %s = %d %v; want 201 with A/1/1 and A/1/2, 2000 cents", holds, first.status, first.body)
	}
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		code                    string
	}{
		{"sold out", js, `{"category":"a","count":4}`, 409, "SOLD_OUT"},
		{"no adjacent", js, `{"category":"b","count":3}`, 409, "NO_ADJACENT_SEATS"},
		{"taken", js, `{"seats":["A/1/3","A/1/1"],"expected_total_cents":5000}`, 409, "SEAT_TAKEN"},
		{"no such seat", js, `{"seats":["Z/1/1"]}`, 409, "SEAT_TAKEN"},
		{"price", js, `{"seats":["A/1/3","A/2/1"],"expected_total_cents":1499}`, 409, "PRICE_MISMATCH"},
		{"count 0", js, `{"category":"a","count":0}`, 422, "INVALID_ARGUMENT"},
		{"count 65", js, `{"category":"a","count":65}`, 422, "INVALID_ARGUMENT"},
		{"no count", js, `{"category":"a"}`, 422, "INVALID_ARGUMENT"},
		{"no category", js, `{"count":1}`, 422, "INVALID_ARGUMENT"},
		{"empty seats", js, `{"seats":[]}`, 422, "INVALID_ARGUMENT"},
		{"seat twice", js, `{"seats":["A/1/3","A/1/3"]}`, 422, "INVALID_ARGUMENT"},
		{"negative total", js, `{"seats":["A/1/3"],"expected_total_cents":-1}`, 422, "INVALID_ARGUMENT"},
		{"not JSON", js, `{"count":`, 400, "INVALID_JSON"},
		{"text", "text/plain", `{"category":"a","count":1}`, 415, "UNSUPPORTED_MEDIA_TYPE"},
	} {
		if a := call(t, "POST", holds, buyer, tc.contentType, tc.body); a.status != tc.status || a.code != tc.code {
			t.Errorf("%s: POST %s = %d %s %v; want %d %s", tc.name, tc.body, a.status, a.code, a.body, tc.status, tc.code)
		}
	}
	named := call(t, "POST", holds, buyer, js, `{"seats":["A/1/3","A/2/1"],"expected_total_cents":1500}`)
	if named.status != http.StatusCreated || named.body["total_cents"] != 1500.0 {
		t.Fatalf("POST named seats = %d %v; want 201, 1500 cents", named.status, named.body)
	}
	if err := s.Driver().Check(context.Background(), "p"); err != nil {
		t.Fatal(err)
	}

	id := first.body["hold_id"].(string)
	for _, tc := range []struct {
		name, auth, id string
		status         int
		code           string
	}{
		{"another buyer's", other, id, 404, "NOT_FOUND"},
		{"no such hold", buyer, "999", 404, "NOT_FOUND"},
		{"own", buyer, id, 200, ""},
		{"released", buyer, id, 404, "NOT_FOUND"},
	} {
		a := call(t, "DELETE", url+"/v1/holds/"+tc.id, tc.auth, "", "")
		if a.status != tc.status || a.code != tc.code || tc.status == 200 && (a.body["status"] != "RELEASED" || a.body["hold_id"] != id) {
			t.Errorf("%s: DELETE = %d %s %v; want %d %s", tc.name, a.status, a.code, a.body, tc.status, tc.code)
		}
	}
	if a := call(t, "POST", holds, buyer, js, `{"category":"a","count":2}`); a.status != 201 || a.body["seats"].([]any)[0].(map[string]any)["id"] != "A/1/1" {
		t.Fatalf("POST after the release = %d %v; want A/1/1 again", a.status, a.body)
	}
	if a := call(t, "GET", url+"/v1/nothing", buyer, "", ""); a.status != 404 || a.code != "NOT_FOUND" {
		t.Errorf("GET /v1/nothing = %d %s; want 404 NOT_FOUND", a.status, a.code)
	}
	if err := s.Driver().Check(context.Background(), "p"); err != nil {
		t.Fatal(err)
	}
}

// TestMaxHolds fills the hold table: the next hold is refused before any
// seat is locked, and a release makes room.
func TestMaxHolds(t *testing.T) {
	s, url := start(t, 1)
	buyer := "Bearer " + token(t, secret, "7", time.Hour)
	holds := url + "/v1/programs/p/holds"
	a := call(t, "POST", holds, buyer, "application/json", `{"category":"a","count":1}`)
	if a.status != 201 {
		t.Fatalf("POST = %d %v", a.status, a.body)
	}
	if b := call(t, "POST", holds, buyer, "application/json", `{"category":"a","count":1}`); b.status != 503 || b.code != "OVERLOADED" || b.header.Get("Retry-After") == "" {
		t.Fatalf("POST past MaxHolds = %d %s; want 503 OVERLOADED with Retry-After", b.status, b.code)
	}
	if err := s.Driver().Check(context.Background(), "p"); err != nil {
		t.Fatal(err)
	}
	if d := call(t, "DELETE", url+"/v1/holds/"+a.body["hold_id"].(string), buyer, "", ""); d.status != 200 {
		t.Fatalf("DELETE = %d %v", d.status, d.body)
	}
	if b := call(t, "POST", holds, buyer, "application/json", `{"category":"a","count":1}`); b.status != 201 {
		t.Fatalf("POST after a release = %d %v; want 201", b.status, b.body)
	}
}

// TestClient drives the server through Client, as seatbench does.
func TestClient(t *testing.T) {
	s, url := start(t, 0)
	c, err := NewClient(ClientConfig{URL: url, Secret: secret, Driver: s.Driver()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var tg target.Target = c
	ctx := context.Background()
	if tg.Name() != "redis-lua-http" || tg.Persists() != redislua.PersistsNothing {
		t.Errorf("Name, Persists = %q, %q", tg.Name(), tg.Persists())
	}
	best, err := tg.HoldBest(ctx, "p", "a", 7, 3)
	if err != nil || !slices.Equal(best.Seats, []string{"A/1/1", "A/1/2", "A/1/3"}) || best.TotalCents != 3000 {
		t.Fatalf("HoldBest(a, 3) = %+v, %v", best, err)
	}
	named, err := tg.HoldNamed(ctx, "p", 8, []string{"A/2/5", "A/1/5"}, 1500)
	if err != nil || !slices.Equal(named.Seats, []string{"A/2/5", "A/1/5"}) || named.TotalCents != 1500 {
		t.Fatalf("HoldNamed = %+v, %v", named, err)
	}
	refusals := []struct {
		name string
		err  error
		want error
	}{
		{"sold out", second(tg.HoldBest(ctx, "p", "a", 7, 2)), target.ErrSoldOut},
		{"no adjacent", second(tg.HoldBest(ctx, "p", "b", 7, 3)), target.ErrNoAdjacent},
		{"taken", second(tg.HoldNamed(ctx, "p", 7, []string{"A/1/1"}, 1000)), target.ErrTaken},
		{"price", second(tg.HoldNamed(ctx, "p", 7, []string{"A/1/4"}, 999)), target.ErrPriceMismatch},
	}
	for _, r := range refusals {
		if !errors.Is(r.err, r.want) {
			t.Errorf("%s: %v; want %v", r.name, r.err, r.want)
		}
	}
	for _, h := range []target.Hold{best, named} {
		if err := tg.Release(ctx, "p", h); err != nil {
			t.Fatalf("Release(%+v) = %v", h, err)
		}
		if err := tg.Release(ctx, "p", h); !errors.Is(err, target.ErrUnknownHold) {
			t.Fatalf("Release(%+v) again = %v; want %v", h, err, target.ErrUnknownHold)
		}
	}
	if err := s.Driver().Check(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if h, err := tg.HoldBest(ctx, "p", "a", 7, 5); err != nil || len(h.Seats) != 5 {
		t.Fatalf("HoldBest(a, 5) after the releases = %+v, %v", h, err)
	}
}

func second(_ target.Hold, err error) error { return err }

// TestNewReportsEveryProblem checks New refuses a bad configuration
// before connecting, naming each problem.
func TestNewReportsEveryProblem(t *testing.T) {
	_, err := New(Config{MaxHolds: -1, MaxInFlight: 1 << 21, RequestTimeout: -time.Second, TokenCacheBytes: 1})
	if err == nil {
		t.Fatal("New(a bad config) = nil error")
	}
	for _, want := range []string{"no Redis address", "no buyer token key", "token cache bytes 1", "max holds -1", "max in flight", "request timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New(a bad config) = %v; want it to say %q", err, want)
		}
	}
}
