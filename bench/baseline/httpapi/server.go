// Package httpapi puts a baseline of ../shared/BASELINE.md (any
// target.Target: Redis with Lua, seats as rows in PostgreSQL) behind an
// HTTP front of the same shape as seatd's gateway hold routes, so that
// seatbench compares each layer with the same layer: Hertz, the
// gateway's JSON and error shape, the gateway's buyer authentication
// (gateway.BuyerVerifier: a Bearer JWT whose sub is the buyer, verified
// tokens cached), a bound on requests in flight. Server is that front,
// the one for every baseline; Client is a target.Target that speaks to
// it.
//
//	POST   /v1/programs/{id}/holds  {"category","count"} or
//	                                {"seats":[...],"expected_total_cents"}
//	                                -> 201 {"hold_id","program_id","status",
//	                                   "seats":[{"id","category","price_cents"}],
//	                                   "total_cents"}
//	DELETE /v1/holds/{hold_id}      -> 200, the hold released
//
// Refusals are {"error":{"code","message","details"}} with the gateway's
// statuses and codes: 409 SOLD_OUT, NO_ADJACENT_SEATS, SEAT_TAKEN,
// PRICE_MISMATCH; 401 UNAUTHENTICATED; 404 NOT_FOUND (a hold that is not
// the buyer's, or no route); 400 INVALID_JSON (an unknown field too, as
// the gateway); 413, 415; 422 INVALID_ARGUMENT; 503 OVERLOADED, and
// UNAVAILABLE for any other failure of the target, logged in full. Only
// what a baseline has is there: no leg ranges, holders, idempotency keys,
// GET of a hold or per-buyer rate limit. Seats in answers carry their
// id, and their category and price as the gateway's do when the target
// gives them (target.Hold.Prices: both baselines do).
//
// A Server serves requests concurrently, each on Hertz's goroutine for
// it, at most Config.MaxInFlight at once. It keeps the holds it made in
// memory (at most Config.MaxHolds), so that DELETE, which names a hold
// only, finds the buyer, program and seats the target's Release needs;
// it loses them when it stops.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cloudwego/hertz/pkg/app"
	"github.com/cloudwego/hertz/pkg/app/server"

	"seatd/bench/target"
	"seatd/gateway"
	"seatd/inventory"
)

const (
	// MaxSeatsPerRequest bounds count and the seats named, as the
	// gateway does.
	MaxSeatsPerRequest = inventory.MaxSeatsPerHoldLimit
	// maxBody bounds a request body: the gateway's bound for everything
	// but program creates. 64 seat ids take about 1 KiB.
	maxBody = 64 << 10
	// MaxMaxHolds bounds Config.MaxHolds.
	MaxMaxHolds = 1 << 24
)

// Config configures a Server. Zero fields take the defaults noted.
type Config struct {
	// Auth holds the buyer token keys, as the gateway's; its operator
	// settings are not used.
	Auth gateway.AuthConfig
	// TokenCacheBytes bounds the verified tokens kept, as the gateway's
	// Config.TokenCacheBytes. Default 16 MiB, the gateway's.
	TokenCacheBytes int64
	// MaxInFlight bounds requests being served at once; past it a
	// request is answered 503 OVERLOADED at once. Default 4096, the
	// gateway's; 1 to 1<<20.
	MaxInFlight int
	// MaxHolds bounds the holds kept for release; past it a hold is
	// answered 503 OVERLOADED before the target is asked. Default
	// 1<<17, more than one hold per seat of the 80,000-seat stadium;
	// 1 to MaxMaxHolds.
	MaxHolds int
	// RequestTimeout bounds one request's call to the target. Default
	// 5 s, the gateway's.
	RequestTimeout time.Duration
	// Log receives internal errors. Default slog.Default().
	Log *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.TokenCacheBytes == 0 {
		c.TokenCacheBytes = 16 << 20
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 4096
	}
	if c.MaxHolds == 0 {
		c.MaxHolds = 1 << 17
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}

// Validate reports every problem with the settings, the token keys'
// too.
func (c Config) Validate() error {
	var errs []error
	if _, err := gateway.NewBuyerVerifier(c.Auth, c.withDefaults().TokenCacheBytes); err != nil {
		errs = append(errs, err)
	}
	if c.MaxInFlight < 0 || c.MaxInFlight > 1<<20 {
		errs = append(errs, fmt.Errorf("httpapi: max in flight %d, want 1-%d (0 for the default)", c.MaxInFlight, 1<<20))
	}
	if c.MaxHolds < 0 || c.MaxHolds > MaxMaxHolds {
		errs = append(errs, fmt.Errorf("httpapi: max holds %d, want 1-%d (0 for the default)", c.MaxHolds, MaxMaxHolds))
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, fmt.Errorf("httpapi: request timeout %v, want more than 0 (0 for the default)", c.RequestTimeout))
	}
	return errors.Join(errs...)
}

