package gateway

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"seatd/internal/docs"
	"seatd/paysim"
	"seatd/paysim/paysimtest"
	"seatd/seatclient"
)

// TestREADMECurls: every curl example of the README asks, by method and
// path, for a route that make run's system serves: its gateway's (built
// as cmd/seatdev builds it, dev tokens on) on 127.0.0.1:8080, or paysim's
// on 127.0.0.1:8090. And the README shows the routes a newcomer needs:
// a token, programs, availability, the seat map, a hold, its release,
// an order, a payment and a refund.
func TestREADMECurls(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	curls, err := docs.Curls(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	gateway := servedRoutes(t)
	sim := paysimtest.Start(t, paysim.Config{}).Handler().(*http.ServeMux)
	shown := map[string]bool{}
	for _, c := range curls {
		u, err := url.Parse(c.URL)
		if err != nil {
			t.Errorf("README.md:%d: %s: %v", c.Line, c.URL, err)
			continue
		}
		switch u.Host {
		case "127.0.0.1:8080":
			route := matchRoute(gateway, c.Method, u.EscapedPath())
			if route == "" {
				t.Errorf("README.md:%d: %s %s: the gateway has no such route", c.Line, c.Method, u.Path)
			}
			shown[route] = true
		case "127.0.0.1:8090":
			if _, pattern := sim.Handler(httptest.NewRequest(c.Method, u.EscapedPath(), nil)); pattern == "" {
				t.Errorf("README.md:%d: %s %s: paysim has no such route", c.Line, c.Method, u.Path)
			}
		default:
			t.Errorf("README.md:%d: %s: not an address of make run's system", c.Line, c.URL)
		}
	}
	for _, want := range []string{
		"POST /v1/dev/tokens", "GET /v1/programs", "GET /v1/programs/:id/availability", "GET /v1/programs/:id/seats",
		"POST /v1/programs/:id/holds", "DELETE /v1/holds/:hold_id", "GET /v1/orders", "GET /v1/orders/:order_no",
		"POST /v1/orders/:order_no/pay", "POST /v1/orders/:order_no/refunds", "GET /v1/refunds/:refund_no",
	} {
		if !shown[want] {
			t.Errorf("the README has no curl example of %s", want)
		}
	}
}

// servedRoutes is "METHOD PATH" of every route a gateway serves, as
// cmd/seatdev configures it.
func servedRoutes(t *testing.T) []string {
	t.Helper()
	// The client connects lazily: listing routes never calls seatd.
	client, err := seatclient.New(seatclient.Config{Seeds: []string{"127.0.0.1:7100"}})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := New(Config{Inventory: client, Auth: AuthConfig{HS256Secret: testSecret, AdminToken: adminToken, DevTokens: true}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gw.Start(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gw.Stop(ctx)
	})
	var routes []string
	for _, r := range gw.hz.Routes() {
		routes = append(routes, r.Method+" "+r.Path)
	}
	return routes
}

// matchRoute is the route of routes that takes method and path, "" when
// none does: a segment :name takes any segment but an empty one.
func matchRoute(routes []string, method, path string) string {
	segs := strings.Split(path, "/")
	for _, r := range routes {
		m, p, _ := strings.Cut(r, " ")
		rsegs := strings.Split(p, "/")
		if m != method || len(rsegs) != len(segs) {
			continue
		}
		if matchSegments(rsegs, segs) {
			return r
		}
	}
	return ""
}

func matchSegments(route, path []string) bool {
	for i, s := range route {
		if strings.HasPrefix(s, ":") && path[i] != "" || s == path[i] {
			continue
		}
		return false
	}
	return true
}
