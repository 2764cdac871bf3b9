package app

import "github.com/evently/evently/api"

// PaymentsConfig configures the payment saga.
type PaymentsConfig struct {
	GatewayURL string `env:"EVENTLY_PAYMENT_URL" envDefault:"http://127.0.0.1:8090"`
}

func wireBookings(d *Deps, c Config, s *api.Server) error { return nil }
