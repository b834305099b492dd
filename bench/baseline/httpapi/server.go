// Package httpapi puts a baseline of ../shared/BASELINE.md (any
// target.Target: Redis with Lua, seats as rows in PostgreSQL) behind an
// HTTP front of the same shape as seatd's gateway, so that seatbench
// compares each layer with the same layer: the baseline behind HTTP
// against seatd through its gateway. Server is that front, on Hertz, as
// the gateway is; Client is a target.Target that speaks to it.
//
// The routes are the gateway's hold routes, with its JSON and its
// authentication (a Bearer JWT of the buyer, verified by the gateway's
// own code, gateway.BuyerVerifier, with its cache of verified tokens):
//
//	POST   /v1/programs/{id}/holds  {"category":"a","count":2}
//	                                or {"seats":["A/1/1"],"expected_total_cents":1000}
//	       201 {"hold_id":"7","status":"HELD","seats":[{"id":"A/1/1"}],"total_cents":1000}
//	DELETE /v1/holds/{hold_id}      200, the hold with "status":"RELEASED"
//
// Refusals are the gateway's error body, {"error":{"code","message",
// "details"}}, with its statuses and codes: 409 SOLD_OUT,
// NO_ADJACENT_SEATS, SEAT_TAKEN, PRICE_MISMATCH; 404 NOT_FOUND (a hold
// that is not the buyer's, or not held); 401 UNAUTHENTICATED; 400
// INVALID_JSON; 422 INVALID_ARGUMENT; 413, 415; 503 OVERLOADED; 500
// INTERNAL for any other failure of the target, logged in full.
//
// What the gateway does and this front does not: per-buyer rate limits,
// idempotency keys, GET of a hold, the fields a baseline cannot honour
// (together, accessible, from, to, holders; refused as unknown). Seats
// in answers carry their id only, as target.Hold does.
//
// A Server serves requests concurrently, each on Hertz's goroutine for
// it, bounded by Config.MaxInFlight. It remembers the holds it made, at
// most Config.MaxHolds, so that DELETE, which names a hold only, can
// give Release the program and seats it needs and check the buyer.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
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
	// maxBody bounds a request body, as the gateway bounds a hold's.
	maxBody = 64 << 10
)

// Config configures a Server. Zero fields take the defaults noted.
type Config struct {
	// Auth holds the buyer token keys (HS256Secret, Ed25519Key); its
	// operator settings are not used.
	Auth gateway.AuthConfig
	// TokenCacheBytes bounds the verified tokens kept, as the gateway's
	// Config.TokenCacheBytes. Default 16 MiB, the gateway's.
	TokenCacheBytes int64
	// MaxInFlight bounds requests being served at once; past it a
	// request is answered 503 OVERLOADED at once. Default 4096, the
	// gateway's.
	MaxInFlight int
	// MaxHolds bounds the holds remembered for DELETE; past it a hold
	// request is answered 503 OVERLOADED before the target is asked.
	// Default 1<<20 (about 200 MB at most): more than a stadium's seats.
	MaxHolds int
	// RequestTimeout bounds one request's call to the target. Default
	// 5s, the gateway's.
	RequestTimeout time.Duration
	// Log receives internal errors. Default slog.Default().
	Log *slog.Logger
}

// withDefaults returns c with its zero fields set.
func (c Config) withDefaults() Config {
	if c.TokenCacheBytes == 0 {
		c.TokenCacheBytes = 16 << 20
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 4096
	}
	if c.MaxHolds == 0 {
		c.MaxHolds = 1 << 20
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}

// Validate reports every problem with the settings (after defaults).
func (c Config) Validate() error {
	var errs []error
	if c.MaxInFlight < 1 {
		errs = append(errs, fmt.Errorf("httpapi: max in flight %d, want at least 1", c.MaxInFlight))
	}
	if c.MaxHolds < 1 {
		errs = append(errs, fmt.Errorf("httpapi: max holds %d, want at least 1", c.MaxHolds))
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, fmt.Errorf("httpapi: request timeout %v, want more than 0", c.RequestTimeout))
	}
	return errors.Join(errs...)
}

// Server is the HTTP front of a target.
type Server struct {
	t        target.Target
	cfg      Config
	buyers   *gateway.BuyerVerifier
	inFlight chan struct{}
	hz       *server.Hertz

	mu       sync.Mutex          // guards the fields below
	holds    map[string]heldHold // by hold id
	reserved int                 // hold requests under way, each counted against MaxHolds
}

