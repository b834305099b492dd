package inventory

import (
	"fmt"
	"strconv"
	"strings"
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

// Train generates a train: Carriages carriages ("1".."N", named
// "Carriage N"), each of rows ("1"..) of seats lettered as the carriage's
// class has them, the aisle a gap in the column numbers, so the seats on
// either side of it are not adjacent. A seat's label is its row and
// letter ("07F"). Rows of every carriage share ranks (row 1 best), and
// categories (the classes' prices) are assigned by carriage ranges.
type Train struct {
	Carriages  int
	Rows       int            // rows of a carriage that no Seating range sets
	Categories []GridCategory // First..Last are carriage numbers
	// Seating gives carriages First..Last their own rows and letters;
	// the others have Rows rows of SecondClass.
	Seating []TrainSeating
}

// TrainSeating is the seating of carriages First..Last (1-based,
// inclusive): Rows rows (0: the train's Rows) of the seats Letters names,
// from one window to the other, "|" for the aisle. The first and last
// letters are window seats, the two beside "|" aisle seats (the layout's
// Seat.Aisle), as travellers ask for them (SeatPosition).
type TrainSeating struct {
	First, Last int
	Rows        int
	Letters     string
}

// Seat letters of Chinese high-speed trains' classes (CR400 "Fuxing",
// CRH), as China Railway letters them: A B C | D F, skipping E, so that A
// and F are always windows and C and D always the aisle, whatever the
// class. Other operators letter from A, one window to the other (a
// Shinkansen's ordinary car is "ABC|DE").
const (
	SecondClass   = "ABC|DF" // second class: 2+3 abreast
	FirstClass    = "AC|DF"  // first class: 2+2
	BusinessClass = "A|CF"   // business class: 1+2
)

// Layout builds the train's layout.
func (t Train) Layout() (Layout, error) {
	if t.Carriages < 1 || t.Carriages > MaxSectionsPerProgram {
		return Layout{}, fmt.Errorf("train: carriages %d, want 1-%d", t.Carriages, MaxSectionsPerProgram)
	}
	rows, letters := make([]int, t.Carriages), make([]string, t.Carriages)
	for _, ts := range t.Seating {
		if ts.First < 1 || ts.Last > t.Carriages || ts.First > ts.Last {
			return Layout{}, fmt.Errorf("train seating %q: carriages %d-%d outside 1-%d", ts.Letters, ts.First, ts.Last, t.Carriages)
		}
		if err := checkLetters(ts.Letters); err != nil {
			return Layout{}, err
		}
		for c := ts.First; c <= ts.Last; c++ {
			if letters[c-1] != "" {
				return Layout{}, fmt.Errorf("train seating %q: carriage %d already has seating %q", ts.Letters, c, letters[c-1])
			}
			rows[c-1], letters[c-1] = ts.Rows, ts.Letters
		}
	}
	totalRows, totalSeats := 0, 0
	for c := range rows {
		if rows[c] == 0 {
			rows[c] = t.Rows
		}
		if letters[c] == "" {
			letters[c] = SecondClass
		}
		if rows[c] < 1 || rows[c] > MaxRowsPerProgram {
			return Layout{}, fmt.Errorf("train: carriage %d: rows %d, want 1-%d", c+1, rows[c], MaxRowsPerProgram)
		}
		// Each term is bounded (rows, letters) before it is added, so
		// the sums cannot wrap around.
		totalRows += rows[c]
		totalSeats += rows[c] * (len(letters[c]) - 1)
	}
	if totalRows > MaxRowsPerProgram {
		return Layout{}, fmt.Errorf("train: %d rows in all, want at most %d", totalRows, MaxRowsPerProgram)
	}
	if totalSeats > MaxSeatsPerProgram {
		return Layout{}, fmt.Errorf("train: %d seats in all, want at most %d", totalSeats, MaxSeatsPerProgram)
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
		sec.Rows = make([]Row, rows[c])
		left, right, _ := strings.Cut(letters[c], "|")
		for r := range sec.Rows {
			row := &sec.Rows[r]
			row.ID = strconv.Itoa(r + 1)
			row.Rank = r + 1
			row.Seats = make([]Seat, 0, len(left)+len(right))
			for i, letter := range left + right {
				col := i + 1
				if i >= len(left) {
					col++ // the aisle
				}
				row.Seats = append(row.Seats, Seat{
					Col: col, Label: fmt.Sprintf("%02d%c", r+1, letter), Category: cats[c],
					Aisle: i == len(left)-1 || i == len(left),
				})
			}
		}
	}
	return l, nil
}

// checkLetters checks a carriage's seat letters: capital letters A-Z,
// each once, with one "|" between two non-empty sides.
func checkLetters(letters string) error {
	left, right, ok := strings.Cut(letters, "|")
	if !ok || left == "" || right == "" || strings.Contains(right, "|") {
		return fmt.Errorf("train seating %q: want the letters of each side of the aisle, such as %q", letters, SecondClass)
	}
	seen := map[rune]bool{}
	for _, r := range left + right {
		if r < 'A' || r > 'Z' || seen[r] {
			return fmt.Errorf("train seating %q: want capital letters A-Z, each once", letters)
		}
		seen[r] = true
	}
	return nil
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
