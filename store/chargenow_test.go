package store_test

import (
	"context"
	"slices"
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
	if want := []string{"tok_visa", "tok_decline", "tok_slow"}; !slices.Equal(asked, want) {
		t.Fatalf("charged %v, want %v (only the new paying bookings, in order)", asked, want)
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
	var sent []string
	for _, m := range res.Outbox {
		sent = append(sent, m.Type+" "+m.Key)
	}
	slices.Sort(sent)
	want := []string{evently.PayCharge + " " + slow.Book.BookingID.String(), evently.PayResolve + " " + taken.Book.BookingID.String()}
	slices.Sort(want)
	if !slices.Equal(sent, want) {
		t.Fatalf("outbox %v, want %v", sent, want)
	}
	if got := snapshot(t, db, `SELECT type FROM outbox ORDER BY type`); len(got) != 2 {
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
	charges := 0
	b := &store.Bookings{DB: db, Consumer: "booking", PaymentWindow: 10 * time.Minute,
		ChargeNow: func(_ context.Context, reqs []evently.PaymentRequest) []evently.Command {
			if charges == 0 {
				// The API's Withdraw, between the charge and the commit.
				if accepted, err := api.Withdraw(ctx, cmd); err != nil || accepted {
					t.Fatalf("withdraw: accepted %v, %v", accepted, err)
				}
			}
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
	if charges != 1 {
		t.Fatalf("%d charges", charges)
	}
	if len(res.Outbox) != 1 || res.Outbox[0].Type != evently.PayResolve || res.Outbox[0].Key != cmd.BookingID.String() {
		t.Fatalf("outbox %+v, want one resolve for the withdrawn booking", res.Outbox)
	}
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
