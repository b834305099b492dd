// Package alipay is payment.Provider for Alipay's OpenAPI, on
// github.com/smartwalle/alipay/v3 in public-key mode (RSA2: SHA256withRSA
// with the app's private key; answers and notifications verified with
// Alipay's public key).
//
// Calls and the Alipay documents they follow: CreateTrade is
// alipay.trade.precreate (QR, product FACE_TO_FACE_PAYMENT) or
// alipay.trade.page.pay (page, FAST_INSTANT_TRADE_PAY: a signed gateway
// URL, nothing is sent until the buyer opens it); QueryTrade
// alipay.trade.query; CloseTrade alipay.trade.close; Refund
// alipay.trade.refund; QueryRefund alipay.trade.fastpay.refund.query;
// Bill alipay.data.dataservice.bill.downloadurl.query, then the zip of
// GBK CSV files it points at; ParseNotification the asynchronous
// notification (异步通知: form-encoded, RSA2 over the sorted parameters
// less sign and sign_type), answered "success".
//
// Keys rotate without a restart (docs/keys.md): Reload swaps the app's
// private key and Alipay's public keys at once, or keeps the old ones.
// AlipayPublicKey may hold several keys (PEM blocks, newest first):
// notifications signed with any of them are taken, so that those signed
// before and after Alipay changes its key both are during an overlap.
// Answers to calls are verified with the first only: the SDK's
// public-key mode holds one key per client (its certificate mode, which
// keeps several certificates by SN, fetches unknown ones from the
// gateway, which this provider does not allow).
//
// Concurrency: a Provider is safe for concurrent use, Reload included.
// It keeps no state between calls but its keys, and never retries.
package alipay

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/csv"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	sdk "github.com/smartwalle/alipay/v3"
	"golang.org/x/text/encoding/simplifiedchinese"

	"seatd/orderflow/payment"
)

// ProductionGateway is Alipay's OpenAPI gateway, the default.
const ProductionGateway = "https://openapi.alipay.com/gateway.do"

// Limits.
const (
	// DefaultTimeout bounds one HTTP exchange with Alipay when the config
	// gives no client of its own.
	DefaultTimeout = 10 * time.Second
	// MaxBillBytes bounds a downloaded bill (the zip, and each file in
	// it): a day of a busy merchant is a few MiB.
	MaxBillBytes = 64 << 20
	// MaxAlipayPublicKeys bounds the Alipay public keys kept: the
	// current one and the one before it, with room for a mistake; each
	// costs a notification one more signature check.
	MaxAlipayPublicKeys = 4
)

// Config configures a Provider. AppID, PrivateKey and AlipayPublicKey are
// required.
type Config struct {
	// Gateway is the OpenAPI gateway URL: ProductionGateway when empty;
	// paysim's http://127.0.0.1:PORT/gateway.do in tests and make run.
	Gateway string
	// AppID is the app (APPID) the keys belong to; notifications for
	// another app are refused.
	AppID string
	// PrivateKey is the app's RSA private key: PEM (PKCS #1 or #8) or the
	// bare base64 Alipay's key tool writes.
	PrivateKey payment.Secret
	// AlipayPublicKey is Alipay's public key (支付宝公钥), PEM or bare
	// base64; or several PEM blocks, the current key first, during a
	// rotation (at most MaxAlipayPublicKeys).
	AlipayPublicKey string
	// HTTPClient makes the calls; one with DefaultTimeout when nil.
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// LogValue shows a config without its key.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("gateway", c.Gateway), slog.String("app_id", c.AppID),
		slog.Any("private_key", c.PrivateKey), slog.Bool("alipay_public_key", c.AlipayPublicKey != ""))
}

// Provider talks to Alipay. Make it with New.
type Provider struct {
	cur  atomic.Pointer[keys]
	http *http.Client
	log  *slog.Logger
}

// keys are a Provider's key material and the SDK clients made of it.
type keys struct {
	c      *sdk.Client   // signs calls; verifies answers with Alipay's first public key
	verify []*sdk.Client // one per Alipay public key: notifications
	appID  string
}

