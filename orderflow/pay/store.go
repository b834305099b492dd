package pay

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"seatd/inventory"
	"seatd/orderflow/events"
	"seatd/orderflow/orders"
	"seatd/orderflow/outbox"
	"seatd/orderflow/payment"
)

// Keys of a partition's pay database. Numbers are big-endian so that keys
// sort as the numbers do.
//
//	't' order(8) attempt(1)   a trade (Trade JSON)
//	'a' order(8) attempt(1)   an active trade: OPEN or CLOSING, for the scheduler (empty value)
//	'r' order(8) out_request_no  a refund (Refund JSON): a buyer's or an operator's, or of a trade owed back
//	'p' order(8) out_request_no  a refund not final yet: REQUESTED or PROCESSING, for the scheduler (empty value)
//	'q' seq(8)                an outcome to publish to pay.events (PayEvent JSON), in the order recorded
//	'm' "seq"                 the last outcome's number (8)
const (
	kindTrade   = 't'
	kindActive  = 'a'
	kindRefund  = 'r'
	kindPending = 'p'
	kindPublish = 'q'
)

var keySeq = []byte("mseq")

func tradeKey(kind byte, no inventory.OrderNo, attempt int) []byte {
	return append(binary.BigEndian.AppendUint64([]byte{kind}, uint64(no)), byte(attempt))
}

func orderPrefix(no inventory.OrderNo) []byte {
	return binary.BigEndian.AppendUint64([]byte{kindTrade}, uint64(no))
}

func refundKey(kind byte, no inventory.OrderNo, outRequestNo string) []byte {
	return append(binary.BigEndian.AppendUint64([]byte{kind}, uint64(no)), outRequestNo...)
}

// OutTradeNo makes a trade's number: the order number, an underscore and
// the attempt in two digits ("123456789_03"). Both providers accept it
// (Alipay: letters, digits and _, at most 64; WeChat: 6 to 32 of letters,
// digits and _-|*; an order number is at least 5 digits, at most 20), and
// a notification is routed to its order's owner by it.
func OutTradeNo(no inventory.OrderNo, attempt int) string {
	return fmt.Sprintf("%d_%02d", uint64(no), attempt)
}

// ErrBadTradeNo is an out_trade_no this service did not make.
var ErrBadTradeNo = errors.New("pay: not an out_trade_no of this service")

// ParseOutTradeNo reads an out_trade_no made by OutTradeNo.
func ParseOutTradeNo(s string) (inventory.OrderNo, int, error) {
	no, att, ok := strings.Cut(s, "_")
	n, err1 := strconv.ParseUint(no, 10, 64)
	a, err2 := strconv.Atoi(att)
	if !ok || err1 != nil || err2 != nil || len(att) != 2 || a < 1 || a > MaxAttemptsLimit || n == 0 || strconv.FormatUint(n, 10) != no {
		return 0, 0, fmt.Errorf("%w: %q", ErrBadTradeNo, s)
	}
	return inventory.OrderNo(n), a, nil
}

// TradeState is where a trade stands in this service's records.
//
//	OPEN     recorded before the provider was asked to create it; may or
//	         may not exist at the provider (a create that failed or was
//	         never answered). Queried on a schedule, closed at TimeExpire.
//	CLOSING  a close was decided (CloseReason) but the provider has not
//	         confirmed it yet; retried by the scheduler.
//	CLOSED   closed at the provider (or never made there): PaymentClosed
//	         was recorded for publishing.
//	PAID     the provider said SUCCESS (notification or query):
//	         PaymentSucceeded was recorded for publishing. Final: a trade
//	         succeeds once. A CLOSED trade may still become PAID (the
//	         provider's word wins: money that came is never ignored).
type TradeState string

// Trade states.
const (
	StateOpen    TradeState = "OPEN"
	StateClosing TradeState = "CLOSING"
	StateClosed  TradeState = "CLOSED"
	StatePaid    TradeState = "PAID"
)

