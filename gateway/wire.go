package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"seatd/inventory"
	rpc "seatd/kitex_gen/inventoryrpc"
)

// The JSON shapes of DESIGN.md section 6.1 and their conversion to and
// from the inventory RPC's types. Ids are strings on the wire.
//
// Every number of a request is read as an int64, the widest a JSON
// integer may be here, and range-checked before any narrowing or
// arithmetic: reading into an int32 would refuse 2^31 naming a Go type,
// and narrowing it later would wrap it. An integer field's range tag is
// the values openapi.yaml gives it (lo..hi, alternatives joined by |):
// the decoder names it for a number past 64 bits, which no check after
// decoding can see (TestRequestRangesMatchOpenAPI holds the two alike).

type categoryJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents" range:"0..100000000"`
}

type seatJSON struct {
	Col        int64  `json:"col" range:"0..65535"`
	Label      string `json:"label,omitempty"`
	Category   string `json:"category"`
	Accessible bool   `json:"accessible,omitempty"`
	Aisle      bool   `json:"aisle,omitempty"`
}

type rowJSON struct {
	ID    string     `json:"id"`
	Rank  int64      `json:"rank" range:"-2147483648..2147483647"`
	Seats []seatJSON `json:"seats"`
}

// sectionJSON is a section; x and y place it on the venue's plan (see
// pointJSON): both or neither, and every section of a program or none.
type sectionJSON struct {
	ID   string    `json:"id"`
	Name string    `json:"name"`
	X    *int64    `json:"x,omitempty" range:"-1000000..1000000"`
	Y    *int64    `json:"y,omitempty" range:"-1000000..1000000"`
	Rows []rowJSON `json:"rows"`
}

// pointJSON is a place on the venue's plan, inventory.Point: layout
// units (decimetres), each coordinate within ±inventory.MaxCoord. A
// request gives both.
type pointJSON struct {
	X *int64 `json:"x" range:"-1000000..1000000"`
	Y *int64 `json:"y" range:"-1000000..1000000"`
}

// point checks a place given at field (its coordinates are field.x and
// field.y) and converts it; code is the refusal's error code.
func (pt pointJSON) point(field, code string) (*rpc.Point, *apiError) {
	for _, c := range []struct {
		name string
		v    *int64
	}{{"x", pt.X}, {"y", pt.Y}} {
		switch {
		case c.v == nil:
			return nil, invalid(code, field+"."+c.name, "left out: give x and y")
		case *c.v < -inventory.MaxCoord || *c.v > inventory.MaxCoord:
			return nil, invalid(code, field+"."+c.name, "%d, want %d to %d (decimetres)", *c.v, -inventory.MaxCoord, inventory.MaxCoord)
		}
	}
	return &rpc.Point{X: int32(*pt.X), Y: int32(*pt.Y)}, nil
}

// pointToJSON converts a place on the plan for an answer; nil stays nil.
func pointToJSON(p *inventory.Point) *pointJSON {
	if p == nil {
		return nil
	}
	x, y := int64(p.X), int64(p.Y)
	return &pointJSON{X: &x, Y: &y}
}

type layoutJSON struct {
	Sections []sectionJSON `json:"sections"`
}

type gridJSON struct {
	Sections   int64 `json:"sections" range:"1..4096"`
	Rows       int64 `json:"rows" range:"1..262144"`
	Cols       int64 `json:"cols" range:"1..1024"`
	Categories []struct {
		ID   string  `json:"id"`
		Rows []int64 `json:"rows" range:"1..262144"` // first and last row, 1-based
	} `json:"categories"`
	// SectionPositions places the sections on the plan, one per section
	// in order, or none.
	SectionPositions []pointJSON `json:"section_positions"`
}

