package orderrpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	rpc "seatd/kitex_gen/orderflowrpc"
	"seatd/orderflow/payment"
)

// Bill pages and the bill cache.
const (
	// DefaultBillLimit is the page size of a Bill call that names none.
	DefaultBillLimit = 1000
	// MaxBillLimit bounds a Bill page: a line is about a hundred bytes on
	// the wire.
	MaxBillLimit = 5000
	// billCacheTTL is how long a downloaded bill is kept after its last
	// page was read: long enough for a reconciliation to page through it
	// with one download. A read from offset 0 always downloads it anew.
	billCacheTTL = time.Minute
	// maxCachedBills bounds the bills kept at once: a reconciliation reads
	// one (channel, day) at a time; a few let two runs overlap. The least
	// recently read goes first.
	maxCachedBills = 4
)

// ExportOrders answers a page of a partition's order records.
func (s *Server) ExportOrders(_ context.Context, req *rpc.ExportOrdersRequest) (*rpc.ExportOrdersResponse, error) {
	if bad := s.badPartition(req.Partition); bad != nil {
		return &rpc.ExportOrdersResponse{Status: bad}, nil
	}
	page, err := s.svc.ExportOrders(int(req.Partition), req.Cursor, int(req.Limit))
	resp := &rpc.ExportOrdersResponse{Status: status(int(req.Partition), err), NextCursor: page.Next,
		Orders: make([][]byte, len(page.Orders))}
	for i := range page.Orders {
		resp.Orders[i] = record(&page.Orders[i])
	}
	return resp, nil
}

// ExportPayments answers a page of a partition's trade and refund
// records.
func (s *Server) ExportPayments(_ context.Context, req *rpc.ExportPaymentsRequest) (*rpc.ExportPaymentsResponse, error) {
	if s.pay == nil {
		return &rpc.ExportPaymentsResponse{Status: noPay()}, nil
	}
	if bad := s.badPartition(req.Partition); bad != nil {
		return &rpc.ExportPaymentsResponse{Status: bad}, nil
	}
	page, err := s.pay.Export(int(req.Partition), req.Cursor, int(req.Limit))
	resp := &rpc.ExportPaymentsResponse{Status: status(int(req.Partition), err), NextCursor: page.Next,
		Refunds: make([][]byte, len(page.Refunds)), Trades: make([][]byte, len(page.Trades))}
	for i := range page.Refunds {
		resp.Refunds[i] = record(&page.Refunds[i])
	}
	for i := range page.Trades {
		resp.Trades[i] = record(&page.Trades[i])
	}
	return resp, nil
}

// badPartition refuses a partition out of the topics' range.
func (s *Server) badPartition(p int32) *rpc.Status {
	if n := s.svc.Describe().Partitions; p < 0 || int(p) >= n {
		return badRequest(fmt.Sprintf("partition %d: want 0-%d", p, n-1))
	}
	return nil
}

// record encodes a stored record as the store keeps it.
func record(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("orderrpc: a stored record does not encode: %v", err))
	}
	return b
}

// Bill answers a page of a provider's bill of a day. A page at offset 0
// downloads the bill; the later pages come from that download while it is
// kept (billCacheTTL), so that paging through a bill reads it once and
// each new reading of it sees the provider's latest.
func (s *Server) Bill(ctx context.Context, req *rpc.BillRequest) (*rpc.BillResponse, error) {
	if s.pay == nil {
		return &rpc.BillResponse{Status: noPay()}, nil
	}
	day, err := time.ParseInLocation(time.DateOnly, req.Day, payment.CST)
	if err != nil {
		return &rpc.BillResponse{Status: badRequest("day: want YYYY-MM-DD")}, nil
	}
	limit := int(req.Limit)
	if limit == 0 {
		limit = DefaultBillLimit
	}
	if limit < 1 || limit > MaxBillLimit || req.Offset < 0 {
		return &rpc.BillResponse{Status: badRequest(fmt.Sprintf("offset %d, limit %d: want offset >= 0, limit 0 for %d or 1-%d",
			req.Offset, req.Limit, DefaultBillLimit, MaxBillLimit))}, nil
	}
	lines, err := s.bills.get(billKey{req.Channel, req.Day}, time.Now(), req.Offset == 0, func() ([]payment.BillLine, error) {
		return s.pay.Bill(ctx, req.Channel, day)
	})
	if errors.Is(err, payment.ErrNoBill) {
		return &rpc.BillResponse{Status: status(0, nil)}, nil
	}
	resp := &rpc.BillResponse{Status: status(0, err), Available: err == nil, Total: int32(len(lines))}
	from := min(int(req.Offset), len(lines))
	for _, l := range lines[from:min(from+limit, len(lines))] {
		resp.Lines = append(resp.Lines, &rpc.BillLine{Kind: string(l.Kind), OutTradeNo: l.OutTradeNo, TradeNo: l.TradeNo,
			OutRequestNo: l.OutRequestNo, AmountCents: l.AmountCents, At: rfc3339(l.At)})
	}
	return resp, nil
}

// ToBillLine converts a bill line from its wire form.
func ToBillLine(w *rpc.BillLine) (payment.BillLine, error) {
	at, err := parseTime(w.At)
	return payment.BillLine{Kind: payment.BillKind(w.Kind), OutTradeNo: w.OutTradeNo, TradeNo: w.TradeNo, OutRequestNo: w.OutRequestNo,
		AmountCents: w.AmountCents, At: at}, err
}

// billKey names a bill: a channel and a day (YYYY-MM-DD, CST).
type billKey struct{ channel, day string }

// billCache keeps up to maxCachedBills downloaded bills, each for
// billCacheTTL after it was last read.
type billCache struct {
	mu    sync.Mutex // guards bills
	bills map[billKey]*cachedBill
}

type cachedBill struct {
	lines []payment.BillLine
	read  time.Time // last read
}

func newBillCache() *billCache { return &billCache{bills: map[billKey]*cachedBill{}} }

// get returns the bill of k, downloading it with fetch when fresh is
// asked for or it is not kept (or was last read billCacheTTL ago). The download runs without the
// lock; two callers that miss at once both download, and the later
// keeps its copy. Errors are not kept.
func (c *billCache) get(k billKey, now time.Time, fresh bool, fetch func() ([]payment.BillLine, error)) ([]payment.BillLine, error) {
	c.mu.Lock()
	if b, ok := c.bills[k]; ok && !fresh && now.Sub(b.read) < billCacheTTL {
		b.read = now
		c.mu.Unlock()
		return b.lines, nil
	}
	c.mu.Unlock()
	lines, err := fetch()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, b := range c.bills {
		if now.Sub(b.read) >= billCacheTTL {
			delete(c.bills, key)
		}
	}
	delete(c.bills, k)
	for len(c.bills) >= maxCachedBills {
		var oldest billKey
		var at time.Time
		for key, b := range c.bills {
			if at.IsZero() || b.read.Before(at) {
				oldest, at = key, b.read
			}
		}
		delete(c.bills, oldest)
	}
	c.bills[k] = &cachedBill{lines: lines, read: now}
	return lines, nil
}
