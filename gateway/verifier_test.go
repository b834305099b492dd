package gateway

import (
	"strings"
	"testing"
	"time"
)

// TestBuyerVerifier checks the exported verifier answers as the buyer
// routes do: the user of a good token, the gateway's words for a bad one.
func TestBuyerVerifier(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	now := time.Unix(1_800_000_000, 0)
	v, err := NewBuyerVerifier(AuthConfig{HS256Secret: secret}, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	good, err := MintHS256(secret, "42", now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	other, err := MintHS256([]byte(strings.Repeat("x", 32)), "42", now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		header string
		user   int64
		err    string
	}{
		{"Bearer " + good, 42, ""},
		{"Bearer " + good, 42, ""}, // from the cache
		{"", 0, "want an Authorization: Bearer token"},
		{"Bearer " + other, 0, "token refused: bad signature"},
	} {
		user, err := v.Verify(tc.header, now)
		if user != tc.user || (err == nil) != (tc.err == "") || err != nil && err.Error() != tc.err {
			t.Errorf("Verify(%.20q) = %d, %v; want %d, %q", tc.header, user, err, tc.user, tc.err)
		}
	}
	if user, err := v.Verify("Bearer "+good, now.Add(2*time.Minute)); err == nil {
		t.Errorf("Verify(an expired token) = %d; want a refusal", user)
	}
	if _, err := NewBuyerVerifier(AuthConfig{HS256Secret: []byte("short")}, 1); err == nil ||
		!strings.Contains(err.Error(), "HS256 secret of 5 bytes") || !strings.Contains(err.Error(), "token cache bytes 1") {
		t.Errorf("NewBuyerVerifier(a short secret, 1 byte) = %v; want both refused", err)
	}
}
