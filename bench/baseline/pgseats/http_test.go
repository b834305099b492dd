package pgseats

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
	"seatd/bench/target"
	"seatd/gateway"
	"seatd/internal/pgtest"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// serveHTTP puts tg behind an httpapi.Server on a loopback port and
// returns its base URL; the test's cleanup stops it.
func serveHTTP(t *testing.T, tg *Target) string {
	t.Helper()
	srv, err := httpapi.New(tg, httpapi.Config{Auth: gateway.AuthConfig{HS256Secret: testSecret}})
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
	base := "http://" + ln.Addr().String()
	// Hertz starts serving on a goroutine of its own: wait until it
	// answers (the no-route answer).
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(base + "/")
		if err == nil {
			resp.Body.Close()
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server on %s does not answer: %v", base, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHTTP runs the baseline behind httpapi's front end to end: the
// client's holds and releases, every refusal's code, the gateway's
// authentication, malformed requests, and concurrent buyers.
func TestHTTP(t *testing.T) {
	ctx := context.Background()
	tg := newTarget(t, pgtest.Start(t).DSN, 16, 0)
	base := serveHTTP(t, tg)
	c, err := httpapi.NewClient(httpapi.ClientConfig{URL: base, Secret: testSecret, Target: tg, MaxConns: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if c.Name() != "postgres-http" || c.Persists() != tg.Persists() {
		t.Errorf("Name(), Persists() = %q, %q; want postgres-http, %q", c.Name(), c.Persists(), tg.Persists())
	}
	if err := c.Load(ctx, venue("http")); err != nil {
		t.Fatal(err)
	}

	best, err := c.HoldBest(ctx, "http", "a", 7, 2)
	if err != nil || !slices.Equal(best.Seats, []string{"A/1/1", "A/1/2"}) || best.TotalCents != 2000 || !strings.HasSuffix(best.ID, "@7") {
		t.Fatalf("HoldBest(a, 2) = %+v, %v; want A/1/1 A/1/2 for 2000 cents, an id of buyer 7", best, err)
	}
	named, err := c.HoldNamed(ctx, "http", 8, []string{"A/3/1", "A/3/2"}, 1000)
	if err != nil || named.TotalCents != 1000 || !slices.Equal(named.Seats, []string{"A/3/1", "A/3/2"}) {
		t.Fatalf("HoldNamed(A/3/1 A/3/2, 1000) = %+v, %v", named, err)
	}
	check(t, tg, "http", map[string][]string{serverID(best): best.Seats, serverID(named): named.Seats})

	refusals := []struct {
		name string
		hold func() (target.Hold, error)
		err  error
	}{
		{"sold out", func() (target.Hold, error) { return c.HoldBest(ctx, "http", "b", 1, 3) }, target.ErrSoldOut},
		{"no adjacent", func() (target.Hold, error) { return c.HoldBest(ctx, "http", "a", 1, 9) }, target.ErrNoAdjacent},
		{"taken", func() (target.Hold, error) { return c.HoldNamed(ctx, "http", 1, []string{"A/1/2", "A/1/3"}, 2000) }, target.ErrTaken},
		{"price", func() (target.Hold, error) { return c.HoldNamed(ctx, "http", 1, []string{"A/1/3"}, 999) }, target.ErrPriceMismatch},
	}
	for _, r := range refusals {
		if h, err := r.hold(); !errors.Is(err, r.err) {
			t.Errorf("%s: %+v, %v; want %v", r.name, h, err, r.err)
		}
	}

	// Another buyer's hold is no hold of theirs.
	if err := c.Release(ctx, "http", target.Hold{ID: serverID(best) + "@8"}); !errors.Is(err, target.ErrUnknownHold) {
		t.Errorf("Release of buyer 7's hold by buyer 8 = %v; want %v", err, target.ErrUnknownHold)
	}
	if err := c.Release(ctx, "http", best); err != nil {
		t.Errorf("Release(%+v) = %v", best, err)
	}
	if err := c.Release(ctx, "http", best); !errors.Is(err, target.ErrUnknownHold) {
		t.Errorf("Release(%+v) again = %v; want %v", best, err, target.ErrUnknownHold)
	}
	check(t, tg, "http", map[string][]string{serverID(named): named.Seats})

	t.Run("refused requests", func(t *testing.T) { testHTTPRefusals(t, base) })
	t.Run("concurrent", func(t *testing.T) { testHTTPConcurrent(t, tg, c) })
}

// serverID is the server's id of a hold the client made.
func serverID(h target.Hold) string {
	id, _, _ := strings.Cut(h.ID, "@")
	return id
}

// testHTTPRefusals sends requests the front refuses before the target,
// and checks each status and code, in the gateway's error shape.
func testHTTPRefusals(t *testing.T, base string) {
	now := time.Now()
	token := func(secret []byte, ttl time.Duration) string {
		tok, err := gateway.MintHS256(secret, "5", now, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	good := token(testSecret, time.Minute)
	tests := []struct {
		name, method, path, auth, ctype, body string
		status                                int
		code                                  string
	}{
		{"no token", "POST", "/v1/programs/http/holds", "", "application/json", `{"category":"a","count":1}`, 401, "UNAUTHENTICATED"},
		{"other secret", "POST", "/v1/programs/http/holds", token([]byte("another secret of thirty-two bytes"), time.Minute), "application/json", `{"category":"a","count":1}`, 401, "UNAUTHENTICATED"},
		{"expired", "POST", "/v1/programs/http/holds", token(testSecret, -time.Hour), "application/json", `{"category":"a","count":1}`, 401, "UNAUTHENTICATED"},
		{"not JSON", "POST", "/v1/programs/http/holds", good, "text/plain", `{"category":"a","count":1}`, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"malformed", "POST", "/v1/programs/http/holds", good, "application/json", `{"category":`, 400, "INVALID_JSON"},
		{"unknown field", "POST", "/v1/programs/http/holds", good, "application/json", `{"category":"a","count":1,"together":false}`, 400, "INVALID_JSON"},
		{"count 0", "POST", "/v1/programs/http/holds", good, "application/json", `{"category":"a","count":0}`, 422, "INVALID_ARGUMENT"},
		{"count 65", "POST", "/v1/programs/http/holds", good, "application/json", `{"category":"a","count":65}`, 422, "INVALID_ARGUMENT"},
		{"count and other seats", "POST", "/v1/programs/http/holds", good, "application/json", `{"count":2,"seats":["A/2/1"],"expected_total_cents":1000}`, 422, "INVALID_ARGUMENT"},
		{"no category", "POST", "/v1/programs/http/holds", good, "application/json", `{"count":1}`, 422, "INVALID_ARGUMENT"},
		{"no seats", "POST", "/v1/programs/http/holds", good, "application/json", `{"seats":[],"expected_total_cents":0}`, 422, "INVALID_ARGUMENT"},
		{"big body", "POST", "/v1/programs/http/holds", good, "application/json", `{"category":"` + strings.Repeat("a", 64<<10) + `","count":1}`, 413, "BODY_TOO_LARGE"},
		{"seat named twice", "POST", "/v1/programs/http/holds", good, "application/json", `{"seats":["A/2/1","A/2/1"]}`, 422, "INVALID_ARGUMENT"},
		{"unknown seat: the target's failure", "POST", "/v1/programs/http/holds", good, "application/json", `{"seats":["Z/9/9"],"expected_total_cents":0}`, 503, "UNAVAILABLE"},
		{"no route", "GET", "/v1/holds", good, "", "", 404, "NOT_FOUND"},
		{"no such hold", "DELETE", "/v1/holds/999999", good, "", "", 404, "NOT_FOUND"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var e struct {
				Error struct {
					Code    string         `json:"code"`
					Message string         `json:"message"`
					Details map[string]any `json:"details"`
				} `json:"error"`
			}
			if err := json.Unmarshal(b, &e); err != nil || resp.StatusCode != tc.status || e.Error.Code != tc.code || e.Error.Message == "" || e.Error.Details == nil {
				t.Errorf("%s %s = %d %s; want %d with code %s in the error shape", tc.method, tc.path, resp.StatusCode, b, tc.status, tc.code)
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s = 401 without WWW-Authenticate", tc.method, tc.path)
			}
		})
	}
}

// testHTTPConcurrent has buyers take a program's seats through HTTP
// until it is sold out, releasing some, and checks that no seat was
// held twice and that the table holds what they were told.
func testHTTPConcurrent(t *testing.T, tg *Target, c *httpapi.Client) {
	const buyers = 16
	ctx := context.Background()
	spec := grid(t, "http-concurrent", 1, 10, 20)
	if err := c.Load(ctx, spec); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		holds = map[string][]string{} // guarded by mu
		owner = map[string]string{}   // seat -> hold; guarded by mu
	)
	errs := make(chan error, buyers)
	var wg sync.WaitGroup
	for b := range buyers {
		wg.Go(func() {
			errs <- func() error {
				single := false // fewer seats are left than a larger hold takes
				for i := 0; ; i++ {
					n := 1 + i%3
					if single {
						n = 1
					}
					h, err := c.HoldBest(ctx, "http-concurrent", "a", uint64(b+1), n)
					switch {
					case errors.Is(err, target.ErrSoldOut) && n == 1:
						return nil
					case errors.Is(err, target.ErrSoldOut):
						single = true
						continue
					case errors.Is(err, target.ErrNoAdjacent):
						continue
					case err != nil:
						return err
					}
					if i%5 == 4 {
						if err := c.Release(ctx, "http-concurrent", h); err != nil {
							return fmt.Errorf("Release(%+v) = %v", h, err)
						}
						continue
					}
					mu.Lock()
					holds[serverID(h)] = h.Seats
					for _, s := range h.Seats {
						if o, dup := owner[s]; dup {
							mu.Unlock()
							return fmt.Errorf("seat %s in holds %s and %s", s, o, h.ID)
						}
						owner[s] = h.ID
					}
					mu.Unlock()
				}
			}()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if len(owner) != len(target.Seats(spec)) {
		t.Errorf("%d seats held at the end; want all %d", len(owner), len(target.Seats(spec)))
	}
	check(t, tg, "http-concurrent", holds)
}
