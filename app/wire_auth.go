package app

import (
	"errors"
	"time"

	"github.com/evently/evently/api"
)

// AuthConfig configures identity and access.
type AuthConfig struct {
	JWTSecret string        `env:"EVENTLY_JWT_SECRET"`
	Issuer    string        `env:"EVENTLY_JWT_ISSUER" envDefault:"evently"`
	Audience  string        `env:"EVENTLY_JWT_AUDIENCE" envDefault:"evently-api"`
	AccessTTL time.Duration `env:"EVENTLY_ACCESS_TTL" envDefault:"15m"`
	Leeway    time.Duration `env:"EVENTLY_CLOCK_SKEW" envDefault:"30s"`
}

func wireAuth(d *Deps, c Config, s *api.Server) error {
	if len(c.Auth.JWTSecret) < 32 {
		return errors.New("EVENTLY_JWT_SECRET must be set to at least 32 characters")
	}
	s.Tokens = &api.Tokens{Secret: []byte(c.Auth.JWTSecret), Issuer: c.Auth.Issuer, Audience: c.Auth.Audience,
		AccessTTL: c.Auth.AccessTTL, Leeway: c.Auth.Leeway}
	return nil
}
