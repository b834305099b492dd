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
	"strconv"
	"sync"
	"time"

	"github.com/cloudwego/kitex/client"

	"seatd/inventory"
	rpc "seatd/kitex_gen/orderflowrpc"
	ofsvc "seatd/kitex_gen/orderflowrpc/orderflow"
	"seatd/orderflow/events"
	"seatd/orderflow/orderrpc"
	"seatd/orderflow/orders"
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
)

// Config configures a Client.
type Config struct {
	// Addrs are the RPC addresses of instances 0, 1, ..., N-1, in that
	// order.
	Addrs []string
	// AttemptTimeout bounds one call to one instance. Default 2s: a read
	// is one or a hundred point reads of a local store.
	AttemptTimeout time.Duration
}

// Topology is what the client learned from Describe.
type Topology struct{ Instances, Partitions int }

// Client routes reads to the owning instance.
type Client struct {
	cfg   Config
	conns []ofsvc.Client // by instance

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
	if cfg.AttemptTimeout < 0 {
		return nil, fmt.Errorf("orderclient: attempt timeout %v: want positive", cfg.AttemptTimeout)
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
// redirect, and maps the answer's Status to the client's errors.
func (c *Client) call(ctx context.Context, partition, owner int, f func(context.Context, ofsvc.Client) (*rpc.Status, error)) error {
	for redirects := 0; ; redirects++ {
		addr := c.cfg.Addrs[owner]
		actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
		st, err := f(actx, c.conns[owner])
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
	p, owner, err := c.route(ctx, no.Gene())
	if err != nil {
		return orders.Order{}, err
	}
	var o *rpc.Order
	err = c.call(ctx, p, owner, func(ctx context.Context, cl ofsvc.Client) (*rpc.Status, error) {
		resp, err := cl.GetOrder(ctx, &rpc.GetOrderRequest{OrderNo: strconv.FormatUint(uint64(no), 10)})
		if err != nil {
			return nil, err
		}
		o = resp.Order
		return resp.Status, nil
	})
	if err != nil {
		return orders.Order{}, err
	}
	if o == nil {
		return orders.Order{}, fmt.Errorf("%w: an OK answer without its order", ErrUnavailable)
	}
	return orderrpc.ToOrder(o)
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
	err = c.call(ctx, p, owner, func(ctx context.Context, cl ofsvc.Client) (*rpc.Status, error) {
		r, err := cl.ListOrders(ctx, &rpc.ListOrdersRequest{UserId: strconv.FormatUint(user, 10), Cursor: cursor, Limit: int32(limit)})
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
