package payment

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxCents bounds an amount: 100,000,000 yuan, the top of Alipay's
// total_amount range [0.01, 100000000] (alipay.trade.precreate). WeChat's
// amount.total is an int within it too.
const MaxCents = 100_000_000_00

// ErrAmount is an amount out of range or not written as yuan with at most
// two decimals.
var ErrAmount = errors.New("payment: bad amount")

// Yuan writes cents as Alipay's yuan string with exactly two decimals:
// 1234 -> "12.34", 5 -> "0.05". Negative amounts get a leading '-'.
func Yuan(cents int64) string {
	sign := ""
	if cents < 0 {
		sign = "-"
		cents = -cents
	}
	return fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
}

// ParseYuan reads a yuan amount written as digits with an optional '.'
// and up to two decimals ("12.34", "12.3", "12", "-0.50") into cents,
// exactly. Anything else, or more than MaxCents, is ErrAmount.
func ParseYuan(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	t := strings.TrimPrefix(s, "-")
	whole, frac, hasDot := strings.Cut(t, ".")
	if whole == "" || len(frac) > 2 || (hasDot && frac == "") || !digits(whole) || !digits(frac) || len(whole) > 12 {
		return 0, fmt.Errorf("%w: %q", ErrAmount, s)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrAmount, s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	c := w*100 + f
	if c > MaxCents {
		return 0, fmt.Errorf("%w: %q above the maximum", ErrAmount, s)
	}
	if neg {
		c = -c
	}
	return c, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
