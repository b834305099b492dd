// Package orderclient is the routing client of the order service: given
// the instances' RPC addresses in instance order, it learns the partition
// count and the instance count from the first instance that answers
// Describe, and sends each read to the instance that owns its partition,
// found from the gene of the order number or of the user id (the same
// rule as the service's: partition = gene mod partitions, owner =
// partition mod instances).
//
// Concurrency: a Client is safe for concurrent use. It keeps one Kitex
// client per instance and what it learned; nothing runs in the
// background.
package orderclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/client/callopt"

	"seatd/inventory"
	rpc "seatd/kitex_gen/orderflowrpc"
	ofsvc "seatd/kitex_gen/orderflowrpc/orderflow"
	"seatd/orderflow/events"
	"seatd/orderflow/orderrpc"
	"seatd/orderflow/orders"
	"seatd/orderflow/pay"
	"seatd/orderflow/payment"
)

// Errors of the client's calls; each is wrapped with the instance, its
// address and the partition.
var (
	// ErrNotFound: the order's owner does not have it.
	ErrNotFound = errors.New("orderclient: order not found")
	// ErrUnavailable: the owner did not answer (down, unreachable, past
	// AttemptTimeout) or is not ready (rebuilding, stopping); retry later.
	// No other instance can answer for it.
	ErrUnavailable = errors.New("orderclient: owner unavailable")
	// ErrMisrouted: the instance the client took for the owner says
	// another one owns the partition even after one redirect, or the
	// instances' count differs from the addresses given: the address list
	// is not in instance order, or the deployment is changing.
	ErrMisrouted = errors.New("orderclient: addresses do not match the instances")
	// ErrBadRequest: a limit out of range or a malformed cursor.
	ErrBadRequest = errors.New("orderclient: bad request")

	// The pay service's refusals (see the pay package's errors of the
	// same names).
	ErrNotPayable          = errors.New("orderclient: order not payable")
	ErrUnknownChannel      = errors.New("orderclient: unknown payment channel")
	ErrUnsupportedMode     = errors.New("orderclient: payment mode not offered by the channel")
	ErrTooManyAttempts     = errors.New("orderclient: too many payment attempts for the order")
	ErrProviderUnavailable = errors.New("orderclient: payment provider unavailable")
	ErrNoPayment           = errors.New("orderclient: no payment attempt for the order")
	ErrOverloaded          = errors.New("orderclient: too many open trades; retry later")
	// ErrNoPayService: the owner runs no pay service (no provider
	// configured): a deployment's configuration.
	ErrNoPayService = errors.New("orderclient: the order service runs no pay service")

	// The refund service's refusals (see the pay package's errors).
	ErrNotRefundable   = errors.New("orderclient: order not refundable")
	ErrSeatNotInOrder  = errors.New("orderclient: seat not in the order")
	ErrSeatRefunded    = errors.New("orderclient: seat refunded already")
	ErrNothingToRefund = errors.New("orderclient: nothing left to refund")
	ErrRefundExceeds   = errors.New("orderclient: refund exceeds what was paid")
	ErrTooManyRefunds  = errors.New("orderclient: too many refunds of the order")
	ErrKeyReused       = errors.New("orderclient: idempotency key used for another refund")
)

// payErrors maps the pay codes to the client's errors.
var payErrors = map[rpc.Code]error{
	rpc.Code_NOT_PAYABLE: ErrNotPayable, rpc.Code_UNKNOWN_CHANNEL: ErrUnknownChannel, rpc.Code_UNSUPPORTED_MODE: ErrUnsupportedMode,
	rpc.Code_TOO_MANY_ATTEMPTS: ErrTooManyAttempts, rpc.Code_PROVIDER_UNAVAILABLE: ErrProviderUnavailable,
	rpc.Code_NO_PAYMENT: ErrNoPayment, rpc.Code_OVERLOADED: ErrOverloaded, rpc.Code_NO_PAY_SERVICE: ErrNoPayService,
	rpc.Code_NOT_REFUNDABLE: ErrNotRefundable, rpc.Code_SEAT_NOT_IN_ORDER: ErrSeatNotInOrder, rpc.Code_SEAT_REFUNDED: ErrSeatRefunded,
	rpc.Code_NOTHING_TO_REFUND: ErrNothingToRefund, rpc.Code_REFUND_EXCEEDS: ErrRefundExceeds,
	rpc.Code_TOO_MANY_REFUNDS: ErrTooManyRefunds, rpc.Code_KEY_REUSED: ErrKeyReused,
}

