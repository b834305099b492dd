package inventory

import "time"

// Engine-wide bounds on a program's description. Each is a hard limit of the
// encoding or of the search, not a tunable: raise one only with the code that
// depends on it.
const (
	// MaxLegs bounds stops-1. Leg ranges are kept as uint8 and the holder
	// index compares ranges per leg; 64 covers the longest train routes.
	MaxLegs = 64
	// MaxCategories bounds a program's price classes (category index is a uint8).
	MaxCategories = 64
	// MaxRowWidth bounds the span of column numbers in one row (16 bitset
	// words), so that one row's search touches a bounded number of words.
	MaxRowWidth = 1024
	// MaxCol bounds column numbers (kept as uint16).
	MaxCol = 65535
	// MaxSeatsPerProgram bounds one program's seats: a 4M-seat program costs
	// about 50 MiB of engine state, and seat indexes keep a flag bit free.
	MaxSeatsPerProgram = 1 << 22
	// MaxRowsPerProgram bounds rows (kept as uint32 in several places, but
	// the per-row overhead is what the bound protects).
	MaxRowsPerProgram = 1 << 18
	// MaxSectionsPerProgram bounds sections or carriages.
	MaxSectionsPerProgram = 4096
	// MaxSeatsPerHoldLimit bounds any program's MaxSeatsPerHold: runs of k
	// adjacent seats are found with shifts of less than one word.
	MaxSeatsPerHoldLimit = 64
	// MaxSeatsPerUserLimit bounds any program's MaxSeatsPerUser.
	MaxSeatsPerUserLimit = 1 << 16
	// MaxIDLen bounds ids of programs, categories, sections and rows.
	MaxIDLen = 64
	// MaxNameLen bounds names, labels, stop names and holder fields.
	MaxNameLen = 256
	// MaxPriceCents bounds a category's price (one million currency units),
	// so that totals of a hold never overflow.
	MaxPriceCents = 100_000_000
	// MaxCoord bounds the coordinates of section positions and of the
	// focal point, in layout units: 100 km either way of the origin, far
	// past any venue, and small enough that a squared distance between two
	// points of the plan, doubled so that a block's centre is an integer,
	// fits an int64 many times over.
	MaxCoord = 1_000_000
)

// Seat spacing on the venue's plan, in layout units (decimetres). Seat col
// of the row at index i (layout order, from 0) of a section at (x, y) is at
// (x + col*SeatPitch, y + i*RowPitch). Fixed rather than per venue: the
// focal rule only compares seats of one rank with each other, and these
// usual theatre sizes order them as a plan drawn to scale would.
const (
	SeatPitch = 5 // a seat 50 cm wide
	RowPitch  = 9 // a row 90 cm deep
)

// Defaults for a program's settings left at zero.
const (
	// DefaultHoldTTL is how long a hold waits for payment: long enough to
	// pay by QR code, short enough that abandoned seats return during an
	// on-sale.
	DefaultHoldTTL = 15 * time.Minute
	// MinHoldTTL and MaxHoldTTL bound a program's HoldTTL.
	MinHoldTTL = 10 * time.Second
	MaxHoldTTL = 24 * time.Hour
	// DefaultMaxSeatsPerHold is the usual flash-sale limit of six tickets
	// per order.
	DefaultMaxSeatsPerHold = 6
	// DefaultMaxSeatsPerUser is the usual per-buyer limit per program.
	DefaultMaxSeatsPerUser = 6
)

// ProgramSpec describes one sellable run: a concert on a date or a train on
// a date. It is the input of CreateProgram and the output of Program.Spec.
type ProgramSpec struct {
	ID         string
	Name       string
	Stops      []string   // at least 2; legs = len(Stops)-1, at most MaxLegs
	Categories []Category // price classes, 1..MaxCategories
	Layout     Layout

	HoldTTL         time.Duration // 0 = DefaultHoldTTL
	MaxSeatsPerHold int           // 0 = DefaultMaxSeatsPerHold; at most MaxSeatsPerHoldLimit
	MaxSeatsPerUser int           // 0 = DefaultMaxSeatsPerUser; at least MaxSeatsPerHold
	RealName        bool          // every held seat names a ticket holder
	RefundResells   bool          // refunded seats go back on sale (else they are blocked)

	// AllowOrphans lets best-available choose a block that leaves a
	// single empty seat beside a taken seat, a row end or an aisle when
	// a row of the same rank has a block that leaves none. Off (the
	// default), such a block is taken only when its rank has no other;
	// docs/inventory.md gives the order of the criteria.
	AllowOrphans bool
	// RefuseOrphans refuses a manual hold that would leave a single empty
	// seat (orphan_seat, naming the seat it strands). Off by default: the
	// big ticketing sites apply the rule to best-available only, and a
	// buyer who names seats chose them.
	RefuseOrphans bool
	// ReserveAccessible keeps accessible seats for requests that ask for
	// them: a general request never gets one. Off (the default), a
	// general request takes accessible seats only when nothing else fits
	// it, adjacent or split (docs/inventory.md).
	ReserveAccessible bool
	// Focal is the point best-available seats buyers nearest to within a
	// rank (a stage, a screen), on the plan the sections' positions are
	// on; it needs every section placed. Nil (the default), a block
	// nearest its row's centre is best, in the first row of the rank that
	// has one. docs/inventory.md gives the order of the criteria.
	Focal *Point
}

// Point is a place on the venue's plan, in layout units (decimetres), each
// coordinate within ±MaxCoord. X grows with the column numbers along a
// row, Y from a section's first row to its last: a plan whose sections
// face the stage the same way. Integers keep the choice deterministic on
// every replica.
type Point struct {
	X, Y int
}

// Category is a price class.
type Category struct {
	ID         string
	Name       string
	PriceCents int64
}

// Layout is the seat layout: sections (stands, carriages), rows, seats.
type Layout struct {
	Sections []Section
}

// Section is a stand, block or train carriage.
type Section struct {
	ID   string // no '/'
	Name string
	Rows []Row
	// At places the section on the plan: where column 0 of its first row
	// would be (see SeatPitch). Every section is placed or none is; nil
	// leaves it off the plan.
	At *Point
}

// Row is one row of seats. Rank orders rows for best-available: lower is
// better; equal ranks keep layout order.
type Row struct {
	ID    string // no '/'
	Rank  int
	Seats []Seat
}

// Seat is one place. Adjacent seats are seats of one row with consecutive
// column numbers: a gap in the numbers (an aisle) separates blocks.
type Seat struct {
	Col        int
	Label      string // "" = the column number
	Category   string
	Accessible bool
	Aisle      bool
}