var _ payment.Provider = (*Provider)(nil)

// New checks the config and loads the keys. Errors never include key
// material.
func New(cfg Config) (*Provider, error) {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: DefaultTimeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	k, err := load(cfg)
	if err != nil {
		return nil, err
	}
	p := &Provider{http: cfg.HTTPClient, log: cfg.Logger}
	p.cur.Store(k)
	return p, nil
}

// Reload replaces the provider's keys (and gateway and app id) with
// cfg's, all at once for calls and notifications that start after it;
// calls under way finish with the old. A config that New would refuse
// changes nothing, and its error says why. cfg's HTTPClient and Logger
// are not used: the provider keeps its own.
func (p *Provider) Reload(cfg Config) error {
	cfg.HTTPClient = p.http
	k, err := load(cfg)
	if err != nil {
		return err
	}
	p.cur.Store(k)
	return nil
}

// load checks a config and makes its keys.
func load(cfg Config) (*keys, error) {
	var errs []error
	if cfg.Gateway == "" {
		cfg.Gateway = ProductionGateway
	}
	if u, err := url.Parse(cfg.Gateway); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("alipay: gateway %q is not an http(s) URL", cfg.Gateway))
	}
	if cfg.AppID == "" {
		errs = append(errs, errors.New("alipay: app id is required"))
	}
	if cfg.PrivateKey.Empty() {
		errs = append(errs, errors.New("alipay: the app's private key is required"))
	}
	pubs, err := publicKeys(cfg.AlipayPublicKey)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	client := func(pub string) (*sdk.Client, error) {
		// isProduction=true with WithProductionGateway is how the SDK
		// lets a client target another gateway; in public-key mode it
		// never downloads certificates.
		c, err := sdk.New(cfg.AppID, strings.TrimSpace(string(cfg.PrivateKey.Reveal())), true,
			sdk.WithProductionGateway(cfg.Gateway), sdk.WithHTTPClient(cfg.HTTPClient), sdk.WithTimeLocation(payment.CST))
		if err != nil {
			return nil, errors.New("alipay: the app's private key is not an RSA private key (PEM PKCS #1 or #8, or base64)")
		}
		if err := c.LoadAliPayPublicKey(pub); err != nil {
			return nil, errors.New("alipay: Alipay's public key is not an RSA public key (PEM or base64)")
		}
		return c, nil
	}
	k := &keys{appID: cfg.AppID}
	for i, pub := range pubs {
		c, err := client(pub)
		if err != nil {
			if len(pubs) > 1 {
				err = fmt.Errorf("%w (key %d of %d)", err, i+1, len(pubs))
			}
			return nil, err
		}
		k.verify = append(k.verify, c)
	}
	k.c = k.verify[0]
	return k, nil
}

// publicKeys splits Alipay's public keys: one bare base64 key, or up to
// MaxAlipayPublicKeys PEM blocks.
func publicKeys(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("alipay: Alipay's public key is required")
	}
	if !strings.Contains(s, "-----BEGIN") {
		return []string{s}, nil
	}
	var out []string
	rest := []byte(s)
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		out = append(out, string(pem.EncodeToMemory(b)))
	}
	switch {
	case len(out) == 0 || len(bytes.TrimSpace(rest)) > 0:
		return nil, errors.New("alipay: Alipay's public keys: want PEM blocks and nothing else")
	case len(out) > MaxAlipayPublicKeys:
		return nil, fmt.Errorf("alipay: %d Alipay public keys, want at most %d", len(out), MaxAlipayPublicKeys)
	}
	return out, nil
}

// Channel is "alipay".
func (p *Provider) Channel() string { return "alipay" }

// Modes implements payment.Provider: precreate's QR code and page pay.
func (p *Provider) Modes() []payment.Mode { return []payment.Mode{payment.ModeQR, payment.ModePage} }

const alipayTime = "2006-01-02 15:04:05"