// Config configures a Client.
type Config struct {
	// Addrs are the RPC addresses of instances 0, 1, ..., N-1, in that
	// order.
	Addrs []string
	// AttemptTimeout bounds one call to one instance. Default 2s: a read
	// is one or a hundred point reads of a local store.
	AttemptTimeout time.Duration
	// ProviderTimeout bounds one call that waits for a payment provider
	// (Pay, PaymentStatus, Notify, Refund). Default 15s: longer than the
	// pay service's own bound on a provider call (pay.DefaultCallTimeout),
	// so that the client does not give up on an answer that is coming.
	ProviderTimeout time.Duration
}

// Topology is what the client learned from Describe.
type Topology struct{ Instances, Partitions int }

// Client routes reads to the owning instance.
type Client struct {
	cfg   Config
	conns []ofsvc.Client // by instance
	next  atomic.Uint64  // spreads notifications over the instances

	mu   sync.Mutex // guards topo
	topo *Topology  // nil until learned
}

// New returns a client; it connects lazily.
func New(cfg Config) (*Client, error) {
	if len(cfg.Addrs) == 0 || len(cfg.Addrs) > events.MaxPartitions {
		return nil, fmt.Errorf("orderclient: %d addresses: want 1-%d", len(cfg.Addrs), events.MaxPartitions)
	}
	if cfg.AttemptTimeout == 0 {
		cfg.AttemptTimeout = 2 * time.Second
	}
	if cfg.ProviderTimeout == 0 {
		cfg.ProviderTimeout = 15 * time.Second
	}
	if cfg.AttemptTimeout < 0 || cfg.ProviderTimeout < 0 {
		return nil, fmt.Errorf("orderclient: attempt timeout %v, provider timeout %v: want positive", cfg.AttemptTimeout, cfg.ProviderTimeout)
	}
	c := &Client{cfg: cfg}
	for _, addr := range cfg.Addrs {
		cl, err := ofsvc.NewClient("orderflow", client.WithHostPorts(addr), client.WithRPCTimeout(cfg.AttemptTimeout),
			client.WithConnectTimeout(cfg.AttemptTimeout))
		if err != nil {
			return nil, fmt.Errorf("orderclient: %s: %w", addr, err)
		}
		c.conns = append(c.conns, cl)
	}
	return c, nil
}

// Topology returns the partition and instance counts, asking the
// instances in order until one answers Describe the first time.
func (c *Client) Topology(ctx context.Context) (Topology, error) {
	c.mu.Lock()
	t := c.topo
	c.mu.Unlock()
	if t != nil {
		return *t, nil
	}
	var errs []error
	for i, cl := range c.conns {
		resp, err := cl.Describe(ctx, &rpc.DescribeRequest{})
		if err != nil {
			errs = append(errs, fmt.Errorf("instance %d (%s): %w", i, c.cfg.Addrs[i], err))
			continue
		}
		if int(resp.Instances) != len(c.conns) || int(resp.Instance) != i || resp.Partitions < 1 {
			return Topology{}, fmt.Errorf("%w: %s says it is instance %d of %d with %d partitions; the client has %d addresses and took it for instance %d",
				ErrMisrouted, c.cfg.Addrs[i], resp.Instance, resp.Instances, resp.Partitions, len(c.conns), i)
		}
		t := Topology{Instances: int(resp.Instances), Partitions: int(resp.Partitions)}
		c.mu.Lock()
		c.topo = &t
		c.mu.Unlock()
		return t, nil
	}
	return Topology{}, fmt.Errorf("%w: no instance answered Describe: %w", ErrUnavailable, errors.Join(errs...))
}

// route returns the partition of a gene and its owner.
func (c *Client) route(ctx context.Context, gene uint64) (partition, owner int, err error) {
	t, err := c.Topology(ctx)
	if err != nil {
		return 0, 0, err
	}
	p := events.PartitionOfGene(gene, t.Partitions)
	return p, p % t.Instances, nil
}

