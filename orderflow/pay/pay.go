// Package pay is the pay service: each payment attempt of an order is a
// trade with a payment provider (package payment: Alipay, WeChat Pay),
// recorded in this service's own pebble store before the provider is
// called; the providers' notifications and active queries decide which
// trades were paid, each applied once; the outcomes (PaymentSucceeded,
// PaymentClosed, RefundSucceeded, RefundFailed) go to pay.events, where
// the order service (package orderflow) applies them. It also refunds,
// in full, the payments the order service lists as owed back
// (orderflow.Service.RefundsDue). docs/pay.md describes it for operators.
//
// Ownership: the service runs in the orderflow process beside the order
// service and owns the same partitions (instance i of N: p % N == i); a
// trade's partition is its order's (the buyer's gene). Each owned
// partition has a pebble store (DataDir/pay-NN).
//
// Crash safety: an outcome is recorded with the trade's new state in one
// synced batch, as a pending publish; a publisher per partition sends
// the pending outcomes to pay.events in the order recorded (RequireAll)
// and deletes them after. A crash between the two publishes again at the
// next start: consumers apply an outcome once by its id.
//
// Concurrency: Pay, PaymentStatus and Notify may be called from any
// goroutine. Calls about one order are serialized by a lock of the order
// (one of MaxOrderLocks, by order number), held across the provider
// calls, so two attempts of one order never interleave. Start launches,
// per owned partition, a publisher and a scheduler (active queries,
// closes at expiry, closes the provider refused, refunds due); Close
// stops them and closes the stores.
package pay

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"seatd/inventory"
	"seatd/orderflow"
	"seatd/orderflow/events"
	"seatd/orderflow/orders"
	"seatd/orderflow/payment"
)

// Orders is what the pay service needs of the order service beside it
// (*orderflow.Service).
type Orders interface {
	Order(no inventory.OrderNo) (orders.Order, error)
	RefundsDue(partition int, cursor string, limit int) (orders.DuePage, error)
	Describe() orderflow.Description
}

// Limits and defaults.
const (
	// MaxAttemptsLimit is the most attempts an order may ever have: the
	// attempt is two digits of the out_trade_no.
	MaxAttemptsLimit = 99
	// DefaultMaxAttempts bounds attempts per order: a buyer who switches
	// channel back and forth within a 10-15 minute hold needs a few; more
	// is a script.
	DefaultMaxAttempts = 10
	// DefaultMaxActive bounds the trades open or closing per partition
	// (the scheduler's work); past it Pay is ErrOverloaded. An on-sale of
	// a million buyers over 16 partitions holds about 60,000 unpaid
	// orders per partition at once.
	DefaultMaxActive = 100_000
	// DefaultQueryAfter is when an open trade is first queried: WeChat
	// advises querying a trade with no notification after a while;
	// notifications usually come within seconds.
	DefaultQueryAfter = 30 * time.Second
	// DefaultMaxQueryInterval caps the back-off between queries.
	DefaultMaxQueryInterval = 5 * time.Minute
	// DefaultScanInterval is how often the scheduler looks at the
	// partition's active trades and refunds due.
	DefaultScanInterval = time.Second
	// DefaultCallTimeout bounds one provider call of the scheduler.
	DefaultCallTimeout = 10 * time.Second
	// MaxOrderLocks is the number of order locks (striped by order
	// number): plenty for the calls under way at once, a fixed 64 KiB.
	MaxOrderLocks = 1024
	// scanBatch bounds the active trades and refunds due one scan step
	// takes.
	scanBatch = 256
	// publishBatch bounds the outcomes of one pay.events write.
	publishBatch = 500
)