// CreateTrade: alipay.trade.precreate for ModeQR, alipay.trade.page.pay
// for ModePage (the URL is signed here; Alipay makes the trade when the
// buyer opens it). time_expire is the absolute expiry in UTC+8, to the
// second.
func (p *Provider) CreateTrade(ctx context.Context, req payment.TradeRequest) (payment.Trade, error) {
	if req.OutTradeNo == "" || req.Subject == "" || req.AmountCents <= 0 || req.AmountCents > payment.MaxCents {
		return payment.Trade{}, fmt.Errorf("alipay: create: %w: out_trade_no, subject and an amount in (0, %d] cents are required", payment.ErrRejected, payment.MaxCents)
	}
	t := sdk.Trade{
		NotifyURL: req.NotifyURL, ReturnURL: req.ReturnURL, Subject: req.Subject,
		OutTradeNo: req.OutTradeNo, TotalAmount: payment.Yuan(req.AmountCents),
	}
	if !req.TimeExpire.IsZero() {
		t.TimeExpire = req.TimeExpire.In(payment.CST).Format(alipayTime)
	}
	switch req.Mode {
	case payment.ModeQR, "":
		t.ProductCode = "FACE_TO_FACE_PAYMENT"
		rsp, err := p.cur.Load().c.TradePreCreate(ctx, sdk.TradePreCreate{Trade: t})
		if err = p.check("precreate", err, rsp, func() sdk.Error { return rsp.Error }); err != nil {
			return payment.Trade{}, err
		}
		return payment.Trade{OutTradeNo: req.OutTradeNo, QRCode: rsp.QRCode}, nil
	case payment.ModePage:
		t.ProductCode = "FAST_INSTANT_TRADE_PAY"
		u, err := p.cur.Load().c.TradePagePay(sdk.TradePagePay{Trade: t})
		if err != nil {
			return payment.Trade{}, fmt.Errorf("alipay: page pay: %w: %v", payment.ErrRejected, err)
		}
		return payment.Trade{OutTradeNo: req.OutTradeNo, PayURL: u.String()}, nil
	}
	return payment.Trade{}, fmt.Errorf("alipay: mode %q: %w", req.Mode, payment.ErrUnsupported)
}

// QueryTrade: alipay.trade.query. ACQ.TRADE_NOT_EXIST is TradeNotFound;
// TRADE_CLOSED with a payment date (send_pay_date) is TradeRefunded.
func (p *Provider) QueryTrade(ctx context.Context, outTradeNo string) (payment.TradeStatus, error) {
	rsp, err := p.cur.Load().c.TradeQuery(ctx, sdk.TradeQuery{OutTradeNo: outTradeNo})
	err = p.check("query", err, rsp, func() sdk.Error { return rsp.Error })
	if errors.Is(err, payment.ErrUnknownTrade) {
		return payment.TradeStatus{OutTradeNo: outTradeNo, State: payment.TradeNotFound}, nil
	}
	if err != nil {
		return payment.TradeStatus{}, err
	}
	st := payment.TradeStatus{OutTradeNo: rsp.OutTradeNo, TradeNo: rsp.TradeNo}
	if st.AmountCents, err = payment.ParseYuan(rsp.TotalAmount); err != nil {
		return payment.TradeStatus{}, fmt.Errorf("alipay: query: %w: total_amount: %w", payment.ErrMalformed, err)
	}
	if rsp.SendPayDate != "" {
		if st.PaidAt, err = time.ParseInLocation(alipayTime, rsp.SendPayDate, payment.CST); err != nil {
			return payment.TradeStatus{}, fmt.Errorf("alipay: query: %w: send_pay_date %q", payment.ErrMalformed, rsp.SendPayDate)
		}
	}
	switch rsp.TradeStatus {
	case sdk.TradeStatusWaitBuyerPay:
		st.State = payment.TradeWaitBuyerPay
	case sdk.TradeStatusSuccess, sdk.TradeStatusFinished:
		st.State = payment.TradeSuccess
	case sdk.TradeStatusClosed:
		st.State = payment.TradeClosed
		if !st.PaidAt.IsZero() {
			st.State = payment.TradeRefunded
		}
	default:
		return payment.TradeStatus{}, fmt.Errorf("alipay: query: %w: trade_status %q", payment.ErrMalformed, rsp.TradeStatus)
	}
	return st, nil
}

