package orderflow

import (
	"fmt"

	"seatd/orderflow/orders"
)

// ExportOrders returns a page of an owned partition's orders by order
// number (see orders.Store.Export for the cursor and limit): what
// `orderflow reconcile` reads. The errors are those of Order.
func (s *Service) ExportOrders(partition int, cursor string, limit int) (orders.ExportPage, error) {
	part, err := s.serving(partition)
	if err != nil {
		return orders.ExportPage{}, err
	}
	part.closeMu.RLock()
	defer part.closeMu.RUnlock()
	if part.store == nil {
		return orders.ExportPage{}, fmt.Errorf("%w: partition %d is closed", ErrNotReady, part.id)
	}
	return part.store.Export(cursor, limit)
}
