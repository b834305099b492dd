package gateway

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudwego/hertz/pkg/app"
	"github.com/cloudwego/hertz/pkg/app/server"
	"github.com/cloudwego/hertz/pkg/common/adaptor"
	"github.com/cloudwego/hertz/pkg/route/param"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"seatd/inventory"
	rpc "seatd/kitex_gen/inventoryrpc"
	"seatd/orderflow/orderclient"
	"seatd/seatclient"
)

// Config configures a gateway. Zero fields take the defaults noted.
type Config struct {
	Auth AuthConfig
	// Inventory is the routing client to seatd.
	Inventory *seatclient.Client
	// Orders is the routing client to the order service; nil answers
	// the order routes 501.
	Orders *orderclient.Client
	// MaxInFlight bounds requests being served at once; past it a request
	// is answered 503 OVERLOADED at once. Default 4096.
	MaxInFlight int
	// UserRate and UserBurst are each buyer's token bucket: requests per
	// second, and how many may come at once. Defaults 5 and 10.
	UserRate  float64
	UserBurst int
	// RequestTimeout bounds one request's calls to seatd. Default 5s.
	RequestTimeout time.Duration
	// CreateTimeout bounds a program create's calls instead: a program of
	// millions of seats takes each replica seconds to validate and apply,
	// and an operator would rather wait than retry. Default 1m.
	CreateTimeout time.Duration
	// ProviderTimeout bounds the requests that wait for a payment
	// provider through the pay service (pay, payment status,
	// notifications, refunds). Default 20s: above the routing client's
	// bound on such a call (orderclient's ProviderTimeout).
	ProviderTimeout time.Duration
	// MaxBodyBytes bounds a request body; program creates may carry
	// large layouts. Default 16 MiB; holds and blocks take at most 64 KiB.
	MaxBodyBytes int
	// SeatMapMaxAge is how long a cached seat map or availability answer
	// is served before seatd is asked again. Default 200ms.
	SeatMapMaxAge time.Duration
	// CacheBytes is the byte budget of the cache of seat map and
	// availability answers and program layouts; past it the least
	// recently used entries go. Default 128 MiB: about 120 compact maps of
	// a million seats, or tens of thousands of small answers.
	CacheBytes int64
	// MaxCacheEntryBytes is the largest answer or layout the cache keeps;
	// a larger one is built for the requests that wait for it and
	// dropped. Default 32 MiB: the layout of a program of
	// inventory.MaxSeatsPerProgram seats in any rows (3 bytes a seat,
	// about 45 a row, and at most inventory.MaxRowsPerProgram rows), with
	// column numbers for labels.
	MaxCacheEntryBytes int64
	// MaxFullSeatMapSeats is the most seats a seat map in the full
	// format lists; a larger map is refused with a 422 that says to page
	// by section or ask for the compact format. A full-format seat costs
	// about 100 bytes of JSON, and a compact one a byte. Default 10,000
	// (about 1 MB).
	MaxFullSeatMapSeats int
	// TokenCacheBytes is the byte budget of the verified buyer tokens
	// kept (beyond the table's fixed 3.5 MiB of slots). Default 16 MiB.
	TokenCacheBytes int64
	Log             *slog.Logger
	Clock           func() time.Time
}

