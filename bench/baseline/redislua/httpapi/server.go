// Package httpapi puts the Redis+Lua baseline (bench/baseline/redislua)
// behind an HTTP handler of the same shape as seatd's gateway hold
// routes, so that seatbench compares each layer with the same layer:
// Hertz, the gateway's JSON and error shape, the gateway's buyer
// authentication (gateway.BuyerVerifier: a Bearer JWT whose sub is the
// buyer, verified tokens cached), a bound on requests in flight.
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
// the buyer's, or no route); 415, 422 INVALID_ARGUMENT, 400 INVALID_JSON;
// 503 OVERLOADED and UNAVAILABLE. Only what the baseline has is there: no
// leg ranges, holders, idempotency keys or per-buyer rate limit.
//
// The design keeps a hold's seats in the buyer's order, outside Redis; a
// Server keeps them in memory (at most Config.MaxHolds), where a release
// finds them, and loses them when it stops. Client is a target.Target
// over this API, as the driver is over Redis.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/cloudwego/hertz/pkg/app"
	"github.com/cloudwego/hertz/pkg/app/server"

	"seatd/bench/baseline/redislua"
	"seatd/bench/target"
	"seatd/gateway"
)

const (
	// maxBody bounds a request body: the gateway's bound for everything
	// but program creates. 64 seat ids take about 1 KiB.
	maxBody = 64 << 10
	// MaxMaxHolds bounds Config.MaxHolds.
	MaxMaxHolds = 1 << 24
)

// Config is what a Server needs.
type Config struct {
	// Redis is the driver's configuration (its pool size bounds the
	// scripts in flight).
	Redis redislua.Config
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
	// answered 503 OVERLOADED before any seat is locked. Default
	// 1<<17, more than one hold per seat of the 80,000-seat stadium;
	// 1 to MaxMaxHolds.
	MaxHolds int
	// RequestTimeout bounds one request's calls to Redis. Default 5 s,
	// the gateway's.
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

// Validate reports every problem with the settings, the driver's too;
// New checks the token keys and cache besides (gateway.NewBuyerVerifier).
func (c Config) Validate() error {
	errs := []error{c.Redis.Validate()}
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

// Server serves the hold routes over the baseline.
type Server struct {
	cfg      Config
	driver   *redislua.Driver
	verifier *gateway.BuyerVerifier
	inFlight chan struct{} // a slot per request being served

	mu     sync.Mutex      // guards holds, kept, hz and closed
	holds  map[string]hold // by hold id
	kept   int             // len(holds) plus the holds being made
	hz     *server.Hertz   // nil until Serve
	closed bool            // Shutdown was called
}

// hold is what a release needs: whose it is, and its seats.
type hold struct {
	buyer   int64
	program string
	seats   []redislua.Seat
	total   int64
}

// New connects to Redis (redislua.New, which sets the server's
// persistence) and returns a Server; Serve serves it.
func New(cfg Config) (*Server, error) {
	err := cfg.Validate()
	cfg = cfg.withDefaults()
	v, verr := gateway.NewBuyerVerifier(cfg.Auth, cfg.TokenCacheBytes)
	if err := errors.Join(err, verr); err != nil {
		return nil, err
	}
	d, err := redislua.New(context.Background(), cfg.Redis)
	if err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, driver: d, verifier: v, inFlight: make(chan struct{}, cfg.MaxInFlight), holds: map[string]hold{}}, nil
}

// Driver returns the server's driver: for loading programs, which is no
// route here (the gateway's program create is an operator's, outside
// what is measured), and for Persists.
func (s *Server) Driver() *redislua.Driver { return s.driver }

// Serve serves on ln until Shutdown; it may be called once, and not
// after Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.hz != nil || s.closed {
		s.mu.Unlock()
		return errors.New("httpapi: Serve called twice, or after Shutdown")
	}
	// Hertz cuts a body past the bound off itself, with 413.
	s.hz = server.New(server.WithListener(ln), server.WithMaxRequestBodySize(maxBody), server.WithUseRawPath(true),
		server.WithRedirectTrailingSlash(false), server.WithRedirectFixedPath(false),
		server.WithReadTimeout(30*time.Second), server.WithWriteTimeout(30*time.Second), server.WithIdleTimeout(2*time.Minute),
		server.WithExitWaitTime(2*time.Second), server.WithDisablePrintRoute(true))
	s.hz.POST("/v1/programs/:id/holds", s.wrap(s.hold))
	s.hz.DELETE("/v1/holds/:hold_id", s.wrap(s.release))
	s.hz.NoRoute(func(_ context.Context, c *app.RequestContext) {
		fail(c, errorf(http.StatusNotFound, "NOT_FOUND", "no such route"))
	})
	hz := s.hz
	s.mu.Unlock()
	return hz.Run()
}

