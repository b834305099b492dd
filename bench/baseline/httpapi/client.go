package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"seatd/bench/audit"
	"seatd/bench/target"
	"seatd/gateway"
	"seatd/inventory"
)

const (
	// tokenSlots is the size of the client's table of buyer tokens: a
	// buyer's token is minted again only when another buyer took its
	// slot, or it nears expiry.
	tokenSlots = 1 << 16
	// tokenTTL is how long a minted token is valid; one is minted again
	// a minute before it expires.
	tokenTTL = time.Hour
	// maxAnswer bounds the answer body the client reads: a hold of 64
	// seats is a few KiB.
	maxAnswer = 1 << 20
	// MaxClientConns bounds ClientConfig.MaxConns.
	MaxClientConns = 4096
)

// ClientConfig is what a Client needs. Zero fields take the defaults
// noted.
type ClientConfig struct {
	// URL is the server's base URL, "http://host:port".
	URL string
	// Secret signs the buyers' HS256 tokens: the server's
	// Auth.HS256Secret.
	Secret []byte
	// Target is the bare target the server serves (or one of the same
	// store): it loads programs, as there is no route for it (the
	// gateway's program create is an operator's, outside what is
	// measured), and names what is persisted. Nil for a server that
	// loads programs through routes of its own, the gateway: the
	// Client's maker then wraps it (gatewayhttp) and calls Hold,
	// Release and Do, never its Name, Persists or Load.
	Target target.Target
	// MaxConns bounds the HTTP connections to the server; a request past
	// it waits for one: as many as the load has concurrent buyers.
	// Default 64; 1 to MaxClientConns.
	MaxConns int
	// Timeout bounds one request. Default 10 s.
	Timeout time.Duration
}

// Client is a baseline over HTTP as a target.Target: each hold and
// release is a request to a Server, with the buyer's token. It is safe
// for concurrent use.
type Client struct {
	cfg    ClientConfig
	http   *http.Client
	tokens []tokenSlot
}

type tokenSlot struct {
	mu      sync.Mutex // guards the fields below
	buyer   uint64
	token   string
	expires time.Time
}

