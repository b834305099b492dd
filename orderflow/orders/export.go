package orders

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Export limits.
const (
	// DefaultExportLimit is the page size of an export that names none.
	DefaultExportLimit = 500
	// MaxExportLimit bounds an export page: an order's record is about
	// one or two kilobytes, so a page stays within a couple of megabytes
	// on the wire, and a million orders take a thousand pages.
	MaxExportLimit = 1000
)

// ErrBadExportLimit refuses an export page size out of range.
var ErrBadExportLimit = fmt.Errorf("orders: export limit out of range (want 0 for %d, or 1-%d)", DefaultExportLimit, MaxExportLimit)

// ExportPage is one page of a partition's orders.
type ExportPage struct {
	Orders []Order // by order number
	// Next is the cursor of the next page, "" when this one is the last.
	// It is opaque to callers: the last order's key.
	Next string
}

// Export returns the partition's orders by order number, limit of them
// (0 means DefaultExportLimit) after cursor ("" for the first page, else
// a page's Next): what a reconciliation reads. Each page is read from
// one consistent view of the store; pages are not one view together, so
// an order may change between two of them (the reconciliation re-checks
// what differs). ErrBadExportLimit and ErrBadCursor refuse a request.
func (s *Store) Export(cursor string, limit int) (ExportPage, error) {
	if limit == 0 {
		limit = DefaultExportLimit
	}
	if limit < 1 || limit > MaxExportLimit {
		return ExportPage{}, ErrBadExportLimit
	}
	lower := []byte{kindOrder}
	if cursor != "" {
		after, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || len(after) != 9 || after[0] != kindOrder {
			return ExportPage{}, ErrBadCursor
		}
		lower = append(after, 0) // just past the cursor's key
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: []byte{kindOrder + 1}})
	if err != nil {
		return ExportPage{}, fmt.Errorf("orders: export: %w", err)
	}
	defer it.Close()
	var page ExportPage
	var last []byte
	for it.First(); it.Valid(); it.Next() {
		if len(page.Orders) == limit {
			page.Next = base64.RawURLEncoding.EncodeToString(last)
			break
		}
		var o Order
		if err := json.Unmarshal(it.Value(), &o); err != nil {
			// The store wrote this record itself.
			panic(fmt.Sprintf("orders: stored order %x does not decode: %v", it.Key(), err))
		}
		page.Orders = append(page.Orders, o)
		last = bytes.Clone(it.Key())
	}
	return page, it.Error()
}
