// Package wechat is payment.Provider for WeChat Pay API v3 (direct
// merchant, Native pay), on github.com/wechatpay-apiv3/wechatpay-go.
//
// Calls and the WeChat Pay documents they follow: CreateTrade is Native
// prepay (POST /v3/pay/transactions/native: a code_url for a QR code;
// there is no page mode); QueryTrade queries by out_trade_no (GET
// /v3/pay/transactions/out-trade-no/{no}); CloseTrade closes (POST
// .../{no}/close); Refund and QueryRefund are domestic refunds (POST
// /v3/refund/domestic/refunds, GET .../{out_refund_no}); Bill applies for
// the trade bill (GET /v3/bill/tradebill) and downloads it (its answer is
// not signed: checked by the SHA1 the first answer gave);
// ParseNotification verifies the WECHATPAY2-SHA256-RSA2048 signature
// headers and decrypts the AEAD_AES_256_GCM resource with the APIv3 key.
//
// Requests are signed with the merchant's API key; answers are verified
// with WeChat Pay's public key (微信支付公钥, PlatformPublicKey and its id)
// or platform certificate (PlatformCertificate).
//
// Another host: the SDK writes https://api.mch.weixin.qq.com into every
// service URL and has no option for another. BaseURL (paysim in tests) is
// reached through the http.Client's transport, which rewrites the scheme
// and host of requests for api.mch.weixin.qq.com (and api2) before they
// leave. Signatures cover the path and query only, so they still hold.
//
// Keys rotate without a restart (docs/keys.md): Reload swaps the
// merchant's key and serial, the APIv3 key and WeChat Pay's keys at
// once, or keeps the old ones. WeChat Pay names the key of each
// signature by serial (the Wechatpay-Serial header: a public key's id,
// PUB_KEY_ID_..., or a platform certificate's serial), so a provider
// keeps several: public keys (PEM blocks with their ids, in order) and
// platform certificates (PEM blocks, each carrying its serial), both at
// once during WeChat Pay's move from certificates to public keys. Answers
// and notifications signed with any of them are taken.
//
// Concurrency: a Provider is safe for concurrent use, Reload included;
// it never retries.
package wechat

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/csv"
	"encoding/hex"
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

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/validators"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/consts"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"

	"seatd/orderflow/payment"
)

// ProductionURL is WeChat Pay's API host, the default BaseURL.
const ProductionURL = consts.WechatPayAPIServer

// Limits.
const (
	// DefaultTimeout bounds one HTTP exchange when the config gives no
	// client of its own.
	DefaultTimeout = 10 * time.Second
	// MaxBillBytes bounds a downloaded bill.
	MaxBillBytes = 64 << 20
	// MaxPlatformKeys bounds the public keys and certificates of WeChat
	// Pay kept: the current ones and those before, with room for a
	// mistake.
	MaxPlatformKeys = 8
)

// Config configures a Provider. Every field but BaseURL, HTTPClient and
// Logger is required, and one of PlatformPublicKey (with its id) or
// PlatformCertificate.
type Config struct {
	// BaseURL is scheme and host, no path: ProductionURL when empty,
	// paysim's http://127.0.0.1:PORT in tests.
	BaseURL string
	MchID   string
	AppID   string
	// MerchantSerial is the serial of the merchant's API certificate.
	MerchantSerial string
	// MerchantPrivateKey is the merchant's API private key
	// (apiclient_key.pem: PEM PKCS #8, or PKCS #1).
	MerchantPrivateKey payment.Secret
	// APIv3Key is the 32-byte APIv3 key that decrypts notifications.
	APIv3Key payment.Secret
	// PlatformPublicKey (PEM) and PlatformPublicKeyID (PUB_KEY_ID_...)
	// verify answers and notifications in public-key mode. During a
	// rotation: several PEM blocks, and their ids in the same order,
	// separated by commas.
	PlatformPublicKey   string
	PlatformPublicKeyID string
	// PlatformCertificate (PEM) verifies them in certificate mode: one
	// or several certificates, each known by its serial. With
	// PlatformPublicKey too, both verify (WeChat Pay's migration from
	// certificates to public keys).
	PlatformCertificate string
	HTTPClient          *http.Client
	Logger              *slog.Logger
}

