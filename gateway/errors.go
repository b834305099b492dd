package gateway

import (
	"errors"
	"net/http"

	"seatd/inventory"
	rpc "seatd/kitex_gen/inventoryrpc"
	"seatd/seatclient"
)

// apiError is an answer that is not a success: an HTTP status and a
// stable code with a message. It is written as
// {"error":{"code","message","details"}}.
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
	inventory.ResultOutboxFull:          {http.StatusServiceUnavailable, "OVERLOADED"},
}

// statusError turns a seatd answer into an error, or nil when it is ok.
// The engine's own name for the result goes into the details, and the
// offending seat or field into the message.
func statusError(st *rpc.Status) *apiError {
	switch st.Route {
	case rpc.Route_OK:
		r := inventory.Result(st.Code)
		if r == inventory.ResultOK {
			return nil
		}
		m, ok := resultErrors[r]
		if !ok {
			m.status, m.code = http.StatusInternalServerError, "INTERNAL"
		}
		msg := st.CodeName
		if st.Detail != "" {
			msg += ": " + st.Detail
		}
		return &apiError{Status: m.status, Code: m.code, Message: msg, Details: map[string]any{"result": st.CodeName}}
	case rpc.Route_BAD_REQUEST:
		return errorf(http.StatusUnprocessableEntity, "INVALID_ARGUMENT", st.Detail)
	case rpc.Route_NO_PROGRAM:
		return errorf(http.StatusNotFound, "NOT_FOUND", "no program "+st.Detail)
	case rpc.Route_OVERLOADED:
		return errorf(http.StatusServiceUnavailable, "OVERLOADED", "the inventory is busy; retry shortly")
	default:
		return errorf(http.StatusServiceUnavailable, "UNAVAILABLE", "the inventory is unavailable; retry shortly")
	}
}

// callError turns a routing client's failure into an answer.
func callError(err error) *apiError {
	switch {
	case errors.Is(err, seatclient.ErrOverloaded):
		return errorf(http.StatusServiceUnavailable, "OVERLOADED", "the inventory is busy; retry shortly")
	default:
		return errorf(http.StatusServiceUnavailable, "UNAVAILABLE", "the inventory is unavailable; retry shortly")
	}
}