func (c Config) withDefaults() Config {
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 4096
	}
	if c.UserRate == 0 {
		c.UserRate = 5
	}
	if c.UserBurst == 0 {
		c.UserBurst = 10
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.ProviderTimeout == 0 {
		c.ProviderTimeout = 20 * time.Second
	}
	if c.CreateTimeout == 0 {
		c.CreateTimeout = time.Minute
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 16 << 20
	}
	if c.SeatMapMaxAge == 0 {
		c.SeatMapMaxAge = 200 * time.Millisecond
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = 128 << 20
	}
	if c.MaxCacheEntryBytes == 0 {
		c.MaxCacheEntryBytes = min(32<<20, c.CacheBytes)
	}
	if c.MaxFullSeatMapSeats == 0 {
		c.MaxFullSeatMapSeats = 10_000
	}
	if c.TokenCacheBytes == 0 {
		c.TokenCacheBytes = 16 << 20
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c
}

// Validate reports every setting out of range.
func (c Config) Validate() error {
	d := c.withDefaults()
	errs := []error{d.Auth.Validate()}
	if d.MaxInFlight < 1 || d.MaxInFlight > 1<<20 {
		errs = append(errs, fmt.Errorf("gateway: max in flight %d, want 1-%d", d.MaxInFlight, 1<<20))
	}
	if d.UserRate <= 0 || d.UserBurst < 1 {
		errs = append(errs, fmt.Errorf("gateway: user rate %v/s burst %d, want both positive", d.UserRate, d.UserBurst))
	}
	if d.RequestTimeout <= 0 || d.CreateTimeout <= 0 || d.ProviderTimeout <= 0 || d.SeatMapMaxAge < 0 || d.MaxBodyBytes < smallBody {
		errs = append(errs, errors.New("gateway: request timeout, seat map age and body size must be positive (body at least 64 KiB)"))
	}
	if d.CacheBytes < minCacheBytes || d.CacheBytes > maxCacheBytes {
		errs = append(errs, fmt.Errorf("gateway: cache bytes %d, want %d-%d", d.CacheBytes, minCacheBytes, int64(maxCacheBytes)))
	}
	if d.MaxCacheEntryBytes < minCacheEntryBytes || d.MaxCacheEntryBytes > d.CacheBytes {
		errs = append(errs, fmt.Errorf("gateway: cache max entry bytes %d, want %d up to the cache bytes (%d)", d.MaxCacheEntryBytes, minCacheEntryBytes, d.CacheBytes))
	}
	if d.MaxFullSeatMapSeats < 1 || d.MaxFullSeatMapSeats > inventory.MaxSeatsPerProgram {
		errs = append(errs, fmt.Errorf("gateway: seat map max full seats %d, want 1-%d", d.MaxFullSeatMapSeats, inventory.MaxSeatsPerProgram))
	}
	if d.TokenCacheBytes < maxCachedToken || d.TokenCacheBytes > maxCacheBytes {
		errs = append(errs, fmt.Errorf("gateway: token cache bytes %d, want %d-%d", d.TokenCacheBytes, maxCachedToken, int64(maxCacheBytes)))
	}
	return errors.Join(errs...)
}

// The range of the caches' byte budgets: below 64 KiB a cache holds
// hardly one seat map, and past 64 GiB a budget is a mistake. Below
// 4 KiB an entry holds hardly an availability answer.
const (
	minCacheBytes      = 64 << 10
	maxCacheBytes      = 64 << 30
	minCacheEntryBytes = 4 << 10
)

// smallBody bounds the bodies of everything but program creates.
const smallBody = 64 << 10

// Gateway serves the HTTP contract of DESIGN.md section 6 over seatd.
type Gateway struct {
	cfg      Config
	inv      *seatclient.Client
	orders   *orderclient.Client
	limiter  *userLimiter
	tokens   *tokenCache
	inFlight chan struct{} // a slot per request being served
	builds   chan struct{} // a slot per layout being fetched and decoded (see maxLayoutBuilds)
	cache    *cache
	allow    allowTable // each route's methods, for 405 answers
	metrics  *metrics
	registry *prometheus.Registry
	hz       *server.Hertz
	stopKeys context.CancelFunc // ends the JWKS's refreshes
}

// New returns a gateway; Start serves it.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Inventory == nil {
		return nil, errors.New("gateway: no inventory client")
	}
	cfg = cfg.withDefaults()
	if cfg.Auth.JWKS.Enabled() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Auth.JWKS.withDefaults().Timeout)
		set, err := newKeySet(ctx, cfg.Auth.JWKS, cfg.Log)
		cancel()
		if err != nil {
			return nil, err
		}
		cfg.Auth.set = set
	}
	g := &Gateway{cfg: cfg, inv: cfg.Inventory, orders: cfg.Orders, limiter: newUserLimiter(cfg.UserRate, cfg.UserBurst), tokens: newTokenCache(cfg.TokenCacheBytes),
		inFlight: make(chan struct{}, cfg.MaxInFlight), builds: make(chan struct{}, maxLayoutBuilds), cache: newCache(cfg.CacheBytes, cfg.MaxCacheEntryBytes)}
	g.registry = prometheus.NewRegistry()
	g.metrics = newMetrics(g.registry, g)
	g.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return g, nil
}

// Start serves on ln until Stop.
func (g *Gateway) Start(ln net.Listener) {
	// Hertz itself cuts off a body past MaxBodyBytes plus a margin; within
	// the margin the handlers answer 413 in the contract's error shape.
	// Routes match the path as sent, so that an escaped slash stays inside
	// its segment: /v1/programs/a%2Fholds names the program "a/holds"
	// (there is none), not the holds route. Nor does Hertz redirect a
	// path to another with or without its trailing slash, or cleaned of
	// "//" or of case: those redirects left without the security headers
	// and outside the description, and a path that is not a route's is a
	// 404 in the error shape like any other.
	g.hz = server.New(server.WithListener(ln), server.WithMaxRequestBodySize(g.cfg.MaxBodyBytes+smallBody), server.WithUseRawPath(true),
		server.WithRedirectTrailingSlash(false), server.WithRedirectFixedPath(false), server.WithRemoveExtraSlash(false),
		server.WithReadTimeout(30*time.Second), server.WithWriteTimeout(30*time.Second), server.WithIdleTimeout(2*time.Minute),
		server.WithExitWaitTime(2*time.Second), server.WithDisablePrintRoute(true), server.WithHandleMethodNotAllowed(true))
	g.routes(g.hz)
	if set := g.cfg.Auth.set; set != nil {
		ctx, cancel := context.WithCancel(context.Background())
		g.stopKeys = cancel
		go set.run(ctx)
	}
	go func() {
		if err := g.hz.Run(); err != nil {
			g.cfg.Log.Error("gateway_server_failed", "err", err)
		}
	}()
}

