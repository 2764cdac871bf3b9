package evently

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func bookingIn(s BookingStatus) *Booking {
	exp := t0.Add(10 * time.Minute)
	return &Booking{ID: uuid.New(), Status: s, ExpiresAt: &exp, AmountCents: 5000, Currency: "USD", Version: 1}
}

func cmd(typ string) Command {
	c := Command{MessageID: uuid.New(), Type: typ}
	switch typ {
	case CmdConfirm:
		c.Ref = &BookingRef{PaymentToken: "tok_visa"}
	case CmdCancel:
		c.Ref = &BookingRef{Reason: "changed my mind"}
	case CmdExpire, CmdRetryPayment:
		c.Ref = &BookingRef{}
	default:
		c.Reply = &PaymentReply{ChargeID: "ch_1"}
	}
	return c
}

// TestDecide walks every command through every status, before and after
// the payment deadline and on a cancelled event: the state machine in one
// table. Rows not listed decide nothing.
func TestDecide(t *testing.T) {
	before, after := t0, t0.Add(11*time.Minute)
	type when int
	const (
		inTime when = iota
		late
		eventGone
	)
	resolve, charge := []string{PayResolve}, []string{PayCharge}
	cases := []struct {
		from BookingStatus
		cmd  string
		when when
		want Effect
	}{
		{BookingReserved, CmdConfirm, inTime, Effect{To: BookingPaying, Token: "tok_visa", Requests: charge}},
		{BookingReserved, CmdConfirm, late, Effect{}},
		{BookingReserved, CmdConfirm, eventGone, Effect{}},
		{BookingPaying, CmdConfirm, inTime, Effect{}},
		{BookingConfirmed, CmdConfirm, inTime, Effect{}},

		{BookingReserved, CmdCancel, inTime, Effect{To: BookingCancelled, Reason: "changed my mind", Release: true}},
		{BookingPaying, CmdCancel, inTime, Effect{To: BookingCancelled, Reason: "changed my mind", Release: true, Requests: resolve}},
		{BookingConfirmed, CmdCancel, late, Effect{To: BookingCancelled, Reason: "changed my mind", Release: true, Requests: resolve}},
		{BookingFailed, CmdCancel, inTime, Effect{}},
		{BookingCancelled, CmdCancel, inTime, Effect{}},

		{BookingReserved, CmdExpire, inTime, Effect{}},
		{BookingReserved, CmdExpire, late, Effect{To: BookingExpired, Release: true}},
		{BookingPaying, CmdExpire, late, Effect{To: BookingFailed, Reason: ReasonPaymentUnavailable, Release: true, Requests: resolve}},
		{BookingConfirmed, CmdExpire, late, Effect{}},
		{BookingExpired, CmdExpire, late, Effect{}},

		{BookingPaying, CmdRetryPayment, inTime, Effect{Touch: true, Requests: charge}},
		{BookingPaying, CmdRetryPayment, late, Effect{}},
		{BookingPaying, CmdRetryPayment, eventGone, Effect{}},
		{BookingReserved, CmdRetryPayment, inTime, Effect{}},

		{BookingPaying, ReplyCharged, inTime, Effect{To: BookingConfirmed, Record: "charge"}},
		{BookingPaying, ReplyCharged, late, Effect{To: BookingConfirmed, Record: "charge"}},
		{BookingPaying, ReplyCharged, eventGone, Effect{To: BookingCancelled, Reason: ReasonEventCancelled, Release: true, Record: "charge", Requests: resolve}},
		{BookingConfirmed, ReplyCharged, inTime, Effect{Record: "charge"}},
		{BookingFailed, ReplyCharged, inTime, Effect{Record: "charge", Requests: resolve}},
		{BookingExpired, ReplyCharged, inTime, Effect{Record: "charge", Requests: resolve}},
		{BookingCancelled, ReplyCharged, inTime, Effect{Record: "charge", Requests: resolve}},
		{BookingReserved, ReplyCharged, inTime, Effect{Record: "charge"}},

		{BookingPaying, ReplyDeclined, inTime, Effect{To: BookingFailed, Reason: ReasonPaymentDeclined, Release: true}},
		{BookingConfirmed, ReplyDeclined, inTime, Effect{}},
		{BookingReserved, ReplyDeclined, inTime, Effect{}},

		{BookingPaying, ReplyUnavailable, inTime, Effect{Touch: true}},
		{BookingPaying, ReplyUnavailable, late, Effect{To: BookingFailed, Reason: ReasonPaymentUnavailable, Release: true, Requests: resolve}},
		{BookingConfirmed, ReplyUnavailable, late, Effect{}},

		{BookingCancelled, ReplyRefunded, inTime, Effect{Record: "refund"}},
		{BookingConfirmed, ReplyRefunded, inTime, Effect{Record: "refund"}},
	}
	for _, tc := range cases {
		now := before
		if tc.when == late {
			now = after
		}
		b := bookingIn(tc.from)
		got, err := Decide(b, cmd(tc.cmd), now, tc.when == eventGone)
		if err != nil {
			t.Errorf("%s on %s: %v", tc.cmd, tc.from, err)
			continue
		}
		if got.To != tc.want.To || got.Reason != tc.want.Reason || got.Release != tc.want.Release || got.Token != tc.want.Token ||
			got.Touch != tc.want.Touch || got.Record != tc.want.Record || !slices.Equal(got.Requests, tc.want.Requests) {
			t.Errorf("%s on %s (when %d):\n got %+v\nwant %+v", tc.cmd, tc.from, tc.when, got, tc.want)
		}
	}
}

