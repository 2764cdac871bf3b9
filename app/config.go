// Package app assembles Evently: it reads configuration, connects the
// adapters (store, topics) and wires them into the API and the workers. The
// commands in cmd/ and the integration tests build processes through it, so
// both run the same wiring.
package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/evently/evently/api"
)

// Config is every setting, read from environment variables. The defaults
// match `make stack`; README.md lists them all.
type Config struct {
	DatabaseURL  string        `env:"DATABASE_URL" envDefault:"postgres://evently:evently@127.0.0.1:15432/evently?sslmode=disable"`
	DBMaxConns   int           `env:"EVENTLY_DB_MAX_CONNS" envDefault:"20"`
	RedisURL     string        `env:"REDIS_URL" envDefault:"redis://127.0.0.1:16379/0"`
	RedisPrefix  string        `env:"EVENTLY_REDIS_PREFIX" envDefault:""`
	KafkaBrokers []string      `env:"KAFKA_BROKERS" envDefault:"127.0.0.1:19092" envSeparator:","`
	TopicPrefix  string        `env:"EVENTLY_TOPIC_PREFIX" envDefault:""`
	Partitions   int           `env:"EVENTLY_PARTITIONS" envDefault:"6"`
	Replication  int           `env:"EVENTLY_REPLICATION" envDefault:"1"`
	HTTPAddr     string        `env:"EVENTLY_HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	WorkerAddr   string        `env:"EVENTLY_WORKER_ADDR" envDefault:"127.0.0.1:8081"`
	LogLevel     string        `env:"EVENTLY_LOG_LEVEL" envDefault:"info"`
	LogFormat    string        `env:"EVENTLY_LOG_FORMAT" envDefault:"json"`
	DrainTimeout time.Duration `env:"EVENTLY_DRAIN_TIMEOUT" envDefault:"20s"`
	// RequestTimeout bounds every API request but streams (its database and
	// Redis work included); MaxStreams caps open event streams per user.
	RequestTimeout time.Duration `env:"EVENTLY_REQUEST_TIMEOUT" envDefault:"10s"`
	MaxStreams     int           `env:"EVENTLY_MAX_STREAMS_PER_USER" envDefault:"10"`
	// Pprof mounts /debug/pprof on the API and worker probe servers.
	Pprof bool `env:"EVENTLY_PPROF" envDefault:"false"`

	// Booking pipeline.
	HoldTTL        time.Duration `env:"EVENTLY_HOLD_TTL" envDefault:"5m"`
	PaymentWindow  time.Duration `env:"EVENTLY_PAYMENT_WINDOW" envDefault:"10m"`
	BatchSize      int           `env:"EVENTLY_BATCH_SIZE" envDefault:"200"`
	BatchWait      time.Duration `env:"EVENTLY_BATCH_WAIT" envDefault:"5ms"`
	MaxAttempts    int           `env:"EVENTLY_MAX_ATTEMPTS" envDefault:"5"`
	SessionTimeout time.Duration `env:"EVENTLY_SESSION_TIMEOUT" envDefault:"10s"`
	// UnknownOutcomeAfter: how long a submission of unknown outcome waits
	// for its client's retry before the reaper resolves it, and how old a
	// submission still in flight must be for the reaper to take its
	// request for dead (docs/booking.md).
	UnknownOutcomeAfter time.Duration `env:"EVENTLY_UNKNOWN_OUTCOME_AFTER" envDefault:"10s"`
	// GroupPrefix isolates consumer groups (tests, several deployments on one broker).
	GroupPrefix string `env:"EVENTLY_GROUP_PREFIX" envDefault:""`
	// Instance names a worker process in GET /admin/pipeline (its consumer
	// groups' client id); default host-pid-random. A pod name fits.
	Instance string `env:"EVENTLY_INSTANCE" envDefault:""`

	// KafkaSecurity: TLS and SASL towards KAFKA_BROKERS (app/kafka.go).
	KafkaSecurity KafkaSecurityConfig

	Auth     AuthConfig
	Catalog  CatalogConfig
	Payments PaymentsConfig
	Bookings BookingsConfig
	Waitlist WaitlistConfig
	Webhooks WebhookConfig
}

// LoadConfig reads and validates the environment; every problem is named
// in one line.
func LoadConfig() (Config, error) {
	var c Config
	if err := env.Parse(&c); err != nil {
		return c, describeParseErrors(err)
	}
	var errs []string
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		errs = append(errs, "DATABASE_URL must be a postgres:// URL")
	}
	if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		errs = append(errs, "REDIS_URL must be a redis:// URL")
	}
	for _, b := range c.KafkaBrokers {
		if !strings.Contains(b, ":") {
			errs = append(errs, fmt.Sprintf("KAFKA_BROKERS entry %q must be host:port", b))
		}
	}
	_, kafkaProblems := c.kafkaConn()
	errs = append(errs, kafkaProblems...)
	if c.Partitions < 1 || c.Partitions > 1024 {
		errs = append(errs, "EVENTLY_PARTITIONS must be between 1 and 1024")
	}
	if c.BatchSize < 1 || c.BatchSize > 10000 {
		errs = append(errs, "EVENTLY_BATCH_SIZE must be between 1 and 10000")
	}
	if c.Bookings.SubmitWait < 0 || c.Bookings.SubmitWait > api.MaxWait {
		errs = append(errs, fmt.Sprintf("EVENTLY_BOOKING_WAIT must be between 0s and %s", api.MaxWait))
	}
	if c.Bookings.WaitingRoom < 0 || c.Bookings.WaitingRoom > 1000000 {
		errs = append(errs, "EVENTLY_WAITING_ROOM must be between 0 (no waiting room) and 1000000")
	}
	if c.Bookings.WaitingRoomMaxWait <= 0 || c.Bookings.WaitingRoomMaxWait > api.MaxWait {
		errs = append(errs, fmt.Sprintf("EVENTLY_WAITING_ROOM_MAX_WAIT must be above 0s and at most %s", api.MaxWait))
	}
	if c.Bookings.WaitingRoomPassTTL <= 0 || c.Bookings.WaitingRoomPassTTL > time.Hour {
		errs = append(errs, "EVENTLY_WAITING_ROOM_PASS_TTL must be above 0s and at most 1h")
	}
	if c.Payments.AtCommitTimeout <= 0 || c.Payments.AtCommitTimeout > time.Minute {
		errs = append(errs, "EVENTLY_CHARGE_AT_COMMIT_TIMEOUT must be above 0s and at most 1m")
	}
	if c.RequestTimeout < 100*time.Millisecond || c.RequestTimeout > 5*time.Minute {
		errs = append(errs, "EVENTLY_REQUEST_TIMEOUT must be between 100ms and 5m")
	}
	if c.MaxStreams < 1 || c.MaxStreams > 1000 {
		errs = append(errs, "EVENTLY_MAX_STREAMS_PER_USER must be between 1 and 1000")
	}
	if c.Waitlist.OfferTTL < 10*time.Second || c.Waitlist.OfferTTL > 24*time.Hour {
		errs = append(errs, "EVENTLY_WAITLIST_OFFER_TTL must be between 10s and 24h")
	}
	if c.Waitlist.Sweep < 10*time.Millisecond || c.Waitlist.Sweep > time.Minute {
		errs = append(errs, "EVENTLY_WAITLIST_SWEEP must be between 10ms and 1m")
	}
	if c.Waitlist.RemindBefore < 0 || c.Waitlist.RemindBefore > time.Hour {
		errs = append(errs, "EVENTLY_WAITLIST_REMIND_BEFORE must be between 0s and 1h")
	}
	if c.HoldTTL < 10*time.Second {
		errs = append(errs, "EVENTLY_HOLD_TTL must be at least 10s")
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err.Error())
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		errs = append(errs, "EVENTLY_LOG_FORMAT must be json or text")
	}
	if len(errs) > 0 {
		return c, errors.New(strings.Join(errs, "; "))
	}
	return c, nil
}

// describeParseErrors names the variable (not the Go field) in each error.
func describeParseErrors(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	var msgs []string
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			// The error names the Go field; nested structs (AuthConfig, ...)
			// hold most fields, so look there too, and only trust a unique
			// name.
			if names := envNames(reflect.TypeFor[Config](), pe.Name, ""); len(names) == 1 {
				msgs = append(msgs, fmt.Sprintf("%s is not a valid %s", names[0], pe.Type))
				continue
			}
		}
		msgs = append(msgs, e.Error())
	}
	return errors.New(strings.Join(msgs, "; "))
}

// envNames returns the variables of the fields named field in t and the
// structs it nests.
func envNames(t reflect.Type, field, prefix string) []string {
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		switch {
		case name != "" && f.Name == field:
			names = append(names, prefix+name)
		case name == "" && f.Type.Kind() == reflect.Struct:
			names = append(names, envNames(f.Type, field, prefix+f.Tag.Get("envPrefix"))...)
		}
	}
	return names
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("EVENTLY_LOG_LEVEL must be debug, info, warn or error, not %q", s)
	}
	return l, nil
}

// NewLogger returns the process logger.
func NewLogger(c Config) *slog.Logger {
	lvl, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}
