package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/store"
)

// TestAnalyticsMatchSQL runs random workloads through the booking engine
// (bookings charged in their commit or through the saga, declines,
// cancellations, expiries, refunds, refunds reported twice, an event's
// cancellation, withdrawn submissions and redelivered messages) on two
// events in venues twelve hours apart, the clock crossing days, and
// requires every rollup figure to equal a count over the bookings, their
// history and payments after every batch: counted once, on the right
// venue day.
func TestAnalyticsMatchSQL(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			t.Parallel()
			analyticsWorkload(t, seed, 60)
		})
	}
}

func analyticsWorkload(t *testing.T, seed uint64, steps int) {
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(seed, 17))
	db := evtest.DB(t)
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	user := evently.NewID()
	mustExec(t, db, `INSERT INTO users (id, email, password_hash) VALUES ($1, 'a@example.test', 'x')`, user)
	var events []uuid.UUID
	for i, tz := range []string{"Pacific/Auckland", "America/Los_Angeles"} {
		venue, event := evently.NewID(), evently.NewID()
		mustExec(t, db, `INSERT INTO venues (id, owner_id, name, time_zone) VALUES ($1, $2, 'Hall', $3)`, venue, user, tz)
		mustExec(t, db, `INSERT INTO events (id, venue_id, organizer_id, title, status, starts_at, ends_at, currency, capacity)
			VALUES ($1, $2, $3, 'Show', 'published', now() + interval '30 days', now() + interval '31 days', $4, 12)`,
			event, venue, user, []string{"EUR", "USD"}[i])
		for s := 1; s <= 12; s++ {
			mustExec(t, db, `INSERT INTO event_seats (event_id, seat_id, price_cents) VALUES ($1, $2, $3)`, event, fmt.Sprintf("s%02d", s), 500*s)
		}
		events = append(events, event)
	}
	b := &store.Bookings{DB: db, Consumer: "booking", PaymentWindow: 10 * time.Minute, Now: func() time.Time { return now }}
	if seed%2 == 0 {
		// Half the workloads charge in the commit: tok_visa is charged,
		// tok_decline declined, tok_slow left to the saga.
		b.ChargeNow = func(_ context.Context, reqs []evently.PaymentRequest) []evently.Command {
			out := make([]evently.Command, len(reqs))
			for i, r := range reqs {
				typ := map[string]string{"tok_visa": evently.ReplyCharged, "tok_decline": evently.ReplyDeclined}[r.Token]
				if typ != "" {
					out[i] = evently.Command{Type: typ, Reply: &evently.PaymentReply{BookingID: r.BookingID, EventID: r.EventID,
						ChargeID: "ch_" + r.BookingID.String(), AmountCents: r.AmountCents}}
				}
			}
			return out
		}
	}
	type booked struct{ id, event uuid.UUID }
	var bookings []booked
	var sent []evently.Command
	cancelledEvent := false
	book := func() evently.Command {
		event := events[rnd.IntN(len(events))]
		seats := []string{fmt.Sprintf("s%02d", 1+rnd.IntN(12))}
		if rnd.IntN(3) == 0 {
			seats = append(seats, fmt.Sprintf("s%02d", 1+rnd.IntN(12)))
		}
		slices.Sort(seats)
		seats = slices.Compact(seats)
		cmd := &evently.BookCommand{BookingID: evently.NewID(), UserID: user, EventID: event, SeatIDs: seats, AcceptedAt: now,
			HoldExpiresAt: now.Add(5 * time.Minute)}
		if rnd.IntN(4) > 0 {
			cmd.PaymentToken = []string{"tok_visa", "tok_decline", "tok_slow"}[rnd.IntN(3)]
		}
		bookings = append(bookings, booked{cmd.BookingID, event})
		return evently.Command{MessageID: evently.NewID(), Type: evently.CmdBook, Book: cmd}
	}
	other := func() evently.Command {
		bk := bookings[rnd.IntN(len(bookings))]
		ref := &evently.BookingRef{BookingID: bk.id, EventID: bk.event}
		reply := &evently.PaymentReply{BookingID: bk.id, EventID: bk.event, ChargeID: fmt.Sprintf("ch_%d", rnd.IntN(2))}
		switch rnd.IntN(9) {
		case 0:
			ref.PaymentToken = "tok_visa"
			return evently.Command{MessageID: evently.NewID(), Type: evently.CmdConfirm, Ref: ref}
		case 1:
			return evently.Command{MessageID: evently.NewID(), Type: evently.CmdCancel, Ref: ref}
		case 2, 7:
			return evently.Command{MessageID: evently.NewID(), Type: evently.CmdExpire, Ref: ref}
		case 3, 4:
			return evently.Command{MessageID: evently.NewID(), Type: evently.ReplyCharged, Reply: reply}
		case 5:
			return evently.Command{MessageID: evently.NewID(), Type: evently.ReplyDeclined, Reply: reply}
		case 6:
			return evently.Command{MessageID: evently.NewID(), Type: evently.ReplyUnavailable, Reply: reply}
		}
		return evently.Command{MessageID: evently.NewID(), Type: evently.ReplyRefunded, Reply: reply}
	}
	for step := 0; step < steps; step++ {
		var batch []evently.Command
		allBooks := rnd.IntN(4) == 0 // the on-sale's batches: commitBooks
		for range 1 + rnd.IntN(6) {
			switch {
			case allBooks || len(bookings) == 0 || rnd.IntN(3) == 0:
				batch = append(batch, book())
			case len(sent) > 0 && rnd.IntN(6) == 0:
				batch = append(batch, sent[rnd.IntN(len(sent))]) // a redelivery
			default:
				batch = append(batch, other())
			}
		}
		if !cancelledEvent && step == steps*3/4 {
			cancelledEvent = true
			mustExec(t, db, `UPDATE events SET status = 'cancelled' WHERE id = $1`, events[1])
			batch = append(batch, evently.Command{MessageID: evently.NewID(), Type: evently.CmdCancelEvent,
				Event: &evently.EventRef{EventID: events[1]}})
		}
		sent = append(sent, batch...)
		if _, err := b.CommitBatch(ctx, batch); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if rnd.IntN(5) == 0 {
			// A submission the API could not queue, withdrawn (or found
			// written already).
			c := book()
			if _, err := b.Withdraw(ctx, c.Book); err != nil {
				t.Fatalf("step %d: withdraw: %v", step, err)
			}
			if rnd.IntN(2) == 0 {
				sent = append(sent, c)
			}
		}
		checkRollups(t, db, fmt.Sprintf("step %d", step))
		now = now.Add(time.Duration(rnd.IntN(5*3600)) * time.Second)
	}
	// The migration's backfill, run on the same bookings, finds the same
	// figures (refunds fall on the payment's own time, but their totals
	// by event are compared).
	mustExec(t, db, `DELETE FROM event_sales_daily`)
	mustExec(t, db, backfill(t))
	checkRollups(t, db, "after the backfill")
	// The workload must have reached every kind of figure, or the
	// comparison proves little.
	var n []int64
	if err := db.Select(&n, `SELECT unnest(ARRAY[sum(submitted), sum(reserved), sum(confirmed), sum(failed), sum(expired),
		sum(cancelled), sum(refunded), count(DISTINCT day)]) FROM event_sales_daily`); err != nil {
		t.Fatal(err)
	}
	t.Logf("submitted, reserved, confirmed, failed, expired, cancelled, refunded, days: %v", n)
	if slices.Contains(n, 0) {
		t.Fatalf("the workload left a figure at 0: %v", n)
	}
}

