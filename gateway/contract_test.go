package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"seatd/inventory"
	rpc "seatd/kitex_gen/inventoryrpc"
)

// on returns the system for a subtest, so that its helpers fail that
// subtest.
func (s *testSystem) on(t *testing.T) *testSystem {
	c := *s
	c.t, c.seen = t, nil
	return &c
}

// open creates a program from spec and opens its sale.
func (s *testSystem) open(spec map[string]any) {
	s.t.Helper()
	s.want(s.do("POST", "/v1/programs", adminToken, spec, nil), http.StatusCreated, "")
	s.want(s.do("POST", "/v1/programs/"+spec["id"].(string)+"/open", adminToken, nil, nil), http.StatusOK, "")
}

// refused checks an error answer: its status and code, that its message
// says each of says, and that its details hold details (compared as
// printed, so that 3 matches the JSON number 3).
func (s *testSystem) refused(r reply, status int, code string, details map[string]any, says ...string) {
	s.t.Helper()
	e, _ := r.json(s.t)["error"].(map[string]any)
	msg, _ := e["message"].(string)
	got, _ := e["details"].(map[string]any)
	ok := r.status == status && e["code"] == code
	for _, w := range says {
		ok = ok && strings.Contains(msg, w)
	}
	for k, v := range details {
		ok = ok && fmt.Sprint(got[k]) == fmt.Sprint(v)
	}
	if !ok {
		s.t.Errorf("answer %d %s;\nwant %d %s with details %v saying %q", r.status, r.body, status, code, details, says)
	}
}

// TestEveryResultMapped: every engine result has a status and a code,
// and its refusal a message.
func TestEveryResultMapped(t *testing.T) {
	for r := inventory.Result(1); !strings.HasPrefix(r.String(), "result_"); r++ {
		m, ok := resultErrors[r]
		if !ok || m.status < 400 || m.code == "" {
			t.Errorf("result %v maps to %v (%v); want a 4xx or 5xx status and a code", r, m, ok)
			continue
		}
		e := statusError(&rpc.Status{Route: rpc.Route_OK, Code: int32(r), CodeName: r.String()})
		if e == nil || e.Status != m.status || e.Code != m.code || e.Message == "" {
			t.Errorf("statusError(%v) = %+v; want %d %s with a message", r, e, m.status, m.code)
		}
	}
}

// TestIdempotency: the first outcome of a request, refusal or hold,
// answers every repeat under its key; a different request under a used
// key is refused; the bound on remembered refusals answers "retry"; and
// while seatd is out of reach nothing is answered definitely.
func TestIdempotency(t *testing.T) {
	// One remembered refusal at most, so that the bound is reached.
	s := startSystemEngine(t, inventory.Config{MaxRefusals: 1}, func(c *Config) { c.RequestTimeout = time.Second })
	s.open(map[string]any{"id": "show", "categories": []map[string]any{{"id": "a", "price_cents": 100}, {"id": "b", "price_cents": 50}},
		"grid": map[string]any{"sections": 1, "rows": 2, "cols": 4, "categories": []map[string]any{{"id": "a", "rows": []int{1, 1}}, {"id": "b", "rows": []int{2, 2}}}}})
	path := "/v1/programs/show/holds"
	buyerA, buyerB := s.token(1), s.token(2)
	key := func(k string) map[string]string { return map[string]string{"Idempotency-Key": k} }

	// The example: B holds A/1/1; A asks for it under k1 and is
	// refused; B gives it back; A's repeat of k1 is refused again.
	bHold := s.do("POST", path, buyerB, map[string]any{"seats": []string{"A/1/1"}}, nil)
	s.want(bHold, 201, "")
	first := s.do("POST", path, buyerA, map[string]any{"seats": []string{"A/1/1"}}, key("k1"))
	s.refused(first, 409, "SEAT_TAKEN", map[string]any{"field": "seats[0]", "index": 0, "seat": "A/1/1", "result": "seat_taken"}, `"A/1/1"`)
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("a first refusal says Idempotent-Replayed: %q", first.header.Get("Idempotent-Replayed"))
	}
	s.want(s.do("DELETE", "/v1/holds/"+bHold.json(t)["hold_id"].(string), buyerB, nil, nil), 200, "")
	again := s.do("POST", path, buyerA, map[string]any{"seats": []string{"A/1/1"}}, key("k1"))
	if again.status != first.status || !bytes.Equal(again.body, first.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("k1 repeated after the seat came free = %d %s (Idempotent-Replayed %q); want the first answer %d %s, replayed",
			again.status, again.body, again.header.Get("Idempotent-Replayed"), first.status, first.body)
	}
	for _, body := range []string{`{"category":"a","count":2}`, `{"category":"b","count":1}`} {
		s.refused(s.do("POST", path, buyerA, body, key("k1")), 422, "IDEMPOTENCY_KEY_REUSED",
			map[string]any{"field": "Idempotency-Key", "result": "request_reused"}, "Idempotency-Key")
	}

	// A hold: the same request (defaults spelled out or not) is replayed,
	// a different one refused; once released, a repeat answers 200 with
	// the hold as it is now.
	h := s.do("POST", path, buyerA, `{"category":"a","count":2}`, key("k2"))
	s.want(h, 201, "")
	s.refused(s.do("POST", path, buyerA, `{"category":"b","count":1}`, key("k2")), 422, "IDEMPOTENCY_KEY_REUSED", nil)
	r := s.do("POST", path, buyerA, `{"category":"a","count":2,"together":true,"accessible":false,"from":0,"to":1}`, key("k2"))
	if r.status != 201 || r.header.Get("Idempotent-Replayed") != "true" || r.json(t)["hold_id"] != h.json(t)["hold_id"] {
		t.Errorf("k2 repeated = %d %s; want 201, the first hold %s, replayed", r.status, r.body, h.body)
	}
	s.want(s.do("DELETE", "/v1/holds/"+h.json(t)["hold_id"].(string), buyerA, nil, nil), 200, "")
	r = s.do("POST", path, buyerA, `{"category":"a","count":2}`, key("k2"))
	if r.status != 200 || r.header.Get("Idempotent-Replayed") != "true" || r.json(t)["hold_id"] != h.json(t)["hold_id"] || r.json(t)["status"] != "RELEASED" {
		t.Errorf("k2 repeated after its hold was released = %d %s; want 200 with the hold RELEASED, replayed", r.status, r.body)
	}

	// A refusal the request alone decides is not remembered: the key
	// stays unused.
	s.refused(s.do("POST", path, buyerA, `{"category":"c","count":1}`, key("k3")), 422, "UNKNOWN_CATEGORY", map[string]any{"field": "category"}, `"c"`)
	k3 := s.do("POST", path, buyerA, `{"category":"b","count":1}`, key("k3"))
	s.want(k3, 201, "")
	if k3.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("a new request under a key whose only use was refused for its content is replayed: %s", k3.body)
	}

	// k1's refusal fills the table (bound 1) and is younger than
	// RefusalGrace: another refusal to remember cannot be, so it is a
	// 503 to retry, not an answer that a repeat could contradict.
	taken := k3.json(t)["seats"].([]any)[0].(map[string]any)["id"].(string)
	full := s.do("POST", path, buyerB, map[string]any{"seats": []string{taken}}, key("k4"))
	s.refused(full, 503, "OVERLOADED", map[string]any{"result": "refusals_full"})
	if full.header.Get("Retry-After") == "" {
		t.Errorf("refusals_full without Retry-After: %v", full.header)
	}

	// seatd out of reach: an earlier attempt may still apply, so every
	// answer is a 503 to retry, never a refusal.
	s.stopSeatd()
	for _, rq := range []struct {
		method, path, token string
		body                any
		header              map[string]string
	}{
		{"POST", path, buyerA, map[string]any{"seats": []string{"A/1/1"}}, key("k1")},
		{"DELETE", "/v1/holds/" + k3.json(t)["hold_id"].(string), buyerA, nil, nil},
	} {
		r := s.do(rq.method, rq.path, rq.token, rq.body, rq.header)
		if r.status != 503 || r.code(t) != "UNAVAILABLE" || r.header.Get("Retry-After") == "" {
			t.Errorf("%s %s with seatd out of reach = %d %s (Retry-After %q); want 503 UNAVAILABLE with Retry-After",
				rq.method, rq.path, r.status, r.body, r.header.Get("Retry-After"))
		}
	}
}