// programFields are the fields a program create request and a program
// answer share.
type programFields struct {
	ID              string         `json:"id"`
	Name            string         `json:"name"`
	Stops           []string       `json:"stops"`
	Categories      []categoryJSON `json:"categories"`
	HoldTTLSeconds  int64          `json:"hold_ttl_seconds" range:"0|10..86400"`
	MaxSeatsPerHold int64          `json:"max_seats_per_hold" range:"0..64"`
	MaxSeatsPerUser int64          `json:"max_seats_per_user" range:"0..65536"`
	RealName        bool           `json:"real_name"`
	RefundResells   bool           `json:"refund_resells"`
	AllowOrphans    bool           `json:"allow_orphans"`
	RefuseOrphans   bool           `json:"refuse_orphans"`
	// ReserveAccessible: general requests never take accessible seats.
	ReserveAccessible bool `json:"reserve_accessible"`
	// FocalPoint: best-available seats nearest it within a rank; left
	// out (the default), nearest the row's centre.
	FocalPoint *pointJSON `json:"focal_point,omitempty"`
}

// programIn is a program create request: an explicit layout, or a grid.
type programIn struct {
	programFields
	// ID shadows programFields.ID: left out, the gateway names the
	// program (programID); given, it must be a valid id.
	ID     *string     `json:"id"`
	Layout *layoutJSON `json:"layout"`
	Grid   *gridJSON   `json:"grid"`
}

// programID names a program created without an id: from the request's
// Idempotency-Key when it has one, so that a retry names the same program
// and finds it created, else at random. Either way "p-" and 20 hex digits,
// a valid id.
func programID(idempotencyKey string) string {
	if idempotencyKey != "" {
		sum := sha256.Sum256([]byte("program\x00" + idempotencyKey))
		return "p-" + hex.EncodeToString(sum[:10])
	}
	var b [10]byte
	rand.Read(b[:]) // never fails
	return "p-" + hex.EncodeToString(b[:])
}

