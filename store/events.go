package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/evently/evently"
)

// Events is the PostgreSQL event repository; it implements
// evently.EventService.
type Events struct {
	DB *sqlx.DB
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

var _ evently.EventService = (*Events)(nil)

func (s *Events) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// eventSelect reads an event with its venue summary and live availability.
// The count uses the partial index event_seats_available.
const eventSelect = `
	SELECT e.id, e.venue_id, e.organizer_id, e.title, e.description, e.category, e.city, e.status,
		e.starts_at, e.ends_at, e.sales_start_at, e.sales_end_at, e.currency, e.tiers, e.capacity,
		e.created_at, e.updated_at,
		v.name AS venue_name, v.city AS venue_city, v.address AS venue_address, v.time_zone AS venue_time_zone,
		(SELECT count(*) FROM event_seats es WHERE es.event_id = e.id AND es.status = 'available') AS available_seats`

type eventRow struct {
	evently.Event
	TiersJSON     []byte  `db:"tiers"`
	VenueName     string  `db:"venue_name"`
	VenueCity     string  `db:"venue_city"`
	VenueAddress  string  `db:"venue_address"`
	VenueTimeZone string  `db:"venue_time_zone"`
	Rank          float32 `db:"rank"`
}

func (r *eventRow) event() (evently.Event, error) {
	e := r.Event
	if err := json.Unmarshal(r.TiersJSON, &e.Tiers); err != nil {
		return e, fmt.Errorf("event %s tiers: %w", e.ID, err)
	}
	e.StartsAt, e.EndsAt, e.CreatedAt, e.UpdatedAt = e.StartsAt.UTC(), e.EndsAt.UTC(), e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	e.TimeZone = r.VenueTimeZone
	e.Venue = &evently.VenueSummary{ID: e.VenueID, Name: r.VenueName, City: r.VenueCity,
		Address: r.VenueAddress, TimeZone: r.VenueTimeZone}
	e.SetPriceRange()
	return e, nil
}

func getEvent(ctx context.Context, q sqlx.QueryerContext, id uuid.UUID, lock bool) (*evently.Event, error) {
	query := eventSelect + `, 0::real AS rank FROM events e JOIN venues v ON v.id = e.venue_id WHERE e.id = $1`
	if lock {
		query += ` FOR UPDATE OF e`
	}
	var row eventRow
	if err := sqlx.GetContext(ctx, q, &row, query, id); err != nil {
		return nil, translate(err, "event")
	}
	e, err := row.event()
	return &e, err
}

// venueForEvent share-locks the venue (so it cannot change while the event
// is written) and returns its city and section names; nil sections when it
// does not exist. With an actor, it also refuses (403) a venue the actor
// does not own: an event freezes its venue (no PATCH or DELETE while an
// event uses it), so letting any organizer put a draft on any venue would
// let them freeze someone else's venue forever.
func venueForEvent(ctx context.Context, tx *sqlx.Tx, id uuid.UUID, a *evently.Actor) (city string, sections []string, err error) {
	if id == uuid.Nil {
		return "", nil, nil
	}
	var row struct {
		City    string    `db:"city"`
		Layout  []byte    `db:"layout"`
		OwnerID uuid.UUID `db:"owner_id"`
	}
	if err := tx.GetContext(ctx, &row, `SELECT city, layout, owner_id FROM venues WHERE id = $1 FOR SHARE`, id); err != nil {
		if evently.ErrorCode(translate(err, "venue")) == evently.ENOTFOUND {
			return "", nil, nil
		}
		return "", nil, err
	}
	if a != nil && !a.IsAdmin() && a.UserID != row.OwnerID {
		return "", nil, evently.Errorf(evently.EFORBIDDEN, "Events can only be held at your own venues.")
	}
	var l evently.Layout
	if err := json.Unmarshal(row.Layout, &l); err != nil {
		return "", nil, err
	}
	sections = []string{}
	for _, s := range l.Sections {
		sections = append(sections, s.Name)
	}
	return row.City, sections, nil
}

// CreateEvent stores a draft after checking it against its venue.
func (s *Events) CreateEvent(ctx context.Context, a evently.Actor, in evently.EventInput) (*evently.Event, error) {
	if err := evently.CanManage(a, a.UserID); err != nil {
		return nil, err
	}
	var out *evently.Event
	err := inTx(ctx, s.DB, func(tx *sqlx.Tx) error {
		city, sections, err := venueForEvent(ctx, tx, in.VenueID, &a)
		if err != nil {
			return err
		}
		in.Normalize(city)
		if bad := in.Validate(sections); len(bad) > 0 {
			return evently.Invalid(bad)
		}
		tiers, err := json.Marshal(in.Tiers)
		if err != nil {
			return err
		}
		id := evently.NewID()
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO events (id, venue_id, organizer_id, title, description, category, city, starts_at, ends_at,
				sales_start_at, sales_end_at, currency, tiers, capacity)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
				(SELECT capacity FROM venues WHERE id = $2))`,
			id, in.VenueID, a.UserID, in.Title, in.Description, in.Category, in.City, in.StartsAt, in.EndsAt,
			in.SalesStartAt, in.SalesEndAt, in.Currency, string(tiers)); err != nil {
			return err
		}
		out, err = getEvent(ctx, tx, id, false)
		return err
	})
	if err != nil {
		return nil, translate(err, "event")
	}
	return out, nil
}

// Event returns an event the viewer may see.
func (s *Events) Event(ctx context.Context, viewer evently.Actor, id uuid.UUID) (*evently.Event, error) {
	e, err := getEvent(ctx, s.DB, id, false)
	if err != nil {
		return nil, err
	}
	if !e.VisibleTo(viewer) {
		return nil, evently.Errorf(evently.ENOTFOUND, "event not found.")
	}
	e.SalesOpen = e.OnSale(s.now())
	return e, nil
}

// lockManagedEvent locks an event the actor may manage (EFORBIDDEN for
// someone else's).
func lockManagedEvent(ctx context.Context, tx *sqlx.Tx, a evently.Actor, id uuid.UUID) (*evently.Event, error) {
	e, err := getEvent(ctx, tx, id, true)
	if err != nil {
		return nil, err
	}
	if err := evently.CanManage(a, e.OrganizerID); err != nil {
		return nil, err
	}
	return e, nil
}

// UpdateEvent applies a patch within what the event's status allows.
func (s *Events) UpdateEvent(ctx context.Context, a evently.Actor, id uuid.UUID, p evently.EventPatch) (*evently.Event, error) {
	var out *evently.Event
	err := inTx(ctx, s.DB, func(tx *sqlx.Tx) error {
		e, err := lockManagedEvent(ctx, tx, a, id)
		if err != nil {
			return err
		}
		in, err := p.Apply(e)
		if err != nil {
			return err
		}
		// Moving an event is moving it onto a venue: the same rule as
		// creating it there. Other changes keep the venue it has.
		var owner *evently.Actor
		if in.VenueID != e.VenueID {
			owner = &a
		}
		city, sections, err := venueForEvent(ctx, tx, in.VenueID, owner)
		if err != nil {
			return err
		}
		in.Normalize(city)
		if bad := in.Validate(sections); len(bad) > 0 {
			return evently.Invalid(bad)
		}
		tiers, err := json.Marshal(in.Tiers)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE events SET venue_id = $2, title = $3, description = $4, category = $5, city = $6,
				starts_at = $7, ends_at = $8, sales_start_at = $9, sales_end_at = $10, currency = $11, tiers = $12,
				capacity = CASE WHEN status = 'draft' THEN (SELECT capacity FROM venues WHERE id = $2) ELSE capacity END,
				version = version + 1, updated_at = now()
			WHERE id = $1`,
			id, in.VenueID, in.Title, in.Description, in.Category, in.City, in.StartsAt, in.EndsAt,
			in.SalesStartAt, in.SalesEndAt, in.Currency, string(tiers)); err != nil {
			return err
		}
		out, err = getEvent(ctx, tx, id, false)
		return err
	})
	if err != nil {
		return nil, translate(err, "event")
	}
	return out, nil
}

