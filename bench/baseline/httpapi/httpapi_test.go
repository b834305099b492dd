package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"seatd/bench/baseline/httpapi"
	"seatd/bench/baseline/pgseats"
	"seatd/bench/baseline/redislua"
	"seatd/bench/target"
	"seatd/gateway"
	"seatd/internal/pgtest"
	"seatd/internal/redistest"
	"seatd/inventory"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// bare is a baseline's bare target with its own check of a program's
// state (redislua.Driver.Check, pgseats.Target.Check).
type bare interface {
	target.Target
	Check(ctx context.Context, program string) error
}

// baselines are the bare targets the front is tested over, each on a
// real server of its own. unknownStatus and unknownCode are how each
// answers a named seat the program does not have: the Redis design
// finds it not unsold (taken); the PostgreSQL one fails the hold,
// which the front answers as any failure of its target.
var baselines = []struct {
	name          string
	start         func(t *testing.T) bare
	unknownStatus int
	unknownCode   string
}{
	{"redis-lua", func(t *testing.T) bare {
		d, err := redislua.New(context.Background(), redislua.Config{Addr: redistest.Start(t, redistest.Options{}).Addr(), PoolSize: 16})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}, http.StatusConflict, "SEAT_TAKEN"},
	{"postgres", func(t *testing.T) bare {
		tg, err := pgseats.New(context.Background(), pgseats.Config{DSN: pgtest.Start(t).DSN, Conns: 16})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tg.Close() })
		return tg
	}, http.StatusServiceUnavailable, "UNAVAILABLE"},
}

// TestFront runs the front over each baseline, one server of it for all
// the subtests, each on its own program.
func TestFront(t *testing.T) {
	for _, b := range baselines {
		t.Run(b.name, func(t *testing.T) {
			tg := b.start(t)
			base := serve(t, tg, httpapi.Config{Auth: gateway.AuthConfig{HS256Secret: secret}})
			t.Run("Auth", func(t *testing.T) { testAuth(t, base) })
			t.Run("Holds", func(t *testing.T) { testHolds(t, tg, base, b.unknownStatus, b.unknownCode) })
			t.Run("MaxHolds", func(t *testing.T) { testMaxHolds(t, tg) })
			t.Run("Client", func(t *testing.T) { testClient(t, tg, base) })
			t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, tg, base) })
		})
	}
}

// serve puts tg behind a Server on a loopback port and returns its base
// URL; the test's cleanup stops it.
func serve(t *testing.T, tg target.Target, cfg httpapi.Config) string {
	t.Helper()
	srv, err := httpapi.New(tg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	// Before the shutdown: Hertz waits for open connections to go.
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	base := "http://" + ln.Addr().String()
	// Hertz starts serving on a goroutine of its own: wait until it
	// answers (the no-route answer).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(base + "/")
		if err == nil {
			resp.Body.Close()
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server on %s does not answer: %v", base, err)
		}
	}
}

