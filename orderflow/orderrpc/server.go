// Package orderrpc serves the order service over Kitex (idl/orderflow.thrift)
// and converts between its wire types and the domain's (orders.Order).
// Handlers bind the generated request, parse its ids, call the service,
// and map the outcome to the response's Status; generated types stop here
// and in the routing client (orderflow/orderclient), which uses ToOrder.
//
// Status codes (rpc.Code), stable, never renumbered:
//
//	OK           0  the answer
//	NOT_FOUND    1  the owner has no such order
//	NOT_OWNER    2  another instance owns the partition: Status.owner names it
//	UNAVAILABLE  3  the partition is rebuilding, or the instance is stopping
//	BAD_REQUEST  4  an id that is not a decimal number, a limit out of 1-100, a malformed cursor
//
// Concurrency: Kitex calls the handlers from many goroutines; the service
// is safe for concurrent use and a Server keeps no state of its own.
package orderrpc

import (
	"context"
	"errors"
	"strconv"
	"time"

	"seatd/inventory"
	rpc "seatd/kitex_gen/orderflowrpc"
	"seatd/orderflow"
	"seatd/orderflow/orders"
)

// Orders is what the server needs of the order service
// (*orderflow.Service).
type Orders interface {
	Order(no inventory.OrderNo) (orders.Order, error)
	Orders(user uint64, cursor string, limit int) (orders.Page, error)
	Describe() orderflow.Description
	PartitionOfOrder(no inventory.OrderNo) int
	PartitionOfUser(user uint64) int
}

// Server implements the generated OrderFlow service.
type Server struct{ svc Orders }

var _ rpc.OrderFlow = (*Server)(nil)

// New returns a Server over svc.
func New(svc Orders) *Server { return &Server{svc: svc} }

// status maps the service's outcome to a Status.
func status(partition int, err error) *rpc.Status {
	st := &rpc.Status{Partition: int32(partition)}
	var noe *orderflow.NotOwnerError
	switch {
	case err == nil:
		st.Code = rpc.Code_OK
	case errors.As(err, &noe):
		st.Code, st.Owner = rpc.Code_NOT_OWNER, int32(noe.Owner)
	case errors.Is(err, orders.ErrNotFound):
		st.Code = rpc.Code_NOT_FOUND
	case errors.Is(err, orders.ErrBadLimit), errors.Is(err, orders.ErrBadCursor):
		st.Code = rpc.Code_BAD_REQUEST
	default: // ErrNotReady, a store error: the caller may retry
		st.Code = rpc.Code_UNAVAILABLE
	}
	st.CodeName = st.Code.String()
	if err != nil {
		st.Detail = err.Error()
	}
	return st
}

func badRequest(detail string) *rpc.Status {
	return &rpc.Status{Code: rpc.Code_BAD_REQUEST, CodeName: rpc.Code_BAD_REQUEST.String(), Detail: detail}
}

// GetOrder answers one order.
func (s *Server) GetOrder(_ context.Context, req *rpc.GetOrderRequest) (*rpc.GetOrderResponse, error) {
	n, err := strconv.ParseUint(req.OrderNo, 10, 64)
	if err != nil {
		return &rpc.GetOrderResponse{Status: badRequest("order_no: want a decimal number")}, nil
	}
	no := inventory.OrderNo(n)
	o, err := s.svc.Order(no)
	resp := &rpc.GetOrderResponse{Status: status(s.svc.PartitionOfOrder(no), err)}
	if err == nil {
		resp.Order = FromOrder(&o)
	}
	return resp, nil
}

// ListOrders answers a page of a buyer's orders, newest first.
func (s *Server) ListOrders(_ context.Context, req *rpc.ListOrdersRequest) (*rpc.ListOrdersResponse, error) {
	user, err := strconv.ParseUint(req.UserId, 10, 64)
	if err != nil {
		return &rpc.ListOrdersResponse{Status: badRequest("user_id: want a decimal number")}, nil
	}
	page, err := s.svc.Orders(user, req.Cursor, int(req.Limit))
	resp := &rpc.ListOrdersResponse{Status: status(s.svc.PartitionOfUser(user), err), NextCursor: page.Next,
		Orders: make([]*rpc.Order, len(page.Orders))}
	for i := range page.Orders {
		resp.Orders[i] = FromOrder(&page.Orders[i])
	}
	return resp, nil
}

// Describe answers the instance's place and readiness.
func (s *Server) Describe(context.Context, *rpc.DescribeRequest) (*rpc.DescribeResponse, error) {
	d := s.svc.Describe()
	resp := &rpc.DescribeResponse{Status: status(0, nil), Instance: int32(d.Instance), Instances: int32(d.Instances),
		Partitions: int32(d.Partitions), Ready: d.Ready, Owned: make([]int32, len(d.Owned))}
	for i, p := range d.Owned {
		resp.Owned[i] = int32(p)
	}
	return resp, nil
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// FromOrder converts an order to its wire form. The event it last applied
// stays inside the service: it is for rebuilds, not for callers.
func FromOrder(o *orders.Order) *rpc.Order {
	w := &rpc.Order{
		OrderNo: o.OrderNo, HoldId: o.HoldID, ProgramId: o.ProgramID, UserId: o.UserID, Status: string(o.Status),
		Seats: make([]*rpc.Seat, len(o.Seats)), TotalCents: o.TotalCents, PaidCents: o.PaidCents, RefundedCents: o.RefundedCents,
		CreatedAt: rfc3339(o.CreatedAt), ExpiresAt: rfc3339(o.ExpiresAt), From: int32(o.From), To: int32(o.To),
		FromStop: o.FromStop, ToStop: o.ToStop, Reason: o.Reason, HoldStatus: string(o.HoldStatus),
		UpdatedAt: rfc3339(o.UpdatedAt), Version: int64(o.Version), RefundedSeatIds: o.RefundedSeatIDs,
	}
	for i, s := range o.Seats {
		w.Seats[i] = &rpc.Seat{Id: s.ID, Label: s.Label, Category: s.Category, PriceCents: s.PriceCents}
	}
	return w
}

// ToOrder converts an order from its wire form (without its last event).
func ToOrder(w *rpc.Order) (orders.Order, error) {
	o := orders.Order{
		OrderNo: w.OrderNo, HoldID: w.HoldId, ProgramID: w.ProgramId, UserID: w.UserId, Status: orders.Status(w.Status),
		Seats: make([]orders.Seat, len(w.Seats)), TotalCents: w.TotalCents, PaidCents: w.PaidCents, RefundedCents: w.RefundedCents,
		From: int(w.From), To: int(w.To), FromStop: w.FromStop, ToStop: w.ToStop, Reason: w.Reason,
		HoldStatus: orders.HoldStatus(w.HoldStatus), Version: uint64(w.Version), RefundedSeatIDs: w.RefundedSeatIds,
	}
	for i, s := range w.Seats {
		o.Seats[i] = orders.Seat{ID: s.Id, Label: s.Label, Category: s.Category, PriceCents: s.PriceCents}
	}
	var errs []error
	for _, f := range []struct {
		dst *time.Time
		src string
	}{{&o.CreatedAt, w.CreatedAt}, {&o.ExpiresAt, w.ExpiresAt}, {&o.UpdatedAt, w.UpdatedAt}} {
		t, err := parseTime(f.src)
		errs = append(errs, err)
		*f.dst = t
	}
	return o, errors.Join(errs...)
}