// CloseTrade: alipay.trade.close.
func (p *Provider) CloseTrade(ctx context.Context, outTradeNo string) error {
	rsp, err := p.cur.Load().c.TradeClose(ctx, sdk.TradeClose{OutTradeNo: outTradeNo})
	return p.check("close", err, rsp, func() sdk.Error { return rsp.Error })
}

// Refund: alipay.trade.refund, synchronous: success means the money went
// back (RefundSuccess; RefundedAt is zero, see QueryRefund). A repeat with the same out_request_no answers
// the first refund again (fund_change N).
func (p *Provider) Refund(ctx context.Context, req payment.RefundRequest) (payment.Refund, error) {
	if req.OutRequestNo == "" || req.AmountCents <= 0 {
		return payment.Refund{}, fmt.Errorf("alipay: refund: %w: out_request_no and a positive amount are required", payment.ErrRejected)
	}
	if req.TotalCents > 0 && req.AmountCents > req.TotalCents {
		return payment.Refund{}, fmt.Errorf("alipay: refund: %w: %d cents of %d", payment.ErrRefundExceeds, req.AmountCents, req.TotalCents)
	}
	rsp, err := p.cur.Load().c.TradeRefund(ctx, sdk.TradeRefund{OutTradeNo: req.OutTradeNo, OutRequestNo: req.OutRequestNo,
		RefundAmount: payment.Yuan(req.AmountCents), RefundReason: req.Reason})
	if err = p.check("refund", err, rsp, func() sdk.Error { return rsp.Error }); err != nil {
		return payment.Refund{}, err
	}
	r := payment.Refund{OutTradeNo: req.OutTradeNo, OutRequestNo: req.OutRequestNo, TradeNo: rsp.TradeNo,
		AmountCents: req.AmountCents, State: payment.RefundSuccess}
	// The SDK's TradeRefundRsp has no gmt_refund_pay: RefundedAt stays
	// zero here; QueryRefund and the bill give the time.
	return r, nil
}

// QueryRefund: alipay.trade.fastpay.refund.query; no refund_status means
// Alipay has no such refund (RefundNotFound).
func (p *Provider) QueryRefund(ctx context.Context, outTradeNo, outRequestNo string) (payment.Refund, error) {
	rsp, err := p.cur.Load().c.TradeFastPayRefundQuery(ctx, sdk.TradeFastPayRefundQuery{OutTradeNo: outTradeNo, OutRequestNo: outRequestNo})
	err = p.check("refund query", err, rsp, func() sdk.Error { return rsp.Error })
	r := payment.Refund{OutTradeNo: outTradeNo, OutRequestNo: outRequestNo, State: payment.RefundNotFound}
	if errors.Is(err, payment.ErrUnknownTrade) {
		return r, nil
	}
	if err != nil {
		return payment.Refund{}, err
	}
	if rsp.RefundStatus != "REFUND_SUCCESS" {
		return r, nil
	}
	r.TradeNo, r.State = rsp.TradeNo, payment.RefundSuccess
	if r.AmountCents, err = payment.ParseYuan(rsp.RefundAmount); err != nil {
		return payment.Refund{}, fmt.Errorf("alipay: refund query: %w: refund_amount: %w", payment.ErrMalformed, err)
	}
	r.RefundedAt = p.parseTime(rsp.GMTRefundPay)
	return r, nil
}

func (p *Provider) parseTime(s string) time.Time {
	t, err := time.ParseInLocation(alipayTime, s, payment.CST)
	if err != nil {
		return time.Time{}
	}
	return t
}