// Config configures a Service.
type Config struct {
	// Brokers are Kafka's (pay.events is made by the order service's
	// start, which runs first).
	Brokers []string
	// DataDir holds one pebble store per owned partition (DataDir/pay-NN).
	DataDir string
	// Orders is the order service beside this one, whose partitions this
	// service owns.
	Orders Orders
	// Providers are the channels offered, by payment.Provider.Channel
	// ("alipay", "wechat"); at least one.
	Providers []payment.Provider
	// NotifyURLs are the gateway's notify routes, by channel
	// (https://HOST/v1/payments/alipay/notify): where each provider sends
	// notifications. Required for each provider.
	NotifyURLs map[string]string
	// ReturnURL is where the buyer's browser goes after paying on a
	// provider's page (page mode); optional.
	ReturnURL string
	// MaxAttempts bounds attempts per order (default DefaultMaxAttempts,
	// at most MaxAttemptsLimit).
	MaxAttempts int
	// MaxActive bounds open and closing trades per partition (default
	// DefaultMaxActive).
	MaxActive int
	// QueryAfter, MaxQueryInterval, ScanInterval and CallTimeout shape
	// the scheduler (defaults above; tests compress them).
	QueryAfter       time.Duration
	MaxQueryInterval time.Duration
	ScanInterval     time.Duration
	CallTimeout      time.Duration
	// Now is the clock of expiries and queries; time.Now when nil.
	Now        func() time.Time
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

func (c Config) withDefaults() Config {
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxActive == 0 {
		c.MaxActive = DefaultMaxActive
	}
	if c.QueryAfter == 0 {
		c.QueryAfter = DefaultQueryAfter
	}
	if c.MaxQueryInterval == 0 {
		c.MaxQueryInterval = DefaultMaxQueryInterval
	}
	if c.ScanInterval == 0 {
		c.ScanInterval = DefaultScanInterval
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every setting out of range at once.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("pay: no brokers"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("pay: no data directory"))
	}
	if c.Orders == nil {
		errs = append(errs, errors.New("pay: no order service"))
	}
	if len(c.Providers) == 0 {
		errs = append(errs, errors.New("pay: no payment provider"))
	}
	seen := map[string]bool{}
	for _, p := range c.Providers {
		ch := p.Channel()
		if seen[ch] {
			errs = append(errs, fmt.Errorf("pay: two providers of channel %s", ch))
		}
		seen[ch] = true
		if c.NotifyURLs[ch] == "" {
			errs = append(errs, fmt.Errorf("pay: no notify URL for channel %s", ch))
		}
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > MaxAttemptsLimit {
		errs = append(errs, fmt.Errorf("pay: max attempts %d: want 1-%d", c.MaxAttempts, MaxAttemptsLimit))
	}
	if c.MaxActive < 1 {
		errs = append(errs, fmt.Errorf("pay: max active %d: want at least 1", c.MaxActive))
	}
	if c.QueryAfter <= 0 || c.MaxQueryInterval < c.QueryAfter || c.ScanInterval <= 0 || c.CallTimeout <= 0 {
		errs = append(errs, fmt.Errorf("pay: query after %v, max query interval %v, scan %v, call timeout %v: want positive, max >= first",
			c.QueryAfter, c.MaxQueryInterval, c.ScanInterval, c.CallTimeout))
	}
	return errors.Join(errs...)
}

// Errors of Pay, PaymentStatus and Notify. Provider errors are mapped to
// these; the provider's own words are wrapped inside.
var (
	// ErrNotFound: no such order here, or another buyer's.
	ErrNotFound = errors.New("pay: no such order")
	// ErrNotPayable: the order is not PENDING_PAYMENT, its hold has
	// lapsed, or one of its trades was paid.
	ErrNotPayable = errors.New("pay: order not payable")
	// ErrUnknownChannel: no provider of that name is configured.
	ErrUnknownChannel = errors.New("pay: unknown channel")
	// ErrUnsupportedMode: the mode is not qr or page, or the channel does
	// not offer it (WeChat Native: qr only).
	ErrUnsupportedMode = errors.New("pay: mode not offered by the channel")
	// ErrTooManyAttempts: the order has had Config.MaxAttempts attempts.
	ErrTooManyAttempts = errors.New("pay: too many payment attempts for the order")
	// ErrProviderUnavailable: the provider could not be reached, failed,
	// or refused the request; the attempt is recorded and its state will
	// be found by query.
	ErrProviderUnavailable = errors.New("pay: payment provider unavailable")
	// ErrNoPayment: the order has no trade yet (PaymentStatus).
	ErrNoPayment = errors.New("pay: no payment attempt for the order")
	// ErrOverloaded: the partition has Config.MaxActive trades open.
	ErrOverloaded = errors.New("pay: too many open trades")
	// ErrNotReady: the service is not started, or closed.
	ErrNotReady = errors.New("pay: not ready")
)

// Payment is a trade as the API shows it: what Pay made, or what
// PaymentStatus found. Status is the provider's state of the trade
// (payment.TradeState: WAIT_BUYER_PAY, SUCCESS, CLOSED, REFUNDED).
type Payment struct {
	OrderNo     string
	OutTradeNo  string
	TradeNo     string
	Channel     string
	Mode        payment.Mode
	AmountCents int64
	QRCode      string
	PayURL      string
	Status      payment.TradeState
	TimeExpire  time.Time
	PaidAt      time.Time
}

func paymentOf(t *Trade, st payment.TradeState) Payment {
	return Payment{OrderNo: t.OrderNo, OutTradeNo: t.OutTradeNo, TradeNo: t.TradeNo, Channel: t.Channel, Mode: t.Mode,
		AmountCents: t.AmountCents, QRCode: t.QRCode, PayURL: t.PayURL, Status: st, TimeExpire: t.TimeExpire, PaidAt: t.PaidAt}
}

// Service is the pay service of one orderflow instance.
type Service struct {
	cfg        Config
	providers  map[string]payment.Provider
	partitions int
	instance   int
	instances  int
	parts      map[int]*partitionPay // owned, fixed by New
	metrics    *metrics
	seed       maphash.Seed
	locks      [MaxOrderLocks]sync.Mutex // by order number: see lock

	mu      sync.Mutex // guards started, closed, cancel
	started bool
	closed  bool
	cancel  context.CancelFunc

	writer *kafka.Writer
	wg     sync.WaitGroup
}

// partitionPay is an owned partition's store and wake-ups.
type partitionPay struct {
	id    int
	store *store
	wake  chan struct{} // cap 1: outcomes were recorded
}

// New validates cfg and returns a Service that has not started. The order
// service must be New'd (it says which partitions are owned).
func New(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	d := cfg.Orders.Describe()
	s := &Service{cfg: cfg, providers: map[string]payment.Provider{}, partitions: d.Partitions, instance: d.Instance, instances: d.Instances,
		parts: map[int]*partitionPay{}, metrics: newMetrics(), seed: maphash.MakeSeed()}
	for _, p := range cfg.Providers {
		s.providers[p.Channel()] = p
	}
	for _, p := range d.Owned {
		s.parts[p] = &partitionPay{id: p, wake: make(chan struct{}, 1)}
	}
	s.metrics.svc = s
	if cfg.Registerer != nil {
		if err := s.metrics.register(cfg.Registerer); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Start opens the stores and starts the publishers and schedulers.
// Outcomes a crash left unpublished are published first thing.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return errors.New("pay: started twice, or after Close")
	}
	// A pay store of a partition another instance owns was left behind
	// by a change of instances: it holds trades no rebuild gives back.
	if err := orderflow.CheckStores(s.cfg.DataDir, "pay-", s.instance, s.instances, s.partitions); err != nil {
		return err
	}
	if err := os.MkdirAll(s.cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("pay: data directory: %w", err)
	}
	for p, part := range s.parts {
		st, err := openStore(filepath.Join(s.cfg.DataDir, fmt.Sprintf("pay-%02d", p)), p, s.cfg.Log)
		if err != nil {
			for _, q := range s.parts {
				if q.store != nil {
					q.store.close()
					q.store = nil
				}
			}
			return err
		}
		part.store = st
	}
	s.writer = &kafka.Writer{
		Addr: kafka.TCP(s.cfg.Brokers...), Topic: events.TopicPay, Balancer: events.GeneBalancer{},
		// An outcome leaves the store only once every in-sync replica has
		// it: kafka-go's default, RequireNone, would lose money's news.
		RequiredAcks: kafka.RequireAll,
		BatchSize:    publishBatch, BatchBytes: 4 << 20, BatchTimeout: 2 * time.Millisecond,
		MaxAttempts: 5, WriteBackoffMin: 50 * time.Millisecond, WriteBackoffMax: time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
	}
	run, cancel := context.WithCancel(context.Background())
	s.cancel, s.started = cancel, true
	for _, part := range s.parts {
		s.wg.Add(2)
		go func() {
			defer s.wg.Done()
			s.publish(run, part)
		}()
		go func() {
			defer s.wg.Done()
			s.schedule(run, part)
		}()
	}
	s.cfg.Log.InfoContext(ctx, "pay_started", "partitions", len(s.parts))
	return nil
}

// Checkpoint writes a consistent copy of every owned partition's pay
// store into dir/pay-NN (dir is created; the partition directories must
// not exist) while payments go on, and returns the directories' names in
// partition order. Trades, refunds and unpublished outcomes are in no
// changelog: a pay store is moved or restored, never rebuilt. Take it
// after the order stores' checkpoint (orderflow.Service.Checkpoint): the
// pay store is then at least as new as the orders, and what it published
// since their copy is read again from pay.events and applied once. It
// fails when the service is not started or closed; Close waits for it.
func (s *Service) Checkpoint(dir string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.closed {
		return nil, errors.New("pay: checkpoint: the service is not running")
	}
	var out []string
	for _, p := range slices.Sorted(maps.Keys(s.parts)) {
		name := fmt.Sprintf("pay-%02d", p)
		if err := s.parts[p].store.checkpoint(filepath.Join(dir, name)); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, nil
}

// Close stops the publishers and schedulers (calls under way finish
// first) and closes the stores. Outcomes not yet published stay for the
// next start.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	s.cancel()
	s.wg.Wait()
	// Calls under way hold their order's lock: take every lock once so
	// that none is writing when the stores close.
	for i := range s.locks {
		s.locks[i].Lock()
	}
	defer func() {
		for i := range s.locks {
			s.locks[i].Unlock()
		}
	}()
	errs := []error{s.writer.Close()}
	for _, part := range s.parts {
		errs = append(errs, part.store.close()) // part.store stays: metrics read its counts
	}
	return errors.Join(errs...)
}

// lock takes an order's lock and returns its unlock; it fails once the
// service is closed.
func (s *Service) lock(no inventory.OrderNo) (func(), error) {
	var h maphash.Hash
	h.SetSeed(s.seed)
	var b [8]byte
	for i := range b {
		b[i] = byte(uint64(no) >> (8 * i))
	}
	h.Write(b[:])
	m := &s.locks[h.Sum64()%MaxOrderLocks]
	m.Lock()
	s.mu.Lock()
	ok := s.started && !s.closed
	s.mu.Unlock()
	if !ok {
		m.Unlock()
		return nil, ErrNotReady
	}
	return m.Unlock, nil
}

// owned returns the owned partition of an order, or a
// *orderflow.NotOwnerError.
func (s *Service) owned(no inventory.OrderNo) (*partitionPay, error) {
	p := events.PartitionOfOrder(no, s.partitions)
	part, ok := s.parts[p]
	if !ok {
		return nil, &orderflow.NotOwnerError{Partition: p, Owner: orderflow.Owner(p, s.instances)}
	}
	return part, nil
}

// order reads a buyer's order from the order service.
func (s *Service) order(no inventory.OrderNo, user uint64) (orders.Order, error) {
	o, err := s.cfg.Orders.Order(no)
	if errors.Is(err, orders.ErrNotFound) {
		return o, ErrNotFound
	}
	if err != nil {
		return o, err
	}
	if o.UserID != strconv.FormatUint(user, 10) {
		return o, ErrNotFound
	}
	return o, nil
}

// Pay makes a new payment attempt of a buyer's order: the order must be
// PENDING_PAYMENT, its hold not lapsed, and none of its trades paid. The
// trade is recorded OPEN before the provider is asked to create it; its
// amount is the order's total_cents and its time_expire the hold's
// expires_at. Earlier trades still open are closed with their providers
// first (PaymentClosed, reason superseded); one the provider cannot close
// now stays CLOSING for the scheduler and does not block this attempt.
//
// Errors: ErrNotFound, ErrNotPayable, ErrUnknownChannel,
// ErrUnsupportedMode, ErrTooManyAttempts, ErrOverloaded,
// ErrProviderUnavailable (the attempt stays recorded, found by query or
// closed at expiry), a *orderflow.NotOwnerError, orderflow.ErrNotReady.
func (s *Service) Pay(ctx context.Context, no inventory.OrderNo, user uint64, channel string, mode payment.Mode) (Payment, error) {
	prov, ok := s.providers[channel]
	if !ok {
		return Payment{}, fmt.Errorf("%w: %q", ErrUnknownChannel, channel)
	}
	if !slices.Contains(prov.Modes(), mode) {
		// Refused before anything changes: the earlier trade stays open,
		// and no attempt is spent.
		return Payment{}, fmt.Errorf("%w: %s offers %v, not %q", ErrUnsupportedMode, channel, prov.Modes(), mode)
	}
	part, err := s.owned(no)
	if err != nil {
		return Payment{}, err
	}
	o, err := s.order(no, user)
	if err != nil {
		return Payment{}, err
	}
	now := s.cfg.Now()
	if o.Status != orders.StatusPendingPayment {
		return Payment{}, fmt.Errorf("%w: it is %s", ErrNotPayable, o.Status)
	}
	if !now.Before(o.ExpiresAt) {
		return Payment{}, fmt.Errorf("%w: its hold lapsed at %s", ErrNotPayable, o.ExpiresAt.UTC().Format(time.RFC3339))
	}
	unlock, err := s.lock(no)
	if err != nil {
		return Payment{}, err
	}
	defer unlock()
	trades, err := part.store.trades(no)
	if err != nil {
		return Payment{}, err
	}
	if len(trades) >= s.cfg.MaxAttempts {
		return Payment{}, fmt.Errorf("%w: %d", ErrTooManyAttempts, len(trades))
	}
	for i := range trades {
		if trades[i].State == StatePaid {
			return Payment{}, fmt.Errorf("%w: trade %s was paid", ErrNotPayable, trades[i].OutTradeNo)
		}
	}
	if part.store.active.Load() >= int64(s.cfg.MaxActive) {
		s.metrics.pays.WithLabelValues(channel, "overloaded").Inc()
		return Payment{}, ErrOverloaded
	}
	for i := range trades {
		t := &trades[i]
		if t.State != StateOpen && t.State != StateClosing {
			continue
		}
		if paid, err := s.closeLocked(ctx, part, t, "superseded"); err != nil {
			s.cfg.Log.WarnContext(ctx, "pay_close_deferred", "out_trade_no", t.OutTradeNo, "err", err)
		} else if paid {
			return Payment{}, fmt.Errorf("%w: trade %s was paid", ErrNotPayable, t.OutTradeNo)
		}
	}
	attempt := 1
	if len(trades) > 0 {
		attempt = trades[len(trades)-1].Attempt + 1
	}
	t := Trade{OutTradeNo: OutTradeNo(no, attempt), OrderNo: o.OrderNo, UserID: o.UserID, HoldID: o.HoldID, Attempt: attempt,
		Channel: channel, Mode: mode, AmountCents: o.TotalCents, TimeExpire: o.ExpiresAt.UTC(), State: StateOpen,
		CreatedAt: now.UTC(), NextQuery: now.Add(s.cfg.QueryAfter).UTC()}
	if err := part.store.write(&t, false); err != nil {
		return Payment{}, err
	}
	created, err := prov.CreateTrade(ctx, payment.TradeRequest{OutTradeNo: t.OutTradeNo, AmountCents: t.AmountCents,
		Subject: "seatd order " + o.OrderNo + " (" + o.ProgramID + ")", TimeExpire: t.TimeExpire, Mode: mode,
		NotifyURL: s.cfg.NotifyURLs[channel], ReturnURL: s.cfg.ReturnURL})
	if err != nil {
		outcome, mapped := "unavailable", fmt.Errorf("%w: %w", ErrProviderUnavailable, err)
		if errors.Is(err, payment.ErrUnsupported) || errors.Is(err, payment.ErrRejected) {
			// Surely not made: closed in the records without an event
			// (no trade for the order service to know of).
			outcome = "rejected"
			if errors.Is(err, payment.ErrUnsupported) {
				mapped = fmt.Errorf("%w: %w", ErrUnsupportedMode, err)
			}
			t.State, t.CloseReason, t.ClosedAt = StateClosed, "rejected", now.UTC()
			if werr := part.store.write(&t, true); werr != nil {
				return Payment{}, werr
			}
		}
		s.metrics.pays.WithLabelValues(channel, outcome).Inc()
		s.cfg.Log.WarnContext(ctx, "pay_create_failed", "out_trade_no", t.OutTradeNo, "channel", channel, "err", err)
		return Payment{}, mapped
	}
	t.Created, t.QRCode, t.PayURL, t.TradeNo = true, created.QRCode, created.PayURL, created.TradeNo
	if err := part.store.write(&t, true); err != nil {
		return Payment{}, err
	}
	s.metrics.pays.WithLabelValues(channel, "created").Inc()
	return paymentOf(&t, payment.TradeWaitBuyerPay), nil
}

// closeLocked closes an open or closing trade with its provider for
// reason, and records it CLOSED with a PaymentClosed to publish. A trade
// the provider says was paid is applied as paid instead (paid=true). An
// error leaves it CLOSING (reason kept) for the scheduler to retry. The
// order's lock is held.
func (s *Service) closeLocked(ctx context.Context, part *partitionPay, t *Trade, reason string) (paid bool, err error) {
	prov, ok := s.providers[t.Channel]
	if !ok {
		return false, fmt.Errorf("%w: %q (trade %s)", ErrUnknownChannel, t.Channel, t.OutTradeNo)
	}
	if t.State == StateOpen {
		t.State, t.CloseReason = StateClosing, reason
		if err := part.store.write(t, true); err != nil {
			return false, err
		}
	}
	err = prov.CloseTrade(ctx, t.OutTradeNo)
	switch {
	case err == nil, errors.Is(err, payment.ErrUnknownTrade):
		// Unknown: never made (a create that failed, a page URL never
		// opened), so nothing can pay it.
	case errors.Is(err, payment.ErrTradeState):
		st, qerr := prov.QueryTrade(ctx, t.OutTradeNo)
		if qerr != nil {
			return false, qerr
		}
		if st.State == payment.TradeSuccess || st.State == payment.TradeRefunded {
			_, aerr := s.paidLocked(part, t, st.TradeNo, st.AmountCents, st.PaidAt, "query")
			return aerr == nil, aerr
		}
		if st.State != payment.TradeClosed {
			return false, fmt.Errorf("pay: close of %s refused while it is %s: %w", t.OutTradeNo, st.State, err)
		}
	default:
		return false, err
	}
	now := s.cfg.Now().UTC()
	t.State, t.ClosedAt = StateClosed, now
	ev := s.event(t, events.PaymentClosed, now)
	ev.Reason = t.CloseReason
	if err := part.store.write(t, true, ev); err != nil {
		return false, err
	}
	s.metrics.closed.WithLabelValues(t.CloseReason).Inc()
	s.wake(part)
	return false, nil
}

// ErrAmountMismatch is a paid amount other than the trade's.
var ErrAmountMismatch = errors.New("pay: paid amount differs from the trade's")

// paidLocked applies a provider's SUCCESS of a trade once: the trade
// becomes PAID and a PaymentSucceeded is recorded for publishing, in one
// synced batch. applied=false for a trade already paid. An amount other
// than the trade's is ErrAmountMismatch, and nothing is applied. The
// order's lock is held.
func (s *Service) paidLocked(part *partitionPay, t *Trade, tradeNo string, amount int64, at time.Time, via string) (applied bool, err error) {
	if amount != t.AmountCents {
		return false, fmt.Errorf("%w: %d cents, the trade is %d", ErrAmountMismatch, amount, t.AmountCents)
	}
	if t.State == StatePaid {
		return false, nil
	}
	if at.IsZero() {
		at = s.cfg.Now()
	}
	was := t.State == StateOpen || t.State == StateClosing
	t.State, t.PaidAt = StatePaid, at.UTC()
	if tradeNo != "" {
		t.TradeNo = tradeNo
	}
	ev := s.event(t, events.PaymentSucceeded, t.PaidAt)
	ev.AmountCents = amount
	if err := part.store.write(t, was, ev); err != nil {
		return false, err
	}
	s.metrics.paid.WithLabelValues(t.Channel, via).Inc()
	s.wake(part)
	return true, nil
}

// event is an outcome of a trade.
func (s *Service) event(t *Trade, typ events.Type, at time.Time) events.PayEvent {
	return events.PayEvent{Version: events.Version, ID: events.PayEventID(t.OutTradeNo, typ), Type: typ, At: at.UTC(),
		OrderNo: t.OrderNo, UserID: t.UserID, HoldID: t.HoldID, Channel: t.Channel, OutTradeNo: t.OutTradeNo, TradeNo: t.TradeNo}
}

func (s *Service) wake(part *partitionPay) {
	select {
	case part.wake <- struct{}{}:
	default:
	}
}

// PaymentStatus asks the provider about the order's latest trade and
// returns it. A SUCCESS found applies the payment (once); a trade the
// provider closed is recorded closed (PaymentClosed, reason expired).
// Errors: ErrNotFound, ErrNoPayment, ErrProviderUnavailable (with the
// latest trade as recorded), a *orderflow.NotOwnerError,
// orderflow.ErrNotReady.
func (s *Service) PaymentStatus(ctx context.Context, no inventory.OrderNo, user uint64) (Payment, error) {
	part, err := s.owned(no)
	if err != nil {
		return Payment{}, err
	}
	if _, err := s.order(no, user); err != nil {
		return Payment{}, err
	}
	unlock, err := s.lock(no)
	if err != nil {
		return Payment{}, err
	}
	defer unlock()
	trades, err := part.store.trades(no)
	if err != nil {
		return Payment{}, err
	}
	// The latest attempt the provider took: one it refused (an
	// unsupported mode) was never a payment.
	for len(trades) > 0 && trades[len(trades)-1].CloseReason == "rejected" {
		trades = trades[:len(trades)-1]
	}
	if len(trades) == 0 {
		return Payment{}, ErrNoPayment
	}
	t := &trades[len(trades)-1]
	st, err := s.queryLocked(ctx, part, t, "status")
	if err != nil {
		return paymentOf(t, ""), fmt.Errorf("%w: %w", ErrProviderUnavailable, err)
	}
	return paymentOf(t, st), nil
}

// queryLocked asks the provider for a trade's state and applies what it
// says: SUCCESS (or refunded: it was paid) as paid, CLOSED as closed
// (reason expired, or the reason already decided). It returns the
// provider's state. The order's lock is held.
func (s *Service) queryLocked(ctx context.Context, part *partitionPay, t *Trade, via string) (payment.TradeState, error) {
	prov, ok := s.providers[t.Channel]
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownChannel, t.Channel)
	}
	st, err := prov.QueryTrade(ctx, t.OutTradeNo)
	s.metrics.queries.WithLabelValues(t.Channel, queryOutcome(st.State, err)).Inc()
	if err != nil {
		return "", err
	}
	switch st.State {
	case payment.TradeSuccess, payment.TradeRefunded:
		if _, err := s.paidLocked(part, t, st.TradeNo, st.AmountCents, st.PaidAt, via); err != nil {
			return "", err
		}
	case payment.TradeClosed:
		if t.State == StateOpen || t.State == StateClosing {
			if t.CloseReason == "" {
				t.CloseReason = "expired"
			}
			now := s.cfg.Now().UTC()
			t.State, t.ClosedAt = StateClosed, now
			ev := s.event(t, events.PaymentClosed, now)
			ev.Reason = t.CloseReason
			if err := part.store.write(t, true, ev); err != nil {
				return "", err
			}
			s.metrics.closed.WithLabelValues(t.CloseReason).Inc()
			s.wake(part)
		}
	}
	return st.State, nil
}