// Resident ID numbers (GB 11643-1999) for the real-name tests: the first
// ends in the check character X.
const (
	idLiLei    = "11010119900104803X"
	idHanMeiMi = "110101198505051238"
)

// TestRefusalsSayWhatWasWrong: every kind of refusal names the field as
// the client wrote it (and the holder, seat or stop range), with the
// machine-readable part in details; numbers are range-checked before
// any conversion; a body of the wrong shape is described in JSON terms;
// program ids are ones a URL carries as they are.
func TestRefusalsSayWhatWasWrong(t *testing.T) {
	s := startSystem(t)
	s.arena("show") // max 4 per hold, 8 per user; vip 50000, std 20000
	s.open(map[string]any{"id": "g1", "stops": []string{"Beijing", "Jinan", "Nanjing", "Shanghai"}, "real_name": true,
		"max_seats_per_hold": 2, "max_seats_per_user": 3, "categories": []map[string]any{{"id": "second", "price_cents": 55300}},
		"grid": map[string]any{"sections": 1, "rows": 2, "cols": 5, "categories": []map[string]any{{"id": "second", "rows": []int{1, 2}}}}})
	holder := func(name, id string) []map[string]any { return []map[string]any{{"name": name, "id_number": id}} }

	t.Run("stop ranges", func(t *testing.T) {
		s := s.on(t)
		buyer := s.token(30)
		for _, tc := range []struct {
			method, path string
			body         any
			field        string
			limit        int
		}{
			{"POST", "/v1/programs/g1/holds", map[string]any{"count": 1, "to": 9, "holders": holder("Li Lei", idLiLei)}, "to", 3},
			{"POST", "/v1/programs/g1/holds", map[string]any{"count": 1, "from": 3, "holders": holder("Li Lei", idLiLei)}, "from", 2},
			{"POST", "/v1/programs/g1/holds", map[string]any{"count": 1, "from": 2, "to": 1, "holders": holder("Li Lei", idLiLei)}, "to", 3},
			{"POST", "/v1/programs/g1/holds", map[string]any{"count": 1, "from": 4294967296, "holders": holder("Li Lei", idLiLei)}, "from", 2},
			{"GET", "/v1/programs/g1/availability?to=9", nil, "to", 3},
			{"GET", "/v1/programs/g1/seats?from=3", nil, "from", 2},
			{"GET", "/v1/programs/g1/seats?from=4294967296", nil, "from", 2},
			{"POST", "/v1/programs/g1/blocks", map[string]any{"seats": []string{"A/1/1"}, "to": 9}, "to", 3},
		} {
			token := buyer
			if tc.path == "/v1/programs/g1/blocks" {
				token = adminToken
			}
			s.refused(s.do(tc.method, tc.path, token, tc.body, nil), 422, "INVALID_ARGUMENT", map[string]any{"field": tc.field, "limit": tc.limit},
				tc.field+": ", "stops are 0-3")
		}
		// A block from 2^32 wrapped to 0 and blocked the seat.
		s.refused(s.do("POST", "/v1/programs/show/blocks", adminToken, `{"seats":["A/3/1"],"from":4294967296}`, nil), 422, "INVALID_ARGUMENT",
			map[string]any{"field": "from"}, "stops are 0-1")
		if sm := s.do("GET", "/v1/programs/show/seats?category=std", "", nil, nil); !strings.Contains(string(sm.body), `"id":"A/3/1","section":"A","row":"3","col":1,"label":"1","category":"std","status":"free"`) {
			t.Errorf("A/3/1 after a refused block: %s", sm.body)
		}
	})

	t.Run("limits, prices and seats", func(t *testing.T) {
		s := s.on(t)
		buyer, path := s.token(31), "/v1/programs/show/holds"
		s.refused(s.do("POST", path, buyer, `{"count":5}`, nil), 422, "LIMIT_EXCEEDED",
			map[string]any{"field": "count", "limit": 4, "result": "hold_limit_exceeded"}, "count: 5 seats, at most 4")
		s.refused(s.do("POST", path, buyer, `{"seats":["A/2/1"],"expected_total_cents":100}`, nil), 409, "PRICE_MISMATCH",
			map[string]any{"field": "expected_total_cents", "total_cents": 20000}, "expected_total_cents: 100, but the seats cost 20000")
		s.refused(s.do("POST", path, buyer, `{"seats":["A/2/1","A/9/9"]}`, nil), 422, "UNKNOWN_SEAT",
			map[string]any{"field": "seats[1]", "index": 1, "seat": "A/9/9"}, `seats[1]: no seat "A/9/9"`)
		s.refused(s.do("POST", path, buyer, `{"seats":["A/2/1","A/2/1"]}`, nil), 422, "INVALID_ARGUMENT",
			map[string]any{"field": "seats[1]", "index": 1}, "named twice")
		s.refused(s.do("POST", path, buyer, `{"category":"vip","seats":["A/2/1"]}`, nil), 422, "WRONG_CATEGORY",
			map[string]any{"field": "seats[0]", "seat": "A/2/1"}, `not in category "vip"`)
		for range 2 {
			s.want(s.do("POST", path, buyer, `{"category":"std","count":4}`, nil), 201, "")
		}
		s.refused(s.do("POST", path, buyer, `{"count":1}`, nil), 409, "LIMIT_EXCEEDED",
			map[string]any{"field": "count", "limit": 8, "seats_held": 8, "result": "user_limit_exceeded"}, "at most 8 per buyer")
		s.refused(s.do("POST", "/v1/programs/show/blocks", adminToken, `{"seats":["A/3/2","A/3/2"]}`, nil), 422, "INVALID_ARGUMENT",
			map[string]any{"field": "seats[1]", "index": 1}, "named twice")
		s.refused(s.do("POST", "/v1/programs/show/blocks", adminToken, `{"seats":["A/3/2","Z/1/1"]}`, nil), 422, "UNKNOWN_SEAT",
			map[string]any{"field": "seats[1]", "seat": "Z/1/1"}, `seats[1]: no seat "Z/1/1"`)
		// An explicit layout's error is the layout's, as a grid's is.
		s.refused(s.do("POST", "/v1/programs", adminToken, map[string]any{"id": "lay", "categories": []map[string]any{{"id": "a", "price_cents": 1}},
			"layout": map[string]any{"sections": []map[string]any{{"id": "A", "rows": []map[string]any{{"id": "1", "rank": 1,
				"seats": []map[string]any{{"col": 1, "category": "a"}, {"col": 1, "category": "a"}}}}}}}}, nil),
			422, "INVALID_LAYOUT", map[string]any{"field": "layout"}, "layout: ", "duplicate seat")
	})

	t.Run("holders", func(t *testing.T) {
		s := s.on(t)
		path := "/v1/programs/g1/holds"
		hold := func(buyer int64, from, to int, holders []map[string]any) reply {
			return s.do("POST", path, s.token(buyer), map[string]any{"count": len(holders), "from": from, "to": to, "holders": holders}, nil)
		}
		s.want(hold(40, 0, 2, holder("Li Lei", idLiLei)), 201, "")
		// The same person however the number is typed: a lower-case x,
		// full-width digits and letters, spaces (ideographic ones too).
		for _, id := range []string{"11010119900104803x", "１１０１０１１９９００１０４８０３Ｘ", "110101 19900104 803x", "　１１０１０１　１９９００１０４　８０３ｘ"} {
			s.refused(hold(41, 1, 3, holder("Li Lei", id)), 409, "LIMIT_EXCEEDED",
				map[string]any{"field": "holders[0].id_number", "index": 0, "result": "holder_limit_exceeded"}, "holders[0].id_number: ")
		}
		s.want(hold(41, 2, 3, holder("Li Lei", "11010119900104803x")), 201, "") // no overlap
		s.refused(hold(42, 0, 1, []map[string]any{{"name": "Han Meimei", "id_number": idHanMeiMi}, {"name": "Han", "id_number": "110101 19850505 1238"}}),
			422, "HOLDERS_MISMATCH", map[string]any{"field": "holders[1].id_number", "index": 1}, "holders[1].id_number: the same person as holders[0]")
		s.refused(hold(42, 0, 1, holder("Han Meimei", "110101198505051239")), 422, "HOLDERS_MISMATCH",
			map[string]any{"field": "holders[0].id_number", "index": 0}, "not a resident ID number")
		s.refused(hold(42, 0, 1, holder(" ", idHanMeiMi)), 422, "HOLDERS_MISMATCH", map[string]any{"field": "holders[0].name", "index": 0}, "holders[0].name: ")
		s.refused(hold(42, 0, 1, []map[string]any{{"name": "Han Meimei", "id_number": idHanMeiMi, "id_type": "driver"}}), 422, "HOLDERS_MISMATCH",
			map[string]any{"field": "holders[0].id_type", "index": 0}, "resident_id or passport")
		s.refused(hold(42, 0, 1, []map[string]any{{"name": "John Smith", "id_number": "E12", "id_type": "passport"}}), 422, "HOLDERS_MISMATCH",
			map[string]any{"field": "holders[0].id_number"}, "not a passport number")
		s.refused(s.do("POST", path, s.token(42), map[string]any{"count": 2, "holders": holder("Han Meimei", idHanMeiMi)}, nil), 422, "HOLDERS_MISMATCH",
			map[string]any{"field": "holders", "limit": 2}, "1 given for 2 seats")
		s.want(hold(42, 0, 1, []map[string]any{{"name": "John Smith", "id_number": "e 1234567", "id_type": "passport"}}), 201, "")
		// One number is one person whatever its type, and the message says so.
		s.refused(hold(43, 0, 1, []map[string]any{{"name": "C", "id_number": idHanMeiMi}, {"name": "D", "id_number": idHanMeiMi, "id_type": "passport"}}),
			422, "HOLDERS_MISMATCH", map[string]any{"field": "holders[1].id_number", "index": 1}, "the same person as holders[0]")
		// A name that was not text (a lone surrogate, invalid UTF-8) reads
		// as U+FFFD: refused, so that two such names are never one request.
		for _, body := range []string{`{"count":1,"from":0,"to":1,"holders":[{"name":"Wang\ud800","id_number":"` + idHanMeiMi + `"}]}`,
			"{\"count\":1,\"from\":0,\"to\":1,\"holders\":[{\"name\":\"Zhao\xff\",\"id_number\":\"" + idHanMeiMi + "\"}]}"} {
			s.refused(s.do("POST", path, s.token(44), body, nil), 422, "HOLDERS_MISMATCH", map[string]any{"field": "holders[0].name"}, "U+FFFD")
		}
	})

	t.Run("numbers in range", func(t *testing.T) {
		s := s.on(t)
		base := func(id string, set map[string]any) map[string]any {
			p := map[string]any{"id": id, "categories": []map[string]any{{"id": "a", "price_cents": 100}},
				"grid": map[string]any{"sections": 1, "rows": 1, "cols": 4, "categories": []map[string]any{{"id": "a", "rows": []int{1, 1}}}}}
			for k, v := range set {
				p[k] = v
				if v == nil { // left out
					delete(p, k)
				}
			}
			return p
		}
		grid := func(sections, rows, cols int64, catRows ...int64) map[string]any {
			return map[string]any{"sections": sections, "rows": rows, "cols": cols, "categories": []map[string]any{{"id": "a", "rows": catRows}}}
		}
		layout := func(rank, col int64) map[string]any {
			return map[string]any{"sections": []map[string]any{{"id": "A", "rows": []map[string]any{{"id": "1", "rank": rank,
				"seats": []map[string]any{{"col": col, "category": "a"}}}}}}}
		}
		for _, tc := range []struct {
			set   map[string]any
			code  string
			field string
		}{
			{map[string]any{"hold_ttl_seconds": int64(36028797018964568)}, "INVALID_ARGUMENT", "hold_ttl_seconds"},
			{map[string]any{"hold_ttl_seconds": -1}, "INVALID_ARGUMENT", "hold_ttl_seconds"},
			{map[string]any{"max_seats_per_hold": int64(4294967297)}, "INVALID_ARGUMENT", "max_seats_per_hold"},
			{map[string]any{"max_seats_per_user": int64(4294967302)}, "INVALID_ARGUMENT", "max_seats_per_user"},
			{map[string]any{"max_seats_per_hold": 8, "max_seats_per_user": 7}, "INVALID_ARGUMENT", "max_seats_per_user"},
			{map[string]any{"categories": []map[string]any{{"id": "a", "price_cents": int64(1e17)}}}, "INVALID_ARGUMENT", "categories[0].price_cents"},
			{map[string]any{"stops": []string{"only"}}, "INVALID_ARGUMENT", "stops"},
			{map[string]any{"grid": grid(2, 1<<53, 1024, 1, 1)}, "INVALID_LAYOUT", "grid.rows"},
			{map[string]any{"grid": grid(1<<62, 4, 1, 1, 1)}, "INVALID_LAYOUT", "grid.sections"},
			{map[string]any{"grid": grid(4096, 1024, 1, 1, 1024)}, "INVALID_LAYOUT", "grid"},
			{map[string]any{"grid": grid(1, 2, 2, 1, 4294967298)}, "INVALID_LAYOUT", "grid.categories[0].rows"},
			{map[string]any{"grid": grid(1, 2, 2, 1)}, "INVALID_LAYOUT", "grid.categories[0].rows"},
			{map[string]any{"grid": nil, "layout": layout(1, 4294967297)}, "INVALID_LAYOUT", "layout.sections[0].rows[0].seats[0].col"},
			{map[string]any{"grid": nil, "layout": layout(4294967296, 1)}, "INVALID_LAYOUT", "layout.sections[0].rows[0].rank"},
		} {
			s.refused(s.do("POST", "/v1/programs", adminToken, base("n", tc.set), nil), 422, tc.code, map[string]any{"field": tc.field}, tc.field+": ")
		}
		s.want(s.do("GET", "/v1/programs/n", "", nil, nil), 404, "NOT_FOUND")
		buyer := s.token(32)
		for _, tc := range []struct {
			body, field string
		}{
			{`{"count":4294967297}`, "count"},
			{`{"seats":["A/2/2"],"count":4294967297}`, "count"},
			{`{"count":1,"expected_total_cents":-1}`, "expected_total_cents"},
			{`{"count":1,"to":-4294967295}`, "to"},
		} {
			s.refused(s.do("POST", "/v1/programs/show/holds", buyer, tc.body, nil), 422, "INVALID_ARGUMENT", map[string]any{"field": tc.field}, tc.field+": ")
		}
	})

	// Every decode error names the field as the client wrote it, with
	// list positions, in the message and in details.field, and the JSON
	// type it wants: never a Go name (programFields.name, an embedded
	// struct), never a path without its positions (holders.id_number).
	t.Run("wrong shapes", func(t *testing.T) {
		s := s.on(t)
		goType := regexp.MustCompile(`int32|int64|uint|float|\[\]|gateway\.|struct|map\[|bool\b|programFields|Go `)
		layout := func(seats string) string {
			return `{"layout":{"sections":[{"id":"A","rows":[{"id":"1","seats":` + seats + `}]}]}}`
		}
		for _, tc := range []struct {
			path, body, field, says string
		}{
			{"/v1/programs/show/holds", `{"count":"two"}`, "count", "count: want an integer, got a string"},
			{"/v1/programs/show/holds", `{"count":1,"count":2}`, "count", "count: given more than once"},
			{"/v1/programs/show/holds", `{"count":1,"holders":[{"name":"A","name":"B","id_number":"x"}]}`, "holders[0].name", "holders[0].name: given more than once"},
			{"/v1/programs/show/holds", `{"count":99999999999999999999}`, "count", "count: 99999999999999999999 is out of range: want an integer from 1 to 64"},
			{"/v1/programs/show/holds", `{"count":1,"from":-99999999999999999999}`, "from", "from: -99999999999999999999 is out of range: want an integer from 0 to 63"},
			{"/v1/programs/show/holds", `{"count":1,"expected_total_cents":99999999999999999999}`, "expected_total_cents",
				"expected_total_cents: 99999999999999999999 is out of range: want an integer from 0 to 9223372036854775807"},
			{"/v1/programs/show/holds", `{"count":1.5}`, "count", "count: want an integer, got 1.5"},
			{"/v1/programs/show/holds", `{"count":true}`, "count", "count: want an integer, got true"},
			{"/v1/programs/show/holds", `{"seats":"A/1/1"}`, "seats", "seats: want a list of strings, got a string"},
			{"/v1/programs/show/holds", `{"seats":["A/1/1",5]}`, "seats[1]", "seats[1]: want a string, got a number"},
			{"/v1/programs/show/holds", `{"seats":["A/1/1",{"x":1}]}`, "seats[1]", "seats[1]: want a string, got an object"},
			{"/v1/programs/show/holds", `{"holders":{}}`, "holders", "holders: want a list of objects, got an object"},
			{"/v1/programs/show/holds", `{"holders":[{"name":"a","id_number":"x"},{"name":"b","id_number":5}]}`, "holders[1].id_number",
				"holders[1].id_number: want a string, got a number"},
			{"/v1/programs/show/holds", `{"holders":[{"name":"a","id_number":"x"},{"nam":"b"}]}`, "holders[1].nam", `holders[1]: unknown field "nam"`},
			{"/v1/programs/show/holds", `{"holders":[{"name":"a","ID_NUMBER":"x"}]}`, "holders[0].ID_NUMBER",
				`holders[0]: unknown field "ID_NUMBER": names are exact, this one is "id_number"`},
			{"/v1/programs/show/holds", `{"together":1}`, "together", "together: want true or false, got a number"},
			{"/v1/programs/show/holds", `[]`, "", "the body: want an object, got a list"},
			{"/v1/programs/show/holds", `"count"`, "", "the body: want an object, got a string"},
			{"/v1/programs", `{"id":5}`, "id", "id: want a string, got a number"},
			{"/v1/programs", `{"name":5}`, "name", "name: want a string, got a number"},
			{"/v1/programs", `{"stops":["a",1]}`, "stops[1]", "stops[1]: want a string, got a number"},
			{"/v1/programs", `{"categories":[{"id":"a"},{"price_cents":"x"}]}`, "categories[1].price_cents", "categories[1].price_cents: want an integer, got a string"},
			{"/v1/programs", `{"categories":[{"price_cents":1e3}]}`, "categories[0].price_cents", "categories[0].price_cents: want an integer, got 1e3"},
			{"/v1/programs", `{"categories":[{"id":"a","foo":1}]}`, "categories[0].foo", `categories[0]: unknown field "foo"`},
			{"/v1/programs", `{"max_seats_per_hold":2147483648000000000000}`, "max_seats_per_hold",
				"max_seats_per_hold: 2147483648000000000000 is out of range: want an integer from 0 to 64"},
			{"/v1/programs", `{"hold_ttl_seconds":-99999999999999999999}`, "hold_ttl_seconds",
				"hold_ttl_seconds: -99999999999999999999 is out of range: want 0, or an integer from 10 to 86400"},
			{"/v1/programs", `{"grid":{"rows":"3"}}`, "grid.rows", "grid.rows: want an integer, got a string"},
			{"/v1/programs", `{"grid":{"rows":3,"foo":1}}`, "grid.foo", `grid: unknown field "foo"`},
			{"/v1/programs", `{"grid":{"categories":[{"id":"a","rows":[1,"x"]}]}}`, "grid.categories[0].rows[1]", "grid.categories[0].rows[1]: want an integer, got a string"},
			{"/v1/programs", `{"grid":{"categories":[{"id":"a","rows":[1,1e99]}]}}`, "grid.categories[0].rows[1]", "grid.categories[0].rows[1]: want an integer, got 1e99"},
			{"/v1/programs", `{"grid":{"categories":[{"id":"a","rows":[99999999999999999999]}]}}`, "grid.categories[0].rows[0]",
				"grid.categories[0].rows[0]: 99999999999999999999 is out of range: want an integer from 1 to 262144"},
			{"/v1/programs", layout(`[{"col":1,"category":"a"},{"col":"x"}]`), "layout.sections[0].rows[0].seats[1].col",
				"layout.sections[0].rows[0].seats[1].col: want an integer, got a string"},
			{"/v1/programs", layout(`[{"col":1,"x":1}]`), "layout.sections[0].rows[0].seats[0].x", `layout.sections[0].rows[0].seats[0]: unknown field "x"`},
			{"/v1/programs", layout(`[{"col":1,"accessible":null}]`), "layout.sections[0].rows[0].seats[0].accessible",
				"layout.sections[0].rows[0].seats[0].accessible: null is not a value"},
			{"/v1/programs", `{"layout":{"sections":[{"rows":[{"rank":99999999999999999999}]}]}}`, "layout.sections[0].rows[0].rank",
				"layout.sections[0].rows[0].rank: 99999999999999999999 is out of range: want an integer from -2147483648 to 2147483647"},
			{"/v1/programs/show/blocks", `{"seats":["A/1/1"],"from":"0"}`, "from", "from: want an integer, got a string"},
			{"/v1/programs/show/blocks", `{"seats":["A/1/1",2]}`, "seats[1]", "seats[1]: want a string, got a number"},
			{"/v1/dev/tokens", `{"sub":42}`, "sub", "sub: want a string, got a number"},
		} {
			token := s.token(33)
			if !strings.Contains(tc.path, "holds") {
				token = adminToken
			}
			r := s.do("POST", tc.path, token, tc.body, nil)
			want := map[string]any{"field": tc.field}
			if tc.field == "" {
				want = nil
			}
			s.refused(r, 400, "INVALID_JSON", want, tc.says)
			if goType.Match(r.body) {
				t.Errorf("POST %s %s = %s: names a Go type", tc.path, tc.body, r.body)
			}
			if e, _ := r.json(t)["error"].(map[string]any); tc.field == "" && len(e["details"].(map[string]any)) != 0 {
				t.Errorf("POST %s %s = %s: details for the body as a whole", tc.path, tc.body, r.body)
			}
		}
	})

	t.Run("grids", func(t *testing.T) {
		s := s.on(t)
		grid := func(cats ...map[string]any) map[string]any {
			return map[string]any{"id": "g1", "categories": []map[string]any{{"id": "a", "price_cents": 100}, {"id": "b", "price_cents": 50}},
				"grid": map[string]any{"sections": 1, "rows": 4, "cols": 2, "categories": cats}}
		}
		rows := func(id string, first, last int) map[string]any {
			return map[string]any{"id": id, "rows": []int{first, last}}
		}
		for _, tt := range []struct {
			body        map[string]any
			field, says string
		}{
			{grid(rows("zz", 1, 4)), "grid.categories[0].id", `"zz" is not one of the program's categories`},
			{grid(rows("a", 1, 2), rows("b", 2, 4)), "grid.categories[1].rows", "overlaps categories[0].rows"},
			{grid(rows("a", 1, 2)), "grid.categories", "cover 2 of the 4 rows"},
		} {
			s.refused(s.do("POST", "/v1/programs", adminToken, tt.body, nil), 422, "INVALID_LAYOUT", map[string]any{"field": tt.field}, tt.says)
		}
	})
	t.Run("program ids", func(t *testing.T) {
		s := s.on(t)
		spec := func(id, cat string) map[string]any {
			return map[string]any{"id": id, "categories": []map[string]any{{"id": cat, "price_cents": 100}},
				"grid": map[string]any{"sections": 1, "rows": 1, "cols": 2, "categories": []map[string]any{{"id": cat, "rows": []int{1, 1}}}}}
		}
		for _, id := range []string{"..", ".", "a/b", "/", "a%2Fb", "a%b", "a b", " ", "-a", "_a", ".a", "", "é", strings.Repeat("a", 65)} {
			s.refused(s.do("POST", "/v1/programs", adminToken, spec(id, "c"), nil), 422, "INVALID_ARGUMENT", map[string]any{"field": "id"}, "id: ")
		}
		s.refused(s.do("POST", "/v1/programs", adminToken, spec("ok", "c/d"), nil), 422, "INVALID_ARGUMENT",
			map[string]any{"field": "categories[0].id"}, "categories[0].id: ")
		for i, id := range []string{"a.b", "x..y", "A-1_b", "0.", "9-"} {
			s.open(spec(id, "c.1"))
			if p := s.do("GET", "/v1/programs/"+id, "", nil, nil); p.status != 200 || p.json(t)["id"] != id {
				t.Errorf("GET /v1/programs/%s = %d %s", id, p.status, p.body)
			}
			h := s.do("POST", "/v1/programs/"+id+"/holds", s.token(int64(50+i)), `{"category":"c.1","count":1}`, nil)
			if h.status != 201 || h.json(t)["program_id"] != id {
				t.Errorf("hold on %s = %d %s", id, h.status, h.body)
			}
			s.want(s.do("GET", "/v1/programs/"+id+"/availability", "", nil, nil), 200, "")
		}
		// Without an id (DESIGN.md 6.1: "id"?) the gateway names the
		// program: after the Idempotency-Key, so its retry is the same
		// program, else at random.
		named := spec("", "c")
		delete(named, "id")
		key := map[string]string{"Idempotency-Key": "create-1"}
		first := s.do("POST", "/v1/programs", adminToken, named, key)
		again := s.do("POST", "/v1/programs", adminToken, named, key)
		other := s.do("POST", "/v1/programs", adminToken, named, nil)
		s.want(first, 201, "")
		s.want(again, 201, "")
		s.want(other, 201, "")
		id, _ := first.json(t)["id"].(string)
		if !regexp.MustCompile(`^p-[0-9a-f]{20}$`).MatchString(id) || again.json(t)["id"] != id || other.json(t)["id"] == id {
			t.Errorf("creates without an id named %v, %v (same key), %v (no key)", id, again.json(t)["id"], other.json(t)["id"])
		}
		s.want(s.do("GET", "/v1/programs/"+id, "", nil, nil), 200, "")
	})
}

