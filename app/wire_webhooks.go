package app

import (
	"errors"
	"time"

	"github.com/evently/evently"
	"github.com/evently/evently/api"
	"github.com/evently/evently/store"
	"github.com/evently/evently/webhook"
	"github.com/evently/evently/workers"
)

// WebhookConfig configures webhook subscriptions and their delivery.
type WebhookConfig struct {
	// AllowPrivate lets webhooks reach loopback, private and link-local
	// addresses; make run sets it for local receivers, production leaves
	// it off.
	AllowPrivate bool `env:"EVENTLY_WEBHOOK_ALLOW_PRIVATE" envDefault:"false"`
	// Timeout bounds one delivery attempt.
	Timeout time.Duration `env:"EVENTLY_WEBHOOK_TIMEOUT" envDefault:"10s"`
	// RetryBase and RetryMax shape the backoff between attempts (full
	// jitter, doubling from RetryBase up to RetryMax); RetryWindow is how
	// long after its first attempt a delivery is still tried.
	RetryBase   time.Duration `env:"EVENTLY_WEBHOOK_RETRY_BASE" envDefault:"10s"`
	RetryMax    time.Duration `env:"EVENTLY_WEBHOOK_RETRY_MAX" envDefault:"1h"`
	RetryWindow time.Duration `env:"EVENTLY_WEBHOOK_RETRY_WINDOW" envDefault:"24h"`
	// Poll is how often a webhooks worker looks for due deliveries;
	// Concurrency bounds its attempts in flight.
	Poll        time.Duration `env:"EVENTLY_WEBHOOK_POLL" envDefault:"1s"`
	Concurrency int           `env:"EVENTLY_WEBHOOK_CONCURRENCY" envDefault:"8"`
}

func (c WebhookConfig) validate() error {
	switch {
	case c.Timeout < 100*time.Millisecond || c.Timeout > time.Minute:
		return errors.New("EVENTLY_WEBHOOK_TIMEOUT must be between 100ms and 1m")
	case c.RetryBase < time.Millisecond || c.RetryBase > c.RetryMax:
		return errors.New("EVENTLY_WEBHOOK_RETRY_BASE must be at least 1ms and at most EVENTLY_WEBHOOK_RETRY_MAX")
	case c.RetryMax > 24*time.Hour:
		return errors.New("EVENTLY_WEBHOOK_RETRY_MAX must be at most 24h")
	case c.RetryWindow < 0 || c.RetryWindow > 7*24*time.Hour:
		return errors.New("EVENTLY_WEBHOOK_RETRY_WINDOW must be between 0s and 168h")
	case c.Poll < 10*time.Millisecond || c.Poll > time.Minute:
		return errors.New("EVENTLY_WEBHOOK_POLL must be between 10ms and 1m")
	case c.Concurrency < 1 || c.Concurrency > 256:
		return errors.New("EVENTLY_WEBHOOK_CONCURRENCY must be between 1 and 256")
	}
	return nil
}

func (c WebhookConfig) sender() *webhook.Client {
	return webhook.New(webhook.Options{Timeout: c.Timeout, AllowPrivate: c.AllowPrivate})
}

func wireWebhooks(d *Deps, c Config, s *api.Server) error {
	if err := c.Webhooks.validate(); err != nil {
		return err
	}
	s.Webhooks = api.WebhookDeps{Store: &store.Webhooks{DB: d.DB}, CheckURL: c.Webhooks.sender().CheckURL}
	return nil
}

// webhookWorker is the webhooks worker's part of workers.Config.
func webhookWorker(c WebhookConfig) (workers.WebhookConfig, error) {
	if err := c.validate(); err != nil {
		return workers.WebhookConfig{}, err
	}
	return workers.WebhookConfig{
		Sender:  c.sender(),
		Retry:   evently.WebhookRetry{Base: c.RetryBase, Max: c.RetryMax, Window: c.RetryWindow},
		Timeout: c.Timeout, Poll: c.Poll, Concurrency: c.Concurrency,
	}, nil
}
