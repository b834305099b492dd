package gateway

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

// venue is a program of 3 stops and two sections: A has rows 1 (vip)
// and 2 (std) of 5 seats; B one row of 3 std seats and 3 vip ones, with a
// gap in the columns and labels of their own (B1, B2, ...).
func (s *testSystem) venue(id string) {
	s.t.Helper()
	seats := func(cat string, cols []int, label string) []map[string]any {
		var out []map[string]any
		for _, c := range cols {
			st := map[string]any{"col": c, "category": cat}
			if label != "" {
				st["label"] = label + strconv.Itoa(c)
			}
			out = append(out, st)
		}
		return out
	}
	s.want(s.do("POST", "/v1/programs", adminToken, map[string]any{
		"id": id, "stops": []string{"x", "y", "z"}, "max_seats_per_hold": 4, "max_seats_per_user": 16,
		"categories": []map[string]any{{"id": "vip", "name": "VIP", "price_cents": 500}, {"id": "std", "name": "Std", "price_cents": 200}},
		"layout": map[string]any{"sections": []map[string]any{
			{"id": "A", "name": "Stalls", "rows": []map[string]any{
				{"id": "1", "rank": 1, "seats": seats("vip", []int{1, 2, 3, 4, 5}, "")},
				{"id": "2", "rank": 2, "seats": seats("std", []int{1, 2, 3, 4, 5}, "")}}},
			{"id": "B", "name": "Balcony", "rows": []map[string]any{
				{"id": "1", "rank": 3, "seats": append(seats("std", []int{1, 2, 3}, "B"), seats("vip", []int{5, 6, 7}, "B")...)}}},
		}},
	}, nil), 201, "")
	s.want(s.do("POST", "/v1/programs/"+id+"/open", adminToken, nil, nil), 200, "")
}

