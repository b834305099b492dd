package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/cloudwego/hertz/pkg/app"

	"seatd/inventory"
	"seatd/orderflow/events"
	"seatd/orderflow/orderclient"
	"seatd/orderflow/orders"
)

// orderJSON is an order as the API shows it (DESIGN.md 6.1, with the leg
// range, the release reason and the hold's status added).
type orderJSON struct {
	OrderNo         string            `json:"order_no"`
	HoldID          string            `json:"hold_id"`
	ProgramID       string            `json:"program_id"`
	UserID          string            `json:"user_id"`
	Status          orders.Status     `json:"status"`
	HoldStatus      orders.HoldStatus `json:"hold_status"`
	Reason          string            `json:"reason,omitempty"`
	Seats           []orders.Seat     `json:"seats"`
	From            int               `json:"from"`
	To              int               `json:"to"`
	FromStop        string            `json:"from_stop"`
	ToStop          string            `json:"to_stop"`
	TotalCents      int64             `json:"total_cents"`
	PaidCents       int64             `json:"paid_cents"`
	RefundedCents   int64             `json:"refunded_cents"`
	RefundedSeatIDs []string          `json:"refunded_seat_ids,omitempty"`
	// Refunds are the refunds' outcomes the order applied: each one's
	// refund_no reads it at GET /v1/refunds/{refund_no}, refunds the
	// system made by itself (a payment owed back) included.
	Refunds   []orderRefundJSON `json:"refunds,omitempty"`
	CreatedAt string            `json:"created_at"`
	ExpiresAt string            `json:"expires_at"`
	UpdatedAt string            `json:"updated_at"`
	Version   uint64            `json:"version"`
}

// orderRefundJSON is one refund's outcome on the order.
type orderRefundJSON struct {
	RefundNo    string   `json:"refund_no"`
	OutTradeNo  string   `json:"out_trade_no"`
	AmountCents int64    `json:"amount_cents"`
	Status      string   `json:"status"` // SUCCEEDED or FAILED
	SeatIDs     []string `json:"seat_ids"`
}

func orderToJSON(o *orders.Order) orderJSON {
	seats := o.Seats
	if seats == nil {
		seats = []orders.Seat{}
	}
	return orderJSON{
		OrderNo: o.OrderNo, HoldID: o.HoldID, ProgramID: o.ProgramID, UserID: o.UserID,
		Status: o.Status, HoldStatus: o.HoldStatus, Reason: o.Reason, Seats: seats,
		From: o.From, To: o.To, FromStop: o.FromStop, ToStop: o.ToStop,
		TotalCents: o.TotalCents, PaidCents: o.PaidCents, RefundedCents: o.RefundedCents, RefundedSeatIDs: o.RefundedSeatIDs,
		CreatedAt: o.CreatedAt.UTC().Format(time.RFC3339Nano), ExpiresAt: o.ExpiresAt.UTC().Format(time.RFC3339Nano),
		UpdatedAt: o.UpdatedAt.UTC().Format(time.RFC3339Nano), Version: o.Version, Refunds: orderRefunds(o.Refunds),
	}
}

func orderRefunds(rs []orders.Refund) []orderRefundJSON {
	var out []orderRefundJSON
	for _, r := range rs {
		status := "FAILED"
		if r.Outcome == events.RefundSucceeded {
			status = "SUCCEEDED"
		}
		seats := r.SeatIDs
		if seats == nil {
			seats = []string{}
		}
		out = append(out, orderRefundJSON{RefundNo: r.OutRequestNo, OutTradeNo: r.OutTradeNo, AmountCents: r.AmountCents,
			Status: status, SeatIDs: seats})
	}
	return out
}

// noOrder is the one answer for every order a caller may not see:
// another buyer's, a missing one, a malformed number. The same bytes for
// each, so that order numbers cannot be probed.
func noOrder() *apiError {
	return errorf(http.StatusNotFound, "NOT_FOUND", "no such order")
}

