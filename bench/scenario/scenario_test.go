package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShippedScenarios loads every file of bench/scenarios.
func TestShippedScenarios(t *testing.T) {
	files, err := filepath.Glob("../scenarios/*.json")
	if err != nil || len(files) < 4 {
		t.Fatalf("scenario files: %v, %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			sc, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := NewStream(sc); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestStadiumVenue(t *testing.T) {
	sc, err := Load("../scenarios/stadium.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewStream(sc)
	if err != nil {
		t.Fatal(err)
	}
	total, tenK := 0, 0
	for _, c := range s.Capacity() {
		total += c
		if c == 10_000 {
			tenK++
		}
	}
	if total != 80_000 || len(s.Capacity()) != 10 || tenK != 1 {
		t.Errorf("stadium: %d seats in %d categories, %d of 10,000; want 80,000 in 10, one of 10,000", total, len(s.Capacity()), tenK)
	}
}

// TestStreamDeterministic: the same seed and visit number give the same
// request; the first Population visits are every buyer once.
func TestStreamDeterministic(t *testing.T) {
	sc, err := Load("../scenarios/train.json")
	if err != nil {
		t.Fatal(err)
	}
	sc.Buyers.Population = 1000
	a, _ := NewStream(sc)
	b, _ := NewStream(sc)
	seen := map[uint64]bool{}
	ops := map[Op]int{}
	for n := range uint64(1000) {
		ra, rb := a.Request(n), b.Request(n)
		if ra.Buyer != rb.Buyer || ra.Op != rb.Op || ra.Count != rb.Count || ra.From != rb.From || ra.To != rb.To ||
			strings.Join(ra.Seats, ",") != strings.Join(rb.Seats, ",") || ra.Fate != rb.Fate {
			t.Fatalf("Request(%d) = %+v, then %+v", n, ra, rb)
		}
		if ra.Buyer < 1 || ra.Buyer > 1000 || seen[ra.Buyer] {
			t.Fatalf("Request(%d).Buyer = %d: out of range or seen before", n, ra.Buyer)
		}
		seen[ra.Buyer] = true
		ops[ra.Op]++
		if ra.From < 0 || ra.From >= ra.To || ra.To > a.Legs() {
			t.Fatalf("Request(%d) journey [%d, %d), want within [0, %d]", n, ra.From, ra.To, a.Legs())
		}
		if ra.Op == OpNamed && (len(ra.Seats) != ra.Count || ra.ExpectedCents <= 0) {
			t.Fatalf("Request(%d) = %+v: named seats do not match the count", n, ra)
		}
		// a buyer who comes back wants the same
		if again := a.Request(n + 1000); again.Buyer != ra.Buyer || again.Count != ra.Count || again.Cat != ra.Cat {
			t.Fatalf("Request(%d) and Request(%d): buyer %d wants %d of %d, then %d of %d", n, n+1000, ra.Buyer,
				ra.Count, ra.Cat, again.Count, again.Cat)
		}
	}
	if ops[OpBest] < 800 || ops[OpNamed] == 0 || ops[OpPoll] == 0 {
		t.Errorf("ops %v: want mostly best, some named and polls (90/5/5)", ops)
	}
	sc2 := *sc
	sc2.Seed++
	c, _ := NewStream(&sc2)
	same := 0
	for n := range uint64(100) {
		if c.Request(n).Buyer == a.Request(n).Buyer {
			same++
		}
	}
	if same > 10 {
		t.Errorf("another seed: %d of 100 visits by the same buyer", same)
	}
}

// TestValidationErrors: each broken file is refused with an error that
// names what is wrong.
func TestValidationErrors(t *testing.T) {
	base, err := os.ReadFile("../scenarios/hotblock.json")
	if err != nil {
		t.Fatal(err)
	}
	train, err := os.ReadFile("../scenarios/train.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		src      []byte
		old, new string
		want     []string
	}{
		{"syntax", base, `"seed": 7,`, `"seed": 7`, []string{"line 5", "invalid character"}},
		{"type", base, `"seed": 7,`, `"seed": "seven",`, []string{"line 4", "seed", "uint64"}},
		{"unknown field", base, `"seed": 7,`, `"seeds": 7,`, []string{`unknown field "seeds"`}},
		{"rows out of grid", base, `"rows": [11, 25]`, `"rows": [11, 26]`, []string{"program.categories[2].rows [11, 26]", "rows 1-25"}},
		{"row without category", base, `"rows": [11, 25]`, `"rows": [11, 24]`, []string{"25 has no category"}},
		{"duplicate category", base, `"id": "stand"`, `"id": "floor"`, []string{`program.categories[2].id "floor": used twice`}},
		{"unknown category weight", base, `{"pit": 1}`, `{"vip": 1}`, []string{`"vip" is not a category`}},
		{"zero mix", base, `"mix": {"best": 50, "named": 50, "poll": 0}`, `"mix": {"best": 0, "named": 0, "poll": 0}`,
			[]string{"mix: every weight is zero"}},
		{"negative outcome", base, `"pay": 40`, `"pay": -1`, []string{"outcome: weight -1"}},
		{"too many seats", base, `"seat_weights": [30, 50, 10, 10]`, `"seat_weights": [30, 50, 10, 10, 1]`,
			[]string{"more than max_seats_per_hold (4)"}},
		{"population", base, `"population": 100000`, `"population": 0`, []string{"buyers.population 0"}},
		{"ttl", base, `"hold_ttl": "10s"`, `"hold_ttl": "1s"`, []string{"program.hold_ttl 1s"}},
		{"bad duration", base, `"hold_ttl": "10s"`, `"hold_ttl": "ten"`, []string{"invalid duration"}},
		{"no layout", base, `"grid": {"sections": 4, "rows": 25, "cols": 50}`, `"train": null`, []string{"no grid or train"}},
		{"unknown stop", train, `"to": "Tianjin South", "weight": 5`, `"to": "Tianjin", "weight": 5`,
			[]string{`buyers.journeys[3].to "Tianjin": not a stop`}},
		{"backwards journey", train, `{"from": "Jinan West", "to": "Nanjing South"`, `{"from": "Nanjing South", "to": "Jinan West"`,
			[]string{`buyers.journeys[9]: "Nanjing South" is not before "Jinan West"`}},
		{"every error at once", base, `"population": 100000`, `"population": -5`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(string(tt.src), tt.old, tt.new, 1)
			if src == string(tt.src) {
				t.Fatalf("%q not in the file", tt.old)
			}
			if tt.name == "every error at once" {
				src = strings.Replace(src, `"pay": 40`, `"pay": -1`, 1)
			}
			_, err := Parse([]byte(src))
			if err == nil {
				t.Fatal("Parse = nil; want an error")
			}
			if tt.want == nil {
				tt.want = []string{"buyers.population -5", "outcome: weight -1"}
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse error = %q; want it to say %q", err, w)
				}
			}
		})
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.json")
	if err := os.WriteFile(path, []byte("{\n  \"name\": 3\n}"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), "broken.json") || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("Load = %v; want an error naming broken.json, line 2", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("Load(missing) = nil; want an error")
	}
}
