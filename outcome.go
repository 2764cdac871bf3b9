package evently

import "time"

// UnknownOutcome is a submission whose produce failed and whose withdrawal
// failed too (PostgreSQL did not answer): its book command may or may not
// be in Kafka, so it can be neither answered pending nor forgotten. It is
// kept, with its hold claimed and its idempotency key, until withdrawing it
// again succeeds: on a retry with the same key, a read of the booking, or
// the reaper's sweep.
type UnknownOutcome struct {
	Command BookCommand `json:"command"`
	// Hold is the hold the submission claimed: given back once withdrawn.
	Hold  Hold      `json:"hold"`
	Since time.Time `json:"since"`
}

// Outcome is what a submission of unknown outcome turned out to be.
type Outcome int

const (
	// OutcomeUnknown: still not known (PostgreSQL did not answer).
	OutcomeUnknown Outcome = iota
	// OutcomeWithdrawn: nothing was accepted. The booking is its
	// failed/not_accepted record, which makes the command change nothing
	// should it reach the booking worker; the hold and the key go back.
	OutcomeWithdrawn
	// OutcomeAccepted: the booking worker wrote the booking first; it is real.
	OutcomeAccepted
)

// ResolveOutcome decides what a submission of unknown outcome became, from
// the booking read once its withdrawal was tried again (err: the withdrawal
// or the read failed). A withdrawal that succeeds always leaves a booking:
// its own record (written now, or by an earlier try whose answer was lost)
// or the booking the worker wrote first, so the booking alone tells which.
func ResolveOutcome(b *Booking, err error) Outcome {
	switch {
	case err != nil || b == nil:
		return OutcomeUnknown
	case b.Status == BookingFailed && b.Reason != nil && *b.Reason == ReasonNotAccepted:
		return OutcomeWithdrawn
	}
	return OutcomeAccepted
}

// Standing is how a pending status record may be answered by a retry with
// the same idempotency key or a read of the booking.
type Standing int

const (
	// StandingTrue: the record can be answered as it stands: its command is
	// durable, or the booking moved on past pending.
	StandingTrue Standing = iota
	// StandingInFlight: its command is not known to be durable and its
	// request may still be producing it: wait for that request to finish.
	StandingInFlight
	// StandingUnknown: its outcome is unknown (marked so, or still not
	// durable a bound after it was accepted, so its request died): resolve
	// it, never answer it pending.
	StandingUnknown
)

// StandingOf decides how c may be answered at now; bound is the longest a
// live request takes from recording the booking to knowing its command
// durable (the produce's deadline and a margin).
func StandingOf(c *StatusChange, now time.Time, bound time.Duration) Standing {
	switch {
	case c.Status != BookingPending:
		return StandingTrue
	case c.Unknown != nil:
		return StandingUnknown
	case c.InFlight == nil:
		return StandingTrue
	case now.Before(c.AcceptedAt.Add(bound)):
		return StandingInFlight
	}
	return StandingUnknown
}

// Abandoned is the unknown outcome of an in-flight pending record whose
// request did not finish: its command rebuilt from the record, to be
// withdrawn, and the hold it claimed.
func Abandoned(c *StatusChange, hold Hold) UnknownOutcome {
	cmd := BookCommand{BookingID: c.BookingID, UserID: c.UserID, EventID: c.EventID, HoldID: c.HoldID,
		SeatIDs: c.SeatIDs, AcceptedAt: c.AcceptedAt}
	if c.InFlight != nil {
		cmd.IdempotencyKey, cmd.PaymentToken = c.InFlight.IdempotencyKey, c.InFlight.PaymentToken
	}
	return UnknownOutcome{Command: cmd, Hold: hold, Since: c.AcceptedAt}
}
