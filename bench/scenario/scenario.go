// Package scenario reads seatbench's scenarios: a venue, a population of
// buyers and what they ask for, in a JSON file a user can copy and edit
// (bench/scenarios/*.json), and turns one into an inventory.ProgramSpec and
// a deterministic stream of requests (stream.go).
//
// A Scenario is read-only once loaded: a Stream made from it may be used
// from many goroutines at once.
package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"seatd/inventory"
)

// Bounds on a scenario. Each keeps the stream's tables and the harness's
// per-buyer bitsets small.
const (
	// MaxPopulation bounds Buyers.Population: two bits per buyer of
	// bookkeeping (tried, got seats) is 2.5 MB at this bound.
	MaxPopulation = 10_000_000
	// MaxWeights bounds each weight list (seat counts, journeys).
	MaxWeights = 1024
	// MaxFileSize bounds a scenario file.
	MaxFileSize = 1 << 20
)

// Scenario is one scenario file. Every field is documented for the
// people who edit the files; Validate lists every mistake at once.
type Scenario struct {
	// Name names the scenario in reports ("stadium").
	Name string `json:"name"`
	// About says in a sentence or two what the scenario models.
	About string `json:"about"`
	// Seed makes the request stream: the same seed, the same requests.
	Seed uint64 `json:"seed"`
	// Program is the venue.
	Program Program `json:"program"`
	// Buyers is the population and what each buyer wants.
	Buyers Buyers `json:"buyers"`
	// Mix weighs what a buyer's visit does.
	Mix Mix `json:"mix"`
	// Outcome weighs what becomes of a hold.
	Outcome Outcome `json:"outcome"`
}

// Program describes the venue: exactly one of Grid and Train.
type Program struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Stops []string `json:"stops,omitempty"` // trains: the stations in order; default two stops, one leg
	// HoldTTL is how long a hold waits for payment before it lapses
	// (inventory.MinHoldTTL to MaxHoldTTL; default the engine's).
	HoldTTL         Duration   `json:"hold_ttl,omitempty"`
	MaxSeatsPerHold int        `json:"max_seats_per_hold,omitempty"`
	MaxSeatsPerUser int        `json:"max_seats_per_user,omitempty"`
	Categories      []Category `json:"categories"`
	Grid            *Grid      `json:"grid,omitempty"`
	Train           *Train     `json:"train,omitempty"`
}

// Category is a price class and the rows (a grid's) or carriages (a
// train's) it covers, first and last, 1-based, inclusive.
type Category struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Rows       [2]int `json:"rows"`
}

// Grid is a rectangular venue: sections of rows of columns
// (inventory.Grid); Category.Rows are row numbers of every section.
type Grid struct {
	Sections int `json:"sections"`
	Rows     int `json:"rows"`
	Cols     int `json:"cols"`
}

// Train is a train of carriages of rows of five seats (inventory.Train);
// Category.Rows are carriage numbers.
type Train struct {
	Carriages int `json:"carriages"`
	Rows      int `json:"rows"`
}

// Buyers is the population.
type Buyers struct {
	// Population is how many different buyers come (user ids 1..N).
	// Visit n is buyer number n mod Population in a shuffled order, so
	// the first Population visits are every buyer once, and later ones
	// are buyers coming back.
	Population int `json:"population"`
	// SeatWeights weighs how many seats a buyer wants: element i is the
	// weight of i+1 seats.
	SeatWeights []int `json:"seat_weights"`
	// CategoryWeights weighs the category a buyer wants; a category
	// left out is never asked for. Default: each category's seats.
	CategoryWeights map[string]int `json:"category_weights,omitempty"`
	// Journeys weighs named journeys (trains): from and to are stops.
	Journeys []Journey `json:"journeys,omitempty"`
	// OtherJourneys is the weight of a journey between two stops drawn at
	// random. With no journeys at all, every buyer travels the whole way.
	OtherJourneys int `json:"other_journeys,omitempty"`
}

// Journey is a leg range by stop names and its weight.
type Journey struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Weight int    `json:"weight"`
}

// Mix weighs what one visit does: ask for the best seats, name seats
// (picked at random, side by side in one row of the buyer's category),
// or read the category's seat map.
type Mix struct {
	Best  int `json:"best"`
	Named int `json:"named"`
	Poll  int `json:"poll"`
}