// call runs f at the owner of partition, following one NOT_OWNER
// redirect, and maps the answer's Status to the client's errors. Each
// attempt is bounded by AttemptTimeout, or by ProviderTimeout when
// provider is true (f must pass opt to the generated method: the Kitex
// client's own RPC timeout is AttemptTimeout).
func (c *Client) call(ctx context.Context, partition, owner int, provider bool,
	f func(context.Context, ofsvc.Client, callopt.Option) (*rpc.Status, error)) error {
	timeout := c.cfg.AttemptTimeout
	if provider {
		timeout = c.cfg.ProviderTimeout
	}
	for redirects := 0; ; redirects++ {
		addr := c.cfg.Addrs[owner]
		actx, cancel := context.WithTimeout(ctx, timeout)
		st, err := f(actx, c.conns[owner], callopt.WithRPCTimeout(timeout))
		cancel()
		where := fmt.Sprintf("instance %d (%s), owner of partition %d", owner, addr, partition)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrUnavailable, where, err)
		}
		switch st.Code {
		case rpc.Code_OK:
			return nil
		case rpc.Code_NOT_FOUND:
			return fmt.Errorf("%w: %s", ErrNotFound, where)
		case rpc.Code_UNAVAILABLE:
			return fmt.Errorf("%w: %s: %s", ErrUnavailable, where, st.Detail)
		case rpc.Code_BAD_REQUEST:
			return fmt.Errorf("%w: %s", ErrBadRequest, st.Detail)
		case rpc.Code_NOT_PAYABLE, rpc.Code_UNKNOWN_CHANNEL, rpc.Code_UNSUPPORTED_MODE, rpc.Code_TOO_MANY_ATTEMPTS,
			rpc.Code_PROVIDER_UNAVAILABLE, rpc.Code_NO_PAYMENT, rpc.Code_OVERLOADED, rpc.Code_NO_PAY_SERVICE,
			rpc.Code_NOT_REFUNDABLE, rpc.Code_SEAT_NOT_IN_ORDER, rpc.Code_SEAT_REFUNDED, rpc.Code_NOTHING_TO_REFUND,
			rpc.Code_REFUND_EXCEEDS, rpc.Code_TOO_MANY_REFUNDS, rpc.Code_KEY_REUSED:
			return fmt.Errorf("%w: %s: %s", payErrors[st.Code], where, st.Detail)
		case rpc.Code_NOT_OWNER:
			next := int(st.Owner)
			if redirects == 0 && next >= 0 && next < len(c.conns) && next != owner {
				owner = next
				continue
			}
			return fmt.Errorf("%w: %s says instance %d owns partition %d", ErrMisrouted, addr, st.Owner, partition)
		default:
			return fmt.Errorf("%w: %s: status %v: %s", ErrUnavailable, where, st.Code, st.Detail)
		}
	}
}

// Order returns an order from its owner.
func (c *Client) Order(ctx context.Context, no inventory.OrderNo) (orders.Order, error) {
	w, err := ask(ctx, c, no.Gene(), false, "order", func(ctx context.Context, cl ofsvc.Client, opt callopt.Option) (*rpc.Status, *rpc.Order, error) {
		resp, err := cl.GetOrder(ctx, &rpc.GetOrderRequest{OrderNo: strconv.FormatUint(uint64(no), 10)}, opt)
		if err != nil {
			return nil, nil, err
		}
		return resp.Status, resp.Order, nil
	})
	if err != nil {
		return orders.Order{}, err
	}
	return orderrpc.ToOrder(w)
}

// ask runs f at the owner of gene's partition (see call) and returns the
// record its OK answer carries; an OK answer without one (what names
// it) is ErrUnavailable.
func ask[T any](ctx context.Context, c *Client, gene uint64, provider bool, what string,
	f func(context.Context, ofsvc.Client, callopt.Option) (*rpc.Status, *T, error)) (*T, error) {
	p, owner, err := c.route(ctx, gene)
	if err != nil {
		return nil, err
	}
	var rec *T
	err = c.call(ctx, p, owner, provider, func(ctx context.Context, cl ofsvc.Client, opt callopt.Option) (*rpc.Status, error) {
		st, r, err := f(ctx, cl, opt)
		rec = r
		return st, err
	})
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, fmt.Errorf("%w: an OK answer without its %s", ErrUnavailable, what)
	}
	return rec, nil
}

