package gateway

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
)

// TestOrphanSettings: the two orphan settings of a program, through HTTP.
// By default best-available avoids leaving a single empty seat; a program
// can allow it, and can refuse named seats that would leave one.
func TestOrphanSettings(t *testing.T) {
	s := startSystem(t)
	// One row of 9 (a layout: a grid's front row has wheelchair spaces,
	// which TestAccessibleSettings is about).
	var seats []map[string]any
	for c := 1; c <= 9; c++ {
		seats = append(seats, map[string]any{"col": c, "category": "std"})
	}
	row := func(id string, settings map[string]any) {
		spec := map[string]any{"id": id, "name": "Row of 9",
			"categories": []map[string]any{{"id": "std", "name": "Standard", "price_cents": 1000}},
			"layout":     map[string]any{"sections": []map[string]any{{"id": "A", "rows": []map[string]any{{"id": "1", "rank": 1, "seats": seats}}}}}}
		for k, v := range settings {
			spec[k] = v
		}
		s.open(spec)
	}
	pairs := func(t *testing.T, program string, want ...[]string) {
		t.Helper()
		for i, w := range want {
			r := s.do("POST", "/v1/programs/"+program+"/holds", s.token(int64(100+i)), map[string]any{"count": 2}, nil)
			s.want(r, http.StatusCreated, "")
			var got []string
			for _, seat := range r.json(t)["seats"].([]any) {
				got = append(got, seat.(map[string]any)["id"].(string))
			}
			if !slices.Equal(got, w) {
				t.Fatalf("hold %d of 2 in %s: %v; want %v", i+1, program, got, w)
			}
		}
	}
	t.Run("default", func(t *testing.T) {
		row("row9", nil)
		p := s.do("GET", "/v1/programs/row9", "", nil, nil).json(t)
		if p["allow_orphans"] != false || p["refuse_orphans"] != false {
			t.Fatalf("GET program: allow_orphans %v, refuse_orphans %v; want false, false", p["allow_orphans"], p["refuse_orphans"])
		}
		pairs(t, "row9", []string{"A/1/4", "A/1/5"}, []string{"A/1/6", "A/1/7"}, []string{"A/1/8", "A/1/9"})
		// Named seats are the buyer's choice unless the program refuses.
		s.want(s.do("POST", "/v1/programs/row9/holds", s.token(200), map[string]any{"seats": []string{"A/1/2"}}, nil), http.StatusCreated, "")
	})
	t.Run("allow_orphans", func(t *testing.T) {
		row("row9-allow", map[string]any{"allow_orphans": true})
		if p := s.do("GET", "/v1/programs/row9-allow", "", nil, nil).json(t); p["allow_orphans"] != true {
			t.Fatalf("GET program: allow_orphans %v; want true", p["allow_orphans"])
		}
		pairs(t, "row9-allow", []string{"A/1/4", "A/1/5"}, []string{"A/1/6", "A/1/7"}, []string{"A/1/2", "A/1/3"})
	})
	t.Run("refuse_orphans", func(t *testing.T) {
		row("row9-refuse", map[string]any{"refuse_orphans": true})
		for _, seats := range [][]string{{"A/1/2", "A/1/3"}, {"A/1/9", "A/1/7"}} {
			r := s.do("POST", "/v1/programs/row9-refuse/holds", s.token(300), map[string]any{"seats": seats}, nil)
			s.on(t).refused(r, http.StatusConflict, "ORPHAN_SEAT", map[string]any{"seat": seats[0]}, "single empty seat")
		}
		r := s.do("POST", "/v1/programs/row9-refuse/holds", s.token(300), map[string]any{"seats": []string{"A/1/1", "A/1/2"}}, nil)
		s.want(r, http.StatusCreated, "")
		av := s.do("GET", "/v1/programs/row9-refuse/availability", "", nil, nil)
		if got := fmt.Sprint(av.json(t)["categories"].([]any)[0].(map[string]any)["free"]); got != "7" {
			t.Fatalf("availability after refusals and one hold of 2: %s free; want 7 (%s)", got, av.body)
		}
	})
}

// TestAccessibleSettings: a grid's front-row centre seats are wheelchair
// spaces. A general request takes them only when nothing else fits; with
// reserve_accessible, never; a request for accessible seats takes only
// them.
func TestAccessibleSettings(t *testing.T) {
	s := startSystem(t)
	for _, reserve := range []bool{false, true} {
		id := fmt.Sprintf("row4-reserve-%v", reserve)
		s.open(map[string]any{"id": id, "name": "Row of 4", "reserve_accessible": reserve,
			"categories": []map[string]any{{"id": "std", "name": "Standard", "price_cents": 1000}},
			"grid":       map[string]any{"sections": 1, "rows": 1, "cols": 4, "categories": []map[string]any{{"id": "std", "rows": []int{1, 1}}}}})
		if p := s.do("GET", "/v1/programs/"+id, "", nil, nil).json(t); p["reserve_accessible"] != reserve {
			t.Fatalf("GET %s: reserve_accessible %v; want %v", id, p["reserve_accessible"], reserve)
		}
		hold := func(user int64, body map[string]any) reply {
			return s.do("POST", "/v1/programs/"+id+"/holds", s.token(user), body, nil)
		}
		seatsOf := func(r reply) string {
			var ids []string
			for _, seat := range r.json(t)["seats"].([]any) {
				ids = append(ids, seat.(map[string]any)["id"].(string))
			}
			return fmt.Sprint(ids)
		}
		for i, want := range []string{"[A/1/1]", "[A/1/4]"} {
			r := hold(int64(i+1), map[string]any{"count": 1})
			s.want(r, http.StatusCreated, "")
			if got := seatsOf(r); got != want {
				t.Fatalf("%s: general hold %d = %s; want %s (the wheelchair spaces 2 and 3 last)", id, i+1, got, want)
			}
		}
		r := hold(3, map[string]any{"count": 1})
		if reserve {
			s.want(r, http.StatusConflict, "SOLD_OUT")
			r = hold(3, map[string]any{"count": 2, "accessible": true})
			s.want(r, http.StatusCreated, "")
			if got := seatsOf(r); got != "[A/1/2 A/1/3]" {
				t.Fatalf("%s: accessible hold = %s; want [A/1/2 A/1/3]", id, got)
			}
			continue
		}
		s.want(r, http.StatusCreated, "")
		if got := seatsOf(r); got != "[A/1/2]" {
			t.Fatalf("%s: general hold with only wheelchair spaces left = %s; want [A/1/2]", id, got)
		}
	}
}