// heldHold is a hold the server made, as DELETE needs it.
type heldHold struct {
	program string
	user    int64
	hold    target.Hold
}

// NewServer returns the front of t; Start serves it. The target's hold
// ids must be unique across its programs.
func NewServer(t target.Target, cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	buyers, err := gateway.NewBuyerVerifier(cfg.Auth, cfg.TokenCacheBytes)
	if err != nil {
		return nil, err
	}
	return &Server{t: t, cfg: cfg, buyers: buyers, inFlight: make(chan struct{}, cfg.MaxInFlight), holds: map[string]heldHold{}}, nil
}

// Start serves on ln until Stop, with the gateway's server settings
// that bear on a hold: body bound, timeouts, no route printing. As in
// the gateway, Hertz cuts off a body past twice maxBody itself; within
// that margin the handler answers 413 in the error shape.
func (s *Server) Start(ln net.Listener) {
	s.hz = server.New(server.WithListener(ln), server.WithMaxRequestBodySize(2*maxBody),
		server.WithReadTimeout(30*time.Second), server.WithWriteTimeout(30*time.Second), server.WithIdleTimeout(2*time.Minute),
		server.WithExitWaitTime(2*time.Second), server.WithDisablePrintRoute(true))
	s.hz.POST("/v1/programs/:id/holds", s.wrap(s.hold))
	s.hz.DELETE("/v1/holds/:hold_id", s.wrap(s.release))
	go func() {
		if err := s.hz.Run(); err != nil {
			s.cfg.Log.Error("httpapi_server_failed", "err", err)
		}
	}()
}

