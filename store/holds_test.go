package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
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
	user, event := publishedEvent(t, db, 3)
	keys := store.Keys{Prefix: prefix}
	h := &store.Holds{Redis: rdb, Keys: keys, DB: db, TTL: time.Minute}
	if _, err := h.Take(ctx, event, user, []string{"s1"}); err != nil {
		t.Fatal(err)
	}
	lookups := func() int {
		return len(evtest.Keys(t, rdb, keys.Key("hold", "*")))
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

// A claimed hold's seats stay held past the hold's expiry, until its
// booking is written: nobody else can hold them meanwhile.
func TestClaimedHoldOutlivesItsExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := evtest.DB(t)
	rdb, prefix := evtest.Redis(t)
	user, event := publishedEvent(t, db, 2)
	h := &store.Holds{Redis: rdb, Keys: store.Keys{Prefix: prefix}, DB: db, TTL: 300 * time.Millisecond}
	claimed, err := h.Take(ctx, event, user, []string{"s1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Claim(ctx, claimed, evently.NewID()); err != nil {
		t.Fatal(err)
	}
	unclaimed, err := h.Take(ctx, event, user, []string{"s2"})
	if err != nil {
		t.Fatal(err)
	}
	// Wait for both holds' expiry to pass (a moment in time, not an event).
	for time.Now().Before(unclaimed.ExpiresAt.Add(100 * time.Millisecond)) {
		time.Sleep(20 * time.Millisecond)
	}
	other := evently.NewID()
	if _, err := h.Take(ctx, event, other, []string{"s2"}); err != nil {
		t.Fatalf("the unclaimed hold expired, its seat should be free: %v", err)
	}
	_, err = h.Take(ctx, event, other, []string{"s1"})
	var e *evently.Error
	if !errors.As(err, &e) || e.Code != evently.ECONFLICT {
		t.Fatalf("hold of a claimed seat after its hold's expiry: %v, want a conflict", err)
	}
}

// Rebuilding the sold mirror while the booking worker adds to it never
// drops a seat sold meanwhile: after each sale (committed, then mirrored),
// the next rebuild to finish still has it.
func TestSoldMirrorRebuildKeepsConcurrentSales(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := evtest.DB(t)
	rdb, prefix := evtest.Redis(t)
	user, event := publishedEvent(t, db, 60)
	booking := evently.NewID()
	mustExec(t, db, `INSERT INTO bookings (id, user_id, event_id, status) VALUES ($1, $2, $3, 'confirmed')`, booking, user, event)
	keys := store.Keys{Prefix: prefix}
	h := &store.Holds{Redis: rdb, Keys: keys, DB: db, TTL: time.Minute}
	sold := keys.Event(event) + ":sold"

	var rebuilt atomic.Int64
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if err := h.RebuildSold(ctx, event); err != nil {
				done <- err
				return
			}
			rebuilt.Add(1)
		}
	}()
	defer func() {
		close(stop)
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	for s := 1; s <= 60; s++ {
		seat := fmt.Sprintf("s%d", s)
		mustExec(t, db, `UPDATE event_seats SET status = 'sold', booking_id = $3 WHERE event_id = $1 AND seat_id = $2`, event, seat, booking)
		if err := rdb.SAdd(ctx, sold, seat).Err(); err != nil {
			t.Fatal(err)
		}
		// The next rebuild to finish may have read PostgreSQL before the sale.
		from := rebuilt.Load()
		deadline := time.Now().Add(10 * time.Second)
		for rebuilt.Load() < from+1 {
			if time.Now().After(deadline) {
				t.Fatal("rebuilds stopped")
			}
			time.Sleep(time.Millisecond)
		}
		ok, err := rdb.SIsMember(ctx, sold, seat).Result()
		if err != nil || !ok {
			t.Fatalf("seat %s sold and mirrored, then lost by a rebuild (%v)", seat, err)
		}
	}
}