// load loads program id into tg: a row A/1 of 5 seats of category a
// (1000 cents, rank 1) and a row A/2 of columns 1, 2, 4, 5 of category
// b (500 cents, rank 2), so that both designs' orders of best seats
// agree.
func load(t *testing.T, tg bare, id string) {
	t.Helper()
	row := func(id string, rank int, cat string, cols ...int) inventory.Row {
		r := inventory.Row{ID: id, Rank: rank}
		for _, c := range cols {
			r.Seats = append(r.Seats, inventory.Seat{Col: c, Category: cat})
		}
		return r
	}
	spec := &inventory.ProgramSpec{ID: id, Stops: []string{"x", "y"},
		Categories: []inventory.Category{{ID: "a", PriceCents: 1000}, {ID: "b", PriceCents: 500}},
		Layout: inventory.Layout{Sections: []inventory.Section{{ID: "A", Rows: []inventory.Row{
			row("1", 1, "a", 1, 2, 3, 4, 5), row("2", 2, "b", 1, 2, 4, 5)}}}}}
	if err := tg.Load(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
}

func check(t *testing.T, tg bare, program string) {
	t.Helper()
	if err := tg.Check(context.Background(), program); err != nil {
		t.Fatal(err)
	}
}

// bearer is the Authorization header of a buyer's token signed with key.
func bearer(t *testing.T, key []byte, sub string, ttl time.Duration) string {
	t.Helper()
	tok, err := gateway.MintHS256(key, sub, time.Now(), ttl)
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

// answer is an answer's status, error code, body and headers.
type answer struct {
	status int
	code   string
	body   map[string]any
	header http.Header
}

// call sends a request and reads its answer, which must be JSON, and
// an error in the gateway's error shape.
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

// testAuth: both routes refuse a request without a good buyer token,
// 401 with the gateway's challenge.
func testAuth(t *testing.T, base string) {
	for _, tc := range []struct {
		name, auth string
	}{
		{"no token", ""},
		{"not bearer", "Basic eDp5"},
		{"bad signature", bearer(t, []byte("another secret of thirty-two bytes"), "7", time.Hour)},
		{"expired", bearer(t, secret, "7", -time.Hour)},
		{"not a JWT", "Bearer abc"},
	} {
		for _, url := range []string{"POST " + base + "/v1/programs/auth/holds", "DELETE " + base + "/v1/holds/1"} {
			method, url, _ := strings.Cut(url, " ")
			a := call(t, method, url, tc.auth, "application/json", `{"category":"a","count":1}`)
			if a.status != http.StatusUnauthorized || a.code != "UNAUTHENTICATED" || a.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s with %s = %d %s; want 401 UNAUTHENTICATED with a challenge", method, tc.name, a.status, a.code)
			}
		}
	}
}

// seatsOf returns an answer's seats as "id category price" strings.
func seatsOf(a answer) []string {
	seats, _ := a.body["seats"].([]any)
	var out []string
	for _, s := range seats {
		m, _ := s.(map[string]any)
		out = append(out, fmt.Sprint(m["id"], " ", m["category"], " ", m["price_cents"]))
	}
	return out
}

// testHolds sends holds and releases as JSON: their answers, every
// refusal's status and code, malformed requests.
func testHolds(t *testing.T, tg bare, base string, unknownStatus int, unknownCode string) {
	load(t, tg, "holds")
	holds := base + "/v1/programs/holds/holds"
	buyer := bearer(t, secret, "7", time.Hour)
	other := bearer(t, secret, "8", time.Hour)
	const js = "application/json"

	first := call(t, "POST", holds, buyer, js, `{"category":"a","count":2}`)
	if want := []string{"A/1/1 a 1000", "A/1/2 a 1000"}; first.status != http.StatusCreated || !slices.Equal(seatsOf(first), want) ||
		first.body["total_cents"] != 2000.0 || first.body["hold_id"] == "" || first.body["status"] != "HELD" || first.body["program_id"] != "holds" {
		t.Fatalf("POST %s = %d %v; want 201 HELD with %v, 2000 cents", holds, first.status, first.body, want)
	}
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		code                    string
	}{
		{"sold out", js, `{"category":"a","count":4}`, 409, "SOLD_OUT"},
		{"no adjacent", js, `{"category":"b","count":3}`, 409, "NO_ADJACENT_SEATS"},
		{"taken", js, `{"seats":["A/1/3","A/1/1"],"expected_total_cents":5000}`, 409, "SEAT_TAKEN"},
		{"no such seat", js, `{"seats":["Z/9/9"],"expected_total_cents":0}`, unknownStatus, unknownCode},
		{"price", js, `{"seats":["A/1/3","A/2/1"],"expected_total_cents":1499}`, 409, "PRICE_MISMATCH"},
		{"count 0", js, `{"category":"a","count":0}`, 422, "INVALID_ARGUMENT"},
		{"count 65", js, `{"category":"a","count":65}`, 422, "INVALID_ARGUMENT"},
		{"no count", js, `{"category":"a"}`, 422, "INVALID_ARGUMENT"},
		{"no category", js, `{"count":1}`, 422, "INVALID_ARGUMENT"},
		{"count and other seats", js, `{"count":2,"seats":["A/2/1"],"expected_total_cents":1000}`, 422, "INVALID_ARGUMENT"},
		{"empty seats", js, `{"seats":[]}`, 422, "INVALID_ARGUMENT"},
		{"seat twice", js, `{"seats":["A/1/3","A/1/3"]}`, 422, "INVALID_ARGUMENT"},
		{"negative total", js, `{"seats":["A/1/3"],"expected_total_cents":-1}`, 422, "INVALID_ARGUMENT"},
		{"not JSON", js, `{"count":`, 400, "INVALID_JSON"},
		{"unknown field", js, `{"category":"a","count":1,"together":false}`, 400, "INVALID_JSON"},
		{"big body", js, `{"category":"` + strings.Repeat("a", 64<<10) + `","count":1}`, 413, "BODY_TOO_LARGE"},
		{"text", "text/plain", `{"category":"a","count":1}`, 415, "UNSUPPORTED_MEDIA_TYPE"},
	} {
		a := call(t, "POST", holds, buyer, tc.contentType, tc.body)
		if a.status != tc.status || a.code != tc.code || a.status == 503 && a.header.Get("Retry-After") == "" {
			t.Errorf("%s: POST = %d %s %.300v; want %d %s", tc.name, a.status, a.code, a.body, tc.status, tc.code)
		}
	}
	// Named seats answer in the order named, each with its own price.
	named := call(t, "POST", holds, buyer, js, `{"seats":["A/2/1","A/1/3"],"expected_total_cents":1500}`)
	if want := []string{"A/2/1 b 500", "A/1/3 a 1000"}; named.status != http.StatusCreated || named.body["total_cents"] != 1500.0 ||
		!slices.Equal(seatsOf(named), want) {
		t.Fatalf("POST named seats = %d %v; want 201 with %v, 1500 cents", named.status, named.body, want)
	}
	check(t, tg, "holds")

	id := first.body["hold_id"].(string)
	for _, tc := range []struct {
		name, auth, id string
		status         int
		code           string
	}{
		{"another buyer's", other, id, 404, "NOT_FOUND"},
		{"no such hold", buyer, "999999", 404, "NOT_FOUND"},
		{"own", buyer, id, 200, ""},
		{"released", buyer, id, 404, "NOT_FOUND"},
	} {
		a := call(t, "DELETE", base+"/v1/holds/"+tc.id, tc.auth, "", "")
		if a.status != tc.status || a.code != tc.code || tc.status == 200 && (a.body["status"] != "RELEASED" || a.body["hold_id"] != id) {
			t.Errorf("%s: DELETE = %d %s %v; want %d %s", tc.name, a.status, a.code, a.body, tc.status, tc.code)
		}
	}
	if a := call(t, "POST", holds, buyer, js, `{"category":"a","count":2}`); a.status != 201 || !slices.Equal(seatsOf(a), seatsOf(first)) {
		t.Fatalf("POST after the release = %d %v; want %v again", a.status, a.body, seatsOf(first))
	}
	if a := call(t, "GET", base+"/v1/holds", buyer, "", ""); a.status != 404 || a.code != "NOT_FOUND" {
		t.Errorf("GET /v1/holds = %d %s; want 404 NOT_FOUND", a.status, a.code)
	}
	check(t, tg, "holds")
}

