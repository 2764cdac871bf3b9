package store

// The integrity audit: read-only checks that the database tells one
// consistent story about seats, bookings and money. The benchmark runs it
// after every run (and after every chaos fault); `evently audit` runs it
// alone. It only reads, so it is safe against a live system, but checks that
// compare several tables are only exact when the pipeline is quiet.

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/evently/evently"
)

// Violation is one broken invariant.
type Violation struct {
	Check   string `json:"check"`   // which invariant (see the Check* constants)
	Subject string `json:"subject"` // the seat, booking or payment concerned
	Detail  string `json:"detail"`
}

func (v Violation) String() string { return v.Check + " " + v.Subject + ": " + v.Detail }

// Names of the integrity checks.
const (
	CheckSeatTwoActive       = "seat_in_two_active_bookings"
	CheckSeatTwoHolding      = "seat_in_two_holding_bookings"
	CheckSoldWithoutBooking  = "sold_seat_without_holding_booking"
	CheckBookingSeatNotSold  = "holding_booking_seat_not_sold_to_it"
	CheckInactiveHolding     = "holding_booking_with_inactive_seat"
	CheckActiveOnSettled     = "settled_booking_with_active_seat"
	CheckAcceptedMissing     = "accepted_booking_missing"
	CheckAcceptedUnsettled   = "accepted_booking_not_settled"
	CheckLeftTerminal        = "booking_left_terminal_state"
	CheckDoubleCharge        = "booking_charged_twice"
	CheckRefundExceedsCharge = "refund_exceeds_charge"
	CheckLedger              = "ledger_reconcile"
	CheckOrphan              = "row_without_its_parent"
)

// IntegrityOptions scope and extend the audit.
type IntegrityOptions struct {
	// EventIDs limits the seat checks to these events (all events if empty).
	EventIDs []uuid.UUID
	// Accepted are booking ids a client received a 202 (or 201) for: each
	// must exist and, within SettleWait, reach a settled state.
	Accepted   []uuid.UUID
	SettleWait time.Duration
	// Reconcile, when set, is the payment ledger's own reconciliation
	// (package gateway's); each string it returns is a violation.
	Reconcile func(ctx context.Context) ([]string, error)
	// Limit caps the rows reported per check (default 1000).
	Limit int
}

// holdingStatuses keep a booking's seats off sale (evently.BookingStatus.HoldsSeats).
const holdingStatuses = `('reserved', 'paying', 'confirmed')`

// terminalStatuses never change again.
const terminalStatuses = `('failed', 'expired', 'cancelled')`

// failedPaymentStatuses are payment rows that moved no money. Any other
// status of a charge (pending, succeeded, ...) counts as money that may move.
const failedPaymentStatuses = `('failed', 'declined', 'unavailable', 'error', 'cancelled')`