// Stop stops serving, letting requests under way finish until ctx ends.
func (g *Gateway) Stop(ctx context.Context) error {
	if g.stopKeys != nil {
		g.stopKeys()
	}
	if g.hz == nil {
		return nil
	}
	return g.hz.Shutdown(ctx)
}

// access is who may call a route.
type access int

const (
	public access = iota
	buyer
	admin
	// buyerOrAdmin routes serve a buyer, or an operator acting for any
	// buyer (the admin token), to whom the handler gets user 0.
	buyerOrAdmin
)

// handlerFunc serves one route; user is the buyer's id, 0 when the
// caller is not a buyer (public routes, the admin token).
type handlerFunc func(ctx context.Context, c *app.RequestContext, user int64) *apiError

// routes serves every route. A GET route answers HEAD too, as GET
// without the body (Hertz sends HEAD only to routes made for it, and
// drops the body of their answers).
func (g *Gateway) routes(h *server.Hertz) {
	h.Use(securityHeaders, hertzRefusal)
	handle := func(method, path string, fn app.HandlerFunc) {
		h.Handle(method, path, fn)
		if method == http.MethodGet {
			h.Handle(http.MethodHead, path, fn)
		}
	}
	noRoute := g.wrap("no_route", public, func(context.Context, *app.RequestContext, int64) *apiError {
		return errorf(http.StatusNotFound, "NOT_FOUND", "no such route")
	})
	r := func(method, path, name string, who access, fn handlerFunc) {
		serve := g.wrap(name, who, fn)
		handle(method, path, func(ctx context.Context, c *app.RequestContext) {
			// Hertz matches an empty segment to a path parameter
			// (/v1/programs//holds), but no id is empty: no route.
			if slices.ContainsFunc(c.Params, func(p param.Param) bool { return p.Value == "" }) {
				noRoute(ctx, c)
				return
			}
			serve(ctx, c)
		})
	}
	r("POST", "/v1/programs", "create_program", admin, g.createProgram)
	r("GET", "/v1/programs", "list_programs", public, g.listPrograms)
	r("GET", "/v1/programs/:id", "get_program", public, g.getProgram)
	r("POST", "/v1/programs/:id/open", "open_sale", admin, g.setSale(true))
	r("POST", "/v1/programs/:id/close", "close_sale", admin, g.setSale(false))
	r("POST", "/v1/programs/:id/blocks", "block", admin, g.block)
	r("GET", "/v1/programs/:id/availability", "availability", public, g.availability)
	r("GET", "/v1/programs/:id/seats", "seat_map", public, g.seatMap)
	r("POST", "/v1/programs/:id/holds", "hold", buyer, g.hold)
	r("GET", "/v1/holds/:hold_id", "get_hold", buyerOrAdmin, g.getHold)
	r("DELETE", "/v1/holds/:hold_id", "release_hold", buyerOrAdmin, g.releaseHold)
	r("GET", "/v1/cluster", "cluster", admin, g.cluster)
	r("GET", "/v1/orders/:order_no", "get_order", buyerOrAdmin, g.getOrder)
	r("GET", "/v1/orders", "list_orders", buyerOrAdmin, g.listOrders)
	r("POST", "/v1/orders/:order_no/pay", "pay", buyer, g.pay)
	r("GET", "/v1/orders/:order_no/payment", "get_payment", buyer, g.payment)
	r("POST", "/v1/orders/:order_no/refunds", "refund", buyerOrAdmin, g.refund)
	r("GET", "/v1/refunds/:refund_no", "get_refund", buyerOrAdmin, g.getRefund)
	// Payment providers call these unauthenticated; the pay service
	// checks their signatures.
	r("POST", "/v1/payments/alipay/notify", "payment_notify", public, g.notify("alipay"))
	r("POST", "/v1/payments/wechat/notify", "payment_notify", public, g.notify("wechat"))
	if g.cfg.Auth.DevTokens {
		r("POST", "/v1/dev/tokens", "dev_token", public, g.devToken)
	}
	r("GET", "/", "page", public, file("text/html; charset=utf-8", pageHTML))
	r("GET", "/seatmap.js", "page_script", public, file("text/javascript; charset=utf-8", pageScript))
	r("GET", "/seatmap.css", "page_style", public, file("text/css; charset=utf-8", pageStyle))
	r("GET", "/openapi.yaml", "openapi", public, file("application/yaml", openAPISpec))
	handle("GET", "/metrics", adaptor.HertzHandler(promhttp.HandlerFor(g.registry, promhttp.HandlerOpts{})))
	handle("GET", "/healthz", func(ctx context.Context, c *app.RequestContext) { c.String(http.StatusOK, "ok\n") })
	r("GET", "/readyz", "readyz", public, g.ready)
	h.NoRoute(noRoute)
	g.allow = newAllowTable(h.Routes())
	// Hertz calls a path with routes under other methods a method not
	// allowed even where those routes' parameters would be empty, which
	// they never are: a path no route takes is a 404, and a 405 always
	// names the methods in Allow.
	h.NoMethod(g.wrap("no_method", public, func(_ context.Context, c *app.RequestContext, _ int64) *apiError {
		allow := g.allow.allow(string(c.Request.URI().PathOriginal()))
		if allow == "" {
			return errorf(http.StatusNotFound, "NOT_FOUND", "no such route")
		}
		c.Header("Allow", allow)
		return errorf(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "the route takes "+allow)
	}))
}

