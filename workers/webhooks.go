package workers

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/sync/errgroup"

	"github.com/evently/evently"
	"github.com/evently/evently/store"
	"github.com/evently/evently/topics"
	"github.com/evently/evently/webhook"
)

// GroupWebhooks is the webhooks worker's consumer group on notifications.
const GroupWebhooks = "webhooks"

// WebhookConfig configures the webhooks worker.
type WebhookConfig struct {
	// Sender posts deliveries (and refuses private addresses unless it
	// was built to allow them).
	Sender *webhook.Client
	// Retry schedules failed attempts; Timeout bounds one attempt.
	Retry   evently.WebhookRetry
	Timeout time.Duration
	// Poll is how often the delivery loop looks for due deliveries that
	// another process queued (this process's own wake it at once);
	// Concurrency bounds the attempts in flight.
	Poll        time.Duration
	Concurrency int
}

var mWebhookAttempts = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "evently_webhook_attempts_total", Help: "Webhook delivery attempts, by outcome (delivered, retry, failed).",
}, []string{"outcome"})

// Courier delivers notifications to webhooks in two steps. Its consumer
// group on notifications turns each batch into delivery rows (one per
// webhook that wants the notification, unique per webhook and
// notification, so a redelivered message adds nothing) and only then
// commits the offsets. Its delivery loop claims due rows (FOR UPDATE SKIP
// LOCKED, so every webhooks process shares them), POSTs each, and records
// the attempt: delivered on a 2xx, else due again after a jittered
// backoff, or failed once the retry window is spent. Receiving is thus
// decoupled from the receivers: a slow or dead receiver never holds up a
// partition.
type Courier struct {
	cfg   WebhookConfig
	log   *slog.Logger
	hooks *store.Webhooks
	group *topics.Group
	// wake tells the delivery loop that deliveries were queued.
	wake chan struct{}
}

func newCourier(cfg Config) (Runner, error) {
	wc := cfg.Webhooks
	if wc.Sender == nil {
		return nil, errors.New("no webhook sender configured")
	}
	if wc.Timeout <= 0 {
		wc.Timeout = 10 * time.Second
	}
	if wc.Poll <= 0 {
		wc.Poll = time.Second
	}
	if wc.Concurrency <= 0 {
		wc.Concurrency = 8
	}
	c := &Courier{cfg: wc, log: cfg.Logger.With("worker", "webhooks"), hooks: &store.Webhooks{DB: cfg.DB},
		wake: make(chan struct{}, 1)}
	g, err := topics.NewGroup(topics.GroupConfig{
		Conn: cfg.Kafka, Names: cfg.Names, GroupID: cfg.GroupPrefix + GroupWebhooks,
		Topics: []string{topics.Notifications}, Handle: c.handle,
		BatchSize: 200, BatchWait: cfg.BatchWait, Gather: notifyGather, MaxAttempts: cfg.MaxAttempts,
		SessionTimeout: cfg.SessionTimeout, Logger: cfg.Logger, DLQ: cfg.Producer,
		Ready: func(ctx context.Context) error { return cfg.DB.PingContext(ctx) },
	})
	if err != nil {
		return nil, err
	}
	c.group = g
	return c, nil
}

// Run consumes and delivers until ctx ends; attempts in flight then finish
// (each within its timeout) and are recorded.
func (c *Courier) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.group.Run(ctx) })
	g.Go(func() error { c.deliver(ctx); return nil })
	return g.Wait()
}

// Assigned reports the partitions owned now.
func (c *Courier) Assigned() map[string][]int { return c.group.Assigned() }

// handle queues the batch's deliveries in one statement. Messages of
// other types are skipped (the stream may carry more later); an
// undecodable one is poison.
func (c *Courier) handle(ctx context.Context, b topics.Batch) error {
	ns := make([]evently.Notification, 0, len(b.Messages))
	for _, m := range b.Messages {
		env, err := topics.Decode(m.Value)
		if err != nil {
			return topics.Poison(err)
		}
		if env.Type != evently.MsgNotification {
			continue
		}
		var n evently.Notification
		if err := env.Unpack(&n); err != nil {
			return topics.Poison(err)
		}
		ns = append(ns, n)
	}
	if len(ns) == 0 {
		return nil
	}
	made, err := c.hooks.Enqueue(ctx, ns)
	if err != nil {
		if evently.ErrorCode(err) == evently.EINVALID {
			return topics.Poison(err)
		}
		return err
	}
	if made > 0 {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// deliver is the delivery loop: it claims no more than its free slots,
// claims again when a slot frees, and otherwise waits for a wake or the
// poll. On shutdown it stops claiming and waits for the attempts in
// flight.
func (c *Courier) deliver(ctx context.Context) {
	t := time.NewTicker(c.cfg.Poll)
	defer t.Stop()
	done := make(chan struct{}, c.cfg.Concurrency)
	inFlight := 0
	// The lease outlasts an attempt, so nobody else claims a delivery
	// whose attempt is still running.
	lease := c.cfg.Timeout + 30*time.Second
	for {
		if free := c.cfg.Concurrency - inFlight; free > 0 {
			due, err := c.hooks.Claim(ctx, free, lease)
			if err != nil && ctx.Err() == nil {
				c.log.Warn("claiming webhook deliveries failed", "err", err)
			}
			for _, d := range due {
				inFlight++
				go func() {
					defer func() { done <- struct{}{} }()
					c.attempt(ctx, d)
				}()
			}
		}
		select {
		case <-ctx.Done():
			for ; inFlight > 0; inFlight-- {
				<-done
			}
			return
		case <-done:
			inFlight--
		case <-c.wake:
		case <-t.C:
		}
	}
}

// attempt POSTs one delivery and records the outcome. Neither is cut off
// by shutdown: the attempt has its own timeout, and its result is worth
// keeping (a 2xx not recorded would be sent again).
func (c *Courier) attempt(ctx context.Context, d store.DueDelivery) {
	ctx = context.WithoutCancel(ctx)
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	res := c.cfg.Sender.Send(actx, webhook.Post{URL: d.URL, Secret: d.Secret, DeliveryID: d.ID.String(),
		Type: d.Type, Body: []byte(d.Payload)})
	cancel()
	now := time.Now().UTC()
	o := store.AttemptOutcome{At: now, StatusCode: res.StatusCode, Duration: res.Duration, Status: evently.DeliveryDelivered}
	outcome := "delivered"
	if !res.OK() {
		o.Err = errorText(res.Err)
		next, giveUp := c.cfg.Retry.Next(d.Attempt, d.FirstAttemptAt, now, nil)
		o.Status, o.Next, outcome = evently.DeliveryPending, next, "retry"
		if giveUp {
			o.Status, outcome = evently.DeliveryFailed, "failed"
		}
	}
	mWebhookAttempts.WithLabelValues(outcome).Inc()
	log := c.log.With("delivery", d.ID, "webhook", d.WebhookID, "notification", d.NotificationID,
		"attempt", d.Attempt, "status_code", res.StatusCode, "outcome", outcome, "ms", res.Duration.Milliseconds())
	if res.OK() {
		log.Debug("webhook delivered")
	} else {
		log.Info("webhook attempt failed", "err", o.Err)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.hooks.Record(rctx, d, o); err != nil {
		// The lease runs out and the delivery is tried again.
		c.log.Warn("recording a webhook attempt failed", "delivery", d.ID, "err", err)
	}
}

// errorText is an attempt's error for the log a user reads, bounded.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) > 500 {
		s = s[:500]
	}
	return strings.ToValidUTF8(s, "")
}