// TestSeatMapFormats: the full format keeps the contract's shape, with
// category and section filters; the compact format gives the same
// statuses a character a seat, which joined with the layout of GET
// /v1/programs/{id} is the same map; a full map over the limit is
// refused with a 422 that says what to do; bad parameters are 422s that
// name them.
func TestSeatMapFormats(t *testing.T) {
	s := startSystem(t, func(c *Config) { c.MaxFullSeatMapSeats = 8 })
	s.venue("v")
	buyer := s.token(3)
	s.want(s.do("POST", "/v1/programs/v/holds", buyer, map[string]any{"seats": []string{"A/1/2", "B/1/5"}}, nil), 201, "")
	s.want(s.do("POST", "/v1/programs/v/holds", buyer, map[string]any{"seats": []string{"A/2/1"}, "from": 1, "to": 2}, nil), 201, "")
	s.want(s.do("POST", "/v1/programs/v/blocks", adminToken, map[string]any{"seats": []string{"B/1/7"}}, nil), 200, "")

	type seat struct{ ID, Section, Row, Label, Category, Status string }
	full := func(query string) []seat {
		t.Helper()
		r := s.do("GET", "/v1/programs/v/seats?"+query, "", nil, nil)
		var out struct{ Seats []seat }
		if r.status != 200 || json.Unmarshal(r.body, &out) != nil {
			t.Fatalf("GET seats?%s = %d %s", query, r.status, r.body)
		}
		return out.Seats
	}
	compact := func(query string) string { // "section/row:statuses ..."
		t.Helper()
		r := s.do("GET", "/v1/programs/v/seats?format=compact&"+query, "", nil, nil)
		var out struct {
			Format   string
			Sections []struct {
				ID   string
				Rows []struct{ ID, Statuses string }
			}
		}
		if r.status != 200 || json.Unmarshal(r.body, &out) != nil || out.Format != "compact" {
			t.Fatalf("GET seats?format=compact&%s = %d %s", query, r.status, r.body)
		}
		var rows []string
		for _, sec := range out.Sections {
			for _, row := range sec.Rows {
				rows = append(rows, sec.ID+"/"+row.ID+":"+row.Statuses)
			}
		}
		return strings.Join(rows, " ")
	}
	for _, tc := range []struct{ query, want string }{
		{"", "A/1:fhfff A/2:hffff B/1:fffhfb"},
		{"from=1", "A/1:fhfff A/2:hffff B/1:fffhfb"},
		{"from=0&to=1", "A/1:fhfff A/2:fffff B/1:fffhfb"},
		{"category=vip", "A/1:fhfff B/1:...hfb"},
		{"category=std&to=1", "A/2:fffff B/1:fff..."},
		{"section=B", "B/1:fffhfb"},
		{"section=A&category=std&from=1", "A/2:hffff"},
		{"section=A&category=vip&to=1", "A/1:fhfff"},
	} {
		if got := compact(tc.query); got != tc.want {
			t.Errorf("compact map ?%s = %q; want %q", tc.query, got, tc.want)
		}
	}
	p := s.do("GET", "/v1/programs/v/seats?section=B&category=vip", "", nil, nil)
	if len(full("section=B&category=vip")) != 3 || !strings.Contains(string(p.body), `"id":"B/1/5","section":"B","row":"1","col":5,"label":"B5","category":"vip","status":"held"`) {
		t.Fatalf("full map of section B's vip seats = %s", p.body)
	}

	// The compact map joined with the program's layout is the full map.
	var prog struct {
		Layout struct {
			Sections []struct {
				ID   string
				Rows []struct {
					ID    string
					Seats []struct {
						Col      int
						Label    string
						Category string
					}
				}
			}
		}
	}
	json.Unmarshal(s.do("GET", "/v1/programs/v", "", nil, nil).body, &prog)
	statuses := map[byte]string{'f': "free", 'h': "held", 's': "sold", 'b': "blocked"}
	for _, q := range []string{"category=vip", "section=B&from=1", "category=std&section=A"} {
		rows := map[string]string{}
		for _, r := range strings.Fields(compact(q)) {
			key, st, _ := strings.Cut(r, ":")
			rows[key] = st
		}
		var joined []seat
		for _, sec := range prog.Layout.Sections {
			for _, row := range sec.Rows {
				st, ok := rows[sec.ID+"/"+row.ID]
				if !ok {
					continue
				}
				if len(st) != len(row.Seats) {
					t.Fatalf("compact row %s/%s has %d statuses for %d seats", sec.ID, row.ID, len(st), len(row.Seats))
				}
				for i, l := range row.Seats {
					if st[i] == '.' {
						continue
					}
					label := l.Label
					if label == "" {
						label = strconv.Itoa(l.Col)
					}
					joined = append(joined, seat{fmt.Sprintf("%s/%s/%d", sec.ID, row.ID, l.Col), sec.ID, row.ID, label, l.Category, statuses[st[i]]})
				}
			}
		}
		if got, want := fmt.Sprint(joined), fmt.Sprint(full(q)); got != want {
			t.Errorf("?%s: the compact map with the layout gives\n%s\nthe full map is\n%s", q, got, want)
		}
	}

	// Past the full format's 8 seats: refused, saying what to do.
	r := s.do("GET", "/v1/programs/v/seats", "", nil, nil)
	msg, _ := r.json(t)["error"].(map[string]any)["message"].(string)
	if r.status != 422 || r.code(t) != "SEAT_MAP_TOO_LARGE" || !strings.Contains(msg, "16 seats") || !strings.Contains(msg, "section=") ||
		!strings.Contains(msg, "format=compact") {
		t.Fatalf("a full map of 16 seats over a limit of 8 = %d %s; want 422 SEAT_MAP_TOO_LARGE saying to page or use the compact format", r.status, r.body)
	}
	if n := len(full("category=std")); n != 8 {
		t.Fatalf("full map of category std: %d seats; want 8", n)
	}
	r = s.do("GET", "/v1/programs/v/seats?section=A", "", nil, nil)
	msg, _ = r.json(t)["error"].(map[string]any)["message"].(string)
	if r.status != 422 || r.code(t) != "SEAT_MAP_TOO_LARGE" || !strings.HasSuffix(msg, "ask for format=compact") || strings.Contains(msg, "section=") {
		t.Fatalf("a full map of a 10-seat section over a limit of 8 = %d %s; want 422 SEAT_MAP_TOO_LARGE saying to use the compact format", r.status, r.body)
	}

	for _, tc := range []struct{ query, code, says string }{
		{"section=Z", "INVALID_ARGUMENT", "section: "},
		{"section=", "INVALID_ARGUMENT", "section: "},
		{"section=A&section=B", "INVALID_ARGUMENT", "section: given more than once"},
		{"format=xml", "INVALID_ARGUMENT", "format: "},
		{"format=", "INVALID_ARGUMENT", "format: "},
		{"category=balcony", "UNKNOWN_CATEGORY", "category: "},
		{"to=3", "INVALID_ARGUMENT", "to: "},
		{"from=2", "INVALID_ARGUMENT", "from: "},
		{"from=1&to=1", "INVALID_ARGUMENT", "to: "},
		{"from=-1", "INVALID_ARGUMENT", "from: "},
		{"from=0&from=1", "INVALID_ARGUMENT", "from: given more than once"},
	} {
		r := s.do("GET", "/v1/programs/v/seats?"+tc.query, "", nil, nil)
		msg, _ := r.json(t)["error"].(map[string]any)["message"].(string)
		if r.status != 422 || r.code(t) != tc.code || !strings.HasPrefix(msg, tc.says) {
			t.Errorf("GET seats?%s = %d %s; want 422 %s saying %q", tc.query, r.status, r.body, tc.code, tc.says)
		}
	}
}

