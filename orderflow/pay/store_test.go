package pay

import (
	"errors"
	"testing"

	"seatd/inventory"
)

// TestOutTradeNo: a trade number names its order and attempt, fits both
// providers' rules, and anything else is not one of ours.
func TestOutTradeNo(t *testing.T) {
	for _, c := range []struct {
		no      inventory.OrderNo
		attempt int
		want    string
	}{{65536, 1, "65536_01"}, {9884235, 12, "9884235_12"}, {18446744073709551615, 99, "18446744073709551615_99"}} {
		got := OutTradeNo(c.no, c.attempt)
		if got != c.want {
			t.Errorf("OutTradeNo(%d, %d) = %q; want %q", c.no, c.attempt, got, c.want)
		}
		if len(got) < 6 || len(got) > 32 {
			t.Errorf("OutTradeNo(%d, %d) = %q: %d characters, WeChat takes 6-32", c.no, c.attempt, got, len(got))
		}
		no, a, err := ParseOutTradeNo(got)
		if err != nil || no != c.no || a != c.attempt {
			t.Errorf("ParseOutTradeNo(%q) = %d, %d, %v; want %d, %d", got, no, a, err, c.no, c.attempt)
		}
	}
	for _, s := range []string{"", "65536", "65536_1", "65536_001", "065536_01", "65536_00", "0_01", "x_01", "65536-01", "65536_0x", "18446744073709551616_01"} {
		if _, _, err := ParseOutTradeNo(s); !errors.Is(err, ErrBadTradeNo) {
			t.Errorf("ParseOutTradeNo(%q) = %v; want ErrBadTradeNo", s, err)
		}
	}
}
