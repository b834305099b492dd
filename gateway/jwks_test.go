package gateway

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var b64 = base64.RawURLEncoding.EncodeToString

// testJWK is a key of a test identity provider: its private half signs
// tokens, its public half goes into the JWKS.
type testJWK struct {
	kid    string
	method jwt.SigningMethod
	priv   crypto.Signer
}

func newRSAJWK(t testing.TB, kid string) testJWK {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return testJWK{kid: kid, method: jwt.SigningMethodRS256, priv: k}
}

func newECJWK(t testing.TB, kid string) testJWK {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testJWK{kid: kid, method: jwt.SigningMethodES256, priv: k}
}

func newEdJWK(t testing.TB, kid string) testJWK {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testJWK{kid: kid, method: jwt.SigningMethodEdDSA, priv: k}
}

// public is the key's JWK, as an identity provider publishes it.
func (k testJWK) public() map[string]any {
	switch p := k.priv.Public().(type) {
	case *rsa.PublicKey:
		return map[string]any{"kty": "RSA", "kid": k.kid, "use": "sig", "alg": "RS256", "n": b64(p.N.Bytes()), "e": b64(big.NewInt(int64(p.E)).Bytes())}
	case *ecdsa.PublicKey:
		b, _ := p.Bytes()
		return map[string]any{"kty": "EC", "kid": k.kid, "crv": "P-256", "x": b64(b[1:33]), "y": b64(b[33:])}
	case ed25519.PublicKey:
		return map[string]any{"kty": "OKP", "kid": k.kid, "crv": "Ed25519", "alg": "EdDSA", "x": b64(p)}
	}
	panic("unknown key type")
}

