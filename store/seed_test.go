package store_test

import (
	"context"
	"testing"
	"time"

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
		for _, table := range []string{"users", "venues", "seats", "events", "event_seats"} {
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
		{"users reported", first.Users, 6},
		{"users stored", after["users"], 6},
		{"venues", first.Venues, 5},
		{"seats (300 + 2,000 + 20,000 + 120 + 500)", after["seats"], 22920},
		{"published events", first.Events, 24},
		{"event seats reported", int(first.EventSeats), after["event_seats"]},
		{"credentials", len(first.Credentials), 6},
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
	if len(capacities) != 5 || capacities[1] != 300 || capacities[3] != 2000 || capacities[4] != 20000 {
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
	if second.Changed() || len(second.Credentials) != 6 {
		t.Errorf("second run reported %+v", second)
	}
	again := counts()
	for table, n := range after {
		if again[table] != n {
			t.Errorf("%s: %d rows after the second run, %d before", table, again[table], n)
		}
	}
}