// Trade is one payment attempt as this service records it. Money is
// integer cents, times UTC.
type Trade struct {
	OutTradeNo  string       `json:"out_trade_no"`
	OrderNo     string       `json:"order_no"`
	UserID      string       `json:"user_id"`
	HoldID      string       `json:"hold_id"`
	Attempt     int          `json:"attempt"`
	Channel     string       `json:"channel"`
	Mode        payment.Mode `json:"mode"`
	AmountCents int64        `json:"amount_cents"`
	TimeExpire  time.Time    `json:"time_expire"` // the hold's expiry
	State       TradeState   `json:"state"`
	// Created is true once the provider answered the create (its QR code
	// or pay URL are kept).
	Created     bool      `json:"created,omitempty"`
	TradeNo     string    `json:"trade_no,omitempty"`
	QRCode      string    `json:"qr_code,omitempty"`
	PayURL      string    `json:"pay_url,omitempty"`
	CloseReason string    `json:"close_reason,omitempty"` // expired, superseded, rejected
	CreatedAt   time.Time `json:"created_at"`
	PaidAt      time.Time `json:"paid_at,omitzero"`
	ClosedAt    time.Time `json:"closed_at,omitzero"`
	// NextQuery is when the scheduler next asks the provider; Queries
	// how many times it did (the back-off's exponent).
	NextQuery time.Time `json:"next_query,omitzero"`
	Queries   int       `json:"queries,omitempty"`
}

func (t *Trade) number() inventory.OrderNo {
	n, _ := strconv.ParseUint(t.OrderNo, 10, 64)
	return inventory.OrderNo(n)
}

// RefundState is where a refund stands.
//
//	REQUESTED   recorded before the provider was called; the call is made
//	            again (same OutRequestNo) until it answers
//	PROCESSING  the provider accepted it (WeChat) and will say the outcome
//	SUCCEEDED   RefundSucceeded recorded for publishing
//	FAILED      RefundFailed recorded for publishing: the provider refused
//	            it; a refund owed back is left to an operator, a buyer
//	            may ask again
type RefundState string

// Refund states.
const (
	RefundRequested  RefundState = "REQUESTED"
	RefundProcessing RefundState = "PROCESSING"
	RefundSucceeded  RefundState = "SUCCEEDED"
	RefundFailed     RefundState = "FAILED"
)

// Initiators of a refund.
const (
	InitiatorBuyer    = "buyer"    // the buyer asked (Service.Refund)
	InitiatorOperator = "operator" // an operator asked for the buyer (Service.Refund)
	InitiatorSystem   = "system"   // a payment owed back (orders.RefundDue), refunded in full by the scheduler
)

