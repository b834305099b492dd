package paysim

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

type tradeKey struct{ channel, outTradeNo string }

// trade is one trade of either channel; its fields are guarded by
// Server.mu.
type trade struct {
	channel    string
	outTradeNo string
	tradeNo    string // the provider's number, given at creation
	appID      string
	mchID      string
	subject    string
	amount     int64 // cents
	expire     time.Time
	notifyURL  string
	returnURL  string
	created    time.Time
	paid       bool
	paidAt     time.Time
	closed     bool // closed unpaid (by the merchant, or past expire)
	closedAt   time.Time
	refunded   int64 // cents, refunds accepted
	refunds    []*refund
}

// refund is one refund; guarded by Server.mu.
type refund struct {
	t            *trade
	outRequestNo string
	refundID     string
	amount       int64
	reason       string
	notifyURL    string
	created      time.Time
	doneAt       time.Time // when it succeeds (WeChat: after WechatRefundDelay)
}

// State names, as the control endpoints show them.
const (
	StateWait     = "WAIT_BUYER_PAY"
	StateSuccess  = "SUCCESS"
	StateClosed   = "CLOSED"
	StateRefunded = "REFUNDED" // paid, then refunded in full
)

// stateLocked settles expiry (a waiting trade past time_expire closes)
// and names the trade's state.
func (t *trade) stateLocked(now time.Time) string {
	switch {
	case t.paid && t.refunded >= t.amount:
		return StateRefunded
	case t.paid:
		return StateSuccess
	case t.closed:
		return StateClosed
	case !t.expire.IsZero() && !now.Before(t.expire):
		t.closed, t.closedAt = true, t.expire
		return StateClosed
	}
	return StateWait
}

func (t *trade) refundLocked(outRequestNo string) *refund {
	for _, r := range t.refunds {
		if r.outRequestNo == outRequestNo {
			return r
		}
	}
	return nil
}

// Errors of trade operations, mapped to each protocol's codes.
var (
	errNoTrade      = errors.New("paysim: no such trade")
	errFull         = errors.New("paysim: trade table full (-max-trades)")
	errPaid         = errors.New("paysim: trade already paid")
	errClosed       = errors.New("paysim: trade closed")
	errInconsistent = errors.New("paysim: same out_trade_no, different trade")
	errNotPaid      = errors.New("paysim: trade not paid")
	errOverRefund   = errors.New("paysim: refund above what is refundable")
	errTooMany      = errors.New("paysim: too many refunds for one trade")
	errRefundClash  = errors.New("paysim: out_request_no used for another refund")
)

type newTrade struct {
	channel, outTradeNo, appID, mchID, subject, notifyURL, returnURL string
	amount                                                           int64
	expire                                                           time.Time
}

// create makes a trade, or returns the same one for a repeat of the same
// request (both providers answer a repeated create with the first
// result while it is unpaid).
func (s *Server) create(n newTrade) (*trade, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	k := tradeKey{n.channel, n.outTradeNo}
	if t, ok := s.trades[k]; ok {
		switch t.stateLocked(now) {
		case StateSuccess, StateRefunded:
			return t, errPaid
		case StateClosed:
			return t, errClosed
		}
		if t.amount != n.amount || t.subject != n.subject {
			return t, errInconsistent
		}
		return t, nil
	}
	if len(s.trades) >= s.cfg.MaxTrades {
		return nil, errFull
	}
	s.seq++
	t := &trade{
		channel: n.channel, outTradeNo: n.outTradeNo, appID: n.appID, mchID: n.mchID,
		subject: n.subject, amount: n.amount, expire: n.expire,
		notifyURL: n.notifyURL, returnURL: n.returnURL, created: now,
		tradeNo: tradeNo(n.channel, now, s.seq),
	}
	s.trades[k] = t
	return t, nil
}

func tradeNo(channel string, now time.Time, seq uint64) string {
	day := now.In(cst).Format("20060102")
	if channel == Alipay {
		return fmt.Sprintf("%s22%018d", day, seq) // 28 digits, like 2024...22001...
	}
	return fmt.Sprintf("4200%s%016d", day, seq) // 28 digits, like 4200...
}

// lookup returns a trade with its state settled.
func (s *Server) lookup(channel, outTradeNo string) (tradeView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.trades[tradeKey{channel, outTradeNo}]
	if !ok {
		return tradeView{}, errNoTrade
	}
	return s.viewLocked(t), nil
}