// Bill: alipay.data.dataservice.bill.downloadurl.query (bill_type trade)
// for the day in UTC+8, then the zip it names: the "业务明细" CSV (GBK),
// '#' lines skipped, columns found by their header. 交易 lines are
// payments, 退款 lines refunds (their negative amounts made positive).
func (p *Provider) Bill(ctx context.Context, day time.Time) ([]payment.BillLine, error) {
	rsp, err := p.cur.Load().c.BillDownloadURLQuery(ctx, sdk.BillDownloadURLQuery{BillType: "trade", BillDate: day.In(payment.CST).Format(time.DateOnly)})
	if err = p.check("bill", err, rsp, func() sdk.Error { return rsp.Error }); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rsp.BillDownloadURL, nil)
	if err != nil {
		return nil, fmt.Errorf("alipay: bill: %w: bill_download_url: %v", payment.ErrMalformed, err)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("alipay: bill download: %w: %w", payment.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("alipay: bill download: %w: HTTP %d", payment.ErrUnavailable, resp.StatusCode)
	}
	zb, err := io.ReadAll(io.LimitReader(resp.Body, MaxBillBytes+1))
	if err != nil {
		return nil, fmt.Errorf("alipay: bill download: %w: %w", payment.ErrUnavailable, err)
	}
	if len(zb) > MaxBillBytes {
		return nil, fmt.Errorf("alipay: bill: %w: larger than %d bytes", payment.ErrMalformed, MaxBillBytes)
	}
	return parseBill(zb)
}

func parseBill(zb []byte) ([]payment.BillLine, error) {
	zr, err := zip.NewReader(bytes.NewReader(zb), int64(len(zb)))
	if err != nil {
		return nil, fmt.Errorf("alipay: bill: %w: not a zip: %v", payment.ErrMalformed, err)
	}
	for _, f := range zr.File {
		if !strings.Contains(f.Name, "业务明细") || strings.Contains(f.Name, "汇总") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("alipay: bill: %w: %v", payment.ErrMalformed, err)
		}
		gbk, err := io.ReadAll(io.LimitReader(rc, MaxBillBytes+1))
		rc.Close()
		if err != nil || len(gbk) > MaxBillBytes {
			return nil, fmt.Errorf("alipay: bill: %w: %s unreadable or too large", payment.ErrMalformed, f.Name)
		}
		text, err := simplifiedchinese.GBK.NewDecoder().Bytes(gbk)
		if err != nil {
			return nil, fmt.Errorf("alipay: bill: %w: not GBK: %v", payment.ErrMalformed, err)
		}
		return parseBillCSV(text)
	}
	return nil, fmt.Errorf("alipay: bill: %w: no 业务明细 file in the zip", payment.ErrMalformed)
}

func parseBillCSV(text []byte) ([]payment.BillLine, error) {
	var body bytes.Buffer
	for _, line := range bytes.SplitAfter(text, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			body.Write(line)
		}
	}
	cr := csv.NewReader(&body)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	rows, err := cr.ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("alipay: bill: %w: CSV: %v", payment.ErrMalformed, err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[strings.TrimSpace(h)] = i
	}
	need := []string{"支付宝交易号", "商户订单号", "业务类型", "完成时间", "订单金额（元）", "退款批次号/请求号"}
	for _, h := range need {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("alipay: bill: %w: no column %s", payment.ErrMalformed, h)
		}
	}
	get := func(row []string, h string) string {
		if i := col[h]; i < len(row) {
			return strings.TrimSpace(row[i])
		}
		return ""
	}
	var lines []payment.BillLine
	for _, row := range rows[1:] {
		l := payment.BillLine{TradeNo: get(row, "支付宝交易号"), OutTradeNo: get(row, "商户订单号")}
		switch get(row, "业务类型") {
		case "交易":
			l.Kind = payment.BillPay
		case "退款":
			l.Kind, l.OutRequestNo = payment.BillRefund, get(row, "退款批次号/请求号")
		default:
			continue
		}
		c, err := payment.ParseYuan(get(row, "订单金额（元）"))
		if err != nil {
			return nil, fmt.Errorf("alipay: bill: %w: %w", payment.ErrMalformed, err)
		}
		l.AmountCents = max(c, -c)
		if l.At, err = time.ParseInLocation(alipayTime, get(row, "完成时间"), payment.CST); err != nil {
			return nil, fmt.Errorf("alipay: bill: %w: 完成时间 %q", payment.ErrMalformed, get(row, "完成时间"))
		}
		lines = append(lines, l)
	}
	return lines, nil
}