// checkRollups compares the rollups with direct counts: the history's
// moves by event, venue day and failure reason; submissions by the day
// they were written; seats sold, revenue and refunds by event.
func checkRollups(t *testing.T, db *sqlx.DB, at string) {
	t.Helper()
	for _, q := range [][2]string{
		{`SELECT event_id || ' ' || day || ' ' || reason || ' ' || submitted || ' ' || reserved || ' ' || confirmed || ' ' ||
		         failed || ' ' || expired || ' ' || cancelled
		  FROM event_sales_daily WHERE submitted + reserved + confirmed + failed + expired + cancelled > 0 ORDER BY 1`,
			`SELECT event_id || ' ' || day || ' ' || reason || ' ' || sum(submitted) || ' ' || sum(reserved) || ' ' || sum(confirmed) || ' ' ||
			        sum(failed) || ' ' || sum(expired) || ' ' || sum(cancelled)
			 FROM (SELECT b.event_id, (b.created_at AT TIME ZONE v.time_zone)::date AS day, '' AS reason,
			              1 AS submitted, 0 AS reserved, 0 AS confirmed, 0 AS failed, 0 AS expired, 0 AS cancelled
			       FROM bookings b JOIN events e ON e.id = b.event_id JOIN venues v ON v.id = e.venue_id
			       UNION ALL
			       SELECT b.event_id, (h.at AT TIME ZONE v.time_zone)::date,
			              CASE WHEN h.status = 'failed' THEN h.reason ELSE '' END, 0,
			              (h.status = 'reserved')::int, (h.status = 'confirmed')::int, (h.status = 'failed')::int,
			              (h.status = 'expired')::int, (h.status = 'cancelled')::int
			       FROM booking_history h JOIN bookings b ON b.id = h.booking_id
			       JOIN events e ON e.id = b.event_id JOIN venues v ON v.id = e.venue_id
			       WHERE h.status IN ('reserved', 'confirmed', 'failed', 'expired', 'cancelled')) t
			 GROUP BY event_id, day, reason ORDER BY 1`},
		{`SELECT e.id || ' ' || coalesce(sum(seats_sold), 0) || ' ' || coalesce(sum(revenue_cents), 0) || ' ' ||
		         coalesce(sum(refunded), 0) || ' ' || coalesce(sum(refunded_cents), 0)
		  FROM events e LEFT JOIN event_sales_daily s ON s.event_id = e.id GROUP BY e.id ORDER BY 1`,
			`SELECT e.id || ' ' ||
			        (SELECT count(*) FROM booking_seats s JOIN bookings b ON b.id = s.booking_id WHERE b.event_id = e.id AND b.status = 'confirmed') || ' ' ||
			        (SELECT coalesce(sum(b.amount_cents), 0) FROM bookings b WHERE b.event_id = e.id
			          AND EXISTS (SELECT 1 FROM booking_history h WHERE h.booking_id = b.id AND h.status = 'confirmed')) || ' ' ||
			        (SELECT count(*) FROM payments p JOIN bookings b ON b.id = p.booking_id WHERE b.event_id = e.id AND p.kind = 'refund') || ' ' ||
			        (SELECT coalesce(sum(p.amount_cents), 0) FROM payments p JOIN bookings b ON b.id = p.booking_id
			          WHERE b.event_id = e.id AND p.kind = 'refund')
			 FROM events e ORDER BY 1`},
	} {
		got, want := snapshot(t, db, q[0]), snapshot(t, db, q[1])
		if !slices.Equal(got, want) {
			t.Fatalf("%s: rollups differ from the counts:\nrollups %v\ncounts  %v", at, got, want)
		}
	}
}

