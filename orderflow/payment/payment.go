// Package payment is what the pay service needs from a payment provider,
// in the order flow's terms: trades (one per payment attempt, named by our
// out_trade_no), refunds (named by our out_request_no), a day's bill, and
// the provider's asynchronous notifications.
//
// The subpackages alipay and wechat implement Provider on the providers'
// Go SDKs (Alipay OpenAPI through github.com/smartwalle/alipay/v3, WeChat
// Pay API v3 through github.com/wechatpay-apiv3/wechatpay-go); paysim
// serves the other side of both on loopback for tests and development.
//
// Concurrency: a Provider is safe for concurrent use by many goroutines.
// Every call that reaches the provider takes a context and makes one HTTP
// exchange (two for a bill); none retries by itself: the pay service
// decides what to retry, with the same out_trade_no or out_request_no,
// which both providers treat as idempotent.
//
// Money is integer cents everywhere; Yuan and ParseYuan convert to and
// from Alipay's decimal strings without floating point.
package payment

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Errors a Provider returns, wrapped with %w and the provider's own words;
// test them with errors.Is.
var (
	// ErrBadSignature: a notification or an answer whose signature does
	// not verify with the provider's key, or whose signed timestamp is
	// stale (WeChat: more than 5 minutes away from now). Never act on it.
	ErrBadSignature = errors.New("payment: bad signature")
	// ErrWrongApp: a correctly signed notification for another app id
	// (Alipay app_id) or merchant (WeChat mchid or appid). Never act on it.
	ErrWrongApp = errors.New("payment: notification for another app or merchant")
	// ErrMalformed: a notification or answer that cannot be read (missing
	// fields, bad amounts, an AEAD resource that does not decrypt).
	ErrMalformed = errors.New("payment: malformed message")
	// ErrUnknownTrade: the provider has no trade with this out_trade_no
	// (for CloseTrade and Refund; QueryTrade answers TradeNotFound).
	ErrUnknownTrade = errors.New("payment: unknown trade")
	// ErrTradeState: the trade is not in a state for this call: closing a
	// paid trade, refunding an unpaid or closed one.
	ErrTradeState = errors.New("payment: trade not in a state for this")
	// ErrRefundExceeds: the refund would take the trade's refunds above
	// what was paid (Alipay ACQ.REFUND_AMT_NOT_EQUAL_TOTAL, WeChat
	// INVALID_REQUEST "申请退款金额超过订单可退金额"), or a trade already
	// has as many refunds as the provider allows (WeChat: 50).
	ErrRefundExceeds = errors.New("payment: refund exceeds what was paid")
	// ErrNoBill: the provider has no bill for that day (none made yet, or
	// no trade that day: Alipay isp.bill_not_exist, WeChat
	// NO_STATEMENT_EXIST).
	ErrNoBill = errors.New("payment: no bill for that day")
	// ErrUnsupported: a mode this provider does not offer (WeChat Native
	// pay has QR codes only).
	ErrUnsupported = errors.New("payment: not supported by this provider")
	// ErrRejected: the provider refused the request for another reason
	// (bad parameters, a permission); its code and words are in the error.
	ErrRejected = errors.New("payment: provider rejected the request")
	// ErrUnavailable: the provider could not be reached or answered that
	// it failed (HTTP 5xx, Alipay 20000, WeChat SYSTEM_ERROR). The outcome
	// of a create, close or refund is unknown: query, or retry with the
	// same numbers.
	ErrUnavailable = errors.New("payment: provider unavailable")
)

// Mode is how the buyer pays: by scanning a QR code, or on the provider's
// web page (Alipay alipay.trade.page.pay).
type Mode string

// Modes.
const (
	ModeQR   Mode = "qr"
	ModePage Mode = "page"
)

// TradeRequest asks the provider for a trade. OutTradeNo is ours, unique
// per attempt (Alipay: up to 64 characters of letters, digits and _;
// WeChat: 6 to 32 of letters, digits and _-|*). TimeExpire is the hold's
// expiry: the provider refuses payment after it and the trade closes.
type TradeRequest struct {
	OutTradeNo  string
	AmountCents int64 // > 0
	Subject     string
	TimeExpire  time.Time
	Mode        Mode
	NotifyURL   string // where the provider sends notifications for the trade
	ReturnURL   string // page mode: where the buyer's browser goes after paying
}

// Trade is what the buyer needs to pay: a QR code's content (ModeQR) or a
// URL to open (ModePage). TradeNo is the provider's number when the
// provider gives one at creation; neither Alipay's precreate nor WeChat's
// Native prepay does, so it is usually empty until the trade is paid.
type Trade struct {
	OutTradeNo string
	TradeNo    string
	QRCode     string
	PayURL     string
}

// TradeState is a trade's state as the provider reports it.
type TradeState string

// Trade states. TradeRefunded is a paid trade with refunds: Alipay
// reports a trade refunded in full as TRADE_CLOSED with a payment time
// (partial refunds leave it TRADE_SUCCESS); WeChat reports REFUND after
// any refund. Either way the trade was paid: PaidAt says when.
const (
	TradeWaitBuyerPay TradeState = "WAIT_BUYER_PAY"
	TradeSuccess      TradeState = "SUCCESS"
	TradeClosed       TradeState = "CLOSED"
	TradeRefunded     TradeState = "REFUNDED"
	TradeNotFound     TradeState = "NOT_FOUND"
)

// TradeStatus is a queried trade. AmountCents is the trade's total;
// PaidAt is zero unless the trade was paid.
type TradeStatus struct {
	OutTradeNo  string
	TradeNo     string
	State       TradeState
	AmountCents int64
	PaidAt      time.Time
}

