package gateway

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
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
// and narrowing it later would wrap it.

type categoryJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
}

type seatJSON struct {
	Col        int64  `json:"col"`
	Label      string `json:"label,omitempty"`
	Category   string `json:"category"`
	Accessible bool   `json:"accessible,omitempty"`
	Aisle      bool   `json:"aisle,omitempty"`
}

type rowJSON struct {
	ID    string     `json:"id"`
	Rank  int64      `json:"rank"`
	Seats []seatJSON `json:"seats"`
}

type sectionJSON struct {
	ID   string    `json:"id"`
	Name string    `json:"name"`
	Rows []rowJSON `json:"rows"`
}

type layoutJSON struct {
	Sections []sectionJSON `json:"sections"`
}

type gridJSON struct {
	Sections   int64 `json:"sections"`
	Rows       int64 `json:"rows"`
	Cols       int64 `json:"cols"`
	Categories []struct {
		ID   string  `json:"id"`
		Rows []int64 `json:"rows"` // first and last row, 1-based
	} `json:"categories"`
}

// programFields are the fields a program create request and a program
// answer share.
type programFields struct {
	ID              string         `json:"id"`
	Name            string         `json:"name"`
	Stops           []string       `json:"stops"`
	Categories      []categoryJSON `json:"categories"`
	HoldTTLSeconds  int64          `json:"hold_ttl_seconds"`
	MaxSeatsPerHold int64          `json:"max_seats_per_hold"`
	MaxSeatsPerUser int64          `json:"max_seats_per_user"`
	RealName        bool           `json:"real_name"`
	RefundResells   bool           `json:"refund_resells"`
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
		MaxSeatsPerHold: int32(p.MaxSeatsPerHold), MaxSeatsPerUser: int32(p.MaxSeatsPerUser), RealName: p.RealName, RefundResells: p.RefundResells}
	for _, c := range p.Categories {
		spec.Categories = append(spec.Categories, &rpc.Category{Id: c.ID, Name: c.Name, PriceCents: c.PriceCents})
	}
	layout := p.Layout
	if p.Grid != nil {
		var aerr *apiError
		if layout, aerr = p.Grid.layout(); aerr != nil {
			return nil, aerr
		}
	}
	for si, sec := range layout.Sections {
		s := &rpc.Section{Id: sec.ID, Name: sec.Name}
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
	return spec, nil
}

// layout generates a grid's layout, checking each dimension before the
// generator multiplies them.
func (g *gridJSON) layout() (*layoutJSON, *apiError) {
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
		gr.Categories = append(gr.Categories, inventory.GridCategory{ID: c.ID, First: int(c.Rows[0]), Last: int(c.Rows[1])})
	}
	l, err := gr.Layout()
	if err != nil {
		return nil, &apiError{Status: http.StatusUnprocessableEntity, Code: "INVALID_LAYOUT", Message: err.Error(), Details: map[string]any{"field": "grid"}}
	}
	return layoutToJSON(l), nil
}

// LayoutJSON is a layout in the contract's JSON shape, as a program
// create request's "layout" carries it: for clients that generate layouts
// the grid does not cover (seatdev's demo train).
func LayoutJSON(l inventory.Layout) any { return layoutToJSON(l) }