// Shutdown stops serving, letting requests under way finish until ctx
// ends, and closes the connections to Redis.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	hz := s.hz
	s.closed = true
	s.mu.Unlock()
	var err error
	if hz != nil {
		err = hz.Shutdown(ctx)
	}
	return errors.Join(err, s.driver.Close())
}

// apiError is an answer that is not a success, written in the gateway's
// error shape.
type apiError struct {
	status  int
	code    string
	message string
}

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// fail writes an error answer; 503 carries Retry-After, 401 its
// challenge, as the gateway's do.
func fail(c *app.RequestContext, e *apiError) {
	switch e.status {
	case http.StatusServiceUnavailable:
		c.Header("Retry-After", "1")
	case http.StatusUnauthorized:
		c.Header("WWW-Authenticate", `Bearer realm="seatd"`)
	}
	writeJSON(c, e.status, map[string]any{"error": map[string]any{"code": e.code, "message": e.message, "details": map[string]any{}}})
}

func writeJSON(c *app.RequestContext, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("httpapi: encoding an answer: %v", err)) // only maps, strings and numbers
	}
	c.Data(status, "application/json; charset=utf-8", b)
}

// handlerFunc serves one route for the buyer user.
type handlerFunc func(ctx context.Context, c *app.RequestContext, user int64) *apiError

// wrap adds what the gateway's buyer routes share: the in-flight bound,
// the buyer's token, a deadline, the error answer.
func (s *Server) wrap(fn handlerFunc) app.HandlerFunc {
	return func(ctx context.Context, c *app.RequestContext) {
		select {
		case s.inFlight <- struct{}{}:
			defer func() { <-s.inFlight }()
		default:
			fail(c, errorf(http.StatusServiceUnavailable, "OVERLOADED", "the server is at its limit; retry shortly"))
			return
		}
		user, err := s.verifier.Verify(string(c.GetHeader("Authorization")), time.Now())
		if err != nil {
			fail(c, errorf(http.StatusUnauthorized, "UNAUTHENTICATED", "%s", err))
			return
		}
		ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
		if e := fn(ctx, c, user); e != nil {
			fail(c, e)
		}
	}
}

// holdIn is the hold request: the gateway's fields the baseline has.
type holdIn struct {
	Category           string   `json:"category"`
	Count              *int     `json:"count"`
	Seats              []string `json:"seats"`
	ExpectedTotalCents *int64   `json:"expected_total_cents"`
}

// check checks a hold request as the gateway does, and says the
// baseline's one difference: a best-available hold names its category.
func (in *holdIn) check() *apiError {
	bad := func(format string, args ...any) *apiError {
		return errorf(http.StatusUnprocessableEntity, "INVALID_ARGUMENT", format, args...)
	}
	limit, named := redislua.MaxSeatsPerHold, len(in.Seats)
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
	return nil
}

// heldSeatOut and holdOut are a hold as answered.
type heldSeatOut struct {
	ID         string `json:"id"`
	Category   string `json:"category"`
	PriceCents int64  `json:"price_cents"`
}

type holdOut struct {
	HoldID     string        `json:"hold_id"`
	ProgramID  string        `json:"program_id"`
	Status     string        `json:"status"` // HELD or RELEASED
	Seats      []heldSeatOut `json:"seats"`
	TotalCents int64         `json:"total_cents"`
}

func (h hold) out(id, status string) holdOut {
	o := holdOut{HoldID: id, ProgramID: h.program, Status: status, Seats: make([]heldSeatOut, len(h.seats)), TotalCents: h.total}
	for i, s := range h.seats {
		o.Seats[i] = heldSeatOut{ID: s.ID, Category: s.Category, PriceCents: s.PriceCents}
	}
	return o
}