// Orders returns a page of a buyer's orders, newest first: limit 0 means
// orders.DefaultListLimit, at most orders.MaxListLimit; cursor "" for the
// first page, else the previous page's Next.
func (c *Client) Orders(ctx context.Context, user uint64, cursor string, limit int) (orders.Page, error) {
	if limit < 0 || limit > orders.MaxListLimit {
		return orders.Page{}, fmt.Errorf("%w: limit %d: want 0-%d", ErrBadRequest, limit, orders.MaxListLimit)
	}
	p, owner, err := c.route(ctx, inventory.UserGene(user))
	if err != nil {
		return orders.Page{}, err
	}
	var resp *rpc.ListOrdersResponse
	err = c.call(ctx, p, owner, false, func(ctx context.Context, cl ofsvc.Client, opt callopt.Option) (*rpc.Status, error) {
		r, err := cl.ListOrders(ctx, &rpc.ListOrdersRequest{UserId: strconv.FormatUint(user, 10), Cursor: cursor, Limit: int32(limit)}, opt)
		if err != nil {
			return nil, err
		}
		resp = r
		return r.Status, nil
	})
	if err != nil {
		return orders.Page{}, err
	}
	page := orders.Page{Next: resp.NextCursor, Orders: make([]orders.Order, len(resp.Orders))}
	var errs []error
	for i, w := range resp.Orders {
		o, err := orderrpc.ToOrder(w)
		page.Orders[i] = o
		errs = append(errs, err)
	}
	return page, errors.Join(errs...)
}

// Pay makes a payment attempt of a buyer's order at its owner (see
// pay.Service.Pay): ErrNotFound, ErrNotPayable, ErrUnknownChannel,
// ErrUnsupportedMode, ErrTooManyAttempts, ErrProviderUnavailable,
// ErrOverloaded, ErrNoPayService, ErrUnavailable.
func (c *Client) Pay(ctx context.Context, no inventory.OrderNo, user uint64, channel string, mode payment.Mode) (pay.Payment, error) {
	w, err := ask(ctx, c, no.Gene(), true, "payment", func(ctx context.Context, cl ofsvc.Client, opt callopt.Option) (*rpc.Status, *rpc.Payment, error) {
		resp, err := cl.Pay(ctx, &rpc.PayRequest{OrderNo: strconv.FormatUint(uint64(no), 10), UserId: strconv.FormatUint(user, 10),
			Channel: channel, Mode: string(mode)}, opt)
		if err != nil {
			return nil, nil, err
		}
		return resp.Status, resp.Payment, nil
	})
	if err != nil {
		return pay.Payment{}, err
	}
	return orderrpc.ToPayment(w)
}

// PaymentStatus asks the owner to query the provider about the order's
// latest attempt (see pay.Service.PaymentStatus): the errors of Pay, and
// ErrNoPayment.
func (c *Client) PaymentStatus(ctx context.Context, no inventory.OrderNo, user uint64) (pay.Payment, error) {
	w, err := ask(ctx, c, no.Gene(), true, "payment", func(ctx context.Context, cl ofsvc.Client, opt callopt.Option) (*rpc.Status, *rpc.Payment, error) {
		resp, err := cl.PaymentStatus(ctx, &rpc.PaymentStatusRequest{OrderNo: strconv.FormatUint(uint64(no), 10), UserId: strconv.FormatUint(user, 10)}, opt)
		if err != nil {
			return nil, nil, err
		}
		return resp.Status, resp.Payment, nil
	})
	if err != nil {
		return pay.Payment{}, err
	}
	return orderrpc.ToPayment(w)
}

