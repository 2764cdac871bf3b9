package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/evently/evently/api"
	"github.com/evently/evently/store"
)

// AuthConfig configures identity and access: tokens, passwords, rate limits
// and CORS. docs/identity.md explains the choices.
type AuthConfig struct {
	JWTSecret string        `env:"EVENTLY_JWT_SECRET"`
	Issuer    string        `env:"EVENTLY_JWT_ISSUER" envDefault:"evently"`
	Audience  string        `env:"EVENTLY_JWT_AUDIENCE" envDefault:"evently-api"`
	AccessTTL time.Duration `env:"EVENTLY_ACCESS_TTL" envDefault:"15m"`
	// Leeway tolerates clock differences between instances when checking
	// exp/nbf/iat; keep it to seconds.
	Leeway     time.Duration `env:"EVENTLY_CLOCK_SKEW" envDefault:"30s"`
	RefreshTTL time.Duration `env:"EVENTLY_REFRESH_TTL" envDefault:"720h"`
	BcryptCost int           `env:"EVENTLY_BCRYPT_COST" envDefault:"10"`

	// CORSOrigins are the browser origins allowed to call the API.
	CORSOrigins []string `env:"EVENTLY_CORS_ORIGINS" envSeparator:","`
	// TrustProxy takes client IPs from X-Forwarded-For (behind a proxy only).
	TrustProxy bool `env:"EVENTLY_TRUST_PROXY" envDefault:"false"`

	// Rate limits in requests per minute (bursts of the same size); 0 turns
	// a limit off. Per user when signed in, else per client IP; logins per
	// client IP and email.
	RateLogin    int `env:"EVENTLY_RATE_LOGIN" envDefault:"5"`
	RateAuth     int `env:"EVENTLY_RATE_AUTH" envDefault:"30"`
	RateHolds    int `env:"EVENTLY_RATE_HOLDS" envDefault:"30"`
	RateBookings int `env:"EVENTLY_RATE_BOOKINGS" envDefault:"10"`
	RateReads    int `env:"EVENTLY_RATE_READS" envDefault:"600"`
}

func (c AuthConfig) validate() error {
	var errs []string
	if len(c.JWTSecret) < 32 {
		errs = append(errs, "EVENTLY_JWT_SECRET must be set to at least 32 characters")
	}
	if c.AccessTTL < time.Minute || c.AccessTTL > 24*time.Hour {
		errs = append(errs, "EVENTLY_ACCESS_TTL must be between 1m and 24h")
	}
	if c.Leeway < 0 || c.Leeway > 5*time.Minute {
		errs = append(errs, "EVENTLY_CLOCK_SKEW must be between 0s and 5m")
	}
	if c.RefreshTTL < c.AccessTTL {
		errs = append(errs, "EVENTLY_REFRESH_TTL must be at least EVENTLY_ACCESS_TTL")
	}
	if c.BcryptCost < bcrypt.MinCost || c.BcryptCost > 16 {
		errs = append(errs, fmt.Sprintf("EVENTLY_BCRYPT_COST must be between %d and 16", bcrypt.MinCost))
	}
	for _, o := range c.CORSOrigins {
		if u, err := url.Parse(o); o != "*" && (err != nil || u.Scheme == "" || u.Host == "") {
			errs = append(errs, fmt.Sprintf("EVENTLY_CORS_ORIGINS entry %q must be an origin such as https://tickets.example.com", o))
		}
	}
	for name, v := range map[string]int{"EVENTLY_RATE_LOGIN": c.RateLogin, "EVENTLY_RATE_AUTH": c.RateAuth,
		"EVENTLY_RATE_HOLDS": c.RateHolds, "EVENTLY_RATE_BOOKINGS": c.RateBookings, "EVENTLY_RATE_READS": c.RateReads} {
		if v < 0 {
			errs = append(errs, name+" must be 0 (off) or more")
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// RateLimits turns the configured rates into per-class budgets.
func (c AuthConfig) RateLimits() (login api.Budget, classes map[string]api.Budget) {
	perMinute := func(n int, failOpen bool) api.Budget {
		return api.Budget{Rate: n, Burst: n, Period: time.Minute, FailOpen: failOpen}
	}
	return perMinute(c.RateLogin, false), map[string]api.Budget{
		api.ClassAuth:     perMinute(c.RateAuth, false),
		api.ClassHolds:    perMinute(c.RateHolds, false),
		api.ClassBookings: perMinute(c.RateBookings, false),
		api.ClassReads:    perMinute(c.RateReads, true),
	}
}

func wireAuth(d *Deps, c Config, s *api.Server) error {
	ac := c.Auth
	if err := ac.validate(); err != nil {
		return err
	}
	revocations := &store.Revocations{Redis: d.Redis, Keys: d.Keys, Window: ac.AccessTTL + ac.Leeway}
	s.Tokens = &api.Tokens{Secret: []byte(ac.JWTSecret), Issuer: ac.Issuer, Audience: ac.Audience,
		AccessTTL: ac.AccessTTL, Leeway: ac.Leeway, Revoked: revocations.Revoked, Checked: api.NewCheckedTokens(65536)}
	s.Background = append(s.Background, revocations.Follow)
	s.Auth = api.AuthDeps{
		Users:       &store.Users{DB: d.DB},
		Sessions:    &store.RefreshTokens{DB: d.DB, TTL: ac.RefreshTTL},
		Revocations: revocations,
		Audit:       auditLog{&store.Audit{DB: d.DB}},
		BcryptCost:  ac.BcryptCost,
	}
	limiter := store.NewRateLimiter(d.Redis, d.Keys)
	login, classes := ac.RateLimits()
	s.Limits = api.RateLimits{
		Allow: func(ctx context.Context, key string, rate, burst int, period time.Duration) (api.RateDecision, error) {
			dec, err := limiter.Allow(ctx, key, rate, burst, period)
			return api.RateDecision(dec), err
		},
		Budgets: classes, Login: login, TrustProxy: ac.TrustProxy,
	}
	s.CORSOrigins = ac.CORSOrigins
	return nil
}

// auditLog adapts the store's audit log to the API's (same fields; the
// api package does not import store).
type auditLog struct{ a *store.Audit }

func (l auditLog) Record(ctx context.Context, e api.AuditEntry) error {
	return l.a.Record(ctx, store.AuditEntry(e))
}

func (l auditLog) ListAudit(ctx context.Context, action string, actor uuid.UUID, before int64, limit int) ([]api.AuditEntry, error) {
	entries, err := l.a.ListAudit(ctx, action, actor, before, limit)
	out := make([]api.AuditEntry, len(entries))
	for i, e := range entries {
		out[i] = api.AuditEntry(e)
	}
	return out, err
}
