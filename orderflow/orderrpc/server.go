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
//	BAD_REQUEST  4  an id that is not a decimal number, a limit or partition out of range, a malformed cursor or day
//	NOT_PAYABLE ... NO_PAY_SERVICE  5-12  the pay service's outcomes (idl/orderflow.thrift)
//
// Concurrency: Kitex calls the handlers from many goroutines; the service
// is safe for concurrent use, and a Server's only state of its own is its
// cache of downloaded bills, guarded by its lock.
package orderrpc

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"seatd/inventory"
	rpc "seatd/kitex_gen/orderflowrpc"
	"seatd/orderflow"
	"seatd/orderflow/events"
	"seatd/orderflow/orders"
	"seatd/orderflow/pay"
	"seatd/orderflow/payment"
)

// Orders is what the server needs of the order service
// (*orderflow.Service).
type Orders interface {
	Order(no inventory.OrderNo) (orders.Order, error)
	Orders(user uint64, cursor string, limit int) (orders.Page, error)
	Describe() orderflow.Description
	PartitionOfOrder(no inventory.OrderNo) int
	PartitionOfUser(user uint64) int
	ExportOrders(partition int, cursor string, limit int) (orders.ExportPage, error)
}

// Payments is what the server needs of the pay service (*pay.Service).
type Payments interface {
	Pay(ctx context.Context, no inventory.OrderNo, user uint64, channel string, mode payment.Mode) (pay.Payment, error)
	PaymentStatus(ctx context.Context, no inventory.OrderNo, user uint64) (pay.Payment, error)
	Notify(ctx context.Context, channel string, header http.Header, body []byte) (payment.Answer, error)
	Refund(ctx context.Context, req pay.RefundRequest) (pay.Refund, bool, error)
	GetRefund(refundNo string, user uint64, operator bool) (pay.Refund, error)
	Export(partition int, cursor string, limit int) (pay.ExportPage, error)
	Bill(ctx context.Context, channel string, day time.Time) ([]payment.BillLine, error)
}

// Server implements the generated OrderFlow service.
type Server struct {
	svc Orders
	pay Payments // nil: the pay methods answer NO_PAY_SERVICE
	// bills keeps the bills the Bill method downloaded, so that paging
	// through one downloads it once (export.go).
	bills *billCache
}

var _ rpc.OrderFlow = (*Server)(nil)

// New returns a Server over svc.
func New(svc Orders) *Server { return &Server{svc: svc, bills: newBillCache()} }

// WithPay returns the server serving the pay methods with p too.
func (s *Server) WithPay(p Payments) *Server { return &Server{svc: s.svc, pay: p, bills: s.bills} }

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
	case errors.Is(err, orders.ErrBadLimit), errors.Is(err, orders.ErrBadCursor), errors.Is(err, orders.ErrBadExportLimit),
		errors.Is(err, pay.ErrBadExport):
		st.Code = rpc.Code_BAD_REQUEST
	case errors.Is(err, pay.ErrNotFound):
		st.Code = rpc.Code_NOT_FOUND
	case errors.Is(err, pay.ErrNotPayable):
		st.Code = rpc.Code_NOT_PAYABLE
	case errors.Is(err, pay.ErrUnknownChannel):
		st.Code = rpc.Code_UNKNOWN_CHANNEL
	case errors.Is(err, pay.ErrUnsupportedMode):
		st.Code = rpc.Code_UNSUPPORTED_MODE
	case errors.Is(err, pay.ErrTooManyAttempts):
		st.Code = rpc.Code_TOO_MANY_ATTEMPTS
	case errors.Is(err, pay.ErrProviderUnavailable):
		st.Code = rpc.Code_PROVIDER_UNAVAILABLE
	case errors.Is(err, pay.ErrNoPayment):
		st.Code = rpc.Code_NO_PAYMENT
	case errors.Is(err, pay.ErrOverloaded):
		st.Code = rpc.Code_OVERLOADED
	case errors.Is(err, pay.ErrRefundNotFound):
		st.Code = rpc.Code_NOT_FOUND
	case errors.Is(err, pay.ErrNotRefundable):
		st.Code = rpc.Code_NOT_REFUNDABLE
	case errors.Is(err, pay.ErrSeatNotInOrder):
		st.Code = rpc.Code_SEAT_NOT_IN_ORDER
	case errors.Is(err, pay.ErrSeatRefunded):
		st.Code = rpc.Code_SEAT_REFUNDED
	case errors.Is(err, pay.ErrNothingToRefund):
		st.Code = rpc.Code_NOTHING_TO_REFUND
	case errors.Is(err, pay.ErrRefundExceeds):
		st.Code = rpc.Code_REFUND_EXCEEDS
	case errors.Is(err, pay.ErrTooManyRefunds):
		st.Code = rpc.Code_TOO_MANY_REFUNDS
	case errors.Is(err, pay.ErrKeyReused):
		st.Code = rpc.Code_KEY_REUSED
	case errors.Is(err, pay.ErrBadRefund):
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
	for _, r := range o.Refunds {
		w.Refunds = append(w.Refunds, &rpc.OrderRefund{RefundNo: r.OutRequestNo, OutTradeNo: r.OutTradeNo, AmountCents: r.AmountCents,
			Status: refundStatus(r.Outcome), SeatIds: r.SeatIDs})
	}
	return w
}

