package workers

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/evently/evently"
	"github.com/evently/evently/store"
	"github.com/evently/evently/topics"
)

// GroupNotify is the notifier's consumer group.
const GroupNotify = "notify"

var mNotified = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "evently_notifications_total", Help: "Notifications written to inboxes, by type (redeliveries not counted).",
}, []string{"type"})

// Notifier writes the notifications stream into users' inboxes and pushes
// each new one to their live streams. Per batch of a partition: one insert
// of every notification (ON CONFLICT DO NOTHING, so a redelivery writes
// nothing twice), one pipeline of Redis publishes for those it wrote, then
// the organizers' sales notices the batch's confirmations call for, and
// only then are the offsets committed.
type Notifier struct {
	cfg   Config
	log   *slog.Logger
	inbox *store.Inbox
	group *topics.Group

	// told remembers organizer notices sent already, so each batch does
	// not send them again (the inbox would keep one anyway).
	mu   sync.Mutex
	told map[uuid.UUID]bool
	// looked is when each event's sales were last read; events confirmed
	// since, within salesLookEvery, wait in later for the next tick.
	looked map[uuid.UUID]time.Time
	later  map[uuid.UUID]bool
}

// salesLookEvery bounds how often one event's sales are counted: a count
// per notifier batch (one per partition, every few milliseconds in an
// on-sale) was most of PostgreSQL's CPU in the on-sale benchmark. A
// milestone is told at most this late.
const salesLookEvery = time.Second

// notifyGather is how long the broker may hold a fetch of the
// notifications topic for the notifier and the webhook courier: nobody
// waits on an inbox row or a webhook the way a buyer waits on a booking,
// and one fetch, batch, transaction and offset commit a tenth of a second
// per partition instead of one per few messages took a share of the
// on-sale's CPU back.
const notifyGather = 100 * time.Millisecond

// toldLimit bounds told; past it, it starts afresh (a notice sent twice is
// harmless).
const toldLimit = 10000

func newNotifier(cfg Config) (Runner, error) {
	n := &Notifier{cfg: cfg, log: cfg.Logger.With("worker", "notify"),
		inbox: &store.Inbox{DB: cfg.DB, Redis: cfg.Redis, Keys: cfg.Keys}, told: map[uuid.UUID]bool{},
		looked: map[uuid.UUID]time.Time{}, later: map[uuid.UUID]bool{}}
	g, err := topics.NewGroup(topics.GroupConfig{
		Conn: cfg.Kafka, Names: cfg.Names, GroupID: cfg.GroupPrefix + GroupNotify,
		Topics: []string{topics.Notifications}, Handle: n.handle,
		BatchSize: 200, BatchWait: cfg.BatchWait, Gather: notifyGather, MaxAttempts: cfg.MaxAttempts,
		SessionTimeout: cfg.SessionTimeout, Logger: cfg.Logger, DLQ: cfg.Producer,
		Ready: func(ctx context.Context) error { return cfg.DB.PingContext(ctx) },
	})
	if err != nil {
		return nil, err
	}
	n.group = g
	return n, nil
}

// Run consumes until ctx ends, and looks at the sales of events put off
// for a moment every salesLookEvery.
func (n *Notifier) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(salesLookEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				n.mu.Lock()
				events := make([]uuid.UUID, 0, len(n.later))
				for e := range n.later {
					events = append(events, e)
				}
				n.mu.Unlock()
				if len(events) > 0 {
					if err := n.lookAtSales(ctx, events); err != nil && ctx.Err() == nil {
						n.log.Warn("sales notices not decided; the next confirmation tries again", "err", err)
					}
				}
			}
		}
	}()
	err := n.group.Run(ctx)
	cancel()
	<-done
	return err
}

// Assigned reports the partitions owned now.
func (n *Notifier) Assigned() map[string][]int { return n.group.Assigned() }