// ParseNotification verifies an asynchronous notification's RSA2
// signature with Alipay's public key and its app_id, and reads it. A
// notification with out_biz_no and a refund (refund_fee, gmt_refund) is a
// refund's: AmountCents is send_back_fee (this refund) when given, else
// refund_fee (the trade's refunds so far).
func (p *Provider) ParseNotification(_ context.Context, _ http.Header, body []byte) (payment.Notification, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return payment.Notification{}, fmt.Errorf("alipay: notification: %w: %v", payment.ErrMalformed, err)
	}
	if v.Get("sign") == "" {
		return payment.Notification{}, fmt.Errorf("alipay: notification: %w: no sign", payment.ErrBadSignature)
	}
	if st := v.Get("sign_type"); st != "" && st != "RSA2" {
		return payment.Notification{}, fmt.Errorf("alipay: notification: %w: sign_type %q", payment.ErrBadSignature, st)
	}
	// alipay_cert_sn is not signed; in certificate mode the SDK would
	// fetch the certificate it names from the gateway. This provider uses
	// a public key: drop it rather than let a sender steer that.
	v.Del("alipay_cert_sn")
	k := p.cur.Load()
	n, err := k.decode(v)
	if err != nil {
		return payment.Notification{}, fmt.Errorf("alipay: notification: %w: %v", payment.ErrBadSignature, err)
	}
	if n.AppId != k.appID {
		return payment.Notification{}, fmt.Errorf("alipay: notification: %w: app_id %q", payment.ErrWrongApp, n.AppId)
	}
	out := payment.Notification{Kind: payment.NotifyPayment, ID: n.NotifyId, OutTradeNo: n.OutTradeNo, TradeNo: n.TradeNo, AppID: n.AppId}
	switch n.TradeStatus {
	case sdk.TradeStatusSuccess, sdk.TradeStatusFinished:
		out.TradeState = payment.TradeSuccess
	case sdk.TradeStatusClosed:
		out.TradeState = payment.TradeClosed
		if n.GmtPayment != "" {
			out.TradeState = payment.TradeRefunded
		}
	case sdk.TradeStatusWaitBuyerPay:
		out.TradeState = payment.TradeWaitBuyerPay
	default:
		return payment.Notification{}, fmt.Errorf("alipay: notification: %w: trade_status %q", payment.ErrMalformed, n.TradeStatus)
	}
	amount := func(field, s string) (int64, error) {
		c, err := payment.ParseYuan(s)
		if err != nil {
			return 0, fmt.Errorf("alipay: notification: %w: %s: %w", payment.ErrMalformed, field, err)
		}
		return c, nil
	}
	if n.OutBizNo != "" && (n.RefundFee != "" || n.GmtRefund != "") {
		out.Kind, out.OutRequestNo, out.RefundState = payment.NotifyRefund, n.OutBizNo, payment.RefundSuccess
		if out.RefundedCents, err = amount("refund_fee", n.RefundFee); err != nil {
			return payment.Notification{}, err
		}
		out.AmountCents = out.RefundedCents
		if n.SendBackFee != "" {
			if out.AmountCents, err = amount("send_back_fee", n.SendBackFee); err != nil {
				return payment.Notification{}, err
			}
		}
		out.At = p.parseTime(n.GmtRefund)
		return out, nil
	}
	if out.AmountCents, err = amount("total_amount", n.TotalAmount); err != nil {
		return payment.Notification{}, err
	}
	out.At = p.parseTime(n.GmtPayment)
	return out, nil
}

