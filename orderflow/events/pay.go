package events

import (
	"encoding/json"
	"fmt"
	"time"
)

// TopicPay carries the pay service's outcomes, keyed by order number and
// placed by its gene like seat.holds.
const TopicPay = "pay.events"

// Pay event types.
const (
	PaymentSucceeded Type = "PaymentSucceeded"
	PaymentClosed    Type = "PaymentClosed"
	RefundSucceeded  Type = "RefundSucceeded"
	RefundFailed     Type = "RefundFailed"
)

// Channels, as the HTTP API names them.
const (
	ChannelAlipay = "alipay"
	ChannelWechat = "wechat"
)

// PayEvent is one message of pay.events. A trade is one payment attempt
// (its out_trade_no is ours, unique per attempt); a refund is one refund
// request (its out_request_no, the API's refund_no, is ours too). Ids
// that are 64-bit numbers are decimal strings, times RFC 3339 UTC, money
// integer cents.
type PayEvent struct {
	Version int `json:"version"`
	// ID is unique per outcome, "<out_trade_no>/<type>" for a trade's and
	// "<out_request_no>/<type>" for a refund's: a trade succeeds or closes
	// once, a refund succeeds or fails once, so a consumer applies an
	// outcome once by its id, however often it is delivered.
	ID      string    `json:"id"`
	Type    Type      `json:"type"`
	At      time.Time `json:"at"` // when the provider says it happened
	OrderNo string    `json:"order_no"`
	UserID  string    `json:"user_id"`
	HoldID  string    `json:"hold_id"`
	// Channel is alipay or wechat; OutTradeNo our trade number, TradeNo
	// the provider's.
	Channel    string `json:"channel"`
	OutTradeNo string `json:"out_trade_no"`
	TradeNo    string `json:"trade_no,omitempty"`
	// AmountCents: PaymentSucceeded, what was paid; RefundSucceeded and
	// RefundFailed, what the refund is for.
	AmountCents int64 `json:"amount_cents,omitempty"`
	// OutRequestNo (refunds) is the refund's number, retried unchanged.
	OutRequestNo string `json:"out_request_no,omitempty"`
	// SeatIDs (refunds) are the seats refunded; empty means every seat.
	SeatIDs []string `json:"seat_ids,omitempty"`
	// Reason: PaymentClosed, why the trade closed (expired, superseded by
	// a new attempt, the hold released); RefundFailed, the provider's
	// words; a refund's own reason otherwise.
	Reason string `json:"reason,omitempty"`
}

// PayEventID returns the id of an outcome of a trade or refund number.
func PayEventID(number string, typ Type) string { return number + "/" + string(typ) }

// DecodePay reads a pay.events message's value, as Decode does for
// seat.holds: unknown fields are ignored, a newer version is ErrVersion,
// an unknown type ErrUnknownType.
func DecodePay(b []byte) (PayEvent, error) {
	var ev PayEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		return ev, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if ev.Version > Version {
		return ev, fmt.Errorf("%w: %d, this reader knows %d", ErrVersion, ev.Version, Version)
	}
	if ev.Version < 1 || ev.ID == "" || ev.OrderNo == "" || ev.OutTradeNo == "" || ev.Channel == "" {
		return ev, fmt.Errorf("%w: version, id, order_no, out_trade_no and channel are required", ErrMalformed)
	}
	switch ev.Type {
	case PaymentSucceeded, PaymentClosed:
	case RefundSucceeded, RefundFailed:
		if ev.OutRequestNo == "" {
			return ev, fmt.Errorf("%w: a refund's out_request_no is required", ErrMalformed)
		}
	default:
		return ev, fmt.Errorf("%w: %q", ErrUnknownType, ev.Type)
	}
	return ev, nil
}
