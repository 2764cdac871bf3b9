package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/evently/evently"
)

// Webhooks keeps webhook subscriptions and their deliveries. The API's
// methods take the caller's user id, so someone else's webhook is simply
// not found; Enqueue, Claim and Record are the webhooks worker's.
type Webhooks struct {
	DB *sqlx.DB

	stmts statements
}

// NewWebhookSecret returns a fresh signing secret: 32 random bytes, hex,
// behind a prefix that makes a leaked one easy to recognise.
func NewWebhookSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return "whsec_" + hex.EncodeToString(b)
}

type webhookRow struct {
	ID        uuid.UUID      `db:"id"`
	UserID    uuid.UUID      `db:"user_id"`
	URL       string         `db:"url"`
	Secret    string         `db:"secret"`
	Events    pq.StringArray `db:"events"`
	CreatedAt time.Time      `db:"created_at"`
}

func (r webhookRow) webhook() evently.Webhook {
	w := evently.Webhook{ID: r.ID, UserID: r.UserID, URL: r.URL, Secret: r.Secret, CreatedAt: r.CreatedAt,
		Events: make([]evently.NotificationType, len(r.Events))}
	for i, e := range r.Events {
		w.Events[i] = evently.NotificationType(e)
	}
	return w
}

// Create stores a webhook with a fresh id and secret (set on w), unless
// the user has MaxWebhooksByUser already (conflict).
func (s *Webhooks) Create(ctx context.Context, w *evently.Webhook) error {
	w.ID, w.Secret, w.CreatedAt = evently.NewID(), NewWebhookSecret(), time.Now().UTC().Truncate(time.Microsecond)
	events := make([]string, len(w.Events))
	for i, e := range w.Events {
		events[i] = string(e)
	}
	// The count and the insert are one statement; two concurrent creates
	// may both pass at the limit, which only bounds abuse loosely.
	res, err := s.DB.ExecContext(ctx, `
		INSERT INTO webhooks (id, user_id, url, secret, events, created_at)
		SELECT $1, $2, $3, $4, $5, $6
		WHERE (SELECT count(*) FROM webhooks WHERE user_id = $2) < $7`,
		w.ID, w.UserID, w.URL, w.Secret, pq.StringArray(events), w.CreatedAt, evently.MaxWebhooksByUser)
	if err != nil {
		return translate(err, "Webhook")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return evently.Errorf(evently.ECONFLICT, "You have %d webhooks already; delete one first.", evently.MaxWebhooksByUser)
	}
	return nil
}

// ListByUser returns a user's webhooks, oldest first (at most
// MaxWebhooksByUser), without their secrets.
func (s *Webhooks) ListByUser(ctx context.Context, userID uuid.UUID) ([]evently.Webhook, error) {
	var rows []webhookRow
	if err := s.DB.SelectContext(ctx, &rows, `SELECT id, user_id, url, '' AS secret, events, created_at
		FROM webhooks WHERE user_id = $1 ORDER BY id LIMIT 100`, userID); err != nil {
		return nil, err
	}
	out := make([]evently.Webhook, len(rows))
	for i, r := range rows {
		out[i] = r.webhook()
	}
	return out, nil
}