// NewClient returns a client of the server at cfg.URL.
func NewClient(cfg ClientConfig) (*Client, error) {
	var errs []error
	if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		errs = append(errs, fmt.Errorf("httpapi: server URL %q, want http://host:port", cfg.URL))
	}
	if len(cfg.Secret) < 32 {
		errs = append(errs, fmt.Errorf("httpapi: HS256 secret of %d bytes, want at least 32", len(cfg.Secret)))
	}
	if cfg.MaxConns < 0 || cfg.MaxConns > MaxClientConns {
		errs = append(errs, fmt.Errorf("httpapi: max conns %d, want 1-%d (0 for the default)", cfg.MaxConns, MaxClientConns))
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("httpapi: timeout %v, want more than 0 (0 for the default)", cfg.Timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 64
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	tr := &http.Transport{MaxConnsPerHost: cfg.MaxConns, MaxIdleConnsPerHost: cfg.MaxConns, IdleConnTimeout: time.Minute}
	return &Client{cfg: cfg, http: &http.Client{Transport: tr}, tokens: make([]tokenSlot, tokenSlots)}, nil
}

// Name is the bare target's name and "-http" ("postgres-http").
func (c *Client) Name() string { return c.cfg.Target.Name() + "-http" }

// Persists is the bare target's: the server keeps its holds in memory
// only to serve DELETE.
func (c *Client) Persists() string { return c.cfg.Target.Persists() }

// Load loads the venue with the bare target, straight into its store.
func (c *Client) Load(ctx context.Context, spec *inventory.ProgramSpec) error {
	if c.cfg.Target == nil {
		return errors.New("httpapi: no target to load programs with")
	}
	return c.cfg.Target.Load(ctx, spec)
}

// Close closes the client's idle connections (not the bare target,
// which is its maker's).
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// HoldBest asks for n adjacent seats of a category, as buyer (the
// token's sub is buyer in decimal). Hold.ID is the server's hold id and
// the buyer, "hold_id@buyer", as Release must act for that buyer;
// Hold.Prices is set when the server answered every seat's price.
func (c *Client) HoldBest(ctx context.Context, program, category string, buyer uint64, n int) (target.Hold, error) {
	return c.Hold(ctx, program, buyer, HoldRequest{Category: category, Count: &n})
}

// HoldNamed asks for the seats named, at most expectedCents in all.
// Hold.ID is as HoldBest's.
func (c *Client) HoldNamed(ctx context.Context, program string, buyer uint64, seatIDs []string, expectedCents int64) (target.Hold, error) {
	return c.Hold(ctx, program, buyer, HoldRequest{Seats: seatIDs, ExpectedTotalCents: &expectedCents})
}

// HoldRequest is a hold request as a Client sends it, in the gateway's
// JSON; a field left empty is left out, as the gateway takes no null.
// From and To, a leg range, only the gateway takes.
type HoldRequest struct {
	Category           string   `json:"category,omitempty"`
	Count              *int     `json:"count,omitempty"`
	Seats              []string `json:"seats,omitempty"`
	ExpectedTotalCents *int64   `json:"expected_total_cents,omitempty"`
	From               *int     `json:"from,omitempty"`
	To                 *int     `json:"to,omitempty"`
}

// Hold sends a hold request as buyer: HoldBest's and HoldNamed's, or
// any other the server takes. Hold.ID is as HoldBest's.
func (c *Client) Hold(ctx context.Context, program string, buyer uint64, in HoldRequest) (target.Hold, error) {
	b, err := json.Marshal(in)
	if err != nil {
		panic(fmt.Sprintf("httpapi: encoding a hold request: %v", err)) // strings and numbers only
	}
	var out holdOut
	if err := c.AsBuyer(ctx, http.MethodPost, "/v1/programs/"+url.PathEscape(program)+"/holds", buyer, b, http.StatusCreated, &out); err != nil {
		return target.Hold{}, err
	}
	h := target.Hold{ID: out.HoldID + "@" + strconv.FormatUint(buyer, 10), TotalCents: out.TotalCents, Seats: make([]string, len(out.Seats)),
		OrderNo: out.OrderNo}
	priced := true // every seat answered with its price
	for i, s := range out.Seats {
		h.Seats[i] = s.ID
		priced = priced && s.PriceCents != nil
	}
	if priced && len(out.Seats) > 0 {
		h.Prices = make([]target.SeatPrice, len(out.Seats))
		for i, s := range out.Seats {
			h.Prices[i] = target.SeatPrice{Category: s.Category, PriceCents: *s.PriceCents}
		}
	}
	return h, nil
}

// Release releases a hold as its buyer. A hold the server does not have
// for that buyer is target.ErrUnknownHold.
func (c *Client) Release(ctx context.Context, _ string, h target.Hold) error {
	id, b, ok := strings.Cut(h.ID, "@")
	buyer, err := strconv.ParseUint(b, 10, 64)
	if !ok || err != nil {
		return fmt.Errorf("httpapi: hold id %q is not one of this client's (hold_id@buyer): %w", h.ID, target.ErrUnknownHold)
	}
	return c.AsBuyer(ctx, http.MethodDelete, "/v1/holds/"+url.PathEscape(id), buyer, nil, http.StatusOK, nil)
}

// AuditState shows the audit the bare target's state (cfg.Target, if it
// is an audit.Stater; else none), its holds named by this client's ids:
// the HTTP front adds nothing the audit reads.
func (c *Client) AuditState(ctx context.Context, q audit.Query) (audit.State, error) {
	st, ok := c.cfg.Target.(audit.Stater)
	if !ok {
		return audit.State{Notes: []string{c.cfg.Target.Name() + " shows no state"}}, nil
	}
	ids, ours := audit.SplitHoldIDs(q.Holds)
	s, err := st.AuditState(ctx, audit.Query{Spec: q.Spec, Holds: ids})
	s.Holds = audit.RenameHolds(s.Holds, ours)
	return s, err
}

// AsBuyer is Do with buyer's token.
func (c *Client) AsBuyer(ctx context.Context, method, path string, buyer uint64, body []byte, want int, out any) error {
	token, err := c.token(buyer)
	if err != nil {
		return err
	}
	return c.Do(ctx, method, path, "Bearer "+token, body, want, out)
}

// Do sends a request with the Authorization header given (none when
// empty) and a JSON body (none when nil), on the Client's connections,
// and decodes an answer of status want into out (when not nil); any
// other answer is an error: the target's refusal its status and code
// name (errors.Is), or an error with them and the message.
func (c *Client) Do(ctx context.Context, method, path, authorization string, body []byte, want int, out any) error {
	return c.DoWithin(ctx, c.cfg.Timeout, method, path, authorization, body, want, out)
}

// DoWithin is Do bounded by d instead of ClientConfig.Timeout, for the
// requests that are slow by nature (creating a program of a stadium's
// seats replicates its whole layout).
func (c *Client) DoWithin(ctx context.Context, d time.Duration, method, path, authorization string, body []byte, want int, out any) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.URL+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("httpapi: %w", err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("httpapi: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("httpapi: %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode == want {
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("httpapi: %s %s: the answer %.200q: %w", method, path, b, err)
		}
		return nil
	}
	var e errorOut
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" {
		return fmt.Errorf("httpapi: %s %s: %s %.200q", method, path, resp.Status, b)
	}
	for _, r := range refusals {
		if r.status == resp.StatusCode && r.code == e.Error.Code {
			return fmt.Errorf("httpapi: %s: %w", e.Error.Message, r.err)
		}
	}
	return fmt.Errorf("httpapi: %s %s: %w", method, path, &StatusError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message,
		RetryAfter: resp.Header.Get("Retry-After")})
}

// StatusError is an answer of another status than the one wanted, with
// the gateway's error body, that is no refusal of target's: a caller
// that waits for something (an order to appear, a rate limit to pass)
// tells them apart with errors.As.
type StatusError struct {
	Status     int    // the HTTP status
	Code       string // the body's error.code, e.g. ORDER_NOT_FOUND
	Message    string
	RetryAfter string // the Retry-After header, if any (seconds)
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// token returns a buyer's token, minted when its slot holds none valid
// for another minute.
func (c *Client) token(buyer uint64) (string, error) {
	s := &c.tokens[buyer%tokenSlots]
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.token != "" && s.buyer == buyer && now.Add(time.Minute).Before(s.expires) {
		return s.token, nil
	}
	t, err := gateway.MintHS256(c.cfg.Secret, strconv.FormatUint(buyer, 10), now, tokenTTL)
	if err != nil {
		return "", fmt.Errorf("httpapi: minting a token: %w", err)
	}
	s.buyer, s.token, s.expires = buyer, t, now.Add(tokenTTL)
	return t, nil
}
