// Package naive is the conventional baseline the on-sale benchmark compares
// Evently with: a synchronous booking server over the same PostgreSQL schema,
// serving the same buyer journey (seat map, hold, book with payment).
//
// One request is one transaction. A hold locks the event's seats with
// SELECT … FOR UPDATE (in seat order), refuses seats sold or in a live hold
// (anyone's, as Evently does), and records the hold in PostgreSQL (naive_holds, naive_hold_seats,
// created at start). A booking of a hold locks the hold and its seats,
// charges the payment gateway (paysim) over HTTP inside the transaction,
// then marks the seats sold and inserts the booking confirmed (or failed
// with payment_declined), drops the hold and commits: the answer is final.
// No Redis, no Kafka, no workers. It serves the small part of Evently's
// HTTP contract the load generator needs.
package naive

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"golang.org/x/crypto/bcrypt"

	"github.com/evently/evently"
	"github.com/evently/evently/gateway"
)

// Server is the naive booking server.
type Server struct {
	DB  *sqlx.DB
	Log *slog.Logger
	// Pay charges bookings made from a hold; nil refuses them (503).
	Pay *gateway.Client
	// HoldTTL is how long a hold lasts (default 5 minutes).
	HoldTTL time.Duration

	mu     sync.RWMutex
	tokens map[string]uuid.UUID // access token → user
}

// New returns a server over db.
func New(db *sqlx.DB, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{DB: db, Log: log, HoldTTL: 5 * time.Minute, tokens: map[string]uuid.UUID{}}
}

// Schema is the naive server's own tables for holds, created at start by
// Migrate: one row per hold, and one row per held seat (at most one hold
// per seat; an expired one is taken over).
const Schema = `
CREATE TABLE IF NOT EXISTS naive_holds (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL,
    event_id   uuid NOT NULL,
    seat_ids   text[] NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS naive_hold_seats (
    event_id   uuid NOT NULL,
    seat_id    text NOT NULL,
    hold_id    uuid NOT NULL REFERENCES naive_holds (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (event_id, seat_id)
);
CREATE INDEX IF NOT EXISTS naive_hold_seats_hold ON naive_hold_seats (hold_id);
`

// Migrate creates the hold tables when they are missing.
func (s *Server) Migrate(ctx context.Context) error {
	_, err := s.DB.ExecContext(ctx, Schema)
	return err
}

// Handler routes the API subset.
func (s *Server) Handler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	m.HandleFunc("POST /api/v1/auth/login", s.login)
	m.HandleFunc("GET /api/v1/events/{id}", s.event)
	m.HandleFunc("GET /api/v1/events/{id}/seats", s.seats)
	m.HandleFunc("POST /api/v1/events/{id}/holds", s.auth(s.hold))
	m.HandleFunc("DELETE /api/v1/holds/{id}", s.auth(s.release))
	m.HandleFunc("POST /api/v1/bookings", s.auth(s.book))
	m.HandleFunc("GET /api/v1/bookings/{id}", s.auth(s.getBooking))
	m.HandleFunc("POST /api/v1/bookings/{id}/cancel", s.auth(s.cancel))
	return m
}

type ctxUser struct{}

func (s *Server) auth(next func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.RLock()
		uid, known := s.tokens[tok]
		s.mu.RUnlock()
		if !ok || !known {
			problem(w, http.StatusUnauthorized, "unauthorized", "Log in first.", nil)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), ctxUser{}, uid)))
	}
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var in struct{ Email, Password string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Email == "" {
		problem(w, http.StatusBadRequest, "malformed", "Send {email, password}.", nil)
		return
	}
	var u struct {
		ID   uuid.UUID `db:"id"`
		Hash []byte    `db:"password_hash"`
	}
	err := s.DB.GetContext(r.Context(), &u, `SELECT id, password_hash FROM users WHERE lower(email) = lower($1) AND NOT disabled`, in.Email)
	if err == nil {
		err = bcrypt.CompareHashAndPassword(u.Hash, []byte(in.Password))
	}
	if err != nil {
		if !errors.Is(err, sql.ErrNoRows) && !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			s.Log.Error("login", "err", err)
		}
		problem(w, http.StatusUnauthorized, "unauthorized", "Wrong email or password.", nil)
		return
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	s.mu.Lock()
	s.tokens[tok] = u.ID
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"access_token": tok, "refresh_token": "", "token_type": "Bearer", "expires_in": 3600})
}

func (s *Server) event(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		problem(w, 404, "not_found", "No such event.", nil)
		return
	}
	var e struct {
		ID        uuid.UUID `db:"id" json:"id"`
		Title     string    `db:"title" json:"title"`
		Status    string    `db:"status" json:"status"`
		Capacity  int       `db:"capacity" json:"capacity"`
		Available int       `db:"available" json:"available_seats"`
	}
	err = s.DB.GetContext(r.Context(), &e, `SELECT id, title, status,
		(SELECT count(*) FROM event_seats WHERE event_id = $1) AS capacity,
		(SELECT count(*) FROM event_seats WHERE event_id = $1 AND status = 'available') AS available
		FROM events WHERE id = $1`, id)
	if err != nil {
		s.fail(w, err, "event")
		return
	}
	writeJSON(w, 200, e)
}