// TestDecideOnlyAllowedMoves: whatever the command, status, time or event,
// a decided move is one the state machine allows, and terminal bookings
// never move.
func TestDecideOnlyAllowedMoves(t *testing.T) {
	statuses := []BookingStatus{BookingPending, BookingReserved, BookingPaying, BookingConfirmed, BookingFailed, BookingExpired, BookingCancelled}
	types := []string{CmdConfirm, CmdCancel, CmdExpire, CmdRetryPayment, ReplyCharged, ReplyDeclined, ReplyUnavailable, ReplyRefunded}
	for _, s := range statuses {
		for _, typ := range types {
			for _, now := range []time.Time{t0, t0.Add(time.Hour)} {
				for _, gone := range []bool{false, true} {
					e, err := Decide(bookingIn(s), cmd(typ), now, gone)
					if err != nil {
						t.Fatalf("%s on %s: %v", typ, s, err)
					}
					if e.To != "" && (!s.CanMove(e.To) || s.Terminal()) {
						t.Errorf("%s on %s decided %s -> %s", typ, s, s, e.To)
					}
					if gone && e.To == BookingConfirmed {
						t.Errorf("%s on %s confirmed a booking of a cancelled event", typ, s)
					}
				}
			}
		}
	}
}

func TestDecideRefusesMalformed(t *testing.T) {
	for _, c := range []Command{
		{Type: "teleport", Ref: &BookingRef{}},
		{Type: CmdCancel},
		{Type: ReplyCharged},
	} {
		if _, err := Decide(bookingIn(BookingPaying), c, t0, false); err == nil {
			t.Errorf("%+v: want an error", c)
		}
	}
}

func TestApply(t *testing.T) {
	b := bookingIn(BookingReserved)
	b.Apply(Effect{To: BookingPaying, Token: "tok_x"}, t0)
	if b.Status != BookingPaying || b.Version != 2 || *b.PaymentToken != "tok_x" || !b.UpdatedAt.Equal(t0) || b.Reason != nil {
		t.Fatalf("after confirm: %+v", b)
	}
	b.Apply(Effect{To: BookingFailed, Reason: ReasonPaymentDeclined}, t0.Add(time.Second))
	if b.Status != BookingFailed || b.Version != 3 || *b.Reason != ReasonPaymentDeclined {
		t.Fatalf("after decline: %+v", b)
	}
	later := t0.Add(time.Minute)
	c := bookingIn(BookingPaying)
	c.Apply(Effect{Touch: true}, later)
	if c.Status != BookingPaying || c.Version != 1 || !c.UpdatedAt.Equal(later) {
		t.Fatalf("after touch: %+v", c)
	}
}

func TestPayableAndCancellable(t *testing.T) {
	starts := t0.Add(3 * time.Hour)
	cases := []struct {
		status      BookingStatus
		now         time.Time
		payable     bool
		cancellable bool
	}{
		{BookingReserved, t0, true, true},
		{BookingReserved, t0.Add(time.Hour), false, true},
		{BookingPaying, t0, false, true},
		{BookingConfirmed, t0, false, true},
		{BookingConfirmed, starts.Add(-time.Hour), false, false}, // inside the 2 h cut-off
		{BookingFailed, t0, false, false},
		{BookingCancelled, t0, false, false},
		{BookingPending, t0, false, false},
	}
	for _, tc := range cases {
		b := bookingIn(tc.status)
		if got := b.Payable(tc.now) == nil; got != tc.payable {
			t.Errorf("%s at %s: payable %v, want %v", tc.status, tc.now, got, tc.payable)
		}
		if got := b.Cancellable(tc.now, starts, 2*time.Hour) == nil; got != tc.cancellable {
			t.Errorf("%s at %s: cancellable %v, want %v", tc.status, tc.now, got, tc.cancellable)
		}
	}
}

