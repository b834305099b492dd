package gateway

import (
	"fmt"
	"strconv"
	"time"
	"unsafe"

	"seatd/inventory"
)

// layout is what the gateway keeps of a program: its description, to
// answer GET /v1/programs/{id} and seat maps. seatd sends a seat map as
// one status byte per seat in the program's seat order
// (SeatMapResponse.statuses), and a description never changes, so the
// gateway fetches it once per program (GetProgram, in its canonical
// encoding) and joins the two itself. It is compact because it is cached:
// about 3 bytes a seat (a million-seat arena takes 3 MB), where the
// decoded inventory.ProgramSpec takes 48 and its JSON about 27.
type layout struct {
	// head is the program's fields but its layout and sale state, as
	// JSON without the closing brace: what a description answer starts
	// with (see programStream).
	head       []byte
	stops      int32    // stop count: the last stop index is stops-1
	categories []string // category ids, by index
	sections   []layoutSection
	rows       []layoutRow
	cols       []uint16 // per seat: its column (at most inventory.MaxCol)
	cats       []uint8  // per seat: its category's index (at most inventory.MaxCategories)
	// labels holds the seats' own labels back to back and labelEnd each
	// seat's end in it; a seat without one ("") is labelled with its
	// column. Both are empty when no seat has one, as in the grid
	// generator's layouts: that saves 4 bytes a seat.
	labels   string
	labelEnd []uint32
	// flagged lists the seats that are accessible or on an aisle, in seat
	// order, and flags their flags (inventory's: 1 accessible, 2 aisle):
	// few seats are, so a list costs less than a byte a seat.
	flagged []uint32
	flags   []uint8
	// counts is each section's seats per category, at
	// [section*len(categories)+category]: the size of a full-format map
	// is known before it is rendered.
	counts []int32
	size   int64 // bytes held, for the cache's budget
}

type layoutSection struct {
	id, name    string
	first, rows int              // its rows: rows[first:first+rows]
	at          *inventory.Point // its place on the plan; nil when the program has none
}

type layoutRow struct {
	id           string
	rank         int32
	first, seats int // its seats, by index in seat order
}

// Seat flags as layout.flags keeps them.
const (
	flagAccessible = 1 << iota
	flagAisle
)

// layoutOf decodes a program's description as seatd sends it
// (GetProgramResponse.spec, CreateProgramResponse.spec) into a layout.
func layoutOf(b []byte) (*layout, error) {
	spec, rest, err := inventory.ReadProgramSpec(b)
	if err == nil && len(rest) != 0 {
		err = fmt.Errorf("%d bytes after the description", len(rest))
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: seatd sent a program description that does not decode: %w", err)
	}
	return newLayout(&spec), nil
}

// newLayout keeps a program's description. spec is canonical, as seatd
// sends it: stops and defaults filled in, labels equal to the column
// left out.
func newLayout(spec *inventory.ProgramSpec) *layout {
	l := &layout{stops: int32(len(spec.Stops))}
	head := programFields{ID: spec.ID, Name: spec.Name, Stops: spec.Stops, Categories: make([]categoryJSON, len(spec.Categories)),
		HoldTTLSeconds: int64(spec.HoldTTL / time.Second), MaxSeatsPerHold: int64(spec.MaxSeatsPerHold),
		MaxSeatsPerUser: int64(spec.MaxSeatsPerUser), RealName: spec.RealName, RefundResells: spec.RefundResells,
		AllowOrphans: spec.AllowOrphans, RefuseOrphans: spec.RefuseOrphans, ReserveAccessible: spec.ReserveAccessible,
		FocalPoint: pointToJSON(spec.Focal)}
	catIndex := map[string]uint8{}
	for i, c := range spec.Categories {
		head.Categories[i] = categoryJSON{ID: c.ID, Name: c.Name, PriceCents: c.PriceCents}
		l.categories = append(l.categories, c.ID)
		catIndex[c.ID] = uint8(i)
	}
	l.head = encode(head)
	l.head = l.head[:len(l.head)-1] // the closing brace: the sale state and the layout follow
	n, nRows, labelled := 0, 0, false
	for _, sec := range spec.Layout.Sections {
		nRows += len(sec.Rows)
		for _, row := range sec.Rows {
			n += len(row.Seats)
			for _, st := range row.Seats {
				labelled = labelled || st.Label != ""
			}
		}
	}
	l.cols, l.cats = make([]uint16, 0, n), make([]uint8, 0, n)
	l.sections, l.rows = make([]layoutSection, 0, len(spec.Layout.Sections)), make([]layoutRow, 0, nRows)
	if labelled {
		l.labelEnd = make([]uint32, 0, n)
	}
	var labels []byte
	l.counts = make([]int32, len(spec.Layout.Sections)*len(l.categories))
	for si, sec := range spec.Layout.Sections {
		l.sections = append(l.sections, layoutSection{id: sec.ID, name: sec.Name, first: len(l.rows), rows: len(sec.Rows), at: sec.At})
		for _, row := range sec.Rows {
			l.rows = append(l.rows, layoutRow{id: row.ID, rank: int32(row.Rank), first: len(l.cols), seats: len(row.Seats)})
			for _, st := range row.Seats {
				cat := catIndex[st.Category]
				var f uint8
				if st.Accessible {
					f |= flagAccessible
				}
				if st.Aisle {
					f |= flagAisle
				}
				if f != 0 {
					l.flagged, l.flags = append(l.flagged, uint32(len(l.cols))), append(l.flags, f)
				}
				l.cols, l.cats = append(l.cols, uint16(st.Col)), append(l.cats, cat)
				l.counts[si*len(l.categories)+int(cat)]++
				if labelled {
					labels = append(labels, st.Label...)
					l.labelEnd = append(l.labelEnd, uint32(len(labels)))
				}
			}
		}
	}
	l.labels = string(labels)
	l.size = int64(unsafe.Sizeof(*l)) + int64(cap(l.head)) + int64(cap(l.cols))*2 + int64(cap(l.cats)) + int64(len(l.labels)) +
		int64(cap(l.labelEnd))*4 + int64(cap(l.flagged))*4 + int64(cap(l.flags)) + int64(cap(l.counts))*4 +
		int64(cap(l.sections))*int64(unsafe.Sizeof(layoutSection{})) + int64(cap(l.rows))*int64(unsafe.Sizeof(layoutRow{}))
	for _, c := range l.categories {
		l.size += int64(unsafe.Sizeof(c)) + int64(len(c))
	}
	for _, s := range l.sections {
		l.size += int64(len(s.id) + len(s.name))
		if s.at != nil {
			l.size += int64(unsafe.Sizeof(*s.at))
		}
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

// ownLabel returns seat i's own label, "" when it is its column.
func (l *layout) ownLabel(i int) string {
	if l.labelEnd == nil {
		return ""
	}
	start := uint32(0)
	if i > 0 {
		start = l.labelEnd[i-1]
	}
	return l.labels[start:l.labelEnd[i]]
}

// label returns seat i's label: its own, else its column.
func (l *layout) label(i int) string {
	if s := l.ownLabel(i); s != "" {
		return s
	}
	return strconv.Itoa(int(l.cols[i]))
}
