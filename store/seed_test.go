package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/evtest"
	"github.com/evently/evently/store"
)

// Seeding twice inserts the demo data once; the second run changes nothing
// and says so.
func TestSeedTwiceIsIdempotent(t *testing.T) {
	t.Parallel()
	db := evtest.DB(t)
	ctx := context.Background()
	opts := store.SeedOptions{BcryptCost: 4, Now: time.Now()}
	counts := func() map[string]int {
		out := map[string]int{}
		for _, table := range []string{"users", "venues", "seats", "events", "event_seats",
			"bookings", "booking_seats", "booking_history", "payments", "waitlist_entries"} {
			var n int
			if err := db.Get(&n, "SELECT count(*) FROM "+table); err != nil {
				t.Fatal(err)
			}
			out[table] = n
		}
		return out
	}

	first, err := store.Seed(ctx, db, opts)
	if err != nil {
		t.Fatal(err)
	}
	after := counts()
	tests := []struct {
		name      string
		got, want int
	}{
		{"users reported", first.Users, 9},
		{"users stored", after["users"], 9},
		{"venues", first.Venues, 6},
		{"seats (300 + 2,000 + 20,000 + 120 + 500 + 20)", after["seats"], 22940},
		{"published events", first.Events, 25},
		{"event seats reported", int(first.EventSeats), after["event_seats"]},
		{"credentials", len(first.Credentials), 9},
		{"sold-out bookings", after["bookings"], 3},
		{"sold-out booking seats", after["booking_seats"], 20},
		{"sold-out history (reserved, paying, confirmed)", after["booking_history"], 9},
		{"sold-out charges", after["payments"], 3},
		{"waiting parties", after["waitlist_entries"], 3},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, tt.got, tt.want)
		}
	}
	var capacities []int
	if err := db.Select(&capacities, `SELECT capacity FROM venues ORDER BY capacity`); err != nil {
		t.Fatal(err)
	}
	if len(capacities) != 6 || capacities[0] != 20 || capacities[2] != 300 || capacities[4] != 2000 || capacities[5] != 20000 {
		t.Errorf("venue capacities %v", capacities)
	}
	var unpublished, categories, cities int
	if err := db.Get(&unpublished, `SELECT count(*) FROM events WHERE status <> 'published' OR capacity = 0`); err != nil {
		t.Fatal(err)
	}
	if err := db.Get(&categories, `SELECT count(DISTINCT category) FROM events`); err != nil {
		t.Fatal(err)
	}
	if err := db.Get(&cities, `SELECT count(DISTINCT city) FROM events`); err != nil {
		t.Fatal(err)
	}
	if unpublished != 0 || categories < 5 || cities < 5 {
		t.Errorf("%d unpublished, %d categories, %d cities", unpublished, categories, cities)
	}

	opts.Now = opts.Now.Add(48 * time.Hour) // a later day changes nothing either
	second, err := store.Seed(ctx, db, opts)
	if err != nil {
		t.Fatal(err)
	}
	if second.Changed() || len(second.Credentials) != 9 {
		t.Errorf("second run reported %+v", second)
	}
	again := counts()
	for table, n := range after {
		if again[table] != n {
			t.Errorf("%s: %d rows after the second run, %d before", table, again[table], n)
		}
	}
}

