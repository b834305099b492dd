package gateway

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// AuthConfig says how buyers and operators prove who they are.
//
// Buyers send a JWT (RFC 7519) whose sub names them. Operators send a
// JWT from the same identity provider whose OperatorClaim holds
// OperatorRole, or, in development, the static AdminToken.
type AuthConfig struct {
	// HS256Secret verifies buyer tokens signed with HS256 (at least 32
	// bytes). Empty: HS256 tokens are refused.
	HS256Secret []byte
	// Ed25519Key verifies buyer tokens signed with EdDSA. Nil: refused
	// (unless a JWKS key verifies them).
	Ed25519Key ed25519.PublicKey
	// JWKS verifies tokens with the identity provider's published keys,
	// chosen by kid (RS256, ES256, EdDSA): what lets them rotate without
	// a restart (docs/keys.md).
	JWKS JWKSConfig
	// AdminToken is the static operators' bearer token (at least 16
	// bytes), for development; empty: none, operators send tokens with
	// OperatorRole. Production should leave it empty: a static token
	// cannot be rotated without a restart, nor traced to a person.
	AdminToken string
	// OperatorRole is the role that makes a token an operator's: one of
	// the strings of its OperatorClaim. Default "seatd:operator".
	OperatorRole string
	// OperatorClaim is the claim that lists a token's roles: a JSON list
	// of strings, or one string of roles separated by spaces (as OAuth's
	// scope, RFC 8693 section 4.2). Default "roles".
	OperatorClaim string
	// DevTokens enables POST /v1/dev/tokens, which mints HS256 buyer
	// tokens for local use and the load harness. Never in production.
	DevTokens bool
	// Leeway tolerates clock skew on exp and nbf. Default 30s.
	Leeway time.Duration

	set *keySet // the JWKS's keys, made by the gateway (New)
}

// Validate reports every problem with the settings.
func (c AuthConfig) Validate() error {
	errs := c.keyProblems()
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		errs = append(errs, errors.New("gateway: admin token shorter than 16 bytes"))
	}
	if c.DevTokens && len(c.HS256Secret) == 0 {
		errs = append(errs, errors.New("gateway: dev tokens need an HS256 secret to sign with"))
	}
	if strings.ContainsFunc(c.OperatorRole, unicode.IsSpace) || len(c.OperatorRole) > 256 {
		errs = append(errs, fmt.Errorf("gateway: operator role %q: want at most 256 bytes without spaces", c.OperatorRole))
	}
	if len(c.OperatorClaim) > 256 {
		errs = append(errs, errors.New("gateway: operator claim longer than 256 bytes"))
	}
	return errors.Join(errs...)
}

// keyProblems reports every problem with the buyer token keys.
func (c AuthConfig) keyProblems() []error {
	var errs []error
	if len(c.HS256Secret) == 0 && c.Ed25519Key == nil && !c.JWKS.Enabled() {
		errs = append(errs, errors.New("gateway: no buyer token key: give an HS256 secret, an Ed25519 public key or a JWKS"))
	}
	if len(c.HS256Secret) > 0 && len(c.HS256Secret) < 32 {
		errs = append(errs, fmt.Errorf("gateway: HS256 secret of %d bytes, want at least 32", len(c.HS256Secret)))
	}
	if c.Ed25519Key != nil && len(c.Ed25519Key) != ed25519.PublicKeySize {
		errs = append(errs, fmt.Errorf("gateway: Ed25519 key of %d bytes, want %d", len(c.Ed25519Key), ed25519.PublicKeySize))
	}
	return append(errs, c.JWKS.problems()...)
}

func (c *AuthConfig) operatorRole() string {
	if c.OperatorRole == "" {
		return "seatd:operator"
	}
	return c.OperatorRole
}

