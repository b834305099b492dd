package gateway

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// JWKSConfig locates the JSON Web Key Set (RFC 7517 section 5) whose
// public keys verify buyer and operator tokens, chosen by the token
// header's kid (RFC 7515 section 4.1.4). URL, File or both may be given;
// their keys are used together, and a kid both hold is the file's.
//
// The set is fetched at start (a failure then stops the gateway: it would
// refuse every token), again every Refresh, and when a token names a kid
// the set lacks, at most once per MinInterval (an identity provider that
// publishes a new key before signing with it is seen at once; a flood of
// made-up kids costs one fetch per MinInterval). A fetch that fails, or
// brings a document that is not a usable key set, changes nothing: the
// last good keys stay in use, the failure is logged and counted
// (gateway_jwks_fetches_total). That is what lets keys rotate without a
// restart: docs/keys.md.
type JWKSConfig struct {
	// URL is an http(s) URL of the set (an identity provider's jwks_uri).
	URL string
	// File is a path of the set, read again as the URL is fetched.
	File string
	// Refresh is how often the set is fetched again. Default 5m.
	Refresh time.Duration
	// MinInterval is the least time between two fetches caused by
	// tokens of unknown kids. Default 10s.
	MinInterval time.Duration
	// Timeout bounds one fetch of the URL. Default 5s (or Refresh, if
	// shorter).
	Timeout time.Duration
}

// Enabled says whether a key set is configured.
func (c JWKSConfig) Enabled() bool { return c.URL != "" || c.File != "" }

func (c JWKSConfig) withDefaults() JWKSConfig {
	if c.Refresh == 0 {
		c.Refresh = 5 * time.Minute
	}
	if c.MinInterval == 0 {
		c.MinInterval = 10 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = min(5*time.Second, c.Refresh)
	}
	return c
}

// problems reports every problem with the settings.
func (c JWKSConfig) problems() []error {
	var errs []error
	if c.URL != "" {
		if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("gateway: JWKS URL %q is not an http(s) URL", c.URL))
		}
	}
	d := c.withDefaults()
	if d.Refresh < time.Second || d.MinInterval < 0 || d.MinInterval > d.Refresh || d.Timeout <= 0 || d.Timeout > d.Refresh {
		errs = append(errs, fmt.Errorf("gateway: JWKS refresh %v, min interval %v, timeout %v: want a refresh of at least 1s, and the others positive and at most the refresh",
			d.Refresh, d.MinInterval, d.Timeout))
	}
	return errs
}

// Bounds of a key set.
const (
	// MaxJWKSBytes bounds a key set document: a JWK of a 4096-bit RSA
	// key is under 1 KiB, so 256 KiB holds MaxJWKSKeys of any kind with
	// room for the members this gateway does not read (x5c chains).
	MaxJWKSBytes = 256 << 10
	// MaxJWKSKeys bounds the keys of a document (those the gateway
	// skips included): identity providers publish two or three, the
	// current key and the next or the last.
	MaxJWKSKeys = 64
	// maxKidBytes bounds a kid: providers use a thumbprint or a UUID.
	maxKidBytes = 256
)

// jwkAlgs are the algorithms the keys of a set verify, one per key type
// (RFC 7518 section 3.1, RFC 8037 section 3.1). HS256 is not among them:
// a symmetric key is a secret, which a published set cannot hold
// (-jwt-secret gives it).
var jwkAlgs = []string{"RS256", "ES256", "EdDSA"}

// jwKey is a verification key of a set.
type jwKey struct {
	alg string // one of jwkAlgs
	key crypto.PublicKey
}

// keyGeneration is the merged set in use: the keys by kid, and a number
// that grows each time they change, which the verified-token cache
// checks, so that a token of a key no longer published is verified
// again (and refused) rather than served from the cache.
type keyGeneration struct {
	keys map[string]jwKey
	gen  uint64
}

// keySet keeps a JWKSConfig's keys current. It is safe for concurrent
// use; token checks read the current keys without a lock.
type keySet struct {
	cfg    JWKSConfig
	log    *slog.Logger
	client *http.Client
	cur    atomic.Pointer[keyGeneration]

	mu       sync.Mutex // guards the fields below
	fromURL  map[string]jwKey
	fromFile map[string]jwKey
	last     time.Time     // when the last fetch started
	fetching chan struct{} // closed when the fetch under way ends; nil when none is

	// Counters and the time of the last good fetch, for metrics.
	fetchOK, fetchFailed, fetchInvalid atomic.Int64
	lastGood                           atomic.Int64 // Unix seconds
}

// newKeySet loads cfg's keys, failing when a source cannot be read or
// holds no usable key set.
func newKeySet(ctx context.Context, cfg JWKSConfig, log *slog.Logger) (*keySet, error) {
	s := &keySet{cfg: cfg.withDefaults(), log: log, client: &http.Client{}}
	s.cur.Store(&keyGeneration{keys: map[string]jwKey{}})
	if errs := s.refresh(ctx, true); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// run refreshes the set every Refresh until ctx ends.
func (s *keySet) run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.refresh(ctx, true)
		}
	}
}