// sign makes a token of sub, valid for an hour, with extra claims.
func (k testJWK) sign(t testing.TB, sub string, extra map[string]any) string {
	t.Helper()
	claims := jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	for n, v := range extra {
		claims[n] = v
	}
	tok := jwt.NewWithClaims(k.method, claims)
	tok.Header["kid"] = k.kid
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func jwksDoc(keys ...testJWK) string {
	var list []map[string]any
	for _, k := range keys {
		list = append(list, k.public())
	}
	b, _ := json.Marshal(map[string]any{"keys": list})
	return string(b)
}

// testIdP serves a JWKS that a test changes, or fails with 500, and
// counts the fetches.
type testIdP struct {
	*httptest.Server
	mu      sync.Mutex // guards doc and fail
	doc     string
	fail    bool
	fetches atomic.Int64
}

func startIdP(t testing.TB, doc string) *testIdP {
	p := &testIdP{doc: doc}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		p.fetches.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.fail {
			http.Error(w, "identity provider down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		fmt.Fprint(w, p.doc)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *testIdP) publish(doc string) {
	p.mu.Lock()
	p.doc, p.fail = doc, false
	p.mu.Unlock()
}

func (p *testIdP) down() {
	p.mu.Lock()
	p.fail = true
	p.mu.Unlock()
}

// metric reads one series of the gateway's /metrics.
func (s *testSystem) metric(series string) float64 {
	s.t.Helper()
	r := s.do("GET", "/metrics", "", nil, nil)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(r.body)
	if m == nil {
		s.t.Fatalf("/metrics has no %s", series)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// TestJWKSRotation rotates the identity provider's signing key through
// HTTP, as docs/keys.md tells an operator to, with the gateway running
// throughout: tokens of key 1 work; key 2 is published beside it and
// its tokens work at once (a kid the set lacks fetches it again); key 1
// is withdrawn and its tokens, cached before, are refused (401 naming
// the kid) once the periodic refresh sees it gone; an identity provider
// that fails, and documents that are no usable key set, leave the last
// good keys in use, counted in the metrics.
func TestJWKSRotation(t *testing.T) {
	k1, k2 := newRSAJWK(t, "k1"), newECJWK(t, "k2")
	idp := startIdP(t, jwksDoc(k1))
	s := startSystem(t, func(c *Config) {
		c.Auth.JWKS = JWKSConfig{URL: idp.URL, Refresh: time.Second, MinInterval: 50 * time.Millisecond}
	})
	s.arena("show")
	hold := func(token string) reply {
		return s.do("POST", "/v1/programs/show/holds", token, map[string]any{"count": 1}, nil)
	}
	old := k1.sign(t, "buyer-of-key-1", nil)
	s.want(hold(old), 201, "")

	// Key 2 is not published yet: refused, naming its kid.
	time.Sleep(60 * time.Millisecond)
	s.refused(hold(k2.sign(t, "early", nil)), 401, "UNAUTHENTICATED", map[string]any{"kid": "k2"},
		`token refused: its key "k2" (kid) is not in the identity provider's key set`)

	// Published beside key 1: its tokens work without a restart, and
	// key 1's still do.
	idp.publish(jwksDoc(k1, k2))
	time.Sleep(60 * time.Millisecond)
	s.want(hold(k2.sign(t, "buyer-of-key-2", nil)), 201, "")
	s.want(hold(old), 201, "")

	// A flood of made-up kids fetches at most once per MinInterval.
	before, start := idp.fetches.Load(), time.Now()
	for i := range 40 {
		// A buyer's read of a hold there is not: 404 once the token
		// is taken.
		s.want(s.do("GET", "/v1/holds/none", k2.sign(t, "flood", map[string]any{"n": i}), nil, nil), 404, "")
		bogus := testJWK{kid: fmt.Sprintf("bogus-%d", i), method: k2.method, priv: k2.priv}
		s.want(s.do("GET", "/v1/holds/none", bogus.sign(t, "flood", nil), nil, nil), 401, "UNAUTHENTICATED")
	}
	if n, most := idp.fetches.Load()-before, int64(time.Since(start)/(50*time.Millisecond))+2; n > most {
		t.Errorf("40 tokens of unknown kids in %v made %d fetches; want at most %d (one per 50ms, and the periodic one)", time.Since(start), n, most)
	}

	// Key 1 withdrawn: its token, verified and cached before, is refused
	// once the periodic refresh (1s) sees the new set.
	idp.publish(jwksDoc(k2))
	deadline := time.Now().Add(10 * time.Second)
	for hold(old).status != 401 {
		if time.Now().After(deadline) {
			t.Fatal("key 1's token still taken 10s after key 1 was withdrawn")
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.refused(hold(old), 401, "UNAUTHENTICATED", map[string]any{"kid": "k1"}, `token refused: its key "k1" (kid) is not in the identity provider's key set`)
	if n := s.metric("gateway_jwks_keys"); n != 1 {
		t.Errorf("gateway_jwks_keys = %v; want 1", n)
	}

	// The identity provider fails: the last good set stays in use.
	idp.down()
	failed := s.metric(`gateway_jwks_fetches_total{outcome="failed"}`)
	waitMetric(t, s, `gateway_jwks_fetches_total{outcome="failed"}`, failed)
	s.want(hold(k2.sign(t, "while-down", nil)), 201, "")

	// Documents that are no usable key set are refused, each: the good
	// set stays, and key 1 stays withdrawn.
	k1Again := k1.public()
	k1Again["d"] = "AQAB"
	for name, doc := range map[string]string{
		"not JSON":      "<html>maintenance</html>",
		"no keys":       `{"keys":[]}`,
		"private key":   `{"keys":[` + mustJSON(k1Again) + `]}`,
		"too large":     `{"keys":[],"pad":"` + strings.Repeat("x", MaxJWKSBytes) + `"}`,
		"duplicate kid": jwksDoc(k2, k2),
	} {
		invalid := s.metric(`gateway_jwks_fetches_total{outcome="invalid"}`) + s.metric(`gateway_jwks_fetches_total{outcome="failed"}`)
		idp.publish(doc)
		deadline := time.Now().Add(10 * time.Second)
		for s.metric(`gateway_jwks_fetches_total{outcome="invalid"}`)+s.metric(`gateway_jwks_fetches_total{outcome="failed"}`) <= invalid {
			if time.Now().After(deadline) {
				t.Fatalf("%s: never fetched", name)
			}
			time.Sleep(50 * time.Millisecond)
		}
		s.want(hold(k2.sign(t, "after-"+strings.ReplaceAll(name, " ", "-"), nil)), 201, "")
		s.want(hold(old), 401, "UNAUTHENTICATED")
	}
}

// waitMetric waits until a counter passes from.
func waitMetric(t *testing.T, s *testSystem, series string, from float64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); s.metric(series) <= from; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed at %v", series, from)
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestJWKSFile: a key set from a file, read again on refresh; every
// key type the gateway takes (RS256, ES256, EdDSA) verifies its tokens;
// a token whose alg is not its key's is refused; a gateway whose set
// cannot be read at start does not start.
func TestJWKSFile(t *testing.T) {
	rs, ec, ed := newRSAJWK(t, "rs"), newECJWK(t, "ec"), newEdJWK(t, "ed")
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, []byte(jwksDoc(rs, ec, ed)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startSystem(t, func(c *Config) {
		c.Auth.JWKS = JWKSConfig{File: file, Refresh: time.Hour, MinInterval: time.Millisecond}
	})
	s.arena("show")
	for _, k := range []testJWK{rs, ec, ed} {
		s.want(s.do("POST", "/v1/programs/show/holds", k.sign(t, "file-"+k.kid, nil), map[string]any{"count": 1}, nil), 201, "")
	}
	// The EdDSA key named by an ES256 token (signed with the EC key).
	liar := testJWK{kid: "ed", method: ec.method, priv: ec.priv}
	s.refused(s.do("POST", "/v1/programs/show/holds", liar.sign(t, "liar", nil), map[string]any{"count": 1}, nil),
		401, "UNAUTHENTICATED", nil, `its key "ed" (kid) is for EdDSA, and the token says alg ES256`)
	noKid := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "x", "exp": time.Now().Add(time.Hour).Unix()})
	tok, _ := noKid.SignedString(ec.priv)
	s.refused(s.do("POST", "/v1/programs/show/holds", tok, map[string]any{"count": 1}, nil), 401, "UNAUTHENTICATED", nil, "it has no kid")

	// A key added to the file is read on the next unknown kid.
	ed2 := newEdJWK(t, "ed2")
	if err := os.WriteFile(file, []byte(jwksDoc(rs, ec, ed, ed2)), 0o600); err != nil {
		t.Fatal(err)
	}
	s.want(s.do("POST", "/v1/programs/show/holds", ed2.sign(t, "file-ed2", nil), map[string]any{"count": 1}, nil), 201, "")

	if _, err := New(Config{Auth: AuthConfig{JWKS: JWKSConfig{File: filepath.Join(t.TempDir(), "none.json")}}, Inventory: s.gw.inv}); err == nil ||
		!strings.Contains(err.Error(), "none.json") {
		t.Errorf("New with a missing JWKS file = %v; want an error naming it", err)
	}
}

// TestParseJWKS: each document that is no usable key set is refused
// with an error saying what is wrong, and keys of other uses or types
// are skipped.
func TestParseJWKS(t *testing.T) {
	rs, ec := newRSAJWK(t, "rs"), newECJWK(t, "ec")
	with := func(k testJWK, member string, v any) string {
		m := k.public()
		if v == nil {
			delete(m, member)
		} else {
			m[member] = v
		}
		return `{"keys":[` + mustJSON(m) + `]}`
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallKey := testJWK{kid: "small", method: jwt.SigningMethodRS256, priv: small}
	many := make([]testJWK, MaxJWKSKeys+1)
	for i := range many {
		many[i] = testJWK{kid: strconv.Itoa(i), method: ec.method, priv: ec.priv}
	}
	for _, tc := range []struct{ doc, want string }{
		{`[]`, "not a JSON Web Key Set"},
		{`{}`, `no "keys" list`},
		{`{"keys":[]} {}`, "data after the object"},
		{`{"keys":[1]}`, "keys[0]: not a JWK"},
		{`{"keys":[]}`, "no key to verify tokens with"},
		{`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, "holds private key material"},
		{with(rs, "d", "AQAB"), "holds private key material"},
		{with(rs, "kid", nil), "keys[0]: no kid"},
		{with(rs, "n", "***"), "n: not base64url"},
		{with(rs, "e", "AAAA"), "RSA exponent (e)"},
		{jwksDoc(smallKey), "RSA modulus (n) of 1024 bits, want 2048 to 8192"},
		{with(ec, "x", b64(make([]byte, 31))), "x of 31 bytes, want 32"},
		{with(ec, "y", b64(make([]byte, 32))), "not a point of P-256"},
		{jwksDoc(ec, ec), `kid "ec" used twice`},
		{jwksDoc(many...), "65 keys, want at most 64"},
		{with(ec, "use", "enc"), "no key to verify tokens with"},
		{with(ec, "crv", "P-521"), "no key to verify tokens with"},
	} {
		if _, _, err := parseJWKS([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseJWKS(%.80s) = %v; want an error saying %q", tc.doc, err, tc.want)
		}
	}
	enc := ec.public()
	enc["use"], enc["kid"] = "enc", "other"
	keys, skipped, err := parseJWKS([]byte(`{"keys":[` + mustJSON(rs.public()) + "," + mustJSON(enc) + "," + mustJSON(ec.public()) + `]}`))
	if err != nil || len(keys) != 2 || skipped != 1 || keys["rs"].alg != "RS256" || keys["ec"].alg != "ES256" {
		t.Fatalf("parseJWKS(rs, an encryption key, ec) = %v, %d skipped, %v; want rs and ec, 1 skipped", keys, skipped, err)
	}
}

// TestOperatorRole: tokens from the identity provider with the
// operator role are taken wherever the admin token is; a buyer's token
// on an operators' route is 403 naming the role; an operator's token
// acts for any buyer where operators may and is refused where a buyer
// must act; without an admin token, none is taken.
func TestOperatorRole(t *testing.T) {
	op := newEdJWK(t, "op")
	idp := startIdP(t, jwksDoc(op))
	s := startSystem(t, func(c *Config) {
		c.Auth.JWKS = JWKSConfig{URL: idp.URL}
		c.Auth.AdminToken = ""
	})
	operator := op.sign(t, "alice@ops", map[string]any{"roles": []string{"viewer", "seatd:operator"}})
	scoped := op.sign(t, "bob@ops", map[string]any{"roles": "viewer seatd:operator"})
	buyerTok := op.sign(t, "carol", map[string]any{"roles": []string{"viewer"}})
	spec := map[string]any{"id": "ops", "name": "Ops", "categories": []map[string]any{{"id": "std", "name": "Standard", "price_cents": 100}},
		"grid": map[string]any{"sections": 1, "rows": 2, "cols": 5, "categories": []map[string]any{{"id": "std", "rows": []int{1, 2}}}}}

	s.refused(s.do("POST", "/v1/programs", buyerTok, spec, nil), 403, "FORBIDDEN", nil, `a token whose "roles" claim holds the role "seatd:operator"`)
	s.refused(s.do("POST", "/v1/programs", adminToken, spec, nil), 403, "FORBIDDEN", nil, "seatd:operator")
	s.want(s.do("POST", "/v1/programs", operator, spec, nil), 201, "")
	s.want(s.do("POST", "/v1/programs/ops/open", scoped, nil, nil), 200, "")
	// Operators close and open sales (the same calls twice are no
	// refusal, whatever a retry under way did).
	s.want(s.do("POST", "/v1/programs/ops/close", operator, nil, nil), 200, "")
	s.want(s.do("POST", "/v1/programs/ops/open", operator, nil, nil), 200, "")
	s.want(s.do("GET", "/v1/cluster", operator, nil, nil), 200, "")
	s.refused(s.do("GET", "/v1/cluster", buyerTok, nil, nil), 403, "FORBIDDEN", nil, "seatd:operator")
	forged := testJWK{kid: "op", method: jwt.SigningMethodEdDSA, priv: newEdJWK(t, "x").priv}
	s.refused(s.do("GET", "/v1/cluster", forged.sign(t, "mallory", map[string]any{"roles": []string{"seatd:operator"}}), nil, nil),
		401, "UNAUTHENTICATED", nil, "bad signature")

	h := s.do("POST", "/v1/programs/ops/holds", buyerTok, map[string]any{"count": 1}, nil)
	s.want(h, 201, "")
	holdID := h.json(t)["hold_id"].(string)
	s.refused(s.do("POST", "/v1/programs/ops/holds", operator, map[string]any{"count": 1}, nil), 403, "FORBIDDEN", nil, "not an operator's")
	s.want(s.do("GET", "/v1/holds/"+holdID, operator, nil, nil), 200, "")
	s.want(s.do("DELETE", "/v1/holds/"+holdID, operator, nil, nil), 200, "")

	// A gateway with a role of its own, and the admin token kept for
	// development beside it.
	s2 := startSystem(t, func(c *Config) {
		c.Auth.JWKS = JWKSConfig{URL: idp.URL}
		c.Auth.OperatorRole, c.Auth.OperatorClaim = "ops-admin", "groups"
	})
	s2.refused(s2.do("GET", "/v1/cluster", operator, nil, nil), 403, "FORBIDDEN", nil, `a token whose "groups" claim holds the role "ops-admin", or the admin token`)
	s2.want(s2.do("GET", "/v1/cluster", op.sign(t, "dave", map[string]any{"groups": []string{"ops-admin"}}), nil, nil), 200, "")
	s2.want(s2.do("GET", "/v1/cluster", adminToken, nil, nil), 200, "")
}

// TestJWKSFetchBound: tokens of kids the set lacks fetch it again at
// most once per MinInterval, however many come; with no interval, each
// does; a kid published since is found by the fetch it causes.
func TestJWKSFetchBound(t *testing.T) {
	k := newEdJWK(t, "k")
	idp := startIdP(t, jwksDoc(k))
	ctx := t.Context()
	limited, err := newKeySet(ctx, JWKSConfig{URL: idp.URL, MinInterval: time.Hour}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, ok := limited.key(fmt.Sprintf("made-up-%d", i)); ok {
			t.Fatal("a made-up kid found")
		}
	}
	if n := idp.fetches.Load(); n != 1 {
		t.Errorf("100 unknown kids within MinInterval of the first fetch made %d fetches; want 1 (the first)", n)
	}
	eager, err := newKeySet(ctx, JWKSConfig{URL: idp.URL, MinInterval: time.Nanosecond}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	before := idp.fetches.Load()
	for i := range 10 {
		time.Sleep(time.Millisecond)
		eager.key(fmt.Sprintf("made-up-%d", i))
	}
	if n := idp.fetches.Load() - before; n != 10 {
		t.Errorf("10 unknown kids with no interval made %d fetches; want 10, one each", n)
	}
	// A kid published since is found by the fetch it causes.
	k2 := newEdJWK(t, "k2")
	idp.publish(jwksDoc(k, k2))
	if got, ok := eager.key("k2"); !ok || got.alg != "EdDSA" {
		t.Errorf("key(k2) after it was published = %v, %v; want its EdDSA key", got, ok)
	}
}
