// Package system is seatbench's target over the whole of seatd as a
// buyer meets it: the gateway's HTTP API in front of a seatd cluster
// whose holds the outbox relays to Kafka, where the order service makes
// them orders, and the pay service takes their payments through a
// payment provider (paysim, playing Alipay and WeChat Pay).
//
// Holds, releases, seat maps and the program's creation are
// gatewayhttp's. What this target adds is paying: Confirm pays a hold's
// order as a buyer does (DESIGN.md section 5) and returns once the order
// is PAID and its seats are sold:
//
//  1. GET /v1/orders/{order_no} until the order exists (its HoldPlaced
//     event has gone through Kafka);
//  2. POST /v1/orders/{order_no}/pay, a QR trade, Alipay for odd buyers
//     and WeChat Pay for even ones;
//  3. POST {paysim}/sim/trades/{channel}/{out_trade_no}/pay, the buyer
//     paying at the provider, which then notifies the gateway;
//  4. GET /v1/orders/{order_no} until it is PAID with its hold CONFIRMED.
//
// The audit then sees everything: AuditState reads seatd's seat map,
// counters and holds (audit.ReadSeatd), and the order flow's orders,
// trades, refunds and the providers' bills as orderflow reconcile does
// (reconcile.Collect), after Settle has waited for the order flow to
// catch up and the unpaid holds to lapse (audit.Settler), so that the
// read is short and every hold's fate is judged.
//
// Concurrency: a Target is safe for use from many goroutines once
// loaded; Load must not run while other calls do.
package system

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"seatd/bench/audit"
	"seatd/bench/baseline/httpapi"
	"seatd/bench/target"
	"seatd/bench/target/gatewayhttp"
	"seatd/orderflow/events"
	"seatd/orderflow/orders"
	"seatd/orderflow/pay"
	"seatd/orderflow/payment"
	"seatd/orderflow/reconcile"
)

// Waits and bounds.
const (
	// ConfirmWait bounds one Confirm: the order's arrival, the payment,
	// the notification and the confirm in seatd, each normally tens of
	// milliseconds.
	ConfirmWait = 30 * time.Second
	// DefaultSettleWait bounds Settle's wait for the system to settle:
	// every hold an order, every paid order's seats sold, the unpaid
	// holds lapsed, and orderflow reconcile finding nothing.
	DefaultSettleWait = time.Minute
	// settlePoll is the pause between two snapshots while settling: each
	// reads every order's hold from seatd.
	settlePoll = 2 * time.Second
	// firstPoll and maxPoll are the pauses between a Confirm's reads of
	// its order: doubling from the first, so that a buyer's few requests
	// a second (the gateway's per-buyer limit) suffice.
	firstPoll = 10 * time.Millisecond
	maxPoll   = 250 * time.Millisecond
)

// Seatd is what the audit reads of seatd (*seatclient.Client).
type Seatd interface {
	audit.Seatd
	reconcile.Inventory
}

// Config is what a Target needs.
type Config struct {
	// Gateway is the gateway's: its URL, secret, admin token,
	// connections, PIDs and OnClose.
	Gateway gatewayhttp.Config
	// PaysimURL is the payment simulator's base URL, the providers'
	// gateway the pay service is configured with.
	PaysimURL string
	// Seatd and Orders are read by the audit: the cluster through its
	// routing client, and the order flow's Kitex server.
	Seatd  Seatd
	Orders reconcile.Orders
	// SettleWait bounds Settle's wait (default DefaultSettleWait).
	SettleWait time.Duration
}

// Target is the whole system. Make it with New.
type Target struct {
	*gatewayhttp.Target
	cfg  Config
	http *httpapi.Client // paysim's control endpoint
}