// CheckIntegrity runs every check and returns what is broken. An error means
// the audit itself could not run.
func CheckIntegrity(ctx context.Context, db *sqlx.DB, o IntegrityOptions) ([]Violation, error) {
	if o.Limit <= 0 {
		o.Limit = 1000
	}
	events := make([]string, len(o.EventIDs))
	for i, id := range o.EventIDs {
		events[i] = id.String()
	}
	// Wait for accepted bookings first: the seat checks are exact only once
	// the pipeline has settled what it accepted.
	var out []Violation
	if len(o.Accepted) > 0 {
		vs, err := checkAccepted(ctx, db, o)
		if err != nil {
			return nil, err
		}
		out = append(out, vs...)
	}
	scope := `(cardinality($1::uuid[]) = 0 OR %s = ANY($1::uuid[]))`
	queries := []struct{ check, sql string }{
		// The unique index forbids this; the audit does not trust it.
		{CheckSeatTwoActive, `SELECT event_id || '/' || seat_id, string_agg(booking_id::text, ',' ORDER BY booking_id)
			FROM booking_seats WHERE active AND ` + fmt.Sprintf(scope, "event_id") + `
			GROUP BY event_id, seat_id HAVING count(*) > 1`},
		// Two bookings that both keep a seat, whatever their rows' active flags say.
		{CheckSeatTwoHolding, `SELECT bs.event_id || '/' || bs.seat_id, string_agg(b.id::text || ' ' || b.status, ',' ORDER BY b.id)
			FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id
			WHERE b.status IN ` + holdingStatuses + ` AND ` + fmt.Sprintf(scope, "bs.event_id") + `
			GROUP BY bs.event_id, bs.seat_id HAVING count(DISTINCT b.id) > 1`},
		// A sold seat belongs to an existing booking in a seat-holding status
		// that lists it as an active seat.
		{CheckSoldWithoutBooking, `SELECT es.event_id || '/' || es.seat_id,
				'sold to ' || coalesce(es.booking_id::text, 'nobody') || ' (' || coalesce(b.status, 'no such booking') ||
				CASE WHEN bs.booking_id IS NULL THEN ', no active seat row' ELSE '' END || ')'
			FROM event_seats es
			LEFT JOIN bookings b ON b.id = es.booking_id
			LEFT JOIN booking_seats bs ON bs.booking_id = es.booking_id AND bs.seat_id = es.seat_id AND bs.event_id = es.event_id AND bs.active
			WHERE es.status = 'sold' AND ` + fmt.Sprintf(scope, "es.event_id") + `
			  AND (b.id IS NULL OR b.status NOT IN ` + holdingStatuses + ` OR bs.booking_id IS NULL OR b.event_id <> es.event_id)`},
		// Every seat of a seat-holding booking is sold to that booking.
		{CheckBookingSeatNotSold, `SELECT bs.event_id || '/' || bs.seat_id,
				'booking ' || b.id || ' (' || b.status || ') but seat is ' || coalesce(es.status, 'missing') ||
				coalesce(' to ' || es.booking_id::text, '')
			FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id
			LEFT JOIN event_seats es ON es.event_id = bs.event_id AND es.seat_id = bs.seat_id
			WHERE b.status IN ` + holdingStatuses + ` AND ` + fmt.Sprintf(scope, "bs.event_id") + `
			  AND (es.seat_id IS NULL OR es.status <> 'sold' OR es.booking_id IS DISTINCT FROM b.id)`},
		{CheckInactiveHolding, `SELECT b.id::text, 'status ' || b.status || ', inactive seat ' || bs.seat_id
			FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id
			WHERE b.status IN ` + holdingStatuses + ` AND NOT bs.active AND ` + fmt.Sprintf(scope, "bs.event_id")},
		{CheckActiveOnSettled, `SELECT b.id::text, 'status ' || b.status || ', still active seat ' || bs.seat_id
			FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id
			WHERE b.status IN ` + terminalStatuses + ` AND bs.active AND ` + fmt.Sprintf(scope, "bs.event_id")},
		// Terminal states never change: no history entry after a terminal one
		// (other than repeats of the same state).
		{CheckLeftTerminal, `SELECT h.booking_id::text, 'was ' || h.status || ' then ' || later.status
			FROM booking_history h
			JOIN bookings b ON b.id = h.booking_id
			JOIN LATERAL (SELECT status FROM booking_history l WHERE l.booking_id = h.booking_id AND l.id > h.id AND l.status <> h.status ORDER BY l.id LIMIT 1) later ON true
			WHERE h.status IN ` + terminalStatuses + ` AND ` + fmt.Sprintf(scope, "b.event_id")},
		// At most one charge that may have moved money per booking.
		{CheckDoubleCharge, `SELECT p.booking_id::text, count(*) || ' charges: ' || string_agg(p.id::text || ' ' || p.status, ', ' ORDER BY p.created_at)
			FROM payments p JOIN bookings b ON b.id = p.booking_id
			WHERE p.kind = 'charge' AND p.status NOT IN ` + failedPaymentStatuses + ` AND ` + fmt.Sprintf(scope, "b.event_id") + `
			GROUP BY p.booking_id HAVING count(*) > 1`},
		{CheckRefundExceedsCharge, `SELECT p.booking_id::text,
				'refunded ' || sum(p.amount_cents) FILTER (WHERE p.kind = 'refund') || ' of ' || coalesce(sum(p.amount_cents) FILTER (WHERE p.kind = 'charge'), 0)
			FROM payments p JOIN bookings b ON b.id = p.booking_id
			WHERE p.status NOT IN ` + failedPaymentStatuses + ` AND ` + fmt.Sprintf(scope, "b.event_id") + `
			GROUP BY p.booking_id
			HAVING coalesce(sum(p.amount_cents) FILTER (WHERE p.kind = 'refund'), 0) > coalesce(sum(p.amount_cents) FILTER (WHERE p.kind = 'charge'), 0)`},
		// A booking's seats, history and payments, and the inbox, carry no
		// foreign keys (migration 00008): their references hold by
		// construction, and this checks it.
		{CheckOrphan, `SELECT x.booking_id::text, x.what || ' of no booking' FROM (
				SELECT booking_id, 'seat ' || seat_id AS what FROM booking_seats WHERE ` + fmt.Sprintf(scope, "event_id") + `
				UNION ALL SELECT booking_id, 'history entry ' || id FROM booking_history
				UNION ALL SELECT booking_id, 'payment ' || id FROM payments) x
			WHERE NOT EXISTS (SELECT 1 FROM bookings b WHERE b.id = x.booking_id)
			UNION ALL
			SELECT n.id::text, 'notification of unknown user ' || n.user_id
			FROM notifications n WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = n.user_id)`},
	}
	for _, q := range queries {
		vs, err := collect(ctx, db, q.check, q.sql+fmt.Sprintf(" LIMIT %d", o.Limit), pq.Array(events))
		if err != nil {
			return nil, fmt.Errorf("audit %s: %w", q.check, err)
		}
		out = append(out, vs...)
	}
	if o.Reconcile != nil {
		msgs, err := o.Reconcile(ctx)
		if err != nil {
			return nil, fmt.Errorf("audit %s: %w", CheckLedger, err)
		}
		for _, m := range msgs {
			out = append(out, Violation{Check: CheckLedger, Subject: "ledger", Detail: m})
		}
	}
	return out, nil
}