// Refund is one refund of a trade: of seats of a paid order (a buyer's or
// an operator's request), or of a trade owed back, in full. Money is
// integer cents, times UTC.
type Refund struct {
	OutRequestNo string `json:"out_request_no"` // the API's refund_no
	OutTradeNo   string `json:"out_trade_no"`
	OrderNo      string `json:"order_no"`
	UserID       string `json:"user_id"`
	HoldID       string `json:"hold_id"`
	Channel      string `json:"channel"`
	TradeNo      string `json:"trade_no,omitempty"`
	AmountCents  int64  `json:"amount_cents"`
	TotalCents   int64  `json:"total_cents"` // the trade's amount
	Initiator    string `json:"initiator"`
	// SeatIDs are the seats refunded (buyer and operator refunds; every
	// seat it names is released in the inventory once it succeeds).
	SeatIDs []string `json:"seat_ids,omitempty"`
	// Reason is the buyer's words, or why a payment is owed back; Detail
	// the provider's refusal.
	Reason string      `json:"reason"`
	Detail string      `json:"detail,omitempty"`
	State  RefundState `json:"state"`
	// RequestKey is the request's Idempotency-Key (buyer and operator
	// refunds): a repeat of the request answers this refund.
	RequestKey string `json:"request_key,omitempty"`
	// RequestSeats are the seats as the request named them (sorted; none
	// for every seat not refunded yet): what a repeat must ask again.
	RequestSeats []string  `json:"request_seats,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	At           time.Time `json:"at"` // the last change, by this service's clock
	// RefundedAt is when the provider says the refund succeeded (its
	// clock, often to the second).
	RefundedAt time.Time `json:"refunded_at,omitzero"`
	// NextTry is when the scheduler next calls the provider about a
	// refund not final yet; Tries how often it did (the back-off).
	NextTry time.Time `json:"next_try,omitzero"`
	Tries   int       `json:"tries,omitempty"`
}

// Final says whether the refund's outcome is known.
func (r *Refund) Final() bool { return r.State == RefundSucceeded || r.State == RefundFailed }

func (r *Refund) number() inventory.OrderNo {
	n, _ := strconv.ParseUint(r.OrderNo, 10, 64)
	return inventory.OrderNo(n)
}

// RefundNo is the stable out_request_no of the refund of a trade owed
// back: "R" and the trade's number. One refund per trade, retried
// unchanged, so the provider refunds it once.
func RefundNo(outTradeNo string) string { return "R" + outTradeNo }

// SeatRefundNo is the out_request_no of a paid order's n-th refund of
// seats: the order number, "_R" and n in two digits ("123456789_R02").
// Both providers accept it (Alipay: up to 64 characters; WeChat
// out_refund_no: up to 64 of letters, digits and _-|*@).
func SeatRefundNo(no inventory.OrderNo, n int) string { return fmt.Sprintf("%d_R%02d", uint64(no), n) }

// ErrBadRefundNo is a refund number this service did not make.
var ErrBadRefundNo = errors.New("pay: not a refund number of this service")

// ParseRefundNo returns the order of a refund number made by RefundNo or
// SeatRefundNo.
func ParseRefundNo(s string) (inventory.OrderNo, error) {
	if rest, ok := strings.CutPrefix(s, "R"); ok {
		no, _, err := ParseOutTradeNo(rest)
		if err != nil {
			return 0, fmt.Errorf("%w: %q", ErrBadRefundNo, s)
		}
		return no, nil
	}
	no, n, ok := strings.Cut(s, "_R")
	u, err1 := strconv.ParseUint(no, 10, 64)
	k, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil || len(n) != 2 || k < 1 || u == 0 || strconv.FormatUint(u, 10) != no {
		return 0, fmt.Errorf("%w: %q", ErrBadRefundNo, s)
	}
	return inventory.OrderNo(u), nil
}

// store is one partition's pay database. Writes of one order are
// serialized by the service's order locks; the 'q' sequence by mu.
type store struct {
	db        *pebble.DB
	partition int

	mu  sync.Mutex // guards seq
	seq uint64     // the last outcome's number

	active  atomic.Int64   // 'a' entries
	pending *outbox.Outbox // the 'q' entries
	open    atomic.Int64   // 'p' entries: refunds not final
}

// checkpoint writes a consistent copy of the store into dir, which must
// not exist yet, while payments go on (see orders.Store.Checkpoint).
func (s *store) checkpoint(dir string) error {
	if err := s.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("pay: checkpoint of partition %d into %s: %w", s.partition, dir, err)
	}
	return nil
}

func openStore(dir string, partition int, log *slog.Logger) (*store, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{log}})
	if err != nil {
		return nil, fmt.Errorf("pay: open partition %d at %s: %w", partition, dir, err)
	}
	s := &store{db: db, partition: partition}
	if v, closer, err := db.Get(keySeq); err == nil {
		s.seq = binary.BigEndian.Uint64(v)
		closer.Close()
	} else if !errors.Is(err, pebble.ErrNotFound) {
		db.Close()
		return nil, err
	}
	// An outcome's deletion is synced: one published again is applied
	// once by its id, but costs the consumers a read of its order.
	if s.pending, _, err = outbox.Open(db, kindPublish, pebble.Sync); err != nil {
		db.Close()
		return nil, err
	}
	for _, c := range []struct {
		kind  byte
		count *atomic.Int64
	}{{kindActive, &s.active}, {kindPending, &s.open}} {
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{c.kind}, UpperBound: []byte{c.kind + 1}})
		if err != nil {
			db.Close()
			return nil, err
		}
		var n int64
		for it.First(); it.Valid(); it.Next() {
			n++
		}
		c.count.Store(n)
		if err := it.Close(); err != nil {
			db.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *store) close() error { return s.db.Close() }

// trades returns an order's trades, by attempt.
func (s *store) trades(no inventory.OrderNo) ([]Trade, error) {
	p := orderPrefix(no)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: append(bytes.Clone(p), 0xff, 0xff)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []Trade
	for it.First(); it.Valid(); it.Next() {
		var t Trade
		if err := json.Unmarshal(it.Value(), &t); err != nil {
			panic(fmt.Sprintf("pay: stored trade does not decode: %v", err))
		}
		out = append(out, t)
	}
	return out, it.Error()
}

// trade returns one trade, or ok=false.
func (s *store) trade(no inventory.OrderNo, attempt int) (Trade, bool, error) {
	v, closer, err := s.db.Get(tradeKey(kindTrade, no, attempt))
	if errors.Is(err, pebble.ErrNotFound) {
		return Trade{}, false, nil
	}
	if err != nil {
		return Trade{}, false, err
	}
	defer closer.Close()
	var t Trade
	if err := json.Unmarshal(v, &t); err != nil {
		panic(fmt.Sprintf("pay: stored trade does not decode: %v", err))
	}
	return t, true, nil
}

// activeTrades returns up to max trades of the 'a' index after the key
// after ("" from the first), and the last key read.
func (s *store) activeTrades(after []byte, max int) ([]Trade, []byte, error) {
	lower := []byte{kindActive}
	if after != nil {
		lower = append(bytes.Clone(after), 0)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: []byte{kindActive + 1}})
	if err != nil {
		return nil, nil, err
	}
	defer it.Close()
	var out []Trade
	var last []byte
	for it.First(); it.Valid() && len(out) < max; it.Next() {
		k := it.Key()
		no := inventory.OrderNo(binary.BigEndian.Uint64(k[1:9]))
		t, ok, err := s.trade(no, int(k[9]))
		if err != nil {
			return nil, nil, err
		}
		if ok {
			out = append(out, t)
		}
		last = bytes.Clone(k)
	}
	return out, last, it.Error()
}

// refund returns a refund of an order by its number, or ok=false.
func (s *store) refund(no inventory.OrderNo, outRequestNo string) (Refund, bool, error) {
	v, closer, err := s.db.Get(refundKey(kindRefund, no, outRequestNo))
	if errors.Is(err, pebble.ErrNotFound) {
		return Refund{}, false, nil
	}
	if err != nil {
		return Refund{}, false, err
	}
	defer closer.Close()
	var r Refund
	if err := json.Unmarshal(v, &r); err != nil {
		panic(fmt.Sprintf("pay: stored refund does not decode: %v", err))
	}
	return r, true, nil
}

// refunds returns an order's refunds, by number.
func (s *store) refunds(no inventory.OrderNo) ([]Refund, error) {
	p := binary.BigEndian.AppendUint64([]byte{kindRefund}, uint64(no))
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: binary.BigEndian.AppendUint64([]byte{kindRefund}, uint64(no)+1)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []Refund
	for it.First(); it.Valid(); it.Next() {
		var r Refund
		if err := json.Unmarshal(it.Value(), &r); err != nil {
			panic(fmt.Sprintf("pay: stored refund does not decode: %v", err))
		}
		out = append(out, r)
	}
	return out, it.Error()
}

// openRefunds returns up to max refunds of the 'p' index after the key
// after (nil from the first), and the last key read.
func (s *store) openRefunds(after []byte, max int) ([]Refund, []byte, error) {
	lower := []byte{kindPending}
	if after != nil {
		lower = append(bytes.Clone(after), 0)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: []byte{kindPending + 1}})
	if err != nil {
		return nil, nil, err
	}
	defer it.Close()
	var out []Refund
	var last []byte
	for it.First(); it.Valid() && len(out) < max; it.Next() {
		k := it.Key()
		r, ok, err := s.refund(inventory.OrderNo(binary.BigEndian.Uint64(k[1:9])), string(k[9:]))
		if err != nil {
			return nil, nil, err
		}
		if ok {
			out = append(out, r)
		}
		last = bytes.Clone(k)
	}
	return out, last, it.Error()
}

// write records a trade (and, with events, the outcomes to publish) in
// one synced batch; the 'a' index follows the trade's state. wasActive
// says whether the trade was in the index before.
func (s *store) write(t *Trade, wasActive bool, evs ...events.PayEvent) error {
	b := s.db.NewBatch()
	defer b.Close()
	no := t.number()
	v, err := json.Marshal(t)
	if err != nil {
		panic(fmt.Sprintf("pay: trade does not encode: %v", err))
	}
	b.Set(tradeKey(kindTrade, no, t.Attempt), v, nil)
	active := t.State == StateOpen || t.State == StateClosing
	switch {
	case active && !wasActive:
		b.Set(tradeKey(kindActive, no, t.Attempt), nil, nil)
	case !active && wasActive:
		b.Delete(tradeKey(kindActive, no, t.Attempt), nil)
	}
	if err := s.commit(b, evs); err != nil {
		return err
	}
	switch {
	case active && !wasActive:
		s.active.Add(1)
	case !active && wasActive:
		s.active.Add(-1)
	}
	return nil
}

// writeRefund records a refund and the outcomes to publish in one synced
// batch; the 'p' index follows the refund's state. wasOpen says whether
// the refund was in the index before.
func (s *store) writeRefund(r *Refund, wasOpen bool, evs ...events.PayEvent) error {
	b := s.db.NewBatch()
	defer b.Close()
	v, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("pay: refund does not encode: %v", err))
	}
	no := r.number()
	b.Set(refundKey(kindRefund, no, r.OutRequestNo), v, nil)
	open := !r.Final()
	switch {
	case open && !wasOpen:
		b.Set(refundKey(kindPending, no, r.OutRequestNo), nil, nil)
	case !open && wasOpen:
		b.Delete(refundKey(kindPending, no, r.OutRequestNo), nil)
	}
	if err := s.commit(b, evs); err != nil {
		return err
	}
	switch {
	case open && !wasOpen:
		s.open.Add(1)
	case !open && wasOpen:
		s.open.Add(-1)
	}
	return nil
}

// commit adds the outcomes to publish, numbered, and commits synced.
func (s *store) commit(b *pebble.Batch, evs []events.PayEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := s.seq
	for i := range evs {
		v, err := json.Marshal(&evs[i])
		if err != nil {
			panic(fmt.Sprintf("pay: event does not encode: %v", err))
		}
		seq++
		b.Set(s.pending.Key(int64(seq)), v, nil)
	}
	if len(evs) > 0 {
		b.Set(keySeq, binary.BigEndian.AppendUint64(nil, seq), nil)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pay: partition %d: commit: %w", s.partition, err)
	}
	s.seq = seq
	s.pending.Added(len(evs))
	return nil
}

// toPublish returns up to max outcomes waiting, in the order recorded.
func (s *store) toPublish(max int) ([]orders.Change, error) {
	it, err := s.db.NewIter(s.pending.IterOptions())
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []orders.Change
	for it.First(); it.Valid() && len(out) < max; it.Next() {
		var ev struct {
			OrderNo string `json:"order_no"`
		}
		if err := json.Unmarshal(it.Value(), &ev); err != nil {
			panic(fmt.Sprintf("pay: stored event does not decode: %v", err))
		}
		n, _ := strconv.ParseUint(ev.OrderNo, 10, 64)
		out = append(out, orders.Change{Seq: s.pending.Number(it.Key()), OrderNo: inventory.OrderNo(n), Value: bytes.Clone(it.Value())})
	}
	return out, it.Error()
}

// published deletes the outcomes up to seq, once Kafka has them. The
// store counts what it deletes: a call out of step (seq deleted already,
// or beyond the last outcome) leaves the pending count exact.
func (s *store) published(seq int64) error {
	if err := s.pending.Forget(seq); err != nil {
		return fmt.Errorf("pay: partition %d: %w", s.partition, err)
	}
	return nil
}

type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug("pebble", "msg", fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("pebble", "msg", fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
