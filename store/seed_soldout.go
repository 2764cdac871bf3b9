package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/evently/evently"
)

// The sold-out demo (issue 16): one small event whose 20 seats are all
// sold, in confirmed bookings written as the booking worker writes a
// booking charged in its commit (booking, booking seats, history reserved
// → paying → confirmed, a succeeded charge), and three parties waiting for
// seats to come back. Cancelling alice's booking of two hands its seats to
// the first party in line, bob's party of two (docs/waitlist.md).
//
// The charges were never made at a payment gateway: the in-memory payment
// simulator's ledger does not know them, so `evently reconcile` reports
// the seeded confirmed bookings as confirmed_not_charged, and cancelling
// one refunds nothing at the gateway (the payment worker finds no charge
// to give back). The integrity audit (CheckIntegrity) accepts them.

// SoldOutTitle is the sold-out demo event's title.
const SoldOutTitle = "Songwriters in the Round"

var soldOutEvent = seedEvent{SoldOutTitle, "music", "attic",
	"Four songwriters, one small room, twenty seats. Sold out: join the waitlist for seats that come back.",
	20, 20, []int64{3000}}

// SoldOutEventID is the sold-out demo event's id.
var SoldOutEventID = seedID("event", SoldOutTitle)

// seedSoldOutBookings sell the room's seats in layout order.
var seedSoldOutBookings = []struct {
	user  string
	seats int
}{{"alice", 2}, {"dave", 8}, {"erin", 10}}

// seedSoldOutWaiting are the parties waiting, in the order they joined.
var seedSoldOutWaiting = []struct {
	user  string
	party int
}{{"bob", 2}, {"carol", 1}, {"frank", 4}}

// SoldOutBookingID is the id of the user's seeded booking on the sold-out
// event (alice, dave and erin have one).
func SoldOutBookingID(user string) uuid.UUID { return seedID("booking", SoldOutTitle+"/"+user) }

// SoldOutEntryID is the id of the user's seeded waitlist entry on the
// sold-out event (bob, carol and frank have one).
func SoldOutEntryID(user string) uuid.UUID { return seedID("waitlist", SoldOutTitle+"/"+user) }

// seedSoldOut sells every seat of the freshly published event e and puts
// the waiting parties in line.
func seedSoldOut(ctx context.Context, tx *sqlx.Tx, e *evently.Event, users map[string]uuid.UUID, day0 time.Time) error {
	var seats []struct {
		ID    string `db:"seat_id"`
		Price int64  `db:"price_cents"`
	}
	if err := tx.SelectContext(ctx, &seats, `SELECT es.seat_id, es.price_cents FROM event_seats es
		JOIN seats s ON s.venue_id = $2 AND s.id = es.seat_id
		WHERE es.event_id = $1 ORDER BY s.ordinal`, e.ID, e.VenueID); err != nil {
		return err
	}
	next := 0
	for i, b := range seedSoldOutBookings {
		if next+b.seats > len(seats) {
			return fmt.Errorf("seed: %s has %d seats, too few for the sold-out bookings", e.Title, len(seats))
		}
		id := SoldOutBookingID(b.user)
		var ids []string
		var prices []int64
		var amount int64
		for _, s := range seats[next : next+b.seats] {
			ids, prices, amount = append(ids, s.ID), append(prices, s.Price), amount+s.Price
		}
		next += b.seats
		// Booked a few days before the first run, an hour apart, paid two
		// seconds after the commit that reserved the seats.
		at := day0.AddDate(0, 0, -3).Add(time.Duration(10+i) * time.Hour)
		paid := at.Add(2 * time.Second)
		if _, err := tx.ExecContext(ctx, `INSERT INTO bookings (id, user_id, event_id, status, amount_cents, currency,
				payment_token, expires_at, accepted_at, version, created_at, updated_at)
			VALUES ($1, $2, $3, 'confirmed', $4, $5, 'tok_visa', $6, $7, 3, $7, $8)`,
			id, users[b.user], e.ID, amount, e.Currency, at.Add(10*time.Minute), at, paid); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO booking_seats (booking_id, event_id, seat_id, price_cents)
			SELECT $1, $2, s, p FROM unnest($3::text[], $4::bigint[]) AS v(s, p)`,
			id, e.ID, pq.Array(ids), pq.Array(prices)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE event_seats SET status = 'sold', booking_id = $3, version = version + 1
			WHERE event_id = $1 AND seat_id = ANY($2) AND status = 'available'`, e.ID, pq.Array(ids), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(len(ids)) {
			return fmt.Errorf("seed: sold %d of %d seats of %s: %v", n, len(ids), e.Title, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO booking_history (booking_id, status, at)
			VALUES ($1, 'reserved', $2), ($1, 'paying', $2), ($1, 'confirmed', $3)`, id, at, paid); err != nil {
			return err
		}
		// As the booking worker records a charge reply: keyed by booking and
		// gateway reference.
		ref := "ch_seed_" + b.user
		if _, err := tx.ExecContext(ctx, `INSERT INTO payments (id, booking_id, kind, idempotency_key, status, amount_cents,
				currency, gateway_ref, created_at, updated_at)
			VALUES ($1, $2, 'charge', $3, 'succeeded', $4, $5, $6, $7, $7)`,
			seedID("payment", id.String()), id, "charge:"+id.String()+":"+ref, amount, e.Currency, ref, paid); err != nil {
			return err
		}
	}
	if next != len(seats) {
		return fmt.Errorf("seed: the sold-out bookings take %d of the %d seats of %s", next, len(seats), e.Title)
	}
	// Joined the day before the first run, a few minutes apart.
	for i, w := range seedSoldOutWaiting {
		at := day0.AddDate(0, 0, -1).Add(18*time.Hour + time.Duration(i*7)*time.Minute)
		if _, err := tx.ExecContext(ctx, `INSERT INTO waitlist_entries (id, event_id, user_id, party_size, status, created_at, updated_at)
			VALUES ($1, $2, $3, $4, 'waiting', $5, $5)`, SoldOutEntryID(w.user), e.ID, users[w.user], w.party, at); err != nil {
			return err
		}
	}
	return nil
}