// LogValue shows a config without its keys.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("base_url", c.BaseURL), slog.String("mch_id", c.MchID), slog.String("app_id", c.AppID),
		slog.String("merchant_serial", c.MerchantSerial), slog.Any("merchant_private_key", c.MerchantPrivateKey),
		slog.Any("apiv3_key", c.APIv3Key), slog.String("platform_public_key_id", c.PlatformPublicKeyID),
		slog.Bool("platform_certificate", c.PlatformCertificate != ""))
}

// Provider talks to WeChat Pay. Make it with New.
type Provider struct {
	cur atomic.Pointer[keys]
	log *slog.Logger
}

// keys are a Provider's settings and key material, and the SDK clients
// made of them.
type keys struct {
	mchID, appID string
	client       *core.Client // signs requests, verifies answers
	download     *core.Client // signs requests, verifies nothing: the bill file
	verifier     auth.Verifier
	notify       *notify.Handler
}

var _ payment.Provider = (*Provider)(nil)

// New checks the config, loads the keys and makes the SDK's clients.
// Errors never include key material.
func New(cfg Config) (*Provider, error) {
	p := &Provider{log: cfg.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if err := p.Reload(cfg); err != nil {
		return nil, err
	}
	return p, nil
}

// Reload replaces the provider's settings and keys with cfg's, all at
// once for calls and notifications that start after it; calls under way
// finish with the old. A config that New would refuse changes nothing,
// and its error says why. cfg's Logger is not used: the provider keeps
// its own.
func (p *Provider) Reload(cfg Config) error {
	k, err := load(cfg)
	if err != nil {
		return err
	}
	p.cur.Store(k)
	return nil
}

// load checks a config and makes its keys and clients.
func load(cfg Config) (*keys, error) {
	var errs []error
	if cfg.BaseURL == "" {
		cfg.BaseURL = ProductionURL
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || strings.Trim(base.Path, "/") != "" {
		errs = append(errs, fmt.Errorf("wechat: base URL %q is not scheme://host", cfg.BaseURL))
	}
	for _, f := range []struct{ name, v string }{{"mch id", cfg.MchID}, {"app id", cfg.AppID}, {"merchant serial", cfg.MerchantSerial}} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("wechat: %s is required", f.name))
		}
	}
	key, err := parsePrivateKey(cfg.MerchantPrivateKey.Reveal())
	if err != nil {
		errs = append(errs, fmt.Errorf("wechat: merchant private key: %w", err))
	}
	if n := len(cfg.APIv3Key.Reveal()); n != 32 {
		errs = append(errs, fmt.Errorf("wechat: the APIv3 key has %d bytes, want 32", n))
	}
	ring, err := platformKeys(cfg)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	hc := &http.Client{Timeout: DefaultTimeout}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		hc = &c
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = hostRewriter{scheme: base.Scheme, host: base.Host, next: next}

	ctx := context.Background()
	client, err := core.NewClient(ctx, option.WithMerchantCredential(cfg.MchID, cfg.MerchantSerial, key),
		option.WithVerifier(ring), option.WithHTTPClient(hc))
	if err != nil {
		return nil, fmt.Errorf("wechat: client: %v", err)
	}
	download, err := core.NewClient(ctx, option.WithMerchantCredential(cfg.MchID, cfg.MerchantSerial, key),
		option.WithoutValidator(), option.WithHTTPClient(hc))
	if err != nil {
		return nil, fmt.Errorf("wechat: download client: %v", err)
	}
	k := &keys{mchID: cfg.MchID, appID: cfg.AppID, client: client, download: download, verifier: ring}
	if k.notify, err = notify.NewRSANotifyHandler(string(cfg.APIv3Key.Reveal()), ring); err != nil {
		return nil, errors.New("wechat: the APIv3 key is not an AES-256 key")
	}
	return k, nil
}

// keyring verifies WeChat Pay's signatures with the key or certificate
// the signature's serial names: an auth.Verifier over the SDK's own, one
// per public key and one for the certificates (core.CertificateMap, by
// serial).
type keyring struct {
	byID   map[string]auth.Verifier // public key id -> its verifier
	certs  auth.Verifier            // the certificates; nil when none
	serial string                   // the first key's id or certificate's serial
}