// current returns the keys in use.
func (s *keySet) current() *keyGeneration { return s.cur.Load() }

// key returns the key of kid, fetching the set again first if it lacks
// kid and MinInterval has passed since the last fetch.
func (s *keySet) key(kid string) (jwKey, bool) {
	if k, ok := s.current().keys[kid]; ok {
		return k, true
	}
	s.refresh(context.Background(), false)
	k, ok := s.current().keys[kid]
	return k, ok
}

// refresh fetches the sources once, unless a fetch is under way (then it
// waits for that one) or, when not forced, one started within
// MinInterval. Each source that fails keeps its last good keys. It
// returns the failures.
func (s *keySet) refresh(ctx context.Context, force bool) []error {
	s.mu.Lock()
	if ch := s.fetching; ch != nil {
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		return nil
	}
	if !force && time.Since(s.last) < s.cfg.MinInterval {
		s.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	s.fetching, s.last = ch, time.Now()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.fetching = nil
		s.mu.Unlock()
		close(ch)
	}()

	var errs []error
	fetched := func(source string, read func(context.Context) ([]byte, error), into *map[string]jwKey) {
		if source == "" {
			return
		}
		b, err := read(ctx)
		if err != nil {
			s.fetchFailed.Add(1)
			s.log.Warn("jwks_fetch_failed", "source", source, "err", err)
			errs = append(errs, fmt.Errorf("gateway: JWKS %s: %w", source, err))
			return
		}
		keys, skipped, err := parseJWKS(b)
		if err != nil {
			s.fetchInvalid.Add(1)
			s.log.Error("jwks_refused", "source", source, "err", err)
			errs = append(errs, fmt.Errorf("gateway: JWKS %s: %w", source, err))
			return
		}
		s.fetchOK.Add(1)
		s.lastGood.Store(time.Now().Unix())
		if skipped > 0 {
			s.log.Debug("jwks_keys_skipped", "source", source, "skipped", skipped)
		}
		s.mu.Lock()
		*into = keys
		s.mu.Unlock()
	}
	fetched(s.cfg.URL, s.readURL, &s.fromURL)
	fetched(s.cfg.File, s.readFile, &s.fromFile)

	s.mu.Lock()
	defer s.mu.Unlock()
	merged := make(map[string]jwKey, len(s.fromURL)+len(s.fromFile))
	for kid, k := range s.fromURL {
		merged[kid] = k
	}
	for kid, k := range s.fromFile {
		merged[kid] = k
	}
	if old := s.current(); !sameKeys(old.keys, merged) {
		s.cur.Store(&keyGeneration{keys: merged, gen: old.gen + 1})
		s.log.Info("jwks_changed", "keys", len(merged), "generation", old.gen+1)
	}
	return errs
}

// sameKeys reports whether two sets hold the same keys under the same
// kids.
func sameKeys(a, b map[string]jwKey) bool {
	if len(a) != len(b) {
		return false
	}
	for kid, ka := range a {
		kb, ok := b[kid]
		if !ok || ka.alg != kb.alg || !ka.key.(interface{ Equal(crypto.PublicKey) bool }).Equal(kb.key) {
			return false
		}
	}
	return true
}

// readURL fetches the set's document, within Timeout and MaxJWKSBytes.
func (s *keySet) readURL(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d, want 200", resp.StatusCode)
	}
	return readBounded(resp.Body)
}

// readFile reads the set's file, within MaxJWKSBytes.
func (s *keySet) readFile(context.Context) ([]byte, error) {
	f, err := os.Open(s.cfg.File)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readBounded(f)
}

func readBounded(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxJWKSBytes {
		return nil, fmt.Errorf("larger than %d bytes", MaxJWKSBytes)
	}
	return b, nil
}

