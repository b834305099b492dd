package gateway

import (
	"strconv"
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
			Help: "seat map and availability answers, by kind and whether this one was rendered (else served from the cache)"},
			[]string{"kind", "rendered"}),
	}
	reg.MustRegister(m.requests, m.latency, m.rejected, m.answers,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gateway_in_flight", Help: "requests being served"},
			func() float64 { return float64(len(g.inFlight)) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gateway_seatd_hold_calls_total", Help: "PlaceHolds calls to seatd"},
			func() float64 { return float64(g.inv.Stats().HoldCalls) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gateway_seatd_batched_holds_total", Help: "holds those calls carried"},
			func() float64 { return float64(g.inv.Stats().BatchedHolds) }))
	return m
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}
