package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"seatd/inventory"
	rpc "seatd/kitex_gen/inventoryrpc"
	"seatd/seatclient"
)

// apiError is an answer that is not a success: an HTTP status and a
// stable code with a message. It is written as
// {"error":{"code","message","details"}}; details carry the
// machine-readable part (docs/gateway.md lists the keys).
type apiError struct {
	Status  int
	Code    string
	Message string
	Details map[string]any
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, message string) *apiError {
	return &apiError{Status: status, Code: code, Message: message}
}

// invalid refuses one field of a request with 422, naming the field as
// the client wrote it, in the message and in details.field.
func invalid(code, field, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusUnprocessableEntity, Code: code, Message: field + ": " + fmt.Sprintf(format, args...),
		Details: map[string]any{"field": field}}
}

// status sets the HTTP status.
func (e *apiError) status(status int) *apiError {
	e.Status = status
	return e
}

// with adds a detail.
func (e *apiError) with(key string, v any) *apiError {
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	e.Details[key] = v
	return e
}

// noHold is the one answer for every hold a caller may not see: another
// buyer's, a missing one, an id that is malformed or names no group. It
// is the same bytes for each, so that hold ids cannot be probed.
func noHold() *apiError {
	return errorf(http.StatusNotFound, "NOT_FOUND", "no such hold")
}

