package orderflow

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the service's Prometheus metrics. Labels are event types,
// reasons and partition numbers, never order numbers or user ids.
type metrics struct {
	applied       *prometheus.CounterVec // by event type
	duplicates    prometheus.Counter
	skipped       *prometheus.CounterVec // by reason
	illegal       *prometheus.CounterVec // by event type
	lag           *prometheus.GaugeVec   // by partition
	batchEvents   prometheus.Histogram
	commitSeconds prometheus.Histogram
	published     prometheus.Counter
	publishErrors prometheus.Counter
	rebuilds      prometheus.Counter
	rebuiltOrders prometheus.Counter
	stopped       *prometheus.CounterVec // by reason
	seatCalls     *prometheus.CounterVec // by kind and outcome
	payWaiting    *prometheus.GaugeVec   // by partition
	// paidToConfirmed times paid holds' confirms (partition.timeConfirms).
	paidToConfirmed prometheus.Histogram
	collector       *storeCollector
}

func newMetrics() *metrics {
	return &metrics{
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_events_applied_total",
			Help: "seat.holds and pay.events events that changed an order, by type"}, []string{"type"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "orderflow_events_duplicate_total",
			Help: "seat.holds and pay.events events seen before (re-deliveries), absorbed"}),
		seatCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_seat_calls_total",
			Help: "calls to the inventory, by kind (confirm, release) and outcome (ok, refused, retry)"}, []string{"kind", "outcome"}),
		paidToConfirmed: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "orderflow_paid_to_confirmed_seconds",
			Help:    "time from the commit of a PaymentSucceeded that made a hold's confirm due to the commit that recorded it done (seatd's ok, or its HoldConfirmed if first)",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		payWaiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "orderflow_pay_waiting",
			Help: "1 while the partition's next pay.events event waits for its order's HoldPlaced"}, []string{"partition"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_events_skipped_total",
			Help: "events and changelog records skipped, by reason: malformed, unknown_type, bad_id, bad_field, misrouted, too_many_pay_events, bad_changelog_record"},
			[]string{"reason"}),
		illegal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_illegal_transitions_total",
			Help: "events not legal from their order's status, left unapplied, by type"}, []string{"type"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "orderflow_partition_lag",
			Help: "seat.holds messages of the partition not applied yet: its end offset less the next offset to apply, after each batch and every 2 s"},
			[]string{"partition"}),
		batchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "orderflow_batch_events",
			Help: "events per synced apply batch", Buckets: prometheus.ExponentialBuckets(1, 4, 8)}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "orderflow_commit_seconds",
			Help: "time to commit one apply batch (a synced pebble write)", Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 10)}),
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "orderflow_changelog_published_total",
			Help: "order changes written to the orders changelog"}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "orderflow_changelog_errors_total",
			Help: "changelog writes that failed (retried)"}),
		rebuilds: prometheus.NewCounter(prometheus.CounterOpts{Name: "orderflow_rebuilds_total",
			Help: "partition stores rebuilt from the orders changelog (a store that found the changelog empty is not counted)"}),
		rebuiltOrders: prometheus.NewCounter(prometheus.CounterOpts{Name: "orderflow_rebuilt_orders_total",
			Help: "orders restored by rebuilds (each once, however many of its records the changelog kept)"}),
		stopped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_partition_stops_total",
			Help: "partitions that stopped consuming, by reason: newer_version, other_cluster, commit_failed"}, []string{"reason"}),
		collector: &storeCollector{
			size: prometheus.NewDesc("orderflow_store_bytes", "disk space of the partition's store", []string{"partition"}, nil),
			pending: prometheus.NewDesc("orderflow_changelog_pending", "order changes of the partition waiting for the changelog",
				[]string{"partition"}, nil),
			ready: prometheus.NewDesc("orderflow_partition_ready", "1 once the partition is rebuilt and caught up with its start",
				[]string{"partition"}, nil),
			tasks: prometheus.NewDesc("orderflow_seat_calls_due", "calls to the inventory recorded and not yet answered finally (confirms, releases)",
				[]string{"partition"}, nil),
			dues: prometheus.NewDesc("orderflow_refunds_due", "payments owed back, not yet refunded in full (for the pay service)",
				[]string{"partition"}, nil),
		},
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	// Every known label value is there from the start, at 0, so that
	// dashboards and alerts see the series before the first event.
	for _, reason := range []string{"malformed", "unknown_type", "bad_id", "bad_field", "misrouted", "too_many_pay_events", "bad_changelog_record"} {
		m.skipped.WithLabelValues(reason)
	}
	for _, reason := range []string{"newer_version", "other_cluster", "commit_failed"} {
		m.stopped.WithLabelValues(reason)
	}
	for _, typ := range []string{"HoldPlaced", "HoldConfirmed", "HoldReleased", "SeatsRefunded",
		"PaymentSucceeded", "PaymentClosed", "RefundSucceeded", "RefundFailed"} {
		m.applied.WithLabelValues(typ)
		m.illegal.WithLabelValues(typ)
	}
	m.illegal.WithLabelValues("seat_call")
	for _, kind := range []string{"confirm", "release"} {
		for _, outcome := range []string{"ok", "refused", "retry"} {
			m.seatCalls.WithLabelValues(kind, outcome)
		}
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.applied, m.duplicates, m.skipped, m.illegal, m.lag, m.batchEvents,
		m.commitSeconds, m.published, m.publishErrors, m.rebuilds, m.rebuiltOrders, m.stopped, m.seatCalls, m.payWaiting, m.paidToConfirmed,
		m.collector} {
		errs = append(errs, r.Register(c))
	}
	return errors.Join(errs...)
}

func partLabel(p int) string { return strconv.Itoa(p) }

// storeCollector reads each owned partition's store size, pending
// changes and readiness at scrape time.
type storeCollector struct {
	svc                               *Service
	size, pending, ready, tasks, dues *prometheus.Desc
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.size
	ch <- c.pending
	ch <- c.ready
	ch <- c.tasks
	ch <- c.dues
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	for _, id := range c.svc.owned {
		p := c.svc.parts[id]
		label := partLabel(id)
		ready := 0.0
		if p.ready() == nil {
			ready = 1
		}
		ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, ready, label)
		p.closeMu.RLock()
		if p.store != nil {
			ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(p.store.SizeBytes()), label)
			ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(p.store.PendingCount()), label)
			st := p.store.State()
			ch <- prometheus.MustNewConstMetric(c.tasks, prometheus.GaugeValue, float64(st.Tasks), label)
			ch <- prometheus.MustNewConstMetric(c.dues, prometheus.GaugeValue, float64(st.RefundsDue), label)
		}
		p.closeMu.RUnlock()
	}
}
