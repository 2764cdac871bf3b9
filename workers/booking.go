package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/segmentio/kafka-go"

	"github.com/evently/evently"
	"github.com/evently/evently/store"
	"github.com/evently/evently/topics"
)

var (
	mConflicts = promauto.NewCounter(prometheus.CounterOpts{
		Name: "evently_booking_conflicts_total", Help: "Bookings that lost their seats (seats_taken).",
	})
	mOutcomes = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "evently_booking_status_changes_total", Help: "Booking status changes committed.",
	}, []string{"status", "reason"})
	mRedelivered = promauto.NewCounter(prometheus.CounterOpts{
		Name: "evently_booking_redelivered_total", Help: "Booking commands recognised as already applied.",
	})
	mToReserved = promauto.NewHistogram(prometheus.HistogramOpts{
		Name: "evently_booking_accept_to_commit_seconds", Help: "Time from the 202 to the booking's first committed status.",
		Buckets: prometheus.ExponentialBuckets(0.002, 2, 14),
	})
)

// Committer is the booking worker: one goroutine per partition of
// booking.commands and payment.replies commits batches to PostgreSQL, then
// updates Redis, announces status changes and sends the outbox.
type Committer struct {
	cfg      Config
	log      *slog.Logger
	bookings *store.Bookings
	holds    *store.Holds
	feed     *store.Feed
	group    *topics.Group
}

func newCommitter(cfg Config) (Runner, error) {
	c := &Committer{
		cfg:      cfg,
		log:      cfg.Logger.With("worker", "booking"),
		bookings: &store.Bookings{DB: cfg.DB, Consumer: "booking", PaymentWindow: cfg.PaymentWindow},
		holds:    &store.Holds{Redis: cfg.Redis, Keys: cfg.Keys, DB: cfg.DB},
		feed:     &store.Feed{Redis: cfg.Redis, Keys: cfg.Keys},
	}
	g, err := topics.NewGroup(topics.GroupConfig{
		Brokers: cfg.Brokers, Names: cfg.Names, GroupID: cfg.GroupPrefix + GroupBooking,
		Topics:    []string{topics.BookingCommands, topics.PaymentReplies},
		Handle:    c.handle,
		BatchSize: cfg.BatchSize, BatchWait: cfg.BatchWait, MaxAttempts: cfg.MaxAttempts,
		SessionTimeout: cfg.SessionTimeout, Logger: cfg.Logger,
		Ready:        func(ctx context.Context) error { return cfg.DB.PingContext(ctx) },
		DLQ:          cfg.Producer,
		OnDeadLetter: c.deadLettered,
	})
	if err != nil {
		return nil, err
	}
	c.group = g
	return c, nil
}

// Run consumes until ctx ends.
func (c *Committer) Run(ctx context.Context) error { return c.group.Run(ctx) }

// Assigned reports the partitions owned now.
func (c *Committer) Assigned() map[string][]int { return c.group.Assigned() }

// decodeCommand turns a message into a domain command; failures are poison.
func decodeCommand(m kafka.Message) (evently.Command, error) {
	env, err := topics.Decode(m.Value)
	if err != nil {
		return evently.Command{}, topics.Poison(err)
	}
	cmd := evently.Command{MessageID: env.ID, Type: env.Type}
	switch env.Type {
	case evently.CmdBook:
		cmd.Book = &evently.BookCommand{}
		err = env.Unpack(cmd.Book)
		if err == nil && (cmd.Book.BookingID == uuid.Nil || cmd.Book.UserID == uuid.Nil || cmd.Book.EventID == uuid.Nil) {
			err = errors.New("book: missing ids")
		}
	case evently.CmdConfirm, evently.CmdCancel, evently.CmdExpire, evently.CmdRetryPayment:
		cmd.Ref = &evently.BookingRef{}
		err = env.Unpack(cmd.Ref)
		if err == nil && cmd.Ref.BookingID == uuid.Nil {
			err = errors.New("missing booking id")
		}
	case evently.CmdCancelEvent:
		cmd.Event = &evently.EventRef{}
		err = env.Unpack(cmd.Event)
		if err == nil && cmd.Event.EventID == uuid.Nil {
			err = errors.New("missing event id")
		}
	case evently.ReplyCharged, evently.ReplyDeclined, evently.ReplyUnavailable, evently.ReplyRefunded:
		cmd.Reply = &evently.PaymentReply{}
		err = env.Unpack(cmd.Reply)
		if err == nil && cmd.Reply.BookingID == uuid.Nil {
			err = errors.New("missing booking id")
		}
	default:
		err = fmt.Errorf("unknown message type %q", env.Type)
	}
	if err != nil {
		return cmd, topics.Poison(err)
	}
	return cmd, nil
}

