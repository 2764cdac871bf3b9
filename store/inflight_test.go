package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/store"
)

// The durable mark and the take-over of a record in flight refuse each
// other: whichever runs first wins, so a command a request calls accepted
// is never taken over (and withdrawn), and one taken over is never called
// accepted.
func TestDurableMarkAndTakeOverExcludeEachOther(t *testing.T) {
	t.Parallel()
	rdb, prefix := evtest.Redis(t)
	keys := store.Keys{Prefix: prefix}
	feed := &store.Feed{Redis: rdb, Keys: keys}
	o := &store.Outcomes{Feed: feed, Holds: &store.Holds{Redis: rdb, Keys: keys}, Idempotency: &store.Idempotency{Redis: rdb, Keys: keys}}
	ctx := context.Background()
	pending := func() *evently.StatusChange {
		hold := evently.NewID()
		c := evently.StatusChange{BookingID: evently.NewID(), UserID: evently.NewID(), EventID: evently.NewID(), HoldID: &hold,
			Status: evently.BookingPending, SeatIDs: []string{"A-1"}, AcceptedAt: time.Now().UTC(),
			InFlight: &evently.Submission{IdempotencyKey: "k", PaymentToken: "tok_visa"}}
		c.At = c.AcceptedAt
		if err := feed.SetPending(ctx, c); err != nil {
			t.Fatal(err)
		}
		return &c
	}
	inFlight := func() int64 {
		n, err := rdb.ZCard(ctx, keys.Key("inflight")).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Marked first: the take-over is refused, the record reads durable.
	c := pending()
	if inFlight() != 1 {
		t.Fatalf("in-flight index after the record: %d entries", inFlight())
	}
	if err := feed.Durable(ctx, c.BookingID); err != nil {
		t.Fatal(err)
	}
	if u, err := o.TakeOver(ctx, c); err != nil || u != nil {
		t.Fatalf("take-over of a durable record: %+v, %v", u, err)
	}
	if got, err := feed.Current(ctx, c.BookingID); err != nil || got == nil || got.InFlight != nil || got.Unknown != nil {
		t.Fatalf("durable record: %+v, %v", got, err)
	}
	if inFlight() != 0 {
		t.Fatal("a durable record is still in the in-flight index")
	}

	// Taken over first: the mark is refused, the record reads unknown and
	// is indexed as such, with the command rebuilt from the record.
	c = pending()
	u, err := o.TakeOver(ctx, c)
	if err != nil || u == nil || u.Command.BookingID != c.BookingID || u.Command.PaymentToken != "tok_visa" || u.Command.IdempotencyKey != "k" {
		t.Fatalf("take-over: %+v, %v", u, err)
	}
	if err := feed.Durable(ctx, c.BookingID); evently.ErrorCode(err) != evently.EUNAVAILABLE {
		t.Fatalf("durable mark after a take-over: %v (want refused)", err)
	}
	if got, err := feed.Current(ctx, c.BookingID); err != nil || got == nil || got.Unknown == nil {
		t.Fatalf("taken-over record: %+v, %v", got, err)
	}
	if us, err := o.Unresolved(ctx, time.Now().Add(time.Second), 10); err != nil || len(us) != 1 || us[0].Command.BookingID != c.BookingID {
		t.Fatalf("unknown index after the take-over: %+v, %v", us, err)
	}

	// A record gone (resolved and forgotten) is never marked durable.
	c = pending()
	if err := feed.Forget(ctx, c.BookingID); err != nil {
		t.Fatal(err)
	}
	if err := feed.Durable(ctx, c.BookingID); err == nil {
		t.Fatal("a forgotten record was marked durable")
	}
}
