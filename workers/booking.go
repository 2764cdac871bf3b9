package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/segmentio/kafka-go"

	"github.com/evently/evently"
	"github.com/evently/evently/gateway"
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
	mChargedAtCommit = promauto.NewCounter(prometheus.CounterOpts{
		Name: "evently_booking_charged_at_commit_total", Help: "Charges the booking worker made and settled inside a batch's commit.",
	})
	mReasonsDropped = promauto.NewCounter(prometheus.CounterOpts{
		Name: "evently_booking_reasons_dropped_total", Help: "Commands whose free-text reason could not be stored, applied without it.",
	})
	mPhase = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "evently_booking_batch_phase_seconds", Help: "Time of each phase of a booking batch: commit (the whole transaction), and in it read (begin, claim, reads), charge (gateway calls), write (the last statement) and end (the commit); mirror (Redis, after).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"phase"})
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
	// payments, when set, charges each batch's new bookings inside their
	// commit (see chargeNow); nil sends every charge through
	// payment.requests.
	payments *gateway.Client

	// What follows a commit runs in a settler per partition, so the next
	// batch commits meanwhile (see settle).
	mu       sync.Mutex
	settlers map[string]chan settleJob
	quit     chan struct{}
	wg       sync.WaitGroup
}

type settleJob struct {
	cmds []evently.Command
	res  store.BatchResult
}

func newCommitter(cfg Config) (Runner, error) {
	c := &Committer{
		cfg:      cfg,
		log:      cfg.Logger.With("worker", "booking"),
		bookings: &store.Bookings{DB: cfg.DB, Consumer: "booking", PaymentWindow: cfg.PaymentWindow},
		holds:    &store.Holds{Redis: cfg.Redis, Keys: cfg.Keys, DB: cfg.DB},
		feed:     &store.Feed{Redis: cfg.Redis, Keys: cfg.Keys},
		payments: cfg.ChargeAtCommit,
		settlers: map[string]chan settleJob{},
		quit:     make(chan struct{}),
	}
	g, err := topics.NewGroup(topics.GroupConfig{
		Conn: cfg.Kafka, Names: cfg.Names, GroupID: cfg.GroupPrefix + GroupBooking,
		Topics:    []string{topics.BookingCommands, topics.PaymentReplies},
		Handle:    c.handle,
		BatchSize: cfg.BatchSize, BatchWait: cfg.BatchWait, MaxAttempts: cfg.MaxAttempts,
		SessionTimeout: cfg.SessionTimeout, Logger: cfg.Logger, ClientID: cfg.Instance,
		Ready:        func(ctx context.Context) error { return cfg.DB.PingContext(ctx) },
		DLQ:          cfg.Producer,
		OnDeadLetter: c.deadLettered,
	})
	if err != nil {
		return nil, err
	}
	c.group = g
	if c.payments != nil {
		c.bookings.ChargeNow = c.chargeNow
	}
	c.bookings.Phase = func(name string, d time.Duration) { mPhase.WithLabelValues(name).Observe(d.Seconds()) }
	return c, nil
}

// Run consumes until ctx ends, then lets the settlers finish what was
// committed.
func (c *Committer) Run(ctx context.Context) error {
	err := c.group.Run(ctx)
	close(c.quit)
	c.wg.Wait()
	return err
}

// Assigned reports the partitions owned now.
func (c *Committer) Assigned() map[string][]int { return c.group.Assigned() }

