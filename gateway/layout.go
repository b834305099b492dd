package gateway

import (
	"strconv"
	"unsafe"

	rpc "seatd/kitex_gen/inventoryrpc"
)

// layout is what the gateway keeps of a program to answer seat maps and
// availability: its stops, and each seat's section, row, column, label
// and category in the program's seat order. seatd sends a seat map as one
// status byte per seat in that order (SeatMapResponse.statuses), and a
// layout never changes, so the gateway fetches it once per program
// (GetProgram) and joins the two itself. It is compact because it is
// cached: about 3 bytes a seat (a million-seat arena takes 3 MB), where
// the generated ProgramSpec takes over 60.
type layout struct {
	stops      int32    // stop count: the last stop index is stops-1
	categories []string // category ids, by index
	sections   []layoutSection
	rows       []layoutRow
	cols       []uint16 // per seat: its column (at most inventory.MaxCol)
	cats       []uint8  // per seat: its category's index (at most inventory.MaxCategories)
	// labels holds the seats' labels back to back and labelEnd each
	// seat's end in it. Both are empty when every seat's label is its
	// column, as in the grid generator's layouts: that saves 4 bytes a
	// seat.
	labels   string
	labelEnd []uint32
	// counts is each section's seats per category, at
	// [section*len(categories)+category]: the size of a full-format map
	// is known before it is rendered.
	counts []int32
	size   int64 // bytes held, for the cache's budget
}

type layoutSection struct {
	id          string
	first, rows int // its rows: rows[first:first+rows]
}

type layoutRow struct {
	id           string
	first, seats int // its seats, by index in seat order
}

// newLayout keeps what seat maps need of a program description.
func newLayout(spec *rpc.ProgramSpec) *layout {
	l := &layout{stops: max(int32(len(spec.Stops)), 2)} // a program without stops has doors and end
	catIndex := map[string]uint8{}
	for i, c := range spec.Categories {
		l.categories = append(l.categories, c.Id)
		catIndex[c.Id] = uint8(i)
	}
	n, plainLabels := 0, true
	for _, sec := range spec.Sections {
		for _, row := range sec.Rows {
			n += len(row.Seats)
			for _, st := range row.Seats {
				plainLabels = plainLabels && (st.Label == "" || st.Label == strconv.Itoa(int(st.Col)))
			}
		}
	}
	l.cols, l.cats = make([]uint16, 0, n), make([]uint8, 0, n)
	if !plainLabels {
		l.labelEnd = make([]uint32, 0, n)
	}
	var labels []byte
	l.counts = make([]int32, len(spec.Sections)*len(l.categories))
	for si, sec := range spec.Sections {
		l.sections = append(l.sections, layoutSection{id: sec.Id, first: len(l.rows), rows: len(sec.Rows)})
		for _, row := range sec.Rows {
			l.rows = append(l.rows, layoutRow{id: row.Id, first: len(l.cols), seats: len(row.Seats)})
			for _, st := range row.Seats {
				cat := catIndex[st.Category]
				l.cols, l.cats = append(l.cols, uint16(st.Col)), append(l.cats, cat)
				l.counts[si*len(l.categories)+int(cat)]++
				if !plainLabels {
					labels = append(labels, st.Label...)
					l.labelEnd = append(l.labelEnd, uint32(len(labels)))
				}
			}
		}
	}
	l.labels = string(labels)
	l.size = int64(unsafe.Sizeof(*l)) + int64(cap(l.cols))*2 + int64(cap(l.cats)) + int64(len(l.labels)) +
		int64(cap(l.labelEnd))*4 + int64(cap(l.counts))*4 +
		int64(cap(l.sections))*int64(unsafe.Sizeof(layoutSection{})) + int64(cap(l.rows))*int64(unsafe.Sizeof(layoutRow{}))
	for _, c := range l.categories {
		l.size += int64(unsafe.Sizeof(c)) + int64(len(c))
	}
	for _, s := range l.sections {
		l.size += int64(len(s.id))
	}
	for _, r := range l.rows {
		l.size += int64(len(r.id))
	}
	return l
}

// numSeats is the program's seat count.
func (l *layout) numSeats() int { return len(l.cols) }

// section returns a section's index.
func (l *layout) section(id string) (int, bool) {
	for i := range l.sections {
		if l.sections[i].id == id {
			return i, true
		}
	}
	return 0, false
}

// category returns a category's index.
func (l *layout) category(id string) (int, bool) {
	for i, c := range l.categories {
		if c == id {
			return i, true
		}
	}
	return 0, false
}

// count returns the seats of sections [from, to) in category cat (-1:
// any).
func (l *layout) count(from, to, cat int) int {
	n := 0
	for s := from; s < to; s++ {
		for c := range l.categories {
			if cat < 0 || c == cat {
				n += int(l.counts[s*len(l.categories)+c])
			}
		}
	}
	return n
}

// label returns seat i's label: its own, else its column.
func (l *layout) label(i int) string {
	if l.labelEnd != nil {
		start := uint32(0)
		if i > 0 {
			start = l.labelEnd[i-1]
		}
		if s := l.labels[start:l.labelEnd[i]]; s != "" {
			return s
		}
	}
	return strconv.Itoa(int(l.cols[i]))
}