// Verify implements auth.Verifier.
func (r *keyring) Verify(ctx context.Context, serial, message, signature string) error {
	if v, ok := r.byID[serial]; ok {
		return v.Verify(ctx, serial, message, signature)
	}
	if r.certs != nil {
		return r.certs.Verify(ctx, serial, message, signature)
	}
	return fmt.Errorf("wechat: no WeChat Pay public key of serial %q", serial)
}

// GetSerial implements auth.Verifier: the serial of the first key.
func (r *keyring) GetSerial(context.Context) (string, error) { return r.serial, nil }

// platformKeys reads WeChat Pay's public keys (with their ids) and
// certificates, at most MaxPlatformKeys in all.
func platformKeys(cfg Config) (*keyring, error) {
	r := &keyring{byID: map[string]auth.Verifier{}}
	var ids []string
	if cfg.PlatformPublicKeyID != "" {
		ids = strings.Split(cfg.PlatformPublicKeyID, ",")
	}
	var pubs []*rsa.PublicKey
	if cfg.PlatformPublicKey != "" {
		blocks, err := pemBlocks(cfg.PlatformPublicKey)
		if err != nil {
			return nil, fmt.Errorf("wechat: platform public key: %w", err)
		}
		for i, b := range blocks {
			k, err := parsePublicKey(b)
			if err != nil {
				return nil, fmt.Errorf("wechat: platform public key %d: %w", i+1, err)
			}
			pubs = append(pubs, k)
		}
		if len(ids) != len(pubs) {
			return nil, fmt.Errorf("wechat: %d platform public keys and %d ids: want an id for each, in order", len(pubs), len(ids))
		}
	} else if len(ids) > 0 {
		return nil, errors.New("wechat: a platform public key id without the key")
	}
	for i, k := range pubs {
		id := strings.TrimSpace(ids[i])
		if _, dup := r.byID[id]; dup || id == "" {
			return nil, fmt.Errorf("wechat: platform public key id %q empty or given twice", id)
		}
		r.byID[id] = verifiers.NewSHA256WithRSAPubkeyVerifier(id, *k)
		if r.serial == "" {
			r.serial = id
		}
	}
	var certs []*x509.Certificate
	if cfg.PlatformCertificate != "" {
		blocks, err := pemBlocks(cfg.PlatformCertificate)
		if err != nil {
			return nil, fmt.Errorf("wechat: platform certificate: %w", err)
		}
		for i, b := range blocks {
			c, err := parseCertificate(b)
			if err != nil {
				return nil, fmt.Errorf("wechat: platform certificate %d: %w", i+1, err)
			}
			if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
				return nil, fmt.Errorf("wechat: platform certificate %d: not of an RSA key", i+1)
			}
			certs = append(certs, c)
		}
		r.certs = verifiers.NewSHA256WithRSAVerifier(core.NewCertificateMapWithList(certs))
		if r.serial == "" {
			r.serial = strings.ToUpper(certs[0].SerialNumber.Text(16))
		}
	}
	switch n := len(pubs) + len(certs); {
	case n == 0:
		return nil, errors.New("wechat: a platform public key or certificate is required")
	case n > MaxPlatformKeys:
		return nil, fmt.Errorf("wechat: %d platform public keys and certificates, want at most %d", n, MaxPlatformKeys)
	}
	return r, nil
}

// pemBlocks splits PEM text into its blocks, refusing anything else.
func pemBlocks(s string) ([]string, error) {
	var out []string
	rest := []byte(strings.TrimSpace(s))
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		out = append(out, string(pem.EncodeToMemory(b)))
	}
	if len(out) == 0 || len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("not PEM: want PEM blocks and nothing else")
	}
	return out, nil
}

// hostRewriter sends requests for WeChat Pay's API hosts to another host.
type hostRewriter struct {
	scheme, host string
	next         http.RoundTripper
}