// TestHoldAccess: hold ids cannot be probed, operators read and release
// any hold, any sub is a buyer, hold times are exact, and the order
// flow's routes answer 501 after authenticating.
func TestHoldAccess(t *testing.T) {
	s := startSystem(t)
	s.arena("show")
	before := time.Now()
	h := s.do("POST", "/v1/programs/show/holds", s.token(7), `{"count":2}`, nil)
	after := time.Now()
	s.want(h, 201, "")
	id := h.json(t)["hold_id"].(string)

	t.Run("exact times", func(t *testing.T) {
		created, err1 := time.Parse(time.RFC3339Nano, h.json(t)["created_at"].(string))
		expires, err2 := time.Parse(time.RFC3339Nano, h.json(t)["expires_at"].(string))
		if err1 != nil || err2 != nil || expires.Sub(created) != inventory.DefaultHoldTTL || created.Nanosecond() == 0 ||
			created.Before(before.Add(-50*time.Millisecond)) || created.After(after) {
			t.Errorf("hold made between %v and %v: created_at %v, expires_at %v (%v, %v); want the exact stamps, %v apart",
				before, after, h.json(t)["created_at"], h.json(t)["expires_at"], err1, err2, inventory.DefaultHoldTTL)
		}
	})

	t.Run("no probing", func(t *testing.T) {
		s := s.on(t)
		n, _ := strconv.ParseInt(id, 10, 64)
		other := s.token(8)
		for _, method := range []string{"GET", "DELETE"} {
			want := s.do(method, "/v1/holds/"+id, other, nil, nil)
			for _, probe := range []string{strconv.FormatInt(n+1<<20, 10), "abc", "-1", "0", "+" + id, "0" + id, "%20" + id,
				strconv.FormatInt(5<<10|1000, 10), strconv.FormatInt(5<<10, 10), "99999999999999999999"} {
				for _, token := range []string{other, adminToken} {
					got := s.do(method, "/v1/holds/"+probe, token, nil, nil)
					if got.status != 404 || got.status != want.status || !bytes.Equal(got.body, want.body) ||
						got.header.Get("Content-Type") != want.header.Get("Content-Type") || got.header.Get("Retry-After") != "" ||
						got.header.Get("Content-Length") != want.header.Get("Content-Length") {
						t.Errorf("%s /v1/holds/%s = %d %v %s;\nwant what another buyer's hold gets: %d %v %s",
							method, probe, got.status, got.header, got.body, want.status, want.header, want.body)
					}
				}
			}
		}
		if r := s.do("GET", "/v1/holds/"+id, s.token(7), nil, nil); r.status != 200 || r.json(t)["status"] != "HELD" {
			t.Fatalf("the buyer's hold after others' probes = %d %s", r.status, r.body)
		}
		// Operators read and release any hold, as the system.
		if r := s.do("GET", "/v1/holds/"+id, adminToken, nil, nil); r.status != 200 || r.json(t)["hold_id"] != id {
			t.Errorf("an operator's GET = %d %s", r.status, r.body)
		}
		if r := s.do("DELETE", "/v1/holds/"+id, adminToken, nil, nil); r.status != 200 || r.json(t)["status"] != "RELEASED" || r.json(t)["reason"] != "refused" {
			t.Errorf("an operator's DELETE = %d %s; want 200 RELEASED, reason refused", r.status, r.body)
		}
		if r := s.do("GET", "/v1/holds/"+id, s.token(7), nil, nil); r.status != 200 || r.json(t)["reason"] != "refused" {
			t.Errorf("the buyer's view after an operator's release = %d %s", r.status, r.body)
		}
	})

	t.Run("any sub", func(t *testing.T) {
		s := s.on(t)
		hashed := func(sub string) int64 {
			sum := sha256.Sum256([]byte(sub))
			return int64(1<<62 | binary.BigEndian.Uint64(sum[:8])&(1<<62-1))
		}
		ids := map[int64]string{}
		for _, tc := range []struct {
			sub  string
			want int64
		}{
			{"42", 42},
			{"4611686018427387903", 1<<62 - 1},
			{"4611686018427387904", hashed("4611686018427387904")},
			{"9223372036854775807", hashed("9223372036854775807")},
			{"007", hashed("007")},
			{"+7", hashed("+7")},
			{"550e8400-e29b-41d4-a716-446655440000", hashed("550e8400-e29b-41d4-a716-446655440000")},
			{"auth0|abc", hashed("auth0|abc")},
			{"auth0|abd", hashed("auth0|abd")},
			{"alice@example.com", hashed("alice@example.com")},
			{"李雷", hashed("李雷")},
		} {
			d := s.do("POST", "/v1/dev/tokens", "", map[string]any{"sub": tc.sub}, nil)
			s.want(d, 201, "")
			user, _ := strconv.ParseInt(d.json(t)["user_id"].(string), 10, 64)
			if user != tc.want || user <= 0 {
				t.Errorf("sub %q maps to %d; want %d", tc.sub, user, tc.want)
			}
			if prev, dup := ids[user]; dup {
				t.Errorf("subs %q and %q share user id %d", prev, tc.sub, user)
			}
			ids[user] = tc.sub
			for _, token := range []string{d.json(t)["token"].(string), mint(t, tc.sub)} {
				r := s.do("POST", "/v1/programs/show/holds", token, `{"count":1}`, nil)
				order, _ := strconv.ParseUint(fmt.Sprint(r.json(t)["order_no"]), 10, 64)
				if r.status != 201 || order%64 != uint64(user%64) {
					t.Errorf("hold with sub %q = %d %s; want 201 with the gene of user %d (%d)", tc.sub, r.status, r.body, user, user%64)
				}
			}
		}
		h := s.do("POST", "/v1/programs/show/holds", mint(t, "auth0|abc"), `{"count":1}`, nil)
		s.want(h, 201, "")
		s.want(s.do("GET", "/v1/holds/"+h.json(t)["hold_id"].(string), mint(t, "auth0|abd"), nil, nil), 404, "NOT_FOUND")
		s.want(s.do("GET", "/v1/holds/"+h.json(t)["hold_id"].(string), mint(t, "auth0|abc"), nil, nil), 200, "")
	})

	t.Run("not built yet", func(t *testing.T) {
		s := s.on(t)
		// This gateway has no order service: the order routes, which a
		// buyer and an operator may call, say so.
		for _, rt := range [][2]string{{"GET", "/v1/orders/1"}, {"GET", "/v1/orders"}, {"POST", "/v1/orders/1/refunds"}, {"GET", "/v1/refunds/1_R01"}} {
			s.want(s.do(rt[0], rt[1], "", nil, nil), 401, "UNAUTHENTICATED")
			s.want(s.do(rt[0], rt[1], adminToken, nil, nil), 501, "NOT_IMPLEMENTED")
			s.want(s.do(rt[0], rt[1], s.token(9), nil, nil), 501, "NOT_IMPLEMENTED")
		}
		for _, rt := range [][2]string{{"POST", "/v1/orders/1/pay"}, {"GET", "/v1/orders/1/payment"}} {
			s.want(s.do(rt[0], rt[1], "", nil, nil), 401, "UNAUTHENTICATED")
			s.refused(s.do(rt[0], rt[1], adminToken, nil, nil), 403, "FORBIDDEN", nil, "buyer's token")
			r := s.do(rt[0], rt[1], s.token(9), nil, nil)
			s.want(r, 501, "NOT_IMPLEMENTED")
			if r.header.Get("Retry-After") != "" {
				t.Errorf("%s %s says Retry-After %q", rt[0], rt[1], r.header.Get("Retry-After"))
			}
		}
		for _, p := range []string{"/v1/payments/alipay/notify", "/v1/payments/wechat/notify"} {
			r := s.do("POST", p, "", "trade_status=TRADE_SUCCESS", nil)
			s.want(r, 501, "NOT_IMPLEMENTED")
			if r.header.Get("Retry-After") != "" {
				t.Errorf("POST %s says Retry-After %q", p, r.header.Get("Retry-After"))
			}
		}
	})
}

// mint signs a buyer token for sub.
func mint(t *testing.T, sub string) string {
	tok, err := MintHS256(testSecret, sub, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