// PublishEvent materializes one event_seats row per venue seat, priced by
// the tier covering its section, at version 1, in the same transaction as
// the status change.
func (s *Events) PublishEvent(ctx context.Context, a evently.Actor, id uuid.UUID) (*evently.Event, error) {
	var out *evently.Event
	err := inTx(ctx, s.DB, func(tx *sqlx.Tx) error {
		e, err := lockManagedEvent(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if e.Status != evently.EventDraft {
			return evently.Errorf(evently.ECONFLICT, "The event is %s; only a draft can be published.", e.Status)
		}
		if !e.StartsAt.After(s.now()) {
			return evently.Invalid(map[string]string{"starts_at": "the event has already started; move it to the future first"})
		}
		if _, err := publishSeats(ctx, tx, e); err != nil {
			return err
		}
		out, err = getEvent(ctx, tx, id, false)
		return err
	})
	if err != nil {
		return nil, translate(err, "event")
	}
	return out, nil
}

// publishSeats writes the event's seats and marks it published; it returns
// how many seats it wrote.
func publishSeats(ctx context.Context, tx *sqlx.Tx, e *evently.Event) (int64, error) {
	_, sections, err := venueForEvent(ctx, tx, e.VenueID, nil)
	if err != nil {
		return 0, err
	}
	// The venue cannot change while an event uses it, but check the tiers
	// once more: a seat without a price must never go on sale.
	in := evently.EventInput{VenueID: e.VenueID, Title: e.Title, StartsAt: e.StartsAt, EndsAt: e.EndsAt,
		Currency: e.Currency, Tiers: e.Tiers}
	if bad := in.Validate(sections); len(bad) > 0 {
		return 0, evently.Invalid(bad)
	}
	tiers, err := json.Marshal(e.Tiers)
	if err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `
		INSERT INTO event_seats (event_id, seat_id, section, row_label, number, tier, price_cents)
		SELECT $1, s.id, s.section, s.row_label, s.number, t.name, t.price_cents
		FROM seats s
		JOIN (SELECT t->>'name' AS name, (t->>'price_cents')::bigint AS price_cents, sec
		      FROM jsonb_array_elements($3::jsonb) t, jsonb_array_elements_text(t->'sections') sec) t
		  ON t.sec = s.section
		WHERE s.venue_id = $2`, e.ID, e.VenueID, string(tiers))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	_, err = tx.ExecContext(ctx, `
		UPDATE events SET status = 'published', capacity = $2, version = version + 1, updated_at = now()
		WHERE id = $1`, e.ID, n)
	return n, err
}