// Notify hands a provider's notification to the pay service and returns
// the answer to give the provider. Which instance owns the trade is only
// known once the notification is verified (WeChat encrypts it), so it
// goes to the instances in turn; one that does not own the trade's order
// names the owner, and the client asks it (one redirect). Errors:
// ErrUnknownChannel, ErrNoPayService, ErrUnavailable, ErrMisrouted; the
// caller answers the provider with a failure then, and it sends again.
func (c *Client) Notify(ctx context.Context, channel string, header http.Header, body []byte) (payment.Answer, error) {
	t, err := c.Topology(ctx)
	if err != nil {
		return payment.Answer{}, err
	}
	first := int(c.next.Add(1) % uint64(t.Instances))
	var a payment.Answer
	err = c.call(ctx, -1, first, true, func(ctx context.Context, cl ofsvc.Client, opt callopt.Option) (*rpc.Status, error) {
		resp, err := cl.Notify(ctx, &rpc.NotifyRequest{Channel: channel, Header: header, Body: body}, opt)
		if err != nil {
			return nil, err
		}
		a = payment.Answer{Status: int(resp.HttpStatus), ContentType: resp.ContentType, Body: resp.Body}
		return resp.Status, nil
	})
	if err != nil {
		return payment.Answer{}, err
	}
	if a.Status == 0 {
		return payment.Answer{}, fmt.Errorf("%w: an OK answer without its HTTP answer", ErrUnavailable)
	}
	return a, nil
}

// Refund asks the owner of a paid order to refund seats of it (see
// pay.Service.Refund): the refund and whether req.Key named it before.
// Errors: ErrNotFound, ErrNotRefundable, ErrSeatNotInOrder and
// ErrSeatRefunded (inside a *pay.SeatError naming the seat),
// ErrNothingToRefund, ErrRefundExceeds,
// ErrTooManyRefunds, ErrKeyReused, ErrBadRequest, ErrNoPayService,
// ErrUnavailable (the refund may have been recorded: a retry with the
// same key answers it).
func (c *Client) Refund(ctx context.Context, req pay.RefundRequest) (pay.Refund, bool, error) {
	p, owner, err := c.route(ctx, req.OrderNo.Gene())
	if err != nil {
		return pay.Refund{}, false, err
	}
	var w *rpc.Refund
	var replayed bool
	var seat string
	err = c.call(ctx, p, owner, true, func(ctx context.Context, cl ofsvc.Client, opt callopt.Option) (*rpc.Status, error) {
		resp, err := cl.Refund(ctx, &rpc.RefundRequest{OrderNo: strconv.FormatUint(uint64(req.OrderNo), 10),
			UserId: strconv.FormatUint(req.UserID, 10), Operator: req.Operator, SeatIds: req.SeatIDs, Reason: req.Reason,
			RequestKey: req.Key}, opt)
		if err != nil {
			return nil, err
		}
		w, replayed, seat = resp.Refund, resp.Replayed, resp.Seat
		return resp.Status, nil
	})
	if err != nil && seat != "" {
		return pay.Refund{}, false, &pay.SeatError{Err: err, Seat: seat}
	}
	if err != nil {
		return pay.Refund{}, false, err
	}
	if w == nil {
		return pay.Refund{}, false, fmt.Errorf("%w: an OK answer without its refund", ErrUnavailable)
	}
	r, err := orderrpc.ToRefund(w)
	return r, replayed, err
}

// GetRefund reads a refund from the owner of its order (see
// pay.Service.GetRefund): ErrNotFound for a number that is not a refund
// of the buyer's (or, for an operator, of anyone's), ErrNoPayService,
// ErrUnavailable.
func (c *Client) GetRefund(ctx context.Context, refundNo string, user uint64, operator bool) (pay.Refund, error) {
	no, err := pay.ParseRefundNo(refundNo)
	if err != nil {
		return pay.Refund{}, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	w, err := ask(ctx, c, no.Gene(), false, "refund", func(ctx context.Context, cl ofsvc.Client, opt callopt.Option) (*rpc.Status, *rpc.Refund, error) {
		resp, err := cl.GetRefund(ctx, &rpc.GetRefundRequest{RefundNo: refundNo, UserId: strconv.FormatUint(user, 10), Operator: operator}, opt)
		if err != nil {
			return nil, nil, err
		}
		return resp.Status, resp.Refund, nil
	})
	if err != nil {
		return pay.Refund{}, err
	}
	return orderrpc.ToRefund(w)
}
