package pay

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the pay service's Prometheus metrics. Labels are channels,
// outcomes and partitions, never order or trade numbers.
type metrics struct {
	svc           *Service
	pays          *prometheus.CounterVec // by channel, outcome
	notifications *prometheus.CounterVec // by channel, outcome
	queries       *prometheus.CounterVec // by channel, provider state or error
	paid          *prometheus.CounterVec // by channel, via
	closed        *prometheus.CounterVec // by reason
	refunds       *prometheus.CounterVec // by channel, outcome
	published     prometheus.Counter
	publishErrors prometheus.Counter
	active        *prometheus.Desc
	pending       *prometheus.Desc
	openRefunds   *prometheus.Desc
}

func newMetrics() *metrics {
	return &metrics{
		pays: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pay_attempts_total",
			Help: "payment attempts, by channel and outcome: created, unavailable, rejected, overloaded"}, []string{"channel", "outcome"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pay_notifications_total",
			Help: "provider notifications, by channel and outcome: applied, duplicate, ignored, refund_applied, refund_applied_after_failure, refund_duplicate, unknown_refund; refused: bad_signature, wrong_app, malformed, unknown_trade, wrong_channel, wrong_amount, error"},
			[]string{"channel", "outcome"}),
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pay_queries_total",
			Help: "active trade queries, by channel and the provider's answer (WAIT_BUYER_PAY, SUCCESS, CLOSED, REFUNDED, NOT_FOUND, error)"},
			[]string{"channel", "state"}),
		paid: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pay_payments_total",
			Help: "trades paid (each once), by channel and how it was learned: notification, query, status"}, []string{"channel", "via"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pay_trades_closed_total",
			Help: "trades closed, by reason: superseded, expired"}, []string{"reason"}),
		refunds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pay_refunds_total",
			Help: "refunds (of seats, asked by buyers and operators, and of payments owed back), by channel and outcome: requested (of seats), SUCCEEDED, FAILED, retry, unknown_channel"}, []string{"channel", "outcome"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "pay_events_published_total",
			Help: "outcomes written to pay.events"}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "pay_publish_errors_total",
			Help: "pay.events writes that failed (retried)"}),
		active: prometheus.NewDesc("pay_active_trades", "trades open or closing, by partition", []string{"partition"}, nil),
		pending: prometheus.NewDesc("pay_events_pending", "outcomes recorded and not yet published, by partition",
			[]string{"partition"}, nil),
		openRefunds: prometheus.NewDesc("pay_refunds_open", "refunds recorded and not final (REQUESTED, PROCESSING), by partition",
			[]string{"partition"}, nil),
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	var errs []error
	for _, c := range []prometheus.Collector{m.pays, m.notifications, m.queries, m.paid, m.closed, m.refunds, m.published, m.publishErrors, m} {
		errs = append(errs, r.Register(c))
	}
	return errors.Join(errs...)
}

// Describe and Collect make the store gauges.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.active
	ch <- m.pending
	ch <- m.openRefunds
}

// Collect reads each open store's counts.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.svc.mu.Lock()
	open := m.svc.started && !m.svc.closed
	m.svc.mu.Unlock()
	if !open {
		return
	}
	for p, part := range m.svc.parts {
		st := part.store
		if st == nil {
			continue
		}
		l := strconv.Itoa(p)
		ch <- prometheus.MustNewConstMetric(m.active, prometheus.GaugeValue, float64(st.active.Load()), l)
		ch <- prometheus.MustNewConstMetric(m.pending, prometheus.GaugeValue, float64(st.pending.Count()), l)
		ch <- prometheus.MustNewConstMetric(m.openRefunds, prometheus.GaugeValue, float64(st.open.Load()), l)
	}
}