func collect(ctx context.Context, db *sqlx.DB, check, query string, args ...any) ([]Violation, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Violation
	for rows.Next() {
		var subject, detail string
		if err := rows.Scan(&subject, &detail); err != nil {
			return nil, err
		}
		out = append(out, Violation{Check: check, Subject: subject, Detail: detail})
	}
	return out, rows.Err()
}

// checkAccepted waits up to SettleWait for every accepted booking to be
// settled, then reports the missing and the unsettled ones.
func checkAccepted(ctx context.Context, db *sqlx.DB, o IntegrityOptions) ([]Violation, error) {
	ids := make([]string, len(o.Accepted))
	for i, id := range o.Accepted {
		ids[i] = id.String()
	}
	deadline := time.Now().Add(o.SettleWait)
	for {
		var rows []struct {
			ID     string `db:"id"`
			Status string `db:"status"`
		}
		err := db.SelectContext(ctx, &rows, `SELECT id::text AS id, status FROM bookings WHERE id = ANY($1::uuid[])`, pq.Array(ids))
		if err != nil {
			return nil, fmt.Errorf("audit accepted: %w", err)
		}
		found := make(map[string]string, len(rows))
		for _, r := range rows {
			found[r.ID] = r.Status
		}
		var out []Violation
		for _, id := range ids {
			st, ok := found[id]
			switch {
			case !ok:
				out = append(out, Violation{Check: CheckAcceptedMissing, Subject: id, Detail: "accepted (202) but no such booking"})
			case !settled(st):
				out = append(out, Violation{Check: CheckAcceptedUnsettled, Subject: id, Detail: "still " + st})
			}
		}
		if len(out) == 0 || !time.Now().Before(deadline) {
			if len(out) > o.Limit {
				out = append(out[:o.Limit], Violation{Check: out[o.Limit].Check, Subject: "…",
					Detail: fmt.Sprintf("%d more not shown", len(out)-o.Limit)})
			}
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func settled(status string) bool { return evently.BookingStatus(status).Settled() }
