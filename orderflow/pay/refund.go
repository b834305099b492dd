package pay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"seatd/inventory"
	"seatd/orderflow/orders"
)

// Limits of refunds of seats.
const (
	// MaxSeatRefunds bounds the refunds of seats of one order, failed
	// ones included: WeChat Pay takes at most 50 refunds of a trade.
	MaxSeatRefunds = 50
	// MaxRefundReason bounds a refund's reason, in characters: WeChat
	// Pay's refund reason is at most 80.
	MaxRefundReason = 80
	// MaxRequestKey bounds an Idempotency-Key kept with a refund, in
	// bytes.
	MaxRequestKey = 128
)

// Errors of Refund and GetRefund, besides ErrNotFound, ErrNotReady and a
// *orderflow.NotOwnerError.
var (
	// ErrNotRefundable: the order is not PAID or PARTIALLY_REFUNDED
	// through this service, or its seats are still being confirmed in
	// the inventory (retry shortly).
	ErrNotRefundable = errors.New("pay: order not refundable")
	// ErrSeatNotInOrder: a seat id the order does not have.
	ErrSeatNotInOrder = errors.New("pay: seat not in the order")
	// ErrSeatRefunded: a seat refunded already, or being refunded.
	ErrSeatRefunded = errors.New("pay: seat refunded already")
	// ErrNothingToRefund: every seat of the order is refunded or being
	// refunded, or the seats named cost nothing.
	ErrNothingToRefund = errors.New("pay: nothing left to refund")
	// ErrRefundExceeds: the refund would take the refunds of the trade
	// above what it paid.
	ErrRefundExceeds = errors.New("pay: refund exceeds what was paid")
	// ErrTooManyRefunds: the order has had MaxSeatRefunds refunds.
	ErrTooManyRefunds = errors.New("pay: too many refunds of the order")
	// ErrKeyReused: the Idempotency-Key names an earlier refund of the
	// order with other seats or another reason.
	ErrKeyReused = errors.New("pay: idempotency key used for another refund")
	// ErrBadRefund: a seat named twice, a reason or key too long.
	ErrBadRefund = errors.New("pay: malformed refund request")
	// ErrRefundNotFound: no such refund, or another buyer's.
	ErrRefundNotFound = errors.New("pay: no such refund")
)

// SeatError is a refusal about one seat (ErrSeatNotInOrder,
// ErrSeatRefunded): Seat names it.
type SeatError struct {
	Err  error
	Seat string
}

func (e *SeatError) Error() string { return fmt.Sprintf("%v: %q", e.Err, e.Seat) }
func (e *SeatError) Unwrap() error { return e.Err }

// RefundRequest asks for a refund of seats of a paid order.
type RefundRequest struct {
	OrderNo inventory.OrderNo
	// UserID is the buyer, whose order it must be; Operator refunds any
	// order (UserID is ignored).
	UserID   uint64
	Operator bool
	// SeatIDs are the seats to refund ("section/row/col"); none means
	// every seat not refunded yet.
	SeatIDs []string
	// Reason is the buyer's words (at most MaxRefundReason characters).
	Reason string
	// Key is the request's Idempotency-Key (optional, at most
	// MaxRequestKey bytes of printable ASCII, as RFC 8941 strings are): a
	// repeat by the same kind of caller (the buyer, or an operator)
	// answers the first refund.
	Key string
}