// Outcome weighs what the buyer does with a hold: pay (confirm), cancel
// (release), or let it lapse at the hold TTL.
type Outcome struct {
	Pay    int `json:"pay"`
	Cancel int `json:"cancel"`
	Lapse  int `json:"lapse"`
}

// Duration is a time.Duration written as in Go ("10s", "15m").
type Duration time.Duration

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"10s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Load reads and validates a scenario file. Errors name the file, and the
// line for a syntax or type error; a scenario that fails Validate is
// refused with every violation listed.
func Load(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("scenario %s: %d bytes, want at most %d", path, len(b), MaxFileSize)
	}
	sc, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", filepath.Base(path), err)
	}
	return sc, nil
}

// Parse decodes and validates a scenario. Unknown fields are errors (a
// misspelt field would otherwise be silently left at its default).
func Parse(b []byte) (*Scenario, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var sc Scenario
	if err := dec.Decode(&sc); err != nil {
		return nil, jsonError(b, dec, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("line %d: data after the scenario's object", line(b, dec.InputOffset()))
	}
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return &sc, nil
}

// jsonError says where a decode error is.
func jsonError(b []byte, dec *json.Decoder, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("line %d: %w", line(b, syn.Offset), err)
	case errors.As(err, &typ):
		return fmt.Errorf("line %d: %s: %s is not a %s", line(b, typ.Offset), typ.Field, typ.Value, typ.Type)
	}
	return fmt.Errorf("line %d: %w", line(b, dec.InputOffset()), err)
}

func line(b []byte, off int64) int {
	off = min(max(off, 0), int64(len(b)))
	return 1 + bytes.Count(b[:off], []byte("\n"))
}

