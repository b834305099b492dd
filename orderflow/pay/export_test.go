package pay

import (
	"errors"
	"log/slog"
	"strconv"
	"testing"

	"seatd/inventory"
)

// TestExport pages through a partition's pay store with every page size
// from 1 to past its records: each refund, then each trade, once, and a
// page never holds more than its limit of both together.
func TestExport(t *testing.T) {
	st, err := openStore(t.TempDir(), 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	const trades, refunds = 5, 3
	for i := range trades {
		no := inventory.OrderNo(65536 * (i + 1))
		tr := Trade{OutTradeNo: OutTradeNo(no, 1), OrderNo: strconv.FormatUint(uint64(no), 10), Attempt: 1, State: StateOpen}
		if err := st.write(&tr, false); err != nil {
			t.Fatal(err)
		}
		if i < refunds {
			if err := st.writeRefund(&Refund{OutRequestNo: RefundNo(tr.OutTradeNo), OutTradeNo: tr.OutTradeNo, OrderNo: tr.OrderNo, State: RefundSucceeded}, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	for limit := 1; limit <= trades+refunds+1; limit++ {
		var got []string
		var after []byte
		for {
			page, err := st.export(after, limit)
			if err != nil {
				t.Fatalf("export(limit %d) = %v", limit, err)
			}
			if n := len(page.Trades) + len(page.Refunds); n > limit || (n < limit && page.Next != "") {
				t.Fatalf("limit %d: a page of %d records, next %q", limit, n, page.Next)
			}
			for _, r := range page.Refunds {
				got = append(got, r.OutRequestNo)
			}
			for _, tr := range page.Trades {
				got = append(got, tr.OutTradeNo)
			}
			if page.Next == "" {
				break
			}
			k, err := decodeCursor(page.Next)
			if err != nil {
				t.Fatal(err)
			}
			after = k
		}
		want := []string{"R65536_01", "R131072_01", "R196608_01", "65536_01", "131072_01", "196608_01", "262144_01", "327680_01"}
		if len(got) != len(want) {
			t.Fatalf("limit %d: exported %v; want %v", limit, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("limit %d: exported %v; want %v", limit, got, want)
			}
		}
	}
	if _, err := decodeCursor("!"); !errors.Is(err, ErrBadExport) {
		t.Errorf("decodeCursor(!) = %v; want ErrBadExport", err)
	}
}
