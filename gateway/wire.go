package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"seatd/inventory"
	rpc "seatd/kitex_gen/inventoryrpc"
)

// The JSON shapes of DESIGN.md section 6.1 and their conversion to and
// from the inventory RPC's types. Ids are strings on the wire.

type categoryJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
}

type seatJSON struct {
	Col        int32  `json:"col"`
	Label      string `json:"label,omitempty"`
	Category   string `json:"category"`
	Accessible bool   `json:"accessible,omitempty"`
	Aisle      bool   `json:"aisle,omitempty"`
}

type rowJSON struct {
	ID    string     `json:"id"`
	Rank  int32      `json:"rank"`
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
	Sections   int `json:"sections"`
	Rows       int `json:"rows"`
	Cols       int `json:"cols"`
	Categories []struct {
		ID   string `json:"id"`
		Rows [2]int `json:"rows"` // first and last row, 1-based
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
	MaxSeatsPerHold int32          `json:"max_seats_per_hold"`
	MaxSeatsPerUser int32          `json:"max_seats_per_user"`
	RealName        bool           `json:"real_name"`
	RefundResells   bool           `json:"refund_resells"`
}

// programIn is a program create request: an explicit layout, or a grid.
type programIn struct {
	programFields
	Layout *layoutJSON `json:"layout"`
	Grid   *gridJSON   `json:"grid"`
}

type programOut struct {
	programFields
	SaleOpen bool       `json:"sale_open"`
	Layout   layoutJSON `json:"layout"`
}

// spec converts a create request, generating the grid's layout.
func (p *programIn) spec() (*rpc.ProgramSpec, *apiError) {
	if p.ID == "" {
		return nil, errorf(http.StatusUnprocessableEntity, "INVALID_ARGUMENT", "id: a program needs an id")
	}
	if (p.Layout == nil) == (p.Grid == nil) {
		return nil, errorf(http.StatusUnprocessableEntity, "INVALID_ARGUMENT", "layout, grid: give exactly one")
	}
	if p.HoldTTLSeconds < 0 || p.MaxSeatsPerHold < 0 || p.MaxSeatsPerUser < 0 {
		return nil, errorf(http.StatusUnprocessableEntity, "INVALID_ARGUMENT", "hold_ttl_seconds, max_seats_per_hold, max_seats_per_user: negative")
	}
	spec := &rpc.ProgramSpec{Id: p.ID, Name: p.Name, Stops: p.Stops, HoldTtlSeconds: p.HoldTTLSeconds,
		MaxSeatsPerHold: p.MaxSeatsPerHold, MaxSeatsPerUser: p.MaxSeatsPerUser, RealName: p.RealName, RefundResells: p.RefundResells}
	for _, c := range p.Categories {
		spec.Categories = append(spec.Categories, &rpc.Category{Id: c.ID, Name: c.Name, PriceCents: c.PriceCents})
	}
	layout := p.Layout
	if p.Grid != nil {
		g := inventory.Grid{Sections: p.Grid.Sections, Rows: p.Grid.Rows, Cols: p.Grid.Cols}
		for _, c := range p.Grid.Categories {
			g.Categories = append(g.Categories, inventory.GridCategory{ID: c.ID, First: c.Rows[0], Last: c.Rows[1]})
		}
		l, err := g.Layout()
		if err != nil {
			return nil, errorf(http.StatusUnprocessableEntity, "INVALID_LAYOUT", err.Error())
		}
		layout = layoutToJSON(l)
	}
	for _, sec := range layout.Sections {
		s := &rpc.Section{Id: sec.ID, Name: sec.Name}
		for _, row := range sec.Rows {
			r := &rpc.Row{Id: row.ID, Rank: row.Rank}
			for _, st := range row.Seats {
				r.Seats = append(r.Seats, &rpc.Seat{Col: st.Col, Label: st.Label, Category: st.Category, Accessible: st.Accessible, Aisle: st.Aisle})
			}
			s.Rows = append(s.Rows, r)
		}
		spec.Sections = append(spec.Sections, s)
	}
	return spec, nil
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
			r := rowJSON{ID: row.ID, Rank: int32(row.Rank)}
			for _, st := range row.Seats {
				r.Seats = append(r.Seats, seatJSON{Col: int32(st.Col), Label: st.Label, Category: st.Category, Accessible: st.Accessible, Aisle: st.Aisle})
			}
			s.Rows = append(s.Rows, r)
		}
		out.Sections = append(out.Sections, s)
	}
	return out
}

