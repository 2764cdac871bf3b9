package app

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/api"
	"github.com/evently/evently/store"
)

// PaymentsConfig configures the payment saga.
type PaymentsConfig struct {
	GatewayURL string        `env:"EVENTLY_PAYMENT_URL" envDefault:"http://127.0.0.1:8090"`
	Timeout    time.Duration `env:"EVENTLY_PAYMENT_TIMEOUT" envDefault:"2s"`
}

// BookingsConfig configures holds and bookings at the API.
type BookingsConfig struct {
	MaxHoldsPerUser int           `env:"EVENTLY_MAX_HOLDS_PER_USER" envDefault:"4"`
	CancelCutoff    time.Duration `env:"EVENTLY_CANCEL_CUTOFF" envDefault:"2h"`
}

func newHolds(d *Deps, c Config) *store.Holds {
	return &store.Holds{Redis: d.Redis, Keys: d.Keys, DB: d.DB, TTL: c.HoldTTL, MaxPerUser: c.Bookings.MaxHoldsPerUser}
}

func wireBookings(d *Deps, c Config, s *api.Server) error {
	bookings := &store.Bookings{DB: d.DB}
	// Cancelling an event cancels (and refunds) every booking, each through
	// the event's partition like any other cancellation.
	s.Catalog.OnEventCancelled = func(ctx context.Context, event uuid.UUID) error {
		refs, err := bookings.ActiveForEvent(ctx, event)
		if err != nil {
			return err
		}
		for _, ref := range refs {
			if err := d.Producer.Enqueue(ctx, evently.StreamBookingCommands, event.String(), evently.CmdCancel, ref); err != nil {
				return err
			}
		}
		return nil
	}
	s.Bookings = api.BookingDeps{
		Holds:       newHolds(d, c),
		Bookings:    bookings,
		Feed:        &store.Feed{Redis: d.Redis, Keys: d.Keys},
		Queue:       d.Producer,
		Idempotency: &store.Idempotency{Redis: d.Redis, Keys: d.Keys},
		EventStarts: func(ctx context.Context, id uuid.UUID) (time.Time, error) {
			var t time.Time
			err := d.DB.GetContext(ctx, &t, `SELECT starts_at FROM events WHERE id = $1`, id)
			return t, err
		},
		CancelCutoff: c.Bookings.CancelCutoff,
	}
	return nil
}
