package evently

import (
	"errors"
	"testing"
	"time"
)

func TestResolveOutcome(t *testing.T) {
	failed := func(reason string) *Booking {
		b := bookingIn(BookingFailed)
		b.Reason = &reason
		return b
	}
	tests := []struct {
		name string
		b    *Booking
		err  error
		want Outcome
	}{
		{"PostgreSQL still down", nil, errors.New("dial tcp: connection refused"), OutcomeUnknown},
		{"withdrawn, read failed", nil, Errorf(EUNAVAILABLE, "down"), OutcomeUnknown},
		{"no booking read", nil, nil, OutcomeUnknown},
		{"withdrawn now or by an earlier try", failed(ReasonNotAccepted), nil, OutcomeWithdrawn},
		{"written by the worker first: pending seats lost", failed(ReasonSeatsTaken), nil, OutcomeAccepted},
		{"written by the worker first: dead-lettered", failed(ReasonInvalid), nil, OutcomeAccepted},
		{"written by the worker first: reserved", bookingIn(BookingReserved), nil, OutcomeAccepted},
		{"written by the worker first: confirmed", bookingIn(BookingConfirmed), nil, OutcomeAccepted},
		{"written by the worker first: cancelled", bookingIn(BookingCancelled), nil, OutcomeAccepted},
		{"failed without a reason", bookingIn(BookingFailed), nil, OutcomeAccepted},
	}
	for _, tt := range tests {
		if got := ResolveOutcome(tt.b, tt.err); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestStandingOf(t *testing.T) {
	accepted := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	const bound = 6 * time.Second
	record := func(st BookingStatus, inFlight bool, unknown bool) *StatusChange {
		c := &StatusChange{Status: st, AcceptedAt: accepted}
		if inFlight {
			c.InFlight = &Submission{}
		}
		if unknown {
			c.Unknown = &UnknownOutcome{}
		}
		return c
	}
	tests := []struct {
		name string
		c    *StatusChange
		at   time.Duration // after accepted
		want Standing
	}{
		{"durable pending", record(BookingPending, false, false), time.Hour, StandingTrue},
		{"written by an older API (no in-flight mark)", record(BookingPending, false, false), 0, StandingTrue},
		{"in flight, just recorded", record(BookingPending, true, false), 0, StandingInFlight},
		{"in flight, within the bound", record(BookingPending, true, false), bound - time.Millisecond, StandingInFlight},
		{"in flight at the bound: its request died", record(BookingPending, true, false), bound, StandingUnknown},
		{"in flight long after", record(BookingPending, true, false), time.Hour, StandingUnknown},
		{"marked unknown, within the bound", record(BookingPending, true, true), 0, StandingUnknown},
		{"marked unknown, durable mark absent", record(BookingPending, false, true), 0, StandingUnknown},
		{"moved on while its record said in flight", record(BookingReserved, true, false), time.Hour, StandingTrue},
		{"confirmed", record(BookingConfirmed, false, false), time.Hour, StandingTrue},
		{"failed", record(BookingFailed, false, false), time.Hour, StandingTrue},
	}
	for _, tt := range tests {
		if got := StandingOf(tt.c, accepted.Add(tt.at), bound); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestAbandoned(t *testing.T) {
	hold := Hold{ID: NewID(), EventID: NewID(), UserID: NewID(), SeatIDs: []string{"A-1"}}
	c := &StatusChange{BookingID: NewID(), UserID: hold.UserID, EventID: hold.EventID, HoldID: &hold.ID,
		Status: BookingPending, SeatIDs: hold.SeatIDs, AcceptedAt: time.Now().UTC(),
		InFlight: &Submission{IdempotencyKey: "k-1", PaymentToken: "tok_visa"}}
	u := Abandoned(c, hold)
	cmd := u.Command
	if cmd.BookingID != c.BookingID || cmd.UserID != c.UserID || cmd.EventID != c.EventID || cmd.HoldID != c.HoldID ||
		cmd.IdempotencyKey != "k-1" || cmd.PaymentToken != "tok_visa" || !cmd.AcceptedAt.Equal(c.AcceptedAt) {
		t.Fatalf("command %+v from %+v", cmd, c)
	}
	if u.Hold.ID != hold.ID || !u.Since.Equal(c.AcceptedAt) {
		t.Fatalf("outcome %+v", u)
	}
}
