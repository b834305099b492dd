package gateway

import (
	"net/http"
	"slices"
	"testing"

	"seatd/inventory"
)

// TestTrainSeats: a train's carriages through HTTP: a request for a
// window or an aisle seat, seats side by side, then in one carriage,
// then anywhere; and the refusals of a preference the API does not know
// or that names seats.
func TestTrainSeats(t *testing.T) {
	s := startSystem(t)
	layout, err := inventory.Train{Carriages: 2, Rows: 1, Categories: []inventory.GridCategory{{ID: "second", First: 1, Last: 2}}}.Layout()
	if err != nil {
		t.Fatal(err)
	}
	s.open(map[string]any{"id": "g7", "name": "G7 Beijing South - Shanghai Hongqiao",
		"stops":      []string{"Beijing South", "Jinan West", "Nanjing South", "Shanghai Hongqiao"},
		"categories": []map[string]any{{"id": "second", "name": "Second class", "price_cents": 55300}},
		"layout":     LayoutJSON(layout),
		// Trains sell single seats all day: a seat left alone beside
		// the aisle is no loss, as it is at a concert.
		"allow_orphans": true})
	user := int64(100)
	hold := func(body map[string]any, want ...string) {
		t.Helper()
		user++
		r := s.do("POST", "/v1/programs/g7/holds", s.token(user), body, nil)
		s.want(r, http.StatusCreated, "")
		var got []string
		for _, seat := range r.json(t)["seats"].([]any) {
			got = append(got, seat.(map[string]any)["id"].(string))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("hold %v: %v; want %v", body, got, want)
		}
	}
	// Each row is A B C | D F at columns 1 2 3 5 6.
	hold(map[string]any{"count": 1, "seat_preference": "window"}, "1/1/1")
	hold(map[string]any{"count": 1, "seat_preference": "window", "from": 1, "to": 3}, "1/1/6")
	hold(map[string]any{"count": 2, "seat_preference": "aisle"}, "1/1/2", "1/1/3")
	// Carriage 1 keeps D alone; carriage 2 is free. Three side by side:
	// carriage 2. Then three apart: only carriage 2's two left and
	// carriage 1's D, so across carriages.
	hold(map[string]any{"count": 3}, "2/1/1", "2/1/2", "2/1/3")
	s.refused(s.do("POST", "/v1/programs/g7/holds", s.token(200), map[string]any{"count": 3}, nil), http.StatusConflict, "NO_ADJACENT_SEATS", nil)
	hold(map[string]any{"count": 3, "together": false}, "1/1/5", "2/1/5", "2/1/6")

	for _, body := range []map[string]any{
		{"count": 1, "seat_preference": "middle"},
		{"count": 1, "seat_preference": ""},
		{"seats": []string{"1/1/5"}, "seat_preference": "window"},
	} {
		s.refused(s.do("POST", "/v1/programs/g7/holds", s.token(300), body, nil), 422, "INVALID_ARGUMENT", map[string]any{"field": "seat_preference"})
	}
}