// hertzRefusal answers in the error shape the requests Hertz refuses
// after reading them but before routing, running only the global
// middleware: an HTTP/1.1 request without Host, a request target that
// is not a path. Hertz gives them a text/plain 400 unless a handler
// wrote a body; a route's own 400s always have one. (What Hertz refuses
// while reading a request, before any handler, it answers itself, in
// text/plain: docs/gateway.md, "What Hertz answers itself".)
func hertzRefusal(ctx context.Context, c *app.RequestContext) {
	c.Next(ctx)
	if c.Response.StatusCode() != http.StatusBadRequest || len(c.Response.Body()) != 0 {
		return
	}
	msg := "the request target must be a path, starting with /"
	if len(c.Request.Host()) == 0 {
		msg = "an HTTP/1.1 request needs a Host header"
	}
	writeJSON(c, http.StatusBadRequest, map[string]any{"error": map[string]any{"code": "BAD_REQUEST", "message": msg, "details": map[string]any{}}})
}

// wrap adds what every route shares: admission (the in-flight bound,
// then the buyer's rate), authentication, a deadline, metrics, and the
// error body.
func (g *Gateway) wrap(name string, who access, fn handlerFunc) app.HandlerFunc {
	return func(ctx context.Context, c *app.RequestContext) {
		start := time.Now()
		defer func() { g.metrics.observe(name, c.Response.StatusCode(), time.Since(start)) }()
		select {
		case g.inFlight <- struct{}{}:
			defer func() { <-g.inFlight }()
		default:
			g.metrics.rejected.WithLabelValues("overloaded").Inc()
			g.fail(c, &apiError{Status: http.StatusServiceUnavailable, Code: "OVERLOADED", Message: "the gateway is at its limit; retry shortly",
				Details: map[string]any{"retry_after_seconds": 1}})
			return
		}
		var user int64
		header := string(c.GetHeader("Authorization"))
		now := g.cfg.Clock()
		switch who {
		case buyerOrAdmin, buyer:
			if g.cfg.Auth.isAdmin(header) {
				if who == buyerOrAdmin {
					break
				}
				// The admin token is no buyer: say so, not that it is
				// a malformed buyer token.
				g.fail(c, errorf(http.StatusForbidden, "FORBIDDEN", "this route acts for a buyer: send the buyer's token, not the admin token"))
				return
			}
			id, err := g.cfg.Auth.verify(header, g.tokens, now)
			if err != nil {
				g.fail(c, err)
				return
			}
			if id.operator {
				if who == buyerOrAdmin {
					// An operator acts for any buyer, as the admin
					// token does.
					break
				}
				g.fail(c, errorf(http.StatusForbidden, "FORBIDDEN", "this route acts for a buyer: send a buyer's token, not an operator's"))
				return
			}
			user = id.user
			if ok, wait := g.limiter.allow(user, now); !ok {
				g.metrics.rejected.WithLabelValues("rate_limited").Inc()
				secs := int(wait/time.Second) + 1
				g.fail(c, &apiError{Status: http.StatusTooManyRequests, Code: "RATE_LIMITED", Message: "too many requests from this user",
					Details: map[string]any{"retry_after_seconds": secs}})
				return
			}
		case admin:
			if err := g.cfg.Auth.admin(header, g.tokens, now); err != nil {
				g.fail(c, err)
				return
			}
		}
		timeout := g.cfg.RequestTimeout
		switch name {
		case "create_program":
			timeout = g.cfg.CreateTimeout
		case "pay", "get_payment", "payment_notify", "refund":
			timeout = g.cfg.ProviderTimeout
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := fn(ctx, c, user); err != nil {
			g.fail(c, err)
		}
	}
}

// fail writes an error answer; 429 and 503 carry Retry-After, 401 its
// challenge.
func (g *Gateway) fail(c *app.RequestContext, e *apiError) {
	if e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable {
		secs := 1
		if s, ok := e.Details["retry_after_seconds"].(int); ok {
			secs = s
		}
		c.Header("Retry-After", strconv.Itoa(secs))
	}
	if e.Status == http.StatusUnauthorized {
		// RFC 9110 section 15.5.2: a 401 names its challenge; the scheme
		// is RFC 6750's bearer token.
		c.Header("WWW-Authenticate", `Bearer realm="seatd"`)
	}
	if e.Status >= 500 && e.Code == "INTERNAL" {
		g.cfg.Log.Error("gateway_internal_error", "err", e.Message)
		e = errorf(http.StatusInternalServerError, "INTERNAL", "internal error")
	}
	details := e.Details
	if details == nil {
		details = map[string]any{}
	}
	writeJSON(c, e.Status, map[string]any{"error": map[string]any{"code": e.Code, "message": e.Message, "details": details}})
}

func writeJSON(c *app.RequestContext, status int, v any) {
	c.Data(status, "application/json; charset=utf-8", encode(v))
}

// jsonBody returns the request body if it is sent as JSON and within
// limit. Only application/json is JSON here (with a charset, only
// utf-8, as RFC 8259 requires): a body sent as text/plain, a form, or
// with no Content-Type is 415, so that what the server reads is what
// the client says it sent. (A browser sends text/plain and forms from
// any page without asking first; curl -d sends a form unless told.)
func jsonBody(c *app.RequestContext, limit int) ([]byte, *apiError) {
	ct := string(c.Request.Header.ContentType())
	mt, params, err := mime.ParseMediaType(ct)
	switch charset, given := params["charset"]; {
	case ct == "":
		return nil, errorf(http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "the body has no Content-Type: send it as application/json")
	case err != nil || mt != "application/json":
		return nil, errorf(http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", fmt.Sprintf("Content-Type %q: send the body as application/json", ct))
	case given && !strings.EqualFold(charset, "utf-8"):
		return nil, errorf(http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", fmt.Sprintf("Content-Type %q: JSON is utf-8", ct))
	}
	b := c.Request.Body()
	if len(b) > limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE", fmt.Sprintf("the body has %d bytes, at most %d", len(b), limit))
	}
	return b, nil
}

// requestID makes a hold's request id from the buyer's Idempotency-Key:
// the same key from the same user is the same request, across gateways
// and seatd leader changes. No key: the routing client picks one.
func requestID(user int64, key string) []byte {
	if key == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(strconv.FormatInt(user, 10) + "\x00" + key))
	return sum[:16]
}

func (g *Gateway) createProgram(ctx context.Context, c *app.RequestContext, _ int64) *apiError {
	b, aerr := jsonBody(c, g.cfg.MaxBodyBytes)
	if aerr != nil {
		return aerr
	}
	var in programIn
	if aerr := decodeJSON(b, &in); aerr != nil {
		return aerr
	}
	if in.ID != nil {
		in.programFields.ID = *in.ID
	} else {
		in.programFields.ID = programID(string(c.GetHeader("Idempotency-Key")))
	}
	spec, aerr := in.spec()
	if aerr != nil {
		return aerr
	}
	resp, err := g.inv.CreateProgram(ctx, &rpc.CreateProgramRequest{Spec: spec})
	if err != nil {
		return callError(err)
	}
	aerr = statusError(resp.Status)
	switch {
	case aerr == nil:
	case resp.Status.Route == rpc.Route_BAD_REQUEST && resp.Status.Field == "",
		resp.Status.Route == rpc.Route_OK && inventory.Result(resp.Status.Code) == inventory.ResultInvalidLayout:
		// The gateway checked every field but the layout: what the
		// node refuses beyond them is the layout's.
		where := "layout"
		if in.Grid != nil {
			where = "grid"
		}
		return &apiError{Status: http.StatusUnprocessableEntity, Code: "INVALID_LAYOUT", Message: where + ": " + resp.Status.Detail,
			Details: map[string]any{"field": where, "result": inventory.ResultInvalidLayout.String()}}
	case aerr.Code != "PROGRAM_EXISTS" || !resp.Identical:
		return aerr
	}
	// Created, or a repeat of the create that did (seatd compared the
	// two in canonical form): the answer is the program as seatd applied
	// it, never a read that might reach a replica that has not.
	l, aerr := g.createdLayout(ctx, spec.Id, resp.Spec)
	if aerr != nil {
		return aerr
	}
	g.writeProgram(c, l, resp.SaleOpen, http.StatusCreated)
	return nil
}

// writeProgram answers with a program's description, streamed from its
// layout (see programStream).
func (g *Gateway) writeProgram(c *app.RequestContext, l *layout, saleOpen bool, status int) {
	c.SetStatusCode(status)
	c.SetContentType("application/json; charset=utf-8")
	c.SetBodyStream(newProgramStream(l, saleOpen), -1)
}

// getProgram answers with a program's description from its cached
// layout, and its sale state, the one part that changes, from seatd.
func (g *Gateway) getProgram(ctx context.Context, c *app.RequestContext, _ int64) *apiError {
	id := c.Param("id")
	l, aerr := g.layout(ctx, id)
	if aerr != nil {
		return aerr
	}
	p, err := g.inv.GetProgram(ctx, &rpc.GetProgramRequest{ProgramId: id, SaleOnly: true})
	if err != nil {
		return callError(err)
	}
	if aerr := statusError(p.Status); aerr != nil {
		return aerr
	}
	g.writeProgram(c, l, p.SaleOpen, http.StatusOK)
	return nil
}

// programSummaryJSON is a program as GET /v1/programs lists it. Name and
// stops are left out when the answering node does not have the program
// (known false): GET /v1/programs/{id} reads it.
type programSummaryJSON struct {
	ID       string   `json:"id"`
	Known    bool     `json:"known"`
	Name     string   `json:"name,omitempty"`
	Stops    []string `json:"stops,omitempty"`
	SaleOpen bool     `json:"sale_open"`
}

// listPrograms answers a page of the programs, by id, for buyers picking
// one: at most limit (default rpc.DEFAULT_LIST_PROGRAMS) after the id
// cursor names, and next_cursor when more follow.
func (g *Gateway) listPrograms(ctx context.Context, c *app.RequestContext, _ int64) *apiError {
	cursor, _, aerr := queryParam(c, "cursor")
	if aerr != nil {
		return aerr
	}
	limit := int(rpc.DEFAULT_LIST_PROGRAMS)
	if v, ok, aerr := queryParam(c, "limit"); aerr != nil {
		return aerr
	} else if ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > int(rpc.MAX_LIST_PROGRAMS) || strconv.Itoa(n) != v {
			return invalid("INVALID_ARGUMENT", "limit", "%q, want 1 to %d", v, rpc.MAX_LIST_PROGRAMS).with("range", []int{1, int(rpc.MAX_LIST_PROGRAMS)})
		}
		limit = n
	}
	resp, err := g.inv.ListPrograms(ctx, &rpc.ListProgramsRequest{After: cursor, Limit: int32(limit)})
	if err != nil {
		return callError(err)
	}
	if aerr := statusError(resp.Status); aerr != nil {
		return aerr
	}
	out := struct {
		Programs []programSummaryJSON `json:"programs"`
		Next     string               `json:"next_cursor,omitempty"`
	}{Programs: make([]programSummaryJSON, 0, len(resp.Programs))}
	for _, p := range resp.Programs {
		out.Programs = append(out.Programs, programSummaryJSON{ID: p.Id, Known: p.Known, Name: p.Name, Stops: p.Stops, SaleOpen: p.SaleOpen})
	}
	if resp.More && len(out.Programs) > 0 {
		out.Next = out.Programs[len(out.Programs)-1].ID
	}
	writeJSON(c, http.StatusOK, out)
	return nil
}

