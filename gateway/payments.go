package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/cloudwego/hertz/pkg/app"

	"seatd/inventory"
	"seatd/orderflow/orderclient"
	"seatd/orderflow/pay"
	"seatd/orderflow/payment"
)

// payIn is the body of POST /v1/orders/{order_no}/pay.
type payIn struct {
	Channel string  `json:"channel"` // alipay, wechat
	Mode    *string `json:"mode"`    // qr (default: left out), page
}

// paymentJSON is a payment attempt as the API shows it (DESIGN.md 6.1's
// pay answer, with the channel, mode and expiry added).
type paymentJSON struct {
	OrderNo     string `json:"order_no"`
	TradeNo     string `json:"trade_no"`
	OutTradeNo  string `json:"out_trade_no"`
	Channel     string `json:"channel"`
	Mode        string `json:"mode"`
	AmountCents int64  `json:"amount_cents"`
	QRCode      string `json:"qr_code,omitempty"`
	PayURL      string `json:"pay_url,omitempty"`
	Status      string `json:"status"`
	TimeExpire  string `json:"time_expire"`
	PaidAt      string `json:"paid_at,omitempty"`
}

func paymentToJSON(p *pay.Payment) paymentJSON {
	out := paymentJSON{OrderNo: p.OrderNo, TradeNo: p.TradeNo, OutTradeNo: p.OutTradeNo, Channel: p.Channel, Mode: string(p.Mode),
		AmountCents: p.AmountCents, QRCode: p.QRCode, PayURL: p.PayURL, Status: string(p.Status),
		TimeExpire: p.TimeExpire.UTC().Format(time.RFC3339Nano)}
	if !p.PaidAt.IsZero() {
		out.PaidAt = p.PaidAt.UTC().Format(time.RFC3339Nano)
	}
	return out
}

// buyerOrder parses the order number of a buyer's order route: a number
// that is malformed or carries another buyer's gene is no order of
// theirs.
func buyerOrder(c *app.RequestContext, user int64) (inventory.OrderNo, *apiError) {
	s := c.Param("order_no")
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != s || inventory.OrderNo(n).Gene() != inventory.UserGene(uint64(user)) {
		return 0, noOrder()
	}
	return inventory.OrderNo(n), nil
}

// payError maps the pay service's refusals, through the routing client.
func (g *Gateway) payError(err error) *apiError {
	switch {
	case errors.Is(err, orderclient.ErrNotPayable):
		return errorf(http.StatusConflict, "ORDER_NOT_PAYABLE", "the order cannot be paid: it is not waiting for payment, its hold has lapsed, or it was paid")
	case errors.Is(err, orderclient.ErrTooManyAttempts):
		return errorf(http.StatusConflict, "TOO_MANY_ATTEMPTS", "the order has had as many payment attempts as allowed")
	case errors.Is(err, orderclient.ErrUnknownChannel):
		return invalid("UNKNOWN_CHANNEL", "channel", "this system offers no such payment channel")
	case errors.Is(err, orderclient.ErrUnsupportedMode):
		return invalid("UNSUPPORTED_MODE", "mode", "the channel does not offer this mode (wechat: qr only)")
	case errors.Is(err, orderclient.ErrNoPayment):
		return errorf(http.StatusNotFound, "NO_PAYMENT", "the order has no payment attempt yet")
	case errors.Is(err, orderclient.ErrProviderUnavailable):
		return errorf(http.StatusServiceUnavailable, "PROVIDER_UNAVAILABLE", "the payment provider is unavailable; retry shortly")
	case errors.Is(err, orderclient.ErrOverloaded):
		return errorf(http.StatusServiceUnavailable, "OVERLOADED", "too many payments under way; retry shortly")
	case errors.Is(err, orderclient.ErrNoPayService):
		g.cfg.Log.Error("payments_not_configured", "err", err)
		return errorf(http.StatusNotImplemented, "NOT_IMPLEMENTED", "the order service has no payment provider configured")
	}
	return g.orderError(err)
}

// pay makes a payment attempt of the buyer's order (a new trade; an
// earlier open one is closed) and answers what the buyer pays with.
func (g *Gateway) pay(ctx context.Context, c *app.RequestContext, user int64) *apiError {
	if g.orders == nil {
		return noOrderService()
	}
	b, aerr := jsonBody(c, smallBody)
	if aerr != nil {
		return aerr
	}
	var in payIn
	if aerr := decodeJSON(b, &in); aerr != nil {
		return aerr
	}
	switch in.Channel {
	case "alipay", "wechat":
	case "":
		return invalid("INVALID_ARGUMENT", "channel", "required: alipay or wechat")
	default:
		return invalid("UNKNOWN_CHANNEL", "channel", "%q: want alipay or wechat", in.Channel)
	}
	mode := payment.ModeQR
	if in.Mode != nil {
		// Only a mode left out means qr: an empty one is most likely a
		// form's unset choice, and guessing for it could show the buyer
		// a way to pay they did not pick.
		mode = payment.Mode(*in.Mode)
	}
	if mode != payment.ModeQR && mode != payment.ModePage {
		return invalid("INVALID_ARGUMENT", "mode", "%q: want qr or page, or leave mode out for qr", mode)
	}
	no, aerr := buyerOrder(c, user)
	if aerr != nil {
		return aerr
	}
	p, err := g.orders.Pay(ctx, no, uint64(user), in.Channel, mode)
	if err != nil {
		return g.payError(err)
	}
	writeJSON(c, http.StatusCreated, paymentToJSON(&p))
	return nil
}

// payment asks the provider about the buyer's order's latest attempt.
func (g *Gateway) payment(ctx context.Context, c *app.RequestContext, user int64) *apiError {
	if g.orders == nil {
		return noOrderService()
	}
	no, aerr := buyerOrder(c, user)
	if aerr != nil {
		return aerr
	}
	p, err := g.orders.PaymentStatus(ctx, no, uint64(user))
	if err != nil {
		return g.payError(err)
	}
	writeJSON(c, http.StatusOK, paymentToJSON(&p))
	return nil
}

// maxNotifyBytes bounds a provider's notification: an Alipay form or a
// WeChat JSON is one or two kilobytes.
const maxNotifyBytes = 64 << 10

// notify passes a provider's notification, raw, to the pay service, and
// answers exactly as the pay service says (the provider's expected
// success or failure). When the pay service cannot be reached the answer
// is a 503, which both providers take as a failure and send again.
func (g *Gateway) notify(channel string) handlerFunc {
	return func(ctx context.Context, c *app.RequestContext, _ int64) *apiError {
		if g.orders == nil {
			return noOrderService()
		}
		body := c.Request.Body()
		if len(body) > maxNotifyBytes {
			return errorf(http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE", "a notification is at most 64 KiB")
		}
		header := http.Header{}
		c.Request.Header.VisitAll(func(k, v []byte) { header.Add(string(k), string(v)) })
		a, err := g.orders.Notify(ctx, channel, header, body)
		if err != nil {
			g.cfg.Log.WarnContext(ctx, "payment_notify_failed", "channel", channel, "err", err)
			return g.payError(err)
		}
		c.Data(a.Status, a.ContentType, a.Body)
		return nil
	}
}
