package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRoutingEdges: a path no route takes is a 404 in the error shape
// with the security headers, under every method, whatever Hertz's router
// would make of it: an empty segment where an id goes, a trailing slash,
// a doubled slash, another case. A 405 always names the methods in
// Allow.
func TestRoutingEdges(t *testing.T) {
	s := startSystem(t)
	s.arena("a1")
	noRoute := func(method, path string) {
		t.Helper()
		r := s.do(method, path, adminToken, nil, nil)
		if r.status != http.StatusNotFound || r.header.Get("Allow") != "" || r.header.Get("Location") != "" ||
			r.header.Get("X-Content-Type-Options") != "nosniff" || method != "HEAD" && !strings.Contains(string(r.body), `"message":"no such route"`) {
			t.Errorf("%s %s = %d Allow %q Location %q %v %s; want 404 no such route with the security headers",
				method, path, r.status, r.header.Get("Allow"), r.header.Get("Location"), r.header, r.body)
		}
	}
	param := regexp.MustCompile(`:[a-z_]+`)
	for _, rt := range s.gw.hz.Routes() {
		if !strings.Contains(rt.Path, ":") {
			continue
		}
		// Every route with a path parameter, the parameter empty, under
		// its own method and another.
		empty := param.ReplaceAllString(rt.Path, "")
		noRoute(rt.Method, empty)
		noRoute("PUT", empty)
	}
	for _, rt := range s.gw.hz.Routes() {
		// Every route's path with a trailing slash: no redirect.
		if rt.Path != "/" {
			noRoute(rt.Method, param.ReplaceAllString(rt.Path, "a1")+"/")
		}
	}
	for _, path := range []string{"//v1/programs", "/v1//programs/a1", "/V1/PROGRAMS/a1", "/v1/programs/a1//", "/v1/dev/tokens/"} {
		noRoute("GET", path)
		noRoute("POST", path)
	}
	// A path a route takes under another method: 405 with Allow.
	for _, path := range []string{"/v1/programs/a1/holds", "/v1/holds/7", "/v1/orders/1/payment"} {
		if r := s.do("PUT", path, "", nil, nil); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") == "" {
			t.Errorf("PUT %s = %d Allow %q; want 405 with Allow", path, r.status, r.header.Get("Allow"))
		}
	}
}

// rawExchange sends raw bytes to the gateway on a connection of their
// own and reads one answer.
func rawExchange(t *testing.T, s *testSystem, raw string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go io.WriteString(c, raw) // the answer may come before Hertz has read it all
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%.60q: %v", raw, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestHertzRefusals: the requests Hertz refuses before routing get the
// answers openapi.yaml describes. Those it refuses after reading them
// (no Host, a target that is not a path) are 400 BAD_REQUEST in the
// error shape with the security headers; those it cannot read (a
// malformed header, a body or header fields past their bounds) it
// answers itself, text/plain, and closes the connection: Hertz v0.10.4
// has no hook for them. Every operation lists all three statuses.
func TestHertzRefusals(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for _, status := range []int{400, 413, 431} {
				r := op.Responses.Status(status)
				if r == nil || r.Value.Content.Get("text/plain") == nil {
					t.Errorf("%s %s: openapi.yaml does not describe Hertz's text/plain %d", method, path, status)
				}
			}
			if r := op.Responses.Status(400); r != nil && r.Value.Content.Get("application/json") == nil {
				t.Errorf("%s %s: openapi.yaml does not describe 400 BAD_REQUEST", method, path)
			}
		}
	}

	s := startSystem(t)
	for _, tc := range []struct {
		raw, says string
	}{
		{"GET /v1/programs/a1 HTTP/1.1\r\n\r\n", "an HTTP/1.1 request needs a Host header"},
		{"GET * HTTP/1.1\r\nHost: gateway\r\n\r\n", "the request target must be a path"},
		{"POST /v1/programs/a1/holds HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", "an HTTP/1.1 request needs a Host header"},
	} {
		resp, body := rawExchange(t, s, tc.raw)
		if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" ||
			resp.Header.Get("Content-Security-Policy") != contentSecurityPolicy || resp.Header.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.Contains(body, `"code":"BAD_REQUEST"`) || !strings.Contains(body, tc.says) || !strings.Contains(body, `"details":{}`) {
			t.Errorf("%.60q = %d %v %s; want 400 BAD_REQUEST saying %q, with the security headers", tc.raw, resp.StatusCode, resp.Header, body, tc.says)
		}
	}
	for _, tc := range []struct {
		raw    string
		status int
		body   string
	}{
		{"GET /v1/programs/a1 HTTP/1.1\r\nHost: gateway\r\nContent-Length: abc\r\n\r\n", 400, "Error when parsing request"},
		{"GET /v1/programs/a1 HTTP/1.1\r\nHost: gateway\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "Error when parsing request"},
		{fmt.Sprintf("POST /v1/programs HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", 17<<20), 413,
			"Request Entity Too Large"},
		{fmt.Sprintf("GET /v1/programs/a1 HTTP/1.1\r\nHost: gateway\r\nContent-Length: %d\r\n\r\n", 17<<20), 413, "Request Entity Too Large"},
		{"GET /v1/programs/a1 HTTP/1.1\r\nHost: gateway\r\nX-Big: " + strings.Repeat("a", 1<<20) + "\r\n\r\n", 431, "Request Header Fields Too Large"},
	} {
		resp, body := rawExchange(t, s, tc.raw)
		if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || body != tc.body || !resp.Close {
			t.Errorf("%.60q = %d %v %q; want Hertz's %d %q, text/plain, the connection closed", tc.raw, resp.StatusCode, resp.Header, body, tc.status, tc.body)
		}
	}
}
