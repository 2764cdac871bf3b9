package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
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

// TestSetBasedMatchesRowByRow runs the same random command sequences
// through the set-based booking engine and through the earlier row-by-row
// way of applying non-book commands, each on a database of its own, and
// requires the same bookings, seats, payments, history and outgoing
// messages after every batch: batching changes how many statements a batch
// costs, never what it decides.
func TestSetBasedMatchesRowByRow(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			t.Parallel()
			compareEngines(t, seed, 40)
		})
	}
}

type engineSide struct {
	db     *sqlx.DB
	b      *store.Bookings
	commit func(context.Context, []evently.Command) (store.BatchResult, error)
}

func compareEngines(t *testing.T, seed uint64, steps int) {
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(seed, 99))
	newID := func() uuid.UUID {
		var u uuid.UUID
		for i := range u {
			u[i] = byte(rnd.UintN(256))
		}
		u[6], u[8] = (u[6]&0x0f)|0x40, (u[8]&0x3f)|0x80
		return u
	}
	user, venue, event := newID(), newID(), newID()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	var sides [2]engineSide
	for i := range sides {
		db := evtest.DB(t)
		mustExec(t, db, `INSERT INTO users (id, email, password_hash) VALUES ($1, 'a@example.test', 'x')`, user)
		mustExec(t, db, `INSERT INTO venues (id, owner_id, name) VALUES ($1, $2, 'Hall')`, venue, user)
		mustExec(t, db, `INSERT INTO events (id, venue_id, organizer_id, title, status, starts_at, ends_at)
			VALUES ($1, $2, $3, 'Show', 'published', now() + interval '30 days', now() + interval '31 days')`, event, venue, user)
		for s := 1; s <= 24; s++ {
			mustExec(t, db, `INSERT INTO event_seats (event_id, seat_id, price_cents) VALUES ($1, $2, $3)`, event, fmt.Sprintf("s%02d", s), 1000*s)
		}
		b := &store.Bookings{DB: db, Consumer: "booking", PaymentWindow: 10 * time.Minute, Now: clock}
		sides[i] = engineSide{db: db, b: b, commit: b.CommitBatch}
	}
	sides[1].commit = sides[1].b.CommitBatchRowByRow

	var bookings []uuid.UUID
	var sent []evently.Command
	free := map[string]bool{}
	for s := 1; s <= 24; s++ {
		free[fmt.Sprintf("s%02d", s)] = true
	}
	book := func() evently.Command {
		id := newID()
		var seats []string
		for s := range free {
			seats = append(seats, s)
		}
		slices.Sort(seats)
		rnd.Shuffle(len(seats), func(i, j int) { seats[i], seats[j] = seats[j], seats[i] })
		seats = seats[:min(len(seats), 1+rnd.IntN(2))]
		if rnd.IntN(8) == 0 && len(bookings) > 0 {
			seats = append(seats, "s01") // often taken: seats_taken
		}
		cmd := &evently.BookCommand{BookingID: id, UserID: user, EventID: event, SeatIDs: seats, AcceptedAt: now,
			HoldExpiresAt: now.Add(5 * time.Minute)}
		if rnd.IntN(3) > 0 {
			cmd.PaymentToken = "tok_visa"
		}
		bookings = append(bookings, id)
		return evently.Command{MessageID: newID(), Type: evently.CmdBook, Book: cmd}
	}
	other := func() evently.Command {
		id := bookings[rnd.IntN(len(bookings))]
		ref := &evently.BookingRef{BookingID: id, EventID: event}
		reply := &evently.PaymentReply{BookingID: id, EventID: event, ChargeID: fmt.Sprintf("ch_%d", rnd.IntN(3))}
		switch rnd.IntN(9) {
		case 0:
			ref.PaymentToken = "tok_visa"
			return evently.Command{MessageID: newID(), Type: evently.CmdConfirm, Ref: ref}
		case 1:
			ref.Reason = "changed my mind"
			return evently.Command{MessageID: newID(), Type: evently.CmdCancel, Ref: ref}
		case 2:
			return evently.Command{MessageID: newID(), Type: evently.CmdExpire, Ref: ref}
		case 3:
			return evently.Command{MessageID: newID(), Type: evently.CmdRetryPayment, Ref: ref}
		case 4, 5:
			if rnd.IntN(2) == 0 {
				reply.AmountCents = 1234
			}
			return evently.Command{MessageID: newID(), Type: evently.ReplyCharged, Reply: reply}
		case 6:
			return evently.Command{MessageID: newID(), Type: evently.ReplyDeclined, Reply: reply}
		case 7:
			return evently.Command{MessageID: newID(), Type: evently.ReplyUnavailable, Reply: reply}
		}
		return evently.Command{MessageID: newID(), Type: evently.ReplyRefunded, Reply: reply}
	}

	for step := 0; step < steps; step++ {
		var batch []evently.Command
		for range 1 + rnd.IntN(8) {
			switch {
			case len(bookings) == 0 || rnd.IntN(4) == 0:
				batch = append(batch, book())
			case len(sent) > 0 && rnd.IntN(10) == 0:
				batch = append(batch, sent[rnd.IntN(len(sent))]) // a redelivery
			default:
				batch = append(batch, other())
			}
		}
		sent = append(sent, batch...)
		var results [2]store.BatchResult
		for i, s := range sides {
			res, err := s.commit(ctx, batch)
			if err != nil {
				t.Fatalf("step %d, side %d: %v", step, i, err)
			}
			results[i] = res
		}
		if a, b := changesOf(results[0]), changesOf(results[1]); !slices.Equal(a, b) {
			t.Fatalf("step %d: status changes differ:\nset-based  %v\nrow-by-row %v", step, a, b)
		}
		for _, q := range snapshotQueries {
			a, b := snapshot(t, sides[0].db, q), snapshot(t, sides[1].db, q)
			if !slices.Equal(a, b) {
				t.Fatalf("step %d: %s differs:\nset-based  %v\nrow-by-row %v", step, q, a, b)
			}
		}
		// Seats sold in the truth are not free for the next book commands.
		for s := range free {
			delete(free, s)
		}
		for _, s := range snapshot(t, sides[0].db, `SELECT seat_id FROM event_seats WHERE status = 'available'`) {
			free[s] = true
		}
		now = now.Add(time.Duration(rnd.IntN(240)) * time.Second)
	}
}