func (h hostRewriter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != "api.mch.weixin.qq.com" && r.URL.Host != "api2.mch.weixin.qq.com" {
		return h.next.RoundTrip(r)
	}
	r2 := r.Clone(r.Context())
	r2.URL.Scheme, r2.URL.Host, r2.Host = h.scheme, h.host, ""
	return h.next.RoundTrip(r2)
}

func parsePrivateKey(b []byte) (*rsa.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("not PEM")
	}
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		if rk, ok := k.(*rsa.PrivateKey); ok {
			return rk, nil
		}
		return nil, errors.New("not an RSA key")
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("neither PKCS #8 nor PKCS #1")
}

func parsePublicKey(s string) (*rsa.PublicKey, error) {
	blk, _ := pem.Decode([]byte(s))
	if blk == nil {
		return nil, errors.New("not PEM")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return rk, nil
}

func parseCertificate(s string) (*x509.Certificate, error) {
	blk, _ := pem.Decode([]byte(s))
	if blk == nil {
		return nil, errors.New("not PEM")
	}
	return x509.ParseCertificate(blk.Bytes)
}

// Channel is "wechat".
func (p *Provider) Channel() string { return "wechat" }

// Modes implements payment.Provider: Native pay has QR codes only.
func (p *Provider) Modes() []payment.Mode { return []payment.Mode{payment.ModeQR} }

func ptr[T any](v T) *T { return &v }

// CreateTrade: Native prepay. time_expire is RFC 3339 in UTC+8, to the
// second. ModePage is ErrUnsupported (Native pay is QR only).
func (p *Provider) CreateTrade(ctx context.Context, req payment.TradeRequest) (payment.Trade, error) {
	k := p.cur.Load()
	if req.Mode != payment.ModeQR && req.Mode != "" {
		return payment.Trade{}, fmt.Errorf("wechat: mode %q: %w: Native pay has QR codes only", req.Mode, payment.ErrUnsupported)
	}
	if req.OutTradeNo == "" || req.Subject == "" || req.NotifyURL == "" || req.AmountCents <= 0 || req.AmountCents > payment.MaxCents {
		return payment.Trade{}, fmt.Errorf("wechat: create: %w: out_trade_no, subject, notify URL and an amount in (0, %d] cents are required", payment.ErrRejected, payment.MaxCents)
	}
	pr := native.PrepayRequest{Appid: ptr(k.appID), Mchid: ptr(k.mchID), Description: ptr(req.Subject),
		OutTradeNo: ptr(req.OutTradeNo), NotifyUrl: ptr(req.NotifyURL),
		Amount: &native.Amount{Total: ptr(req.AmountCents), Currency: ptr("CNY")}}
	if !req.TimeExpire.IsZero() {
		pr.TimeExpire = ptr(req.TimeExpire.In(payment.CST).Truncate(time.Second))
	}
	resp, _, err := (&native.NativeApiService{Client: k.client}).Prepay(ctx, pr)
	if err != nil {
		return payment.Trade{}, p.apiErr("prepay", err)
	}
	if resp.CodeUrl == nil {
		return payment.Trade{}, fmt.Errorf("wechat: prepay: %w: no code_url", payment.ErrMalformed)
	}
	return payment.Trade{OutTradeNo: req.OutTradeNo, QRCode: *resp.CodeUrl}, nil
}

// QueryTrade: query by out_trade_no. ORDER_NOT_EXIST is TradeNotFound;
// NOTPAY and USERPAYING are waiting; REFUND is TradeRefunded (a refund
// happened: WeChat does not say whether in full); CLOSED, REVOKED and
// PAYERROR are closed.
func (p *Provider) QueryTrade(ctx context.Context, outTradeNo string) (payment.TradeStatus, error) {
	k := p.cur.Load()
	tx, _, err := (&native.NativeApiService{Client: k.client}).QueryOrderByOutTradeNo(ctx,
		native.QueryOrderByOutTradeNoRequest{OutTradeNo: ptr(outTradeNo), Mchid: ptr(k.mchID)})
	if core.IsAPIError(err, "ORDER_NOT_EXIST") {
		return payment.TradeStatus{OutTradeNo: outTradeNo, State: payment.TradeNotFound}, nil
	}
	if err != nil {
		return payment.TradeStatus{}, p.apiErr("query", err)
	}
	return transactionStatus(tx)
}

func transactionStatus(tx *payments.Transaction) (payment.TradeStatus, error) {
	st := payment.TradeStatus{OutTradeNo: deref(tx.OutTradeNo), TradeNo: deref(tx.TransactionId)}
	if tx.Amount != nil && tx.Amount.Total != nil {
		st.AmountCents = *tx.Amount.Total
	}
	switch deref(tx.TradeState) {
	case "NOTPAY", "USERPAYING":
		st.State = payment.TradeWaitBuyerPay
	case "SUCCESS":
		st.State = payment.TradeSuccess
	case "REFUND":
		st.State = payment.TradeRefunded
	case "CLOSED", "REVOKED", "PAYERROR":
		st.State = payment.TradeClosed
	default:
		return payment.TradeStatus{}, fmt.Errorf("wechat: %w: trade_state %q", payment.ErrMalformed, deref(tx.TradeState))
	}
	if s := deref(tx.SuccessTime); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return payment.TradeStatus{}, fmt.Errorf("wechat: %w: success_time %q", payment.ErrMalformed, s)
		}
		st.PaidAt = t
	}
	return st, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// CloseTrade: close by out_trade_no (204). ORDERPAID is ErrTradeState;