// testMaxHolds fills a front's hold table: the next hold is refused
// before any seat is locked, and a release makes room.
func testMaxHolds(t *testing.T, tg bare) {
	load(t, tg, "maxholds")
	base := serve(t, tg, httpapi.Config{Auth: gateway.AuthConfig{HS256Secret: secret}, MaxHolds: 1})
	ctx := context.Background()
	buyer := bearer(t, secret, "7", time.Hour)
	holds := base + "/v1/programs/maxholds/holds"
	a := call(t, "POST", holds, buyer, "application/json", `{"category":"a","count":1}`)
	if a.status != 201 {
		t.Fatalf("POST = %d %v", a.status, a.body)
	}
	if b := call(t, "POST", holds, buyer, "application/json", `{"category":"a","count":1}`); b.status != 503 || b.code != "OVERLOADED" || b.header.Get("Retry-After") == "" {
		t.Fatalf("POST past MaxHolds = %d %s; want 503 OVERLOADED with Retry-After", b.status, b.code)
	}
	// The seat the refused hold would have had is free.
	h, err := tg.HoldNamed(ctx, "maxholds", 9, []string{"A/1/2"}, 1000)
	if err != nil {
		t.Fatalf("HoldNamed(A/1/2) past the refused hold = %v; want it free", err)
	}
	if err := tg.Release(ctx, "maxholds", h); err != nil {
		t.Fatal(err)
	}
	check(t, tg, "maxholds")
	if d := call(t, "DELETE", base+"/v1/holds/"+a.body["hold_id"].(string), buyer, "", ""); d.status != 200 {
		t.Fatalf("DELETE = %d %v", d.status, d.body)
	}
	if b := call(t, "POST", holds, buyer, "application/json", `{"category":"a","count":1}`); b.status != 201 {
		t.Fatalf("POST after a release = %d %v; want 201", b.status, b.body)
	}
}