// rawJWK holds the members of a JWK (RFC 7517 section 4, RFC 7518
// section 6) the gateway reads, and the private ones it refuses.
type rawJWK struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	Alg    string   `json:"alg"`
	KeyOps []string `json:"key_ops"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	// Private key members: RSA (RFC 7518 section 6.3.2), EC and OKP
	// (d), symmetric (k).
	D  string `json:"d"`
	P  string `json:"p"`
	Q  string `json:"q"`
	DP string `json:"dp"`
	DQ string `json:"dq"`
	QI string `json:"qi"`
	K  string `json:"k"`
}

// parseJWKS reads a key set document: a JSON object whose "keys" is a
// list of at most MaxJWKSKeys JWKs. The keys it uses are signing keys of
// jwkAlgs: kty RSA (n of 2048 to 8192 bits, e odd, 3 to 2^31-1; RS256),
// EC on P-256 (x and y of 32 bytes each, a point on the curve; ES256),
// OKP Ed25519 (x of 32 bytes; EdDSA, RFC 8037). A key whose use or
// key_ops says it is not for verifying, or of another algorithm, curve
// or type, is skipped (counted in skipped): providers publish keys for
// others too. The whole document is refused for a key the gateway would
// use that is malformed (an integer not in base64url, a wrong size, a
// point off the curve), that has no kid or one used twice, for any key
// holding private members (a leaked private key: the set is not to be
// trusted), and when no key is left to use.
func parseJWKS(b []byte) (keys map[string]jwKey, skipped int, err error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		return nil, 0, fmt.Errorf("not a JSON Web Key Set: want a JSON object with \"keys\", a list of JWKs (RFC 7517 section 5): %v", err)
	}
	if dec.More() {
		return nil, 0, errors.New("not a JSON Web Key Set: data after the object")
	}
	if doc.Keys == nil {
		return nil, 0, errors.New("not a JSON Web Key Set: no \"keys\" list (RFC 7517 section 5)")
	}
	if len(doc.Keys) > MaxJWKSKeys {
		return nil, 0, fmt.Errorf("%d keys, want at most %d", len(doc.Keys), MaxJWKSKeys)
	}
	keys = map[string]jwKey{}
	for i, raw := range doc.Keys {
		var j rawJWK
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, 0, fmt.Errorf("keys[%d]: not a JWK: want an object of string members: %v", i, err)
		}
		if j.D != "" || j.P != "" || j.Q != "" || j.DP != "" || j.DQ != "" || j.QI != "" || j.K != "" {
			return nil, 0, fmt.Errorf("keys[%d] (kid %q): holds private key material: a published key set holds public keys only", i, j.Kid)
		}
		k, ok, err := parseJWK(j)
		if err != nil {
			return nil, 0, fmt.Errorf("keys[%d] (kid %q): %w", i, j.Kid, err)
		}
		if !ok {
			skipped++
			continue
		}
		switch {
		case j.Kid == "":
			return nil, 0, fmt.Errorf("keys[%d]: no kid: tokens name their key by it", i)
		case len(j.Kid) > maxKidBytes:
			return nil, 0, fmt.Errorf("keys[%d]: kid of %d bytes, want at most %d", i, len(j.Kid), maxKidBytes)
		}
		if _, dup := keys[j.Kid]; dup {
			return nil, 0, fmt.Errorf("keys[%d]: kid %q used twice: a token could not name one key", i, j.Kid)
		}
		keys[j.Kid] = k
	}
	if len(keys) == 0 {
		return nil, 0, fmt.Errorf("no key to verify tokens with: want a signing key of %v (%d skipped)", jwkAlgs, skipped)
	}
	return keys, skipped, nil
}

// parseJWK reads one key; ok is false for a key the gateway does not
// use.
func parseJWK(j rawJWK) (k jwKey, ok bool, err error) {
	if j.Use != "" && j.Use != "sig" {
		return k, false, nil
	}
	if j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify") {
		return k, false, nil
	}
	switch j.Kty {
	case "RSA":
		if j.Alg != "" && j.Alg != "RS256" {
			return k, false, nil
		}
		n, err := b64Member("n", j.N, 0)
		if err != nil {
			return k, false, err
		}
		e, err := b64Member("e", j.E, 0)
		if err != nil {
			return k, false, err
		}
		mod := new(big.Int).SetBytes(n)
		if bits := mod.BitLen(); bits < 2048 || bits > 8192 {
			return k, false, fmt.Errorf("RSA modulus (n) of %d bits, want 2048 to 8192", bits)
		}
		exp := new(big.Int).SetBytes(e)
		if !exp.IsInt64() || exp.Int64() < 3 || exp.Int64() > 1<<31-1 || exp.Bit(0) == 0 {
			return k, false, errors.New("RSA exponent (e): want an odd number from 3 to 2^31-1")
		}
		return jwKey{alg: "RS256", key: &rsa.PublicKey{N: mod, E: int(exp.Int64())}}, true, nil
	case "EC":
		if j.Crv != "P-256" || (j.Alg != "" && j.Alg != "ES256") {
			return k, false, nil
		}
		x, err := b64Member("x", j.X, 32)
		if err != nil {
			return k, false, err
		}
		y, err := b64Member("y", j.Y, 32)
		if err != nil {
			return k, false, err
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return k, false, errors.New("x, y: not a point of P-256")
		}
		return jwKey{alg: "ES256", key: pub}, true, nil
	case "OKP":
		if j.Crv != "Ed25519" || (j.Alg != "" && j.Alg != "EdDSA" && j.Alg != "Ed25519") {
			return k, false, nil
		}
		x, err := b64Member("x", j.X, ed25519.PublicKeySize)
		if err != nil {
			return k, false, err
		}
		return jwKey{alg: "EdDSA", key: ed25519.PublicKey(x)}, true, nil
	}
	return k, false, nil
}

// b64Member decodes a base64url member (RFC 7515 section 2: no padding)
// of size bytes, or of any non-zero size when size is 0.
func b64Member(name, v string, size int) ([]byte, error) {
	if v == "" {
		return nil, fmt.Errorf("no %s", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("%s: not base64url without padding (RFC 7515 section 2)", name)
	}
	if size > 0 && len(b) != size {
		return nil, fmt.Errorf("%s of %d bytes, want %d", name, len(b), size)
	}
	return b, nil
}