// an already closed order is not an error.
func (p *Provider) CloseTrade(ctx context.Context, outTradeNo string) error {
	k := p.cur.Load()
	_, err := (&native.NativeApiService{Client: k.client}).CloseOrder(ctx, native.CloseOrderRequest{OutTradeNo: ptr(outTradeNo), Mchid: ptr(k.mchID)})
	if err == nil || core.IsAPIError(err, "ORDER_CLOSED") {
		return nil
	}
	return p.apiErr("close", err)
}

// Refund: a domestic refund. WeChat accepts it (RefundProcessing, or
// RefundSuccess when done at once) and notifies the outcome to the
// request's NotifyURL. A repeat with the same out_refund_no returns the
// same refund.
func (p *Provider) Refund(ctx context.Context, req payment.RefundRequest) (payment.Refund, error) {
	k := p.cur.Load()
	if req.OutRequestNo == "" || req.AmountCents <= 0 || req.TotalCents <= 0 {
		return payment.Refund{}, fmt.Errorf("wechat: refund: %w: out_refund_no, a positive amount and the trade's total are required", payment.ErrRejected)
	}
	if req.AmountCents > req.TotalCents {
		return payment.Refund{}, fmt.Errorf("wechat: refund: %w: %d cents of %d", payment.ErrRefundExceeds, req.AmountCents, req.TotalCents)
	}
	cr := refunddomestic.CreateRequest{OutTradeNo: ptr(req.OutTradeNo), OutRefundNo: ptr(req.OutRequestNo),
		Amount: &refunddomestic.AmountReq{Refund: ptr(req.AmountCents), Total: ptr(req.TotalCents), Currency: ptr("CNY")}}
	if req.Reason != "" {
		cr.Reason = ptr(req.Reason)
	}
	if req.NotifyURL != "" {
		cr.NotifyUrl = ptr(req.NotifyURL)
	}
	r, _, err := (&refunddomestic.RefundsApiService{Client: k.client}).Create(ctx, cr)
	if err != nil {
		return payment.Refund{}, p.apiErr("refund", err)
	}
	return refundOf(r), nil
}

func refundOf(r *refunddomestic.Refund) payment.Refund {
	out := payment.Refund{OutTradeNo: deref(r.OutTradeNo), OutRequestNo: deref(r.OutRefundNo), TradeNo: deref(r.TransactionId)}
	if r.Amount != nil && r.Amount.Refund != nil {
		out.AmountCents = *r.Amount.Refund
	}
	out.State = payment.RefundProcessing
	if r.Status != nil {
		switch *r.Status {
		case refunddomestic.STATUS_SUCCESS:
			out.State = payment.RefundSuccess
		case refunddomestic.STATUS_CLOSED, refunddomestic.STATUS_ABNORMAL:
			out.State = payment.RefundFailed
		}
	}
	if r.SuccessTime != nil {
		out.RefundedAt = *r.SuccessTime
	}
	return out
}

