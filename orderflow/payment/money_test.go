package payment

import (
	"errors"
	"testing"
)

func TestYuan(t *testing.T) {
	for _, tc := range []struct {
		cents int64
		want  string
	}{{0, "0.00"}, {1, "0.01"}, {5, "0.05"}, {10, "0.10"}, {1234, "12.34"}, {100, "1.00"}, {-50, "-0.50"}, {MaxCents, "100000000.00"}} {
		if got := Yuan(tc.cents); got != tc.want {
			t.Errorf("Yuan(%d) = %q; want %q", tc.cents, got, tc.want)
		}
		if back, err := ParseYuan(tc.want); err != nil || back != tc.cents {
			t.Errorf("ParseYuan(%q) = %d, %v; want %d", tc.want, back, err, tc.cents)
		}
	}
	for _, s := range []string{"12.3", "12"} {
		if _, err := ParseYuan(s); err != nil {
			t.Errorf("ParseYuan(%q) = %v", s, err)
		}
	}
	if c, _ := ParseYuan("12.3"); c != 1230 {
		t.Errorf("ParseYuan(12.3) = %d; want 1230", c)
	}
	for _, bad := range []string{"", ".5", "1.", "1.234", "1,00", "1e3", " 1.00", "+1", "100000000.01", "0x10", "1.-1"} {
		if c, err := ParseYuan(bad); !errors.Is(err, ErrAmount) {
			t.Errorf("ParseYuan(%q) = %d, %v; want ErrAmount", bad, c, err)
		}
	}
}

func FuzzYuan(f *testing.F) {
	f.Add(int64(1234))
	f.Fuzz(func(t *testing.T, c int64) {
		c %= MaxCents + 1
		if back, err := ParseYuan(Yuan(c)); err != nil || back != c {
			t.Fatalf("ParseYuan(Yuan(%d)) = %d, %v", c, back, err)
		}
	})
}
