package gateway

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
)

// TestFocalPoint: a program's focal point through HTTP. Two sections of
// one rank-1 row of 10 side by side on the plan (seat col of a section at
// x is at x + 5*col): with the focal point off-centre, in front of
// section B's seat 8, holds go nearest it; without one, the same layout
// fills section A from its row's centre as before. GET program shows the
// plan; a grid takes section_positions; bad points are refused naming
// the field.
func TestFocalPoint(t *testing.T) {
	s := startSystem(t)
	var seats []map[string]any
	for c := 1; c <= 10; c++ {
		seats = append(seats, map[string]any{"col": c, "category": "std"})
	}
	cats := []map[string]any{{"id": "std", "name": "Standard", "price_cents": 1000}}
	hall := func(id string, settings map[string]any) map[string]any {
		spec := map[string]any{"id": id, "name": "Hall", "categories": cats,
			"layout": map[string]any{"sections": []map[string]any{
				{"id": "A", "x": 0, "y": 0, "rows": []map[string]any{{"id": "1", "rank": 1, "seats": seats}}},
				{"id": "B", "x": 60, "y": 0, "rows": []map[string]any{{"id": "1", "rank": 1, "seats": seats}}}}}}
		for k, v := range settings {
			spec[k] = v
		}
		return spec
	}
	holds := func(t *testing.T, program string, count int, want ...[]string) {
		t.Helper()
		for i, w := range want {
			r := s.do("POST", "/v1/programs/"+program+"/holds", s.token(int64(100+i)), map[string]any{"count": count}, nil)
			s.want(r, http.StatusCreated, "")
			var got []string
			for _, seat := range r.json(t)["seats"].([]any) {
				got = append(got, seat.(map[string]any)["id"].(string))
			}
			if !slices.Equal(got, w) {
				t.Fatalf("hold %d of %d in %s: %v; want %v", i+1, count, program, got, w)
			}
		}
	}
	placed := func(t *testing.T, p map[string]any, focal string) {
		t.Helper()
		if got := fmt.Sprint(p["focal_point"]); got != focal {
			t.Fatalf("GET program: focal_point %s; want %s", got, focal)
		}
		for i, x := range []string{"0", "60"} {
			sec := p["layout"].(map[string]any)["sections"].([]any)[i].(map[string]any)
			if fmt.Sprint(sec["x"]) != x || fmt.Sprint(sec["y"]) != "0" {
				t.Fatalf("GET program: section %v at (%v, %v); want (%s, 0)", sec["id"], sec["x"], sec["y"], x)
			}
		}
	}
	t.Run("off-centre", func(t *testing.T) {
		s.open(hall("hall-focal", map[string]any{"focal_point": map[string]any{"x": 100, "y": -20}}))
		placed(t, s.do("GET", "/v1/programs/hall-focal", "", nil, nil).json(t), "map[x:100 y:-20]")
		// B/1/7-8 and B/1/8-9 are equally near x=100: the lower. Then
		// 9-10 (centre 107.5) before 5-6 (87.5); both leave no seat alone.
		holds(t, "hall-focal", 2, []string{"B/1/7", "B/1/8"}, []string{"B/1/9", "B/1/10"}, []string{"B/1/5", "B/1/6"})
	})
	t.Run("default", func(t *testing.T) {
		s.open(hall("hall-plain", nil))
		placed(t, s.do("GET", "/v1/programs/hall-plain", "", nil, nil).json(t), "<nil>")
		holds(t, "hall-plain", 2, []string{"A/1/5", "A/1/6"}, []string{"A/1/3", "A/1/4"})
	})
	t.Run("grid", func(t *testing.T) {
		// A grid's front row has wheelchair spaces at 2 and 3; a general
		// buyer gets 1 or 4 of a section: of B, by the focal point, not
		// A/1/1.
		s.open(map[string]any{"id": "grid-focal", "name": "Grid", "categories": cats, "focal_point": map[string]any{"x": 60, "y": -10},
			"grid": map[string]any{"sections": 2, "rows": 1, "cols": 4, "categories": []map[string]any{{"id": "std", "rows": []int{1, 1}}},
				"section_positions": []map[string]any{{"x": 0, "y": 0}, {"x": 40, "y": 0}}}})
		holds(t, "grid-focal", 1, []string{"B/1/4"}, []string{"B/1/1"})
	})
	t.Run("refusals", func(t *testing.T) {
		unplaced := hall("bad", map[string]any{"focal_point": map[string]any{"x": 1, "y": 1}})
		for _, sec := range unplaced["layout"].(map[string]any)["sections"].([]map[string]any) {
			delete(sec, "x")
			delete(sec, "y")
		}
		oneY := hall("bad", nil)
		delete(oneY["layout"].(map[string]any)["sections"].([]map[string]any)[0], "y")
		halfPlaced := hall("bad", nil)
		delete(halfPlaced["layout"].(map[string]any)["sections"].([]map[string]any)[1], "x")
		delete(halfPlaced["layout"].(map[string]any)["sections"].([]map[string]any)[1], "y")
		grid := func(positions ...map[string]any) map[string]any {
			return map[string]any{"id": "bad", "name": "Grid", "categories": cats,
				"grid": map[string]any{"sections": 2, "rows": 1, "cols": 4, "categories": []map[string]any{{"id": "std", "rows": []int{1, 1}}},
					"section_positions": positions}}
		}
		for _, tc := range []struct {
			spec  map[string]any
			code  string
			field string
		}{
			{unplaced, "INVALID_ARGUMENT", "focal_point"},
			{hall("bad", map[string]any{"focal_point": map[string]any{"x": 1000001, "y": 0}}), "INVALID_ARGUMENT", "focal_point.x"},
			{hall("bad", map[string]any{"focal_point": map[string]any{"x": 0}}), "INVALID_ARGUMENT", "focal_point.y"},
			{oneY, "INVALID_LAYOUT", "layout.sections[0].y"},
			{halfPlaced, "INVALID_LAYOUT", "layout.sections[1].x"},
			{grid(map[string]any{"x": 0, "y": 0}), "INVALID_LAYOUT", "grid.section_positions"},
			{grid(map[string]any{"x": 0, "y": 0}, map[string]any{"x": 0, "y": -1000001}), "INVALID_LAYOUT", "grid.section_positions[1].y"},
		} {
			s.refused(s.do("POST", "/v1/programs", adminToken, tc.spec, nil), http.StatusUnprocessableEntity, tc.code,
				map[string]any{"field": tc.field}, tc.field+": ")
		}
		s.want(s.do("GET", "/v1/programs/bad", "", nil, nil), http.StatusNotFound, "NOT_FOUND")
	})
}