// Seat is one entry of the seat map.
type Seat struct {
	ID         string `db:"seat_id" json:"id"`
	Section    string `db:"section" json:"section"`
	Row        string `db:"row_label" json:"row"`
	Number     int    `db:"number" json:"number"`
	Tier       string `db:"tier" json:"tier"`
	PriceCents int64  `db:"price_cents" json:"price_cents"`
	Status     string `db:"status" json:"status"`
}

func (s *Server) seats(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		problem(w, 404, "not_found", "No such event.", nil)
		return
	}
	var seats []Seat
	err = s.DB.SelectContext(r.Context(), &seats, `SELECT es.seat_id, es.section, es.row_label, es.number, es.tier, es.price_cents,
			CASE WHEN es.status = 'available' AND hs.seat_id IS NOT NULL THEN 'held' ELSE es.status END AS status
		FROM event_seats es
		LEFT JOIN naive_hold_seats hs ON hs.event_id = es.event_id AND hs.seat_id = es.seat_id AND hs.expires_at > now()
		WHERE es.event_id = $1 ORDER BY es.section, length(es.row_label), es.row_label, es.number`, id)
	if err != nil {
		s.fail(w, err, "seats")
		return
	}
	if len(seats) == 0 {
		problem(w, 404, "not_found", "No such event.", nil)
		return
	}
	writeJSON(w, 200, map[string]any{"event_id": id, "seats": seats})
}

// Booking is the answer about a booking.
type Booking struct {
	ID          uuid.UUID `db:"id" json:"id"`
	EventID     uuid.UUID `db:"event_id" json:"event_id"`
	Status      string    `db:"status" json:"status"`
	Reason      *string   `db:"reason" json:"reason,omitempty"`
	AmountCents int64     `db:"amount_cents" json:"amount_cents"`
	Currency    string    `db:"currency" json:"currency"`
	SeatIDs     []string  `db:"-" json:"seat_ids"`
}

type conflictError struct{ seats []string }

func (conflictError) Error() string { return "seats taken" }

func (s *Server) book(w http.ResponseWriter, r *http.Request) {
	user := r.Context().Value(ctxUser{}).(uuid.UUID)
	var in struct {
		HoldID  *uuid.UUID `json:"hold_id"`
		Payment *struct {
			Token string `json:"token"`
		} `json:"payment"`
		EventID uuid.UUID `json:"event_id"`
		SeatIDs []string  `json:"seat_ids"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		problem(w, 400, "malformed", "Send {hold_id, payment: {token}} or {event_id, seat_ids}.", nil)
		return
	}
	if in.HoldID != nil {
		token := ""
		if in.Payment != nil {
			token = in.Payment.Token
		}
		s.bookHold(w, r, user, *in.HoldID, token)
		return
	}
	seen := map[string]bool{}
	for _, id := range in.SeatIDs {
		if seen[id] {
			problem(w, 422, "invalid", "Duplicate seat "+id+".", nil)
			return
		}
		seen[id] = true
	}
	if len(in.SeatIDs) == 0 || len(in.SeatIDs) > evently.MaxSeatsPerBooking {
		problem(w, 422, "invalid", "Book 1 to 10 seats.", nil)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if key != "" {
		if b, err := s.bookingByKey(r.Context(), user, key); err == nil {
			writeJSON(w, 201, b)
			return
		}
	}
	b, err := s.commit(r.Context(), user, in.EventID, in.SeatIDs, key)
	var ce conflictError
	switch {
	case errors.As(err, &ce):
		problem(w, 409, "conflict", "Seats already sold.", map[string]any{"conflicts": ce.seats})
	case isUnique(err, "bookings_idempotency"):
		if b, err := s.bookingByKey(r.Context(), user, key); err == nil {
			writeJSON(w, 201, b)
			return
		}
		problem(w, 409, "conflict", "Booking with this key in progress.", nil)
	case err != nil:
		s.fail(w, err, "booking")
	default:
		w.Header().Set("Location", "/api/v1/bookings/"+b.ID.String())
		writeJSON(w, 201, b)
	}
}

// commit is the whole booking: one transaction, the seats locked in a
// fixed order (so two bookings never deadlock), checked, sold.
func (s *Server) commit(ctx context.Context, user, event uuid.UUID, seatIDs []string, key string) (*Booking, error) {
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
	var amount int64
	for _, r := range rows {
		if r.Status != "available" {
			taken = append(taken, r.ID)
		}
		amount += r.Price
	}
	if len(taken) == 0 {
		if taken, err = heldByOthers(ctx, tx, user, event, sorted); err != nil {
			return nil, err
		}
	}
	if len(taken) > 0 {
		return nil, conflictError{taken}
	}
	b := &Booking{ID: evently.NewID(), EventID: event, Status: "confirmed", AmountCents: amount, Currency: "USD", SeatIDs: sorted}
	var k *string
	if key != "" {
		k = &key
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO bookings (id, user_id, event_id, status, amount_cents, currency, idempotency_key)
		VALUES ($1, $2, $3, 'confirmed', $4, 'USD', $5)`, b.ID, user, event, amount, k); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO booking_seats (booking_id, event_id, seat_id, price_cents)
		SELECT $1, $2, es.seat_id, es.price_cents FROM event_seats es WHERE es.event_id = $2 AND es.seat_id = ANY($3)`,
		b.ID, event, pq.Array(sorted)); err != nil {
		return nil, err
	}
	res, err := tx.ExecContext(ctx, `UPDATE event_seats SET status = 'sold', booking_id = $3, version = version + 1
		WHERE event_id = $1 AND seat_id = ANY($2) AND status = 'available'`, event, pq.Array(sorted), b.ID)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n != int64(len(sorted)) {
		return nil, conflictError{sorted}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO booking_history (booking_id, status) VALUES ($1, 'confirmed')`, b.ID); err != nil {
		return nil, err
	}
	return b, tx.Commit()
}