func programToJSON(spec *rpc.ProgramSpec, open bool) programOut {
	p := programOut{SaleOpen: open, programFields: programFields{ID: spec.Id, Name: spec.Name, Stops: spec.Stops,
		HoldTTLSeconds: spec.HoldTtlSeconds, MaxSeatsPerHold: spec.MaxSeatsPerHold, MaxSeatsPerUser: spec.MaxSeatsPerUser,
		RealName: spec.RealName, RefundResells: spec.RefundResells, Categories: []categoryJSON{}}}
	for _, c := range spec.Categories {
		p.Categories = append(p.Categories, categoryJSON{ID: c.Id, Name: c.Name, PriceCents: c.PriceCents})
	}
	for _, sec := range spec.Sections {
		s := sectionJSON{ID: sec.Id, Name: sec.Name}
		for _, row := range sec.Rows {
			r := rowJSON{ID: row.Id, Rank: row.Rank}
			for _, st := range row.Seats {
				r.Seats = append(r.Seats, seatJSON{Col: st.Col, Label: st.Label, Category: st.Category, Accessible: st.Accessible, Aisle: st.Aisle})
			}
			s.Rows = append(s.Rows, r)
		}
		p.Layout.Sections = append(p.Layout.Sections, s)
	}
	return p
}

type holderJSON struct {
	Name     string `json:"name"`
	IDNumber string `json:"id_number"`
}

// holdIn is a hold request; absent fields take the contract's defaults.
type holdIn struct {
	Category           string       `json:"category"`
	Count              int          `json:"count"`
	Together           *bool        `json:"together"`
	Accessible         bool         `json:"accessible"`
	From               *int         `json:"from"`
	To                 *int         `json:"to"`
	Seats              []string     `json:"seats"`
	Holders            []holderJSON `json:"holders"`
	ExpectedTotalCents *int64       `json:"expected_total_cents"`
}

// request checks the fields the gateway can judge alone and converts.
func (h *holdIn) request(program string, user int64) (*rpc.HoldRequest, *apiError) {
	bad := func(msg string) (*rpc.HoldRequest, *apiError) {
		return nil, errorf(http.StatusUnprocessableEntity, "INVALID_ARGUMENT", msg)
	}
	limit := inventory.MaxSeatsPerHoldLimit
	switch {
	case len(h.Seats) > limit:
		return bad(fmt.Sprintf("seats: %d named, at most %d", len(h.Seats), limit))
	case len(h.Seats) > 0 && h.Count != 0 && h.Count != len(h.Seats):
		return bad("count: give seats or a count, not both")
	case len(h.Seats) == 0 && (h.Count < 1 || h.Count > limit):
		return bad(fmt.Sprintf("count: %d, want 1-%d (or name seats)", h.Count, limit))
	case len(h.Holders) > limit:
		return bad(fmt.Sprintf("holders: %d, at most %d", len(h.Holders), limit))
	case h.From != nil && (*h.From < 0 || *h.From >= inventory.MaxLegs):
		return bad(fmt.Sprintf("from: %d, want a stop index 0-%d", *h.From, inventory.MaxLegs-1))
	case h.To != nil && (*h.To < 1 || *h.To > inventory.MaxLegs || (h.From != nil && *h.To <= *h.From)):
		return bad("to: want a stop index after from")
	case h.ExpectedTotalCents != nil && *h.ExpectedTotalCents < 0:
		return bad("expected_total_cents: negative")
	}
	req := &rpc.HoldRequest{ProgramId: program, UserId: user, Category: h.Category, Count: int32(h.Count),
		Together: h.Together == nil || *h.Together, Accessible: h.Accessible, SeatIds: h.Seats,
		ExpectedTotalCents: h.ExpectedTotalCents}
	if len(h.Seats) > 0 {
		req.Count = 0
	}
	if h.From != nil {
		req.FromLeg = int32(*h.From)
	}
	if h.To != nil {
		req.ToLeg = int32(*h.To)
	}
	for _, hd := range h.Holders {
		req.Holders = append(req.Holders, &rpc.Holder{Name: hd.Name, IdNumber: hd.IDNumber})
	}
	return req, nil
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
		CreatedAt: rfc3339(h.CreatedAtUnixMs), ExpiresAt: rfc3339(h.ExpiresAtUnixMs), Seats: []heldSeatJSON{}}
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

func rfc3339(unixMs int64) string {
	return time.UnixMilli(unixMs).UTC().Format(time.RFC3339)
}

type blockIn struct {
	Seats   []string `json:"seats"`
	From    *int     `json:"from"`
	To      *int     `json:"to"`
	Unblock bool     `json:"unblock"`
}

// decodeJSON reads a request body into v, refusing unknown fields and
// trailing data, and says which field is wrong.
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
		return nil
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	msg := err.Error()
	switch {
	case errors.As(err, &syntax):
		msg = fmt.Sprintf("malformed JSON at byte %d: %v", syntax.Offset, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		msg = "malformed JSON: it ends too soon"
	case errors.As(err, &typ):
		msg = fmt.Sprintf("%s: want %s, got %s", typ.Field, typ.Type, typ.Value)
	case strings.HasPrefix(msg, "json: unknown field "):
		msg = "unknown field " + strings.TrimPrefix(msg, "json: unknown field ")
	}
	return errorf(http.StatusBadRequest, "INVALID_JSON", msg)
}