// Stop stops serving, letting requests under way finish until ctx ends.
func (s *Server) Stop(ctx context.Context) error {
	if s.hz == nil {
		return nil
	}
	return s.hz.Shutdown(ctx)
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
// with its words, or a 500 (logged by fail).
func refusal(err error) *apiError {
	for _, r := range refusals {
		if errors.Is(err, r.err) {
			return &apiError{r.status, r.code, err.Error()}
		}
	}
	return &apiError{http.StatusInternalServerError, "INTERNAL", err.Error()}
}

// noHold is the one answer for a hold the caller may not release: not
// theirs, or not held.
var noHold = &apiError{http.StatusNotFound, "NOT_FOUND", "no such hold"}

// wrap adds what both routes share, as the gateway's wrap does: the
// in-flight bound, the buyer's token, a deadline, the error body.
func (s *Server) wrap(fn func(ctx context.Context, c *app.RequestContext, user int64) *apiError) app.HandlerFunc {
	return func(ctx context.Context, c *app.RequestContext) {
		select {
		case s.inFlight <- struct{}{}:
			defer func() { <-s.inFlight }()
		default:
			s.fail(c, &apiError{http.StatusServiceUnavailable, "OVERLOADED", "the server is at its limit; retry shortly"})
			return
		}
		user, err := s.buyers.Verify(string(c.GetHeader("Authorization")), time.Now())
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

// fail writes an error answer in the gateway's shape and headers.
func (s *Server) fail(c *app.RequestContext, e *apiError) {
	switch e.status {
	case http.StatusServiceUnavailable:
		c.Header("Retry-After", "1")
	case http.StatusUnauthorized:
		c.Header("WWW-Authenticate", `Bearer realm="seatd"`)
	case http.StatusInternalServerError:
		s.cfg.Log.Error("httpapi_internal_error", "err", e.message)
		e = &apiError{e.status, e.code, "internal error"}
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

// holdIn is a hold request: a category and a count, or seats named and
// the total the buyer expects to pay.
type holdIn struct {
	Category           string   `json:"category"`
	Count              *int     `json:"count"`
	Seats              []string `json:"seats"`
	ExpectedTotalCents *int64   `json:"expected_total_cents"`
}

// holdOut is a hold, as the gateway writes one (the fields a baseline
// has).
type holdOut struct {
	HoldID     string    `json:"hold_id"`
	Status     string    `json:"status"`
	Seats      []seatOut `json:"seats"`
	TotalCents int64     `json:"total_cents"`
}

type seatOut struct {
	ID string `json:"id"`
}

type errorOut struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

func toJSON(h target.Hold, status string) holdOut {
	out := holdOut{HoldID: h.ID, Status: status, Seats: make([]seatOut, len(h.Seats)), TotalCents: h.TotalCents}
	for i, id := range h.Seats {
		out.Seats[i] = seatOut{ID: id}
	}
	return out
}

// readHold checks and decodes a hold request's body.
func readHold(c *app.RequestContext) (holdIn, *apiError) {
	var in holdIn
	if mt, _, err := mime.ParseMediaType(string(c.Request.Header.ContentType())); err != nil || mt != "application/json" {
		return in, &apiError{http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "send the body as application/json"}
	}
	body := c.Request.Body()
	if len(body) > maxBody {
		return in, &apiError{http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE", fmt.Sprintf("the body has %d bytes, at most %d", len(body), maxBody)}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, &apiError{http.StatusBadRequest, "INVALID_JSON", err.Error()}
	}
	invalid := func(msg string) (holdIn, *apiError) {
		return in, &apiError{http.StatusUnprocessableEntity, "INVALID_ARGUMENT", msg}
	}
	switch {
	case in.Seats == nil && (in.Count == nil || in.Category == ""):
		return invalid("give a category and a count, or seats")
	case in.Seats == nil && (*in.Count < 1 || *in.Count > MaxSeatsPerRequest):
		return invalid(fmt.Sprintf("count: %d, want 1-%d", *in.Count, MaxSeatsPerRequest))
	case in.Seats != nil && (len(in.Seats) < 1 || len(in.Seats) > MaxSeatsPerRequest):
		return invalid(fmt.Sprintf("seats: %d named, want 1-%d", len(in.Seats), MaxSeatsPerRequest))
	case in.Seats != nil && (in.Count != nil || in.Category != ""):
		return invalid("give seats or a category and a count, not both")
	case in.Seats != nil && in.ExpectedTotalCents == nil:
		return invalid("expected_total_cents: want the total of the seats named")
	}
	return in, nil
}

// hold places a hold: it reserves room to remember it, asks the target,
// and remembers it for DELETE.
func (s *Server) hold(ctx context.Context, c *app.RequestContext, user int64) *apiError {
	in, aerr := readHold(c)
	if aerr != nil {
		return aerr
	}
	s.mu.Lock()
	if len(s.holds)+s.reserved >= s.cfg.MaxHolds {
		s.mu.Unlock()
		return &apiError{http.StatusServiceUnavailable, "OVERLOADED", "the server remembers as many holds as it may; release some"}
	}
	s.reserved++
	s.mu.Unlock()
	program := c.Param("id")
	var (
		h   target.Hold
		err error
	)
	if in.Seats != nil {
		h, err = s.t.HoldNamed(ctx, program, uint64(user), in.Seats, *in.ExpectedTotalCents)
	} else {
		h, err = s.t.HoldBest(ctx, program, in.Category, uint64(user), *in.Count)
	}
	s.mu.Lock()
	s.reserved--
	_, dup := s.holds[h.ID]
	if err == nil && !dup {
		s.holds[h.ID] = heldHold{program: program, user: user, hold: h}
	}
	s.mu.Unlock()
	switch {
	case err != nil:
		return refusal(err)
	case dup:
		return &apiError{http.StatusInternalServerError, "INTERNAL", fmt.Sprintf("the target gave hold id %q twice", h.ID)}
	}
	writeJSON(c, http.StatusCreated, toJSON(h, "HELD"))
	return nil
}

// release gives the buyer's hold back. The hold is forgotten while the
// target releases it, so that a second DELETE finds nothing, and is
// remembered again if the target failed.
func (s *Server) release(ctx context.Context, c *app.RequestContext, user int64) *apiError {
	id := c.Param("hold_id")
	s.mu.Lock()
	hh, ok := s.holds[id]
	if ok && hh.user == user {
		delete(s.holds, id)
	}
	s.mu.Unlock()
	if !ok || hh.user != user {
		return noHold
	}
	if err := s.t.Release(ctx, hh.program, hh.hold); err != nil {
		aerr := refusal(err)
		if aerr.status == http.StatusInternalServerError {
			s.mu.Lock()
			s.holds[id] = hh
			s.mu.Unlock()
		}
		return aerr
	}
	writeJSON(c, http.StatusOK, toJSON(hh.hold, "RELEASED"))
	return nil
}
