package naive

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/evently/evently"
	"github.com/evently/evently/gateway"
)

// Hold is the answer about a hold.
type Hold struct {
	ID        uuid.UUID `json:"id"`
	EventID   uuid.UUID `json:"event_id"`
	SeatIDs   []string  `json:"seat_ids"`
	ExpiresAt time.Time `json:"expires_at"`
}

// heldByOthers lists the seats of sorted held by another user's unexpired
// hold. The caller holds the seats' row locks.
func heldByOthers(ctx context.Context, tx *sqlx.Tx, user, event uuid.UUID, sorted []string) ([]string, error) {
	var held []string
	err := tx.SelectContext(ctx, &held, `SELECT seat_id FROM naive_hold_seats
		WHERE event_id = $1 AND seat_id = ANY($2) AND expires_at > now() AND user_id <> $3 ORDER BY seat_id`,
		event, pq.Array(sorted), user)
	return held, err
}

// held lists the seats of sorted in any unexpired hold, the caller's own
// included (as Evently's hold script refuses a seat that has a live hold
// key, whoever holds it). The caller holds the seats' row locks.
func held(ctx context.Context, tx *sqlx.Tx, event uuid.UUID, sorted []string) ([]string, error) {
	var ids []string
	err := tx.SelectContext(ctx, &ids, `SELECT seat_id FROM naive_hold_seats
		WHERE event_id = $1 AND seat_id = ANY($2) AND expires_at > now() ORDER BY seat_id`,
		event, pq.Array(sorted))
	return ids, err
}

// lockSeats locks the event's seats in seat order (so two requests never
// deadlock) and returns them; an error when some are not in the published
// event.
func lockSeats(ctx context.Context, tx *sqlx.Tx, event uuid.UUID, sorted []string) ([]seatRow, error) {
	var rows []seatRow
	err := tx.SelectContext(ctx, &rows, `SELECT es.seat_id, es.status, es.price_cents FROM event_seats es
		JOIN events e ON e.id = es.event_id AND e.status = 'published'
		WHERE es.event_id = $1 AND es.seat_id = ANY($2) ORDER BY es.seat_id FOR UPDATE OF es`, event, pq.Array(sorted))
	if err != nil {
		return nil, err
	}
	if len(rows) != len(sorted) {
		return nil, evently.Errorf(evently.EINVALID, "Some seats are not in this event.")
	}
	return rows, nil
}

type seatRow struct {
	ID     string `db:"seat_id"`
	Status string `db:"status"`
	Price  int64  `db:"price_cents"`
}

// validSeats checks a seat list: 1 to 10 seats, no duplicates.
func validSeats(w http.ResponseWriter, ids []string) bool {
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			problem(w, 422, "invalid", "Duplicate seat "+id+".", nil)
			return false
		}
		seen[id] = true
	}
	if len(ids) == 0 || len(ids) > evently.MaxSeatsPerBooking {
		problem(w, 422, "invalid", "Hold 1 to 10 seats.", nil)
		return false
	}
	return true
}

