package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cloudwego/hertz/pkg/app"

	"seatd/inventory"
	"seatd/orderflow/orderclient"
	"seatd/orderflow/pay"
)

// refundIn is the body of POST /v1/orders/{order_no}/refunds (DESIGN.md
// 6.1's refund request).
type refundIn struct {
	SeatIDs []string `json:"seat_ids"` // none: every seat not refunded yet
	Reason  string   `json:"reason"`
}

// refundJSON is a refund as the API shows it: DESIGN.md 6.1's refund
// answer, with the seats, the trade and the times added. Status is
// REQUESTED (recorded; the provider is called again until it answers),
// PROCESSING (the provider took it and will say), SUCCEEDED or FAILED.
type refundJSON struct {
	RefundNo    string   `json:"refund_no"`
	OrderNo     string   `json:"order_no"`
	AmountCents int64    `json:"amount_cents"`
	Status      string   `json:"status"`
	SeatIDs     []string `json:"seat_ids"`
	Reason      string   `json:"reason"`
	Detail      string   `json:"detail,omitempty"`
	OutTradeNo  string   `json:"out_trade_no"`
	Channel     string   `json:"channel"`
	Initiator   string   `json:"initiator"`
	CreatedAt   string   `json:"created_at"`
	UpdatedAt   string   `json:"updated_at"`
	RefundedAt  string   `json:"refunded_at,omitempty"` // SUCCEEDED: when the provider says it refunded
}

func refundToJSON(r *pay.Refund) refundJSON {
	seats := r.SeatIDs
	if seats == nil {
		seats = []string{}
	}
	out := refundJSON{RefundNo: r.OutRequestNo, OrderNo: r.OrderNo, AmountCents: r.AmountCents, Status: string(r.State),
		SeatIDs: seats, Reason: r.Reason, Detail: r.Detail, OutTradeNo: r.OutTradeNo, Channel: r.Channel, Initiator: r.Initiator,
		CreatedAt: r.CreatedAt.UTC().Format(time.RFC3339Nano), UpdatedAt: r.At.UTC().Format(time.RFC3339Nano)}
	if !r.RefundedAt.IsZero() {
		out.RefundedAt = r.RefundedAt.UTC().Format(time.RFC3339Nano)
	}
	return out
}

// refundError maps the refund service's refusals, through the routing
// client.
func (g *Gateway) refundError(err error) *apiError {
	var se *pay.SeatError
	errors.As(err, &se)
	switch {
	case se != nil && errors.Is(err, orderclient.ErrSeatNotInOrder):
		return invalid("SEAT_NOT_IN_ORDER", "seat_ids", "%q is not a seat of the order", se.Seat).with("seat", se.Seat)
	case se != nil && errors.Is(err, orderclient.ErrSeatRefunded):
		return errorf(http.StatusConflict, "SEAT_ALREADY_REFUNDED", fmt.Sprintf("seat %q is refunded already, or being refunded", se.Seat)).
			with("field", "seat_ids").with("seat", se.Seat)
	case errors.Is(err, orderclient.ErrNotRefundable):
		return errorf(http.StatusConflict, "ORDER_NOT_REFUNDABLE", "the order cannot be refunded: it is not paid, or its seats are still being confirmed (retry shortly)")
	case errors.Is(err, orderclient.ErrSeatNotInOrder):
		return invalid("SEAT_NOT_IN_ORDER", "seat_ids", "a seat id the order does not have")
	case errors.Is(err, orderclient.ErrSeatRefunded):
		return errorf(http.StatusConflict, "SEAT_ALREADY_REFUNDED", "a seat named is refunded already, or being refunded").with("field", "seat_ids")
	case errors.Is(err, orderclient.ErrNothingToRefund):
		return errorf(http.StatusConflict, "NOTHING_TO_REFUND", "every seat of the order is refunded already, or being refunded")
	case errors.Is(err, orderclient.ErrRefundExceeds):
		return errorf(http.StatusConflict, "REFUND_EXCEEDS_PAYMENT", "the refund would return more than was paid")
	case errors.Is(err, orderclient.ErrTooManyRefunds):
		return errorf(http.StatusConflict, "TOO_MANY_REFUNDS", "the order has had as many refunds as allowed")
	case errors.Is(err, orderclient.ErrKeyReused):
		return errorf(http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED",
			"Idempotency-Key: used before for a refund of other seats or with another reason; send a new key for a new request").with("field", "Idempotency-Key")
	case errors.Is(err, orderclient.ErrBadRequest):
		return invalid("INVALID_ARGUMENT", "seat_ids", "each seat id once, at most %d", inventory.MaxSeatsPerHoldLimit)
	}
	return g.payError(err)
}

