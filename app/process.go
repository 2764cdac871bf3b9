package app

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/evently/evently/api"
	"github.com/evently/evently/gateway"
	"github.com/evently/evently/store"
	"github.com/evently/evently/topics"
	"github.com/evently/evently/workers"
)

// Checks are the readiness checks every process shares.
func Checks(d *Deps, c Config) []api.Check {
	return []api.Check{
		{Name: "postgres", Fn: func(ctx context.Context) error {
			if err := d.DB.PingContext(ctx); err != nil {
				return errors.New("unreachable")
			}
			st, err := store.Migrations(ctx, d.DB.DB)
			if err != nil {
				return errors.New("migration state unknown")
			}
			if st.Pending() {
				return fmt.Errorf("migrations pending (at %d of %d): run evently migrate", st.Current, st.Latest)
			}
			return nil
		}},
		{Name: "redis", Fn: func(ctx context.Context) error {
			if err := d.Redis.Ping(ctx).Err(); err != nil {
				return errors.New("unreachable")
			}
			return nil
		}},
		{Name: "kafka", Fn: func(ctx context.Context) error {
			err := topics.Ping(ctx, d.Kafka, d.Names)
			if topics.AuthFailed(err) {
				return errors.New("credentials refused")
			}
			if err != nil {
				return errors.New("unreachable")
			}
			return nil
		}},
	}
}

// API wires the HTTP API. Each area wires its own services (wire_*.go).
func API(d *Deps, c Config) (*api.Server, error) {
	s := &api.Server{Logger: d.Log, Checks: Checks(d, c), Profiling: c.Pprof,
		RequestTimeout: c.RequestTimeout, MaxStreamsPerUser: c.MaxStreams}
	for _, wire := range []func(*Deps, Config, *api.Server) error{wireAuth, wireCatalog, wireBookings, wireWaitlist, wireWebhooks, wireNotifications, wireAnalytics} {
		if err := wire(d, c, s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Workers wires the chosen worker kinds.
func Workers(d *Deps, c Config, kinds []string) (*workers.Set, error) {
	if len(kinds) == 0 {
		return nil, errors.New("no worker kinds chosen")
	}
	wc := workerConfig(d, c)
	if slices.Contains(kinds, "payment") {
		gw, err := gateway.New(c.Payments.GatewayURL, gateway.Options{Timeout: c.Payments.Timeout})
		if err != nil {
			return nil, fmt.Errorf("payment gateway: %w", err)
		}
		wc.Gateway = gw
	}
	if slices.Contains(kinds, "booking") && c.Payments.ChargeAtCommit {
		gw, err := gateway.New(c.Payments.GatewayURL, gateway.Options{Name: "gateway_at_commit",
			Timeout: c.Payments.AtCommitTimeout, MaxAttempts: 1})
		if err != nil {
			return nil, fmt.Errorf("payment gateway: %w", err)
		}
		wc.ChargeAtCommit = gw
	}
	if slices.Contains(kinds, "webhooks") {
		wh, err := webhookWorker(c.Webhooks)
		if err != nil {
			return nil, err
		}
		wc.Webhooks = wh
	}
	return workers.NewSet(wc, kinds)
}

func workerConfig(d *Deps, c Config) workers.Config {
	return workers.Config{
		Kafka: d.Kafka, Names: d.Names, Logger: d.Log,
		DB: d.DB, Redis: d.Redis, Keys: d.Keys, Producer: d.Producer,
		BatchSize: c.BatchSize, BatchWait: c.BatchWait, MaxAttempts: c.MaxAttempts,
		SessionTimeout: c.SessionTimeout, GroupPrefix: c.GroupPrefix, Instance: c.Instance,
		PaymentWindow: c.PaymentWindow, HoldTTL: c.HoldTTL, UnknownOutcomeAfter: c.UnknownOutcomeAfter,
		WaitlistOfferTTL: c.Waitlist.OfferTTL, WaitlistSweep: c.Waitlist.Sweep, WaitlistRemindBefore: c.Waitlist.RemindBefore,
	}
}