// spec checks a create request and converts it, generating a grid's
// layout. The gateway checks every field but the layout itself, so that
// each error names the field as the client wrote it (the engine says
// hold_ttl where the client wrote hold_ttl_seconds) and is refused
// before any conversion; the layout's own rules are the engine's, and
// their errors come back as INVALID_LAYOUT.
func (p *programIn) spec() (*rpc.ProgramSpec, *apiError) {
	arg := func(field, format string, args ...any) (*rpc.ProgramSpec, *apiError) {
		return nil, invalid("INVALID_ARGUMENT", field, format, args...)
	}
	if !inventory.ValidID(p.programFields.ID) {
		return arg("id", "%q: want 1-%d of A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit (or leave id out and the gateway names the program)",
			p.programFields.ID, inventory.MaxIDLen)
	}
	if len(p.Name) > inventory.MaxNameLen {
		return arg("name", "%d bytes, at most %d", len(p.Name), inventory.MaxNameLen)
	}
	if n := len(p.Stops); n != 0 && (n < 2 || n > inventory.MaxLegs+1) {
		return arg("stops", "%d stops, want 2-%d (or none: doors and end)", n, inventory.MaxLegs+1)
	}
	for i, st := range p.Stops {
		if st == "" || len(st) > inventory.MaxNameLen {
			return arg(fmt.Sprintf("stops[%d]", i), "want a name of 1-%d bytes", inventory.MaxNameLen)
		}
	}
	if n := len(p.Categories); n < 1 || n > inventory.MaxCategories {
		return arg("categories", "%d categories, want 1-%d", n, inventory.MaxCategories)
	}
	seen := make(map[string]bool, len(p.Categories))
	for i, c := range p.Categories {
		at := fmt.Sprintf("categories[%d]", i)
		switch {
		case !inventory.ValidID(c.ID):
			return arg(at+".id", "%q: want 1-%d of A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit", c.ID, inventory.MaxIDLen)
		case seen[c.ID]:
			return arg(at+".id", "%q: an earlier category has this id", c.ID)
		case len(c.Name) > inventory.MaxNameLen:
			return arg(at+".name", "%d bytes, at most %d", len(c.Name), inventory.MaxNameLen)
		case c.PriceCents < 0 || c.PriceCents > inventory.MaxPriceCents:
			return arg(at+".price_cents", "%d, want 0-%d", c.PriceCents, int64(inventory.MaxPriceCents))
		}
		seen[c.ID] = true
	}
	minTTL, maxTTL := int64(inventory.MinHoldTTL/time.Second), int64(inventory.MaxHoldTTL/time.Second)
	if t := p.HoldTTLSeconds; t != 0 && (t < minTTL || t > maxTTL) {
		return arg("hold_ttl_seconds", "%d, want %d-%d (or 0: the inventory's default)", t, minTTL, maxTTL)
	}
	if m := p.MaxSeatsPerHold; m < 0 || m > inventory.MaxSeatsPerHoldLimit {
		return arg("max_seats_per_hold", "%d, want 1-%d (or 0: %d)", m, inventory.MaxSeatsPerHoldLimit, inventory.DefaultMaxSeatsPerHold)
	}
	perHold := p.MaxSeatsPerHold
	if perHold == 0 {
		perHold = inventory.DefaultMaxSeatsPerHold
	}
	if m := p.MaxSeatsPerUser; m != 0 && (m < perHold || m > inventory.MaxSeatsPerUserLimit) {
		return arg("max_seats_per_user", "%d, want %d-%d (at least max_seats_per_hold; or 0: the larger of %d and max_seats_per_hold)",
			m, perHold, inventory.MaxSeatsPerUserLimit, inventory.DefaultMaxSeatsPerUser)
	}
	if (p.Layout == nil) == (p.Grid == nil) {
		return arg("layout", "give a layout or a grid, exactly one")
	}
	spec := &rpc.ProgramSpec{Id: p.programFields.ID, Name: p.Name, Stops: p.Stops, HoldTtlSeconds: p.HoldTTLSeconds,
		MaxSeatsPerHold: int32(p.MaxSeatsPerHold), MaxSeatsPerUser: int32(p.MaxSeatsPerUser), RealName: p.RealName, RefundResells: p.RefundResells,
		AllowOrphans: p.AllowOrphans, RefuseOrphans: p.RefuseOrphans, ReserveAccessible: p.ReserveAccessible}
	if p.FocalPoint != nil {
		var aerr *apiError
		if spec.FocalPoint, aerr = p.FocalPoint.point("focal_point", "INVALID_ARGUMENT"); aerr != nil {
			return nil, aerr
		}
	}
	for _, c := range p.Categories {
		spec.Categories = append(spec.Categories, &rpc.Category{Id: c.ID, Name: c.Name, PriceCents: c.PriceCents})
	}
	layout := p.Layout
	if p.Grid != nil {
		var aerr *apiError
		if layout, aerr = p.Grid.layout(p.Categories); aerr != nil {
			return nil, aerr
		}
	}
	for si, sec := range layout.Sections {
		s := &rpc.Section{Id: sec.ID, Name: sec.Name}
		if placed := sec.X != nil || sec.Y != nil; placed != (layout.Sections[0].X != nil || layout.Sections[0].Y != nil) {
			return nil, invalid("INVALID_LAYOUT", fmt.Sprintf("layout.sections[%d].x", si), "give every section x and y, or none")
		} else if placed {
			var aerr *apiError
			if s.Position, aerr = (pointJSON{sec.X, sec.Y}).point(fmt.Sprintf("layout.sections[%d]", si), "INVALID_LAYOUT"); aerr != nil {
				return nil, aerr
			}
		}
		for ri, row := range sec.Rows {
			at := fmt.Sprintf("layout.sections[%d].rows[%d]", si, ri)
			if row.Rank < math.MinInt32 || row.Rank > math.MaxInt32 {
				return nil, invalid("INVALID_LAYOUT", at+".rank", "%d, want %d-%d", row.Rank, math.MinInt32, math.MaxInt32)
			}
			r := &rpc.Row{Id: row.ID, Rank: int32(row.Rank)}
			for k, st := range row.Seats {
				if st.Col < 0 || st.Col > inventory.MaxCol {
					return nil, invalid("INVALID_LAYOUT", fmt.Sprintf("%s.seats[%d].col", at, k), "%d, want 0-%d", st.Col, inventory.MaxCol)
				}
				r.Seats = append(r.Seats, &rpc.Seat{Col: int32(st.Col), Label: st.Label, Category: st.Category, Accessible: st.Accessible, Aisle: st.Aisle})
			}
			s.Rows = append(s.Rows, r)
		}
		spec.Sections = append(spec.Sections, s)
	}
	if spec.FocalPoint != nil && spec.Sections[0].Position == nil {
		return arg("focal_point", "there is nothing to measure from: give every section x and y (a grid: section_positions)")
	}
	return spec, nil
}

