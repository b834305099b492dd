package gateway

import (
	"fmt"
	"net/http"
	"testing"
)

// TestListPrograms: GET /v1/programs pages through the programs by id,
// with each one's name, stops and sale state, for a buyer's picker; a
// limit out of range is refused, naming it.
func TestListPrograms(t *testing.T) {
	s := startSystem(t)
	for i, id := range []string{"c-show", "a-show", "b-train"} {
		spec := map[string]any{"id": id, "name": fmt.Sprintf("Program %d", i),
			"categories": []map[string]any{{"id": "std", "name": "Standard", "price_cents": 1000}},
			"grid":       map[string]any{"sections": 1, "rows": 1, "cols": 4, "categories": []map[string]any{{"id": "std", "rows": []int{1, 1}}}}}
		if id == "b-train" {
			spec["stops"] = []string{"Beijing South", "Jinan West", "Shanghai Hongqiao"}
		}
		if id == "c-show" {
			s.want(s.do("POST", "/v1/programs", adminToken, spec, nil), http.StatusCreated, "") // created, not open
			continue
		}
		s.open(spec)
	}
	page := func(query string) (ids []string, next string, all []map[string]any) {
		t.Helper()
		r := s.do("GET", "/v1/programs"+query, "", nil, nil)
		s.want(r, http.StatusOK, "")
		for _, p := range r.json(t)["programs"].([]any) {
			m := p.(map[string]any)
			ids, all = append(ids, m["id"].(string)), append(all, m)
		}
		next, _ = r.json(t)["next_cursor"].(string)
		return ids, next, all
	}
	ids, next, all := page("")
	if fmt.Sprint(ids) != "[a-show b-train c-show]" || next != "" {
		t.Fatalf("GET /v1/programs: %v, next %q; want the three by id, no next", ids, next)
	}
	if b := all[1]; b["known"] != true || b["name"] != "Program 2" || fmt.Sprint(b["stops"]) != "[Beijing South Jinan West Shanghai Hongqiao]" ||
		b["sale_open"] != true || all[2]["sale_open"] != false {
		t.Errorf("GET /v1/programs: %v; want names, stops and sale states", all)
	}
	if ids, next, _ = page("?limit=2"); fmt.Sprint(ids) != "[a-show b-train]" || next != "b-train" {
		t.Fatalf("limit 2: %v, next %q; want a-show b-train, next b-train", ids, next)
	}
	if ids, next, _ = page("?limit=2&cursor=" + next); fmt.Sprint(ids) != "[c-show]" || next != "" {
		t.Fatalf("second page: %v, next %q; want c-show and no next", ids, next)
	}
	for _, bad := range []string{"0", "201", "x", "01"} {
		s.refused(s.do("GET", "/v1/programs?limit="+bad, "", nil, nil), 422, "INVALID_ARGUMENT", map[string]any{"field": "limit"})
	}
}