func (g *Gateway) setSale(open bool) handlerFunc {
	return func(ctx context.Context, c *app.RequestContext, _ int64) *apiError {
		id := c.Param("id")
		resp, err := g.inv.SetSale(ctx, &rpc.SetSaleRequest{ProgramId: id, Open: open})
		if err != nil {
			return callError(err)
		}
		if aerr := statusError(resp.Status); aerr != nil {
			return aerr
		}
		writeJSON(c, http.StatusOK, map[string]any{"program_id": id, "sale_open": open})
		return nil
	}
}

func (g *Gateway) block(ctx context.Context, c *app.RequestContext, _ int64) *apiError {
	b, aerr := jsonBody(c, smallBody)
	if aerr != nil {
		return aerr
	}
	var in blockIn
	if aerr := decodeJSON(b, &in); aerr != nil {
		return aerr
	}
	if len(in.Seats) == 0 {
		return invalid("INVALID_ARGUMENT", "seats", "name at least one seat")
	}
	req := &rpc.BlockRequest{ProgramId: c.Param("id"), SeatIds: in.Seats, Unblock: in.Unblock}
	if in.From != nil || in.To != nil {
		stops, aerr := g.stopCount(ctx, req.ProgramId)
		if aerr != nil {
			return aerr
		}
		if req.FromLeg, req.ToLeg, aerr = checkStops(in.From, in.To, stops); aerr != nil {
			return aerr
		}
	}
	resp, err := g.inv.Block(ctx, req)
	if err != nil {
		return callError(err)
	}
	st := resp.Status
	if i := slices.Index(in.Seats, st.Detail); st.Route == rpc.Route_OK && st.Field == "" && st.Detail != "" && i >= 0 {
		// A block's refusal names its seat only; place it in the
		// request as a hold's refusal does: a repeated seat at its
		// repeat, any other at its first mention.
		if j := slices.Index(in.Seats[i+1:], st.Detail); j >= 0 && inventory.Result(st.Code) == inventory.ResultInvalidArgument {
			i += 1 + j
		}
		idx := int32(i)
		st.Field, st.Index = "seat_ids", &idx
	}
	if aerr := describe(st, nil); aerr != nil {
		return aerr
	}
	writeJSON(c, http.StatusOK, map[string]any{"program_id": req.ProgramId, "seats": in.Seats, "blocked": !in.Unblock})
	return nil
}