// The seed's sold-out event: every seat sold in confirmed, charged
// bookings the integrity audit accepts, three parties waiting in the order
// they joined, and a second run (after the demo cancelled a booking)
// changes none of it.
func TestSeedSoldOutEventWithWaitlist(t *testing.T) {
	t.Parallel()
	db := evtest.DB(t)
	ctx := context.Background()
	opts := store.SeedOptions{BcryptCost: 4, Now: time.Now()}
	if _, err := store.Seed(ctx, db, opts); err != nil {
		t.Fatal(err)
	}
	ev := store.SoldOutEventID
	audit := func(when string) {
		t.Helper()
		vs, err := store.CheckIntegrity(ctx, db, store.IntegrityOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			t.Errorf("%s: %s", when, v)
		}
	}
	audit("after the seed")

	var e struct {
		Title    string `db:"title"`
		Status   string `db:"status"`
		Capacity int    `db:"capacity"`
		Sold     int    `db:"sold"`
		Free     int    `db:"free"`
	}
	if err := db.Get(&e, `SELECT title, status, capacity,
			(SELECT count(*) FROM event_seats WHERE event_id = e.id AND status = 'sold') AS sold,
			(SELECT count(*) FROM event_seats WHERE event_id = e.id AND status = 'available') AS free
		FROM events e WHERE id = $1`, ev); err != nil {
		t.Fatal(err)
	}
	if e.Title != store.SoldOutTitle || e.Status != "published" || e.Capacity != 20 || e.Sold != 20 || e.Free != 0 {
		t.Errorf("sold-out event: %+v", e)
	}

	var bookings []struct {
		Email  string `db:"email"`
		Status string `db:"status"`
		Amount int64  `db:"amount_cents"`
		Seats  int    `db:"seats"`
		Paid   int64  `db:"paid"`
		Path   string `db:"path"`
	}
	if err := db.Select(&bookings, `SELECT u.email, b.status, b.amount_cents,
			(SELECT count(*) FROM booking_seats s WHERE s.booking_id = b.id AND s.active) AS seats,
			(SELECT coalesce(sum(amount_cents), 0) FROM payments p WHERE p.booking_id = b.id AND p.kind = 'charge' AND p.status = 'succeeded') AS paid,
			(SELECT string_agg(status, ',' ORDER BY id) FROM booking_history h WHERE h.booking_id = b.id) AS path
		FROM bookings b JOIN users u ON u.id = b.user_id WHERE b.event_id = $1 ORDER BY b.created_at`, ev); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		email string
		seats int
	}{{"alice@evently.test", 2}, {"dave@evently.test", 8}, {"erin@evently.test", 10}}
	if len(bookings) != len(want) {
		t.Fatalf("bookings: %+v", bookings)
	}
	for i, w := range want {
		b := bookings[i]
		if b.Email != w.email || b.Status != "confirmed" || b.Seats != w.seats || b.Amount != int64(w.seats)*3000 ||
			b.Paid != b.Amount || b.Path != "reserved,paying,confirmed" {
			t.Errorf("booking %d: %+v, want %s's confirmed booking of %d seats, charged", i, b, w.email, w.seats)
		}
	}

	var entries []struct {
		ID     uuid.UUID `db:"id"`
		Email  string    `db:"email"`
		Party  int       `db:"party_size"`
		Status string    `db:"status"`
	}
	if err := db.Select(&entries, `SELECT w.id, u.email, w.party_size, w.status FROM waitlist_entries w
		JOIN users u ON u.id = w.user_id WHERE w.event_id = $1 ORDER BY w.created_at, w.id`, ev); err != nil {
		t.Fatal(err)
	}
	line := []struct {
		user  string
		party int
	}{{"bob", 2}, {"carol", 1}, {"frank", 4}}
	if len(entries) != len(line) {
		t.Fatalf("waitlist: %+v", entries)
	}
	for i, w := range line {
		got := entries[i]
		if got.Email != w.user+"@evently.test" || got.Party != w.party || got.Status != "waiting" || got.ID != store.SoldOutEntryID(w.user) {
			t.Errorf("in line at %d: %+v, want %s's party of %d waiting", i+1, got, w.user, w.party)
		}
	}

	// The demo cancels alice's booking (as the booking worker would); a
	// second seed puts nothing back and adds nothing.
	alice := store.SoldOutBookingID("alice")
	if _, err := db.Exec(`WITH r AS (UPDATE booking_seats SET active = false WHERE booking_id = $1)
		UPDATE event_seats SET status = 'available', booking_id = NULL, version = version + 1 WHERE booking_id = $1`, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE bookings SET status = 'cancelled', version = version + 1 WHERE id = $1`, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO booking_history (booking_id, status) VALUES ($1, 'cancelled')`, alice); err != nil {
		t.Fatal(err)
	}
	rep, err := store.Seed(ctx, db, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Changed() {
		t.Errorf("second run reported %+v", rep)
	}
	var status string
	var free int
	if err := db.Get(&status, `SELECT status FROM bookings WHERE id = $1`, alice); err != nil {
		t.Fatal(err)
	}
	if err := db.Get(&free, `SELECT count(*) FROM event_seats WHERE event_id = $1 AND status = 'available'`, ev); err != nil {
		t.Fatal(err)
	}
	if status != "cancelled" || free != 2 {
		t.Errorf("after a second run: alice's booking %s, %d seats free", status, free)
	}
	audit("after a cancellation and a second seed")
}
