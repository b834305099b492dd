package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"seatd/inventory"
	rpc "seatd/kitex_gen/inventoryrpc"
	"seatd/orderflow/events"
	"seatd/orderflow/orderclient"
	"seatd/orderflow/orders"
	"seatd/orderflow/pay"
	"seatd/orderflow/payment"
)

// Orders is what a reconciliation reads of the order flow
// (*orderclient.Client).
type Orders interface {
	Topology(ctx context.Context) (orderclient.Topology, error)
	ExportOrders(ctx context.Context, p int, cursor string, limit int) (orders.ExportPage, error)
	ExportPayments(ctx context.Context, p int, cursor string, limit int) (pay.ExportPage, error)
	Bill(ctx context.Context, channel string, day time.Time, offset, limit int) (orderclient.BillPage, error)
}

// Inventory is what a reconciliation reads of seatd (*seatclient.Client).
type Inventory interface {
	ClusterStatus(ctx context.Context) (*rpc.ClusterStatusResponse, error)
	GetProgram(ctx context.Context, req *rpc.GetProgramRequest) (*rpc.GetProgramResponse, error)
	SeatMap(ctx context.Context, req *rpc.SeatMapRequest) (*rpc.SeatMapResponse, error)
	GetHold(ctx context.Context, req *rpc.GetHoldRequest) (*rpc.HoldResponse, error)
}

// Defaults and bounds of Config.
const (
	// DefaultSettle is how long Run waits before it checks again what
	// differed: a payment's confirm, a refund's provider call, an open
	// trade's close at expiry each settle within a few of the services'
	// one-second scans.
	DefaultSettle = 10 * time.Second
	// DefaultMaxRecords bounds what one snapshot holds in memory: orders,
	// trades, refunds, holds and bill lines together, at about a
	// kilobyte each. Past it Collect fails (ErrTooLarge) rather than
	// grow: reconcile a deployment that large by parts.
	DefaultMaxRecords = 4_000_000
	// DefaultHoldReads bounds the GetHold calls under way at once: each
	// is one read of a group's leader.
	DefaultHoldReads = 16
	// pageLimit is the page size of the exports (their maximum).
	pageLimit = orders.MaxExportLimit
)

// channels are the payment channels whose bills are asked for (those
// the pay service offers: a channel without a provider is a note).
var channels = []string{events.ChannelAlipay, events.ChannelWechat}

// ErrTooLarge is a snapshot past Config.MaxRecords.
var ErrTooLarge = errors.New("reconcile: more records than the snapshot may hold")

