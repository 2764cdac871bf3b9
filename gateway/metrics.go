package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics, registered on the default registry (served at /metrics).
var (
	chargeOutcomes = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "evently_gateway_charges_total",
		Help: "Charge calls by outcome (charged, declined, rejected, unavailable, unknown).",
	}, []string{"outcome"})
	refundOutcomes = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "evently_gateway_refunds_total",
		Help: "Refund calls by outcome (refunded, rejected, unavailable, unknown).",
	}, []string{"outcome"})
	latency = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "evently_gateway_request_duration_seconds",
		Help:    "Duration of one HTTP attempt to the payment gateway, by operation and result (2xx, 4xx, 5xx, timeout, network, cancelled).",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 5},
	}, []string{"op", "result"})
	retries = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "evently_gateway_retries_total",
		Help: "Attempts repeated after a retryable failure, by operation.",
	}, []string{"op"})
	breakerState = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "evently_gateway_breaker_state",
		Help: "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
	}, []string{"breaker"})
	breakerChanges = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "evently_gateway_breaker_transitions_total",
		Help: "Circuit breaker state changes.",
	}, []string{"breaker", "from", "to"})
)
