package orderclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cloudwego/kitex/client/callopt"

	rpc "seatd/kitex_gen/orderflowrpc"
	ofsvc "seatd/kitex_gen/orderflowrpc/orderflow"
	"seatd/orderflow/orderrpc"
	"seatd/orderflow/orders"
	"seatd/orderflow/pay"
	"seatd/orderflow/payment"
)

// owner returns the instance that owns partition p, checking p against
// the topology.
func (c *Client) owner(ctx context.Context, p int) (int, error) {
	t, err := c.Topology(ctx)
	if err != nil {
		return 0, err
	}
	if p < 0 || p >= t.Partitions {
		return 0, fmt.Errorf("%w: partition %d: want 0-%d", ErrBadRequest, p, t.Partitions-1)
	}
	return p % t.Instances, nil
}

// ExportOrders returns a page of partition p's orders by order number
// from its owner: limit 0 means orders.DefaultExportLimit, at most
// orders.MaxExportLimit; cursor "" for the first page, else the previous
// page's Next. Errors: ErrBadRequest, ErrUnavailable, ErrMisrouted.
func (c *Client) ExportOrders(ctx context.Context, p int, cursor string, limit int) (orders.ExportPage, error) {
	owner, err := c.owner(ctx, p)
	if err != nil {
		return orders.ExportPage{}, err
	}
	var resp *rpc.ExportOrdersResponse
	err = c.call(ctx, p, owner, false, func(ctx context.Context, cl ofsvc.Client, opt callopt.Option) (*rpc.Status, error) {
		r, err := cl.ExportOrders(ctx, &rpc.ExportOrdersRequest{Partition: int32(p), Cursor: cursor, Limit: int32(limit)}, opt)
		if err != nil {
			return nil, err
		}
		resp = r
		return r.Status, nil
	})
	if err != nil {
		return orders.ExportPage{}, err
	}
	page := orders.ExportPage{Next: resp.NextCursor, Orders: make([]orders.Order, len(resp.Orders))}
	for i, b := range resp.Orders {
		if err := json.Unmarshal(b, &page.Orders[i]); err != nil {
			return orders.ExportPage{}, fmt.Errorf("%w: partition %d: an order record that does not decode: %w", ErrUnavailable, p, err)
		}
	}
	return page, nil
}

// ExportPayments returns a page of partition p's refunds and trades from
// its owner's pay service (see pay.Service.Export for the order, cursor
// and limit). Errors: those of ExportOrders, ErrNoPayService.
func (c *Client) ExportPayments(ctx context.Context, p int, cursor string, limit int) (pay.ExportPage, error) {
	owner, err := c.owner(ctx, p)
	if err != nil {
		return pay.ExportPage{}, err
	}
	var resp *rpc.ExportPaymentsResponse
	err = c.call(ctx, p, owner, false, func(ctx context.Context, cl ofsvc.Client, opt callopt.Option) (*rpc.Status, error) {
		r, err := cl.ExportPayments(ctx, &rpc.ExportPaymentsRequest{Partition: int32(p), Cursor: cursor, Limit: int32(limit)}, opt)
		if err != nil {
			return nil, err
		}
		resp = r
		return r.Status, nil
	})
	if err != nil {
		return pay.ExportPage{}, err
	}
	page := pay.ExportPage{Next: resp.NextCursor, Refunds: make([]pay.Refund, len(resp.Refunds)), Trades: make([]pay.Trade, len(resp.Trades))}
	for i, b := range resp.Refunds {
		if err := json.Unmarshal(b, &page.Refunds[i]); err != nil {
			return pay.ExportPage{}, fmt.Errorf("%w: partition %d: a refund record that does not decode: %w", ErrUnavailable, p, err)
		}
	}
	for i, b := range resp.Trades {
		if err := json.Unmarshal(b, &page.Trades[i]); err != nil {
			return pay.ExportPage{}, fmt.Errorf("%w: partition %d: a trade record that does not decode: %w", ErrUnavailable, p, err)
		}
	}
	return page, nil
}

// BillPage is one page of a provider's bill of a day.
type BillPage struct {
	// Available is false when the provider has no bill for the day (not
	// made yet, or no trade that day).
	Available bool
	Lines     []payment.BillLine
	Total     int // the bill's line count
}

// Bill returns lines [offset, offset+limit) of a provider's bill of day
// (the day of day in China Standard Time, payment.CST), fetched by the
// pay service of the first instance that answers (each has the same
// providers); limit 0 means orderrpc.DefaultBillLimit, at most
// orderrpc.MaxBillLimit. A page at offset 0 has the instance download
// the bill anew; it serves the later pages from that download (for a
// minute after the last page read). Errors: ErrUnknownChannel (no
// instance offers it), ErrProviderUnavailable, ErrNoPayService,
// ErrBadRequest, ErrUnavailable.
func (c *Client) Bill(ctx context.Context, channel string, day time.Time, offset, limit int) (BillPage, error) {
	t, err := c.Topology(ctx)
	if err != nil {
		return BillPage{}, err
	}
	req := &rpc.BillRequest{Channel: channel, Day: day.In(payment.CST).Format(time.DateOnly), Offset: int32(offset), Limit: int32(limit)}
	var errs []error
	for i := range t.Instances {
		var resp *rpc.BillResponse
		err := c.call(ctx, -1, i, true, func(ctx context.Context, cl ofsvc.Client, opt callopt.Option) (*rpc.Status, error) {
			r, err := cl.Bill(ctx, req, opt)
			if err != nil {
				return nil, err
			}
			resp = r
			return r.Status, nil
		})
		if errors.Is(err, ErrUnavailable) {
			errs = append(errs, err)
			continue // another instance has the same providers
		}
		if err != nil {
			return BillPage{}, err
		}
		page := BillPage{Available: resp.Available, Total: int(resp.Total), Lines: make([]payment.BillLine, len(resp.Lines))}
		for j, w := range resp.Lines {
			if page.Lines[j], err = orderrpc.ToBillLine(w); err != nil {
				return BillPage{}, fmt.Errorf("%w: %s bill line %d: %w", ErrUnavailable, channel, offset+j, err)
			}
		}
		return page, nil
	}
	return BillPage{}, errors.Join(errs...)
}