// Config configures Collect and Run.
type Config struct {
	Orders    Orders    // required
	Inventory Inventory // required
	// Days are the bill days (their date in China Standard Time counts);
	// none: the days on which the PAID trades were paid and the
	// SUCCEEDED refunds made.
	Days []time.Time
	// Settle is how long Run waits before checking again (0: one check,
	// every difference reported).
	Settle time.Duration
	// MaxRecords bounds a snapshot (default DefaultMaxRecords).
	MaxRecords int
	// HoldReads bounds the GetHold calls at once (default
	// DefaultHoldReads).
	HoldReads int
	// Now is the clock of a snapshot's time (time.Now when nil).
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.MaxRecords == 0 {
		c.MaxRecords = DefaultMaxRecords
	}
	if c.HoldReads == 0 {
		c.HoldReads = DefaultHoldReads
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Collect reads a snapshot: every partition's orders and pay records,
// each order's hold and every program's sold seats from seatd, and the
// bills of the days. The parts are read one after another, so the
// snapshot is not one instant of the system: Run re-checks what differs.
// Notes say what could not be compared (a bill not made yet, no pay
// service). Errors: a service that did not answer, ErrTooLarge.
func Collect(ctx context.Context, cfg Config) (s *Snapshot, notes []string, err error) {
	cfg = cfg.withDefaults()
	s = &Snapshot{Holds: map[string]Hold{}}
	records := func(n int) error {
		if len(s.Orders)+len(s.Trades)+len(s.Refunds)+len(s.Holds)+n > cfg.MaxRecords {
			return fmt.Errorf("%w: %d", ErrTooLarge, cfg.MaxRecords)
		}
		return nil
	}
	topo, err := cfg.Orders.Topology(ctx)
	if err != nil {
		return nil, nil, err
	}
	payService := false
	for p := range topo.Partitions {
		for cursor := ""; ; {
			page, err := cfg.Orders.ExportOrders(ctx, p, cursor, pageLimit)
			if err != nil {
				return nil, nil, fmt.Errorf("orders of partition %d: %w", p, err)
			}
			if err := records(len(page.Orders)); err != nil {
				return nil, nil, err
			}
			s.Orders = append(s.Orders, page.Orders...)
			if cursor = page.Next; cursor == "" {
				break
			}
		}
		for cursor := ""; ; {
			page, err := cfg.Orders.ExportPayments(ctx, p, cursor, pageLimit)
			if errors.Is(err, orderclient.ErrNoPayService) {
				notes = append(notes, fmt.Sprintf("partition %d: its owner runs no pay service: no trades or refunds to compare", p))
				break
			}
			if err != nil {
				return nil, nil, fmt.Errorf("trades and refunds of partition %d: %w", p, err)
			}
			payService = true
			if err := records(len(page.Trades) + len(page.Refunds)); err != nil {
				return nil, nil, err
			}
			s.Trades = append(s.Trades, page.Trades...)
			s.Refunds = append(s.Refunds, page.Refunds...)
			if cursor = page.Next; cursor == "" {
				break
			}
		}
	}
	if err := collectHolds(ctx, cfg, s); err != nil {
		return nil, nil, err
	}
	if err := collectSold(ctx, cfg, s); err != nil {
		return nil, nil, err
	}
	if payService {
		n, err := collectBills(ctx, cfg, s, records)
		if err != nil {
			return nil, nil, err
		}
		notes = append(notes, n...)
	}
	s.At = cfg.Now()
	return s, notes, nil
}

// collectHolds reads each order's hold from seatd, HoldReads at a time.
func collectHolds(ctx context.Context, cfg Config, s *Snapshot) error {
	ids := make([]string, 0, len(s.Orders))
	for i := range s.Orders {
		ids = append(ids, s.Orders[i].HoldID)
	}
	holds, err := ReadHolds(ctx, cfg.Inventory, ids, cfg.HoldReads)
	if err != nil {
		return err
	}
	s.Holds = holds
	return nil
}

// HoldReader reads holds from seatd (*seatclient.Client).
type HoldReader interface {
	GetHold(ctx context.Context, req *rpc.GetHoldRequest) (*rpc.HoldResponse, error)
}

// ReadHolds reads the holds of ids (each once; an id that is not a
// number is a hold not found), through their groups' leaders, reads at a
// time (at least 1). A hold seatd does not know has Found false. The
// error joins every read that failed.
func ReadHolds(ctx context.Context, inv HoldReader, ids []string, reads int) (map[string]Hold, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	out := make(map[string]Hold, len(ids))
	var mu sync.Mutex // guards out and errs
	var errs []error
	work := make(chan string)
	var wg sync.WaitGroup
	for range min(max(reads, 1), len(ids)) {
		wg.Go(func() {
			for id := range work {
				h, err := readHold(ctx, inv, id)
				mu.Lock()
				out[id] = h
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	return out, errors.Join(errs...)
}

// readHold reads one hold (through its group's leader).
func readHold(ctx context.Context, inv HoldReader, id string) (Hold, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return Hold{ID: id}, nil // an order with a malformed hold id: no hold
	}
	resp, err := inv.GetHold(ctx, &rpc.GetHoldRequest{HoldId: n, Consistent: true})
	if err != nil {
		return Hold{}, fmt.Errorf("hold %s: %w", id, err)
	}
	switch st := resp.Status; {
	case st.Route == rpc.Route_OK && st.Code == int32(inventory.ResultHoldNotFound):
		return Hold{ID: id}, nil
	case st.Route != rpc.Route_OK || st.Code != 0 || resp.Hold == nil:
		return Hold{}, fmt.Errorf("hold %s: seatd answered %v %s: %s", id, st.Route, st.CodeName, st.Detail)
	}
	w := resp.Hold
	h := Hold{Found: true, ID: id, OrderNo: strconv.FormatUint(uint64(w.OrderNo), 10), ProgramID: w.ProgramId,
		Status: orders.HoldStatus(w.Status), From: int(w.FromLeg), To: int(w.ToLeg), Seats: make([]HoldSeat, len(w.Seats))}
	for i, seat := range w.Seats {
		h.Seats[i] = HoldSeat{ID: seat.Id, Refunded: seat.Refunded}
	}
	return h, nil
}

// collectSold reads every program's seat map, leg by leg, and keeps the
// seats sold.
func collectSold(ctx context.Context, cfg Config, s *Snapshot) error {
	cs, err := cfg.Inventory.ClusterStatus(ctx)
	if err != nil {
		return fmt.Errorf("seatd's cluster status: %w", err)
	}
	for _, pl := range cs.Placements {
		id := pl.ProgramId
		p, err := cfg.Inventory.GetProgram(ctx, &rpc.GetProgramRequest{ProgramId: id})
		if err != nil {
			return fmt.Errorf("program %s: %w", id, err)
		}
		if err := answered(p.Status); err != nil {
			return fmt.Errorf("program %s: %w", id, err)
		}
		spec, rest, err := inventory.ReadProgramSpec(p.Spec)
		if err == nil && len(rest) != 0 {
			err = fmt.Errorf("%d bytes after it", len(rest))
		}
		if err != nil {
			return fmt.Errorf("program %s: seatd's description does not decode: %w", id, err)
		}
		var seats []string // in seat order, as the seat map has them
		for _, sec := range spec.Layout.Sections {
			for _, row := range sec.Rows {
				for _, seat := range row.Seats {
					seats = append(seats, sec.ID+"/"+row.ID+"/"+strconv.Itoa(seat.Col))
				}
			}
		}
		for leg := range len(spec.Stops) - 1 {
			m, err := cfg.Inventory.SeatMap(ctx, &rpc.SeatMapRequest{ProgramId: id, FromLeg: int32(leg), ToLeg: int32(leg + 1), Consistent: true})
			if err != nil {
				return fmt.Errorf("program %s, leg %d: %w", id, leg, err)
			}
			if err := answered(m.Status); err != nil {
				return fmt.Errorf("program %s, leg %d: %w", id, leg, err)
			}
			if len(m.Statuses) != len(seats) {
				return fmt.Errorf("program %s, leg %d: seatd sent %d seat statuses for %d seats", id, leg, len(m.Statuses), len(seats))
			}
			for i, st := range m.Statuses {
				if inventory.SeatStatus(st) == inventory.SeatSold {
					s.Sold = append(s.Sold, SeatLeg{Program: id, Seat: seats[i], Leg: leg})
				}
			}
		}
		s.Programs = append(s.Programs, id)
	}
	return nil
}

func answered(st *rpc.Status) error {
	if st.Route != rpc.Route_OK || st.Code != 0 {
		return fmt.Errorf("seatd answered %v %s: %s", st.Route, st.CodeName, st.Detail)
	}
	return nil
}

// collectBills reads the bills of each channel's days: cfg.Days for
// every channel, or the days its PAID trades and SUCCEEDED refunds
// touch.
func collectBills(ctx context.Context, cfg Config, s *Snapshot, records func(int) error) (notes []string, err error) {
	days := map[string]map[string]time.Time{} // channel -> YYYY-MM-DD -> a time of the day
	touch := func(channel string, t time.Time) {
		if days[channel] == nil {
			days[channel] = map[string]time.Time{}
		}
		days[channel][t.In(payment.CST).Format(time.DateOnly)] = t
	}
	if len(cfg.Days) > 0 {
		for _, ch := range channels {
			for _, d := range cfg.Days {
				touch(ch, d)
			}
		}
	} else {
		for _, t := range s.Trades {
			if t.State == pay.StatePaid {
				touch(t.Channel, t.PaidAt)
			}
		}
		for _, r := range s.Refunds {
			if r.State == pay.RefundSucceeded {
				touch(r.Channel, r.At)
			}
		}
	}
	lines := 0
	for _, ch := range channels {
	days:
		for _, d := range slices.Sorted(maps.Keys(days[ch])) {
			b := Bill{Channel: ch, Day: d, Available: true}
			for offset := 0; ; {
				page, err := cfg.Orders.Bill(ctx, ch, days[ch][d], offset, 0)
				switch {
				case errors.Is(err, orderclient.ErrUnknownChannel):
					notes = append(notes, fmt.Sprintf("%s: no provider configured: its bills are not compared", ch))
					break days
				case err != nil:
					return nil, fmt.Errorf("the %s bill of %s: %w", ch, d, err)
				case !page.Available:
					notes = append(notes, fmt.Sprintf("%s bill of %s: none (the providers make a day's bill the next morning): not compared", ch, d))
					b.Available = false
				}
				if !b.Available {
					break
				}
				lines += len(page.Lines)
				if err := records(lines); err != nil {
					return nil, err
				}
				b.Lines = append(b.Lines, page.Lines...)
				offset += len(page.Lines)
				if len(page.Lines) == 0 || offset >= page.Total {
					break
				}
			}
			s.Bills = append(s.Bills, b)
		}
	}
	return notes, nil
}