// QueryRefund: query by out_refund_no (WeChat's refund numbers are unique
// per merchant). RESOURCE_NOT_EXISTS, or a refund of another trade, is
// RefundNotFound.
func (p *Provider) QueryRefund(ctx context.Context, outTradeNo, outRequestNo string) (payment.Refund, error) {
	k := p.cur.Load()
	notFound := payment.Refund{OutTradeNo: outTradeNo, OutRequestNo: outRequestNo, State: payment.RefundNotFound}
	r, _, err := (&refunddomestic.RefundsApiService{Client: k.client}).QueryByOutRefundNo(ctx,
		refunddomestic.QueryByOutRefundNoRequest{OutRefundNo: ptr(outRequestNo)})
	if core.IsAPIError(err, "RESOURCE_NOT_EXISTS") {
		return notFound, nil
	}
	if err != nil {
		return payment.Refund{}, p.apiErr("refund query", err)
	}
	out := refundOf(r)
	if outTradeNo != "" && out.OutTradeNo != outTradeNo {
		return notFound, nil
	}
	return out, nil
}

// Bill: apply for the trade bill (bill_type ALL) of the day in UTC+8,
// download it, check its SHA1, and read its lines: every value starts
// with '`'; SUCCESS lines are payments (应结订单金额), REFUND lines
// refunds (退款金额, 商户退款单号); the summary after the lines is
// skipped.
func (p *Provider) Bill(ctx context.Context, day time.Time) ([]payment.BillLine, error) {
	k := p.cur.Load()
	q := url.Values{"bill_date": {day.In(payment.CST).Format(time.DateOnly)}, "bill_type": {"ALL"}}
	res, err := k.client.Get(ctx, ProductionURL+"/v3/bill/tradebill?"+q.Encode())
	if err != nil {
		if core.IsAPIError(err, "NO_STATEMENT_EXIST") {
			return nil, fmt.Errorf("wechat: bill: %w", payment.ErrNoBill)
		}
		return nil, p.apiErr("bill", err)
	}
	defer res.Response.Body.Close()
	var ref struct {
		HashType    string `json:"hash_type"`
		HashValue   string `json:"hash_value"`
		DownloadURL string `json:"download_url"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Response.Body, 1<<20)).Decode(&ref); err != nil || ref.DownloadURL == "" {
		return nil, fmt.Errorf("wechat: bill: %w: answer: %v", payment.ErrMalformed, err)
	}
	file, err := k.download.Get(ctx, ref.DownloadURL)
	if err != nil {
		return nil, p.apiErr("bill download", err)
	}
	defer file.Response.Body.Close()
	b, err := io.ReadAll(io.LimitReader(file.Response.Body, MaxBillBytes+1))
	if err != nil {
		return nil, fmt.Errorf("wechat: bill download: %w: %w", payment.ErrUnavailable, err)
	}
	if len(b) > MaxBillBytes {
		return nil, fmt.Errorf("wechat: bill: %w: larger than %d bytes", payment.ErrMalformed, MaxBillBytes)
	}
	if sum := sha1.Sum(b); ref.HashType != "SHA1" || !strings.EqualFold(hex.EncodeToString(sum[:]), ref.HashValue) {
		return nil, fmt.Errorf("wechat: bill: %w: the file's %s digest is not %s", payment.ErrMalformed, ref.HashType, ref.HashValue)
	}
	return parseBill(b)
}

func parseBill(b []byte) ([]payment.BillLine, error) {
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	rows, err := cr.ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("wechat: bill: %w: CSV: %v", payment.ErrMalformed, err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[strings.TrimSpace(h)] = i
	}
	for _, h := range []string{"交易时间", "微信订单号", "商户订单号", "交易状态", "应结订单金额", "商户退款单号", "退款金额"} {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("wechat: bill: %w: no column %s", payment.ErrMalformed, h)
		}
	}
	get := func(row []string, h string) string {
		if i := col[h]; i < len(row) {
			return strings.TrimPrefix(strings.TrimSpace(row[i]), "`")
		}
		return ""
	}
	var lines []payment.BillLine
	for _, row := range rows[1:] {
		if len(row) > 0 && strings.HasPrefix(row[0], "总交易单数") {
			break
		}
		l := payment.BillLine{TradeNo: get(row, "微信订单号"), OutTradeNo: get(row, "商户订单号")}
		amountCol := "应结订单金额"
		switch get(row, "交易状态") {
		case "SUCCESS":
			l.Kind = payment.BillPay
		case "REFUND":
			l.Kind, l.OutRequestNo, amountCol = payment.BillRefund, get(row, "商户退款单号"), "退款金额"
		default:
			continue
		}
		var err error
		if l.AmountCents, err = payment.ParseYuan(get(row, amountCol)); err != nil {
			return nil, fmt.Errorf("wechat: bill: %w: %w", payment.ErrMalformed, err)
		}
		if l.At, err = time.ParseInLocation(time.DateTime, get(row, "交易时间"), payment.CST); err != nil {
			return nil, fmt.Errorf("wechat: bill: %w: 交易时间 %q", payment.ErrMalformed, get(row, "交易时间"))
		}
		lines = append(lines, l)
	}
	return lines, nil
}