// stopCount returns how many stops a program has, from its layout,
// which is fetched once and cached (stops never change).
func (g *Gateway) stopCount(ctx context.Context, program string) (int32, *apiError) {
	l, aerr := g.layout(ctx, program)
	if aerr != nil {
		return 0, aerr
	}
	return l.stops, nil
}

// hold places a hold. A request with an Idempotency-Key that seatd
// has seen answers with that request's first outcome, marked
// Idempotent-Replayed: a refusal as it was first answered, a hold still
// held as 201, a hold since released, confirmed or refunded as 200 with
// its state now.
func (g *Gateway) hold(ctx context.Context, c *app.RequestContext, user int64) *apiError {
	b, aerr := jsonBody(c, smallBody)
	if aerr != nil {
		return aerr
	}
	var in holdIn
	if aerr := decodeJSON(b, &in); aerr != nil {
		return aerr
	}
	program := c.Param("id")
	req, aerr := in.request(program, user)
	if aerr != nil {
		return aerr
	}
	if in.From != nil || in.To != nil {
		stops, aerr := g.stopCount(ctx, program)
		if aerr != nil {
			return aerr
		}
		if req.FromLeg, req.ToLeg, aerr = checkStops(in.From, in.To, stops); aerr != nil {
			return aerr
		}
	}
	key := string(c.GetHeader("Idempotency-Key"))
	req.RequestId = requestID(user, key)
	resp, err := g.inv.PlaceHold(ctx, req)
	if err != nil {
		return callError(err)
	}
	if resp.Replayed && key != "" {
		c.Header("Idempotent-Replayed", "true")
	}
	if aerr := describe(resp.Status, &in); aerr != nil {
		return aerr
	}
	status := http.StatusCreated
	if resp.Replayed && resp.Hold.Status != "HELD" {
		status = http.StatusOK
	}
	writeJSON(c, status, holdToJSON(resp.Hold))
	return nil
}

