package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/store"
)

// world is a small event of four seats (s1..s4) and one buyer.
type world struct {
	t     *testing.T
	db    *sqlx.DB
	event uuid.UUID
	user  uuid.UUID
}

func newWorld(t *testing.T) *world {
	t.Helper()
	db := evtest.DB(t)
	w := &world{t: t, db: db, event: evently.NewID(), user: evently.NewID()}
	venue := evently.NewID()
	w.exec(`INSERT INTO users (id, email, password_hash) VALUES ($1, $2, 'x')`, w.user, w.user.String()+"@example.test")
	w.exec(`INSERT INTO venues (id, owner_id, name) VALUES ($1, $2, 'Hall')`, venue, w.user)
	w.exec(`INSERT INTO events (id, venue_id, organizer_id, title, status, starts_at, ends_at)
		VALUES ($1, $2, $3, 'Show', 'published', now() + interval '1 day', now() + interval '2 days')`, w.event, venue, w.user)
	for _, s := range []string{"s1", "s2", "s3", "s4"} {
		w.exec(`INSERT INTO event_seats (event_id, seat_id, price_cents) VALUES ($1, $2, 5000)`, w.event, s)
	}
	return w
}

func (w *world) exec(q string, args ...any) {
	w.t.Helper()
	if _, err := w.db.Exec(q, args...); err != nil {
		w.t.Fatalf("%s: %v", q, err)
	}
}

// book writes a booking the way a correct pipeline leaves it: seat rows
// active and seats sold to it while it holds them, inactive otherwise.
func (w *world) book(status evently.BookingStatus, seats ...string) uuid.UUID {
	w.t.Helper()
	id := evently.NewID()
	w.exec(`INSERT INTO bookings (id, user_id, event_id, status, amount_cents) VALUES ($1, $2, $3, $4, $5)`,
		id, w.user, w.event, status, 5000*len(seats))
	w.exec(`INSERT INTO booking_history (booking_id, status) VALUES ($1, 'pending')`, id)
	w.exec(`INSERT INTO booking_history (booking_id, status) VALUES ($1, $2)`, id, status)
	for _, s := range seats {
		w.exec(`INSERT INTO booking_seats (booking_id, event_id, seat_id, price_cents, active) VALUES ($1, $2, $3, 5000, $4)`,
			id, w.event, s, status.HoldsSeats())
		if status.HoldsSeats() {
			w.exec(`UPDATE event_seats SET status = 'sold', booking_id = $3, version = version + 1 WHERE event_id = $1 AND seat_id = $2`,
				w.event, s, id)
		}
	}
	return id
}

func (w *world) pay(booking uuid.UUID, kind, status string, cents int) {
	w.t.Helper()
	w.exec(`INSERT INTO payments (id, booking_id, kind, idempotency_key, status, amount_cents, currency) VALUES ($1, $2, $3, $4, $5, $6, 'USD')`,
		evently.NewID(), booking, kind, evently.NewID().String(), status, cents)
}

func (w *world) audit(accepted ...uuid.UUID) []store.Violation {
	w.t.Helper()
	vs, err := store.CheckIntegrity(context.Background(), w.db, store.IntegrityOptions{
		EventIDs: []uuid.UUID{w.event}, Accepted: accepted, SettleWait: 300 * time.Millisecond})
	if err != nil {
		w.t.Fatal(err)
	}
	return vs
}

// wantOnly fails unless every violation is of the named checks and each
// named check is present.
func wantOnly(t *testing.T, vs []store.Violation, checks ...string) {
	t.Helper()
	seen := map[string]bool{}
	for _, v := range vs {
		seen[v.Check] = true
	}
	for _, c := range checks {
		if !seen[c] {
			t.Errorf("want a %s violation, got %v", c, vs)
		}
		delete(seen, c)
	}
	for c := range seen {
		t.Errorf("unexpected %s violation in %v", c, vs)
	}
}

// cleanHistory is a run's worth of healthy outcomes.
func (w *world) cleanHistory() []uuid.UUID {
	confirmed := w.book(evently.BookingConfirmed, "s1", "s2")
	w.pay(confirmed, "charge", "succeeded", 10000)
	failed := w.book(evently.BookingFailed, "s1") // lost the race: seats_taken
	declined := w.book(evently.BookingFailed, "s3")
	w.pay(declined, "charge", "declined", 5000)
	cancelled := w.book(evently.BookingCancelled, "s4")
	w.pay(cancelled, "charge", "succeeded", 5000)
	w.pay(cancelled, "refund", "succeeded", 5000)
	resold := w.book(evently.BookingReserved, "s4")
	return []uuid.UUID{confirmed, failed, declined, cancelled, resold}
}

func TestIntegrityCleanPasses(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	accepted := w.cleanHistory()
	// reserved is not settled: accept all but that one.
	if vs := w.audit(accepted[:4]...); len(vs) != 0 {
		t.Fatalf("clean data set: %v", vs)
	}
}