// testClient drives the front through Client, as seatbench does.
func testClient(t *testing.T, tg bare, base string) {
	c, err := httpapi.NewClient(httpapi.ClientConfig{URL: base, Secret: secret, Target: tg, MaxConns: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	if c.Name() != tg.Name()+"-http" || c.Persists() != tg.Persists() {
		t.Errorf("Name(), Persists() = %q, %q; want %q, %q", c.Name(), c.Persists(), tg.Name()+"-http", tg.Persists())
	}
	load(t, tg, "client")
	best, err := c.HoldBest(ctx, "client", "a", 7, 3)
	a := target.SeatPrice{Category: "a", PriceCents: 1000}
	if err != nil || !slices.Equal(best.Seats, []string{"A/1/1", "A/1/2", "A/1/3"}) || best.TotalCents != 3000 ||
		!strings.HasSuffix(best.ID, "@7") || !slices.Equal(best.Prices, []target.SeatPrice{a, a, a}) {
		t.Fatalf("HoldBest(a, 3) = %+v, %v; want A/1/1-3 at 1000 cents each, an id of buyer 7", best, err)
	}
	named, err := c.HoldNamed(ctx, "client", 8, []string{"A/2/5", "A/1/5"}, 1500)
	if err != nil || !slices.Equal(named.Seats, []string{"A/2/5", "A/1/5"}) || named.TotalCents != 1500 {
		t.Fatalf("HoldNamed(A/2/5 A/1/5, 1500) = %+v, %v", named, err)
	}
	refusals := []struct {
		name string
		err  error
		want error
	}{
		{"sold out", second(c.HoldBest(ctx, "client", "a", 7, 2)), target.ErrSoldOut},
		{"no adjacent", second(c.HoldBest(ctx, "client", "b", 7, 3)), target.ErrNoAdjacent},
		{"taken", second(c.HoldNamed(ctx, "client", 7, []string{"A/1/1"}, 1000)), target.ErrTaken},
		{"price", second(c.HoldNamed(ctx, "client", 7, []string{"A/1/4"}, 999)), target.ErrPriceMismatch},
	}
	for _, r := range refusals {
		if !errors.Is(r.err, r.want) {
			t.Errorf("%s: %v; want %v", r.name, r.err, r.want)
		}
	}
	// Another buyer's hold is no hold of theirs.
	id, _, _ := strings.Cut(best.ID, "@")
	if err := c.Release(ctx, "client", target.Hold{ID: id + "@8"}); !errors.Is(err, target.ErrUnknownHold) {
		t.Errorf("Release of buyer 7's hold by buyer 8 = %v; want %v", err, target.ErrUnknownHold)
	}
	for _, h := range []target.Hold{best, named} {
		if err := c.Release(ctx, "client", h); err != nil {
			t.Fatalf("Release(%+v) = %v", h, err)
		}
		if err := c.Release(ctx, "client", h); !errors.Is(err, target.ErrUnknownHold) {
			t.Fatalf("Release(%+v) again = %v; want %v", h, err, target.ErrUnknownHold)
		}
	}
	check(t, tg, "client")
	if h, err := c.HoldBest(ctx, "client", "a", 7, 5); err != nil || len(h.Seats) != 5 {
		t.Fatalf("HoldBest(a, 5) after the releases = %+v, %v", h, err)
	}
}

func second(_ target.Hold, err error) error { return err }

// testConcurrent has buyers take a program's seats through Client until
// it is sold out, releasing some: no seat is held twice, every seat is
// held at the end, and the store's own check passes.
func testConcurrent(t *testing.T, tg bare, base string) {
	const buyers = 16
	ctx := context.Background()
	c, err := httpapi.NewClient(httpapi.ClientConfig{URL: base, Secret: secret, Target: tg, MaxConns: buyers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	layout, err := inventory.Grid{Sections: 1, Rows: 10, Cols: 20, Categories: []inventory.GridCategory{{ID: "a", First: 1, Last: 10}}}.Layout()
	if err != nil {
		t.Fatal(err)
	}
	spec := &inventory.ProgramSpec{ID: "concurrent", Stops: []string{"x", "y"}, Categories: []inventory.Category{{ID: "a", PriceCents: 1000}}, Layout: layout}
	if err := c.Load(ctx, spec); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		owner = map[string]string{} // seat -> hold; guarded by mu
	)
	// keep records a hold's seats, refusing a seat another hold has.
	keep := func(h target.Hold) error {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range h.Seats {
			if o, dup := owner[s]; dup {
				return fmt.Errorf("seat %s in holds %s and %s", s, o, h.ID)
			}
			owner[s] = h.ID
		}
		return nil
	}
	// buy holds seats for buyer until the program is sold out, giving
	// every fifth hold back.
	buy := func(buyer uint64) error {
		single := false // fewer seats are left than a larger hold takes
		for i := 0; ; i++ {
			n := 1 + i%3
			if single {
				n = 1
			}
			h, err := c.HoldBest(ctx, "concurrent", "a", buyer, n)
			switch {
			case errors.Is(err, target.ErrSoldOut) && n == 1:
				return nil
			case errors.Is(err, target.ErrSoldOut):
				single = true
			case errors.Is(err, target.ErrNoAdjacent):
			case err != nil:
				return err
			case i%5 == 4:
				if err := c.Release(ctx, "concurrent", h); err != nil {
					return fmt.Errorf("Release(%+v) = %v", h, err)
				}
			default:
				if err := keep(h); err != nil {
					return err
				}
			}
		}
	}
	var wg sync.WaitGroup
	for b := range buyers {
		wg.Go(func() {
			if err := buy(uint64(b + 1)); err != nil {
				t.Errorf("buyer %d: %v", b+1, err)
			}
		})
	}
	wg.Wait()
	if len(owner) != len(target.Seats(spec)) {
		t.Errorf("%d seats held at the end; want all %d", len(owner), len(target.Seats(spec)))
	}
	check(t, tg, "concurrent")
}

// TestNewReportsEveryProblem: New and NewClient refuse a bad
// configuration, naming each problem.
func TestNewReportsEveryProblem(t *testing.T) {
	_, err := httpapi.New(nil, httpapi.Config{MaxHolds: -1, MaxInFlight: 1 << 21, RequestTimeout: -time.Second, TokenCacheBytes: 1})
	for _, want := range []string{"no target", "no buyer token key", "token cache bytes 1", "max holds -1", "max in flight", "request timeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(a bad config) = %v; want it to say %q", err, want)
		}
	}
	_, err = httpapi.NewClient(httpapi.ClientConfig{URL: "localhost:1", Secret: []byte("short"), MaxConns: -1, Timeout: -time.Second})
	for _, want := range []string{"server URL", "HS256 secret of 5 bytes", "max conns -1", "timeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewClient(a bad config) = %v; want it to say %q", err, want)
		}
	}
}