func queryOutcome(st payment.TradeState, err error) string {
	if err != nil {
		return "error"
	}
	return string(st)
}

// Notify verifies and applies a provider's notification, given its raw
// headers and body, and returns the answer the provider expects:
// success once it is applied (or was already), failure otherwise, so
// that the provider sends it again. Refused, counted, and answered as a
// failure: a bad signature or another app (the provider's checks), an
// out_trade_no this service did not make or has no trade of, another
// channel's trade, an amount other than the trade's. A *NotOwnerError
// (no answer) says which instance owns the trade's order; other errors
// come with a failure answer.
func (s *Service) Notify(ctx context.Context, channel string, header http.Header, body []byte) (payment.Answer, error) {
	prov, ok := s.providers[channel]
	if !ok {
		return payment.Answer{Status: http.StatusNotFound, ContentType: "text/plain; charset=utf-8", Body: []byte("unknown channel")},
			fmt.Errorf("%w: %q", ErrUnknownChannel, channel)
	}
	refuse := func(outcome string, err error) (payment.Answer, error) {
		s.metrics.notifications.WithLabelValues(channel, outcome).Inc()
		s.cfg.Log.WarnContext(ctx, "pay_notification_refused", "channel", channel, "outcome", outcome, "err", err)
		return prov.Answer(false), nil
	}
	n, err := prov.ParseNotification(ctx, header, body)
	switch {
	case errors.Is(err, payment.ErrBadSignature):
		return refuse("bad_signature", err)
	case errors.Is(err, payment.ErrWrongApp):
		return refuse("wrong_app", err)
	case err != nil:
		return refuse("malformed", err)
	}
	if n.Kind == payment.NotifyRefund {
		return s.refundNotified(prov, n)
	}
	no, attempt, err := ParseOutTradeNo(n.OutTradeNo)
	if err != nil {
		return refuse("unknown_trade", err)
	}
	part, err := s.owned(no)
	if err != nil {
		return payment.Answer{}, err
	}
	unlock, err := s.lock(no)
	if err != nil {
		return prov.Answer(false), err
	}
	defer unlock()
	t, found, err := part.store.trade(no, attempt)
	if err != nil {
		return prov.Answer(false), err
	}
	if !found {
		return refuse("unknown_trade", fmt.Errorf("no trade %s", n.OutTradeNo))
	}
	if t.Channel != channel {
		return refuse("wrong_channel", fmt.Errorf("trade %s is of %s", n.OutTradeNo, t.Channel))
	}
	if n.AmountCents != t.AmountCents {
		return refuse("wrong_amount", fmt.Errorf("trade %s: notified %d cents, the trade is %d", n.OutTradeNo, n.AmountCents, t.AmountCents))
	}
	switch n.TradeState {
	case payment.TradeSuccess, payment.TradeRefunded:
		applied, err := s.paidLocked(part, &t, n.TradeNo, n.AmountCents, n.At, "notification")
		if err != nil {
			s.metrics.notifications.WithLabelValues(channel, "error").Inc()
			return prov.Answer(false), err
		}
		outcome := "duplicate"
		if applied {
			outcome = "applied"
		}
		s.metrics.notifications.WithLabelValues(channel, outcome).Inc()
	default:
		// A state change that is not a payment (Alipay's TRADE_CLOSED):
		// the scheduler's query records closes.
		s.metrics.notifications.WithLabelValues(channel, "ignored").Inc()
	}
	return prov.Answer(true), nil
}
