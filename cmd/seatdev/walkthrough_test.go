package main

import (
	"strings"
	"testing"
)

// TestDemo runs the walkthrough and checks the outcomes it shows: every
// step that should succeed did (run returns an error otherwise), and the
// refusals and the final snapshot check are the ones the demo promises.
func TestDemo(t *testing.T) {
	var out strings.Builder
	if err := walkthrough(&out); err != nil {
		t.Fatalf("walkthrough() = %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"hold refused before the sale opens: sale_not_open",
		"hold refused: seat_taken (B/3/9)",
		"hold refused: price_mismatch",
		"hold refused: hold_limit_exceeded",
		"hold refused: holder_limit_exceeded",
		"(buyer 4's hold 3073 lapsed)",
		"1   ...xSSS.........", // buyer 1's four, beside the wheelchair spaces 8-9
		"re-encodes identically: true; invariants: ok",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(out.String())
	}
}
