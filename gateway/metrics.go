package gateway

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's Prometheus series. Labels are route names,
// status codes and kinds, never ids.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	rejected *prometheus.CounterVec
	answers  *prometheus.CounterVec
	layouts  *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry, g *Gateway) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_requests_total",
			Help: "requests answered, by route and HTTP status"}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gateway_request_seconds",
			Help: "time to answer, by route", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"route"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_rejected_total",
			Help: "requests refused by admission control, by reason"}, []string{"reason"}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_versioned_answers_total",
			Help: "seat map and availability answers, by kind and how each was served: cached (without asking seatd), " +
				"unchanged (seatd asked, the version had not moved), rendered (and kept), oversize (rendered, too large to keep), " +
				"consistent (read through the leader, never cached)"},
			[]string{"kind", "served"}),
		layouts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_layouts_total",
			Help: "program layouts the cache was filled with, by source: created (a create's answer), fetched (a GetProgram and its decode, " +
				"at most 2 at once)"}, []string{"source"}),
	}
	cacheGauge := func(name, help string, v func(cacheStats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return v(g.cache.stats()) })
	}
	reg.MustRegister(m.requests, m.latency, m.rejected, m.answers, m.layouts,
		cacheGauge("gateway_cache_bytes", "bytes the answer and layout cache holds", func(s cacheStats) float64 { return float64(s.Bytes) }),
		cacheGauge("gateway_cache_budget_bytes", "the cache's byte budget (-cache-bytes)", func(s cacheStats) float64 { return float64(s.Budget) }),
		cacheGauge("gateway_cache_answers", "seat map and availability answers cached", func(s cacheStats) float64 { return float64(s.Answers) }),
		cacheGauge("gateway_cache_layouts", "program layouts cached", func(s cacheStats) float64 { return float64(s.Layouts) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gateway_cache_evictions_total", Help: "cache entries evicted to stay within the budget"},
			func() float64 { return float64(g.cache.stats().Evictions) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gateway_cache_oversize_total",
			Help: "answers and layouts not kept for being larger than -cache-max-entry-bytes"},
			func() float64 { return float64(g.cache.stats().Oversize) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gateway_token_cache_bytes", Help: "bytes of the verified buyer tokens kept"},
			func() float64 { return float64(g.tokens.size()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gateway_in_flight", Help: "requests being served"},
			func() float64 { return float64(len(g.inFlight)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gateway_layout_builds", Help: "program layouts being fetched and decoded"},
			func() float64 { return float64(len(g.builds)) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gateway_seatd_hold_calls_total", Help: "PlaceHolds calls to seatd"},
			func() float64 { return float64(g.inv.Stats().HoldCalls) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gateway_seatd_batched_holds_total", Help: "holds those calls carried"},
			func() float64 { return float64(g.inv.Stats().BatchedHolds) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gateway_seatd_release_calls_total", Help: "ReleaseHolds calls to seatd"},
			func() float64 { return float64(g.inv.Stats().ReleaseCalls) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gateway_seatd_batched_releases_total", Help: "releases those calls carried"},
			func() float64 { return float64(g.inv.Stats().BatchedReleases) }))
	if set := g.cfg.Auth.set; set != nil {
		fetches := func(outcome string, n *atomic.Int64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gateway_jwks_fetches_total",
				Help:        "fetches of the JWKS (URL and file), by outcome: ok, failed (unreachable, not 200, too large: the last good keys stay), invalid (not a usable key set: refused, the last good keys stay)",
				ConstLabels: prometheus.Labels{"outcome": outcome}}, func() float64 { return float64(n.Load()) })
		}
		reg.MustRegister(fetches("ok", &set.fetchOK), fetches("failed", &set.fetchFailed), fetches("invalid", &set.fetchInvalid),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gateway_jwks_keys", Help: "keys of the JWKS in use"},
				func() float64 { return float64(len(set.current().keys)) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gateway_jwks_last_success_timestamp_seconds",
				Help: "when the JWKS was last fetched and taken, Unix seconds"},
				func() float64 { return float64(set.lastGood.Load()) }))
	}
	return m
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}
