package gateway

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestVersionMovesOnlyWithChanges: an idle program's version and ETag
// stay put while the leader ticks, so polling clients get 304; a hold
// moves them. Every request asks seatd (no cache age), so what is
// checked is the version seatd reports, not the gateway's cache.
func TestVersionMovesOnlyWithChanges(t *testing.T) {
	const tick = 20 * time.Millisecond
	s := startCluster(t, 1, tick, func(c *Config) { c.SeatMapMaxAge = time.Nanosecond })
	s.arena("show")
	for _, path := range []string{"/v1/programs/show/seats", "/v1/programs/show/availability", "/v1/programs/show/seats?format=compact&category=vip"} {
		first := s.do("GET", path, "", nil, nil)
		etag := first.header.Get("ETag")
		if first.status != 200 || etag != `"`+first.json(t)["version"].(string)+`"` {
			t.Fatalf("GET %s = %d, ETag %q: want 200 and the body's version as a strong ETag\n%s", path, first.status, etag, first.body)
		}
		time.Sleep(10 * tick)
		again := s.do("GET", path, "", nil, nil)
		if got := again.header.Get("ETag"); got != etag || again.json(t)["version"] != first.json(t)["version"] {
			t.Fatalf("GET %s after 10 ticks of an idle program: ETag %q, version %v; want %q unchanged", path, got, again.json(t)["version"], etag)
		}
		nm := s.do("GET", path, "", nil, map[string]string{"If-None-Match": etag})
		if nm.status != http.StatusNotModified || nm.header.Get("ETag") != etag || nm.header.Get("Cache-Control") != "no-cache" || len(nm.body) != 0 {
			t.Fatalf("conditional GET %s of an idle program = %d ETag %q Cache-Control %q body %q; want 304 with the ETag and no body",
				path, nm.status, nm.header.Get("ETag"), nm.header.Get("Cache-Control"), nm.body)
		}
		head := s.do("HEAD", path, "", nil, nil)
		if head.status != 200 || head.header.Get("ETag") != etag || len(head.body) != 0 || head.header.Get("Content-Length") != strconv.Itoa(len(first.body)) {
			t.Fatalf("HEAD %s = %d ETag %q Content-Length %q body %d bytes; want GET's status, ETag and length without the body",
				path, head.status, head.header.Get("ETag"), head.header.Get("Content-Length"), len(head.body))
		}
	}

	before := s.do("GET", "/v1/programs/show/seats", "", nil, nil)
	s.want(s.do("POST", "/v1/programs/show/holds", s.token(1), map[string]any{"seats": []string{"A/1/1"}}, nil), 201, "")
	after := s.do("GET", "/v1/programs/show/seats", "", nil, map[string]string{"If-None-Match": before.header.Get("ETag")})
	if after.status != 200 || after.header.Get("ETag") == before.header.Get("ETag") ||
		!strings.Contains(string(after.body), `"id":"A/1/1","section":"A","row":"1","col":1,"label":"1","category":"vip","status":"held"`) {
		t.Fatalf("conditional GET after a hold = %d ETag %q (was %q); want 200, a new ETag and the seat held\n%s",
			after.status, after.header.Get("ETag"), before.header.Get("ETag"), after.body)
	}
	// A program's version is its own: a hold on another program leaves
	// it, though both share the Raft group's log.
	s.arena("other")
	etag := after.header.Get("ETag")
	s.want(s.do("POST", "/v1/programs/other/holds", s.token(1), map[string]any{"count": 2}, nil), 201, "")
	s.want(s.do("GET", "/v1/programs/show/seats", "", nil, map[string]string{"If-None-Match": etag}), http.StatusNotModified, "")
}