// Delete removes a user's webhook and its deliveries.
func (s *Webhooks) Delete(ctx context.Context, userID, id uuid.UUID) error {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM webhooks WHERE id = $1 AND user_id = $2`, id, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return evently.Errorf(evently.ENOTFOUND, "Webhook not found.")
	}
	return nil
}

// Deliveries returns a page of a user's webhook's deliveries, newest
// first, after the cursor id, each with its attempts.
func (s *Webhooks) Deliveries(ctx context.Context, userID, webhookID uuid.UUID, before *uuid.UUID, limit int) ([]evently.WebhookDelivery, error) {
	if err := s.owned(ctx, userID, webhookID); err != nil {
		return nil, err
	}
	var out []evently.WebhookDelivery
	if err := s.DB.SelectContext(ctx, &out, `
		SELECT id, webhook_id, notification_id, type, status, attempts, last_status_code, last_error,
		       next_attempt_at, delivered_at, created_at, updated_at
		FROM webhook_deliveries WHERE webhook_id = $1 AND ($2::uuid IS NULL OR id < $2)
		ORDER BY id DESC LIMIT $3`, webhookID, before, limit); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]uuid.UUID, len(out))
	at := make(map[uuid.UUID]int, len(out))
	for i, d := range out {
		ids[i], at[d.ID] = d.ID, i
		out[i].Log = []evently.WebhookAttempt{}
	}
	var attempts []struct {
		DeliveryID uuid.UUID `db:"delivery_id"`
		evently.WebhookAttempt
	}
	// A failing delivery makes a few dozen attempts in its window; show
	// the latest 50 of each.
	if err := s.DB.SelectContext(ctx, &attempts, `
		SELECT delivery_id, attempt, attempted_at, status_code, error, duration_ms FROM (
		  SELECT *, row_number() OVER (PARTITION BY delivery_id ORDER BY attempt DESC) AS n
		  FROM webhook_attempts WHERE delivery_id = ANY($1)) a
		WHERE n <= 50 ORDER BY delivery_id, attempt`, pq.Array(ids)); err != nil {
		return nil, err
	}
	for _, a := range attempts {
		d := &out[at[a.DeliveryID]]
		d.Log = append(d.Log, a.WebhookAttempt)
	}
	return out, nil
}

// owned checks that the webhook exists and is the user's.
func (s *Webhooks) owned(ctx context.Context, userID, webhookID uuid.UUID) error {
	var ok bool
	if err := s.DB.GetContext(ctx, &ok, `SELECT EXISTS (SELECT 1 FROM webhooks WHERE id = $1 AND user_id = $2)`,
		webhookID, userID); err != nil {
		return err
	}
	if !ok {
		return evently.Errorf(evently.ENOTFOUND, "Webhook not found.")
	}
	return nil
}

// Retry queues a failed delivery of a user's webhook for now, with a fresh
// retry window. A pending one is queued already and a delivered one is
// never sent again: both conflict.
func (s *Webhooks) Retry(ctx context.Context, userID, webhookID, deliveryID uuid.UUID) error {
	var status []string
	if err := s.DB.SelectContext(ctx, &status, `
		WITH d AS (
		  SELECT d.id, d.status FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
		  WHERE d.id = $1 AND d.webhook_id = $2 AND w.user_id = $3 FOR UPDATE OF d),
		u AS (
		  UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), first_attempt_at = NULL, updated_at = now()
		  WHERE id IN (SELECT id FROM d WHERE status = 'failed') RETURNING id)
		SELECT CASE WHEN EXISTS (SELECT 1 FROM u) THEN 'queued' ELSE status END FROM d`,
		deliveryID, webhookID, userID); err != nil {
		return err
	}
	switch {
	case len(status) == 0:
		return evently.Errorf(evently.ENOTFOUND, "Delivery not found.")
	case status[0] == "queued":
		return nil
	case status[0] == string(evently.DeliveryDelivered):
		return evently.Errorf(evently.ECONFLICT, "This delivery succeeded already; it is never sent twice.")
	default:
		return evently.Errorf(evently.ECONFLICT, "This delivery is queued already; its next attempt is due at next_attempt_at.")
	}
}

// Enqueue makes one pending delivery for each webhook of each
// notification's user that wants its type, due now. A notification seen
// again (a redelivered message) makes nothing: (webhook, notification) is
// unique. It returns how many deliveries it made.
func (s *Webhooks) Enqueue(ctx context.Context, ns []evently.Notification) (int, error) {
	users := make([]uuid.UUID, 0, len(ns))
	for _, n := range ns {
		users = append(users, n.UserID)
	}
	var rows []webhookRow
	// Prepared: its plan cost ten times its run, once per courier batch.
	if err := s.stmts.selectAll(ctx, s.DB, &rows, `SELECT id, user_id, url, '' AS secret, events, created_at
		FROM webhooks WHERE user_id = ANY($1)`, pq.Array(users)); err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		return 0, nil
	}
	byUser := map[uuid.UUID][]evently.Webhook{}
	for _, r := range rows {
		byUser[r.UserID] = append(byUser[r.UserID], r.webhook())
	}
	var ids, hooks, notes []uuid.UUID
	var types, bodies []string
	for _, n := range ns {
		for _, w := range byUser[n.UserID] {
			if !w.Wants(n.Type) {
				continue
			}
			body, err := json.Marshal(evently.NewWebhookBody(n))
			if err != nil {
				return 0, evently.Errorf(evently.EINVALID, "notification %s: %v", n.ID, err)
			}
			ids, hooks, notes = append(ids, evently.NewID()), append(hooks, w.ID), append(notes, n.ID)
			types, bodies = append(types, string(n.Type)), append(bodies, string(body))
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	// A webhook deleted since the read drops out through the join.
	res, err := s.DB.ExecContext(ctx, `
		INSERT INTO webhook_deliveries (id, webhook_id, notification_id, type, payload, status, next_attempt_at)
		SELECT d.id, d.webhook_id, d.notification_id, d.type, d.payload, 'pending', now()
		FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[]) AS d(id, webhook_id, notification_id, type, payload)
		JOIN webhooks w ON w.id = d.webhook_id
		ON CONFLICT (webhook_id, notification_id) DO NOTHING`,
		pq.Array(ids), pq.Array(hooks), pq.Array(notes), pq.StringArray(types), pq.StringArray(bodies))
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// DueDelivery is a claimed delivery with what its attempt needs.
type DueDelivery struct {
	ID             uuid.UUID `db:"id"`
	WebhookID      uuid.UUID `db:"webhook_id"`
	NotificationID uuid.UUID `db:"notification_id"`
	Type           string    `db:"type"`
	Payload        string    `db:"payload"`
	// Attempt is this attempt's number (1 for the first).
	Attempt        int       `db:"attempts"`
	FirstAttemptAt time.Time `db:"first_attempt_at"`
	URL            string    `db:"url"`
	Secret         string    `db:"secret"`
}

// Claim takes up to n due deliveries for one attempt each: it counts the
// attempt and moves next_attempt_at lease ahead, so no other worker takes
// them meanwhile, and a worker that dies leaves them due again after the
// lease. SKIP LOCKED lets several workers claim at once without waiting
// on each other.
func (s *Webhooks) Claim(ctx context.Context, n int, lease time.Duration) ([]DueDelivery, error) {
	var out []DueDelivery
	err := s.DB.SelectContext(ctx, &out, `
		UPDATE webhook_deliveries d
		SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $2),
		    first_attempt_at = coalesce(d.first_attempt_at, now()), updated_at = now()
		FROM webhooks w
		WHERE w.id = d.webhook_id AND d.id IN (
		  SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now()
		  ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING d.id, d.webhook_id, d.notification_id, d.type, d.payload, d.attempts, d.first_attempt_at, w.url, w.secret`,
		n, lease.Seconds())
	return out, err
}

// AttemptOutcome is what one attempt got.
type AttemptOutcome struct {
	At         time.Time
	StatusCode int // 0 when the receiver did not answer
	Err        string
	Duration   time.Duration
	// Status is where the delivery goes; Next is when a pending one is
	// due again.
	Status evently.DeliveryStatus
	Next   time.Time
}

// Record logs an attempt and moves its delivery on. It changes nothing
// when the delivery is no longer this attempt's: deleted with its
// webhook, or claimed again after the lease ran out.
func (s *Webhooks) Record(ctx context.Context, d DueDelivery, o AttemptOutcome) error {
	var code *int
	if o.StatusCode != 0 {
		code = &o.StatusCode
	}
	var errText *string
	if o.Err != "" {
		errText = &o.Err
	}
	var next, delivered *time.Time
	switch o.Status {
	case evently.DeliveryPending:
		next = &o.Next
	case evently.DeliveryDelivered:
		delivered = &o.At
	}
	return inTx(ctx, s.DB, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE webhook_deliveries SET status = $3, last_status_code = $4, last_error = $5,
			       next_attempt_at = $6, delivered_at = $7, updated_at = $8
			WHERE id = $1 AND attempts = $2 AND status = 'pending'`,
			d.ID, d.Attempt, o.Status, code, errText, next, delivered, o.At)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, status_code, error, duration_ms)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
			d.ID, d.Attempt, o.At, code, errText, o.Duration.Milliseconds())
		if err != nil {
			return fmt.Errorf("webhook attempt log: %w", err)
		}
		return nil
	})
}