// refundStatus names a refund's outcome as the refund shape does.
func refundStatus(t events.Type) string {
	if t == events.RefundSucceeded {
		return string(pay.RefundSucceeded)
	}
	return string(pay.RefundFailed)
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
	for _, r := range w.Refunds {
		outcome := events.RefundFailed
		if r.Status == string(pay.RefundSucceeded) {
			outcome = events.RefundSucceeded
		}
		o.Refunds = append(o.Refunds, orders.Refund{OutRequestNo: r.RefundNo, OutTradeNo: r.OutTradeNo, AmountCents: r.AmountCents,
			Outcome: outcome, SeatIDs: r.SeatIds})
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

func noPay() *rpc.Status {
	return &rpc.Status{Code: rpc.Code_NO_PAY_SERVICE, CodeName: rpc.Code_NO_PAY_SERVICE.String(),
		Detail: "this instance runs no pay service (no payment provider configured)"}
}

// ids parses an order number and a user id.
func ids(orderNo, userID string) (inventory.OrderNo, uint64, *rpc.Status) {
	n, err := strconv.ParseUint(orderNo, 10, 64)
	if err != nil {
		return 0, 0, badRequest("order_no: want a decimal number")
	}
	u, err := strconv.ParseUint(userID, 10, 64)
	if err != nil {
		return 0, 0, badRequest("user_id: want a decimal number")
	}
	return inventory.OrderNo(n), u, nil
}

// Pay makes a payment attempt.
func (s *Server) Pay(ctx context.Context, req *rpc.PayRequest) (*rpc.PayResponse, error) {
	if s.pay == nil {
		return &rpc.PayResponse{Status: noPay()}, nil
	}
	no, user, bad := ids(req.OrderNo, req.UserId)
	if bad != nil {
		return &rpc.PayResponse{Status: bad}, nil
	}
	p, err := s.pay.Pay(ctx, no, user, req.Channel, payment.Mode(req.Mode))
	resp := &rpc.PayResponse{Status: status(s.svc.PartitionOfOrder(no), err)}
	if err == nil {
		resp.Payment = FromPayment(&p)
	}
	return resp, nil
}

// PaymentStatus queries the latest attempt.
func (s *Server) PaymentStatus(ctx context.Context, req *rpc.PaymentStatusRequest) (*rpc.PaymentStatusResponse, error) {
	if s.pay == nil {
		return &rpc.PaymentStatusResponse{Status: noPay()}, nil
	}
	no, user, bad := ids(req.OrderNo, req.UserId)
	if bad != nil {
		return &rpc.PaymentStatusResponse{Status: bad}, nil
	}
	p, err := s.pay.PaymentStatus(ctx, no, user)
	resp := &rpc.PaymentStatusResponse{Status: status(s.svc.PartitionOfOrder(no), err)}
	if err == nil || (errors.Is(err, pay.ErrProviderUnavailable) && p.OutTradeNo != "") {
		resp.Payment = FromPayment(&p)
	}
	return resp, nil
}

// Notify applies a provider's notification and returns the answer for
// it. Errors of the service besides NOT_OWNER still carry its answer (a
// failure, so the provider sends it again).
func (s *Server) Notify(ctx context.Context, req *rpc.NotifyRequest) (*rpc.NotifyResponse, error) {
	if s.pay == nil {
		return &rpc.NotifyResponse{Status: noPay()}, nil
	}
	a, err := s.pay.Notify(ctx, req.Channel, http.Header(req.Header), req.Body)
	var noe *orderflow.NotOwnerError
	resp := &rpc.NotifyResponse{Status: status(0, nil), HttpStatus: int32(a.Status), ContentType: a.ContentType, Body: a.Body}
	switch {
	case errors.As(err, &noe):
		resp.Status = status(noe.Partition, err)
	case errors.Is(err, pay.ErrUnknownChannel):
		resp.Status = status(0, err)
	case err != nil && a.Status == 0:
		resp.Status = status(0, err)
	}
	return resp, nil
}

// FromPayment converts a payment attempt to its wire form.
func FromPayment(p *pay.Payment) *rpc.Payment {
	return &rpc.Payment{OrderNo: p.OrderNo, OutTradeNo: p.OutTradeNo, TradeNo: p.TradeNo, Channel: p.Channel, Mode: string(p.Mode),
		AmountCents: p.AmountCents, QrCode: p.QRCode, PayUrl: p.PayURL, Status: string(p.Status),
		TimeExpire: rfc3339(p.TimeExpire), PaidAt: rfc3339(p.PaidAt)}
}

// ToPayment converts a payment attempt from its wire form.
func ToPayment(w *rpc.Payment) (pay.Payment, error) {
	p := pay.Payment{OrderNo: w.OrderNo, OutTradeNo: w.OutTradeNo, TradeNo: w.TradeNo, Channel: w.Channel, Mode: payment.Mode(w.Mode),
		AmountCents: w.AmountCents, QRCode: w.QrCode, PayURL: w.PayUrl, Status: payment.TradeState(w.Status)}
	var errs []error
	var err error
	p.TimeExpire, err = parseTime(w.TimeExpire)
	errs = append(errs, err)
	p.PaidAt, err = parseTime(w.PaidAt)
	errs = append(errs, err)
	return p, errors.Join(errs...)
}

// Refund refunds seats of a paid order.
func (s *Server) Refund(ctx context.Context, req *rpc.RefundRequest) (*rpc.RefundResponse, error) {
	if s.pay == nil {
		return &rpc.RefundResponse{Status: noPay()}, nil
	}
	user := "0"
	if !req.Operator {
		user = req.UserId
	}
	no, u, bad := ids(req.OrderNo, user)
	if bad != nil {
		return &rpc.RefundResponse{Status: bad}, nil
	}
	r, replayed, err := s.pay.Refund(ctx, pay.RefundRequest{OrderNo: no, UserID: u, Operator: req.Operator, SeatIDs: req.SeatIds,
		Reason: req.Reason, Key: req.RequestKey})
	resp := &rpc.RefundResponse{Status: status(s.svc.PartitionOfOrder(no), err), Replayed: replayed}
	var se *pay.SeatError
	if errors.As(err, &se) {
		resp.Seat = se.Seat
	}
	if err == nil {
		resp.Refund = FromRefund(&r)
	}
	return resp, nil
}

// GetRefund reads a refund.
func (s *Server) GetRefund(_ context.Context, req *rpc.GetRefundRequest) (*rpc.GetRefundResponse, error) {
	if s.pay == nil {
		return &rpc.GetRefundResponse{Status: noPay()}, nil
	}
	var user uint64
	if !req.Operator {
		u, err := strconv.ParseUint(req.UserId, 10, 64)
		if err != nil {
			return &rpc.GetRefundResponse{Status: badRequest("user_id: want a decimal number")}, nil
		}
		user = u
	}
	partition := 0
	if no, err := pay.ParseRefundNo(req.RefundNo); err == nil {
		partition = s.svc.PartitionOfOrder(no)
	}
	r, err := s.pay.GetRefund(req.RefundNo, user, req.Operator)
	resp := &rpc.GetRefundResponse{Status: status(partition, err)}
	if err == nil {
		resp.Refund = FromRefund(&r)
	}
	return resp, nil
}

// FromRefund converts a refund to its wire form.
func FromRefund(r *pay.Refund) *rpc.Refund {
	return &rpc.Refund{RefundNo: r.OutRequestNo, OrderNo: r.OrderNo, OutTradeNo: r.OutTradeNo, Channel: r.Channel,
		AmountCents: r.AmountCents, Status: string(r.State), SeatIds: r.SeatIDs, Reason: r.Reason, Detail: r.Detail,
		Initiator: r.Initiator, CreatedAt: rfc3339(r.CreatedAt), UpdatedAt: rfc3339(r.At), UserId: r.UserID,
		RefundedAt: rfc3339(r.RefundedAt)}
}

// ToRefund converts a refund from its wire form.
func ToRefund(w *rpc.Refund) (pay.Refund, error) {
	r := pay.Refund{OutRequestNo: w.RefundNo, OrderNo: w.OrderNo, OutTradeNo: w.OutTradeNo, Channel: w.Channel,
		AmountCents: w.AmountCents, State: pay.RefundState(w.Status), SeatIDs: w.SeatIds, Reason: w.Reason, Detail: w.Detail,
		Initiator: w.Initiator, UserID: w.UserId}
	var errs []error
	var err error
	r.CreatedAt, err = parseTime(w.CreatedAt)
	errs = append(errs, err)
	r.At, err = parseTime(w.UpdatedAt)
	errs = append(errs, err)
	r.RefundedAt, err = parseTime(w.RefundedAt)
	errs = append(errs, err)
	return r, errors.Join(errs...)
}