// pay is the buyer paying: the trade must be waiting and not past
// time_expire. Paying a paid trade again changes nothing (paid=false).
func (s *Server) pay(channel, outTradeNo string) (view tradeView, paidNow bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.trades[tradeKey{channel, outTradeNo}]
	if !ok {
		return tradeView{}, false, errNoTrade
	}
	now := s.cfg.Now()
	switch t.stateLocked(now) {
	case StateClosed:
		return s.viewLocked(t), false, errClosed
	case StateSuccess, StateRefunded:
		return s.viewLocked(t), false, nil
	}
	t.paid, t.paidAt = true, now
	v := s.viewLocked(t)
	s.notifyPaymentLocked(t)
	return v, true, nil
}

// closeTrade closes an unpaid trade; a closed one stays closed.
func (s *Server) closeTrade(channel, outTradeNo string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.trades[tradeKey{channel, outTradeNo}]
	if !ok {
		return errNoTrade
	}
	switch t.stateLocked(s.cfg.Now()) {
	case StateSuccess, StateRefunded:
		return errPaid
	case StateClosed:
		return nil
	}
	t.closed, t.closedAt = true, s.cfg.Now()
	return nil
}

type newRefund struct {
	channel, outTradeNo, outRequestNo, reason, notifyURL string
	amount, total                                        int64 // total: WeChat's amount.total, 0 for Alipay
}

// refund accepts a refund once per out_request_no: a repeat returns the
// first refund (repeat=true) whatever its amount, as both providers do.
// The refunds of a trade never exceed what was paid.
func (s *Server) refund(n newRefund) (rv refundView, repeat bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.trades[tradeKey{n.channel, n.outTradeNo}]
	if !ok {
		return refundView{}, false, errNoTrade
	}
	if r := t.refundLocked(n.outRequestNo); r != nil {
		return s.refundViewLocked(r), true, nil
	}
	if n.channel == Wechat {
		if _, clash := s.wechatRefunds[n.outRequestNo]; clash {
			return refundView{}, false, errRefundClash
		}
	}
	now := s.cfg.Now()
	if st := t.stateLocked(now); st != StateSuccess && st != StateRefunded {
		return refundView{}, false, errNotPaid
	}
	if n.amount <= 0 || n.amount > t.amount-t.refunded {
		return refundView{}, false, errOverRefund
	}
	if len(t.refunds) >= MaxRefundsPerTrade {
		return refundView{}, false, errTooMany
	}
	s.seq++
	r := &refund{
		t: t, outRequestNo: n.outRequestNo, amount: n.amount, reason: n.reason,
		notifyURL: n.notifyURL, created: now, doneAt: now,
		refundID: fmt.Sprintf("50000%s%016d", now.In(cst).Format("20060102"), s.seq),
	}
	if n.channel == Wechat {
		r.doneAt = now.Add(s.cfg.WechatRefundDelay)
		s.wechatRefunds[n.outRequestNo] = r
	}
	t.refunds = append(t.refunds, r)
	t.refunded += n.amount
	s.notifyRefundLocked(r)
	return s.refundViewLocked(r), false, nil
}

// tradeView is a trade's state at one moment, safe to use without the lock.
type tradeView struct {
	Channel     string       `json:"channel"`
	OutTradeNo  string       `json:"out_trade_no"`
	TradeNo     string       `json:"trade_no"`
	State       string       `json:"state"`
	Subject     string       `json:"subject"`
	AmountCents int64        `json:"amount_cents"`
	Refunded    int64        `json:"refunded_cents"`
	TimeExpire  time.Time    `json:"time_expire,omitzero"`
	CreatedAt   time.Time    `json:"created_at"`
	PaidAt      time.Time    `json:"paid_at,omitzero"`
	ClosedAt    time.Time    `json:"closed_at,omitzero"`
	QRCode      string       `json:"qr_code"`
	PayPage     string       `json:"pay_page"`
	ReturnURL   string       `json:"return_url,omitempty"`
	AppID       string       `json:"app_id,omitempty"`
	MchID       string       `json:"mch_id,omitempty"`
	Refunds     []refundView `json:"refunds,omitempty"`
}