func layoutToJSON(l inventory.Layout) *layoutJSON {
	out := &layoutJSON{}
	for _, sec := range l.Sections {
		s := sectionJSON{ID: sec.ID, Name: sec.Name}
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
	Count              *int64       `json:"count"`
	Together           *bool        `json:"together"`
	Accessible         bool         `json:"accessible"`
	From               *int64       `json:"from"`
	To                 *int64       `json:"to"`
	Seats              []string     `json:"seats"`
	Holders            []holderJSON `json:"holders"`
	ExpectedTotalCents *int64       `json:"expected_total_cents"`
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
	req := &rpc.HoldRequest{ProgramId: program, UserId: user, Category: h.Category, Together: h.Together == nil || *h.Together,
		Accessible: h.Accessible, SeatIds: h.Seats, ExpectedTotalCents: h.ExpectedTotalCents}
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
	From    *int64   `json:"from"`
	To      *int64   `json:"to"`
	Unblock bool     `json:"unblock"`
}

// decodeJSON reads a request body into v, refusing unknown fields and
// trailing data, and says which field is wrong in the client's terms:
// the JSON name and the JSON type it wants, never a Go type. It then
// refuses what encoding/json lets through but openapi.yaml does not: a
// field name in another case than its own ("COUNT" for "count"), and
// null, which encoding/json reads as the field left out.
func decodeJSON(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		return errorf(http.StatusBadRequest, "INVALID_JSON", "the body is empty; want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("data after the JSON object")
	}
	if err == nil {
		return exactJSON(body, reflect.TypeOf(v))
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	msg := err.Error()
	e := errorf(http.StatusBadRequest, "INVALID_JSON", "")
	switch {
	case errors.As(err, &syntax):
		msg = fmt.Sprintf("malformed JSON at byte %d: %v", syntax.Offset, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		msg = "malformed JSON: it ends too soon"
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the body"
		} else {
			e.Details = map[string]any{"field": field}
		}
		msg = field + ": " + wrongType(reflect.TypeOf(v), typ)
	case strings.HasPrefix(msg, "json: unknown field "):
		msg = "unknown field " + strings.TrimPrefix(msg, "json: unknown field ")
	}
	e.Message = msg
	return e
}

// exactJSON walks a body that decoded into a value of type root and
// refuses the first null and the first field name that is not spelled
// exactly as its field's JSON name, naming where it is
// ("holders[1].id_type").
func exactJSON(body []byte, root reflect.Type) *apiError {
	// frame is an object or list being read: the type of its values and
	// where it is.
	type frame struct {
		t      reflect.Type
		object bool
		path   string
		named  bool // the object's next token is a value, of the field key
		key    string
		n      int // the list's items so far
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var stack []*frame
	// next returns the type and path of the value that comes next.
	next := func() (reflect.Type, string) {
		if len(stack) == 0 {
			return root, ""
		}
		f := stack[len(stack)-1]
		if f.object {
			f.named = false
			path := f.key
			if f.path != "" {
				path = f.path + "." + f.key
			}
			switch {
			case f.t == nil:
				return nil, path
			case f.t.Kind() == reflect.Map:
				return f.t.Elem(), path
			}
			sf, _ := jsonField(f.t, f.key)
			return sf.Type, path
		}
		f.n++
		path := fmt.Sprintf("%s[%d]", f.path, f.n-1)
		if f.t == nil {
			return nil, path
		}
		return f.t.Elem(), path
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // the end: Decode has read the body whole already
		}
		if top := len(stack) - 1; top >= 0 && stack[top].object && !stack[top].named {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:top]
				continue
			}
			f, name := stack[top], tok.(string)
			if f.t != nil && f.t.Kind() == reflect.Struct {
				if _, ok := jsonField(f.t, name); !ok {
					e := errorf(http.StatusBadRequest, "INVALID_JSON", fmt.Sprintf("unknown field %q", name))
					if f.path != "" {
						e.Message = f.path + ": " + e.Message
					}
					return e
				}
			}
			f.key, f.named = name, true
			continue
		}
		switch tok := tok.(type) {
		case json.Delim:
			if tok == ']' {
				stack = stack[:len(stack)-1]
				continue
			}
			t, path := next()
			for t != nil && t.Kind() == reflect.Pointer {
				t = t.Elem()
			}
			if t != nil && t.Kind() == reflect.Interface {
				t = nil
			}
			stack = append(stack, &frame{t: t, object: tok == '{', path: path})
		case nil:
			_, path := next()
			if path == "" {
				return errorf(http.StatusBadRequest, "INVALID_JSON", "the body: want an object, got null")
			}
			return invalid("INVALID_JSON", path, "null is not a value: leave the field out").status(http.StatusBadRequest)
		default:
			next()
		}
	}
}

// wrongType says what a field wants and what it got, in JSON terms.
// root is the type decoded into; the field's declared type is found
// from it, so that a wrong item in a list says what the list wants.
func wrongType(root reflect.Type, typ *json.UnmarshalTypeError) string {
	declared := fieldType(root, typ.Field)
	if declared == nil {
		declared = typ.Type
	}
	want, got := jsonType(declared), jsonValue(typ.Value)
	if k := declared.Kind(); declared != typ.Type && (k == reflect.Slice || k == reflect.Array) {
		return fmt.Sprintf("want %s, got %s in it", want, got)
	}
	if number, ok := strings.CutPrefix(typ.Value, "number "); ok && want == "an integer" && !strings.ContainsAny(number, ".eE") {
		return fmt.Sprintf("%s is out of range: want an integer from %d to %d", number, math.MinInt64, math.MaxInt64)
	}
	return fmt.Sprintf("want %s, got %s", want, got)
}

// fieldType finds the type of a dotted JSON path (as
// json.UnmarshalTypeError.Field gives it) in t, or nil.
func fieldType(t reflect.Type, path string) reflect.Type {
	if path == "" {
		return t
	}
	for name := range strings.SplitSeq(path, ".") {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return nil
		}
		f, ok := jsonField(t, name)
		if !ok {
			return nil
		}
		t = f.Type
	}
	return t
}

// jsonField finds the struct field named name in JSON, looking into
// embedded structs as encoding/json does.
func jsonField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && tag == "" {
			if sub, ok := jsonField(f.Type, name); ok {
				return sub, true
			}
			continue
		}
		if tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// jsonType names the JSON a Go type reads.
func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return jsonType(t.Elem())
	case reflect.Slice, reflect.Array:
		switch item := jsonType(t.Elem()); item {
		case "a string", "an integer", "an object":
			return "a list of " + strings.TrimPrefix(strings.TrimPrefix(item, "a "), "an ") + "s"
		default:
			return "a list"
		}
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Struct, reflect.Map, reflect.Interface:
		return "an object"
	}
	return "an integer" // every number the API reads is an integer
}

// jsonValue names what encoding/json found ("string", "number 1.5", ...).
func jsonValue(v string) string {
	switch v {
	case "string":
		return "a string"
	case "number":
		return "a number"
	case "bool":
		return "true or false"
	case "array":
		return "a list"
	case "object":
		return "an object"
	}
	if n, ok := strings.CutPrefix(v, "number "); ok {
		return n
	}
	return v
}