// refundResource is the decrypted resource of a REFUND.* notification
// (a TRANSACTION.* one is a payments.Transaction).
type refundResource struct {
	Mchid        string `json:"mchid"`
	OutTradeNo   string `json:"out_trade_no"`
	TransID      string `json:"transaction_id"`
	OutRefundNo  string `json:"out_refund_no"`
	RefundStatus string `json:"refund_status"`
	SuccessTime  string `json:"success_time"`
	Amount       struct {
		Total  int64 `json:"total"`
		Refund int64 `json:"refund"`
	} `json:"amount"`
}

// ParseNotification verifies the Wechatpay-Signature over
// "timestamp\nnonce\nbody\n" (with a timestamp within 5 minutes),
// decrypts the resource, and checks mchid (and appid for payments).
// TRANSACTION.SUCCESS is a payment; REFUND.SUCCESS, REFUND.ABNORMAL and
// REFUND.CLOSED are refunds.
func (p *Provider) ParseNotification(ctx context.Context, header http.Header, body []byte) (payment.Notification, error) {
	k := p.cur.Load()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/", bytes.NewReader(body))
	if err != nil {
		return payment.Notification{}, fmt.Errorf("wechat: notification: %w: %v", payment.ErrMalformed, err)
	}
	req.Header = header.Clone()
	if t := header.Get("Wechatpay-Signature-Type"); t != "" && t != "WECHATPAY2-SHA256-RSA2048" {
		return payment.Notification{}, fmt.Errorf("wechat: notification: %w: signature type %q", payment.ErrBadSignature, t)
	}
	if err := validators.NewWechatPayNotifyValidator(k.verifier).Validate(ctx, req); err != nil {
		return payment.Notification{}, fmt.Errorf("wechat: notification: %w: %v", payment.ErrBadSignature, err)
	}
	var content map[string]any
	nr, err := k.notify.ParseNotifyRequest(ctx, req, &content)
	if err != nil {
		return payment.Notification{}, fmt.Errorf("wechat: notification: %w: %v", payment.ErrMalformed, err)
	}
	plain := []byte(nr.Resource.Plaintext)
	out := payment.Notification{ID: nr.ID}
	switch {
	case nr.EventType == "TRANSACTION.SUCCESS":
		var tx payments.Transaction
		if err := json.Unmarshal(plain, &tx); err != nil {
			return payment.Notification{}, fmt.Errorf("wechat: notification: %w: %v", payment.ErrMalformed, err)
		}
		out.MchID, out.AppID = deref(tx.Mchid), deref(tx.Appid)
		if out.MchID != k.mchID || out.AppID != k.appID {
			return payment.Notification{}, fmt.Errorf("wechat: notification: %w: mchid %q appid %q", payment.ErrWrongApp, out.MchID, out.AppID)
		}
		st, err := transactionStatus(&tx)
		if err != nil {
			return payment.Notification{}, err
		}
		out.Kind, out.OutTradeNo, out.TradeNo, out.AmountCents, out.TradeState, out.At =
			payment.NotifyPayment, st.OutTradeNo, st.TradeNo, st.AmountCents, st.State, st.PaidAt
	case strings.HasPrefix(nr.EventType, "REFUND."):
		var rr refundResource
		if err := json.Unmarshal(plain, &rr); err != nil {
			return payment.Notification{}, fmt.Errorf("wechat: notification: %w: %v", payment.ErrMalformed, err)
		}
		out.MchID = rr.Mchid
		if out.MchID != k.mchID {
			return payment.Notification{}, fmt.Errorf("wechat: notification: %w: mchid %q", payment.ErrWrongApp, out.MchID)
		}
		out.Kind, out.OutTradeNo, out.TradeNo, out.OutRequestNo, out.AmountCents =
			payment.NotifyRefund, rr.OutTradeNo, rr.TransID, rr.OutRefundNo, rr.Amount.Refund
		switch rr.RefundStatus {
		case "SUCCESS":
			out.RefundState = payment.RefundSuccess
		case "CLOSED", "ABNORMAL":
			out.RefundState = payment.RefundFailed
		default:
			out.RefundState = payment.RefundProcessing
		}
		if rr.SuccessTime != "" {
			out.At, _ = time.Parse(time.RFC3339, rr.SuccessTime)
		}
	default:
		return payment.Notification{}, fmt.Errorf("wechat: notification: %w: event_type %q", payment.ErrMalformed, nr.EventType)
	}
	return out, nil
}