// TestIfNoneMatch: the header's forms of RFC 9110 section 13.1.2, over
// HTTP. A 304 needs a tag that matches under weak comparison, or "*"; a
// field that does not parse is ignored.
func TestIfNoneMatch(t *testing.T) {
	s := startSystem(t)
	s.arena("show")
	path := "/v1/programs/show/availability"
	etag := s.do("GET", path, "", nil, nil).header.Get("ETag")
	if len(etag) < 3 || etag[0] != '"' {
		t.Fatalf("ETag %q; want a strong quoted tag", etag)
	}
	opaque := strings.Trim(etag, `"`)
	for _, tc := range []struct {
		fields []string
		want   int
	}{
		{[]string{etag}, 304},
		{[]string{"W/" + etag}, 304},                        // weak comparison ignores W/
		{[]string{`"1.2", ` + etag}, 304},                   // a list
		{[]string{`"a,b" , W/` + etag + ` ,`}, 304},         // a comma inside a tag, W/ in a list, a trailing comma
		{[]string{`, ,` + etag}, 304},                       // empty list elements
		{[]string{`"nope"`, etag}, 304},                     // two fields are one list
		{[]string{"*"}, 304},                                // any current representation
		{[]string{" * "}, 304},                              //
		{[]string{`"nope"`}, 200},                           // another version
		{[]string{`W/"nope", "` + opaque + `0"`}, 200},      // tags that only start alike
		{[]string{`""`}, 200},                               // the empty tag
		{[]string{opaque}, 200},                             // malformed: unquoted
		{[]string{"w/" + etag}, 200},                        // malformed: W is upper case
		{[]string{"W/ " + etag}, 200},                       // malformed: a space after W/
		{[]string{etag + " " + etag}, 200},                  // malformed: no comma
		{[]string{etag + `, *`}, 200},                       // malformed: * in a list
		{[]string{`"` + opaque}, 200},                       // malformed: unterminated
		{[]string{etag + `, garbage`}, 200},                 // malformed after a match: the whole field is ignored
		{[]string{`"é", ` + etag}, 304},                     // obs-text in a tag
		{[]string{`"a b", ` + etag}, 200},                   // malformed: a space in a tag
		{[]string{"*", etag}, 200},                          // malformed: two fields make "*, tag"
		{[]string{`W/"nope"`, `"also-nope"`, `W/"x"`}, 200}, // no match
		{[]string{"W/"}, 200},                               // malformed: W/ without a tag (it crashed the gateway)
		{[]string{etag + ", W/"}, 200},                      //
	} {
		req, _ := http.NewRequest("GET", s.url+path, nil)
		for _, f := range tc.fields {
			req.Header.Add("If-None-Match", f)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want || resp.Header.Get("ETag") != etag {
			t.Errorf("If-None-Match %q = %d ETag %q; want %d ETag %s", tc.fields, resp.StatusCode, resp.Header.Get("ETag"), tc.want, etag)
		}
	}
	// A failed read ignores the condition: the error is the answer.
	s.want(s.do("GET", "/v1/programs/none/availability", "", nil, map[string]string{"If-None-Match": "*"}), 404, "NOT_FOUND")
}

// TestIfMatch: If-Match on the versioned reads, RFC 9110 section
// 13.1.1 over HTTP. The read is answered only if the field is "*" or
// names the current version under strong comparison; otherwise 412
// PRECONDITION_FAILED with the current ETag. It is evaluated before
// If-None-Match, and only once the read has succeeded. Routes without
// an ETag do not evaluate it.
func TestIfMatch(t *testing.T) {
	s := startSystem(t)
	s.arena("show")
	for _, path := range []string{"/v1/programs/show/availability", "/v1/programs/show/seats?format=compact",
		"/v1/programs/show/seats?consistent=true", "/v1/programs/show/availability?consistent=true"} {
		etag := s.do("GET", path, "", nil, nil).header.Get("ETag")
		opaque := strings.Trim(etag, `"`)
		for _, tc := range []struct {
			fields []string
			want   int
		}{
			{[]string{etag}, 200},
			{[]string{"*"}, 200},
			{[]string{`"nope", ` + etag}, 200},           // a list
			{[]string{`"nope"`, etag}, 200},              // two fields are one list
			{[]string{`, W/"x" ,` + etag + `,`}, 200},    // empty elements, a weak tag beside
			{[]string{"W/" + etag}, 412},                 // strong comparison: a weak tag never matches
			{[]string{`"nope"`}, 412},                    // another version
			{[]string{`"` + opaque + `0"`}, 412},         // a tag that only starts alike
			{[]string{`""`}, 412},                        // the empty tag
			{[]string{opaque}, 412},                      // malformed: unquoted
			{[]string{etag + ", *"}, 412},                // malformed: * in a list
			{[]string{"*", etag}, 412},                   // malformed: two fields make "*, tag"
			{[]string{etag + " " + etag}, 412},           // malformed: no comma
			{[]string{"W/"}, 412},                        // malformed: W/ without a tag
			{[]string{"w/" + etag}, 412},                 // malformed: W is upper case
			{[]string{`"` + opaque + `", garbage`}, 412}, // malformed after a match
			{[]string{"   "}, 412},                       // an empty list names nothing
		} {
			for _, method := range []string{"GET", "HEAD"} {
				req, _ := http.NewRequest(method, s.url+path, nil)
				for _, f := range tc.fields {
					req.Header.Add("If-Match", f)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				ok := resp.StatusCode == tc.want && resp.Header.Get("ETag") == etag
				if tc.want == 412 && method == "GET" {
					r := reply{resp.StatusCode, resp.Header, body}
					e, _ := r.json(t)["error"].(map[string]any)
					ok = ok && e["code"] == "PRECONDITION_FAILED" && fmt.Sprint(e["details"]) == "map[field:If-Match]" &&
						strings.Contains(e["message"].(string), "If-Match: the current version's ETag is "+etag)
				}
				if !ok {
					t.Errorf("%s %s If-Match %q = %d ETag %q %s; want %d ETag %s", method, path, tc.fields, resp.StatusCode, resp.Header.Get("ETag"), body, tc.want, etag)
				}
			}
		}
		// If-Match first (section 13.2.2): a failed one is 412 even where
		// If-None-Match would give 304; a passed one leaves If-None-Match
		// to answer.
		s.want(s.do("GET", path, "", nil, map[string]string{"If-Match": `"nope"`, "If-None-Match": etag}), 412, "PRECONDITION_FAILED")
		s.want(s.do("GET", path, "", nil, map[string]string{"If-Match": etag, "If-None-Match": etag}), 304, "")
		s.want(s.do("GET", path, "", nil, map[string]string{"If-Match": "*", "If-None-Match": `"nope"`}), 200, "")
	}
	// After a change, the old ETag no longer matches.
	old := s.do("GET", "/v1/programs/show/seats", "", nil, nil).header.Get("ETag")
	s.want(s.do("POST", "/v1/programs/show/holds", s.token(1), map[string]any{"count": 1}, nil), 201, "")
	r := s.do("GET", "/v1/programs/show/seats?consistent=true", "", nil, map[string]string{"If-Match": old})
	if r.status != 412 || r.header.Get("ETag") == old || r.header.Get("ETag") == "" {
		t.Errorf("If-Match with the ETag from before a hold = %d ETag %q (was %q); want 412 with the new ETag", r.status, r.header.Get("ETag"), old)
	}
	// A failed read answers its error whatever the field says; routes
	// without an ETag do not evaluate it.
	s.want(s.do("GET", "/v1/programs/none/availability", "", nil, map[string]string{"If-Match": `"nope"`}), 404, "NOT_FOUND")
	s.want(s.do("GET", "/v1/programs/show/seats?from=9", "", nil, map[string]string{"If-Match": `"nope"`}), 422, "INVALID_ARGUMENT")
	s.want(s.do("GET", "/v1/programs/show", "", nil, map[string]string{"If-Match": `"nope"`}), 200, "")
}

// TestMethodNotAllowed: a 405 carries Allow with the route's methods; a
// GET route answers HEAD as GET does, without the body.
func TestMethodNotAllowed(t *testing.T) {
	s := startSystem(t)
	s.arena("show")
	for _, tc := range []struct{ method, path, allow string }{
		{"PUT", "/v1/programs/show", "GET, HEAD"},
		{"DELETE", "/v1/programs", "GET, HEAD, POST"},
		{"GET", "/v1/programs/show/holds", "POST"},
		{"HEAD", "/v1/programs/show/open", "POST"},
		{"POST", "/v1/holds/1", "DELETE, GET, HEAD"},
		{"PATCH", "/v1/programs/show/seats", "GET, HEAD"},
		{"POST", "/metrics", "GET, HEAD"},
		{"DELETE", "/", "GET, HEAD"},
	} {
		r := s.do(tc.method, tc.path, "", nil, nil)
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != tc.allow || (tc.method != "HEAD" && r.code(t) != "METHOD_NOT_ALLOWED") {
			t.Errorf("%s %s = %d Allow %q %s; want 405 Allow %q", tc.method, tc.path, r.status, r.header.Get("Allow"), r.body, tc.allow)
		}
	}
	for _, path := range []string{"/v1/programs/show", "/healthz", "/", "/seatmap.js", "/openapi.yaml", "/v1/programs/none"} {
		// A program's description is streamed (chunked, no
		// Content-Length), and so is its HEAD's answer.
		get, head := s.do("GET", path, "", nil, nil), s.do("HEAD", path, "", nil, nil)
		length := get.header.Get("Content-Length")
		if length != "" && length != strconv.Itoa(len(get.body)) || length == "" && path != "/v1/programs/show" {
			t.Errorf("GET %s: Content-Length %q for %d body bytes", path, length, len(get.body))
		}
		if head.status != get.status || len(head.body) != 0 || head.header.Get("Content-Type") != get.header.Get("Content-Type") ||
			head.header.Get("Content-Length") != length {
			t.Errorf("HEAD %s = %d %q Content-Length %q, %d body bytes; want GET's %d %q Content-Length %d and no body", path,
				head.status, head.header.Get("Content-Type"), head.header.Get("Content-Length"), len(head.body),
				get.status, get.header.Get("Content-Type"), len(get.body))
		}
	}
}
