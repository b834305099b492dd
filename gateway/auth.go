package gateway

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AuthConfig says how buyers and operators prove who they are.
type AuthConfig struct {
	// HS256Secret verifies buyer tokens signed with HS256 (at least 32
	// bytes). Empty: HS256 tokens are refused.
	HS256Secret []byte
	// Ed25519Key verifies buyer tokens signed with EdDSA. Nil: refused.
	Ed25519Key ed25519.PublicKey
	// AdminToken is the operators' bearer token (at least 16 bytes).
	AdminToken string
	// DevTokens enables POST /v1/dev/tokens, which mints HS256 buyer
	// tokens for local use and the load harness. Never in production.
	DevTokens bool
	// Leeway tolerates clock skew on exp and nbf. Default 30s.
	Leeway time.Duration
}

// Validate reports every problem with the settings.
func (c AuthConfig) Validate() error {
	var errs []error
	if len(c.HS256Secret) == 0 && c.Ed25519Key == nil {
		errs = append(errs, errors.New("gateway: no buyer token key: give an HS256 secret or an Ed25519 public key"))
	}
	if len(c.HS256Secret) > 0 && len(c.HS256Secret) < 32 {
		errs = append(errs, fmt.Errorf("gateway: HS256 secret of %d bytes, want at least 32", len(c.HS256Secret)))
	}
	if c.Ed25519Key != nil && len(c.Ed25519Key) != ed25519.PublicKeySize {
		errs = append(errs, fmt.Errorf("gateway: Ed25519 key of %d bytes, want %d", len(c.Ed25519Key), ed25519.PublicKeySize))
	}
	if len(c.AdminToken) < 16 {
		errs = append(errs, errors.New("gateway: admin token shorter than 16 bytes"))
	}
	if c.DevTokens && len(c.HS256Secret) == 0 {
		errs = append(errs, errors.New("gateway: dev tokens need an HS256 secret to sign with"))
	}
	return errors.Join(errs...)
}

// bearer returns the token of an "Authorization: Bearer ..." header.
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// MaxNumericUser is the largest user id a numeric sub names as itself.
// Every other sub maps above it (see UserID), so the two never meet.
const MaxNumericUser = 1<<62 - 1

// UserID maps a token's sub, any non-empty string an identity provider
// issues, to the 64-bit user id seatd keys buyers by: deterministic, the
// same on every gateway, always positive. A sub in canonical decimal
// (digits only, no leading zero) of at most MaxNumericUser is that
// number, as numeric subs have always meant. Any other sub (a UUID,
// "auth0|abc", an email, "007") is 2^62 plus the first 8 bytes of the
// SHA-256 of its UTF-8 bytes, big-endian, modulo 2^62: a range of its
// own, where two of a million subs share an id with a chance of about
// 10^-7. The user's gene (the id mod 64) comes out of the hash as evenly
// as from a number. An empty sub names nobody.
func UserID(sub string) (int64, bool) {
	if sub == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(sub, 10, 64); err == nil && n >= 1 && n <= MaxNumericUser && strconv.FormatInt(n, 10) == sub {
		return n, true
	}
	sum := sha256.Sum256([]byte(sub))
	return int64(1<<62 | binary.BigEndian.Uint64(sum[:8])&MaxNumericUser), true
}

// buyer verifies a buyer's token and returns the user id its sub maps to
// (UserID). A token verified before comes from cache until its expiry.
func (a *AuthConfig) buyer(header string, cache *tokenCache, now time.Time) (int64, *apiError) {
	token, ok := bearer(header)
	if !ok {
		return 0, errorf(http.StatusUnauthorized, "UNAUTHENTICATED", "want an Authorization: Bearer token")
	}
	if user, ok := cache.get(token, now); ok {
		return user, nil
	}
	claims := &jwt.RegisteredClaims{}
	_, err := jwt.ParseWithClaims(token, claims, a.key, jwt.WithValidMethods([]string{"HS256", "EdDSA"}),
		jwt.WithExpirationRequired(), jwt.WithLeeway(a.leeway()), jwt.WithTimeFunc(func() time.Time { return now }))
	if err != nil {
		return 0, errorf(http.StatusUnauthorized, "UNAUTHENTICATED", "token refused: "+err.Error())
	}
	user, ok := UserID(claims.Subject)
	if !ok {
		return 0, errorf(http.StatusUnauthorized, "UNAUTHENTICATED", "token refused: it has no sub")
	}
	if claims.NotBefore == nil || !claims.NotBefore.After(now) {
		cache.put(token, user, claims.ExpiresAt.Add(a.leeway()))
	}
	return user, nil
}

func (a *AuthConfig) leeway() time.Duration {
	if a.Leeway == 0 {
		return 30 * time.Second
	}
	return a.Leeway
}

// key picks the verification key by the token's algorithm.
func (a *AuthConfig) key(t *jwt.Token) (any, error) {
	switch t.Method.Alg() {
	case "HS256":
		if len(a.HS256Secret) > 0 {
			return a.HS256Secret, nil
		}
	case "EdDSA":
		if a.Ed25519Key != nil {
			return a.Ed25519Key, nil
		}
	}
	return nil, fmt.Errorf("%s tokens are not accepted here", t.Method.Alg())
}

// admin checks the operators' token.
func (a *AuthConfig) admin(header string) *apiError {
	if _, ok := bearer(header); !ok {
		return errorf(http.StatusUnauthorized, "UNAUTHENTICATED", "want an Authorization: Bearer admin token")
	}
	if !a.isAdmin(header) {
		return errorf(http.StatusForbidden, "FORBIDDEN", "this needs the admin token")
	}
	return nil
}

// isAdmin reports whether a header carries the admin token, comparing in
// constant time.
func (a *AuthConfig) isAdmin(header string) bool {
	token, ok := bearer(header)
	return ok && subtle.ConstantTimeCompare([]byte(token), []byte(a.AdminToken)) == 1
}

// MintHS256 signs a buyer token for sub, valid for ttl: what the dev
// endpoint, seatdev and tests use.
func MintHS256(secret []byte, sub string, now time.Time, ttl time.Duration) (string, error) {
	claims := jwt.RegisteredClaims{
		Subject:   sub,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}
