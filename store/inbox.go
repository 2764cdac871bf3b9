package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/redis/go-redis/v9"

	"github.com/evently/evently"
)

// Inbox keeps users' notifications in PostgreSQL (the notifications
// table) and pushes new ones to live streams through Redis pub/sub, one
// channel per user: <prefix>ntfch:<user id>. Every API process shares one
// pattern subscription (see hub). Add and Publish are the notifier's; the
// rest serve the API.
type Inbox struct {
	DB    *sqlx.DB
	Redis redis.UniversalClient
	Keys  Keys

	hub   hub[evently.Notification]
	stmts statements
}

// Channel is the pub/sub channel of one user's notifications.
func (in *Inbox) Channel(user uuid.UUID) string { return in.Keys.Key("ntfch", user.String()) }

const inboxColumns = `id, user_id, type, data, read_at, created_at`

// inUTC shows the inbox's times in UTC, as every time the API shows.
func inUTC(ns []evently.Notification) []evently.Notification {
	for i := range ns {
		ns[i].CreatedAt = ns[i].CreatedAt.UTC()
		if ns[i].ReadAt != nil {
			t := ns[i].ReadAt.UTC()
			ns[i].ReadAt = &t
		}
	}
	return ns
}

// Add writes notifications in one statement and returns those it wrote,
// with their inbox time: one already in the inbox (a redelivery) is not
// written again, nor one for a user who no longer exists.
func (in *Inbox) Add(ctx context.Context, ns []evently.Notification) ([]evently.Notification, error) {
	if len(ns) == 0 {
		return nil, nil
	}
	id, user, typ, data := make([]string, len(ns)), make([]string, len(ns)), make([]string, len(ns)), make([]string, len(ns))
	for i, n := range ns {
		id[i], user[i], typ[i], data[i] = n.ID.String(), n.UserID.String(), string(n.Type), string(n.Data)
		if len(n.Data) == 0 {
			data[i] = "{}"
		}
	}
	// clock_timestamp, not now(): rows of one statement, in the batch's
	// order, get increasing times, so the inbox order is the stream's.
	var out []evently.Notification
	err := in.stmts.selectAll(ctx, in.DB, &out, `
		INSERT INTO notifications (id, user_id, type, data, created_at)
		SELECT v.id, v.user_id, v.type, v.data, clock_timestamp()
		FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[]) WITH ORDINALITY AS v(id, user_id, type, data, n)
		JOIN users u ON u.id = v.user_id
		ORDER BY v.n
		ON CONFLICT (id) DO NOTHING
		RETURNING `+inboxColumns, pq.Array(id), pq.Array(user), pq.Array(typ), pq.Array(data))
	if err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	sortInbox(inUTC(out))
	return out, nil
}

// sortInbox puts notifications in the inbox order, oldest first.
func sortInbox(ns []evently.Notification) {
	slices.SortFunc(ns, func(a, b evently.Notification) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID.String(), b.ID.String()))
	})
}

// Publish pushes notifications to their users' streams, in one pipeline.
// Pub/sub delivers at most once: a stream that missed one finds it in the
// inbox on its next look (see the API's stream).
func (in *Inbox) Publish(ctx context.Context, ns []evently.Notification) error {
	if len(ns) == 0 {
		return nil
	}
	p := in.Redis.Pipeline()
	for _, n := range ns {
		b, _ := json.Marshal(n)
		p.Publish(ctx, in.Channel(n.UserID), b)
	}
	if _, err := p.Exec(ctx); err != nil {
		return unavailable(err)
	}
	return nil
}

// Watch returns a user's notifications as they are published, and a
// function to stop watching.
func (in *Inbox) Watch(ctx context.Context, user uuid.UUID) (<-chan evently.Notification, func()) {
	return in.hub.watch(ctx, in.Redis, in.Keys.Key("ntfch", "*"), decodeNotification, user, 16)
}

func decodeNotification(payload string) (uuid.UUID, evently.Notification, bool) {
	var n evently.Notification
	if json.Unmarshal([]byte(payload), &n) != nil || n.ID == uuid.Nil {
		return uuid.Nil, n, false
	}
	return n.UserID, n, true
}

