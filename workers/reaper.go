package workers

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/store"
)

// Reaper finds bookings past their deadline and enqueues `expire` through
// the event's partition (the booking worker decides, so the state machine
// has one writer per event), asks again for payments left unanswered,
// resends outbox messages whose process died before sending them, and
// resolves submissions of unknown outcome that no retry resolved (including
// those whose request died before its command was known to be durable), so
// their holds do not stay claimed. Several reapers may run: duplicates are
// recognised downstream, and resolving twice finds the same truth.
type Reaper struct {
	cfg      Config
	log      *slog.Logger
	bookings *store.Bookings
	outcomes *store.Outcomes
	// Every is the pause between sweeps; RetryAfter how long a payment may
	// stay unanswered before it is asked for again; UnknownAfter how long
	// an unknown outcome is left to its client's retry.
	Every, RetryAfter, UnknownAfter time.Duration
}

func newReaper(cfg Config) (Runner, error) {
	bookings := &store.Bookings{DB: cfg.DB}
	after := cfg.UnknownOutcomeAfter
	if after <= 0 {
		after = 10 * time.Second
	}
	return &Reaper{cfg: cfg, log: cfg.Logger.With("worker", "reaper"), bookings: bookings,
		outcomes: &store.Outcomes{Bookings: bookings, Holds: &store.Holds{Redis: cfg.Redis, Keys: cfg.Keys},
			Feed: &store.Feed{Redis: cfg.Redis, Keys: cfg.Keys}, Idempotency: &store.Idempotency{Redis: cfg.Redis, Keys: cfg.Keys}},
		Every: time.Second, RetryAfter: 5 * time.Second, UnknownAfter: after}, nil
}

// Run sweeps until ctx ends.
func (r *Reaper) Run(ctx context.Context) error {
	t := time.NewTicker(r.Every)
	defer t.Stop()
	for {
		if err := r.Sweep(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep does one pass. Unknown outcomes need PostgreSQL and Redis but not
// Kafka, so a broker that is down does not keep their holds claimed.
func (r *Reaper) Sweep(ctx context.Context) error {
	return errors.Join(r.sweepBookings(ctx), r.resolveUnknown(ctx))
}

// resolveUnknown withdraws again the submissions whose outcome has been
// unknown for UnknownAfter (the booking worker's command may still be on
// its way: withdrawing is safe against it, see store.Outcomes.Resolve),
// first taking over those accepted as long ago whose command is still not
// known to be durable: their request died, and nobody asked again.
func (r *Reaper) resolveUnknown(ctx context.Context) error {
	before := time.Now().Add(-r.UnknownAfter)
	if err := r.outcomes.TakeOverAbandoned(ctx, before, 100); err != nil {
		return err
	}
	us, err := r.outcomes.Unresolved(ctx, before, 100)
	for i := range us {
		if _, err := r.outcomes.Resolve(ctx, &us[i]); err != nil {
			return err // PostgreSQL still does not answer: the next sweep
		}
	}
	return err
}

func (r *Reaper) sweepBookings(ctx context.Context) error {
	expire, retry, err := r.bookings.Due(ctx, r.RetryAfter, 500)
	if err != nil {
		return err
	}
	for _, ref := range expire {
		if err := r.cfg.Producer.Enqueue(ctx, evently.StreamBookingCommands, ref.EventID.String(), evently.CmdExpire, ref); err != nil {
			return err
		}
	}
	for _, ref := range retry {
		if err := r.cfg.Producer.Enqueue(ctx, evently.StreamBookingCommands, ref.EventID.String(), evently.CmdRetryPayment, ref); err != nil {
			return err
		}
	}
	msgs, err := r.bookings.PendingOutbox(ctx, 5*time.Second, 500)
	if err != nil || len(msgs) == 0 {
		return err
	}
	if err := r.cfg.Producer.Send(ctx, msgs); err != nil {
		return err
	}
	del := make([]uuid.UUID, len(msgs))
	for i, m := range msgs {
		del[i] = m.ID
	}
	return r.bookings.DeleteOutbox(ctx, del)
}