// hold is POST /events/{id}/holds: one transaction, the seats locked,
// checked against sales and other users' holds, the hold recorded.
func (s *Server) hold(w http.ResponseWriter, r *http.Request) {
	user := r.Context().Value(ctxUser{}).(uuid.UUID)
	event, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		problem(w, 404, "not_found", "No such event.", nil)
		return
	}
	var in struct {
		SeatIDs []string `json:"seat_ids"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		problem(w, 400, "malformed", "Send {seat_ids}.", nil)
		return
	}
	if !validSeats(w, in.SeatIDs) {
		return
	}
	h, err := s.takeHold(r.Context(), user, event, in.SeatIDs)
	var ce conflictError
	switch {
	case errors.As(err, &ce):
		problem(w, 409, "conflict", "Seats already held or sold.", map[string]any{"conflicts": ce.seats})
	case err != nil:
		s.fail(w, err, "event")
	default:
		w.Header().Set("Location", "/api/v1/holds/"+h.ID.String())
		writeJSON(w, 201, h)
	}
}

func (s *Server) takeHold(ctx context.Context, user, event uuid.UUID, seatIDs []string) (*Hold, error) {
	sorted := append([]string(nil), seatIDs...)
	sort.Strings(sorted)
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck
	rows, err := lockSeats(ctx, tx, event, sorted)
	if err != nil {
		return nil, err
	}
	var taken []string
	for _, r := range rows {
		if r.Status != "available" {
			taken = append(taken, r.ID)
		}
	}
	if len(taken) == 0 {
		if taken, err = held(ctx, tx, event, sorted); err != nil {
			return nil, err
		}
	}
	if len(taken) > 0 {
		return nil, conflictError{taken}
	}
	ttl := s.HoldTTL
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	h := &Hold{ID: evently.NewID(), EventID: event, SeatIDs: sorted, ExpiresAt: time.Now().Add(ttl).UTC().Truncate(time.Microsecond)}
	if _, err := tx.ExecContext(ctx, `INSERT INTO naive_holds (id, user_id, event_id, seat_ids, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		h.ID, user, event, pq.Array(sorted), h.ExpiresAt); err != nil {
		return nil, err
	}
	// Expired holds give their seats up.
	if _, err := tx.ExecContext(ctx, `INSERT INTO naive_hold_seats (event_id, seat_id, hold_id, user_id, expires_at)
		SELECT $1, unnest($2::text[]), $3, $4, $5
		ON CONFLICT (event_id, seat_id) DO UPDATE SET hold_id = EXCLUDED.hold_id, user_id = EXCLUDED.user_id, expires_at = EXCLUDED.expires_at`,
		event, pq.Array(sorted), h.ID, user, h.ExpiresAt); err != nil {
		return nil, err
	}
	return h, tx.Commit()
}

