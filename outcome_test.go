package evently

import (
	"errors"
	"testing"
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
