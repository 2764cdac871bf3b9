package store

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var mHolds = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "evently_holds_total", Help: "Seat hold attempts by outcome.",
}, []string{"outcome"})