// decodeCommand turns a message into a domain command; failures are poison.
func decodeCommand(m kafka.Message) (evently.Command, error) {
	env, err := topics.Decode(m.Value)
	if err != nil {
		return evently.Command{}, topics.Poison(err)
	}
	cmd := evently.Command{MessageID: env.ID, Type: env.Type, TraceID: topics.TraceID(m)}
	switch env.Type {
	case evently.CmdBook:
		cmd.Book = &evently.BookCommand{TraceID: cmd.TraceID}
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
		if err == nil && evently.TextProblem(cmd.Ref.Reason, evently.MaxReasonLength) != "" {
			// Text PostgreSQL would refuse, come past the API: the command
			// is applied without it (its only free text), as the DLQ's
			// handling would, without failing its batch first.
			cmd.Ref.Reason = ""
			mReasonsDropped.Inc()
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
	start := time.Now()
	res, err := c.bookings.CommitBatch(ctx, cmds)
	if store.Unappliable(err) {
		return topics.Poison(err) // retrying cannot help: isolate the command at once
	}
	if err != nil {
		return err
	}
	mPhase.WithLabelValues("commit").Observe(time.Since(start).Seconds())
	c.settle(b, settleJob{cmds: cmds, res: res})
	return nil
}

// settle hands a committed batch to its partition's settler, which does
// what follows the commit while the next batch is fetched and committed:
// first Redis (mirror: what the buyers wait for), then, in a stage of its
// own, the outbox (sending and deleting it), so one batch's mirror never
// waits behind the batch before's acks=all produce. The batch is durable
// already: its offsets may be committed now, and a crash before it is
// settled leaves its messages in the outbox for the relay. At most one
// batch waits at each stage of a partition, so a slow Redis or broker slows
// the commits instead of piling up. Both stages keep the batches' order.
func (c *Committer) settle(b topics.Batch, job settleJob) {
	key := b.Topic + "/" + strconv.Itoa(b.Partition)
	c.mu.Lock()
	ch := c.settlers[key]
	if ch == nil {
		select {
		case <-c.quit:
		default:
			ch = make(chan settleJob, 1)
			sends := make(chan settleJob, 1)
			c.settlers[key] = ch
			c.wg.Add(2)
			go c.mirrorLoop(ch, sends)
			go c.sendLoop(sends)
		}
	}
	c.mu.Unlock()
	if ch != nil {
		select {
		case ch <- job:
			return
		case <-c.quit:
		}
	}
	c.settleOne(job, true, true) // shutting down: settle it here
}

// mirrorLoop updates Redis for each batch and passes it on to sendLoop; on
// shutdown it settles what waits and then ends sendLoop.
func (c *Committer) mirrorLoop(jobs, sends chan settleJob) {
	defer c.wg.Done()
	defer close(sends)
	for {
		select {
		case job := <-jobs:
			c.settleOne(job, true, false)
			sends <- job
		case <-c.quit:
			for {
				select {
				case job := <-jobs:
					c.settleOne(job, true, false)
					sends <- job
				default:
					return
				}
			}
		}
	}
}

func (c *Committer) sendLoop(sends chan settleJob) {
	defer c.wg.Done()
	for job := range sends {
		c.settleOne(job, false, true)
	}
}

// settleOne runs under its own deadline: it is the end of work already
// committed, so shutdown waits for it rather than cutting it short.
func (c *Committer) settleOne(job settleJob, mirror, send bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if mirror {
		c.mirror(ctx, job.cmds, job.res)
	}
	if send {
		c.sendOutbox(ctx, job.res)
	}
}

// chargeInFlight bounds the gateway calls chargeNow makes at once.
const chargeInFlight = 64

// chargeNow is the booking store's ChargeNow: it charges a batch's new
// paying bookings inside the batch's transaction, instead of sending their
// charge requests through payment.requests and waiting for payment.replies
// (two Kafka hops, a second consumer and a second transaction on every
// buyer's path). Each charge is tried once, under the idempotency key the
// payment worker uses, so the batch applied again after a failure gets the
// same answer, never a second charge. Only a final answer (charged or
// declined) is returned; the rest (the gateway slow, down, its breaker
// open, or the outcome unknown) is left to the saga, which retries, looks
// the charge up and refunds.
func (c *Committer) chargeNow(ctx context.Context, reqs []evently.PaymentRequest) []evently.Command {
	out := make([]evently.Command, len(reqs))
	if c.payments.BreakerState() == gateway.BreakerOpen {
		return out
	}
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, chargeInFlight)
	for i, req := range reqs {
		if !req.Deadline.IsZero() && start.After(req.Deadline) {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res, _ := c.payments.Charge(ctx, gateway.ChargeRequest{BookingID: req.BookingID,
				AmountCents: req.AmountCents, Currency: req.Currency, Token: req.Token})
			if typ, r, ok := finalCharge(res); ok {
				r.BookingID, r.EventID = req.BookingID, req.EventID
				out[i] = evently.Command{Type: typ, Reply: &r}
			}
		}()
	}
	wg.Wait()
	mPhase.WithLabelValues("charge").Observe(time.Since(start).Seconds())
	n := 0
	for _, cmd := range out {
		if cmd.Type != "" {
			n++
		}
	}
	mChargedAtCommit.Add(float64(n))
	return out
}

// mirror and sendOutbox do what follows a durable commit. None of it is
// the truth, so failures are logged, not retried: the outbox relay resends
// messages, the sold mirror is rebuilt when missing, and streams poll
// PostgreSQL.
func (c *Committer) afterCommit(ctx context.Context, cmds []evently.Command, res store.BatchResult) {
	c.mirror(ctx, cmds, res)
	c.sendOutbox(ctx, res)
}

// mirror tells Redis first: it is what tells the buyers, who wait for it.
// The outbox (payment requests, released seats, notifications) goes next;
// a crash in between leaves it to the relay.
func (c *Committer) mirror(ctx context.Context, cmds []evently.Command, res store.BatchResult) {
	mRedelivered.Add(float64(res.Redelivered))
	mConflicts.Add(float64(res.Conflicts))
	// The holds of bookings this batch decided have done their job: sold
	// seats are in the mirror, and a failed booking's seats are free again.
	books := map[uuid.UUID]*evently.BookCommand{}
	for _, cmd := range cmds {
		if cmd.Book != nil {
			books[cmd.Book.BookingID] = cmd.Book
		}
	}
	var done []evently.Hold
	debug := c.log.Enabled(ctx, slog.LevelDebug)
	for _, ch := range res.Changes {
		mOutcomes.WithLabelValues(string(ch.Status), ch.Reason).Inc()
		if debug {
			c.log.Debug("booking status changed", "booking", ch.BookingID, "status", ch.Status, "reason", ch.Reason, evently.TraceAttr(ch.TraceID))
		}
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
	start := time.Now()
	if err := c.holds.Mirror(ctx, c.feed, res, done); err != nil {
		c.log.Warn("redis mirror update failed", "err", err)
	}
	mPhase.WithLabelValues("mirror").Observe(time.Since(start).Seconds())
}

// sendOutbox sends the batch's outbox and, off the buyers' path, deletes
// what was sent.
func (c *Committer) sendOutbox(ctx context.Context, res store.BatchResult) {
	if len(res.Outbox) == 0 {
		return
	}
	if err := c.cfg.Producer.Send(ctx, res.Outbox); err != nil {
		c.log.Warn("outbox send failed; the relay will resend", "err", err)
		return
	}
	ids := make([]uuid.UUID, len(res.Outbox))
	for i, m := range res.Outbox {
		ids[i] = m.ID
	}
	if err := c.bookings.DeleteOutbox(ctx, ids); err != nil {
		c.log.Warn("outbox cleanup failed; the relay will resend (duplicates are harmless)", "err", err)
	}
}

// deadLettered gives the command behind a dead-lettered message its honest
// outcome, so what a user was told was accepted still happens or ends:
//   - book: the booking is written failed/invalid, so its 202 ends;
//   - cancel: applied again without its reason (the only free text a cancel
//     carries, so the only thing in it PostgreSQL can refuse);
//   - confirm: nothing to do: the booking stays reserved until its payment
//     deadline, when the reaper expires it;
//   - expire, retry_payment and payment replies: the reaper asks again.
func (c *Committer) deadLettered(ctx context.Context, topic string, m kafka.Message, cause error) {
	env, err := topics.Decode(m.Value)
	if err != nil {
		return
	}
	trace := topics.TraceID(m)
	if env.Type == evently.CmdCancel {
		c.cancelWithoutReason(ctx, env, trace)
		return
	}
	if env.Type != evently.CmdBook {
		return
	}
	cmd := evently.BookCommand{TraceID: trace}
	if env.Unpack(&cmd) != nil || cmd.BookingID == uuid.Nil {
		return
	}
	if err := c.bookings.FailInvalid(ctx, &cmd); err != nil {
		c.log.Error("could not fail dead-lettered booking", "booking", cmd.BookingID, evently.TraceAttr(trace), "err", err)
		return
	}
	change := evently.StatusChange{BookingID: cmd.BookingID, UserID: cmd.UserID, EventID: cmd.EventID,
		Status: evently.BookingFailed, Reason: evently.ReasonInvalid, SeatIDs: cmd.SeatIDs, At: time.Now().UTC(), TraceID: trace}
	var done []evently.Hold
	if cmd.HoldID != nil {
		done = append(done, evently.Hold{ID: *cmd.HoldID, EventID: cmd.EventID, UserID: cmd.UserID, SeatIDs: cmd.SeatIDs})
	}
	if err := c.holds.Mirror(ctx, c.feed, store.BatchResult{Changes: []evently.StatusChange{change}}, done); err != nil {
		c.log.Warn("redis mirror update failed", "booking", cmd.BookingID, evently.TraceAttr(trace), "err", err)
	}
}

// cancelWithoutReason applies a dead-lettered cancel once more, with the
// reason dropped.
func (c *Committer) cancelWithoutReason(ctx context.Context, env topics.Envelope, trace string) {
	var ref evently.BookingRef
	if env.Unpack(&ref) != nil || ref.BookingID == uuid.Nil {
		return
	}
	ref.Reason = ""
	cmd := evently.Command{MessageID: evently.NewID(), Type: evently.CmdCancel, Ref: &ref, TraceID: trace}
	res, err := c.bookings.CommitBatch(ctx, []evently.Command{cmd})
	if err != nil {
		c.log.Error("could not cancel the booking of a dead-lettered cancel", "booking", ref.BookingID, evently.TraceAttr(trace), "err", err)
		return
	}
	c.afterCommit(ctx, []evently.Command{cmd}, res)
}