// orderError maps the order service client's errors. A misrouted call is
// the gateway's configuration (-orders not in instance order): logged as
// an error for the operator, and 503 to the buyer.
func (g *Gateway) orderError(err error) *apiError {
	switch {
	case errors.Is(err, orderclient.ErrNotFound):
		return noOrder()
	case errors.Is(err, orderclient.ErrBadRequest):
		return invalid("INVALID_ARGUMENT", "cursor", "not a cursor this list gave")
	case errors.Is(err, orderclient.ErrMisrouted):
		g.cfg.Log.Error("orders_misconfigured", "err", err)
		return errorf(http.StatusServiceUnavailable, "UNAVAILABLE", "the order service is unavailable; retry shortly")
	default:
		return errorf(http.StatusServiceUnavailable, "UNAVAILABLE", "the order service is unavailable; retry shortly")
	}
}

// getOrder reads one order: a buyer's own, or any for an operator. An
// order appears a moment after its hold (the hold's event travels
// through Kafka); until then it is 404, and the hold is readable.
func (g *Gateway) getOrder(ctx context.Context, c *app.RequestContext, user int64) *apiError {
	if g.orders == nil {
		return noOrderService()
	}
	s := c.Param("order_no")
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != s {
		return noOrder()
	}
	// A buyer's orders carry their gene: another number is not theirs,
	// and not worth a call.
	if user != 0 && inventory.OrderNo(n).Gene() != inventory.UserGene(uint64(user)) {
		return noOrder()
	}
	o, err := g.orders.Order(ctx, inventory.OrderNo(n))
	if err != nil {
		return g.orderError(err)
	}
	if user != 0 && o.UserID != strconv.FormatInt(user, 10) {
		return noOrder()
	}
	writeJSON(c, http.StatusOK, orderToJSON(&o))
	return nil
}

// listOrders pages through a buyer's orders, newest first: the caller's
// own, or, for an operator, the buyer named by user_id.
func (g *Gateway) listOrders(ctx context.Context, c *app.RequestContext, user int64) *apiError {
	if g.orders == nil {
		return noOrderService()
	}
	who, given, aerr := queryParam(c, "user_id")
	if aerr != nil {
		return aerr
	}
	switch {
	case user != 0 && given:
		return invalid("INVALID_ARGUMENT", "user_id", "a buyer lists their own orders; leave user_id out")
	case user == 0 && !given:
		return invalid("INVALID_ARGUMENT", "user_id", "an operator names the buyer whose orders to list")
	case user == 0:
		n, err := strconv.ParseInt(who, 10, 64)
		if err != nil || n < 1 || strconv.FormatInt(n, 10) != who {
			return invalid("INVALID_ARGUMENT", "user_id", "%q, want a user id (1 to 9223372036854775807)", who)
		}
		user = n
	}
	cursor, _, aerr := queryParam(c, "cursor")
	if aerr != nil {
		return aerr
	}
	limit := 0
	if v, ok, aerr := queryParam(c, "limit"); aerr != nil {
		return aerr
	} else if ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > orders.MaxListLimit || strconv.Itoa(n) != v {
			return invalid("INVALID_ARGUMENT", "limit", "%q, want 1 to %d", v, orders.MaxListLimit).with("range", []int{1, orders.MaxListLimit})
		}
		limit = n
	}
	page, err := g.orders.Orders(ctx, uint64(user), cursor, limit)
	if err != nil {
		return g.orderError(err)
	}
	out := struct {
		Orders []orderJSON `json:"orders"`
		Next   string      `json:"next_cursor,omitempty"`
	}{Orders: make([]orderJSON, len(page.Orders)), Next: page.Next}
	for i := range page.Orders {
		out.Orders[i] = orderToJSON(&page.Orders[i])
	}
	writeJSON(c, http.StatusOK, out)
	return nil
}

// noOrderService answers the order routes of a gateway started without
// an order service: nothing a retry changes.
func noOrderService() *apiError {
	return errorf(http.StatusNotImplemented, "NOT_IMPLEMENTED", "this gateway has no order service configured")
}