// layout generates a grid's layout, checking each dimension before the
// generator multiplies them, and its row ranges against each other and
// against the program's categories, so that every refusal names a field
// of the grid the client wrote.
func (g *gridJSON) layout(cats []categoryJSON) (*layoutJSON, *apiError) {
	bad := func(field, format string, args ...any) (*layoutJSON, *apiError) {
		return nil, invalid("INVALID_LAYOUT", "grid."+field, format, args...)
	}
	switch {
	case g.Sections < 1 || g.Sections > inventory.MaxSectionsPerProgram:
		return bad("sections", "%d, want 1-%d", g.Sections, inventory.MaxSectionsPerProgram)
	case g.Rows < 1 || g.Rows > inventory.MaxRowsPerProgram:
		return bad("rows", "%d, want 1-%d", g.Rows, inventory.MaxRowsPerProgram)
	case g.Cols < 1 || g.Cols > inventory.MaxRowWidth:
		return bad("cols", "%d, want 1-%d", g.Cols, inventory.MaxRowWidth)
	}
	gr := inventory.Grid{Sections: int(g.Sections), Rows: int(g.Rows), Cols: int(g.Cols)}
	for i, c := range g.Categories {
		at := fmt.Sprintf("categories[%d].rows", i)
		if len(c.Rows) != 2 {
			return bad(at, "%d numbers, want 2: the first and last row", len(c.Rows))
		}
		if first, last := c.Rows[0], c.Rows[1]; first < 1 || last > g.Rows || first > last {
			return bad(at, "[%d, %d], want first <= last within rows 1-%d", first, last, g.Rows)
		}
		if !slices.ContainsFunc(cats, func(pc categoryJSON) bool { return pc.ID == c.ID }) {
			return bad(fmt.Sprintf("categories[%d].id", i), "%q is not one of the program's categories", c.ID)
		}
		for j, o := range g.Categories[:i] {
			if len(o.Rows) == 2 && o.Rows[0] <= c.Rows[1] && c.Rows[0] <= o.Rows[1] {
				return bad(at, "[%d, %d] overlaps categories[%d].rows [%d, %d]: a row has one category", c.Rows[0], c.Rows[1], j, o.Rows[0], o.Rows[1])
			}
		}
		gr.Categories = append(gr.Categories, inventory.GridCategory{ID: c.ID, First: int(c.Rows[0]), Last: int(c.Rows[1])})
	}
	covered := int64(0)
	for _, c := range g.Categories {
		covered += c.Rows[1] - c.Rows[0] + 1
	}
	if covered != g.Rows {
		return bad("categories", "they cover %d of the %d rows; give every row a category", covered, g.Rows)
	}
	if n := len(g.SectionPositions); n != 0 && int64(n) != g.Sections {
		return bad("section_positions", "%d positions for %d sections: give one per section, or none", n, g.Sections)
	}
	for i, pt := range g.SectionPositions {
		if _, aerr := pt.point(fmt.Sprintf("grid.section_positions[%d]", i), "INVALID_LAYOUT"); aerr != nil {
			return nil, aerr
		}
	}
	l, err := gr.Layout()
	if err != nil {
		return nil, &apiError{Status: http.StatusUnprocessableEntity, Code: "INVALID_LAYOUT", Message: err.Error(), Details: map[string]any{"field": "grid"}}
	}
	out := layoutToJSON(l)
	for i, pt := range g.SectionPositions {
		out.Sections[i].X, out.Sections[i].Y = pt.X, pt.Y
	}
	return out, nil
}

// LayoutJSON is a layout in the contract's JSON shape, as a program
// create request's "layout" carries it: for clients that generate layouts
// the grid does not cover (seatdev's demo train).
func LayoutJSON(l inventory.Layout) any { return layoutToJSON(l) }

func layoutToJSON(l inventory.Layout) *layoutJSON {
	out := &layoutJSON{}
	for _, sec := range l.Sections {
		s := sectionJSON{ID: sec.ID, Name: sec.Name}
		if pt := pointToJSON(sec.At); pt != nil {
			s.X, s.Y = pt.X, pt.Y
		}
		for _, row := range sec.Rows {
			r := rowJSON{ID: row.ID, Rank: int64(row.Rank)}
			for _, st := range row.Seats {
				r.Seats = append(r.Seats, seatJSON{Col: int64(st.Col), Label: st.Label, Category: st.Category, Accessible: st.Accessible, Aisle: st.Aisle})
			}
			s.Rows = append(s.Rows, r)
		}
		out.Sections = append(out.Sections, s)
	}
	return out
}