func TestDecideBook(t *testing.T) {
	seats := map[string]Offer{
		"a1": {Known: true, Available: true, Price: 1000},
		"a2": {Known: true, Available: true, Price: 2000},
		"b1": {Known: true, Available: false, Price: 1000},
	}
	offer := func(id string) Offer { return seats[id] }
	book := func(seatIDs []string, token string, holdExp time.Time) *BookCommand {
		return &BookCommand{SeatIDs: seatIDs, PaymentToken: token, HoldExpiresAt: holdExp}
	}
	accepted := func(c *BookCommand, at time.Time) *BookCommand { c.AcceptedAt = at; return c }
	soon := t0.Add(time.Minute)
	cases := []struct {
		name   string
		cmd    *BookCommand
		event  EventStatus
		status BookingStatus
		reason string
		amount int64
		path   []BookingStatus
	}{
		{"wins", book([]string{"a1", "a2"}, "", soon), EventPublished, BookingReserved, "", 3000, []BookingStatus{BookingReserved}},
		{"wins and pays", book([]string{"a1"}, "tok_visa", soon), EventPublished, BookingPaying, "", 1000, []BookingStatus{BookingReserved, BookingPaying}},
		{"taken", book([]string{"a1", "b1"}, "", soon), EventPublished, BookingFailed, ReasonSeatsTaken, 0, []BookingStatus{BookingFailed}},
		{"unknown seat", book([]string{"zz", "b1"}, "", soon), EventPublished, BookingFailed, ReasonInvalid, 0, []BookingStatus{BookingFailed}},
		{"duplicate seat", book([]string{"a1", "a1"}, "", soon), EventPublished, BookingFailed, ReasonInvalid, 0, nil},
		{"no seats", book(nil, "", soon), EventPublished, BookingFailed, ReasonInvalid, 0, nil},
		{"too many", book(make([]string, MaxSeatsPerBooking+1), "", soon), EventPublished, BookingFailed, ReasonInvalid, 0, nil},
		{"no event", book([]string{"a1"}, "", soon), "", BookingFailed, ReasonInvalid, 0, nil},
		{"draft", book([]string{"a1"}, "", soon), EventDraft, BookingFailed, ReasonInvalid, 0, nil},
		{"cancelled event", book([]string{"a1"}, "", soon), EventCancelled, BookingFailed, ReasonEventCancelled, 0, nil},
		{"hold expired", book([]string{"a1"}, "", t0.Add(-time.Second)), EventPublished, BookingFailed, ReasonHoldExpired, 0, nil},
		// Accepted (and its hold claimed) while the hold was live: the hold's
		// expiry after that does not fail it, however late it is committed.
		{"hold expired after acceptance", accepted(book([]string{"a1"}, "", t0.Add(-time.Second)), t0.Add(-2*time.Second)),
			EventPublished, BookingReserved, "", 1000, []BookingStatus{BookingReserved}},
		{"accepted after the hold expired", accepted(book([]string{"a1"}, "", t0.Add(-2*time.Second)), t0.Add(-time.Second)),
			EventPublished, BookingFailed, ReasonHoldExpired, 0, nil},
	}
	for _, tc := range cases {
		got := DecideBook(tc.cmd, tc.event, t0, offer)
		if got.Status != tc.status || got.Reason != tc.reason || (got.Won() && got.Amount != tc.amount) {
			t.Errorf("%s: got %+v, want %s %s %d", tc.name, got, tc.status, tc.reason, tc.amount)
		}
		if tc.path != nil && !slices.Equal(got.BookPath(), tc.path) {
			t.Errorf("%s: path %v, want %v", tc.name, got.BookPath(), tc.path)
		}
		for _, st := range got.BookPath() {
			if !BookingPending.CanMove(st) && st != BookingPaying {
				t.Errorf("%s: pending cannot reach %s", tc.name, st)
			}
		}
	}
}
