// Package paysim is a payment provider simulator: the server side of the
// Alipay OpenAPI calls and the WeChat Pay API v3 calls that
// orderflow/payment makes, on one HTTP server, for development, tests and
// the load harness. It is not a provider: it keeps everything in memory
// (bounded), and its buyers are people pressing a button on its page or
// programs calling its control endpoints (docs/paysim.md).
//
// What it does as the providers do: it verifies each request's signature
// (Alipay RSA2 with the app's public key; WeChat's Authorization header
// with the merchant's certificate key), signs every answer and
// notification with its own keys, honours time_expire, keeps refunds
// idempotent by request number and never above what was paid, cuts a
// daily bill, and sends asynchronous notifications again until they are
// answered as the provider expects, on the provider's schedule (scaled by
// Config.ResendScale). Faults (Config.Faults) drop, duplicate, delay,
// reorder, forge and tamper with notifications.
//
// Concurrency: a Server is safe for concurrent use; one mutex guards its
// trades, and notifications go out from a bounded queue served by
// Config.NotifyWorkers goroutines. Close stops them.
package paysim

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Channels.
const (
	Alipay = "alipay"
	Wechat = "wechat"
)

// Defaults and bounds.
const (
	// DefaultMaxTrades bounds the trades kept (both channels): a flash
	// sale's load run makes tens of thousands. A trade past the bound is
	// refused as a system error (Alipay 20000, WeChat 500 SYSTEM_ERROR).
	DefaultMaxTrades = 200_000
	// MaxRefundsPerTrade is WeChat's limit of 50 refunds per order
	// ("每个支付订单的部分退款次数不能超过50次", 申请退款 API); paysim
	// applies it to Alipay too.
	MaxRefundsPerTrade = 50
	// DefaultMaxPendingNotifications bounds the notifications waiting to
	// be (re)sent. When full, a new notification is dropped and counted
	// (Stats.NotificationsOverflowed): like a provider's, notifications
	// are best effort and queries tell the truth.
	DefaultMaxPendingNotifications = 100_000
	// DefaultNotifyWorkers is how many notifications are in flight at once.
	DefaultNotifyWorkers = 8
	// DefaultNotifyTimeout bounds one notification's HTTP exchange; no
	// answer in time counts as a failure, as at both providers.
	DefaultNotifyTimeout = 5 * time.Second
	// DefaultWechatRefundDelay is how long a WeChat refund stays
	// PROCESSING before it succeeds.
	DefaultWechatRefundDelay = 100 * time.Millisecond
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes = 1 << 20
	// MaxRecentDeliveries bounds the delivery log served by
	// GET /sim/notifications.
	MaxRecentDeliveries = 1000
)

// Resend schedules: the waits before each further attempt after the first
// one failed. Alipay: "4m,10m,10m,1h,2h,6h,15h" (异步通知说明, 8 attempts
// in 25 h); WeChat Pay v3: "15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/
// 3h/6h/6h" (支付通知, 24h4m in all).
var (
	AlipaySchedule = []time.Duration{4 * time.Minute, 10 * time.Minute, 10 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 15 * time.Hour}
	WechatSchedule = []time.Duration{15 * time.Second, 15 * time.Second, 30 * time.Second, 3 * time.Minute, 10 * time.Minute, 20 * time.Minute,
		30 * time.Minute, 30 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour, 3 * time.Hour, 3 * time.Hour, 6 * time.Hour, 6 * time.Hour}
)

// Faults change notifications on their way out. Probabilities are per
// attempt, in [0, 1]; each attempt draws again, so an attempt that a fault
// spoilt is (unless answered as a success anyway) sent again on schedule.
type Faults struct {
	// Drop: the attempt is not sent, as if lost; it is resent on schedule.
	Drop float64
	// Duplicate sends each attempt this many times (0 and 1: once).
	Duplicate int
	// Delay holds back each notification's first attempt.
	Delay time.Duration
	// Reorder adds a random wait in [0, Reorder) to every attempt, so
	// notifications made close together arrive in any order.
	Reorder time.Duration
	// Forge: the attempt is signed with a key that is not the provider's.
	Forge float64
	// Tamper: the attempt's amount is changed after it was signed (a man
	// in the middle); for WeChat the signed body is changed.
	Tamper float64
	// WrongApp: the attempt names another app (Alipay app_id) or merchant
	// (WeChat mchid and appid), correctly signed.
	WrongApp float64
	// WrongAmount: the attempt's amount is one cent more than the trade's,
	// correctly signed: only the merchant's own records can catch it.
	WrongAmount float64
}