// holderJSON is a ticket holder of a real-name program. The node
// normalises the name and number (see docs/gateway.md), so that every
// way of typing one ID number is one person.
type holderJSON struct {
	Name     string  `json:"name"`
	IDNumber string  `json:"id_number"`
	IDType   *string `json:"id_type"` // resident_id (left out: the default) or passport
}

// idType is the holder's ID type as the engine spells it: "" for the
// default.
func (h holderJSON) idType() string {
	if h.IDType == nil {
		return ""
	}
	return *h.IDType
}

// holdIn is a hold request; absent fields take the contract's defaults.
type holdIn struct {
	Category           string       `json:"category"`
	Count              *int64       `json:"count" range:"1..64"`
	Together           *bool        `json:"together"`
	Accessible         bool         `json:"accessible"`
	SeatPreference     *string      `json:"seat_preference"` // best-available: window, aisle
	From               *int64       `json:"from" range:"0..63"`
	To                 *int64       `json:"to" range:"1..64"`
	Seats              []string     `json:"seats"`
	Holders            []holderJSON `json:"holders"`
	ExpectedTotalCents *int64       `json:"expected_total_cents" range:"0..9223372036854775807"`
}

// count is the count asked for, 0 when left out.
func (h *holdIn) count() int64 {
	if h.Count == nil {
		return 0
	}
	return *h.Count
}

// request checks the fields the gateway can judge alone and converts.
// The leg range is checked against the program's stops by the caller.
// A field given is checked as given, even where leaving it out would do
// (a count of 0 beside named seats, an empty list of seats, an empty ID
// type), so that the server accepts exactly what openapi.yaml describes.
func (h *holdIn) request(program string, user int64) (*rpc.HoldRequest, *apiError) {
	bad := func(field, format string, args ...any) (*rpc.HoldRequest, *apiError) {
		return nil, invalid("INVALID_ARGUMENT", field, format, args...)
	}
	limit := int64(inventory.MaxSeatsPerHoldLimit)
	named := int64(len(h.Seats))
	switch {
	case h.Seats != nil && named == 0:
		return bad("seats", "an empty list: name 1-%d seats, or leave seats out and give a count", limit)
	case named > limit:
		return bad("seats", "%d named, at most %d", named, limit)
	case h.Count != nil && (*h.Count < 1 || *h.Count > limit):
		return bad("count", "%d, want 1-%d", *h.Count, limit)
	case named > 0 && h.Count != nil && *h.Count != named:
		return bad("count", "%d, but %d seats are named: give seats or a count, not both", *h.Count, named)
	case named == 0 && h.Count == nil:
		return bad("count", "left out: give a count of 1-%d, or name seats", limit)
	case int64(len(h.Holders)) > limit:
		return bad("holders", "%d, at most %d", len(h.Holders), limit)
	case h.ExpectedTotalCents != nil && *h.ExpectedTotalCents < 0:
		return bad("expected_total_cents", "%d, want 0 or more", *h.ExpectedTotalCents)
	}
	var prefer inventory.SeatPosition
	if h.SeatPreference != nil {
		p, ok := inventory.ParseSeatPosition(*h.SeatPreference)
		switch {
		case !ok || p == inventory.PositionAny:
			return bad("seat_preference", "%q, want window or aisle (or leave it out)", *h.SeatPreference)
		case named > 0:
			return bad("seat_preference", "is for best-available holds: named seats are where they are; leave it out or give a count")
		}
		prefer = p
	}
	req := &rpc.HoldRequest{ProgramId: program, UserId: user, Category: h.Category, Together: h.Together == nil || *h.Together,
		Accessible: h.Accessible, SeatIds: h.Seats, ExpectedTotalCents: h.ExpectedTotalCents, SeatPreference: int8(prefer)}
	if named == 0 {
		req.Count = int32(*h.Count)
	}
	for i, hd := range h.Holders {
		if _, ok := inventory.ParseIDType(hd.idType()); !ok || hd.IDType != nil && *hd.IDType == "" {
			return nil, invalid("HOLDERS_MISMATCH", fmt.Sprintf("holders[%d].id_type", i), "%q, want resident_id or passport (or leave it out)", hd.idType()).
				with("index", i)
		}
		req.Holders = append(req.Holders, &rpc.Holder{Name: hd.Name, IdNumber: hd.IDNumber, IdType: hd.idType()})
	}
	return req, nil
}