// Answer: 204 with no body once applied ("接收成功: HTTP应答状态码需返回200
// 或204, 无需返回应答报文"); else 500 with {"code":"FAIL","message":"失败"},
// and WeChat resends (15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h).
func (p *Provider) Answer(ok bool) payment.Answer {
	if ok {
		return payment.Answer{Status: http.StatusNoContent}
	}
	return payment.Answer{Status: http.StatusInternalServerError, ContentType: "application/json",
		Body: []byte(`{"code":"FAIL","message":"失败"}`)}
}

// apiErr maps the SDK's errors: an *core.APIError by code and status;
// transport failures are ErrUnavailable; anything else came from checking
// the answer (its signature, or its JSON).
func (p *Provider) apiErr(op string, err error) error {
	var ae *core.APIError
	var ne net.Error
	var ue *url.Error
	switch {
	case errors.As(err, &ae):
		var sentinel error
		switch {
		case ae.StatusCode >= 500 || ae.Code == "SYSTEM_ERROR" || ae.Code == "FREQUENCY_LIMITED" || ae.Code == "BANKERROR":
			sentinel = payment.ErrUnavailable
		case ae.Code == "ORDER_NOT_EXIST" || ae.Code == "RESOURCE_NOT_EXISTS":
			sentinel = payment.ErrUnknownTrade
		case ae.Code == "ORDERPAID" || ae.Code == "ORDER_CLOSED" || ae.Code == "TRADE_ERROR":
			sentinel = payment.ErrTradeState
		case ae.Code == "INVALID_REQUEST" && strings.Contains(ae.Message, "可退金额"):
			sentinel = payment.ErrRefundExceeds
		case ae.Code == "INVALID_REQUEST" && op == "refund":
			sentinel = payment.ErrTradeState
		default:
			sentinel = payment.ErrRejected
		}
		err = fmt.Errorf("wechat: %s: %w: HTTP %d %s %s", op, sentinel, ae.StatusCode, ae.Code, ae.Message)
		p.log.Info("wechat_call_refused", "op", op, "status", ae.StatusCode, "code", ae.Code)
		return err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne), errors.As(err, &ue):
		err = fmt.Errorf("wechat: %s: %w: %w", op, payment.ErrUnavailable, err)
	case strings.Contains(err.Error(), "validate verify fail"), strings.Contains(err.Error(), "in header"), strings.Contains(err.Error(), "expires"):
		// The SDK's validator errors are plain fmt errors.
		err = fmt.Errorf("wechat: %s: %w: answer: %v", op, payment.ErrBadSignature, err)
	default:
		err = fmt.Errorf("wechat: %s: %w: answer: %v", op, payment.ErrMalformed, err)
	}
	p.log.Warn("wechat_call_failed", "op", op, "err", err)
	return err
}