// Validate reports every fault setting out of range.
func (f Faults) Validate() error {
	var errs []error
	for _, p := range []struct {
		name string
		v    float64
	}{{"drop", f.Drop}, {"forge", f.Forge}, {"tamper", f.Tamper}, {"wrong-app", f.WrongApp}, {"wrong-amount", f.WrongAmount}} {
		if p.v < 0 || p.v > 1 {
			errs = append(errs, fmt.Errorf("paysim: %s probability %v not in [0, 1]", p.name, p.v))
		}
	}
	if f.Duplicate < 0 || f.Duplicate > 100 {
		errs = append(errs, fmt.Errorf("paysim: duplicate %d not in [0, 100]", f.Duplicate))
	}
	if f.Delay < 0 || f.Reorder < 0 {
		errs = append(errs, errors.New("paysim: delay and reorder must not be negative"))
	}
	return errors.Join(errs...)
}

// Config configures a Server. Keys and BaseURL are required.
type Config struct {
	Keys *Keys
	// BaseURL is where merchants and browsers reach this server
	// (http://127.0.0.1:PORT): QR codes, pay pages and bill URLs point
	// there.
	BaseURL string
	// ResendScale multiplies the resend schedules (0: 1, the providers'
	// own; 0.001 turns Alipay's 4 minutes into 240 ms).
	ResendScale float64
	Faults      Faults
	// Seed seeds the fault dice (0: from the clock).
	Seed uint64
	// MaxTrades, MaxPendingNotifications, NotifyWorkers, NotifyTimeout and
	// WechatRefundDelay default to the constants above when zero.
	MaxTrades               int
	MaxPendingNotifications int
	NotifyWorkers           int
	NotifyTimeout           time.Duration
	WechatRefundDelay       time.Duration
	// Now is the clock of trades (time_expire, payment and refund times,
	// bill days); time.Now when nil. Signatures' timestamps always use
	// the real clock, since the merchant checks them against its own.
	Now    func() time.Time
	Logger *slog.Logger
}

func (c *Config) defaults() error {
	var errs []error
	if c.Keys == nil {
		errs = append(errs, errors.New("paysim: Keys are required"))
	}
	if c.BaseURL == "" {
		errs = append(errs, errors.New("paysim: BaseURL is required"))
	}
	if c.ResendScale < 0 {
		errs = append(errs, errors.New("paysim: ResendScale must not be negative"))
	}
	if err := c.Faults.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.ResendScale == 0 {
		c.ResendScale = 1
	}
	if c.MaxTrades <= 0 {
		c.MaxTrades = DefaultMaxTrades
	}
	if c.MaxPendingNotifications <= 0 {
		c.MaxPendingNotifications = DefaultMaxPendingNotifications
	}
	if c.NotifyWorkers <= 0 {
		c.NotifyWorkers = DefaultNotifyWorkers
	}
	if c.NotifyTimeout <= 0 {
		c.NotifyTimeout = DefaultNotifyTimeout
	}
	if c.WechatRefundDelay <= 0 {
		c.WechatRefundDelay = DefaultWechatRefundDelay
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return errors.Join(errs...)
}

// Server is the simulator. Serve its Handler.
type Server struct {
	cfg      Config
	keys     *Keys
	log      *slog.Logger
	mux      *http.ServeMux
	billKey  []byte // HMAC key of bill download tokens
	forger   *forger
	notifier *notifier

	mu sync.Mutex
	// trades by channel and out_trade_no; guarded by mu.
	trades map[tradeKey]*trade
	// wechatRefunds by out_refund_no (WeChat queries refunds by it
	// alone), at most MaxTrades*MaxRefundsPerTrade; guarded by mu.
	wechatRefunds map[string]*refund
	// seq numbers trades and refunds; guarded by mu.
	seq uint64
	// rng draws faults; guarded by mu.
	rng *rand.Rand
	// faults may change at run time (POST /sim/faults); guarded by mu.
	faults Faults
	// wechatNotifySerial is the serial WeChat notifications name: the one
	// the merchant last said it verifies (its requests' Wechatpay-Serial:
	// the platform public key's id, or the platform certificate's
	// serial); guarded by mu.
	wechatNotifySerial string
}

// New makes a Server and starts its notification workers.
func New(cfg Config) (*Server, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	f, err := newForger()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:           cfg,
		keys:          cfg.Keys,
		log:           cfg.Logger,
		forger:        f,
		trades:        make(map[tradeKey]*trade),
		wechatRefunds: make(map[string]*refund),
		rng:           rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		faults:        cfg.Faults,
	}
	mac := hmac.New(sha256.New, cfg.Keys.Alipay.D.Bytes())
	mac.Write([]byte("paysim bill tokens"))
	s.billKey = mac.Sum(nil)
	s.notifier = newNotifier(s)
	s.mux = http.NewServeMux()
	s.routes()
	return s, nil
}