// TestLayoutFetchedOnce: the gateway that creates a program keeps its
// layout from the create's answer; any other fetches it from seatd once,
// however many different seat maps and availability answers are asked
// for.
func TestLayoutFetchedOnce(t *testing.T) {
	s := startSystem(t, func(c *Config) { c.SeatMapMaxAge = time.Nanosecond })
	before := s.rpcCalls("GetProgram")
	s.venue("v")
	s.want(s.do("GET", "/v1/programs/v/seats", "", nil, nil), 200, "")
	if n := s.rpcCalls("GetProgram") - before; n != 0 {
		t.Fatalf("%d GetProgram calls for a create and a seat map; want none: the create's answer has the layout", n)
	}
	s.forgetLayout("v") // as a gateway that did not create it
	before = s.rpcCalls("GetProgram")
	for _, q := range []string{"", "from=1", "category=vip", "section=B", "format=compact", "format=compact&section=A&from=1"} {
		for range 3 {
			s.want(s.do("GET", "/v1/programs/v/seats?"+q, "", nil, nil), 200, "")
		}
	}
	for _, q := range []string{"", "from=1", "to=1"} {
		s.want(s.do("GET", "/v1/programs/v/availability?"+q, "", nil, nil), 200, "")
	}
	if n := s.rpcCalls("GetProgram") - before; n != 1 {
		t.Fatalf("%d GetProgram calls for 21 seat maps and availability answers of one program; want 1", n)
	}
	if st := s.gw.cache.stats(); st.Layouts != 1 {
		t.Fatalf("cache stats %+v; want 1 layout", st)
	}
	m := string(s.do("GET", "/metrics", "", nil, nil).body)
	for _, want := range []string{`gateway_layouts_total{source="created"} 1`, `gateway_layouts_total{source="fetched"} 1`, "gateway_layout_builds 0"} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestCacheStaysInBudget: anonymous readers asking for many different
// maps, large and small, never take the cache past its byte budget;
// answers over the entry limit are served but not kept.
func TestCacheStaysInBudget(t *testing.T) {
	const budget, maxEntry = 64 << 10, 16 << 10
	s := startSystem(t, func(c *Config) { c.CacheBytes, c.MaxCacheEntryBytes, c.MaxFullSeatMapSeats = budget, maxEntry, 1000 })
	// 3 sections of 10 rows of 100 seats, 4 stops: a compact map of all of
	// it is 4 KB, a full-format section 100 KB.
	s.want(s.do("POST", "/v1/programs", adminToken, map[string]any{
		"id": "big", "stops": []string{"a", "b", "c", "d"},
		"categories": []map[string]any{{"id": "x", "price_cents": 1}, {"id": "y", "price_cents": 2}},
		"grid":       map[string]any{"sections": 3, "rows": 10, "cols": 100, "categories": []map[string]any{{"id": "x", "rows": []int{1, 5}}, {"id": "y", "rows": []int{6, 10}}}},
	}, nil), 201, "")
	var queries []string
	for _, legs := range []string{"from=0&to=1", "from=0&to=2", "from=0&to=3", "from=1&to=2", "from=1&to=3", "from=2&to=3"} {
		for _, cat := range []string{"", "&category=x", "&category=y"} {
			for _, sec := range []string{"", "&section=A", "&section=B", "&section=C"} {
				queries = append(queries, "/v1/programs/big/seats?format=compact&"+legs+cat+sec)
				if sec != "" {
					queries = append(queries, "/v1/programs/big/seats?"+legs+cat+sec)
				}
			}
		}
		queries = append(queries, "/v1/programs/big/availability?"+legs)
	}
	rand.Shuffle(len(queries), func(i, j int) { queries[i], queries[j] = queries[j], queries[i] })
	for _, q := range queries {
		s.want(s.do("GET", q, "", nil, nil), 200, "")
		if st := s.gw.cache.stats(); st.Bytes > budget {
			t.Fatalf("after GET %s the cache holds %d bytes, over its budget of %d: %+v", q, st.Bytes, budget, st)
		}
	}
	st := s.gw.cache.stats()
	if st.Evictions == 0 || st.Oversize == 0 || st.Layouts != 1 || st.Answers < 5 {
		t.Fatalf("after %d different answers: %+v; want evictions, oversize answers left out, the layout and some answers kept", len(queries), st)
	}
	m := string(s.do("GET", "/metrics", "", nil, nil).body)
	for _, name := range []string{"gateway_cache_bytes", "gateway_cache_budget_bytes 65536", "gateway_cache_answers", "gateway_cache_layouts 1",
		"gateway_cache_evictions_total", "gateway_cache_oversize_total", `gateway_versioned_answers_total{kind="seats",served="oversize"}`,
		"gateway_token_cache_bytes"} {
		if !strings.Contains(m, "\n"+name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	t.Logf("%d different answers: %+v", len(queries), st)
}