// checkStops checks a leg range of stop indexes against a program of
// stops stops (indexes 0 to stops-1) and resolves it; nil from is the
// first stop, nil to the last. It runs before any narrowing, on every
// route that takes a range, so that each says the program's own range.
func checkStops(from, to *int64, stops int32) (int32, int32, *apiError) {
	last := int64(stops) - 1
	f, t := int64(0), last
	if from != nil {
		f = *from
	}
	if to != nil {
		t = *to
	}
	if f < 0 || f >= last {
		return 0, 0, stopError("from", f, 0, last-1, last)
	}
	if t <= f || t > last {
		return 0, 0, stopError("to", t, f+1, last, last)
	}
	return int32(f), int32(t), nil
}

// stopError refuses an end of a leg range: v is not within lo-hi, on a
// program whose stops are 0-last. Limit is the largest value allowed.
func stopError(field string, v, lo, hi, last int64) *apiError {
	if lo > hi {
		return invalid("INVALID_ARGUMENT", field, "%d: no stop fits: this program's stops are 0-%d, and a range ends after it starts", v, last).
			with("limit", hi)
	}
	return invalid("INVALID_ARGUMENT", field, "%d, want a stop index %d-%d: this program's stops are 0-%d, and a range ends after it starts",
		v, lo, hi, last).with("limit", hi)
}

type heldSeatJSON struct {
	ID         string `json:"id"`
	Label      string `json:"label"`
	Category   string `json:"category"`
	PriceCents int64  `json:"price_cents"`
	Refunded   bool   `json:"refunded,omitempty"`
}

type holdOut struct {
	HoldID     string         `json:"hold_id"`
	OrderNo    string         `json:"order_no"`
	ProgramID  string         `json:"program_id"`
	Status     string         `json:"status"`
	Reason     string         `json:"reason,omitempty"`
	Seats      []heldSeatJSON `json:"seats"`
	From       int32          `json:"from"`
	To         int32          `json:"to"`
	TotalCents int64          `json:"total_cents"`
	CreatedAt  string         `json:"created_at"`
	ExpiresAt  string         `json:"expires_at"`
}

func holdToJSON(h *rpc.Hold) holdOut {
	out := holdOut{HoldID: strconv.FormatInt(h.HoldId, 10), OrderNo: strconv.FormatUint(uint64(h.OrderNo), 10),
		ProgramID: h.ProgramId, Status: h.Status, Reason: h.Reason, From: h.FromLeg, To: h.ToLeg, TotalCents: h.TotalCents,
		CreatedAt: exactTime(h.CreatedAtUnixNs), ExpiresAt: exactTime(h.ExpiresAtUnixNs), Seats: []heldSeatJSON{}}
	if h.Status == "RELEASED" && h.Reason == "" {
		out.Reason = "cancelled"
	}
	if h.Status != "RELEASED" {
		out.Reason = ""
	}
	for _, s := range h.Seats {
		out.Seats = append(out.Seats, heldSeatJSON{ID: s.Id, Label: s.Label, Category: s.Category, PriceCents: s.PriceCents, Refunded: s.Refunded})
	}
	return out
}

// exactTime formats a hold's time to the nanosecond the leader stamped:
// a hold is expired from its expires_at on, so a client counting down
// to it must not be told a time up to a second late.
func exactTime(unixNs int64) string {
	return time.Unix(0, unixNs).UTC().Format(time.RFC3339Nano)
}

type blockIn struct {
	Seats   []string `json:"seats"`
	From    *int64   `json:"from" range:"0..63"`
	To      *int64   `json:"to" range:"1..64"`
	Unblock bool     `json:"unblock"`
}