// Handler serves every endpoint.
func (s *Server) Handler() http.Handler { return s.mux }

// Close stops the notification workers; notifications not yet sent are
// dropped.
func (s *Server) Close() { s.notifier.close() }

// SetFaults changes the faults of notifications from now on.
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
	return nil
}

func (s *Server) routes() {
	s.mux.HandleFunc("/gateway.do", s.alipayGateway)
	s.mux.HandleFunc("GET /alipay/bill/download", s.alipayBillDownload)
	s.mux.HandleFunc("POST /v3/pay/transactions/native", s.wechatAuth(s.wechatPrepay))
	s.mux.HandleFunc("GET /v3/pay/transactions/out-trade-no/{no}", s.wechatAuth(s.wechatQuery))
	s.mux.HandleFunc("POST /v3/pay/transactions/out-trade-no/{no}/close", s.wechatAuth(s.wechatClose))
	s.mux.HandleFunc("POST /v3/refund/domestic/refunds", s.wechatAuth(s.wechatRefund))
	s.mux.HandleFunc("GET /v3/refund/domestic/refunds/{no}", s.wechatAuth(s.wechatRefundQuery))
	s.mux.HandleFunc("GET /v3/bill/tradebill", s.wechatAuth(s.wechatTradeBill))
	s.mux.HandleFunc("GET /v3/billdownload/file", s.wechatAuthRaw(s.wechatBillDownload))
	s.mux.HandleFunc("GET /pay/{channel}/{no}", s.payPage)
	s.mux.HandleFunc("POST /pay/{channel}/{no}", s.payForm)
	s.mux.HandleFunc("GET /sim/trades", s.controlList)
	s.mux.HandleFunc("GET /sim/trades/{channel}/{no}", s.controlTrade)
	s.mux.HandleFunc("POST /sim/trades/{channel}/{no}/pay", s.controlPay)
	s.mux.HandleFunc("GET /sim/bill", s.controlBill)
	s.mux.HandleFunc("GET /sim/notifications", s.controlNotifications)
	s.mux.HandleFunc("GET /sim/stats", s.controlStats)
	s.mux.HandleFunc("POST /sim/faults", s.controlFaults)
	s.mux.HandleFunc("GET /sim/faults", s.controlFaults)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
}

func (s *Server) billToken(channel, date string) string {
	mac := hmac.New(sha256.New, s.billKey)
	mac.Write([]byte(channel + "|" + date))
	return hex.EncodeToString(mac.Sum(nil))[:32]
}

func (s *Server) goodBillToken(channel, date, token string) bool {
	return hmac.Equal([]byte(s.billToken(channel, date)), []byte(token))
}

// ctxTimeout gives notification exchanges their bound.
func (s *Server) ctxTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.cfg.NotifyTimeout)
}