// Server is the HTTP front of a target.
type Server struct {
	t        target.Target
	cfg      Config
	verifier *gateway.BuyerVerifier
	inFlight chan struct{} // a slot per request being served

	mu     sync.Mutex      // guards holds, kept, hz and closed
	holds  map[string]hold // by hold id
	kept   int             // len(holds) plus the holds being made
	hz     *server.Hertz   // nil until Serve
	closed bool            // Shutdown was called
}

// hold is what a release needs: whose it is, its program, the target's
// hold.
type hold struct {
	buyer   int64
	program string
	hold    target.Hold
}

// New returns the front of t; Serve serves it. t's hold ids must be
// unique across its programs. t stays its caller's: Shutdown does not
// close it. A bad configuration is refused with every problem named.
func New(t target.Target, cfg Config) (*Server, error) {
	err := cfg.Validate()
	if t == nil {
		err = errors.Join(errors.New("httpapi: no target to serve"), err)
	}
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	v, err := gateway.NewBuyerVerifier(cfg.Auth, cfg.TokenCacheBytes)
	if err != nil {
		return nil, err
	}
	return &Server{t: t, cfg: cfg, verifier: v, inFlight: make(chan struct{}, cfg.MaxInFlight), holds: map[string]hold{}}, nil
}

// Serve serves on ln until Shutdown, with the gateway's server settings
// that bear on a hold; it may be called once, and not after Shutdown. As
// in the gateway, Hertz cuts off a body past twice maxBody itself;
// within that margin the handler answers 413 in the error shape.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.hz != nil || s.closed {
		s.mu.Unlock()
		return errors.New("httpapi: Serve called twice, or after Shutdown")
	}
	s.hz = server.New(server.WithListener(ln), server.WithMaxRequestBodySize(2*maxBody), server.WithUseRawPath(true),
		server.WithRedirectTrailingSlash(false), server.WithRedirectFixedPath(false),
		server.WithReadTimeout(30*time.Second), server.WithWriteTimeout(30*time.Second), server.WithIdleTimeout(2*time.Minute),
		server.WithExitWaitTime(2*time.Second), server.WithDisablePrintRoute(true))
	s.hz.POST("/v1/programs/:id/holds", s.wrap(s.hold))
	s.hz.DELETE("/v1/holds/:hold_id", s.wrap(s.release))
	s.hz.NoRoute(func(_ context.Context, c *app.RequestContext) {
		s.fail(c, &apiError{http.StatusNotFound, "NOT_FOUND", "no such route"})
	})
	hz := s.hz
	s.mu.Unlock()
	return hz.Run()
}

// Shutdown stops serving, letting requests under way finish until ctx
// ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	hz := s.hz
	s.closed = true
	s.mu.Unlock()
	if hz == nil {
		return nil
	}
	return hz.Shutdown(ctx)
}

// apiError is a refusal: an HTTP status, the gateway's code, a message.
type apiError struct {
	status        int
	code, message string
}

// refusals maps the target's refusals to the gateway's statuses and
// codes: the one table of the mapping, which the client reads back.
var refusals = []struct {
	err    error
	status int
	code   string
}{
	{target.ErrSoldOut, http.StatusConflict, "SOLD_OUT"},
	{target.ErrNoAdjacent, http.StatusConflict, "NO_ADJACENT_SEATS"},
	{target.ErrTaken, http.StatusConflict, "SEAT_TAKEN"},
	{target.ErrPriceMismatch, http.StatusConflict, "PRICE_MISMATCH"},
	{target.ErrUnknownHold, http.StatusNotFound, "NOT_FOUND"},
}

// refusal turns a target's error into an answer: a refusal of the table
// with its words, or, logged, 503 UNAVAILABLE, as the gateway answers a
// failed call to the inventory.
func (s *Server) refusal(err error) *apiError {
	for _, r := range refusals {
		if errors.Is(err, r.err) {
			return &apiError{r.status, r.code, err.Error()}
		}
	}
	s.cfg.Log.Error("httpapi_target_failed", "err", err)
	return &apiError{http.StatusServiceUnavailable, "UNAVAILABLE", "the inventory is unavailable; retry shortly"}
}