// decode verifies a notification with each of Alipay's public keys in
// turn, and reads it with the first that verifies it.
func (k *keys) decode(v url.Values) (*sdk.Notification, error) {
	var first error
	for _, c := range k.verify {
		n, err := c.DecodeNotification(v)
		if err == nil {
			return n, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// Answer is the body "success" (Alipay stops resending), or "fail"
// (Alipay resends on its schedule: 4m, 10m, 10m, 1h, 2h, 6h, 15h).
func (p *Provider) Answer(ok bool) payment.Answer {
	if ok {
		return payment.Answer{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte("success")}
	}
	return payment.Answer{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte("fail")}
}

// check turns the SDK's outcome into this package's errors: transport
// failures are ErrUnavailable; an answer whose signature fails is
// ErrBadSignature; Alipay's codes map by sub_code.
func (p *Provider) check(op string, err error, rsp any, code func() sdk.Error) error {
	if err == nil {
		if rsp == nil || isNilPtr(rsp) {
			return fmt.Errorf("alipay: %s: %w: empty answer", op, payment.ErrMalformed)
		}
		if e := code(); e.Code.IsFailure() {
			return p.codeErr(op, e)
		}
		return nil
	}
	var pe *sdk.Error
	if errors.As(err, &pe) && pe != nil {
		return p.codeErr(op, *pe)
	}
	var ve sdk.Error
	if errors.As(err, &ve) {
		return p.codeErr(op, ve)
	}
	var ne net.Error
	var ue *url.Error
	var se *json.SyntaxError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne), errors.As(err, &ue):
		err = fmt.Errorf("alipay: %s: %w: %w", op, payment.ErrUnavailable, err)
	case errors.Is(err, rsa.ErrVerification), errors.Is(err, sdk.ErrSignNotFound):
		err = fmt.Errorf("alipay: %s: %w: answer: %v", op, payment.ErrBadSignature, err)
	case errors.As(err, &se), errors.Is(err, sdk.ErrBadResponse):
		err = fmt.Errorf("alipay: %s: %w: answer: %v", op, payment.ErrMalformed, err)
	default:
		err = fmt.Errorf("alipay: %s: %w: %v", op, payment.ErrUnavailable, err)
	}
	p.log.Warn("alipay_call_failed", "op", op, "err", err)
	return err
}

func isNilPtr(v any) bool {
	switch x := v.(type) {
	case *sdk.TradePreCreateRsp:
		return x == nil
	case *sdk.TradeQueryRsp:
		return x == nil
	case *sdk.TradeCloseRsp:
		return x == nil
	case *sdk.TradeRefundRsp:
		return x == nil
	case *sdk.TradeFastPayRefundQueryRsp:
		return x == nil
	case *sdk.BillDownloadURLQueryRsp:
		return x == nil
	}
	return false
}

func (p *Provider) codeErr(op string, e sdk.Error) error {
	var sentinel error
	switch {
	case e.Code == sdk.CodeUnknowError || e.SubCode == "ACQ.SYSTEM_ERROR" || strings.HasPrefix(e.SubCode, "isp.unknow"):
		sentinel = payment.ErrUnavailable
	case e.SubCode == "ACQ.TRADE_NOT_EXIST":
		sentinel = payment.ErrUnknownTrade
	case e.SubCode == "ACQ.TRADE_STATUS_ERROR", e.SubCode == "ACQ.TRADE_HAS_CLOSE", e.SubCode == "ACQ.TRADE_HAS_SUCCESS",
		e.SubCode == "ACQ.TRADE_HAS_FINISHED", e.SubCode == "ACQ.TRADE_NOT_ALLOW_REFUND":
		sentinel = payment.ErrTradeState
	case e.SubCode == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL":
		sentinel = payment.ErrRefundExceeds
	case e.SubCode == "isp.bill_not_exist":
		sentinel = payment.ErrNoBill
	default:
		sentinel = payment.ErrRejected
	}
	err := fmt.Errorf("alipay: %s: %w: %s %s %s", op, sentinel, e.Code, e.SubCode, e.SubMsg)
	if sentinel != payment.ErrUnknownTrade {
		p.log.Info("alipay_call_refused", "op", op, "code", string(e.Code), "sub_code", e.SubCode)
	}
	return err
}
