package pay

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"seatd/orderflow"
	"seatd/orderflow/payment"
)

// Export limits.
const (
	// DefaultExportLimit is the page size of an export that names none.
	DefaultExportLimit = 500
	// MaxExportLimit bounds an export page: a trade or refund record is
	// about half a kilobyte, so a page stays within a megabyte.
	MaxExportLimit = 1000
)

// ErrBadExport refuses an export page: a limit out of range or a
// malformed cursor. The error says which.
var ErrBadExport = errors.New("pay: bad export request")

// ExportPage is one page of a partition's pay records: its refunds (by
// key), then its trades (by order number and attempt). A page holds at
// most its limit of both together.
type ExportPage struct {
	Refunds []Refund
	Trades  []Trade
	// Next is the cursor of the next page, "" when this one is the last.
	// It is opaque to callers: the last record's key.
	Next string
}

// exportKinds are the kinds an export walks, in key order.
var exportKinds = []byte{kindRefund, kindTrade}

// Export returns a page of an owned partition's trades and refunds, limit
// of them (0 means DefaultExportLimit) after cursor ("" for the first
// page, else a page's Next): what `orderflow reconcile` reads. Each kind's
// part of a page is read from one consistent view of the store; pages
// are not one view together. Errors: ErrBadExport, a
// *orderflow.NotOwnerError, ErrNotReady.
func (s *Service) Export(partition int, cursor string, limit int) (ExportPage, error) {
	if limit == 0 {
		limit = DefaultExportLimit
	}
	if limit < 1 || limit > MaxExportLimit {
		return ExportPage{}, fmt.Errorf("%w: limit %d: want 0 for %d, or 1-%d", ErrBadExport, limit, DefaultExportLimit, MaxExportLimit)
	}
	var after []byte
	if cursor != "" {
		k, err := decodeCursor(cursor)
		if err != nil {
			return ExportPage{}, err
		}
		after = k
	}
	part, ok := s.parts[partition]
	if !ok {
		return ExportPage{}, &orderflow.NotOwnerError{Partition: partition, Owner: orderflow.Owner(partition, s.instances)}
	}
	done, err := s.reading()
	if err != nil {
		return ExportPage{}, err
	}
	defer done()
	return part.store.export(after, limit)
}

// decodeCursor reads a page's Next back into the last key read.
func decodeCursor(cursor string) ([]byte, error) {
	k, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(k) < 2 || bytes.IndexByte(exportKinds, k[0]) < 0 {
		return nil, fmt.Errorf("%w: malformed cursor", ErrBadExport)
	}
	return k, nil
}

// reading keeps the stores open while an export reads them: Close waits
// for s.wg before it closes them, and the count is taken while the
// service is open (so before Close's Wait).
func (s *Service) reading() (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.closed {
		return nil, ErrNotReady
	}
	s.wg.Add(1)
	return s.wg.Done, nil
}

// export reads up to limit records of the kinds exportKinds after the key
// after (nil: from the first).
func (st *store) export(after []byte, limit int) (ExportPage, error) {
	var page ExportPage
	var last []byte
	n := 0
	for _, kind := range exportKinds {
		lower := []byte{kind}
		switch {
		case after != nil && after[0] > kind:
			continue // this kind was read in full by earlier pages
		case after != nil && after[0] == kind:
			lower = append(bytes.Clone(after), 0)
		}
		it, err := st.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: []byte{kind + 1}})
		if err != nil {
			return ExportPage{}, fmt.Errorf("pay: partition %d: export: %w", st.partition, err)
		}
		for it.First(); it.Valid(); it.Next() {
			if n == limit {
				page.Next = base64.RawURLEncoding.EncodeToString(last)
				break
			}
			if kind == kindRefund {
				var r Refund
				if err := json.Unmarshal(it.Value(), &r); err != nil {
					panic(fmt.Sprintf("pay: stored refund does not decode: %v", err))
				}
				page.Refunds = append(page.Refunds, r)
			} else {
				var t Trade
				if err := json.Unmarshal(it.Value(), &t); err != nil {
					panic(fmt.Sprintf("pay: stored trade does not decode: %v", err))
				}
				page.Trades = append(page.Trades, t)
			}
			last = bytes.Clone(it.Key())
			n++
		}
		err = errors.Join(it.Error(), it.Close())
		if err != nil {
			return ExportPage{}, fmt.Errorf("pay: partition %d: export: %w", st.partition, err)
		}
		if page.Next != "" {
			break
		}
	}
	return page, nil
}

// Bill downloads a provider's bill of a day (the day of day in China
// Standard Time, payment.CST) through the configured provider of
// channel: what `orderflow reconcile` compares the trades with. Errors:
// ErrUnknownChannel, payment.ErrNoBill (none made yet, or no trade that
// day), ErrProviderUnavailable wrapping the provider's error.
func (s *Service) Bill(ctx context.Context, channel string, day time.Time) ([]payment.BillLine, error) {
	prov, ok := s.providers[channel]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownChannel, channel)
	}
	lines, err := prov.Bill(ctx, day)
	switch {
	case errors.Is(err, payment.ErrNoBill):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w: %s bill of %s: %w", ErrProviderUnavailable, channel, day.In(payment.CST).Format(time.DateOnly), err)
	}
	return lines, nil
}