func changesOf(r store.BatchResult) []string {
	out := make([]string, len(r.Changes))
	for i, c := range r.Changes {
		out[i] = fmt.Sprintf("%s %s %s %v", c.BookingID, c.Status, c.Reason, c.SeatIDs)
	}
	return out
}

// snapshotQueries read everything an engine decides, in a stable order.
// Outbox payloads of payment requests and releases name bookings, seats
// and amounts; their ids differ by design and are left out.
var snapshotQueries = []string{
	`SELECT id::text || ' ' || status || ' ' || coalesce(reason, '-') || ' ' || coalesce(payment_token, '-') || ' ' ||
	        version || ' ' || amount_cents || ' ' || updated_at::text FROM bookings ORDER BY id`,
	`SELECT seat_id || ' ' || status || ' ' || coalesce(booking_id::text, '-') || ' ' || version FROM event_seats ORDER BY seat_id`,
	`SELECT booking_id::text || ' ' || seat_id || ' ' || active FROM booking_seats ORDER BY booking_id, seat_id`,
	`SELECT booking_id::text || ' ' || kind || ' ' || idempotency_key || ' ' || amount_cents || ' ' || currency || ' ' ||
	        coalesce(gateway_ref, '-') FROM payments ORDER BY idempotency_key`,
	`SELECT booking_id::text || ' ' || status || ' ' || coalesce(reason, '-') || ' ' || at::text FROM booking_history ORDER BY booking_id, id`,
	`SELECT topic || ' ' || type || ' ' || key || ' ' || payload::text FROM outbox ORDER BY 1`,
}

func snapshot(t *testing.T, db *sqlx.DB, q string) []string {
	t.Helper()
	var out []string
	if err := db.Select(&out, q); err != nil {
		t.Fatalf("%s: %v", strings.TrimSpace(q), err)
	}
	return out
}

func mustExec(t *testing.T, db *sqlx.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// publishedEvent makes a user, a venue and a published event with seats
// s1…sN at 1000 cents, for tests of the booking engine.
func publishedEvent(t *testing.T, db *sqlx.DB, seats int) (user, event uuid.UUID) {
	t.Helper()
	user, venue, event := evently.NewID(), evently.NewID(), evently.NewID()
	mustExec(t, db, `INSERT INTO users (id, email, password_hash) VALUES ($1, $2, 'x')`, user, user.String()+"@example.test")
	mustExec(t, db, `INSERT INTO venues (id, owner_id, name) VALUES ($1, $2, 'Hall')`, venue, user)
	mustExec(t, db, `INSERT INTO events (id, venue_id, organizer_id, title, status, starts_at, ends_at)
		VALUES ($1, $2, $3, 'Show', 'published', now() + interval '30 days', now() + interval '31 days')`, event, venue, user)
	for s := 1; s <= seats; s++ {
		mustExec(t, db, `INSERT INTO event_seats (event_id, seat_id, price_cents) VALUES ($1, $2, 1000)`, event, fmt.Sprintf("s%d", s))
	}
	return user, event
}
