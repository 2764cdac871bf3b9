-- +goose Up
-- Sales analytics (issue 17): rollups kept by the writers of what they
-- count, in the same transaction, per event and day in the venue's time
-- zone. See docs/analytics.md.

-- The day of a moment in a venue's time zone. A zone PostgreSQL does not
-- know (the API checks zones against Go's copy of the IANA database) falls
-- back to UTC rather than fail the booking worker's batch.
-- +goose StatementBegin
CREATE FUNCTION evently_local_day(at timestamptz, zone text) RETURNS date
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (at AT TIME ZONE zone)::date;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN (at AT TIME ZONE 'UTC')::date;
END
$$;
-- +goose StatementEnd

-- One row per (event, day) with reason '' for the funnel's counters, and
-- one per failure reason with that reason's failures of the day.
CREATE TABLE event_sales_daily (
    event_id       uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    day            date NOT NULL,
    reason         text NOT NULL DEFAULT '',
    submitted      bigint NOT NULL DEFAULT 0,
    reserved       bigint NOT NULL DEFAULT 0,
    confirmed      bigint NOT NULL DEFAULT 0,
    failed         bigint NOT NULL DEFAULT 0,
    expired        bigint NOT NULL DEFAULT 0,
    cancelled      bigint NOT NULL DEFAULT 0,
    refunded       bigint NOT NULL DEFAULT 0,
    seats_sold     bigint NOT NULL DEFAULT 0,
    revenue_cents  bigint NOT NULL DEFAULT 0,
    refunded_cents bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (event_id, day, reason)
);

-- The waitlist's figures, in a table of their own: the promoter and the API
-- write them, and a row shared with the booking worker's would make them
-- wait for each other.
CREATE TABLE event_waitlist_daily (
    event_id    uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    day         date NOT NULL,
    joins       bigint NOT NULL DEFAULT 0,
    offers      bigint NOT NULL DEFAULT 0,
    conversions bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (event_id, day)
);

-- Backfill, once, from what is there: each booking's history (submitted on
-- the day it was written), its refunds, and the waitlist's entries (offers
-- and conversions on the day the entry last changed, the best there is).
INSERT INTO event_sales_daily (event_id, day, reason, submitted, reserved, confirmed, failed, expired, cancelled,
                               seats_sold, revenue_cents, refunded, refunded_cents)
SELECT event_id, day, reason, sum(submitted), sum(reserved), sum(confirmed), sum(failed), sum(expired), sum(cancelled),
       sum(seats_sold), sum(revenue_cents), sum(refunded), sum(refunded_cents)
FROM (
    SELECT b.event_id, evently_local_day(b.created_at, v.time_zone) AS day, '' AS reason,
           1 AS submitted, 0 AS reserved, 0 AS confirmed, 0 AS failed, 0 AS expired, 0 AS cancelled,
           0 AS seats_sold, 0 AS revenue_cents, 0 AS refunded, 0 AS refunded_cents
    FROM bookings b JOIN events e ON e.id = b.event_id JOIN venues v ON v.id = e.venue_id
    UNION ALL
    SELECT b.event_id, evently_local_day(h.at, v.time_zone),
           CASE WHEN h.status = 'failed' THEN coalesce(h.reason, '') ELSE '' END,
           0, (h.status = 'reserved')::int, (h.status = 'confirmed')::int, (h.status = 'failed')::int,
           (h.status = 'expired')::int, (h.status = 'cancelled')::int,
           CASE h.status
               WHEN 'confirmed' THEN n.seats
               WHEN 'cancelled' THEN -n.seats * (SELECT count(*) FROM booking_history p
                                                  WHERE p.booking_id = h.booking_id AND p.status = 'confirmed' AND p.id < h.id)::int
               ELSE 0 END,
           CASE WHEN h.status = 'confirmed' THEN b.amount_cents ELSE 0 END, 0, 0
    FROM booking_history h JOIN bookings b ON b.id = h.booking_id
    JOIN events e ON e.id = b.event_id JOIN venues v ON v.id = e.venue_id
    CROSS JOIN LATERAL (SELECT count(*)::int AS seats FROM booking_seats s WHERE s.booking_id = b.id) n
    WHERE h.status IN ('reserved', 'confirmed', 'failed', 'expired', 'cancelled')
    UNION ALL
    SELECT b.event_id, evently_local_day(p.created_at, v.time_zone), '', 0, 0, 0, 0, 0, 0, 0, 0, 1, p.amount_cents
    FROM payments p JOIN bookings b ON b.id = p.booking_id
    JOIN events e ON e.id = b.event_id JOIN venues v ON v.id = e.venue_id
    WHERE p.kind = 'refund'
) t
GROUP BY event_id, day, reason;

INSERT INTO event_waitlist_daily (event_id, day, joins, offers, conversions)
SELECT event_id, day, sum(joins), sum(offers), sum(conversions)
FROM (
    SELECT w.event_id, evently_local_day(w.created_at, v.time_zone) AS day, 1 AS joins, 0 AS offers, 0 AS conversions
    FROM waitlist_entries w JOIN events e ON e.id = w.event_id JOIN venues v ON v.id = e.venue_id
    UNION ALL
    SELECT w.event_id, evently_local_day(w.updated_at, v.time_zone), 0,
           (w.offered_hold_id IS NOT NULL)::int, (w.status = 'booked')::int
    FROM waitlist_entries w JOIN events e ON e.id = w.event_id JOIN venues v ON v.id = e.venue_id
    WHERE w.offered_hold_id IS NOT NULL
) t
GROUP BY event_id, day;

-- +goose Down
DROP TABLE event_waitlist_daily;
DROP TABLE event_sales_daily;
DROP FUNCTION evently_local_day(timestamptz, text);