// New returns the target once the gateway is ready.
func New(ctx context.Context, cfg Config) (*Target, error) {
	if cfg.PaysimURL == "" || cfg.Seatd == nil || cfg.Orders == nil {
		return nil, errors.New("system: PaysimURL, Seatd and Orders are required")
	}
	if cfg.SettleWait == 0 {
		cfg.SettleWait = DefaultSettleWait
	}
	sim, err := httpapi.NewClient(httpapi.ClientConfig{URL: cfg.PaysimURL, Secret: cfg.Gateway.Secret, MaxConns: cfg.Gateway.MaxConns})
	if err != nil {
		return nil, fmt.Errorf("system: %w", err)
	}
	gw, err := gatewayhttp.New(ctx, cfg.Gateway)
	if err != nil {
		sim.Close()
		return nil, err
	}
	return &Target{Target: gw, cfg: cfg, http: sim}, nil
}

// Name returns "seatd-system".
func (t *Target) Name() string { return "seatd-system" }

// Persists is seatd's, and the order flow's.
func (t *Target) Persists() string {
	return t.Target.Persists() + "; orders and payments in the order flow's pebble stores, synced, and Kafka"
}

// orderOut is what Confirm reads of an order.
type orderOut struct {
	Status     orders.Status     `json:"status"`
	HoldStatus orders.HoldStatus `json:"hold_status"`
	Reason     string            `json:"reason"`
}

// Confirm pays the hold's order and waits until its seats are sold (the
// package comment has the steps). An order that ends otherwise (its hold
// lapsed first: the payment is refunded by itself) is an error naming
// its status; one that never appears is target.ErrUnknownHold.
func (t *Target) Confirm(ctx context.Context, _ string, h target.Hold) error {
	_, b, ok := strings.Cut(h.ID, "@")
	buyer, err := strconv.ParseUint(b, 10, 64)
	if !ok || err != nil || h.OrderNo == "" {
		return fmt.Errorf("system: hold %q with order %q is not one of this target's: %w", h.ID, h.OrderNo, target.ErrUnknownHold)
	}
	ctx, cancel := context.WithTimeout(ctx, ConfirmWait)
	defer cancel()
	path := "/v1/orders/" + url.PathEscape(h.OrderNo)
	o, err := t.waitOrder(ctx, path, buyer, func(o orderOut) bool { return true })
	if err != nil {
		return fmt.Errorf("system: order %s of hold %s: %w", h.OrderNo, h.ID, err)
	}
	if o.Status != orders.StatusPendingPayment {
		return fmt.Errorf("system: order %s is %s (%s), not waiting for payment", h.OrderNo, o.Status, o.Reason)
	}
	channel := events.ChannelWechat
	if buyer%2 == 1 {
		channel = events.ChannelAlipay
	}
	var trade struct {
		OutTradeNo string `json:"out_trade_no"`
	}
	body := []byte(`{"channel":"` + channel + `","mode":"` + string(payment.ModeQR) + `"}`)
	if err := t.retryLimited(ctx, func() error {
		return t.Target.Client().AsBuyer(ctx, http.MethodPost, path+"/pay", buyer, body, http.StatusCreated, &trade)
	}); err != nil {
		return fmt.Errorf("system: pay order %s: %w", h.OrderNo, err)
	}
	simPath := "/sim/trades/" + channel + "/" + url.PathEscape(trade.OutTradeNo) + "/pay"
	if err := t.http.Do(ctx, http.MethodPost, simPath, "", nil, http.StatusOK, nil); err != nil {
		return fmt.Errorf("system: paysim pay %s of order %s: %w", trade.OutTradeNo, h.OrderNo, err)
	}
	o, err = t.waitOrder(ctx, path, buyer, func(o orderOut) bool {
		return o.Status != orders.StatusPendingPayment || o.HoldStatus != orders.HoldHeld
	})
	if err != nil {
		return fmt.Errorf("system: order %s after payment: %w", h.OrderNo, err)
	}
	for o.Status == orders.StatusPaid && o.HoldStatus != orders.HoldConfirmed {
		// Paid, its confirm in seatd under way.
		if o, err = t.waitOrder(ctx, path, buyer, func(o orderOut) bool { return o.HoldStatus != orders.HoldHeld }); err != nil {
			return fmt.Errorf("system: order %s after payment: %w", h.OrderNo, err)
		}
	}
	if o.Status != orders.StatusPaid || o.HoldStatus != orders.HoldConfirmed {
		return fmt.Errorf("system: order %s paid ended %s with its hold %s (%s)", h.OrderNo, o.Status, o.HoldStatus, o.Reason)
	}
	return nil
}

