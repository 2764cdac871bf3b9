package app

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/api"
	"github.com/evently/evently/store"
	"github.com/evently/evently/topics"
)

// PaymentsConfig configures the payment saga.
type PaymentsConfig struct {
	GatewayURL string        `env:"EVENTLY_PAYMENT_URL" envDefault:"http://127.0.0.1:8090"`
	Timeout    time.Duration `env:"EVENTLY_PAYMENT_TIMEOUT" envDefault:"2s"`
	// ChargeAtCommit lets the booking worker charge new bookings itself
	// right after their commit, one attempt each within AtCommitTimeout;
	// what it cannot settle goes to the payment worker (docs/booking.md).
	ChargeAtCommit  bool          `env:"EVENTLY_CHARGE_AT_COMMIT" envDefault:"true"`
	AtCommitTimeout time.Duration `env:"EVENTLY_CHARGE_AT_COMMIT_TIMEOUT" envDefault:"500ms"`
}

// BookingsConfig configures holds and bookings at the API.
type BookingsConfig struct {
	MaxHoldsPerUser int           `env:"EVENTLY_MAX_HOLDS_PER_USER" envDefault:"4"`
	CancelCutoff    time.Duration `env:"EVENTLY_CANCEL_CUTOFF" envDefault:"2h"`
	// SubmitWait: POST /bookings answers the outcome when it comes within
	// this long, else 202 (see docs/booking.md).
	SubmitWait time.Duration `env:"EVENTLY_BOOKING_WAIT" envDefault:"1s"`
	// WaitingRoom bounds bookings in flight per API process, from hold to
	// answer; hold requests beyond it wait their turn, at most
	// WaitingRoomMaxWait, then get a 503 (0: no waiting room). See
	// docs/booking.md.
	WaitingRoom        int           `env:"EVENTLY_WAITING_ROOM" envDefault:"72"`
	WaitingRoomMaxWait time.Duration `env:"EVENTLY_WAITING_ROOM_MAX_WAIT" envDefault:"5s"`
	// WaitingRoomPassTTL is how long a granted hold counts as in flight
	// before its booking is submitted (buyers who hold and go away).
	WaitingRoomPassTTL time.Duration `env:"EVENTLY_WAITING_ROOM_PASS_TTL" envDefault:"500ms"`
}

func newHolds(d *Deps, c Config) *store.Holds {
	return &store.Holds{Redis: d.Redis, Keys: d.Keys, DB: d.DB, TTL: c.HoldTTL, MaxPerUser: c.Bookings.MaxHoldsPerUser}
}

func wireBookings(d *Deps, c Config, s *api.Server) error {
	bookings := &store.Bookings{DB: d.DB}
	// Cancelling an event cancels (and refunds) every booking: one command
	// through the event's partition, after everything queued before it, that
	// the booking worker applies in one transaction (retried whole until it
	// lands), so nothing is left half done and no batch in flight is missed.
	s.Catalog.OnEventCancelled = func(ctx context.Context, event uuid.UUID) error {
		return d.Producer.Enqueue(ctx, evently.StreamBookingCommands, event.String(), evently.CmdCancelEvent, evently.EventRef{EventID: event})
	}
	pv := newPipelineView(d, c)
	s.Pipeline = pv.read
	s.Background = append(s.Background, pv.watch)
	s.Replay = func(ctx context.Context, topic string, max int) (int, error) {
		if !slices.Contains(topics.All(), topic) || strings.HasSuffix(topic, topics.DLQSuffix) {
			return 0, evently.Errorf(evently.ENOTFOUND, "No topic %q has a dead-letter queue.", topic)
		}
		n, err := topics.ReplayDLQ(ctx, d.Kafka, d.Names, d.Producer, c.GroupPrefix+"dlq-replay", topic, max)
		if err != nil && n == 0 {
			return 0, &evently.Error{Code: evently.EUNAVAILABLE, Message: "The broker did not answer; nothing was replayed.", RetryAfter: 2}
		}
		return n, nil
	}
	holds, feed, idem := newHolds(d, c), &store.Feed{Redis: d.Redis, Keys: d.Keys}, &store.Idempotency{Redis: d.Redis, Keys: d.Keys}
	s.Bookings = api.BookingDeps{
		Admissions:  &store.Admissions{Holds: holds, Idempotency: idem, Feed: feed},
		Withdrawals: bookings,
		Outcomes:    &store.Outcomes{Bookings: bookings, Holds: holds, Feed: feed, Idempotency: idem},
		Holds:       holds,
		Bookings:    bookings,
		Feed:        feed,
		Queue:       d.Producer,
		Idempotency: idem,
		EventStarts: func(ctx context.Context, id uuid.UUID) (time.Time, error) {
			var t time.Time
			err := d.DB.GetContext(ctx, &t, `SELECT starts_at FROM events WHERE id = $1`, id)
			return t, err
		},
		CancelCutoff: c.Bookings.CancelCutoff,
		SubmitWait:   c.Bookings.SubmitWait,
		Room:         &api.WaitingRoom{Capacity: c.Bookings.WaitingRoom, PassTTL: c.Bookings.WaitingRoomPassTTL},
		RoomMaxWait:  c.Bookings.WaitingRoomMaxWait,
	}
	return nil
}