// CancelEvent stops sales. The caller runs the cancellation hook (refunds)
// after this commits, also when the event was cancelled already, so a hook
// that failed once can be retried.
func (s *Events) CancelEvent(ctx context.Context, a evently.Actor, id uuid.UUID) (*evently.Event, bool, error) {
	var out *evently.Event
	changed := false
	err := inTx(ctx, s.DB, func(tx *sqlx.Tx) error {
		e, err := lockManagedEvent(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if e.Status == evently.EventCancelled {
			out = e
			return nil
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE events SET status = 'cancelled', version = version + 1, updated_at = now() WHERE id = $1`, id); err != nil {
			return err
		}
		changed = true
		out, err = getEvent(ctx, tx, id, false)
		return err
	})
	if err != nil {
		return nil, false, translate(err, "event")
	}
	return out, changed, nil
}

// eventCursor is the position after the last item of a page: the sort keys
// of that item. Encoded as base64url JSON, opaque to clients.
type eventCursor struct {
	Sort     string    `json:"s"`
	StartsAt time.Time `json:"t"`
	ID       uuid.UUID `json:"i"`
	Rank     float32   `json:"r,omitempty"`
}

func (c eventCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeEventCursor(s, sort string) (*eventCursor, error) {
	if s == "" {
		return nil, nil
	}
	var c eventCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.ID == uuid.Nil || c.StartsAt.IsZero() {
		return nil, evently.Invalid(map[string]string{"cursor": "is not a cursor this API gave out"})
	}
	if c.Sort != sort {
		return nil, evently.Invalid(map[string]string{"cursor": "belongs to another sort order; start again without it"})
	}
	return &c, nil
}

// Events lists events by keyset pagination: each page continues strictly
// after the sort key of the previous page's last row, so rows inserted
// meanwhile never shift or repeat what a client has already walked.
func (s *Events) Events(ctx context.Context, f evently.EventFilter) (evently.EventPage, error) {
	bad := map[string]string{}
	sort := f.Sort
	if sort == "" {
		sort = evently.SortStartsAt
	}
	q := strings.TrimSpace(f.Query)
	switch {
	case sort != evently.SortStartsAt && sort != evently.SortRelevance:
		bad["sort"] = "must be starts_at or relevance"
	case sort == evently.SortRelevance && q == "":
		bad["sort"] = "relevance needs a search query q"
	}
	status := f.Status
	if status == "" {
		status = string(evently.EventPublished)
	}
	switch evently.EventStatus(status) {
	case evently.EventDraft, evently.EventPublished, evently.EventCancelled, "any":
	default:
		bad["status"] = "must be draft, published, cancelled or any"
	}
	if len(q) > 200 {
		bad["q"] = "at most 200 characters"
	}
	if f.From != nil && f.To != nil && !f.To.After(*f.From) {
		bad["to"] = "must be after from"
	}
	if len(bad) > 0 {
		return evently.EventPage{}, evently.Invalid(bad)
	}
	cur, err := decodeEventCursor(f.Cursor, sort)
	if err != nil {
		return evently.EventPage{}, err
	}
	limit := catalogLimit(f.Limit)

	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	// Drafts show only to their organizer and to admins.
	switch {
	case f.Viewer.IsAdmin():
	case f.Viewer.UserID != uuid.Nil:
		where = append(where, "(e.status <> 'draft' OR e.organizer_id = "+arg(f.Viewer.UserID)+")")
	default:
		where = append(where, "e.status <> 'draft'")
	}
	if status != "any" {
		where = append(where, "e.status = "+arg(status))
	}
	rank := "0::real"
	if q != "" {
		tsq := "websearch_to_tsquery('simple', " + arg(q) + ")"
		where = append(where, "e.search @@ "+tsq)
		rank = "ts_rank(e.search, " + tsq + ")"
	}
	if f.Category != "" {
		where = append(where, "e.category = "+arg(strings.ToLower(strings.TrimSpace(f.Category))))
	}
	if f.City != "" {
		where = append(where, "lower(e.city) = lower("+arg(strings.TrimSpace(f.City))+")")
	}
	if f.From != nil {
		where = append(where, "e.starts_at >= "+arg(*f.From))
	}
	if f.To != nil {
		where = append(where, "e.starts_at < "+arg(*f.To))
	}
	order := "e.starts_at, e.id"
	if cur != nil {
		after := "(e.starts_at, e.id) > (" + arg(cur.StartsAt) + "::timestamptz, " + arg(cur.ID) + "::uuid)"
		if sort == evently.SortRelevance {
			// Ranks are float4 both here and in the cursor (encoded with
			// float32 precision), so equality is exact.
			r := arg(strconv.FormatFloat(float64(cur.Rank), 'g', -1, 32)) + "::real"
			after = "(" + rank + " < " + r + " OR (" + rank + " = " + r + " AND " + after + "))"
		}
		where = append(where, after)
	}
	if sort == evently.SortRelevance {
		order = "rank DESC, " + order
	}
	query := eventSelect + ", " + rank + " AS rank FROM events e JOIN venues v ON v.id = e.venue_id"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY " + order + " LIMIT " + arg(limit+1)

	var rows []eventRow
	if err := s.DB.SelectContext(ctx, &rows, query, args...); err != nil {
		return evently.EventPage{}, translate(err, "event")
	}
	page := evently.EventPage{Items: make([]evently.Event, 0, min(len(rows), limit))}
	for i := range rows {
		if i == limit {
			last := rows[limit-1]
			page.NextCursor = eventCursor{Sort: sort, StartsAt: last.StartsAt, ID: last.ID, Rank: last.Rank}.encode()
			break
		}
		e, err := rows[i].event()
		if err != nil {
			return page, err
		}
		e.SalesOpen = e.OnSale(s.now())
		page.Items = append(page.Items, e)
	}
	return page, nil
}

// PopularEvents returns upcoming published events by confirmed bookings
// over the window; when nothing sold in the window, the soonest upcoming.
func (s *Events) PopularEvents(ctx context.Context, window time.Duration, limit int) ([]evently.Event, error) {
	limit = catalogLimit(limit)
	now := s.now()
	var rows []eventRow
	err := s.DB.SelectContext(ctx, &rows, eventSelect+`, 0::real AS rank
		FROM events e JOIN venues v ON v.id = e.venue_id
		JOIN (SELECT event_id, count(*) AS n FROM bookings
		      WHERE status = 'confirmed' AND updated_at >= $1 GROUP BY event_id) p ON p.event_id = e.id
		WHERE e.status = 'published' AND e.starts_at > $2
		ORDER BY p.n DESC, e.starts_at, e.id LIMIT $3`, now.Add(-window), now, limit)
	if err == nil && len(rows) == 0 {
		err = s.DB.SelectContext(ctx, &rows, eventSelect+`, 0::real AS rank
			FROM events e JOIN venues v ON v.id = e.venue_id
			WHERE e.status = 'published' AND e.starts_at > $1
			ORDER BY e.starts_at, e.id LIMIT $2`, now, limit)
	}
	if err != nil {
		return nil, translate(err, "event")
	}
	out := make([]evently.Event, 0, len(rows))
	for i := range rows {
		e, err := rows[i].event()
		if err != nil {
			return nil, err
		}
		e.SalesOpen = e.OnSale(now)
		out = append(out, e)
	}
	return out, nil
}
