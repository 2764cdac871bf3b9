package store_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/store"
)

// Charged inside the commit: the gateway's final answer is decided as a
// payment reply would be, in the same transaction as the booking; no
// answer leaves the booking paying with its charge request for the saga;
// a booking that fails although an earlier attempt may have charged it
// asks for a resolve.
func TestChargeInsideTheCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := evtest.DB(t)
	user, event := publishedEvent(t, db, 6)
	// The gateway's answers by token; "" is no final answer.
	answers := map[string]string{"tok_visa": evently.ReplyCharged, "tok_decline": evently.ReplyDeclined, "tok_slow": ""}
	var asked []string
	b := &store.Bookings{DB: db, Consumer: "booking", PaymentWindow: 10 * time.Minute,
		ChargeNow: func(_ context.Context, reqs []evently.PaymentRequest) []evently.Command {
			out := make([]evently.Command, len(reqs))
			for i, r := range reqs {
				asked = append(asked, r.Token)
				if typ := answers[r.Token]; typ != "" {
					out[i] = evently.Command{Type: typ, Reply: &evently.PaymentReply{BookingID: r.BookingID, EventID: r.EventID,
						ChargeID: "ch_" + r.BookingID.String(), AmountCents: r.AmountCents}}
				}
			}
			return out
		}}
	book := func(seat, token string) evently.Command {
		return evently.Command{MessageID: evently.NewID(), Type: evently.CmdBook, Book: &evently.BookCommand{
			BookingID: evently.NewID(), UserID: user, EventID: event, SeatIDs: []string{seat}, PaymentToken: token,
			AcceptedAt: time.Now(), HoldExpiresAt: time.Now().Add(time.Minute)}}
	}
	paid, declined, slow, reserved, taken := book("s1", "tok_visa"), book("s2", "tok_decline"), book("s3", "tok_slow"),
		book("s4", ""), book("s1", "tok_visa")
	res, err := b.CommitBatch(ctx, []evently.Command{paid, declined, slow, reserved, taken})
	if err != nil {
		t.Fatal(err)
	}
	// The event's prices are known before the reads (see chargeEarly), so
	// every paying command is charged, the one that then loses its seat too
	// (it is resolved below).
	if want := []string{"tok_visa", "tok_decline", "tok_slow", "tok_visa"}; !slices.Equal(asked, want) {
		t.Fatalf("charged %v, want %v (the paying commands, in order)", asked, want)
	}
	status := func(c evently.Command) string {
		var s string
		if err := db.Get(&s, `SELECT status || ' ' || coalesce(reason, '-') || ' v' || version FROM bookings WHERE id = $1`, c.Book.BookingID); err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name string
		cmd  evently.Command
		want string
	}{
		{"charged", paid, "confirmed - v3"},
		{"declined", declined, "failed payment_declined v3"},
		{"no answer", slow, "paying - v2"},
		{"no token", reserved, "reserved - v1"},
		{"seat taken", taken, "failed seats_taken v1"},
	} {
		if got := status(tc.cmd); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	if got := snapshot(t, db, `SELECT seat_id FROM event_seats WHERE status = 'sold' ORDER BY seat_id`); !slices.Equal(got, []string{"s1", "s3", "s4"}) {
		t.Errorf("sold %v, want s1 s3 s4 (the declined seat is not sold)", got)
	}
	if got := snapshot(t, db, `SELECT seat_id FROM booking_seats WHERE active ORDER BY seat_id`); !slices.Equal(got, []string{"s1", "s3", "s4"}) {
		t.Errorf("booked seats %v", got)
	}
	if got := snapshot(t, db, `SELECT kind || ' ' || amount_cents FROM payments WHERE booking_id = '`+paid.Book.BookingID.String()+`'`); !slices.Equal(got, []string{"charge 1000"}) {
		t.Errorf("payments of the paid booking %v", got)
	}
	if got := snapshot(t, db, `SELECT status FROM booking_history WHERE booking_id = '`+paid.Book.BookingID.String()+`' ORDER BY at, status`); len(got) != 3 {
		t.Errorf("history of the paid booking %v, want reserved, paying, confirmed", got)
	}
	// The declined booking's seat comes back on sale: the waitlist hears.
	sameOutbox(t, res.Outbox, []string{evently.PayCharge + " " + slow.Book.BookingID.String(), evently.PayResolve + " " + taken.Book.BookingID.String(),
		evently.MsgSeatsReleased + " " + event.String()})
	if got := snapshot(t, db, `SELECT type FROM outbox WHERE topic <> 'notifications' ORDER BY type`); len(got) != 3 {
		t.Fatalf("outbox rows %v", got)
	}
	if res.Sold[event] == nil || slices.Contains(res.Sold[event], "s2") {
		t.Fatalf("sold mirror update %v must not name the declined seat", res.Sold[event])
	}

	// A batch whose only winner is declined sells nothing, and says so
	// without an empty entry (Redis refuses an SADD of no members).
	res, err = b.CommitBatch(ctx, []evently.Command{book("s5", "tok_decline")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Sold) != 0 {
		t.Fatalf("sold %v after a declined booking alone", res.Sold)
	}
}

// A published event's prices are known before a batch's reads (read whole
// once, and from each batch), so its paying bookings are charged while the
// reads run: the amounts are the seats' prices, each booking is charged
// once, and one that then loses its seats, or whose booking was failed
// unapplied meanwhile, gets a resolve for the charge made early.
func TestChargeEarlyOnceThePricesAreKnown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := evtest.DB(t)
	user, event := publishedEvent(t, db, 4)
	mustExec(t, db, `UPDATE event_seats SET price_cents = 2500 WHERE seat_id = 's2'`)
	var mu sync.Mutex
	asked := map[string]int64{} // token -> amount
	b := &store.Bookings{DB: db, Consumer: "booking", PaymentWindow: 10 * time.Minute,
		ChargeNow: func(_ context.Context, reqs []evently.PaymentRequest) []evently.Command {
			out := make([]evently.Command, len(reqs))
			mu.Lock()
			defer mu.Unlock()
			for i, r := range reqs {
				asked[r.Token] += r.AmountCents
				out[i] = evently.Command{Type: evently.ReplyCharged, Reply: &evently.PaymentReply{BookingID: r.BookingID, EventID: r.EventID,
					ChargeID: "ch_" + r.BookingID.String(), AmountCents: r.AmountCents}}
			}
			return out
		}}
	book := func(token string, seats ...string) evently.Command {
		return evently.Command{MessageID: evently.NewID(), Type: evently.CmdBook, Book: &evently.BookCommand{
			BookingID: evently.NewID(), UserID: user, EventID: event, SeatIDs: seats, PaymentToken: token,
			AcceptedAt: time.Now(), HoldExpiresAt: time.Now().Add(time.Minute)}}
	}
	// A first batch on the event (its probe loses s4 to the first command).
	if _, err := b.CommitBatch(ctx, []evently.Command{book("", "s4"), book("tok_probe", "s1", "s2", "s3", "s4")}); err != nil {
		t.Fatal(err)
	}
	winner, loser, withdrawn := book("tok_winner", "s1", "s2"), book("tok_loser", "s2"), book("tok_withdrawn", "s3")
	if err := b.FailInvalid(ctx, withdrawn.Book); err != nil { // failed unapplied before its command comes in
		t.Fatal(err)
	}
	res, err := b.CommitBatch(ctx, []evently.Command{winner, loser, withdrawn})
	if err != nil {
		t.Fatal(err)
	}
	if asked["tok_winner"] != 3500 || asked["tok_loser"] != 2500 || asked["tok_withdrawn"] != 1000 {
		t.Fatalf("charged %v, want the winner 3500, the loser 2500 and the withdrawn 1000, once each", asked)
	}
	var status string
	if err := db.Get(&status, `SELECT status || ' ' || coalesce(reason, '-') FROM bookings WHERE id = $1`, winner.Book.BookingID); err != nil {
		t.Fatal(err)
	}
	if status != "confirmed -" {
		t.Errorf("winner %s, want confirmed", status)
	}
	if err := db.Get(&status, `SELECT status || ' ' || coalesce(reason, '-') FROM bookings WHERE id = $1`, loser.Book.BookingID); err != nil {
		t.Fatal(err)
	}
	if status != "failed seats_taken" {
		t.Errorf("loser %s, want failed seats_taken", status)
	}
	// The early charges of the loser and of the failed booking are refunded.
	sameOutbox(t, res.Outbox, []string{evently.PayResolve + " " + loser.Book.BookingID.String(), evently.PayResolve + " " + withdrawn.Book.BookingID.String()})
}

