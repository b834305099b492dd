package pay

import (
	"strings"
	"testing"
)

// TestCheckReason: a refund's reason is one line of text of at most
// MaxRefundReason characters, in any script.
func TestCheckReason(t *testing.T) {
	for _, ok := range []string{"", "cannot come", "行程有变，无法出行", "d'accord — c'est annulé", strings.Repeat("票", MaxRefundReason), "🎫 ok"} {
		if why := CheckReason(ok); why != "" {
			t.Errorf("CheckReason(%q) = %q; want it taken", ok, why)
		}
	}
	for _, bad := range []string{strings.Repeat("票", MaxRefundReason+1), "bad \xff byte", "\ufffd", "NUL \x00", "two\nlines", "car\rriage",
		"tab\t", "del \x7f", "c1 \u0085", "line\u2028sep", "para\u2029sep", "flip \u202e text", "isolate \u2066x\u2069", "mark \u200f", "arabic mark \u061c"} {
		if CheckReason(bad) == "" {
			t.Errorf("CheckReason(%q) took it; want a refusal", bad)
		}
	}
}
