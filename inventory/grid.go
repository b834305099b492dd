package inventory

import (
	"fmt"
	"strconv"
)

// Grid generates a rectangular layout: Sections sections (ids "A", "B",
// ... "Z", "AA", ...), each of Rows rows ("1".."Rows") of Cols seats
// (columns 1..Cols). Row r has rank r in every section, so front rows are
// best. Categories are assigned by row ranges.
type Grid struct {
	Sections   int
	Rows       int
	Cols       int
	Categories []GridCategory
}

// GridCategory gives a category to rows First..Last (1-based, inclusive) of
// every section, or of every carriage in Train.
type GridCategory struct {
	ID          string
	First, Last int
}

// Layout builds the grid's layout. Every row must get exactly one category.
func (g Grid) Layout() (Layout, error) {
	if err := checkBlocks("grid", "sections", g.Sections, MaxSectionsPerProgram, g.Rows, g.Cols); err != nil {
		return Layout{}, err
	}
	cats, err := rowCategories(g.Categories, g.Rows)
	if err != nil {
		return Layout{}, err
	}
	l := Layout{Sections: make([]Section, g.Sections)}
	for s := range l.Sections {
		sec := &l.Sections[s]
		sec.ID = sectionName(s)
		sec.Name = "Section " + sec.ID
		sec.Rows = make([]Row, g.Rows)
		for r := range sec.Rows {
			row := &sec.Rows[r]
			row.ID = strconv.Itoa(r + 1)
			row.Rank = r + 1
			row.Seats = make([]Seat, g.Cols)
			for c := range row.Seats {
				row.Seats[c] = Seat{Col: c + 1, Category: cats[r], Aisle: c == 0 || c == g.Cols-1}
			}
			// The two centre seats of the front row are wheelchair spaces.
			if r == 0 {
				row.Seats[(g.Cols-1)/2].Accessible = true
				row.Seats[g.Cols/2].Accessible = true
			}
		}
	}
	return l, nil
}

// Train generates a train: Carriages carriages ("1".."N") of Rows rows, each
// row the five seats A B C | D F of a Chinese second-class carriage. The
// aisle is a gap in the column numbers (A=1 B=2 C=3, D=5 F=6), so C and D
// are not adjacent. Rows of every carriage share ranks (row 1 best), and
// categories are assigned by carriage ranges.
type Train struct {
	Carriages  int
	Rows       int
	Categories []GridCategory // First..Last are carriage numbers
}

var trainSeats = [...]struct {
	col    int
	letter string
}{{1, "A"}, {2, "B"}, {3, "C"}, {5, "D"}, {6, "F"}}

// Layout builds the train's layout.
func (t Train) Layout() (Layout, error) {
	if err := checkBlocks("train", "carriages", t.Carriages, MaxSectionsPerProgram, t.Rows, len(trainSeats)); err != nil {
		return Layout{}, err
	}
	cats, err := rowCategories(t.Categories, t.Carriages)
	if err != nil {
		return Layout{}, err
	}
	l := Layout{Sections: make([]Section, t.Carriages)}
	for c := range l.Sections {
		sec := &l.Sections[c]
		sec.ID = strconv.Itoa(c + 1)
		sec.Name = "Carriage " + sec.ID
		sec.Rows = make([]Row, t.Rows)
		for r := range sec.Rows {
			row := &sec.Rows[r]
			row.ID = strconv.Itoa(r + 1)
			row.Rank = r + 1
			for _, s := range trainSeats {
				row.Seats = append(row.Seats, Seat{
					Col: s.col, Label: fmt.Sprintf("%02d%s", r+1, s.letter), Category: cats[c],
					Aisle: s.letter == "C" || s.letter == "D",
				})
			}
		}
	}
	return l, nil
}

// checkBlocks checks a generated layout of sections (or carriages) of
// rows of cols seats against the program bounds. The factors come from
// clients, so each is bounded before any product of them: the products
// below then stay under 2^40, where an unchecked one could wrap around to
// a small number and pass.
func checkBlocks(kind, sectionsName string, sections, maxSections, rows, cols int) error {
	switch {
	case sections < 1 || sections > maxSections:
		return fmt.Errorf("%s: %s %d, want 1-%d", kind, sectionsName, sections, maxSections)
	case rows < 1 || rows > MaxRowsPerProgram:
		return fmt.Errorf("%s: rows %d, want 1-%d", kind, rows, MaxRowsPerProgram)
	case cols < 1 || cols > MaxRowWidth:
		return fmt.Errorf("%s: cols %d, want 1-%d", kind, cols, MaxRowWidth)
	case sections*rows > MaxRowsPerProgram:
		return fmt.Errorf("%s: %d %s x %d rows = %d rows, want at most %d", kind, sections, sectionsName, rows, sections*rows, MaxRowsPerProgram)
	case sections*rows*cols > MaxSeatsPerProgram:
		return fmt.Errorf("%s: %d %s x %d rows x %d seats = %d seats, want at most %d", kind, sections, sectionsName, rows, cols,
			sections*rows*cols, MaxSeatsPerProgram)
	}
	return nil
}

// rowCategories gives each of n numbered things (1..n) its category.
func rowCategories(gcs []GridCategory, n int) ([]string, error) {
	cats := make([]string, n)
	for _, gc := range gcs {
		if gc.First < 1 || gc.Last > n || gc.First > gc.Last {
			return nil, fmt.Errorf("grid category %q: range %d-%d outside 1-%d", gc.ID, gc.First, gc.Last, n)
		}
		for i := gc.First; i <= gc.Last; i++ {
			if cats[i-1] != "" {
				return nil, fmt.Errorf("grid category %q: %d already has category %q", gc.ID, i, cats[i-1])
			}
			cats[i-1] = gc.ID
		}
	}
	for i, c := range cats {
		if c == "" {
			return nil, fmt.Errorf("grid: %d has no category", i+1)
		}
	}
	return cats, nil
}

// sectionName returns "A".."Z", "AA", "AB", ... for 0, 1, ...
func sectionName(i int) string {
	name := ""
	for i++; i > 0; i = (i - 1) / 26 {
		name = string(rune('A'+(i-1)%26)) + name
	}
	return name
}