// hold serves POST /v1/programs/{id}/holds.
func (s *Server) hold(ctx context.Context, c *app.RequestContext, user int64) *apiError {
	in, e := decodeHold(c)
	if e != nil {
		return e
	}
	if !s.reserve() {
		return errorf(http.StatusServiceUnavailable, "OVERLOADED", "the server keeps as many holds as it may; retry shortly")
	}
	program := c.Param("id")
	var (
		h     target.Hold
		seats []redislua.Seat
		err   error
	)
	if len(in.Seats) > 0 {
		expected := int64(math.MaxInt64)
		if in.ExpectedTotalCents != nil {
			expected = *in.ExpectedTotalCents
		}
		h, seats, err = s.driver.HoldNamedSeats(ctx, program, in.Seats, expected)
	} else {
		h, seats, err = s.driver.HoldBestSeats(ctx, program, in.Category, *in.Count)
	}
	if err != nil {
		s.unreserve()
		return s.refusal(err)
	}
	kept := hold{buyer: user, program: program, seats: seats, total: h.TotalCents}
	s.mu.Lock()
	s.holds[h.ID] = kept
	s.mu.Unlock()
	writeJSON(c, http.StatusCreated, kept.out(h.ID, "HELD"))
	return nil
}

// decodeHold reads a hold request sent as JSON and checks it.
func decodeHold(c *app.RequestContext) (*holdIn, *apiError) {
	ct := string(c.Request.Header.ContentType())
	if mt, params, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" ||
		params["charset"] != "" && params["charset"] != "utf-8" {
		return nil, errorf(http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "Content-Type %q: send the body as application/json", ct)
	}
	var in holdIn
	if err := json.Unmarshal(c.Request.Body(), &in); err != nil {
		return nil, errorf(http.StatusBadRequest, "INVALID_JSON", "the body is not the JSON object of a hold: %v", err)
	}
	if e := in.check(); e != nil {
		return nil, e
	}
	return &in, nil
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

// refusal maps the driver's refusals to the gateway's codes; any other
// error is logged and answered 503.
func (s *Server) refusal(err error) *apiError {
	for _, r := range []struct {
		err  error
		code string
	}{
		{target.ErrSoldOut, "SOLD_OUT"},
		{target.ErrNoAdjacent, "NO_ADJACENT_SEATS"},
		{target.ErrTaken, "SEAT_TAKEN"},
		{target.ErrPriceMismatch, "PRICE_MISMATCH"},
	} {
		if errors.Is(err, r.err) {
			return errorf(http.StatusConflict, r.code, "%s", err)
		}
	}
	s.cfg.Log.Error("httpapi_redis_failed", "err", err)
	return errorf(http.StatusServiceUnavailable, "UNAVAILABLE", "the inventory is unavailable; retry shortly")
}

// release serves DELETE /v1/holds/{hold_id}: the buyer's own hold. The
// hold leaves the table while it is released, so that two releases of
// it never both run, and comes back if Redis fails.
func (s *Server) release(ctx context.Context, c *app.RequestContext, user int64) *apiError {
	id := c.Param("hold_id")
	s.mu.Lock()
	h, ok := s.holds[id]
	if ok && h.buyer == user {
		delete(s.holds, id)
	}
	s.mu.Unlock()
	if !ok || h.buyer != user {
		return errorf(http.StatusNotFound, "NOT_FOUND", "no such hold")
	}
	th := target.Hold{ID: id, Seats: make([]string, len(h.seats)), TotalCents: h.total}
	for i, st := range h.seats {
		th.Seats[i] = st.ID
	}
	err := s.driver.Release(ctx, h.program, th)
	switch {
	case err == nil, errors.Is(err, target.ErrUnknownHold):
		s.unreserve()
	default:
		s.mu.Lock()
		s.holds[id] = h
		s.mu.Unlock()
		s.cfg.Log.Error("httpapi_redis_failed", "err", err)
		return errorf(http.StatusServiceUnavailable, "UNAVAILABLE", "the inventory is unavailable; retry shortly")
	}
	if err != nil {
		// Its seats are not locked: the program was loaded again.
		return errorf(http.StatusNotFound, "NOT_FOUND", "no such hold")
	}
	writeJSON(c, http.StatusOK, h.out(id, "RELEASED"))
	return nil
}