// decodeNotification turns a message into a notification; failures are poison.
func decodeNotification(value []byte) (evently.Notification, error) {
	env, err := topics.Decode(value)
	if err != nil {
		return evently.Notification{}, topics.Poison(err)
	}
	if env.Type != evently.MsgNotification {
		return evently.Notification{}, topics.Poison(errors.New("unknown message type " + env.Type))
	}
	var x evently.Notification
	if err := env.Unpack(&x); err != nil {
		return x, topics.Poison(err)
	}
	if x.ID == uuid.Nil {
		x.ID = env.ID
	}
	if x.UserID == uuid.Nil || !x.Type.Valid() || (len(x.Data) > 0 && !json.Valid(x.Data)) {
		return x, topics.Poison(errors.New("notification: missing user, unknown type or bad data"))
	}
	return x, nil
}

func (n *Notifier) handle(ctx context.Context, b topics.Batch) error {
	ns := make([]evently.Notification, 0, len(b.Messages))
	debug := n.log.Enabled(ctx, slog.LevelDebug)
	for _, m := range b.Messages {
		x, err := decodeNotification(m.Value)
		if err != nil {
			return err
		}
		x.TraceID = topics.TraceID(m)
		if debug {
			n.log.Debug("notification received", "notification", x.ID, "type", x.Type, "user", x.UserID, evently.TraceAttr(x.TraceID))
		}
		ns = append(ns, x)
	}
	added, err := n.inbox.Add(ctx, ns)
	if err != nil {
		return err
	}
	for _, a := range added {
		mNotified.WithLabelValues(string(a.Type)).Inc()
	}
	// Pub/sub is best effort: a stream that missed one finds it in the
	// inbox on its next look.
	if err := n.inbox.Publish(ctx, added); err != nil {
		n.log.Warn("notifications not published", "err", err)
	}
	return n.tellOrganizers(ctx, ns)
}

// tellOrganizers decides, for the events of the batch's confirmed
// bookings, the sales milestones their organizers are told of
// (evently.SalesNotifications) and sends them through the notifications
// stream, keyed by organizer, like any other. Decided here rather than in
// the booking commit: one read per batch off the buyers' path, instead of a
// count in every booking transaction. It looks at every confirmation of
// the batch, new or redelivered, so a crash before the send is made good
// by the redelivery; the derived ids keep one of each.
func (n *Notifier) tellOrganizers(ctx context.Context, ns []evently.Notification) error {
	var events []uuid.UUID
	seen := map[uuid.UUID]bool{}
	for _, x := range ns {
		if x.Type != evently.NotifyBookingConfirmed {
			continue
		}
		var d evently.BookingNotice
		if json.Unmarshal(x.Data, &d) != nil || d.EventID == uuid.Nil || seen[d.EventID] {
			continue
		}
		seen[d.EventID] = true
		events = append(events, d.EventID)
	}
	// An event looked at within salesLookEvery waits for the next tick.
	now := time.Now()
	n.mu.Lock()
	due := events[:0]
	for _, e := range events {
		if now.Sub(n.looked[e]) < salesLookEvery {
			n.later[e] = true
			continue
		}
		due = append(due, e)
	}
	n.mu.Unlock()
	return n.lookAtSales(ctx, due)
}

// lookAtSales reads the events' sales and sends the notices they call for.
func (n *Notifier) lookAtSales(ctx context.Context, events []uuid.UUID) error {
	if len(events) == 0 {
		return nil
	}
	n.mu.Lock()
	at := time.Now()
	for _, e := range events {
		n.looked[e] = at
		delete(n.later, e)
	}
	if len(n.looked) > toldLimit {
		n.looked = map[uuid.UUID]time.Time{}
	}
	n.mu.Unlock()
	sales, err := n.inbox.Sales(ctx, events)
	if err != nil {
		n.mu.Lock()
		for _, e := range events {
			n.later[e] = true // the next tick tries again
		}
		n.mu.Unlock()
		return err
	}
	var msgs []evently.Outgoing
	now := time.Now()
	n.mu.Lock()
	for _, s := range sales {
		for _, x := range evently.SalesNotifications(s, now) {
			if !n.told[x.ID] {
				msgs = append(msgs, evently.NewNotificationMessage(x))
			}
		}
	}
	n.mu.Unlock()
	if len(msgs) == 0 {
		return nil
	}
	if err := n.cfg.Producer.Send(ctx, msgs); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.told)+len(msgs) > toldLimit {
		n.told = map[uuid.UUID]bool{}
	}
	for _, m := range msgs {
		n.told[m.ID] = true
	}
	return nil
}
