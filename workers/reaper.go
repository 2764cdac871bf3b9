package workers

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/store"
)

// Reaper finds bookings past their deadline and enqueues `expire` through
// the event's partition (the booking worker decides, so the state machine
// has one writer per event), asks again for payments left unanswered, and
// resends outbox messages whose process died before sending them. Several
// reapers may run: duplicates are recognised downstream.
type Reaper struct {
	cfg      Config
	log      *slog.Logger
	bookings *store.Bookings
	// Every is the pause between sweeps; RetryAfter how long a payment may
	// stay unanswered before it is asked for again.
	Every, RetryAfter time.Duration
}

func newReaper(cfg Config) (Runner, error) {
	return &Reaper{cfg: cfg, log: cfg.Logger.With("worker", "reaper"),
		bookings: &store.Bookings{DB: cfg.DB}, Every: time.Second, RetryAfter: 5 * time.Second}, nil
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

// Sweep does one pass.
func (r *Reaper) Sweep(ctx context.Context) error {
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