// resultErrors maps every engine result but ok to its HTTP status and
// stable code. It is the one table of the mapping: a result missing here
// is a bug that TestEveryResultMapped catches.
var resultErrors = map[inventory.Result]struct {
	status int
	code   string
}{
	inventory.ResultInvalidArgument:     {http.StatusUnprocessableEntity, "INVALID_ARGUMENT"},
	inventory.ResultInvalidLayout:       {http.StatusUnprocessableEntity, "INVALID_LAYOUT"},
	inventory.ResultProgramExists:       {http.StatusConflict, "PROGRAM_EXISTS"},
	inventory.ResultProgramNotFound:     {http.StatusNotFound, "NOT_FOUND"},
	inventory.ResultTooManyPrograms:     {http.StatusConflict, "TOO_MANY_PROGRAMS"},
	inventory.ResultSaleNotOpen:         {http.StatusConflict, "SALE_NOT_OPEN"},
	inventory.ResultUnknownCategory:     {http.StatusUnprocessableEntity, "UNKNOWN_CATEGORY"},
	inventory.ResultHoldLimitExceeded:   {http.StatusUnprocessableEntity, "LIMIT_EXCEEDED"},
	inventory.ResultHoldersMismatch:     {http.StatusUnprocessableEntity, "HOLDERS_MISMATCH"},
	inventory.ResultHolderLimitExceeded: {http.StatusConflict, "LIMIT_EXCEEDED"},
	inventory.ResultUserLimitExceeded:   {http.StatusConflict, "LIMIT_EXCEEDED"},
	inventory.ResultTooManyHolds:        {http.StatusServiceUnavailable, "OVERLOADED"},
	inventory.ResultUnknownSeat:         {http.StatusUnprocessableEntity, "UNKNOWN_SEAT"},
	inventory.ResultWrongCategory:       {http.StatusUnprocessableEntity, "WRONG_CATEGORY"},
	inventory.ResultSeatBlocked:         {http.StatusConflict, "SEAT_BLOCKED"},
	inventory.ResultSeatTaken:           {http.StatusConflict, "SEAT_TAKEN"},
	inventory.ResultSoldOut:             {http.StatusConflict, "SOLD_OUT"},
	inventory.ResultNoAdjacentSeats:     {http.StatusConflict, "NO_ADJACENT_SEATS"},
	inventory.ResultPriceMismatch:       {http.StatusConflict, "PRICE_MISMATCH"},
	inventory.ResultHoldNotFound:        {http.StatusNotFound, "NOT_FOUND"},
	inventory.ResultNotOwner:            {http.StatusForbidden, "FORBIDDEN"},
	inventory.ResultHoldExpired:         {http.StatusConflict, "HOLD_EXPIRED"},
	inventory.ResultHoldReleased:        {http.StatusConflict, "HOLD_RELEASED"},
	inventory.ResultNotConfirmed:        {http.StatusConflict, "NOT_CONFIRMED"},
	inventory.ResultSeatNotInHold:       {http.StatusUnprocessableEntity, "SEAT_NOT_IN_HOLD"},
	inventory.ResultAlreadyRefunded:     {http.StatusConflict, "ALREADY_REFUNDED"},
	inventory.ResultNotBlocked:          {http.StatusConflict, "NOT_BLOCKED"},
	inventory.ResultHoldConfirmed:       {http.StatusConflict, "HOLD_CONFIRMED"},
	inventory.ResultTooManySeats:        {http.StatusConflict, "TOO_MANY_SEATS"},
	inventory.ResultOutboxFull:          {http.StatusServiceUnavailable, "OUTBOX_FULL"},
	inventory.ResultRequestReused:       {http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED"},
	inventory.ResultRefusalsFull:        {http.StatusServiceUnavailable, "OVERLOADED"},
	inventory.ResultOrphanSeat:          {http.StatusConflict, "ORPHAN_SEAT"},
	// A program moving to another group (docs/move-program.md) pauses its
	// changes for a moment; seatclient retries both, so a buyer sees them
	// only when the pause outlasts its retries.
	inventory.ResultProgramMoving: {http.StatusServiceUnavailable, "PROGRAM_MOVING"},
	inventory.ResultProgramMoved:  {http.StatusServiceUnavailable, "PROGRAM_MOVING"},
	inventory.ResultMoveTooLarge:  {http.StatusConflict, "MOVE_TOO_LARGE"}, // seatd move's answer; no HTTP route moves programs
}

// statusError turns a seatd answer into an error, or nil when it is ok.
func statusError(st *rpc.Status) *apiError { return describe(st, nil) }

// describe turns a seatd answer into an error, or nil when it is ok: the
// status and code from resultErrors, a message that says what was wrong,
// and details with the machine-readable part of the Status (the field as
// the client wrote it, the item's index, the limit, the real total, the
// seat) and the engine's own name for the result. in is the hold request
// the answer is about, or nil: it lets the message say what was asked
// and which holder is the same person as which. A replayed refusal has the same Status and request as
// the first, so it is described the same, byte for byte.
func describe(st *rpc.Status, in *holdIn) *apiError {
	switch st.Route {
	case rpc.Route_OK:
		r := inventory.Result(st.Code)
		if r == inventory.ResultOK {
			return nil
		}
		m, ok := resultErrors[r]
		if !ok {
			return &apiError{Status: http.StatusInternalServerError, Code: "INTERNAL", Message: "unmapped result " + st.CodeName}
		}
		e := &apiError{Status: m.status, Code: m.code, Details: map[string]any{"result": st.CodeName}}
		e.Message = explain(e, r, st, in)
		return e
	case rpc.Route_BAD_REQUEST:
		e := errorf(http.StatusUnprocessableEntity, "INVALID_ARGUMENT", st.Detail)
		if field := clientField(st); field != "" {
			e.Message = field + ": " + strings.TrimPrefix(st.Detail, st.Field+": ")
			faultDetails(e, st, field)
		}
		return e
	case rpc.Route_NO_PROGRAM:
		return errorf(http.StatusNotFound, "NOT_FOUND", "no program "+st.Detail)
	case rpc.Route_OVERLOADED:
		return errorf(http.StatusServiceUnavailable, "OVERLOADED", "the inventory is busy; retry shortly")
	default:
		return errorf(http.StatusServiceUnavailable, "UNAVAILABLE", "the inventory is unavailable; retry shortly")
	}
}

// rpcFields are the RPC's field names that the HTTP contract spells
// otherwise.
var rpcFields = map[string]string{"from_leg": "from", "to_leg": "to", "seat_ids": "seats"}

// clientField names the field a Status is about as the client wrote it,
// with the item's index in its list ("holders[1].id_number").
func clientField(st *rpc.Status) string {
	name := st.Field
	if n, ok := rpcFields[name]; ok {
		name = n
	}
	if name == "" || st.Index == nil {
		return name
	}
	list, rest, _ := strings.Cut(name, ".")
	name = fmt.Sprintf("%s[%d]", list, *st.Index)
	if rest != "" {
		name += "." + rest
	}
	return name
}

// faultDetails puts a Status's fault on an error's details.
func faultDetails(e *apiError, st *rpc.Status, field string) {
	e.with("field", field)
	if st.Index != nil {
		e.with("index", int(*st.Index))
	}
	if st.Limit != nil {
		e.with("limit", *st.Limit)
	}
}

// explain says what was wrong with a refused request, and puts the
// machine-readable part on e's details.
func explain(e *apiError, r inventory.Result, st *rpc.Status, in *holdIn) string {
	field := clientField(st)
	if field != "" {
		faultDetails(e, st, field)
	}
	var actual, limit int64
	if st.Actual != nil {
		actual = *st.Actual
	}
	if st.Limit != nil {
		limit = *st.Limit
	}
	seat := st.Detail
	if st.Field == "seat_ids" && seat != "" {
		e.with("seat", seat)
	}
	switch r {
	case inventory.ResultInvalidArgument:
		switch st.Field {
		case "from_leg":
			return stopError("from", actual, 0, limit, limit+1).Message
		case "to_leg":
			lo := int64(1)
			if in != nil && in.From != nil {
				lo = *in.From + 1
			}
			return stopError("to", actual, lo, limit, limit).Message
		case "seat_ids":
			return fmt.Sprintf("%s: seat %q is named twice", field, seat)
		case "holders":
			return "holders: this program is not real-name; leave holders out"
		case "count":
			if st.Limit != nil {
				return fmt.Sprintf("count: %d, but %s named: give seats or a count, not both", actual, seats(limit, "is", "are"))
			}
			return fmt.Sprintf("count: %d, want at least 1", actual)
		}
	case inventory.ResultSaleNotOpen:
		return "the sale of this program is not open"
	case inventory.ResultProgramMoving, inventory.ResultProgramMoved:
		return "this program is moving to another server group; retry in a moment"
	case inventory.ResultMoveTooLarge:
		return "this program and its holds are too large to move in one step"
	case inventory.ResultUnknownCategory:
		if in != nil {
			return fmt.Sprintf("category: %q is not a category of this program (GET /v1/programs/{id} lists them)", in.Category)
		}
	case inventory.ResultHoldLimitExceeded:
		return fmt.Sprintf("%s: %s, at most %d in one hold on this program", field, seats(actual, "", ""), limit)
	case inventory.ResultHoldersMismatch:
		return holdersMismatch(st, in, field, actual, limit)
	case inventory.ResultHolderLimitExceeded:
		return field + ": this person already holds a seat of this program on an overlapping part of the route"
	case inventory.ResultUserLimitExceeded:
		e.with("seats_held", actual)
		return fmt.Sprintf("%s: you hold %s of this program, and it allows at most %d per buyer", field, seats(actual, "", ""), limit)
	case inventory.ResultUnknownSeat:
		return fmt.Sprintf("%s: no seat %q in this program", field, seat)
	case inventory.ResultWrongCategory:
		if in != nil {
			return fmt.Sprintf("%s: seat %q is not in category %q", field, seat, in.Category)
		}
	case inventory.ResultSeatBlocked:
		return fmt.Sprintf("%s: seat %q is blocked on this part of the route", field, seat)
	case inventory.ResultSeatTaken:
		return fmt.Sprintf("%s: seat %q is held or sold on this part of the route", field, seat)
	case inventory.ResultOrphanSeat:
		return fmt.Sprintf("%s: seat %q would leave a single empty seat beside it, which this program does not sell alone; "+
			"choose seats that leave no gap of one, or ask for the best available", field, seat)
	case inventory.ResultNotBlocked:
		return fmt.Sprintf("%s: seat %q is not blocked on this part of the route", field, seat)
	case inventory.ResultSoldOut:
		if in != nil {
			return fmt.Sprintf("fewer than %d free seats match this request", in.count())
		}
	case inventory.ResultNoAdjacentSeats:
		if in != nil {
			return fmt.Sprintf("no %d adjacent free seats match this request; send \"together\": false to take seats apart", in.count())
		}
	case inventory.ResultPriceMismatch:
		e.with("total_cents", actual)
		expected := int64(0)
		if in != nil && in.ExpectedTotalCents != nil {
			expected = *in.ExpectedTotalCents
		}
		return fmt.Sprintf("expected_total_cents: %d, but the seats cost %d", expected, actual)
	case inventory.ResultRequestReused:
		e.with("field", "Idempotency-Key")
		return "Idempotency-Key: used before, within its window, for a different request; send a new key for a new request"
	case inventory.ResultTooManyHolds:
		return "the inventory keeps as many holds as it may; retry shortly"
	case inventory.ResultOutboxFull:
		return "the inventory's event outbox is full; retry shortly"
	case inventory.ResultRefusalsFull:
		return "the inventory remembers as many refused requests as it may; retry shortly"
	case inventory.ResultProgramNotFound:
		return "no such program"
	case inventory.ResultHoldNotFound:
		return "no such hold"
	case inventory.ResultHoldConfirmed:
		return "the hold is confirmed (paid): it can be refunded, not released"
	case inventory.ResultProgramExists:
		e.with("field", "id")
		return "id: a different program with this id exists"
	}
	if st.Detail != "" {
		return st.CodeName + ": " + st.Detail
	}
	return st.CodeName
}

// holdersMismatch says which holder is wrong and how.
func holdersMismatch(st *rpc.Status, in *holdIn, field string, actual, limit int64) string {
	switch st.Field {
	case "holders":
		return fmt.Sprintf("holders: %d given for %s; want one holder per seat", actual, seats(limit, "", ""))
	case "holders.name":
		return fmt.Sprintf("%s: want a name of 1-%d bytes of text, without control characters or U+FFFD (what stands for bytes that were not text)",
			field, inventory.MaxNameLen)
	case "holders.id_type":
		return field + ": want resident_id or passport"
	case "holders.id_number":
		if in == nil || st.Index == nil || int(*st.Index) >= len(in.Holders) {
			break
		}
		i := int(*st.Index)
		// One person is one number, whatever the type (docs/inventory.md).
		key := func(h holderJSON) string { return inventory.NormalizeIDNumber(h.IDNumber) }
		for j := range i {
			if key(in.Holders[j]) == key(in.Holders[i]) {
				return fmt.Sprintf("%s: the same person as holders[%d]; each seat needs its own holder", field, j)
			}
		}
		if t, _ := inventory.ParseIDType(in.Holders[i].idType()); t == inventory.IDPassport {
			return field + ": not a passport number: want 5-20 letters and digits"
		}
		return field + ": not a resident ID number: want 17 digits and a check character (0-9 or X) that match, with a real date of birth"
	}
	return field + ": not a valid holder"
}

// callError turns a routing client's failure into an answer. A failed
// call may still have applied, or may apply later (a proposal in flight
// at a deposed leader), so it is never a definite refusal: always a 503
// that says to retry, which, with the same Idempotency-Key, gets the
// first outcome.
func callError(err error) *apiError {
	switch {
	case errors.Is(err, seatclient.ErrOverloaded):
		return errorf(http.StatusServiceUnavailable, "OVERLOADED", "the inventory is busy; retry shortly")
	default:
		return errorf(http.StatusServiceUnavailable, "UNAVAILABLE", "the inventory is unavailable; retry shortly")
	}
}

// seats counts seats in words ("1 seat", "2 seats"), with a verb that
// agrees when one is given ("1 seat is", "2 seats are").
func seats(n int64, one, many string) string {
	noun, verb := "seats", many
	if n == 1 {
		noun, verb = "seat", one
	}
	return strings.TrimSpace(fmt.Sprintf("%d %s %s", n, noun, verb))
}
