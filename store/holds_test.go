package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/store"
)

// A refused hold leaves no round trip behind: its lookup key (which names
// no hold) is deleted by the next hold's pipeline.
func TestRefusedHoldLookupIsDeletedByTheNextHold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := evtest.DB(t)
	rdb, prefix := evtest.Redis(t)
	user, venue, event := evently.NewID(), evently.NewID(), evently.NewID()
	mustExec(t, db, `INSERT INTO users (id, email, password_hash) VALUES ($1, 'h@example.test', 'x')`, user)
	mustExec(t, db, `INSERT INTO venues (id, owner_id, name) VALUES ($1, $2, 'Hall')`, venue, user)
	mustExec(t, db, `INSERT INTO events (id, venue_id, organizer_id, title, status, starts_at, ends_at)
		VALUES ($1, $2, $3, 'Show', 'published', now() + interval '30 days', now() + interval '31 days')`, event, venue, user)
	for s := 1; s <= 3; s++ {
		mustExec(t, db, `INSERT INTO event_seats (event_id, seat_id, price_cents) VALUES ($1, $2, 1000)`, event, fmt.Sprintf("s%d", s))
	}
	keys := store.Keys{Prefix: prefix}
	h := &store.Holds{Redis: rdb, Keys: keys, DB: db, TTL: time.Minute}
	if _, err := h.Take(ctx, event, user, []string{"s1"}); err != nil {
		t.Fatal(err)
	}
	lookups := func() int {
		n, err := rdb.Keys(ctx, keys.Key("hold", "*")).Result()
		if err != nil {
			t.Fatal(err)
		}
		return len(n)
	}
	_, err := h.Take(ctx, event, evently.NewID(), []string{"s1"})
	var e *evently.Error
	if !errors.As(err, &e) || e.Code != evently.ECONFLICT {
		t.Fatalf("second hold of s1: %v", err)
	}
	if n := lookups(); n != 2 {
		t.Fatalf("%d lookup keys after the refusal, want 2 (the refused one still there)", n)
	}
	if _, err := h.Take(ctx, event, user, []string{"s2"}); err != nil {
		t.Fatal(err)
	}
	if n := lookups(); n != 2 {
		t.Fatalf("%d lookup keys after the next hold, want 2 (the refused one deleted)", n)
	}
}