// backfill is the sales half of migration 00010's backfill.
func backfill(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(evtest.RepoRoot(t), "migrations", "00010_analytics.sql"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "INSERT INTO event_sales_daily")
	end := strings.Index(s[start:], ";")
	if start < 0 || end < 0 {
		t.Fatal("no backfill in the migration")
	}
	return s[start : start+end]
}

// The hold script counts the holds it grants, not the ones it refuses, and
// the event's funnel shows them.
func TestHoldsTakenCounted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := evtest.DB(t)
	rdb, prefix := evtest.Redis(t)
	user, event := publishedEvent(t, db, 3)
	keys := store.Keys{Prefix: prefix}
	h := &store.Holds{Redis: rdb, Keys: keys, DB: db, TTL: time.Minute}
	for _, seats := range [][]string{{"s1"}, {"s1", "s2"}, {"s2", "s3"}} {
		_, _ = h.Take(ctx, event, evently.NewID(), seats) // the second is refused: s1 is held
	}
	a := &store.Analytics{DB: db, Redis: rdb, Keys: keys}
	e, err := a.Event(ctx, evently.Actor{UserID: user, Role: evently.RoleOrganizer}, event)
	if err != nil {
		t.Fatal(err)
	}
	if e.Funnel.HoldsTaken == nil || *e.Funnel.HoldsTaken != 2 {
		t.Fatalf("holds taken %v, want 2", e.Funnel.HoldsTaken)
	}
	if _, err := a.Event(ctx, evently.Actor{UserID: evently.NewID(), Role: evently.RoleOrganizer}, event); evently.ErrorCode(err) != evently.ENOTFOUND {
		t.Fatalf("another organizer: %v, want not found", err)
	}
}