// Validate reports every violation, each naming its field as the file
// spells it. A valid scenario's Spec is accepted by the engine.
func (sc *Scenario) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !inventory.ValidID(sc.Name) {
		bad("name %q: want letters, digits, '-', '_' or '.', at most %d", sc.Name, inventory.MaxIDLen)
	}
	p := &sc.Program
	legs := max(len(p.Stops), 2) - 1
	if len(p.Stops) == 1 {
		bad("program.stops: one stop; want at least 2, or none")
	}
	if len(p.Stops) > inventory.MaxLegs+1 {
		bad("program.stops: %d, want at most %d", len(p.Stops), inventory.MaxLegs+1)
	}
	if p.HoldTTL != 0 && (time.Duration(p.HoldTTL) < inventory.MinHoldTTL || time.Duration(p.HoldTTL) > inventory.MaxHoldTTL) {
		bad("program.hold_ttl %v: want %v-%v", time.Duration(p.HoldTTL), inventory.MinHoldTTL, inventory.MaxHoldTTL)
	}
	units, unitName := 0, ""
	switch {
	case p.Grid != nil && p.Train != nil:
		bad("program: both grid and train; want one")
	case p.Grid != nil:
		units, unitName = p.Grid.Rows, "rows"
	case p.Train != nil:
		units, unitName = p.Train.Carriages, "carriages"
	default:
		bad("program: no grid or train; want one")
	}
	cats := map[string]bool{}
	if len(p.Categories) == 0 {
		bad("program.categories: none; want at least one")
	}
	for i, c := range p.Categories {
		at := fmt.Sprintf("program.categories[%d]", i)
		if cats[c.ID] {
			bad("%s.id %q: used twice", at, c.ID)
		}
		cats[c.ID] = true
		if c.PriceCents < 0 || c.PriceCents > inventory.MaxPriceCents {
			bad("%s.price_cents %d: want 0-%d", at, c.PriceCents, inventory.MaxPriceCents)
		}
		if units > 0 && (c.Rows[0] < 1 || c.Rows[1] > units || c.Rows[0] > c.Rows[1]) {
			bad("%s.rows [%d, %d]: want first and last of the %s 1-%d", at, c.Rows[0], c.Rows[1], unitName, units)
		}
	}
	b := &sc.Buyers
	if b.Population < 1 || b.Population > MaxPopulation {
		bad("buyers.population %d: want 1-%d", b.Population, MaxPopulation)
	}
	maxHold := p.MaxSeatsPerHold
	if maxHold == 0 {
		maxHold = inventory.DefaultMaxSeatsPerHold
	}
	if len(b.SeatWeights) > maxHold {
		bad("buyers.seat_weights: %d counts, more than max_seats_per_hold (%d)", len(b.SeatWeights), maxHold)
	}
	checkWeights("buyers.seat_weights", b.SeatWeights, bad)
	catWeights := make([]int, 0, len(b.CategoryWeights))
	for id, w := range b.CategoryWeights {
		if !cats[id] {
			bad("buyers.category_weights: %q is not a category of the program", id)
		}
		catWeights = append(catWeights, w)
	}
	if b.CategoryWeights != nil {
		checkWeights("buyers.category_weights", catWeights, bad)
	}
	stops := map[string]int{}
	for i, s := range p.Stops {
		if _, dup := stops[s]; dup {
			bad("program.stops[%d] %q: named twice", i, s)
		}
		stops[s] = i
	}
	if len(b.Journeys) > MaxWeights {
		bad("buyers.journeys: %d, want at most %d", len(b.Journeys), MaxWeights)
	}
	jw := []int{b.OtherJourneys}
	for i, j := range b.Journeys {
		at := fmt.Sprintf("buyers.journeys[%d]", i)
		f, okF := stops[j.From]
		t, okT := stops[j.To]
		if !okF {
			bad("%s.from %q: not a stop of the program", at, j.From)
		}
		if !okT {
			bad("%s.to %q: not a stop of the program", at, j.To)
		}
		if okF && okT && f >= t {
			bad("%s: %q is not before %q", at, j.From, j.To)
		}
		jw = append(jw, j.Weight)
	}
	if len(b.Journeys) > 0 || b.OtherJourneys != 0 {
		if legs < 2 {
			bad("buyers.journeys: the program has one leg; journeys need stops")
		}
		checkWeights("buyers.journeys (with other_journeys)", jw, bad)
	}
	checkWeights("mix", []int{sc.Mix.Best, sc.Mix.Named, sc.Mix.Poll}, bad)
	checkWeights("outcome", []int{sc.Outcome.Pay, sc.Outcome.Cancel, sc.Outcome.Lapse}, bad)
	if len(errs) == 0 {
		if _, err := sc.Spec(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkWeights checks a list of weights: none negative, not all zero.
func checkWeights(name string, ws []int, bad func(string, ...any)) {
	if len(ws) > MaxWeights {
		bad("%s: %d weights, want at most %d", name, len(ws), MaxWeights)
		return
	}
	sum := 0
	for _, w := range ws {
		if w < 0 || w > 1_000_000 {
			bad("%s: weight %d, want 0-1000000", name, w)
			return
		}
		sum += w
	}
	if sum == 0 {
		bad("%s: every weight is zero (or none given); want at least one above zero", name)
	}
}

// Spec returns the venue as the engine describes it, checked by
// compiling it in a scratch engine: an error says what the engine
// refused.
func (sc *Scenario) Spec() (*inventory.ProgramSpec, error) {
	p := &sc.Program
	gcs := make([]inventory.GridCategory, len(p.Categories))
	cats := make([]inventory.Category, len(p.Categories))
	for i, c := range p.Categories {
		gcs[i] = inventory.GridCategory{ID: c.ID, First: c.Rows[0], Last: c.Rows[1]}
		cats[i] = inventory.Category{ID: c.ID, Name: c.Name, PriceCents: c.PriceCents}
	}
	var layout inventory.Layout
	var err error
	switch {
	case p.Grid != nil:
		layout, err = inventory.Grid{Sections: p.Grid.Sections, Rows: p.Grid.Rows, Cols: p.Grid.Cols, Categories: gcs}.Layout()
	case p.Train != nil:
		layout, err = inventory.Train{Carriages: p.Train.Carriages, Rows: p.Train.Rows, Categories: gcs}.Layout()
	default:
		return nil, errors.New("program: no grid or train")
	}
	if err != nil {
		return nil, fmt.Errorf("program: %w", err)
	}
	spec := &inventory.ProgramSpec{
		ID: p.ID, Name: p.Name, Stops: p.Stops, Categories: cats, Layout: layout,
		HoldTTL: time.Duration(p.HoldTTL), MaxSeatsPerHold: p.MaxSeatsPerHold, MaxSeatsPerUser: p.MaxSeatsPerUser,
	}
	e, err := inventory.New(inventory.Config{})
	if err != nil {
		return nil, err
	}
	if r, err := e.CreateProgram(0, spec); r != inventory.ResultOK {
		if err == nil {
			err = errors.New(r.String())
		}
		return nil, fmt.Errorf("program: the engine refuses it: %w", err)
	}
	return spec, nil
}