// noHold is the one answer for a hold the caller may not release: not
// theirs, or not held.
var noHold = &apiError{http.StatusNotFound, "NOT_FOUND", "no such hold"}

// handlerFunc serves one route for the buyer user.
type handlerFunc func(ctx context.Context, c *app.RequestContext, user int64) *apiError

// wrap adds what both routes share, as the gateway's wrap does: the
// in-flight bound, the buyer's token, a deadline, the error body.
func (s *Server) wrap(fn handlerFunc) app.HandlerFunc {
	return func(ctx context.Context, c *app.RequestContext) {
		select {
		case s.inFlight <- struct{}{}:
			defer func() { <-s.inFlight }()
		default:
			s.fail(c, &apiError{http.StatusServiceUnavailable, "OVERLOADED", "the server is at its limit; retry shortly"})
			return
		}
		user, err := s.verifier.Verify(string(c.GetHeader("Authorization")), time.Now())
		if err != nil {
			s.fail(c, &apiError{http.StatusUnauthorized, "UNAUTHENTICATED", err.Error()})
			return
		}
		ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
		if aerr := fn(ctx, c, user); aerr != nil {
			s.fail(c, aerr)
		}
	}
}

// fail writes an error answer in the gateway's shape; 503 carries
// Retry-After, 401 its challenge, as the gateway's do.
func (s *Server) fail(c *app.RequestContext, e *apiError) {
	switch e.status {
	case http.StatusServiceUnavailable:
		c.Header("Retry-After", "1")
	case http.StatusUnauthorized:
		c.Header("WWW-Authenticate", `Bearer realm="seatd"`)
	}
	writeJSON(c, e.status, errorOut{Error: errorBody{Code: e.code, Message: e.message, Details: map[string]any{}}})
}

func writeJSON(c *app.RequestContext, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("httpapi: encoding %T: %v", v, err)) // the answer types always encode
	}
	c.Data(status, "application/json; charset=utf-8", b)
}

// holdIn is the hold request: the gateway's fields a baseline has.
type holdIn struct {
	Category           string   `json:"category"`
	Count              *int     `json:"count"`
	Seats              []string `json:"seats"`
	ExpectedTotalCents *int64   `json:"expected_total_cents"`
}

// holdOut is a hold as answered: the gateway's fields a baseline has.
type holdOut struct {
	HoldID     string    `json:"hold_id"`
	ProgramID  string    `json:"program_id"`
	Status     string    `json:"status"` // HELD or RELEASED
	Seats      []seatOut `json:"seats"`
	TotalCents int64     `json:"total_cents"`
	// OrderNo is the order the hold becomes: the gateway's; a baseline
	// has no orders and leaves it out.
	OrderNo string `json:"order_no,omitempty"`
}

// seatOut is a held seat as answered; Category and PriceCents are left
// out when the target does not give them.
type seatOut struct {
	ID         string `json:"id"`
	Category   string `json:"category,omitempty"`
	PriceCents *int64 `json:"price_cents,omitempty"`
}

type errorOut struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

func (h hold) out(status string) holdOut {
	o := holdOut{HoldID: h.hold.ID, ProgramID: h.program, Status: status, Seats: make([]seatOut, len(h.hold.Seats)), TotalCents: h.hold.TotalCents}
	for i, id := range h.hold.Seats {
		o.Seats[i] = seatOut{ID: id}
		if h.hold.Prices != nil {
			p := &h.hold.Prices[i]
			o.Seats[i].Category, o.Seats[i].PriceCents = p.Category, &p.PriceCents
		}
	}
	return o
}