// A book command that fails without being applied (dead-lettered) may have
// been charged by a batch attempt that failed after its charges: failing it
// asks for a resolve, which refunds whatever the gateway holds.
func TestFailInvalidResolvesAPayingBooking(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := evtest.DB(t)
	user, event := publishedEvent(t, db, 2)
	b := &store.Bookings{DB: db, Consumer: "booking"}
	paying := &evently.BookCommand{BookingID: evently.NewID(), UserID: user, EventID: event, SeatIDs: []string{"s1"},
		PaymentToken: "tok_visa", AcceptedAt: time.Now()}
	free := &evently.BookCommand{BookingID: evently.NewID(), UserID: user, EventID: event, SeatIDs: []string{"s2"}, AcceptedAt: time.Now()}
	for _, c := range []*evently.BookCommand{paying, free, paying} {
		if err := b.FailInvalid(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got := snapshot(t, db, `SELECT type || ' ' || key FROM outbox WHERE topic <> 'notifications' ORDER BY key`)
	if want := []string{evently.PayResolve + " " + paying.BookingID.String()}; !slices.Equal(got, want) {
		t.Fatalf("outbox %v, want one resolve for the paying booking", got)
	}
}

// A batch of book commands is written with no transaction around its read
// and its write: a seat changed in between (which only a rival worker on
// the same partition could do) makes the write fail whole, as a stale
// version, and nothing of it stays; applied again, it is decided on the
// seats as they are now. A message a rival applied meanwhile fails the
// write the same way, and is then skipped as redelivered.
func TestBookBatchWriteChecksWhatItRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := evtest.DB(t)
	user, event := publishedEvent(t, db, 3)
	var between func()
	b := &store.Bookings{DB: db, Consumer: "booking", PaymentWindow: 10 * time.Minute,
		Phase: func(name string, _ time.Duration) {
			if name == "read" && between != nil {
				between() // after the read, before the write
				between = nil
			}
		}}
	book := func(seat string) evently.Command {
		return evently.Command{MessageID: evently.NewID(), Type: evently.CmdBook, Book: &evently.BookCommand{
			BookingID: evently.NewID(), UserID: user, EventID: event, SeatIDs: []string{seat}, PaymentToken: "tok_visa",
			AcceptedAt: time.Now(), HoldExpiresAt: time.Now().Add(time.Minute)}}
	}
	count := func(q string) int {
		var n int
		if err := db.Get(&n, q); err != nil {
			t.Fatal(err)
		}
		return n
	}

	first, second := book("s1"), book("s2")
	between = func() { mustExec(t, db, `UPDATE event_seats SET version = version + 1 WHERE seat_id = 's1'`) }
	_, err := b.CommitBatch(ctx, []evently.Command{first, second})
	if !errors.Is(err, store.ErrStaleVersion) {
		t.Fatalf("a seat changed between read and write: %v, want a stale version", err)
	}
	if n := count(`SELECT count(*) FROM bookings`) + count(`SELECT count(*) FROM processed_messages`) +
		count(`SELECT count(*) FROM event_seats WHERE status <> 'available'`); n != 0 {
		t.Fatalf("%d rows written by a failed write, want none", n)
	}
	if _, err := b.CommitBatch(ctx, []evently.Command{first, second}); err != nil {
		t.Fatalf("applied again: %v", err)
	}
	if n := count(`SELECT count(*) FROM bookings WHERE status = 'paying'`); n != 2 {
		t.Fatalf("%d paying bookings after the retry, want 2", n)
	}

	third := book("s3")
	between = func() {
		mustExec(t, db, `INSERT INTO processed_messages (consumer, message_id) VALUES ('booking', $1)`, third.MessageID)
	}
	if _, err := b.CommitBatch(ctx, []evently.Command{third}); err == nil {
		t.Fatal("a message claimed by a rival between read and write was written again")
	}
	res, err := b.CommitBatch(ctx, []evently.Command{third})
	if err != nil || res.Redelivered != 1 {
		t.Fatalf("applied again: redelivered %d, %v; want it skipped", res.Redelivered, err)
	}
}

// The API withdraws a booking (its produce failed, yet the command reached
// Kafka) while the booking worker is charging it inside its commit: the
// withdrawal's row fails that commit, and the batch applied again finds the
// booking withdrawn. The charge must be given back, and once it is, the
// audit finds the books straight: the refund and the charge it proves.
func TestWithdrawnWhileChargedInTheCommitIsRefunded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := evtest.DB(t)
	user, event := publishedEvent(t, db, 1)
	cmd := &evently.BookCommand{BookingID: evently.NewID(), UserID: user, EventID: event, SeatIDs: []string{"s1"},
		PaymentToken: "tok_visa", AcceptedAt: time.Now(), HoldExpiresAt: time.Now().Add(time.Minute)}
	api := &store.Bookings{DB: db}
	var mu sync.Mutex
	charges, withdrawn := 0, false
	b := &store.Bookings{DB: db, Consumer: "booking", PaymentWindow: 10 * time.Minute,
		Phase: func(name string, _ time.Duration) {
			if name == "read" && !withdrawn {
				// The API's Withdraw, after the read (and the charge, made
				// while it ran) and before the write.
				withdrawn = true
				if accepted, err := api.Withdraw(ctx, cmd); err != nil || accepted {
					t.Errorf("withdraw: accepted %v, %v", accepted, err)
				}
			}
		},
		ChargeNow: func(_ context.Context, reqs []evently.PaymentRequest) []evently.Command {
			mu.Lock()
			defer mu.Unlock()
			out := make([]evently.Command, len(reqs))
			for i, r := range reqs {
				charges++
				out[i] = evently.Command{Type: evently.ReplyCharged, Reply: &evently.PaymentReply{BookingID: r.BookingID,
					EventID: r.EventID, ChargeID: "ch_1", AmountCents: r.AmountCents}}
			}
			return out
		}}
	cmds := []evently.Command{{MessageID: evently.NewID(), Type: evently.CmdBook, Book: cmd}}
	if _, err := b.CommitBatch(ctx, cmds); err == nil {
		t.Fatal("the batch committed over the withdrawal")
	}
	res, err := b.CommitBatch(ctx, cmds)
	if err != nil {
		t.Fatal(err)
	}
	if charges == 0 || charges > 2 {
		// The second application may ask again, early, under the same key:
		// the gateway answers the same charge.
		t.Fatalf("%d charge calls, want one, or two under one key", charges)
	}
	sameOutbox(t, res.Outbox, []string{evently.PayResolve + " " + cmd.BookingID.String()})
	// The payment worker refunds the charge it finds and replies.
	refunded := evently.Command{MessageID: evently.NewID(), Type: evently.ReplyRefunded, Reply: &evently.PaymentReply{
		BookingID: cmd.BookingID, EventID: event, ChargeID: "ch_1", AmountCents: 1000}}
	if _, err := b.CommitBatch(ctx, []evently.Command{refunded}); err != nil {
		t.Fatal(err)
	}
	if got := snapshot(t, db, `SELECT status || ' ' || reason FROM bookings WHERE id = '`+cmd.BookingID.String()+`'`); !slices.Equal(got, []string{"failed not_accepted"}) {
		t.Fatalf("booking %v", got)
	}
	if got := snapshot(t, db, `SELECT kind || ' ' || amount_cents FROM payments ORDER BY kind`); !slices.Equal(got, []string{"charge 1000", "refund 1000"}) {
		t.Fatalf("payments %v, want the charge and its refund", got)
	}
	vs, err := store.CheckIntegrity(ctx, db, store.IntegrityOptions{EventIDs: []uuid.UUID{event}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Error(v)
	}
}

// sameOutbox requires the batch's outgoing messages to be want ("type
// key"), in any order.
func sameOutbox(t *testing.T, out []evently.Outgoing, want []string) {
	t.Helper()
	var sent []string
	for _, m := range out {
		if m.Stream != evently.StreamNotifications { // what the owners are told: notify_test.go
			sent = append(sent, m.Type+" "+m.Key)
		}
	}
	slices.Sort(sent)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(sent, want) {
		t.Fatalf("outbox %v, want %v", sent, want)
	}
}