// The unique index booking_seats_one_active stops a second ACTIVE row for
// a seat, so a double sale cannot be planted naively. Two plantings:
//   - the shape a buggy committer could still produce with the index in
//     place: a second booking marked confirmed whose seat row was
//     deactivated, while the seat itself stays sold to the first booking;
//   - the index dropped in this test's own database, then two active rows.
func TestIntegrityCatchesDoubleBooking(t *testing.T) {
	t.Parallel()
	t.Run("inactive row under a confirmed booking", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.cleanHistory()
		first := w.book(evently.BookingConfirmed, "s3")
		second := evently.NewID()
		w.exec(`INSERT INTO bookings (id, user_id, event_id, status) VALUES ($1, $2, $3, 'confirmed')`, second, w.user, w.event)
		w.exec(`INSERT INTO booking_seats (booking_id, event_id, seat_id, active) VALUES ($1, $2, 's3', false)`, second, w.event)
		vs := w.audit(first, second)
		wantOnly(t, vs, store.CheckSeatTwoHolding, store.CheckInactiveHolding, store.CheckBookingSeatNotSold)
	})
	t.Run("two active rows without the index", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.cleanHistory()
		w.exec(`DROP INDEX booking_seats_one_active`)
		first := w.book(evently.BookingConfirmed, "s3")
		second := w.book(evently.BookingConfirmed, "s3") // steals the event seat
		vs := w.audit(first, second)
		wantOnly(t, vs, store.CheckSeatTwoActive, store.CheckSeatTwoHolding, store.CheckBookingSeatNotSold)
		if !strings.Contains(vs[0].Subject, "/s3") {
			t.Errorf("subject %q should name the seat", vs[0].Subject)
		}
	})
}

func TestIntegrityCatchesLostAcceptedBooking(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	accepted := w.cleanHistory()
	lost := evently.NewID() // a 202 was given for it, and it never reached the database
	stuck := w.book(evently.BookingPending)
	vs := w.audit(append(accepted[:4], lost, stuck)...)
	wantOnly(t, vs, store.CheckAcceptedMissing, store.CheckAcceptedUnsettled)
	for _, v := range vs {
		if v.Check == store.CheckAcceptedMissing && v.Subject != lost.String() {
			t.Errorf("missing %s, want %s", v.Subject, lost)
		}
	}
}

func TestIntegrityCatchesDoubleCharge(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	accepted := w.cleanHistory()
	// A second successful charge for the confirmed booking, under its own
	// idempotency key: what a redelivered payment request must never cause.
	w.pay(accepted[0], "charge", "succeeded", 10000)
	wantOnly(t, w.audit(accepted[:4]...), store.CheckDoubleCharge)
}

func TestIntegrityCatchesLeakedSeats(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	accepted := w.cleanHistory()
	// A compensation that marked the booking failed but kept the seat sold.
	failed := w.book(evently.BookingConfirmed, "s3")
	w.exec(`UPDATE bookings SET status = 'failed' WHERE id = $1`, failed)
	w.exec(`INSERT INTO booking_history (booking_id, status) VALUES ($1, 'confirmed'), ($1, 'failed'), ($1, 'confirmed')`, failed)
	vs := w.audit(append(accepted[:4], failed)...)
	wantOnly(t, vs, store.CheckSoldWithoutBooking, store.CheckActiveOnSettled, store.CheckLeftTerminal)
}

func TestIntegrityReconcileHook(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.cleanHistory()
	vs, err := store.CheckIntegrity(context.Background(), w.db, store.IntegrityOptions{
		Reconcile: func(context.Context) ([]string, error) {
			return []string{"gateway charged 1 booking not in ledger"}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	wantOnly(t, vs, store.CheckLedger)
}

// A booking's child rows and the inbox have no foreign keys (migration
// 00008); the audit finds a row whose parent is missing.
func TestIntegrityCatchesOrphans(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	accepted := w.cleanHistory()
	ghost := evently.NewID()
	w.exec(`INSERT INTO booking_history (booking_id, status) VALUES ($1, 'pending')`, ghost)
	w.exec(`INSERT INTO payments (id, booking_id, kind, idempotency_key, status, amount_cents, currency) VALUES ($1, $2, 'charge', $3, 'failed', 0, 'USD')`,
		evently.NewID(), ghost, evently.NewID().String())
	w.exec(`INSERT INTO notifications (id, user_id, type) VALUES ($1, $2, 'booking.failed')`, evently.NewID(), evently.NewID())
	vs := w.audit(accepted[:4]...)
	wantOnly(t, vs, store.CheckOrphan)
	if len(vs) != 3 {
		t.Fatalf("want 3 orphans, got %v", vs)
	}
}
