// Package paysimtest runs paysim on loopback for tests, with a merchant's
// notification receiver that verifies through a payment.Provider.
//
// Concurrency: a Sim and a Receiver are safe for concurrent use; the
// simulator's clock moves only when a test calls Advance.
package paysimtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"seatd/orderflow/payment"
	"seatd/paysim"
)

var (
	keysOnce sync.Once
	keys     *paysim.Keys
	keysErr  error
)

// Keys returns one key set per test binary: RSA generation is slow.
func Keys(t testing.TB) *paysim.Keys {
	keysOnce.Do(func() { keys, keysErr = paysim.GenerateKeys() })
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return keys
}

// Sim is a running simulator.
type Sim struct {
	*paysim.Server
	URL    string // http://127.0.0.1:PORT
	Keys   *paysim.Keys
	offset atomic.Int64 // nanoseconds the sim clock is ahead of the real one
	// client keeps a connection per concurrent caller of the control
	// endpoints (http.DefaultClient keeps 2 per host idle).
	client *http.Client
}

// maxCallers is the most goroutines a test calls the control endpoints
// from at once.
const maxCallers = 64

// Start runs paysim on a loopback port until the test ends. cfg's
// BaseURL and Now are filled in, and its Keys when nil (with Keys(t)); ResendScale defaults to 0.0005 (Alipay's
// 4 minutes become 120 ms, WeChat's 15 seconds 7.5 ms).
func Start(t testing.TB, cfg paysim.Config) *Sim {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = maxCallers
	s := &Sim{URL: "http://" + ln.Addr().String(), Keys: cfg.Keys, client: &http.Client{Transport: tr}}
	if s.Keys == nil {
		s.Keys = Keys(t)
	}
	cfg.Keys, cfg.BaseURL = s.Keys, s.URL
	cfg.Now = func() time.Time { return time.Now().Add(time.Duration(s.offset.Load())) }
	if cfg.ResendScale == 0 {
		cfg.ResendScale = 0.0005
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	srv, err := paysim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Server = srv
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(func() { tr.CloseIdleConnections(); hs.Close(); srv.Close() })
	return s
}

// Advance moves the simulator's clock (time_expire, payment times).
func (s *Sim) Advance(d time.Duration) { s.offset.Add(int64(d)) }

// Pay pays a trade through the control endpoint and returns the HTTP
// status.
func (s *Sim) Pay(t testing.TB, channel, outTradeNo string) int {
	t.Helper()
	status, err := s.TryPay(channel, outTradeNo)
	if err != nil {
		t.Fatal(err)
	}
	return status
}

// TryPay is Pay for goroutines other than the test's, which must not
// fail it: a call that gets no answer is an error.
func (s *Sim) TryPay(channel, outTradeNo string) (int, error) {
	resp, err := s.client.Post(s.URL+"/sim/trades/"+channel+"/"+outTradeNo+"/pay", "application/json", nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// Got is one notification a Receiver was sent: what the provider made of
// it.
type Got struct {
	N   payment.Notification
	Err error
	At  time.Time
}

// Receiver is a merchant's notification endpoint: it verifies each
// notification with the provider and answers as the provider expects
// (success when it verified).
type Receiver struct {
	URL string
	p   payment.Provider

	mu  sync.Mutex
	got []Got // guarded by mu; tests make few
}

// NewReceiver serves a notification endpoint until the test ends.
func NewReceiver(t testing.TB, p payment.Provider) *Receiver {
	r := &Receiver{p: p}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		n, err := p.ParseNotification(req.Context(), req.Header, body)
		r.mu.Lock()
		r.got = append(r.got, Got{N: n, Err: err, At: time.Now()})
		r.mu.Unlock()
		p.Answer(err == nil).Write(w)
	}))
	t.Cleanup(hs.Close)
	r.URL = hs.URL + "/notify"
	return r
}

// Got returns what was received so far for a trade (every trade when
// outTradeNo is empty). Notifications that failed verification are
// matched by the out_trade_no the provider could still read, so they are
// listed under every trade: filter on Err.
func (r *Receiver) Got(outTradeNo string) []Got {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Got
	for _, g := range r.got {
		if outTradeNo == "" || g.N.OutTradeNo == outTradeNo || g.Err != nil {
			out = append(out, g)
		}
	}
	return out
}

// WaitFor polls until pred holds for what was received, or fails the test
// after timeout.
func (r *Receiver) WaitFor(t testing.TB, timeout time.Duration, what string, pred func([]Got) bool) []Got {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := r.Got("")
		if pred(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; received %s", timeout, what, describe(got))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Reset forgets what was received.
func (r *Receiver) Reset() {
	r.mu.Lock()
	r.got = nil
	r.mu.Unlock()
}

func describe(got []Got) string {
	var b bytes.Buffer
	for _, g := range got {
		if g.Err != nil {
			fmt.Fprintf(&b, "\n  error: %v", g.Err)
			continue
		}
		j, _ := json.Marshal(g.N)
		fmt.Fprintf(&b, "\n  %s", j)
	}
	return b.String()
}

// GetJSON reads a control endpoint's JSON answer into v and returns the
// status.
func (s *Sim) GetJSON(t testing.TB, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, s.URL+path, nil)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode
}