type refundView struct {
	OutTradeNo   string    `json:"out_trade_no"`
	TradeNo      string    `json:"trade_no"`
	OutRequestNo string    `json:"out_request_no"`
	RefundID     string    `json:"refund_id"`
	AmountCents  int64     `json:"amount_cents"`
	TotalCents   int64     `json:"total_cents"`
	Refunded     int64     `json:"trade_refunded_cents"`
	Reason       string    `json:"reason,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	Done         bool      `json:"done"`
	DoneAt       time.Time `json:"done_at"`
}

func (s *Server) viewLocked(t *trade) tradeView {
	v := tradeView{
		Channel: t.channel, OutTradeNo: t.outTradeNo, TradeNo: t.tradeNo,
		State: t.stateLocked(s.cfg.Now()), Subject: t.subject, AmountCents: t.amount,
		Refunded: t.refunded, TimeExpire: t.expire, CreatedAt: t.created, PaidAt: t.paidAt,
		ClosedAt: t.closedAt, ReturnURL: t.returnURL, AppID: t.appID, MchID: t.mchID,
		PayPage: s.payPageURL(t.channel, t.outTradeNo),
	}
	v.QRCode = v.PayPage
	for _, r := range t.refunds {
		v.Refunds = append(v.Refunds, s.refundViewLocked(r))
	}
	return v
}

func (s *Server) refundViewLocked(r *refund) refundView {
	now := s.cfg.Now()
	return refundView{
		OutTradeNo: r.t.outTradeNo, TradeNo: r.t.tradeNo, OutRequestNo: r.outRequestNo,
		RefundID: r.refundID, AmountCents: r.amount, TotalCents: r.t.amount, Refunded: r.t.refunded,
		Reason: r.reason, CreatedAt: r.created, Done: !now.Before(r.doneAt), DoneAt: r.doneAt,
	}
}

// findRefund looks a refund up by trade (Alipay) or by out_refund_no
// alone (WeChat, outTradeNo empty).
func (s *Server) findRefund(channel, outTradeNo, outRequestNo string) (refundView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if outTradeNo == "" {
		r, ok := s.wechatRefunds[outRequestNo]
		if !ok || r.t.channel != channel {
			return refundView{}, errNoTrade
		}
		return s.refundViewLocked(r), nil
	}
	t, ok := s.trades[tradeKey{channel, outTradeNo}]
	if !ok {
		return refundView{}, errNoTrade
	}
	r := t.refundLocked(outRequestNo)
	if r == nil {
		return refundView{}, errNoTrade
	}
	return s.refundViewLocked(r), nil
}

// BillLine is one line of a simulated daily bill.
type BillLine struct {
	Channel      string    `json:"channel"`
	Kind         string    `json:"kind"` // pay or refund
	OutTradeNo   string    `json:"out_trade_no"`
	TradeNo      string    `json:"trade_no"`
	OutRequestNo string    `json:"out_request_no,omitempty"`
	RefundID     string    `json:"refund_id,omitempty"`
	Subject      string    `json:"subject"`
	AmountCents  int64     `json:"amount_cents"`
	TotalCents   int64     `json:"total_cents"`
	At           time.Time `json:"at"`
	CreatedAt    time.Time `json:"created_at"`
	AppID        string    `json:"app_id,omitempty"`
	MchID        string    `json:"mch_id,omitempty"`
}

// Bill returns a channel's bill of a day (day: YYYY-MM-DD in China
// Standard Time, the providers' day): every payment and every finished
// refund that happened on it, in time order.
func (s *Server) Bill(channel, day string) ([]BillLine, error) {
	d, err := time.ParseInLocation(time.DateOnly, day, cst)
	if err != nil {
		return nil, fmt.Errorf("paysim: bill day %q: want YYYY-MM-DD", day)
	}
	from, to := d, d.AddDate(0, 0, 1)
	in := func(t time.Time) bool { return !t.Before(from) && t.Before(to) }
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	var lines []BillLine
	for _, t := range s.trades {
		if t.channel != channel || !t.paid {
			continue
		}
		if in(t.paidAt) {
			lines = append(lines, BillLine{Channel: channel, Kind: "pay", OutTradeNo: t.outTradeNo, TradeNo: t.tradeNo,
				Subject: t.subject, AmountCents: t.amount, TotalCents: t.amount, At: t.paidAt, CreatedAt: t.created, AppID: t.appID, MchID: t.mchID})
		}
		for _, r := range t.refunds {
			if !now.Before(r.doneAt) && in(r.doneAt) {
				lines = append(lines, BillLine{Channel: channel, Kind: "refund", OutTradeNo: t.outTradeNo, TradeNo: t.tradeNo,
					OutRequestNo: r.outRequestNo, RefundID: r.refundID, Subject: t.subject, AmountCents: r.amount,
					TotalCents: t.amount, At: r.doneAt, CreatedAt: t.created, AppID: t.appID, MchID: t.mchID})
			}
		}
	}
	sort.Slice(lines, func(i, j int) bool {
		if !lines[i].At.Equal(lines[j].At) {
			return lines[i].At.Before(lines[j].At)
		}
		return lines[i].OutTradeNo+lines[i].OutRequestNo < lines[j].OutTradeNo+lines[j].OutRequestNo
	})
	return lines, nil
}

var cst = time.FixedZone("CST", 8*60*60)