func (c *AuthConfig) operatorClaim() string {
	if c.OperatorClaim == "" {
		return "roles"
	}
	return c.OperatorClaim
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

// tokenAlgs are the algorithms a token may be signed with under static
// keys; a JWKS adds jwkAlgs.
var tokenAlgs = []string{"HS256", "EdDSA"}

// algs returns the algorithms a token may be signed with.
func (a *AuthConfig) algs() []string {
	if a.JWKS.Enabled() {
		return append(append([]string(nil), tokenAlgs...), "RS256", "ES256")
	}
	return tokenAlgs
}

// maxTokenTime is the latest time a token's exp, nbf or iat may name, in
// seconds since 1970: the last second of the year 9999. No identity
// provider issues a later one, and a number past what a time holds
// wraps when made one: an nbf of 1e19 became a time long past, and the
// token was taken before it was valid.
const maxTokenTime = 253402300799

// identity is who a verified token names.
type identity struct {
	user     int64 // UserID of its sub
	operator bool  // its OperatorClaim holds OperatorRole
}

// keyGen is the generation of the JWKS's keys, 0 without one.
func (a *AuthConfig) keyGen() uint64 {
	if a.set == nil {
		return 0
	}
	return a.set.current().gen
}

// verify checks a token and returns who it names: the user id its sub
// maps to (UserID), and whether it is an operator's. A token verified
// before comes from cache until its expiry, or until the JWKS's keys
// change (then it is checked again: its key may have been withdrawn).
//
// golang-jwt checks the signature and algorithm only; the gateway reads
// the claims itself, because golang-jwt makes times of numbers past any
// time without complaint, and its errors, which it would answer with,
// name Go's types and its own internals. So each refusal says in our
// words what was wrong: the token's shape, its algorithm, its key, its
// signature, a claim missing, of the wrong JSON type or out of range
// (naming it), expiry, a time before nbf, a sub that is not text
// (checkSub).
func (a *AuthConfig) verify(header string, cache *tokenCache, now time.Time) (identity, *apiError) {
	token, ok := bearer(header)
	if !ok {
		return identity{}, errorf(http.StatusUnauthorized, "UNAUTHENTICATED", "want an Authorization: Bearer token")
	}
	gen := a.keyGen()
	if id, ok := cache.get(token, now, gen); ok {
		return id, nil
	}
	refused := func(problem string) (identity, *apiError) {
		return identity{}, errorf(http.StatusUnauthorized, "UNAUTHENTICATED", "token refused: "+problem)
	}
	claims := jwt.MapClaims{}
	algs := a.algs()
	tok, err := jwt.NewParser(jwt.WithValidMethods(algs), jwt.WithJSONNumber(), jwt.WithoutClaimsValidation()).
		ParseWithClaims(token, claims, a.key)
	if err != nil {
		id, aerr := refused(tokenProblem(tok, err, algs))
		if kid := unknownKid(""); errors.As(err, &kid) {
			aerr.Details = map[string]any{"kid": string(kid)}
		}
		return id, aerr
	}
	c, problem := readClaims(claims, now, a.leeway())
	if problem != "" {
		return refused(problem)
	}
	user, _ := UserID(c.sub) // readClaims refused the empty sub, the one UserID does
	id := identity{user: user, operator: hasRole(claims[a.operatorClaim()], a.operatorRole())}
	if c.nbf.IsZero() || !c.nbf.After(now) {
		cache.put(token, id, c.exp.Add(a.leeway()), gen)
	}
	return id, nil
}

// hasRole reports whether a roles claim holds role: a JSON list with it
// among its strings, or a string of roles separated by spaces. A claim
// of another shape holds no role: it makes no operator, and does not
// spoil a buyer's token.
func hasRole(claim any, role string) bool {
	switch v := claim.(type) {
	case string:
		return slices.Contains(strings.Fields(v), role)
	case []any:
		return slices.Contains(v, any(role))
	}
	return false
}

// BuyerVerifier checks buyer tokens as the gateway's buyer routes do,
// with the same cache of verified tokens, for another HTTP front end that
// must authenticate buyers the same way and at the same cost: the
// benchmark's baselines behind HTTP (bench/baseline). It is safe for
// concurrent use.
type BuyerVerifier struct {
	auth   AuthConfig
	tokens *tokenCache
}

// NewBuyerVerifier returns a verifier of the buyer tokens auth accepts,
// keeping verified tokens in at most cacheBytes (as Config's
// TokenCacheBytes: 4 KiB to 64 GiB; the gateway's default is 16 MiB).
// auth's operator settings (AdminToken, DevTokens) are not used, and a
// JWKS is refused: keeping it current takes the gateway's refreshes.
func NewBuyerVerifier(auth AuthConfig, cacheBytes int64) (*BuyerVerifier, error) {
	errs := auth.keyProblems()
	if auth.JWKS.Enabled() {
		errs = append(errs, errors.New("gateway: the buyer verifier takes an HS256 secret or an Ed25519 key, not a JWKS"))
	}
	if cacheBytes < maxCachedToken || cacheBytes > maxCacheBytes {
		errs = append(errs, fmt.Errorf("gateway: token cache bytes %d, want %d-%d", cacheBytes, maxCachedToken, int64(maxCacheBytes)))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &BuyerVerifier{auth: auth, tokens: newTokenCache(cacheBytes)}, nil
}

// Verify returns the user id (UserID of the sub) of the buyer whose token
// an Authorization header value carries, checked at now. An error is a
// refusal, which the gateway answers 401 UNAUTHENTICATED; its text is the
// gateway's message ("token refused: it expired at ...").
func (v *BuyerVerifier) Verify(header string, now time.Time) (int64, error) {
	id, aerr := v.auth.verify(header, v.tokens, now)
	if aerr != nil {
		return 0, errors.New(aerr.Message)
	}
	return id.user, nil
}

// tokenProblem says why golang-jwt refused a token: its shape, its
// algorithm, its key or its signature.
func tokenProblem(tok *jwt.Token, err error, algs []string) string {
	var alg algRefused
	var key keyRefused
	var kid unknownKid
	switch {
	case errors.As(err, &alg):
		return alg.Error()
	case errors.As(err, &key):
		return key.Error()
	case errors.As(err, &kid):
		return kid.Error()
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed: want a JWT, three base64url parts: a JSON header, a JSON object of claims and a signature"
	case errors.Is(err, jwt.ErrTokenUnverifiable), tok != nil && tok.Method != nil && !slices.Contains(algs, tok.Method.Alg()):
		return "want alg " + strings.Join(algs, " or ")
	}
	return "bad signature"
}

// tokenClaims are the claims of a buyer token, read and checked.
type tokenClaims struct {
	sub string
	exp time.Time
	nbf time.Time // zero when the token has none
}

// readClaims checks a verified token's claims at now, with leeway for
// clock skew on exp and nbf: exp is required; exp, nbf and iat, when
// given, are JSON numbers of seconds from 0 to maxTokenTime; sub is a
// string that checkSub takes. problem says what is wrong, "" if nothing.
func readClaims(m jwt.MapClaims, now time.Time, leeway time.Duration) (c tokenClaims, problem string) {
	var hasExp bool
	if c.exp, hasExp, problem = claimTime(m, "exp"); problem != "" {
		return c, problem
	}
	if !hasExp {
		return c, "it has no exp"
	}
	if c.nbf, _, problem = claimTime(m, "nbf"); problem != "" {
		return c, problem
	}
	if _, _, problem = claimTime(m, "iat"); problem != "" {
		return c, problem
	}
	sub, hasSub := m["sub"]
	if !hasSub || sub == "" {
		return c, "it has no sub"
	}
	if c.sub, hasSub = sub.(string); !hasSub {
		return c, "sub: want a string, got " + claimKind(sub)
	}
	if problem := checkSub(c.sub); problem != "" {
		return c, "sub: " + problem
	}
	if !now.Before(c.exp.Add(leeway)) {
		return c, "it expired at " + c.exp.UTC().Format(time.RFC3339)
	}
	if now.Add(leeway).Before(c.nbf) {
		return c, "it is not valid until " + c.nbf.UTC().Format(time.RFC3339) + " (nbf)"
	}
	return c, ""
}

// claimTime reads a time claim (RFC 7519 NumericDate: seconds since
// 1970, fractions allowed); ok is false when the token has none.
func claimTime(m jwt.MapClaims, name string) (t time.Time, ok bool, problem string) {
	v, ok := m[name]
	if !ok {
		return t, false, ""
	}
	n, isNumber := v.(json.Number)
	if !isNumber {
		return t, true, fmt.Sprintf("%s: want a number of seconds since 1970, got %s", name, claimKind(v))
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > maxTokenTime {
		return t, true, fmt.Sprintf("%s: out of range: want seconds since 1970 from 0 to %d (the year 9999)", name, maxTokenTime)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, ""
}

// claimKind names the JSON type of a claim's value.
func claimKind(v any) string {
	switch v := v.(type) {
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return "null"
	case []any:
		return "a list"
	}
	return "an object"
}

// checkSub says what makes a sub unfit to name a buyer, "" if nothing.
// Besides the empty sub, that is U+FFFD, which JSON decoding puts in
// place of what is not text (bytes that are not UTF-8, a lone UTF-16
// surrogate escape such as \ud800): "\ud800", "\udbff" and "\ufffd"
// would all be one buyer. And control characters, which no identity
// provider's ids hold and which would reach logs and pages as they are.
func checkSub(sub string) string {
	switch {
	case sub == "":
		return "empty: want a non-empty string"
	case strings.ContainsRune(sub, utf8.RuneError):
		return "holds U+FFFD, which stands for what is not text (a byte that is not UTF-8, a lone surrogate such as \\ud800): want text"
	case strings.ContainsFunc(sub, unicode.IsControl):
		return "holds a control character: want text without them"
	}
	return ""
}

func (a *AuthConfig) leeway() time.Duration {
	if a.Leeway == 0 {
		return 30 * time.Second
	}
	return a.Leeway
}

// key picks the verification key: the JWKS's key the token's kid names
// (fetching the set again first for a kid it lacks, at most once per
// JWKSConfig.MinInterval), whose algorithm must be the token's; else the
// static key of the token's algorithm.
func (a *AuthConfig) key(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	kid, hasKid := t.Header["kid"].(string)
	hasKid = hasKid && kid != ""
	jwk := a.set != nil && slices.Contains(jwkAlgs, alg)
	if jwk && hasKid && len(kid) <= maxKidBytes {
		if k, ok := a.set.key(kid); ok {
			return k.forAlg(kid, alg)
		}
	}
	switch alg {
	case "HS256":
		if len(a.HS256Secret) > 0 {
			return a.HS256Secret, nil
		}
	case "EdDSA":
		if a.Ed25519Key != nil {
			return a.Ed25519Key, nil
		}
	}
	switch {
	case !jwk:
		return nil, algRefused(alg)
	case !hasKid:
		return nil, keyRefused("it has no kid: want the id of a key of the identity provider's key set (JWKS) in its header")
	case len(kid) > maxKidBytes:
		return nil, keyRefused(fmt.Sprintf("its kid has %d bytes, want at most %d", len(kid), maxKidBytes))
	}
	return nil, unknownKid(kid)
}

// forAlg returns the key for a token of alg, which must be the key's.
func (k jwKey) forAlg(kid, alg string) (any, error) {
	if k.alg != alg {
		return nil, keyRefused(fmt.Sprintf("its key %q (kid) is for %s, and the token says alg %s", kid, k.alg, alg))
	}
	return k.key, nil
}

// algRefused is the refusal of a token signed with an algorithm this
// gateway has no key for.
type algRefused string

func (a algRefused) Error() string { return string(a) + " tokens are not accepted here" }

// unknownKid is the refusal of a token whose kid the JWKS lacks: its key
// was withdrawn, or never published. The answer names the kid in
// details.kid too, so that a client can tell it from a bad token.
type unknownKid string

func (k unknownKid) Error() string {
	return fmt.Sprintf("its key %q (kid) is not in the identity provider's key set: a key withdrawn, or never published", string(k))
}

// keyRefused is the refusal of a token whose key cannot be found.
type keyRefused string

func (k keyRefused) Error() string { return string(k) }

// admin checks an operator's credentials: the static admin token, or a
// token whose roles hold the operator role. A bearer that is no JWT and
// not the admin token is refused 403 as a wrong admin token; a JWT that
// fails its checks is 401 saying why; a good one without the role is
// 403 naming the role.
func (a *AuthConfig) admin(header string, cache *tokenCache, now time.Time) *apiError {
	token, ok := bearer(header)
	if !ok {
		return errorf(http.StatusUnauthorized, "UNAUTHENTICATED", "want an Authorization: Bearer token of an operator")
	}
	if a.isAdmin(header) {
		return nil
	}
	if strings.Count(token, ".") != 2 {
		return errorf(http.StatusForbidden, "FORBIDDEN", a.needsOperator())
	}
	id, err := a.verify(header, cache, now)
	if err != nil {
		return err
	}
	if !id.operator {
		return errorf(http.StatusForbidden, "FORBIDDEN", a.needsOperator())
	}
	return nil
}

// needsOperator says what an operators' route takes.
func (a *AuthConfig) needsOperator() string {
	msg := fmt.Sprintf("this needs an operator: a token whose %q claim holds the role %q", a.operatorClaim(), a.operatorRole())
	if a.AdminToken != "" {
		msg += ", or the admin token"
	}
	return msg
}

// isAdmin reports whether a header carries the admin token, comparing in
// constant time. Without an admin token, none does.
func (a *AuthConfig) isAdmin(header string) bool {
	token, ok := bearer(header)
	return ok && a.AdminToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(a.AdminToken)) == 1
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