// List returns a page of a user's inbox, newest first, after cursor (""
// for the first page; a cursor that is no next_cursor is EINVALID), with
// the count of everything unread. One round trip.
func (in *Inbox) List(ctx context.Context, user uuid.UUID, cursor string, limit int) (evently.InboxPage, error) {
	var at *time.Time
	var after *uuid.UUID
	if cursor != "" {
		c, err := evently.ParseInboxCursor(cursor)
		if err != nil {
			return evently.InboxPage{}, err
		}
		at, after = &c.At, &c.ID
	}
	var rows []struct {
		evently.Notification
		Unread int `db:"unread"`
	}
	// The unread count rides on every row; an empty page still needs it,
	// hence the outer join.
	err := in.DB.SelectContext(ctx, &rows, `
		WITH page AS (
			SELECT `+inboxColumns+` FROM notifications
			WHERE user_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))
			ORDER BY created_at DESC, id DESC LIMIT $4),
		unread AS (SELECT count(*) AS unread FROM notifications WHERE user_id = $1 AND read_at IS NULL)
		SELECT coalesce(p.id, '00000000-0000-0000-0000-000000000000') AS id, coalesce(p.user_id, $1) AS user_id,
		       coalesce(p.type, '') AS type, coalesce(p.data, '{}') AS data, p.read_at,
		       coalesce(p.created_at, 'epoch') AS created_at, u.unread
		FROM unread u LEFT JOIN page p ON true
		ORDER BY p.created_at DESC, p.id DESC`, user, at, after, limit)
	if err != nil {
		return evently.InboxPage{}, err
	}
	page := evently.InboxPage{Items: []evently.Notification{}}
	for _, r := range rows {
		page.Unread = r.Unread
		if r.ID != uuid.Nil {
			page.Items = append(page.Items, r.Notification)
		}
	}
	inUTC(page.Items)
	if len(page.Items) == limit {
		last := page.Items[len(page.Items)-1]
		c := evently.InboxCursor{At: last.CreatedAt, ID: last.ID}.String()
		page.NextCursor = &c
	}
	return page, nil
}

// After returns a user's notifications that came after the one with id,
// oldest first (a stream resuming from Last-Event-ID), or from the first
// for the zero id. An id that is not one of the user's gives nothing.
func (in *Inbox) After(ctx context.Context, user, id uuid.UUID, limit int) ([]evently.Notification, error) {
	var after *uuid.UUID
	if id != uuid.Nil {
		after = &id
	}
	var out []evently.Notification
	err := in.DB.SelectContext(ctx, &out, `
		SELECT `+inboxColumns+` FROM notifications
		WHERE user_id = $1 AND ($2::uuid IS NULL OR
		      (created_at, id) > (SELECT created_at, id FROM notifications WHERE id = $2 AND user_id = $1))
		ORDER BY created_at, id LIMIT $3`, user, after, limit)
	if err != nil {
		return nil, err
	}
	return inUTC(out), nil
}

// Newest returns the id of a user's newest notification, or the zero id.
func (in *Inbox) Newest(ctx context.Context, user uuid.UUID) (uuid.UUID, error) {
	var ids []uuid.UUID
	err := in.DB.SelectContext(ctx, &ids, `SELECT id FROM notifications WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1`, user)
	if err != nil || len(ids) == 0 {
		return uuid.Nil, err
	}
	return ids[0], nil
}

// MarkRead marks one of the user's notifications read (again is fine);
// anyone else's is not found, so ids reveal nothing.
func (in *Inbox) MarkRead(ctx context.Context, user, id uuid.UUID) error {
	var n int
	err := in.DB.GetContext(ctx, &n, `
		WITH mine AS (SELECT id FROM notifications WHERE id = $1 AND user_id = $2),
		     marked AS (UPDATE notifications SET read_at = now() WHERE id = $1 AND user_id = $2 AND read_at IS NULL)
		SELECT count(*) FROM mine`, id, user)
	if err != nil {
		return err
	}
	if n == 0 {
		return evently.Errorf(evently.ENOTFOUND, "Notification not found.")
	}
	return nil
}

// MarkAllRead marks every notification of the user read.
func (in *Inbox) MarkAllRead(ctx context.Context, user uuid.UUID) error {
	_, err := in.DB.ExecContext(ctx, `UPDATE notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL`, user)
	return err
}

// Sales reads what the organizer notices of the events are decided on, in
// one statement: capacity and seats sold or held by an active booking.
func (in *Inbox) Sales(ctx context.Context, events []uuid.UUID) ([]evently.EventSales, error) {
	if len(events) == 0 {
		return nil, nil
	}
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.String()
	}
	var rows []struct {
		ID        uuid.UUID `db:"id"`
		Organizer uuid.UUID `db:"organizer_id"`
		Title     string    `db:"title"`
		Capacity  int       `db:"capacity"`
		Sold      int       `db:"sold"`
	}
	err := in.DB.SelectContext(ctx, &rows, `
		SELECT e.id, e.organizer_id, e.title, e.capacity,
		       (SELECT count(*) FROM event_seats s WHERE s.event_id = e.id AND s.status = 'sold') AS sold
		FROM events e WHERE e.id = ANY($1::uuid[]) AND e.status = 'published'`, pq.Array(ids))
	if err != nil {
		return nil, err
	}
	out := make([]evently.EventSales, len(rows))
	for i, r := range rows {
		out[i] = evently.EventSales{EventID: r.ID, OrganizerID: r.Organizer, Title: r.Title, Capacity: r.Capacity, Sold: r.Sold}
	}
	return out, nil
}
