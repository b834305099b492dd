package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"seatd/bench/target"
	"seatd/gateway"
	"seatd/inventory"
)

const (
	// tokenTTL is how long a buyer token the client mints is valid: a
	// request is sent at once.
	tokenTTL = time.Minute
	// maxAnswer bounds an answer's body read by the client: a hold of
	// MaxSeatsPerRequest seats is a few KiB.
	maxAnswer = 1 << 20
)

// Client is a target.Target that holds and releases through a Server
// over HTTP, as seatbench's buyers do: the baseline behind HTTP. Load,
// Name and Persists are the bare target's, the one the server serves:
// loading a venue is set-up, not measured, and the gateway's own program
// create is an operator's route, not a buyer's. Safe for concurrent use.
type Client struct {
	base   string
	bare   target.Target
	secret []byte
	http   *http.Client
}

// NewClient returns a client of the server at base ("http://host:port")
// serving bare, signing each buyer's token with the HS256 secret the
// server accepts. conns bounds its connections to the server: as many
// as the load has concurrent buyers.
func NewClient(base string, bare target.Target, secret []byte, conns int) *Client {
	tr := &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute}
	return &Client{base: base, bare: bare, secret: secret, http: &http.Client{Transport: tr}}
}

// Name is the bare target's name with "+http".
func (c *Client) Name() string { return c.bare.Name() + "+http" }

// Persists is the bare target's: the front keeps its holds in memory
// only to serve DELETE.
func (c *Client) Persists() string { return c.bare.Persists() }

// Load loads the venue into the bare target.
func (c *Client) Load(ctx context.Context, spec *inventory.ProgramSpec) error {
	return c.bare.Load(ctx, spec)
}

// HoldBest asks the server for n adjacent seats of a category, as buyer
// (the token's sub is buyer in decimal; buyers 1 to
// gateway.MaxNumericUser are that user on the server).
func (c *Client) HoldBest(ctx context.Context, program, category string, buyer uint64, n int) (target.Hold, error) {
	return c.hold(ctx, program, buyer, holdIn{Category: category, Count: &n})
}

// HoldNamed asks the server for the named seats, as buyer.
func (c *Client) HoldNamed(ctx context.Context, program string, buyer uint64, seatIDs []string, expectedCents int64) (target.Hold, error) {
	return c.hold(ctx, program, buyer, holdIn{Seats: seatIDs, ExpectedTotalCents: &expectedCents})
}

func (c *Client) hold(ctx context.Context, program string, buyer uint64, in holdIn) (target.Hold, error) {
	body, err := json.Marshal(in)
	if err != nil {
		panic(fmt.Sprintf("httpapi: encoding a hold request: %v", err)) // it always encodes
	}
	var out holdOut
	if err := c.do(ctx, http.MethodPost, "/v1/programs/"+url.PathEscape(program)+"/holds", buyer, body, http.StatusCreated, &out); err != nil {
		return target.Hold{}, err
	}
	h := target.Hold{ID: out.HoldID, TotalCents: out.TotalCents, Seats: make([]string, len(out.Seats)), Buyer: buyer}
	for i, s := range out.Seats {
		h.Seats[i] = s.ID
	}
	return h, nil
}

// Release asks the server to release the hold, as h.Buyer.
func (c *Client) Release(ctx context.Context, program string, h target.Hold) error {
	var out holdOut
	return c.do(ctx, http.MethodDelete, "/v1/holds/"+url.PathEscape(h.ID), h.Buyer, nil, http.StatusOK, &out)
}

// do sends a request as buyer and decodes an answer of status want into
// out; another answer is an error: the target's refusal its code names
// (errors.Is), or an error with its status, code and message.
func (c *Client) do(ctx context.Context, method, path string, buyer uint64, body []byte, want int, out any) error {
	token, err := gateway.MintHS256(c.secret, strconv.FormatUint(buyer, 10), time.Now(), tokenTTL)
	if err != nil {
		return fmt.Errorf("httpapi: minting a token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("httpapi: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("httpapi: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("httpapi: %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode == want {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("httpapi: %s %s: %d answer: %w", method, path, resp.StatusCode, err)
		}
		return nil
	}
	var e errorOut
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" {
		return fmt.Errorf("httpapi: %s %s: %d answer not in the error shape: %.200q", method, path, resp.StatusCode, b)
	}
	for _, r := range refusals {
		if r.status == resp.StatusCode && r.code == e.Error.Code {
			return fmt.Errorf("httpapi: %w: %s", r.err, e.Error.Message)
		}
	}
	return fmt.Errorf("httpapi: %s %s: %d %s: %s", method, path, resp.StatusCode, e.Error.Code, e.Error.Message)
}

// Close closes the client's idle connections to the server (not the
// server, nor the bare target).
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}