// waitOrder reads the order at path as buyer until done says so, with
// pauses doubling from firstPoll to maxPoll. An order not there yet
// (404 NOT_FOUND: its event is on its way through Kafka) and a rate
// limit are waited out; ctx bounds the whole.
func (t *Target) waitOrder(ctx context.Context, path string, buyer uint64, done func(orderOut) bool) (orderOut, error) {
	pause := firstPoll
	for {
		var o orderOut
		err := t.retryLimited(ctx, func() error {
			return t.Target.Client().AsBuyer(ctx, http.MethodGet, path, buyer, nil, http.StatusOK, &o)
		})
		switch {
		case err == nil && done(o):
			return o, nil
		case err != nil && !errors.Is(err, target.ErrUnknownHold): // the gateway's 404 NOT_FOUND
			return o, err
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return o, fmt.Errorf("%w (last: %v): %w", target.ErrUnknownHold, err, ctx.Err())
			}
			return o, fmt.Errorf("still %s with its hold %s: %w", o.Status, o.HoldStatus, ctx.Err())
		case <-time.After(pause):
		}
		pause = min(2*pause, maxPoll)
	}
}

// retryLimited runs call again while the gateway answers 429
// RATE_LIMITED, after the Retry-After it says (a second if none).
func (t *Target) retryLimited(ctx context.Context, call func() error) error {
	for {
		err := call()
		var se *httpapi.StatusError
		if !errors.As(err, &se) || se.Status != http.StatusTooManyRequests {
			return err
		}
		wait := time.Second
		if s, perr := strconv.Atoi(se.RetryAfter); perr == nil && s >= 0 {
			wait = time.Duration(s) * time.Second
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// Settle waits, up to Config.SettleWait, until the system's state is
// final: every hold of q an order, orderflow reconcile finding no
// difference, and, when the program's hold TTL fits in the wait, every
// unpaid hold lapsed (a hold TTL and audit.ClockSlack twice after the
// load ended, which Settle is called at) and its release through the
// order flow. The note says how long it took and what it read, or what
// had not settled. Errors: reading the order flow, ctx.
func (t *Target) Settle(ctx context.Context, q audit.Query) (string, error) {
	began := time.Now()
	ids, _ := audit.SplitHoldIDs(q.Holds)
	lapsed := began
	if ttl := q.Spec.HoldTTL + 2*audit.ClockSlack; ttl < t.cfg.SettleWait {
		lapsed = began.Add(ttl)
	}
	for {
		snap, err := t.collect(ctx)
		if err != nil {
			return "", err
		}
		waiting := unsettled(snap, ids)
		if waiting == "" && !time.Now().Before(lapsed) {
			return fmt.Sprintf("the order flow settled %v after the load ended: %d orders, %d trades, %d refunds",
				time.Since(began).Round(time.Millisecond), len(snap.Orders), len(snap.Trades), len(snap.Refunds)), nil
		}
		if time.Since(began) > t.cfg.SettleWait {
			if waiting == "" {
				waiting = "unpaid holds still to lapse"
			}
			return fmt.Sprintf("the order flow had not settled after %v: %s", t.cfg.SettleWait, waiting), nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(settlePoll):
		}
	}
}

// collect reads the order flow's records of the run's program.
func (t *Target) collect(ctx context.Context) (*reconcile.Snapshot, error) {
	s, _, err := reconcile.Collect(ctx, reconcile.Config{Orders: t.cfg.Orders, Inventory: t.cfg.Seatd})
	if err != nil {
		return nil, fmt.Errorf("system: reading the order flow: %w", err)
	}
	return programOnly(s, t.Program()), nil
}

// AuditState shows seatd's state of the program (audit.ReadSeatd) and
// the order flow's records of it (reconcile.Collect), read once (Settle
// has waited for them to be final). Hold ids are this target's
// ("hold_id@buyer") throughout: in State.Holds, and in the orders' and
// snapshot's holds.
func (t *Target) AuditState(ctx context.Context, q audit.Query) (audit.State, error) {
	snap, err := t.collect(ctx)
	if err != nil {
		return audit.State{}, err
	}
	st, ours, err := audit.ReadSeatdAs(ctx, t.cfg.Seatd, q, t.Program())
	if err != nil {
		return st, err
	}
	for i := range snap.Orders {
		o := &snap.Orders[i]
		if _, ok := ours[o.HoldID]; !ok {
			ours[o.HoldID] = o.HoldID + "@" + o.UserID // a hold the harness was never told of
		}
		o.HoldID = ours[o.HoldID]
	}
	snap.Holds = audit.RenameHolds(snap.Holds, ours)
	st.Orders = snap
	return st, nil
}

// unsettled says what the order flow has yet to do, or "" when nothing:
// a hold with no order yet, or a difference orderflow reconcile finds (a
// payment being confirmed, a release on its way).
func unsettled(s *reconcile.Snapshot, holds []string) string {
	have := make(map[string]bool, len(s.Orders))
	for i := range s.Orders {
		have[s.Orders[i].HoldID] = true
	}
	missing := 0
	for _, id := range holds {
		if !have[id] {
			missing++
		}
	}
	diffs := reconcile.Compare(s)
	if missing == 0 && len(diffs) == 0 {
		return ""
	}
	var codes []string
	for _, d := range diffs {
		if c := string(d.Code); !slices.Contains(codes, c) {
			codes = append(codes, c)
		}
	}
	return fmt.Sprintf("%d holds without an order; %d differences (%s)", missing, len(diffs), strings.Join(codes, ", "))
}

// programOnly keeps what s says of one program: its orders, their holds,
// trades and refunds, its sold seats, and the bill lines of those
// trades. A cluster may carry other programs' sales.
func programOnly(s *reconcile.Snapshot, program string) *reconcile.Snapshot {
	out := &reconcile.Snapshot{Holds: map[string]reconcile.Hold{}, Programs: []string{program}, At: s.At}
	orderNos := map[string]bool{}
	for _, o := range s.Orders {
		if o.ProgramID == program {
			out.Orders = append(out.Orders, o)
			orderNos[o.OrderNo] = true
			if h, ok := s.Holds[o.HoldID]; ok {
				out.Holds[o.HoldID] = h
			}
		}
	}
	trades := map[string]bool{}
	for _, tr := range s.Trades {
		if orderNos[tr.OrderNo] {
			out.Trades = append(out.Trades, tr)
			trades[tr.OutTradeNo] = true
		}
	}
	out.Refunds = slices.DeleteFunc(slices.Clone(s.Refunds), func(r pay.Refund) bool { return !orderNos[r.OrderNo] })
	out.Sold = slices.DeleteFunc(slices.Clone(s.Sold), func(sl reconcile.SeatLeg) bool { return sl.Program != program })
	for _, b := range s.Bills {
		b.Lines = slices.DeleteFunc(slices.Clone(b.Lines), func(l payment.BillLine) bool { return !trades[l.OutTradeNo] })
		out.Bills = append(out.Bills, b)
	}
	return out
}

// Close closes paysim's connections and the gateway target (which runs
// Config.Gateway.OnClose).
func (t *Target) Close() error {
	return errors.Join(t.http.Close(), t.Target.Close())
}
