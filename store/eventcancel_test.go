package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/store"
)

// Cancelling an event is one command through its partition: every booking
// that keeps seats is cancelled (and what was or will be charged given
// back) in one transaction, and bookings queued after it fail.
func TestCancelEventCancelsEveryBooking(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := evtest.DB(t)
	user, event := publishedEvent(t, db, 6)
	b := &store.Bookings{DB: db, Consumer: "booking", PaymentWindow: 10 * time.Minute}
	book := func(seat, token string) evently.Command {
		return evently.Command{MessageID: evently.NewID(), Type: evently.CmdBook, Book: &evently.BookCommand{
			BookingID: evently.NewID(), UserID: user, EventID: event, SeatIDs: []string{seat}, PaymentToken: token,
			AcceptedAt: time.Now(), HoldExpiresAt: time.Now().Add(time.Minute)}}
	}
	reserved, paying := book("s1", ""), book("s2", "tok_visa")
	if _, err := b.CommitBatch(ctx, []evently.Command{reserved, paying}); err != nil {
		t.Fatal(err)
	}
	// The catalog marks the event cancelled, then queues cancel_event; a
	// book command queued in between comes first in the partition.
	mustExec(t, db, `UPDATE events SET status = 'cancelled' WHERE id = $1`, event)
	late := book("s3", "tok_visa")
	res, err := b.CommitBatch(ctx, []evently.Command{late,
		{MessageID: evently.NewID(), Type: evently.CmdCancelEvent, Event: &evently.EventRef{EventID: event}}})
	if err != nil {
		t.Fatal(err)
	}
	got := snapshot(t, db, `SELECT status || ' ' || coalesce(reason, '-') FROM bookings ORDER BY created_at, id`)
	slices.Sort(got)
	want := []string{"cancelled event_cancelled", "cancelled event_cancelled", "failed event_cancelled"}
	if !slices.Equal(got, want) {
		t.Fatalf("bookings %v, want %v", got, want)
	}
	if sold := snapshot(t, db, `SELECT seat_id FROM event_seats WHERE status <> 'available'`); len(sold) != 0 {
		t.Fatalf("seats still sold: %v", sold)
	}
	var resolves int
	for _, m := range res.Outbox {
		if m.Type == evently.PayResolve {
			resolves++
		}
	}
	if resolves != 1 {
		t.Fatalf("%d refunds asked for, want 1 (the paying booking)", resolves)
	}
}
