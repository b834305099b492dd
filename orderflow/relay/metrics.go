package relay

import "github.com/prometheus/client_golang/prometheus"

// metrics are the relay's series, labelled by group (a small number, not
// an id from a request).
type metrics struct {
	published *prometheus.CounterVec
	acked     *prometheus.GaugeVec
	errors    *prometheus.CounterVec
	latency   prometheus.Histogram
}

func newMetrics() metrics {
	return metrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seatd_relay_published_events_total",
			Help: "Outbox events published to Kafka by this node's relay (a re-publish after a leader change counts again).",
		}, []string{"group"}),
		acked: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "seatd_relay_acknowledged_seq",
			Help: "The last outbox sequence number this node's relay saw acknowledged, per group it leads or led.",
		}, []string{"group"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seatd_relay_errors_total",
			Help: "Relay failures by kind: topics (Kafka out of reach, or a topic differs from its spec; nothing is published until it matches), publish (Kafka refused or was out of reach; retried), ack (the OutboxAck proposal failed), encode (a bug; the group's relay stops).",
		}, []string{"group", "kind"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "seatd_relay_publish_seconds",
			Help:    "Time to publish one batch of outbox events to Kafka, acknowledged by every in-sync replica.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
}

func (m metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.published, m.acked, m.errors, m.latency}
}