func (c *Committer) handle(ctx context.Context, b topics.Batch) error {
	cmds := make([]evently.Command, 0, len(b.Messages))
	for _, m := range b.Messages {
		cmd, err := decodeCommand(m)
		if err != nil {
			return err
		}
		cmds = append(cmds, cmd)
	}
	res, err := c.bookings.CommitBatch(ctx, cmds)
	if err != nil {
		return err
	}
	c.afterCommit(ctx, cmds, res)
	return nil
}

// afterCommit does what follows a durable commit. None of it is the truth,
// so failures are logged, not retried: the outbox relay resends messages,
// the sold mirror is rebuilt when missing, and streams poll PostgreSQL.
func (c *Committer) afterCommit(ctx context.Context, cmds []evently.Command, res store.BatchResult) {
	mRedelivered.Add(float64(res.Redelivered))
	mConflicts.Add(float64(res.Conflicts))
	sent := false
	if len(res.Outbox) > 0 {
		if err := c.cfg.Producer.Send(ctx, res.Outbox); err != nil {
			c.log.Warn("outbox send failed; the relay will resend", "err", err)
		} else {
			sent = true
		}
	}
	// The holds of bookings this batch decided have done their job: sold
	// seats are in the mirror, and a failed booking's seats are free again.
	books := map[uuid.UUID]*evently.BookCommand{}
	for _, cmd := range cmds {
		if cmd.Book != nil {
			books[cmd.Book.BookingID] = cmd.Book
		}
	}
	var done []evently.Hold
	for _, ch := range res.Changes {
		mOutcomes.WithLabelValues(string(ch.Status), ch.Reason).Inc()
		b, ok := books[ch.BookingID]
		if !ok {
			continue
		}
		if !b.AcceptedAt.IsZero() {
			mToReserved.Observe(ch.At.Sub(b.AcceptedAt).Seconds())
		}
		if b.HoldID != nil {
			done = append(done, evently.Hold{ID: *b.HoldID, EventID: b.EventID, UserID: b.UserID, SeatIDs: b.SeatIDs})
		}
	}
	if err := c.holds.Mirror(ctx, c.feed, res, done); err != nil {
		c.log.Warn("redis mirror update failed", "err", err)
	}
	// Last, off the buyers' path: the sent messages leave the outbox.
	if sent {
		ids := make([]uuid.UUID, len(res.Outbox))
		for i, m := range res.Outbox {
			ids[i] = m.ID
		}
		if err := c.bookings.DeleteOutbox(ctx, ids); err != nil {
			c.log.Warn("outbox cleanup failed; the relay will resend (duplicates are harmless)", "err", err)
		}
	}
}

// deadLettered fails the booking a poison book command carried, so its
// 202 still reaches a terminal state.
func (c *Committer) deadLettered(ctx context.Context, topic string, m kafka.Message, cause error) {
	env, err := topics.Decode(m.Value)
	if err != nil || env.Type != evently.CmdBook {
		return
	}
	var cmd evently.BookCommand
	if env.Unpack(&cmd) != nil || cmd.BookingID == uuid.Nil {
		return
	}
	if err := c.bookings.FailInvalid(ctx, &cmd); err != nil {
		c.log.Error("could not fail dead-lettered booking", "booking", cmd.BookingID, "err", err)
		return
	}
	change := evently.StatusChange{BookingID: cmd.BookingID, UserID: cmd.UserID, EventID: cmd.EventID,
		Status: evently.BookingFailed, Reason: evently.ReasonInvalid, SeatIDs: cmd.SeatIDs, At: time.Now().UTC()}
	var done []evently.Hold
	if cmd.HoldID != nil {
		done = append(done, evently.Hold{ID: *cmd.HoldID, EventID: cmd.EventID, UserID: cmd.UserID, SeatIDs: cmd.SeatIDs})
	}
	if err := c.holds.Mirror(ctx, c.feed, store.BatchResult{Changes: []evently.StatusChange{change}}, done); err != nil {
		c.log.Warn("redis mirror update failed", "err", err)
	}
}