func (s *Server) bookingByKey(ctx context.Context, user uuid.UUID, key string) (*Booking, error) {
	var id uuid.UUID
	if err := s.DB.GetContext(ctx, &id, `SELECT id FROM bookings WHERE user_id = $1 AND idempotency_key = $2`, user, key); err != nil {
		return nil, err
	}
	return s.load(ctx, user, id)
}

func (s *Server) load(ctx context.Context, user, id uuid.UUID) (*Booking, error) {
	var b Booking
	if err := s.DB.GetContext(ctx, &b, `SELECT id, event_id, status, reason, amount_cents, currency FROM bookings WHERE id = $1 AND user_id = $2`, id, user); err != nil {
		return nil, err
	}
	if err := s.DB.SelectContext(ctx, &b.SeatIDs, `SELECT seat_id FROM booking_seats WHERE booking_id = $1 ORDER BY seat_id`, id); err != nil {
		return nil, err
	}
	return &b, nil
}

func (s *Server) getBooking(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		problem(w, 404, "not_found", "No such booking.", nil)
		return
	}
	b, err := s.load(r.Context(), r.Context().Value(ctxUser{}).(uuid.UUID), id)
	if err != nil {
		s.fail(w, err, "booking")
		return
	}
	writeJSON(w, 200, b)
}

// cancel releases a confirmed booking's seats at once (no refund: the naive
// server takes no money).
func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	user := r.Context().Value(ctxUser{}).(uuid.UUID)
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		problem(w, 404, "not_found", "No such booking.", nil)
		return
	}
	err = func() error {
		tx, err := s.DB.BeginTxx(r.Context(), nil)
		if err != nil {
			return err
		}
		defer tx.Rollback() //nolint:errcheck
		var status string
		if err := tx.GetContext(r.Context(), &status, `SELECT status FROM bookings WHERE id = $1 AND user_id = $2 FOR UPDATE`, id, user); err != nil {
			return err
		}
		if status != "confirmed" {
			return evently.Errorf(evently.ECONFLICT, "Booking is %s.", status)
		}
		for _, q := range []string{
			`UPDATE bookings SET status = 'cancelled', version = version + 1, updated_at = now() WHERE id = $1`,
			`UPDATE event_seats SET status = 'available', booking_id = NULL, version = version + 1 WHERE booking_id = $1`,
			`UPDATE booking_seats SET active = false WHERE booking_id = $1`,
			`INSERT INTO booking_history (booking_id, status) VALUES ($1, 'cancelled')`,
		} {
			if _, err := tx.ExecContext(r.Context(), q, id); err != nil {
				return err
			}
		}
		return tx.Commit()
	}()
	if err != nil {
		s.fail(w, err, "booking")
		return
	}
	writeJSON(w, 202, map[string]any{"id": id, "status": "cancelled"})
}

func (s *Server) fail(w http.ResponseWriter, err error, what string) {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		problem(w, 404, "not_found", "No such "+what+".", nil)
	case evently.ErrorCode(err) == evently.EINVALID:
		problem(w, 422, "invalid", evently.ErrorMessage(err), nil)
	case evently.ErrorCode(err) == evently.ECONFLICT:
		problem(w, 409, "conflict", evently.ErrorMessage(err), nil)
	case errors.Is(err, context.Canceled):
		problem(w, 499, "cancelled", "Client went away.", nil)
	default:
		s.Log.Error(what, "err", err)
		problem(w, 500, "internal", "Internal error.", nil)
	}
}

func isUnique(err error, constraint string) bool {
	var pe *pq.Error
	return errors.As(err, &pe) && pe.Code == "23505" && pe.Constraint == constraint
}

func problem(w http.ResponseWriter, status int, code, detail string, extra map[string]any) {
	body := map[string]any{"type": "about:blank", "title": http.StatusText(status), "status": status, "code": code, "detail": detail}
	for k, v := range extra {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
