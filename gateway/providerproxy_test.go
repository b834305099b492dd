package gateway

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// proxyMode is what the provider proxy does to the calls it spoils.
type proxyMode int32

const (
	// proxyPass forwards every call.
	proxyPass proxyMode = iota
	// proxyDown closes the connection without forwarding: the provider
	// out of reach, the call surely not made.
	proxyDown
	// proxyGarble forwards the call (the provider acts on it), then
	// answers 200 with a body that does not parse.
	proxyGarble
	// proxyBadSig forwards the call, then answers the provider's answer
	// with one byte changed: its signature no longer verifies.
	proxyBadSig
)

// providerProxy sits between the pay service and paysim's API and spoils
// the calls its filter picks: what a flaky network or a middlebox does to
// a provider's answers.
type providerProxy struct {
	url    string
	mode   atomic.Int32
	filter atomic.Pointer[func(*http.Request, []byte) bool]
	hits   atomic.Int64 // calls spoiled
	rp     *httputil.ReverseProxy
}

func startProviderProxy(t testing.TB, target string) *providerProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &providerProxy{rp: httputil.NewSingleHostReverseProxy(u)}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// spoil makes the proxy spoil, in mode, the calls pick says yes to
// (every call when pick is nil); proxyPass stops it.
func (p *providerProxy) spoil(mode proxyMode, pick func(*http.Request, []byte) bool) {
	p.filter.Store(&pick)
	p.mode.Store(int32(mode))
}

func (p *providerProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	mode := proxyMode(p.mode.Load())
	if pick := p.filter.Load(); mode != proxyPass && pick != nil && *pick != nil && !(*pick)(r, body) {
		mode = proxyPass
	}
	if mode == proxyPass {
		p.rp.ServeHTTP(w, r)
		return
	}
	p.hits.Add(1)
	if mode == proxyDown {
		if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
			c.Close()
		}
		return
	}
	rec := httptest.NewRecorder()
	p.rp.ServeHTTP(rec, r)
	if mode == proxyGarble {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"garbage`))
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	b := rec.Body.Bytes()
	if i := bytes.IndexByte(b, '0'); i >= 0 {
		b[i] = '1'
	}
	w.WriteHeader(rec.Code)
	w.Write(b)
}

// refundCalls picks the providers' refund calls (Alipay
// alipay.trade.refund, WeChat Pay POST /v3/refund/domestic/refunds) and,
// with queries, their refund queries.
func refundCalls(queries bool) func(*http.Request, []byte) bool {
	return func(r *http.Request, body []byte) bool {
		s := r.URL.RawQuery + "&" + string(body)
		switch {
		case strings.Contains(s, "alipay.trade.refund"):
			return true
		case strings.Contains(s, "alipay.trade.fastpay.refund.query"):
			return queries
		case strings.HasPrefix(r.URL.Path, "/v3/refund/domestic/refunds"):
			return r.Method == http.MethodPost || queries
		}
		return false
	}
}