// holdID reads a hold id in its one spelling, the decimal seatd gives.
func holdID(c *app.RequestContext) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("hold_id"), 10, 64)
	return id, err == nil && id > 0 && strconv.FormatInt(id, 10) == c.Param("hold_id")
}

// getHold reads a hold: a buyer's own, or any for an operator. Every
// hold the caller may not see answers noHold.
func (g *Gateway) getHold(ctx context.Context, c *app.RequestContext, user int64) *apiError {
	id, ok := holdID(c)
	if !ok {
		return noHold()
	}
	resp, err := g.inv.GetHold(ctx, &rpc.GetHoldRequest{HoldId: id, Consistent: true})
	if err != nil {
		return callError(err)
	}
	if aerr := statusError(resp.Status); aerr != nil {
		if aerr.Status == http.StatusNotFound {
			return noHold()
		}
		return aerr
	}
	if user != 0 && resp.Hold.UserId != user {
		return noHold()
	}
	writeJSON(c, http.StatusOK, holdToJSON(resp.Hold))
	return nil
}

// releaseHold gives a hold back: a buyer's own (reason cancelled), or
// any for an operator, who releases it as the system (reason refused,
// the engine's reason for releases that are not the buyer's).
func (g *Gateway) releaseHold(ctx context.Context, c *app.RequestContext, user int64) *apiError {
	id, ok := holdID(c)
	if !ok {
		return noHold()
	}
	reason := "cancelled"
	if user == 0 {
		reason = "refused"
	}
	resp, err := g.inv.Release(ctx, &rpc.ReleaseRequest{HoldId: id, UserId: user, Reason: reason})
	if err != nil {
		return callError(err)
	}
	if aerr := statusError(resp.Status); aerr != nil {
		if aerr.Status == http.StatusNotFound || aerr.Code == "FORBIDDEN" {
			return noHold()
		}
		return aerr
	}
	writeJSON(c, http.StatusOK, holdToJSON(resp.Hold))
	return nil
}