// decodeHold reads a hold request sent as JSON and checks it as the
// gateway does, in its words: the one difference is that a
// best-available hold names its category.
func decodeHold(c *app.RequestContext) (*holdIn, *apiError) {
	ct := string(c.Request.Header.ContentType())
	if mt, params, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" ||
		params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8") {
		return nil, &apiError{http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", fmt.Sprintf("Content-Type %q: send the body as application/json", ct)}
	}
	body := c.Request.Body()
	if len(body) > maxBody {
		return nil, &apiError{http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE", fmt.Sprintf("the body has %d bytes, at most %d", len(body), maxBody)}
	}
	var in holdIn
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, &apiError{http.StatusBadRequest, "INVALID_JSON", "the body is not the JSON object of a hold: " + err.Error()}
	}
	bad := func(format string, args ...any) (*holdIn, *apiError) {
		return nil, &apiError{http.StatusUnprocessableEntity, "INVALID_ARGUMENT", fmt.Sprintf(format, args...)}
	}
	limit, named := MaxSeatsPerRequest, len(in.Seats)
	switch {
	case in.Seats != nil && named == 0:
		return bad("seats: an empty list: name 1-%d seats, or leave seats out and give a count", limit)
	case named > limit:
		return bad("seats: %d named, at most %d", named, limit)
	case in.Count != nil && (*in.Count < 1 || *in.Count > limit):
		return bad("count: %d, want 1-%d", *in.Count, limit)
	case named > 0 && in.Count != nil && *in.Count != named:
		return bad("count: %d, but %d seats are named: give seats or a count, not both", *in.Count, named)
	case named == 0 && in.Count == nil:
		return bad("count: left out: give a count of 1-%d, or name seats", limit)
	case named == 0 && in.Category == "":
		return bad("category: left out: a best-available hold here is of one category")
	case in.ExpectedTotalCents != nil && *in.ExpectedTotalCents < 0:
		return bad("expected_total_cents: %d, want 0 or more", *in.ExpectedTotalCents)
	}
	seen := make(map[string]bool, named)
	for _, id := range in.Seats {
		if seen[id] {
			return bad("seats: seat %q is named twice", id)
		}
		seen[id] = true
	}
	return &in, nil
}

// hold serves POST /v1/programs/{id}/holds: it takes a place among the
// holds kept, asks the target, and keeps the hold for DELETE.
func (s *Server) hold(ctx context.Context, c *app.RequestContext, user int64) *apiError {
	in, aerr := decodeHold(c)
	if aerr != nil {
		return aerr
	}
	if !s.reserve() {
		return &apiError{http.StatusServiceUnavailable, "OVERLOADED", "the server keeps as many holds as it may; retry shortly"}
	}
	program := c.Param("id")
	var (
		h   target.Hold
		err error
	)
	if named := len(in.Seats) > 0; named {
		expected := int64(math.MaxInt64) // left out: any total, as the gateway
		if in.ExpectedTotalCents != nil {
			expected = *in.ExpectedTotalCents
		}
		h, err = s.t.HoldNamed(ctx, program, uint64(user), in.Seats, expected)
	} else {
		h, err = s.t.HoldBest(ctx, program, in.Category, uint64(user), *in.Count)
	}
	if err != nil {
		s.unreserve()
		return s.refusal(err)
	}
	kept := hold{buyer: user, program: program, hold: h}
	s.mu.Lock()
	_, dup := s.holds[h.ID]
	s.holds[h.ID] = kept
	s.mu.Unlock()
	if dup {
		// The target broke its word; the hold it replaced is lost here.
		panic(fmt.Sprintf("httpapi: the target gave hold id %q twice", h.ID))
	}
	writeJSON(c, http.StatusCreated, kept.out("HELD"))
	return nil
}

// reserve takes a place for a hold, if fewer than MaxHolds are kept.
func (s *Server) reserve() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kept >= s.cfg.MaxHolds {
		return false
	}
	s.kept++
	return true
}

func (s *Server) unreserve() {
	s.mu.Lock()
	s.kept--
	s.mu.Unlock()
}

// release serves DELETE /v1/holds/{hold_id}: the buyer's own hold. The
// hold leaves the table while it is released, so that two releases of
// it never both run, and comes back if the target fails.
func (s *Server) release(ctx context.Context, c *app.RequestContext, user int64) *apiError {
	id := c.Param("hold_id")
	s.mu.Lock()
	h, ok := s.holds[id]
	if ok && h.buyer == user {
		delete(s.holds, id)
	}
	s.mu.Unlock()
	if !ok || h.buyer != user {
		return noHold
	}
	err := s.t.Release(ctx, h.program, h.hold)
	switch {
	case err == nil:
		s.unreserve()
	case errors.Is(err, target.ErrUnknownHold):
		// Not held any more: the program was loaded again.
		s.unreserve()
		return noHold
	default:
		s.mu.Lock()
		s.holds[id] = h
		s.mu.Unlock()
		return s.refusal(err)
	}
	writeJSON(c, http.StatusOK, h.out("RELEASED"))
	return nil
}
