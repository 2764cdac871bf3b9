package store

import (
	"context"
	"errors"
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

// addSalesRollup adds to w the one upsert that counts a run's transitions
// in event_sales_daily, as a part of the statement that writes the run (no
// round trip of its own): what is counted commits or rolls back with what
// it counts, and a redelivered message, skipped by the batch, is not
// counted again. refunds, when not "", names the part of w that inserts
// the run's payments (RETURNING them): its refund rows are counted as
// inserted, so a refund reported twice (ON CONFLICT DO NOTHING) counts
// once. The day is now's in each event's venue time zone.
func addSalesRollup(w *batchWrite, now time.Time, ts []evently.Transition, refunds string) {
	deltas := evently.SalesDeltas(ts)
	if len(deltas) == 0 && refunds == "" {
		return
	}
	n := len(deltas)
	event, reason := make([]string, n), make([]string, n)
	var cols [8][]int64
	for i := range cols {
		cols[i] = make([]int64, n)
	}
	for i, d := range deltas {
		event[i], reason[i] = d.EventID.String(), d.Reason
		for j, v := range []int64{d.Submitted, d.Reserved, d.Confirmed, d.Failed, d.Expired, d.Cancelled, d.SeatsSold, d.RevenueCents} {
			cols[j][i] = v
		}
	}
	src := `SELECT *, 0::bigint AS refunded, 0::bigint AS refunded_cents FROM unnest(` + w.arg(pq.Array(event)) + `::uuid[], ` + w.arg(pq.Array(reason)) + `::text[]`
	for _, c := range cols {
		src += `, ` + w.arg(pq.Array(c)) + `::bigint[]`
	}
	src += `) AS u(event_id, reason, submitted, reserved, confirmed, failed, expired, cancelled, seats_sold, revenue_cents)`
	if refunds != "" {
		src += ` UNION ALL SELECT b.event_id, '', 0, 0, 0, 0, 0, 0, 0, 0, 1, r.amount_cents
			FROM ` + refunds + ` r JOIN bookings b ON b.id = r.booking_id WHERE r.kind = 'refund'`
	}
	w.add(`INSERT INTO event_sales_daily AS a (event_id, day, reason, ` + salesCounters + `)
		SELECT d.event_id, evently_local_day(` + w.arg(now) + `::timestamptz, v.time_zone), d.reason, ` + sums(salesCounters, "d.") + `
		FROM (` + src + `) d JOIN events e ON e.id = d.event_id JOIN venues v ON v.id = e.venue_id
		GROUP BY d.event_id, v.time_zone, d.reason ORDER BY d.event_id, d.reason
		ON CONFLICT (event_id, day, reason) DO UPDATE SET ` + increments(salesCounters, "a"))
}

// salesCounters are event_sales_daily's counters, in the order of the
// rollup's unnest (then the refunds).
const salesCounters = "submitted, reserved, confirmed, failed, expired, cancelled, seats_sold, revenue_cents, refunded, refunded_cents"

func sums(cols, prefix string) string {
	var out []string
	for _, c := range strings.Split(cols, ", ") {
		out = append(out, "sum("+prefix+c+")")
	}
	return strings.Join(out, ", ")
}

func increments(cols, table string) string {
	var out []string
	for _, c := range strings.Split(cols, ", ") {
		out = append(out, c+" = "+table+"."+c+" + EXCLUDED."+c)
	}
	return strings.Join(out, ", ")
}

// tallyWaitlist is the main statement, after a data-modifying CTE named
// src returning (event_id, at) for each entry it changed, that adds one to
// counter (joins, offers or conversions) of each entry's event and day.
func tallyWaitlist(counter, src string) string {
	return `INSERT INTO event_waitlist_daily AS t (event_id, day, ` + counter + `)
		SELECT s.event_id, evently_local_day(s.at, v.time_zone), count(*)
		FROM ` + src + ` s JOIN events e ON e.id = s.event_id JOIN venues v ON v.id = e.venue_id
		GROUP BY 1, 2 ORDER BY 1
		ON CONFLICT (event_id, day) DO UPDATE SET ` + counter + ` = t.` + counter + ` + EXCLUDED.` + counter
}

// Analytics reads the rollups (and the holds counter in Redis) for the
// dashboard and an event's figures, and streams an event's bookings.
type Analytics struct {
	DB    *sqlx.DB
	Redis redis.UniversalClient
	Keys  Keys
	// TopEvents is how many events the dashboard ranks (10 when 0).
	TopEvents int
}

// holdsTakenKey counts the holds taken for an event (takeScript).
func holdsTakenKey(k Keys, eventID uuid.UUID) string { return k.Event(eventID) + ":holds_taken" }

// organizerOf is the viewer's scope: nil for an admin (every event).
func organizerOf(a evently.Actor) *uuid.UUID {
	if a.IsAdmin() {
		return nil
	}
	return &a.UserID
}

type eventTotals struct {
	ID        uuid.UUID `db:"id"`
	Title     string    `db:"title"`
	Currency  string    `db:"currency"`
	Capacity  int64     `db:"capacity"`
	Submitted int64     `db:"submitted"`
	Reserved  int64     `db:"reserved"`
	Confirmed int64     `db:"confirmed"`
	Cancelled int64     `db:"cancelled"`
	SeatsSold int64     `db:"seats_sold"`
	Revenue   int64     `db:"revenue_cents"`
	Refunded  int64     `db:"refunded_cents"`
}

type dayRow struct {
	Day       time.Time `db:"day"`
	Currency  string    `db:"currency"`
	Submitted int64     `db:"submitted"`
	Reserved  int64     `db:"reserved"`
	Confirmed int64     `db:"confirmed"`
	Failed    int64     `db:"failed"`
	Expired   int64     `db:"expired"`
	Cancelled int64     `db:"cancelled"`
	Refunded  int64     `db:"refunded"`
	SeatsSold int64     `db:"seats_sold"`
	Revenue   int64     `db:"revenue_cents"`
	RefundedC int64     `db:"refunded_cents"`
	Joins     int64     `db:"joins"`
	Offers    int64     `db:"offers"`
	Convert   int64     `db:"conversions"`
}

// dailyQuery sums the rollups of the events in scope by day (and
// currency), the waitlist's beside them; $1 an event or NULL, $2 an
// organizer or NULL, $3 and $4 the range.
const dailyQuery = `
	SELECT day, currency, sum(submitted) AS submitted, sum(reserved) AS reserved, sum(confirmed) AS confirmed,
	       sum(failed) AS failed, sum(expired) AS expired, sum(cancelled) AS cancelled, sum(refunded) AS refunded,
	       sum(seats_sold) AS seats_sold, sum(revenue_cents) AS revenue_cents, sum(refunded_cents) AS refunded_cents,
	       sum(joins) AS joins, sum(offers) AS offers, sum(conversions) AS conversions
	FROM (
		SELECT s.day, e.currency, s.submitted, s.reserved, s.confirmed, s.failed, s.expired, s.cancelled, s.refunded,
		       s.seats_sold, s.revenue_cents, s.refunded_cents, 0 AS joins, 0 AS offers, 0 AS conversions
		FROM event_sales_daily s JOIN events e ON e.id = s.event_id
		WHERE ($1::uuid IS NULL OR e.id = $1) AND ($2::uuid IS NULL OR e.organizer_id = $2) AND s.day BETWEEN $3 AND $4
		UNION ALL
		SELECT w.day, e.currency, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, w.joins, w.offers, w.conversions
		FROM event_waitlist_daily w JOIN events e ON e.id = w.event_id
		WHERE ($1::uuid IS NULL OR e.id = $1) AND ($2::uuid IS NULL OR e.organizer_id = $2) AND w.day BETWEEN $3 AND $4
	) t GROUP BY day, currency ORDER BY day, currency`

// daily folds day rows into one DayFigures a day, revenue by currency.
func daily(rows []dayRow) []evently.DayFigures {
	var out []evently.DayFigures
	for _, r := range rows {
		day := r.Day.Format(evently.DateLayout)
		if len(out) == 0 || out[len(out)-1].Day != day {
			out = append(out, evently.DayFigures{Day: day})
		}
		out[len(out)-1].Add(evently.DayFigures{Submitted: r.Submitted, Reserved: r.Reserved, Confirmed: r.Confirmed,
			Failed: r.Failed, Expired: r.Expired, Cancelled: r.Cancelled, Refunded: r.Refunded, SeatsSold: r.SeatsSold,
			Revenue: map[string]int64{r.Currency: r.Revenue}, WaitlistJoin: r.Joins, Offers: r.Offers, Conversions: r.Convert})
	}
	return out
}

// Dashboard sums the figures of the viewer's events (every event for an
// admin) over r.
func (a *Analytics) Dashboard(ctx context.Context, viewer evently.Actor, r evently.DayRange) (*evently.Dashboard, error) {
	org := organizerOf(viewer)
	var events []eventTotals
	if err := a.DB.SelectContext(ctx, &events, `
		SELECT e.id, e.title, e.currency, e.capacity,
		       sum(s.submitted) AS submitted, sum(s.reserved) AS reserved, sum(s.confirmed) AS confirmed,
		       sum(s.cancelled) AS cancelled, sum(s.seats_sold) AS seats_sold,
		       sum(s.revenue_cents) AS revenue_cents, sum(s.refunded_cents) AS refunded_cents
		FROM event_sales_daily s JOIN events e ON e.id = s.event_id
		WHERE ($1::uuid IS NULL OR e.organizer_id = $1) AND s.day BETWEEN $2 AND $3
		GROUP BY e.id ORDER BY e.id`, org, r.From, r.To); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	var days []dayRow
	if err := a.DB.SelectContext(ctx, &days, dailyQuery, nil, org, r.From, r.To); err != nil {
		return nil, fmt.Errorf("dashboard days: %w", err)
	}
	d := &evently.Dashboard{From: r.From.Format(evently.DateLayout), To: r.To.Format(evently.DateLayout),
		Events: len(events), TopEvents: []evently.EventFigures{}, Revenue: []evently.Money{}, Daily: daily(days)}
	if d.Daily == nil {
		d.Daily = []evently.DayFigures{}
	}
	money := map[string]*evently.Money{}
	var reserved int64
	for _, e := range events {
		d.TotalBookings += e.Submitted
		d.Confirmed += e.Confirmed
		d.Cancelled += e.Cancelled
		d.SeatsSold += e.SeatsSold
		d.Capacity += e.Capacity
		reserved += e.Reserved
		m := money[e.Currency]
		if m == nil {
			m = &evently.Money{Currency: e.Currency}
			money[e.Currency] = m
		}
		m.GrossCents += e.Revenue
		m.RefundedCents += e.Refunded
		m.NetCents = m.GrossCents - m.RefundedCents
		d.TopEvents = append(d.TopEvents, evently.EventFigures{EventID: e.ID, Title: e.Title, Currency: e.Currency,
			Capacity: e.Capacity, Confirmed: e.Confirmed, SeatsSold: e.SeatsSold, Revenue: e.Revenue})
	}
	for _, m := range money {
		d.Revenue = append(d.Revenue, *m)
	}
	slices.SortFunc(d.Revenue, func(a, b evently.Money) int { return strings.Compare(a.Currency, b.Currency) })
	d.CancelRate = evently.CancellationRate(d.Cancelled, reserved)
	d.Utilization = evently.Rate(d.SeatsSold, d.Capacity)
	top := a.TopEvents
	if top <= 0 {
		top = 10
	}
	d.TopEvents = evently.TopEvents(d.TopEvents, top)
	return d, nil
}

type analyticsEvent struct {
	ID          uuid.UUID `db:"id"`
	OrganizerID uuid.UUID `db:"organizer_id"`
	Title       string    `db:"title"`
	Currency    string    `db:"currency"`
	Capacity    int64     `db:"capacity"`
	TimeZone    string    `db:"time_zone"`
}

// event reads the event if the viewer may see its figures; another
// organizer's event is not found, as an unknown one, so that its
// existence is not told.
func (a *Analytics) event(ctx context.Context, viewer evently.Actor, id uuid.UUID) (*analyticsEvent, error) {
	var e analyticsEvent
	err := a.DB.GetContext(ctx, &e, `SELECT e.id, e.organizer_id, e.title, e.currency, e.capacity, v.time_zone
		FROM events e JOIN venues v ON v.id = e.venue_id WHERE e.id = $1`, id)
	if err == nil && !viewer.IsAdmin() && e.OrganizerID != viewer.UserID {
		return nil, evently.Errorf(evently.ENOTFOUND, "Event not found.")
	}
	if err != nil {
		return nil, translate(err, "Event")
	}
	return &e, nil
}

// Event returns an event's funnel and its figures day by day.
func (a *Analytics) Event(ctx context.Context, viewer evently.Actor, id uuid.UUID) (*evently.EventAnalytics, error) {
	e, err := a.event(ctx, viewer, id)
	if err != nil {
		return nil, err
	}
	var reasons []struct {
		Reason string `db:"reason"`
		Failed int64  `db:"failed"`
	}
	if err := a.DB.SelectContext(ctx, &reasons, `SELECT reason, sum(failed) AS failed FROM event_sales_daily
		WHERE event_id = $1 AND failed <> 0 GROUP BY reason ORDER BY reason`, id); err != nil {
		return nil, fmt.Errorf("event failures: %w", err)
	}
	var days []dayRow
	if err := a.DB.SelectContext(ctx, &days, dailyQuery, id, nil, time.Time{}, time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)); err != nil {
		return nil, fmt.Errorf("event days: %w", err)
	}
	out := &evently.EventAnalytics{EventID: e.ID, Title: e.Title, TimeZone: e.TimeZone, Currency: e.Currency,
		Capacity: e.Capacity, Revenue: evently.Money{Currency: e.Currency}, Daily: daily(days),
		Funnel: evently.Funnel{FailedBy: map[string]int64{}}}
	if out.Daily == nil {
		out.Daily = []evently.DayFigures{}
	}
	var total evently.DayFigures
	for _, d := range out.Daily {
		total.Add(d)
	}
	for _, r := range days {
		out.Revenue.RefundedCents += r.RefundedC
	}
	f := &out.Funnel
	f.Submitted, f.Reserved, f.Confirmed, f.Failed = total.Submitted, total.Reserved, total.Confirmed, total.Failed
	f.Expired, f.Cancelled, f.Refunded = total.Expired, total.Cancelled, total.Refunded
	f.WaitlistJoin, f.Offers, f.Conversions = total.WaitlistJoin, total.Offers, total.Conversions
	out.SeatsSold = total.SeatsSold
	out.Revenue.GrossCents = total.Revenue[e.Currency]
	for _, r := range reasons {
		f.FailedBy[r.Reason] = r.Failed
	}
	out.Revenue.NetCents = out.Revenue.GrossCents - out.Revenue.RefundedCents
	out.CancelRate = evently.CancellationRate(f.Cancelled, f.Reserved)
	out.Utilization = evently.Rate(out.SeatsSold, out.Capacity)
	// Holds live in Redis: without it the funnel still answers, its first
	// step unknown.
	n, err := a.Redis.Get(ctx, holdsTakenKey(a.Keys, id)).Int64()
	switch {
	case err == nil:
		f.HoldsTaken = &n
	case errors.Is(err, redis.Nil):
		f.HoldsTaken = new(int64)
	}
	return out, nil
}

// Bookings streams the event's bookings, in id order, to each.
func (a *Analytics) Bookings(ctx context.Context, viewer evently.Actor, id uuid.UUID, each func(evently.BookingRow) error) error {
	if _, err := a.event(ctx, viewer, id); err != nil {
		return err
	}
	rows, err := a.DB.QueryContext(ctx, `
		SELECT b.id, u.email, b.status, coalesce(b.reason, ''), b.amount_cents, b.currency, b.created_at, b.updated_at,
		       coalesce((SELECT array_agg(s.seat_id ORDER BY s.seat_id) FROM booking_seats s WHERE s.booking_id = b.id), '{}')
		FROM bookings b JOIN users u ON u.id = b.user_id WHERE b.event_id = $1 ORDER BY b.id`, id)
	if err != nil {
		return fmt.Errorf("export bookings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r evently.BookingRow
		var seats pq.StringArray
		if err := rows.Scan(&r.ID, &r.UserEmail, &r.Status, &r.Reason, &r.AmountCents, &r.Currency, &r.CreatedAt, &r.UpdatedAt, &seats); err != nil {
			return err
		}
		r.Seats = seats
		if err := each(r); err != nil {
			return err
		}
	}
	return rows.Err()
}
