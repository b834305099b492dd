package inventory

import "strconv"

// Result is the outcome of a command. Results are replicated values: their
// numbers are stable and never reused, and each command checks them in the
// order documented on the command, so that every replica (and every replay)
// reaches the same one.
type Result uint8

// Result values. Never renumber; append new ones at the end.
const (
	ResultOK                  Result = 0  // the command took effect
	ResultInvalidArgument     Result = 1  // a field of the command is malformed or out of range
	ResultInvalidLayout       Result = 2  // a program's description breaks a rule
	ResultProgramExists       Result = 3  // a program with that id already exists
	ResultProgramNotFound     Result = 4  // no program with that id
	ResultTooManyPrograms     Result = 5  // Config.MaxPrograms reached
	ResultSaleNotOpen         Result = 6  // the program's sale is closed
	ResultUnknownCategory     Result = 7  // no category with that id in the program
	ResultHoldLimitExceeded   Result = 8  // more seats than the program's MaxSeatsPerHold
	ResultHoldersMismatch     Result = 9  // real-name holders missing, empty, or not one per seat
	ResultHolderLimitExceeded Result = 10 // an ID number already holds a seat on an overlapping leg range
	ResultUserLimitExceeded   Result = 11 // the user would pass the program's MaxSeatsPerUser
	ResultTooManyHolds        Result = 12 // Config.MaxLiveHolds or Config.MaxHolds reached
	ResultUnknownSeat         Result = 13 // a named seat does not exist
	ResultWrongCategory       Result = 14 // a named seat is not of the requested category
	ResultSeatBlocked         Result = 15 // a named seat is blocked on a leg of the range
	ResultSeatTaken           Result = 16 // a named seat is held or sold on a leg of the range
	ResultSoldOut             Result = 17 // fewer eligible free seats than asked for
	ResultNoAdjacentSeats     Result = 18 // enough seats, but no block of adjacent ones
	ResultPriceMismatch       Result = 19 // the client's expected total is below the real total
	ResultHoldNotFound        Result = 20 // no hold with that id (or it was purged)
	ResultNotOwner            Result = 21 // the hold belongs to another user
	ResultHoldExpired         Result = 22 // the hold expired before the command
	ResultHoldReleased        Result = 23 // the hold was released (cancelled) before the command
	ResultNotConfirmed        Result = 24 // a refund of a hold that is not confirmed
	ResultSeatNotInHold       Result = 25 // a refund names a seat that is not in the hold
	ResultAlreadyRefunded     Result = 26 // a refund names a seat refunded before
	ResultNotBlocked          Result = 27 // an unblock names a seat that is not blocked
	ResultHoldConfirmed       Result = 28 // a release of a hold that is already confirmed
	ResultTooManySeats        Result = 29 // Config.MaxSeats would be passed
	ResultOutboxFull          Result = 30 // Config.MaxOutbox events wait for the relay
	ResultRequestReused       Result = 31 // the request id was used, within its window, for a different request
	ResultRefusalsFull        Result = 32 // Config.MaxRefusals refusals are remembered, none old enough to forget
	ResultOrphanSeat          Result = 33 // a manual hold would leave a single empty seat, and the program refuses that
	ResultProgramMoving       Result = 34 // the program is moving to another group: retry shortly (move.go)
	ResultProgramMoved        Result = 35 // the program moved to another group: ask again there (move.go)
	ResultMoveTooLarge        Result = 36 // a program's parcel would pass MaxParcelBytes (move.go)
)

var resultNames = [...]string{
	ResultOK:                  "ok",
	ResultInvalidArgument:     "invalid_argument",
	ResultInvalidLayout:       "invalid_layout",
	ResultProgramExists:       "program_exists",
	ResultProgramNotFound:     "program_not_found",
	ResultTooManyPrograms:     "too_many_programs",
	ResultSaleNotOpen:         "sale_not_open",
	ResultUnknownCategory:     "unknown_category",
	ResultHoldLimitExceeded:   "hold_limit_exceeded",
	ResultHoldersMismatch:     "holders_mismatch",
	ResultHolderLimitExceeded: "holder_limit_exceeded",
	ResultUserLimitExceeded:   "user_limit_exceeded",
	ResultTooManyHolds:        "too_many_holds",
	ResultUnknownSeat:         "unknown_seat",
	ResultWrongCategory:       "wrong_category",
	ResultSeatBlocked:         "seat_blocked",
	ResultSeatTaken:           "seat_taken",
	ResultSoldOut:             "sold_out",
	ResultNoAdjacentSeats:     "no_adjacent_seats",
	ResultPriceMismatch:       "price_mismatch",
	ResultHoldNotFound:        "hold_not_found",
	ResultNotOwner:            "not_owner",
	ResultHoldExpired:         "hold_expired",
	ResultHoldReleased:        "hold_released",
	ResultNotConfirmed:        "not_confirmed",
	ResultSeatNotInHold:       "seat_not_in_hold",
	ResultAlreadyRefunded:     "already_refunded",
	ResultNotBlocked:          "not_blocked",
	ResultHoldConfirmed:       "hold_confirmed",
	ResultTooManySeats:        "too_many_seats",
	ResultOutboxFull:          "outbox_full",
	ResultRequestReused:       "request_reused",
	ResultRefusalsFull:        "refusals_full",
	ResultOrphanSeat:          "orphan_seat",
	ResultProgramMoving:       "program_moving",
	ResultProgramMoved:        "program_moved",
	ResultMoveTooLarge:        "move_too_large",
}

// String returns the result's stable snake_case name.
func (r Result) String() string {
	if int(r) < len(resultNames) && resultNames[r] != "" {
		return resultNames[r]
	}
	return "result_" + strconv.Itoa(int(r))
}