func (g *Gateway) cluster(ctx context.Context, c *app.RequestContext, _ int64) *apiError {
	st, err := g.inv.ClusterStatus(ctx)
	if err != nil {
		return callError(err)
	}
	type groupOut struct {
		Group        int32    `json:"group"`
		State        string   `json:"state"`
		LeaderID     string   `json:"leader_id"`
		Term         int64    `json:"term"`
		AppliedIndex int64    `json:"applied_index"`
		CommitIndex  int64    `json:"commit_index"`
		Voters       []string `json:"voters"`
	}
	out := map[string]any{"node_id": st.NodeId}
	groups, nodes, places := []groupOut{}, []map[string]string{}, []map[string]any{}
	for _, gr := range st.Groups {
		groups = append(groups, groupOut{gr.Group, gr.State, gr.LeaderId, gr.Term, gr.AppliedIndex, gr.CommitIndex, gr.Voters})
	}
	for _, n := range st.Nodes {
		nodes = append(nodes, map[string]string{"id": n.Id, "rpc_addr": n.RpcAddr})
	}
	for _, p := range st.Placements {
		places = append(places, map[string]any{"program_id": p.ProgramId, "group": p.Group})
	}
	out["groups"], out["nodes"], out["placements"] = groups, nodes, places
	writeJSON(c, http.StatusOK, out)
	return nil
}

// devToken mints a buyer token for any sub, as an identity provider
// would, and says which user id the sub maps to.
func (g *Gateway) devToken(_ context.Context, c *app.RequestContext, _ int64) *apiError {
	b, aerr := jsonBody(c, smallBody)
	if aerr != nil {
		return aerr
	}
	var in struct {
		Sub    string `json:"sub"`
		UserID string `json:"user_id"` // sub's first name, which the live page sends
	}
	if aerr := decodeJSON(b, &in); aerr != nil {
		return aerr
	}
	sub, field := in.Sub, "sub"
	if sub == "" && in.UserID != "" {
		sub, field = in.UserID, "user_id"
	} else if in.UserID != "" && in.UserID != sub {
		return invalid("INVALID_ARGUMENT", "user_id", "give sub, or user_id (its older name), not both")
	}
	// A sub buyer tokens could not carry is refused here too, so that
	// the endpoint never mints a token the gateway would refuse.
	if problem := checkSub(sub); problem != "" {
		return invalid("INVALID_ARGUMENT", field, "%s", problem)
	}
	user, _ := UserID(sub) // checkSub refused the empty sub, the one UserID does
	now := g.cfg.Clock()
	token, err := MintHS256(g.cfg.Auth.HS256Secret, sub, now, 24*time.Hour)
	if err != nil {
		return &apiError{Status: http.StatusInternalServerError, Code: "INTERNAL", Message: err.Error()}
	}
	writeJSON(c, http.StatusCreated, map[string]string{"token": token, "sub": sub, "user_id": strconv.FormatInt(user, 10),
		"expires_at": now.Add(24 * time.Hour).UTC().Format(time.RFC3339)})
	return nil
}

// ready answers 200 when every group of the cluster has a leader.
func (g *Gateway) ready(ctx context.Context, c *app.RequestContext, _ int64) *apiError {
	st, err := g.inv.ClusterStatus(ctx)
	if err != nil {
		return callError(err)
	}
	for _, gr := range st.Groups {
		if gr.LeaderId == "" {
			return errorf(http.StatusServiceUnavailable, "UNAVAILABLE", fmt.Sprintf("group %d has no leader", gr.Group))
		}
	}
	c.String(http.StatusOK, "ready\n")
	return nil
}

//go:embed openapi.yaml
var openAPISpec []byte

// The live seat map: a page, its script and its style, embedded so the
// binary is the whole deployment. The script and style are files of
// their own because the page's Content-Security-Policy allows no inline
// code.
var (
	//go:embed web/index.html
	pageHTML []byte
	//go:embed web/seatmap.js
	pageScript []byte
	//go:embed web/seatmap.css
	pageStyle []byte
)

// file serves an embedded file.
func file(contentType string, b []byte) handlerFunc {
	return func(_ context.Context, c *app.RequestContext, _ int64) *apiError {
		c.Data(http.StatusOK, contentType, b)
		return nil
	}
}

// contentSecurityPolicy lets a document served here load only the page's
// own script and style and talk only to this gateway: no inline code or
// eval, no images, frames, plugins or forms, no <base>, and no framing by
// other sites. So if server data ever reached the page as markup, the
// browser would still refuse to run it. require-trusted-types-for makes
// browsers with Trusted Types (Chromium) throw on a string assigned to
// innerHTML, insertAdjacentHTML, document.write and the like, so the
// page's rule of inserting data only as text is enforced, not only kept.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

// securityHeaders goes on every answer, not only the page's: JSON answers
// echo names, ids and labels that operators and buyers chose, and nosniff
// with the policy keeps a browser from ever treating one as a document
// that runs. Nothing here needs the referrer, so none is sent.
func securityHeaders(_ context.Context, c *app.RequestContext) {
	c.Header("Content-Security-Policy", contentSecurityPolicy)
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Referrer-Policy", "no-referrer")
}
