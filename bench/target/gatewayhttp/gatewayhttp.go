// Package gatewayhttp is seatbench's target over the whole of seatd
// through its HTTP API: the gateway (Hertz, JSON, buyer tokens, its
// admission and answer cache) in front of a seatd cluster, as buyers
// reach it. Holds, releases and seat maps are the buyers' routes, each
// with the buyer's own HS256 token minted with the gateway's secret
// (gateway.MintHS256, as its tests and dev tokens do); creating and
// opening the program are the operator's routes, with the admin token.
//
// Load creates the program under a fresh name each run (seatrpc.FreshID:
// seatd never deletes a program), and every call maps the scenario's id
// to it.
//
// There is no Confirm: a buyer's seats are sold by the order flow once a
// payment provider says the order is paid, not by any route a buyer may
// call. Paying through the pay service and paysim is the honest way, and
// it needs the order and pay services and Kafka, which this target does
// not assume (bench/target/system builds on it to pay); without them
// paid holds stay held (replay's notes say how many).
//
// Concurrency: a Target is safe for use from many goroutines once
// loaded; Load must not run while other calls do.
package gatewayhttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"seatd/bench/audit"
	"seatd/bench/baseline/httpapi"
	"seatd/bench/target"
	"seatd/bench/target/seatrpc"
	"seatd/gateway"
	"seatd/inventory"
)

// ReadyWait bounds New's wait for the gateway's /readyz: every group of
// the cluster has a leader.
const ReadyWait = 30 * time.Second

// CreateWait bounds the request that creates a program: the gateway's
// routing client gives a create up to 30 s an attempt (seatclient's
// CallTimeout), and a stadium's 80,000 seats on a loaded 2-core machine
// under the race detector took more than the 10 s of a hold's request.
const CreateWait = 2 * time.Minute

// Config is what a Target needs.
type Config struct {
	// URL is the gateway's base URL, "http://host:port".
	URL string
	// Secret is the gateway's HS256 secret of buyer tokens
	// (GATEWAY_JWT_SECRET), at least 32 bytes.
	Secret []byte
	// AdminToken is the gateway's operator token (GATEWAY_ADMIN_TOKEN).
	AdminToken string
	// MaxConns bounds the HTTP connections to the gateway, kept idle
	// between requests: as many as the load has concurrent buyers, at
	// most httpapi.MaxClientConns.
	MaxConns int
	// PIDs are the processes of the gateway and the cluster on this
	// machine, if any, whose CPU time counts with seatbench's.
	PIDs []int
	// OnClose, if not nil, is run by Close: it stops what the target's
	// maker started for it (seatbench's in-process cluster and gateway).
	OnClose func() error
	// Seatd, if not nil, reaches the cluster behind the gateway (its
	// routing client), from which AuditState reads what no route shows
	// a buyer: the seat map by seat, the counters and the holds.
	Seatd audit.Seatd
}

// Target is seatd through its gateway. Make it with New.
type Target struct {
	cfg Config
	c   *httpapi.Client // buyers' holds and releases, and every request's connections

	// Set by Load, read-only after it.
	program  string
	legs     int
	capacity map[string]int // category -> seats
	replicas int
}