// refund refunds seats of a paid order: the buyer's own, or any for an
// operator. 201 with the refund once the provider refunded it or refused
// (status SUCCEEDED or FAILED), 202 while it is under way (REQUESTED or
// PROCESSING: GET /v1/refunds/{refund_no} follows it). With an
// Idempotency-Key, a repeat of the request answers the same refund,
// marked Idempotent-Replayed.
func (g *Gateway) refund(ctx context.Context, c *app.RequestContext, user int64) *apiError {
	if g.orders == nil {
		return noOrderService()
	}
	b, aerr := jsonBody(c, smallBody)
	if aerr != nil {
		return aerr
	}
	var in refundIn
	if aerr := decodeJSON(b, &in); aerr != nil {
		return aerr
	}
	if in.SeatIDs != nil && len(in.SeatIDs) == 0 {
		// An empty list is most likely a selection that came out empty:
		// refunding every seat for it would surprise its sender.
		return invalid("INVALID_ARGUMENT", "seat_ids", "empty: name at least one seat, or leave seat_ids out to refund every seat not refunded yet")
	}
	if len(in.SeatIDs) > inventory.MaxSeatsPerHoldLimit {
		return invalid("INVALID_ARGUMENT", "seat_ids", "%d seats: an order has at most %d", len(in.SeatIDs), inventory.MaxSeatsPerHoldLimit)
	}
	for i, id := range in.SeatIDs {
		for _, prev := range in.SeatIDs[:i] {
			if id == prev {
				return invalid("INVALID_ARGUMENT", "seat_ids", "%q named twice", id)
			}
		}
		if id == "" {
			return invalid("INVALID_ARGUMENT", "seat_ids", "an empty seat id")
		}
	}
	if why := pay.CheckReason(in.Reason); why != "" {
		return invalid("INVALID_ARGUMENT", "reason", "%s", why)
	}
	key := string(c.GetHeader("Idempotency-Key"))
	if len(key) > pay.MaxRequestKey || strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		return invalid("INVALID_ARGUMENT", "Idempotency-Key", "%d bytes: at most %d, of printable ASCII", len(key), pay.MaxRequestKey)
	}
	var no inventory.OrderNo
	if user == 0 {
		s := c.Param("order_no")
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 || strconv.FormatUint(n, 10) != s {
			return noOrder()
		}
		no = inventory.OrderNo(n)
	} else if no, aerr = buyerOrder(c, user); aerr != nil {
		return aerr
	}
	r, replayed, err := g.orders.Refund(ctx, pay.RefundRequest{OrderNo: no, UserID: uint64(user), Operator: user == 0,
		SeatIDs: in.SeatIDs, Reason: in.Reason, Key: key})
	if err != nil {
		return g.refundError(err)
	}
	if replayed {
		c.Header("Idempotent-Replayed", "true")
	}
	status := http.StatusCreated
	if r.State == pay.RefundRequested || r.State == pay.RefundProcessing {
		status = http.StatusAccepted
	}
	writeJSON(c, status, refundToJSON(&r))
	return nil
}

// getRefund reads a refund: the buyer's own, or any for an operator.
func (g *Gateway) getRefund(ctx context.Context, c *app.RequestContext, user int64) *apiError {
	if g.orders == nil {
		return noOrderService()
	}
	no := c.Param("refund_no")
	order, err := pay.ParseRefundNo(no)
	if err != nil || (user != 0 && order.Gene() != inventory.UserGene(uint64(user))) {
		return noRefund()
	}
	r, err := g.orders.GetRefund(ctx, no, uint64(user), user == 0)
	if errors.Is(err, orderclient.ErrNotFound) {
		return noRefund()
	}
	if err != nil {
		return g.refundError(err)
	}
	writeJSON(c, http.StatusOK, refundToJSON(&r))
	return nil
}

func noRefund() *apiError { return errorf(http.StatusNotFound, "NOT_FOUND", "no such refund") }