// release is DELETE /holds/{id}: the owner drops the hold at once.
func (s *Server) release(w http.ResponseWriter, r *http.Request) {
	user := r.Context().Value(ctxUser{}).(uuid.UUID)
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		problem(w, 404, "not_found", "No such hold.", nil)
		return
	}
	res, err := s.DB.ExecContext(r.Context(), `DELETE FROM naive_holds WHERE id = $1 AND user_id = $2`, id, user)
	if err != nil {
		s.fail(w, err, "hold")
		return
	}
	if n, _ := res.RowsAffected(); n == 0 {
		problem(w, 404, "not_found", "No such hold.", nil)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// errPaymentUnavailable: the gateway could not be reached or refused the
// request; nothing was committed and the hold stays.
var errPaymentUnavailable = errors.New("payment gateway unavailable")

// bookHold is POST /bookings {hold_id, payment:{token}}: one transaction,
// the hold and its seats locked, the charge made while they are, then the
// seats sold and the booking confirmed (or failed, payment_declined, with
// the seats left on sale), the hold dropped, committed. The same
// Idempotency-Key returns the same booking.
func (s *Server) bookHold(w http.ResponseWriter, r *http.Request, user, holdID uuid.UUID, token string) {
	ctx := r.Context()
	key := r.Header.Get("Idempotency-Key")
	if key != "" {
		if b, err := s.bookingByKey(ctx, user, key); err == nil {
			writeJSON(w, 201, b)
			return
		}
	}
	if token == "" {
		problem(w, 422, "invalid", "Send payment: {token}.", nil)
		return
	}
	if s.Pay == nil {
		problem(w, 503, "payment_unavailable", "No payment gateway configured.", nil)
		return
	}
	// Once the charge may be made the booking is finished even if the
	// client goes away: a cancelled transaction after a charge would
	// leave money taken for no booking.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	b, err := s.payHold(pctx, user, holdID, token, key)
	var ce conflictError
	switch {
	case errors.Is(err, sql.ErrNoRows), errors.Is(err, errHoldGone):
		// A concurrent request with the same key may have used the hold.
		if key != "" {
			if b, err := s.bookingByKey(ctx, user, key); err == nil {
				writeJSON(w, 201, b)
				return
			}
		}
		problem(w, 404, "not_found", "No such hold.", nil)
	case errors.As(err, &ce):
		problem(w, 409, "conflict", "Seats of the hold were taken.", map[string]any{"conflicts": ce.seats})
	case isUnique(err, "bookings_idempotency"):
		if b, err := s.bookingByKey(ctx, user, key); err == nil {
			writeJSON(w, 201, b)
			return
		}
		problem(w, 409, "conflict", "Booking with this key in progress.", nil)
	case errors.Is(err, errPaymentUnavailable):
		w.Header().Set("Retry-After", "1")
		problem(w, 503, "payment_unavailable", "The payment gateway is unavailable; try again.", nil)
	case err != nil:
		s.fail(w, err, "hold")
	default:
		w.Header().Set("Location", "/api/v1/bookings/"+b.ID.String())
		writeJSON(w, 201, b)
	}
}

var errHoldGone = errors.New("hold gone")

func (s *Server) payHold(ctx context.Context, user, holdID uuid.UUID, token, key string) (*Booking, error) {
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck
	var h struct {
		UserID    uuid.UUID      `db:"user_id"`
		EventID   uuid.UUID      `db:"event_id"`
		SeatIDs   pq.StringArray `db:"seat_ids"`
		ExpiresAt time.Time      `db:"expires_at"`
	}
	if err := tx.GetContext(ctx, &h, `SELECT user_id, event_id, seat_ids, expires_at FROM naive_holds WHERE id = $1 FOR UPDATE`, holdID); err != nil {
		return nil, err
	}
	if h.UserID != user {
		return nil, errHoldGone // someone else's hold: not found for this user
	}
	if !h.ExpiresAt.After(time.Now()) {
		return nil, evently.Errorf(evently.ECONFLICT, "The hold has expired.")
	}
	sorted := append([]string(nil), h.SeatIDs...)
	sort.Strings(sorted)
	rows, err := lockSeats(ctx, tx, h.EventID, sorted)
	if err != nil {
		return nil, err
	}
	var amount int64
	var taken []string
	for _, r := range rows {
		if r.Status != "available" {
			taken = append(taken, r.ID)
		}
		amount += r.Price
	}
	// Every seat must still be this hold's (a seat of an expired hold can
	// have been taken over before the hold row was looked at).
	var mine []string
	if err := tx.SelectContext(ctx, &mine, `SELECT seat_id FROM naive_hold_seats WHERE event_id = $1 AND seat_id = ANY($2) AND hold_id = $3`,
		h.EventID, pq.Array(sorted), holdID); err != nil {
		return nil, err
	}
	if len(taken) == 0 && len(mine) != len(sorted) {
		have := map[string]bool{}
		for _, id := range mine {
			have[id] = true
		}
		for _, id := range sorted {
			if !have[id] {
				taken = append(taken, id)
			}
		}
	}
	if len(taken) > 0 {
		return nil, conflictError{taken}
	}

	b := &Booking{ID: evently.NewID(), EventID: h.EventID, AmountCents: amount, Currency: "USD", SeatIDs: sorted}
	// The charge, inside the transaction: the seats stay locked while the
	// gateway answers. The key is the booking's, as Evently's payment
	// worker uses (gateway.ChargeKey).
	res, err := s.Pay.Charge(ctx, gateway.ChargeRequest{BookingID: b.ID, AmountCents: amount, Currency: "USD", Token: token})
	switch res.Outcome {
	case gateway.Charged:
		b.Status = "confirmed"
	case gateway.Declined:
		b.Status = "failed"
		reason := "payment_declined"
		b.Reason = &reason
	default:
		s.Log.Warn("charge", "booking", b.ID, "outcome", res.Outcome, "err", err)
		return nil, errPaymentUnavailable
	}
	var k *string
	if key != "" {
		k = &key
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO bookings (id, user_id, event_id, hold_id, status, reason, amount_cents, currency, idempotency_key, payment_token)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 'USD', $8, $9)`, b.ID, user, h.EventID, holdID, b.Status, b.Reason, amount, k, token); err != nil {
		return nil, err
	}
	active := b.Status == "confirmed"
	if _, err := tx.ExecContext(ctx, `INSERT INTO booking_seats (booking_id, event_id, seat_id, price_cents, active)
		SELECT $1, $2, es.seat_id, es.price_cents, $4 FROM event_seats es WHERE es.event_id = $2 AND es.seat_id = ANY($3)`,
		b.ID, h.EventID, pq.Array(sorted), active); err != nil {
		return nil, err
	}
	if active {
		res, err := tx.ExecContext(ctx, `UPDATE event_seats SET status = 'sold', booking_id = $3, version = version + 1
			WHERE event_id = $1 AND seat_id = ANY($2) AND status = 'available'`, h.EventID, pq.Array(sorted), b.ID)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n != int64(len(sorted)) {
			return nil, conflictError{sorted}
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO booking_history (booking_id, status, reason) VALUES ($1, $2, $3)`, b.ID, b.Status, b.Reason); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM naive_holds WHERE id = $1`, holdID); err != nil {
		return nil, err
	}
	return b, tx.Commit()
}
