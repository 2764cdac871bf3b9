package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/evently/evently"
	"github.com/evently/evently/store"
	"github.com/evently/evently/topics"
)

// GroupWaitlist is the waitlist promoter's consumer group.
const GroupWaitlist = "waitlist"

// Promoter offers seats that come back to the people waiting for them. It
// consumes inventory.released, keyed by event, so the owner of an event's
// partition is the only one deciding that event's offers, in order: seats
// released by the booking worker, and offer checks (an offer expired, was
// declined or was booked) that its sweep finds and sends through the same
// partition.
type Promoter struct {
	cfg   Config
	log   *slog.Logger
	wl    *store.Waitlist
	out   *store.Bookings // the outbox's cleanup
	group *topics.Group
	// RemindBefore is how long before an offer ends its user is reminded
	// (waitlist.offer_expiring; see evently.OfferRemindLead).
	RemindBefore time.Duration
	// SweepEvery is the pause between looks for offers to settle.
	SweepEvery time.Duration
}

func newPromoter(cfg Config) (Runner, error) {
	p := &Promoter{cfg: cfg, log: cfg.Logger.With("worker", "waitlist"), SweepEvery: cfg.WaitlistSweep,
		wl:  &store.Waitlist{DB: cfg.DB, Redis: cfg.Redis, Keys: cfg.Keys, OfferTTL: cfg.WaitlistOfferTTL, ClaimWait: 2 * time.Minute},
		out: &store.Bookings{DB: cfg.DB}, RemindBefore: cfg.WaitlistRemindBefore}
	if p.RemindBefore <= 0 {
		p.RemindBefore = 2 * time.Minute
	}
	if p.SweepEvery <= 0 {
		p.SweepEvery = time.Second
	}
	if p.wl.OfferTTL <= 0 {
		p.wl.OfferTTL = 10 * time.Minute
	}
	g, err := topics.NewGroup(topics.GroupConfig{
		Conn: cfg.Kafka, Names: cfg.Names, GroupID: cfg.GroupPrefix + GroupWaitlist,
		Topics: []string{topics.InventoryReleased}, Handle: p.handle,
		BatchSize: 50, BatchWait: cfg.BatchWait, MaxAttempts: cfg.MaxAttempts,
		SessionTimeout: cfg.SessionTimeout, Logger: cfg.Logger, ClientID: cfg.Instance, DLQ: cfg.Producer,
	})
	if err != nil {
		return nil, err
	}
	p.group = g
	return p, nil
}

// Run consumes and sweeps until ctx ends.
func (p *Promoter) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.group.Run(ctx) })
	g.Go(func() error { p.sweep(ctx); return nil })
	return g.Wait()
}

// Assigned reports the partitions owned now.
func (p *Promoter) Assigned() map[string][]int { return p.group.Assigned() }

// handle applies a partition's messages in order. Each is its own
// transaction; a redelivered one finds its work done (seats already in an
// open offer are skipped, a settled offer is left alone). What a message
// tells the entries' users is in the outbox of its transaction and is sent
// right after it, before the offsets are committed.
func (p *Promoter) handle(ctx context.Context, b topics.Batch) error {
	for _, m := range b.Messages {
		env, err := topics.Decode(m.Value)
		if err != nil {
			return topics.Poison(err)
		}
		var told []evently.Outgoing
		switch env.Type {
		case evently.MsgSeatsReleased:
			var r evently.SeatsReleased
			if err := env.Unpack(&r); err != nil {
				return topics.Poison(err)
			}
			trace := topics.TraceID(m)
			p.log.Debug("seats released", "booking", r.BookingID, "event", r.EventID, "seats", len(r.SeatIDs), evently.TraceAttr(trace))
			told, err = p.wl.Promote(ctx, r.EventID, r.SeatIDs, env.ID)
			for i := range told {
				told[i].TraceID = trace // the offers these seats made
			}
		case evently.MsgOfferCheck:
			var c evently.OfferCheck
			if err := env.Unpack(&c); err != nil {
				return topics.Poison(err)
			}
			told, err = p.wl.Revisit(ctx, c.EventID, c.EntryID, env.ID)
		default:
			return topics.Poison(fmt.Errorf("unknown message type %q", env.Type))
		}
		if err != nil {
			if code := evently.ErrorCode(err); code == evently.EINVALID || code == evently.ENOTFOUND {
				return topics.Poison(err)
			}
			return err
		}
		p.send(ctx, told)
	}
	return nil
}

// send sends committed outbox messages and clears them. A failure is only
// logged: the reaper's relay sends what is left in the outbox.
func (p *Promoter) send(ctx context.Context, msgs []evently.Outgoing) {
	if len(msgs) == 0 {
		return
	}
	if err := p.cfg.Producer.Send(ctx, msgs); err != nil {
		p.log.Warn("notifications not sent; the relay will send them", "err", err)
		return
	}
	ids := make([]uuid.UUID, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	if err := p.out.DeleteOutbox(ctx, ids); err != nil {
		p.log.Warn("outbox cleanup failed; the relay will resend (duplicates are harmless)", "err", err)
	}
}

// markEvery is how often the promoter marks again every event with
// people waiting (the marker lives a day).
const markEvery = time.Hour

// sweep finds offers to settle and sends a check for each through its
// event's partition. Every promoter process sweeps; a duplicate check finds
// the offer settled and does nothing. It also marks the events with people
// waiting when it starts and every markEvery (store.Waitlist.MarkWaiting).
func (p *Promoter) sweep(ctx context.Context) {
	t := time.NewTicker(p.SweepEvery)
	defer t.Stop()
	var marked time.Time
	for {
		if time.Since(marked) >= markEvery {
			if _, err := p.wl.MarkWaiting(ctx); err != nil {
				if ctx.Err() == nil {
					p.log.Warn("waitlist marking failed", "err", err)
				}
			} else {
				marked = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		due, err := p.wl.OffersDue(ctx, 500)
		for _, c := range due {
			if err = p.cfg.Producer.Enqueue(ctx, evently.StreamInventoryReleased, c.EventID.String(), evently.MsgOfferCheck, c); err != nil {
				break
			}
		}
		if err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
			p.log.Warn("waitlist sweep failed", "err", err)
		}
		// Offers about to end are reminded once (waitlist.offer_expiring).
		told, err := p.wl.Remind(ctx, evently.OfferRemindLead(p.wl.OfferTTL, p.RemindBefore), 500)
		if err != nil && ctx.Err() == nil {
			p.log.Warn("waitlist reminders failed", "err", err)
		}
		p.send(ctx, told)
	}
}