// RefundRequest asks for a refund of part or all of a paid trade.
// OutRequestNo is ours and idempotent: a retry with the same number
// refunds once (Alipay out_request_no, WeChat out_refund_no).
// TotalCents is the trade's total (WeChat requires it).
type RefundRequest struct {
	OutTradeNo   string
	OutRequestNo string
	AmountCents  int64 // > 0
	TotalCents   int64
	Reason       string
	NotifyURL    string // WeChat: where the refund's outcome is notified; Alipay uses the trade's
}

// RefundState is a refund's state.
type RefundState string

// Refund states. Alipay refunds synchronously (RefundSuccess, or an
// error); WeChat accepts first (RefundProcessing) and notifies the outcome.
const (
	RefundProcessing RefundState = "PROCESSING"
	RefundSuccess    RefundState = "SUCCESS"
	RefundFailed     RefundState = "FAILED"
	RefundNotFound   RefundState = "NOT_FOUND"
)

// Refund is a refund's state at the provider. RefundedAt is zero until it
// succeeded.
type Refund struct {
	OutTradeNo   string
	OutRequestNo string
	TradeNo      string
	AmountCents  int64
	State        RefundState
	RefundedAt   time.Time
}

// BillKind says whether a bill line is a payment or a refund.
type BillKind string

// Bill line kinds.
const (
	BillPay    BillKind = "pay"
	BillRefund BillKind = "refund"
)

// BillLine is one line of a provider's daily bill: money in (BillPay) or
// out (BillRefund, with its OutRequestNo). AmountCents is positive for
// both. At is when it happened, as the provider reports it.
type BillLine struct {
	OutTradeNo   string
	TradeNo      string
	OutRequestNo string
	Kind         BillKind
	AmountCents  int64
	At           time.Time
}

// NotificationKind says what a notification is about.
type NotificationKind string

// Notification kinds.
const (
	NotifyPayment NotificationKind = "payment"
	NotifyRefund  NotificationKind = "refund"
)

// Notification is a verified asynchronous notification: its signature and
// its app id or merchant were checked. Its amount was not: only the pay
// service knows what the trade should cost.
//
// For NotifyPayment, AmountCents is the trade's total and TradeState what
// it became. For NotifyRefund, OutRequestNo names the refund, AmountCents
// is that refund's amount, RefundState its outcome, and RefundedCents the
// trade's total refunded so far when the provider says it (Alipay
// refund_fee; 0 otherwise).
type Notification struct {
	Kind          NotificationKind
	ID            string // the provider's notification id (Alipay notify_id, WeChat id)
	OutTradeNo    string
	TradeNo       string
	OutRequestNo  string
	AmountCents   int64
	RefundedCents int64
	TradeState    TradeState
	RefundState   RefundState
	AppID         string // Alipay app_id; WeChat appid (payments only)
	MchID         string // WeChat mchid; empty for Alipay
	At            time.Time
}

// Answer is the exact HTTP answer a provider expects to a notification.
type Answer struct {
	Status      int
	ContentType string
	Body        []byte
}

// Write sends the answer.
func (a Answer) Write(w http.ResponseWriter) {
	if a.ContentType != "" {
		w.Header().Set("Content-Type", a.ContentType)
	}
	w.WriteHeader(a.Status)
	_, _ = w.Write(a.Body)
}

// Provider is one payment provider. Its methods map one to one onto the
// provider's API (see each implementation for the document of each call).
type Provider interface {
	// Channel names the provider as the API and pay.events do: "alipay"
	// or "wechat".
	Channel() string
	// Modes lists the modes CreateTrade offers (a mode outside it is
	// ErrUnsupported), so that a caller refuses one before it changes
	// anything.
	Modes() []Mode
	// CreateTrade makes a trade, or (Alipay page mode) the signed URL
	// that makes it when the buyer opens it.
	CreateTrade(ctx context.Context, req TradeRequest) (Trade, error)
	// QueryTrade asks for a trade's state; a trade the provider does not
	// know is TradeNotFound, not an error. Both SDKs take error answers
	// without checking a signature (wechatpay-go checks the status
	// first; smartwalle/alipay reads an unsigned error body), so
	// TradeNotFound is a hint, never proof that a trade was not paid.
	QueryTrade(ctx context.Context, outTradeNo string) (TradeStatus, error)
	// CloseTrade closes an unpaid trade so that it cannot be paid;
	// closing a closed trade succeeds; a paid one is ErrTradeState.
	CloseTrade(ctx context.Context, outTradeNo string) error
	// Refund refunds part or all of a paid trade, once per OutRequestNo.
	Refund(ctx context.Context, req RefundRequest) (Refund, error)
	// QueryRefund asks for a refund's state; one the provider does not
	// know is RefundNotFound.
	QueryRefund(ctx context.Context, outTradeNo, outRequestNo string) (Refund, error)
	// Bill downloads the trade bill of a day (the day of t in China
	// Standard Time, UTC+8, as both providers cut bills).
	Bill(ctx context.Context, day time.Time) ([]BillLine, error)
	// ParseNotification verifies and reads a notification from its raw
	// HTTP headers and body.
	ParseNotification(ctx context.Context, header http.Header, body []byte) (Notification, error)
	// Answer is what to reply to a notification: ok=true once it was
	// applied (or was a duplicate), ok=false to have it sent again.
	Answer(ok bool) Answer
}

// CST is China Standard Time (UTC+8, no daylight saving), the zone of both
// providers' timestamps and bill days. A fixed zone, so that no tzdata is
// needed.
var CST = time.FixedZone("CST", 8*60*60)