// Refund refunds seats of a paid order through its paying trade. The
// order must be PAID or PARTIALLY_REFUNDED with its seats confirmed in
// the inventory. The amount is what the seats cost, or, for the last
// seats, what is left of the payment. Under the order's lock, the
// refunds already recorded (not failed) decide what is left: the seats
// not refunded and the money not refunded, so concurrent requests never
// refund a seat twice or more than was paid, whatever the order service
// has applied yet.
//
// The refund is recorded REQUESTED, with the number SeatRefundNo, before
// the provider is called; the answer is its state after the call:
// SUCCEEDED (Alipay refunds at once), PROCESSING (WeChat Pay says the
// outcome later), REQUESTED (no answer: the scheduler calls again with
// the same number), or FAILED (the provider refused; Detail says why).
// On RefundSucceeded the order service releases the seats in the
// inventory and the order becomes PARTIALLY_REFUNDED or REFUNDED.
//
// replayed is true when req.Key named an earlier refund of the same
// seats and reason: that refund is returned as it is now.
//
// Errors: ErrNotFound, ErrNotRefundable, ErrSeatNotInOrder and
// ErrSeatRefunded (as a *SeatError naming the seat), ErrNothingToRefund, ErrRefundExceeds,
// ErrTooManyRefunds, ErrKeyReused, ErrBadRefund, a
// *orderflow.NotOwnerError, ErrNotReady.
func (s *Service) Refund(ctx context.Context, req RefundRequest) (r Refund, replayed bool, err error) {
	if err := req.validate(); err != nil {
		return Refund{}, false, err
	}
	part, err := s.owned(req.OrderNo)
	if err != nil {
		return Refund{}, false, err
	}
	o, err := s.cfg.Orders.Order(req.OrderNo)
	switch {
	case errors.Is(err, orders.ErrNotFound):
		return Refund{}, false, ErrNotFound
	case err != nil:
		return Refund{}, false, err
	case !req.Operator && o.UserID != strconv.FormatUint(req.UserID, 10):
		return Refund{}, false, ErrNotFound
	}
	unlock, err := s.lock(req.OrderNo)
	if err != nil {
		return Refund{}, false, err
	}
	defer unlock()
	refunds, err := part.store.refunds(req.OrderNo)
	if err != nil {
		return Refund{}, false, err
	}
	initiator := InitiatorBuyer
	if req.Operator {
		initiator = InitiatorOperator
	}
	asked := slices.Sorted(slices.Values(req.SeatIDs))
	if req.Key != "" {
		// A key is the caller's: the buyer's and the operators' keys of
		// one order never name each other's refunds.
		for _, r := range refunds {
			if r.RequestKey != req.Key || r.Initiator != initiator {
				continue
			}
			if !slices.Equal(r.RequestSeats, asked) || r.Reason != req.Reason {
				return Refund{}, false, fmt.Errorf("%w: refund %s", ErrKeyReused, r.OutRequestNo)
			}
			return r, true, nil
		}
	}
	if o.Payment != nil && o.Status == orders.StatusRefunded {
		return Refund{}, false, fmt.Errorf("%w: the order is REFUNDED", ErrNothingToRefund)
	}
	if o.Payment == nil || (o.Status != orders.StatusPaid && o.Status != orders.StatusPartiallyRefunded) {
		return Refund{}, false, fmt.Errorf("%w: it is %s", ErrNotRefundable, o.Status)
	}
	if o.Confirm != orders.ConfirmDone {
		return Refund{}, false, fmt.Errorf("%w: its seats are still being confirmed; retry shortly", ErrNotRefundable)
	}
	// What the paying trade's refunds took, failed ones aside.
	var taken []string
	var refunded int64
	seatRefunds := 0
	for _, r := range refunds {
		if r.Initiator != InitiatorSystem {
			seatRefunds++
		}
		if r.OutTradeNo != o.Payment.OutTradeNo || r.State == RefundFailed {
			continue
		}
		refunded += r.AmountCents
		taken = append(taken, r.SeatIDs...)
	}
	if seatRefunds >= MaxSeatRefunds {
		return Refund{}, false, fmt.Errorf("%w: %d", ErrTooManyRefunds, seatRefunds)
	}
	price := make(map[string]int64, len(o.Seats))
	var left []string
	for _, seat := range o.Seats {
		price[seat.ID] = seat.PriceCents
		if !slices.Contains(taken, seat.ID) {
			left = append(left, seat.ID)
		}
	}
	seats := asked
	if len(seats) == 0 {
		seats = left
	}
	var amount int64
	for _, id := range seats {
		p, ok := price[id]
		switch {
		case !ok:
			return Refund{}, false, &SeatError{Err: ErrSeatNotInOrder, Seat: id}
		case !slices.Contains(left, id):
			return Refund{}, false, &SeatError{Err: ErrSeatRefunded, Seat: id}
		}
		amount += p
	}
	rest := o.PaidCents - refunded
	if len(seats) == len(left) {
		amount = rest // the last seats take what is left of the payment
	}
	switch {
	case len(seats) == 0 || amount <= 0:
		return Refund{}, false, fmt.Errorf("%w: %d of %d seats refunded, %d of %d cents", ErrNothingToRefund,
			len(taken), len(o.Seats), refunded, o.PaidCents)
	case amount > rest:
		return Refund{}, false, fmt.Errorf("%w: %d cents asked, %d of %d left", ErrRefundExceeds, amount, rest, o.PaidCents)
	}
	now := s.cfg.Now().UTC()
	r = Refund{OutRequestNo: SeatRefundNo(req.OrderNo, seatRefunds+1), OutTradeNo: o.Payment.OutTradeNo, OrderNo: o.OrderNo,
		UserID: o.UserID, HoldID: o.HoldID, Channel: o.Payment.Channel, TradeNo: o.Payment.TradeNo, AmountCents: amount,
		TotalCents: o.PaidCents, Initiator: initiator, SeatIDs: slices.Clone(seats), Reason: req.Reason, State: RefundRequested,
		RequestKey: req.Key, RequestSeats: asked, CreatedAt: now, At: now}
	if err := part.store.writeRefund(&r, false); err != nil {
		return Refund{}, false, err
	}
	s.metrics.refunds.WithLabelValues(r.Channel, "requested").Inc()
	s.driveRefundLocked(ctx, part, &r)
	return r, false, nil
}