// New returns a target of the gateway at cfg.URL once the gateway says
// it is ready (up to ReadyWait).
func New(ctx context.Context, cfg Config) (*Target, error) {
	if len(cfg.AdminToken) < 16 {
		return nil, fmt.Errorf("gatewayhttp: admin token of %d bytes, want the gateway's (at least 16)", len(cfg.AdminToken))
	}
	c, err := httpapi.NewClient(httpapi.ClientConfig{URL: cfg.URL, Secret: cfg.Secret, MaxConns: cfg.MaxConns})
	if err != nil {
		return nil, fmt.Errorf("gatewayhttp: %w", err)
	}
	t := &Target{cfg: cfg, c: c}
	ctx, cancel := context.WithTimeout(ctx, ReadyWait)
	defer cancel()
	for {
		err := c.Do(ctx, http.MethodGet, "/readyz", "", nil, http.StatusOK, nil)
		if err == nil {
			return t, nil
		}
		select {
		case <-ctx.Done():
			c.Close()
			return nil, fmt.Errorf("gatewayhttp: the gateway at %s was not ready within %v: %w", cfg.URL, ReadyWait, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Name returns "seatd-http".
func (t *Target) Name() string { return "seatd-http" }

// Persists is seatd's (seatrpc.Persistence): the gateway keeps nothing
// of a hold.
func (t *Target) Persists() string { return seatrpc.Persistence(t.replicas) }

// Client returns the target's HTTP client of the gateway, for a target
// that builds on this one (bench/target/system) to send other buyers'
// requests on the same connections.
func (t *Target) Client() *httpapi.Client { return t.c }

// Program returns the name Load created the program under.
func (t *Target) Program() string { return t.program }

// programIn is a program create request in the gateway's JSON; empty
// stops are left out (the gateway takes no null).
type programIn struct {
	ID              string       `json:"id"`
	Name            string       `json:"name"`
	Stops           []string     `json:"stops,omitempty"`
	Categories      []categoryIn `json:"categories"`
	HoldTTLSeconds  int64        `json:"hold_ttl_seconds"`
	MaxSeatsPerHold int          `json:"max_seats_per_hold"`
	MaxSeatsPerUser int          `json:"max_seats_per_user"`
	RealName        bool         `json:"real_name"`
	RefundResells   bool         `json:"refund_resells"`
	AllowOrphans    bool         `json:"allow_orphans"`
	RefuseOrphans   bool         `json:"refuse_orphans"`
	ReserveAccess   bool         `json:"reserve_accessible"`
	FocalPoint      *pointIn     `json:"focal_point,omitempty"`
	Layout          any          `json:"layout"`
}

// pointIn is a place on the venue's plan (inventory.Point).
type pointIn struct {
	X int `json:"x"`
	Y int `json:"y"`
}

type categoryIn struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
}

// Load creates the venue's program under a fresh name as the operator
// (POST /v1/programs with a layout) and opens its sale.
func (t *Target) Load(ctx context.Context, spec *inventory.ProgramSpec) error {
	in := programIn{ID: seatrpc.FreshID(spec.ID), Name: spec.Name, Stops: spec.Stops, HoldTTLSeconds: int64(spec.HoldTTL / time.Second),
		MaxSeatsPerHold: spec.MaxSeatsPerHold, MaxSeatsPerUser: spec.MaxSeatsPerUser, RealName: spec.RealName,
		RefundResells: spec.RefundResells, AllowOrphans: spec.AllowOrphans, RefuseOrphans: spec.RefuseOrphans,
		ReserveAccess: spec.ReserveAccessible, Layout: gateway.LayoutJSON(spec.Layout)}
	if f := spec.Focal; f != nil {
		in.FocalPoint = &pointIn{f.X, f.Y}
	}
	for _, c := range spec.Categories {
		in.Categories = append(in.Categories, categoryIn{c.ID, c.Name, c.PriceCents})
	}
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("gatewayhttp: encoding the program: %w", err)
	}
	admin := "Bearer " + t.cfg.AdminToken
	if err := t.c.DoWithin(ctx, CreateWait, http.MethodPost, "/v1/programs", admin, body, http.StatusCreated, nil); err != nil {
		return fmt.Errorf("gatewayhttp: create %s: %w", in.ID, err)
	}
	if err := t.c.Do(ctx, http.MethodPost, "/v1/programs/"+in.ID+"/open", admin, nil, http.StatusOK, nil); err != nil {
		return fmt.Errorf("gatewayhttp: open %s: %w", in.ID, err)
	}
	var cl struct {
		Groups []struct {
			Group  int32    `json:"group"`
			Voters []string `json:"voters"`
		} `json:"groups"`
		Placements []struct {
			ProgramID string `json:"program_id"`
			Group     int32  `json:"group"`
		} `json:"placements"`
	}
	// The node the gateway asks may be a follower of the meta group a
	// moment behind the create: wait for it to know the placement.
	t.replicas = 0
	for deadline := time.Now().Add(seatrpc.PlacementWait); t.replicas == 0; time.Sleep(50 * time.Millisecond) {
		if err := t.c.Do(ctx, http.MethodGet, "/v1/cluster", admin, nil, http.StatusOK, &cl); err != nil {
			return fmt.Errorf("gatewayhttp: cluster: %w", err)
		}
		for _, p := range cl.Placements {
			for _, g := range cl.Groups {
				if p.ProgramID == in.ID && g.Group == p.Group {
					t.replicas = len(g.Voters)
				}
			}
		}
		if t.replicas == 0 && (time.Now().After(deadline) || ctx.Err() != nil) {
			return fmt.Errorf("gatewayhttp: /v1/cluster does not place %s on a group after %v", in.ID, seatrpc.PlacementWait)
		}
	}
	t.program, t.legs, t.capacity = in.ID, max(len(spec.Stops)-1, 1), map[string]int{}
	for _, s := range target.Seats(spec) {
		t.capacity[s.Category]++
	}
	return nil
}

// HoldBest holds n adjacent seats of category for the whole journey
// (POST /v1/programs/{id}/holds as buyer). Hold.ID is "hold_id@buyer".
func (t *Target) HoldBest(ctx context.Context, program, category string, buyer uint64, n int) (target.Hold, error) {
	return t.HoldBestLegs(ctx, program, category, buyer, n, 0, 0)
}

// HoldBestLegs holds n adjacent seats of category for stops [from, to)
// (to 0: the last stop).
func (t *Target) HoldBestLegs(ctx context.Context, _, category string, buyer uint64, n, from, to int) (target.Hold, error) {
	return t.c.Hold(ctx, t.program, buyer, legs(httpapi.HoldRequest{Category: category, Count: &n}, from, to))
}

// HoldNamed holds the named seats for the whole journey if they cost at
// most expectedCents.
func (t *Target) HoldNamed(ctx context.Context, program string, buyer uint64, seatIDs []string, expectedCents int64) (target.Hold, error) {
	return t.HoldNamedLegs(ctx, program, buyer, seatIDs, expectedCents, 0, 0)
}

// HoldNamedLegs holds the named seats for stops [from, to) (to 0: the
// last stop) if they cost at most expectedCents.
func (t *Target) HoldNamedLegs(ctx context.Context, _ string, buyer uint64, seatIDs []string, expectedCents int64, from, to int) (target.Hold, error) {
	return t.c.Hold(ctx, t.program, buyer, legs(httpapi.HoldRequest{Seats: seatIDs, ExpectedTotalCents: &expectedCents}, from, to))
}

// legs sets a request's leg range, leaving out what the gateway's
// defaults say (from 0, to the last stop).
func legs(r httpapi.HoldRequest, from, to int) httpapi.HoldRequest {
	if from > 0 {
		r.From = &from
	}
	if to > 0 {
		r.To = &to
	}
	return r
}

// Release gives a hold back as its buyer (DELETE /v1/holds/{id}).
func (t *Target) Release(ctx context.Context, _ string, h target.Hold) error {
	return t.c.Release(ctx, t.program, h)
}

// ExpiresHolds reports that seatd lapses unpaid holds itself.
func (t *Target) ExpiresHolds() bool { return true }

// SeatMap reads the seat map of category for stops [from, to) as the
// live page polls it (GET /v1/programs/{id}/seats, format=compact,
// anonymous, from the gateway's cache) and counts its free seats.
func (t *Target) SeatMap(ctx context.Context, _, category string, from, to int) (int, error) {
	q := url.Values{"category": {category}, "format": {"compact"}}
	if from > 0 {
		q.Set("from", strconv.Itoa(from))
	}
	if to > 0 {
		q.Set("to", strconv.Itoa(to))
	}
	var m struct {
		Sections []struct {
			Rows []struct {
				Statuses string `json:"statuses"`
			} `json:"rows"`
		} `json:"sections"`
	}
	if err := t.c.Do(ctx, http.MethodGet, "/v1/programs/"+t.program+"/seats?"+q.Encode(), "", nil, http.StatusOK, &m); err != nil {
		return 0, fmt.Errorf("gatewayhttp: seat map: %w", err)
	}
	free := 0
	for _, s := range m.Sections {
		for _, r := range s.Rows {
			free += strings.Count(r.Statuses, "f")
		}
	}
	return free, nil
}

// Check reads each leg's availability through the leaders
// (consistent=true) and checks that every category's free + held +
// sold + blocked is its capacity, as the layout has it. Over HTTP that
// is what can be seen: no route shows which hold has a seat, and with
// no confirm (see the package comment) nothing is sold.
func (t *Target) Check(ctx context.Context) error {
	if t.program == "" {
		return errors.New("gatewayhttp: no program loaded")
	}
	var errs []error
	for leg := range t.legs {
		var av struct {
			Categories []struct {
				ID       string `json:"id"`
				Capacity int    `json:"capacity"`
				Free     int    `json:"free"`
				Held     int    `json:"held"`
				Sold     int    `json:"sold"`
				Blocked  int    `json:"blocked"`
			} `json:"categories"`
		}
		path := fmt.Sprintf("/v1/programs/%s/availability?from=%d&to=%d&consistent=true", t.program, leg, leg+1)
		if err := t.c.Do(ctx, http.MethodGet, path, "", nil, http.StatusOK, &av); err != nil {
			return fmt.Errorf("gatewayhttp: availability of leg %d: %w", leg, err)
		}
		for _, c := range av.Categories {
			if sum := c.Free + c.Held + c.Sold + c.Blocked; sum != c.Capacity || c.Capacity != t.capacity[c.ID] {
				errs = append(errs, fmt.Errorf("leg %d, category %s: free %d + held %d + sold %d + blocked %d = %d; capacity %d, the layout has %d",
					leg, c.ID, c.Free, c.Held, c.Sold, c.Blocked, sum, c.Capacity, t.capacity[c.ID]))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("gatewayhttp: %w", errors.Join(errs...))
	}
	return nil
}

// AuditState shows the audit seatd's state of the program, read through
// Config.Seatd (audit.ReadSeatd), when it is set; else none, and a note
// says so (the ledger alone is audited).
func (t *Target) AuditState(ctx context.Context, q audit.Query) (audit.State, error) {
	if t.cfg.Seatd == nil {
		return audit.State{Notes: []string{"no seatd address was given: only the harness's ledger is audited"}}, nil
	}
	st, _, err := audit.ReadSeatdAs(ctx, t.cfg.Seatd, q, t.program)
	return st, err
}

// PIDs are the gateway's and the cluster's processes on this machine,
// as configured.
func (t *Target) PIDs() []int { return t.cfg.PIDs }

// Close closes the target's idle connections, then runs Config.OnClose,
// if any.
func (t *Target) Close() error {
	err := t.c.Close()
	if t.cfg.OnClose != nil {
		err = errors.Join(err, t.cfg.OnClose())
	}
	return err
}