// CheckReason says what makes a refund's reason unfit to send to a
// provider, "" if nothing. The reason goes into the provider's refund
// call (Alipay's refund_reason, WeChat Pay's reason) and back to the
// buyer's page, so it is at most MaxRefundReason characters of UTF-8
// text: no byte that is not UTF-8 and no U+FFFD (what JSON decoding puts
// in place of such bytes), no control character (Unicode category Cc,
// which holds NUL and the ASCII line breaks) or line or paragraph
// separator (Zl, Zp: U+2028, U+2029), and no bidirectional formatting
// character (Unicode's Bidi_Control property), which would reorder the
// text around it where it is shown.
func CheckReason(reason string) string {
	switch n := utf8.RuneCountInString(reason); {
	case n > MaxRefundReason:
		return fmt.Sprintf("%d characters: at most %d", n, MaxRefundReason)
	case !utf8.ValidString(reason) || strings.ContainsRune(reason, utf8.RuneError):
		return "holds bytes that are not UTF-8 text (or U+FFFD, which stands for them): want text"
	case strings.ContainsFunc(reason, func(r rune) bool { return unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp) }):
		return "holds a control character or a line break (such as NUL, U+000A or U+2028): want one line of text"
	case strings.ContainsFunc(reason, func(r rune) bool { return unicode.Is(unicode.Bidi_Control, r) }):
		return "holds a bidirectional formatting character (U+061C, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069): want text without them"
	}
	return ""
}

func (req *RefundRequest) validate() error {
	var errs []error
	for i, id := range req.SeatIDs {
		if id == "" || slices.Contains(req.SeatIDs[:i], id) {
			errs = append(errs, fmt.Errorf("seat_ids: %q empty or named twice", id))
		}
	}
	if why := CheckReason(req.Reason); why != "" {
		errs = append(errs, fmt.Errorf("reason: %s", why))
	}
	if len(req.Key) > MaxRequestKey || strings.ContainsFunc(req.Key, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		errs = append(errs, fmt.Errorf("idempotency key: %d bytes, at most %d of printable ASCII", len(req.Key), MaxRequestKey))
	}
	if len(req.SeatIDs) > inventory.MaxSeatsPerHoldLimit {
		errs = append(errs, fmt.Errorf("seat_ids: %d, an order has at most %d", len(req.SeatIDs), inventory.MaxSeatsPerHoldLimit))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRefund, err)
	}
	return nil
}

// GetRefund returns a refund by its number (refund_no): a buyer's own, or
// any for an operator. Errors: ErrRefundNotFound (also for a number this
// service did not make, or another buyer's), a *orderflow.NotOwnerError,
// ErrNotReady.
func (s *Service) GetRefund(refundNo string, user uint64, operator bool) (Refund, error) {
	no, err := ParseRefundNo(refundNo)
	if err != nil {
		return Refund{}, fmt.Errorf("%w: %w", ErrRefundNotFound, err)
	}
	part, err := s.owned(no)
	if err != nil {
		return Refund{}, err
	}
	done, err := s.reading()
	if err != nil {
		return Refund{}, err
	}
	defer done()
	r, found, err := part.store.refund(no, refundNo)
	switch {
	case err != nil:
		return Refund{}, err
	case !found, !operator && r.UserID != strconv.FormatUint(user, 10):
		return Refund{}, ErrRefundNotFound
	}
	return r, nil
}
